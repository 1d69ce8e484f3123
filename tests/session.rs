//! The reconnecting client session in simulated time: a `ClientSession<Duration>` against an
//! in-memory broker made of one `ServerConnection` per transport, which the tests crash, make
//! silent, or make refuse transports. No sleeps, no sockets: every policy (backoff bounds,
//! jitter, reset after a stable connection, giving up, resubscribe before queued frames,
//! at-least-once resend, receipt deadlines) is checked at the exact simulated instant.

use std::time::Duration;

use bytes::Bytes;
use stomp_codec::{
    Accept, AckMode, ClientConfig, ClientSession, CloseReason, Command, ConnectionError,
    DisconnectReason, ErrorReply, Frame, FrameOptions, Heartbeat, ReceiptFailure, ReconnectPolicy,
    ServerConfig, ServerConnection, ServerEvent, SessionConfig, SessionError, SessionEvent,
    SessionState, Unconfirmed,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the broker saw, per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connect {
        passcode: Option<String>,
    },
    Subscribe {
        id: String,
        destination: String,
        receipt: Option<String>,
    },
    Unsubscribe {
        id: String,
    },
    Send {
        destination: String,
        body: String,
        receipt: Option<String>,
    },
    Ack,
    Disconnect,
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Sim {
    t: Duration,
    session: ClientSession<Duration>,
    server: Option<ServerConnection<Duration>>,
    server_config: ServerConfig,
    /// (connection number, frame seen).
    seen: Vec<(u64, Seen)>,
    events: Vec<(Duration, SessionEvent)>,
    /// Transports the broker accepts (false: `handle_transport_failed`).
    up: bool,
    /// The broker answers receipts.
    confirm: bool,
    /// The network forwards bytes.
    forwarding: bool,
    /// Deliveries kept for acking.
    deliveries: Vec<stomp_codec::Delivery>,
}

impl Sim {
    fn new(config: SessionConfig) -> Sim {
        Sim {
            t: Duration::ZERO,
            session: ClientSession::with_timestamp_type(config),
            server: None,
            server_config: ServerConfig::default().heartbeat(Heartbeat::new(0, 0)),
            seen: Vec::new(),
            events: Vec::new(),
            up: true,
            confirm: true,
            forwarding: true,
            deliveries: Vec::new(),
        }
    }

    fn config() -> SessionConfig {
        SessionConfig::new(ClientConfig::new("/").heartbeat(Heartbeat::new(0, 0)))
            .reconnect(ReconnectPolicy::default().jitter(0.0))
    }

    /// Runs everything that can happen at `self.t` until nothing moves.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(event) = self.session.poll_event() {
                moved = true;
                match &event {
                    SessionEvent::OpenTransport { .. } => {
                        // A new transport takes a new path: only the old one was silent.
                        self.forwarding = true;
                        if self.up {
                            self.session.handle_transport_opened(self.t).unwrap();
                            self.server = Some(ServerConnection::with_timestamp_type(
                                self.server_config.clone(),
                            ));
                        } else {
                            self.session.handle_transport_failed(self.t);
                        }
                    }
                    SessionEvent::Disconnected { .. } | SessionEvent::Closed => {
                        self.flush_client();
                        self.server = None;
                    }
                    SessionEvent::Delivery(d) => self.deliveries.push(d.clone()),
                    _ => {}
                }
                self.events.push((self.t, event));
            }
            moved |= self.flush_client();
            if let Some(server) = &mut self.server {
                let mut out = Vec::new();
                while let Some(bytes) = server.poll_transmit() {
                    out.extend_from_slice(&bytes);
                }
                if !out.is_empty() && self.forwarding {
                    moved = true;
                    self.session.handle_input(self.t, &out);
                }
                self.serve();
            }
            if !moved {
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    fn flush_client(&mut self) -> bool {
        let mut out = Vec::new();
        while let Some(bytes) = self.session.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        if out.is_empty() {
            return false;
        }
        if let (Some(server), true) = (&mut self.server, self.forwarding) {
            server.handle_input(self.t, &out);
        }
        true
    }

    /// The broker's application: accept, record, confirm.
    fn serve(&mut self) {
        let conn = self.session.connection_number();
        let t = self.t;
        let Some(server) = &mut self.server else {
            return;
        };
        while let Some(event) = server.poll_event() {
            let receipt = event.receipt().cloned();
            let seen = match event {
                ServerEvent::Connect(request) => {
                    server.accept(t, Accept::new()).unwrap();
                    Seen::Connect {
                        passcode: request.passcode.as_ref().map(text),
                    }
                }
                ServerEvent::Subscribe {
                    id,
                    destination,
                    receipt,
                    ..
                } => Seen::Subscribe {
                    id: text(&id),
                    destination: text(&destination),
                    receipt: receipt.as_ref().map(text),
                },
                ServerEvent::Unsubscribe { id, .. } => Seen::Unsubscribe { id: text(&id) },
                ServerEvent::Send { frame, receipt, .. } => Seen::Send {
                    destination: String::from_utf8_lossy(
                        frame.destination().expect("checked by the connection"),
                    )
                    .into_owned(),
                    body: String::from_utf8_lossy(frame.body()).into_owned(),
                    receipt: receipt.as_ref().map(text),
                },
                ServerEvent::Ack { .. } => Seen::Ack,
                ServerEvent::Disconnect { .. } => Seen::Disconnect,
                _ => continue,
            };
            if let Some(r) = receipt {
                if self.confirm || seen == Seen::Disconnect {
                    let _ = server.receipt(t, &r);
                }
            }
            self.seen.push((conn, seen));
        }
    }

    /// Moves time to `until`, firing every timer on the way at its instant.
    fn advance_to(&mut self, until: Duration) {
        self.pump();
        for _ in 0..10_000 {
            let next = [
                self.session.poll_timeout(),
                self.server.as_ref().and_then(|s| s.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(next) if next <= until => {
                    self.t = self.t.max(next);
                    self.session.handle_timeout(self.t);
                    if let Some(s) = &mut self.server {
                        s.handle_timeout(self.t);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.t = until;
        self.pump();
    }

    fn advance(&mut self, d: Duration) {
        self.advance_to(self.t + d);
    }

    /// The broker's process dies: the transport ends under the client.
    fn crash(&mut self) {
        self.server = None;
        self.session.handle_close(self.t);
        self.pump();
    }

    fn seen_on(&self, conn: u64) -> Vec<Seen> {
        self.seen
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn take_events(&mut self) -> Vec<(Duration, SessionEvent)> {
        std::mem::take(&mut self.events)
    }

    /// The broker publishes `body` to subscription `sub`.
    fn deliver(&mut self, sub: &str, body: &str) {
        let t = self.t;
        let content = Frame::builder(Command::Send)
            .header("destination", "/queue/a")
            .body(body.to_string())
            .build();
        let server = self.server.as_mut().expect("connected");
        server
            .message(t, sub, format!("m-{body}"), &content)
            .unwrap();
        self.pump();
    }
}

/// The last `n` events (all of them when there are fewer), without their times.
fn last_events(events: &[(Duration, SessionEvent)], n: usize) -> Vec<SessionEvent> {
    let from = events.len().saturating_sub(n);
    events[from..].iter().map(|(_, e)| e.clone()).collect()
}

fn sub(id: &str, destination: &str) -> Seen {
    Seen::Subscribe {
        id: id.into(),
        destination: destination.into(),
        receipt: None,
    }
}

fn send(body: &str, receipt: Option<&str>) -> Seen {
    Seen::Send {
        destination: "/queue/a".into(),
        body: body.into(),
        receipt: receipt.map(String::from),
    }
}

fn receipt_events(events: &[(Duration, SessionEvent)]) -> Vec<SessionEvent> {
    events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                SessionEvent::ReceiptConfirmed { .. } | SessionEvent::ReceiptFailed { .. }
            )
        })
        .map(|(_, e)| e.clone())
        .collect()
}

fn confirmed(id: &str) -> SessionEvent {
    SessionEvent::ReceiptConfirmed {
        receipt_id: Bytes::from(id.to_string()),
    }
}

fn failed(id: &str, reason: ReceiptFailure) -> SessionEvent {
    SessionEvent::ReceiptFailed {
        receipt_id: Bytes::from(id.to_string()),
        reason,
    }
}

fn scheduled(events: &[(Duration, SessionEvent)]) -> Vec<(u32, Duration)> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::ReconnectScheduled { attempt, delay } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

fn opened_at(events: &[(Duration, SessionEvent)]) -> Vec<(Duration, u32)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            SessionEvent::OpenTransport { attempt } => Some((*t, *attempt)),
            _ => None,
        })
        .collect()
}

// ---- connecting -------------------------------------------------------------------------

#[test]
fn connects_and_reports_the_negotiated_parameters_c6() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    assert_eq!(sim.session.state(), SessionState::Connected);
    let connected: Vec<_> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::Connected(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].version, stomp_codec::Version::V1_2);
    assert_eq!(connected[0].attempt, 1);
    assert_eq!(connected[0].connection, 1);
    assert!(connected[0]
        .server
        .as_deref()
        .unwrap_or("")
        .starts_with("stomp-codec/"));
    assert_eq!(sim.seen_on(1), [Seen::Connect { passcode: None }]);
}

#[test]
fn offline_subscriptions_go_out_before_offline_sends_in_call_order() {
    let mut sim = Sim::new(Sim::config());
    let t = sim.t;
    // Before the transport: everything waits.
    sim.session
        .send(t, "/queue/a", "first", FrameOptions::new())
        .unwrap();
    sim.session
        .subscribe(t, "s1", "/queue/a", AckMode::Auto, FrameOptions::new())
        .unwrap();
    sim.session
        .send(t, "/queue/a", "second", FrameOptions::new())
        .unwrap();
    sim.session
        .subscribe(t, "s2", "/topic/b", AckMode::Auto, FrameOptions::new())
        .unwrap();
    assert_eq!(sim.session.offline_queued().0, 2);
    sim.pump();
    assert_eq!(
        sim.seen_on(1),
        [
            Seen::Connect { passcode: None },
            sub("s1", "/queue/a"),
            sub("s2", "/topic/b"),
            send("first", None),
            send("second", None),
        ],
        "subscriptions first, then what was queued, each in call order"
    );
    assert_eq!(sim.session.offline_queued(), (0, 0));
}

// ---- losing the connection ----------------------------------------------------------------

#[test]
fn after_a_crash_subscriptions_are_replayed_then_unconfirmed_sends_then_offline_ones() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    let t = sim.t;
    sim.session
        .subscribe(
            t,
            "s1",
            "/queue/a",
            AckMode::ClientIndividual,
            FrameOptions::new(),
        )
        .unwrap();
    sim.session
        .subscribe(t, "s2", "/topic/b", AckMode::Auto, FrameOptions::new())
        .unwrap();
    sim.confirm = false; // the broker processes but its receipts are lost with it
    let r1 = sim
        .session
        .send(t, "/queue/a", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.session
        .send(t, "/queue/a", "no-receipt", FrameOptions::new())
        .unwrap();
    let r2 = sim
        .session
        .send(t, "/queue/a", "y", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.pump();
    assert_eq!(sim.session.pending_receipts(), 2);
    sim.crash();
    let events = sim.take_events();
    assert!(events.iter().any(|(_, e)| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::Closed(CloseReason::PeerClosed)
        }
    )));
    assert_eq!(scheduled(&events), [(1, Duration::from_secs(1))]);
    // Offline: a new SEND waits behind the two to resend.
    let t = sim.t;
    sim.session
        .send(t, "/queue/a", "z", FrameOptions::new())
        .unwrap();
    assert_eq!(sim.session.offline_queued().0, 3);
    sim.confirm = true;
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.session.connection_number(), 2);
    assert_eq!(
        sim.seen_on(2),
        [
            Seen::Connect { passcode: None },
            sub("s1", "/queue/a"),
            sub("s2", "/topic/b"),
            send("x", Some(&text(&r1))),
            send("y", Some(&text(&r2))),
            send("z", None),
        ],
        "resubscribe, resend the unconfirmed under their receipt ids, then the offline queue; \
         the SEND without receipt is not resent (at-most-once)"
    );
    assert_eq!(
        receipt_events(&sim.take_events()),
        [confirmed(&text(&r1)), confirmed(&text(&r2))],
        "each receipt confirmed exactly once (R-2)"
    );
    assert_eq!(sim.session.pending_receipts(), 0);
}

#[test]
fn with_unconfirmed_fail_a_lost_send_is_reported_not_resent() {
    let mut sim = Sim::new(Sim::config().unconfirmed(Unconfirmed::Fail));
    sim.pump();
    sim.confirm = false;
    let t = sim.t;
    let r = sim
        .session
        .send(t, "/queue/a", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.pump();
    sim.crash();
    assert_eq!(
        receipt_events(&sim.take_events()),
        [failed(&text(&r), ReceiptFailure::ConnectionLost)]
    );
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.seen_on(2), [Seen::Connect { passcode: None }]);
}

#[test]
fn a_subscribe_receipt_lost_with_the_connection_is_asked_again_by_the_replay() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    sim.confirm = false;
    let t = sim.t;
    let r = sim
        .session
        .subscribe(
            t,
            "s1",
            "/queue/a",
            AckMode::Auto,
            FrameOptions::new().receipt(),
        )
        .unwrap()
        .unwrap();
    sim.pump();
    sim.crash();
    sim.confirm = true;
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.seen_on(2)[1],
        Seen::Subscribe {
            id: "s1".into(),
            destination: "/queue/a".into(),
            receipt: Some(text(&r))
        }
    );
    assert_eq!(receipt_events(&sim.take_events()), [confirmed(&text(&r))]);
    // Confirmed: the next replay asks nothing. (The connection was short-lived: the delay
    // doubled.)
    sim.crash();
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.seen_on(3)[1], sub("s1", "/queue/a"));
}

#[test]
fn unsubscribed_ids_are_not_replayed() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    let t = sim.t;
    sim.session
        .subscribe(t, "s1", "/queue/a", AckMode::Auto, FrameOptions::new())
        .unwrap();
    sim.session
        .subscribe(t, "s2", "/queue/b", AckMode::Auto, FrameOptions::new())
        .unwrap();
    sim.session
        .unsubscribe(t, "s1", FrameOptions::new())
        .unwrap();
    sim.pump();
    assert_eq!(sim.seen_on(1)[3], Seen::Unsubscribe { id: "s1".into() });
    sim.crash();
    // Offline unsubscribe: nothing to send, nothing replayed.
    let t = sim.t;
    sim.session
        .subscribe(t, "s3", "/queue/c", AckMode::Auto, FrameOptions::new())
        .unwrap();
    sim.session
        .unsubscribe(t, "s2", FrameOptions::new())
        .unwrap();
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.seen_on(2),
        [Seen::Connect { passcode: None }, sub("s3", "/queue/c")]
    );
    assert!(matches!(
        sim.session.unsubscribe(sim.t, "s2", FrameOptions::new()),
        Err(SessionError::UnknownSubscription { .. })
    ));
    assert!(matches!(
        sim.session
            .subscribe(sim.t, "s3", "/x", AckMode::Auto, FrameOptions::new()),
        Err(SessionError::DuplicateSubscription { .. })
    ));
}

// ---- backoff -------------------------------------------------------------------------------

#[test]
fn backoff_doubles_up_to_the_cap_at_the_exact_instants() {
    let policy = ReconnectPolicy::default()
        .initial_delay(ms(100))
        .max_delay(ms(1000))
        .jitter(0.0);
    let mut sim = Sim::new(Sim::config().reconnect(policy));
    sim.up = false;
    sim.advance_to(ms(5000));
    let events = sim.take_events();
    let delays: Vec<Duration> = scheduled(&events).iter().map(|(_, d)| *d).collect();
    assert_eq!(
        delays[..7],
        [
            ms(100),
            ms(200),
            ms(400),
            ms(800),
            ms(1000),
            ms(1000),
            ms(1000)
        ]
    );
    // Each attempt exactly when its delay ran out.
    let opened = opened_at(&events);
    let mut expected_t = Duration::ZERO;
    for (i, (t, attempt)) in opened.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        assert_eq!(*t, expected_t, "attempt {attempt}");
        if let Some(d) = delays.get(i) {
            expected_t += *d;
        }
    }
    assert_eq!(sim.session.state(), SessionState::Waiting);
}

#[test]
fn jittered_delays_are_deterministic_and_within_bounds() {
    let run = |seed: u64| {
        let policy = ReconnectPolicy::default()
            .initial_delay(ms(1000))
            .max_delay(ms(8000))
            .jitter(0.5)
            .seed(seed);
        let mut sim = Sim::new(Sim::config().reconnect(policy));
        sim.up = false;
        sim.advance_to(Duration::from_secs(120));
        scheduled(&sim.take_events())
    };
    let a = run(7);
    assert_eq!(a, run(7), "the same seed gives the same delays");
    assert_ne!(a, run(8));
    for (attempt, delay) in &a {
        let base = ms(1000 * (1u64 << (attempt - 2).min(3)));
        assert!(
            *delay <= base && *delay >= base / 2,
            "attempt {attempt}: {delay:?} for {base:?}"
        );
    }
}

#[test]
fn a_stable_connection_resets_the_backoff_and_a_flapping_one_does_not() {
    let policy = ReconnectPolicy::default()
        .initial_delay(ms(100))
        .jitter(0.0)
        .reset_after(Duration::from_secs(10));
    let mut sim = Sim::new(Sim::config().reconnect(policy));
    sim.pump();
    // Flapping: up for 1 s each time.
    for _ in 0..3 {
        sim.advance(Duration::from_secs(1));
        sim.crash();
        sim.advance(Duration::from_secs(5));
    }
    let flapping: Vec<Duration> = scheduled(&sim.take_events())
        .iter()
        .map(|(_, d)| *d)
        .collect();
    assert_eq!(flapping, [ms(100), ms(200), ms(400)]);
    // Stable: up for 10 s.
    sim.advance(Duration::from_secs(10));
    sim.crash();
    assert_eq!(
        scheduled(&sim.take_events()),
        [(1, ms(100))],
        "back to the initial delay"
    );
}

#[test]
fn gives_up_after_max_attempts_and_fails_what_is_pending() {
    let policy = ReconnectPolicy::default()
        .initial_delay(ms(100))
        .jitter(0.0)
        .max_attempts(Some(3));
    let mut sim = Sim::new(Sim::config().reconnect(policy));
    sim.up = false;
    let r = sim
        .session
        .send(
            Duration::ZERO,
            "/queue/a",
            "x",
            FrameOptions::new().receipt(),
        )
        .unwrap()
        .unwrap();
    sim.advance_to(Duration::from_secs(10));
    let events = sim.take_events();
    assert_eq!(opened_at(&events).len(), 3);
    let tail = last_events(&events, 3);
    assert_eq!(
        tail,
        [
            SessionEvent::GaveUp { attempts: 3 },
            failed(&text(&r), ReceiptFailure::SessionClosed),
            SessionEvent::Closed,
        ]
    );
    assert!(sim.session.is_closed());
    assert_eq!(sim.session.poll_timeout(), None, "no timer left");
    assert_eq!(
        sim.session
            .send(sim.t, "/queue/a", "late", FrameOptions::new()),
        Err(SessionError::Closed)
    );
}

#[test]
fn never_reconnect_ends_with_the_first_connection() {
    let mut sim = Sim::new(Sim::config().reconnect(ReconnectPolicy::never()));
    sim.pump();
    sim.advance(Duration::from_secs(100));
    sim.crash();
    assert!(sim.session.is_closed());
    assert_eq!(opened_at(&sim.events).len(), 1);
}

#[test]
fn the_before_connect_hook_refreshes_credentials_per_attempt() {
    let mut sim = Sim::new(Sim::config());
    sim.session.set_before_connect(|config, attempt| {
        config.passcode = Some(format!("token-{attempt}"));
    });
    sim.up = false;
    sim.advance(ms(1)); // attempt 1 fails
    sim.up = true;
    sim.advance(Duration::from_secs(1)); // attempt 2 connects
    assert_eq!(
        sim.seen_on(1),
        [Seen::Connect {
            passcode: Some("token-2".into())
        }]
    );
    let connected = sim.events.iter().find_map(|(_, e)| match e {
        SessionEvent::Connected(c) => Some(c.attempt),
        _ => None,
    });
    assert_eq!(connected, Some(2));
}

// ---- receipts ------------------------------------------------------------------------------

#[test]
fn a_receipt_that_never_comes_fails_at_its_deadline_r2() {
    let mut sim = Sim::new(Sim::config().receipt_timeout(Duration::from_secs(5)));
    sim.pump();
    sim.confirm = false;
    let t0 = sim.t;
    let r = sim
        .session
        .send(t0, "/queue/a", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.pump();
    assert_eq!(
        sim.session.poll_timeout(),
        Some(t0 + Duration::from_secs(5))
    );
    sim.advance(Duration::from_secs(5) - ms(1));
    assert!(
        receipt_events(&sim.events).is_empty(),
        "not a millisecond early"
    );
    sim.advance(ms(1));
    let events = sim.take_events();
    assert_eq!(
        receipt_events(&events),
        [failed(&text(&r), ReceiptFailure::Expired)]
    );
    let at = events
        .iter()
        .find(|(_, e)| matches!(e, SessionEvent::ReceiptFailed { .. }))
        .map(|(t, _)| *t);
    assert_eq!(at, Some(t0 + Duration::from_secs(5)));
    assert_eq!(sim.session.pending_receipts(), 0);
}

#[test]
fn a_queued_send_whose_receipt_expires_offline_is_never_sent() {
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_secs(10))
        .jitter(0.0);
    let mut sim = Sim::new(
        Sim::config()
            .reconnect(policy)
            .receipt_timeout(Duration::from_secs(2)),
    );
    sim.up = false;
    sim.pump();
    let r = sim
        .session
        .send(sim.t, "/queue/a", "stale", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.session
        .send(sim.t, "/queue/a", "fresh", FrameOptions::new())
        .unwrap();
    sim.advance(Duration::from_secs(3));
    assert_eq!(
        receipt_events(&sim.events),
        [failed(&text(&r), ReceiptFailure::Expired)]
    );
    assert_eq!(sim.session.offline_queued().0, 1);
    sim.up = true;
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.seen_on(1),
        [Seen::Connect { passcode: None }, send("fresh", None)]
    );
}

#[test]
fn an_error_naming_a_receipt_fails_it_and_the_session_reconnects_r11() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    sim.confirm = false;
    let r = sim
        .session
        .send(sim.t, "/queue/a", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.pump();
    let t = sim.t;
    sim.server
        .as_mut()
        .unwrap()
        .error(t, ErrorReply::new("not allowed").receipt_id(&r))
        .unwrap();
    sim.pump();
    let events = sim.take_events();
    assert_eq!(
        receipt_events(&events),
        [failed(&text(&r), ReceiptFailure::ErrorReceived)]
    );
    assert!(events.iter().any(|(_, e)| matches!(e, SessionEvent::ErrorReceived { message: Some(m), .. } if m == "not allowed")));
    assert!(events.iter().any(|(_, e)| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::Closed(CloseReason::ErrorReceived)
        }
    )));
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.seen_on(2),
        [Seen::Connect { passcode: None }],
        "the refused SEND is not resent"
    );
}

// ---- bounds and refusals -------------------------------------------------------------------

#[test]
fn the_offline_queue_is_bounded_in_frames_and_bytes() {
    let mut sim = Sim::new(Sim::config().max_offline(2, 100));
    let t = sim.t;
    sim.session.send(t, "/q", "a", FrameOptions::new()).unwrap();
    sim.session.send(t, "/q", "b", FrameOptions::new()).unwrap();
    assert_eq!(
        sim.session.send(t, "/q", "c", FrameOptions::new()),
        Err(SessionError::OfflineQueueFull {
            frames: 2,
            bytes: 6,
            max_frames: 2,
            max_bytes: 100
        })
    );
    let mut sim = Sim::new(Sim::config().max_offline(10, 100));
    sim.session
        .send(t, "/q", vec![b'x'; 90], FrameOptions::new())
        .unwrap();
    assert!(matches!(
        sim.session
            .send(t, "/q", vec![b'x'; 10], FrameOptions::new()),
        Err(SessionError::OfflineQueueFull {
            frames: 1,
            bytes: 92,
            ..
        })
    ));
    // Nothing refused was kept: once connected exactly the accepted frame goes out.
    sim.pump();
    assert_eq!(sim.seen_on(1).len(), 2);
}

#[test]
fn unconfirmed_receipts_are_bounded() {
    let mut sim = Sim::new(Sim::config().max_unconfirmed(2));
    sim.pump();
    sim.confirm = false;
    let t = sim.t;
    sim.session
        .send(t, "/q", "a", FrameOptions::new().receipt())
        .unwrap();
    sim.session
        .send(t, "/q", "b", FrameOptions::new().receipt())
        .unwrap();
    assert_eq!(
        sim.session
            .send(t, "/q", "c", FrameOptions::new().receipt()),
        Err(SessionError::TooManyUnconfirmed { limit: 2 })
    );
    sim.session
        .send(t, "/q", "no receipt, no bound", FrameOptions::new())
        .unwrap();
}

#[test]
fn acks_go_only_to_the_connection_that_delivered() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    sim.session
        .subscribe(
            sim.t,
            "s1",
            "/queue/a",
            AckMode::ClientIndividual,
            FrameOptions::new(),
        )
        .unwrap();
    sim.pump();
    sim.deliver("s1", "one");
    sim.deliver("s1", "two");
    assert_eq!(sim.deliveries.len(), 2);
    let first = sim.deliveries[0].clone();
    assert_eq!(first.connection, 1);
    sim.session.ack(sim.t, &first, FrameOptions::new()).unwrap();
    sim.pump();
    assert_eq!(sim.seen_on(1).last(), Some(&Seen::Ack));
    sim.crash();
    let second = sim.deliveries[1].clone();
    assert_eq!(
        sim.session.ack(sim.t, &second, FrameOptions::new()),
        Err(SessionError::StaleDelivery {
            delivered_on: 1,
            current: 1
        }),
        "offline"
    );
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.session.ack(sim.t, &second, FrameOptions::new()),
        Err(SessionError::StaleDelivery {
            delivered_on: 1,
            current: 2
        }),
        "the broker redelivers it on the new connection; acking the old delivery would be refused"
    );
    assert!(!sim.seen_on(2).contains(&Seen::Ack));
}

#[test]
fn transactions_need_a_live_connection_s11() {
    let mut sim = Sim::new(Sim::config());
    assert_eq!(
        sim.session.begin(sim.t, "tx", FrameOptions::new()),
        Err(SessionError::Offline {
            command: Command::Begin
        })
    );
    assert_eq!(
        sim.session
            .send(sim.t, "/q", "x", FrameOptions::new().transaction("tx")),
        Err(SessionError::Offline {
            command: Command::Send
        })
    );
    sim.pump();
    sim.session.begin(sim.t, "tx", FrameOptions::new()).unwrap();
    sim.session
        .send(sim.t, "/q", "x", FrameOptions::new().transaction("tx"))
        .unwrap();
    sim.crash();
    sim.advance(Duration::from_secs(1));
    // The new connection never saw the BEGIN: the broker rolled it back.
    assert!(matches!(
        sim.session.commit(sim.t, "tx", FrameOptions::new()),
        Err(SessionError::Usage(_))
    ));
}

// ---- heart-beats and the end ------------------------------------------------------------------

#[test]
fn a_silent_network_is_noticed_within_interval_plus_grace_and_the_session_reconnects_b6() {
    let mut config = Sim::config();
    config.client = config.client.heartbeat(Heartbeat::new(1000, 1000));
    let mut sim = Sim::new(config);
    sim.server_config = ServerConfig::default().heartbeat(Heartbeat::new(1000, 1000));
    sim.pump();
    sim.advance(Duration::from_secs(5));
    assert_eq!(
        sim.session.state(),
        SessionState::Connected,
        "heart-beats keep it up"
    );
    sim.forwarding = false;
    let silent_at = sim.t;
    sim.advance(Duration::from_secs(3));
    let lost_at = sim
        .events
        .iter()
        .find_map(|(t, e)| match e {
            SessionEvent::Disconnected {
                reason:
                    DisconnectReason::Closed(CloseReason::Failed(ConnectionError::HeartbeatTimeout {
                        ..
                    })),
            } => Some(*t),
            _ => None,
        })
        .expect("the silence is noticed");
    assert!(
        lost_at - silent_at <= Duration::from_secs(2),
        "within interval + grace: {:?}",
        lost_at - silent_at
    );
    sim.forwarding = true;
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.session.state(), SessionState::Connected);
    assert_eq!(sim.session.connection_number(), 2);
}

#[test]
fn disconnect_waits_for_its_receipt_then_closes_for_good_r5() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    sim.session.disconnect(sim.t).unwrap();
    assert_eq!(sim.session.state(), SessionState::Disconnecting);
    sim.pump();
    assert_eq!(sim.seen_on(1).last(), Some(&Seen::Disconnect));
    assert!(sim.session.is_closed());
    assert_eq!(
        sim.events.last().map(|(_, e)| e.clone()),
        Some(SessionEvent::Closed)
    );
    sim.advance(Duration::from_secs(100));
    assert_eq!(
        opened_at(&sim.events).len(),
        1,
        "no reconnect after disconnect"
    );
    assert_eq!(sim.session.disconnect(sim.t), Err(SessionError::Closed));
}

#[test]
fn driver_calls_out_of_order_are_refused_or_ignored() {
    let mut sim = Sim::new(Sim::config());
    sim.pump();
    assert_eq!(
        sim.session.handle_transport_opened(sim.t),
        Err(SessionError::NoTransportAsked)
    );
    sim.session.handle_transport_failed(sim.t); // ignored: connected
    assert_eq!(sim.session.state(), SessionState::Connected);
    sim.crash();
    sim.session.handle_input(sim.t, b"garbage"); // no connection: ignored
    sim.session.handle_close(sim.t);
    assert_eq!(sim.session.state(), SessionState::Waiting);
}

#[test]
fn give_up_ends_the_session_at_once_for_a_failure_waiting_will_not_cure() {
    let mut sim = Sim::new(Sim::config());
    sim.up = false;
    sim.pump(); // attempt 1 fails; a reconnect is scheduled
    let r = sim
        .session
        .send(sim.t, "/q", "x", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    sim.session.give_up(sim.t);
    sim.pump();
    let events = sim.take_events();
    let tail = last_events(&events, 3);
    assert_eq!(
        tail,
        [
            SessionEvent::GaveUp { attempts: 1 },
            failed(&text(&r), ReceiptFailure::SessionClosed),
            SessionEvent::Closed
        ]
    );
    assert!(sim.session.is_closed());
    assert_eq!(sim.session.poll_timeout(), None, "no reconnect left");
    sim.session.give_up(sim.t);
    assert_eq!(sim.session.poll_event(), None, "once only");
}
