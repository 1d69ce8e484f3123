//! The decoder's state machine: where in a frame it is, and the careful path, which reads any
//! line (unfinished, unusual, near a limit) with `memchr` and can resume after any octet.
//! Whole ordinary lines are read by the fast path (`fast.rs`) on the same state.

use alloc::boxed::Box;

use bytes::{Bytes, BytesMut};
use memchr::{memchr, memchr2};

use crate::error::{shown, DecodeError};
use crate::escape::unescape_into;
use crate::frame::{is_extension_word, Command, Frame};
use crate::headers::{side_buffer, Headers, Recorder, Span, Table};
use crate::limits::{LimitKind, Limits};
use crate::numbers::parse_content_length;
use crate::version::Version;

use super::fast::{unescape_masked, unescape_short, Escapes, SHORT_ESCAPED};

pub(super) const LF: u8 = b'\n';
pub(super) const CR: u8 = b'\r';
const NUL: u8 = 0;
pub(super) const CONTENT_LENGTH: &[u8] = b"content-length";

#[derive(Debug, Clone, Copy)]
pub(super) struct Config {
    pub(super) version: Version,
    pub(super) limits: Limits,
    pub(super) extensions: bool,
    pub(super) strict_utf8: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Between frames: EOLs are heart-beats, anything else starts a command.
    Idle,
    /// Reading the command line.
    Command,
    /// Reading header lines up to the blank line.
    Headers,
    /// Waiting for `content-length` body octets and the NUL at index `nul`.
    CountedBody { nul: usize },
    /// Scanning for the NUL that ends a body without `content-length`.
    ScannedBody,
}

/// [`parse_content_length`], with the common case (up to 19 digits, which cannot overflow a
/// `u64`) done in one loop instead of through the grammar's combinators.
fn content_length_value(text: &[u8]) -> Option<u64> {
    if !(1..=19).contains(&text.len()) {
        return parse_content_length(text);
    }
    text.iter().try_fold(0u64, |n, &octet| {
        let digit = octet.wrapping_sub(b'0');
        (digit < 10).then(|| n * 10 + u64::from(digit))
    })
}

/// The extension command of a frame spelt `data[start..end]`, from the parser's `extension`.
/// Copied: rare enough that a copy is cheaper than sharing the input for every frame. Without
/// one (unreachable: the command stage sets a command or an extension before Headers), an
/// empty extension.
fn extension_command(data: &[u8], extension: Option<(usize, usize)>) -> Command {
    let (start, end) = extension.unwrap_or((0, 0));
    Command::Extension(Box::from(&data[start..end]))
}

/// How far [`Parser::has_unusual`] searches at once.
const UNUSUAL_WINDOW: usize = 4096;

/// Which octets send a header line down the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needles {
    BackslashCr,
    Backslash,
    Cr,
}

/// Stream offsets `[from, to)` hold none of `needles`; if `found`, the octet at `to` is one.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    needles: Needles,
    from: u64,
    to: u64,
    found: bool,
}

pub(super) enum Step {
    NeedMore,
    Heartbeat(usize),
    Frame(usize),
}

/// Progress through the frame at the front of the input; all indices are relative to it.
#[derive(Debug)]
pub(super) struct Parser {
    pub(super) config: Config,
    pub(super) next_version: Option<Version>,
    pub(super) stage: Stage,
    /// Stream offset of the front of the input.
    pub(super) base: u64,
    /// Input before this index has been scanned.
    pub(super) scan: usize,
    /// Length of the unconsumed input the last `step` saw (less what was consumed since).
    /// Input shorter than this is not the same input: every index above may be past its end.
    pub(super) seen: usize,
    /// Start of the line being read.
    pub(super) line_start: usize,
    pub(super) command: Option<Command>,
    /// Extension command spelling, as a range of the frame (materialised in `finish`).
    pub(super) extension: Option<(usize, usize)>,
    pub(super) escaping: bool,
    /// Kept across frames, so its allocation is made once, not per frame.
    pub(super) entries: Recorder,
    /// Unescaped names and values of the frame in progress.
    pub(super) owned: BytesMut,
    /// Where the next backslash or CR lies, as far as known (see `has_unusual`).
    unusual: Cursor,
    pub(super) content_length: Option<u64>,
    /// Start of the first `content-length` line (where a body-limit error points).
    pub(super) length_line: usize,
    pub(super) body_start: usize,
    pub(super) body_end: usize,
}

impl Parser {
    pub(super) fn new(config: Config) -> Parser {
        Parser {
            config,
            next_version: None,
            stage: Stage::Idle,
            base: 0,
            scan: 0,
            seen: 0,
            line_start: 0,
            command: None,
            extension: None,
            escaping: false,
            entries: Recorder::default(),
            owned: BytesMut::new(),
            unusual: Cursor {
                needles: Needles::Cr,
                from: 0,
                to: 0,
                found: false,
            },
            content_length: None,
            length_line: 0,
            body_start: 0,
            body_end: 0,
        }
    }

    pub(super) fn consumed(&mut self, n: usize) {
        self.base += n as u64;
        // Saturating: heart-beats taken by `next_item`'s shortcut were never stepped over.
        self.seen = self.seen.saturating_sub(n);
    }

    /// Forgets all progress through the frame in progress, to read it again from the front
    /// of the input (the caller handed in other input than it had, see `Decoder::decode`).
    #[cold]
    fn rescan(&mut self) {
        self.stage = Stage::Idle;
        self.scan = 0;
        self.line_start = 0;
        self.command = None;
        self.extension = None;
        self.content_length = None;
        self.entries.clear();
        self.owned.clear();
        // The clear range it records was found in octets that may be gone.
        self.unusual.from = self.base;
        self.unusual.to = self.base;
        self.unusual.found = false;
    }

    /// Total frame length once it is known (counted body), to reserve buffer space once.
    pub(super) fn expected_len(&self) -> Option<usize> {
        match self.stage {
            Stage::CountedBody { nul } => Some(nul + 1),
            _ => None,
        }
    }

    fn at(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    fn limit(&self, index: usize, limit: LimitKind, max: usize) -> DecodeError {
        DecodeError::LimitExceeded {
            offset: self.at(index),
            limit,
            max,
        }
    }

    /// Advances over `data` (the whole unconsumed input) as far as it allows.
    #[inline]
    pub(super) fn step(&mut self, data: &[u8]) -> Result<Step, DecodeError> {
        if data.len() < self.seen {
            self.rescan();
        }
        let step = self.advance(data);
        self.seen = data.len();
        step
    }

    /// [`step`](Parser::step) over input that holds at least what the last step saw.
    fn advance(&mut self, data: &[u8]) -> Result<Step, DecodeError> {
        loop {
            match self.stage {
                Stage::Idle => match data.first() {
                    None => return Ok(Step::NeedMore),
                    Some(&LF) => return Ok(Step::Heartbeat(1)),
                    Some(&CR) => match data.get(1) {
                        None => return Ok(Step::NeedMore),
                        Some(&LF) => return Ok(Step::Heartbeat(2)),
                        // In 1.0/1.1 a CR is an ordinary octet and starts a (bad) command.
                        Some(_) if self.config.version == Version::V1_2 => {
                            return Err(DecodeError::StrayCarriageReturn { offset: self.at(0) })
                        }
                        Some(_) => self.start_frame(),
                    },
                    Some(&NUL) => return Err(DecodeError::UnexpectedNul { offset: self.at(0) }),
                    Some(_) => self.start_frame(),
                },
                Stage::Command | Stage::Headers => {
                    // At a line start, the common case (whole ordinary lines already here) goes
                    // through the classifier; it hands back any line it cannot take as is.
                    if self.scan == self.line_start && self.quick_lines(data)? {
                        continue;
                    }
                    let Some(found) = memchr2(LF, NUL, &data[self.scan..]) else {
                        self.scan = data.len();
                        return match self.partial_line_violation(data, data.len(), true) {
                            Some(err) => Err(err),
                            None => Ok(Step::NeedMore),
                        };
                    };
                    let end = self.scan + found;
                    self.line_done(data, end)?;
                }
                Stage::CountedBody { nul } => {
                    if data.len() <= nul {
                        return Ok(Step::NeedMore);
                    }
                    if data[nul] != NUL {
                        return Err(DecodeError::MissingNul {
                            offset: self.at(nul),
                            length: (nul - self.body_start) as u64,
                            found: data[nul],
                        });
                    }
                    self.body_end = nul;
                    return Ok(Step::Frame(nul + 1));
                }
                Stage::ScannedBody => {
                    let found = memchr(NUL, &data[self.scan..]);
                    let end = found.map_or(data.len(), |i| self.scan + i);
                    self.scan = end;
                    if let Some(err) = self.body_violation(data, end, found.is_some()) {
                        return Err(err);
                    }
                    if found.is_none() {
                        return Ok(Step::NeedMore);
                    }
                    self.body_end = end;
                    return Ok(Step::Frame(end + 1));
                }
            }
        }
    }

    fn start_frame(&mut self) {
        if let Some(v) = self.next_version.take() {
            self.config.version = v;
        }
        self.stage = Stage::Command;
        self.scan = 0;
        self.line_start = 0;
        self.command = None;
        self.extension = None;
        self.content_length = None;
        self.entries.clear();
        self.owned.clear();
    }

    /// Limit violations visible in the unfinished line `data[line_start..end]` (no LF or NUL in
    /// it). Each check fires at a fixed offset as soon as the octet there has arrived, so any
    /// chunking reports the same one; among several, the smallest offset wins.
    ///
    /// `cr_may_end` says whether a CR at the end of the line may still be (or is) the CR of a
    /// CRLF: true while the line is open or ends with LF, false when a NUL ends it (the CR is
    /// then content, D-12).
    fn partial_line_violation(
        &self,
        data: &[u8],
        end: usize,
        cr_may_end: bool,
    ) -> Option<DecodeError> {
        let limits = &self.config.limits;
        let pending = &data[self.line_start..end];
        let mut best: Option<(usize, LimitKind, usize)> = None;
        let mut consider = |index: usize, kind: LimitKind, max: usize| {
            if best.is_none_or(|(b, _, _)| index < b) {
                best = Some((index, kind, max));
            }
        };
        // The whole head (command and headers) may not pass max_header_bytes or max_frame.
        let (head_max, head_kind) = self.head_cap();
        if end > head_max {
            consider(head_max, head_kind, head_max);
        }
        // A line that is surely a header (not the blank line) when the count is used up.
        let is_header =
            pending.len() >= 2 || pending.first().is_some_and(|&b| b != CR || !cr_may_end);
        if self.stage == Stage::Headers && is_header && self.entries.len() >= limits.max_headers {
            consider(self.line_start, LimitKind::HeaderCount, limits.max_headers);
        }
        // Line length, counted without a CR that may turn out to be the CR of a CRLF.
        let (max, kind) = match self.stage {
            Stage::Command => (limits.max_command_line, LimitKind::CommandLine),
            _ => (limits.max_header_line, LimitKind::HeaderLine),
        };
        let open_cr = cr_may_end && pending.last() == Some(&CR);
        if pending.len() > max + 1 || (pending.len() == max + 1 && !open_cr) {
            consider(self.line_start + max, kind, max);
        }
        best.map(|(index, kind, max)| self.limit(index, kind, max))
    }

    pub(super) fn head_cap(&self) -> (usize, LimitKind) {
        let limits = &self.config.limits;
        let head = limits.header_block();
        if limits.max_frame < head {
            (limits.max_frame, LimitKind::Frame)
        } else {
            (head, LimitKind::HeaderBytes)
        }
    }

    /// A command or header line ends at `end` (an LF or a NUL).
    fn line_done(&mut self, data: &[u8], end: usize) -> Result<(), DecodeError> {
        let start = self.line_start;
        let (head_max, head_kind) = self.head_cap();
        let line_max = match self.stage {
            Stage::Command => self.config.limits.max_command_line,
            _ => self.config.limits.max_header_line,
        };
        // Only lines near a limit need the full check (a superset of its firing conditions).
        if end - start > line_max
            || end > head_max
            || self.entries.len() >= self.config.limits.max_headers
        {
            if let Some(err) = self.partial_line_violation(data, end, data[end] == LF) {
                return Err(err);
            }
        }
        if end >= head_max {
            return Err(self.limit(head_max, head_kind, head_max));
        }
        if data[end] == NUL {
            // A CR before the NUL came first in the stream (and no LF follows it).
            self.check_stray_cr(data, start, end)?;
            return Err(DecodeError::UnexpectedNul {
                offset: self.at(end),
            });
        }
        let line_end = if end > start && data[end - 1] == CR {
            end - 1
        } else {
            end
        };
        self.scan = end + 1;
        self.line_start = end + 1;
        if self.stage == Stage::Command {
            self.check_stray_cr(data, start, line_end)?;
            self.command_line(data, start, line_end)
        } else if line_end == start {
            self.headers_done(data, end + 1)
        } else {
            self.header_line(data, start, line_end)
        }
    }

    /// In 1.2 a CR may only end a line (F-2, D-3).
    fn check_stray_cr(&self, data: &[u8], start: usize, end: usize) -> Result<(), DecodeError> {
        if self.config.version == Version::V1_2 {
            if let Some(i) = memchr(CR, &data[start..end]) {
                return Err(DecodeError::StrayCarriageReturn {
                    offset: self.at(start + i),
                });
            }
        }
        Ok(())
    }

    pub(super) fn command_line(
        &mut self,
        data: &[u8],
        start: usize,
        end: usize,
    ) -> Result<(), DecodeError> {
        let word = &data[start..end];
        // Written in place: a command parsed into a local and then moved here was copied with
        // a wide load of the narrow store that had just written it, which stalls.
        self.command = Command::from_bytes(word);
        if self.command.is_none() {
            if !(self.config.extensions && is_extension_word(word)) {
                return Err(DecodeError::UnknownCommand {
                    offset: self.at(start),
                    command: shown(word, 64),
                });
            }
            self.extension = Some((start, end));
        }
        self.escaping = self.config.version.escapes_headers()
            && !self.command.as_ref().is_some_and(Command::is_escape_exempt);
        self.stage = Stage::Headers;
        Ok(())
    }

    fn header_line(&mut self, data: &[u8], start: usize, end: usize) -> Result<(), DecodeError> {
        // One scan for everything unusual (CR in 1.2, backslash where escaping applies); the
        // common line has neither and is sliced as is.
        let unusual = self.has_unusual(data, start, end);
        if unusual {
            self.check_stray_cr(data, start, end)?;
        }
        let line = &data[start..end];
        let colon = memchr(b':', line).map(|c| start + c);
        let escapes = match memchr(b'\\', line) {
            Some(first) if unusual && self.escaping => {
                let last = memchr::memrchr(b'\\', line).unwrap_or(first);
                Some(Escapes {
                    first: start + first,
                    last: start + last,
                    mask: 0,
                })
            }
            _ => None,
        };
        self.add_header(data, start, end, colon, escapes)
    }

    /// Records the header line `data[start..end]` whose first colon is at index `colon`;
    /// `escapes` says where its backslashes are when it has one to unescape.
    pub(super) fn add_header(
        &mut self,
        data: &[u8],
        start: usize,
        end: usize,
        colon: Option<usize>,
        escapes: Option<Escapes>,
    ) -> Result<(), DecodeError> {
        let line = &data[start..end];
        let Some(colon) = colon.map(|c| c - start) else {
            return Err(DecodeError::MissingColon {
                offset: self.at(start),
                line: shown(line, 64),
            });
        };
        if colon == 0 {
            return Err(DecodeError::EmptyHeaderName {
                offset: self.at(start),
            });
        }
        let (name, value) = if let Some(Escapes { first, last, mask }) = escapes {
            let colon = start + colon;
            (
                self.text_span(data, start, colon, start, (first < colon).then_some(mask))?,
                self.text_span(data, colon + 1, end, start, (last > colon).then_some(mask))?,
            )
        } else {
            (
                Span::raw(start, colon),
                Span::raw(start + colon + 1, end - start - colon - 1),
            )
        };
        if self.config.strict_utf8 {
            let (n, v) = (self.span_bytes(data, name), self.span_bytes(data, value));
            if core::str::from_utf8(n).is_err() || core::str::from_utf8(v).is_err() {
                return Err(DecodeError::InvalidUtf8 {
                    offset: self.at(start),
                    header: shown(n, 64),
                });
            }
        }
        if self.span_bytes(data, name) == CONTENT_LENGTH {
            self.content_length_line(data, value, start)?;
        }
        self.entries.push(data, name, value);
        Ok(())
    }

    /// Whether `data[start..end]` holds an octet needing the slow path: a backslash where
    /// escaping applies, a CR in 1.2.
    ///
    /// Rather than scanning every line, one search finds the next such octet ahead and later
    /// lines are compared against it; searches never overlap, so this is O(n) over the stream
    /// and typically one call for many lines. A search reads at most [`UNUSUAL_WINDOW`] octets
    /// so it never runs far into a counted body.
    fn has_unusual(&mut self, data: &[u8], start: usize, end: usize) -> bool {
        let needles = match (self.escaping, self.config.version == Version::V1_2) {
            (true, true) => Needles::BackslashCr,
            (true, false) => Needles::Backslash,
            (false, true) => Needles::Cr,
            (false, false) => return false,
        };
        let (line_start, line_end) = (self.at(start), self.at(end));
        let cursor = &mut self.unusual;
        if cursor.needles != needles || line_start < cursor.from || line_start > cursor.to {
            *cursor = Cursor {
                needles,
                from: line_start,
                to: line_start,
                found: false,
            };
        }
        loop {
            if line_end <= cursor.to {
                return false;
            }
            if cursor.found {
                return true;
            }
            // Extend the clear range from `to` (which lies inside this line).
            let from = start + (cursor.to - line_start) as usize;
            let window = &data[from..data.len().min(from + UNUSUAL_WINDOW)];
            let hit = match needles {
                Needles::BackslashCr => memchr2(b'\\', CR, window),
                Needles::Backslash => memchr(b'\\', window),
                Needles::Cr => memchr(CR, window),
            };
            cursor.to += hit.unwrap_or(window.len()) as u64;
            cursor.found = hit.is_some();
        }
    }

    pub(super) fn content_length_line(
        &mut self,
        data: &[u8],
        value: Span,
        start: usize,
    ) -> Result<(), DecodeError> {
        let text = self.span_bytes(data, value);
        let Some(length) = content_length_value(text) else {
            return Err(DecodeError::InvalidContentLength {
                offset: self.at(start),
                value: shown(text, 64),
            });
        };
        match self.content_length {
            Some(first) if first != length => Err(DecodeError::ConflictingContentLength {
                offset: self.at(start),
                first,
                second: length,
            }),
            Some(_) => Ok(()),
            None => {
                self.content_length = Some(length);
                self.length_line = start;
                Ok(())
            }
        }
    }

    /// Span of a name or value in `data[start..end]` (of the line starting at `line`),
    /// unescaped into `owned` if it has an escape: `escapes` is then the line's backslash
    /// mask (see [`Escapes`]).
    fn text_span(
        &mut self,
        data: &[u8],
        start: usize,
        end: usize,
        line: usize,
        escapes: Option<u64>,
    ) -> Result<Span, DecodeError> {
        let text = &data[start..end];
        let Some(mask) = escapes else {
            return Ok(Span::raw(start, end - start));
        };
        let from = self.owned.len();
        let unescaped = if mask != 0 {
            unescape_masked(
                data,
                line,
                start,
                end,
                mask,
                self.config.version,
                &mut self.owned,
            )
        } else if text.len() <= SHORT_ESCAPED {
            unescape_short(text, self.config.version, &mut self.owned)
        } else {
            unescape_into(text, self.config.version, &mut self.owned)
        };
        if let Err((at, octet)) = unescaped {
            let header_end = memchr(b':', &data[line..]).map_or(end, |c| line + c);
            return Err(DecodeError::BadEscape {
                offset: self.at(start + at),
                header: shown(&data[line..header_end], 64),
                octet,
            });
        }
        Ok(Span::owned(from, self.owned.len() - from))
    }

    /// The bytes of a span of the frame in progress (raw spans index `data`).
    fn span_bytes<'a>(&'a self, data: &'a [u8], span: Span) -> &'a [u8] {
        span.bytes_in(data, &self.owned)
    }

    /// The blank line ended at `body_start`: choose the body mode and check what is known.
    pub(super) fn headers_done(
        &mut self,
        data: &[u8],
        body_start: usize,
    ) -> Result<(), DecodeError> {
        self.body_start = body_start;
        let limits = &self.config.limits;
        match self.content_length {
            Some(length) => {
                let header_offset = self.length_line;
                if length > limits.max_body as u64 {
                    return Err(self.limit(header_offset, LimitKind::Body, limits.max_body));
                }
                let length = length as usize;
                let total = body_start
                    .checked_add(length)
                    .and_then(|n| n.checked_add(1));
                if total.is_none_or(|t| t > limits.max_frame) {
                    return Err(self.limit(header_offset, LimitKind::Frame, limits.max_frame));
                }
                if length > 0 && !self.allows_body() {
                    return Err(self.body_not_allowed(data));
                }
                self.stage = Stage::CountedBody {
                    nul: body_start + length,
                };
            }
            None => {
                self.scan = body_start;
                self.stage = Stage::ScannedBody;
            }
        }
        Ok(())
    }

    fn allows_body(&self) -> bool {
        match &self.command {
            Some(command) => command.allows_body(self.config.version),
            // Extension commands follow F-9 like every command but SEND, MESSAGE and ERROR.
            None => self.config.version == Version::V1_0,
        }
    }

    fn body_not_allowed(&self, data: &[u8]) -> DecodeError {
        let command = match &self.command {
            Some(command) => command.clone(),
            None => extension_command(data, self.extension),
        };
        DecodeError::BodyNotAllowed {
            offset: self.at(self.body_start),
            command,
            version: self.config.version,
        }
    }

    /// Violations of a NUL-scanned body that has reached `end` (the NUL's index when `complete`).
    fn body_violation(&self, data: &[u8], end: usize, complete: bool) -> Option<DecodeError> {
        let limits = &self.config.limits;
        if end > self.body_start && !self.allows_body() {
            return Some(self.body_not_allowed(data));
        }
        let mut best: Option<(usize, LimitKind, usize)> = None;
        // The body limit is passed once a non-NUL octet sits at body_start + max_body.
        let body_cap = self.body_start.saturating_add(limits.max_body);
        if end > body_cap {
            best = Some((body_cap, LimitKind::Body, limits.max_body));
        }
        // The frame limit is passed once any frame octet (the NUL included) sits at max_frame.
        let last = if complete { end + 1 } else { end };
        if last > limits.max_frame && best.is_none_or(|(b, _, _)| limits.max_frame < b) {
            best = Some((limits.max_frame, LimitKind::Frame, limits.max_frame));
        }
        best.map(|(index, kind, max)| self.limit(index, kind, max))
    }

    /// The complete frame whose bytes, through its NUL, are `raw`; its body starts at
    /// `self.body_start`. Built here, in one place, so that it is moved as little as possible
    /// on its way to the caller.
    pub(super) fn finish(&mut self, raw: Bytes) -> Frame {
        let command = match (self.command.take(), self.extension.take()) {
            (Some(command), _) => command,
            (None, extension) => extension_command(&raw, extension),
        };
        let table = self.entries.raw_table().unwrap_or_else(|| {
            // More entries than the frame holds, or unescaped text: the rest of the table and
            // the text go to a side buffer of the frame's own.
            let side = side_buffer(&self.owned, &self.entries);
            self.owned.clear();
            Table::Owned(side)
        });
        self.entries.clear();
        self.stage = Stage::Idle;
        if let Some(v) = self.next_version.take() {
            self.config.version = v;
        }
        Frame::decoded(command, Headers::decoded(raw, table), self.body_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// D-9: one or more digits and nothing else, within `u64`; the short-form loop and the
    /// grammar agree on each side of the 19-digit switch.
    #[test]
    fn content_length_values_d9() {
        // The grammar (`numbers.rs`) is the reference; its own test states the syntax. Here:
        // agreement on both sides of the 19-digit switch and on every kind of bad octet.
        let mut cases: Vec<Vec<u8>> = (1..=21).map(|n| b"9".repeat(n)).collect();
        cases.extend((1..=21).map(|n| [b"1".to_vec(), b"0".repeat(n - 1)].concat()));
        cases.push(b"18446744073709551615".to_vec());
        cases.push(b"18446744073709551616".to_vec());
        for octet in 0..=255u8 {
            cases.push(vec![b'1', octet]);
            cases.push(vec![octet]);
        }
        cases.push(Vec::new());
        for case in &cases {
            assert_eq!(
                content_length_value(case),
                parse_content_length(case),
                "{case:?}"
            );
        }
        assert_eq!(content_length_value(b"0042"), Some(42));
        assert_eq!(content_length_value(b"+1"), None);
    }
}
