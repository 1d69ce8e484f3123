//! Fan-out: one message delivered to many subscriptions through `PreparedMessage` and
//! `ServerConnection::deliver` reads back exactly as the same message sent with `message`
//! (S-13, S-14, E-9), in every version.
#![cfg(feature = "std")]

mod common_connection;

use std::time::Instant;

use common_connection::{server_connected, server_events, wire};
use stomp_codec::{
    Command, Decoder, Frame, Item, MessageIds, PreparedMessage, ServerConfig, ServerConnection,
    UsageError, Version,
};

fn connected(version: Version, ack: &str) -> ServerConnection {
    let now = Instant::now();
    let connect = format!("CONNECT\naccept-version:{}\nhost:/\n\n\0", version.as_str());
    let mut s = server_connected(ServerConfig::default(), now, &connect);
    let subscribe = if version == Version::V1_0 {
        format!("SUBSCRIBE\ndestination:/topic/a\nack:{ack}\n\n\0")
    } else {
        format!("SUBSCRIBE\nid:sub-1\ndestination:/topic/a\nack:{ack}\n\n\0")
    };
    s.handle_input(now, &wire(&subscribe));
    server_events(&mut s);
    s
}

fn sent_frames(s: &mut ServerConnection, version: Version) -> Vec<Frame> {
    let mut decoder = Decoder::new(version);
    while let Some(bytes) = s.poll_transmit() {
        decoder.push(&bytes);
    }
    let mut frames = Vec::new();
    while let Some(item) = decoder.next_item().unwrap() {
        if let Item::Frame(f) = item {
            frames.push(f);
        }
    }
    frames
}

/// Headers as a sorted list: `deliver` writes the per-subscriber lines first, `message` the
/// destination first; STOMP gives header order no meaning beyond repeats (H-6).
fn sorted_headers(frame: &Frame) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut h: Vec<_> = frame
        .headers()
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    h.sort();
    h
}

#[test]
fn deliver_reads_back_as_message_in_every_version_s13_s14() {
    let content = Frame::builder(Command::Send)
        .header("destination", "/topic/a")
        .header("content-type", "text/plain")
        .header("x-note", "a:b\\c")
        .header("receipt", "r-1")
        .body("hello")
        .build();
    let prepared = PreparedMessage::new("/topic/a", &content);
    let mut ids = MessageIds::new("t");
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        for ack in ["auto", "client"] {
            let now = Instant::now();
            let sub = if version == Version::V1_0 {
                "/topic/a"
            } else {
                "sub-1"
            };
            let mut by_message = connected(version, ack);
            let mut by_deliver = connected(version, ack);
            let id = ids.next_id();
            by_message.message(now, sub, &id, &content).unwrap();
            by_deliver.deliver(now, sub, &id, &prepared).unwrap();
            let a = sent_frames(&mut by_message, version);
            let b = sent_frames(&mut by_deliver, version);
            assert_eq!(a.len(), 1);
            assert_eq!(b.len(), 1, "{version} {ack}");
            assert_eq!(
                sorted_headers(&a[0]),
                sorted_headers(&b[0]),
                "{version} {ack}"
            );
            assert_eq!(a[0].body(), b[0].body());
            assert_eq!(b[0].headers().get("receipt"), None, "not copied");
        }
    }
}

#[test]
fn deliver_escapes_ids_that_need_it_e2() {
    let now = Instant::now();
    let content = Frame::builder(Command::Send).body("x").build();
    let prepared = PreparedMessage::new("/topic/a", &content);
    let mut s = connected(Version::V1_2, "client");
    s.deliver(now, "sub-1", "id:with\\escapes", &prepared)
        .unwrap();
    let frames = sent_frames(&mut s, Version::V1_2);
    assert_eq!(
        frames[0].headers().get("message-id"),
        Some(&b"id:with\\escapes"[..])
    );
    assert_eq!(
        frames[0].headers().get("ack"),
        Some(&b"id:with\\escapes"[..])
    );
}

#[test]
fn deliver_is_refused_like_message() {
    let now = Instant::now();
    let content = Frame::builder(Command::Send).body("x").build();
    let prepared = PreparedMessage::new("/topic/a", &content);
    let mut s = connected(Version::V1_2, "auto");
    assert!(matches!(
        s.deliver(now, "nope", "m-1", &prepared),
        Err(UsageError::Rule(_))
    ));
    assert_eq!(s.pending_transmit(), 0);
    // Past the output limit nothing is queued (H-8).
    let mut small = server_connected(
        ServerConfig::default().max_pending_transmit(100),
        now,
        "CONNECT\naccept-version:1.2\nhost:/\n\n\0",
    );
    small.handle_input(now, b"SUBSCRIBE\nid:s\ndestination:/q\n\n\0");
    server_events(&mut small);
    let _ = small.poll_transmit();
    let big = PreparedMessage::new(
        "/q",
        &Frame::builder(Command::Send).body(vec![b'x'; 200]).build(),
    );
    // An empty queue takes one frame whatever its size (it could never go out otherwise)...
    small.deliver(now, "s", "m-1", &big).unwrap();
    let queued = small.pending_transmit();
    assert!(queued > 200);
    // ... but not a second one past the limit.
    assert!(matches!(
        small.deliver(now, "s", "m-2", &big),
        Err(UsageError::OutputFull { limit: 100, .. })
    ));
    assert_eq!(small.pending_transmit(), queued);
}

#[test]
fn deliver_refuses_a_message_id_with_a_nul_as_message_does_d15() {
    // A NUL in a header would end the frame: the id is refused, nothing is queued.
    let now = Instant::now();
    let content = Frame::builder(Command::Send).body("x").build();
    let prepared = PreparedMessage::new("/topic/a", &content);
    let mut s = connected(Version::V1_2, "auto");
    assert!(matches!(
        s.deliver(now, "sub-1", "m-1\0MESSAGE", &prepared),
        Err(UsageError::Encode(_))
    ));
    assert_eq!(s.pending_transmit(), 0);
}
