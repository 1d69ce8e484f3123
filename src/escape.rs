//! Version-aware header escaping (E-1 to E-9).
//!
//! Escaping is a byte-level substitution on four ASCII octets, so it cannot split a UTF-8
//! sequence (E-7). Decoding borrows the input when it holds no backslash; only values that
//! really contain escapes are copied.

use bytes::BytesMut;
use memchr::{memchr, memchr3, memchr3_iter, memchr_iter};

use crate::error::Unrepresentable;
use crate::version::Version;

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
        let decoded = match input.get(at + 1) {
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'\\') => b'\\',
            Some(b'r') if version == Version::V1_2 => b'\r',
            other => return Err((at, other.copied())),
        };
        out.extend_from_slice(&[decoded]);
        done = at + 2;
    }
    out.extend_from_slice(&input[done..]);
    Ok(())
}

/// Checks that `text` can be written as a header name (`is_name`) or value and returns how
/// many octets it takes on the wire.
///
/// `escaping` is whether this frame's headers are escaped (1.1+/not CONNECT-like).
pub(crate) fn encoded_len(
    text: &[u8],
    version: Version,
    escaping: bool,
    is_name: bool,
) -> Result<usize, Unrepresentable> {
    if is_name && text.is_empty() {
        return Err(Unrepresentable::EmptyName);
    }
    if escaping {
        if memchr(0, text).is_some() {
            return Err(Unrepresentable::Nul);
        }
        let carriage_returns = memchr_iter(b'\r', text).count();
        if carriage_returns > 0 && version != Version::V1_2 {
            return Err(Unrepresentable::CarriageReturn);
        }
        Ok(text.len() + carriage_returns + memchr3_iter(b'\\', b'\n', b':', text).count())
    } else {
        if let Some(i) = memchr3(0, b'\n', b'\r', text) {
            return Err(match text[i] {
                0 => Unrepresentable::Nul,
                b'\n' => Unrepresentable::LineFeed,
                _ => Unrepresentable::CarriageReturn,
            });
        }
        if is_name && memchr(b':', text).is_some() {
            return Err(Unrepresentable::ColonInName);
        }
        Ok(text.len())
    }
}

/// Appends `text` to `out`, escaped when `escaping`. The text must have passed
/// [`encoded_len`] with the same arguments.
pub(crate) fn escape_into(text: &[u8], escaping: bool, out: &mut BytesMut) {
    if !escaping || (memchr3(b'\\', b'\n', b':', text).is_none() && memchr(b'\r', text).is_none()) {
        out.extend_from_slice(text);
        return;
    }
    let mut done = 0;
    for (i, &b) in text.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b':' => b"\\c",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&text[done..i]);
        out.extend_from_slice(escaped);
        done = i + 1;
    }
    out.extend_from_slice(&text[done..]);
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn escape_round_trips_e2_e3() {
        let text = b"a:b\\c\nd\re";
        let len = encoded_len(text, Version::V1_2, true, false).unwrap();
        let mut out = BytesMut::new();
        escape_into(text, true, &mut out);
        assert_eq!(out.len(), len);
        assert_eq!(&out[..], br"a\cb\\c\nd\re");
        assert_eq!(&unescape(&out, Version::V1_2).unwrap()[..], text);
    }

    #[test]
    fn unrepresentable_headers_e9() {
        assert_eq!(
            encoded_len(b"a\rb", Version::V1_1, true, false),
            Err(Unrepresentable::CarriageReturn)
        );
        assert_eq!(
            encoded_len(b"a\nb", Version::V1_0, false, false),
            Err(Unrepresentable::LineFeed)
        );
        assert_eq!(
            encoded_len(b"a:b", Version::V1_0, false, true),
            Err(Unrepresentable::ColonInName)
        );
        assert_eq!(encoded_len(b"a:b", Version::V1_0, false, false), Ok(3));
        assert_eq!(
            encoded_len(b"", Version::V1_2, true, true),
            Err(Unrepresentable::EmptyName)
        );
        assert_eq!(
            encoded_len(b"\0", Version::V1_2, true, false),
            Err(Unrepresentable::Nul)
        );
    }
}
