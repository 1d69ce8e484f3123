//! Heart-beats in simulated time (B-1..B-8, D-19, D-20, R-6). No test sleeps: the clock is an
//! `Instant` moved by hand or jumped to the earliest `poll_timeout`.
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::{Duration, Instant};

use common_connection::*;
use stomp_codec::{
    ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectionError, FrameOptions,
    Heartbeat, ServerConfig, ServerEvent, Version, VersionSet,
};

const CONNECTED_1S: &str = "CONNECTED\nversion:1.2\nheart-beat:1000,1000\n\n\0";

/// A 1.2 client that offered `1000,1000` and received CONNECTED at `t0`.
fn client_1s(t0: Instant, config: ClientConfig) -> ClientConnection {
    client_connected(
        config.heartbeat(Heartbeat::new(1000, 1000)),
        t0,
        CONNECTED_1S,
    )
}

#[test]
fn both_intervals_are_negotiated_per_direction_b3() {
    // client (cx, cy) = (1000, 2000); server (sx, sy) = (3000, 500):
    // client -> server max(1000, 500) = 1000; server -> client max(3000, 2000) = 3000.
    let p = Pair::connect(
        ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 2000)),
        ServerConfig::default().heartbeat(Heartbeat::new(3000, 500)),
    );
    let now = p.now;
    assert_eq!(
        p.client.poll_timeout(),
        Some(now + ms(1000)),
        "client sends at 1 s"
    );
    // The server sends every 3 s; it declares the client dead after 1 s + 1 s of grace.
    assert_eq!(p.server.poll_timeout(), Some(now + ms(2000)));

    // A zero on either side disables that direction.
    let mut p = Pair::new(
        ClientConfig::new("/").heartbeat(Heartbeat::new(0, 2000)),
        ServerConfig::default().heartbeat(Heartbeat::new(3000, 500)),
    );
    p.client.connect(p.now).unwrap();
    p.pump();
    p.server.accept(p.now, Default::default()).unwrap();
    p.pump();
    match p.client_log.as_slice() {
        [ClientEvent::Connected {
            send_interval,
            receive_interval,
            heartbeat,
            ..
        }] => {
            assert_eq!(*send_interval, None);
            assert_eq!(*receive_interval, Some(ms(3000)));
            assert_eq!(*heartbeat, Heartbeat::new(3000, 500));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_eol_is_sent_when_nothing_was_written_for_the_interval_b4_d20() {
    let t0 = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 0)));
    c.connect(t0).unwrap(); // the last write: CONNECT at t0
    drain_client(&mut c);
    c.handle_input(
        t0 + ms(300),
        b"CONNECTED\nversion:1.2\nheart-beat:0,1000\n\n\0",
    );
    client_events(&mut c); // applies the CONNECTED
    assert_eq!(c.poll_timeout(), Some(t0 + ms(1000)), "n after the CONNECT");
    c.handle_timeout(t0 + ms(999));
    assert_eq!(c.poll_transmit(), None, "not due yet");
    c.handle_timeout(t0 + ms(1000));
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(c.poll_timeout(), Some(t0 + ms(2000)));
    // Repeated calls are no-ops.
    c.handle_timeout(t0 + ms(1000));
    assert_eq!(c.poll_transmit(), None);
}

#[test]
fn traffic_postpones_the_heartbeat_b4() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/"));
    c.send(t0 + ms(600), "/q", "x", FrameOptions::new())
        .unwrap();
    drain_client(&mut c);
    // The receive timer (t0 + 2 s) is later than the send timer.
    assert_eq!(c.poll_timeout(), Some(t0 + ms(1600)));
    c.handle_timeout(t0 + ms(1000));
    assert_eq!(c.poll_transmit(), None);
    c.handle_timeout(t0 + ms(1600));
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
}

#[test]
fn a_late_timer_call_sends_one_eol_and_rearms_from_now_b4() {
    let t0 = Instant::now();
    let mut c = client_1s(
        t0,
        ClientConfig::new("/").heartbeat_grace(Duration::from_secs(60)),
    );
    c.handle_timeout(t0 + ms(5500));
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(c.poll_timeout(), Some(t0 + ms(6500)));
}

#[test]
fn no_eol_piles_up_while_the_queue_is_not_drained() {
    let t0 = Instant::now();
    let mut c = client_1s(
        t0,
        ClientConfig::new("/").heartbeat_grace(Duration::from_secs(60)),
    );
    c.send(t0, "/q", "x", FrameOptions::new()).unwrap();
    let queued = c.pending_transmit();
    for i in 1..=10 {
        c.handle_timeout(t0 + ms(1000 * i));
    }
    assert_eq!(
        c.pending_transmit(),
        queued,
        "the queued frame carries the beat"
    );
}

#[test]
fn one_byte_per_interval_keeps_the_peer_alive_even_mid_frame_b5() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/"));
    c.subscribe(t0, "s", "/q", Default::default(), FrameOptions::new())
        .unwrap();
    let frame = b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\nhello\0";
    let mut now = t0;
    for (i, byte) in frame.iter().enumerate() {
        // 1.9 s between bytes: less than interval + grace (2 s) each time.
        now += ms(1900);
        c.handle_timeout(now);
        assert!(!c.is_closed(), "timed out before byte {i}");
        c.handle_input(now, std::slice::from_ref(byte));
    }
    let events = client_events(&mut c);
    assert!(
        matches!(events.as_slice(), [ClientEvent::Message(m)] if m.body() == &b"hello"[..]),
        "{events:?}"
    );
}

#[test]
fn silence_is_detected_after_interval_plus_grace_b6_d20() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/"));
    c.handle_input(t0 + ms(500), b"\n");
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + ms(1000)),
        "our own beat is due first"
    );
    c.handle_timeout(t0 + ms(1000));
    assert_eq!(drain_client(&mut c).as_ref(), b"\n");
    c.handle_timeout(t0 + ms(2000));
    assert_eq!(drain_client(&mut c).as_ref(), b"\n");
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + ms(2500)),
        "500 ms + 1 s + 1 s grace"
    );
    c.handle_timeout(t0 + ms(2499));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + ms(2500));
    let expected = ConnectionError::HeartbeatTimeout {
        interval: ms(1000),
        silence: ms(2000),
    };
    assert_eq!(
        client_events(&mut c),
        vec![
            ClientEvent::HeartbeatTimeout,
            ClientEvent::Closed(CloseReason::Failed(expected.clone()))
        ]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.input(t0 + ms(2600), b"\n"), Err(expected), "sticky");
}

#[test]
fn the_grace_is_configurable_d20() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/").heartbeat_grace(ms(250)));
    c.handle_timeout(t0 + ms(1000));
    drain_client(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + ms(1250)));
    c.handle_timeout(t0 + ms(1249));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + ms(1250));
    assert!(c.is_closed());
}

#[test]
fn note_activity_counts_as_life_d20() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/"));
    c.note_activity(t0 + ms(1900)); // e.g. a WebSocket ping
    c.handle_timeout(t0 + ms(2000));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + ms(3899));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + ms(3900));
    assert!(c.is_closed());
}

#[test]
fn a_1_0_session_runs_no_timers_b8() {
    let t0 = Instant::now();
    let mut c = client_connected(
        ClientConfig::new("/").versions(VersionSet::EMPTY.with(Version::V1_0)),
        t0,
        "CONNECTED\nheart-beat:1000,1000\n\n\0",
    );
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + Duration::from_secs(3600));
    assert_eq!(c.poll_transmit(), None);
    assert!(c.is_connected());
    // The CONNECT of a 1.0-only client carries no heart-beat header either.
    let mut c = ClientConnection::new(
        ClientConfig::new("/").versions(VersionSet::EMPTY.with(Version::V1_0)),
    );
    c.connect(t0).unwrap();
    let f = &frames(&drain_client(&mut c), Version::V1_0)[0];
    assert_eq!(header(f, "heart-beat"), None);
}

#[test]
fn heartbeats_stop_after_disconnect_r6() {
    let t0 = Instant::now();
    let mut c = client_1s(t0, ClientConfig::new("/"));
    c.disconnect(t0 + ms(100), FrameOptions::new().receipt())
        .unwrap();
    drain_client(&mut c);
    // Only the DISCONNECT receipt deadline remains (D-22).
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + ms(100) + Duration::from_secs(15))
    );
    c.handle_timeout(t0 + ms(5000));
    assert_eq!(c.poll_transmit(), None);
    assert!(!c.is_closed(), "server silence no longer matters");
}

#[test]
fn a_pair_stays_alive_on_heartbeats_alone_b4_b5() {
    let mut p = Pair::connect(
        ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 1000)),
        ServerConfig::default().heartbeat(Heartbeat::new(1000, 1000)),
    );
    let (up, down) = (p.up_bytes, p.down_bytes);
    p.advance(Duration::from_secs(60));
    assert!(p.client.is_connected() && p.server.is_connected());
    assert!(p.client_log.is_empty() && p.server_log.is_empty());
    // About one EOL per second each way: 60 within 60 s.
    assert_eq!(p.up_bytes - up, 60);
    assert_eq!(p.down_bytes - down, 60);
}

#[test]
fn the_server_detects_a_silent_client_and_aborts_its_transactions_b6_r7() {
    let mut p = Pair::connect(
        ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 1000)),
        ServerConfig::default().heartbeat(Heartbeat::new(1000, 1000)),
    );
    p.client.begin(p.now, "tx", FrameOptions::new()).unwrap();
    p.pump();
    assert!(matches!(
        p.server_log.as_slice(),
        [ServerEvent::Begin { .. }]
    ));
    let last_rx = p.now;
    // The client goes silent: drive the server alone.
    let mut now = p.now;
    for _ in 0..MAX_STEPS {
        let Some(t) = p.server.poll_timeout() else {
            break;
        };
        now = t;
        p.server.handle_timeout(now);
        let _ = p.server.poll_transmit();
    }
    assert_eq!(now, last_rx + ms(2000), "1 s interval + 1 s grace");
    let events = server_events(&mut p.server);
    assert_eq!(
        events,
        vec![
            ServerEvent::TransactionAborted {
                transaction: b("tx")
            },
            ServerEvent::HeartbeatTimeout,
            ServerEvent::Closed(CloseReason::Failed(ConnectionError::HeartbeatTimeout {
                interval: ms(1000),
                silence: ms(2000),
            })),
        ]
    );
}

#[test]
fn the_server_sends_eols_when_idle_b4() {
    let t0 = Instant::now();
    let mut s = server_connected(
        ServerConfig::default().heartbeat(Heartbeat::new(500, 0)),
        t0,
        "CONNECT\naccept-version:1.2\nheart-beat:0,400\n\n\0",
    );
    // server -> client: max(500, 400) = 500; client -> server: 0, so no receive timer.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
    s.handle_timeout(t0 + ms(500));
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(1000)));
}

#[test]
fn a_clock_that_steps_back_neither_rewinds_nor_fires_a_timer_b6_d20() {
    // Bytes stamped earlier than a time already seen count as arriving at that time: the
    // receive deadline (last activity + n + grace) must not move back, which used to make a
    // healthy peer look silent.
    let t0 = Instant::now() + Duration::from_secs(1000);
    let mut p = Pair::new(
        ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 1000)),
        ServerConfig::default().heartbeat(Heartbeat::new(1000, 1000)),
    );
    p.now = t0;
    p.handshake();
    let before = (p.client.poll_timeout(), p.server.poll_timeout());
    let back = t0 - Duration::from_millis(500);
    p.client.handle_input(back, b"\n");
    p.server.handle_input(back, b"\n");
    p.client.handle_timeout(back);
    p.server.handle_timeout(back);
    assert!(
        p.client.poll_timeout() >= before.0,
        "no deadline moved back"
    );
    assert!(
        p.server.poll_timeout() >= before.1,
        "no deadline moved back"
    );
    // 1.5 s after t0 is within 2 s of the EOLs (received, at the latest clock, at t0).
    p.client.handle_timeout(t0 + ms(1500));
    p.server.handle_timeout(t0 + ms(1500));
    p.pump();
    assert!(
        !p.client_log
            .iter()
            .any(|e| matches!(e, ClientEvent::HeartbeatTimeout | ClientEvent::Closed(_))),
        "{:?}",
        p.client_log
    );
    assert!(
        !p.server_log
            .iter()
            .any(|e| matches!(e, ServerEvent::HeartbeatTimeout | ServerEvent::Closed(_))),
        "{:?}",
        p.server_log
    );
    assert!(p.client.is_connected() && p.server.is_connected());
}

/// B-7, B-4: a CONNECTED read before a `handle_timeout` but polled after it starts the
/// heart-beats in order, and the timeout just handled sends the beat already due, so no
/// deadline is left at or before the time handled (found by the client_connection fuzzer).
#[test]
fn a_connected_polled_after_a_timeout_beats_at_once_b7() {
    let t0 = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(Heartbeat::new(100, 0)));
    c.connect(t0).unwrap();
    assert!(c.poll_transmit().is_some());
    c.handle_input(t0, b"CONNECTED\nversion:1.2\nheart-beat:0,100\n\n\0");
    // The application handles a timeout before polling the CONNECTED it read.
    let t1 = t0 + ms(1000);
    c.handle_timeout(t1);
    assert_eq!(
        c.poll_transmit(),
        None,
        "no beat before the session is seen"
    );
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    assert_eq!(c.poll_event(), None);
    // Nothing was written since t0: the beat is due, and is sent for the timeout at t1.
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(c.poll_timeout(), Some(t1 + ms(100)));
}
