//! A client and a server back to back in memory: the whole client round trip of the examples
//! in every version and chunking, and a property test that any sequence of operations with any
//! chunking loses, duplicates and reorders nothing (F-11, R-2, S-3, S-13, B-4, B-5).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;

use std::time::Duration;

use bytes::Bytes;
use common_connection::*;
use proptest::prelude::*;
use stomp_codec::{
    AckMode, ClientConfig, ClientEvent, CloseReason, Command, Frame, FrameOptions, Heartbeat,
    Message, ServerConfig, ServerEvent, Version, VersionSet,
};

/// A tiny broker application on top of the server role: fans each SEND out to every
/// subscription on its destination, confirms every receipt once the frame is handled,
/// and records what it saw.
#[derive(Default)]
struct Broker {
    /// How many events of `Pair::server_log` have been handled.
    seen: usize,
    /// Active subscriptions: (id, destination).
    subs: Vec<(Bytes, Bytes)>,
    /// Every SEND frame, in arrival order.
    sends: Vec<Frame>,
    /// Ids of ACK (false) and NACK (true) frames, in arrival order.
    acks: Vec<(Bytes, bool)>,
    /// Messages delivered: (subscription, message id, body).
    delivered: Vec<(Bytes, Bytes, Bytes)>,
    fan_out: bool,
}

impl Broker {
    /// Handles the server events not handled yet; returns whether there were any.
    fn step(&mut self, p: &mut Pair) -> bool {
        let new: Vec<ServerEvent> = p.server_log[self.seen..].to_vec();
        self.seen = p.server_log.len();
        for event in &new {
            match event {
                ServerEvent::Subscribe {
                    id, destination, ..
                } => self.subs.push((id.clone(), destination.clone())),
                ServerEvent::Unsubscribe { id, .. } => self.subs.retain(|(s, _)| s != id),
                ServerEvent::Send { frame, .. } => {
                    let destination = frame.destination().expect("checked by the connection");
                    self.sends.push(frame.clone());
                    if self.fan_out {
                        let targets: Vec<Bytes> = self
                            .subs
                            .iter()
                            .filter(|(_, d)| d.as_ref() == destination)
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in targets {
                            let mid = Bytes::from(format!("m-{}", self.delivered.len() + 1));
                            p.server.message(p.now, &id, &mid, frame).unwrap();
                            self.delivered.push((id, mid, frame.body_bytes()));
                        }
                    }
                }
                ServerEvent::Ack { id, .. } => self.acks.push((id.clone(), false)),
                ServerEvent::Nack { id, .. } => self.acks.push((id.clone(), true)),
                _ => {}
            }
            if let Some(r) = event.receipt() {
                p.server.receipt(p.now, r).unwrap();
            }
        }
        !new.is_empty()
    }

    /// Pumps and runs the broker until nothing moves.
    fn settle(&mut self, p: &mut Pair) {
        for _ in 0..MAX_STEPS {
            p.pump();
            if !self.step(p) {
                return;
            }
        }
        panic!("the broker did not settle");
    }
}

fn only(v: Version) -> VersionSet {
    VersionSet::EMPTY.with(v)
}

fn messages(log: &[ClientEvent]) -> Vec<Message> {
    log.iter()
        .filter_map(|e| match e {
            ClientEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The round trip `examples/client.rs` makes: connect with heart-beats, subscribe
/// client-individual, send with receipt, receive, ACK with receipt, idle, disconnect with
/// receipt.
fn client_round_trip(version: Version, up: Vec<usize>, down: Vec<usize>) {
    let hb = Heartbeat::new(1000, 1000);
    let mut p = Pair::new(
        ClientConfig::new("/").versions(only(version)).heartbeat(hb),
        ServerConfig::default().heartbeat(hb),
    );
    p.up_plan = up;
    p.down_plan = down;
    p.handshake();
    let mut broker = Broker {
        fan_out: true,
        ..Broker::default()
    };
    let ack = if version == Version::V1_0 {
        AckMode::Client
    } else {
        AckMode::ClientIndividual
    };
    let r_sub = p
        .client
        .subscribe(
            p.now,
            "sub-0",
            "/queue/demo",
            ack,
            FrameOptions::new().receipt(),
        )
        .unwrap()
        .unwrap();
    let r_send = p
        .client
        .send(
            p.now,
            "/queue/demo",
            "hello",
            FrameOptions::new().receipt().content_type("text/plain"),
        )
        .unwrap()
        .unwrap();
    broker.settle(&mut p);
    let log = std::mem::take(&mut p.client_log);
    assert_eq!(
        log[0],
        ClientEvent::ReceiptConfirmed { receipt_id: r_sub },
        "{version}"
    );
    let ClientEvent::Message(m) = &log[1] else {
        panic!("{log:?}")
    };
    assert_eq!(m.body(), &b"hello"[..]);
    assert_eq!(header(&m.frame, "content-type"), Some(&b"text/plain"[..]));
    assert_eq!(m.ack_mode, Some(ack));
    assert_eq!(log[2], ClientEvent::ReceiptConfirmed { receipt_id: r_send });
    assert_eq!(log.len(), 3);

    let r_ack = p
        .client
        .ack(p.now, m, FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    broker.settle(&mut p);
    assert_eq!(
        std::mem::take(&mut p.client_log),
        vec![ClientEvent::ReceiptConfirmed { receipt_id: r_ack }]
    );
    assert_eq!(broker.acks, vec![(m.message_id.clone(), false)], "S-7..S-9");

    // Idle for a while: heart-beats only in 1.1+ (B-8), nobody times out.
    let before = (p.up_bytes, p.down_bytes);
    p.advance(Duration::from_secs(30));
    assert!(p.client.is_connected() && p.server.is_connected());
    let beats = (p.up_bytes - before.0, p.down_bytes - before.1);
    if version == Version::V1_0 {
        assert_eq!(beats, (0, 0));
    } else {
        assert_eq!(beats, (30, 30));
    }

    let r_disc = p
        .client
        .disconnect(p.now, FrameOptions::new().receipt())
        .unwrap()
        .unwrap();
    broker.settle(&mut p);
    assert_eq!(
        p.client_log,
        vec![
            ClientEvent::ReceiptConfirmed { receipt_id: r_disc },
            ClientEvent::Closed(CloseReason::Disconnected)
        ]
    );
    assert_eq!(
        p.server_log.last(),
        Some(&ServerEvent::Closed(CloseReason::Disconnected))
    );
    assert!(p.client.is_closed() && p.server.is_closed());
    assert_eq!(p.next_timeout(), None);
}

#[test]
fn the_example_client_round_trip_works_in_every_version_and_chunking() {
    for version in Version::ALL {
        client_round_trip(version, vec![], vec![]);
        client_round_trip(version, vec![1], vec![1]);
        client_round_trip(version, vec![3, 1, 7], vec![2, 5]);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        dest: u8,
        body: Vec<u8>,
        value: String,
        receipt: bool,
        in_tx: bool,
    },
    Subscribe {
        dest: u8,
        ack: u8,
        receipt: bool,
    },
    Unsubscribe {
        pick: u8,
        receipt: bool,
    },
    Begin,
    Commit {
        receipt: bool,
    },
    Abort,
    /// The server application sends a MESSAGE to one of the subscriptions it knows.
    Message {
        pick: u8,
        body: Vec<u8>,
    },
    Ack {
        pick: u8,
        nack: bool,
        receipt: bool,
    },
    Pump,
    Advance {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, prop::collection::vec(any::<u8>(), 0..24), "[a-c:\\\\ \r\né]{0,6}", any::<bool>(), any::<bool>())
            .prop_map(|(dest, body, value, receipt, in_tx)| Op::Send { dest, body, value, receipt, in_tx }),
        2 => (0u8..3, 0u8..3, any::<bool>()).prop_map(|(dest, ack, receipt)| Op::Subscribe { dest, ack, receipt }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, receipt)| Op::Unsubscribe { pick, receipt }),
        1 => Just(Op::Begin),
        1 => any::<bool>().prop_map(|receipt| Op::Commit { receipt }),
        1 => Just(Op::Abort),
        3 => (any::<u8>(), prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(pick, body)| Op::Message { pick, body }),
        2 => (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(pick, nack, receipt)| Op::Ack { pick, nack, receipt }),
        3 => Just(Op::Pump),
        1 => (0u16..3000).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The header value as it can be written in `version` (E-9: no LF in 1.0, no CR before 1.2).
fn representable(value: &str, version: Version) -> String {
    value
        .chars()
        .filter(|c| match c {
            '\n' => version != Version::V1_0,
            '\r' => version == Version::V1_2,
            _ => true,
        })
        .collect()
}

fn receipt_opt(receipt: bool) -> FrameOptions {
    if receipt {
        FrameOptions::new().receipt()
    } else {
        FrameOptions::new()
    }
}

/// A SEND as the client made it: destination, body, `x-v` value, receipt, transaction.
type ExpectedSend = (String, Vec<u8>, String, Option<Bytes>, Option<String>);

/// Runs `ops` and checks that everything arrived once, intact and in order.
fn exchange(version: Version, ops: Vec<Op>, up: Vec<usize>, down: Vec<usize>) {
    let hb = Heartbeat::new(1000, 1000);
    let mut p = Pair::new(
        ClientConfig::new("/").versions(only(version)).heartbeat(hb),
        ServerConfig::default().heartbeat(hb),
    );
    p.up_plan = up;
    p.down_plan = down;
    p.handshake();
    let mut broker = Broker::default();

    let mut subs: Vec<String> = Vec::new();
    let mut next_id = 0;
    let mut tx: Option<String> = None;
    let mut ackable: Vec<Message> = Vec::new();
    let mut seen_client = 0;
    // Expectations.
    let mut sends: Vec<ExpectedSend> = Vec::new();
    let mut acks: Vec<(Bytes, bool)> = Vec::new();
    let mut receipts: Vec<Bytes> = Vec::new();

    for op in ops {
        let now = p.now;
        match op {
            Op::Send {
                dest,
                body,
                value,
                receipt,
                in_tx,
            } => {
                let dest = format!("/queue/{dest}");
                let value = representable(&value, version);
                let tx = if in_tx { tx.clone() } else { None };
                let mut o = receipt_opt(receipt).header("x-v", &value);
                if let Some(t) = &tx {
                    o = o.transaction(t);
                }
                let r = p.client.send(now, &dest, body.clone(), o).unwrap();
                receipts.extend(r.clone());
                sends.push((dest, body, value, r, tx));
            }
            Op::Subscribe { dest, ack, receipt } => {
                let id = format!("sub-{next_id}");
                next_id += 1;
                let ack = match ack {
                    0 => AckMode::Auto,
                    1 => AckMode::Client,
                    _ if version == Version::V1_0 => AckMode::Client,
                    _ => AckMode::ClientIndividual,
                };
                let r = p
                    .client
                    .subscribe(
                        now,
                        &id,
                        format!("/queue/{dest}"),
                        ack,
                        receipt_opt(receipt),
                    )
                    .unwrap();
                receipts.extend(r);
                subs.push(id);
            }
            Op::Unsubscribe { pick, receipt } => {
                if !subs.is_empty() {
                    let id = subs.remove(pick as usize % subs.len());
                    let r = p
                        .client
                        .unsubscribe(now, &id, receipt_opt(receipt))
                        .unwrap();
                    receipts.extend(r);
                }
            }
            Op::Begin => {
                if tx.is_none() {
                    let t = format!("tx-{next_id}");
                    next_id += 1;
                    p.client.begin(now, &t, FrameOptions::new()).unwrap();
                    tx = Some(t);
                }
            }
            Op::Commit { receipt } => {
                if let Some(t) = tx.take() {
                    let r = p.client.commit(now, &t, receipt_opt(receipt)).unwrap();
                    receipts.extend(r);
                }
            }
            Op::Abort => {
                if let Some(t) = tx.take() {
                    p.client.abort(now, &t, FrameOptions::new()).unwrap();
                }
            }
            Op::Message { pick, body } => {
                // The application has handled what the server reported so far.
                broker.step(&mut p);
                if !broker.subs.is_empty() {
                    let (id, _) = broker.subs[pick as usize % broker.subs.len()].clone();
                    let content = Frame::builder(Command::Send)
                        .header("x-seq", broker.delivered.len().to_string())
                        .body(body.clone())
                        .build();
                    let mid = Bytes::from(format!("m-{}", broker.delivered.len() + 1));
                    p.server.message(now, &id, &mid, &content).unwrap();
                    broker.delivered.push((id, mid, Bytes::from(body)));
                }
            }
            Op::Ack {
                pick,
                nack,
                receipt,
            } => {
                let nack = nack && version != Version::V1_0;
                if !ackable.is_empty() {
                    let m = ackable.remove(pick as usize % ackable.len());
                    let o = receipt_opt(receipt);
                    let r = if nack {
                        p.client.nack(now, &m, o)
                    } else {
                        p.client.ack(now, &m, o)
                    };
                    receipts.extend(r.unwrap());
                    acks.push((m.message_id.clone(), nack));
                }
            }
            Op::Pump => broker.settle(&mut p),
            Op::Advance { ms: d } => {
                // What the operations so far queued is written before time passes, as a drive
                // loop writes after every call (B-7). Left queued, a MESSAGE from 1.3 s would
                // still be unsent at 3 s and the client would rightly time the server out.
                p.pump();
                p.advance(ms(u64::from(d)));
            }
        }
        // Messages that arrived become ackable (those of acknowledging subscriptions).
        for e in &p.client_log[seen_client..] {
            if let ClientEvent::Message(m) = e {
                if m.ack_mode.is_some_and(AckMode::needs_ack) {
                    ackable.push(m.clone());
                }
            }
        }
        seen_client = p.client_log.len();
    }
    broker.settle(&mut p);

    // Nothing failed, timed out or was dropped.
    for e in &p.client_log {
        assert!(
            matches!(
                e,
                ClientEvent::Message(_) | ClientEvent::ReceiptConfirmed { .. }
            ),
            "unexpected client event {e:?}"
        );
    }
    for e in &p.server_log {
        assert!(
            !matches!(e, ServerEvent::Closed(_) | ServerEvent::HeartbeatTimeout),
            "unexpected server event {e:?}"
        );
    }
    // Every SEND arrived once, in order, as sent (S-3).
    assert_eq!(broker.sends.len(), sends.len());
    for (frame, (dest, body, value, receipt, tx)) in broker.sends.iter().zip(&sends) {
        assert_eq!(header(frame, "destination"), Some(dest.as_bytes()));
        assert_eq!(frame.body(), &body[..]);
        assert_eq!(header(frame, "x-v"), Some(value.as_bytes()));
        assert_eq!(header(frame, "receipt"), receipt.as_deref());
        assert_eq!(
            header(frame, "transaction"),
            tx.as_deref().map(str::as_bytes)
        );
    }
    // Every MESSAGE arrived once, in order, intact (S-13).
    let got = messages(&p.client_log);
    assert_eq!(got.len(), broker.delivered.len());
    for (m, (sub, mid, body)) in got.iter().zip(&broker.delivered) {
        assert_eq!(m.subscription.as_ref(), Some(sub));
        assert_eq!(&m.message_id, mid);
        assert_eq!(m.body(), body);
    }
    // Every ACK/NACK reached the broker naming the right message (S-7..S-9).
    assert_eq!(broker.acks, acks);
    // Every receipt was confirmed exactly once.
    let mut confirmed: Vec<Bytes> = p
        .client_log
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ReceiptConfirmed { receipt_id } => Some(receipt_id.clone()),
            _ => None,
        })
        .collect();
    confirmed.sort();
    receipts.sort();
    assert_eq!(confirmed, receipts);
    assert_eq!(p.client.pending_receipts(), 0);

    // And the session still ends in order.
    p.client_log.clear();
    p.client
        .disconnect(p.now, FrameOptions::new().receipt())
        .unwrap();
    broker.settle(&mut p);
    assert_eq!(
        p.client_log.last(),
        Some(&ClientEvent::Closed(CloseReason::Disconnected))
    );
    assert_eq!(
        p.server_log.last(),
        Some(&ServerEvent::Closed(CloseReason::Disconnected))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_operations_with_any_chunking_lose_nothing_f11_r2_s3_s13(
        version in prop::sample::select(Version::ALL.to_vec()),
        ops in prop::collection::vec(op(), 0..40),
        up in prop::collection::vec(1usize..40, 1..5),
        down in prop::collection::vec(1usize..40, 1..5),
    ) {
        exchange(version, ops, up, down);
    }
}

#[test]
fn a_message_racing_an_unsubscribe_is_delivered_flagged_d24() {
    let mut p = Pair::connect(ClientConfig::new("/"), ServerConfig::default());
    let mut broker = Broker::default();
    p.client
        .subscribe(p.now, "s", "/q", AckMode::Auto, FrameOptions::new())
        .unwrap();
    broker.settle(&mut p);
    p.client
        .unsubscribe(p.now, "s", FrameOptions::new())
        .unwrap();
    // The server sends before it has read the UNSUBSCRIBE.
    let content = Frame::builder(Command::Send).body("late").build();
    p.server.message(p.now, "s", "m-3", &content).unwrap();
    broker.settle(&mut p);
    match p.client_log.as_slice() {
        [ClientEvent::Message(m)] => {
            assert!(m.unknown_subscription);
            assert_eq!(m.body(), &b"late"[..]);
        }
        other => panic!("{other:?}"),
    }
}
