//! Classifies 64 octets at a time into bit masks of the octets the header grammar cares about.
//!
//! A header line is ~25 octets: searching each one with `memchr` pays a call, a CPU-feature
//! dispatch and vector setup per line, twice (LF, then colon). Classifying a whole window once
//! and walking its bits finds every LF and colon in it for a few instructions per line.
//!
//! On x86_64, SSE2 (part of the baseline) does 16 octets per compare through `safe_arch`'s safe
//! wrappers, or AVX2 32 octets when the build enables it (`-C target-cpu=native`,
//! `-C target-feature=+avx2`: choosing at run time would need `unsafe`); elsewhere a table
//! lookup per octet gives the same masks.

/// What a 64-octet window holds: bit `i` of each mask stands for octet `i` of the window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Masks {
    /// LF octets.
    pub(crate) lf: u64,
    /// Colons.
    pub(crate) colon: u64,
    /// Octets that need the careful path: NUL, CR and backslash.
    pub(crate) special: u64,
}

/// Octets per window.
pub(crate) const WINDOW: usize = 64;

/// Classifies `data[at..at + 64]`; past the end of `data` the masks are clear (as if the
/// window went on with ordinary octets). `at` must be below `data.len()`.
#[inline]
pub(crate) fn classify(data: &[u8], at: usize) -> Masks {
    match data.get(at..at + WINDOW) {
        Some(window) => classify_window(window.try_into().expect("the range is WINDOW long")),
        None => classify_tail(&data[at..]),
    }
}

#[cold]
fn classify_tail(rest: &[u8]) -> Masks {
    // Pad with an octet of no class, so the padding shows up in no mask.
    let mut window = [b'a'; WINDOW];
    window[..rest.len()].copy_from_slice(rest);
    classify_window(&window)
}

/// The vector classifier for one register width: `$lanes` octets per compare, with
/// `safe_arch`'s functions for that width (`$load` turns a `&[u8; $lanes]` into a register).
/// Written once for both widths, which differ in nothing else.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
macro_rules! classify_with_vectors {
    ($window:expr, $lanes:literal, $bits:ty, $load:expr, $splat:ident, $eq:ident, $or:ident, $movemask:ident) => {{
        let lf = $splat(b'\n' as i8);
        let colon = $splat(b':' as i8);
        let nul = $splat(0);
        let cr = $splat(b'\r' as i8);
        let backslash = $splat(b'\\' as i8);
        let mut masks = Masks {
            lf: 0,
            colon: 0,
            special: 0,
        };
        for (i, block) in $window.chunks_exact($lanes).enumerate() {
            let v = $load(block.try_into().expect("chunks_exact gives whole blocks"));
            let bits = |m| u64::from($movemask(m) as $bits) << ($lanes * i);
            let special = $or($eq(v, nul), $or($eq(v, cr), $eq(v, backslash)));
            masks.lf |= bits($eq(v, lf));
            masks.colon |= bits($eq(v, colon));
            masks.special |= bits(special);
        }
        masks
    }};
}

/// AVX2 (when the build enables it, e.g. `-C target-cpu=native`): 32 octets per compare.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[inline]
fn classify_window(window: &[u8; WINDOW]) -> Masks {
    use safe_arch::{
        bitor_m256i, cmp_eq_mask_i8_m256i, load_unaligned_m256i, move_mask_i8_m256i,
        set_splat_i8_m256i,
    };
    classify_with_vectors!(
        window,
        32,
        u32,
        |octets: &[u8; 32]| load_unaligned_m256i(&octets.map(|b| b as i8)),
        set_splat_i8_m256i,
        cmp_eq_mask_i8_m256i,
        bitor_m256i,
        move_mask_i8_m256i
    )
}

/// SSE2 (part of the x86_64 baseline): 16 octets per compare.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(target_feature = "avx2")
))]
#[inline]
fn classify_window(window: &[u8; WINDOW]) -> Masks {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    classify_with_vectors!(
        window,
        16,
        u16,
        |octets: &[u8; 16]| load_unaligned_m128i(octets),
        set_splat_i8_m128i,
        cmp_eq_mask_i8_m128i,
        bitor_m128i,
        move_mask_i8_m128i
    )
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn classify_window(window: &[u8; WINDOW]) -> Masks {
    classify_window_scalar(window)
}

/// The portable classifier (also built for the tests on x86_64, which check it).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn classify_window_scalar(window: &[u8; WINDOW]) -> Masks {
    // Class bits per octet: 1 LF, 2 colon, 4 special.
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        t[b'\n' as usize] = 1;
        t[b':' as usize] = 2;
        t[0] = 4;
        t[b'\r' as usize] = 4;
        t[b'\\' as usize] = 4;
        t
    };
    let mut masks = Masks {
        lf: 0,
        colon: 0,
        special: 0,
    };
    for (i, &octet) in window.iter().enumerate() {
        let class = CLASS[octet as usize];
        masks.lf |= u64::from(class & 1) << i;
        masks.colon |= u64::from((class >> 1) & 1) << i;
        masks.special |= u64::from(class >> 2) << i;
    }
    masks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masks computed one octet at a time, to check the vector code against.
    fn reference(data: &[u8], at: usize) -> (u64, u64, u64) {
        let (mut lf, mut colon, mut special) = (0, 0, 0);
        for (i, &b) in data[at..].iter().take(WINDOW).enumerate() {
            lf |= u64::from(b == b'\n') << i;
            colon |= u64::from(b == b':') << i;
            special |= u64::from(b == 0 || b == b'\r' || b == b'\\') << i;
        }
        (lf, colon, special)
    }

    #[test]
    fn masks_match_a_per_octet_classification() {
        // Every octet value, at every position of a window, and short tails.
        let data: Vec<u8> = (0..700u32).map(|i| (i * 37 % 256) as u8).collect();
        for at in 0..data.len() {
            let m = classify(&data, at);
            assert_eq!((m.lf, m.colon, m.special), reference(&data, at), "at {at}");
        }
        // The portable classifier, whatever this target uses.
        for at in 0..data.len() - WINDOW {
            let window = data[at..at + WINDOW].try_into().unwrap();
            let m = classify_window_scalar(window);
            assert_eq!(
                (m.lf, m.colon, m.special),
                reference(&data, at),
                "scalar at {at}"
            );
        }
        let m = classify(b"a:b\n\r\\\0", 0);
        assert_eq!((m.lf, m.colon, m.special), (0b1000, 0b10, 0b111_0000));
    }
}
