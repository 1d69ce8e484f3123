//! Slow peers and odd clocks: heart-beat loss detection against a peer that trickles one byte
//! per interval (alive, B-5) and one that sends nothing (dead after interval + grace, B-6,
//! D-20), in both roles; and clocks that go backwards, jump hours ahead, sit at the last
//! `Instant` the platform can hold, or run with the largest heart-beat the header can carry
//! (4294967295 ms, B-1): no panic, and no storm of heart-beats — at most one EOL per
//! `handle_timeout` call, however far the clock jumped (B-4).
//!
//! Time is virtual: tests move an `Instant` by hand. Every loop is bounded.
#![cfg(feature = "std")]

use std::time::{Duration, Instant};

use stomp_codec::{
    Accept, ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectionError, Heartbeat,
    ServerConfig, ServerConnection, ServerEvent,
};
use stomp_testkit::connection::far_future;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A client connected at `now` that offered `offer` and got `answer` in CONNECTED.
fn client_at(
    now: Instant,
    offer: Heartbeat,
    answer: &str,
    grace: Option<Duration>,
) -> ClientConnection {
    let mut config = ClientConfig::new("/").heartbeat(offer);
    if let Some(grace) = grace {
        config = config.heartbeat_grace(grace);
    }
    let mut c = ClientConnection::new(config);
    c.connect(now).unwrap();
    assert!(c.poll_transmit().is_some());
    let connected = format!("CONNECTED\nversion:1.2\nheart-beat:{answer}\n\n\0");
    c.handle_input(now, connected.as_bytes());
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    c
}

/// A server that accepted at `now` a CONNECT offering `offer`, answering `own`.
fn server_at(now: Instant, offer: &str, own: Heartbeat) -> ServerConnection {
    let mut s = ServerConnection::new(ServerConfig::default().heartbeat(own));
    let connect = format!("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:{offer}\n\n\0");
    s.handle_input(now, connect.as_bytes());
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect(_))));
    s.accept(now, Accept::new()).unwrap();
    assert!(s.poll_transmit().is_some());
    s
}

/// The bytes of a MESSAGE long enough to trickle for `n` intervals.
fn long_message(n: usize) -> Vec<u8> {
    let mut m = b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\n\n".to_vec();
    m.resize(m.len() + n, b'.');
    m.push(0);
    m
}

/// B-5, B-6: a server that sends one byte every `gap` is alive for the whole frame when `gap`
/// is under interval + grace (1 s + 1 s), and the frame arrives whole.
#[test]
fn a_peer_trickling_one_byte_per_interval_is_alive_b5() {
    for gap in [1000, 1999] {
        let t0 = Instant::now();
        // The client wants to hear every 1000 ms; the server promises 1000 ms.
        let mut c = client_at(t0, Heartbeat::new(0, 1000), "1000,0", None);
        let message = long_message(150);
        let mut now = t0;
        for &b in &message {
            now += ms(gap);
            c.handle_timeout(now);
            assert!(
                !c.is_closed(),
                "declared dead at +{:?} with a byte every {gap} ms",
                now - t0
            );
            c.handle_input(now, &[b]);
            // The deadline moves with every byte, even mid-frame.
            assert_eq!(c.poll_timeout(), Some(now + ms(2000)));
        }
        let Some(ClientEvent::Message(m)) = c.poll_event() else {
            panic!("the trickled MESSAGE was not delivered")
        };
        assert_eq!(m.body().len(), 150);
    }
}

/// B-6, D-20: nothing at all ends the connection exactly interval + grace after the last
/// byte — not one millisecond earlier — with the default grace (n) and a configured one.
#[test]
fn a_silent_peer_is_dead_after_interval_plus_grace_b6_d20() {
    for (grace, limit) in [
        (None, 2000),
        (Some(ms(500)), 1500),
        (Some(Duration::ZERO), 1000),
    ] {
        let t0 = Instant::now();
        let mut c = client_at(t0, Heartbeat::new(0, 1000), "1000,0", grace);
        c.handle_input(t0 + ms(300), b"\n");
        let last = t0 + ms(300);
        assert_eq!(c.poll_timeout(), Some(last + ms(limit)));
        c.handle_timeout(last + ms(limit - 1));
        assert!(!c.is_closed());
        c.handle_timeout(last + ms(limit));
        let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).take(10).collect();
        let expected = ConnectionError::HeartbeatTimeout {
            interval: ms(1000),
            silence: ms(limit),
        };
        assert_eq!(
            events,
            vec![
                ClientEvent::HeartbeatTimeout,
                ClientEvent::Closed(CloseReason::Failed(expected.clone()))
            ]
        );
        assert_eq!(c.failure(), Some(&expected));
        assert_eq!(c.poll_timeout(), None);
    }
}

/// The server side of the same two peers.
#[test]
fn the_server_tells_a_trickling_client_from_a_silent_one_b5_b6() {
    let t0 = Instant::now();
    // The client promises 1000 ms; the server wants 1000 ms.
    let mut alive = server_at(t0, "1000,0", Heartbeat::new(0, 1000));
    let frame = b"SEND\ndestination:/q\n\n..............................\0";
    let mut now = t0;
    for &b in frame {
        now += ms(1999);
        alive.handle_timeout(now);
        assert!(alive.is_connected());
        alive.handle_input(now, &[b]);
    }
    assert!(matches!(alive.poll_event(), Some(ServerEvent::Send { .. })));

    let mut dead = server_at(t0, "1000,0", Heartbeat::new(0, 1000));
    dead.handle_timeout(t0 + ms(1999));
    assert!(dead.is_connected());
    dead.handle_timeout(t0 + ms(2000));
    assert_eq!(dead.poll_event(), Some(ServerEvent::HeartbeatTimeout));
    assert!(matches!(
        dead.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Failed(
            ConnectionError::HeartbeatTimeout { .. }
        )))
    ));
}

/// B-4: after the clock jumps hours ahead, one call queues one EOL, not one per missed
/// interval; the next is due one interval after the call.
#[test]
fn a_jump_of_hours_sends_one_heartbeat_not_a_storm_b4() {
    let t0 = Instant::now();
    // The client sends every 1000 ms; the server sends nothing (no loss detection).
    let mut c = client_at(t0, Heartbeat::new(1000, 0), "0,1000", None);
    let later = t0 + Duration::from_secs(10 * 3600);
    c.handle_timeout(later);
    c.handle_timeout(later);
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_timeout(), Some(later + ms(1000)));

    let mut s = server_at(t0, "0,1000", Heartbeat::new(1000, 0));
    s.handle_timeout(later);
    s.handle_timeout(later);
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(s.poll_timeout(), Some(later + ms(1000)));

    // With loss detection on, hours of silence are a dead peer (B-6), reported once.
    let mut watched = client_at(t0, Heartbeat::new(1000, 1000), "1000,1000", None);
    watched.handle_timeout(later);
    assert_eq!(watched.poll_event(), Some(ClientEvent::HeartbeatTimeout));
    assert!(watched.is_closed());
    // At most the one beat that fell due with the timeout, never a storm.
    let out = watched.poll_transmit();
    assert!(out.as_deref().is_none_or(|b| b == b"\n"), "{out:?}");
    assert_eq!(watched.poll_transmit(), None);
}

/// The drive loop forbids a clock that goes backwards; given one anyway, neither role panics
/// or sends a storm, and small wiggles with traffic keep a live peer alive.
#[test]
fn a_clock_going_backwards_is_harmless() {
    let t0 = Instant::now() + Duration::from_secs(7200);
    let mut c = client_at(t0, Heartbeat::new(1000, 1000), "1000,1000", None);
    let mut s = server_at(t0, "1000,1000", Heartbeat::new(1000, 1000));
    for step in [500, 200, 900, 600, 1500, 1100, 2400, 2000] {
        let now = t0 + ms(step);
        c.handle_timeout(now);
        s.handle_timeout(now);
        c.handle_input(now, b"\n");
        s.handle_input(now, b"\n");
        assert!(c.pending_transmit() <= 1 && s.pending_transmit() <= 1);
        let _ = (c.poll_transmit(), s.poll_transmit());
    }
    assert!(c.is_connected() && s.is_connected());
    assert!(c.poll_event().is_none() && s.poll_event().is_none());

    // An hour back, then the present again: silence is measured from the earlier instant the
    // last bytes were stamped with, so the peer may be declared dead (once, with the sticky
    // error); nothing panics and nothing else happens.
    let back = t0 - Duration::from_secs(3600);
    for now in [back, back - ms(5), t0 + ms(2500), t0 + ms(2600)] {
        c.handle_timeout(now);
        s.handle_timeout(now);
        c.handle_input(now, b"\n");
        s.handle_input(now, b"\n");
        for failure in [c.failure(), s.failure()] {
            assert!(matches!(
                failure,
                None | Some(ConnectionError::HeartbeatTimeout { .. })
            ));
        }
        assert!(c.pending_transmit() <= 1 && s.pending_transmit() <= 1);
        let _ = (c.poll_transmit(), s.poll_transmit());
    }
    let client_events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).take(10).collect();
    assert!(client_events.len() <= 2, "{client_events:?}");
    let server_events: Vec<ServerEvent> = std::iter::from_fn(|| s.poll_event()).take(10).collect();
    assert!(server_events.len() <= 2, "{server_events:?}");
}

/// A mixed sequence of jumps, forwards and back, small and huge: every `handle_timeout` adds
/// at most one EOL to an empty queue, and no deadline is at or before `now` afterwards.
#[test]
fn any_clock_sequence_gives_at_most_one_eol_per_call_b4() {
    let t0 = Instant::now() + Duration::from_secs(24 * 3600);
    let mut c = client_at(t0, Heartbeat::new(100, 0), "0,100", None);
    let mut s = server_at(t0, "0,100", Heartbeat::new(100, 0));
    let steps: [i64; 12] = [
        1,
        99,
        100,
        5_000,
        -3_000,
        36_000_000,
        -36_000_000,
        0,
        101,
        -1,
        250,
        7,
    ];
    let mut now = t0;
    for (i, &step) in steps.iter().cycle().take(120).enumerate() {
        now = if step >= 0 {
            now + ms(step as u64)
        } else {
            now.checked_sub(ms(step.unsigned_abs())).unwrap_or(now)
        };
        c.handle_timeout(now);
        s.handle_timeout(now);
        for (queued, next) in [
            (c.pending_transmit(), c.poll_timeout()),
            (s.pending_transmit(), s.poll_timeout()),
        ] {
            assert!(queued <= 1, "step {i}: {queued} bytes after one call");
            assert!(
                next.is_none_or(|t| t > now),
                "step {i}: deadline not ahead of now"
            );
        }
        let _ = (c.poll_transmit(), s.poll_transmit());
    }
}

/// B-1: 4294967295 ms is a valid heart-beat; both roles compute 49.7-day intervals and a
/// 99.4-day loss deadline without overflow, and beat once when it comes due.
#[test]
fn the_largest_heartbeat_is_handled_b1() {
    let t0 = Instant::now();
    let max = Heartbeat::new(u32::MAX, u32::MAX);
    let n = ms(u64::from(u32::MAX));
    let mut c = client_at(t0, max, "4294967295,4294967295", None);
    assert_eq!(c.poll_timeout(), Some(t0 + n));
    c.handle_timeout(t0 + n);
    assert_eq!(c.poll_transmit().as_deref(), Some(&b"\n"[..]));
    c.handle_timeout(t0 + n + n - ms(1));
    assert!(c.is_connected(), "alive until interval + grace");
    c.handle_timeout(t0 + n + n);
    assert!(c.is_closed());

    let mut s = server_at(t0, "4294967295,4294967295", max);
    assert_eq!(s.poll_timeout(), Some(t0 + n));
    s.handle_timeout(t0 + n);
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert_eq!(s.poll_timeout(), Some(t0 + n + n));
}

/// At the last representable `Instant`, deadlines cannot be written down: the timers are
/// disarmed instead of overflowing (no panic), so heart-beating stops there. Whatever that
/// means for a real program (its monotonic clock cannot get there), the connection survives
/// every call.
#[test]
fn the_far_future_instant_is_handled() {
    let far = far_future();
    assert!(far.checked_add(Duration::from_nanos(1)).is_none());
    let start = far - ms(10);
    let mut c = client_at(start, Heartbeat::new(100, 100), "100,100", None);
    let mut s = server_at(start, "100,100", Heartbeat::new(100, 100));
    for now in [start, far - ms(1), far] {
        c.handle_timeout(now);
        s.handle_timeout(now);
        c.handle_input(now, b"\n");
        s.handle_input(now, b"\n");
        assert!(c.pending_transmit() <= 1 && s.pending_transmit() <= 1);
        let _ = (c.poll_transmit(), s.poll_transmit());
    }
    assert!(c.poll_timeout().is_none_or(|t| t <= far));
    // A connection made long before, woken at the far future: the silent peer is dead.
    let t0 = Instant::now();
    let mut old = client_at(t0, Heartbeat::new(100, 100), "100,100", None);
    old.handle_timeout(far);
    assert_eq!(old.poll_event(), Some(ClientEvent::HeartbeatTimeout));
    // Without loss detection it beats once; the next beat saturates at the end of time.
    let mut quiet = client_at(t0, Heartbeat::new(100, 0), "0,100", None);
    quiet.handle_timeout(far);
    assert_eq!(quiet.poll_transmit().as_deref(), Some(&b"\n"[..]));
    assert!(quiet.poll_timeout().is_some_and(|t| t >= far));
    assert!(quiet.is_connected());
}
