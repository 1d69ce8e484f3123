//! Memory under attack: what the decoder and the connections hold while a hostile peer sends
//! input built to make them grow, measured with `Decoder::buffered()` (or the caller's buffer
//! with `Decoder::decode`) and the connections' `buffered_input()`, `pending_events()` and
//! `pending_transmit()`.
//!
//! The decoder promise (D-12, H-8, `Limits`): whatever arrives, it never holds more than the
//! limit that applies plus the last chunk pushed, it stops with that limit's error at that
//! limit's offset, and after the error it holds nothing. Attacks keep their nature with the
//! default limits where that is cheap, and shrink the limit where the attack would otherwise
//! move megabytes one byte at a time; every loop is bounded.
//!
//! The connection promise (connection module docs, "Queues and memory"): input is applied as
//! events are polled, so bytes fed and not yet polled wait undecoded (`buffered_input()`), the
//! event queue holds the events of the frame applied last (a few more when closing), the
//! transmit queue holds what the application queued plus at most one heart-beat EOL, and once
//! every event is polled the connection holds at most the unfinished frame. A peer's flood
//! therefore grows only what the caller reads without polling: the back-pressure rule is the
//! caller's — stop reading the transport while `buffered_input()` is above its budget. State
//! that outlives events (subscriptions, transactions) is capped by the server (H-8).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stomp_codec::{
    Accept, ClientConfig, ClientConnection, ClientEvent, ConnectionError, DecodeError, Decoder,
    FrameOptions, Heartbeat, LimitKind, Limits, ServerConfig, ServerConnection, ServerEvent,
    Version,
};

/// What feeding `chunks` to a fresh decoder did: the error (with the number of octets pushed
/// when it came) and the most the decoder held after any chunk was decoded as far as it goes.
struct Attack {
    error: Option<(DecodeError, u64)>,
    max_held: usize,
    items: usize,
}

/// Pushes each chunk and decodes all it can, checking after every chunk that the decoder holds
/// at most `bound` + the chunk, and that once failed it holds nothing and repeats its error.
fn attack<'a>(
    mut decoder: Decoder,
    chunks: impl Iterator<Item = &'a [u8]>,
    bound: usize,
) -> Attack {
    let mut out = Attack {
        error: None,
        max_held: 0,
        items: 0,
    };
    let mut pushed = 0u64;
    for chunk in chunks {
        decoder.push(chunk);
        pushed += chunk.len() as u64;
        assert!(
            decoder.buffered() <= bound + chunk.len(),
            "holding {} octets before decoding, bound {bound} + chunk {}",
            decoder.buffered(),
            chunk.len()
        );
        loop {
            match decoder.next_item() {
                Ok(Some(_)) => out.items += 1,
                Ok(None) => break,
                Err(err) => {
                    match &out.error {
                        None => out.error = Some((err, pushed)),
                        Some((first, _)) => assert_eq!(&err, first, "the error must be sticky"),
                    }
                    break;
                }
            }
        }
        out.max_held = out.max_held.max(decoder.buffered());
        assert!(
            decoder.buffered() <= bound,
            "holding {} octets after decoding, bound {bound}",
            decoder.buffered()
        );
        if out.error.is_some() {
            assert_eq!(
                decoder.buffered(),
                0,
                "a failed decoder must drop its input"
            );
        }
    }
    out
}

fn limit(offset: u64, limit: LimitKind, max: usize) -> DecodeError {
    DecodeError::LimitExceeded { offset, limit, max }
}

/// `prefix`, then `fill` repeated up to `total` octets, as chunks of `chunk` octets.
fn stream(prefix: &[u8], fill: &[u8], total: usize, chunk: usize) -> Vec<Vec<u8>> {
    let mut all = prefix.to_vec();
    while all.len() < total {
        all.extend_from_slice(fill);
    }
    all.chunks(chunk).map(<[u8]>::to_vec).collect()
}

// ---- the decoder -----------------------------------------------------------------------------

/// D-12: a header line that never ends, one byte per push, with the default 8 KiB line limit.
#[test]
fn an_endless_header_line_dripped_byte_by_byte_stops_at_the_line_limit_d12() {
    let max = Limits::DEFAULT_HEADER_LINE;
    let chunks = stream(b"SEND\n", b"a", 5 + max + 1000, 1);
    let result = attack(
        Decoder::new(Version::V1_2),
        chunks.iter().map(Vec::as_slice),
        5 + max,
    );
    let (err, pushed) = result.error.expect("the line limit fires");
    assert_eq!(err, limit(5 + max as u64, LimitKind::HeaderLine, max));
    // It fired as the first octet past the limit arrived, not later.
    assert_eq!(pushed, 5 + max as u64 + 1);
    assert_eq!(result.max_held, 5 + max);
}

/// D-12: the command line too (64 octets by default), and a name without colon.
#[test]
fn an_endless_command_line_stops_at_its_limit_d12() {
    let chunks = stream(b"", b"SEND", 10_000, 1);
    let result = attack(
        Decoder::new(Version::V1_1),
        chunks.iter().map(Vec::as_slice),
        64,
    );
    let (err, pushed) = result.error.expect("the command limit fires");
    assert_eq!(err, limit(64, LimitKind::CommandLine, 64));
    assert_eq!(pushed, 65);
}

/// D-12, H-1: `content-length: 2^63` is refused when the head ends, at its line, before a body
/// octet is held; the body that follows is dropped.
#[test]
fn a_content_length_of_2_pow_63_is_refused_before_the_body_d12() {
    let head = b"SEND\ndestination:/q\ncontent-length:9223372036854775808\n\n";
    let body = vec![b'x'; 64 * 1024];
    let chunks = std::iter::once(&head[..]).chain(std::iter::repeat_n(&body[..], 16));
    let result = attack(Decoder::new(Version::V1_2), chunks, head.len());
    let (err, pushed) = result.error.expect("the body limit fires");
    assert_eq!(err, limit(20, LimitKind::Body, Limits::DEFAULT_BODY));
    assert_eq!(
        pushed,
        head.len() as u64,
        "refused with the head, before any body octet"
    );

    // With max_body lifted, max_frame still refuses it (at the same line).
    let limits = Limits::default().max_body(usize::MAX);
    let chunks = std::iter::once(&head[..]).chain(std::iter::repeat_n(&body[..], 4));
    let result = attack(
        Decoder::with_limits(Version::V1_2, limits),
        chunks,
        head.len(),
    );
    assert_eq!(
        result.error.map(|(e, _)| e),
        Some(limit(20, LimitKind::Frame, limits.max_frame))
    );

    // 2^64 does not fit a u64: not a length at all (D-9).
    let mut dec = Decoder::new(Version::V1_2);
    dec.push(b"SEND\ncontent-length:18446744073709551616\n\n");
    assert!(matches!(
        dec.next_item(),
        Err(DecodeError::InvalidContentLength { offset: 5, .. })
    ));
}

/// D-12: a million tiny headers stop at the header count (128), or, with the count lifted,
/// at the header bytes (64 KiB); either way the decoder holds at most the head plus a chunk.
#[test]
fn a_million_tiny_headers_stop_at_the_count_or_the_header_bytes_d12() {
    let chunk: Vec<u8> = b"a:b\n".repeat(1024);
    let first = b"SEND\n".to_vec();
    let chunks =
        || std::iter::once(first.as_slice()).chain(std::iter::repeat_n(chunk.as_slice(), 977));

    let result = attack(
        Decoder::new(Version::V1_2),
        chunks(),
        Limits::DEFAULT_HEADER_BYTES,
    );
    let (err, pushed) = result.error.expect("the header count fires");
    assert_eq!(err, limit(5 + 128 * 4, LimitKind::HeaderCount, 128));
    assert_eq!(pushed, 5 + 4096, "in the first chunk of headers");

    let limits = Limits::default().max_headers(Limits::HEADER_CEILING);
    let result = attack(
        Decoder::with_limits(Version::V1_2, limits),
        chunks(),
        Limits::DEFAULT_HEADER_BYTES,
    );
    let (err, pushed) = result.error.expect("the header bytes fire");
    let max = Limits::DEFAULT_HEADER_BYTES;
    assert_eq!(err, limit(max as u64, LimitKind::HeaderBytes, max));
    assert!(pushed > max as u64 && pushed <= (max + chunk.len()) as u64);
    assert!(result.max_held < max);
}

/// D-13: a million heart-beat EOLs are a million items and nothing held between them; a CRLF
/// cut between two pushes holds its one CR.
#[test]
fn a_million_heartbeats_hold_nothing_d13() {
    let lf = vec![b'\n'; 4096];
    let result = attack(
        Decoder::new(Version::V1_2),
        std::iter::repeat_n(lf.as_slice(), 245),
        0,
    );
    assert!(result.error.is_none());
    assert_eq!(result.items, 245 * 4096);
    assert_eq!(result.max_held, 0);

    // CRLF in 4095-octet chunks: every other chunk ends in a CR that waits for its LF.
    let crlf: Vec<u8> = b"\r\n".repeat(250_000);
    let result = attack(Decoder::new(Version::V1_2), crlf.chunks(4095), 1);
    assert!(result.error.is_none());
    assert_eq!(result.items, 250_000);
    assert_eq!(result.max_held, 1);
}

/// D-12, F-7: a body without NUL that never ends stops at `body_start + max_body`, with the
/// default 8 MiB in 64 KiB pushes, and with a 1 KiB limit one byte per push.
#[test]
fn a_body_without_nul_that_never_ends_stops_at_the_body_limit_d12() {
    let head = b"SEND\n\n";
    let body = vec![b'x'; 64 * 1024];
    let max = Limits::DEFAULT_BODY;
    let chunks =
        std::iter::once(&head[..]).chain(std::iter::repeat_n(&body[..], max / body.len() + 4));
    let result = attack(Decoder::new(Version::V1_2), chunks, head.len() + max);
    let (err, pushed) = result.error.expect("the body limit fires");
    assert_eq!(err, limit((head.len() + max) as u64, LimitKind::Body, max));
    assert!(pushed > (head.len() + max) as u64);
    assert!(pushed <= (head.len() + max + body.len()) as u64);

    let limits = Limits::default().max_body(1024);
    let chunks = stream(head, b"y", head.len() + 3000, 1);
    let result = attack(
        Decoder::with_limits(Version::V1_0, limits),
        chunks.iter().map(Vec::as_slice),
        head.len() + 1024,
    );
    let (err, pushed) = result.error.expect("the body limit fires");
    assert_eq!(err, limit(6 + 1024, LimitKind::Body, 1024));
    assert_eq!(pushed, 6 + 1024 + 1);

    // max_frame below head + body: the frame limit fires first, at max_frame.
    let limits = Limits::default().max_body(1024).max_frame(500);
    let result = attack(
        Decoder::with_limits(Version::V1_2, limits),
        chunks.iter().map(Vec::as_slice),
        500,
    );
    assert_eq!(
        result.error.map(|(e, _)| e),
        Some(limit(500, LimitKind::Frame, 500))
    );
}

/// The same bound for callers that own the buffer (`Decoder::decode`): the decoder stops the
/// caller's buffer from growing past the limit plus one read.
#[test]
fn a_caller_owned_buffer_stops_growing_at_the_limit_d12() {
    let limits = Limits::default().max_body(4096);
    let mut dec = Decoder::with_limits(Version::V1_2, limits);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"MESSAGE\n\n");
    let read = [b'z'; 1000];
    let mut failed = None;
    for _ in 0..100 {
        buf.extend_from_slice(&read);
        match dec.decode(&mut buf) {
            Ok(None) => assert!(buf.len() <= 9 + 4096, "held {}", buf.len()),
            Ok(Some(item)) => panic!("no item expected, got {item:?}"),
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    assert_eq!(failed, Some(limit(9 + 4096, LimitKind::Body, 4096)));
    assert!(buf.len() <= 9 + 4096 + read.len());
}

/// With `Limits::unlimited()` (documented as unsafe for untrusted input) a declared length is
/// still no reason to allocate it before it arrives: the decoder reserves room for the whole
/// declared frame at once, so `content-length: 2^63` panics ("capacity overflow") and a few
/// terabytes abort the process on allocation failure.
#[test]
fn a_huge_declared_length_is_not_reserved_up_front() {
    let mut dec = Decoder::with_limits(Version::V1_2, Limits::unlimited());
    dec.push(b"SEND\ncontent-length:9223372036854775808\n\n");
    assert_eq!(dec.next_item(), Ok(None));
    dec.push(b"x");
    assert_eq!(dec.next_item(), Ok(None));
    assert_eq!(dec.buffered(), 42);
    let mut own = BytesMut::from(&b"SEND\ncontent-length:9223372036854775808\n\nx"[..]);
    let mut dec = Decoder::with_limits(Version::V1_2, Limits::unlimited());
    assert_eq!(dec.decode(&mut own), Ok(None));
}

// ---- the connections -------------------------------------------------------------------------

const CONNECT: &[u8] = b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,1000\n\n\0";

/// A server that has accepted a 1.2 session and handed out its CONNECTED.
fn accepted_server(limits: Limits) -> (ServerConnection, Instant) {
    let now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default().limits(limits));
    s.handle_input(now, CONNECT);
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
    s.accept(now, Accept::new()).unwrap();
    assert!(s.poll_transmit().is_some());
    (s, now)
}

/// Feeds `input` in `chunk`-octet reads and, after each read, polls every event as the drive
/// loop does; returns the events and checks that no more than one unfinished frame (plus the
/// read) is ever held, and that the event queue holds no more than `per_frame` events at once.
fn drive_server(
    s: &mut ServerConnection,
    now: Instant,
    input: &[u8],
    chunk: usize,
    per_frame: usize,
) -> Vec<ServerEvent> {
    let max_frame = s.config().limits.max_frame;
    let mut events = Vec::new();
    for read in input.chunks(chunk) {
        if s.input(now, read).is_err() {
            break;
        }
        while let Some(event) = s.poll_event() {
            assert!(
                s.pending_events() < per_frame,
                "{} events queued",
                s.pending_events()
            );
            events.push(event);
        }
        assert!(
            s.buffered_input() <= max_frame,
            "{} octets held after the events were polled",
            s.buffered_input()
        );
    }
    events
}

/// A flood of SENDs asking for receipts. Input is applied as events are polled, so while the
/// application does not poll, the bytes wait undecoded (`buffered_input()` is exactly what was
/// fed), no event is made, and the server answers nothing by itself (receipts are the
/// application's to send, R-3): only a heart-beat EOL is queued, at most one however long the
/// flood lasts (B-4). Polling then yields one event per frame, one at a time, and leaves
/// nothing held. (How far an application that never polls can go is the next test.)
#[test]
fn a_send_flood_with_receipts_waits_undecoded_until_polled() {
    let (mut s, mut now) = accepted_server(Limits::default());
    let frame = b"SEND\ndestination:/queue/flood\nreceipt:r\n\nbody\0";
    let batch: Vec<u8> = frame.repeat(100);
    let mut fed = 0;
    for _ in 0..200 {
        s.handle_input(now, &batch);
        fed += batch.len();
        assert_eq!(
            s.pending_events(),
            0,
            "nothing is decoded before it is polled"
        );
        assert_eq!(s.buffered_input(), fed, "the bytes wait, undecoded");
        // Time passes; the server beats at most once into an undrained queue.
        now += Duration::from_secs(10);
        s.handle_timeout(now);
        assert!(
            s.pending_transmit() <= 1,
            "{} bytes queued",
            s.pending_transmit()
        );
    }
    assert_eq!(s.pending_transmit(), 1, "one heart-beat EOL waits");
    // Polling gives exactly the frames fed, in order, each with its receipt, one at a time.
    let mut n = 0;
    while let Some(event) = s.poll_event() {
        assert!(matches!(event, ServerEvent::Send { receipt: Some(ref r), .. } if r == "r"));
        assert_eq!(s.pending_events(), 0, "one frame is applied per poll");
        n += 1;
        assert_eq!(s.buffered_input(), fed - n * frame.len());
    }
    assert_eq!(n, 20_000);
    assert_eq!(s.buffered_input(), 0);
    assert_eq!(
        s.pending_transmit(),
        1,
        "no RECEIPT without the application"
    );
}

/// An application that reads the transport and never polls: once more than `max_frame`
/// octets wait unapplied, the next input fails the connection with `InputNotPolled` and an
/// ERROR (H-8: a server may refuse input it cannot hold), so what the server holds never
/// exceeds `max_frame` plus one read, however long the flood.
#[test]
fn a_server_that_is_never_polled_holds_at_most_a_frame_plus_a_read_h8() {
    let max = 64 * 1024;
    let (mut s, now) = accepted_server(Limits::default().max_frame(max));
    let batch = b"SEND\ndestination:/queue/flood\nreceipt:r\n\nbody\0".repeat(100);
    let mut failed = None;
    for _ in 0..10_000 {
        match s.input(now, &batch) {
            Ok(()) => assert!(s.buffered_input() <= max + batch.len()),
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    let Some(ConnectionError::InputNotPolled { buffered, max: m }) = failed.clone() else {
        panic!("expected InputNotPolled, got {failed:?}");
    };
    assert_eq!(m, max);
    assert!(
        buffered > max && buffered <= max + batch.len(),
        "{buffered}"
    );
    assert_eq!(s.failure(), failed.as_ref());
    // Nothing more is taken, and the same error is repeated.
    let held = s.buffered_input();
    assert!(held <= max + batch.len());
    assert_eq!(s.input(now, &batch).err(), failed);
    assert_eq!(s.buffered_input(), held);
    // The client is told why before the close.
    let wire = s.poll_transmit().expect("ERROR queued");
    let mut d = Decoder::new(Version::V1_2);
    d.push(&wire);
    let Ok(Some(stomp_codec::Item::Frame(error))) = d.next_item() else {
        panic!("not a frame: {wire:?}");
    };
    assert_eq!(error.command(), &stomp_codec::Command::Error);
    assert_eq!(
        error.headers().get("message"),
        Some(&b"too much unprocessed input"[..])
    );
}

/// The same for a client whose application stops polling during a MESSAGE flood.
#[test]
fn a_client_that_is_never_polled_holds_at_most_a_frame_plus_a_read_h8() {
    let max = 16 * 1024;
    let now = Instant::now();
    let mut c = ClientConnection::new(
        ClientConfig::new("/")
            .heartbeat(Heartbeat::NONE)
            .limits(Limits::default().max_frame(max)),
    );
    c.connect(now).unwrap();
    let _ = c.poll_transmit();
    c.handle_input(now, b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    let batch = b"MESSAGE\ndestination:/q\nmessage-id:m\nsubscription:s\n\nhi\0\n".repeat(10);
    let mut fed = 0;
    let err = loop {
        match c.input(now, &batch) {
            Ok(()) => fed += batch.len(),
            Err(err) => break err,
        }
        assert!(c.buffered_input() <= max + batch.len());
        assert!(fed < 10 * max, "never refused");
    };
    assert_eq!(err, ConnectionError::InputNotPolled { buffered: fed, max });
    assert!(fed > max && fed <= max + batch.len());
    assert_eq!(c.input(now, b"\n"), Err(err.clone()));
    assert_eq!(c.buffered_input(), fed);
    // The application learns of it as the connection's end.
    let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).take(5).collect();
    assert!(
        matches!(events.last(), Some(ClientEvent::Closed(_))),
        "{events:?}"
    );
}

/// The same flood read by the documented drive loop (poll after every read): the server never
/// holds more than the unfinished frame, and never more than one event.
#[test]
fn a_send_flood_read_by_the_drive_loop_holds_one_frame_at_most() {
    let (mut s, now) = accepted_server(Limits::default().max_frame(4096));
    let frame = b"SEND\ndestination:/queue/flood\nreceipt:r\n\nbody\0";
    let input = frame.repeat(20_000);
    // Reads of 1000 octets cut frames anywhere (F-11).
    let events = drive_server(&mut s, now, &input, 1000, 1);
    assert_eq!(events.len(), 20_000);
    assert_eq!(s.buffered_input(), 0);
}

/// Heart-beats are activity only: a million of them add no event, and once polled nothing is
/// held (D-13).
#[test]
fn a_heartbeat_flood_queues_nothing() {
    let (mut s, now) = accepted_server(Limits::default());
    let eols = vec![b'\n'; 1 << 16];
    for _ in 0..16 {
        s.handle_input(now, &eols);
        assert_eq!(s.buffered_input(), eols.len(), "waiting to be polled");
        assert_eq!(s.poll_event(), None, "a heart-beat is no event");
        assert_eq!(s.buffered_input(), 0);
        assert_eq!(s.pending_transmit(), 0);
    }
}

/// A frame that never ends, read by the drive loop: the decoder limit ends it with ERROR (H-8)
/// once the octet past the limit is polled, and the connection holds nothing more.
#[test]
fn an_endless_frame_into_a_server_ends_with_error_h8() {
    let limits = Limits::default().max_body(4096);
    let (mut s, now) = accepted_server(limits);
    let mut input = b"SEND\ndestination:/q\n\n".to_vec();
    input.resize(input.len() + 100_000, b'x');
    let events = drive_server(&mut s, now, &input, 1000, 2);
    let expected = ConnectionError::Decode(limit(
        21 + 4096 + CONNECT.len() as u64,
        LimitKind::Body,
        4096,
    ));
    assert_eq!(s.failure(), Some(&expected));
    assert!(events.is_empty(), "no frame was complete: {events:?}");
    assert_eq!(s.buffered_input(), 0);
    assert!(s.poll_transmit().is_some(), "ERROR queued");
    assert_eq!(s.input(now, b"more"), Err(expected));
}

/// D-16: before `accept`, a server holds at most a frame of what the client sends after its
/// CONNECT, then fails the connection instead of buffering more — at once, in `handle_input`,
/// since nothing can be polled while the CONNECT waits for the application.
#[test]
fn before_accept_a_server_holds_at_most_a_frame_d16() {
    let limits = Limits::default().max_frame(4096);
    let now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default().limits(limits));
    s.handle_input(now, CONNECT);
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
    let frame = b"SEND\ndestination:/q\n\n0123456789\0".repeat(10);
    let mut failed = None;
    for _ in 0..1000 {
        match s.input(now, &frame) {
            Ok(()) => assert!(s.buffered_input() <= limits.max_frame),
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    assert!(matches!(
        failed,
        Some(ConnectionError::InputBeforeConnected { buffered }) if buffered <= 4096 + frame.len()
    ));
    // Held, never decoded: no frame after the CONNECT was reported.
    let events: Vec<ServerEvent> = std::iter::from_fn(|| s.poll_event()).take(10).collect();
    assert!(
        events.iter().all(|e| matches!(e, ServerEvent::Closed(_))),
        "{events:?}"
    );
}

fn connected_client(heartbeat: Heartbeat, connected: &[u8]) -> (ClientConnection, Instant) {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(heartbeat));
    c.connect(now).unwrap();
    assert!(c.poll_transmit().is_some());
    c.handle_input(now, connected);
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    (c, now)
}

/// A MESSAGE flood into a client: nothing is decoded until polled, the client answers
/// nothing by itself, and polling applies one frame per event.
#[test]
fn a_message_flood_into_a_client_waits_until_polled() {
    let (mut c, now) = connected_client(Heartbeat::NONE, b"CONNECTED\nversion:1.2\n\n\0");
    let frame = b"MESSAGE\ndestination:/q\nmessage-id:m\nsubscription:s\n\nhi\0\n";
    let batch = frame.repeat(100);
    for round in 1..=100 {
        c.handle_input(now, &batch);
        assert_eq!(c.pending_events(), 0);
        assert_eq!(c.pending_transmit(), 0);
        assert_eq!(c.buffered_input(), round * batch.len());
    }
    let mut n = 0;
    while let Some(event) = c.poll_event() {
        assert!(matches!(event, ClientEvent::Message(_)));
        assert!(c.pending_events() <= 1);
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert_eq!(c.buffered_input(), 0);
    assert_eq!(c.pending_transmit(), 0);
}

/// The transmit queue holds exactly what the application queued; the heart-beat timer adds
/// nothing while bytes wait (they carry the beat), and one EOL per due timer once drained.
#[test]
fn the_client_transmit_queue_holds_only_what_the_app_sent_b4() {
    let (mut c, mut now) = connected_client(
        Heartbeat::new(1000, 0),
        b"CONNECTED\nversion:1.2\nheart-beat:0,1000\n\n\0",
    );
    let mut queued = 0;
    for i in 0..1000 {
        c.send(now, "/q", format!("message {i}"), FrameOptions::new())
            .unwrap();
        let added = c.pending_transmit() - queued;
        queued = c.pending_transmit();
        assert!(added > 0);
        now += Duration::from_secs(5);
        c.handle_timeout(now);
        assert_eq!(
            c.pending_transmit(),
            queued,
            "a heart-beat joined waiting bytes"
        );
    }
    let bytes = c.poll_transmit().unwrap();
    assert_eq!(bytes.len(), queued);
    // Drained: each due timer adds one EOL, a call at the same instant adds none.
    for _ in 0..3 {
        now += Duration::from_secs(1);
        c.handle_timeout(now);
        c.handle_timeout(now);
        assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    }
}

/// State that is not a queue: every SUBSCRIBE and BEGIN a client sends with a fresh id stays
/// in the server's tables (S-4, S-11) until UNSUBSCRIBE, COMMIT/ABORT or the end of the
/// connection, so the server caps them (`max_subscriptions`, `max_transactions`, H-8): one
/// more is answered with ERROR and the connection closes.
#[test]
fn subscriptions_and_transactions_are_capped_h8() {
    for (make, max, what) in [
        (
            (|i: usize| format!("SUBSCRIBE\nid:s{i}\ndestination:/q\n\n\0")) as fn(usize) -> String,
            stomp_codec::DEFAULT_MAX_SUBSCRIPTIONS,
            "subscriptions",
        ),
        (
            |i: usize| format!("BEGIN\ntransaction:t{i}\n\n\0"),
            stomp_codec::DEFAULT_MAX_TRANSACTIONS,
            "transactions",
        ),
    ] {
        let (mut s, now) = accepted_server(Limits::default());
        let input: Vec<u8> = (0..5000).flat_map(|i| make(i).into_bytes()).collect();
        // Closing reports every open transaction aborted at once (R-7): at most `max` events.
        let events = drive_server(&mut s, now, &input, 4096, max + 2);
        let applied = events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Subscribe { .. } | ServerEvent::Begin { .. }))
            .count();
        assert_eq!(applied, max, "{what}");
        let expected = if what == "subscriptions" {
            ConnectionError::TooManySubscriptions { max }
        } else {
            ConnectionError::TooManyTransactions { max }
        };
        assert_eq!(s.failure(), Some(&expected), "{what}");
        // R-7: the open transactions are reported aborted as the connection ends.
        let aborted = events
            .iter()
            .filter(|e| matches!(e, ServerEvent::TransactionAborted { .. }))
            .count();
        assert_eq!(aborted, if what == "transactions" { max } else { 0 });
        assert!(s.poll_transmit().is_some(), "ERROR queued");
    }
}
