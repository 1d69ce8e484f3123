//! Heart-beats are observable: `heartbeats_received()` counts the peer's EOLs between frames
//! (B-4, B-5, D-13), those trailing a frame's NUL included (F-10), in both roles; EOLs inside a
//! frame (line ends, a body) are not heart-beats.
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;

use std::time::Instant;

use common_connection::*;
use stomp_codec::{
    ClientConfig, ClientEvent, ServerConfig, ServerEvent, Version, DEFAULT_HEARTBEAT,
};

const CONNECTED12: &str = "CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0";
const CONNECT12: &str = "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:100,100\n\n\0";

#[test]
fn the_client_counts_the_servers_eols_b4_b5_d13() {
    let now = Instant::now();
    let mut c = client_connected(ClientConfig::new("/"), now, CONNECTED12);
    assert_eq!(c.heartbeats_received(), 0, "CONNECTED is not a heart-beat");

    // LF and CRLF, one heart-beat each (D-13), counted as poll_event reaches them.
    c.handle_input(now, b"\n\r\n\n");
    assert_eq!(
        c.heartbeats_received(),
        0,
        "counted when applied, not when buffered"
    );
    assert_eq!(client_events(&mut c), vec![], "heart-beats are not events");
    assert_eq!(c.heartbeats_received(), 3);

    // A CRLF split across two reads is one heart-beat (F-11).
    c.handle_input(now, b"\r");
    let _ = client_events(&mut c);
    c.handle_input(now, b"\n");
    let _ = client_events(&mut c);
    assert_eq!(c.heartbeats_received(), 4);

    // EOLs after a frame's NUL (F-10, as RabbitMQ and ActiveMQ write them) count; the line
    // ends of the frame and the LFs of its body do not, NUL-scanned or counted (H-1).
    c.handle_input(
        now,
        b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\n\nline\n\n\0\n\r\n\
          MESSAGE\r\ndestination:/q\r\nmessage-id:2\r\nsubscription:s\r\ncontent-length:3\r\n\r\n\n\n\n\0\n",
    );
    let events = client_events(&mut c);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| matches!(e, ClientEvent::Message(_))));
    assert_eq!(c.heartbeats_received(), 4 + 3);
}

#[test]
fn the_server_counts_the_clients_eols_b4_b5_d13() {
    let now = Instant::now();
    let mut s = server_connected(ServerConfig::default(), now, CONNECT12);
    assert_eq!(s.heartbeats_received(), 0, "CONNECT is not a heart-beat");

    s.handle_input(now, b"\n\n\r\n");
    assert_eq!(server_events(&mut s), vec![]);
    assert_eq!(s.heartbeats_received(), 3);

    // After a frame's NUL, yes; inside the frame (header line ends, a body of LFs), no.
    s.handle_input(
        now,
        b"SEND\ndestination:/q\n\n\n\n\0\n\nSEND\ndestination:/q\ncontent-length:2\n\n\n\n\0\r\n",
    );
    let events = server_events(&mut s);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| matches!(e, ServerEvent::Send { .. })));
    assert_eq!(s.heartbeats_received(), 3 + 3);

    // After DISCONNECT the server reads nothing more (R-6): later EOLs are not counted.
    s.handle_input(now, b"DISCONNECT\n\n\0\n");
    let _ = server_events(&mut s);
    let counted = s.heartbeats_received();
    assert_eq!(
        counted, 6,
        "nothing after DISCONNECT, even in the same read"
    );
    s.handle_input(now, b"\n\n");
    let _ = server_events(&mut s);
    assert_eq!(s.heartbeats_received(), counted);
}

/// Beats sent by the peers' own timers (B-3, B-4), over a client and a server back to back:
/// each side counts the other's.
#[test]
fn the_peers_timer_beats_are_counted_b3_b4() {
    let mut p = Pair::connect(
        ClientConfig::new("/").heartbeat(DEFAULT_HEARTBEAT),
        ServerConfig::default(),
    );
    assert_eq!(p.client.heartbeats_received(), 0);
    assert_eq!(p.server.heartbeats_received(), 0);
    // 10 s intervals both ways (B-3): a minute of silence is about six beats each way.
    p.advance(ms(60_000));
    assert!(p.client.is_connected() && p.server.is_connected());
    let (to_server, to_client) = (
        p.server.heartbeats_received(),
        p.client.heartbeats_received(),
    );
    assert!((5..=7).contains(&to_server), "{to_server}");
    assert!((5..=7).contains(&to_client), "{to_client}");
    // Frames reset the sending timer but are not beats.
    p.client
        .send(p.now, "/q", "x", stomp_codec::FrameOptions::new())
        .unwrap();
    p.pump();
    assert_eq!(p.server.heartbeats_received(), to_server);
}

/// 1.0 has no heart-beating (B-8), but EOLs between frames are still read (D-13) and counted.
#[test]
fn eols_in_a_1_0_session_are_counted_too_b8_d13() {
    let now = Instant::now();
    let mut s = server_connected(ServerConfig::default(), now, "CONNECT\n\n\0");
    assert_eq!(s.version(), Some(Version::V1_0));
    s.handle_input(now, b"\nSEND\ndestination:/q\n\nx\0\n");
    let _ = server_events(&mut s);
    assert_eq!(s.heartbeats_received(), 2);
}
