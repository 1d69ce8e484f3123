//! Protocol versions and `accept-version` negotiation.

use core::fmt;

/// A STOMP protocol version.
///
/// The version decides header escaping (1.0 has none, 1.1 escapes `\n \c \\`, 1.2 adds `\r`),
/// whether a lone CR is data (1.0/1.1) or an error (1.2), and which frames may carry a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no escaping, no heart-beats, no NACK or STOMP command.
    V1_0,
    /// STOMP 1.1: escaping of LF, colon and backslash; heart-beats; NACK; STOMP.
    V1_1,
    /// STOMP 1.2: CRLF line ends and the `\r` escape; `ack`/`id` acknowledgements.
    V1_2,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as it is written in `accept-version` and `version` headers, e.g. `"1.2"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Parses one version token exactly as written (`1.0`, `1.1` or `1.2`).
    pub fn from_bytes(token: &[u8]) -> Option<Version> {
        match token {
            b"1.0" => Some(Version::V1_0),
            b"1.1" => Some(Version::V1_1),
            b"1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    /// Whether header names and values of ordinary frames are escaped in this version (E-1, E-2).
    pub const fn escapes_headers(self) -> bool {
        !matches!(self, Version::V1_0)
    }

    /// Parses an `accept-version` value (C-3, D-17): comma-separated tokens, ASCII spaces around
    /// each token trimmed, unknown tokens ignored. An empty value, like a missing header, means
    /// the client speaks 1.0 only.
    pub fn parse_accept_version(value: &[u8]) -> VersionSet {
        let mut set = VersionSet::EMPTY;
        for token in value.split(|&b| b == b',') {
            if let Some(v) = Version::from_bytes(token.trim_ascii()) {
                set = set.with(v);
            }
        }
        if value.trim_ascii().is_empty() {
            set = set.with(Version::V1_0);
        }
        set
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Version`]s, as offered in `accept-version` or supported by a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VersionSet(u8);

impl VersionSet {
    /// No version.
    pub const EMPTY: VersionSet = VersionSet(0);
    /// 1.0, 1.1 and 1.2.
    pub const ALL: VersionSet = VersionSet(0b111);

    const fn bit(v: Version) -> u8 {
        1 << (v as u8)
    }

    /// This set plus `v`.
    #[must_use]
    pub const fn with(self, v: Version) -> VersionSet {
        VersionSet(self.0 | Self::bit(v))
    }

    /// Whether `v` is in the set.
    pub const fn contains(self, v: Version) -> bool {
        self.0 & Self::bit(v) != 0
    }

    /// Whether the set holds no version.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The newest version in the set.
    pub fn highest(self) -> Option<Version> {
        Version::ALL.into_iter().rev().find(|&v| self.contains(v))
    }

    /// The newest version present in both sets (C-8), if any.
    pub fn highest_common(self, other: VersionSet) -> Option<Version> {
        VersionSet(self.0 & other.0).highest()
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = Version> {
        Version::ALL.into_iter().filter(move |&v| self.contains(v))
    }
}

impl FromIterator<Version> for VersionSet {
    fn from_iter<I: IntoIterator<Item = Version>>(iter: I) -> Self {
        iter.into_iter().fold(VersionSet::EMPTY, VersionSet::with)
    }
}

impl fmt::Display for VersionSet {
    /// Comma-separated, oldest first, as in `accept-version:1.0,1.1,1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(v.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn accept_version_parsing_d17() {
        let s = Version::parse_accept_version(b"1.0, 1.1 ,2.0,1.2");
        assert_eq!(s.to_string(), "1.0,1.1,1.2");
        assert_eq!(
            Version::parse_accept_version(b""),
            VersionSet::EMPTY.with(Version::V1_0)
        );
        assert_eq!(Version::parse_accept_version(b"2.0"), VersionSet::EMPTY);
        assert_eq!(
            VersionSet::ALL.highest_common(Version::parse_accept_version(b"1.1,1.0")),
            Some(Version::V1_1)
        );
        assert_eq!(
            VersionSet::EMPTY
                .with(Version::V1_2)
                .highest_common(Version::parse_accept_version(b"1.0")),
            None
        );
    }
}
