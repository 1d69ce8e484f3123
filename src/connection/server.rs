//! The server role: [`ServerConnection`], its [`ServerConfig`], and the [`Accept`] and
//! [`ErrorReply`] answers.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::encode::Encoder;
use crate::error::{shown, EncodeError};
use crate::escape::is_plain;
use crate::frame::{Command, Frame};
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::{Version, VersionSet};

use super::common::{sealed::Hooks, Connection, Role};
use super::error::{ConnectionError, RuleViolation, UsageError};
use super::session::Session;
use super::states::{Side, State, Trigger};
use super::wire::{interval, Core};
use super::{
    CloseReason, ConnectRequest, ServerEvent, Timestamp, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEARTBEAT, DEFAULT_MAX_PENDING_TRANSMIT, DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_TRANSACTIONS,
};
use crate::header::*;

/// Settings of a [`ServerConnection`].
///
/// ```
/// use stomp_codec::{Heartbeat, ServerConfig};
/// let config = ServerConfig::default()
///     .heartbeat(Heartbeat::new(5_000, 5_000))
///     .require_host(true)
///     .server("chat-broker/1.0");
/// assert!(config.require_host);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The versions this server speaks; the highest one the client also offers is chosen
    /// (C-8). Default: 1.0, 1.1 and 1.2.
    pub versions: VersionSet,
    /// The `heart-beat` sent in CONNECTED (B-1): `send_ms` is how often this server can send,
    /// `receive_ms` how often it wants to hear from the client. Default `10000,10000` (D-19).
    pub heartbeat: Heartbeat,
    /// Silence tolerated beyond the client's heart-beat interval before the client is declared
    /// dead (B-6, D-20). Default `None`: the interval itself, i.e. 2n in total, as stompjs and
    /// ActiveMQ Artemis allow: the peer's own timer fires only after n, and networks and
    /// schedulers add delay, so a strict n drops healthy connections.
    pub heartbeat_grace: Option<Duration>,
    /// Refuse a CONNECT without `host` (D-18). Default false: the application chooses the
    /// virtual host.
    pub require_host: bool,
    /// The `server` header of CONNECTED (C-7). Default `stomp-codec/<crate version>`.
    pub server: Option<String>,
    /// Decoder limits for frames from the client; exceeding one is answered with ERROR (H-8,
    /// D-12).
    pub limits: Limits,
    /// How many subscriptions a client may have active at once. One more SUBSCRIBE is answered
    /// with ERROR and the connection closes (H-8: a server may cap any unbounded input).
    /// Default 1024 ([`DEFAULT_MAX_SUBSCRIPTIONS`](super::DEFAULT_MAX_SUBSCRIPTIONS)): far
    /// more than a chat or dashboard client needs, and it bounds the per-connection state a
    /// client can make the server keep.
    pub max_subscriptions: usize,
    /// How many transactions a client may have open at once; one more BEGIN is answered with
    /// ERROR and the connection closes (H-8). Default 256
    /// ([`DEFAULT_MAX_TRANSACTIONS`](super::DEFAULT_MAX_TRANSACTIONS)).
    pub max_transactions: usize,
    /// How long a client may take to send its CONNECT (or STOMP) frame; when it has not
    /// arrived in time the server sends ERROR and closes
    /// ([`ConnectionError::ConnectTimeout`]), so that a client that sends nothing, or trickles
    /// a partial frame, cannot hold the connection forever. The time counts from
    /// [`ServerConnection::start`], or else from the first `handle_input` or `handle_timeout`
    /// call. Default 10 s ([`DEFAULT_CONNECT_TIMEOUT`](super::DEFAULT_CONNECT_TIMEOUT));
    /// `None` disables it. Waiting for the application's [`accept`](ServerConnection::accept)
    /// is not counted.
    pub connect_timeout: Option<Duration>,
    /// The most bytes that may wait for the wire, to a client that does not read fast enough
    /// (a slow consumer): a MESSAGE or RECEIPT that would take the queue past it is refused
    /// with [`UsageError::OutputFull`], and with [`SlowConsumer::Close`] the client is also
    /// sent ERROR and dropped. CONNECTED and ERROR are exempt (one each), and an empty queue
    /// takes any one frame (a MESSAGE larger than the limit can still go out, alone). Default
    /// [`DEFAULT_MAX_PENDING_TRANSMIT`](super::DEFAULT_MAX_PENDING_TRANSMIT). Like Spring's
    /// send-buffer size limit; a runtime that stops calling `poll_transmit` while the socket
    /// is blocked leaves the bytes here, where the limit sees them.
    pub max_pending_transmit: usize,
    /// What happens to a client past [`max_pending_transmit`](ServerConfig::max_pending_transmit).
    /// Default [`SlowConsumer::Refuse`].
    pub slow_consumer: SlowConsumer,
}

/// What a server does with a client that is not reading fast enough
/// ([`ServerConfig::slow_consumer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Refuse the frame ([`UsageError::OutputFull`]) and keep the connection: the application
    /// decides (skip this delivery, retry later, or call [`error`](ServerConnection::error)).
    /// The default: the connection never drops a client by itself.
    #[default]
    Refuse,
    /// Refuse the frame, queue ERROR (`message:slow consumer`) and close: the client misses
    /// the message but other subscribers are not held back, which is what a chat or a
    /// broker fanning out to many clients wants. Reported as
    /// `Closed(Failed(ConnectionError::SlowConsumer))`.
    Close,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            versions: VersionSet::ALL,
            heartbeat: DEFAULT_HEARTBEAT,
            heartbeat_grace: None,
            require_host: false,
            server: Some(format!("stomp-codec/{}", env!("CARGO_PKG_VERSION"))),
            limits: Limits::default(),
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            max_pending_transmit: DEFAULT_MAX_PENDING_TRANSMIT,
            slow_consumer: SlowConsumer::Refuse,
        }
    }
}

impl ServerConfig {
    /// Sets [`versions`](ServerConfig::versions).
    #[must_use]
    pub fn versions(mut self, versions: VersionSet) -> ServerConfig {
        self.versions = versions;
        self
    }

    /// Sets [`heartbeat`](ServerConfig::heartbeat).
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> ServerConfig {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets [`heartbeat_grace`](ServerConfig::heartbeat_grace).
    #[must_use]
    pub fn heartbeat_grace(mut self, grace: Duration) -> ServerConfig {
        self.heartbeat_grace = Some(grace);
        self
    }

    /// Sets [`require_host`](ServerConfig::require_host).
    #[must_use]
    pub fn require_host(mut self, require: bool) -> ServerConfig {
        self.require_host = require;
        self
    }

    /// Sets [`server`](ServerConfig::server).
    #[must_use]
    pub fn server(mut self, server: impl Into<String>) -> ServerConfig {
        self.server = Some(server.into());
        self
    }

    /// Sets [`limits`](ServerConfig::limits).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> ServerConfig {
        self.limits = limits;
        self
    }

    /// Sets [`max_subscriptions`](ServerConfig::max_subscriptions).
    #[must_use]
    pub fn max_subscriptions(mut self, max: usize) -> ServerConfig {
        self.max_subscriptions = max;
        self
    }

    /// Sets [`max_transactions`](ServerConfig::max_transactions).
    #[must_use]
    pub fn max_transactions(mut self, max: usize) -> ServerConfig {
        self.max_transactions = max;
        self
    }

    /// Sets [`connect_timeout`](ServerConfig::connect_timeout); `None` disables it.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ServerConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`max_pending_transmit`](ServerConfig::max_pending_transmit).
    #[must_use]
    pub fn max_pending_transmit(mut self, bytes: usize) -> ServerConfig {
        self.max_pending_transmit = bytes;
        self
    }

    /// Sets [`slow_consumer`](ServerConfig::slow_consumer).
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> ServerConfig {
        self.slow_consumer = policy;
        self
    }
}

/// What [`ServerConnection::accept`] adds to CONNECTED besides `version`, `heart-beat` and
/// `server`.
///
/// ```
/// use stomp_codec::Accept;
/// let accept = Accept::new().session("session-42");
/// # let _ = accept;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Accept {
    /// The `session` header (C-7).
    pub session: Option<String>,
    /// Extra CONNECTED headers.
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// No session, no extra headers.
    pub fn new() -> Accept {
        Accept::default()
    }

    /// Sets [`session`](Accept::session).
    pub fn session(mut self, session: impl Into<String>) -> Accept {
        self.session = Some(session.into());
        self
    }

    /// Appends an extra header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Accept {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The ERROR frame [`ServerConnection::error`] sends (R-9, R-10, R-11, C-10).
///
/// A `&str` or `String` converts into one with just a `message`.
///
/// ```
/// use stomp_codec::ErrorReply;
/// let reply = ErrorReply::new("no such destination")
///     .receipt_id("rcpt-7")
///     .detail("/queue/nope does not exist on this broker");
/// # let _ = reply;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct ErrorReply {
    /// The `message` header: a short description. CR and LF are replaced by spaces so that it
    /// can be written in every version (D-14).
    pub message: String,
    /// The `receipt-id` header: the `receipt` of the client frame the error is about (R-11).
    pub receipt_id: Option<Bytes>,
    /// The body: details (H-3).
    pub body: Bytes,
    /// The `content-type` of a non-empty body. Default `text/plain` (H-4).
    pub content_type: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl ErrorReply {
    /// An ERROR with this `message` header and no body.
    pub fn new(message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            message: message.into(),
            ..ErrorReply::default()
        }
    }

    /// Sets [`receipt_id`](ErrorReply::receipt_id).
    pub fn receipt_id(mut self, receipt_id: impl AsRef<[u8]>) -> ErrorReply {
        self.receipt_id = Some(Bytes::copy_from_slice(receipt_id.as_ref()));
        self
    }

    /// A `text/plain` body.
    pub fn detail(mut self, text: impl Into<String>) -> ErrorReply {
        self.body = Bytes::from(text.into());
        self.content_type = Some("text/plain".into());
        self
    }

    /// A body of any type.
    pub fn body(mut self, content_type: impl Into<String>, body: impl Into<Bytes>) -> ErrorReply {
        self.body = body.into();
        self.content_type = Some(content_type.into());
        self
    }

    /// Appends an extra header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ErrorReply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The ERROR frame; `full` false leaves out everything but `message` and the body.
    fn frame(&self, full: bool) -> Frame {
        let message: String = self
            .message
            .chars()
            .map(|c| {
                if matches!(c, '\r' | '\n' | '\0') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let mut b = Frame::builder(Command::Error).header(MESSAGE, message);
        if full {
            if let Some(id) = &self.receipt_id {
                b = b.header(RECEIPT_ID, id);
            }
            b = b.headers(self.headers.iter().map(|(n, v)| (n, v)));
        }
        if !self.body.is_empty() {
            // The fallback (`full` false) must be writable whatever the caller gave.
            let content_type = match &self.content_type {
                Some(content_type) if full => content_type.as_str(),
                _ => "text/plain",
            };
            b = b.header(CONTENT_TYPE, content_type);
        }
        b.body(self.body.clone()).build()
    }
}

impl From<&str> for ErrorReply {
    fn from(message: &str) -> ErrorReply {
        ErrorReply::new(message)
    }
}

impl From<String> for ErrorReply {
    fn from(message: String) -> ErrorReply {
        ErrorReply::new(message)
    }
}

/// Headers of the content frame that [`message`](ServerConnection::message) writes itself or
/// leaves out.
const NOT_COPIED: [&str; 7] = [
    DESTINATION,
    MESSAGE_ID,
    SUBSCRIPTION,
    ACK,
    RECEIPT,
    TRANSACTION,
    CONTENT_LENGTH,
];

/// Message ids for one server, unique across every connection that takes its ids from it
/// (S-13): `{prefix}-1`, `{prefix}-2`, ...
///
/// A client that deduplicates by `message-id` (an at-least-once consumer) must never see one
/// id for two messages, across connections and reconnects, so ids are the server's, not a
/// connection's: keep one `MessageIds` for the whole server (behind a lock, or one per
/// thread with distinct prefixes) and pass its ids to
/// [`ServerConnection::message`]. Pick a prefix that differs between runs too (the process
/// start time, a random word) when ids must not repeat across restarts.
///
/// ```
/// use stomp_codec::MessageIds;
/// let mut ids = MessageIds::new("node-a.1733380000");
/// assert_eq!(ids.next_id(), "node-a.1733380000-1");
/// assert_eq!(ids.next_id(), "node-a.1733380000-2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIds {
    prefix: String,
    next: u64,
}

impl MessageIds {
    /// Ids `{prefix}-1`, `{prefix}-2`, ...
    pub fn new(prefix: impl Into<String>) -> MessageIds {
        MessageIds {
            prefix: prefix.into(),
            next: 1,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> Bytes {
        let id = Bytes::from(format!("{}-{}", self.prefix, self.next));
        self.next = self.next.saturating_add(1);
        id
    }
}

/// One message to deliver to many subscriptions, its shared part encoded once per version.
///
/// A MESSAGE differs between its subscribers only in `message-id`, `subscription` and `ack`:
/// the destination, the user headers, `content-length` and the body are the same for all of
/// them. `PreparedMessage` encodes that shared part once (lazily, once for each version the
/// subscribers use) and [`ServerConnection::deliver`] writes the few per-subscriber header
/// lines in front of it, so fanning a message out to many connections costs one encode plus a
/// copy per subscriber. The headers taken from `content` are those
/// [`message`](ServerConnection::message) copies.
///
/// ```
/// use stomp_codec::{Command, Frame, PreparedMessage};
/// let send = Frame::builder(Command::Send)
///     .header("destination", "/topic/room.5")
///     .header("content-type", "text/plain")
///     .body("hello")
///     .build();
/// let prepared = PreparedMessage::new("/topic/room.5", &send);
/// # let _ = prepared;
/// // for (conn, subscription) in subscribers { conn.deliver(now, subscription, &ids.next_id(), &prepared)?; }
/// ```
#[derive(Debug)]
pub struct PreparedMessage {
    /// The shared headers and body, as a MESSAGE frame to encode.
    frame: Frame,
    /// The encoded shared part (headers, blank line, body, NUL) per version, once asked for.
    encoded: [core::cell::OnceCell<Result<Bytes, EncodeError>>; 3],
}

impl PreparedMessage {
    /// The shared part of MESSAGEs to `destination` carrying `content`'s body and user headers.
    pub fn new(destination: impl AsRef<[u8]>, content: &Frame) -> PreparedMessage {
        let copied = content
            .headers()
            .iter()
            .filter(|(name, _)| !NOT_COPIED.iter().any(|n| n.as_bytes() == *name));
        let frame = Frame::builder(Command::Message)
            .header(DESTINATION, destination)
            .headers(copied)
            .body(content.body_bytes())
            .build();
        PreparedMessage {
            frame,
            encoded: Default::default(),
        }
    }

    /// The shared part encoded for `version`: everything after the command line.
    fn shared(&self, version: Version) -> Result<&Bytes, EncodeError> {
        let slot = &self.encoded[version as usize];
        slot.get_or_init(|| {
            let mut out = BytesMut::new();
            Encoder::new(version).encode(&self.frame, &mut out)?;
            let command_line = b"MESSAGE\n".len();
            Ok(out.freeze().slice(command_line..))
        })
        .as_ref()
        .map_err(Clone::clone)
    }
}

/// The server role inside a [`Connection`]: its configuration, the CONNECT waiting for an
/// answer, and the receipt of DISCONNECT. See [`ServerConnection`].
#[derive(Debug)]
pub struct ServerRole {
    config: ServerConfig,
    /// The version and heart-beat of the CONNECT the application has not answered yet.
    pending_connect: Option<(Version, Heartbeat)>,
    disconnect_receipt: Option<Bytes>,
}

/// The server role of one STOMP connection, sans IO: no socket, thread or clock inside.
///
/// Create one per accepted transport connection and drive it like a
/// [`ClientConnection`](crate::ClientConnection): feed bytes to
/// [`handle_input`](Connection::handle_input) (or call
/// [`handle_close`](Connection::handle_close) at EOF), call
/// [`handle_timeout`](Connection::handle_timeout) once
/// [`poll_timeout`](Connection::poll_timeout) has passed, and after every input drain
/// [`poll_event`](Connection::poll_event) and [`poll_transmit`](Connection::poll_transmit)
/// until both are empty. A broker owning many connections does the same for each; acting on
/// one connection's event (a SEND) may queue MESSAGE frames on others, which must then be
/// drained too.
///
/// ```text
/// while let Some(event) = conn.poll_event() {
///     match event {
///         ServerEvent::Connect(req) => conn.accept(now, Accept::new())?,  // or conn.error(now, "...")
///         ServerEvent::Subscribe { id, destination, .. } => { /* remember (conn, id, destination) */ }
///         ServerEvent::Send { frame, .. } => {
///             let message_id = ids.next_id();
///             for (other, id) in subscribers_of(frame.destination().unwrap_or_default()) { other.message(now, &id, &message_id, &frame)?; }
///         }
///         ServerEvent::Closed(reason) => { /* flush poll_transmit, then close the socket */ }
///         _ => {}
///     }
///     if let Some(r) = event.receipt() { conn.receipt(now, r)?; }   // R-3: once handled
/// }
/// ```
///
/// Client frames arrive as [`ServerEvent`]s after validation, one per `poll_event` call, which
/// is also when each is applied. A client that breaks the protocol (first frame not CONNECT, a
/// second CONNECT, missing required headers, unknown ack mode, reused subscription or
/// transaction id, unknown transaction or subscription, more subscriptions or open
/// transactions than the configured maximum, a server command, malformed or oversized frames,
/// no CONNECT in time) is answered with ERROR, with `receipt-id` when the frame asked for a
/// receipt (also when the frame was malformed, as long as its `receipt` line was read whole);
/// its open transactions are reported aborted, and the connection closes once the ERROR is
/// handed out (D-16, D-24, H-8, R-7, R-11). [`failure`](Connection::failure) then reports the
/// [`ConnectionError`].
///
/// The application answers: [`accept`](ServerConnection::accept) or
/// [`error`](ServerConnection::error) a CONNECT (C-10), delivers with
/// [`message`](ServerConnection::message) (or [`deliver`](ServerConnection::deliver) to fan one
/// message out), confirms with [`receipt`](ServerConnection::receipt), and ends a session with
/// [`error`](ServerConnection::error) (R-9).
///
/// Nothing is dropped silently: queued bytes and events wait until drained. What waits for
/// the wire is bounded by [`max_pending_transmit`](ServerConfig::max_pending_transmit): a
/// client that stops reading gets its MESSAGEs refused, or is dropped
/// ([`SlowConsumer`]).
#[cfg(feature = "std")]
pub type ServerConnection<I = std::time::Instant> = Connection<ServerRole, I>;

/// The server role of one STOMP connection, sans IO (see the crate docs).
#[cfg(not(feature = "std"))]
pub type ServerConnection<I> = Connection<ServerRole, I>;

impl Role for ServerRole {}

impl Hooks for ServerRole {
    type Event = ServerEvent;
    const SIDE: Side = Side::Server;

    fn closed(reason: CloseReason) -> ServerEvent {
        ServerEvent::Closed(reason)
    }

    fn heartbeat_timeout() -> ServerEvent {
        ServerEvent::HeartbeatTimeout
    }

    fn transaction_aborted(transaction: Bytes) -> Option<ServerEvent> {
        Some(ServerEvent::TransactionAborted { transaction })
    }

    fn on_frame<I: Timestamp>(
        conn: &mut ServerConnection<I>,
        _: I,
        frame: Frame,
        event: &mut Option<ServerEvent>,
    ) -> Result<(), (ConnectionError, Option<Bytes>)> {
        conn.on_client_frame(frame, event)
    }

    fn on_failure<I: Timestamp>(
        conn: &mut ServerConnection<I>,
        now: I,
        err: &ConnectionError,
        receipt: Option<Bytes>,
    ) {
        // A client that went silent gets no ERROR: it is not listening.
        if matches!(err, ConnectionError::HeartbeatTimeout { .. }) {
            return;
        }
        let mut reply = ErrorReply::new(err.error_message()).detail(err.to_string());
        reply.receipt_id = receipt;
        if let ConnectionError::NoCommonVersion { supported, .. } = err {
            // C-9: the versions this server speaks.
            reply = reply.header(VERSION, supported.to_string());
        }
        conn.send_error(now, &reply, CloseReason::Failed(err.clone()));
    }

    fn on_timers<I: Timestamp>(_: &mut ServerConnection<I>, _: I) -> bool {
        false
    }

    fn after_input<I: Timestamp>(conn: &mut ServerConnection<I>, now: I) -> bool {
        // D-16: what the client sends before CONNECTED is held, but not without bound.
        let buffered = conn.core.decoder.buffered();
        if conn.state == State::Connecting && buffered > conn.role.config.limits.max_frame {
            let err = ConnectionError::InputBeforeConnected { buffered };
            conn.fail(now, err, None);
            return true;
        }
        false
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl ServerConnection<std::time::Instant> {
    /// A connection waiting for CONNECT, on the standard clock: `now` is a
    /// `std::time::Instant`.
    pub fn new(config: ServerConfig) -> ServerConnection {
        ServerConnection::with_timestamp_type(config)
    }
}

impl<I: Timestamp> ServerConnection<I> {
    /// A connection waiting for CONNECT, whose `now` is any [`Timestamp`] type (e.g. a
    /// [`Duration`] since boot, without `std`): name the type, as in
    /// `ServerConnection::<Duration>::with_timestamp_type(config)`.
    /// `new` (with `std`) is this with `std::time::Instant`.
    pub fn with_timestamp_type(config: ServerConfig) -> ServerConnection<I> {
        let core = Core::new(
            config.limits,
            config.heartbeat_grace,
            config.connect_timeout,
        );
        let limit = config.max_pending_transmit;
        Connection::with_role(
            core,
            limit,
            ServerRole {
                config,
                pending_connect: None,
                disconnect_receipt: None,
            },
        )
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.role.config
    }

    /// Starts the [`connect_timeout`](ServerConfig::connect_timeout) clock at `now`, the time
    /// the transport connection was accepted. Call it right after creating the connection:
    /// without it the clock starts with the first `handle_input` or `handle_timeout` call,
    /// so a client that never sends a byte would not be caught. Later calls do nothing.
    pub fn start(&mut self, now: I) {
        self.start_connect_timer(now);
    }

    // ---- answers -----------------------------------------------------------------------

    /// Accepts the CONNECT reported by [`ServerEvent::Connect`]: queues CONNECTED with
    /// `version` (always, D-17), `heart-beat` (1.1+), `server`, and what `accept` adds (C-6,
    /// C-7); switches to the negotiated version (E-8) and starts the heart-beats (B-3, B-7).
    ///
    /// Frames the client sent after its CONNECT are held until now; `poll_event` reports them
    /// from here on.
    pub fn accept(&mut self, now: I, accept: Accept) -> Result<(), UsageError> {
        let pending = self.role.pending_connect;
        let Some((version, client_heartbeat)) =
            pending.filter(|_| self.may_send(&Command::Connected))
        else {
            return Err(match self.state {
                State::Closing | State::Closed => UsageError::Closed,
                _ => UsageError::NotAwaitingConnect,
            });
        };
        let config = &self.role.config;
        let mut b = Frame::builder(Command::Connected).header(VERSION, version.as_str());
        if version != Version::V1_0 {
            b = b.header(HEART_BEAT, config.heartbeat.to_string());
        }
        if let Some(session) = &accept.session {
            b = b.header(SESSION, session);
        }
        if let Some(server) = &config.server {
            b = b.header(SERVER, server);
        }
        let frame = b
            .headers(accept.headers.iter().map(|(n, v)| (n, v)))
            .build();
        let (from_client, to_client) = if version == Version::V1_0 {
            (0, 0)
        } else {
            Heartbeat::negotiate(client_heartbeat, config.heartbeat)
        };
        // CONNECTED is written under the version it announces (E-9: a CR in a 1.2 CONNECTED
        // cannot be read back, though a 1.0 one may carry it), and nothing changes if refused.
        let before = self.core.encoder.version();
        self.core.encoder.set_version(version);
        if let Err(err) = self.queue(now, &frame, true) {
            self.core.encoder.set_version(before);
            return Err(err);
        }
        self.role.pending_connect = None;
        self.version = Some(version);
        self.core.set_version(version);
        self.core
            .start_heartbeats(now, interval(to_client), interval(from_client));
        self.transition(Trigger::ConnectedSent);
        Ok(())
    }

    /// Queues MESSAGE for the client's subscription `subscription` (S-13, S-14) with
    /// `message_id`, which must be unique across the server (S-13: take it from the server's
    /// [`MessageIds`]).
    ///
    /// `content` supplies the body and the user headers: typically the client's SEND frame
    /// from [`ServerEvent::Send`], whose user headers must be passed on (S-3). Its
    /// `destination` is kept (else the subscription's is used); `message-id`, `subscription`,
    /// `ack`, `receipt`, `transaction` and `content-length` are not copied. The MESSAGE gets
    /// `subscription` (unless a 1.0 SUBSCRIBE had no id) and, in 1.2 for `client` and
    /// `client-individual` subscriptions, `ack` equal to the message id, so that the client's
    /// ACK/NACK `id` is the message id.
    ///
    /// Refused before `accept`, after DISCONNECT, for an unknown subscription, when a header
    /// cannot be written in the negotiated version (a CR at the end of a value for a 1.1
    /// subscriber, E-9), and when the client is not reading fast enough
    /// ([`UsageError::OutputFull`]; see [`SlowConsumer`] for what else happens then).
    pub fn message(
        &mut self,
        now: I,
        subscription: impl AsRef<[u8]>,
        message_id: impl AsRef<[u8]>,
        content: &Frame,
    ) -> Result<(), UsageError> {
        let (subscription, message_id) = (subscription.as_ref(), message_id.as_ref());
        let (has_id, ack) = self.delivery(subscription)?;
        let h = content.headers();
        // The content's destination, else the subscription's (looked up through the field, so
        // that the transmit queue can be borrowed beside it).
        let destination = h
            .get(DESTINATION)
            .or_else(|| {
                self.session
                    .subscription(subscription)
                    .map(|s| &s.destination[..])
            })
            .unwrap_or_default();
        // The headers as one list of slices, walked twice by the encoder (check, then write).
        let mut entries: SmallVec<[(&[u8], &[u8]); 16]> = SmallVec::new();
        entries.push((DESTINATION.as_bytes(), destination));
        entries.push((MESSAGE_ID.as_bytes(), message_id));
        if has_id {
            entries.push((SUBSCRIPTION.as_bytes(), subscription));
        }
        if ack {
            entries.push((ACK.as_bytes(), message_id));
        }
        for (name, value) in h.iter() {
            if !NOT_COPIED.iter().any(|n| n.as_bytes() == name) {
                entries.push((name, value));
            }
        }
        let before = self.core.pending_transmit();
        let queued = self.core.queue_parts(
            &Command::Message,
            entries.iter().copied(),
            None,
            content.body(),
        );
        drop(entries);
        queued?;
        self.check_output_or_drop(now, before)
    }

    /// [`message`](ServerConnection::message) for a message delivered to many subscriptions:
    /// the shared part comes encoded from `prepared` (once per version, for every connection
    /// that delivers it), and only the `message-id`, `subscription` and `ack` lines are written
    /// here. Refused as `message` is.
    pub fn deliver(
        &mut self,
        now: I,
        subscription: impl AsRef<[u8]>,
        message_id: impl AsRef<[u8]>,
        prepared: &PreparedMessage,
    ) -> Result<(), UsageError> {
        let (subscription, message_id) = (subscription.as_ref(), message_id.as_ref());
        let (has_id, ack) = self.delivery(subscription)?;
        // Ids are written as they are: one that would need escaping or cannot be written at
        // all (a NUL: it would end the frame) takes the general path, which escapes or
        // refuses it.
        if !is_plain(message_id) || (has_id && !is_plain(subscription)) {
            let content = prepared.frame.clone();
            return self.message(now, subscription, message_id, &content);
        }
        let shared = prepared.shared(self.negotiated())?;
        let before = self.core.pending_transmit();
        let out = self.core.out_mut();
        out.reserve(64 + message_id.len() * 2 + subscription.len() + shared.len());
        out.extend_from_slice(b"MESSAGE\nmessage-id:");
        out.extend_from_slice(message_id);
        if has_id {
            out.extend_from_slice(b"\nsubscription:");
            out.extend_from_slice(subscription);
        }
        if ack {
            out.extend_from_slice(b"\nack:");
            out.extend_from_slice(message_id);
        }
        out.extend_from_slice(b"\n");
        out.extend_from_slice(shared);
        self.check_output_or_drop(now, before)
    }

    /// Whether a MESSAGE may go to `subscription` now, and if so whether it names the
    /// subscription (only a 1.0 SUBSCRIBE may have had no id) and carries `ack` (1.2, `client`
    /// and `client-individual`, S-14).
    fn delivery(&self, subscription: &[u8]) -> Result<(bool, bool), UsageError> {
        self.check_sending(Command::Message)?;
        let sub = self.session.subscription(subscription).ok_or_else(|| {
            RuleViolation::UnknownSubscription {
                id: shown(subscription, 64),
            }
        })?;
        let ack = self.negotiated() == Version::V1_2 && sub.ack.needs_ack();
        Ok((sub.has_id, ack))
    }

    /// Queues `frame` within the output limit; past it, applies the slow-consumer policy.
    fn queue_or_drop(&mut self, now: I, frame: &Frame) -> Result<(), UsageError> {
        let before = self.core.pending_transmit();
        self.core.queue(frame)?;
        self.check_output_or_drop(now, before)
    }

    /// Takes back what was queued past `before` if it broke the output limit, and applies the
    /// slow-consumer policy then.
    fn check_output_or_drop(&mut self, now: I, before: usize) -> Result<(), UsageError> {
        let result = self.check_output(now, before, false);
        if let Err(UsageError::OutputFull { pending, limit, .. }) = &result {
            if self.role.config.slow_consumer == SlowConsumer::Close {
                let err = ConnectionError::SlowConsumer {
                    pending: *pending,
                    limit: *limit,
                };
                self.fail(now, err, None);
            }
        }
        result
    }

    /// Queues RECEIPT for a client frame's `receipt` (R-2, R-4). Send it once the frame (and
    /// every one before it) is processed (R-3). For the receipt of DISCONNECT, the connection
    /// closes once it is handed out (R-5, R-8).
    pub fn receipt(&mut self, now: I, receipt_id: impl AsRef<[u8]>) -> Result<(), UsageError> {
        self.check_sending(Command::Receipt)?;
        let receipt_id = receipt_id.as_ref();
        let frame = Frame::builder(Command::Receipt)
            .header(RECEIPT_ID, receipt_id)
            .build();
        self.queue_or_drop(now, &frame)?;
        if self.state == State::Disconnecting
            && self.role.disconnect_receipt.as_deref() == Some(receipt_id)
        {
            self.transition(Trigger::FinalReceipt);
            self.close_after_flush = Some(CloseReason::Disconnected);
        }
        Ok(())
    }

    /// Queues ERROR and closes once it is handed out (R-9): to refuse a CONNECT (C-10), or
    /// when a frame cannot be processed (R-9; set [`ErrorReply::receipt_id`] to the frame's
    /// receipt, R-11). Open transactions are reported aborted (R-7); input is then ignored
    /// (D-23). ERROR is not held back by the output limit.
    pub fn error(&mut self, now: I, reply: impl Into<ErrorReply>) -> Result<(), UsageError> {
        if matches!(self.state, State::Closing | State::Closed) {
            return Err(UsageError::Closed);
        }
        self.send_error(now, &reply.into(), CloseReason::ErrorSent);
        Ok(())
    }

    /// Whether the state table lets the server send `command` now, and if not, why.
    fn check_sending(&self, command: Command) -> Result<(), UsageError> {
        if self.may_send(&command) {
            return Ok(());
        }
        Err(match self.state {
            State::Disconnecting => UsageError::AfterDisconnect { command },
            State::Closing | State::Closed => UsageError::Closed,
            _ => UsageError::NotConnected { command },
        })
    }

    fn send_error(&mut self, now: I, reply: &ErrorReply, reason: CloseReason) {
        self.abort_transactions();
        self.core.stop_timers();
        let queued = self.queue(now, &reply.frame(true), true).is_ok()
            || self.queue(now, &reply.frame(false), true).is_ok();
        if queued {
            self.transition(Trigger::ErrorSent);
            self.close_after_flush = Some(reason);
        } else {
            self.end(reason);
        }
    }

    // ---- frames from the client ---------------------------------------------------------

    /// Applies a client frame; a refused one comes back with the receipt its ERROR names
    /// (R-11; C-11: not CONNECT's). Its event is left in `event`, after the ones it queued.
    fn on_client_frame(
        &mut self,
        frame: Frame,
        event: &mut Option<ServerEvent>,
    ) -> Result<(), (ConnectionError, Option<Bytes>)> {
        let command = frame.command();
        if !self.accepts(command) {
            let context = match (self.state, command) {
                (State::Idle, _) => "before CONNECT",
                (_, Command::Connect | Command::Stomp) => "after CONNECT",
                _ => "sent to a server",
            };
            let receipt = match command {
                Command::Connect | Command::Stomp => None,
                _ => frame.headers().get_bytes(RECEIPT),
            };
            let err = ConnectionError::UnexpectedFrame {
                command: command.clone(),
                context,
            };
            return Err((err, receipt));
        }
        if self.state == State::Idle {
            // accepts() let only CONNECT and STOMP through: no receipt to name (C-11).
            *event = Some(self.on_connect(frame).map_err(|err| (err, None))?);
            Ok(())
        } else if *command == Command::Send {
            let (transaction, receipt) = self.on_send(&frame)?;
            // `event` is empty on entry: written in place, without dropping what it held, and
            // the frame moved once, from here (moved on into a helper, it was copied twice).
            if event.is_none() {
                *event = Some(ServerEvent::Send {
                    transaction,
                    receipt,
                    frame,
                });
            }
            Ok(())
        } else {
            let receipt = frame.headers().get_bytes(RECEIPT);
            *event = self
                .on_session_frame(frame, receipt.clone())
                .map_err(|err| (err, receipt))?;
            Ok(())
        }
    }

    /// A SEND, the frame a broker receives most: its headers read in one walk (S-3, S-11).
    /// Returns its transaction and receipt. Its destination stays in the frame: shared out
    /// into the event, it cost two atomic operations a SEND (about 7 % of a SEND's trip from
    /// client to server event) that an application reading it from the frame does not pay.
    #[inline]
    #[allow(clippy::type_complexity)]
    fn on_send(
        &mut self,
        frame: &Frame,
    ) -> Result<(Option<Bytes>, Option<Bytes>), (ConnectionError, Option<Bytes>)> {
        let h = frame.headers();
        let [receipt, destination, transaction] = h.get_each([RECEIPT, DESTINATION, TRANSACTION]);
        let receipt = receipt.map(|r| h.share(r));
        let checked = destination
            .ok_or_else(|| RuleViolation::MissingHeader {
                command: Command::Send,
                header: DESTINATION,
                version: self.negotiated(),
            })
            .and_then(|destination| {
                self.session.check_transaction_open(transaction)?;
                Ok(destination)
            });
        if let Err(err) = checked {
            return Err((err.into(), receipt));
        }
        let transaction = transaction.map(|tx| h.share(tx));
        Ok((transaction, receipt))
    }

    fn on_connect(&mut self, frame: Frame) -> Result<ServerEvent, ConnectionError> {
        let h = frame.headers();
        let accept_version = match h.get(ACCEPT_VERSION) {
            Some(value) => Version::parse_accept_version(value),
            None => VersionSet::EMPTY.with(Version::V1_0),
        };
        let supported = self.role.config.versions;
        let version =
            supported
                .highest_common(accept_version)
                .ok_or(ConnectionError::NoCommonVersion {
                    offered: accept_version,
                    supported,
                })?;
        if self.role.config.require_host && !h.contains(HOST) {
            return Err(ConnectionError::MissingHost);
        }
        let heartbeat = match h.get(HEART_BEAT) {
            Some(v) if version != Version::V1_0 => {
                Heartbeat::parse(v).ok_or_else(|| RuleViolation::InvalidHeartbeat {
                    value: shown(v, 64),
                })?
            }
            _ => Heartbeat::NONE,
        };
        // Frames after CONNECT use the version CONNECTED will announce (E-8).
        self.core.decoder.set_version(version);
        // The client is on time; the application's answer is not the client's to wait for.
        self.core.timers.set(super::wire::Timer::Connect, None);
        self.role.pending_connect = Some((version, heartbeat));
        self.transition(Trigger::ConnectReceived);
        Ok(ServerEvent::Connect(ConnectRequest {
            version,
            accept_version,
            host: h.get_bytes(HOST),
            login: h.get_bytes(LOGIN),
            passcode: h.get_bytes(PASSCODE),
            heartbeat,
            frame,
        }))
    }

    /// Checks a frame of the open session against the session's rules (the same code the
    /// client checks its own frames with), applies it and reports it (DISCONNECT queues its
    /// events, as `Closed` may follow).
    fn on_session_frame(
        &mut self,
        frame: Frame,
        receipt: Option<Bytes>,
    ) -> Result<Option<ServerEvent>, ConnectionError> {
        let version = self.negotiated();
        let command = frame.command().clone();
        let h = frame.headers();
        let config = &self.role.config;
        let event = match command {
            Command::Subscribe => {
                let (id, sub) = self.session.check_subscribe(h, version)?;
                if self.session.subscription_count() >= config.max_subscriptions {
                    return Err(ConnectionError::TooManySubscriptions {
                        max: config.max_subscriptions,
                    });
                }
                let (destination, ack) = (sub.destination.clone(), sub.ack);
                self.session.subscribe(id.clone(), sub);
                ServerEvent::Subscribe {
                    id,
                    destination,
                    ack,
                    receipt,
                    frame,
                }
            }
            Command::Unsubscribe => {
                let id = self.session.check_unsubscribe(h, version)?;
                let destination = self
                    .session
                    .unsubscribe(&id)
                    .map(|s| s.destination)
                    .unwrap_or_default();
                ServerEvent::Unsubscribe {
                    id,
                    destination,
                    receipt,
                    frame,
                }
            }
            Command::Ack | Command::Nack => {
                let (id, subscription) = Session::check_ack(h, &command, version)?;
                let transaction = self.session.check_in_transaction(h)?;
                if command == Command::Ack {
                    ServerEvent::Ack {
                        id,
                        subscription,
                        transaction,
                        receipt,
                        frame,
                    }
                } else {
                    ServerEvent::Nack {
                        id,
                        subscription,
                        transaction,
                        receipt,
                        frame,
                    }
                }
            }
            Command::Begin | Command::Commit | Command::Abort => {
                let transaction = self.session.check_transaction(h, &command, version)?;
                if command == Command::Begin
                    && self.session.transaction_count() >= config.max_transactions
                {
                    return Err(ConnectionError::TooManyTransactions {
                        max: config.max_transactions,
                    });
                }
                self.session
                    .apply_transaction(&command, transaction.clone());
                match command {
                    Command::Begin => ServerEvent::Begin {
                        transaction,
                        receipt,
                    },
                    Command::Commit => ServerEvent::Commit {
                        transaction,
                        receipt,
                    },
                    _ => ServerEvent::Abort {
                        transaction,
                        receipt,
                    },
                }
            }
            // The state table let only client frames of an open session through.
            _ => {
                self.abort_transactions();
                self.core.stop_timers();
                self.events.push_back(ServerEvent::Disconnect {
                    receipt: receipt.clone(),
                });
                self.transition(Trigger::DisconnectReceived);
                match receipt {
                    Some(receipt) => self.role.disconnect_receipt = Some(receipt),
                    None => self.end(CloseReason::Disconnected),
                }
                return Ok(None);
            }
        };
        Ok(Some(event))
    }
}
