//! A small STOMP pub/sub broker for chat rooms, built on the sans-IO [`ServerConnection`] and
//! tokio. Clients reach it over plain TCP and over WebSocket (as browsers using @stomp/stompjs
//! do), and both kinds share the same rooms.
//!
//! ```text
//! cargo run --example chat_broker                        # TCP 127.0.0.1:61613, ws://127.0.0.1:15674/ws
//! cargo run --example chat_broker -- --tcp 127.0.0.1:0 --ws 127.0.0.1:0   # any free ports
//! ```
//!
//! It prints the addresses it listens on (useful with port 0), then one line per connection
//! event.
//!
//! # What it does
//!
//! * **Destinations.** `/queue/...` delivers each message to *one* subscriber, round-robin
//!   over the queue's subscribers; a message sent while a queue has no subscriber waits in the
//!   queue (at most 1000 per queue; beyond that the oldest is dropped) and goes to the next
//!   subscriber. Every other destination (`/topic/...`, the chat rooms) is a topic: each message
//!   goes to every current subscriber, and nobody receives what was sent before they
//!   subscribed.
//! * **Acknowledgements.** `auto`: a delivered message is done. `client`: an ACK covers the
//!   message and every earlier unacknowledged message of the same subscription (cumulative),
//!   and so does a NACK. `client-individual`: an ACK or NACK covers one message. A NACKed
//!   message is dropped (there is no dead-letter queue). An ACK or NACK of a message that is not
//!   waiting for one is answered with ERROR.
//! * **Unacknowledged messages** of a client that disconnects (or goes silent, or
//!   unsubscribes) go back to their queue, marked `redelivered:true`, and are delivered to
//!   another subscriber; unacknowledged topic messages are dropped.
//! * **Transactions.** SEND, ACK and NACK with a `transaction` header are held and applied, in
//!   order, at COMMIT; ABORT, DISCONNECT and a lost connection discard them.
//! * **Receipts.** Every frame with a `receipt` header is answered with RECEIPT once it has been
//!   processed (for COMMIT: once the transaction has been applied), or with an ERROR that names
//!   the receipt.
//! * **Heart-beats.** CONNECTED offers `1000,1000`, so each client chooses its own rate (at most
//!   one per second each way). A client that stays silent for twice its interval is dropped.
//! * **WebSocket.** Path `/ws`, subprotocols `v12.stomp`, `v11.stomp` and `v10.stomp`: the first
//!   one in the client's list that the broker knows is chosen
//!   ([`websocket::choose_subprotocol`]), and the STOMP versions offered on the connection are
//!   capped by it. Text and binary messages are fed, in order, to the same connection as TCP
//!   bytes (a message may hold part of a frame, several frames or heart-beat EOLs); outgoing
//!   bytes go out as text messages when they are UTF-8 ([`websocket::fits_text_message`]),
//!   else as binary ones.
//! * No authentication: any login is accepted, and `host` is ignored.
//!
//! # How it is built
//!
//! One tokio task per connection drives one [`ServerConnection`]: it reads the transport,
//! feeds the bytes in, reacts to the connection's events, and writes what the connection wants
//! to send, as the connection module documents. The rooms are a [`Broker`] behind a mutex that
//! every task shares; it routes a SEND by putting a [`Delivery`] on the channel of each
//! receiving task, which turns it into a MESSAGE on its own connection. Channels are unbounded,
//! so a slow subscriber makes its channel grow: a production broker would bound it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stomp_codec::websocket::{self, Subprotocol};
use stomp_codec::{
    Accept, AckMode, CloseReason, ErrorReply, Frame, HeartBeat, ServerConfig, ServerConnection,
    ServerEvent, Version, VersionSet,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "\
Usage: chat_broker [OPTIONS]

A small STOMP 1.0/1.1/1.2 pub/sub broker (an example of stomp-codec's ServerConnection).

Options:
  --tcp ADDR   STOMP over TCP on ADDR (default 127.0.0.1:61613; port 0: any free port)
  --ws ADDR    STOMP over WebSocket on ws://ADDR/ws (default 127.0.0.1:15674), subprotocols
               v12.stomp, v11.stomp, v10.stomp
  -h, --help   print this help

Routing: /queue/... sends each message to one subscriber, round-robin (messages wait in the
queue while it has none); any other destination, e.g. /topic/room, is a topic: every subscriber
gets every message. Unacknowledged queue messages of a client that leaves are redelivered to
another subscriber; unacknowledged topic messages are dropped; NACKed messages are dropped.
SEND/ACK/NACK in a transaction take effect at COMMIT. Heart-beats: CONNECTED offers 1000,1000.";

/// The heart-beat of CONNECTED: the broker can send every second and wants to hear from the
/// client at most every second, so the client's own offer decides (B-3: the larger value wins).
const HEART_BEAT: HeartBeat = HeartBeat::new(1_000, 1_000);
/// A client that does not take its bytes within this is dropped (its socket buffers are full).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a queue keeps while it has no subscriber.
const QUEUE_BACKLOG: usize = 1000;
/// The WebSocket path.
const WS_PATH: &str = "/ws";

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

/// Every destination and every session's delivery channel.
#[derive(Debug, Default)]
struct Broker {
    next_session: SessionId,
    sessions: HashMap<SessionId, mpsc::UnboundedSender<Delivery>>,
    destinations: HashMap<Bytes, Destination>,
}

#[derive(Debug, Default)]
struct Destination {
    /// (session, subscription id), in the order they subscribed.
    subscribers: Vec<(SessionId, Bytes)>,
    /// Where round-robin continues (queues).
    next: usize,
    /// Messages waiting for a subscriber (queues).
    backlog: VecDeque<Frame>,
}

fn is_queue(destination: &[u8]) -> bool {
    destination.starts_with(b"/queue/")
}

impl Broker {
    fn register(&mut self, deliveries: mpsc::UnboundedSender<Delivery>) -> SessionId {
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
    }

    fn subscribe(&mut self, session: SessionId, subscription: Bytes, destination: Bytes) {
        let dest = self.destinations.entry(destination.clone()).or_default();
        dest.subscribers.push((session, subscription.clone()));
        // The first subscriber of a queue gets what waited for one.
        if let Some(deliveries) = self.sessions.get(&session) {
            while let Some(content) = dest.backlog.pop_front() {
                let delivery = Delivery {
                    destination: destination.clone(),
                    subscription: subscription.clone(),
                    content,
                };
                if let Err(unsent) = deliveries.send(delivery) {
                    dest.backlog.push_front(unsent.0.content);
                    break;
                }
            }
        }
    }

    fn unsubscribe(&mut self, session: SessionId, subscription: &[u8], destination: &[u8]) {
        if let Some(dest) = self.destinations.get_mut(destination) {
            dest.subscribers
                .retain(|(s, id)| !(*s == session && id == subscription));
        }
    }

    /// Routes a message: to every subscriber of a topic, to the next subscriber of a queue (or
    /// into its backlog).
    fn publish(&mut self, destination: &Bytes, content: Frame) {
        let queue = is_queue(destination);
        let dest = self.destinations.entry(destination.clone()).or_default();
        if !queue {
            for (session, subscription) in &dest.subscribers {
                if let Some(deliveries) = self.sessions.get(session) {
                    let _ = deliveries.send(Delivery {
                        destination: destination.clone(),
                        subscription: subscription.clone(),
                        content: content.clone(),
                    });
                }
            }
            return;
        }
        let mut content = content;
        for _ in 0..dest.subscribers.len() {
            dest.next = (dest.next + 1) % dest.subscribers.len();
            let (session, subscription) = &dest.subscribers[dest.next];
            let Some(deliveries) = self.sessions.get(session) else {
                continue;
            };
            let delivery = Delivery {
                destination: destination.clone(),
                subscription: subscription.clone(),
                content,
            };
            match deliveries.send(delivery) {
                Ok(()) => return,
                // That session's task has ended: try the next subscriber.
                Err(unsent) => content = unsent.0.content,
            }
        }
        if dest.backlog.len() == QUEUE_BACKLOG {
            dest.backlog.pop_front();
        }
        dest.backlog.push_back(content);
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
}

/// A frame of an open transaction, applied at COMMIT.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Frames are moved, not copied: no need to box them.
enum Pending {
    Send { destination: Bytes, content: Frame },
    Ack { id: Bytes },
    Nack { id: Bytes },
}

/// What one connection task knows besides its [`ServerConnection`].
struct Session {
    id: SessionId,
    peer: String,
    broker: SharedBroker,
    conn: ServerConnection,
    /// Delivered messages of `client` and `client-individual` subscriptions, oldest first.
    unacked: Vec<Unacked>,
    transactions: HashMap<Bytes, Vec<Pending>>,
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
                        request.version, request.heart_beat
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
            } => self.hold(
                &tx,
                Pending::Send {
                    destination,
                    content: frame,
                },
            ),
            ServerEvent::Send {
                destination, frame, ..
            } => {
                lock(&self.broker).publish(&destination, frame);
                Ok(())
            }
            ServerEvent::Subscribe {
                id, destination, ..
            } => {
                lock(&self.broker).subscribe(self.id, id, destination);
                Ok(())
            }
            ServerEvent::Unsubscribe {
                id, destination, ..
            } => {
                lock(&self.broker).unsubscribe(self.id, &id, &destination);
                self.release(|u| u.subscription == id);
                Ok(())
            }
            ServerEvent::Ack {
                id,
                transaction: Some(tx),
                ..
            } => self.hold(&tx, Pending::Ack { id }),
            ServerEvent::Ack { id, .. } => self.settle(&id, true),
            ServerEvent::Nack {
                id,
                transaction: Some(tx),
                ..
            } => self.hold(&tx, Pending::Nack { id }),
            ServerEvent::Nack { id, .. } => self.settle(&id, false),
            ServerEvent::Begin { transaction, .. } => {
                self.transactions.insert(transaction, Vec::new());
                Ok(())
            }
            ServerEvent::Commit { transaction, .. } => self.commit(&transaction),
            ServerEvent::Abort { transaction, .. }
            | ServerEvent::TransactionAborted { transaction } => {
                self.transactions.remove(&transaction);
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
        let answered = match (outcome, receipt) {
            (Ok(()), Some(receipt)) => self.conn.receipt(now(), receipt),
            (Ok(()), None) => Ok(()),
            (Err(message), receipt) => {
                self.log(format!("ERROR: {message}"));
                let mut reply = ErrorReply::new(message);
                reply.receipt_id = receipt;
                self.conn.error(now(), reply)
            }
        };
        if let Err(e) = answered {
            self.log(format!("cannot answer: {e}"));
        }
    }

    fn on_closed(&self, reason: &CloseReason) {
        match reason {
            CloseReason::Disconnected => self.log("closed after DISCONNECT"),
            CloseReason::PeerClosed => self.log("closed by the client without DISCONNECT"),
            CloseReason::Failed(e) => self.log(format!("closed: the client failed: {e}")),
            other => self.log(format!("closed: {other:?}")),
        }
    }

    /// Puts a frame of transaction `tx` aside until COMMIT (the connection has checked that
    /// `tx` is open).
    fn hold(&mut self, tx: &Bytes, pending: Pending) -> Result<(), String> {
        self.transactions
            .entry(tx.clone())
            .or_default()
            .push(pending);
        Ok(())
    }

    fn commit(&mut self, tx: &Bytes) -> Result<(), String> {
        for pending in self.transactions.remove(tx).unwrap_or_default() {
            match pending {
                Pending::Send {
                    destination,
                    content,
                } => lock(&self.broker).publish(&destination, content),
                Pending::Ack { id } => self.settle(&id, true)?,
                Pending::Nack { id } => self.settle(&id, false)?,
            }
        }
        Ok(())
    }

    /// ACK (`ack` true) or NACK of the message `id`: in `client` mode also every earlier
    /// message of its subscription. Both end the messages' delivery; NACKed ones are dropped.
    fn settle(&mut self, id: &Bytes, ack: bool) -> Result<(), String> {
        let what = if ack { "ACK" } else { "NACK" };
        let Some(at) = self.unacked.iter().position(|u| u.message_id == id) else {
            return Err(format!(
                "{what} of an unknown message: no message with id {:?} waits for ACK or NACK",
                shown(id)
            ));
        };
        let subscription = self.unacked[at].subscription.clone();
        let cumulative = self.unacked[at].mode == AckMode::Client;
        let mut index = 0;
        self.unacked.retain(|u| {
            let settled =
                index == at || (cumulative && index < at && u.subscription == subscription);
            index += 1;
            !settled
        });
        if !ack {
            self.log(format!("NACK of {}: message dropped", shown(id)));
        }
        Ok(())
    }

    /// Takes back the unacknowledged messages that match: queue messages go back to their
    /// queue as redelivered, topic messages are dropped.
    fn release(&mut self, matches: impl Fn(&Unacked) -> bool) {
        let (released, kept) = std::mem::take(&mut self.unacked)
            .into_iter()
            .partition(|u| matches(u));
        self.unacked = kept;
        for u in released {
            self.requeue(&u.destination, u.content);
        }
    }

    fn requeue(&self, destination: &Bytes, mut content: Frame) {
        if is_queue(destination) {
            content.headers_mut().set("redelivered", "true");
            lock(&self.broker).publish(destination, content);
        }
    }

    /// A message routed to one of this client's subscriptions: send it as MESSAGE.
    fn deliver(&mut self, delivery: Delivery) {
        let Delivery {
            destination,
            subscription,
            content,
        } = delivery;
        // The subscription may have gone (UNSUBSCRIBE) since the message was routed.
        let Some((_, mode)) = self.conn.subscription(&subscription) else {
            return self.requeue(&destination, content);
        };
        match self.conn.message(now(), &subscription, &content) {
            Ok(message_id) if mode.needs_ack() => self.unacked.push(Unacked {
                message_id,
                subscription,
                mode,
                destination,
                content,
            }),
            Ok(_) => {}
            // The session is ending: another subscriber may take it.
            Err(_) if !self.conn.is_connected() => self.requeue(&destination, content),
            // This client cannot take it, e.g. a header that its STOMP version cannot carry (a
            // CR sent by a 1.2 client, for a 1.1 one). Giving it back could loop: drop it.
            Err(e) => self.log(format!("message to {} dropped: {e}", shown(&destination))),
        }
    }

    /// The connection is over: leave the broker and give back what this client did not
    /// acknowledge, including deliveries still in its channel.
    fn finish(mut self, deliveries: &mut mpsc::UnboundedReceiver<Delivery>) {
        lock(&self.broker).unregister(self.id);
        deliveries.close();
        while let Ok(delivery) = deliveries.try_recv() {
            self.requeue(&delivery.destination, delivery.content);
        }
        self.release(|_| true);
    }
}

// ---- transports ------------------------------------------------------------------------------

/// A client's byte stream: raw TCP or WebSocket messages.
enum Transport {
    Tcp(TcpStream, BytesMut),
    Ws(Box<WebSocketStream<TcpStream>>),
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

impl Transport {
    async fn recv(&mut self) -> io::Result<Input> {
        match self {
            Transport::Tcp(stream, buf) => {
                buf.reserve(8 * 1024);
                if stream.read_buf(buf).await? == 0 {
                    return Ok(Input::Closed);
                }
                Ok(Input::Bytes(buf.split().freeze()))
            }
            // Each message's payload, text or binary, is fed as it is: the connection's decoder
            // keeps its state from message to message (W-3, W-4).
            Transport::Ws(ws) => match ws.next().await {
                None | Some(Ok(WsMessage::Close(_))) => Ok(Input::Closed),
                Some(Ok(WsMessage::Text(text))) => Ok(Input::Bytes(text.into())),
                Some(Ok(WsMessage::Binary(bytes))) => Ok(Input::Bytes(bytes)),
                // tungstenite answers pings by itself.
                Some(Ok(_)) => Ok(Input::Activity),
                Some(Err(e)) => Err(io::Error::other(e)),
            },
        }
    }

    async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        match timeout(WRITE_TIMEOUT, self.write(bytes)).await {
            Ok(written) => written,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client reads nothing",
            )),
        }
    }

    async fn write(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Transport::Tcp(stream, _) => stream.write_all(&bytes).await,
            Transport::Ws(ws) => {
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

    async fn close(&mut self) {
        let closing = async {
            let _ = match self {
                Transport::Tcp(stream, _) => stream.shutdown().await,
                // The WebSocket close handshake (not `SinkExt::close`).
                Transport::Ws(ws) => ws.as_mut().close(None).await.map_err(io::Error::other),
            };
        };
        let _ = timeout(Duration::from_secs(1), closing).await;
    }
}

/// Runs one client connection to its end.
async fn serve(
    broker: SharedBroker,
    mut transport: Transport,
    peer: SocketAddr,
    versions: VersionSet,
) {
    let (to_session, mut deliveries) = mpsc::unbounded_channel();
    let id = lock(&broker).register(to_session);
    let config = ServerConfig::default()
        .versions(versions)
        .heart_beat(HEART_BEAT)
        .server(concat!("chat_broker/", env!("CARGO_PKG_VERSION")));
    let mut session = Session {
        id,
        peer: peer.to_string(),
        broker,
        conn: ServerConnection::new(config),
        unacked: Vec::new(),
        transactions: HashMap::new(),
    };
    session.log(match transport {
        Transport::Tcp(..) => "TCP connection",
        Transport::Ws(_) => "WebSocket connection",
    });
    loop {
        // Outputs first: events (which may queue frames), then the bytes to send, until both
        // queues are empty.
        if let Err(e) = drain(&mut session, &mut transport).await {
            session.log(format!("write failed: {e}"));
            session.conn.handle_close();
            let _ = drain_events(&mut session);
            break;
        }
        if session.conn.is_closed() {
            break;
        }
        // Then wait for bytes, a delivery, or the connection's next timer.
        let wake = session.conn.poll_timeout().map(Instant::from_std);
        tokio::select! {
            input = transport.recv() => match input {
                Ok(Input::Bytes(bytes)) => {
                    if let Err(e) = session.conn.handle_input_bytes(now(), bytes) {
                        // An ERROR is queued; the connection closes once it is sent.
                        session.log(format!("protocol error: {e}"));
                    }
                }
                Ok(Input::Activity) => session.conn.note_activity(now()),
                Ok(Input::Closed) => session.conn.handle_close(),
                Err(e) => {
                    session.log(format!("read failed: {e}"));
                    session.conn.handle_close();
                }
            },
            Some(delivery) = deliveries.recv() => session.deliver(delivery),
            () = sleep_until_some(wake) => session.conn.handle_timeout(now()),
        }
    }
    session.finish(&mut deliveries);
    transport.close().await;
}

fn drain_events(session: &mut Session) -> bool {
    let mut any = false;
    while let Some(event) = session.conn.poll_event() {
        session.on_event(event);
        any = true;
    }
    any
}

async fn drain(session: &mut Session, transport: &mut Transport) -> io::Result<()> {
    loop {
        let mut any = drain_events(session);
        while let Some(bytes) = session.conn.poll_transmit() {
            transport.send(bytes).await?;
            any = true;
        }
        if !any {
            return Ok(());
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

// ---- listeners -------------------------------------------------------------------------------

async fn accept_tcp(listener: TcpListener, broker: SharedBroker) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let transport = Transport::Tcp(stream, BytesMut::new());
                tokio::spawn(serve(broker.clone(), transport, peer, VersionSet::ALL));
            }
            Err(e) => {
                eprintln!("chat_broker: TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn accept_ws(listener: TcpListener, broker: SharedBroker) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(upgrade(stream, peer, broker.clone()));
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
async fn upgrade(stream: TcpStream, peer: SocketAddr, broker: SharedBroker) {
    let mut versions = VersionSet::ALL;
    let handshake = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        let (response, chosen) = choose_subprotocol(request, response)?;
        versions = chosen;
        Ok(response)
    });
    match timeout(Duration::from_secs(10), handshake).await {
        Ok(Ok(ws)) => serve(broker, Transport::Ws(Box::new(ws)), peer, versions).await,
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

/// `Ok(None)`: `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<(String, String)>, String> {
    let (mut tcp, mut ws) = ("127.0.0.1:61613".to_string(), "127.0.0.1:15674".to_string());
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
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some((tcp, ws)))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (tcp_addr, ws_addr) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(addrs)) => addrs,
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
    let broker = SharedBroker::default();
    tokio::join!(accept_tcp(tcp, broker.clone()), accept_ws(ws, broker));
    std::process::ExitCode::SUCCESS
}
