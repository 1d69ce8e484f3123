//! The sans-IO broker driven over in-memory connection pairs: `ClientConnection<Duration>`s
//! wired to one `Broker<Duration>`, in simulated time. Delivery order per destination, no loss
//! and no duplicates except the documented redelivery, the ack modes, transactions, receipts,
//! application and per-user destinations, limits and slow consumers.

use std::time::Duration;

use bytes::Bytes;
use stomp_codec::{
    AckMode, Broker, BrokerConfig, BrokerEvent, ClientConfig, ClientConnection, ClientEvent,
    CloseReason, Command, ConnectionError, ConnectionId, DropReason, ErrorReply, Frame,
    FrameOptions, Heartbeat, Message, Overflow, ServerConfig, SlowConsumer, Version, VersionSet,
};

struct Peer {
    id: ConnectionId,
    conn: ClientConnection<Duration>,
    events: Vec<ClientEvent>,
}

struct Net {
    t: Duration,
    broker: Broker<Duration>,
    peers: Vec<Peer>,
    broker_events: Vec<BrokerEvent>,
    /// Peers whose transport reads nothing (slow consumers).
    stalled: Vec<usize>,
}

impl Net {
    fn new(config: BrokerConfig) -> Net {
        Net {
            t: Duration::ZERO,
            broker: Broker::with_timestamp_type(config),
            peers: Vec::new(),
            broker_events: Vec::new(),
            stalled: Vec::new(),
        }
    }

    fn config() -> BrokerConfig {
        let mut config = BrokerConfig::default();
        config.server = ServerConfig::default().heartbeat(Heartbeat::new(0, 0));
        config
    }

    /// A client connected as `login`; returns its index.
    fn join(&mut self, login: &str) -> usize {
        self.join_with(ClientConfig::new("/").login(login))
    }

    /// A client of `config` (heart-beats off), connected; returns its index.
    fn join_with(&mut self, config: ClientConfig) -> usize {
        let id = self.broker.open(self.t);
        let mut conn =
            ClientConnection::with_timestamp_type(config.heartbeat(Heartbeat::new(0, 0)));
        conn.connect(self.t).unwrap();
        self.peers.push(Peer {
            id,
            conn,
            events: Vec::new(),
        });
        self.pump();
        self.peers.len() - 1
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for (i, peer) in self.peers.iter_mut().enumerate() {
                while let Some(bytes) = peer.conn.poll_transmit() {
                    moved = true;
                    self.broker.handle_input(peer.id, self.t, &bytes);
                }
                if self.stalled.contains(&i) {
                    continue;
                }
                while let Some(bytes) = self.broker.poll_transmit(peer.id) {
                    moved = true;
                    peer.conn.handle_input(self.t, &bytes);
                }
                while let Some(e) = peer.conn.poll_event() {
                    peer.events.push(e);
                }
            }
            while let Some(e) = self.broker.poll_event() {
                self.broker_events.push(e);
            }
            while self.broker.poll_woken().is_some() {
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the network does not settle");
    }

    fn peer(&mut self, i: usize) -> &mut ClientConnection<Duration> {
        &mut self.peers[i].conn
    }

    fn subscribe(&mut self, i: usize, sub: &str, destination: &str, ack: AckMode) {
        let t = self.t;
        self.peer(i)
            .subscribe(t, sub, destination, ack, FrameOptions::new())
            .unwrap();
        self.pump();
    }

    fn send(&mut self, i: usize, destination: &str, body: &str) {
        let t = self.t;
        self.peer(i)
            .send(t, destination, body.to_string(), FrameOptions::new())
            .unwrap();
        self.pump();
    }

    fn messages(&self, i: usize) -> Vec<Message> {
        self.peers[i]
            .events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn bodies(&self, i: usize) -> Vec<String> {
        self.messages(i)
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect()
    }

    fn closed(&self, i: usize) -> Option<CloseReason> {
        self.peers[i].events.iter().find_map(|e| match e {
            ClientEvent::Closed(r) => Some(r.clone()),
            _ => None,
        })
    }

    fn error_message(&self, i: usize) -> Option<String> {
        self.peers[i].events.iter().find_map(|e| match e {
            ClientEvent::ErrorReceived { message, .. } => message.clone(),
            _ => None,
        })
    }

    /// A client that offers only `version`.
    fn join_version(&mut self, login: &str, version: Version) -> usize {
        self.join_with(
            ClientConfig::new("/")
                .login(login)
                .versions(VersionSet::EMPTY.with(version)),
        )
    }

    /// The transport of peer `i` breaks.
    fn drop_peer(&mut self, i: usize) {
        let id = self.peers[i].id;
        self.broker.handle_close(id, self.t);
        self.peers[i].conn.handle_close();
        self.pump();
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_topic_fans_out_to_every_subscriber_in_order_and_keeps_nothing() {
    let mut net = Net::new(Net::config());
    let (a, b, c) = (net.join("a"), net.join("b"), net.join("c"));
    net.send(a, "/topic/room", "before anyone");
    net.subscribe(b, "0", "/topic/room", AckMode::Auto);
    net.subscribe(c, "s", "/topic/room", AckMode::Auto);
    for i in 0..50 {
        net.send(a, "/topic/room", &format!("m{i}"));
    }
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(net.bodies(b), expected);
    assert_eq!(net.bodies(c), expected);
    assert!(net.bodies(a).is_empty(), "the sender does not subscribe");
    assert_eq!(
        net.broker.destination_count(),
        1,
        "only the subscribed topic is known"
    );
    // Message ids are unique across connections (S-13).
    let mut ids: Vec<Bytes> = net
        .messages(b)
        .into_iter()
        .chain(net.messages(c))
        .map(|m| m.message_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[test]
fn a_queue_delivers_each_message_once_round_robin_and_keeps_what_nobody_takes() {
    let mut net = Net::new(Net::config());
    let (p, x, y) = (net.join("p"), net.join("x"), net.join("y"));
    for i in 0..3 {
        net.send(p, "/queue/work", &format!("early{i}"));
    }
    assert_eq!(net.broker.waiting("/queue/work"), 3);
    net.subscribe(x, "0", "/queue/work", AckMode::Auto);
    assert_eq!(
        net.bodies(x),
        strings(&["early0", "early1", "early2"]),
        "the waiting ones, in order"
    );
    net.subscribe(y, "0", "/queue/work", AckMode::Auto);
    for i in 0..10 {
        net.send(p, "/queue/work", &format!("m{i}"));
    }
    let (bx, by) = (net.bodies(x), net.bodies(y));
    assert_eq!(bx.len() + by.len(), 13, "no loss, no duplicate");
    assert_eq!(by.len(), 5, "round-robin: {bx:?} / {by:?}");
    let mut all: Vec<String> = bx
        .into_iter()
        .chain(by)
        .filter(|b| b.starts_with('m'))
        .collect();
    all.sort_by_key(|b| b[1..].parse::<u32>().unwrap());
    assert_eq!(all, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[test]
fn unacked_queue_messages_of_a_lost_client_are_redelivered_to_another() {
    let mut net = Net::new(Net::config());
    let (p, x, y) = (net.join("p"), net.join("x"), net.join("y"));
    net.subscribe(x, "0", "/queue/jobs", AckMode::ClientIndividual);
    for i in 0..4 {
        net.send(p, "/queue/jobs", &format!("j{i}"));
    }
    let got = net.messages(x);
    assert_eq!(got.len(), 4);
    let t = net.t;
    net.peer(x).ack(t, &got[1], FrameOptions::new()).unwrap();
    net.pump();
    assert_eq!(net.broker.unacked(net.peers[x].id), 3);
    net.drop_peer(x);
    net.subscribe(y, "0", "/queue/jobs", AckMode::Auto);
    let redelivered = net.messages(y);
    assert_eq!(
        redelivered
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect::<Vec<_>>(),
        strings(&["j0", "j2", "j3"]),
        "the acked one is not redelivered"
    );
    assert!(redelivered
        .iter()
        .all(|m| m.frame.headers().get("redelivered") == Some(&b"true"[..])));
    assert!(matches!(
        net.broker_events
            .iter()
            .find(|e| matches!(e, BrokerEvent::Closed { .. })),
        Some(BrokerEvent::Closed {
            reason: CloseReason::PeerClosed,
            ..
        })
    ));
}

#[test]
fn client_acks_are_cumulative_and_nacks_drop_s7() {
    let mut net = Net::new(Net::config());
    let (p, x) = (net.join("p"), net.join("x"));
    net.subscribe(x, "0", "/queue/c", AckMode::Client);
    for i in 0..5 {
        net.send(p, "/queue/c", &format!("c{i}"));
    }
    let got = net.messages(x);
    let t = net.t;
    net.peer(x).ack(t, &got[2], FrameOptions::new()).unwrap(); // c0..c2
    net.pump();
    assert_eq!(net.broker.unacked(net.peers[x].id), 2);
    net.peer(x).nack(t, &got[4], FrameOptions::new()).unwrap(); // c3, c4 dropped
    net.pump();
    assert_eq!(net.broker.unacked(net.peers[x].id), 0);
    assert_eq!(
        net.broker_events
            .iter()
            .filter(|e| matches!(
                e,
                BrokerEvent::Dropped {
                    reason: DropReason::Nacked,
                    ..
                }
            ))
            .count(),
        2
    );
    // Acking it again is an error naming the message (R-9).
    net.peer(x).ack(t, &got[0], FrameOptions::new()).unwrap();
    net.pump();
    assert_eq!(net.error_message(x).as_deref(), Some("unknown message"));
}

#[test]
fn transactions_hold_sends_until_commit_and_drop_them_at_abort_s11() {
    let mut net = Net::new(Net::config());
    let (p, x) = (net.join("p"), net.join("x"));
    net.subscribe(x, "0", "/topic/t", AckMode::Auto);
    let t = net.t;
    net.peer(p).begin(t, "tx1", FrameOptions::new()).unwrap();
    net.peer(p)
        .send(
            t,
            "/topic/t",
            "in-tx",
            FrameOptions::new().transaction("tx1"),
        )
        .unwrap();
    net.peer(p)
        .send(t, "/topic/t", "outside", FrameOptions::new())
        .unwrap();
    net.pump();
    assert_eq!(net.bodies(x), strings(&["outside"]));
    let receipt = net
        .peer(p)
        .commit(t, "tx1", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    net.pump();
    assert_eq!(net.bodies(x), strings(&["outside", "in-tx"]));
    assert!(net.peers[p]
        .events
        .contains(&ClientEvent::ReceiptConfirmed {
            receipt_id: receipt
        }));
    net.peer(p).begin(t, "tx2", FrameOptions::new()).unwrap();
    net.peer(p)
        .send(
            t,
            "/topic/t",
            "aborted",
            FrameOptions::new().transaction("tx2"),
        )
        .unwrap();
    net.peer(p).abort(t, "tx2", FrameOptions::new()).unwrap();
    net.pump();
    assert_eq!(net.bodies(x), strings(&["outside", "in-tx"]));
}

#[test]
fn every_frame_with_a_receipt_is_answered_once_processed_r3() {
    let mut net = Net::new(Net::config());
    let x = net.join("x");
    let t = net.t;
    let r1 = net
        .peer(x)
        .subscribe(
            t,
            "0",
            "/queue/r",
            AckMode::Auto,
            FrameOptions::new().receipt(),
        )
        .unwrap()
        .unwrap();
    let r2 = net
        .peer(x)
        .send(t, "/queue/r", "hi", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    net.pump();
    let confirmed: Vec<Bytes> = net.peers[x]
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ReceiptConfirmed { receipt_id } => Some(receipt_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(confirmed, [r1, r2]);
    assert_eq!(
        net.bodies(x),
        strings(&["hi"]),
        "the SEND was processed before its RECEIPT"
    );
}

#[test]
fn app_destinations_go_to_the_application_which_publishes_and_replies() {
    let mut net = Net::new(Net::config());
    let (alice, bob) = (net.join("alice"), net.join("bob"));
    net.subscribe(bob, "room", "/topic/room.5", AckMode::Auto);
    net.subscribe(alice, "room", "/topic/room.5", AckMode::Auto);
    net.subscribe(alice, "errors", "/user/queue/errors", AckMode::Auto);
    net.subscribe(bob, "errors", "/user/queue/errors", AckMode::Auto);
    let t = net.t;
    let receipt = net
        .peer(alice)
        .send(t, "/app/chat.5", "hello", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    net.pump();
    assert!(
        net.bodies(bob).is_empty(),
        "an /app SEND reaches no subscriber by itself"
    );
    let mut routes = stomp_codec::broker::routes::Routes::new();
    routes.add(
        stomp_codec::broker::routes::Pattern::parse("/app/chat.{room}").unwrap(),
        (),
    );
    let (connection, login, destination, frame, r) = net
        .broker_events
        .iter()
        .find_map(|e| match e {
            BrokerEvent::AppMessage {
                connection,
                login,
                destination,
                frame,
                receipt,
            } => Some((
                *connection,
                login.clone(),
                destination.clone(),
                frame.clone(),
                receipt.clone(),
            )),
            _ => None,
        })
        .expect("the application got it");
    assert_eq!(login.as_deref(), Some(&b"alice"[..]));
    assert_eq!(r.as_ref(), Some(&receipt));
    let (_, captures) = routes.find(&destination).unwrap();
    let room = captures.get("room").unwrap();
    // The handler: stamp the sender, publish to the room, and tell the sender alone.
    let stamped = Frame::builder(Command::Send)
        .header("sender", "alice")
        .body(frame.body_bytes())
        .build();
    net.broker
        .publish(t, format!("/topic/room.{room}"), &stamped)
        .unwrap();
    let notice = Frame::builder(Command::Send).body("delivered").build();
    assert_eq!(
        net.broker
            .send_to_connection(connection, t, "/user/queue/errors", &notice),
        1
    );
    net.broker.app_done(connection, t, r).unwrap();
    net.pump();
    assert_eq!(net.bodies(bob), strings(&["hello"]));
    assert_eq!(
        net.messages(bob)[0].frame.headers().get("sender"),
        Some(&b"alice"[..])
    );
    assert_eq!(
        net.bodies(alice),
        strings(&["hello", "delivered"]),
        "the reply reached alice alone"
    );
    assert!(net.peers[alice]
        .events
        .contains(&ClientEvent::ReceiptConfirmed {
            receipt_id: receipt
        }));
    assert_eq!(
        net.broker
            .send_to_user(t, "bob", "/user/queue/errors", &notice),
        1
    );
    net.pump();
    assert_eq!(net.bodies(bob), strings(&["hello", "delivered"]));
    // A client cannot send to a user destination itself.
    net.send(bob, "/user/queue/errors", "spoof");
    assert_eq!(net.error_message(bob).as_deref(), Some("user destination"));
}

#[test]
fn the_application_can_refuse_a_connect_c10() {
    let mut config = Net::config();
    config.auto_accept = false;
    let mut net = Net::new(config);
    let x = net.join("mallory");
    let (connection, login) = net
        .broker_events
        .iter()
        .find_map(|e| match e {
            BrokerEvent::Connect {
                connection,
                request,
            } => Some((*connection, request.login.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(login.as_deref(), Some(&b"mallory"[..]));
    let t = net.t;
    net.broker
        .refuse(connection, t, ErrorReply::new("access refused"))
        .unwrap();
    net.pump();
    assert_eq!(net.error_message(x).as_deref(), Some("access refused"));
    assert!(net.broker.is_closed(connection));
}

#[test]
fn a_slow_acker_is_paused_by_its_prefetch_window_not_disconnected() {
    let mut net = Net::new(Net::config());
    let (p, x) = (net.join("p"), net.join("x"));
    let t = net.t;
    let options = FrameOptions::new().header("prefetch-count", "2");
    net.peer(x)
        .subscribe(t, "0", "/queue/w", AckMode::ClientIndividual, options)
        .unwrap();
    net.pump();
    for i in 0..5 {
        net.send(p, "/queue/w", &format!("w{i}"));
    }
    assert_eq!(
        net.bodies(x),
        strings(&["w0", "w1"]),
        "two in flight, the window"
    );
    assert_eq!(
        net.broker.waiting("/queue/w"),
        3,
        "the rest wait in the queue"
    );
    assert_eq!(net.closed(x), None, "being slow is not a fault");
    let first = net.messages(x)[0].clone();
    net.peer(x).ack(t, &first, FrameOptions::new()).unwrap();
    net.pump();
    assert_eq!(
        net.bodies(x),
        strings(&["w0", "w1", "w2"]),
        "an ack opens the window by one"
    );
    // A topic keeps nothing: a subscriber with a full window misses the message, with a signal.
    net.peer(x)
        .subscribe(
            t,
            "1",
            "/topic/t",
            AckMode::Client,
            FrameOptions::new().header("prefetch-count", "1"),
        )
        .unwrap();
    net.pump();
    net.send(p, "/topic/t", "t0");
    net.send(p, "/topic/t", "t1");
    assert!(
        net.bodies(x).contains(&"t0".to_string()) && !net.bodies(x).contains(&"t1".to_string())
    );
    assert!(net.broker_events.iter().any(|e| matches!(
        e,
        BrokerEvent::Dropped {
            reason: DropReason::PrefetchFull,
            ..
        }
    )));
}

#[test]
fn a_full_queue_drops_its_oldest_or_refuses_and_counts() {
    let mut config = Net::config();
    config.limits.queue_backlog = 2;
    let mut net = Net::new(config);
    let p = net.join("p");
    for i in 0..3 {
        net.send(p, "/queue/full", &format!("f{i}"));
    }
    assert_eq!(net.broker.waiting("/queue/full"), 2);
    assert_eq!(net.broker.dropped(), 1, "counted");
    assert!(net.broker_events.iter().any(|e| matches!(
        e,
        BrokerEvent::Dropped {
            reason: DropReason::BacklogFull,
            count: 1,
            ..
        }
    )));
    let x = net.join("x");
    net.subscribe(x, "0", "/queue/full", AckMode::Auto);
    assert_eq!(net.bodies(x), strings(&["f1", "f2"]), "the oldest went");

    let mut config = Net::config();
    config.limits.queue_backlog = 2;
    config.limits.overflow = Overflow::RejectPublish;
    let mut net = Net::new(config);
    let p = net.join("p");
    let t = net.t;
    for i in 0..2 {
        net.send(p, "/queue/full", &format!("f{i}"));
    }
    let receipt = net
        .peer(p)
        .send(t, "/queue/full", "f2", FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    net.pump();
    assert_eq!(
        net.error_message(p).as_deref(),
        Some("queue full"),
        "the SEND is refused, naming the limit"
    );
    assert!(net.peers[p].events.iter().any(
        |e| matches!(e, ClientEvent::ErrorReceived { receipt_id: Some(r), .. } if *r == receipt)
    ));
    assert_eq!(net.broker.waiting("/queue/full"), 2);
    assert_eq!(net.broker.dropped(), 0, "nothing dropped");
}

#[test]
fn too_many_destinations_is_an_error_h8() {
    let mut config = Net::config();
    config.limits.max_destinations = 2;
    let mut net = Net::new(config);
    let q = net.join("q");
    net.send(q, "/queue/a", "1");
    net.send(q, "/queue/b", "1");
    net.send(q, "/queue/c", "1");
    assert_eq!(
        net.error_message(q).as_deref(),
        Some("too many destinations")
    );
}

#[test]
fn a_header_a_subscriber_version_cannot_carry_is_left_out_and_named_e9() {
    let mut net = Net::new(Net::config());
    let p = net.join("p");
    let new = net.join("new");
    let old = net.join_version("old", Version::V1_1);
    net.subscribe(new, "0", "/topic/cr", AckMode::Auto);
    net.subscribe(old, "0", "/topic/cr", AckMode::Auto);
    let t = net.t;
    let options = FrameOptions::new()
        .header("x-cr", "a\r")
        .header("x-ok", "fine");
    net.peer(p).send(t, "/topic/cr", "body", options).unwrap();
    net.pump();
    let got_new = &net.messages(new)[0];
    assert_eq!(
        got_new.frame.headers().get("x-cr"),
        Some(&b"a\r"[..]),
        "1.2 carries it (escaped)"
    );
    let got_old = &net.messages(old)[0];
    assert_eq!(
        got_old.body(),
        b"body",
        "the 1.1 subscriber still gets the message"
    );
    assert_eq!(got_old.frame.headers().get("x-cr"), None);
    assert_eq!(got_old.frame.headers().get("x-ok"), Some(&b"fine"[..]));
    assert_eq!(
        got_old
            .frame
            .headers()
            .get(stomp_codec::broker::DROPPED_HEADERS),
        Some(&b"x-cr"[..])
    );
}

#[test]
fn a_slow_consumer_is_dropped_and_the_others_keep_receiving() {
    let mut config = Net::config();
    config.server = config
        .server
        .max_pending_transmit(64 * 1024)
        .slow_consumer(SlowConsumer::Close);
    let mut net = Net::new(config);
    let (p, slow, fast) = (net.join("p"), net.join("slow"), net.join("fast"));
    net.subscribe(slow, "0", "/topic/flood", AckMode::Auto);
    net.subscribe(fast, "0", "/topic/flood", AckMode::Auto);
    net.stalled.push(slow);
    let body = "x".repeat(10_000);
    for _ in 0..100 {
        net.send(p, "/topic/flood", &body);
    }
    assert_eq!(
        net.messages(fast).len(),
        100,
        "the fast subscriber got everything"
    );
    let slow_id = net.peers[slow].id;
    let conn = net.broker.connection(slow_id).unwrap();
    assert!(!conn.is_connected(), "dropped as a slow consumer");
    assert!(matches!(
        conn.failure(),
        Some(ConnectionError::SlowConsumer { .. })
    ));
    let pending = conn.pending_transmit();
    assert!(
        pending <= 64 * 1024 + 11_000,
        "the broker holds at most its limit for it: {pending}"
    );
    // The runtime gives up on the socket: the connection closes for good.
    net.drop_peer(slow);
    assert!(net.broker.is_closed(slow_id));
    assert!(net
        .broker_events
        .iter()
        .any(|e| matches!(e, BrokerEvent::Closed { connection, .. } if *connection == slow_id)));
    net.broker.remove(slow_id, net.t);
    assert!(net.broker.connection(slow_id).is_none());
}

#[test]
fn a_message_to_a_disconnected_subscriber_goes_to_the_next_one() {
    let mut net = Net::new(Net::config());
    let (p, x, y) = (net.join("p"), net.join("x"), net.join("y"));
    net.subscribe(x, "0", "/queue/q", AckMode::Auto);
    net.subscribe(y, "0", "/queue/q", AckMode::Auto);
    let t = net.t;
    net.peer(x)
        .disconnect(t, FrameOptions::new().receipt())
        .unwrap();
    net.pump();
    for i in 0..4 {
        net.send(p, "/queue/q", &format!("q{i}"));
    }
    assert_eq!(net.bodies(y), strings(&["q0", "q1", "q2", "q3"]));
    assert!(net.bodies(x).is_empty());
    assert_eq!(net.closed(x), Some(CloseReason::Disconnected));
}

#[test]
fn external_destinations_become_relay_events_and_relay_messages_reach_the_client() {
    let mut config = Net::config();
    config.external_prefixes = vec!["/topic/".into()];
    let mut net = Net::new(config);
    let x = net.join("x");
    let t = net.t;
    net.peer(x)
        .subscribe(
            t,
            "s1",
            "/topic/room.5",
            AckMode::ClientIndividual,
            FrameOptions::new(),
        )
        .unwrap();
    net.peer(x)
        .send(
            t,
            "/topic/room.5",
            "out".to_string(),
            FrameOptions::new().receipt(),
        )
        .unwrap();
    net.pump();
    let id = net.peers[x].id;
    let (sub, ack) = net
        .broker_events
        .iter()
        .find_map(|e| match e {
            BrokerEvent::ExternalSubscribe {
                connection,
                subscription,
                ack,
                ..
            } if *connection == id => Some((subscription.clone(), *ack)),
            _ => None,
        })
        .expect("the SUBSCRIBE goes to the relay");
    assert_eq!((&sub[..], ack), (&b"s1"[..], AckMode::ClientIndividual));
    let receipt = net
        .broker_events
        .iter()
        .find_map(|e| match e {
            BrokerEvent::ExternalSend {
                destination,
                frame,
                receipt,
                ..
            } => {
                assert_eq!(&destination[..], b"/topic/room.5");
                assert_eq!(frame.body(), b"out");
                receipt.clone()
            }
            _ => None,
        })
        .expect("the SEND goes to the relay, with its receipt");
    assert!(net.bodies(x).is_empty(), "nothing is routed locally");
    // The relay confirmed the SEND, and a message comes from the external broker.
    net.broker.app_done(id, t, Some(receipt.clone())).unwrap();
    let external = Frame::builder(Command::Message)
        .header("destination", "/topic/room.5")
        .header("sender", "b")
        .body("in")
        .build();
    net.broker
        .deliver_external(id, t, b"s1", b"relay-7", &external)
        .unwrap();
    net.pump();
    assert!(net.peers[x]
        .events
        .contains(&ClientEvent::ReceiptConfirmed {
            receipt_id: receipt
        }));
    let got = net.messages(x);
    assert_eq!(
        (got[0].body(), &got[0].message_id[..]),
        (&b"in"[..], &b"relay-7"[..])
    );
    assert_eq!(got[0].frame.headers().get("sender"), Some(&b"b"[..]));
    net.peer(x).ack(t, &got[0], FrameOptions::new()).unwrap();
    net.pump();
    assert!(net.broker_events.iter().any(|e| matches!(
        e,
        BrokerEvent::ExternalAck { message_id, nack: false, .. } if &message_id[..] == b"relay-7"
    )));
    let content = Frame::builder(Command::Send).body("from the app").build();
    net.broker.publish(t, "/topic/room.5", &content).unwrap();
    assert!(matches!(
        net.broker.poll_event(),
        Some(BrokerEvent::ExternalPublish { .. })
    ));
}
