//! A broker without I/O: many [`ServerConnection`]s and the routing between them. See
//! [`Broker`].

mod destinations;
pub mod routes;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Bytes, BytesMut};

use crate::connection::{
    Accept, AckMode, CloseReason, ConnectRequest, ErrorReply, MessageIds, PreparedMessage,
    ServerConfig, ServerConnection, ServerEvent, Timestamp, UsageError,
};
use crate::error::shown;
use crate::escape::plan_text;
use crate::frame::Frame;
use crate::version::{Version, VersionSet};

use destinations::{size_of, Destinations};

/// A connection of a [`Broker`]: the number [`Broker::open`] gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection-{}", self.0)
    }
}

/// What a [`Broker`] keeps at most: beyond a limit the client that asked for more gets an
/// ERROR and its connection closes (H-8: a server may cap any unbounded input), except for
/// unacknowledged messages, where dispatching pauses, and waiting messages, where
/// [`Overflow`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerLimits {
    /// SEND frames one connection may hold in its open transactions. Default 1000.
    pub max_held: usize,
    /// Their bytes. Default 16 MiB.
    pub max_held_bytes: usize,
    /// Delivered messages one connection may leave unacknowledged. Default 1000.
    pub max_unacked: usize,
    /// Their bytes. Default 16 MiB.
    pub max_unacked_bytes: usize,
    /// Destinations known at once (with a subscriber or a waiting message). Default 1024.
    pub max_destinations: usize,
    /// Messages a queue keeps while it has no subscriber. Default 1000.
    pub queue_backlog: usize,
    /// Their bytes. Default 16 MiB.
    pub queue_backlog_bytes: usize,
    /// Bytes all queues keep together. Default 64 MiB.
    pub total_backlog_bytes: usize,
    /// Unacknowledged messages a `client` or `client-individual` subscription may have
    /// before the broker stops dispatching to it (it resumes as acks come). A SUBSCRIBE's
    /// `prefetch-count` header (as RabbitMQ's) sets it for that subscription, within
    /// `max_unacked`. Default 100.
    pub prefetch: usize,
    /// What a full queue does with one more message. Default [`Overflow::DropOldest`].
    pub overflow: Overflow,
}

/// What a queue at its backlog limit does with a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Keep it and drop the oldest waiting message ([`BrokerEvent::Dropped`],
    /// [`Broker::dropped`] counts them).
    #[default]
    DropOldest,
    /// Refuse the SEND with an ERROR naming the limit (RabbitMQ's `reject-publish`); the
    /// queue keeps what it has. Messages taken back for redelivery are never refused.
    RejectPublish,
}

impl Default for BrokerLimits {
    fn default() -> BrokerLimits {
        BrokerLimits {
            max_held: 1000,
            max_held_bytes: 16 << 20,
            max_unacked: 1000,
            max_unacked_bytes: 16 << 20,
            max_destinations: 1024,
            queue_backlog: 1000,
            queue_backlog_bytes: 16 << 20,
            total_backlog_bytes: 64 << 20,
            prefetch: 100,
            overflow: Overflow::DropOldest,
        }
    }
}

/// How a [`Broker`] routes and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// Each connection's settings (heart-beats, limits, output limit, slow consumers).
    pub server: ServerConfig,
    /// What the broker keeps at most.
    pub limits: BrokerLimits,
    /// Destinations starting with this are queues (each message to one subscriber,
    /// round-robin; kept while nobody subscribes); every other destination is a topic.
    /// Default `/queue/`.
    pub queue_prefix: String,
    /// SENDs to destinations starting with one of these go to the application
    /// ([`BrokerEvent::AppMessage`]) instead of the subscribers. Default `["/app/"]`.
    pub app_prefixes: Vec<String>,
    /// Subscriptions to destinations starting with this are private to their connection:
    /// only [`Broker::send_to_connection`] and [`Broker::send_to_user`] reach them (Spring's
    /// `/user/queue/...`). Default `/user/`.
    pub user_prefix: String,
    /// Message ids are `{prefix}-1`, `{prefix}-2`, ...: make the prefix unique per process
    /// (a start time, a node name) for ids unique across restarts (S-13). Default `m`.
    pub message_id_prefix: String,
    /// Accept every CONNECT at once (the default); when false, the application answers each
    /// [`BrokerEvent::Connect`] with [`Broker::accept`] or [`Broker::refuse`].
    pub auto_accept: bool,
    /// Destinations starting with one of these belong to an external broker the application
    /// relays to (Spring's StompBrokerRelay): their SUBSCRIBE, UNSUBSCRIBE, SEND and the ACKs
    /// of their messages become `External*` events instead of being routed here, and
    /// [`Broker::deliver_external`] hands the external broker's messages to the client.
    /// Default none.
    pub external_prefixes: Vec<String>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            server: ServerConfig::default(),
            limits: BrokerLimits::default(),
            queue_prefix: String::from("/queue/"),
            app_prefixes: alloc::vec![String::from("/app/")],
            user_prefix: String::from("/user/"),
            message_id_prefix: String::from("m"),
            auto_accept: true,
            external_prefixes: Vec::new(),
        }
    }
}

/// Why the broker refused a frame or a call: the short `message` of the ERROR a client gets,
/// and details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}: {detail}")]
pub struct Refusal {
    /// The ERROR's `message` header.
    pub message: &'static str,
    /// Details (the ERROR's body).
    pub detail: String,
}

impl Refusal {
    fn new(message: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            message,
            detail: detail.into(),
        }
    }

    fn too_many_destinations(destination: &[u8], limits: &BrokerLimits) -> Refusal {
        Refusal::new(
            "too many destinations",
            format!(
                "the broker knows {} destinations, its limit, and {} would be one more",
                limits.max_destinations,
                shown(destination, 64)
            ),
        )
    }
}

/// Why messages were dropped ([`BrokerEvent::Dropped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// A queue, or all queues together, kept as much as they may: the oldest went.
    BacklogFull,
    /// The subscriber cannot take it (a header its STOMP version cannot carry) or the broker
    /// knows too many destinations to keep it.
    Undeliverable(String),
    /// A client NACKed it (there is no dead-letter queue).
    Nacked,
    /// A topic subscriber with `client` acks had its prefetch window full: a topic keeps
    /// nothing, so that subscriber misses the message (queues keep it instead).
    PrefetchFull,
}

/// What a [`Broker`] reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum BrokerEvent {
    /// A CONNECT to answer with [`Broker::accept`] or [`Broker::refuse`] (only when
    /// [`auto_accept`](BrokerConfig::auto_accept) is off).
    Connect {
        /// The connection.
        connection: ConnectionId,
        /// What the client asked for.
        request: ConnectRequest,
    },
    /// A connection is established (CONNECTED sent).
    Connected {
        /// The connection.
        connection: ConnectionId,
        /// The negotiated version.
        version: Version,
        /// The client's `login`.
        login: Option<Bytes>,
    },
    /// A SEND to an application destination ([`app_prefixes`](BrokerConfig::app_prefixes)).
    /// Handle it (publish, reply, refuse), then call [`Broker::app_done`] with its receipt,
    /// which sends the RECEIPT the client asked for.
    AppMessage {
        /// The sender.
        connection: ConnectionId,
        /// The sender's `login`.
        login: Option<Bytes>,
        /// The destination.
        destination: Bytes,
        /// The SEND frame.
        frame: Frame,
        /// Its `receipt` header.
        receipt: Option<Bytes>,
    },
    /// Messages that will not be delivered.
    Dropped {
        /// Their destination.
        destination: Bytes,
        /// How many.
        count: usize,
        /// Why.
        reason: DropReason,
    },
    /// A client did not read fast enough and was dropped (its connection's
    /// [`SlowConsumer::Close`](crate::SlowConsumer::Close)): it is out of routing now, its
    /// ERROR is queued, and `Closed` follows once the transport ends.
    SlowConsumer {
        /// The connection.
        connection: ConnectionId,
    },
    /// A client subscribed to an external destination: subscribe on its relay connection.
    ExternalSubscribe {
        /// The client.
        connection: ConnectionId,
        /// The client's subscription id (give it to [`Broker::deliver_external`]).
        subscription: Bytes,
        /// The destination.
        destination: Bytes,
        /// The subscription's ack mode.
        ack: AckMode,
        /// The SUBSCRIBE frame (extra headers such as `prefetch-count`).
        frame: Frame,
        /// Its `receipt`: answer with [`Broker::app_done`] once the relay confirmed.
        receipt: Option<Bytes>,
    },
    /// A client ended a subscription to an external destination.
    ExternalUnsubscribe {
        /// The client.
        connection: ConnectionId,
        /// The subscription id.
        subscription: Bytes,
        /// Its `receipt`, answered by the broker already.
        receipt: Option<Bytes>,
    },
    /// A client sent to an external destination (or a transaction holding such a SEND was
    /// committed): send it on its relay connection, then [`Broker::app_done`] with the
    /// receipt.
    ExternalSend {
        /// The client.
        connection: ConnectionId,
        /// The destination.
        destination: Bytes,
        /// The SEND frame.
        frame: Frame,
        /// Its `receipt`.
        receipt: Option<Bytes>,
    },
    /// The application published to an external destination ([`Broker::publish`]): send it
    /// on the relay's own connection.
    ExternalPublish {
        /// The destination.
        destination: Bytes,
        /// The content.
        frame: Frame,
    },
    /// A client acknowledged (or refused) a message [`Broker::deliver_external`] gave it:
    /// acknowledge it on its relay connection.
    ExternalAck {
        /// The client.
        connection: ConnectionId,
        /// The message id given to `deliver_external`.
        message_id: Bytes,
        /// NACK rather than ACK.
        nack: bool,
        /// Its `receipt`, answered by the broker already.
        receipt: Option<Bytes>,
    },
    /// The connection is over: write what [`Broker::poll_transmit`] still returns, close the
    /// transport, then [`Broker::remove`] it.
    Closed {
        /// The connection.
        connection: ConnectionId,
        /// Why.
        reason: CloseReason,
    },
}

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

/// One connection and what the broker keeps for it.
#[derive(Debug)]
struct Client<I: Timestamp> {
    conn: ServerConnection<I>,
    login: Option<Bytes>,
    /// The CONNECT (or STOMP) frame, for the application (its headers).
    connect: Option<Frame>,
    /// Delivered messages of `client` and `client-individual` subscriptions, oldest first.
    unacked: Vec<Unacked>,
    unacked_bytes: usize,
    /// The SEND frames (destination, content) held by each open transaction.
    transactions: BTreeMap<Bytes, Vec<(Bytes, Frame)>>,
    held: usize,
    held_bytes: usize,
    /// Out of the routing table (it sent DISCONNECT, failed, or closed).
    left: bool,
    /// The broker (or the application) sent it an ERROR.
    errored: bool,
    /// Subscriptions' prefetch windows from their `prefetch-count` header.
    prefetch: BTreeMap<Bytes, usize>,
    /// Messages of external subscriptions waiting for ACK or NACK (the relay's ids).
    external_unacked: BTreeSet<Bytes>,
}

crate::connection::timed_struct! {
/// A broker without I/O: it owns every client's [`ServerConnection`] and routes between them
/// — topics that fan out (the shared part of each MESSAGE encoded once), queues that deliver
/// round-robin and keep waiting messages, the three ack modes with cumulative `client` acks,
/// redelivery of unacknowledged queue messages with `redelivered:true`, transactions held
/// until COMMIT, receipts, application destinations and per-connection (`/user/`)
/// destinations, each within [`BrokerLimits`].
///
/// The runtime opens a connection per transport ([`open`](Broker::open)) and drives it like a
/// `ServerConnection`, by id: bytes in (`handle_input`), bytes out (`poll_transmit`), timers
/// (`poll_timeout_of` / `handle_timeout_of`). Routing one client's SEND queues MESSAGEs on other
/// connections: [`poll_woken`](Broker::poll_woken) names the connections that have new bytes
/// to write. [`poll_event`](Broker::poll_event) reports what the application decides or wants
/// to know.
///
/// ```
/// use std::time::Duration;
/// use stomp_codec::{Broker, BrokerConfig, ConnectionId};
///
/// let t = Duration::ZERO;
/// let mut broker: Broker<Duration> = Broker::with_timestamp_type(BrokerConfig::default());
/// let (alice, bob) = (broker.open(t), broker.open(t));
/// for id in [alice, bob] {
///     broker.handle_input(id, t, b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
///     assert!(broker.poll_transmit(id).unwrap().starts_with(b"CONNECTED"));
/// }
/// broker.handle_input(bob, t, b"SUBSCRIBE\nid:0\ndestination:/topic/room.5\n\n\0");
/// broker.handle_input(alice, t, b"SEND\ndestination:/topic/room.5\n\nhi\0");
/// assert_eq!(broker.poll_woken(), Some(bob));
/// let message = broker.poll_transmit(bob).unwrap();
/// assert!(message.starts_with(b"MESSAGE\n") && message.ends_with(b"\n\nhi\0"));
/// ```
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    clients: BTreeMap<ConnectionId, Client<I>>,
    destinations: Destinations,
    ids: MessageIds,
    next_connection: u64,
    events: VecDeque<BrokerEvent>,
    /// Connections with new bytes to write.
    woken: BTreeSet<ConnectionId>,
    /// Connections that may have events to process.
    dirty: BTreeSet<ConnectionId>,
    /// The latest `now` given: `poll_transmit` takes none.
    now: Option<I>,
    /// Messages dropped so far (every [`BrokerEvent::Dropped`] counted).
    dropped: u64,
}
}

#[cfg(feature = "std")]
impl Broker<std::time::Instant> {
    /// A broker on `std::time::Instant`.
    pub fn new(config: BrokerConfig) -> Broker {
        Broker::with_timestamp_type(config)
    }
}

impl<I: Timestamp> Broker<I> {
    /// A broker on any [`Timestamp`] type.
    pub fn with_timestamp_type(config: BrokerConfig) -> Broker<I> {
        Broker {
            ids: MessageIds::new(config.message_id_prefix.clone()),
            config,
            clients: BTreeMap::new(),
            destinations: Destinations::default(),
            next_connection: 0,
            events: VecDeque::new(),
            woken: BTreeSet::new(),
            dirty: BTreeSet::new(),
            now: None,
            dropped: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Turns [`auto_accept`](BrokerConfig::auto_accept) on or off, for the CONNECTs to come.
    pub fn set_auto_accept(&mut self, on: bool) {
        self.config.auto_accept = on;
    }

    // ---- connections -------------------------------------------------------------------

    /// A new transport: its connection waits for CONNECT.
    pub fn open(&mut self, now: I) -> ConnectionId {
        self.open_with_versions(now, self.config.server.versions)
    }

    /// A new transport whose connection serves only `versions` (of those the config serves):
    /// a WebSocket whose subprotocol was `v11.stomp` caps the STOMP version at 1.1.
    pub fn open_with_versions(&mut self, now: I, versions: VersionSet) -> ConnectionId {
        self.next_connection += 1;
        let id = ConnectionId(self.next_connection);
        let mut config = self.config.server.clone();
        config.versions = versions
            .iter()
            .filter(|v| config.versions.contains(*v))
            .fold(VersionSet::EMPTY, VersionSet::with);
        let mut conn = ServerConnection::with_timestamp_type(config);
        // The CONNECT deadline runs from the transport's arrival, not from its first byte.
        conn.start(now);
        self.clients.insert(
            id,
            Client {
                conn,
                login: None,
                connect: None,
                unacked: Vec::new(),
                unacked_bytes: 0,
                transactions: BTreeMap::new(),
                held: 0,
                held_bytes: 0,
                left: false,
                errored: false,
                prefetch: BTreeMap::new(),
                external_unacked: BTreeSet::new(),
            },
        );
        id
    }

    /// The connection `id`, to read its state (version, counters, subscriptions).
    pub fn connection(&self, id: ConnectionId) -> Option<&ServerConnection<I>> {
        self.clients.get(&id).map(|c| &c.conn)
    }

    /// The open connections.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.clients.keys().copied()
    }

    /// The `login` a connection gave in its CONNECT.
    pub fn login(&self, id: ConnectionId) -> Option<&Bytes> {
        self.clients.get(&id).and_then(|c| c.login.as_ref())
    }

    /// The CONNECT (or STOMP) frame connection `id` opened with: its `login`, `host` and any
    /// other headers the application wants (a token, a client name).
    pub fn connect_frame(&self, id: ConnectionId) -> Option<&Frame> {
        self.clients.get(&id).and_then(|c| c.connect.as_ref())
    }

    /// Bytes read from connection `id`'s transport.
    pub fn handle_input(&mut self, id: ConnectionId, now: I, bytes: &[u8]) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.conn.handle_input(now, bytes);
            self.dirty.insert(id);
            self.run(now);
        }
    }

    /// Bytes read from connection `id`'s transport, kept without a copy.
    pub fn handle_input_bytes(&mut self, id: ConnectionId, now: I, bytes: Bytes) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.conn.handle_input_bytes(now, bytes);
            self.dirty.insert(id);
            self.run(now);
        }
    }

    /// Life on the transport without STOMP bytes (a WebSocket ping).
    pub fn note_activity(&mut self, id: ConnectionId, now: I) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.conn.note_activity(now);
        }
    }

    /// The transport of `id` ended.
    pub fn handle_close(&mut self, id: ConnectionId, now: I) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.conn.handle_close();
            self.dirty.insert(id);
            self.run(now);
        }
    }

    /// Fires the timers of connection `id` that are due.
    pub fn handle_timeout_of(&mut self, id: ConnectionId, now: I) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.conn.handle_timeout(now);
            self.dirty.insert(id);
            self.run(now);
        }
    }

    /// Fires every connection's due timers.
    pub fn handle_timeout(&mut self, now: I) {
        let due: Vec<ConnectionId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.conn.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.handle_timeout_of(id, now);
        }
    }

    /// When connection `id` needs [`handle_timeout_of`](Broker::handle_timeout_of).
    pub fn poll_timeout_of(&self, id: ConnectionId) -> Option<I> {
        self.clients.get(&id).and_then(|c| c.conn.poll_timeout())
    }

    /// The earliest timer of all connections (one scan: a runtime with a task per connection
    /// uses [`poll_timeout_of`](Broker::poll_timeout_of) instead).
    pub fn poll_timeout(&self) -> Option<I> {
        self.clients
            .values()
            .filter_map(|c| c.conn.poll_timeout())
            .min()
    }

    /// The next bytes to write to connection `id`.
    pub fn poll_transmit(&mut self, id: ConnectionId) -> Option<Bytes> {
        let client = self.clients.get_mut(&id)?;
        let bytes = client.conn.poll_transmit();
        if client.conn.pending_transmit() == 0 {
            self.woken.remove(&id);
        }
        self.after_transmit(id);
        bytes
    }

    /// Appends the bytes to write to connection `id` to `dst`; returns how many.
    pub fn poll_transmit_into(&mut self, id: ConnectionId, dst: &mut BytesMut) -> usize {
        let Some(client) = self.clients.get_mut(&id) else {
            return 0;
        };
        let n = client.conn.poll_transmit_into(dst);
        if client.conn.pending_transmit() == 0 {
            self.woken.remove(&id);
        }
        self.after_transmit(id);
        n
    }

    /// A connection with bytes to write that was not named since (each named once, and not
    /// after `poll_transmit` emptied it).
    pub fn poll_woken(&mut self) -> Option<ConnectionId> {
        self.woken.pop_first()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<BrokerEvent> {
        self.events.pop_front()
    }

    /// Whether the broker or the application sent connection `id` an ERROR (a WebSocket then
    /// closes with status 1002, W-8), or the connection failed on the client's input.
    pub fn sent_error(&self, id: ConnectionId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.errored)
    }

    /// Whether connection `id` is closed (or unknown).
    pub fn is_closed(&self, id: ConnectionId) -> bool {
        self.clients.get(&id).is_none_or(|c| c.conn.is_closed())
    }

    /// Forgets connection `id` once its transport is closed (closing it first if it was
    /// not: its unacknowledged queue messages go back to their queues).
    pub fn remove(&mut self, id: ConnectionId, now: I) {
        if !self.is_closed(id) {
            self.handle_close(id, now);
        }
        if let Some(client) = self.clients.get_mut(&id) {
            if !client.left {
                self.leave(id, now);
            }
        }
        self.clients.remove(&id);
        self.woken.remove(&id);
        self.dirty.remove(&id);
    }

    // ---- the application's side --------------------------------------------------------

    /// Accepts the CONNECT of `id` ([`BrokerEvent::Connect`]).
    pub fn accept(&mut self, id: ConnectionId, now: I, accept: Accept) -> Result<(), UsageError> {
        let client = self.clients.get_mut(&id).ok_or(UsageError::Closed)?;
        client.conn.accept(now, accept)?;
        self.connected(id);
        self.woken.insert(id);
        Ok(())
    }

    /// Refuses connection `id` with ERROR (a CONNECT the application does not accept, a
    /// frame its handler refuses): the connection closes once the ERROR is written.
    pub fn refuse(
        &mut self,
        id: ConnectionId,
        now: I,
        reply: ErrorReply,
    ) -> Result<(), UsageError> {
        let client = self.clients.get_mut(&id).ok_or(UsageError::Closed)?;
        client.conn.error(now, reply)?;
        client.errored = true;
        self.woken.insert(id);
        self.dirty.insert(id);
        self.run(now);
        Ok(())
    }

    /// Answers an [`BrokerEvent::AppMessage`]: sends the RECEIPT it asked for, if any (R-3).
    pub fn app_done(
        &mut self,
        id: ConnectionId,
        now: I,
        receipt: Option<Bytes>,
    ) -> Result<(), UsageError> {
        let Some(receipt) = receipt else {
            return Ok(());
        };
        let client = self.clients.get_mut(&id).ok_or(UsageError::Closed)?;
        client.conn.receipt(now, receipt)?;
        self.woken.insert(id);
        self.dirty.insert(id);
        self.run(now);
        Ok(())
    }

    /// Publishes `content` (its body and user headers) to `destination` as if a client had
    /// sent it: every subscriber of a topic, the next subscriber of a queue.
    pub fn publish(
        &mut self,
        now: I,
        destination: impl AsRef<[u8]>,
        content: &Frame,
    ) -> Result<(), Refusal> {
        let destination = Bytes::copy_from_slice(destination.as_ref());
        if self.is_external(&destination) {
            self.events.push_back(BrokerEvent::ExternalPublish {
                destination,
                frame: content.clone(),
            });
            return Ok(());
        }
        let result = self.route(now, &destination, content.clone());
        self.run(now);
        result
    }

    /// Hands a message of the external broker to connection `id` on its subscription
    /// `subscription` (from [`BrokerEvent::ExternalSubscribe`]), as MESSAGE with `message_id`
    /// (the relay's: the client's ACK of it comes back as [`BrokerEvent::ExternalAck`] with
    /// it). `content` is the external MESSAGE (its destination and user headers are kept).
    pub fn deliver_external(
        &mut self,
        id: ConnectionId,
        now: I,
        subscription: &[u8],
        message_id: &[u8],
        content: &Frame,
    ) -> Result<(), UsageError> {
        let client = self.clients.get_mut(&id).ok_or(UsageError::Closed)?;
        let needs_ack = client
            .conn
            .subscription(subscription)
            .is_some_and(|(_, mode)| mode.needs_ack());
        client
            .conn
            .message(now, subscription, message_id, content)?;
        if needs_ack {
            client
                .external_unacked
                .insert(Bytes::copy_from_slice(message_id));
        }
        self.woken.insert(id);
        self.dirty.insert(id);
        self.run(now);
        Ok(())
    }

    /// Delivers `content` to the subscriptions of connection `id` to `destination` (a
    /// [`user_prefix`](BrokerConfig::user_prefix) destination, or any other): a reply to one
    /// client alone. Returns how many subscriptions got it.
    pub fn send_to_connection(
        &mut self,
        id: ConnectionId,
        now: I,
        destination: impl AsRef<[u8]>,
        content: &Frame,
    ) -> usize {
        let destination = destination.as_ref();
        let targets: Vec<_> = self
            .destinations
            .get(destination)
            .map(|d| {
                d.subscribers
                    .iter()
                    .filter(|(c, _)| *c == id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let destination = Bytes::copy_from_slice(destination);
        let prepared = PreparedMessage::new(&destination, content);
        let delivered = targets
            .into_iter()
            .filter(|(c, sub)| self.deliver(now, *c, sub, &destination, content, &prepared))
            .count();
        self.run(now);
        delivered
    }

    /// Delivers `content` to every connection whose `login` is `login`, on their
    /// subscriptions to `destination` (Spring's `convertAndSendToUser`). Returns how many
    /// subscriptions got it.
    pub fn send_to_user(
        &mut self,
        now: I,
        login: impl AsRef<[u8]>,
        destination: impl AsRef<[u8]>,
        content: &Frame,
    ) -> usize {
        let login = login.as_ref();
        let users: Vec<ConnectionId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.login.as_deref() == Some(login) && !c.left)
            .map(|(id, _)| *id)
            .collect();
        users
            .into_iter()
            .map(|id| self.send_to_connection(id, now, destination.as_ref(), content))
            .sum()
    }

    /// Messages waiting in the queue `destination`.
    pub fn waiting(&self, destination: impl AsRef<[u8]>) -> usize {
        self.destinations.waiting(destination.as_ref())
    }

    /// Destinations known (with a subscriber or a waiting message).
    pub fn destination_count(&self) -> usize {
        self.destinations.len()
    }

    /// Bytes waiting in all queues.
    pub fn backlog_bytes(&self) -> usize {
        self.destinations.backlog_bytes()
    }

    /// Messages dropped since the broker started (full queues, NACKs, prefetch windows of
    /// topic subscribers, undeliverable messages): each also a [`BrokerEvent::Dropped`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages connection `id` has not acknowledged.
    pub fn unacked(&self, id: ConnectionId) -> usize {
        self.clients.get(&id).map_or(0, |c| c.unacked.len())
    }

    // ---- inside ------------------------------------------------------------------------

    fn is_queue(&self, destination: &[u8]) -> bool {
        destination.starts_with(self.config.queue_prefix.as_bytes())
    }

    fn is_app(&self, destination: &[u8]) -> bool {
        self.config
            .app_prefixes
            .iter()
            .any(|p| destination.starts_with(p.as_bytes()))
    }

    fn is_external(&self, destination: &[u8]) -> bool {
        self.config
            .external_prefixes
            .iter()
            .any(|p| destination.starts_with(p.as_bytes()))
    }

    fn is_user(&self, destination: &[u8]) -> bool {
        destination.starts_with(self.config.user_prefix.as_bytes())
    }

    /// Processes the events of every connection that may have some, until none has: routing
    /// one client's frame can close another (a slow consumer), whose close routes its
    /// unacknowledged messages again, and so on, without recursion.
    fn run(&mut self, now: I) {
        let now = self.tick(now);
        while let Some(id) = self.dirty.pop_first() {
            while let Some(client) = self.clients.get_mut(&id) {
                let before = client.conn.pending_transmit();
                let Some(event) = client.conn.poll_event() else {
                    break;
                };
                self.on_event(id, now, event);
                if self
                    .clients
                    .get(&id)
                    .is_some_and(|c| c.conn.pending_transmit() != before)
                {
                    self.woken.insert(id);
                }
            }
        }
    }

    /// Handing bytes out can close a connection (the RECEIPT of its DISCONNECT is out): its
    /// events are processed with the latest time the broker was given.
    fn after_transmit(&mut self, id: ConnectionId) {
        let Some(now) = self.now else {
            return;
        };
        if self
            .clients
            .get(&id)
            .is_some_and(|c| c.conn.pending_events() > 0)
        {
            self.dirty.insert(id);
            self.run(now);
        }
        self.pull_backlog(id, now);
        self.run(now);
    }

    /// Keeps the latest `now`.
    fn tick(&mut self, now: I) -> I {
        let now = self.now.map_or(now, |seen| seen.max(now));
        self.now = Some(now);
        now
    }

    fn report_dropped(&mut self, event: BrokerEvent) {
        if let BrokerEvent::Dropped { count, .. } = &event {
            self.dropped += *count as u64;
        }
        self.events.push_back(event);
    }

    fn connected(&mut self, id: ConnectionId) {
        if let Some(client) = self.clients.get(&id) {
            if let Some(version) = client.conn.version() {
                self.events.push_back(BrokerEvent::Connected {
                    connection: id,
                    version,
                    login: client.login.clone(),
                });
            }
        }
    }

    fn on_event(&mut self, id: ConnectionId, now: I, event: ServerEvent) {
        let receipt = event.receipt().cloned();
        let event_kind = match &event {
            ServerEvent::Nack { .. } => EventKind::Nack,
            _ => EventKind::Other,
        };
        let outcome = match event {
            ServerEvent::Connect(request) => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.login = request.login.clone();
                    client.connect = Some(request.frame.clone());
                }
                if self.config.auto_accept {
                    let accept = Accept::new().session(format!("session-{}", id.0));
                    if self.accept(id, now, accept).is_ok() {
                        return;
                    }
                } else {
                    self.events.push_back(BrokerEvent::Connect {
                        connection: id,
                        request,
                    });
                }
                return;
            }
            ServerEvent::Send {
                transaction: Some(tx),
                frame,
                ..
            } => {
                let destination = sent_to(&frame);
                self.hold(id, &tx, destination, frame)
            }
            ServerEvent::Send { frame, .. } => {
                let destination = sent_to(&frame);
                if self.is_app(&destination) {
                    let login = self.login(id).cloned();
                    self.events.push_back(BrokerEvent::AppMessage {
                        connection: id,
                        login,
                        destination,
                        frame,
                        receipt,
                    });
                    // The application sends the receipt with `app_done`.
                    return;
                }
                if self.is_external(&destination) {
                    self.events.push_back(BrokerEvent::ExternalSend {
                        connection: id,
                        destination,
                        frame,
                        receipt,
                    });
                    // The application sends the receipt once the relay has the frame.
                    return;
                }
                if self.is_user(&destination) {
                    Err(Refusal::new(
                        "user destination",
                        format!(
                            "{} is private to its subscribers: only the application sends there",
                            shown(&destination, 64)
                        ),
                    ))
                } else {
                    self.route(now, &destination, frame)
                }
            }
            ServerEvent::Subscribe {
                id: sub,
                destination,
                frame,
                ..
            } => {
                let prefetch = frame
                    .headers()
                    .get("prefetch-count")
                    .and_then(|v| core::str::from_utf8(v).ok()?.parse::<usize>().ok())
                    .filter(|n| *n > 0);
                if self.is_external(&destination) {
                    let ack = self
                        .clients
                        .get(&id)
                        .and_then(|c| c.conn.subscription(&sub).map(|(_, mode)| mode))
                        .unwrap_or_default();
                    self.events.push_back(BrokerEvent::ExternalSubscribe {
                        connection: id,
                        subscription: sub,
                        destination,
                        ack,
                        frame,
                        receipt,
                    });
                    return;
                }
                if let (Some(n), Some(client)) = (prefetch, self.clients.get_mut(&id)) {
                    client.prefetch.insert(sub.clone(), n);
                }
                self.subscribe(id, now, sub, destination)
            }
            ServerEvent::Unsubscribe {
                id: sub,
                destination,
                ..
            } => {
                if self.is_external(&destination) {
                    self.events.push_back(BrokerEvent::ExternalUnsubscribe {
                        connection: id,
                        subscription: sub.clone(),
                        receipt: receipt.clone(),
                    });
                }
                self.destinations.unsubscribe(id, &sub, &destination);
                self.end_subscription(id, now, &sub);
                Ok(())
            }
            ServerEvent::Ack { id: message, .. } | ServerEvent::Nack { id: message, .. }
                if self
                    .clients
                    .get(&id)
                    .is_some_and(|c| c.external_unacked.contains(&message)) =>
            {
                // The relay's message: the external broker settles it (a cumulative `client`
                // ACK there too). Transactions do not span the relay: it is settled now.
                let nack = matches!(event_kind, EventKind::Nack);
                if let Some(client) = self.clients.get_mut(&id) {
                    client.external_unacked.remove(&message);
                }
                self.events.push_back(BrokerEvent::ExternalAck {
                    connection: id,
                    message_id: message,
                    nack,
                    receipt: receipt.clone(),
                });
                Ok(())
            }
            ServerEvent::Ack {
                id: message,
                transaction,
                ..
            } => {
                let settled = self.settle(id, now, &message, true, transaction);
                self.pull_backlog(id, now);
                settled
            }
            ServerEvent::Nack {
                id: message,
                transaction,
                ..
            } => {
                let settled = self.settle(id, now, &message, false, transaction);
                self.pull_backlog(id, now);
                settled
            }
            ServerEvent::Begin { transaction, .. } => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.transactions.insert(transaction, Vec::new());
                }
                Ok(())
            }
            ServerEvent::Commit { transaction, .. } => self.commit(id, now, &transaction),
            ServerEvent::Abort { transaction, .. }
            | ServerEvent::TransactionAborted { transaction } => {
                self.abort(id, now, &transaction);
                Ok(())
            }
            ServerEvent::Disconnect { .. } => {
                // Route nothing more to this client; its receipt goes out below.
                self.leave(id, now);
                Ok(())
            }
            ServerEvent::Closed(reason) => {
                if !self.clients.get(&id).is_some_and(|c| c.left) {
                    self.leave(id, now);
                }
                self.events.push_back(BrokerEvent::Closed {
                    connection: id,
                    reason,
                });
                return;
            }
            _ => return,
        };
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        match (outcome, receipt) {
            (Ok(()), Some(receipt)) => {
                let _ = client.conn.receipt(now, receipt);
            }
            (Ok(()), None) => {}
            (Err(refusal), receipt) => {
                let mut reply = ErrorReply::new(refusal.message).detail(refusal.detail);
                reply.receipt_id = receipt;
                let _ = client.conn.error(now, reply);
                client.errored = true;
                self.leave(id, now);
            }
        }
    }

    fn subscribe(
        &mut self,
        id: ConnectionId,
        now: I,
        sub: Bytes,
        destination: Bytes,
    ) -> Result<(), Refusal> {
        self.destinations
            .subscribe((id, sub), &destination, &self.config.limits)?;
        // What waited for a subscriber goes out as far as this one has room; the rest follows
        // as its bytes go out.
        self.pull_backlog(id, now);
        Ok(())
    }

    /// Routes a message: to every subscriber of a topic, to the next subscriber of a queue
    /// that takes it (or into its backlog).
    fn route(&mut self, now: I, destination: &Bytes, content: Frame) -> Result<(), Refusal> {
        self.route_as(now, destination, content, true)
    }

    /// [`route`](Broker::route), where `fresh` is false for a message taken back for
    /// redelivery, which a full queue never refuses.
    fn route_as(
        &mut self,
        now: I,
        destination: &Bytes,
        content: Frame,
        fresh: bool,
    ) -> Result<(), Refusal> {
        if !self.is_queue(destination) {
            // A topic: nobody subscribed, nobody receives it; nothing is kept.
            let Some(dest) = self.destinations.get(destination) else {
                return Ok(());
            };
            if self.is_user(destination) {
                return Ok(());
            }
            let subscribers = dest.subscribers.clone();
            let prepared = PreparedMessage::new(destination, &content);
            for (c, sub) in subscribers {
                self.deliver(now, c, &sub, destination, &content, &prepared);
            }
            return Ok(());
        }
        let prepared = PreparedMessage::new(destination, &content);
        let size = size_of(&content);
        for (c, sub) in self.destinations.round_robin(destination) {
            if self.has_room(c, size)
                && self.deliver(now, c, &sub, destination, &content, &prepared)
            {
                return Ok(());
            }
        }
        // Only a queue the broker does not know yet may find no room.
        self.destinations
            .has_room_for(core::iter::once(destination), &self.config.limits)?;
        if fresh && self.config.limits.overflow == Overflow::RejectPublish {
            self.destinations
                .check_room(destination, size, &self.config.limits)?;
        }
        self.keep(destination, content);
        Ok(())
    }

    /// Puts a message in its queue's backlog, reporting what the limits drop.
    fn keep(&mut self, destination: &Bytes, content: Frame) {
        match self
            .destinations
            .wait_in_queue(destination, content, &self.config.limits)
        {
            Ok(dropped) => {
                for (destination, count) in dropped {
                    self.report_dropped(BrokerEvent::Dropped {
                        destination,
                        count,
                        reason: DropReason::BacklogFull,
                    });
                }
            }
            Err(refusal) => self.report_dropped(BrokerEvent::Dropped {
                destination: destination.clone(),
                count: 1,
                reason: DropReason::Undeliverable(refusal.detail),
            }),
        }
    }

    /// Whether connection `id` can take `size` more bytes without going past its output
    /// limit (an empty queue takes any one frame). A queue message waits in its queue rather
    /// than drop a subscriber that reads slowly.
    fn has_room(&self, id: ConnectionId, size: usize) -> bool {
        self.clients.get(&id).is_some_and(|c| {
            let pending = c.conn.pending_transmit();
            pending == 0 || pending.saturating_add(size) <= c.conn.output_limit()
        })
    }

    /// Delivers to connection `id` what waits in the queues it subscribes to, as far as its
    /// output has room: called when it subscribes and when its bytes went out.
    fn pull_backlog(&mut self, id: ConnectionId, now: I) {
        let subscriptions: Vec<(Bytes, Bytes)> = match self.clients.get(&id) {
            Some(c) if !c.left && c.conn.is_connected() => c
                .conn
                .subscriptions()
                .filter(|(_, d, _)| self.is_queue(d) && self.destinations.waiting(d) > 0)
                .map(|(sub, d, _)| (sub.clone(), d.clone()))
                .collect(),
            _ => return,
        };
        for (sub, destination) in subscriptions {
            while let Some(size) = self.destinations.next_waiting_size(&destination) {
                if !self.has_room(id, size) {
                    return;
                }
                let Some(content) = self.destinations.take_waiting(&destination) else {
                    break;
                };
                let prepared = PreparedMessage::new(&destination, &content);
                if !self.deliver(now, id, &sub, &destination, &content, &prepared) {
                    self.destinations.put_back(&destination, content);
                    return;
                }
            }
        }
    }

    /// Delivers to one subscription; false when that connection cannot take the message
    /// (closing, gone, over its unacknowledged limit), so that a queue tries another.
    fn deliver(
        &mut self,
        now: I,
        id: ConnectionId,
        sub: &Bytes,
        destination: &Bytes,
        content: &Frame,
        prepared: &PreparedMessage,
    ) -> bool {
        let limits = self.config.limits.clone();
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        if client.left || !client.conn.is_connected() {
            return false;
        }
        let Some((_, mode)) = client.conn.subscription(sub) else {
            return false;
        };
        let size = size_of(content);
        if mode.needs_ack() {
            // The prefetch window: a subscriber slower than its publishers is not a fault.
            // Dispatching to it pauses (a queue keeps the message or gives it to another
            // subscriber; a topic subscriber misses it, with a Dropped event) and resumes as
            // its acks come.
            let window = client
                .prefetch
                .get(sub)
                .copied()
                .unwrap_or(limits.prefetch)
                .min(limits.max_unacked);
            let in_flight = client
                .unacked
                .iter()
                .filter(|u| u.subscription == sub)
                .count();
            if in_flight >= window
                || client.unacked.len() >= limits.max_unacked
                || client.unacked_bytes + size > limits.max_unacked_bytes
            {
                if !self.is_queue(destination) {
                    self.report_dropped(BrokerEvent::Dropped {
                        destination: destination.clone(),
                        count: 1,
                        reason: DropReason::PrefetchFull,
                    });
                }
                return false;
            }
        }
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let message_id = self.ids.next_id();
        match client.conn.deliver(now, sub, &message_id, prepared) {
            Ok(()) => {
                if mode.needs_ack() {
                    client.unacked_bytes += size;
                    client.unacked.push(Unacked {
                        message_id,
                        subscription: sub.clone(),
                        mode,
                        destination: destination.clone(),
                        content: content.clone(),
                        size,
                        claim: None,
                        orphaned: false,
                    });
                }
                self.woken.insert(id);
                true
            }
            Err(_) if !client.conn.is_connected() => {
                // A slow consumer dropped (its ERROR is queued; its Closed comes once that is
                // written or the transport ends): route nothing more to it, and give its
                // unacknowledged queue messages to others now.
                self.woken.insert(id);
                self.dirty.insert(id);
                if !client.left {
                    self.events
                        .push_back(BrokerEvent::SlowConsumer { connection: id });
                }
                self.leave(id, now);
                false
            }
            Err(UsageError::OutputFull { .. }) => false,
            Err(UsageError::Encode(_)) if content.headers().get(DROPPED_HEADERS).is_none() => {
                // A header this subscriber's version cannot carry (a value ending in CR for
                // 1.0/1.1, E-9): the message goes without those headers, and says which.
                let version = client.conn.version().unwrap_or(Version::V1_2);
                let stripped = without_unrepresentable(content, version);
                let prepared = PreparedMessage::new(destination, &stripped);
                self.deliver(now, id, sub, destination, &stripped, &prepared)
            }
            Err(error) => {
                // This client cannot take it even so; giving it back could loop: drop it.
                self.report_dropped(BrokerEvent::Dropped {
                    destination: destination.clone(),
                    count: 1,
                    reason: DropReason::Undeliverable(format!("{id}: {error}")),
                });
                // A topic delivery is done; a queue should not try another subscriber.
                true
            }
        }
    }

    /// Takes `id` out of routing: its subscriptions end, its unacknowledged queue messages go
    /// back to their queues (redelivered), its open transactions are dropped.
    fn leave(&mut self, id: ConnectionId, now: I) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if client.left {
            return;
        }
        client.left = true;
        client.transactions.clear();
        client.held = 0;
        client.held_bytes = 0;
        let unacked = core::mem::take(&mut client.unacked);
        client.unacked_bytes = 0;
        self.destinations.remove_connection(id);
        for u in unacked {
            self.requeue(now, &u.destination, u.content);
        }
    }

    /// A message taken back: a queue message is routed again, marked redelivered; a topic
    /// message is dropped.
    fn requeue(&mut self, now: I, destination: &Bytes, mut content: Frame) {
        if self.is_queue(destination) {
            content.headers_mut().set("redelivered", "true");
            if let Err(refusal) = self.route_as(now, destination, content, false) {
                self.report_dropped(BrokerEvent::Dropped {
                    destination: destination.clone(),
                    count: 1,
                    reason: DropReason::Undeliverable(refusal.detail),
                });
            }
        }
    }

    /// Puts a SEND of transaction `tx` aside until COMMIT (the connection checked that `tx`
    /// is open).
    fn hold(
        &mut self,
        id: ConnectionId,
        tx: &Bytes,
        destination: Bytes,
        content: Frame,
    ) -> Result<(), Refusal> {
        let limits = &self.config.limits;
        let Some(client) = self.clients.get_mut(&id) else {
            return Ok(());
        };
        let size = size_of(&content);
        if client.held >= limits.max_held || client.held_bytes + size > limits.max_held_bytes {
            return Err(Refusal::new(
                "transaction too large",
                format!(
                    "open transactions may hold at most {} SEND frames and {} bytes on one \
                     connection",
                    limits.max_held, limits.max_held_bytes
                ),
            ));
        }
        client.held += 1;
        client.held_bytes += size;
        client
            .transactions
            .entry(tx.clone())
            .or_default()
            .push((destination, content));
        Ok(())
    }

    fn take_held(&mut self, id: ConnectionId, tx: &Bytes) -> Vec<(Bytes, Frame)> {
        let Some(client) = self.clients.get_mut(&id) else {
            return Vec::new();
        };
        let sends = client.transactions.remove(tx).unwrap_or_default();
        client.held -= sends.len();
        client.held_bytes -= sends.iter().map(|(_, c)| size_of(c)).sum::<usize>();
        sends
    }

    /// Applies `tx`: every check was made when its frames arrived, and the only thing that
    /// can still fail (room for new queues) is checked before anything is applied.
    fn commit(&mut self, id: ConnectionId, now: I, tx: &Bytes) -> Result<(), Refusal> {
        let sends = self.take_held(id, tx);
        let new_queues: Vec<Bytes> = sends
            .iter()
            .filter(|(d, _)| self.is_queue(d))
            .map(|(d, _)| d.clone())
            .collect();
        self.destinations
            .has_room_for(new_queues.iter(), &self.config.limits)?;
        for (destination, content) in sends {
            if self.is_app(&destination) {
                let login = self.login(id).cloned();
                self.events.push_back(BrokerEvent::AppMessage {
                    connection: id,
                    login,
                    destination,
                    frame: content,
                    receipt: None,
                });
            } else if self.is_external(&destination) {
                self.events.push_back(BrokerEvent::ExternalSend {
                    connection: id,
                    destination,
                    frame: content,
                    receipt: None,
                });
            } else if let Err(refusal) = self.route(now, &destination, content) {
                self.report_dropped(BrokerEvent::Dropped {
                    destination,
                    count: 1,
                    reason: DropReason::Undeliverable(refusal.detail),
                });
            }
        }
        let Some(client) = self.clients.get_mut(&id) else {
            return Ok(());
        };
        let claimed = |u: &Unacked| u.claim.as_ref().is_some_and(|(t, _)| t == tx);
        let mut nacked = Vec::new();
        let mut freed = 0;
        client.unacked.retain(|u| {
            let settled = claimed(u);
            if settled {
                freed += u.size;
                if u.claim.as_ref().is_some_and(|(_, ack)| !ack) {
                    nacked.push(u.destination.clone());
                }
            }
            !settled
        });
        client.unacked_bytes -= freed;
        for destination in nacked {
            self.report_dropped(BrokerEvent::Dropped {
                destination,
                count: 1,
                reason: DropReason::Nacked,
            });
        }
        Ok(())
    }

    /// Discards `tx`: its SENDs are dropped, the messages its ACK/NACKs covered wait for an
    /// ACK again, or go back to their queue if their subscription has ended.
    fn abort(&mut self, id: ConnectionId, now: I, tx: &Bytes) {
        self.take_held(id, tx);
        if let Some(client) = self.clients.get_mut(&id) {
            for u in &mut client.unacked {
                if u.claim.as_ref().is_some_and(|(t, _)| t == tx) {
                    u.claim = None;
                }
            }
        }
        self.release(id, now, |u| u.orphaned && u.claim.is_none());
    }

    /// An UNSUBSCRIBE: the subscription's unacknowledged messages go back to their queue,
    /// except those an open transaction acknowledged, which stay until it ends.
    fn end_subscription(&mut self, id: ConnectionId, now: I, sub: &Bytes) {
        if let Some(client) = self.clients.get_mut(&id) {
            for u in &mut client.unacked {
                if u.subscription == sub && u.claim.is_some() {
                    u.orphaned = true;
                }
            }
        }
        self.release(id, now, |u| u.subscription == sub && !u.orphaned);
    }

    /// ACK (`ack` true) or NACK of the message `message`: in `client` mode also every earlier
    /// message of its subscription. Without a transaction it takes effect now (NACKed messages
    /// are dropped); with one, the messages are reserved for its COMMIT.
    fn settle(
        &mut self,
        id: ConnectionId,
        _now: I,
        message: &Bytes,
        ack: bool,
        tx: Option<Bytes>,
    ) -> Result<(), Refusal> {
        let what = if ack { "ACK" } else { "NACK" };
        let Some(client) = self.clients.get_mut(&id) else {
            return Ok(());
        };
        let Some(at) = client.unacked.iter().position(|u| u.message_id == message) else {
            return Err(Refusal::new(
                "unknown message",
                format!(
                    "{what} of message {}: no message with this id waits for ACK or NACK",
                    shown(message, 64)
                ),
            ));
        };
        if let Some((other, _)) = &client.unacked[at].claim {
            return Err(Refusal::new(
                "message already acknowledged",
                format!(
                    "{what} of message {}: transaction {} already acknowledges it",
                    shown(message, 64),
                    shown(other, 64)
                ),
            ));
        }
        let subscription = client.unacked[at].subscription.clone();
        let cumulative = client.unacked[at].mode == AckMode::Client;
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
                for (index, u) in client.unacked.iter_mut().enumerate() {
                    if covers(index, u) {
                        u.claim = Some((tx.clone(), ack));
                    }
                }
            }
            None => {
                let mut index = 0;
                let mut freed = 0;
                let mut dropped = Vec::new();
                client.unacked.retain(|u| {
                    let settled = covers(index, u);
                    index += 1;
                    if settled {
                        freed += u.size;
                        if !ack {
                            dropped.push(u.destination.clone());
                        }
                    }
                    !settled
                });
                client.unacked_bytes -= freed;
                for destination in dropped {
                    self.report_dropped(BrokerEvent::Dropped {
                        destination,
                        count: 1,
                        reason: DropReason::Nacked,
                    });
                }
            }
        }
        Ok(())
    }

    /// Takes back the unacknowledged messages of `id` that match.
    fn release(&mut self, id: ConnectionId, now: I, matches: impl Fn(&Unacked) -> bool) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let (released, kept): (Vec<Unacked>, Vec<Unacked>) = core::mem::take(&mut client.unacked)
            .into_iter()
            .partition(|u| matches(u));
        client.unacked = kept;
        client.unacked_bytes -= released.iter().map(|u| u.size).sum::<usize>();
        for u in released {
            self.requeue(now, &u.destination, u.content);
        }
    }
}

/// The header a message gets when headers its subscriber's version cannot carry were left
/// out: their names, comma-separated (names that are not plain ASCII as `?`).
pub const DROPPED_HEADERS: &str = "x-dropped-headers";

/// The destination of a SEND the connection passed on (it checked the header is there, S-3),
/// sharing the frame's bytes.
fn sent_to(frame: &Frame) -> Bytes {
    frame
        .headers()
        .get_bytes(crate::header::DESTINATION)
        .unwrap_or_default()
}

/// Whether a header can be written in a MESSAGE of `version`: the encoder's own rules
/// (E-9, D-3), so that what is left out is exactly what it would refuse.
fn representable(name: &[u8], value: &[u8], version: Version) -> bool {
    let escaping = version.escapes_headers();
    plan_text(name, version, escaping, true).is_ok()
        && plan_text(value, version, escaping, false).is_ok()
}

/// `content` without the headers `version` cannot carry, naming them in
/// [`DROPPED_HEADERS`].
fn without_unrepresentable(content: &Frame, version: Version) -> Frame {
    let mut kept = Vec::new();
    let mut dropped = String::new();
    for (name, value) in content.headers().iter() {
        if representable(name, value, version) {
            kept.push((name, value));
        } else {
            if !dropped.is_empty() {
                dropped.push(',');
            }
            dropped.extend(name.iter().map(|b| {
                if b.is_ascii_graphic() && *b != b',' && *b != b':' && *b != b'\\' {
                    *b as char
                } else {
                    '?'
                }
            }));
        }
    }
    Frame::builder(content.command().clone())
        .headers(kept)
        .header(DROPPED_HEADERS, dropped)
        .body(content.body_bytes())
        .build()
}

/// Which client frame an event came from, where the match needs it after moving the event.
enum EventKind {
    Nack,
    Other,
}
