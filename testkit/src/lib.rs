//! stomp-testkit: the invariant checks shared by the fuzz targets (`fuzz/`), the property tests
//! and the corpus replay test of stomp-codec (`tests/`). A workspace member that is never
//! published: stomp-codec's users do not build it, and it is free to change. It uses only
//! stomp-codec's public API.
//!
//! Every function here panics (with a message naming the rule) when the codec breaks one of its
//! promises, and returns normally otherwise, so a fuzzer or a test only has to call it:
//!
//! - [`decode_chunked`] decodes a byte stream whole, split at given points, byte by byte, and
//!   through each of the three ways of feeding a [`Decoder`] (`push`, `push_bytes`, `decode`),
//!   and checks that every run gives the same items and the same error (F-11), that the decoder
//!   never holds more than the frame limit allows (D-12), that errors are sticky, that each
//!   decoded frame obeys the grammar it was decoded under, and that each decoded frame re-encodes
//!   and decodes back to itself (or is refused by the encoder for a reason the rules give).
//! - [`roundtrip_frame`] encodes a frame built by hand and decodes it back under arbitrary
//!   chunking; when the encoder refuses, it checks that the rules (E-9, H-2, F-9, D-1, D-25) do
//!   forbid that frame, and when it accepts, that they allow it.
//!
//! - [`decode_vs_reference`] compares the decoder, under every chunking [`decode_chunked`]
//!   tries, with [`mod@reference`], a deliberately plain decoder written from the rules, and
//!   [`decode_vs_reference_input`] is the same with the setup taken from the input's first
//!   octets (the `decode_vs_reference` fuzz target).
//! - `connection` (feature `std`, which turns on stomp-codec's) drives a
//!   [`ClientConnection`](stomp_codec::ClientConnection) or a
//!   [`ServerConnection`](stomp_codec::ServerConnection) on `std::time::Instant` time through an arbitrary sequence of received
//!   bytes, application calls and clock steps, checking the connection's promises after each
//!   (the `client_connection` and `server_connection` fuzz targets).
//! - [`variants`] names every variant of the four error enums, from the list that the library
//!   checks with matches that stop compiling when a variant is added, so that
//!   `tests/error_completeness.rs` cannot miss one.
//! - [`FrameInput`] is the structured input of the `roundtrip_frames` fuzz target, which the
//!   corpus replay (`tests/fuzz_corpus.rs`) decodes from the same corpus files.
//!
//! Without the `std` feature stomp-codec is built without its own `std` feature (as
//! `cargo test --no-default-features` of stomp-codec does); the checks themselves use `std`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use bytes::{Bytes, BytesMut};

use stomp_codec::{
    Command, DecodeError, Decoder, EncodeError, Encoder, Frame, Item, Limits, Unrepresentable,
    Version,
};

#[cfg(feature = "std")]
pub mod connection;
mod frame_input;
pub mod reference;
pub mod variants;

pub use frame_input::{CommandInput, FrameInput, LengthInput, NameInput};

const CONTENT_LENGTH: &[u8] = b"content-length";

/// How a [`Decoder`] is configured for a run of [`decode_chunked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSetup {
    /// The version whose grammar applies.
    pub version: Version,
    /// The limits in force.
    pub limits: Limits,
    /// [`Decoder::allow_extension_commands`].
    pub extensions: bool,
    /// [`Decoder::strict_utf8`].
    pub strict_utf8: bool,
}

impl DecodeSetup {
    /// `version` with the default limits and options.
    pub fn new(version: Version) -> DecodeSetup {
        DecodeSetup {
            version,
            limits: Limits::default(),
            extensions: false,
            strict_utf8: false,
        }
    }

    /// A decoder configured this way.
    pub fn decoder(&self) -> Decoder {
        Decoder::with_limits(self.version, self.limits)
            .allow_extension_commands(self.extensions)
            .strict_utf8(self.strict_utf8)
    }

    /// The eight setups [`decode_all_setups`] runs: each version with the default limits, each
    /// version with [`small_limits`] and a different mix of the two options, and two versions
    /// with [`frame_bound_limits`].
    pub fn all() -> [DecodeSetup; 8] {
        let with = |version, limits, extensions, strict_utf8| DecodeSetup {
            version,
            limits,
            extensions,
            strict_utf8,
        };
        [
            DecodeSetup::new(Version::V1_0),
            DecodeSetup::new(Version::V1_1),
            DecodeSetup::new(Version::V1_2),
            with(Version::V1_0, small_limits(), true, false),
            with(Version::V1_1, small_limits(), false, true),
            with(Version::V1_2, small_limits(), true, true),
            with(Version::V1_1, frame_bound_limits(), true, false),
            with(Version::V1_2, frame_bound_limits(), false, false),
        ]
    }
}

/// Limits small enough for short fuzz inputs to hit every one of them.
pub fn small_limits() -> Limits {
    Limits::default()
        .max_command_line(16)
        .max_body(64)
        .max_header_line(32)
        .max_headers(4)
        .max_header_bytes(128)
        .max_frame(256)
}

/// Small limits where [`Limits::max_frame`] is the one that binds: it cuts the head before
/// `max_header_bytes` does, and a body before `max_body` does once the head passes 32 octets.
pub fn frame_bound_limits() -> Limits {
    Limits::default()
        .max_command_line(16)
        .max_body(64)
        .max_header_line(48)
        .max_headers(8)
        .max_header_bytes(128)
        .max_frame(96)
}

/// What a run of the decoder over a whole stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Frames and heart-beats, in order.
    pub items: Vec<Item>,
    /// The error that stopped the decoder, if any.
    pub error: Option<DecodeError>,
    /// [`Decoder::offset`] at the end: octets consumed by the items.
    pub consumed: u64,
    /// Octets still held at the end without an error (an unfinished frame or a lone CR);
    /// 0 after an error.
    pub pending: usize,
}

impl Decoded {
    /// The decoded frames, without the heart-beats.
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.items.iter().filter_map(|item| match item {
            Item::Frame(frame) => Some(frame),
            Item::Heartbeat => None,
        })
    }
}

/// How bytes reach the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// [`Decoder::push`] then [`Decoder::next_item`].
    Push,
    /// [`Decoder::push_bytes`] then [`Decoder::next_item`].
    PushBytes,
    /// Appending to a caller-owned `BytesMut` and [`Decoder::decode`].
    Decode,
}

/// Runs [`decode_chunked`] under each of [`DecodeSetup::all`], with split points derived from
/// the bytes themselves (a hash feeds a small generator), so that a raw byte string is a
/// complete fuzz input and a capture file can serve as a seed as it is.
pub fn decode_all_setups(data: &[u8]) {
    let mut seed = fnv1a(data);
    for setup in DecodeSetup::all() {
        seed = xorshift(seed);
        let splits = derived_splits(data.len(), seed);
        decode_chunked(data, &splits, &setup);
    }
}

/// Decodes `data` with `setup` whole, split at `splits` (positions past the end are ignored, the
/// order does not matter) and one byte at a time, each of these feeding the decoder each way it
/// can be fed (`push`, `push_bytes`, `decode`), and checks the decoder's promises. Returns what the whole-buffer run decoded.
///
/// # Panics
///
/// When a promise is broken: results that depend on the chunking (F-11), a decoder holding
/// more than [`Limits::max_frame`] of one frame once it has had its say (D-12, H-8), an error
/// that is not repeated or that points outside the input, a decoded frame that breaks the
/// grammar it was decoded under (F-4, F-9, H-1, D-1, D-3, D-11, D-15), or a decoded frame that
/// does not survive re-encoding (see [`roundtrip_frame`]).
pub fn decode_chunked(data: &[u8], splits: &[usize], setup: &DecodeSetup) -> Decoded {
    let whole = run(data, &[], setup, Feed::Push);
    check_outcome(data, &whole, setup);

    let mut cuts: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&s| s > 0 && s < data.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let bytewise: Vec<usize> = (1..data.len()).collect();
    let runs = [
        (&cuts[..], Feed::Push),
        (&cuts[..], Feed::PushBytes),
        (&cuts[..], Feed::Decode),
        (&[][..], Feed::PushBytes),
        (&[][..], Feed::Decode),
        (&bytewise[..], Feed::Push),
        (&bytewise[..], Feed::PushBytes),
        (&bytewise[..], Feed::Decode),
    ];
    for (cuts, feed) in runs {
        let other = run(data, cuts, setup, feed);
        assert_eq!(
            other,
            whole,
            "F-11: {feed:?} split at {cuts:?} differs from the whole-buffer decode \
             ({setup:?}, input {:?})",
            data.escape_ascii()
        );
    }
    for frame in whole.frames() {
        reencode_decoded(frame, setup);
    }
    whole
}

/// Feeds `data` cut at the sorted positions `cuts` and collects the outcome, checking the
/// buffering bound after every chunk and the stickiness of an error.
fn run(data: &[u8], cuts: &[usize], setup: &DecodeSetup, feed: Feed) -> Decoded {
    let mut decoder = setup.decoder();
    let mut own = BytesMut::new();
    let mut items = Vec::new();
    let mut error: Option<DecodeError> = None;
    let max_frame = setup.limits.max_frame;
    // The next item through the input path being tested.
    let next = |decoder: &mut Decoder, own: &mut BytesMut| match feed {
        Feed::Decode => decoder.decode(own),
        _ => decoder.next_item(),
    };
    let mut start = 0;
    for end in cuts.iter().copied().chain([data.len()]) {
        let chunk = &data[start..end];
        start = end;
        match feed {
            Feed::Push => decoder.push(chunk),
            Feed::PushBytes => decoder.push_bytes(Bytes::copy_from_slice(chunk)),
            Feed::Decode => own.extend_from_slice(chunk),
        }
        if let Some(err) = &error {
            // Errors are sticky: the same error again, and nothing is buffered any more.
            let again = next(&mut decoder, &mut own);
            assert_eq!(
                again.as_ref(),
                Err(err),
                "a failed decoder must repeat its error"
            );
            assert_eq!(decoder.error(), Some(err));
            assert_eq!(
                decoder.buffered(),
                0,
                "a failed decoder must drop its input"
            );
            continue;
        }
        let held = |decoder: &Decoder, own: &BytesMut| match feed {
            Feed::Decode => own.len(),
            _ => decoder.buffered(),
        };
        // The documented bound (Limits, Decoder::buffered): max_frame plus the last chunk;
        // a lone CR held between frames (a CRLF heart-beat cut in two) is one octet even when
        // max_frame is 0.
        assert!(
            held(&decoder, &own) <= max_frame.max(1).saturating_add(chunk.len()),
            "D-12: {} octets held after a {}-byte chunk with max_frame {max_frame}",
            held(&decoder, &own),
            chunk.len()
        );
        loop {
            let result = next(&mut decoder, &mut own);
            match result {
                Ok(Some(item)) => {
                    check_item(&item, setup);
                    items.push(item);
                }
                Ok(None) => break,
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        if error.is_none() {
            // Once the decoder has seen the chunk, what it holds is the start of one frame (or
            // a lone CR): more than max_frame of it would already be a frame over the limit,
            // which must be reported as soon as it is known (D-12).
            assert!(
                held(&decoder, &own) <= max_frame.max(1),
                "D-12: {} octets of an unfinished frame held with max_frame {max_frame}",
                held(&decoder, &own)
            );
        }
    }
    if let Some(err) = &error {
        let again = next(&mut decoder, &mut own);
        assert_eq!(
            again.as_ref(),
            Err(err),
            "a failed decoder must repeat its error"
        );
    }
    let pending = match (&error, feed) {
        (Some(_), _) => 0,
        (None, Feed::Decode) => own.len(),
        (None, _) => decoder.buffered(),
    };
    Decoded {
        items,
        error,
        consumed: decoder.offset(),
        pending,
    }
}

/// Checks that don't depend on the chunking: where the error points, and that the consumed and
/// pending octets account for the whole input.
fn check_outcome(data: &[u8], outcome: &Decoded, setup: &DecodeSetup) {
    let len = data.len() as u64;
    match &outcome.error {
        None => assert_eq!(
            outcome.consumed + outcome.pending as u64,
            len,
            "every octet is either consumed or pending"
        ),
        Some(err) => {
            // Frames before the bad octet were all delivered, so the error lies in the frame
            // after them, in octets that did arrive. One exception, as documented: a
            // `content-length` above 0 on a bodiless command fails when the head ends, pointing
            // at the first body octet (F-9, D-10), which need not have arrived yet.
            let end = match err {
                DecodeError::BodyNotAllowed { .. } => len + 1,
                _ => len,
            };
            assert!(
                err.offset() >= outcome.consumed && err.offset() < end,
                "error offset {} outside [{}, {len}) ({err:?}, {setup:?})",
                err.offset(),
                outcome.consumed
            );
        }
    }
    let heartbeats = outcome
        .items
        .iter()
        .filter(|item| matches!(item, Item::Heartbeat))
        .count();
    let eols = data.iter().filter(|&&b| b == b'\n').count();
    // Every heart-beat is one LF (or CRLF) between frames (D-13): never more than the LFs.
    assert!(
        heartbeats <= eols,
        "D-13: {heartbeats} heart-beats from {eols} LFs"
    );
}

/// Whether `command`'s headers are escaped in `version`: never in 1.0 (E-1), never for CONNECT,
/// STOMP and CONNECTED (E-5, D-7), otherwise always (E-2, E-3, E-6).
fn escaped(command: &Command, version: Version) -> bool {
    version != Version::V1_0
        && !matches!(
            command,
            Command::Connect | Command::Stomp | Command::Connected
        )
}

/// Whether `command` may carry a body in `version` (F-9: only SEND, MESSAGE and ERROR in 1.1
/// and 1.2, extension commands included; 1.0 forbids none).
fn body_allowed(command: &Command, version: Version) -> bool {
    version == Version::V1_0 || matches!(command, Command::Send | Command::Message | Command::Error)
}

/// A `content-length` value per D-9: one or more ASCII digits fitting a `u64`.
fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Grammar a decoded frame must obey, whatever the chunking.
fn check_item(item: &Item, setup: &DecodeSetup) {
    let Item::Frame(frame) = item else { return };
    let version = setup.version;
    let command = frame.command();
    if let Command::Extension(word) = command {
        assert!(
            setup.extensions,
            "D-1: extension command without the opt-in"
        );
        assert!(
            !word.is_empty() && word.len() <= 64 && word.iter().all(u8::is_ascii_graphic),
            "D-1: extension command {:?} is not 1-64 printable octets",
            word.escape_ascii()
        );
        assert!(Command::from_bytes(word).is_none());
    }
    assert!(
        frame.body().is_empty() || body_allowed(command, version),
        "F-9/D-10: {command} frame with a body decoded in {version}"
    );
    let escaping = escaped(command, version);
    for (name, value) in frame.headers() {
        assert!(!name.is_empty(), "F-4: empty header name decoded");
        assert!(
            !name.contains(&0) && !value.contains(&0),
            "D-15: NUL in a decoded header"
        );
        if !escaping {
            // Without escaping an LF always ends the line and the first colon ends the name.
            assert!(
                !name.contains(&b'\n') && !value.contains(&b'\n'),
                "F-5/E-1: LF in an unescaped header"
            );
            assert!(!name.contains(&b':'), "D-5: colon in an unescaped name");
        }
        if version == Version::V1_2 && !escaping {
            // In 1.2 a CR outside a CRLF is an error (D-3), and only `\r` makes one.
            assert!(
                !name.contains(&b'\r') && !value.contains(&b'\r'),
                "D-3: CR in a 1.2 unescaped header"
            );
        }
        if setup.strict_utf8 {
            assert!(
                core::str::from_utf8(name).is_ok() && core::str::from_utf8(value).is_ok(),
                "D-11: strict_utf8 let a non-UTF-8 header through"
            );
        }
        if name == CONTENT_LENGTH {
            assert_eq!(
                content_length(value),
                Some(frame.body().len() as u64),
                "H-1/D-9: body length differs from a content-length header"
            );
        }
    }
}

/// A rule that forbids encoding a frame, as the rules state it (not as the encoder checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Violation {
    /// D-1: an extension command that is not 1–64 printable ASCII octets, or spells a standard one.
    Command,
    /// F-9: a body on a command that may not have one in this version.
    Body,
    /// E-9, F-4, D-15: header `index` cannot be written, for `reason`.
    Header {
        index: usize,
        reason: Unrepresentable,
    },
    /// D-25: header `index` is a `content-length` that does not state the body's length.
    Length { index: usize },
    /// H-2: a NUL in a body sent without `content-length`, at `position`.
    NulInBody { position: usize },
}

/// Everything that makes `frame` unrepresentable in `version`, per the rules.
fn violations(frame: &Frame, version: Version) -> Vec<Violation> {
    let mut found = Vec::new();
    let command = frame.command();
    let body = frame.body();
    if let Command::Extension(word) = command {
        let shaped =
            !word.is_empty() && word.len() <= 64 && word.iter().all(|b| b.is_ascii_graphic());
        if !shaped || Command::from_bytes(word).is_some() {
            found.push(Violation::Command);
        }
    }
    if !body.is_empty() && !body_allowed(command, version) {
        found.push(Violation::Body);
    }
    let escaping = escaped(command, version);
    let mut has_length = false;
    for (index, (name, value)) in frame.headers().iter().enumerate() {
        let either = |octet: u8| name.contains(&octet) || value.contains(&octet);
        let mut bad = |reason| found.push(Violation::Header { index, reason });
        if name.is_empty() {
            bad(Unrepresentable::EmptyName);
        }
        if either(0) {
            bad(Unrepresentable::Nul);
        }
        if !escaping && either(b'\n') {
            bad(Unrepresentable::LineFeed);
        }
        // E-9, D-3: 1.2 writes a CR as `\r` and cannot write one where it does not escape;
        // 1.0 and 1.1 write it raw, but not last in a value, where it would read as a CRLF's.
        if version == Version::V1_2 {
            if either(b'\r') && !escaping {
                bad(Unrepresentable::CarriageReturn);
            }
        } else if value.last() == Some(&b'\r') {
            bad(Unrepresentable::TrailingCarriageReturn);
        }
        if !escaping && name.contains(&b':') {
            bad(Unrepresentable::ColonInName);
        }
        if name == CONTENT_LENGTH {
            has_length = true;
            if content_length(value) != Some(body.len() as u64) {
                found.push(Violation::Length { index });
            }
        }
    }
    let counted = has_length || (!body.is_empty() && !frame.omits_content_length());
    if !counted {
        if let Some(position) = body.iter().position(|&b| b == 0) {
            found.push(Violation::NulInBody { position });
        }
    }
    found
}

/// Whether the encoder's refusal `err` names one of the `found` violations of `frame`.
fn justified(err: &EncodeError, found: &[Violation], frame: &Frame, version: Version) -> bool {
    let headers: Vec<(&[u8], &[u8])> = frame.headers().iter().collect();
    found.iter().any(|v| match (err, v) {
        (EncodeError::InvalidCommand { command }, Violation::Command) => {
            *command == shown(frame.command().as_bytes(), 64)
        }
        (
            EncodeError::BodyNotAllowed {
                command,
                version: v,
            },
            Violation::Body,
        ) => command == frame.command() && *v == version,
        (
            EncodeError::Unrepresentable {
                header,
                version: v,
                reason,
            },
            Violation::Header { index, reason: r },
        ) => *v == version && reason == r && *header == shown(headers[*index].0, 64),
        (EncodeError::ContentLengthMismatch { declared, actual }, Violation::Length { index }) => {
            *actual == frame.body().len() && *declared == shown(headers[*index].1, 64)
        }
        (EncodeError::NulInBody { position }, Violation::NulInBody { position: p }) => {
            position == p
        }
        _ => false,
    })
}

/// What [`roundtrip_frame`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
// A test helper's return value: the size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum RoundTrip {
    /// The encoder accepted the frame and it decoded back equal; the decoded frame is here.
    Decoded(Frame),
    /// The encoder refused the frame, for a reason the rules give.
    Refused(EncodeError),
}

/// The frame a decoder must produce from the encoding of `frame`: the same command, headers and
/// body, plus the `content-length` the encoder adds, as the last header, for a non-empty body
/// when the frame has none and does not opt out (D-25).
pub fn expected_after_decode(frame: &Frame) -> Frame {
    let body = frame.body();
    let mut headers = frame.headers().clone();
    if !body.is_empty() && !frame.omits_content_length() && !headers.contains(CONTENT_LENGTH) {
        let mut digits = Vec::new();
        let mut n = body.len();
        loop {
            digits.push(b'0' + (n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        digits.reverse();
        headers.push(CONTENT_LENGTH, digits);
    }
    let mut expected = Frame::new(frame.command().clone());
    expected.set_headers(headers);
    expected.set_body(frame.body_bytes());
    expected
}

/// Encodes `frame` in `version` and decodes the result split at `splits` (through
/// [`decode_chunked`], with no limits and extension commands allowed).
///
/// # Panics
///
/// - when the encoder refuses a frame the rules allow, or accepts one they forbid (E-9, H-2,
///   F-9, D-1, D-25), or refuses for a reason that does not fit the frame;
/// - when an accepted frame does not decode back to [`expected_after_decode`] as exactly one
///   frame, or its encoding has a CR or NUL before the body, or [`Encoder::encoded_len`] is not
///   the number of octets written;
/// - on anything [`decode_chunked`] checks.
pub fn roundtrip_frame(frame: &Frame, version: Version, splits: &[usize]) -> RoundTrip {
    let found = violations(frame, version);
    let encoder = Encoder::new(version);
    let mut wire = BytesMut::new();
    match encoder.encode(frame, &mut wire) {
        Err(err) => {
            assert!(
                justified(&err, &found, frame, version),
                "encoder refused {frame:?} in {version} with {err:?}, which the rules do not \
                 give (they give {found:?})"
            );
            assert!(wire.is_empty(), "a refused frame must write nothing");
            assert_eq!(encoder.encoded_len(frame), Err(err.clone()));
            RoundTrip::Refused(err)
        }
        Ok(()) => {
            assert!(
                found.is_empty(),
                "encoder accepted {frame:?} in {version} although {found:?}"
            );
            assert_eq!(encoder.encoded_len(frame), Ok(wire.len()));
            check_wire_head(&wire, version);
            let setup = DecodeSetup {
                version,
                limits: Limits::unlimited(),
                extensions: true,
                strict_utf8: false,
            };
            let decoded = decode_chunked(&wire, splits, &setup);
            let expected = expected_after_decode(frame);
            assert_eq!(
                decoded.items,
                vec![Item::Frame(expected.clone())],
                "decode(encode(frame)) in {version}: wire {:?}",
                wire.escape_ascii()
            );
            assert_eq!(decoded.error, None);
            assert_eq!(decoded.pending, 0);
            RoundTrip::Decoded(expected)
        }
    }
}

/// The encoder writes LF line ends only and nothing after the NUL (F-2, D-25): no NUL before
/// the body, no CR before an LF there, no CR at all before a 1.2 body (E-3, E-9, D-3), and a
/// NUL as the last octet.
fn check_wire_head(wire: &[u8], version: Version) {
    assert_eq!(wire.last(), Some(&0), "F-1: the encoding must end with NUL");
    // Every LF in a header is escaped or refused, so the first empty line ends the head.
    let head_end = wire
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("F-1: the encoding has no blank line");
    let head = &wire[..head_end + 1];
    assert!(
        !head.contains(&0) && !head.windows(2).any(|w| w == b"\r\n"),
        "F-2/E-9: NUL or CRLF in the encoded head {:?}",
        head.escape_ascii()
    );
    assert!(
        version != Version::V1_2 || !head.contains(&b'\r'),
        "E-3/E-9: CR in an encoded 1.2 head {:?}",
        head.escape_ascii()
    );
}

/// Re-encodes a frame the decoder produced, in the version it was decoded in, and decodes it
/// again (`encode(decode(x))` and back).
///
/// A decoded frame can always be re-encoded except in one case the rules create: 1.0 and 1.1
/// take a CR that is not part of a CRLF as a header octet (D-3), so a value can end with one
/// (`a\r\r\n` reads as `a\r`), and a raw CR last in a value would read back as a CRLF's (E-9).
fn reencode_decoded(frame: &Frame, setup: &DecodeSetup) {
    let version = setup.version;
    for v in violations(frame, version) {
        assert!(
            matches!(
                v,
                Violation::Header {
                    reason: Unrepresentable::TrailingCarriageReturn,
                    ..
                }
            ) && version != Version::V1_2,
            "decoded frame {frame:?} in {version} is not representable: {v:?}"
        );
    }
    let encoder = Encoder::new(version);
    let mut wire = BytesMut::new();
    match encoder.encode(frame, &mut wire) {
        Err(err) => {
            let found = violations(frame, version);
            assert!(
                justified(&err, &found, frame, version),
                "re-encoding {frame:?} in {version} refused with {err:?}; rules give {found:?}"
            );
        }
        Ok(()) => {
            assert!(violations(frame, version).is_empty());
            check_wire_head(&wire, version);
            let mut decoder = DecodeSetup {
                limits: Limits::unlimited(),
                ..*setup
            }
            .decoder();
            decoder.push(&wire);
            let again = decoder.next_item();
            let expected = expected_after_decode(frame);
            assert_eq!(
                again,
                Ok(Some(Item::Frame(expected.clone()))),
                "decoded frame did not survive re-encoding in {version}: wire {:?}",
                wire.escape_ascii()
            );
            assert_eq!(decoder.next_item(), Ok(None));
            assert_eq!(decoder.buffered(), 0);
            // The re-decoded frame carries its content-length, so encoding it again gives the
            // same octets.
            let mut twice = BytesMut::new();
            assert_eq!(encoder.encode(&expected, &mut twice), Ok(()));
            assert_eq!(twice, wire, "encode(decode(encode(f))) != encode(f)");
        }
    }
}

/// Decodes `data` with `setup` through [`decode_chunked`] (whole, split at `splits`, byte by
/// byte, each way of feeding) and compares the outcome with [`reference::decode`].
///
/// # Panics
///
/// When the two disagree on the items, the error (variant, fields and offset), the octets
/// consumed or the octets left pending; and on anything [`decode_chunked`] checks.
pub fn decode_vs_reference(data: &[u8], splits: &[usize], setup: &DecodeSetup) {
    let real = decode_chunked(data, splits, setup);
    compare_with_reference(data, &real, setup);
}

/// The setup a `decode_vs_reference` fuzz input asks for, and the stream that follows it.
///
/// The first octet chooses: bits 0–1 the version (3 is 1.2 again), bit 2 extension commands,
/// bit 3 strict UTF-8, bits 4–5 the limits: the defaults, [`small_limits`],
/// [`frame_bound_limits`], or (3) six more octets giving `max_command_line`,
/// `max_header_line`, `max_headers` (mod 16), `max_header_bytes`, `max_body` and
/// `max_frame` (times 2), so that every limit, 0 included, meets short inputs.
pub fn reference_setup(data: &[u8]) -> (DecodeSetup, &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return (DecodeSetup::new(Version::V1_2), data);
    };
    let version = Version::ALL[usize::from(first & 3).min(2)];
    let limits = match (first >> 4) & 3 {
        0 => Limits::default(),
        1 => small_limits(),
        2 => frame_bound_limits(),
        _ => {
            let mut byte = |default: usize| match rest.split_first() {
                Some((&b, tail)) => {
                    rest = tail;
                    usize::from(b)
                }
                None => default,
            };
            Limits::default()
                .max_command_line(byte(16))
                .max_header_line(byte(32))
                .max_headers(byte(4) % 16)
                .max_header_bytes(byte(128))
                .max_body(byte(64))
                .max_frame(byte(128) * 2)
        }
    };
    let setup = DecodeSetup {
        version,
        limits,
        extensions: first & 4 != 0,
        strict_utf8: first & 8 != 0,
    };
    (setup, rest)
}

/// The `decode_vs_reference` fuzz target: [`reference_setup`] takes the setup from the first
/// octets, then the stream that follows is decoded whole (`push`), split at points derived
/// from it (`push_bytes`) and byte by byte (`decode` on a caller-owned buffer), each run must
/// equal the whole one (F-11) and the whole one must equal [`reference::decode`].
///
/// It is [`decode_vs_reference`] with three runs instead of nine and no re-encoding, so that
/// the fuzzer spends its time on the comparison; `decode_chunked` fuzzes the rest.
///
/// # Panics
///
/// As [`decode_vs_reference`], for the runs it makes.
pub fn decode_vs_reference_input(data: &[u8]) {
    let (setup, stream) = reference_setup(data);
    let splits = derived_splits(stream.len(), fnv1a(data));
    decode_vs_reference_light(stream, &splits, &setup);
}

/// The runs of [`decode_vs_reference_input`] on a stream and setup given directly: whole
/// (`push`), split at `splits` (`push_bytes`), byte by byte (`decode`), then the model.
///
/// # Panics
///
/// As [`decode_vs_reference`], for the runs it makes.
pub fn decode_vs_reference_light(stream: &[u8], splits: &[usize], setup: &DecodeSetup) {
    let setup = *setup;
    let mut cuts: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&s| s > 0 && s < stream.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let whole = run(stream, &[], &setup, Feed::Push);
    check_outcome(stream, &whole, &setup);
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    for (cuts, feed) in [(&cuts[..], Feed::PushBytes), (&bytewise[..], Feed::Decode)] {
        let other = run(stream, cuts, &setup, feed);
        assert_eq!(
            other,
            whole,
            "F-11: {feed:?} split at {cuts:?} differs from the whole-buffer decode \
             ({setup:?}, input {:?})",
            stream.escape_ascii()
        );
    }
    compare_with_reference(stream, &whole, &setup);
}

/// Panics unless `real` (the decoder's outcome on `data`) is the reference model's, or differs
/// from it only by a known decoder departure ([`reference::Quirks::DECODER`]).
fn compare_with_reference(data: &[u8], real: &Decoded, setup: &DecodeSetup) {
    let model = reference::decode(data, setup);
    let real = reference::Outcome::of(real);
    // A difference that a known, reported decoder departure explains exactly is let through;
    // `tests/reference_model.rs` keeps the departures themselves as ignored tests.
    if real != model && real != reference::decode_with(data, setup, reference::Quirks::DECODER) {
        panic!(
            "decoder and reference model disagree ({setup:?})\ninput: \"{}\"\n\
             decoder: {real:#?}\nmodel: {model:#?}",
            data.escape_ascii()
        );
    }
}

/// Split points for a `len`-byte input from a seed: up to eight positions in `1..len`.
pub fn derived_splits(len: usize, seed: u64) -> Vec<usize> {
    if len < 2 {
        return Vec::new();
    }
    let mut state = seed | 1;
    let count = (state % 9) as usize;
    let mut splits = Vec::with_capacity(count);
    for _ in 0..count {
        state = xorshift(state);
        splits.push(1 + (state % (len as u64 - 1)) as usize);
    }
    splits
}

/// FNV-1a over `data`.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One step of xorshift64 (never returns 0 for a non-zero state).
fn xorshift(mut x: u64) -> u64 {
    x |= 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// At most `max` octets of `bytes` as printable text, `...` when cut: the form of the text
/// fields of stomp-codec's errors (`command`, `header`, `declared`), written the way the
/// library's private helper writes them (`escape_ascii` of the first `max` octets).
fn shown(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len().min(max);
    let mut s = bytes[..cut].escape_ascii().to_string();
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_follow_the_rules_e9_h2_f9() {
        let v = |frame: &Frame, version| violations(frame, version);
        // E-9, D-3: a CR inside a 1.0/1.1 name or value is fine, last in a value it is not;
        // a 1.2 CONNECT cannot carry one anywhere.
        let f = Frame::builder(Command::Send).header("a\rb", "c\rd").build();
        assert!(v(&f, Version::V1_1).is_empty());
        assert!(v(&f, Version::V1_2).is_empty());
        let f = Frame::builder(Command::Send).header("a\r", "c\r").build();
        assert_eq!(
            v(&f, Version::V1_1),
            [Violation::Header {
                index: 0,
                reason: Unrepresentable::TrailingCarriageReturn
            }]
        );
        assert!(v(&f, Version::V1_2).is_empty());
        let f = Frame::builder(Command::Connect).header("a", "b\rc").build();
        assert!(v(&f, Version::V1_0).is_empty());
        assert_eq!(
            v(&f, Version::V1_2),
            [Violation::Header {
                index: 0,
                reason: Unrepresentable::CarriageReturn
            }]
        );
        let f = Frame::builder(Command::Connect)
            .header("a:b", "c\n")
            .build();
        assert_eq!(v(&f, Version::V1_2).len(), 2);
        let f = Frame::builder(Command::Ack).body("x").build();
        assert_eq!(v(&f, Version::V1_1), [Violation::Body]);
        assert!(v(&f, Version::V1_0).is_empty());
        let f = Frame::builder(Command::Send)
            .body(&b"a\0"[..])
            .omit_content_length()
            .build();
        assert_eq!(v(&f, Version::V1_0), [Violation::NulInBody { position: 1 }]);
    }

    #[test]
    fn expected_frame_gets_the_added_length_d25() {
        let f = Frame::builder(Command::Send).body("0123456789").build();
        let e = expected_after_decode(&f);
        assert_eq!(e.headers().get("content-length"), Some(&b"10"[..]));
        let f = Frame::builder(Command::Send)
            .body("x")
            .omit_content_length()
            .build();
        assert!(expected_after_decode(&f).headers().is_empty());
    }

    #[test]
    fn derived_splits_stay_inside() {
        for len in 0..40 {
            for seed in 0..20 {
                assert!(derived_splits(len, seed).iter().all(|&s| s > 0 && s < len));
            }
        }
    }
}
