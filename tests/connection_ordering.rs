//! Input is applied in order, as the application polls (R-2, R-3, R-8, D-23): while an event is
//! handled, the connection is in the state right after that frame, whatever else arrived in
//! the same read. Each test feeds several frames at once and answers the first one the way an
//! application does, which failed while the connection applied a whole read at once.
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::{Duration, Instant};

use common_connection::*;
use stomp_codec::{
    AckMode, ClientConfig, ClientEvent, CloseReason, Command, ConnectionError, Frame, FrameOptions,
    Heartbeat, RuleViolation, ServerConfig, ServerEvent, UsageError, Version,
};

const CONNECT12: &str = "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0";

fn content(body: &str) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", "/q")
        .body(body.to_string())
        .build()
}

#[test]
fn a_receipt_for_a_frame_before_a_disconnect_without_receipt_goes_out_r2_r3_r8() {
    let now = Instant::now();
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    s.handle_input(
        now,
        b"SEND\ndestination:/q\nreceipt:r1\n\nhi\0DISCONNECT\n\n\0",
    );
    // The application handles the SEND, then confirms it (R-3: once processed).
    let Some(ServerEvent::Send {
        receipt: Some(r1), ..
    }) = s.poll_event()
    else {
        panic!("expected the SEND first")
    };
    assert!(s.is_connected(), "the DISCONNECT is not applied yet");
    s.receipt(now, &r1).unwrap();
    assert_eq!(
        server_events(&mut s),
        vec![
            ServerEvent::Disconnect { receipt: None },
            ServerEvent::Closed(CloseReason::Disconnected),
        ]
    );
    // what was queued before the close still goes out.
    let out = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(is(&out[0], Command::Receipt));
    assert_eq!(header(&out[0], "receipt-id"), Some(&b"r1"[..]));
    assert_eq!(s.receipt(now, "late"), Err(UsageError::Closed));
}

#[test]
fn a_subscription_is_usable_while_its_subscribe_is_handled_s4_s6() {
    let now = Instant::now();
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:s1\ndestination:/q\n\n\0UNSUBSCRIBE\nid:s1\n\n\0",
    );
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Subscribe { id, .. }) if id == b("s1")
    ));
    // A broker hands a retained message to the new subscriber right away.
    s.message(now, "s1", "m-1", &content("retained")).unwrap();
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Unsubscribe { id, .. }) if id == b("s1")
    ));
    assert_eq!(
        s.message(now, "s1", "m-2", &content("too late")),
        Err(UsageError::Rule(RuleViolation::UnknownSubscription {
            id: "s1".into()
        }))
    );
    let out = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(out.len(), 1);
    assert!(is(&out[0], Command::Message));
    assert_eq!(header(&out[0], "subscription"), Some(&b"s1"[..]));
    assert_eq!(out[0].body(), &b"retained"[..]);
}

#[test]
fn a_receipt_before_an_illegal_frame_goes_out_before_the_error_r3_r9_r11() {
    // One frame breaks a rule of the session (S-6), the other cannot be decoded at all.
    for bad in [
        &b"UNSUBSCRIBE\nid:nope\nreceipt:r2\n\n\0"[..],
        &b"BOGUS\n\n\0"[..],
    ] {
        let now = Instant::now();
        let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
        let mut input =
            b"BEGIN\ntransaction:t\n\n\0SEND\ndestination:/q\nreceipt:r1\n\nhi\0".to_vec();
        input.extend_from_slice(bad);
        s.handle_input(now, &input);
        assert!(matches!(s.poll_event(), Some(ServerEvent::Begin { .. })));
        assert!(matches!(s.poll_event(), Some(ServerEvent::Send { .. })));
        assert_eq!(s.failure(), None, "the bad frame is not reached yet");
        s.receipt(now, "r1").unwrap();
        // Reaching the bad frame: ERROR queued after the RECEIPT, open transactions aborted.
        assert_eq!(
            server_events(&mut s),
            vec![ServerEvent::TransactionAborted {
                transaction: b("t")
            }]
        );
        let err = s.failure().cloned().expect("the bad frame was reached");
        let out = frames(&drain_server(&mut s), Version::V1_2);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(is(&out[0], Command::Receipt));
        assert_eq!(header(&out[0], "receipt-id"), Some(&b"r1"[..]));
        assert!(is(&out[1], Command::Error));
        if bad.starts_with(b"UNSUBSCRIBE") {
            assert_eq!(header(&out[1], "receipt-id"), Some(&b"r2"[..]), "R-11");
        }
        assert_eq!(
            server_events(&mut s),
            vec![ServerEvent::Closed(CloseReason::Failed(err.clone()))]
        );
        assert_eq!(s.input(now, b"\n"), Err(err), "D-23: sticky");
    }
}

#[test]
fn the_end_of_input_comes_after_the_frames_received_before_it_r7_r8() {
    let now = Instant::now();
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    s.handle_input(
        now,
        b"BEGIN\ntransaction:t\n\n\0SEND\ndestination:/q\nreceipt:r1\n\nhi\0",
    );
    s.handle_close();
    assert!(
        !s.is_closed(),
        "frames received before the end wait for poll_event"
    );
    assert!(matches!(s.poll_event(), Some(ServerEvent::Begin { .. })));
    assert!(matches!(s.poll_event(), Some(ServerEvent::Send { .. })));
    s.receipt(now, "r1").unwrap();
    assert_eq!(
        server_events(&mut s),
        vec![
            ServerEvent::TransactionAborted {
                transaction: b("t")
            },
            ServerEvent::Closed(CloseReason::PeerClosed),
        ]
    );
    // With nothing buffered, the end takes effect at once.
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    s.handle_close();
    assert!(s.is_closed());
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::PeerClosed)]
    );
}

#[test]
fn a_connect_received_before_the_deadline_wins_over_the_timeout() {
    let t0 = Instant::now();
    let mut s = stomp_codec::ServerConnection::new(ServerConfig::default());
    s.start(t0);
    s.handle_input(t0 + Duration::from_secs(9), CONNECT12.as_bytes());
    // The application is slow to poll: the timer fires first, but the CONNECT came before it.
    s.handle_timeout(t0 + Duration::from_secs(11));
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.failure(), None);
    assert_eq!(s.poll_timeout(), None, "the client is no longer waited for");
}

#[test]
fn a_heartbeat_timeout_comes_after_the_frames_received_before_it_b6() {
    let t0 = Instant::now();
    let connect = "CONNECT\naccept-version:1.2\nheart-beat:1000,0\n\n\0";
    let mut s = server_connected(
        ServerConfig::default().heartbeat(Heartbeat::new(0, 1000)),
        t0,
        connect,
    );
    s.handle_input(t0 + ms(500), b"SEND\ndestination:/q\nreceipt:r1\n\nhi\0");
    // 2 s of silence after the SEND (interval + grace): the client is declared dead, but the
    // SEND it sent before is reported (and may be confirmed) first.
    s.handle_timeout(t0 + ms(2500));
    assert!(matches!(s.poll_event(), Some(ServerEvent::Send { .. })));
    s.receipt(t0 + ms(2500), "r1").unwrap();
    let events = server_events(&mut s);
    assert!(
        matches!(
            events.as_slice(),
            [
                ServerEvent::HeartbeatTimeout,
                ServerEvent::Closed(CloseReason::Failed(
                    ConnectionError::HeartbeatTimeout { .. }
                ))
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn a_message_can_be_acknowledged_while_a_later_error_waits_d23() {
    let now = Instant::now();
    let mut c = client_connected(ClientConfig::new("/"), now, "CONNECTED\nversion:1.2\n\n\0");
    c.subscribe(
        now,
        "s",
        "/q",
        AckMode::ClientIndividual,
        FrameOptions::new(),
    )
    .unwrap();
    drain_client(&mut c);
    c.handle_input(
        now,
        b"MESSAGE\ndestination:/q\nmessage-id:m1\nsubscription:s\nack:a1\n\nhi\0ERROR\nmessage:bye\n\n\0",
    );
    let Some(ClientEvent::Message(message)) = c.poll_event() else {
        panic!("expected the MESSAGE first")
    };
    assert!(c.is_connected(), "the ERROR is not applied yet");
    c.ack(now, &message, FrameOptions::new()).unwrap();
    let events = client_events(&mut c);
    assert!(matches!(
        events.as_slice(),
        [
            ClientEvent::ErrorReceived { .. },
            ClientEvent::Closed(CloseReason::ErrorReceived)
        ]
    ));
    let out = frames(&drain_client(&mut c), Version::V1_2);
    assert!(is(&out[0], Command::Ack));
    assert_eq!(header(&out[0], "id"), Some(&b"a1"[..]));
}

#[test]
fn a_receipt_received_before_the_disconnect_deadline_wins_over_it_d22() {
    let t0 = Instant::now();
    let mut c = client_connected(
        ClientConfig::new("/").heartbeat(Heartbeat::NONE),
        t0,
        "CONNECTED\nversion:1.2\n\n\0",
    );
    let receipt = c
        .disconnect(t0, FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    drain_client(&mut c);
    c.handle_input(
        t0 + Duration::from_secs(14),
        format!(
            "RECEIPT\nreceipt-id:{}\n\n\0",
            String::from_utf8_lossy(&receipt)
        )
        .as_bytes(),
    );
    c.handle_timeout(t0 + Duration::from_secs(16));
    assert_eq!(
        client_events(&mut c),
        vec![
            ClientEvent::ReceiptConfirmed {
                receipt_id: receipt
            },
            ClientEvent::Closed(CloseReason::Disconnected),
        ]
    );
}

#[test]
fn bytes_that_will_never_be_read_do_not_delay_the_end_of_input_r6_d16() {
    let now = Instant::now();
    // After DISCONNECT with a receipt, later input is ignored ...
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    s.handle_input(
        now,
        b"DISCONNECT\nreceipt:d\n\n\0SEND\ndestination:/q\n\nlate\0",
    );
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Disconnect {
            receipt: Some(b("d"))
        }]
    );
    s.handle_close();
    assert!(
        s.is_closed(),
        "R-8: a close after DISCONNECT is a normal end"
    );
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::Disconnected)]
    );
    // ... and frames held until `accept` are never read if the client leaves first (D-16).
    let mut s = stomp_codec::ServerConnection::new(ServerConfig::default());
    s.handle_input(
        now,
        format!("{CONNECT12}SEND\ndestination:/q\n\nx\0").as_bytes(),
    );
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
    s.handle_close();
    assert!(s.is_closed());
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::PeerClosed)]
    );
}
