//! The streaming decoder: bytes in, frames and heart-beats out.
//!
//! The decoder keeps how far it has scanned the frame in progress, so feeding a frame one byte
//! at a time costs the same total work as feeding it at once, up to a constant: each byte is
//! looked at a small, fixed number of times (a line that crosses a classifier window is
//! classified again from its start, and an unfinished line is then searched by `memchr`).
//! Whole header lines already buffered are read 64 octets at a time by a classifier
//! (`scan.rs`); a line that is unfinished or unusual (a stray CR, a NUL, near a limit) goes
//! through the careful, resumable path, which finds lines with `memchr`. A counted body is not
//! scanned at all. A finished frame is a slice of the input (no copy): its headers are ranges
//! of it, recorded as they are read in the compact table a `Headers` keeps (see
//! `headers::Recorder`), unless they spill into an owned table.

use alloc::boxed::Box;

use bytes::{Buf, Bytes, BytesMut};
use memchr::{memchr, memchr2};

use crate::error::{shown, DecodeError};
use crate::escape::unescape_into;
use crate::frame::{is_extension_word, Command, Frame};
use crate::headers::{side_buffer, Headers, Recorder, Span, Table};
use crate::limits::{LimitKind, Limits};
use crate::numbers::parse_content_length;
use crate::scan;
use crate::version::Version;

const LF: u8 = b'\n';
const CR: u8 = b'\r';
const NUL: u8 = 0;
const CONTENT_LENGTH: &[u8] = b"content-length";

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
// Boxing the frame would cost an allocation per frame, which the decoder exists to avoid.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// A complete frame.
    Frame(Frame),
    /// One EOL (LF or CRLF) between frames: a heart-beat, or the EOL a broker writes after each
    /// frame's NUL (F-10, D-13).
    Heartbeat,
}

/// A sans-IO, streaming STOMP decoder.
///
/// Push bytes as they arrive with [`push`](Decoder::push) (copies) or
/// [`push_bytes`](Decoder::push_bytes) (no copy when the decoder holds no partial frame), then
/// call [`next_item`](Decoder::next_item) until it returns `Ok(None)`, which means "need more
/// bytes". Any split of the same stream into chunks gives the same items and the same error.
///
/// ```
/// use stomp_codec::{Decoder, Item, Version};
/// let mut dec = Decoder::new(Version::V1_2);
/// dec.push(b"SEND\ndestination:/queue/a\n\nhel");
/// assert_eq!(dec.next_item().unwrap(), None); // the frame is not complete yet
/// dec.push(b"lo\0\n");
/// let Some(Item::Frame(frame)) = dec.next_item().unwrap() else { panic!() };
/// assert_eq!(frame.body(), &b"hello"[..]);
/// assert_eq!(dec.next_item().unwrap(), Some(Item::Heartbeat));
/// assert_eq!(dec.next_item().unwrap(), None);
/// ```
///
/// Errors are fatal and sticky: after one, `next_item` returns the same error and pushed bytes
/// are dropped. Frames completed before the bad octet are returned first.
///
/// Callers that own their read buffer (the `tokio_util::codec` shape) can use
/// [`decode`](Decoder::decode) instead; see there for what happens when the two are mixed or
/// the buffer is swapped between calls.
#[derive(Debug)]
pub struct Decoder {
    parser: Parser,
    /// Input copied in by `push`, or merged from `frozen` when more arrived.
    buf: BytesMut,
    /// Input handed over by `push_bytes` while `buf` was empty: sliced, never copied, unless a
    /// partial frame must be joined with later bytes.
    frozen: Bytes,
    failed: Option<DecodeError>,
    /// Buffered length below which `next_item` cannot progress (a counted body's end), or 0.
    need: usize,
}

impl Decoder {
    /// A decoder for `version` with the default [`Limits`].
    pub fn new(version: Version) -> Decoder {
        Decoder::with_limits(version, Limits::default())
    }

    /// A decoder for `version` with the given limits.
    pub fn with_limits(version: Version, limits: Limits) -> Decoder {
        Decoder {
            parser: Parser::new(Config {
                version,
                limits,
                extensions: false,
                strict_utf8: false,
            }),
            buf: BytesMut::new(),
            frozen: Bytes::new(),
            failed: None,
            need: 0,
        }
    }

    /// Accepts unknown commands of 1–64 printable ASCII octets as [`Command::Extension`]
    /// instead of failing with [`DecodeError::UnknownCommand`] (D-1). Off by default.
    #[must_use]
    pub fn allow_extension_commands(mut self, allow: bool) -> Decoder {
        self.parser.config.extensions = allow;
        self
    }

    /// Rejects header names and values that are not UTF-8 after unescaping (D-11). Off by
    /// default: headers are kept as raw bytes and [`Headers::get_str`] validates on access.
    #[must_use]
    pub fn strict_utf8(mut self, strict: bool) -> Decoder {
        self.parser.config.strict_utf8 = strict;
        self
    }

    /// The version whose escaping and CR rules apply.
    pub fn version(&self) -> Version {
        self.parser.config.version
    }

    /// Switches version, e.g. once CONNECTED has fixed it (E-8). Takes effect from the next
    /// frame; a frame already being decoded keeps the rules it started with.
    pub fn set_version(&mut self, version: Version) {
        self.parser.next_version = Some(version);
        if self.parser.stage == Stage::Idle {
            self.parser.config.version = version;
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.parser.config.limits
    }

    /// Appends received bytes (copied into the decoder's buffer).
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        // `buf` has no spare room while frozen input waits to be joined or after an error
        // (see `push_bytes` and `fail`), so this one check also sends those cases to
        // `push_slow`: a push of a few octets is mostly this check and the copy.
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            self.push_slow(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// [`push`](Decoder::push) when `buf` must first grow, take in frozen input, or when the
    /// decoder has failed.
    #[cold]
    fn push_slow(&mut self, bytes: &[u8]) {
        if self.failed.is_some() || bytes.is_empty() {
            return;
        }
        if !self.frozen.is_empty() {
            self.thaw();
        }
        self.make_room();
        self.buf.reserve(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Appends received bytes the caller already owns. When the decoder holds no partial
    /// frame the bytes are kept as they are, and frames are slices of them (no copy).
    pub fn push_bytes(&mut self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if self.failed.is_some() || bytes.is_empty() {
            return;
        }
        if self.buf.is_empty() && self.frozen.is_empty() {
            if self.buf.capacity() != 0 {
                // No spare room in `buf` while `frozen` holds input: `push` relies on it.
                self.buf = BytesMut::new();
            }
            self.frozen = bytes;
        } else {
            self.push(&bytes);
        }
    }

    /// Moves frozen input into the growable buffer so that more can be appended.
    #[cold]
    fn thaw(&mut self) {
        self.buf.extend_from_slice(&self.frozen);
        self.frozen = Bytes::new();
    }

    /// While a counted body is awaited, reserves room for the rest of its frame at once
    /// instead of regrowing as it arrives (in doubling steps past `MAX_RESERVE`, so a huge
    /// declared length allocates nothing before its bytes arrive).
    fn make_room(&mut self) {
        if self.need > self.buf.capacity() && self.frozen.is_empty() {
            self.buf
                .reserve(reserve_step(self.need, self.buf.len()) + READ_SLACK);
        }
    }

    /// The next frame or heart-beat; `Ok(None)` when more bytes are needed.
    #[inline]
    pub fn next_item(&mut self) -> Result<Option<Item>, DecodeError> {
        // `need` is set when the frame in progress is short of it, and `frozen` never grows:
        // only bytes pushed since (which go to `buf`) can make up the difference.
        debug_assert!(self.need == 0 || self.frozen.len() < self.need);
        if self.buf.len() < self.need {
            // Waiting for a counted body: nothing to look at until it is all here.
            return Ok(None);
        }
        if self.parser.stage == Stage::Idle && self.failed.is_none() {
            // The LF a broker writes after every frame: a heart-beat item without the parser.
            let (data, frozen) = if self.frozen.is_empty() {
                (&self.buf[..], false)
            } else {
                (&self.frozen[..], true)
            };
            if data.first() == Some(&LF) {
                self.parser.consumed(1);
                if frozen {
                    self.frozen.advance(1);
                } else {
                    self.buf.advance(1);
                }
                return Ok(Some(Item::Heartbeat));
            }
        }
        self.step_item()
    }

    fn step_item(&mut self) -> Result<Option<Item>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let data: &[u8] = if self.frozen.is_empty() {
            &self.buf
        } else {
            &self.frozen
        };
        let step = self.parser.step(data);
        self.need = 0;
        // Each arm returns its item itself: the frame is written once, straight into the
        // caller's slot (kept in a local and returned after, it was copied out with wide loads
        // of narrow stores, which stalled).
        match step {
            Ok(Step::NeedMore) => {
                self.need = self.parser.expected_len().unwrap_or(0);
                self.make_room();
                self.release_idle_buffer();
                Ok(None)
            }
            Ok(Step::Heartbeat(n)) => {
                self.parser.consumed(n);
                if self.frozen.is_empty() {
                    self.buf.advance(n);
                } else {
                    self.frozen.advance(n);
                }
                self.release_idle_buffer();
                Ok(Some(Item::Heartbeat))
            }
            Ok(Step::Frame(n)) => {
                self.parser.consumed(n);
                let raw = if self.frozen.is_empty() {
                    self.buf.split_to(n).freeze()
                } else {
                    self.frozen.split_to(n)
                };
                self.release_idle_buffer();
                Ok(Some(Item::Frame(self.parser.finish(raw))))
            }
            Err(err) => {
                self.fail(err.clone());
                Err(err)
            }
        }
    }

    /// Does not pin a large allocation (e.g. an old body's) while idle.
    #[inline]
    fn release_idle_buffer(&mut self) {
        if self.frozen.is_empty() && self.buf.is_empty() && self.buf.capacity() > (64 << 10) {
            self.buf = BytesMut::new();
        }
    }

    /// Decodes from a buffer the caller owns, consuming what it returns (tokio-util's
    /// `Decoder::decode` contract).
    ///
    /// Scan progress through the frame in progress is kept between calls, so that a frame
    /// arriving in many reads is scanned once: `buf` is expected to hold what the last call
    /// left in it, with more bytes appended, as tokio-util's `FramedRead` does. A caller that
    /// hands in a buffer shorter than the one the last call saw (cleared, truncated, or a fresh
    /// one, e.g. after `Framed::into_parts`) does not break the decoder: it notices and reads
    /// `buf` again from its start, as new input that follows what was already consumed
    /// ([`offset`](Decoder::offset) keeps counting from there). A buffer swapped for another at
    /// least as long cannot be told from an appended one: the frame in progress is then read
    /// on from where the scan stopped, over the new octets, and the outcome is a frame of them
    /// or a [`DecodeError`], never a panic.
    ///
    /// Bytes given to [`push`](Decoder::push) or [`push_bytes`](Decoder::push_bytes) are not
    /// looked at by `decode` (nor `buf` by [`next_item`](Decoder::next_item)); use one way of
    /// feeding per decoder. Mixing them is not an error, but each switch is a change of buffer
    /// as above.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        // `need` describes the internal buffer; after this call it may describe nothing real.
        self.need = 0;
        match self.parser.step(buf) {
            Ok(Step::NeedMore) => {
                if let Some(total) = self.parser.expected_len() {
                    if total > buf.capacity() {
                        buf.reserve(reserve_step(total, buf.len()));
                    }
                }
                Ok(None)
            }
            Ok(Step::Heartbeat(n)) => {
                buf.advance(n);
                self.parser.consumed(n);
                Ok(Some(Item::Heartbeat))
            }
            Ok(Step::Frame(n)) => {
                self.parser.consumed(n);
                Ok(Some(Item::Frame(
                    self.parser.finish(buf.split_to(n).freeze()),
                )))
            }
            Err(err) => {
                self.fail(err.clone());
                Err(err)
            }
        }
    }

    fn fail(&mut self, err: DecodeError) {
        self.failed = Some(err);
        self.buf = BytesMut::new();
        self.frozen = Bytes::new();
    }

    /// Octets held for the frame in progress (or a lone CR between frames). Bounded by
    /// [`Limits::max_frame`] plus the last chunk pushed.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.frozen.len()
    }

    /// Whether the decoder is in the middle of a frame (or of a CRLF between frames): input
    /// that ends here is truncated.
    pub fn is_mid_frame(&self) -> bool {
        self.buffered() > 0
    }

    /// Octets consumed so far: the stream offset of the first buffered octet.
    pub fn offset(&self) -> u64 {
        self.parser.base
    }

    /// The error that stopped the decoder, if any.
    pub fn error(&self) -> Option<&DecodeError> {
        self.failed.as_ref()
    }
}

#[derive(Debug, Clone, Copy)]
struct Config {
    version: Version,
    limits: Limits,
    extensions: bool,
    strict_utf8: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
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

/// Most octets reserved ahead of their arrival for a counted body, beyond the buffer's size.
const MAX_RESERVE: usize = 8 << 20;

/// Room reserved past the end of a counted body for the read that completes it, which usually
/// brings the start of the next frame too. Without it that read would not fit, and the buffer
/// would be reallocated, copying the whole body it already holds.
const READ_SLACK: usize = 16 << 10;

/// How much to reserve towards a frame of `total` octets when `len` are buffered: all of it
/// when that is modest, else at most as much again as is buffered (at least `MAX_RESERVE`), so
/// the buffer grows geometrically with what really arrives.
fn reserve_step(total: usize, len: usize) -> usize {
    total.saturating_sub(len).min(len.max(MAX_RESERVE))
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

/// Longest name or value unescaped through a stack buffer (one copy into `owned`) rather
/// than by [`unescape_into`] (a search and a copy per escape).
const SHORT_ESCAPED: usize = 128;

/// [`unescape_into`] for texts of at most [`SHORT_ESCAPED`] octets, with the same result.
fn unescape_short(
    text: &[u8],
    version: Version,
    out: &mut BytesMut,
) -> Result<(), (usize, Option<u8>)> {
    let mut buf = [0u8; SHORT_ESCAPED];
    let mut octets = text.iter();
    // One pass over an iterator, with no index arithmetic (cheaper than indexing on the few
    // dozen octets of a typical value). Each octet written consumes at least one of `text`'s,
    // which is at most SHORT_ESCAPED long, so `buf` never runs out first.
    let mut written = 0;
    for slot in buf.iter_mut() {
        let Some(&octet) = octets.next() else { break };
        *slot = if octet != b'\\' {
            octet
        } else {
            match octets.next() {
                Some(b'n') => b'\n',
                Some(b'c') => b':',
                Some(b'\\') => b'\\',
                Some(b'r') if version == Version::V1_2 => b'\r',
                other => {
                    let at =
                        text.len() - octets.as_slice().len() - 1 - usize::from(other.is_some());
                    return Err((at, other.copied()));
                }
            }
        };
        written += 1;
    }
    out.extend_from_slice(&buf[..written]);
    Ok(())
}

/// Where a header line's backslashes are.
#[derive(Debug, Clone, Copy)]
struct Escapes {
    /// Index of the first backslash.
    first: usize,
    /// Index of the last backslash.
    last: usize,
    /// Bit `i` is set when the line's octet `i` is a backslash (lines read by
    /// [`Parser::quick_lines`], which are shorter than 64 octets); 0 when not known.
    mask: u64,
}

/// Octets copied at once by [`unescape_masked`]: a fixed size compiles to two moves, where a
/// copy of a run's exact length would be a `memcpy` call per run.
const RUN_BLOCK: usize = 16;

/// [`unescape_short`] for a text `data[start..end]` inside a line of under 64 octets starting
/// at `line`, whose backslashes are the set bits of `mask` (bit `i` for `data[line + i]`),
/// with the same result: runs between escapes are copied a block at a time instead of an
/// octet at a time.
fn unescape_masked(
    data: &[u8],
    line: usize,
    start: usize,
    end: usize,
    mask: u64,
    version: Version,
    out: &mut BytesMut,
) -> Result<(), (usize, Option<u8>)> {
    debug_assert!(line <= start && start <= end && end - line < 64);
    let len = end - start;
    // Where the runs below read whole blocks from: the input itself when it goes on far enough
    // past the text (nearly always), else a copy of the text on the stack. Octets past `len`
    // are never written out. (Always copying would save the check, but the loads of a freshly
    // copied block cannot be forwarded from the wide stores that wrote it: it stalled this
    // function for half its time.)
    let mut copy = [0u8; 64 + RUN_BLOCK];
    let text: &[u8] = match data.get(start..start + 64 + RUN_BLOCK) {
        Some(window) => window,
        None => {
            copy[..len].copy_from_slice(&data[start..end]);
            &copy
        }
    };
    // Room for the whole text plus the overshoot of the last block.
    let mut buf = [0u8; 64 + RUN_BLOCK];
    let mut written = 0;
    // Appends `text[from..to]` to `buf[written..]`, in whole blocks whose tails are
    // overwritten by what follows; returns the new `written`.
    #[inline(always)]
    fn copy_run(
        text: &[u8],
        buf: &mut [u8; 64 + RUN_BLOCK],
        written: usize,
        from: usize,
        to: usize,
    ) -> usize {
        let mut at = from;
        while at < to {
            let dst = written + (at - from);
            buf[dst..dst + RUN_BLOCK].copy_from_slice(&text[at..at + RUN_BLOCK]);
            at += RUN_BLOCK;
        }
        written + (to - from)
    }
    // The text's backslashes, bit `i` for `text[i]` (len < 64).
    let mut bits = (mask >> (start - line)) & ((1u64 << len) - 1);
    let mut from = 0;
    while bits != 0 {
        let at = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if at < from {
            // The second octet of a `\\` escape.
            continue;
        }
        written = copy_run(text, &mut buf, written, from, at);
        let next = (at + 1 < len).then(|| text[at + 1]);
        let octet = match next {
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'\\') => b'\\',
            Some(b'r') if version == Version::V1_2 => b'\r',
            other => return Err((at, other)),
        };
        buf[written] = octet;
        written += 1;
        from = at + 2;
    }
    written = copy_run(text, &mut buf, written, from, len);
    out.extend_from_slice(&buf[..written]);
    Ok(())
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

enum Step {
    NeedMore,
    Heartbeat(usize),
    Frame(usize),
}

/// Progress through the frame at the front of the input; all indices are relative to it.
#[derive(Debug)]
struct Parser {
    config: Config,
    next_version: Option<Version>,
    stage: Stage,
    /// Stream offset of the front of the input.
    base: u64,
    /// Input before this index has been scanned.
    scan: usize,
    /// Length of the unconsumed input the last `step` saw (less what was consumed since).
    /// Input shorter than this is not the same input: every index above may be past its end.
    seen: usize,
    /// Start of the line being read.
    line_start: usize,
    command: Option<Command>,
    /// Extension command spelling, as a range of the frame (materialised in `finish`).
    extension: Option<(usize, usize)>,
    escaping: bool,
    /// Kept across frames, so its allocation is made once, not per frame.
    entries: Recorder,
    /// Unescaped names and values of the frame in progress.
    owned: BytesMut,
    /// Where the next backslash or CR lies, as far as known (see `has_unusual`).
    unusual: Cursor,
    content_length: Option<u64>,
    /// Start of the first `content-length` line (where a body-limit error points).
    length_line: usize,
    body_start: usize,
    body_end: usize,
}

impl Parser {
    fn new(config: Config) -> Parser {
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

    fn consumed(&mut self, n: usize) {
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
    fn expected_len(&self) -> Option<usize> {
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
    fn step(&mut self, data: &[u8]) -> Result<Step, DecodeError> {
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

    fn head_cap(&self) -> (usize, LimitKind) {
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

    fn command_line(&mut self, data: &[u8], start: usize, end: usize) -> Result<(), DecodeError> {
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

    /// Reads whole lines from `line_start` (with nothing of it scanned yet) while they are
    /// ordinary: shorter than a window, ended by LF (or CRLF), free of NUL and stray CR, and
    /// clear of every limit. These are exactly the lines for which
    /// [`line_done`](Parser::line_done) takes none of its careful branches, and they are read
    /// the same way; the first line that is not ordinary (or not complete) is left to it.
    ///
    /// Returns whether the head is done (the blank line was read).
    fn quick_lines(&mut self, data: &[u8]) -> Result<bool, DecodeError> {
        let limits = self.config.limits;
        let (head_max, _) = self.head_cap();
        let mut start = self.line_start;
        let mut base = start;
        if base >= data.len() {
            return Ok(false);
        }
        let mut masks = scan::classify(data, base);
        loop {
            if start - base >= scan::WINDOW || masks.lf >> (start - base) == 0 {
                // The line goes past this window: classify afresh from its start.
                base = start;
                if base >= data.len() {
                    return Ok(false);
                }
                masks = scan::classify(data, base);
            }
            let at = start - base;
            let lf = masks.lf >> at;
            if lf == 0 {
                // Unfinished, or longer than a window: the careful path reads it.
                return Ok(false);
            }
            let len = lf.trailing_zeros() as usize;
            // Bits of the line's octets, LF excluded (len < 64).
            let line = (1u64 << len) - 1;
            let mut special = (masks.special >> at) & line;
            let colons = (masks.colon >> at) & line;
            let end = start + len;
            let line_max = match self.stage {
                Stage::Command => limits.max_command_line,
                _ => limits.max_header_line,
            };
            if len > line_max || end >= head_max || self.entries.len() >= limits.max_headers {
                return Ok(false);
            }
            let (mut text_end, mut backslashes) = (end, 0u64);
            if special != 0 {
                // A NUL, CR or backslash: the line is still ours if its only CR ends it (CRLF)
                // and there is no NUL; backslashes are unescaped where escaping applies.
                // Bits come in order, so a CR ending the line is the last one seen.
                while special != 0 {
                    let i = start + special.trailing_zeros() as usize;
                    special &= special - 1;
                    match data[i] {
                        CR if i + 1 == end => text_end = i,
                        b'\\' => backslashes |= 1 << (i - start),
                        _ => return Ok(false),
                    }
                }
            }
            let escapes = (backslashes != 0 && self.escaping).then(|| Escapes {
                first: start + backslashes.trailing_zeros() as usize,
                last: start + 63 - backslashes.leading_zeros() as usize,
                mask: backslashes,
            });
            self.scan = end + 1;
            self.line_start = end + 1;
            if self.stage == Stage::Command {
                self.command_line(data, start, text_end)?;
            } else if text_end == start {
                self.headers_done(data, end + 1)?;
                return Ok(true);
            } else if colons != 0 {
                let colon = start + colons.trailing_zeros() as usize;
                if escapes.is_none() && colon > start && !self.config.strict_utf8 {
                    // The common header: a raw name and value, no checks left to make but
                    // that of a content-length.
                    let value = Span::raw(colon + 1, text_end - colon - 1);
                    if &data[start..colon] == CONTENT_LENGTH {
                        self.content_length_line(data, value, start)?;
                    }
                    self.entries.push_raw(start, colon, text_end, end + 1);
                } else {
                    self.add_header(data, start, text_end, Some(colon), escapes)?;
                }
            } else {
                self.add_header(data, start, text_end, None, escapes)?;
            }
            start = end + 1;
        }
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
    fn add_header(
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

    fn content_length_line(
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
    fn headers_done(&mut self, data: &[u8], body_start: usize) -> Result<(), DecodeError> {
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
    fn finish(&mut self, raw: Bytes) -> Frame {
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

    /// Decodes `input` fed in `chunk`-byte pieces; items plus the error, if any.
    fn run(input: &[u8], version: Version, chunk: usize) -> (Vec<Item>, Option<DecodeError>) {
        let mut dec = Decoder::new(version);
        let mut items = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            dec.push(piece);
            loop {
                match dec.next_item() {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => break,
                    Err(e) => return (items, Some(e)),
                }
            }
        }
        (items, None)
    }

    fn frame(item: &Item) -> &Frame {
        match item {
            Item::Frame(f) => f,
            Item::Heartbeat => panic!("expected a frame"),
        }
    }

    #[test]
    fn frame_then_heartbeats_f10_d13() {
        let (items, err) = run(b"\nSEND\na:b\n\nhi\0\r\n\n", Version::V1_2, usize::MAX);
        assert_eq!(err, None);
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Item::Heartbeat);
        assert_eq!(frame(&items[1]).body(), &b"hi"[..]);
        assert_eq!(items[2..], [Item::Heartbeat, Item::Heartbeat]);
    }

    #[test]
    fn counted_body_keeps_nuls_f7_f8() {
        let input = b"MESSAGE\ncontent-length:3\n\na\0b\0";
        for chunk in 1..input.len() {
            let (items, err) = run(input, Version::V1_2, chunk);
            assert_eq!(err, None);
            assert_eq!(frame(&items[0]).body(), &b"a\0b"[..]);
        }
        let (_, err) = run(b"MESSAGE\ncontent-length:1\n\nab\0", Version::V1_2, 1);
        assert_eq!(
            err,
            Some(DecodeError::MissingNul {
                offset: 27,
                length: 1,
                found: b'b'
            })
        );
    }

    #[test]
    fn unescaping_is_version_and_command_aware_e2_e3_e5() {
        let input = b"MESSAGE\na\\cb:c\\nd\\re\n\n\0";
        let (items, _) = run(input, Version::V1_2, 3);
        assert_eq!(frame(&items[0]).headers().get("a:b"), Some(&b"c\nd\re"[..]));
        let (_, err) = run(input, Version::V1_1, 3);
        assert!(matches!(
            err,
            Some(DecodeError::BadEscape {
                octet: Some(b'r'),
                offset: 17,
                ..
            })
        ));
        let (items, _) = run(input, Version::V1_0, 3);
        assert_eq!(
            frame(&items[0]).headers().get("a\\cb"),
            Some(&b"c\\nd\\re"[..])
        );
        let (items, _) = run(b"CONNECT\nlogin:a\\b\n\n\0", Version::V1_2, 1);
        assert_eq!(frame(&items[0]).headers().get("login"), Some(&b"a\\b"[..]));
    }

    /// The stack-buffer unescaper must decode exactly as `unescape_into` does, failing at the
    /// same backslash with the same octet (E-2, E-3, E-4, D-8): both sides are checked against
    /// the escape table here rather than against each other only.
    #[test]
    fn short_unescape_follows_the_escape_rules_e2_e3_e4_d8() {
        for version in [Version::V1_1, Version::V1_2] {
            for octet in 0..=255u8 {
                let expected = match octet {
                    b'n' => Ok(b'\n'),
                    b'c' => Ok(b':'),
                    b'\\' => Ok(b'\\'),
                    b'r' if version == Version::V1_2 => Ok(b'\r'),
                    other => Err((2, Some(other))),
                };
                let text = [b'a', b'b', b'\\', octet, b'z'];
                let (mut short, mut long) = (BytesMut::new(), BytesMut::new());
                let got = unescape_short(&text, version, &mut short);
                assert_eq!(got, unescape_into(&text, version, &mut long));
                match expected {
                    Ok(decoded) => {
                        assert_eq!(got, Ok(()));
                        assert_eq!(&short[..], &[b'a', b'b', decoded, b'z'][..]);
                        assert_eq!(short, long);
                    }
                    Err(err) => assert_eq!(got, Err(err)),
                }
            }
            let mut out = BytesMut::new();
            assert_eq!(unescape_short(b"ab\\", version, &mut out), Err((2, None)));
            let full = [b'\\', b'n'].repeat(SHORT_ESCAPED / 2);
            out.clear();
            assert_eq!(unescape_short(&full, version, &mut out), Ok(()));
            assert_eq!(&out[..], &[b'\n'; SHORT_ESCAPED / 2][..]);
        }
    }

    /// The block-copying unescape agrees with the octet-at-a-time one (itself checked against
    /// the escape rules above) on every text of up to six octets over an alphabet that makes
    /// every escape, good and bad, and chains of backslashes, in a line whose text is a name
    /// or a value, with and without a block of input after the line (E-2, E-3, E-4, D-8).
    #[test]
    fn masked_unescape_agrees_with_the_short_one_e2_e3_e4_d8() {
        let alphabet = [b'a', b'\\', b'n', b'c', b'r', b't'];
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=6 {
            let before: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == len - 1)
                .cloned()
                .collect();
            for t in before {
                for &octet in &alphabet {
                    let mut next = t.clone();
                    next.push(octet);
                    texts.push(next);
                }
            }
        }
        let mut checked = 0;
        for version in [Version::V1_1, Version::V1_2] {
            for text in &texts {
                for (prefix, suffix) in [(&b"k:"[..], &b""[..]), (&b""[..], &b":v"[..])] {
                    for tail in [&b""[..], &[b'x'; RUN_BLOCK][..]] {
                        let mut data = b"xy\n".to_vec();
                        let line = data.len();
                        data.extend_from_slice(prefix);
                        let start = data.len();
                        data.extend_from_slice(text);
                        let end = data.len();
                        data.extend_from_slice(suffix);
                        data.push(LF);
                        data.extend_from_slice(tail);
                        let mask = data[line..]
                            .iter()
                            .take(64)
                            .enumerate()
                            .filter(|(_, &b)| b == b'\\')
                            .fold(0u64, |m, (i, _)| m | 1 << i);
                        let (mut masked, mut short) = (BytesMut::new(), BytesMut::new());
                        let got =
                            unescape_masked(&data, line, start, end, mask, version, &mut masked);
                        let want = unescape_short(text, version, &mut short);
                        assert_eq!(
                            got,
                            want,
                            "{:?} in {version}",
                            text.escape_ascii().to_string()
                        );
                        if want.is_ok() {
                            assert_eq!(masked, short);
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * texts.len() * 2 * 2);
    }

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

    #[test]
    fn limits_fire_before_the_bytes_arrive_d12() {
        let limits = Limits::default().max_body(10);
        let mut dec = Decoder::with_limits(Version::V1_2, limits);
        dec.push(b"SEND\ncontent-length:11\n\n");
        let err = dec.next_item().unwrap_err();
        assert_eq!(
            err,
            DecodeError::LimitExceeded {
                offset: 5,
                limit: LimitKind::Body,
                max: 10
            }
        );
        // Sticky.
        dec.push(b"more");
        assert_eq!(dec.next_item().unwrap_err(), err);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn header_line_limit_is_chunking_independent() {
        let limits = Limits::default().max_header_line(4);
        let inputs: [&[u8]; 4] = [
            b"SEND\nab:cd\r\n\n\0",
            b"SEND\nab:cde\n\n\0",
            b"SEND\nab:c\r\0",
            b"SEND\nab:cd\rx\n",
        ];
        for input in inputs {
            let mut outcomes = Vec::new();
            for chunk in 1..=input.len() {
                let mut dec = Decoder::with_limits(Version::V1_1, limits);
                let mut result = Ok(());
                for piece in input.chunks(chunk) {
                    dec.push(piece);
                    if let Err(e) = dec.next_item() {
                        result = Err(e);
                        break;
                    }
                }
                outcomes.push(result);
            }
            assert!(
                outcomes.windows(2).all(|w| w[0] == w[1]),
                "{input:?}: {outcomes:?}"
            );
        }
    }

    #[test]
    fn byte_at_a_time_equals_whole_on_captures() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/captures");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".bin") || (name.contains("-ws") && !name.contains("ws-payload")) {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let whole = run(&data, Version::V1_2, usize::MAX);
            assert_eq!(whole.1, None, "{name}");
            assert!(
                whole.0.iter().any(|i| matches!(i, Item::Frame(_))),
                "{name}"
            );
            assert_eq!(run(&data, Version::V1_2, 1), whole, "{name}");
            assert_eq!(run(&data, Version::V1_2, 7), whole, "{name}");
        }
    }
}
