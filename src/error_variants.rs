//! The list of error variants that stomp-testkit's `variants` module gives
//! `tests/error_completeness.rs` (`src/error_variant_names.rs`), checked here, where the error
//! enums are not `#[non_exhaustive]`: each entry becomes a `match` without a wildcard arm, so a
//! variant missing from the list stops this test build, and a name that is no variant does too.

use crate::{ConnectionError, DecodeError, EncodeError, RuleViolation, UsageError};

/// `$names` and an exhaustive `$name_of`, as in stomp-testkit, but matching on the variants.
macro_rules! variant_names {
    ($ty:ident, $names:ident, $name_of:ident, [$($variant:ident),+ $(,)?]) => {
        const $names: &[&str] = &[$(stringify!($variant)),+];

        fn $name_of(error: &$ty) -> &'static str {
            match error {
                $($ty::$variant { .. } => stringify!($variant)),+
            }
        }
    };
}

include!("error_variant_names.rs");

#[test]
fn every_variant_is_listed_once_and_named_as_in_debug() {
    for names in [
        DECODE_ERROR_VARIANTS,
        ENCODE_ERROR_VARIANTS,
        CONNECTION_ERROR_VARIANTS,
        USAGE_ERROR_VARIANTS,
        RULE_VIOLATION_VARIANTS,
    ] {
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
    }
    // stomp-testkit reads the name from `Debug`; the match here must agree with it.
    let decode = DecodeError::UnexpectedNul { offset: 3 };
    assert_eq!(decode_error_variant(&decode), "UnexpectedNul");
    assert!(format!("{decode:?}").starts_with("UnexpectedNul {"));
    let encode = EncodeError::NulInBody { position: 1 };
    assert_eq!(encode_error_variant(&encode), "NulInBody");
    assert!(format!("{encode:?}").starts_with("NulInBody {"));
    let connection = ConnectionError::Decode(decode);
    assert_eq!(connection_error_variant(&connection), "Decode");
    assert!(format!("{connection:?}").starts_with("Decode("));
    let usage = UsageError::AlreadyConnected;
    assert_eq!(usage_error_variant(&usage), "AlreadyConnected");
    assert_eq!(format!("{usage:?}"), "AlreadyConnected");
    let rule = RuleViolation::UnknownSubscription { id: "s".into() };
    assert_eq!(rule_violation_variant(&rule), "UnknownSubscription");
    assert!(format!("{rule:?}").starts_with("UnknownSubscription {"));
}
