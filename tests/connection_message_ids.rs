//! Message ids are the server's, not a connection's (S-13): connections that take their ids
//! from one `MessageIds` never deliver the same `message-id`, and a client that reconnects sees
//! fresh ids (an at-least-once consumer deduplicating by `message-id` must never drop a new
//! message as a repeat).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use common_connection::*;
use proptest::prelude::*;
use stomp_codec::{
    AckMode, ClientConfig, ClientEvent, Command, Frame, FrameOptions, MessageIds, ServerConfig,
    ServerConnection, ServerEvent, Version,
};

fn content(body: &str) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", "/q")
        .body(body.to_owned())
        .build()
}

/// A 1.2 server connection with subscription `s` (client-individual, so MESSAGE carries `ack`,
/// S-14).
fn subscribed(now: Instant) -> ServerConnection {
    let mut s = server_connected(
        ServerConfig::default(),
        now,
        "CONNECT\naccept-version:1.2\nhost:/\n\n\0",
    );
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:s\ndestination:/q\nack:client-individual\n\n\0",
    );
    assert_eq!(server_events(&mut s).len(), 1);
    s
}

/// The `message-id` and `ack` headers of every MESSAGE a server wrote.
fn delivered(s: &mut ServerConnection) -> Vec<(Bytes, Bytes)> {
    frames(&drain_server(s), Version::V1_2)
        .iter()
        .filter(|f| is(f, Command::Message))
        .map(|f| {
            let id = Bytes::copy_from_slice(header(f, "message-id").expect("S-13"));
            let ack = Bytes::copy_from_slice(header(f, "ack").expect("S-14"));
            (id, ack)
        })
        .collect()
}

#[test]
fn two_connections_sharing_message_ids_never_repeat_an_id_s13() {
    let now = Instant::now();
    let mut ids = MessageIds::new("node-a.1");
    let mut a = subscribed(now);
    let mut b = subscribed(now);
    // The same content fanned out to both, and different content to each, interleaved.
    for i in 0..50 {
        a.message(now, "s", ids.next_id(), &content("both"))
            .unwrap();
        b.message(now, "s", ids.next_id(), &content("both"))
            .unwrap();
        if i % 3 == 0 {
            a.message(now, "s", ids.next_id(), &content(&format!("a{i}")))
                .unwrap();
        }
    }
    let from_a = delivered(&mut a);
    let from_b = delivered(&mut b);
    assert_eq!(from_a.len(), 67);
    assert_eq!(from_b.len(), 50);
    let mut seen = HashSet::new();
    for (id, ack) in from_a.iter().chain(&from_b) {
        assert!(seen.insert(id.clone()), "message-id {id:?} delivered twice");
        // 1.2: the ACK id is the message id (S-14), so it is unique too.
        assert_eq!(ack, id);
    }
}

#[test]
fn a_client_reconnecting_sees_fresh_ids_s13() {
    // One broker: one MessageIds outlives the connections.
    let mut ids = MessageIds::new("broker.7");
    let mut seen: HashSet<Bytes> = HashSet::new();
    let mut acked = 0;
    for session in 0..3 {
        let mut p = Pair::connect(ClientConfig::new("/"), ServerConfig::default());
        p.client
            .subscribe(
                p.now,
                "s",
                "/q",
                AckMode::ClientIndividual,
                FrameOptions::new(),
            )
            .unwrap();
        p.pump();
        for i in 0..10 {
            let body = format!("session {session} message {i}");
            p.server
                .message(p.now, "s", ids.next_id(), &content(&body))
                .unwrap();
        }
        p.pump();
        let messages: Vec<_> = p
            .client_log
            .drain(..)
            .filter_map(|e| match e {
                ClientEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(messages.len(), 10);
        for m in &messages {
            assert!(
                seen.insert(m.message_id.clone()),
                "session {session}: message-id {:?} already seen",
                m.message_id
            );
            // The ACK names this message and no other, across sessions (S-7, S-14).
            p.client.ack(p.now, m, FrameOptions::new()).unwrap();
            acked += 1;
        }
        p.pump();
        p.client
            .disconnect(p.now, FrameOptions::new().receipt())
            .unwrap();
        p.pump();
        // The server application confirms the DISCONNECT; both ends close.
        let receipt = p.server_log.iter().find_map(|e| match e {
            ServerEvent::Disconnect { receipt } => receipt.clone(),
            _ => None,
        });
        p.server
            .receipt(p.now, receipt.expect("DISCONNECT with receipt"))
            .unwrap();
        p.pump();
        assert!(p.client.is_closed() && p.server.is_closed());
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(acked, 30);
}

/// Per-connection counters are the mistake S-13 rules out: two connections numbering their
/// own messages from 1 both deliver `m-1`. `MessageIds` is the fix; this records why.
#[test]
fn per_connection_counters_would_repeat_ids_s13() {
    let now = Instant::now();
    let (mut a, mut b) = (subscribed(now), subscribed(now));
    let (mut ids_a, mut ids_b) = (MessageIds::new("m"), MessageIds::new("m"));
    a.message(now, "s", ids_a.next_id(), &content("x")).unwrap();
    b.message(now, "s", ids_b.next_id(), &content("y")).unwrap();
    assert_eq!(delivered(&mut a)[0].0, delivered(&mut b)[0].0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any interleaving of deliveries over up to four connections, new connections opened
    /// along the way, one shared `MessageIds`: every id delivered is new.
    #[test]
    fn any_interleaving_over_shared_ids_is_unique_s13(
        plan in prop::collection::vec((0usize..4, any::<bool>()), 1..80),
    ) {
        let now = Instant::now();
        let mut ids = MessageIds::new("n");
        let mut conns: Vec<ServerConnection> = (0..4).map(|_| subscribed(now)).collect();
        let mut seen = HashSet::new();
        for (i, reconnect) in plan {
            if reconnect {
                for (id, _) in delivered(&mut conns[i]) {
                    prop_assert!(seen.insert(id));
                }
                conns[i] = subscribed(now);
            }
            conns[i].message(now, "s", ids.next_id(), &content("x")).unwrap();
        }
        for c in &mut conns {
            for (id, _) in delivered(c) {
                prop_assert!(seen.insert(id.clone()), "{:?} twice", id);
            }
        }
    }
}
