//! The name of every variant of the crate's error enums.
//!
//! Each enum is `#[non_exhaustive]`, so a test outside the crate cannot match it without a
//! wildcard arm and would not notice a new variant. Inside the crate the matches below are
//! exhaustive: adding a variant stops the build until it is listed here, and listing it adds
//! its name to the `*_VARIANTS` array that `tests/error_completeness.rs` must cover with an
//! input producing it.

use crate::error::{DecodeError, EncodeError};

/// Defines `$names` (every variant's name, in declaration order) and `$name_of` (the name of a
/// value's variant) from one list, with a match that has no wildcard.
macro_rules! variant_names {
    ($ty:ident, $names:ident, $name_of:ident, [$($variant:ident),+ $(,)?]) => {
        #[doc = concat!("Every variant of [`", stringify!($ty), "`], by name.")]
        pub const $names: &[&str] = &[$(stringify!($variant)),+];

        #[doc = concat!("The name of `error`'s variant (one of [`", stringify!($names), "`]).")]
        pub fn $name_of(error: &$ty) -> &'static str {
            match error {
                $($ty::$variant { .. } => stringify!($variant)),+
            }
        }
    };
}

variant_names!(
    DecodeError,
    DECODE_ERROR_VARIANTS,
    decode_error_variant,
    [
        UnknownCommand,
        MissingColon,
        EmptyHeaderName,
        BadEscape,
        InvalidContentLength,
        ConflictingContentLength,
        MissingNul,
        BodyNotAllowed,
        StrayCarriageReturn,
        UnexpectedNul,
        LimitExceeded,
        InvalidUtf8,
    ]
);

variant_names!(
    EncodeError,
    ENCODE_ERROR_VARIANTS,
    encode_error_variant,
    [
        InvalidCommand,
        Unrepresentable,
        NulInBody,
        ContentLengthMismatch,
        BodyNotAllowed,
    ]
);

#[cfg(feature = "std")]
pub use self::connection::*;

#[cfg(feature = "std")]
mod connection {
    use crate::connection::{ConnectionError, RuleViolation, UsageError};

    variant_names!(
        ConnectionError,
        CONNECTION_ERROR_VARIANTS,
        connection_error_variant,
        [
            Decode,
            Rule,
            UnexpectedFrame,
            NoCommonVersion,
            VersionNotOffered,
            MissingHost,
            InputBeforeConnected,
            InputNotPolled,
            TooManySubscriptions,
            TooManyTransactions,
            SlowConsumer,
            ConnectTimeout,
            HeartbeatTimeout,
        ]
    );

    variant_names!(
        UsageError,
        USAGE_ERROR_VARIANTS,
        usage_error_variant,
        [
            NotConnected,
            AlreadyConnected,
            AfterDisconnect,
            Closed,
            ReceiptOnConnect,
            WrongRole,
            Rule,
            OutputFull,
            CannotAcknowledge,
            DuplicateReceipt,
            NoVersionOffered,
            NotAwaitingConnect,
            Encode,
        ]
    );

    variant_names!(
        RuleViolation,
        RULE_VIOLATION_VARIANTS,
        rule_violation_variant,
        [
            MissingHeader,
            NotInVersion,
            InvalidAckMode,
            DuplicateSubscription,
            UnknownSubscription,
            DuplicateTransaction,
            UnknownTransaction,
            InvalidHeartbeat,
        ]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_match_kind() {
        let e = DecodeError::UnexpectedNul { offset: 3 };
        assert_eq!(decode_error_variant(&e), "UnexpectedNul");
        assert_eq!(DECODE_ERROR_VARIANTS.len(), 12);
        assert_eq!(ENCODE_ERROR_VARIANTS.len(), 5);
    }
}
