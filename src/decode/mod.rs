//! The streaming decoder: bytes in, frames and heart-beats out.
//!
//! This file holds the [`Decoder`] and its input buffering; `parser.rs` the state machine that
//! reads a frame (the careful, resumable path); `fast.rs` the fast paths over whole lines (the
//! 64-octet classifier walk and the unescaping helpers it uses), which must agree with the
//! careful path octet for octet (their tests check it).
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

mod fast;
mod parser;

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::frame::Frame;
use crate::limits::Limits;
use crate::version::Version;

use parser::{Config, Parser, Stage, Step, LF};

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
    /// After a failure: the head of the failed frame (its command and header block at most),
    /// kept for `pending_input` when the rest of the input is dropped.
    failed_head: Bytes,
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
            failed_head: Bytes::new(),
            need: 0,
        }
    }

    /// Accepts unknown commands of 1–64 printable ASCII octets as [`Command::Extension`](crate::Command::Extension)
    /// instead of failing with [`DecodeError::UnknownCommand`] (D-1). Off by default.
    #[must_use]
    pub fn allow_extension_commands(mut self, allow: bool) -> Decoder {
        self.parser.config.extensions = allow;
        self
    }

    /// Rejects header names and values that are not UTF-8 after unescaping (D-11). Off by
    /// default: headers are kept as raw bytes and [`Headers::get_str`](crate::Headers::get_str) validates on access.
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
        let input = self.pending_input();
        let head = input.len().min(self.parser.config.limits.max_header_bytes);
        self.failed_head = Bytes::copy_from_slice(&input[..head]);
        self.failed = Some(err);
        self.buf = BytesMut::new();
        self.frozen = Bytes::new();
    }

    /// Octets held for the frame in progress (or a lone CR between frames). Bounded by
    /// [`Limits::max_frame`] plus the last chunk pushed.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.frozen.len()
    }

    /// The input not yet taken out as items (after a failure: the failed frame's head, up to
    /// `max_header_bytes`; the rest is dropped).
    pub(crate) fn pending_input(&self) -> &[u8] {
        if self.failed.is_some() {
            &self.failed_head
        } else if self.buf.is_empty() {
            &self.frozen
        } else {
            &self.buf
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::LimitKind;

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
