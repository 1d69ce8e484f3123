//! Version-aware header escaping (E-1 to E-9).
//!
//! Escaping is a byte-level substitution on four ASCII octets, so it cannot split a UTF-8
//! sequence (E-7). Decoding borrows the input when it holds no backslash; only values that
//! really contain escapes are copied.

use bytes::BytesMut;
use memchr::{memchr, memchr2, memchr3};

use crate::error::Unrepresentable;
use crate::version::Version;

/// The escape table (E-2, E-3), the one every escaping and unescaping path of the crate reads
/// (through [`unescaped`], [`escape_letter`] and the encoder's octet classes): an octet that is
/// escaped, the letter written after the backslash for it, and whether 1.1 has that escape
/// (`\r` exists from 1.2 only). The test oracle (`fuzzing/reference.rs`) keeps a table of its
/// own on purpose, so that a mistake here cannot hide in both.
const ESCAPES: [(u8, u8, bool); 4] = [
    (b'\\', b'\\', true),
    (b'\n', b'n', true),
    (b':', b'c', true),
    (b'\r', b'r', false),
];

/// Index of `version`'s row in the tables derived from [`ESCAPES`]: 1.0 (which escapes
/// nothing, E-1, and never asks) shares 1.1's.
#[inline(always)]
fn row(version: Version) -> usize {
    usize::from(version == Version::V1_2)
}

/// [`ESCAPES`] by letter: per version row, the octet `\letter` stands for, 0 for none (no
/// escape stands for NUL).
const UNESCAPED: [[u8; 256]; 2] = {
    let mut t = [[0u8; 256]; 2];
    let mut i = 0;
    while i < ESCAPES.len() {
        let (octet, letter, in_1_1) = ESCAPES[i];
        t[1][letter as usize] = octet;
        if in_1_1 {
            t[0][letter as usize] = octet;
        }
        i += 1;
    }
    t
};

/// [`ESCAPES`] by octet: per version row, the letter that escapes it, 0 for none.
const LETTERS: [[u8; 256]; 2] = {
    let mut t = [[0u8; 256]; 2];
    let mut i = 0;
    while i < ESCAPES.len() {
        let (octet, letter, in_1_1) = ESCAPES[i];
        t[1][octet as usize] = letter;
        if in_1_1 {
            t[0][octet as usize] = letter;
        }
        i += 1;
    }
    t
};

/// The octet that a backslash followed by `letter` stands for in `version`, or `None` for an
/// undefined escape (E-4).
#[inline(always)]
pub(crate) fn unescaped(letter: u8, version: Version) -> Option<u8> {
    match UNESCAPED[row(version)][usize::from(letter)] {
        0 => None,
        octet => Some(octet),
    }
}

/// The letter that escapes `octet` in `version` (written after a backslash), or `None` when
/// `octet` is not escaped there.
#[inline(always)]
pub(crate) fn escape_letter(octet: u8, version: Version) -> Option<u8> {
    match LETTERS[row(version)][usize::from(octet)] {
        0 => None,
        letter => Some(letter),
    }
}

/// Appends `input` to `out` with its escapes decoded.
///
/// On an undefined escape returns the index of the backslash and the octet after it (`None`
/// when the backslash is the last octet, D-8).
pub(crate) fn unescape_into(
    input: &[u8],
    version: Version,
    out: &mut BytesMut,
) -> Result<(), (usize, Option<u8>)> {
    let mut done = 0;
    while let Some(i) = memchr(b'\\', &input[done..]) {
        let at = done + i;
        out.extend_from_slice(&input[done..at]);
        let next = input.get(at + 1).copied();
        let Some(decoded) = next.and_then(|letter| unescaped(letter, version)) else {
            return Err((at, next));
        };
        out.extend_from_slice(&[decoded]);
        done = at + 2;
    }
    out.extend_from_slice(&input[done..]);
    Ok(())
}

// Octet classes for `plan_text`: what an octet means in a header being encoded.
/// Backslash, LF or colon: escaped in 1.1+.
const ESCAPED: u8 = 1;
/// CR: escaped in 1.2 only; written raw in 1.0 and 1.1 (but not last in a value).
const CR_CLASS: u8 = 2;
/// NUL: never representable.
const NUL_CLASS: u8 = 4;
/// Colon: fatal in a name where escaping is off.
const COLON: u8 = 8;
/// LF: fatal where escaping is off.
const LF_CLASS: u8 = 16;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    // What is escaped, and from which version, comes from the escape table.
    let mut i = 0;
    while i < ESCAPES.len() {
        let (octet, _, in_1_1) = ESCAPES[i];
        t[octet as usize] = if in_1_1 { ESCAPED } else { CR_CLASS };
        i += 1;
    }
    t[b'\n' as usize] |= LF_CLASS;
    t[b':' as usize] |= COLON;
    t[0] = NUL_CLASS;
    t
};

/// Octets scanned per step by [`is_plain`].
const BLOCK: usize = 32;

/// The union of the classes of `text`'s octets and how many octets escaping adds in 1.2 (CR
/// included; see [`plan_text`] for 1.1, which leaves it raw).
fn classify(text: &[u8]) -> (u8, usize) {
    // Most texts hold nothing special; for long ones the block scan says so cheaply.
    if text.len() >= BLOCK && is_plain(text) {
        return (0, 0);
    }
    let seen = class_union(text);
    // One mask for every version keeps this loop as tight as it can be (a mask chosen by
    // version cost ~2 % of encoding an escaped frame); 1.1 corrects for its raw CRs.
    let extra = if seen & (ESCAPED | CR_CLASS) == 0 {
        0
    } else {
        text.iter()
            .filter(|&&b| CLASSES[b as usize] & (ESCAPED | CR_CLASS) != 0)
            .count()
    };
    (seen, extra)
}

/// The union of the classes of `text`'s octets, by table lookup: the cheapest way for short
/// texts such as header names.
#[inline]
fn class_union(text: &[u8]) -> u8 {
    // Eight octets per step, no early exit.
    let mut words = text.chunks_exact(8);
    let mut seen = 0u8;
    for word in &mut words {
        seen |= word.iter().fold(0, |acc, &b| acc | CLASSES[b as usize]);
    }
    words
        .remainder()
        .iter()
        .fold(seen, |acc, &b| acc | CLASSES[b as usize])
}

/// The union of the classes of `text`'s octets: 0 exactly when the text is plain (see
/// [`is_plain`]). A table lookup per octet and no early exit, the cheapest check for the short
/// texts of a frame given as parts, whose unions are gathered in one pass.
#[inline]
pub(crate) fn specials(text: &[u8]) -> u8 {
    class_union(text)
}

/// Whether `text` holds none of NUL, LF, CR, colon and backslash: such text is written as it
/// is, in every version and frame, as a name or a value.
///
/// Texts of a block or more are scanned a block at a time, with no early exit inside a block,
/// so that the compiler turns each block into a few vector compares: over a frame's header
/// text that is several times cheaper than a table lookup per octet, and cheaper than two
/// `memchr` calls (one per three octet kinds) on texts of a few hundred octets.
pub(crate) fn is_plain(text: &[u8]) -> bool {
    #[inline(always)]
    fn special_in(block: &[u8; BLOCK]) -> bool {
        let mut seen = 0u8;
        for &b in block {
            seen |= u8::from(b == 0)
                | u8::from(b == b'\n')
                | u8::from(b == b'\r')
                | u8::from(b == b':')
                | u8::from(b == b'\\');
        }
        seen != 0
    }
    let block = |at: usize| -> &[u8; BLOCK] {
        text[at..at + BLOCK]
            .try_into()
            .expect("the range is BLOCK octets")
    };
    let Some(last) = text.len().checked_sub(BLOCK) else {
        return class_union(text) == 0;
    };
    let mut at = 0;
    while at < last {
        if special_in(block(at)) {
            return false;
        }
        at += BLOCK;
    }
    // The last block may overlap the one before it.
    !special_in(block(last))
}

/// Checks that `text` can be written as a header name (`is_name`) or value and says how:
/// `Ok(None)` when it goes on the wire as it is, `Ok(Some(len))` when it must be escaped to
/// `len` octets.
///
/// `escaping` is whether this frame's headers are escaped (1.1+, not CONNECT-like).
///
/// A CR is escaped as `\r` in 1.2 and refused in a 1.2 frame that is not escaped (a 1.2
/// decoder rejects any CR in the head but that of a CRLF, D-3). In 1.0 and 1.1 it is an
/// ordinary octet of a name or value (the 1.1 grammar allows any octet but LF there) and is
/// written raw, except as the last octet of a value: followed by the line's LF it would read
/// back as a CRLF, losing the CR (E-9).
pub(crate) fn plan_text(
    text: &[u8],
    version: Version,
    escaping: bool,
    is_name: bool,
) -> Result<Option<usize>, Unrepresentable> {
    if is_name && text.is_empty() {
        return Err(Unrepresentable::EmptyName);
    }
    let (seen, extra) = classify(text);
    if seen == 0 {
        return Ok(None);
    }
    let ends_with_cr = || !is_name && text.last() == Some(&b'\r');
    if escaping {
        return if seen & NUL_CLASS != 0 {
            Err(Unrepresentable::Nul)
        } else if seen & CR_CLASS != 0 && version != Version::V1_2 {
            // 1.1 writes its CRs raw: they add nothing, and none may end a value.
            if ends_with_cr() {
                return Err(Unrepresentable::TrailingCarriageReturn);
            }
            let extra = extra - memchr::memchr_iter(b'\r', text).count();
            Ok((extra != 0).then_some(text.len() + extra))
        } else {
            Ok(Some(text.len() + extra))
        };
    }
    // No escaping: the first NUL or LF decides the reason (or the first CR in 1.2, where no CR
    // can be read back); then a CR ending a value; then a colon in a name.
    let first_bad = if version == Version::V1_2 {
        memchr3(0, b'\n', b'\r', text)
    } else {
        memchr2(0, b'\n', text)
    };
    if let Some(i) = first_bad {
        return Err(match text[i] {
            0 => Unrepresentable::Nul,
            b'\n' => Unrepresentable::LineFeed,
            _ => Unrepresentable::CarriageReturn,
        });
    }
    if ends_with_cr() {
        return Err(Unrepresentable::TrailingCarriageReturn);
    }
    if is_name && seen & COLON != 0 {
        return Err(Unrepresentable::ColonInName);
    }
    Ok(None)
}

/// Appends `text` to `out`, escaped for `version` when `escape` (as [`plan_text`] decided).
#[inline]
pub(crate) fn escape_into(text: &[u8], escape: bool, version: Version, out: &mut BytesMut) {
    // Inlined so that the common case is a plain copy with no call.
    if escape {
        write_escaped(text, version, out);
    } else {
        out.extend_from_slice(text);
    }
}

/// Appends `text` to `out` with the octets `version` escapes (backslash, LF, colon; CR in 1.2)
/// escaped.
fn write_escaped(text: &[u8], version: Version, out: &mut BytesMut) {
    let mut done = 0;
    for (i, &b) in text.iter().enumerate() {
        let Some(letter) = escape_letter(b, version) else {
            continue;
        };
        out.extend_from_slice(&text[done..i]);
        out.extend_from_slice(&[b'\\', letter]);
        done = i + 1;
    }
    out.extend_from_slice(&text[done..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_agrees_with_the_table_for_every_octet_at_every_place() {
        // The word test may only ever send a text to the table, never pass a special octet.
        for len in 0..=20 {
            for at in 0..len {
                for octet in 0..=255u8 {
                    let mut text = alloc::vec![b'a'; len];
                    text[at] = octet;
                    assert_eq!(specials(&text), class_union(&text), "{len} {at} {octet}");
                    assert_eq!(specials(&text) == 0, is_plain(&text), "{len} {at} {octet}");
                }
            }
        }
        let high: alloc::vec::Vec<u8> = (0x80..=0xFF).collect();
        assert_eq!(specials(&high), 0);
    }

    fn unescape(s: &[u8], v: Version) -> Result<BytesMut, (usize, Option<u8>)> {
        let mut out = BytesMut::new();
        unescape_into(s, v, &mut out).map(|_| out)
    }

    #[test]
    fn unescape_tables_e2_e3_e4() {
        assert_eq!(
            &unescape(br"a\nb\cc\\d", Version::V1_1).unwrap()[..],
            b"a\nb:c\\d"
        );
        assert_eq!(&unescape(br"\r", Version::V1_2).unwrap()[..], b"\r");
        assert_eq!(unescape(br"x\r", Version::V1_1), Err((1, Some(b'r'))));
        assert_eq!(unescape(br"\t", Version::V1_2), Err((0, Some(b't'))));
        assert_eq!(unescape(br"ab\", Version::V1_2), Err((2, None)));
    }

    /// E-2, E-3: the table read both ways is one bijection per version: 1.1 escapes exactly
    /// backslash, LF and colon, 1.2 adds CR; each letter decodes to the octet it encodes.
    #[test]
    fn one_table_both_ways_e2_e3() {
        for (version, escaped) in [
            (Version::V1_1, &b"\\\n:"[..]),
            (Version::V1_2, &b"\\\n:\r"[..]),
        ] {
            for octet in 0..=255u8 {
                let letter = escape_letter(octet, version);
                assert_eq!(
                    letter.is_some(),
                    escaped.contains(&octet),
                    "{octet} in {version}"
                );
                if let Some(letter) = letter {
                    assert_eq!(unescaped(letter, version), Some(octet));
                }
            }
            let letters = (0..=255u8)
                .filter(|&l| unescaped(l, version).is_some())
                .count();
            assert_eq!(letters, escaped.len());
        }
        assert_eq!(escape_letter(b'\r', Version::V1_1), None);
        assert_eq!(unescaped(b'r', Version::V1_1), None);
    }

    #[test]
    fn escape_round_trips_e2_e3() {
        let text = b"a:b\\c\nd\re";
        let len = plan_text(text, Version::V1_2, true, false).unwrap();
        let mut out = BytesMut::new();
        escape_into(text, true, Version::V1_2, &mut out);
        assert_eq!(Some(out.len()), len);
        assert_eq!(&out[..], br"a\cb\\c\nd\re");
        assert_eq!(&unescape(&out, Version::V1_2).unwrap()[..], text);
    }

    #[test]
    fn unrepresentable_headers_e9() {
        // E-9, D-3: a CR inside a 1.0/1.1 name or value is written raw; last in a value it
        // would read back as a CRLF; a 1.2 frame without escaping cannot carry one at all.
        for (version, escaping) in [
            (Version::V1_0, false),
            (Version::V1_1, true),
            (Version::V1_1, false),
        ] {
            assert_eq!(plan_text(b"a\rb", version, escaping, false), Ok(None));
            assert_eq!(plan_text(b"a\r", version, escaping, true), Ok(None));
            assert_eq!(plan_text(b"\r", version, escaping, true), Ok(None));
            assert_eq!(
                plan_text(b"a\r", version, escaping, false),
                Err(Unrepresentable::TrailingCarriageReturn)
            );
        }
        // 1.1 escapes the rest and leaves the CR alone: `a\rb:` becomes `a\rb\c`.
        assert_eq!(plan_text(b"a\rb:", Version::V1_1, true, false), Ok(Some(5)));
        assert_eq!(plan_text(b"a\r", Version::V1_2, true, false), Ok(Some(3)));
        assert_eq!(
            plan_text(b"a\rb", Version::V1_2, false, false),
            Err(Unrepresentable::CarriageReturn)
        );
        // The first octet that can never be written outranks a trailing CR.
        assert_eq!(
            plan_text(b"a\nb\r", Version::V1_0, false, false),
            Err(Unrepresentable::LineFeed)
        );
        assert_eq!(
            plan_text(b"a\nb", Version::V1_0, false, false),
            Err(Unrepresentable::LineFeed)
        );
        assert_eq!(
            plan_text(b"a:b", Version::V1_0, false, true),
            Err(Unrepresentable::ColonInName)
        );
        assert_eq!(plan_text(b"a:b", Version::V1_0, false, false), Ok(None));
        assert_eq!(plan_text(b"ab", Version::V1_2, true, false), Ok(None));
        assert_eq!(
            plan_text(b"", Version::V1_2, true, true),
            Err(Unrepresentable::EmptyName)
        );
        assert_eq!(
            plan_text(b"\0", Version::V1_2, true, false),
            Err(Unrepresentable::Nul)
        );
    }
}
