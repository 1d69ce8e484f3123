//! A small STOMP pub/sub broker for chat rooms, built on the sans-IO [`ServerConnection`] and
//! tokio. Clients reach it over plain TCP and over WebSocket (as browsers using @stomp/stompjs
//! do), and both kinds share the same rooms.
//!
//! ```text
//! cargo run --example chat_broker                        # TCP 127.0.0.1:61613, ws://127.0.0.1:15674/ws
//! cargo run --example chat_broker -- --tcp 127.0.0.1:0 --ws 127.0.0.1:0   # any free ports
//! cargo run --example chat_broker -- --max-pending 1048576   # drop slow clients sooner
//! ```
//!
//! It prints the addresses it listens on (useful with port 0), then one line per connection
//! event.
//!
//! # What it does
//!
//! * **Destinations.** `/queue/...` delivers each message to *one* subscriber, round-robin
//!   over the queue's subscribers; a message sent while a queue has no subscriber waits in the
//!   queue (within the limits below) and goes to the next subscriber. Every other destination
//!   (`/topic/...`, the chat rooms) is a topic: each message goes to every current subscriber,
//!   and nobody receives what was sent before they subscribed (a message to a topic nobody
//!   subscribes to is simply dropped).
//! * **Acknowledgements.** `auto`: a delivered message is done. `client`: an ACK covers the
//!   message and every earlier unacknowledged message of the same subscription (cumulative),
//!   and so does a NACK. `client-individual`: an ACK or NACK covers one message. A NACKed
//!   message is dropped (there is no dead-letter queue). An ACK or NACK of a message that is not
//!   waiting for one is answered with ERROR.
//! * **Unacknowledged messages** of a client that disconnects (or goes silent, or
//!   unsubscribes) go back to their queue, marked `redelivered:true`, and are delivered to
//!   another subscriber; unacknowledged topic messages are dropped.
//! * **Transactions.** SEND frames with a `transaction` header are held and published, in
//!   order, at COMMIT. An ACK or NACK with a `transaction` header is checked when it arrives
//!   (an unknown message is an ERROR at once, so a COMMIT never applies half a transaction) and
//!   reserves the messages it covers: they take effect at COMMIT, go back to waiting for an
//!   ACK at ABORT, and stay reserved if their subscription ends in between (UNSUBSCRIBE does not
//!   take them back; COMMIT still consumes them, ABORT gives them back to their queue as
//!   redelivered). ABORT, DISCONNECT and a lost connection discard the held SENDs. COMMIT is
//!   all or nothing: it is refused with ERROR, applying nothing, only when a held SEND would
//!   need a new destination beyond the limit below.
//! * **Receipts.** Every frame with a `receipt` header is answered with RECEIPT once it has been
//!   processed (for COMMIT: once the transaction has been applied), or with an ERROR that names
//!   the receipt. ERROR frames carry a short `message` header and the details in the body.
//! * **Heart-beats.** CONNECTED offers `1000,1000`, so each client chooses its own rate (at most
//!   one per second each way). A client that stays silent for twice its interval is dropped.
//! * **WebSocket.** Path `/ws`, subprotocols `v12.stomp`, `v11.stomp` and `v10.stomp`: the first
//!   one in the client's list that the broker knows is chosen
//!   ([`websocket::choose_subprotocol`]), and the STOMP versions offered on the connection are
//!   capped by it. Text and binary messages are fed, in order, to the same connection as TCP
//!   bytes (a message may hold part of a frame, several frames or heart-beat EOLs); outgoing
//!   bytes go out as text messages when they are UTF-8 ([`websocket::fits_text_message`]),
//!   else as binary ones. After a protocol failure (an ERROR sent) the WebSocket is closed with
//!   status 1002, as Spring does (W-8); otherwise with 1000.
//! * No authentication: any login is accepted, and `host` is ignored.
//!
//! # Limits
//!
//! No client can make the broker keep more than this (H-8: a server may cap any unbounded
//! input). Frames themselves are bounded by the codec's default [`Limits`](stomp_codec::Limits)
//! (8 MiB of body, 64 KiB of headers).
//!
//! * CONNECT must arrive within 10 s of the transport being accepted;
//! * per connection: 256 subscriptions, 16 open transactions, 1000 SEND frames or 16 MiB held
//!   in open transactions, 1000 unacknowledged messages or 16 MiB of them;
//! * 1024 destinations known at once (only a SUBSCRIBE, or a SEND to a queue nobody subscribes
//!   to, needs one);
//!
//! beyond any of these the client gets an ERROR and the connection closes: the frame that goes
//! over is refused (a MESSAGE that would go over goes back to its queue, with the connection's
//! other unacknowledged queue messages). And waiting messages:
//!
//! * a queue keeps at most 1000 waiting messages and 16 MiB: beyond, its oldest waiting
//!   message is dropped;
//! * all queues together keep at most 64 MiB: beyond, the oldest waiting message of any queue
//!   is dropped.
//!
//! And what waits for a client that does not read (a slow consumer, e.g. a browser on a bad
//! network): at most `--max-pending` bytes (default 4 MiB) wait in its connection for the
//! socket ([`ServerConfig::max_pending_transmit`]), besides the one buffer being written. A
//! MESSAGE (or RECEIPT) that would take it past that is not sent: the client is sent ERROR
//! `message:slow consumer` and dropped ([`SlowConsumer::Close`]), and the broker logs it. Its
//! unacknowledged queue messages go back to their queue; the other subscribers of its rooms
//! are not held back. A client whose socket takes nothing for 10 s is dropped as well (1 s once
//! it is known to be a slow consumer).
//!
//! A destination is known while it has a subscriber or a waiting message; it is forgotten as
//! soon as it has neither. Sizes count body and header bytes.
//!
//! # How it is built
//!
//! One tokio task per connection drives one [`ServerConnection`]: it reads the transport,
//! feeds the bytes in, reacts to the connection's events, and writes what the connection wants
//! to send, as the connection module documents. The rooms are a [`Broker`] behind a mutex that
//! every task shares; it routes a SEND to a [`Delivery`] for each receiving task, which the
//! sending task puts on the receiving task's channel, and the receiving task turns it into a
//! MESSAGE on its own connection.
//!
//! Nothing in between grows without bound, so that the output limit sees every byte a client
//! has not taken:
//!
//! * A task takes the next bytes from its connection (`poll_transmit`) only when the previous
//!   ones are written: while its socket is full the bytes wait *in the connection*, where
//!   `max_pending_transmit` counts them. Meanwhile the task keeps reading its client and taking
//!   deliveries.
//! * The delivery channels are bounded (16 deliveries). A task drains its channel into its
//!   connection whatever its socket does, so a full channel only means the receiving task has
//!   not run yet: the sending task then waits for room (in order, per receiver) and reads
//!   nothing more from its own client meanwhile, which holds that publisher back (TCP flow
//!   control does the rest) instead of buffering.
//!
//! The number of connections is not limited; a production broker would limit it too.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stomp_codec::websocket::{self, Subprotocol};
use stomp_codec::{
    Accept, AckMode, CloseReason, ConnectionError, ErrorReply, Frame, Heartbeat, ServerConfig,
    ServerConnection, ServerEvent, SlowConsumer, Version, VersionSet,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::SendError, error::TrySendError, OwnedPermit};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Utf8Bytes};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "\
Usage: chat_broker [OPTIONS]

A small STOMP 1.0/1.1/1.2 pub/sub broker (an example of stomp-codec's ServerConnection).

Options:
  --tcp ADDR            STOMP over TCP on ADDR (default 127.0.0.1:61613; port 0: any free port)
  --ws ADDR             STOMP over WebSocket on ws://ADDR/ws (default 127.0.0.1:15674),
                        subprotocols v12.stomp, v11.stomp, v10.stomp
  --max-pending BYTES   bytes that may wait for a client that does not read (default 4194304,
                        4 MiB); a message that would go past it drops the client (ERROR
                        message:slow consumer)
  -h, --help            print this help

Routing: /queue/... sends each message to one subscriber, round-robin (messages wait in the
queue while it has none); any other destination, e.g. /topic/room, is a topic: every subscriber
gets every message. Unacknowledged queue messages of a client that leaves are redelivered to
another subscriber; unacknowledged topic messages are dropped; NACKed messages are dropped.
SEND/ACK/NACK in a transaction take effect at COMMIT, all or nothing; an ACK/NACK of an unknown
message is an ERROR as soon as it arrives. Heart-beats: CONNECTED offers 1000,1000.

Limits (beyond them: ERROR and the connection closes, unless said otherwise):
  CONNECT within 10 s; per connection 256 subscriptions, 16 open transactions, 1000 SENDs or
  16 MiB held in transactions, 1000 unacknowledged messages or 16 MiB; 1024 destinations in all
  (ERROR for the frame that needs one more); a queue keeps 1000 waiting messages or 16 MiB and
  all queues 64 MiB (beyond: the oldest waiting message is dropped); --max-pending bytes wait
  for a client (beyond: ERROR, the client is dropped as a slow consumer, the others go on).";

/// The heart-beat of CONNECTED: the broker can send every second and wants to hear from the
/// client at most every second, so the client's own offer decides (B-3: the larger value wins).
const HEART_BEAT: Heartbeat = Heartbeat::new(1_000, 1_000);
/// A client that does not take its bytes within this is dropped (its socket buffers are full).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send CONNECT within this after its transport is accepted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscriptions one connection may have (the connection answers one more with ERROR).
const MAX_SUBSCRIPTIONS: usize = 256;
/// Transactions one connection may have open (likewise).
const MAX_TRANSACTIONS: usize = 16;
/// SEND frames, and their bytes, held in the open transactions of one connection.
const MAX_HELD: usize = 1000;
const MAX_HELD_BYTES: usize = 16 << 20;
/// Delivered messages, and their bytes, one connection may leave unacknowledged.
const MAX_UNACKED: usize = 1000;
const MAX_UNACKED_BYTES: usize = 16 << 20;
/// Destinations known at once (with a subscriber or a waiting message).
const MAX_DESTINATIONS: usize = 1024;
/// Messages, and bytes, a queue keeps while it has no subscriber; beyond, the oldest go.
const QUEUE_BACKLOG: usize = 1000;
const QUEUE_BACKLOG_BYTES: usize = 16 << 20;
/// Bytes all queues keep together; beyond, the oldest waiting message of any queue goes.
const TOTAL_BACKLOG_BYTES: usize = 64 << 20;
/// The WebSocket path.
const WS_PATH: &str = "/ws";
/// Bytes that may wait in a connection for a client that does not read (`--max-pending`).
const DEFAULT_MAX_PENDING: usize = 4 << 20;
/// Deliveries that may wait in a task's channel (the task drains it whatever its socket does).
const DELIVERY_QUEUE: usize = 16;
/// How long a client dropped as a slow consumer gets to take the buffer being written (and so
/// reach its ERROR) before its transport is closed anyway.
const SLOW_CONSUMER_GRACE: Duration = Duration::from_secs(1);

/// What a message costs to keep: body and header bytes, plus a little for the bookkeeping.
fn size_of(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers()
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    frame.body().len() + headers + 32
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Why a frame is refused: the short `message` header of the ERROR and the details of its body
/// (R-10).
#[derive(Debug)]
struct Refusal {
    message: &'static str,
    detail: String,
}

impl Refusal {
    fn new(message: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            message,
            detail: detail.into(),
        }
    }
}

// ---- the shared state: rooms and subscribers ------------------------------------------------

type SessionId = u64;

/// A message routed to one subscription of one session.
#[derive(Debug)]
struct Delivery {
    /// Where it was sent.
    destination: Bytes,
    /// The subscription id, as the client chose it.
    subscription: Bytes,
    /// The SEND frame it came from: destination, user headers and body.
    content: Frame,
}

/// Deliveries routed by one task, in order, with the channel each goes to: the task hands them
/// over as the (bounded) channels take them.
type Outbox = VecDeque<(mpsc::Sender<Delivery>, Delivery)>;

/// Every destination and every session's delivery channel.
#[derive(Debug, Default)]
struct Broker {
    next_session: SessionId,
    sessions: HashMap<SessionId, mpsc::Sender<Delivery>>,
    /// Destinations with a subscriber or a waiting message (no others are kept).
    destinations: HashMap<Bytes, Destination>,
    /// Bytes waiting in all queues.
    backlog_bytes: usize,
    /// Arrival order of waiting messages, across queues (the oldest goes first).
    next_seq: u64,
}

#[derive(Debug, Default)]
struct Destination {
    /// (session, subscription id), in the order they subscribed.
    subscribers: Vec<(SessionId, Bytes)>,
    /// Where round-robin continues (queues).
    next: usize,
    /// Messages waiting for a subscriber (queues).
    backlog: VecDeque<Waiting>,
    /// Their bytes.
    backlog_bytes: usize,
}

impl Destination {
    fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.backlog.is_empty()
    }
}

/// A message waiting in a queue.
#[derive(Debug)]
struct Waiting {
    seq: u64,
    size: usize,
    content: Frame,
}

fn is_queue(destination: &[u8]) -> bool {
    destination.starts_with(b"/queue/")
}

fn too_many_destinations(destination: &[u8]) -> Refusal {
    Refusal::new(
        "too many destinations",
        format!(
            "the broker knows {MAX_DESTINATIONS} destinations, its limit, and {} would be one more",
            shown(destination)
        ),
    )
}

impl Broker {
    fn register(&mut self, deliveries: mpsc::Sender<Delivery>) -> SessionId {
        self.next_session += 1;
        self.sessions.insert(self.next_session, deliveries);
        self.next_session
    }

    /// Forgets a session and all its subscriptions.
    fn unregister(&mut self, session: SessionId) {
        self.sessions.remove(&session);
        for destination in self.destinations.values_mut() {
            destination.subscribers.retain(|(s, _)| *s != session);
        }
        self.destinations.retain(|_, d| !d.is_unused());
    }

    fn subscribe(
        &mut self,
        session: SessionId,
        subscription: Bytes,
        destination: Bytes,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        if !self.destinations.contains_key(&destination)
            && self.destinations.len() >= MAX_DESTINATIONS
        {
            return Err(too_many_destinations(&destination));
        }
        let dest = self.destinations.entry(destination.clone()).or_default();
        dest.subscribers.push((session, subscription.clone()));
        // The first subscriber of a queue gets what waited for one.
        if let Some(deliveries) = self.sessions.get(&session) {
            while let Some(waiting) = dest.backlog.pop_front() {
                dest.backlog_bytes -= waiting.size;
                self.backlog_bytes -= waiting.size;
                let delivery = Delivery {
                    destination: destination.clone(),
                    subscription: subscription.clone(),
                    content: waiting.content,
                };
                out.push_back((deliveries.clone(), delivery));
            }
        }
        Ok(())
    }

    fn unsubscribe(&mut self, session: SessionId, subscription: &[u8], destination: &[u8]) {
        if let Some(dest) = self.destinations.get_mut(destination) {
            dest.subscribers
                .retain(|(s, id)| !(*s == session && id == subscription));
            if dest.is_unused() {
                self.destinations.remove(destination);
            }
        }
    }

    /// Whether messages to `destinations` can all be published: only a queue that the broker
    /// does not know yet needs room for a new destination (its message may have to wait).
    fn has_room_for<'a>(
        &self,
        destinations: impl Iterator<Item = &'a Bytes>,
    ) -> Result<(), Refusal> {
        let mut new: Vec<&Bytes> = destinations
            .filter(|d| is_queue(d) && !self.destinations.contains_key(*d))
            .collect();
        new.sort();
        new.dedup();
        match new.first() {
            Some(first) if self.destinations.len() + new.len() > MAX_DESTINATIONS => {
                Err(too_many_destinations(first))
            }
            _ => Ok(()),
        }
    }

    /// Routes a message: to every subscriber of a topic, to the next subscriber of a queue (or
    /// into its backlog), as deliveries added to `out`. Refused only when a queue without
    /// subscriber is not known yet and the broker knows as many destinations as it may.
    fn publish(
        &mut self,
        destination: &Bytes,
        content: Frame,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        if !is_queue(destination) {
            // Nobody subscribed: nobody receives it, and nothing is kept.
            if let Some(dest) = self.destinations.get(destination) {
                for (session, subscription) in &dest.subscribers {
                    if let Some(deliveries) = self.sessions.get(session) {
                        let delivery = Delivery {
                            destination: destination.clone(),
                            subscription: subscription.clone(),
                            content: content.clone(),
                        };
                        out.push_back((deliveries.clone(), delivery));
                    }
                }
            }
            return Ok(());
        }
        if let Some(dest) = self.destinations.get_mut(destination) {
            for _ in 0..dest.subscribers.len() {
                dest.next = (dest.next + 1) % dest.subscribers.len();
                let (session, subscription) = &dest.subscribers[dest.next];
                let Some(deliveries) = self.sessions.get(session) else {
                    continue;
                };
                // Should that session's task have ended when the delivery reaches its channel,
                // the message is routed again (Session::flush_outbox).
                let delivery = Delivery {
                    destination: destination.clone(),
                    subscription: subscription.clone(),
                    content,
                };
                out.push_back((deliveries.clone(), delivery));
                return Ok(());
            }
        } else if self.destinations.len() >= MAX_DESTINATIONS {
            return Err(too_many_destinations(destination));
        }
        self.wait_in_queue(destination, content);
        Ok(())
    }

    /// Keeps a message until the queue has a subscriber, dropping the oldest waiting messages
    /// beyond the limits of the queue and of all queues.
    fn wait_in_queue(&mut self, destination: &Bytes, content: Frame) {
        let size = size_of(&content);
        let seq = self.next_seq;
        self.next_seq += 1;
        let dest = self.destinations.entry(destination.clone()).or_default();
        dest.backlog.push_back(Waiting { seq, size, content });
        dest.backlog_bytes += size;
        self.backlog_bytes += size;
        let mut dropped = 0;
        while dest.backlog.len() > QUEUE_BACKLOG || dest.backlog_bytes > QUEUE_BACKLOG_BYTES {
            let Some(oldest) = dest.backlog.pop_front() else {
                break;
            };
            dest.backlog_bytes -= oldest.size;
            self.backlog_bytes -= oldest.size;
            dropped += 1;
        }
        if dropped > 0 {
            println!(
                "chat_broker: queue {} is full: {dropped} oldest message(s) dropped",
                shown(destination)
            );
        }
        while self.backlog_bytes > TOTAL_BACKLOG_BYTES {
            // The oldest waiting message of any queue goes.
            let Some(key) = self
                .destinations
                .iter()
                .filter_map(|(key, d)| d.backlog.front().map(|w| (w.seq, key)))
                .min()
                .map(|(_, key)| key.clone())
            else {
                break;
            };
            let Some(dest) = self.destinations.get_mut(&key) else {
                break;
            };
            if let Some(oldest) = dest.backlog.pop_front() {
                dest.backlog_bytes -= oldest.size;
                self.backlog_bytes -= oldest.size;
            }
            if dest.is_unused() {
                self.destinations.remove(&key);
            }
            println!(
                "chat_broker: all queues are full: the oldest message of {} dropped",
                shown(&key)
            );
        }
    }
}

type SharedBroker = Arc<Mutex<Broker>>;

/// The broker's state stays consistent even if a task panicked while holding the lock (every
/// method leaves it valid at each step), so a poisoned lock is simply taken over.
fn lock(broker: &SharedBroker) -> MutexGuard<'_, Broker> {
    broker.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- one client connection -------------------------------------------------------------------

/// A delivered message that waits for ACK or NACK.
#[derive(Debug)]
struct Unacked {
    message_id: Bytes,
    subscription: Bytes,
    mode: AckMode,
    destination: Bytes,
    content: Frame,
    size: usize,
    /// An ACK (`true`) or NACK of an open transaction covers it: it takes effect at COMMIT.
    claim: Option<(Bytes, bool)>,
    /// Its subscription ended while it was claimed: ABORT gives it back to its queue.
    orphaned: bool,
}

/// What one connection task knows besides its [`ServerConnection`].
struct Session {
    id: SessionId,
    peer: String,
    broker: SharedBroker,
    conn: ServerConnection,
    /// Delivered messages of `client` and `client-individual` subscriptions, oldest first.
    unacked: Vec<Unacked>,
    unacked_bytes: usize,
    /// The SEND frames (destination, content) held by each open transaction.
    transactions: HashMap<Bytes, Vec<(Bytes, Frame)>>,
    /// How many SEND frames, and bytes, all open transactions hold.
    held: usize,
    held_bytes: usize,
    /// Whether the session ended with a protocol failure (an ERROR sent).
    failed: bool,
    /// What this session routed and has not handed to the receiving tasks yet.
    outbox: Outbox,
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

impl Session {
    fn log(&self, what: impl AsRef<str>) {
        println!("[session-{} {}] {}", self.id, self.peer, what.as_ref());
    }

    /// Reacts to one event of the connection. Each frame event is answered with the RECEIPT it
    /// asked for once it is processed, or with an ERROR naming that receipt.
    fn on_event(&mut self, event: ServerEvent) {
        let receipt = event.receipt().cloned();
        let outcome = match event {
            ServerEvent::Connect(request) => {
                let accept = Accept::new().session(format!("session-{}", self.id));
                match self.conn.accept(now(), accept) {
                    Ok(()) => self.log(format!(
                        "CONNECT accepted: STOMP {}, client heart-beat {}",
                        request.version, request.heartbeat
                    )),
                    Err(e) => self.log(format!("cannot accept CONNECT: {e}")),
                }
                return;
            }
            ServerEvent::Send {
                destination,
                transaction: Some(tx),
                frame,
                ..
            } => self.hold(&tx, destination, frame),
            ServerEvent::Send {
                destination, frame, ..
            } => lock(&self.broker).publish(&destination, frame, &mut self.outbox),
            ServerEvent::Subscribe {
                id, destination, ..
            } => lock(&self.broker).subscribe(self.id, id, destination, &mut self.outbox),
            ServerEvent::Unsubscribe {
                id, destination, ..
            } => {
                lock(&self.broker).unsubscribe(self.id, &id, &destination);
                self.end_subscription(&id);
                Ok(())
            }
            ServerEvent::Ack {
                id, transaction, ..
            } => self.settle(&id, true, transaction),
            ServerEvent::Nack {
                id, transaction, ..
            } => self.settle(&id, false, transaction),
            ServerEvent::Begin { transaction, .. } => {
                self.transactions.insert(transaction, Vec::new());
                Ok(())
            }
            ServerEvent::Commit { transaction, .. } => self.commit(&transaction),
            ServerEvent::Abort { transaction, .. }
            | ServerEvent::TransactionAborted { transaction } => {
                self.abort(&transaction);
                Ok(())
            }
            ServerEvent::Disconnect { .. } => {
                // Route nothing more to this client.
                lock(&self.broker).unregister(self.id);
                self.log("DISCONNECT");
                Ok(())
            }
            ServerEvent::HeartbeatTimeout => {
                self.log("no heart-beat from the client: dropping it");
                return;
            }
            ServerEvent::Closed(reason) => {
                self.on_closed(&reason);
                return;
            }
            other => {
                self.log(format!("unhandled event {other:?}"));
                return;
            }
        };
        match (outcome, receipt) {
            (Ok(()), Some(receipt)) => {
                if let Err(e) = self.conn.receipt(now(), receipt) {
                    self.log(format!("cannot answer: {e}"));
                }
            }
            (Ok(()), None) => {}
            (Err(refusal), receipt) => self.refuse(refusal, receipt),
        }
    }

    /// Answers with ERROR (R-9: then the connection closes) and routes nothing more here.
    fn refuse(&mut self, refusal: Refusal, receipt: Option<Bytes>) {
        self.log(format!("ERROR: {}: {}", refusal.message, refusal.detail));
        let mut reply = ErrorReply::new(refusal.message).detail(refusal.detail);
        reply.receipt_id = receipt;
        if let Err(e) = self.conn.error(now(), reply) {
            self.log(format!("cannot answer: {e}"));
        }
        self.failed = true;
        lock(&self.broker).unregister(self.id);
    }

    fn on_closed(&mut self, reason: &CloseReason) {
        match reason {
            CloseReason::Disconnected => self.log("closed after DISCONNECT"),
            CloseReason::PeerClosed => self.log("closed by the client without DISCONNECT"),
            CloseReason::Failed(e) => {
                // A heart-beat timeout is silence, not a protocol error.
                self.failed |= !matches!(e, ConnectionError::HeartbeatTimeout { .. });
                self.log(format!("closed: the client failed: {e}"));
            }
            other => self.log(format!("closed: {other:?}")),
        }
    }

    /// Puts a SEND of transaction `tx` aside until COMMIT (the connection has checked that
    /// `tx` is open).
    fn hold(&mut self, tx: &Bytes, destination: Bytes, content: Frame) -> Result<(), Refusal> {
        let size = size_of(&content);
        if self.held >= MAX_HELD || self.held_bytes + size > MAX_HELD_BYTES {
            return Err(Refusal::new(
                "transaction too large",
                format!(
                    "open transactions may hold at most {MAX_HELD} SEND frames and \
                     {MAX_HELD_BYTES} bytes on one connection"
                ),
            ));
        }
        self.held += 1;
        self.held_bytes += size;
        self.transactions
            .entry(tx.clone())
            .or_default()
            .push((destination, content));
        Ok(())
    }

    /// Takes the SENDs held by `tx` out of the counts.
    fn take_held(&mut self, tx: &Bytes) -> Vec<(Bytes, Frame)> {
        let sends = self.transactions.remove(tx).unwrap_or_default();
        self.held -= sends.len();
        self.held_bytes -= sends.iter().map(|(_, c)| size_of(c)).sum::<usize>();
        sends
    }

    /// Applies `tx`: every check was made when its frames arrived, and the only thing that
    /// can still fail (room for new destinations) is checked before anything is applied.
    fn commit(&mut self, tx: &Bytes) -> Result<(), Refusal> {
        let sends = self.take_held(tx);
        {
            let mut broker = lock(&self.broker);
            broker.has_room_for(sends.iter().map(|(d, _)| d))?;
            for (destination, content) in sends {
                if let Err(refusal) = broker.publish(&destination, content, &mut self.outbox) {
                    // Not reached: has_room_for checked it under the same lock.
                    self.log(format!("message dropped: {}", refusal.detail));
                }
            }
        }
        let claimed = |u: &Unacked| u.claim.as_ref().is_some_and(|(t, _)| t == tx);
        let nacked = self
            .unacked
            .iter()
            .filter(|u| claimed(u) && u.claim.as_ref().is_some_and(|(_, ack)| !ack))
            .count();
        let mut freed = 0;
        self.unacked.retain(|u| {
            let settled = claimed(u);
            if settled {
                freed += u.size;
            }
            !settled
        });
        self.unacked_bytes -= freed;
        if nacked > 0 {
            self.log(format!(
                "COMMIT of {}: {nacked} NACKed message(s) dropped",
                shown(tx)
            ));
        }
        Ok(())
    }

    /// Discards `tx`: its SENDs are dropped, the messages its ACK/NACKs covered wait for an ACK
    /// again, or go back to their queue if their subscription has ended.
    fn abort(&mut self, tx: &Bytes) {
        self.take_held(tx);
        for u in &mut self.unacked {
            if u.claim.as_ref().is_some_and(|(t, _)| t == tx) {
                u.claim = None;
            }
        }
        self.release(|u| u.orphaned && u.claim.is_none());
    }

    /// An UNSUBSCRIBE: the subscription's unacknowledged messages go back to their queue,
    /// except those an open transaction has acknowledged, which stay until it ends.
    fn end_subscription(&mut self, id: &Bytes) {
        for u in &mut self.unacked {
            if u.subscription == id && u.claim.is_some() {
                u.orphaned = true;
            }
        }
        self.release(|u| u.subscription == id && !u.orphaned);
    }

    /// ACK (`ack` true) or NACK of the message `id`: in `client` mode also every earlier
    /// message of its subscription. Without a transaction it takes effect now (NACKed messages
    /// are dropped); with one, the messages are reserved for its COMMIT.
    fn settle(&mut self, id: &Bytes, ack: bool, tx: Option<Bytes>) -> Result<(), Refusal> {
        let what = if ack { "ACK" } else { "NACK" };
        let Some(at) = self.unacked.iter().position(|u| u.message_id == id) else {
            return Err(Refusal::new(
                "unknown message",
                format!(
                    "{what} of message {:?}: no message with this id waits for ACK or NACK",
                    shown(id)
                ),
            ));
        };
        if let Some((other, _)) = &self.unacked[at].claim {
            return Err(Refusal::new(
                "message already acknowledged",
                format!(
                    "{what} of message {:?}: transaction {:?} already acknowledges it",
                    shown(id),
                    shown(other)
                ),
            ));
        }
        let subscription = self.unacked[at].subscription.clone();
        let cumulative = self.unacked[at].mode == AckMode::Client;
        let covers = |index: usize, u: &Unacked| {
            index == at
                || (cumulative
                    && index < at
                    && u.subscription == subscription
                    && u.claim.is_none()
                    && !u.orphaned)
        };
        match tx {
            Some(tx) => {
                for (index, u) in self.unacked.iter_mut().enumerate() {
                    if covers(index, u) {
                        u.claim = Some((tx.clone(), ack));
                    }
                }
            }
            None => {
                let mut index = 0;
                let mut freed = 0;
                self.unacked.retain(|u| {
                    let settled = covers(index, u);
                    index += 1;
                    if settled {
                        freed += u.size;
                    }
                    !settled
                });
                self.unacked_bytes -= freed;
                if !ack {
                    self.log(format!("NACK of {}: message dropped", shown(id)));
                }
            }
        }
        Ok(())
    }

    /// Takes back the unacknowledged messages that match: queue messages go back to their
    /// queue as redelivered, topic messages are dropped.
    fn release(&mut self, matches: impl Fn(&Unacked) -> bool) {
        let (released, kept): (Vec<Unacked>, Vec<Unacked>) = std::mem::take(&mut self.unacked)
            .into_iter()
            .partition(|u| matches(u));
        self.unacked = kept;
        for u in released {
            self.unacked_bytes -= u.size;
            self.requeue(&u.destination, u.content);
        }
    }

    fn requeue(&mut self, destination: &Bytes, mut content: Frame) {
        if is_queue(destination) {
            content.headers_mut().set("redelivered", "true");
            let routed = lock(&self.broker).publish(destination, content, &mut self.outbox);
            if let Err(refusal) = routed {
                self.log(format!("redelivery dropped: {}", refusal.detail));
            }
        }
    }

    /// Hands the routed deliveries to their channels, in order, as long as they take them
    /// now; returns at the first full channel (the drive loop then waits for room).
    fn flush_outbox(&mut self) {
        while let Some((to, delivery)) = self.outbox.pop_front() {
            match to.try_send(delivery) {
                Ok(()) => {}
                Err(TrySendError::Full(delivery)) => {
                    self.outbox.push_front((to, delivery));
                    return;
                }
                Err(TrySendError::Closed(delivery)) => self.reroute(delivery),
            }
        }
    }

    /// The channel of the first routed delivery has room, or has closed: hand it over.
    fn hand_over_first(&mut self, permit: Result<OwnedPermit<Delivery>, SendError<()>>) {
        let Some((_, delivery)) = self.outbox.pop_front() else {
            return;
        };
        match permit {
            Ok(permit) => {
                permit.send(delivery);
            }
            Err(_) => self.reroute(delivery),
        }
    }

    /// A delivery whose receiving task ended before taking it: a queue message goes to
    /// another subscriber (or waits in the queue); a topic message is dropped.
    fn reroute(&mut self, delivery: Delivery) {
        if is_queue(&delivery.destination) {
            let routed = lock(&self.broker).publish(
                &delivery.destination,
                delivery.content,
                &mut self.outbox,
            );
            if let Err(refusal) = routed {
                self.log(format!("message dropped: {}", refusal.detail));
            }
        }
    }

    /// A message routed to one of this client's subscriptions: send it as MESSAGE.
    fn deliver(&mut self, delivery: Delivery) {
        let Delivery {
            destination,
            subscription,
            content,
        } = delivery;
        // The subscription may have gone (UNSUBSCRIBE) since the message was routed, or the
        // session may be ending: another subscriber may take it.
        let Some((_, mode)) = self
            .conn
            .subscription(&subscription)
            .filter(|_| self.conn.is_connected())
        else {
            return self.requeue(&destination, content);
        };
        let size = size_of(&content);
        if mode.needs_ack()
            && (self.unacked.len() >= MAX_UNACKED || self.unacked_bytes + size > MAX_UNACKED_BYTES)
        {
            // Routed elsewhere once this session has left the broker.
            let refusal = Refusal::new(
                "too many unacknowledged messages",
                format!(
                    "a connection may leave at most {MAX_UNACKED} messages and \
                     {MAX_UNACKED_BYTES} bytes unacknowledged"
                ),
            );
            self.refuse(refusal, None);
            return self.requeue(&destination, content);
        }
        let message_id = next_message_id();
        match self
            .conn
            .message(now(), &subscription, &message_id, &content)
        {
            Ok(()) if mode.needs_ack() => {
                self.unacked_bytes += size;
                self.unacked.push(Unacked {
                    message_id,
                    subscription,
                    mode,
                    destination,
                    content,
                    size,
                    claim: None,
                    orphaned: false,
                });
            }
            Ok(_) => {}
            // The session is ending, e.g. the client does not read fast enough (the connection
            // has queued ERROR, slow consumer, and is closing): another subscriber may take it.
            Err(_) if !self.conn.is_connected() => self.requeue(&destination, content),
            // This client cannot take it, e.g. a header that its STOMP version cannot carry (a
            // CR ending a value sent by a 1.2 client, for a 1.1 one). Giving it back could
            // loop: drop it.
            Err(e) => self.log(format!("message to {} dropped: {e}", shown(&destination))),
        }
    }

    /// The connection is over: leave the broker, give back what this client did not
    /// acknowledge, including deliveries still in its channel, and hand over what this session
    /// routed (the other tasks drain their channels, so this ends; bounded in time anyway).
    async fn finish(mut self, deliveries: &mut mpsc::Receiver<Delivery>) {
        lock(&self.broker).unregister(self.id);
        deliveries.close();
        while let Ok(delivery) = deliveries.try_recv() {
            self.requeue(&delivery.destination, delivery.content);
        }
        self.release(|_| true);
        let handing_over = async {
            loop {
                self.flush_outbox();
                let permit = reserve(self.outbox.front().map(|(to, _)| to.clone()));
                if self.outbox.is_empty() {
                    return;
                }
                let permit = permit.await;
                self.hand_over_first(permit);
            }
        };
        if timeout(WRITE_TIMEOUT, handing_over).await.is_err() {
            self.log(format!(
                "{} routed message(s) dropped: their subscribers took nothing for {WRITE_TIMEOUT:?}",
                self.outbox.len()
            ));
        }
    }
}

// ---- transports ------------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

/// A client's byte stream: raw TCP or WebSocket messages.
enum Transport {
    Tcp(TcpStream),
    Ws(Box<Ws>),
}

impl Transport {
    /// Into its two directions, so that the task can read (and take deliveries) while a write
    /// waits for the client.
    fn split(self) -> (Reader, Writer) {
        match self {
            Transport::Tcp(stream) => {
                let (read, write) = stream.into_split();
                (Reader::Tcp(read, BytesMut::new()), Writer::Tcp(write))
            }
            Transport::Ws(ws) => {
                let (sink, stream) = (*ws).split();
                (Reader::Ws(stream), Writer::Ws(sink))
            }
        }
    }
}

/// The reading half of a [`Transport`].
enum Reader {
    Tcp(OwnedReadHalf, BytesMut),
    Ws(SplitStream<Ws>),
}

/// The writing half of a [`Transport`].
enum Writer {
    Tcp(OwnedWriteHalf),
    Ws(SplitSink<Ws, WsMessage>),
}

/// What a transport read.
enum Input {
    /// STOMP bytes: a part of a frame, one or several frames, heart-beat EOLs.
    Bytes(Bytes),
    /// Life without STOMP bytes (a WebSocket ping or pong).
    Activity,
    /// The client closed the transport.
    Closed,
}

impl Reader {
    /// Cancel-safe: nothing read is lost when another branch of the drive loop wins.
    async fn recv(&mut self) -> io::Result<Input> {
        match self {
            Reader::Tcp(stream, buf) => {
                buf.reserve(8 * 1024);
                if stream.read_buf(buf).await? == 0 {
                    return Ok(Input::Closed);
                }
                Ok(Input::Bytes(buf.split().freeze()))
            }
            // Each message's payload, text or binary, is fed as it is: the connection's decoder
            // keeps its state from message to message (W-3, W-4).
            Reader::Ws(ws) => match ws.next().await {
                None | Some(Ok(WsMessage::Close(_))) => Ok(Input::Closed),
                Some(Ok(WsMessage::Text(text))) => Ok(Input::Bytes(text.into())),
                Some(Ok(WsMessage::Binary(bytes))) => Ok(Input::Bytes(bytes)),
                // tungstenite answers pings by itself.
                Some(Ok(_)) => Ok(Input::Activity),
                Some(Err(e)) => Err(io::Error::other(e)),
            },
        }
    }
}

impl Writer {
    async fn write(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Writer::Tcp(stream) => stream.write_all(&bytes).await,
            Writer::Ws(ws) => {
                // Text messages must be UTF-8 (W-4).
                let message = if websocket::fits_text_message(&bytes) {
                    Utf8Bytes::try_from(bytes)
                        .map(WsMessage::Text)
                        .map_err(io::Error::other)?
                } else {
                    WsMessage::Binary(bytes)
                };
                ws.send(message).await.map_err(io::Error::other)
            }
        }
    }

    /// Closes the transport; a WebSocket with status 1002 after a protocol failure (W-8), else
    /// 1000.
    async fn close(&mut self, protocol_failure: bool) {
        let closing = async {
            let _ = match self {
                Writer::Tcp(stream) => stream.shutdown().await,
                // The WebSocket close handshake (what `WebSocketStream::close` sends).
                Writer::Ws(ws) => {
                    let frame = if protocol_failure {
                        CloseFrame {
                            code: CloseCode::Protocol,
                            reason: Utf8Bytes::from_static("STOMP protocol error"),
                        }
                    } else {
                        CloseFrame {
                            code: CloseCode::Normal,
                            reason: Utf8Bytes::from_static(""),
                        }
                    };
                    ws.send(WsMessage::Close(Some(frame)))
                        .await
                        .map_err(io::Error::other)
                }
            };
        };
        let _ = timeout(Duration::from_secs(1), closing).await;
    }
}

/// A write under way: it owns the writer and gives it back with the outcome.
type Writing = Pin<Box<dyn Future<Output = (Writer, io::Result<()>)> + Send>>;

fn start_write(mut writer: Writer, bytes: Bytes) -> Writing {
    Box::pin(async move {
        let written = writer.write(bytes).await;
        (writer, written)
    })
}

/// Runs one client connection to its end.
async fn serve(
    broker: SharedBroker,
    transport: Transport,
    peer: SocketAddr,
    versions: VersionSet,
    max_pending: usize,
) {
    let (to_session, mut deliveries) = mpsc::channel(DELIVERY_QUEUE);
    let id = lock(&broker).register(to_session);
    let config = ServerConfig::default()
        .versions(versions)
        .heartbeat(HEART_BEAT)
        .server(concat!("chat_broker/", env!("CARGO_PKG_VERSION")))
        .max_subscriptions(MAX_SUBSCRIPTIONS)
        .max_transactions(MAX_TRANSACTIONS)
        .connect_timeout(Some(CONNECT_TIMEOUT))
        .max_pending_transmit(max_pending)
        .slow_consumer(SlowConsumer::Close);
    let mut conn = ServerConnection::new(config);
    // The CONNECT deadline counts from now, even if the client never sends a byte.
    conn.start(now());
    let mut session = Session {
        id,
        peer: peer.to_string(),
        broker,
        conn,
        unacked: Vec::new(),
        unacked_bytes: 0,
        transactions: HashMap::new(),
        held: 0,
        held_bytes: 0,
        failed: false,
        outbox: Outbox::new(),
    };
    session.log(match transport {
        Transport::Tcp(..) => "TCP connection",
        Transport::Ws(_) => "WebSocket connection",
    });
    let (mut reader, writer) = transport.split();
    // The writer while it is idle; a write under way owns it, until the client has taken the
    // bytes or `write_deadline` has passed.
    let mut writer = Some(writer);
    let mut writing: Option<Writing> = None;
    let mut write_deadline: Option<Instant> = None;
    // The client has closed its side (or reading failed): read no more.
    let mut input_ended = false;
    // When the client was found to be a slow consumer.
    let mut slow_since: Option<Instant> = None;
    loop {
        // Outputs first: events (which may queue frames and route messages), the routed
        // messages that the receiving channels take now, then the next bytes to send, but
        // only once the previous ones are written: until then they wait in the connection,
        // whose output limit counts them.
        drain_events(&mut session);
        session.flush_outbox();
        if writing.is_none() {
            if let Some(bytes) = session.conn.poll_transmit() {
                let idle = writer.take().expect("no write is under way");
                writing = Some(start_write(idle, bytes));
                write_deadline = Some(Instant::now() + WRITE_TIMEOUT);
                // Handing out the last bytes of a closing connection produces `Closed`.
                continue;
            }
            if session.conn.is_closed() {
                break;
            }
        }
        if let Some(ConnectionError::SlowConsumer { pending, limit }) = session.conn.failure() {
            // A MESSAGE or RECEIPT would have gone past the output limit: the connection has
            // queued ERROR and is closing. Route nothing more here; the client gets a moment
            // to take what is being written (and then its ERROR), no more.
            let since = *slow_since.get_or_insert_with(|| {
                session.log(format!(
                    "slow consumer dropped: {pending} bytes were waiting for it, at most \
                     {limit} may (--max-pending)"
                ));
                lock(&session.broker).unregister(session.id);
                Instant::now()
            });
            write_deadline = write_deadline.map(|at| at.min(since + SLOW_CONSUMER_GRACE));
        }
        // Then wait for: the write to end, room for the next routed message, bytes from the
        // client (not while routed messages wait: that holds a fast publisher back), a
        // delivery, or the connection's next timer. Bytes that are ready win over the timer
        // (`biased`): after a stall, the input that arrived in time is fed before a timer that
        // has meanwhile expired can declare the client silent.
        let wake = session.conn.poll_timeout().map(Instant::from_std);
        let first_routed = session.outbox.front().map(|(to, _)| to.clone());
        let may_read = first_routed.is_none() && !input_ended;
        tokio::select! {
            biased;
            (idle, written) = async { writing.as_mut().expect("a write is under way").await },
                if writing.is_some() =>
            {
                writing = None;
                write_deadline = None;
                writer = Some(idle);
                if let Err(e) = written {
                    session.log(format!("write failed: {e}"));
                    session.conn.handle_close();
                    drain_events(&mut session);
                    break;
                }
            }
            () = sleep_until_some(write_deadline), if writing.is_some() => {
                session.log("write timed out: the client takes nothing");
                // The write is abandoned, and with it the writer: the socket closes.
                drop(writing.take());
                session.conn.handle_close();
                drain_events(&mut session);
                break;
            }
            permit = reserve(first_routed.clone()), if first_routed.is_some() => {
                session.hand_over_first(permit);
            }
            input = reader.recv(), if may_read => {
                match input {
                    Ok(Input::Bytes(bytes)) => {
                        // Protocol errors in the bytes are reported by the events (ERROR
                        // queued, then Closed).
                        session.conn.handle_input_bytes(now(), bytes);
                    }
                    Ok(Input::Activity) => session.conn.note_activity(now()),
                    Ok(Input::Closed) => {
                        input_ended = true;
                        session.conn.handle_close();
                    }
                    Err(e) => {
                        session.log(format!("read failed: {e}"));
                        input_ended = true;
                        session.conn.handle_close();
                    }
                }
                // A client that keeps sending still takes what others route to it.
                if let Ok(delivery) = deliveries.try_recv() {
                    session.deliver(delivery);
                }
            }
            Some(delivery) = deliveries.recv() => session.deliver(delivery),
            () = sleep_until_some(wake) => session.conn.handle_timeout(now()),
        }
    }
    let failed = session.failed;
    session.finish(&mut deliveries).await;
    // Without the writer (an abandoned write), dropping both halves closes the socket.
    if let Some(mut writer) = writer {
        writer.close(failed).await;
    }
}

/// Room in `to` for one delivery (`Err`: its task has ended); never ready without a channel.
async fn reserve(
    to: Option<mpsc::Sender<Delivery>>,
) -> Result<OwnedPermit<Delivery>, SendError<()>> {
    match to {
        Some(to) => to.reserve_owned().await,
        None => std::future::pending().await,
    }
}

fn drain_events(session: &mut Session) {
    while let Some(event) = session.conn.poll_event() {
        session.on_event(event);
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

// ---- listeners -------------------------------------------------------------------------------

async fn accept_tcp(listener: TcpListener, broker: SharedBroker, max_pending: usize) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let transport = Transport::Tcp(stream);
                tokio::spawn(serve(
                    broker.clone(),
                    transport,
                    peer,
                    VersionSet::ALL,
                    max_pending,
                ));
            }
            Err(e) => {
                eprintln!("chat_broker: TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn accept_ws(listener: TcpListener, broker: SharedBroker, max_pending: usize) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(upgrade(stream, peer, broker.clone(), max_pending));
            }
            Err(e) => {
                eprintln!("chat_broker: WebSocket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The WebSocket handshake (bounded in time), then the STOMP session.
#[allow(clippy::result_large_err)] // The handshake callback's signature is tungstenite's.
async fn upgrade(stream: TcpStream, peer: SocketAddr, broker: SharedBroker, max_pending: usize) {
    let mut versions = VersionSet::ALL;
    let handshake = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        let (response, chosen) = choose_subprotocol(request, response)?;
        versions = chosen;
        Ok(response)
    });
    match timeout(Duration::from_secs(10), handshake).await {
        Ok(Ok(ws)) => {
            let transport = Transport::Ws(Box::new(ws));
            serve(broker, transport, peer, versions, max_pending).await;
        }
        Ok(Err(e)) => eprintln!("chat_broker: WebSocket handshake with {peer} failed: {e}"),
        Err(_) => eprintln!("chat_broker: WebSocket handshake with {peer} timed out"),
    }
}

/// Checks the path and picks the first subprotocol of the client's list that we know; the
/// STOMP versions allowed on the connection are those up to the subprotocol's.
#[allow(clippy::result_large_err)] // The error is tungstenite's handshake refusal.
fn choose_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<(Response, VersionSet), ErrorResponse> {
    let refuse = |status: StatusCode, why: &str| {
        let mut refusal = ErrorResponse::new(Some(why.to_string()));
        *refusal.status_mut() = status;
        refusal
    };
    if request.uri().path() != WS_PATH {
        return Err(refuse(StatusCode::NOT_FOUND, "STOMP is served on /ws"));
    }
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .map(HeaderValue::as_bytes);
    let top = match websocket::choose_subprotocol(offered, VersionSet::ALL) {
        // No subprotocol asked for: plain STOMP, any version (W-1).
        Subprotocol::NotOffered => return Ok((response, VersionSet::ALL)),
        Subprotocol::Unsupported => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "no supported subprotocol: use v12.stomp, v11.stomp or v10.stomp",
            ))
        }
        Subprotocol::Chosen(top) => top,
    };
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(top.subprotocol()),
    );
    let versions = Version::ALL
        .into_iter()
        .filter(|v| *v <= top)
        .fold(VersionSet::EMPTY, VersionSet::with);
    Ok((response, versions))
}

// ---- main ------------------------------------------------------------------------------------

/// What the command line chose.
struct Options {
    tcp: String,
    ws: String,
    max_pending: usize,
}

/// `Ok(None)`: `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let (mut tcp, mut ws) = ("127.0.0.1:61613".to_string(), "127.0.0.1:15674".to_string());
    let mut max_pending = DEFAULT_MAX_PENDING;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--tcp" => tcp = value()?,
            "--ws" => ws = value()?,
            "--max-pending" => {
                let bytes = value()?;
                max_pending = match bytes.parse() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(format!(
                            "--max-pending needs a number of bytes, not {bytes:?}"
                        ))
                    }
                };
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(Options {
        tcp,
        ws,
        max_pending,
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Options {
        tcp: tcp_addr,
        ws: ws_addr,
        max_pending,
    } = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat_broker: {e}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let (tcp, ws) = match (
        TcpListener::bind(&tcp_addr).await,
        TcpListener::bind(&ws_addr).await,
    ) {
        (Ok(tcp), Ok(ws)) => (tcp, ws),
        (Err(e), _) => {
            eprintln!("chat_broker: cannot listen on {tcp_addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
        (_, Err(e)) => {
            eprintln!("chat_broker: cannot listen on {ws_addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shown_addr = |l: &TcpListener, fallback: &str| {
        l.local_addr()
            .map_or(fallback.to_string(), |a| a.to_string())
    };
    println!(
        "chat_broker: STOMP over TCP on {}",
        shown_addr(&tcp, &tcp_addr)
    );
    println!(
        "chat_broker: STOMP over WebSocket on ws://{}{WS_PATH}",
        shown_addr(&ws, &ws_addr)
    );
    println!("chat_broker: at most {max_pending} bytes wait for a client (--max-pending)");
    let broker = SharedBroker::default();
    tokio::join!(
        accept_tcp(tcp, broker.clone(), max_pending),
        accept_ws(ws, broker, max_pending)
    );
    std::process::ExitCode::SUCCESS
}

/// Message ids unique across every connection of this broker and across its restarts (S-13):
/// the process start time and id, then a counter the connections share.
fn next_message_id() -> Bytes {
    static IDS: std::sync::OnceLock<std::sync::Mutex<stomp_codec::MessageIds>> =
        std::sync::OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let prefix = format!("{started:x}.{:x}", std::process::id());
        std::sync::Mutex::new(stomp_codec::MessageIds::new(prefix))
    });
    ids.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .next_id()
}
