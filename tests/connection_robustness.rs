//! No panics and no lost invariants on any input or call order: both roles fed arbitrary mixes
//! of valid frames, garbage and timer calls (STYLE "no panics on any input", D-23).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::Instant;

use common_connection::*;
use proptest::prelude::*;
use stomp_codec::{
    Accept, AckMode, ClientConfig, ClientConnection, ClientEvent, Frame, FrameOptions,
    ServerConfig, ServerConnection, ServerEvent,
};

/// Pieces a peer might send: valid frames of both roles, heart-beats, and damaged bytes.
const PIECES: &[&[u8]] = &[
    b"CONNECT\naccept-version:1.0,1.1,1.2\nheart-beat:100,100\n\n\0",
    b"STOMP\naccept-version:1.2\n\n\0",
    b"CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0",
    b"CONNECTED\n\n\0",
    b"SEND\ndestination:/q\nreceipt:r1\n\nbody\0",
    b"SUBSCRIBE\nid:s\ndestination:/q\nack:client\n\n\0",
    b"UNSUBSCRIBE\nid:s\n\n\0",
    b"ACK\nid:1\n\n\0",
    b"NACK\nmessage-id:1\nsubscription:s\n\n\0",
    b"BEGIN\ntransaction:t\n\n\0",
    b"COMMIT\ntransaction:t\n\n\0",
    b"DISCONNECT\nreceipt:r2\n\n\0",
    b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\nack:a\n\nhi\0",
    b"MESSAGE\ndestination:/q\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-1\n\n\0",
    b"RECEIPT\n\n\0",
    b"ERROR\nmessage:x\n\n\0",
    b"\n",
    b"\r\n",
    b"\0",
    b"SEND\ndestination:/q\\x\n\n\0",
    b"SEND\ncontent-length:99999999999\n\n",
    b"garbage",
];

fn input() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let piece = prop_oneof![
        4 => prop::sample::select(PIECES).prop_map(|p| p.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop::collection::vec(piece, 0..24)
}

#[derive(Debug, Clone)]
enum Call {
    Input(usize),
    Timeout(u16),
    Close,
    Act(u8),
}

fn calls() -> impl Strategy<Value = Vec<Call>> {
    let call = prop_oneof![
        6 => (0usize..64).prop_map(Call::Input),
        2 => (0u16..500).prop_map(Call::Timeout),
        1 => Just(Call::Close),
        3 => any::<u8>().prop_map(Call::Act),
    ];
    prop::collection::vec(call, 0..40)
}

/// Drives a client with `calls`, taking input bytes from `bytes` in pieces.
fn drive_client(bytes: &[u8], calls: &[Call]) {
    let mut now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    let mut pos = 0;
    let mut closed = 0;
    for call in calls {
        match call {
            Call::Input(n) => {
                let end = (pos + n).min(bytes.len());
                let r = c.input(now, &bytes[pos..end]);
                pos = end;
                // An error is sticky and always reported as the failure.
                if let Err(e) = r {
                    assert_eq!(c.failure(), Some(&e));
                }
            }
            Call::Timeout(ms_) => {
                now += ms(u64::from(*ms_));
                c.handle_timeout(now);
            }
            Call::Close => c.handle_close(),
            Call::Act(a) => {
                let m = Frame::new(stomp_codec::Command::Message);
                let _ = match a % 8 {
                    0 => c.connect(now).map(|_| None),
                    1 => c.send(now, "/q", "x", FrameOptions::new().receipt()),
                    2 => c.subscribe(now, "s", "/q", AckMode::Client, FrameOptions::new()),
                    3 => c.unsubscribe(now, "s", FrameOptions::new()),
                    4 => c.ack(now, &m, FrameOptions::new()),
                    5 => c.begin(now, "t", FrameOptions::new()),
                    6 => c.commit(now, "t", FrameOptions::new()),
                    _ => c.disconnect(now, FrameOptions::new().receipt()),
                };
            }
        }
        let _ = c.poll_transmit();
        for e in std::iter::from_fn(|| c.poll_event()).take(MAX_STEPS) {
            if matches!(e, ClientEvent::Closed(_)) {
                closed += 1;
            }
        }
        // A closed connection runs no timers.
        if c.is_closed() {
            assert_eq!(c.poll_timeout(), None);
        }
    }
    assert!(closed <= 1, "Closed reported {closed} times");
    assert_eq!(closed == 1, c.is_closed());
}

/// Drives a server the same way; the application accepts every CONNECT and answers receipts.
fn drive_server(bytes: &[u8], calls: &[Call]) {
    let mut now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    let mut pos = 0;
    let mut closed = 0;
    let mut errors = 0;
    for call in calls {
        match call {
            Call::Input(n) => {
                let end = (pos + n).min(bytes.len());
                s.handle_input(now, &bytes[pos..end]);
                pos = end;
            }
            Call::Timeout(ms_) => {
                now += ms(u64::from(*ms_));
                s.handle_timeout(now);
            }
            Call::Close => s.handle_close(),
            Call::Act(a) => {
                let content = Frame::new(stomp_codec::Command::Send);
                let _ = match a % 4 {
                    0 => s.message(now, "s", "m-1", &content).map(|_| ()),
                    1 => s.receipt(now, "r1"),
                    2 => s.accept(now, Accept::new()),
                    _ => s.error(now, "bye"),
                };
            }
        }
        if let Some(out) = s.poll_transmit() {
            // Whatever the server writes decodes, and holds at most one ERROR.
            let fs = frames(&out, stomp_codec::Version::V1_0);
            errors += fs
                .iter()
                .filter(|f| f.command() == &stomp_codec::Command::Error)
                .count();
        }
        for e in server_events(&mut s) {
            match e {
                ServerEvent::Connect(_) => {
                    let _ = s.accept(now, Accept::new());
                }
                ServerEvent::Closed(_) => closed += 1,
                other => {
                    if let Some(r) = other.receipt() {
                        let _ = s.receipt(now, r);
                    }
                }
            }
        }
        if s.is_closed() {
            assert_eq!(s.poll_timeout(), None);
        }
    }
    assert!(errors <= 1, "{errors} ERROR frames");
    assert!(closed <= 1, "Closed reported {closed} times");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_client_survives_any_input_and_call_order(pieces in input(), calls in calls()) {
        drive_client(&pieces.concat(), &calls);
    }

    #[test]
    fn the_server_survives_any_input_and_call_order(pieces in input(), calls in calls()) {
        drive_server(&pieces.concat(), &calls);
    }
}
