//! The name of every variant of stomp-codec's error enums.
//!
//! Each enum is `#[non_exhaustive]`, so a match outside the library needs a wildcard arm and
//! would not notice a new variant. The lists therefore come from the library's own file
//! `src/error_variant_names.rs`, which its unit test `error_variants` turns into matches without
//! a wildcard: adding a variant stops the library's test build until it is listed there, and
//! listing it adds its name to the `*_VARIANTS` array here that `tests/error_completeness.rs`
//! must cover with an input producing it. The name of a value's variant is read from its derived
//! `Debug` form (`Name { .. }` or `Name(..)`), and must be one of the list.

use stomp_codec::{ConnectionError, DecodeError, EncodeError, RuleViolation, UsageError};

/// Defines `$names` (every variant's name, in declaration order) and `$name_of` (the name of a
/// value's variant, one of `$names`) from one list.
macro_rules! variant_names {
    ($ty:ident, $names:ident, $name_of:ident, [$($variant:ident),+ $(,)?]) => {
        #[doc = concat!("Every variant of [`", stringify!($ty), "`], by name.")]
        pub const $names: &[&str] = &[$(stringify!($variant)),+];

        #[doc = concat!("The name of `error`'s variant (one of [`", stringify!($names), "`]).")]
        ///
        /// # Panics
        ///
        /// When the variant is not in the list: `src/error_variant_names.rs` is out of date.
        pub fn $name_of(error: &$ty) -> &'static str {
            variant_of(&format!("{error:?}"), $names, stringify!($ty))
        }
    };
}

include!("../../src/error_variant_names.rs");

/// The entry of `names` that the `Debug` form `debug` starts with.
fn variant_of(debug: &str, names: &[&'static str], ty: &str) -> &'static str {
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    let name = &debug[..end];
    match names.iter().find(|n| **n == name) {
        Some(n) => n,
        None => panic!("{ty}::{name} is not listed in src/error_variant_names.rs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_variant() {
        let e = DecodeError::UnexpectedNul { offset: 3 };
        assert_eq!(decode_error_variant(&e), "UnexpectedNul");
        let e = ConnectionError::Decode(DecodeError::UnexpectedNul { offset: 3 });
        assert_eq!(connection_error_variant(&e), "Decode");
        assert_eq!(
            usage_error_variant(&UsageError::AlreadyConnected),
            "AlreadyConnected"
        );
        assert_eq!(DECODE_ERROR_VARIANTS.len(), 12);
        assert_eq!(ENCODE_ERROR_VARIANTS.len(), 5);
        let _ = encode_error_variant;
    }

    #[test]
    #[should_panic(expected = "DecodeError::Nope is not listed")]
    fn an_unlisted_name_is_reported() {
        variant_of("Nope { offset: 1 }", DECODE_ERROR_VARIANTS, "DecodeError");
    }
}
