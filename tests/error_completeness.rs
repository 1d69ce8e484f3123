//! Every error the crate can report is produced by an input here, says what was wrong and
//! where, and leaves its producer in the state the docs promise.
//!
//! - Coverage: the variant names come from `stomp_testkit::variants`, whose lists
//!   (`src/error_variant_names.rs`) the library's unit tests turn into matches that are
//!   exhaustive inside the crate (the enums are `#[non_exhaustive]` outside it), so a new
//!   variant fails to build there until it is listed, and then fails
//!   `every_variant_is_produced` here until a case produces it.
//! - Messages: each case names the substrings its `Display` text must hold (the offset, header,
//!   command, limit or value), and every message is one printable line.
//! - After the error: a decoder repeats the same error for any later input through every entry
//!   point and holds nothing (D-12, STYLE "errors are sticky"); a connection repeats its
//!   `ConnectionError`, reports nothing more, and a server has queued one ERROR carrying the
//!   message (H-8, R-9, R-11); a refused call (`UsageError`) queued nothing and the connection
//!   still works.
//!
//! Run with `cargo test --test error_completeness`.
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use stomp_codec::{
    Accept, AckMode, ClientConfig, ClientConnection, ClientEvent, Command, ConnectionError,
    DecodeError, Decoder, EncodeError, Encoder, Frame, FrameOptions, Heartbeat, Item, Limits,
    ServerConfig, ServerConnection, ServerEvent, UsageError, Version, VersionSet,
};
use stomp_testkit::variants;

/// The message is one line of printable text (it goes into logs and ERROR frames).
fn check_message(text: &str, expected: &[&str], what: &str) {
    for part in expected {
        assert!(
            text.contains(part),
            "{what}: message {text:?} does not name {part:?}"
        );
    }
    assert!(
        !text.chars().any(char::is_control),
        "{what}: control character in message {text:?}"
    );
}

// ---- DecodeError -----------------------------------------------------------------------------

struct DecodeCase {
    rule: &'static str,
    version: Version,
    limits: Limits,
    strict: bool,
    input: &'static [u8],
    error: DecodeError,
    message: &'static [&'static str],
}

fn decode_cases() -> Vec<DecodeCase> {
    let case = |rule, version, input, error, message| DecodeCase {
        rule,
        version,
        limits: Limits::default(),
        strict: false,
        input,
        error,
        message,
    };
    vec![
        case(
            "F-3",
            Version::V1_2,
            b"\nsend\n\n\0",
            DecodeError::UnknownCommand {
                offset: 1,
                command: "send".into(),
            },
            &["\"send\"", "byte 1"],
        ),
        case(
            "D-4",
            Version::V1_2,
            b"SEND\nab\n\n\0",
            DecodeError::MissingColon {
                offset: 5,
                line: "ab".into(),
            },
            &["colon", "\"ab\"", "byte 5"],
        ),
        case(
            "D-5",
            Version::V1_2,
            b"SEND\n:x\n\n\0",
            DecodeError::EmptyHeaderName { offset: 5 },
            &["empty name", "byte 5"],
        ),
        case(
            "E-4",
            Version::V1_2,
            b"SEND\nhdr:a\\t\n\n\0",
            DecodeError::BadEscape {
                offset: 10,
                header: "hdr".into(),
                octet: Some(b't'),
            },
            &["\\t", "\"hdr\"", "byte 10"],
        ),
        case(
            "D-8",
            Version::V1_1,
            b"SEND\nhdr:a\\\n\n\0",
            DecodeError::BadEscape {
                offset: 10,
                header: "hdr".into(),
                octet: None,
            },
            &["backslash at end", "\"hdr\"", "byte 10"],
        ),
        case(
            "D-9",
            Version::V1_2,
            b"SEND\ncontent-length:x1\n\n\0",
            DecodeError::InvalidContentLength {
                offset: 5,
                value: "x1".into(),
            },
            &["content-length", "\"x1\"", "byte 5"],
        ),
        case(
            "D-9",
            Version::V1_2,
            b"SEND\ncontent-length:1\ncontent-length:2\n\nx\0",
            DecodeError::ConflictingContentLength {
                offset: 22,
                first: 1,
                second: 2,
            },
            &["1 and 2", "byte 22"],
        ),
        case(
            "F-8",
            Version::V1_2,
            b"SEND\ncontent-length:1\n\nab\0",
            DecodeError::MissingNul {
                offset: 24,
                length: 1,
                found: b'b',
            },
            &["NUL", "1-byte", "byte 24", "0x62"],
        ),
        case(
            "F-9",
            Version::V1_1,
            b"SUBSCRIBE\n\nx\0",
            DecodeError::BodyNotAllowed {
                offset: 11,
                command: Command::Subscribe,
                version: Version::V1_1,
            },
            &["SUBSCRIBE", "1.1", "byte 11"],
        ),
        case(
            "D-3",
            Version::V1_2,
            b"SEND\r\r\n\n\0",
            DecodeError::StrayCarriageReturn { offset: 4 },
            &["carriage return", "byte 4"],
        ),
        case(
            "D-15",
            Version::V1_0,
            b"SEND\n\n\0\n\0",
            DecodeError::UnexpectedNul { offset: 8 },
            &["NUL", "byte 8"],
        ),
        DecodeCase {
            limits: Limits::default().max_header_line(4),
            ..case(
                "D-12",
                Version::V1_2,
                b"SEND\nabcdef:g\n\n\0",
                DecodeError::LimitExceeded {
                    offset: 9,
                    limit: stomp_codec::LimitKind::HeaderLine,
                    max: 4,
                },
                &["header line length", "limit of 4", "byte 9"],
            )
        },
        DecodeCase {
            strict: true,
            ..case(
                "D-11",
                Version::V1_2,
                b"SEND\nname:\xff\n\n\0",
                DecodeError::InvalidUtf8 {
                    offset: 5,
                    header: "name".into(),
                },
                &["\"name\"", "UTF-8", "byte 5"],
            )
        },
    ]
}

fn decoder_of(case: &DecodeCase) -> Decoder {
    Decoder::with_limits(case.version, case.limits).strict_utf8(case.strict)
}

/// Through `push` + `next_item`, then sticky through every entry point.
fn decode_by_push(case: &DecodeCase) {
    let mut dec = decoder_of(case);
    dec.push(case.input);
    let err = loop {
        match dec.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("{}: no error for {:?}", case.rule, case.input),
            Err(err) => break err,
        }
    };
    assert_eq!(err, case.error, "{}", case.rule);
    assert_eq!(dec.error(), Some(&case.error));
    assert_eq!(
        dec.buffered(),
        0,
        "{}: a failed decoder holds input",
        case.rule
    );
    let offset = dec.offset();
    // Later input of every kind, valid or not, is refused with the same error.
    dec.push(b"SEND\n\n\0");
    assert_eq!(dec.next_item(), Err(case.error.clone()));
    dec.push_bytes(Bytes::from_static(b"\n\n"));
    assert_eq!(dec.next_item(), Err(case.error.clone()));
    let mut own = BytesMut::from(&b"MESSAGE\n\n\0"[..]);
    assert_eq!(dec.decode(&mut own), Err(case.error.clone()));
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.offset(), offset, "a failed decoder consumed input");
}

/// Through a caller-owned buffer and `decode`, byte by byte.
fn decode_by_buffer(case: &DecodeCase) {
    let mut dec = decoder_of(case);
    let mut buf = BytesMut::new();
    let mut found = None;
    'feed: for &b in case.input {
        buf.extend_from_slice(&[b]);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    found = Some(err);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(found.as_ref(), Some(&case.error), "{} (decode)", case.rule);
    buf.extend_from_slice(b"SEND\n\n\0");
    assert_eq!(dec.decode(&mut buf), Err(case.error.clone()));
}

#[test]
fn decode_errors_are_precise_and_sticky() {
    for case in decode_cases() {
        decode_by_push(&case);
        decode_by_buffer(&case);
        check_message(&case.error.to_string(), case.message, case.rule);
        assert_eq!(case.error.offset(), offset_in(&case.error));
    }
}

/// The offset as the message states it ("at byte N" or "starts at byte N").
fn offset_in(err: &DecodeError) -> u64 {
    let text = err.to_string();
    let at = text.rfind("byte ").expect("the message names a byte") + 5;
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number follows \"byte\"")
}

// ---- EncodeError -----------------------------------------------------------------------------

fn encode_cases() -> Vec<(
    &'static str,
    Frame,
    Version,
    EncodeError,
    &'static [&'static str],
)> {
    vec![
        (
            "D-1",
            Frame::new(Command::Extension(b"BAD CMD"[..].into())),
            Version::V1_2,
            EncodeError::InvalidCommand {
                command: "BAD CMD".into(),
            },
            &["\"BAD CMD\""],
        ),
        (
            "E-9",
            Frame::builder(Command::Send)
                .header("subject", "x\ny")
                .build(),
            Version::V1_0,
            EncodeError::Unrepresentable {
                header: "subject".into(),
                version: Version::V1_0,
                reason: stomp_codec::Unrepresentable::LineFeed,
            },
            &["\"subject\"", "1.0", "line feed"],
        ),
        (
            "H-2",
            Frame::builder(Command::Send)
                .body(&b"ab\0c"[..])
                .omit_content_length()
                .build(),
            Version::V1_2,
            EncodeError::NulInBody { position: 2 },
            &["NUL", "byte 2", "content-length"],
        ),
        (
            "D-25",
            Frame::builder(Command::Send)
                .header("content-length", "5")
                .body("abc")
                .build(),
            Version::V1_2,
            EncodeError::ContentLengthMismatch {
                declared: "5".into(),
                actual: 3,
            },
            &["\"5\"", "3-byte"],
        ),
        (
            "F-9",
            Frame::builder(Command::Subscribe).body("x").build(),
            Version::V1_2,
            EncodeError::BodyNotAllowed {
                command: Command::Subscribe,
                version: Version::V1_2,
            },
            &["SUBSCRIBE", "1.2"],
        ),
    ]
}

#[test]
fn encode_errors_are_precise_and_write_nothing() {
    for (rule, frame, version, expected, message) in encode_cases() {
        let mut dst = BytesMut::from(&b"kept"[..]);
        let encoder = Encoder::new(version);
        assert_eq!(
            encoder.encode(&frame, &mut dst),
            Err(expected.clone()),
            "{rule}"
        );
        assert_eq!(&dst[..], b"kept", "{rule}: a refused frame wrote something");
        assert_eq!(encoder.encoded_len(&frame), Err(expected.clone()), "{rule}");
        // Refusing is not a state: the encoder goes on encoding.
        let ok = Frame::builder(Command::Send).header("a", "b").build();
        assert!(encoder.encode(&ok, &mut dst).is_ok());
        check_message(&expected.to_string(), message, rule);
    }
}

// ---- ConnectionError -------------------------------------------------------------------------

fn t0() -> Instant {
    Instant::now()
}

fn server_events(s: &mut ServerConnection) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).take(1000).collect()
}

fn client_events(c: &mut ClientConnection) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).take(1000).collect()
}

fn decoded(bytes: &[u8], version: Version) -> Vec<Frame> {
    let mut dec = Decoder::new(version);
    dec.push(bytes);
    let mut frames = Vec::new();
    while let Some(item) = dec.next_item().expect("our output decodes") {
        if let Item::Frame(f) = item {
            frames.push(f);
        }
    }
    frames
}

fn drain(s: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// A server fed `before` (then accepted, if `accept`), then `bad`; returns the error it
/// reported, after checking that it is sticky and answered with one ERROR.
fn server_failure(
    config: ServerConfig,
    before: &[u8],
    accept: bool,
    bad: &[u8],
) -> ConnectionError {
    let now = t0();
    let mut s = ServerConnection::new(config);
    if !before.is_empty() {
        s.handle_input(now, before);
        let _ = server_events(&mut s);
    }
    if accept {
        s.accept(now, Accept::new()).expect("a CONNECT is waiting");
    }
    let version = s.version().unwrap_or(Version::V1_0);
    let mut out = drain(&mut s);
    let _ = server_events(&mut s);
    // Input is applied in order as events are polled: a protocol error surfaces there (or at
    // once, from handle_input, for input the server may not even hold).
    let immediate = s.input(now, bad).err();
    let _ = server_events(&mut s);
    let err = s.failure().cloned().expect("the input is bad");
    if let Some(immediate) = immediate {
        assert_eq!(immediate, err);
    }
    // Frames before the bad one were reported; then only the end of the connection.
    let _ = server_events(&mut s);
    out.extend_from_slice(&drain(&mut s));
    assert!(
        matches!(
            s.poll_event(),
            Some(ServerEvent::Closed(stomp_codec::CloseReason::Failed(ref e))) if *e == err
        ),
        "{err}: Closed(Failed) once the ERROR is handed out"
    );
    // Sticky: later input, even valid, is refused with the same error and reported nowhere.
    assert_eq!(
        s.input(now, b"SEND\ndestination:/q\n\n\0"),
        Err(err.clone())
    );
    assert_eq!(s.input(now, b"\n"), Err(err.clone()));
    assert_eq!(s.poll_event(), None, "{err}: an event after the failure");
    assert_eq!(
        s.poll_transmit(),
        None,
        "{err}: bytes queued after the ERROR"
    );
    let frames = decoded(&out, version);
    let errors: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.command() == &Command::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{err}: one ERROR frame (H-8, R-9)");
    let error_frame = errors[0];
    assert_eq!(
        error_frame.headers().get("message"),
        Some(err.error_message().as_bytes())
    );
    assert_eq!(error_frame.body(), err.to_string().as_bytes());
    assert!(s.is_closed());
    err
}

const CONNECT: &[u8] = b"CONNECT\naccept-version:1.2\nhost:/\n\n\0";

/// A client that stops reading, on a server that drops slow consumers: the MESSAGE that
/// would take the queue past the limit is refused and the client is sent ERROR.
fn slow_consumer() -> ConnectionError {
    let now = t0();
    let config = ServerConfig::default()
        .max_pending_transmit(300)
        .slow_consumer(stomp_codec::SlowConsumer::Close);
    let mut s = ServerConnection::new(config);
    s.handle_input(now, CONNECT);
    let _ = server_events(&mut s);
    s.accept(now, Accept::new()).unwrap();
    s.handle_input(now, b"SUBSCRIBE\nid:s\ndestination:/q\n\n\0");
    let _ = server_events(&mut s);
    let content = Frame::builder(Command::Send).body(vec![b'x'; 100]).build();
    let mut refused = None;
    for n in 0..10 {
        if let Err(err) = s.message(now, "s", format!("m-{n}"), &content) {
            refused = Some(err);
            break;
        }
    }
    assert!(matches!(
        refused,
        Some(UsageError::OutputFull { limit: 300, .. })
    ));
    let out = drain(&mut s);
    assert!(out.ends_with(b"\0"), "the ERROR is queued past the limit");
    let events = server_events(&mut s);
    assert!(
        matches!(events.last(), Some(ServerEvent::Closed(_))),
        "{events:?}"
    );
    s.failure().cloned().expect("dropped as a slow consumer")
}

fn connection_cases() -> Vec<(&'static str, ConnectionError, &'static [&'static str])> {
    let cfg = ServerConfig::default;
    let mut cases = vec![
        (
            "H-8",
            slow_consumer(),
            &["slow consumer", "at most 300"][..],
        ),
        (
            "D-1",
            server_failure(cfg(), b"", false, b"XYZ\n\n\0"),
            &["\"XYZ\"", "byte 0"][..],
        ),
        (
            "D-16",
            server_failure(cfg(), b"", false, b"SEND\ndestination:/q\n\n\0"),
            &["SEND", "before CONNECT"],
        ),
        (
            "C-9",
            server_failure(cfg(), b"", false, b"CONNECT\naccept-version:2.0\n\n\0"),
            &["no common protocol version", "server supports 1.0,1.1,1.2"],
        ),
        (
            "D-19",
            server_failure(
                cfg(),
                b"",
                false,
                b"CONNECT\naccept-version:1.2\nheart-beat:1;2\n\n\0",
            ),
            &["heart-beat", "\"1;2\""],
        ),
        (
            "S-3",
            server_failure(cfg(), CONNECT, true, b"SEND\nreceipt:r-9\n\nx\0"),
            &["SEND", "\"destination\""],
        ),
        (
            "S-5",
            server_failure(
                cfg(),
                CONNECT,
                true,
                b"SUBSCRIBE\nid:s\ndestination:/q\nack:sometimes\n\n\0",
            ),
            &["\"sometimes\"", "1.2"],
        ),
        (
            "S-4",
            server_failure(
                cfg(),
                CONNECT,
                true,
                b"SUBSCRIBE\nid:s\ndestination:/q\n\n\0SUBSCRIBE\nid:s\ndestination:/r\n\n\0",
            ),
            &["\"s\"", "already in use"],
        ),
        (
            "S-6",
            server_failure(cfg(), CONNECT, true, b"UNSUBSCRIBE\nid:nope\n\n\0"),
            &["\"nope\""],
        ),
        (
            "S-11",
            server_failure(
                cfg(),
                CONNECT,
                true,
                b"BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0",
            ),
            &["\"t\"", "already open"],
        ),
        (
            "S-11",
            server_failure(cfg(), CONNECT, true, b"COMMIT\ntransaction:t9\n\n\0"),
            &["\"t9\"", "not open"],
        ),
        (
            "D-18",
            server_failure(
                cfg().require_host(true),
                b"",
                false,
                b"CONNECT\naccept-version:1.2\n\n\0",
            ),
            &["host"],
        ),
        (
            "D-16",
            server_failure(
                cfg().limits(Limits::default().max_frame(64)),
                CONNECT,
                false,
                &[b'S'; 100],
            ),
            &["bytes received after CONNECT"],
        ),
    ];
    // H-8: the server's caps on subscriptions and open transactions.
    cases.push((
        "H-8",
        server_failure(
            cfg().max_subscriptions(1),
            CONNECT,
            true,
            b"SUBSCRIBE\nid:a\ndestination:/q\n\n\0SUBSCRIBE\nid:b\ndestination:/q\n\n\0",
        ),
        &["subscriptions", "at most 1"],
    ));
    cases.push((
        "H-8",
        server_failure(
            cfg().max_transactions(1),
            CONNECT,
            true,
            b"BEGIN\ntransaction:a\n\n\0BEGIN\ntransaction:b\n\n\0",
        ),
        &["transactions", "at most 1"],
    ));
    // D-16: no CONNECT within the server's connect timeout.
    let now = t0();
    let mut s = ServerConnection::new(cfg().connect_timeout(Some(Duration::from_secs(10))));
    s.handle_input(now, b"CONN");
    s.handle_timeout(now + Duration::from_secs(11));
    let _ = server_events(&mut s);
    let err = s
        .failure()
        .cloned()
        .expect("no CONNECT within the timeout is fatal");
    assert!(s.input(now, b"\n").is_err());
    cases.push(("D-16", err, &["not opened", "10s"]));
    // C-6: CONNECTED with a version the client did not offer.
    let now = t0();
    let mut c = ClientConnection::new(
        ClientConfig::new("/").versions(VersionSet::EMPTY.with(Version::V1_2)),
    );
    c.connect(now).unwrap();
    let _ = c.poll_transmit();
    c.handle_input(now, b"CONNECTED\nversion:1.1\n\n\0");
    let _ = client_events(&mut c);
    let err = c.failure().cloned().expect("an unoffered version is fatal");
    assert_eq!(c.input(now, b"MESSAGE\n\n\0"), Err(err.clone()));
    cases.push(("C-6", err, &["\"1.1\"", "not offered"]));
    // H-8: the application stops polling; the peer's input is refused once more than a
    // frame's worth waits unapplied.
    let mut c = ClientConnection::new(
        ClientConfig::new("/")
            .heartbeat(Heartbeat::NONE)
            .limits(Limits::default().max_frame(64)),
    );
    c.connect(now).unwrap();
    c.handle_input(now, &[b'\n'; 65]);
    let err = c
        .input(now, b"\n")
        .expect_err("input beyond max_frame unpolled is refused");
    assert_eq!(c.failure(), Some(&err));
    assert_eq!(c.input(now, b"\n"), Err(err.clone()));
    cases.push(("H-8", err, &["65 received bytes", "at most 64"]));
    // B-6: a silent server.
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(Heartbeat::new(0, 1000)));
    c.connect(now).unwrap();
    c.handle_input(now, b"CONNECTED\nversion:1.2\nheart-beat:1000,0\n\n\0");
    let _ = client_events(&mut c);
    c.handle_timeout(now + Duration::from_millis(2000));
    let err = c.failure().cloned().expect("silence past 2n is fatal");
    assert_eq!(c.input(now, b"\n"), Err(err.clone()));
    let events = client_events(&mut c);
    assert!(events.contains(&ClientEvent::HeartbeatTimeout));
    cases.push(("B-6", err, &["1s", "2s"]));
    cases
}

#[test]
fn connection_errors_are_precise_and_sticky() {
    for (rule, err, message) in connection_cases() {
        check_message(&err.to_string(), message, rule);
        check_message(err.error_message(), &[], rule);
    }
}

/// R-11: an ERROR about a frame that asked for a receipt names it.
#[test]
fn an_error_about_a_frame_with_a_receipt_names_it_r11() {
    let now = t0();
    let mut s = ServerConnection::new(ServerConfig::default());
    s.handle_input(now, CONNECT);
    let _ = server_events(&mut s);
    s.accept(now, Accept::new()).unwrap();
    let _ = drain(&mut s);
    // The bad frame is found when its turn comes, as events are polled.
    s.handle_input(now, b"SEND\nreceipt:r-9\n\nx\0");
    let _ = server_events(&mut s);
    assert!(s.failure().is_some());
    let frames = decoded(&drain(&mut s), Version::V1_2);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].headers().get("receipt-id"), Some(&b"r-9"[..]));
}

// ---- UsageError ------------------------------------------------------------------------------

fn connected_client(version: Version) -> ClientConnection {
    let now = t0();
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(Heartbeat::NONE));
    c.connect(now).unwrap();
    let _ = c.poll_transmit();
    let connected = format!("CONNECTED\nversion:{version}\n\n\0");
    c.handle_input(now, connected.as_bytes());
    let _ = client_events(&mut c);
    c
}

/// Runs `call` on `c`; it must fail, queue nothing, change nothing, and leave `c` usable.
fn refused(
    c: &mut ClientConnection,
    call: impl FnOnce(&mut ClientConnection) -> Result<Option<Bytes>, UsageError>,
) -> UsageError {
    let before = (
        c.pending_transmit(),
        c.pending_events(),
        c.pending_receipts(),
    );
    let err = call(c).expect_err("the call is refused");
    assert_eq!(
        (
            c.pending_transmit(),
            c.pending_events(),
            c.pending_receipts()
        ),
        before,
        "{err}: a refused call changed the connection"
    );
    if c.is_connected() {
        // Still usable.
        assert!(c.send(t0(), "/q", "x", FrameOptions::new()).is_ok());
        let _ = c.poll_transmit();
    }
    err
}

fn usage_cases() -> Vec<(&'static str, UsageError, &'static [&'static str])> {
    let now = t0();
    let opts = FrameOptions::new;
    let mut cases: Vec<(&'static str, UsageError, &'static [&'static str])> = Vec::new();

    let mut idle = ClientConnection::new(ClientConfig::new("/"));
    cases.push((
        "C-1",
        refused(&mut idle, |c| c.send(now, "/q", "x", opts())),
        &["SEND", "before the connection is established"],
    ));
    cases.push((
        "C-11",
        refused(&mut idle, |c| {
            c.send_frame(
                now,
                Frame::builder(Command::Connect)
                    .header("accept-version", "1.2")
                    .header("receipt", "r")
                    .build(),
            )
        }),
        &["CONNECT", "receipt"],
    ));
    cases.push((
        "D-19",
        refused(&mut idle, |c| {
            c.send_frame(
                now,
                Frame::builder(Command::Connect)
                    .header("accept-version", "1.2")
                    .header("heart-beat", "fast")
                    .build(),
            )
        }),
        &["heart-beat", "\"fast\""],
    ));
    let mut none = ClientConnection::new(ClientConfig::new("/").versions(VersionSet::EMPTY));
    cases.push((
        "C-3",
        refused(&mut none, |c| c.connect(now).map(|()| None)),
        &["no protocol version"],
    ));

    let mut c = connected_client(Version::V1_2);
    cases.push((
        "D-16",
        refused(&mut c, |c| c.connect(now).map(|()| None)),
        &["CONNECT", "already"],
    ));
    cases.push((
        "S-2",
        refused(&mut c, |c| c.send_frame(now, Frame::new(Command::Message))),
        &["MESSAGE", "not a client command"],
    ));
    cases.push((
        "S-3",
        refused(&mut c, |c| c.send_frame(now, Frame::new(Command::Send))),
        &["SEND", "\"destination\"", "1.2"],
    ));
    let no_ack = Frame::builder(Command::Message)
        .header("message-id", "m")
        .build();
    cases.push((
        "S-7",
        refused(&mut c, |c| c.ack(now, &no_ack, opts())),
        &["ACK", "\"ack\"", "1.2"],
    ));
    cases.push((
        "S-5",
        refused(&mut c, |c| {
            c.send_frame(
                now,
                Frame::builder(Command::Subscribe)
                    .header("id", "s")
                    .header("destination", "/q")
                    .header("ack", "never")
                    .build(),
            )
        }),
        &["\"never\"", "1.2"],
    ));
    c.subscribe(now, "s", "/q", AckMode::Auto, opts()).unwrap();
    cases.push((
        "S-4",
        refused(&mut c, |c| {
            c.subscribe(now, "s", "/r", AckMode::Auto, opts())
        }),
        &["\"s\"", "already in use"],
    ));
    cases.push((
        "S-6",
        refused(&mut c, |c| c.unsubscribe(now, "nope", opts())),
        &["\"nope\""],
    ));
    c.begin(now, "t", opts()).unwrap();
    cases.push((
        "S-11",
        refused(&mut c, |c| c.begin(now, "t", opts())),
        &["\"t\"", "already open"],
    ));
    cases.push((
        "S-11",
        refused(&mut c, |c| c.commit(now, "t9", opts())),
        &["\"t9\"", "not open"],
    ));
    c.send(now, "/q", "x", opts().receipt_id("r-1")).unwrap();
    cases.push((
        "R-1",
        refused(&mut c, |c| c.send(now, "/q", "x", opts().receipt_id("r-1"))),
        &["\"r-1\"", "pending"],
    ));
    let _ = c.poll_transmit();

    let mut c10 = connected_client(Version::V1_0);
    let m = Frame::builder(Command::Message)
        .header("message-id", "m")
        .build();
    cases.push((
        "S-1",
        refused(&mut c10, |c| c.nack(now, &m, opts())),
        &["NACK", "1.0"],
    ));

    let mut c11 = connected_client(Version::V1_1);
    cases.push((
        "E-9",
        refused(&mut c11, |c| {
            // A CR ending a 1.1 value would read back as a CRLF's (a CR inside is written raw).
            c.send(now, "/q", "x", opts().header("h", "a\r"))
        }),
        &["\"h\"", "1.1", "carriage return"],
    ));

    let mut gone = connected_client(Version::V1_2);
    gone.disconnect(now, opts().receipt()).unwrap();
    cases.push((
        "R-6",
        refused(&mut gone, |c| c.send(now, "/q", "x", opts())),
        &["SEND", "after DISCONNECT"],
    ));
    gone.handle_close();
    cases.push((
        "D-23",
        refused(&mut gone, |c| c.send(now, "/q", "x", opts())),
        &["closed"],
    ));

    // Server-side refusals.
    let mut s = ServerConnection::new(ServerConfig::default());
    let before = (s.pending_transmit(), s.pending_events());
    let err = s.accept(now, Accept::new()).unwrap_err();
    assert_eq!((s.pending_transmit(), s.pending_events()), before);
    cases.push(("C-10", err, &["no CONNECT"]));
    s.handle_input(now, CONNECT);
    let _ = server_events(&mut s);
    s.accept(now, Accept::new()).unwrap();
    let _ = drain(&mut s);
    let err = s
        .message(now, "nope", "m-1", &Frame::new(Command::Send))
        .unwrap_err();
    assert_eq!(s.pending_transmit(), 0, "a refused MESSAGE was queued");
    cases.push(("S-6", err, &["\"nope\""]));

    // H-8 (our output limit): a frame that would take the bytes waiting for the wire past
    // max_pending_transmit is refused, nothing queued, and the connection stays usable.
    // A SEND of 40 octets takes 81 bytes: one fits, two do not, a small one still does.
    let mut full_config = ClientConfig::new("/").max_pending_transmit(140);
    full_config.heartbeat = stomp_codec::Heartbeat::NONE;
    let mut small = ClientConnection::new(full_config);
    small.connect(now).unwrap();
    let _ = small.poll_transmit();
    small.handle_input(now, b"CONNECTED\nversion:1.2\n\n\0");
    let _ = client_events(&mut small);
    small.send(now, "/q", vec![b'x'; 40], opts()).unwrap();
    cases.push((
        "H-8",
        refused(&mut small, |c| c.send(now, "/q", vec![b'y'; 40], opts())),
        &["output full", "at most"],
    ));
    cases
}

#[test]
fn usage_errors_are_precise_and_change_nothing() {
    for (rule, err, message) in usage_cases() {
        check_message(&err.to_string(), message, rule);
    }
}

// ---- coverage --------------------------------------------------------------------------------

#[test]
fn every_variant_is_produced() {
    let decode: BTreeSet<&str> = decode_cases()
        .iter()
        .map(|c| variants::decode_error_variant(&c.error))
        .collect();
    let encode: BTreeSet<&str> = encode_cases()
        .iter()
        .map(|c| variants::encode_error_variant(&c.3))
        .collect();
    let connection: BTreeSet<&str> = connection_cases()
        .iter()
        .map(|c| variants::connection_error_variant(&c.1))
        .collect();
    let usage: BTreeSet<&str> = usage_cases()
        .iter()
        .map(|c| variants::usage_error_variant(&c.1))
        .collect();
    let rules: BTreeSet<&str> = connection_cases()
        .iter()
        .filter_map(|c| match &c.1 {
            ConnectionError::Rule(rule) => Some(variants::rule_violation_variant(rule)),
            _ => None,
        })
        .chain(usage_cases().iter().filter_map(|c| match &c.1 {
            UsageError::Rule(rule) => Some(variants::rule_violation_variant(rule)),
            _ => None,
        }))
        .collect();
    for (produced, all, name) in [
        (rules, variants::RULE_VIOLATION_VARIANTS, "RuleViolation"),
        (decode, variants::DECODE_ERROR_VARIANTS, "DecodeError"),
        (encode, variants::ENCODE_ERROR_VARIANTS, "EncodeError"),
        (
            connection,
            variants::CONNECTION_ERROR_VARIANTS,
            "ConnectionError",
        ),
        (usage, variants::USAGE_ERROR_VARIANTS, "UsageError"),
    ] {
        let missing: Vec<&&str> = all.iter().filter(|v| !produced.contains(*v)).collect();
        assert!(
            missing.is_empty(),
            "{name} variants no test produces: {missing:?}"
        );
    }
}

// ---- known message defects (kept out of the run until fixed) ---------------------------------

/// C-9: the message should say which versions the client offered, as `accept-version` lists
/// them; it prints the set's `Debug` form (`VersionSet(1)`) instead.
#[test]
fn no_common_version_names_the_offered_versions_c9() {
    let err = server_failure(
        ServerConfig::default().versions(VersionSet::EMPTY.with(Version::V1_2)),
        b"",
        false,
        b"CONNECT\naccept-version:1.0\n\n\0",
    );
    check_message(
        &err.to_string(),
        &["client offers 1.0", "server supports 1.2"],
        "C-9",
    );
}
