//! Numeric header values, stated as nom grammars (D-9, D-19).

use nom::bytes::complete::tag;
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, map_opt};
use nom::sequence::separated_pair;
use nom::{IResult, Parser};

/// `1*DIGIT` as a `u64`, failing on overflow.
fn decimal_u64(input: &[u8]) -> IResult<&[u8], u64> {
    map_opt(digit1, |digits: &[u8]| {
        digits.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    })
    .parse(input)
}

/// `1*DIGIT` as a `u32`, failing on overflow.
fn decimal_u32(input: &[u8]) -> IResult<&[u8], u32> {
    map_opt(decimal_u64, |n| u32::try_from(n).ok()).parse(input)
}

/// A `content-length` value: one or more ASCII digits and nothing else, fitting `u64` (D-9).
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    all_consuming(decimal_u64).parse(value).ok().map(|(_, n)| n)
}

/// A `heart-beat` value: exactly `digits,digits`, each fitting `u32` (B-1, D-19).
pub(crate) fn parse_heartbeat(value: &[u8]) -> Option<(u32, u32)> {
    all_consuming(separated_pair(decimal_u32, tag(&b","[..]), decimal_u32))
        .parse(value)
        .ok()
        .map(|(_, pair)| pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_syntax_d9() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"0042"), Some(42));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b" 1",
            b"1 ",
            b"+1",
            b"-1",
            b"1a",
            b"0x10",
        ] {
            assert_eq!(
                parse_content_length(bad),
                None,
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn heartbeat_syntax_d19() {
        assert_eq!(parse_heartbeat(b"10000,0"), Some((10000, 0)));
        for bad in [
            &b"1"[..],
            b"1,",
            b",1",
            b"1, 2",
            b"1,2,3",
            b"4294967296,0",
            b"",
        ] {
            assert_eq!(parse_heartbeat(bad), None);
        }
    }
}
