//! The client role: every local refusal (UsageError), ACK/NACK per version, and what it does
//! with server frames (S-1..S-14, C-1, C-11, D-16, D-23, D-24, R-6).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::Instant;

use common_connection::*;
use stomp_codec::{
    AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, Command, ConnectionError,
    EncodeError, Frame, FrameOptions, RuleViolation, Unrepresentable, UsageError, Version,
    VersionSet,
};

fn connected(version: Version, now: Instant) -> ClientConnection {
    let text = match version {
        Version::V1_0 => "CONNECTED\n\n\0".to_string(),
        v => format!("CONNECTED\nversion:{v}\n\n\0"),
    };
    client_connected(ClientConfig::new("/"), now, &text)
}

/// Headers of a raw frame, as (name, value) pairs.
type Pairs = &'static [(&'static str, &'static str)];

fn opts() -> FrameOptions {
    FrameOptions::new()
}

/// Asserts a refusal left nothing on the wire and the connection usable.
fn refused(
    c: &mut ClientConnection,
    result: Result<Option<bytes::Bytes>, UsageError>,
    expected: UsageError,
) {
    assert_eq!(result, Err(expected));
    assert_eq!(
        c.pending_transmit(),
        0,
        "a refused frame never reaches the wire"
    );
}

/// Feeds `input`, which must fail the connection: the error is found when the events are
/// polled, after the events of the frames before it, and ends them as `Closed(Failed(..))`.
fn fails(c: &mut ClientConnection, now: Instant, input: &[u8]) -> ConnectionError {
    c.handle_input(now, input);
    let events = client_events(c);
    match events.last() {
        Some(ClientEvent::Closed(CloseReason::Failed(err))) => {
            assert_eq!(c.failure(), Some(err));
            err.clone()
        }
        _ => panic!("expected a failure: {events:?}"),
    }
}

fn raw(command: Command, headers: &[(&str, &str)]) -> Frame {
    Frame::builder(command)
        .headers(headers.iter().copied())
        .build()
}

#[test]
fn nothing_but_connect_before_connected_c1_d16() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    let not_connected = UsageError::NotConnected {
        command: Command::Send,
    };
    let r = c.send(now, "/q", "x", opts());
    refused(&mut c, r, not_connected.clone());
    c.connect(now).unwrap();
    drain_client(&mut c);
    let r = c.send(now, "/q", "x", opts());
    refused(&mut c, r, not_connected);
    let r = c.subscribe(now, "s", "/q", AckMode::Auto, opts());
    refused(
        &mut c,
        r,
        UsageError::NotConnected {
            command: Command::Subscribe,
        },
    );
    let r = c.disconnect(now, opts());
    refused(
        &mut c,
        r,
        UsageError::NotConnected {
            command: Command::Disconnect,
        },
    );
}

#[test]
fn a_second_connect_is_refused_d16() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    drain_client(&mut c);
    assert_eq!(c.connect(now), Err(UsageError::AlreadyConnected));
    c.handle_input(now, b"CONNECTED\nversion:1.2\n\n\0");
    assert_eq!(c.connect(now), Err(UsageError::AlreadyConnected));
    let r = c.send_frame(now, raw(Command::Stomp, &[("accept-version", "1.2")]));
    refused(&mut c, r, UsageError::AlreadyConnected);
}

#[test]
fn a_hand_built_connect_is_checked_too_c3_c11() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    let r = c.send_frame(
        now,
        raw(
            Command::Connect,
            &[("accept-version", "1.2"), ("receipt", "x")],
        ),
    );
    refused(&mut c, r, UsageError::ReceiptOnConnect);
    let r = c.send_frame(
        now,
        raw(
            Command::Connect,
            &[("accept-version", "1.2"), ("heart-beat", "1,x")],
        ),
    );
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::InvalidHeartbeat {
            value: "1,x".into(),
        }),
    );
    c.send_frame(now, raw(Command::Connect, &[("accept-version", "1.1")]))
        .unwrap();
    drain_client(&mut c);
    // Only what the frame offered is acceptable (C-6).
    let err = fails(&mut c, now, b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(err, ConnectionError::VersionNotOffered { .. }));
}

#[test]
fn server_commands_are_not_client_commands_s2() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    for command in [
        Command::Message,
        Command::Receipt,
        Command::Error,
        Command::Connected,
    ] {
        let r = c.send_frame(now, Frame::new(command.clone()));
        refused(
            &mut c,
            r,
            UsageError::WrongRole {
                command,
                role: "client",
            },
        );
    }
    let ext = Command::extension("PING").unwrap();
    let r = c.send_frame(now, Frame::new(ext.clone()));
    refused(
        &mut c,
        r,
        UsageError::WrongRole {
            command: ext,
            role: "client",
        },
    );
}

#[test]
fn required_headers_are_checked_per_version_s3_s4_s6_s7_s8_s9_s11() {
    let now = Instant::now();
    let cases: &[(Version, Command, Pairs, &str)] = &[
        (Version::V1_2, Command::Send, &[], "destination"),
        (
            Version::V1_2,
            Command::Subscribe,
            &[("id", "s")],
            "destination",
        ),
        (
            Version::V1_2,
            Command::Subscribe,
            &[("destination", "/q")],
            "id",
        ),
        (
            Version::V1_1,
            Command::Subscribe,
            &[("destination", "/q")],
            "id",
        ),
        (Version::V1_2, Command::Unsubscribe, &[], "id"),
        (Version::V1_0, Command::Unsubscribe, &[], "destination"),
        (Version::V1_2, Command::Ack, &[("message-id", "1")], "id"),
        (
            Version::V1_1,
            Command::Ack,
            &[("id", "1"), ("subscription", "s")],
            "message-id",
        ),
        (
            Version::V1_1,
            Command::Nack,
            &[("message-id", "1")],
            "subscription",
        ),
        (Version::V1_0, Command::Ack, &[("id", "1")], "message-id"),
        (Version::V1_2, Command::Begin, &[], "transaction"),
        (Version::V1_2, Command::Commit, &[], "transaction"),
        (Version::V1_0, Command::Abort, &[], "transaction"),
    ];
    for (version, command, headers, missing) in cases {
        let mut c = connected(*version, now);
        let r = c.send_frame(now, raw(command.clone(), headers));
        refused(
            &mut c,
            r,
            UsageError::Rule(RuleViolation::MissingHeader {
                command: command.clone(),
                header: missing,
                version: *version,
            }),
        );
    }
    // 1.0 SUBSCRIBE may leave out the id (S-4); UNSUBSCRIBE then names the destination (S-6).
    let mut c = connected(Version::V1_0, now);
    c.send_frame(now, raw(Command::Subscribe, &[("destination", "/q")]))
        .unwrap();
    c.send_frame(now, raw(Command::Unsubscribe, &[("destination", "/q")]))
        .unwrap();
}

#[test]
fn subscription_ids_are_unique_and_must_exist_to_unsubscribe_s4_s6() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    c.subscribe(now, "s", "/q", AckMode::Client, opts())
        .unwrap();
    drain_client(&mut c);
    assert_eq!(c.subscription("s").map(|s| s.1), Some(AckMode::Client));
    let r = c.subscribe(now, "s", "/other", AckMode::Auto, opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::DuplicateSubscription { id: "s".into() }),
    );
    let r = c.unsubscribe(now, "t", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownSubscription { id: "t".into() }),
    );
    c.unsubscribe(now, "s", opts()).unwrap();
    assert_eq!(c.subscription("s"), None);
    drain_client(&mut c);
    let r = c.unsubscribe(now, "s", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownSubscription { id: "s".into() }),
    );
    // The id is free again.
    c.subscribe(now, "s", "/q", AckMode::Auto, opts()).unwrap();
}

#[test]
fn ack_modes_are_checked_per_version_s5() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    let r = c.send_frame(
        now,
        raw(
            Command::Subscribe,
            &[("id", "s"), ("destination", "/q"), ("ack", "bogus")],
        ),
    );
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::InvalidAckMode {
            value: "bogus".into(),
            version: Version::V1_2,
        }),
    );
    let mut c = connected(Version::V1_0, now);
    let r = c.subscribe(now, "s", "/q", AckMode::ClientIndividual, opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::InvalidAckMode {
            value: "client-individual".into(),
            version: Version::V1_0,
        }),
    );
    c.subscribe(now, "s", "/q", AckMode::Client, opts())
        .unwrap();
}

#[test]
fn nack_does_not_exist_in_1_0_s1_s9() {
    let now = Instant::now();
    let mut c = connected(Version::V1_0, now);
    let msg = raw(
        Command::Message,
        &[("message-id", "1"), ("destination", "/q")],
    );
    let r = c.nack(now, &msg, opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::NotInVersion {
            command: Command::Nack,
            version: Version::V1_0,
        }),
    );
    let r = c.send_frame(now, raw(Command::Nack, &[("message-id", "1")]));
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::NotInVersion {
            command: Command::Nack,
            version: Version::V1_0,
        }),
    );
}

#[test]
fn ack_and_nack_use_the_headers_of_the_negotiated_version_s7_s8_s9_s10() {
    let now = Instant::now();
    let msg = raw(
        Command::Message,
        &[
            ("destination", "/q"),
            ("message-id", "m-1"),
            ("subscription", "s"),
            ("ack", "a-1"),
        ],
    );
    let expect: &[(Version, Command, Pairs)] = &[
        (Version::V1_2, Command::Ack, &[("id", "a-1")]),
        (Version::V1_2, Command::Nack, &[("id", "a-1")]),
        (
            Version::V1_1,
            Command::Ack,
            &[("message-id", "m-1"), ("subscription", "s")],
        ),
        (
            Version::V1_1,
            Command::Nack,
            &[("message-id", "m-1"), ("subscription", "s")],
        ),
        (Version::V1_0, Command::Ack, &[("message-id", "m-1")]),
    ];
    for (version, command, headers) in expect {
        let mut c = connected(*version, now);
        c.begin(now, "tx", opts()).unwrap();
        drain_client(&mut c);
        let o = opts().transaction("tx").receipt();
        let r = match command {
            Command::Ack => c.ack(now, &msg, o),
            _ => c.nack(now, &msg, o),
        };
        assert_eq!(r, Ok(Some(b("rcpt-1"))));
        let f = &frames(&drain_client(&mut c), *version)[0];
        assert_eq!(f.command(), command);
        let mut want: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        want.push((b"receipt", b"rcpt-1"));
        want.push((b"transaction", b"tx"));
        let got: Vec<_> = f.headers().iter().collect();
        assert_eq!(got, want, "{version} {command}");
    }
}

#[test]
fn ack_refuses_a_message_without_the_needed_header_s7_s8() {
    let now = Instant::now();
    let no_ack = raw(
        Command::Message,
        &[
            ("destination", "/q"),
            ("message-id", "1"),
            ("subscription", "s"),
        ],
    );
    let mut c = connected(Version::V1_2, now);
    let r = c.ack(now, &no_ack, opts());
    refused(
        &mut c,
        r,
        UsageError::CannotAcknowledge {
            command: Command::Ack,
            header: "ack",
            version: Version::V1_2,
        },
    );
    let no_sub = raw(
        Command::Message,
        &[("destination", "/q"), ("message-id", "1")],
    );
    let mut c = connected(Version::V1_1, now);
    let r = c.nack(now, &no_sub, opts());
    refused(
        &mut c,
        r,
        UsageError::CannotAcknowledge {
            command: Command::Nack,
            header: "subscription",
            version: Version::V1_1,
        },
    );
}

#[test]
fn transactions_are_tracked_s11() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    let r = c.commit(now, "tx", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownTransaction {
            transaction: "tx".into(),
        }),
    );
    let r = c.abort(now, "tx", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownTransaction {
            transaction: "tx".into(),
        }),
    );
    let r = c.send(now, "/q", "x", opts().transaction("tx"));
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownTransaction {
            transaction: "tx".into(),
        }),
    );
    c.begin(now, "tx", opts()).unwrap();
    assert!(c.is_transaction_open("tx"));
    drain_client(&mut c);
    let r = c.begin(now, "tx", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::DuplicateTransaction {
            transaction: "tx".into(),
        }),
    );
    c.send(now, "/q", "x", opts().transaction("tx")).unwrap();
    c.commit(now, "tx", opts()).unwrap();
    assert!(!c.is_transaction_open("tx"));
    let fs = frames(&drain_client(&mut c), Version::V1_2);
    assert_eq!(header(&fs[0], "transaction"), Some(&b"tx"[..]));
    assert!(is(&fs[1], Command::Commit));
    let r = c.commit(now, "tx", opts());
    refused(
        &mut c,
        r,
        UsageError::Rule(RuleViolation::UnknownTransaction {
            transaction: "tx".into(),
        }),
    );
}

#[test]
fn nothing_is_sent_after_disconnect_r6() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    c.begin(now, "tx", opts()).unwrap();
    c.disconnect(now, opts().receipt()).unwrap();
    drain_client(&mut c);
    assert!(!c.is_transaction_open("tx"), "R-7: forgotten");
    let r = c.send(now, "/q", "x", opts());
    refused(
        &mut c,
        r,
        UsageError::AfterDisconnect {
            command: Command::Send,
        },
    );
    let r = c.disconnect(now, opts());
    refused(
        &mut c,
        r,
        UsageError::AfterDisconnect {
            command: Command::Disconnect,
        },
    );
    c.handle_close();
    let r = c.send(now, "/q", "x", opts());
    refused(&mut c, r, UsageError::Closed);
    assert_eq!(c.connect(now), Err(UsageError::Closed));
}

#[test]
fn unrepresentable_frames_are_refused_and_the_connection_stays_usable_e9_f9() {
    let now = Instant::now();
    let mut c = connected(Version::V1_1, now);
    // 1.1 writes a CR raw, so not last in a value: it would read back as a CRLF's (E-9, D-3).
    let r = c.send(now, "/q", "x", opts().header("k", "a\r").receipt());
    assert!(matches!(
        r,
        Err(UsageError::Encode(EncodeError::Unrepresentable {
            reason: Unrepresentable::TrailingCarriageReturn,
            ..
        }))
    ));
    assert_eq!(c.pending_transmit(), 0);
    assert_eq!(c.pending_receipts(), 0, "the receipt was not recorded");
    // A body on SUBSCRIBE (F-9).
    let f = Frame::builder(Command::Subscribe)
        .header("id", "s")
        .header("destination", "/q")
        .body("x")
        .build();
    let r = c.send_frame(now, f);
    assert!(matches!(
        r,
        Err(UsageError::Encode(EncodeError::BodyNotAllowed { .. }))
    ));
    assert_eq!(c.subscription("s"), None, "not recorded");
    c.subscribe(now, "s", "/q", AckMode::Auto, opts()).unwrap();
    assert_eq!(
        c.send(now, "/q", "x", opts().receipt()).unwrap(),
        Some(b("rcpt-1"))
    );
}

#[test]
fn messages_carry_their_subscription_and_unknown_ones_are_flagged_s13_d24() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    c.subscribe(now, "s", "/q", AckMode::ClientIndividual, opts())
        .unwrap();
    c.handle_input(
        now,
        b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\nack:a1\nx-user:u\n\nhi\0\
          MESSAGE\ndestination:/q\nmessage-id:2\nsubscription:gone\n\nlate\0",
    );
    let events = client_events(&mut c);
    match events.as_slice() {
        [ClientEvent::Message(m1), ClientEvent::Message(m2)] => {
            assert_eq!(m1.destination, b("/q"));
            assert_eq!(m1.message_id, b("1"));
            assert_eq!(m1.subscription, Some(b("s")));
            assert_eq!(m1.ack_mode, Some(AckMode::ClientIndividual));
            assert!(!m1.unknown_subscription);
            assert_eq!(header(&m1.frame, "x-user"), Some(&b"u"[..]));
            assert!(m2.unknown_subscription);
            assert_eq!(m2.ack_mode, None);
            // The helper takes the event itself.
            c.ack(now, m1, opts()).unwrap();
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_1_0_message_without_subscription_is_matched_by_destination_s13() {
    let now = Instant::now();
    let mut c = connected(Version::V1_0, now);
    c.send_frame(
        now,
        raw(
            Command::Subscribe,
            &[("destination", "/q"), ("ack", "client")],
        ),
    )
    .unwrap();
    c.handle_input(now, b"MESSAGE\ndestination:/q\nmessage-id:1\n\nhi\0");
    match client_events(&mut c).as_slice() {
        [ClientEvent::Message(m)] => {
            assert!(!m.unknown_subscription);
            assert_eq!(m.ack_mode, Some(AckMode::Client));
            assert_eq!(m.subscription, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_frames_missing_required_headers_are_dropped_not_fatal_d24() {
    let now = Instant::now();
    let cases: &[(Version, &str, &str)] = &[
        (
            Version::V1_2,
            "MESSAGE\nmessage-id:1\nsubscription:s\nack:a\n\n\0",
            "destination",
        ),
        (
            Version::V1_2,
            "MESSAGE\ndestination:/q\nsubscription:s\nack:a\n\n\0",
            "message-id",
        ),
        (
            Version::V1_1,
            "MESSAGE\ndestination:/q\nmessage-id:1\n\n\0",
            "subscription",
        ),
        // S-14: a client-individual subscription's MESSAGE must carry `ack` in 1.2.
        (
            Version::V1_2,
            "MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\n\0",
            "ack",
        ),
    ];
    for (version, input, missing) in cases {
        let mut c = connected(*version, now);
        c.subscribe(now, "s", "/q", AckMode::Client, opts())
            .unwrap();
        c.handle_input(now, input.as_bytes());
        match client_events(&mut c).as_slice() {
            [ClientEvent::ProtocolViolation { error, frame }] => {
                assert_eq!(
                    error,
                    &ConnectionError::Rule(RuleViolation::MissingHeader {
                        command: Command::Message,
                        header: missing,
                        version: *version,
                    })
                );
                assert!(is(frame, Command::Message));
            }
            other => panic!("{version} {missing}: {other:?}"),
        }
        assert!(c.is_connected());
    }
}

#[test]
fn unexpected_server_frames_are_fatal_s2_d16() {
    let now = Instant::now();
    // Before CONNECT, anything; before CONNECTED, anything but CONNECTED/ERROR.
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    let err = fails(&mut c, now, b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(
        err,
        ConnectionError::UnexpectedFrame {
            context: "before CONNECT",
            ..
        }
    ));
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    let err = fails(&mut c, now, b"MESSAGE\ndestination:/q\nmessage-id:1\n\n\0");
    assert!(matches!(
        err,
        ConnectionError::UnexpectedFrame {
            context: "before CONNECTED",
            ..
        }
    ));
    // A second CONNECTED; a client command sent to a client.
    for input in ["CONNECTED\nversion:1.2\n\n\0", "SEND\ndestination:/q\n\n\0"] {
        let mut c = connected(Version::V1_2, now);
        let err = fails(&mut c, now, input.as_bytes());
        assert!(
            matches!(err, ConnectionError::UnexpectedFrame { .. }),
            "{err}"
        );
        assert_eq!(c.input(now, b"\n"), Err(err), "sticky");
    }
}

#[test]
fn frames_before_a_decode_error_are_delivered_then_the_error_is_sticky_f11() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    // Buffered: the error surfaces when polling reaches it, after the frame before it.
    c.handle_input(
        now,
        b"RECEIPT\nreceipt-id:x\n\n\0RECEIPT\nbad\\qescape:1\n\n\0",
    );
    let events = client_events(&mut c);
    let err = c.failure().cloned().unwrap();
    assert!(matches!(err, ConnectionError::Decode(_)));
    assert_eq!(
        events,
        vec![
            ClientEvent::UnknownReceipt { receipt_id: b("x") },
            ClientEvent::Closed(CloseReason::Failed(err.clone()))
        ]
    );
    assert_eq!(c.failure(), Some(&err));
    assert_eq!(c.input(now, b"\n"), Err(err.clone()));
    assert_eq!(c.input_bytes(now, b("\n")), Err(err));
}

#[test]
fn input_after_an_error_frame_is_discarded_d23() {
    let now = Instant::now();
    let mut c = connected(Version::V1_2, now);
    c.subscribe(now, "s", "/q", AckMode::Auto, opts()).unwrap();
    c.handle_input(
        now,
        b"ERROR\nmessage:bye\n\n\0MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\n\0",
    );
    let events = client_events(&mut c);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1], ClientEvent::Closed(CloseReason::ErrorReceived));
    c.handle_input(now, b"garbage\0\0");
    assert_eq!(client_events(&mut c), vec![]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn handle_input_bytes_is_the_same_as_handle_input_f11() {
    let now = Instant::now();
    let input = b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\nhello\0\n";
    let mut a = connected(Version::V1_2, now);
    let mut z = connected(Version::V1_2, now);
    for piece in input.chunks(7) {
        a.handle_input(now, piece);
        z.handle_input_bytes(now, bytes::Bytes::copy_from_slice(piece));
    }
    let (ea, ez) = (client_events(&mut a), client_events(&mut z));
    assert_eq!(ea.len(), 1);
    assert_eq!(ea, ez);
}

#[test]
fn the_client_config_headers_go_into_connect_c5() {
    let now = Instant::now();
    let mut c = ClientConnection::new(
        ClientConfig::new("vh")
            .versions(VersionSet::EMPTY.with(Version::V1_1))
            .header("client-id", "c1"),
    );
    c.connect(now).unwrap();
    let f = &frames(&drain_client(&mut c), Version::V1_0)[0];
    assert_eq!(header(f, "accept-version"), Some(&b"1.1"[..]));
    assert_eq!(header(f, "host"), Some(&b"vh"[..]));
    assert_eq!(header(f, "client-id"), Some(&b"c1"[..]));
    assert_eq!(header(f, "login"), None);
}

#[test]
fn a_1_0_unsubscribe_by_destination_ends_the_oldest_subscription_s6() {
    // The client applies the server's rule: one subscription per UNSUBSCRIBE, the one made
    // without an id, else the oldest to that destination.
    let now = Instant::now();
    let mut c = connected(Version::V1_0, now);
    for id in ["b", "a"] {
        c.subscribe(now, id, "/q", AckMode::Auto, opts()).unwrap();
    }
    let by_destination = || raw(Command::Unsubscribe, &[("destination", "/q")]);
    c.send_frame(now, by_destination()).unwrap();
    assert_eq!(c.subscription("b"), None, "the oldest ended");
    assert_eq!(c.subscription("a").map(|s| s.1), Some(AckMode::Auto));
    c.send_frame(now, raw(Command::Subscribe, &[("destination", "/q")]))
        .unwrap();
    c.send_frame(now, by_destination()).unwrap();
    assert_eq!(c.subscription("/q"), None, "the one without an id first");
    assert_eq!(c.subscription("a").map(|s| s.1), Some(AckMode::Auto));
    c.send_frame(now, by_destination()).unwrap();
    drain_client(&mut c);
    let r = c.send_frame(now, by_destination());
    refused(
        &mut c,
        r.map(|_| None),
        UsageError::Rule(RuleViolation::UnknownSubscription { id: "/q".into() }),
    );
}

#[test]
fn connect_is_written_under_the_highest_version_it_offers_e9() {
    // A CR inside a value is data in 1.0 (D-3) but cannot be read back by a 1.2 server from a
    // CONNECT, which is not escaped (E-9): offering 1.2 refuses it, offering only 1.0 writes it.
    let now = Instant::now();
    let config = ClientConfig::new("/").header("x-note", "a\rb");
    let mut c = ClientConnection::new(config.clone());
    assert!(matches!(c.connect(now), Err(UsageError::Encode(_))));
    assert_eq!(c.pending_transmit(), 0);
    let mut c = ClientConnection::new(config.versions(VersionSet::EMPTY.with(Version::V1_0)));
    c.connect(now).unwrap();
    let out = c.poll_transmit().unwrap();
    let frames = frames(&out, Version::V1_0);
    assert_eq!(frames[0].headers().get("x-note"), Some(&b"a\rb"[..]));
}

/// `send` writes exactly the frame the encoder writes for the same headers, whichever way it
/// takes: extra headers copied as a block of lines when all is plain (inline or past the
/// inline room), or through the general path (escapes, `content-length`, an empty name).
#[test]
fn send_writes_what_the_encoder_writes_d25_e1_h2() {
    let long = "v".repeat(40);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("content-type", "application/json"), ("x-trace", "abc123")],
        vec![("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")],
        vec![("x-long", &long), ("x-more", &long)],
        vec![("x-note", "a:b\\c"), ("x-trace", "abc123")],
        vec![("content-length", "5")],
        vec![("content-length", "4")],
        vec![("", "empty name")],
    ];
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        for headers in &cases {
            let now = Instant::now();
            let mut c = connected(version, now);
            let mut options = FrameOptions::new();
            let mut frame = Frame::builder(Command::Send).header("destination", "/queue/a");
            for (name, value) in headers {
                options = options.header(name, value);
                frame = frame.header(name, value);
            }
            let frame = frame.body("hello").build();
            let mut want = bytes::BytesMut::new();
            let encoded = stomp_codec::Encoder::new(version).encode(&frame, &mut want);
            let sent = c.send(now, "/queue/a", "hello", options);
            match encoded {
                Ok(()) => {
                    assert_eq!(sent, Ok(None), "{version} {headers:?}");
                    assert_eq!(c.poll_transmit().as_deref(), Some(&want[..]));
                }
                Err(err) => refused(&mut c, sent, UsageError::Encode(err)),
            }
        }
    }
}
