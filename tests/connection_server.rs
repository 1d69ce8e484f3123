//! The server role: validation of client frames with ERROR + close (D-16, D-24, H-8, R-9,
//! R-11, R-12, S-2), MESSAGE building (S-13, S-14), transactions (S-11, R-7), and its own
//! refusals.
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::Instant;

use common_connection::*;
use stomp_codec::{
    Accept, AckMode, CloseReason, Command, ConnectionError, Frame, Limits, MessageIds,
    RuleViolation, ServerConfig, ServerConnection, ServerEvent, UsageError, Version,
};

fn connect_text(version: Version) -> String {
    match version {
        Version::V1_0 => "CONNECT\n\n\0".into(),
        v => format!("CONNECT\naccept-version:{v}\nhost:/\n\n\0"),
    }
}

fn server(version: Version, now: Instant) -> ServerConnection {
    server_connected(ServerConfig::default(), now, &connect_text(version))
}

/// Feeds `input`, expects the connection to fail with an ERROR: returns the error, the ERROR
/// frame and the events before `Closed`.
fn fails(
    s: &mut ServerConnection,
    input: &[u8],
    version: Version,
) -> (ConnectionError, Frame, Vec<ServerEvent>) {
    let now = Instant::now();
    // The input is buffered; polling the events applies it and finds the error (R-3: in order).
    s.handle_input(now, input);
    let mut events = server_events(s);
    let err = s.failure().cloned().expect("the input is a protocol error");
    let out = drain_server(s);
    let fs = frames(&out, version);
    assert_eq!(fs.len(), 1, "exactly one ERROR: {fs:?}");
    assert!(is(&fs[0], Command::Error));
    assert_eq!(
        header(&fs[0], "message"),
        Some(err.error_message().as_bytes())
    );
    assert!(!fs[0].body().is_empty(), "R-10: details in the body");
    let closed = server_events(s);
    assert_eq!(
        closed,
        vec![ServerEvent::Closed(CloseReason::Failed(err.clone()))],
        "closed once the ERROR is handed out"
    );
    // D-23: nothing further is read; the error is sticky.
    assert_eq!(
        s.input(now, b"SEND\ndestination:/q\n\n\0"),
        Err(err.clone())
    );
    assert_eq!(server_events(s), vec![]);
    events.retain(|e| !matches!(e, ServerEvent::Closed(_)));
    (err, fs[0].clone(), events)
}

#[test]
fn the_first_frame_must_be_connect_d16_c1() {
    let mut s = ServerConnection::new(ServerConfig::default());
    let (err, _, events) = fails(&mut s, b"\n\r\nSEND\ndestination:/q\n\n\0", Version::V1_0);
    assert_eq!(
        err,
        ConnectionError::UnexpectedFrame {
            command: Command::Send,
            context: "before CONNECT"
        }
    );
    assert_eq!(events, vec![]);
}

#[test]
fn eols_before_connect_are_ignored_d16() {
    let now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    s.handle_input(now, b"\n\n\r\nCONNECT\naccept-version:1.2\n\n\0");
    assert!(matches!(
        server_events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
}

#[test]
fn a_second_connect_is_an_error_d16() {
    for command in ["CONNECT", "STOMP"] {
        let mut s = server(Version::V1_2, Instant::now());
        let input = format!("{command}\naccept-version:1.2\n\n\0");
        let (err, _, _) = fails(&mut s, input.as_bytes(), Version::V1_2);
        assert!(matches!(
            err,
            ConnectionError::UnexpectedFrame {
                context: "after CONNECT",
                ..
            }
        ));
    }
}

#[test]
fn server_commands_from_a_client_are_errors_s2() {
    for input in [
        "MESSAGE\ndestination:/q\nmessage-id:1\n\n\0",
        "CONNECTED\n\n\0",
        "RECEIPT\nreceipt-id:1\n\n\0",
        "ERROR\n\n\0",
    ] {
        let mut s = server(Version::V1_2, Instant::now());
        let (err, _, _) = fails(&mut s, input.as_bytes(), Version::V1_2);
        assert!(matches!(
            err,
            ConnectionError::UnexpectedFrame {
                context: "sent to a server",
                ..
            }
        ));
    }
}

#[test]
fn missing_required_headers_get_error_with_receipt_id_d24_r11() {
    let cases: &[(Version, &str, &str)] = &[
        (Version::V1_2, "SEND\nreceipt:r\n\nx\0", "destination"),
        (
            Version::V1_2,
            "SUBSCRIBE\nid:s\nreceipt:r\n\n\0",
            "destination",
        ),
        (
            Version::V1_1,
            "SUBSCRIBE\ndestination:/q\nreceipt:r\n\n\0",
            "id",
        ),
        (Version::V1_2, "UNSUBSCRIBE\nreceipt:r\n\n\0", "id"),
        (Version::V1_0, "UNSUBSCRIBE\nreceipt:r\n\n\0", "destination"),
        (Version::V1_2, "ACK\nmessage-id:1\nreceipt:r\n\n\0", "id"),
        (
            Version::V1_1,
            "ACK\nmessage-id:1\nreceipt:r\n\n\0",
            "subscription",
        ),
        (
            Version::V1_1,
            "NACK\nsubscription:s\nreceipt:r\n\n\0",
            "message-id",
        ),
        (Version::V1_0, "ACK\nid:1\nreceipt:r\n\n\0", "message-id"),
        (Version::V1_2, "BEGIN\nreceipt:r\n\n\0", "transaction"),
        (Version::V1_2, "COMMIT\nreceipt:r\n\n\0", "transaction"),
        (Version::V1_2, "ABORT\nreceipt:r\n\n\0", "transaction"),
    ];
    for (version, input, missing) in cases {
        let mut s = server(*version, Instant::now());
        let (err, error_frame, _) = fails(&mut s, input.as_bytes(), *version);
        match err {
            ConnectionError::Rule(RuleViolation::MissingHeader { header, .. }) => {
                assert_eq!(header, *missing, "{input:?}")
            }
            other => panic!("{input:?}: {other}"),
        }
        assert_eq!(header(&error_frame, "receipt-id"), Some(&b"r"[..]), "R-11");
    }
    // Without a receipt, no receipt-id.
    let mut s = server(Version::V1_2, Instant::now());
    let (_, error_frame, _) = fails(&mut s, b"SEND\n\n\0", Version::V1_2);
    assert_eq!(header(&error_frame, "receipt-id"), None);
}

#[test]
fn unknown_ack_modes_are_errors_s5_d24() {
    let mut s = server(Version::V1_2, Instant::now());
    let (err, _, _) = fails(
        &mut s,
        b"SUBSCRIBE\nid:s\ndestination:/q\nack:sometimes\n\n\0",
        Version::V1_2,
    );
    assert_eq!(
        err,
        ConnectionError::Rule(RuleViolation::InvalidAckMode {
            value: "sometimes".into(),
            version: Version::V1_2
        })
    );
    let mut s = server(Version::V1_0, Instant::now());
    let (err, _, _) = fails(
        &mut s,
        b"SUBSCRIBE\nid:s\ndestination:/q\nack:client-individual\n\n\0",
        Version::V1_0,
    );
    assert!(matches!(
        err,
        ConnectionError::Rule(RuleViolation::InvalidAckMode { .. })
    ));
}

#[test]
fn reused_subscription_and_transaction_ids_are_errors_s4_s11_d24() {
    let sub = b"SUBSCRIBE\nid:s\ndestination:/q\n\n\0";
    let mut s = server(Version::V1_2, Instant::now());
    let mut input = sub.to_vec();
    input.extend_from_slice(b"SUBSCRIBE\nid:s\ndestination:/r\nreceipt:r2\n\n\0");
    let (err, error_frame, events) = fails(&mut s, &input, Version::V1_2);
    assert_eq!(
        err,
        ConnectionError::Rule(RuleViolation::DuplicateSubscription { id: "s".into() })
    );
    assert_eq!(header(&error_frame, "receipt-id"), Some(&b"r2"[..]));
    assert!(
        matches!(events.as_slice(), [ServerEvent::Subscribe { .. }]),
        "{events:?}"
    );

    let mut s = server(Version::V1_2, Instant::now());
    let (err, _, events) = fails(
        &mut s,
        b"BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0",
        Version::V1_2,
    );
    assert_eq!(
        err,
        ConnectionError::Rule(RuleViolation::DuplicateTransaction {
            transaction: "t".into()
        })
    );
    // R-7: the open transaction is rolled back when the connection fails.
    assert_eq!(
        events,
        vec![
            ServerEvent::Begin {
                transaction: b("t"),
                receipt: None
            },
            ServerEvent::TransactionAborted {
                transaction: b("t")
            },
        ]
    );
}

#[test]
fn unknown_transactions_and_subscriptions_are_errors_s6_s11() {
    for input in [
        &b"COMMIT\ntransaction:t\n\n\0"[..],
        b"ABORT\ntransaction:t\n\n\0",
        b"SEND\ndestination:/q\ntransaction:t\n\n\0",
        b"ACK\nid:1\ntransaction:t\n\n\0",
    ] {
        let mut s = server(Version::V1_2, Instant::now());
        let (err, _, _) = fails(&mut s, input, Version::V1_2);
        assert_eq!(
            err,
            ConnectionError::Rule(RuleViolation::UnknownTransaction {
                transaction: "t".into()
            })
        );
    }
    let mut s = server(Version::V1_2, Instant::now());
    let (err, _, _) = fails(&mut s, b"UNSUBSCRIBE\nid:nope\n\n\0", Version::V1_2);
    assert_eq!(
        err,
        ConnectionError::Rule(RuleViolation::UnknownSubscription { id: "nope".into() })
    );
}

#[test]
fn nack_in_1_0_is_an_unknown_command_r12_s1() {
    let mut s = server(Version::V1_0, Instant::now());
    let (err, _, _) = fails(&mut s, b"NACK\nmessage-id:1\n\n\0", Version::V1_0);
    // The same rule the client's own NACK is refused by (one rule, both roles).
    assert_eq!(
        err,
        ConnectionError::Rule(RuleViolation::NotInVersion {
            command: Command::Nack,
            version: Version::V1_0,
        })
    );
}

#[test]
fn malformed_frames_get_error_and_close_h8() {
    // A bad escape (E-4) after negotiation.
    let mut s = server(Version::V1_2, Instant::now());
    let (err, f, _) = fails(&mut s, b"SEND\ndestination:/q\\t\n\n\0", Version::V1_2);
    assert!(matches!(err, ConnectionError::Decode(_)));
    assert_eq!(header(&f, "message"), Some(&b"malformed frame"[..]));
    // An unknown command before CONNECT (D-1).
    let mut s = ServerConnection::new(ServerConfig::default());
    let (err, _, _) = fails(&mut s, b"HELLO\n\n\0", Version::V1_0);
    assert!(matches!(err, ConnectionError::Decode(_)));
}

#[test]
fn limits_get_error_and_close_h8_d12() {
    let config = ServerConfig::default().limits(Limits::default().max_body(4));
    let mut s = server_connected(config, Instant::now(), &connect_text(Version::V1_2));
    let (err, f, _) = fails(
        &mut s,
        b"SEND\ndestination:/q\ncontent-length:5\n\nhello\0",
        Version::V1_2,
    );
    assert!(matches!(
        err,
        ConnectionError::Decode(stomp_codec::DecodeError::LimitExceeded { .. })
    ));
    assert_eq!(header(&f, "message"), Some(&b"frame too large"[..]));
}

#[test]
fn frames_are_reported_as_typed_events_s3_s4_s6_s7_s11() {
    let now = Instant::now();
    let mut s = server(Version::V1_2, now);
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:s\ndestination:/q\nack:client\nselector:x\n\n\0\
          BEGIN\ntransaction:t\nreceipt:1\n\n\0\
          SEND\ndestination:/q\ntransaction:t\nx-user:u\n\nbody\0\
          ACK\nid:m-1\ntransaction:t\n\n\0\
          NACK\nid:m-2\nsubscription:s\n\n\0\
          COMMIT\ntransaction:t\n\n\0\
          UNSUBSCRIBE\nid:s\nreceipt:2\n\n\0",
    );
    let events = server_events(&mut s);
    assert_eq!(events.len(), 7, "{events:?}");
    match &events[0] {
        ServerEvent::Subscribe {
            id,
            destination,
            ack,
            receipt,
            frame,
        } => {
            assert_eq!(
                (id, destination, *ack, receipt),
                (&b("s"), &b("/q"), AckMode::Client, &None)
            );
            assert_eq!(header(frame, "selector"), Some(&b"x"[..]), "S-16");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events[1],
        ServerEvent::Begin {
            transaction: b("t"),
            receipt: Some(b("1"))
        }
    );
    match &events[2] {
        ServerEvent::Send {
            transaction, frame, ..
        } => {
            assert_eq!(frame.destination(), Some(&b"/q"[..]));
            assert_eq!(transaction, &Some(b("t")));
            assert_eq!(frame.body(), b"body");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&events[3], ServerEvent::Ack { id, transaction: Some(_), subscription: None, .. } if id == &b("m-1"))
    );
    assert!(
        matches!(&events[4], ServerEvent::Nack { id, subscription: Some(sub), .. } if id == &b("m-2") && sub == &b("s"))
    );
    assert_eq!(
        events[5],
        ServerEvent::Commit {
            transaction: b("t"),
            receipt: None
        }
    );
    assert!(
        matches!(&events[6], ServerEvent::Unsubscribe { id, destination, receipt: Some(_), .. } if id == &b("s") && destination == &b("/q"))
    );
    assert_eq!(events[6].receipt(), Some(&b("2")));
    assert_eq!(s.subscription("s"), None);
    assert!(!s.is_transaction_open("t"));
}

#[test]
fn ack_ids_follow_the_version_s8_s9() {
    let now = Instant::now();
    let mut s = server(Version::V1_1, now);
    s.handle_input(now, b"ACK\nmessage-id:m-1\nsubscription:s\n\n\0");
    assert!(
        matches!(&server_events(&mut s)[0], ServerEvent::Ack { id, subscription: Some(_), .. } if id == &b("m-1"))
    );
    let mut s = server(Version::V1_0, now);
    s.handle_input(now, b"ACK\nmessage-id:m-1\n\n\0");
    assert!(matches!(&server_events(&mut s)[0], ServerEvent::Ack { id, .. } if id == &b("m-1")));
}

fn message_frame(s: &mut ServerConnection, version: Version) -> Frame {
    let fs = frames(&drain_server(s), version);
    assert_eq!(fs.len(), 1);
    fs[0].clone()
}

#[test]
fn message_carries_the_headers_each_version_requires_s13_s14() {
    let now = Instant::now();
    let send = Frame::builder(Command::Send)
        .header("destination", "/q")
        .header("receipt", "r")
        .header("transaction", "t")
        .header("content-type", "text/plain")
        .header("x-user", "u")
        .header("message-id", "forged")
        .body("hello")
        .build();
    // 1.2, client-individual: ack = message-id (S-14).
    let mut s = server(Version::V1_2, now);
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:s\ndestination:/q\nack:client-individual\n\n\0",
    );
    server_events(&mut s);
    let mut ids = MessageIds::new("m");
    let id = ids.next_id();
    s.message(now, "s", &id, &send).unwrap();
    assert_eq!(id, b("m-1"));
    let f = message_frame(&mut s, Version::V1_2);
    let got: Vec<_> = f.headers().iter().collect();
    let want: Vec<(&[u8], &[u8])> = vec![
        (b"destination", b"/q"),
        (b"message-id", b"m-1"),
        (b"subscription", b"s"),
        (b"ack", b"m-1"),
        (b"content-type", b"text/plain"),
        (b"x-user", b"u"),
        (b"content-length", b"5"),
    ];
    assert_eq!(got, want);
    assert_eq!(f.body(), b"hello");
    let id = ids.next_id();
    s.message(now, "s", &id, &send).unwrap();
    assert_eq!(id, b("m-2"), "unique ids");

    // 1.2 auto and 1.1 client: no ack header.
    for (version, ack) in [(Version::V1_2, "auto"), (Version::V1_1, "client")] {
        let mut s = server(version, now);
        let sub = format!("SUBSCRIBE\nid:s\ndestination:/q\nack:{ack}\n\n\0");
        s.handle_input(now, sub.as_bytes());
        server_events(&mut s);
        s.message(now, "s", "m-3", &send).unwrap();
        let f = message_frame(&mut s, version);
        assert_eq!(header(&f, "ack"), None);
        assert_eq!(header(&f, "subscription"), Some(&b"s"[..]));
    }

    // 1.0 SUBSCRIBE without id: no subscription header; the destination keys it.
    let mut s = server(Version::V1_0, now);
    s.handle_input(now, b"SUBSCRIBE\ndestination:/q\n\n\0");
    assert!(
        matches!(&server_events(&mut s)[0], ServerEvent::Subscribe { id, .. } if id == &b("/q"))
    );
    let plain = Frame::builder(Command::Send).body("x").build();
    s.message(now, "/q", "mine", &plain).unwrap();
    let f = message_frame(&mut s, Version::V1_0);
    assert_eq!(header(&f, "subscription"), None);
    assert_eq!(
        header(&f, "destination"),
        Some(&b"/q"[..]),
        "the subscription's"
    );
    assert_eq!(header(&f, "message-id"), Some(&b"mine"[..]));
    s.handle_input(now, b"UNSUBSCRIBE\ndestination:/q\n\n\0");
    assert!(matches!(
        &server_events(&mut s)[0],
        ServerEvent::Unsubscribe { .. }
    ));
    // S-6: in 1.0 a subscription made with an id may be ended by destination.
    let input = b"SUBSCRIBE\nid:x\ndestination:/r\n\n\0UNSUBSCRIBE\ndestination:/r\n\n\0";
    s.handle_input(now, input);
    assert!(matches!(
        &server_events(&mut s)[1],
        ServerEvent::Unsubscribe { id, .. } if id == &b("x")
    ));
    assert_eq!(s.subscriptions().count(), 0);
}

#[test]
fn the_server_refuses_what_it_may_not_send() {
    let now = Instant::now();
    let content = Frame::builder(Command::Send).body("x").build();
    let mut s = ServerConnection::new(ServerConfig::default());
    assert_eq!(
        s.message(now, "s", "m-4", &content),
        Err(UsageError::NotConnected {
            command: Command::Message
        })
    );
    assert_eq!(
        s.receipt(now, "r"),
        Err(UsageError::NotConnected {
            command: Command::Receipt
        })
    );
    s.handle_input(now, connect_text(Version::V1_1).as_bytes());
    server_events(&mut s);
    assert_eq!(
        s.message(now, "s", "m-5", &content),
        Err(UsageError::NotConnected {
            command: Command::Message
        }),
        "not before accept"
    );
    s.accept(now, Accept::new()).unwrap();
    drain_server(&mut s);
    assert_eq!(
        s.message(now, "s", "m-6", &content),
        Err(UsageError::Rule(RuleViolation::UnknownSubscription {
            id: "s".into()
        }))
    );
    s.handle_input(now, b"SUBSCRIBE\nid:s\ndestination:/q\n\n\0");
    server_events(&mut s);
    // A CR cannot end a 1.1 header value: written raw, it would read as a CRLF's (E-9).
    let cr = Frame::builder(Command::Send).header("k", "a\r").build();
    assert!(matches!(
        s.message(now, "s", "m-7", &cr),
        Err(UsageError::Encode(_))
    ));
    assert_eq!(s.pending_transmit(), 0);
    s.message(now, "s", "m-8", &content).unwrap();
    s.error(now, "bye").unwrap();
    assert_eq!(s.error(now, "again"), Err(UsageError::Closed));
    assert_eq!(
        s.message(now, "s", "m-9", &content),
        Err(UsageError::Closed)
    );
}

#[test]
fn frames_sent_after_connect_wait_for_accept_and_use_the_negotiated_version_e8_d16() {
    let now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    // `\c` is a colon in 1.2, but would be kept verbatim under the pre-negotiation 1.0 rules.
    s.handle_input(
        now,
        b"CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/q\nk:a\\cb\n\n\0",
    );
    assert!(matches!(
        server_events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    s.accept(now, Accept::new()).unwrap();
    match server_events(&mut s).as_slice() {
        [ServerEvent::Send { frame, .. }] => assert_eq!(header(frame, "k"), Some(&b"a:b"[..])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_much_input_before_accept_is_an_error_d16() {
    let now = Instant::now();
    let config = ServerConfig::default().limits(Limits::default().max_frame(64));
    let mut s = ServerConnection::new(config);
    s.handle_input(now, b"CONNECT\naccept-version:1.2\n\n\0");
    server_events(&mut s);
    s.handle_input(now, &[b'\n'; 64]);
    let err = s.input(now, b"\n").unwrap_err();
    assert_eq!(err, ConnectionError::InputBeforeConnected { buffered: 65 });
    assert!(is(
        &frames(&drain_server(&mut s), Version::V1_0)[0],
        Command::Error
    ));
}

#[test]
fn open_transactions_are_aborted_at_disconnect_and_eof_r7() {
    let now = Instant::now();
    let mut s = server(Version::V1_2, now);
    s.handle_input(
        now,
        b"BEGIN\ntransaction:b\n\n\0BEGIN\ntransaction:a\n\n\0COMMIT\ntransaction:b\n\n\0DISCONNECT\n\n\0",
    );
    let events = server_events(&mut s);
    assert_eq!(
        events[3..],
        [
            ServerEvent::TransactionAborted {
                transaction: b("a")
            },
            ServerEvent::Disconnect { receipt: None },
            ServerEvent::Closed(CloseReason::Disconnected),
        ]
    );
    let mut s = server(Version::V1_2, now);
    s.handle_input(now, b"BEGIN\ntransaction:a\n\n\0");
    server_events(&mut s);
    s.handle_close();
    assert_eq!(
        server_events(&mut s),
        vec![
            ServerEvent::TransactionAborted {
                transaction: b("a")
            },
            ServerEvent::Closed(CloseReason::PeerClosed),
        ]
    );
}

#[test]
fn an_error_whose_receipt_id_cannot_be_encoded_still_goes_out() {
    // In 1.0 a CR is data in a header value (D-3); `a\r\r\n` reads as `a\r`, whose CR cannot
    // be written back last in a value (E-9).
    let mut s = server(Version::V1_0, Instant::now());
    let (err, f, _) = fails(&mut s, b"SEND\nreceipt:a\r\r\n\n\0", Version::V1_0);
    assert!(matches!(
        err,
        ConnectionError::Rule(RuleViolation::MissingHeader { .. })
    ));
    assert_eq!(header(&f, "receipt-id"), None);
    // A CR inside the value is written back raw (E-9, D-3).
    let mut s = server(Version::V1_0, Instant::now());
    let (err, f, _) = fails(&mut s, b"SEND\nreceipt:a\rb\n\n\0", Version::V1_0);
    assert!(matches!(
        err,
        ConnectionError::Rule(RuleViolation::MissingHeader { .. })
    ));
    assert_eq!(header(&f, "receipt-id"), Some(&b"a\rb"[..]));
}

#[test]
fn closing_before_the_error_is_written_keeps_the_reason() {
    let now = Instant::now();
    let mut s = server(Version::V1_2, now);
    s.handle_input(now, b"SEND\n\n\0");
    assert_eq!(
        server_events(&mut s),
        vec![],
        "ERROR queued, not yet handed out"
    );
    let err = s.failure().cloned().unwrap();
    s.handle_close();
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::Failed(err))]
    );
}

#[test]
fn a_1_0_unsubscribe_by_destination_ends_one_subscription_the_oldest_s6() {
    // S-6 (1.0): UNSUBSCRIBE may name the destination. With several subscriptions to it, one
    // ends per frame: the one SUBSCRIBE made without an id, else the oldest (not the one whose
    // id sorts first).
    let now = Instant::now();
    let mut s = server(Version::V1_0, now);
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:b\ndestination:/q\n\n\0SUBSCRIBE\nid:a\ndestination:/q\n\n\0\
          SUBSCRIBE\ndestination:/q\n\n\0",
    );
    assert_eq!(server_events(&mut s).len(), 3);
    let unsubscribed = |s: &mut ServerConnection| {
        s.handle_input(now, b"UNSUBSCRIBE\ndestination:/q\n\n\0");
        match server_events(s).as_slice() {
            [ServerEvent::Unsubscribe {
                id, destination, ..
            }] => {
                assert_eq!(destination, &b("/q"));
                id.clone()
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(unsubscribed(&mut s), b("/q"), "the one without an id");
    assert_eq!(unsubscribed(&mut s), b("b"), "then the oldest");
    assert_eq!(unsubscribed(&mut s), b("a"));
    let (err, _, _) = fails(&mut s, b"UNSUBSCRIBE\ndestination:/q\n\n\0", Version::V1_0);
    assert!(matches!(
        err,
        ConnectionError::Rule(RuleViolation::UnknownSubscription { .. })
    ));
}

#[test]
fn connected_is_written_under_the_version_it_announces_e9() {
    // A CR inside a header value is data in 1.0 (written raw, D-3) but cannot be read back in
    // a 1.2 CONNECTED, which is not escaped (E-9): accept refuses it and changes nothing.
    let now = Instant::now();
    for (offer, refused) in [("1.2", true), ("1.0", false)] {
        let mut s = ServerConnection::new(ServerConfig::default());
        s.handle_input(
            now,
            format!("CONNECT\naccept-version:{offer}\n\n\0").as_bytes(),
        );
        assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
        let result = s.accept(now, Accept::new().header("x-note", "a\rb"));
        assert_eq!(result.is_err(), refused, "{offer}: {result:?}");
        if refused {
            assert!(matches!(result, Err(UsageError::Encode(_))));
            assert_eq!(s.pending_transmit(), 0);
            // Still waiting for an answer: a plain CONNECTED goes out, under 1.2 rules.
            s.accept(now, Accept::new()).unwrap();
            let out = s.poll_transmit().unwrap();
            assert!(out.starts_with(b"CONNECTED\nversion:1.2\n"));
        } else {
            let out = s.poll_transmit().unwrap();
            let frames = frames(&out, Version::V1_0);
            assert_eq!(frames[0].headers().get("x-note"), Some(&b"a\rb"[..]));
        }
    }
}
