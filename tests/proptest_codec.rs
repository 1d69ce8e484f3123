//! Property tests of the codec as a whole: encode→decode round trips for every version under
//! arbitrary chunking, refusals only where the rules forbid a frame, arbitrary bytes that never
//! panic nor make the decoder buffer past its limits, and chunking-independent results.
//!
//! The invariant checks themselves live in `stomp_testkit` (`testkit/`, shared with the fuzz
//! targets); the strategies and the expectations stated from the rules live here. 256 cases per
//! property keep the file at a few seconds in debug builds.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use stomp_codec::{Command, EncodeError, Encoder, Frame, Item, Limits, Unrepresentable, Version};
use stomp_testkit::{self as testkit, DecodeSetup, RoundTrip};

const CASES: u32 = 256;

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V1_0),
        Just(Version::V1_1),
        Just(Version::V1_2)
    ]
}

fn command() -> impl Strategy<Value = Command> {
    (0..Command::STANDARD.len()).prop_map(|i| Command::STANDARD[i].clone())
}

/// Header octets, weighted toward the ones the grammar gives a meaning to, plus non-UTF-8.
fn octet() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => b'a'..=b'z',
        1 => Just(b':'),
        1 => Just(b'\\'),
        1 => Just(b'\r'),
        1 => Just(b'\n'),
        1 => Just(0u8),
        1 => Just(b'n'),
        1 => Just(b'c'),
        1 => 0x80u8..=0xff,
        1 => any::<u8>(),
    ]
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    vec(octet(), 0..10)
}

/// Names: a few fixed ones so that repeats are common (H-6), a case variant of a protocol name
/// (H-9), and arbitrary octets.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(b"destination".to_vec()),
        1 => Just(b"x-repeat".to_vec()),
        1 => Just(b"Content-Length".to_vec()),
        4 => text(),
    ]
}

/// Bodies: arbitrary octets with NUL made common (F-7, H-2).
fn body() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![3 => any::<u8>(), 1 => Just(0u8)], 0..40)
}

/// An extra `content-length` header: none, the right value, or something else (D-9, D-25).
#[derive(Debug, Clone)]
enum Length {
    None,
    Exact,
    Padded,
    Raw(Vec<u8>),
}

fn length() -> impl Strategy<Value = Length> {
    prop_oneof![
        4 => Just(Length::None),
        2 => Just(Length::Exact),
        1 => Just(Length::Padded),
        1 => vec(prop_oneof![b'0'..=b'9', any::<u8>()], 0..4).prop_map(Length::Raw),
    ]
}

/// The parts of a frame, before any rule is applied to them.
#[derive(Debug, Clone)]
struct Parts {
    command: Command,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    length: Length,
    body: Vec<u8>,
    omit_content_length: bool,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        command(),
        vec((name(), text()), 0..6),
        length(),
        body(),
        any::<bool>(),
    )
        .prop_map(
            |(command, headers, length, body, omit_content_length)| Parts {
                command,
                headers,
                length,
                body,
                omit_content_length,
            },
        )
}

impl Parts {
    fn frame(&self) -> Frame {
        let mut builder = Frame::builder(self.command.clone())
            .headers(self.headers.iter().map(|(n, v)| (n, v)))
            .body(self.body.clone());
        let decimal = self.body.len().to_string().into_bytes();
        let value = match &self.length {
            Length::None => None,
            Length::Exact => Some(decimal),
            Length::Padded => Some([&b"00"[..], &decimal].concat()),
            Length::Raw(raw) => Some(raw.clone()),
        };
        if let Some(value) = value {
            builder = builder.header("content-length", value);
        }
        if self.omit_content_length {
            builder = builder.omit_content_length();
        }
        builder.build()
    }

    /// The same parts with everything the rules forbid in `version` taken out, so the result
    /// must be encodable:
    /// - F-9: no body on a command other than SEND, MESSAGE and ERROR in 1.1 and 1.2;
    /// - F-4: no empty name; D-15: no NUL in headers;
    /// - E-1, E-5, E-9: without escaping (1.0; CONNECT, STOMP, CONNECTED) no LF or CR, and no
    ///   colon in names; E-3, E-9: CR only where `\r` exists (1.2 escaped frames);
    /// - D-25: a `content-length` must state the body's length;
    /// - H-2: no NUL in a body sent without `content-length`.
    fn representable(mut self, version: Version) -> Parts {
        let escaping = version != Version::V1_0
            && !matches!(
                self.command,
                Command::Connect | Command::Stomp | Command::Connected
            );
        let cr_ok = escaping && version == Version::V1_2;
        let allowed = |b: u8, is_name: bool| {
            b != 0 && (escaping || (b != b'\n' && !(is_name && b == b':'))) && (cr_ok || b != b'\r')
        };
        if version != Version::V1_0
            && !matches!(
                self.command,
                Command::Send | Command::Message | Command::Error
            )
        {
            self.body.clear();
        }
        for (name, value) in &mut self.headers {
            name.retain(|&b| allowed(b, true));
            value.retain(|&b| allowed(b, false));
            if name.is_empty() || name == b"content-length" {
                *name = b"x".to_vec();
            }
        }
        if let Length::Raw(_) = self.length {
            self.length = Length::Exact;
        }
        if self.omit_content_length && matches!(self.length, Length::None) {
            self.body.retain(|&b| b != 0);
        }
        self
    }
}

/// What the decoder must give back for `frame`: the frame, plus the `content-length` the encoder
/// appends for a non-empty body when there is none and the frame does not opt out (D-25).
fn expected(frame: &Frame) -> Frame {
    let mut out = Frame::new(frame.command().clone());
    out.set_headers(frame.headers().clone());
    if !frame.body().is_empty()
        && !frame.omits_content_length()
        && !frame.headers().contains("content-length")
    {
        out.headers_mut()
            .push("content-length", frame.body().len().to_string());
    }
    out.set_body(frame.body_bytes());
    out
}

/// Split points: arbitrary numbers folded into `0..=len`.
fn cut(splits: &[usize], len: usize) -> Vec<usize> {
    splits.iter().map(|s| s % (len + 1)).collect()
}

/// Byte streams that look like STOMP often enough to get past the command line.
fn stompish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"SEND".to_vec()),
        Just(b"MESSAGE".to_vec()),
        Just(b"CONNECT".to_vec()),
        Just(b"SUBSCRIBE".to_vec()),
        Just(b"PING".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b":".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\n".to_vec()),
        Just(b"\\c".to_vec()),
        Just(b"\\r".to_vec()),
        Just(b"content-length:".to_vec()),
        Just(b"SEND\ndestination:/queue/a-rather-long-name\n\n".to_vec()),
        Just(b"MESSAGE\nsubscription:0\nmessage-id:007\n".to_vec()),
        (0u32..80).prop_map(|n| n.to_string().into_bytes()),
        vec(any::<u8>(), 1..6),
        vec(b'a'..=b'z', 1..100),
    ];
    prop_oneof![
        2 => vec(token, 0..48).prop_map(|tokens| tokens.concat()),
        1 => vec(any::<u8>(), 0..300),
        3 => vec(near_frame(), 1..4).prop_map(|frames| frames.concat()),
    ]
}

/// Something shaped like a frame, often with one thing wrong: a command (standard, lowercase
/// or extension), header lines of arbitrary octets, maybe a `content-length` that may or may
/// not match, LF or CRLF line ends, a body, and a NUL or something else at the end, then maybe
/// EOLs.
fn near_frame() -> impl Strategy<Value = Vec<u8>> {
    let command = prop_oneof![
        4 => command().prop_map(|c| c.as_bytes().to_vec()),
        1 => Just(b"send".to_vec()),
        1 => Just(b"X-EXT".to_vec()),
    ];
    let length = prop_oneof![
        Just(None),
        Just(Some(None)),
        (0usize..80).prop_map(|n| Some(Some(n))),
    ];
    (
        command,
        vec((text(), text()), 0..6),
        length,
        body(),
        any::<bool>(),
        prop_oneof![4 => Just(vec![0u8]), 1 => Just(Vec::new()), 1 => vec(any::<u8>(), 1..3)],
        vec(prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..])], 0..3),
    )
        .prop_map(|(command, headers, length, body, crlf, end, eols)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut out = command;
            out.extend_from_slice(eol);
            for (name, value) in headers {
                out.extend_from_slice(&name);
                out.push(b':');
                out.extend_from_slice(&value);
                out.extend_from_slice(eol);
            }
            match length {
                None => {}
                // The body's true length.
                Some(None) => {
                    out.extend_from_slice(format!("content-length:{}", body.len()).as_bytes())
                }
                Some(Some(n)) => out.extend_from_slice(format!("content-length:{n}").as_bytes()),
            }
            if length.is_some() {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(eol);
            out.extend_from_slice(&body);
            out.extend_from_slice(&end);
            out.extend(eols.concat());
            out
        })
}

fn setup() -> impl Strategy<Value = DecodeSetup> {
    let limits = prop_oneof![
        Just(Limits::default()),
        Just(testkit::small_limits()),
        Just(testkit::frame_bound_limits()),
    ];
    (version(), limits, any::<bool>(), any::<bool>()).prop_map(
        |(version, limits, extensions, strict_utf8)| DecodeSetup {
            version,
            limits,
            extensions,
            strict_utf8,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Frames the rules allow are encoded and decode back equal, with the added content-length
    /// accounted for, at any chunking (E-2, E-3, E-5, H-1, H-6, F-7, F-11, D-25).
    #[test]
    fn representable_frames_round_trip_at_any_chunking_e2_e3_e5_h1_f11(
        version in version(),
        parts in parts(),
        splits in vec(any::<usize>(), 0..8),
    ) {
        let frame = parts.representable(version).frame();
        let mut wire = BytesMut::new();
        prop_assert_eq!(Encoder::new(version).encode(&frame, &mut wire), Ok(()));
        let splits = cut(&splits, wire.len());
        match testkit::roundtrip_frame(&frame, version, &splits) {
            RoundTrip::Decoded(decoded) => prop_assert_eq!(decoded, expected(&frame)),
            RoundTrip::Refused(err) => prop_assert!(false, "refused {:?}: {}", frame, err),
        }
    }

    /// Any frame, whatever bytes its headers and body hold: either it round-trips, or the
    /// encoder refuses it for a reason the rules give (E-9, H-2, F-9, D-25).
    #[test]
    fn any_frame_round_trips_or_is_refused_by_a_rule_e9_h2_f9(
        version in version(),
        parts in parts(),
        splits in vec(any::<usize>(), 0..8),
    ) {
        let frame = parts.frame();
        let mut wire = BytesMut::new();
        let encoded = Encoder::new(version).encode(&frame, &mut wire);
        let splits = cut(&splits, wire.len());
        // roundtrip_frame panics on an unjustified refusal or a wrong decode.
        match testkit::roundtrip_frame(&frame, version, &splits) {
            RoundTrip::Decoded(decoded) => {
                prop_assert_eq!(encoded, Ok(()));
                prop_assert_eq!(decoded, expected(&frame));
            }
            RoundTrip::Refused(err) => prop_assert_eq!(encoded, Err(err)),
        }
    }

    /// Arbitrary bytes, any setup, any chunking: no panic, the decoder never holds more than
    /// max_frame plus the last chunk (D-12, H-8), errors are sticky, and every decoded frame
    /// re-encodes (all checked inside decode_chunked).
    #[test]
    fn arbitrary_bytes_never_panic_nor_overbuffer_d12_h8(
        data in stompish(),
        setup in setup(),
        splits in vec(any::<usize>(), 0..10),
    ) {
        let out = testkit::decode_chunked(&data, &cut(&splits, data.len()), &setup);
        prop_assert!(out.pending <= setup.limits.max_frame.max(1));
    }

    /// Two different chunkings of the same bytes give the same items and the same error (F-11).
    #[test]
    fn results_do_not_depend_on_chunk_boundaries_f11(
        data in stompish(),
        setup in setup(),
        first in vec(any::<usize>(), 0..10),
        second in vec(any::<usize>(), 0..10),
    ) {
        let a = testkit::decode_chunked(&data, &cut(&first, data.len()), &setup);
        let b = testkit::decode_chunked(&data, &cut(&second, data.len()), &setup);
        prop_assert_eq!(a, b);
    }

    /// Encoded frames and heart-beat EOLs back to back decode to the same sequence at any
    /// chunking: each frame as expected, each LF or CRLF as one heart-beat (F-10, F-11, D-3,
    /// D-13).
    #[test]
    fn streams_of_frames_and_heartbeats_decode_in_order_f10_f11_d13(
        version in version(),
        elements in vec(prop_oneof![
            3 => parts().prop_map(Some),
            1 => Just(None),
        ], 0..8),
        crlf in vec(any::<bool>(), 8),
        splits in vec(any::<usize>(), 0..12),
    ) {
        let mut wire = BytesMut::new();
        let mut want = Vec::new();
        for (i, element) in elements.into_iter().enumerate() {
            match element {
                Some(parts) => {
                    let frame = parts.representable(version).frame();
                    prop_assert_eq!(Encoder::new(version).encode(&frame, &mut wire), Ok(()));
                    want.push(Item::Frame(expected(&frame)));
                }
                None => {
                    wire.extend_from_slice(if crlf[i] { b"\r\n" } else { b"\n" });
                    want.push(Item::Heartbeat);
                }
            }
        }
        let setup = DecodeSetup { extensions: true, ..DecodeSetup::new(version) };
        let out = testkit::decode_chunked(&wire, &cut(&splits, wire.len()), &setup);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.pending, 0);
        prop_assert_eq!(out.items, want);
    }
}

fn refusal(frame: &Frame, version: Version) -> EncodeError {
    match testkit::roundtrip_frame(frame, version, &[]) {
        RoundTrip::Refused(err) => err,
        RoundTrip::Decoded(f) => panic!("{frame:?} should be refused in {version}, got {f:?}"),
    }
}

fn accepted(frame: &Frame, version: Version, splits: &[usize]) -> Frame {
    match testkit::roundtrip_frame(frame, version, splits) {
        RoundTrip::Decoded(f) => f,
        RoundTrip::Refused(err) => panic!("{frame:?} should encode in {version}: {err}"),
    }
}

#[test]
fn each_refusal_rule_is_reported_e9_h2_f9() {
    let unrepresentable = |err: EncodeError| match err {
        EncodeError::Unrepresentable { reason, .. } => reason,
        other => panic!("expected Unrepresentable, got {other:?}"),
    };
    // E-9: 1.1 has no `\r` escape and writes a CR raw, so not as a value's last octet (it would
    // read back as a CRLF's, D-3); a 1.2 CONNECT (no escaping at all) cannot carry one.
    let cr = Frame::builder(Command::Send).header("k", "a\r").build();
    assert_eq!(
        unrepresentable(refusal(&cr, Version::V1_1)),
        Unrepresentable::TrailingCarriageReturn
    );
    let inner_cr = Frame::builder(Command::Send).header("k", "a\rb").build();
    assert_eq!(accepted(&inner_cr, Version::V1_1, &[3]), inner_cr);
    let connect_cr = Frame::builder(Command::Connect).header("k", "a\rb").build();
    assert_eq!(
        unrepresentable(refusal(&connect_cr, Version::V1_2)),
        Unrepresentable::CarriageReturn
    );
    // E-9: LF in a 1.0 header or in CONNECT; colon in a name where escaping is off.
    let lf = Frame::builder(Command::Send).header("k", "a\nb").build();
    assert_eq!(
        unrepresentable(refusal(&lf, Version::V1_0)),
        Unrepresentable::LineFeed
    );
    let colon = Frame::builder(Command::Send).header("a:b", "v").build();
    assert_eq!(
        unrepresentable(refusal(&colon, Version::V1_0)),
        Unrepresentable::ColonInName
    );
    // H-2: a NUL in a body sent without content-length.
    let nul = Frame::builder(Command::Send)
        .body(&b"ab\0"[..])
        .omit_content_length()
        .build();
    assert_eq!(
        refusal(&nul, Version::V1_1),
        EncodeError::NulInBody { position: 2 }
    );
    // F-9: a body on ACK in 1.2.
    let ack = Frame::builder(Command::Ack)
        .header("id", "1")
        .body("x")
        .build();
    assert!(matches!(
        refusal(&ack, Version::V1_2),
        EncodeError::BodyNotAllowed {
            version: Version::V1_2,
            ..
        }
    ));
}

#[test]
fn frames_the_rules_allow_come_back_e3_f9_h1() {
    // E-3: CR, LF, colon and backslash in a 1.2 header survive through escapes, at every cut.
    let tricky = Frame::builder(Command::Message)
        .header("k:\\\r\n", "v:\\\r\n")
        .header("k:\\\r\n", "second")
        .body(Bytes::from_static(b"\0\x01\xff"))
        .build();
    let wire_len = Encoder::new(Version::V1_2).encoded_len(&tricky).unwrap();
    for at in 0..=wire_len {
        let back = accepted(&tricky, Version::V1_2, &[at]);
        assert_eq!(back.headers().get("k:\\\r\n"), Some(&b"v:\\\r\n"[..]));
        assert_eq!(back.headers().get_all("k:\\\r\n").count(), 2);
        assert_eq!(back.headers().get("content-length"), Some(&b"3"[..]));
        assert_eq!(back.body(), b"\0\x01\xff");
    }
    // F-9: 1.0 does not forbid a body on SUBSCRIBE.
    let sub = Frame::builder(Command::Subscribe).body("x").build();
    assert_eq!(accepted(&sub, Version::V1_0, &[3]).body(), b"x");
    // H-2: without content-length a body with no NUL still comes back (NUL-terminated).
    let plain = Frame::builder(Command::Send)
        .body("text")
        .omit_content_length()
        .build();
    let back = accepted(&plain, Version::V1_1, &[1, 6]);
    assert!(!back.headers().contains("content-length"));
    assert_eq!(back.body(), b"text");
}
