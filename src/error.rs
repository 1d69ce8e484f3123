//! Error types of the codec.

use alloc::string::String;
use core::fmt;

use crate::frame::Command;
use crate::limits::LimitKind;
use crate::version::Version;

/// Bad bytes from the wire. Every variant carries `offset`, the position in the whole stream
/// (counting from the first byte ever pushed) of the first octet that was wrong.
///
/// Decoding errors are fatal: the decoder keeps returning the same error, and every frame that
/// was complete before the bad octet has already been returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The command line is not a STOMP command (F-3, D-1, D-2). `command` is the line as read,
    /// non-printable octets escaped.
    #[error("unknown command \"{command}\" at byte {offset}")]
    UnknownCommand {
        /// Stream offset of the command line.
        offset: u64,
        /// The command line, escaped for display.
        command: String,
    },
    /// A header line has no colon (D-4).
    #[error("header line without a colon at byte {offset}: \"{line}\"")]
    MissingColon {
        /// Stream offset of the header line.
        offset: u64,
        /// The start of the line (at most 64 octets), escaped for display.
        line: String,
    },
    /// A header line starts with a colon (F-4, D-5).
    #[error("header with an empty name at byte {offset}")]
    EmptyHeaderName {
        /// Stream offset of the header line.
        offset: u64,
    },
    /// A backslash is followed by an octet with no defined escape, or ends a name or value
    /// (E-4, D-8).
    #[error("undefined escape {} in header \"{header}\" at byte {offset}", EscapeShown(*.octet))]
    BadEscape {
        /// Stream offset of the backslash.
        offset: u64,
        /// The header name as received (escaped for display).
        header: String,
        /// The octet after the backslash; `None` when the backslash ended the name or value.
        octet: Option<u8>,
    },
    /// `content-length` is not one or more ASCII digits fitting a `u64` (D-9).
    #[error("invalid content-length \"{value}\" at byte {offset}")]
    InvalidContentLength {
        /// Stream offset of the header line.
        offset: u64,
        /// The value as received (at most 64 octets, escaped for display).
        value: String,
    },
    /// Two `content-length` headers of one frame disagree (D-9).
    #[error("conflicting content-length headers ({first} and {second}) at byte {offset}")]
    ConflictingContentLength {
        /// Stream offset of the second header line.
        offset: u64,
        /// The first value.
        first: u64,
        /// The disagreeing value.
        second: u64,
    },
    /// The octet after a `content-length` body is not NUL (F-8).
    #[error("expected NUL after the {length}-byte body at byte {offset}, found 0x{found:02x}")]
    MissingNul {
        /// Stream offset where the NUL should be.
        offset: u64,
        /// The declared body length.
        length: u64,
        /// The octet found instead.
        found: u8,
    },
    /// A command that may not carry a body has one (F-9, D-10; 1.1 and 1.2).
    #[error(
        "{command} frame may not have a body in STOMP {version} (body starts at byte {offset})"
    )]
    BodyNotAllowed {
        /// Stream offset of the first body octet.
        offset: u64,
        /// The frame's command.
        command: Command,
        /// The version in force.
        version: Version,
    },
    /// A CR not followed by LF in the command or header block (F-2, D-3; 1.2 only).
    #[error("carriage return not followed by line feed at byte {offset}")]
    StrayCarriageReturn {
        /// Stream offset of the CR.
        offset: u64,
    },
    /// A NUL in the command or header block, or between frames (D-15).
    #[error("unexpected NUL at byte {offset} (outside a body)")]
    UnexpectedNul {
        /// Stream offset of the NUL.
        offset: u64,
    },
    /// A frame exceeds one of the configured [`Limits`](crate::Limits) (D-12, H-8).
    #[error("{limit} limit of {max} exceeded at byte {offset}")]
    LimitExceeded {
        /// Stream offset where the limit was passed (for a declared `content-length`, of the
        /// header line that declared it).
        offset: u64,
        /// Which limit.
        limit: LimitKind,
        /// Its configured value.
        max: usize,
    },
    /// With [`Decoder::strict_utf8`](crate::Decoder::strict_utf8): a header name or value is not
    /// UTF-8 (D-11).
    #[error("header \"{header}\" is not valid UTF-8 (line at byte {offset})")]
    InvalidUtf8 {
        /// Stream offset of the header line.
        offset: u64,
        /// The header name, escaped for display.
        header: String,
    },
}

impl DecodeError {
    /// The stream offset the error points at.
    pub fn offset(&self) -> u64 {
        match *self {
            DecodeError::UnknownCommand { offset, .. }
            | DecodeError::MissingColon { offset, .. }
            | DecodeError::EmptyHeaderName { offset }
            | DecodeError::BadEscape { offset, .. }
            | DecodeError::InvalidContentLength { offset, .. }
            | DecodeError::ConflictingContentLength { offset, .. }
            | DecodeError::MissingNul { offset, .. }
            | DecodeError::BodyNotAllowed { offset, .. }
            | DecodeError::StrayCarriageReturn { offset }
            | DecodeError::UnexpectedNul { offset }
            | DecodeError::LimitExceeded { offset, .. }
            | DecodeError::InvalidUtf8 { offset, .. } => offset,
        }
    }

    /// A short, stable name of the variant (e.g. `"bad_escape"`), for logs and tools.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::UnknownCommand { .. } => "unknown_command",
            DecodeError::MissingColon { .. } => "missing_colon",
            DecodeError::EmptyHeaderName { .. } => "empty_header_name",
            DecodeError::BadEscape { .. } => "bad_escape",
            DecodeError::InvalidContentLength { .. } => "invalid_content_length",
            DecodeError::ConflictingContentLength { .. } => "conflicting_content_length",
            DecodeError::MissingNul { .. } => "missing_nul",
            DecodeError::BodyNotAllowed { .. } => "body_not_allowed",
            DecodeError::StrayCarriageReturn { .. } => "stray_carriage_return",
            DecodeError::UnexpectedNul { .. } => "unexpected_nul",
            DecodeError::LimitExceeded { .. } => "limit_exceeded",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }
}

struct EscapeShown(Option<u8>);

impl fmt::Display for EscapeShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(f, "\"\\{}\"", [b].escape_ascii()),
            None => f.write_str("(backslash at end)"),
        }
    }
}

/// A frame that cannot be put on the wire as asked (E-9, H-2, F-9, D-25).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An extension command that is not 1–64 printable ASCII octets (D-1).
    #[error("invalid command \"{command}\"")]
    InvalidCommand {
        /// The command, escaped for display.
        command: String,
    },
    /// A header name or value cannot be written in this version and command (E-9).
    #[error("header \"{header}\" cannot be encoded in STOMP {version}: {reason}")]
    Unrepresentable {
        /// The header name, escaped for display.
        header: String,
        /// The version in force.
        version: Version,
        /// What is wrong with it.
        reason: Unrepresentable,
    },
    /// The body contains a NUL but `content-length` was left out (H-2).
    #[error("body has a NUL at byte {position} but content-length is omitted")]
    NulInBody {
        /// Position of the first NUL in the body.
        position: usize,
    },
    /// A caller-supplied `content-length` does not match the body (D-25).
    #[error("content-length \"{declared}\" does not match the {actual}-byte body")]
    ContentLengthMismatch {
        /// The header value, escaped for display.
        declared: String,
        /// The body's real length.
        actual: usize,
    },
    /// The command may not carry a body in this version (F-9).
    #[error("{command} frame may not have a body in STOMP {version}")]
    BodyNotAllowed {
        /// The frame's command.
        command: Command,
        /// The version in force.
        version: Version,
    },
}

/// Why a header cannot be written (see [`EncodeError::Unrepresentable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unrepresentable {
    /// The name is empty (F-4).
    EmptyName,
    /// A line feed where escaping is off (1.0, CONNECT, STOMP, CONNECTED).
    LineFeed,
    /// A carriage return in a 1.2 frame whose headers are not escaped (CONNECT, STOMP,
    /// CONNECTED): 1.2 has no raw CR in headers (D-3) and these frames have no `\r` (E-5, E-9).
    CarriageReturn,
    /// A carriage return as the last octet of a value where CR is written raw (1.0, 1.1, and
    /// their CONNECT, STOMP and CONNECTED frames): followed by the line's LF it would read back
    /// as a CRLF, without the CR (E-9, D-3).
    TrailingCarriageReturn,
    /// A colon in a name where escaping is off.
    ColonInName,
    /// A NUL octet, which no header may hold (D-15).
    Nul,
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unrepresentable::EmptyName => "empty header name",
            Unrepresentable::LineFeed => "line feed cannot be escaped here",
            Unrepresentable::CarriageReturn => "carriage return cannot be escaped here",
            Unrepresentable::TrailingCarriageReturn => {
                "carriage return ending a value would read back as CRLF"
            }
            Unrepresentable::ColonInName => "colon in a name cannot be escaped here",
            Unrepresentable::Nul => "NUL octet in a header",
        })
    }
}

/// A header value that is not valid UTF-8, from [`Headers::get_str`](crate::Headers::get_str).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header \"{header}\" is not valid UTF-8 (valid up to byte {valid_up_to})")]
pub struct HeaderUtf8Error {
    /// The header name.
    pub header: String,
    /// Length of the valid UTF-8 prefix of the value.
    pub valid_up_to: usize,
}

/// Shows at most `max` octets of `bytes` as printable text.
pub(crate) fn shown(bytes: &[u8], max: usize) -> String {
    use core::fmt::Write;
    let mut s = String::new();
    let cut = bytes.len().min(max);
    // Writing into a String cannot fail.
    let _ = write!(s, "{}", bytes[..cut].escape_ascii());
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}
