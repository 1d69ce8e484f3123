//! Hard limits that bound how much a [`Decoder`](crate::Decoder) buffers for one frame.

use core::fmt;

/// Size limits enforced by the decoder (D-12, H-8).
///
/// Every limit is checked as soon as the number is known: a header line is refused while it is
/// still arriving, and a `content-length` above [`max_body`](Limits::max_body) is refused when the
/// header block ends, before any body octet is buffered. The decoder therefore never holds more
/// than [`max_frame`](Limits::max_frame) bytes of one frame plus the last chunk pushed.
///
/// Build one by chaining setters on the defaults:
///
/// ```
/// use stomp_codec::Limits;
/// let limits = Limits::default().max_body(1 << 20).max_headers(32);
/// assert_eq!(limits.max_body, 1 << 20);
/// assert_eq!(limits.max_header_line, 8 * 1024);
/// ```
///
/// Values of the header-related limits above [`Limits::HEADER_CEILING`] are clamped to it: header
/// positions are stored as 32-bit offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line, without its EOL. Default 64 B: the longest command is 11 octets and
    /// extension commands are capped at 64 (D-1).
    pub max_command_line: usize,
    /// Longest header line (`name:value`, escapes included, EOL excluded). Default 8 KiB, enough
    /// for selectors and JWT-sized `passcode` values.
    pub max_header_line: usize,
    /// Most header lines in one frame. Default 128: brokers add a dozen at most.
    pub max_headers: usize,
    /// Most octets of the command and header block together, EOLs and the blank line included.
    /// Default 64 KiB, the size of one WebSocket STOMP message in Spring and Artemis.
    pub max_header_bytes: usize,
    /// Largest body. Default 8 MiB.
    pub max_body: usize,
    /// Largest whole frame, command through NUL. Default: header bytes + body + 1, so that by
    /// default the other limits decide.
    pub max_frame: usize,
}

impl Limits {
    /// Upper bound for the header-related limits (1 GiB).
    pub const HEADER_CEILING: usize = 1 << 30;

    /// Default [`max_command_line`](Limits::max_command_line).
    pub const DEFAULT_COMMAND_LINE: usize = 64;
    /// Default [`max_header_line`](Limits::max_header_line).
    pub const DEFAULT_HEADER_LINE: usize = 8 * 1024;
    /// Default [`max_headers`](Limits::max_headers).
    pub const DEFAULT_HEADERS: usize = 128;
    /// Default [`max_header_bytes`](Limits::max_header_bytes).
    pub const DEFAULT_HEADER_BYTES: usize = 64 * 1024;
    /// Default [`max_body`](Limits::max_body).
    pub const DEFAULT_BODY: usize = 8 * 1024 * 1024;

    /// Limits that never stop a frame short of memory exhaustion.
    ///
    /// **Warning:** a peer can then make the decoder buffer without bound. Use it only for
    /// trusted input, e.g. files you wrote yourself.
    pub const fn unlimited() -> Limits {
        Limits {
            max_command_line: Self::HEADER_CEILING,
            max_header_line: Self::HEADER_CEILING,
            max_headers: Self::HEADER_CEILING,
            max_header_bytes: Self::HEADER_CEILING,
            max_body: usize::MAX,
            max_frame: usize::MAX,
        }
    }

    /// Sets [`max_command_line`](Limits::max_command_line).
    #[must_use]
    pub const fn max_command_line(mut self, n: usize) -> Limits {
        self.max_command_line = clamp(n);
        self
    }

    /// Sets [`max_header_line`](Limits::max_header_line).
    #[must_use]
    pub const fn max_header_line(mut self, n: usize) -> Limits {
        self.max_header_line = clamp(n);
        self
    }

    /// Sets [`max_headers`](Limits::max_headers).
    #[must_use]
    pub const fn max_headers(mut self, n: usize) -> Limits {
        self.max_headers = clamp(n);
        self
    }

    /// Sets [`max_header_bytes`](Limits::max_header_bytes).
    #[must_use]
    pub const fn max_header_bytes(mut self, n: usize) -> Limits {
        self.max_header_bytes = clamp(n);
        self
    }

    /// Sets [`max_body`](Limits::max_body).
    #[must_use]
    pub const fn max_body(mut self, n: usize) -> Limits {
        self.max_body = n;
        self
    }

    /// Sets [`max_frame`](Limits::max_frame).
    #[must_use]
    pub const fn max_frame(mut self, n: usize) -> Limits {
        self.max_frame = n;
        self
    }

    /// The header-block limit actually enforced: the configured one, clamped so that header
    /// offsets fit the 32-bit spans of [`Headers`](crate::Headers).
    pub(crate) const fn header_block(&self) -> usize {
        clamp(self.max_header_bytes)
    }
}

const fn clamp(n: usize) -> usize {
    if n > Limits::HEADER_CEILING {
        Limits::HEADER_CEILING
    } else {
        n
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_command_line: Self::DEFAULT_COMMAND_LINE,
            max_header_line: Self::DEFAULT_HEADER_LINE,
            max_headers: Self::DEFAULT_HEADERS,
            max_header_bytes: Self::DEFAULT_HEADER_BYTES,
            max_body: Self::DEFAULT_BODY,
            max_frame: Self::DEFAULT_HEADER_BYTES + Self::DEFAULT_BODY + 1,
        }
    }
}

/// Which limit of [`Limits`] a frame exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_command_line`].
    CommandLine,
    /// [`Limits::max_header_line`].
    HeaderLine,
    /// [`Limits::max_headers`].
    HeaderCount,
    /// [`Limits::max_header_bytes`].
    HeaderBytes,
    /// [`Limits::max_body`].
    Body,
    /// [`Limits::max_frame`].
    Frame,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::CommandLine => "command line length",
            LimitKind::HeaderLine => "header line length",
            LimitKind::HeaderCount => "header count",
            LimitKind::HeaderBytes => "total header bytes",
            LimitKind::Body => "body size",
            LimitKind::Frame => "frame size",
        })
    }
}
