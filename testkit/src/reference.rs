//! A reference decoder: a deliberately plain reading of STOMP-RULES.md (F, E, H and D-1..D-15)
//! and of the crate's documented error positions, used only as a differential oracle for
//! [`Decoder`](stomp_codec::Decoder).
//!
//! It sees the whole input at once and walks it frame by frame and line by line, with no
//! resumable state, no buffering strategy and no search tricks: every check is written the way
//! the rules state it. Speed does not matter here; being obviously right does.
//!
//! # The semantics it spells out
//!
//! Between frames (F-10, D-13, D-15): an LF, or a CR directly followed by an LF, is one
//! heart-beat; a NUL is `UnexpectedNul`; in 1.2 a CR followed by anything but LF is
//! `StrayCarriageReturn` (D-3), while in 1.0 and 1.1 it is an ordinary octet and starts a
//! command; any other octet starts a frame.
//!
//! A frame's head is read line by line. A line runs from its first octet to the first LF or NUL
//! (its *terminator*); its *content* leaves out a CR that directly precedes an LF, since that CR
//! belongs to the EOL (F-2, D-3). For each line, in order:
//!
//! 1. **Limits (D-12, H-8)** are judged on the octets of the line that are in the input (the
//!    terminator included), so they fire while the line is still arriving, each at a fixed
//!    offset; when several fire, the smallest offset wins, and at equal offsets the order below:
//!    - the head (command and header lines, their EOLs and the blank line) may not reach frame
//!      index `min(max_header_bytes, max_frame)`: an octet there fails with `HeaderBytes`
//!      (or `Frame` when `max_frame` is the smaller) at that index;
//!    - once `max_headers` header lines were read, a further line that is surely a header (not
//!      the blank line) fails with `HeaderCount` at its start;
//!    - a line whose content is longer than its limit (`max_command_line` for the command,
//!      `max_header_line` for a header) fails with `CommandLine`/`HeaderLine` at `start + max`.
//!      A CR at the very end of the input may still turn out to be the CR of a CRLF, so it is
//!      not counted yet; a CR followed by a NUL is content.
//! 2. An unterminated line means the input is incomplete.
//! 3. A line ended by NUL fails (D-15): in 1.2 with `StrayCarriageReturn` at its first CR if it
//!    has one, else with `UnexpectedNul` at the NUL.
//! 4. The content is then read, lexically first, then syntactically, then for meaning:
//!    - 1.2: a CR in the content is `StrayCarriageReturn` at the first one (D-3);
//!    - the command line is a standard command (F-3), or with the opt-in a 1–64 printable ASCII
//!      octet extension word (D-1); otherwise `UnknownCommand` at the line start (D-2);
//!    - an empty content in the header block is the blank line that ends the head (F-6);
//!    - a header line without colon is `MissingColon`, one that starts with a colon
//!      `EmptyHeaderName`, both at the line start (D-4, D-5); the name ends at the first colon;
//!    - where escaping applies (1.1 and 1.2, not CONNECT, STOMP or CONNECTED: E-1..E-5, D-7)
//!      the name, then the value, is unescaped; an undefined or dangling escape is `BadEscape`
//!      at its backslash (E-4, D-8);
//!    - with `strict_utf8`, a name or value that is not UTF-8 is `InvalidUtf8` at the line
//!      start (D-11);
//!    - a header named exactly `content-length` (H-9) must be one or more digits fitting a
//!      `u64`, else `InvalidContentLength`; a second one with another value is
//!      `ConflictingContentLength`, both at the line start (D-9).
//!
//! The body (F-7, F-8, F-9, H-1, D-10, D-12):
//!
//! - with `content-length`, as soon as the head ends: a length above `max_body` fails with
//!   `Body`, a frame (command through NUL) longer than `max_frame` with `Frame`, both at the
//!   `content-length` line that declared it; then a non-empty body on a command that may not
//!   have one is `BodyNotAllowed` at the body start (which the input need not have reached: the
//!   declared length already says the frame is wrong); then the octet after the body must be
//!   NUL, else `MissingNul` there;
//! - without, the body runs to the first NUL: a body octet on a command that may not have one is
//!   `BodyNotAllowed` at the body start; otherwise a body octet at `body_start + max_body`
//!   fails with `Body` there and a frame octet (the NUL included) at frame index `max_frame`
//!   with `Frame` there, the smaller offset winning and `Body` winning a tie.
//!
//! Offsets are stream offsets. After an error nothing more is read.

use core::fmt::{self, Write};

use stomp_codec::{Command, DecodeError, Frame, Item, LimitKind, Limits, Version};

use crate::{DecodeSetup, Decoded};

const LF: u8 = b'\n';
const CR: u8 = b'\r';
const NUL: u8 = 0;

/// A frame as the reference model reads it: plain owned parts.
#[derive(Clone, PartialEq, Eq)]
pub struct RefFrame {
    /// The command.
    pub command: Command,
    /// Headers in wire order, unescaped.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl fmt::Debug for RefFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [", self.command)?;
        for (name, value) in &self.headers {
            write!(f, "{}:{}, ", name.escape_ascii(), value.escape_ascii())?;
        }
        write!(f, "] \"{}\"", self.body.escape_ascii())
    }
}

impl RefFrame {
    /// The same frame in the model's terms.
    pub fn of(frame: &Frame) -> RefFrame {
        RefFrame {
            command: frame.command().clone(),
            headers: frame
                .headers()
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
            body: frame.body().to_vec(),
        }
    }
}

/// An item as the reference model reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefItem {
    /// A complete frame.
    Frame(RefFrame),
    /// One EOL between frames.
    Heartbeat,
}

impl RefItem {
    /// The same item in the model's terms.
    pub fn of(item: &Item) -> RefItem {
        match item {
            Item::Frame(frame) => RefItem::Frame(RefFrame::of(frame)),
            Item::Heartbeat => RefItem::Heartbeat,
        }
    }
}

/// What the reference model reads from a whole input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Frames and heart-beats, in order.
    pub items: Vec<RefItem>,
    /// The error that ends the input, if any.
    pub error: Option<DecodeError>,
    /// Octets taken by the items.
    pub consumed: u64,
    /// Octets after the last item that do not make one yet (0 after an error).
    pub pending: usize,
}

impl Outcome {
    /// The real decoder's outcome in the model's terms.
    pub fn of(decoded: &Decoded) -> Outcome {
        Outcome {
            items: decoded.items.iter().map(RefItem::of).collect(),
            error: decoded.error.clone(),
            consumed: decoded.consumed,
            pending: decoded.pending,
        }
    }
}

/// Reads the whole of `data` under `setup`, as the rules say.
pub fn decode(data: &[u8], setup: &DecodeSetup) -> Outcome {
    decode_with(data, setup, Quirks::NONE)
}

/// Known departures of the real decoder from the rules, which the model can imitate so that a
/// difference they explain is told apart from a new one. Each is reported to be fixed in the
/// decoder; once it is, its flag and this imitation go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// The decoder judges a head line ended by a NUL as if a CR right before the NUL could
    /// still be the CR of a CRLF: the CR is not counted against the line limit, and a line
    /// that is just that CR is not counted as an extra header. By the rules that CR is
    /// content (no LF follows it), so `SEND\r\0` with `max_command_line` 4 is over the limit
    /// at offset 4 (D-12), where the decoder reports `UnexpectedNul` at 5 (1.0, 1.1) or
    /// `StrayCarriageReturn` at 4 (1.2).
    pub cr_before_nul_may_end_line: bool,
}

impl Quirks {
    /// The rules as written.
    pub const NONE: Quirks = Quirks {
        cr_before_nul_may_end_line: false,
    };
    /// Every known departure of the current decoder: none since the CR-before-NUL case was
    /// fixed (the flag stays so a departure can be described again if one is found).
    pub const DECODER: Quirks = Quirks {
        cr_before_nul_may_end_line: false,
    };
}

/// [`decode`] imitating the given [`Quirks`].
pub fn decode_with(data: &[u8], setup: &DecodeSetup, quirks: Quirks) -> Outcome {
    let mut items = Vec::new();
    let mut pos = 0;
    let end = |items, error, pos: usize, pending| Outcome {
        items,
        error,
        consumed: pos as u64,
        pending,
    };
    loop {
        let starts_frame = match data.get(pos) {
            None => return end(items, None, pos, 0),
            Some(&LF) => {
                items.push(RefItem::Heartbeat);
                pos += 1;
                false
            }
            Some(&CR) => match data.get(pos + 1) {
                None => return end(items, None, pos, 1),
                Some(&LF) => {
                    items.push(RefItem::Heartbeat);
                    pos += 2;
                    false
                }
                Some(_) if setup.version == Version::V1_2 => {
                    let error = DecodeError::StrayCarriageReturn { offset: pos as u64 };
                    return end(items, Some(error), pos, 0);
                }
                Some(_) => true,
            },
            Some(&NUL) => {
                let error = DecodeError::UnexpectedNul { offset: pos as u64 };
                return end(items, Some(error), pos, 0);
            }
            Some(_) => true,
        };
        if !starts_frame {
            continue;
        }
        match read_frame(data, pos, setup, quirks) {
            Read::Frame(frame, next) => {
                items.push(RefItem::Frame(frame));
                pos = next;
            }
            Read::Incomplete => return end(items, None, pos, data.len() - pos),
            Read::Error(error) => return end(items, Some(error), pos, 0),
        }
    }
}

enum Read {
    /// A frame, and the stream index just after its NUL.
    Frame(RefFrame, usize),
    Incomplete,
    Error(DecodeError),
}

/// One line of the head: the octets `raw` from stream index `start` up to its terminator
/// `term` (the index and octet of the first LF or NUL), or to the end of the input.
struct Line<'a> {
    start: usize,
    raw: &'a [u8],
    term: Option<(usize, u8)>,
}

impl Line<'_> {
    /// The octets without a CR that belongs to the EOL (an LF terminator).
    fn content(&self) -> &[u8] {
        match (self.term, self.raw.last()) {
            (Some((_, LF)), Some(&CR)) => &self.raw[..self.raw.len() - 1],
            _ => self.raw,
        }
    }

    /// Whether the line ends in a CR that is not known to be content: the input ends right
    /// after it (it may still be the CR of a CRLF), or, with the quirk, a NUL follows it.
    fn ends_in_open_cr(&self, quirks: Quirks) -> bool {
        self.raw.last() == Some(&CR)
            && match self.term {
                None => true,
                Some((_, NUL)) => quirks.cr_before_nul_may_end_line,
                Some(_) => false,
            }
    }

    /// The length the line limit judges: the content, leaving out a last CR that may still be
    /// the CR of a CRLF.
    fn judged_len(&self, quirks: Quirks) -> usize {
        if self.ends_in_open_cr(quirks) {
            self.raw.len() - 1
        } else {
            self.content().len()
        }
    }

    /// Whether the line is a header line rather than the blank line (as far as the input tells).
    fn is_surely_header(&self, quirks: Quirks) -> bool {
        match self.term {
            Some((_, LF)) => !self.content().is_empty(),
            // An unended line, or one a NUL ends: a header unless it is empty, or a lone CR
            // that may still be the blank line's.
            _ => {
                let maybe_blank = self.raw == [CR] && self.ends_in_open_cr(quirks);
                !self.raw.is_empty() && !maybe_blank
            }
        }
    }

    /// Stream index just after the last octet of the line present in the input.
    fn seen_end(&self) -> usize {
        match self.term {
            Some((t, _)) => t + 1,
            None => self.start + self.raw.len(),
        }
    }
}

fn line_at(data: &[u8], start: usize) -> Line<'_> {
    let rest = &data[start..];
    match rest.iter().position(|&b| b == LF || b == NUL) {
        Some(i) => Line {
            start,
            raw: &rest[..i],
            term: Some((start + i, rest[i])),
        },
        None => Line {
            start,
            raw: rest,
            term: None,
        },
    }
}

fn at(index: usize) -> u64 {
    index as u64
}

fn limit(index: usize, limit: LimitKind, max: usize) -> DecodeError {
    DecodeError::LimitExceeded {
        offset: at(index),
        limit,
        max,
    }
}

/// Reads the frame that starts at stream index `start`.
fn read_frame(data: &[u8], start: usize, setup: &DecodeSetup, quirks: Quirks) -> Read {
    let limits = &setup.limits;
    let version = setup.version;
    let header_bytes = limits.max_header_bytes.min(Limits::HEADER_CEILING);
    let (head_cap, head_kind) = if limits.max_frame < header_bytes {
        (limits.max_frame, LimitKind::Frame)
    } else {
        (header_bytes, LimitKind::HeaderBytes)
    };

    let mut command: Option<Command> = None;
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    // The first content-length: its value and the start of its line.
    let mut length: Option<(u64, usize)> = None;
    let mut line_start = start;
    let body_start = loop {
        let line = line_at(data, line_start);
        let is_command = command.is_none();

        // 1. Limits, judged on what is present; the smallest offset wins, the first named on a tie.
        let mut fired: Option<(usize, LimitKind, usize)> = None;
        let mut fire = |index: usize, kind: LimitKind, max: usize| {
            if fired.is_none_or(|(i, _, _)| index < i) {
                fired = Some((index, kind, max));
            }
        };
        if line.seen_end() - start > head_cap {
            fire(start + head_cap, head_kind, head_cap);
        }
        if !is_command && headers.len() >= limits.max_headers && line.is_surely_header(quirks) {
            fire(line.start, LimitKind::HeaderCount, limits.max_headers);
        }
        let (max, kind) = if is_command {
            (limits.max_command_line, LimitKind::CommandLine)
        } else {
            (limits.max_header_line, LimitKind::HeaderLine)
        };
        if line.judged_len(quirks) > max {
            fire(line.start + max, kind, max);
        }
        if let Some((index, kind, max)) = fired {
            return Read::Error(limit(index, kind, max));
        }

        // 2. Not ended yet.
        let Some((term, octet)) = line.term else {
            return Read::Incomplete;
        };

        // 3. A NUL inside the head.
        if octet == NUL {
            if version == Version::V1_2 {
                if let Some(i) = line.raw.iter().position(|&b| b == CR) {
                    return Read::Error(DecodeError::StrayCarriageReturn {
                        offset: at(line.start + i),
                    });
                }
            }
            return Read::Error(DecodeError::UnexpectedNul { offset: at(term) });
        }

        // 4. The content.
        let content = line.content();
        if version == Version::V1_2 {
            if let Some(i) = content.iter().position(|&b| b == CR) {
                return Read::Error(DecodeError::StrayCarriageReturn {
                    offset: at(line.start + i),
                });
            }
        }
        line_start = term + 1;
        if is_command {
            match command_of(content, setup.extensions) {
                Some(c) => command = Some(c),
                None => {
                    return Read::Error(DecodeError::UnknownCommand {
                        offset: at(line.start),
                        command: shown(content),
                    })
                }
            }
            continue;
        }
        if content.is_empty() {
            break term + 1;
        }
        let Some(colon) = content.iter().position(|&b| b == b':') else {
            return Read::Error(DecodeError::MissingColon {
                offset: at(line.start),
                line: shown(content),
            });
        };
        if colon == 0 {
            return Read::Error(DecodeError::EmptyHeaderName {
                offset: at(line.start),
            });
        }
        let raw_name = &content[..colon];
        let raw_value = &content[colon + 1..];
        let command_now = command.as_ref().expect("set by the command line");
        let escaping = version != Version::V1_0
            && !matches!(
                command_now,
                Command::Connect | Command::Stomp | Command::Connected
            );
        let (name, value) = if escaping {
            let bad = |(i, octet): (usize, Option<u8>), from: usize| {
                Read::Error(DecodeError::BadEscape {
                    offset: at(from + i),
                    header: shown(raw_name),
                    octet,
                })
            };
            let name = match unescape(raw_name, version) {
                Ok(name) => name,
                Err(e) => return bad(e, line.start),
            };
            let value = match unescape(raw_value, version) {
                Ok(value) => value,
                Err(e) => return bad(e, line.start + colon + 1),
            };
            (name, value)
        } else {
            (raw_name.to_vec(), raw_value.to_vec())
        };
        if setup.strict_utf8
            && (core::str::from_utf8(&name).is_err() || core::str::from_utf8(&value).is_err())
        {
            return Read::Error(DecodeError::InvalidUtf8 {
                offset: at(line.start),
                header: shown(&name),
            });
        }
        if name == b"content-length" {
            let Some(n) = decimal(&value) else {
                return Read::Error(DecodeError::InvalidContentLength {
                    offset: at(line.start),
                    value: shown(&value),
                });
            };
            match length {
                None => length = Some((n, line.start)),
                Some((first, _)) if first != n => {
                    return Read::Error(DecodeError::ConflictingContentLength {
                        offset: at(line.start),
                        first,
                        second: n,
                    })
                }
                Some(_) => {}
            }
        }
        headers.push((name, value));
    };

    let command = command.expect("the head has a command line");
    let body_allowed = version == Version::V1_0
        || matches!(command, Command::Send | Command::Message | Command::Error);
    let frame = |body: &[u8]| RefFrame {
        command: command.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
    };
    let not_allowed = || {
        Read::Error(DecodeError::BodyNotAllowed {
            offset: at(body_start),
            command: command.clone(),
            version,
        })
    };

    match length {
        Some((n, line)) => {
            if n > limits.max_body as u64 {
                return Read::Error(limit(line, LimitKind::Body, limits.max_body));
            }
            // Frame size, command through NUL, in wide arithmetic (no overflow to reason about).
            let frame_len = (body_start - start) as u128 + u128::from(n) + 1;
            if frame_len > limits.max_frame as u128 {
                return Read::Error(limit(line, LimitKind::Frame, limits.max_frame));
            }
            if n > 0 && !body_allowed {
                return not_allowed();
            }
            let nul = body_start as u128 + u128::from(n);
            if (data.len() as u128) <= nul {
                return Read::Incomplete;
            }
            let nul = nul as usize;
            if data[nul] != NUL {
                return Read::Error(DecodeError::MissingNul {
                    offset: at(nul),
                    length: n,
                    found: data[nul],
                });
            }
            Read::Frame(frame(&data[body_start..nul]), nul + 1)
        }
        None => {
            let nul = data[body_start..]
                .iter()
                .position(|&b| b == NUL)
                .map(|i| body_start + i);
            let body_end = nul.unwrap_or(data.len());
            if body_end > body_start && !body_allowed {
                return not_allowed();
            }
            let mut fired: Option<(usize, LimitKind, usize)> = None;
            if (body_end - body_start) as u128 > limits.max_body as u128 {
                fired = Some((
                    body_start + limits.max_body,
                    LimitKind::Body,
                    limits.max_body,
                ));
            }
            // Frame octets present, the NUL included.
            let seen = nul.map_or(data.len(), |n| n + 1) - start;
            if seen as u128 > limits.max_frame as u128 {
                let index = start + limits.max_frame;
                if fired.is_none_or(|(i, _, _)| index < i) {
                    fired = Some((index, LimitKind::Frame, limits.max_frame));
                }
            }
            if let Some((index, kind, max)) = fired {
                return Read::Error(limit(index, kind, max));
            }
            match nul {
                Some(nul) => Read::Frame(frame(&data[body_start..nul]), nul + 1),
                None => Read::Incomplete,
            }
        }
    }
}

/// The command a command line names (F-3, D-1, D-2).
fn command_of(word: &[u8], extensions: bool) -> Option<Command> {
    const STANDARD: [(&[u8], Command); 15] = [
        (b"CONNECT", Command::Connect),
        (b"STOMP", Command::Stomp),
        (b"CONNECTED", Command::Connected),
        (b"SEND", Command::Send),
        (b"SUBSCRIBE", Command::Subscribe),
        (b"UNSUBSCRIBE", Command::Unsubscribe),
        (b"ACK", Command::Ack),
        (b"NACK", Command::Nack),
        (b"BEGIN", Command::Begin),
        (b"COMMIT", Command::Commit),
        (b"ABORT", Command::Abort),
        (b"DISCONNECT", Command::Disconnect),
        (b"MESSAGE", Command::Message),
        (b"RECEIPT", Command::Receipt),
        (b"ERROR", Command::Error),
    ];
    if let Some((_, command)) = STANDARD.iter().find(|(w, _)| *w == word) {
        return Some(command.clone());
    }
    let printable =
        (1..=64).contains(&word.len()) && word.iter().all(|&b| (0x21..=0x7e).contains(&b));
    (extensions && printable).then(|| Command::Extension(word.into()))
}

/// Undoes the escapes of `text` (E-2, E-3); on failure, the index of the backslash and the
/// octet after it (`None` when it ends the text, D-8).
fn unescape(text: &[u8], version: Version) -> Result<Vec<u8>, (usize, Option<u8>)> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let next = text.get(i + 1).copied();
        out.push(match next {
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'\\') => b'\\',
            Some(b'r') if version == Version::V1_2 => b'\r',
            _ => return Err((i, next)),
        });
        i += 2;
    }
    Ok(out)
}

/// One or more ASCII digits fitting a `u64` (D-9).
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// The first 64 octets, non-printable ones escaped, `...` when cut (the error texts' format).
fn shown(bytes: &[u8]) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", bytes[..bytes.len().min(64)].escape_ascii());
    if bytes.len() > 64 {
        s.push_str("...");
    }
    s
}
