//! Receipts, DISCONNECT and closing (R-1..R-11, D-21, D-22, D-23).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;

use std::time::{Duration, Instant};

use common_connection::*;
use stomp_codec::{
    ClientConfig, ClientConnection, ClientEvent, CloseReason, Command, ErrorReply, FrameOptions,
    ServerConfig, ServerEvent, UsageError, Version,
};

const CONNECTED: &str = "CONNECTED\nversion:1.2\n\n\0";

fn client(now: Instant) -> ClientConnection {
    client_connected(ClientConfig::new("/"), now, CONNECTED)
}

fn receipt_frame(id: &str) -> String {
    format!("RECEIPT\nreceipt-id:{id}\n\n\0")
}

#[test]
fn generated_receipt_ids_count_up_per_connection_d21() {
    let now = Instant::now();
    let mut c = client(now);
    let r1 = c
        .send(now, "/q", "a", FrameOptions::new().receipt())
        .unwrap();
    let r2 = c
        .subscribe(
            now,
            "s",
            "/q",
            Default::default(),
            FrameOptions::new().receipt(),
        )
        .unwrap();
    let none = c.send(now, "/q", "b", FrameOptions::new()).unwrap();
    assert_eq!(r1, Some(b("rcpt-1")));
    assert_eq!(r2, Some(b("rcpt-2")));
    assert_eq!(none, None);
    let fs = frames(&drain_client(&mut c), Version::V1_2);
    assert_eq!(header(&fs[0], "receipt"), Some(&b"rcpt-1"[..]), "R-1");
    assert_eq!(header(&fs[1], "receipt"), Some(&b"rcpt-2"[..]));
    assert_eq!(header(&fs[2], "receipt"), None);
    assert_eq!(c.pending_receipts(), 2);
}

#[test]
fn caller_ids_are_accepted_unless_pending_r1_d21() {
    let now = Instant::now();
    let mut c = client(now);
    let mine = FrameOptions::new().receipt_id("mine");
    assert_eq!(
        c.send(now, "/q", "a", mine.clone()).unwrap(),
        Some(b("mine"))
    );
    let queued = c.pending_transmit();
    assert_eq!(
        c.send(now, "/q", "b", mine.clone()),
        Err(UsageError::DuplicateReceipt {
            receipt_id: "mine".into()
        })
    );
    assert_eq!(c.pending_transmit(), queued, "refused frame not queued");
    // A generated id never collides with a pending caller id.
    c.send(now, "/q", "c", FrameOptions::new().receipt_id("rcpt-1"))
        .unwrap();
    assert_eq!(
        c.send(now, "/q", "d", FrameOptions::new().receipt())
            .unwrap(),
        Some(b("rcpt-2"))
    );
    // Once confirmed, the id may be used again.
    c.handle_input(now, receipt_frame("mine").as_bytes());
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::ReceiptConfirmed {
            receipt_id: b("mine")
        }]
    );
    assert_eq!(c.send(now, "/q", "e", mine).unwrap(), Some(b("mine")));
    // A raw frame's receipt header is tracked the same way.
    let raw = stomp_codec::Frame::builder(Command::Send)
        .header("destination", "/q")
        .header("receipt", "mine")
        .build();
    assert!(matches!(
        c.send_frame(now, raw),
        Err(UsageError::DuplicateReceipt { .. })
    ));
}

#[test]
fn each_receipt_is_confirmed_exactly_once_and_unknown_ones_are_reported_r2() {
    let now = Instant::now();
    let mut c = client(now);
    c.send(now, "/q", "a", FrameOptions::new().receipt())
        .unwrap();
    let input = format!(
        "{}{}{}",
        receipt_frame("rcpt-1"),
        receipt_frame("rcpt-1"),
        receipt_frame("other")
    );
    c.handle_input(now, input.as_bytes());
    assert_eq!(
        client_events(&mut c),
        vec![
            ClientEvent::ReceiptConfirmed {
                receipt_id: b("rcpt-1")
            },
            ClientEvent::UnknownReceipt {
                receipt_id: b("rcpt-1")
            },
            ClientEvent::UnknownReceipt {
                receipt_id: b("other")
            },
        ]
    );
    assert!(c.is_connected(), "not fatal");
    assert_eq!(c.pending_receipts(), 0);
}

#[test]
fn a_receipt_without_receipt_id_is_a_violation_not_a_failure_d24_s15() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_input(now, b"RECEIPT\n\n\0");
    match client_events(&mut c).as_slice() {
        [ClientEvent::ProtocolViolation { error, frame }] => {
            assert!(is(frame, Command::Receipt));
            assert!(error.to_string().contains("receipt-id"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_connected());
}

#[test]
fn disconnect_with_receipt_closes_on_its_receipt_r5() {
    let now = Instant::now();
    let mut c = client(now);
    c.subscribe(now, "s", "/q", Default::default(), FrameOptions::new())
        .unwrap();
    let r = c
        .disconnect(now, FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    let fs = frames(&drain_client(&mut c), Version::V1_2);
    assert!(is(&fs[1], Command::Disconnect));
    assert_eq!(client_events(&mut c), vec![], "not closed yet");
    assert!(!c.is_connected() && !c.is_closed());
    // Messages and other receipts still arrive while disconnecting.
    let input = format!(
        "MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\nlate\0{}",
        receipt_frame(std::str::from_utf8(&r).unwrap())
    );
    c.handle_input(now, input.as_bytes());
    let events = client_events(&mut c);
    assert!(matches!(&events[0], ClientEvent::Message(m) if m.body() == &b"late"[..]));
    assert_eq!(
        events[1..],
        [
            ClientEvent::ReceiptConfirmed { receipt_id: r },
            ClientEvent::Closed(CloseReason::Disconnected)
        ]
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn disconnect_receipt_deadline_closes_with_receipt_timeout_d22() {
    let t0 = Instant::now();
    let mut c = client(t0);
    c.disconnect(t0, FrameOptions::new().receipt()).unwrap();
    drain_client(&mut c);
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + Duration::from_secs(15)),
        "default 15 s"
    );
    c.handle_timeout(t0 + Duration::from_secs(15) - Duration::from_nanos(1));
    assert_eq!(client_events(&mut c), vec![]);
    c.handle_timeout(t0 + Duration::from_secs(15));
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::ReceiptTimeout)]
    );
    // A RECEIPT after the deadline is discarded.
    c.handle_input(
        t0 + Duration::from_secs(16),
        b"RECEIPT\nreceipt-id:rcpt-1\n\n\0",
    );
    assert_eq!(client_events(&mut c), vec![]);

    let mut c = client_connected(
        ClientConfig::new("/").disconnect_timeout(ms(300)),
        t0,
        CONNECTED,
    );
    c.disconnect(t0, FrameOptions::new().receipt()).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(300)));
}

#[test]
fn disconnect_without_receipt_closes_once_handed_out_d22() {
    let now = Instant::now();
    let mut c = client(now);
    assert_eq!(c.disconnect(now, FrameOptions::new()), Ok(None));
    assert_eq!(
        client_events(&mut c),
        vec![],
        "DISCONNECT not handed out yet"
    );
    assert!(!c.is_closed());
    let bytes = c.poll_transmit().unwrap();
    assert_eq!(&bytes[..], b"DISCONNECT\n\n\0");
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::Disconnected)]
    );
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn peer_close_after_disconnect_is_a_normal_close_r8() {
    let now = Instant::now();
    let mut c = client(now);
    c.disconnect(now, FrameOptions::new().receipt()).unwrap();
    drain_client(&mut c);
    c.handle_close();
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::Disconnected)]
    );
    // Without DISCONNECT, the end of the transport is reported as such.
    let mut c = client(now);
    c.handle_close();
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::PeerClosed)]
    );
    c.handle_close();
    assert_eq!(client_events(&mut c), vec![], "once");
}

#[test]
fn an_error_naming_a_receipt_resolves_it_as_failed_r11_d23() {
    let now = Instant::now();
    let mut c = client(now);
    c.send(now, "/q", "a", FrameOptions::new().receipt())
        .unwrap();
    c.send(now, "/q", "b", FrameOptions::new().receipt())
        .unwrap();
    let input =
        "ERROR\nreceipt-id:rcpt-2\nmessage:no such queue\ncontent-type:text/plain\n\nsorry\0\
                 RECEIPT\nreceipt-id:rcpt-1\n\n\0";
    c.handle_input(now, input.as_bytes());
    match client_events(&mut c).as_slice() {
        [ClientEvent::ErrorReceived {
            message,
            body,
            receipt_id,
            ..
        }, ClientEvent::Closed(CloseReason::ErrorReceived)] => {
            assert_eq!(message.as_deref(), Some("no such queue"));
            assert_eq!(&body[..], b"sorry");
            assert_eq!(receipt_id, &Some(b("rcpt-2")));
        }
        other => panic!("{other:?}"),
    }
    // D-23: the RECEIPT after the ERROR was discarded, as is later input.
    assert_eq!(c.pending_receipts(), 0);
    c.handle_input(now, receipt_frame("rcpt-1").as_bytes());
    assert_eq!(client_events(&mut c), vec![]);
    assert_eq!(
        c.send(now, "/q", "c", FrameOptions::new()),
        Err(UsageError::Closed)
    );
}

#[test]
fn the_server_confirms_with_receipt_id_and_an_empty_body_r2_r4() {
    let now = Instant::now();
    let mut s = server_connected(
        ServerConfig::default(),
        now,
        "CONNECT\naccept-version:1.2\n\n\0",
    );
    s.handle_input(now, b"SEND\ndestination:/q\nreceipt:77\n\nx\0");
    let events = server_events(&mut s);
    let r = events[0].receipt().unwrap().clone();
    s.receipt(now, &r).unwrap();
    let f = &frames(&drain_server(&mut s), Version::V1_2)[0];
    assert!(is(f, Command::Receipt));
    assert_eq!(header(f, "receipt-id"), Some(&b"77"[..]));
    assert!(f.body().is_empty());
}

#[test]
fn the_server_closes_after_handing_out_the_disconnect_receipt_r5_r8() {
    let now = Instant::now();
    let mut s = server_connected(
        ServerConfig::default(),
        now,
        "CONNECT\naccept-version:1.2\n\n\0",
    );
    s.handle_input(
        now,
        b"SEND\ndestination:/q\nreceipt:1\n\n\0DISCONNECT\nreceipt:2\n\n\0SEND\ndestination:/q\n\n\0",
    );
    let events = server_events(&mut s);
    assert_eq!(
        events.len(),
        2,
        "R-6: input after DISCONNECT ignored: {events:?}"
    );
    assert_eq!(
        events[1],
        ServerEvent::Disconnect {
            receipt: Some(b("2"))
        }
    );
    // Receipts of earlier frames may still be sent, in order.
    s.receipt(now, "1").unwrap();
    assert!(!s.is_closed());
    assert_eq!(
        s.message(now, "x", "m-1", &stomp_codec::Frame::new(Command::Send)),
        Err(UsageError::AfterDisconnect {
            command: Command::Message
        })
    );
    s.receipt(now, "2").unwrap();
    assert_eq!(server_events(&mut s), vec![], "closes once handed out");
    let fs = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(fs.len(), 2);
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::Disconnected)]
    );
}

#[test]
fn the_server_closes_at_once_on_disconnect_without_receipt_and_on_eof_after_it_r8() {
    let now = Instant::now();
    let connect = "CONNECT\naccept-version:1.2\n\n\0";
    let mut s = server_connected(ServerConfig::default(), now, connect);
    s.handle_input(now, b"DISCONNECT\n\n\0");
    assert_eq!(
        server_events(&mut s),
        vec![
            ServerEvent::Disconnect { receipt: None },
            ServerEvent::Closed(CloseReason::Disconnected)
        ]
    );
    let mut s = server_connected(ServerConfig::default(), now, connect);
    s.handle_input(now, b"DISCONNECT\nreceipt:9\n\n\0");
    server_events(&mut s);
    s.handle_close();
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::Disconnected)]
    );
}

#[test]
fn a_server_error_names_the_receipt_of_the_frame_r11() {
    let now = Instant::now();
    let mut s = server_connected(
        ServerConfig::default(),
        now,
        "CONNECT\naccept-version:1.2\n\n\0",
    );
    s.handle_input(now, b"SEND\ndestination:/nope\nreceipt:r-5\n\n\0");
    let events = server_events(&mut s);
    let r = events[0].receipt().unwrap();
    s.error(now, ErrorReply::new("no such destination").receipt_id(r))
        .unwrap();
    let f = &frames(&drain_server(&mut s), Version::V1_2)[0];
    assert!(is(f, Command::Error));
    assert_eq!(header(f, "receipt-id"), Some(&b"r-5"[..]));
    assert_eq!(header(f, "message"), Some(&b"no such destination"[..]));
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::ErrorSent)]
    );
}

#[test]
fn a_full_receipt_round_trip_over_a_pair_r1_r2_r5() {
    let mut p = Pair::connect(ClientConfig::new("/"), ServerConfig::default());
    p.up_plan = vec![1];
    p.down_plan = vec![3];
    let r = p
        .client
        .send(p.now, "/q", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    p.pump();
    let receipt = p.server_log[0].receipt().unwrap().clone();
    assert_eq!(receipt, r);
    p.server.receipt(p.now, &receipt).unwrap();
    let d = p
        .client
        .disconnect(p.now, FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    p.pump();
    let ServerEvent::Disconnect { receipt: Some(dr) } = p.server_log[1].clone() else {
        panic!("{:?}", p.server_log)
    };
    p.server.receipt(p.now, &dr).unwrap();
    p.pump();
    assert_eq!(
        p.client_log,
        vec![
            ClientEvent::ReceiptConfirmed { receipt_id: r },
            ClientEvent::ReceiptConfirmed { receipt_id: d },
            ClientEvent::Closed(CloseReason::Disconnected)
        ]
    );
    assert_eq!(
        p.server_log[2..],
        [ServerEvent::Closed(CloseReason::Disconnected)]
    );
}
