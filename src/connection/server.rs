//! The server role: [`ServerConnection`], its [`ServerConfig`], and the [`Accept`] and
//! [`ErrorReply`] answers.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::decode::Item;
use crate::error::shown;
use crate::frame::{Command, Frame};
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::{Version, VersionSet};

use super::error::{ConnectionError, UsageError};
use super::names::*;
use super::{
    by_destination, interval, timed_struct, AckMode, CloseReason, ConnectRequest, Core,
    ServerEvent, Timer, Timestamp, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEARTBEAT,
    DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_MAX_TRANSACTIONS,
};

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
            let content_type = self.content_type.as_deref().unwrap_or("text/plain");
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingConnect,
    AwaitingAccept,
    Connected,
    Disconnecting,
    Closing,
    Closed,
}

/// What the server knows of one of the client's subscriptions.
#[derive(Debug, Clone)]
struct Subscription {
    destination: Bytes,
    ack: AckMode,
    /// Whether SUBSCRIBE had an `id` (only 1.0 may omit it; S-13 then omits `subscription`).
    has_id: bool,
    /// Order of creation, for a 1.0 UNSUBSCRIBE by destination (oldest first).
    seq: u64,
}

/// Headers of a MESSAGE's content that `message` does not copy: the ones it writes itself and
/// the client-to-server ones (S-13).
const NOT_COPIED: [&str; 7] = [
    DESTINATION,
    MESSAGE_ID,
    SUBSCRIPTION,
    ACK,
    RECEIPT,
    TRANSACTION,
    CONTENT_LENGTH,
];

timed_struct! {
/// The server role of one STOMP connection, sans IO: no socket, thread or clock inside.
///
/// Create one per accepted transport connection and drive it like a
/// [`ClientConnection`](crate::ClientConnection) (see "Driving it" there): feed bytes to
/// [`handle_input`](ServerConnection::handle_input) (or call
/// [`handle_close`](ServerConnection::handle_close) at EOF), call
/// [`handle_timeout`](ServerConnection::handle_timeout) once
/// [`poll_timeout`](ServerConnection::poll_timeout) has passed, and after every input drain
/// [`poll_event`](ServerConnection::poll_event) and
/// [`poll_transmit`](ServerConnection::poll_transmit) until both are empty. A broker owning
/// many connections does the same for each; acting on one connection's event (a SEND) may
/// queue MESSAGE frames on others, which must then be drained too.
///
/// ```text
/// while let Some(event) = conn.poll_event() {
///     match event {
///         ServerEvent::Connect(req) => conn.accept(now, Accept::new())?,  // or conn.error(now, "...")
///         ServerEvent::Subscribe { id, destination, .. } => { /* remember (conn, id, destination) */ }
///         ServerEvent::Send { destination, frame, .. } => {
///             for (other, id) in subscribers_of(&destination) { other.message(now, &id, &frame)?; }
///         }
///         ServerEvent::Closed(reason) => { /* flush poll_transmit, then close the socket */ }
///         _ => {}
///     }
///     if let Some(r) = event.receipt() { conn.receipt(now, r)?; }   // R-3: once handled
/// }
/// ```
///
/// Client frames arrive as [`ServerEvent`]s after validation, one per `poll_event` call, which
/// is also when each is applied (see [`poll_event`](ServerConnection::poll_event)). A client
/// that breaks the protocol (first frame not CONNECT, a second CONNECT, missing required
/// headers, unknown ack mode, reused subscription or transaction id, unknown transaction or
/// subscription, more subscriptions or open transactions than the configured maximum, a
/// server command, malformed or oversized frames, no CONNECT in time) is answered with ERROR,
/// with `receipt-id` when the frame asked for a receipt; its open transactions are reported
/// aborted, and the connection closes once the ERROR is handed out (D-16, D-24, H-8, R-7,
/// R-11). [`failure`](ServerConnection::failure) then reports the [`ConnectionError`], and
/// `handle_input` returns it from then on.
///
/// The application answers: [`accept`](ServerConnection::accept) or
/// [`error`](ServerConnection::error) a CONNECT (C-10), delivers with
/// [`message`](ServerConnection::message), confirms with
/// [`receipt`](ServerConnection::receipt), and ends a session with
/// [`error`](ServerConnection::error) (R-9).
///
/// Nothing is dropped: queued bytes and events wait until drained, and both queues only grow
/// in answer to your calls and the input you feed (at most one heart-beat EOL is queued while
/// bytes wait). A broker whose client does not read should stop calling `message` for it
/// (see [`pending_transmit`](ServerConnection::pending_transmit)) or drop the connection.
#[derive(Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    core: Core<I>,
    state: State,
    version: Option<Version>,
    /// Version and client heart-beat of the CONNECT awaiting `accept`.
    pending_connect: Option<(Version, Heartbeat)>,
    subscriptions: BTreeMap<Bytes, Subscription>,
    /// Open transactions, ordered so that R-7 aborts are reported deterministically.
    transactions: BTreeSet<Bytes>,
    disconnect_receipt: Option<Bytes>,
    next_message_id: u64,
    /// Sequence number of the next subscription (for a 1.0 UNSUBSCRIBE by destination).
    next_subscription: u64,
    /// Whether the connect deadline has been armed (it is armed once).
    started: bool,
    events: VecDeque<ServerEvent>,
    failed: Option<ConnectionError>,
    close_after_flush: Option<CloseReason>,
}
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl ServerConnection<std::time::Instant> {
    /// A connection waiting for the client's CONNECT, on the standard clock: `now` is a
    /// `std::time::Instant`.
    pub fn new(config: ServerConfig) -> ServerConnection {
        ServerConnection::new_generic(config)
    }
}

impl<I: Timestamp> ServerConnection<I> {
    /// A connection waiting for the client's CONNECT, for any [`Timestamp`] type (e.g. [`Duration`]
    /// since boot, without `std`): name the type, as in
    /// `ServerConnection::<Duration>::new_generic(config)`.
    pub fn new_generic(config: ServerConfig) -> ServerConnection<I> {
        let core = Core::new(config.limits, config.heartbeat_grace);
        ServerConnection {
            config,
            core,
            state: State::AwaitingConnect,
            version: None,
            pending_connect: None,
            subscriptions: BTreeMap::new(),
            transactions: BTreeSet::new(),
            disconnect_receipt: None,
            next_message_id: 1,
            next_subscription: 0,
            started: false,
            events: VecDeque::new(),
            failed: None,
            close_after_flush: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Starts the [`connect_timeout`](ServerConfig::connect_timeout) clock at `now`, the time
    /// the transport connection was accepted. Call it right after creating the connection:
    /// without it the clock starts with the first `handle_input` or `handle_timeout` call,
    /// so a client that never sends a byte would not be caught. Later calls do nothing.
    pub fn start(&mut self, now: I) {
        if self.started {
            return;
        }
        self.started = true;
        if self.state != State::AwaitingConnect {
            return;
        }
        if let Some(timeout) = self.config.connect_timeout {
            self.core.arm(Timer::Connect, now, timeout);
        }
    }

    // ---- answers -----------------------------------------------------------------------

    /// Accepts the CONNECT reported by [`ServerEvent::Connect`]: queues CONNECTED with
    /// `version` (always, D-17), `heart-beat` (1.1+), `server`, and what `accept` adds (C-6,
    /// C-7); switches to the negotiated version (E-8) and starts the heart-beats (B-3, B-7).
    ///
    /// Frames the client sent after its CONNECT are held until now; `poll_event` reports them
    /// from here on.
    pub fn accept(&mut self, now: I, accept: Accept) -> Result<(), UsageError> {
        match self.state {
            State::AwaitingAccept => {}
            State::Closing | State::Closed => return Err(UsageError::Closed),
            _ => return Err(UsageError::NotAwaitingConnect),
        }
        let Some((version, client_heartbeat)) = self.pending_connect else {
            return Err(UsageError::NotAwaitingConnect);
        };
        let mut b = Frame::builder(Command::Connected).header(VERSION, version.as_str());
        if version != Version::V1_0 {
            b = b.header(HEART_BEAT, self.config.heartbeat.to_string());
        }
        if let Some(session) = &accept.session {
            b = b.header(SESSION, session);
        }
        if let Some(server) = &self.config.server {
            b = b.header(SERVER, server);
        }
        let frame = b
            .headers(accept.headers.iter().map(|(n, v)| (n, v)))
            .build();
        self.core.queue(now, &frame)?;
        self.pending_connect = None;
        self.version = Some(version);
        self.core.set_version(version);
        let (from_client, to_client) = if version == Version::V1_0 {
            (0, 0)
        } else {
            Heartbeat::negotiate(client_heartbeat, self.config.heartbeat)
        };
        self.core
            .start_heartbeats(now, interval(to_client), interval(from_client));
        self.state = State::Connected;
        Ok(())
    }

    /// Queues MESSAGE for the client's subscription `subscription` (S-13, S-14) with a
    /// generated `message-id` (`m-1`, `m-2`, ... unique on this connection), which it returns.
    ///
    /// `content` supplies the body and the user headers: typically the client's SEND frame
    /// from [`ServerEvent::Send`], whose user headers must be passed on (S-3). Its
    /// `destination` is kept (else the subscription's is used); `message-id`, `subscription`,
    /// `ack`, `receipt`, `transaction` and `content-length` are not copied. The MESSAGE gets
    /// `subscription` (unless a 1.0 SUBSCRIBE had no id) and, in 1.2 for `client` and
    /// `client-individual` subscriptions, `ack` equal to the message id, so that the client's
    /// ACK/NACK `id` is the message id.
    ///
    /// Refused before `accept`, after DISCONNECT, for an unknown subscription, and when a header
    /// cannot be written in the negotiated version (e.g. a CR from a 1.2 sender to a 1.1
    /// subscriber, E-9).
    pub fn message(
        &mut self,
        now: I,
        subscription: impl AsRef<[u8]>,
        content: &Frame,
    ) -> Result<Bytes, UsageError> {
        let message_id = Bytes::from(format!("m-{}", self.next_message_id));
        self.message_with_id(now, subscription, message_id.clone(), content)?;
        self.next_message_id = self.next_message_id.saturating_add(1);
        Ok(message_id)
    }

    /// [`message`](ServerConnection::message) with a message id chosen by the caller (which
    /// must be unique, S-13).
    pub fn message_with_id(
        &mut self,
        now: I,
        subscription: impl AsRef<[u8]>,
        message_id: impl AsRef<[u8]>,
        content: &Frame,
    ) -> Result<(), UsageError> {
        self.check_sending(Command::Message)?;
        let version = self.negotiated();
        let subscription = subscription.as_ref();
        let message_id = message_id.as_ref();
        let sub = self.subscriptions.get(subscription).ok_or_else(|| {
            UsageError::UnknownSubscription {
                id: shown(subscription, 64),
            }
        })?;
        let h = content.headers();
        let destination = h.get(DESTINATION).unwrap_or(&sub.destination);
        let mut b = Frame::builder(Command::Message)
            .header(DESTINATION, destination)
            .header(MESSAGE_ID, message_id);
        if sub.has_id {
            b = b.header(SUBSCRIPTION, subscription);
        }
        if version == Version::V1_2 && sub.ack.needs_ack() {
            b = b.header(ACK, message_id);
        }
        let copied = h
            .iter()
            .filter(|(name, _)| !NOT_COPIED.iter().any(|n| n.as_bytes() == *name));
        let frame = b.headers(copied).body(content.body_bytes()).build();
        self.core.queue(now, &frame)?;
        Ok(())
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
        self.core.queue(now, &frame)?;
        if self.state == State::Disconnecting
            && self.disconnect_receipt.as_deref() == Some(receipt_id)
        {
            self.state = State::Closing;
            self.close_after_flush = Some(CloseReason::Disconnected);
        }
        Ok(())
    }

    /// Queues ERROR and closes once it is handed out (R-9): to refuse a CONNECT (C-10), or
    /// when a frame cannot be processed (R-9; set [`ErrorReply::receipt_id`] to the frame's
    /// receipt, R-11). Open transactions are reported aborted (R-7); input is then ignored
    /// (D-23).
    pub fn error(&mut self, now: I, reply: impl Into<ErrorReply>) -> Result<(), UsageError> {
        if matches!(self.state, State::Closing | State::Closed) {
            return Err(UsageError::Closed);
        }
        self.send_error(now, &reply.into(), CloseReason::ErrorSent);
        Ok(())
    }

    /// Whether the state allows the server to send `command` (MESSAGE or RECEIPT).
    fn check_sending(&self, command: Command) -> Result<(), UsageError> {
        match self.state {
            State::Connected => Ok(()),
            State::Disconnecting if command == Command::Receipt => Ok(()),
            State::Disconnecting => Err(UsageError::AfterDisconnect { command }),
            State::AwaitingConnect | State::AwaitingAccept => {
                Err(UsageError::NotConnected { command })
            }
            State::Closing | State::Closed => Err(UsageError::Closed),
        }
    }

    fn negotiated(&self) -> Version {
        self.version.unwrap_or(Version::V1_0)
    }

    /// Queues ERROR (falling back to a bare one if the reply cannot be encoded, e.g. a
    /// `receipt-id` with a CR in a 1.0 session), then closes once it is handed out.
    fn send_error(&mut self, now: I, reply: &ErrorReply, reason: CloseReason) {
        self.abort_transactions();
        self.core.stop_timers();
        let queued = self.core.queue(now, &reply.frame(true)).is_ok()
            || self.core.queue(now, &reply.frame(false)).is_ok();
        if queued {
            self.state = State::Closing;
            self.close_after_flush = Some(reason);
        } else {
            self.close(reason);
        }
    }

    /// The client broke the protocol: ERROR about it, then close (D-24, H-8, R-11).
    fn fail(&mut self, now: I, err: ConnectionError, receipt: Option<Bytes>) -> ConnectionError {
        self.failed = Some(err.clone());
        let mut reply = ErrorReply::new(err.error_message()).detail(err.to_string());
        reply.receipt_id = receipt;
        if let ConnectionError::NoCommonVersion { supported, .. } = &err {
            // C-9: the versions this server speaks.
            reply = reply.header(VERSION, supported.to_string());
        }
        self.send_error(now, &reply, CloseReason::Failed(err.clone()));
        err
    }

    fn abort_transactions(&mut self) {
        for transaction in core::mem::take(&mut self.transactions) {
            self.events
                .push_back(ServerEvent::TransactionAborted { transaction });
        }
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.core.stop_timers();
        self.close_after_flush = None;
        self.events.push_back(ServerEvent::Closed(reason));
    }

    // ---- input -------------------------------------------------------------------------

    /// Feeds bytes received from the client, in any chunking (F-11).
    ///
    /// Every byte counts as activity at once (B-5), but frames are only buffered here:
    /// [`poll_event`](ServerConnection::poll_event) decodes and applies them one at a time, so
    /// the connection's state (subscriptions, transactions, DISCONNECT) is always the state
    /// after the last event you polled, and answering an event with `receipt` or `message`
    /// works whatever else arrived in the same read (R-3).
    ///
    /// A protocol error in the input therefore surfaces when `poll_event` reaches it: the
    /// events of the frames before it come first, then ERROR is queued and the connection
    /// closes as described on [`ServerConnection`]; [`failure`](ServerConnection::failure)
    /// reports it, and from then on this method returns it and ignores its input, as it does
    /// after DISCONNECT (R-6, D-23). Two errors are returned at once, both bounding memory:
    /// [`ConnectionError::InputBeforeConnected`], more than a frame's worth of bytes while the
    /// CONNECT you have already been given waits for `accept` (D-16), and
    /// [`ConnectionError::InputNotPolled`], input arriving while more than
    /// [`Limits::max_frame`](crate::Limits::max_frame) bytes still wait for `poll_event` (poll
    /// every event after each read and this never happens).
    pub fn handle_input(&mut self, now: I, bytes: &[u8]) -> Result<(), ConnectionError> {
        if !self.take_input(now, bytes.len())? {
            return Ok(());
        }
        self.core.decoder.push(bytes);
        self.check_held(now)
    }

    /// [`handle_input`](ServerConnection::handle_input) for bytes the caller already owns
    /// (frames are slices of them, without a copy).
    pub fn handle_input_bytes(&mut self, now: I, bytes: Bytes) -> Result<(), ConnectionError> {
        if !self.take_input(now, bytes.len())? {
            return Ok(());
        }
        self.core.decoder.push_bytes(bytes);
        self.check_held(now)
    }

    /// Whether input of `len` bytes is to be read; records the activity.
    fn take_input(&mut self, now: I, len: usize) -> Result<bool, ConnectionError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.start(now);
        let reading = matches!(
            self.state,
            State::AwaitingConnect | State::AwaitingAccept | State::Connected
        ) && !self.core.input_closed;
        if reading && len > 0 {
            self.core.note_rx(now);
            if let Some(err) = self.core.unpolled_input() {
                return Err(self.fail(now, err, None));
            }
        }
        Ok(reading && len > 0)
    }

    /// While the CONNECT waits for `accept`, the client should wait for CONNECTED (D-16):
    /// hold at most a frame's worth of bytes.
    fn check_held(&mut self, now: I) -> Result<(), ConnectionError> {
        let buffered = self.core.decoder.buffered();
        if self.state == State::AwaitingAccept && buffered > self.config.limits.max_frame {
            let err = ConnectionError::InputBeforeConnected { buffered };
            return Err(self.fail(now, err, None));
        }
        Ok(())
    }

    /// Records that the client showed life some other way (e.g. a WebSocket ping), which
    /// postpones the heart-beat timeout like received bytes do (D-20).
    pub fn note_activity(&mut self, now: I) {
        if self.state == State::Connected {
            self.core.note_rx(now);
        }
    }

    /// The transport ended (EOF or reset). After DISCONNECT this is a normal close (R-8);
    /// otherwise open transactions are aborted (R-7) and the connection closes with
    /// [`CloseReason::PeerClosed`].
    ///
    /// It takes effect in order with the input: at once unless frames received before it are
    /// still to be reported, else once `poll_event` has reported them.
    pub fn handle_close(&mut self) {
        if self.state != State::Closed {
            self.core.input_closed = true;
            self.settle();
        }
    }

    /// Applies a pending timeout check and end of input at once when no received frame waits
    /// to be reported before them (no bytes in the decoder, or none that will be decoded: after
    /// DISCONNECT or ERROR, or held until `accept`).
    fn settle(&mut self) {
        let decoding = matches!(self.state, State::AwaitingConnect | State::Connected);
        if !decoding || self.core.decoder.buffered() == 0 {
            while self.step() {}
        }
    }

    fn apply_close(&mut self) {
        match self.state {
            State::Closed => {}
            State::Closing => {
                let reason = self
                    .close_after_flush
                    .take()
                    .unwrap_or(CloseReason::PeerClosed);
                self.close(reason);
            }
            State::Disconnecting => self.close(CloseReason::Disconnected),
            _ => {
                self.abort_transactions();
                self.close(CloseReason::PeerClosed);
            }
        }
    }

    /// Runs the timers due at `now`: our own heart-beat (B-4) at once; the client's heart-beat
    /// timeout (B-6) and the connect deadline
    /// ([`connect_timeout`](ServerConfig::connect_timeout)) in order with the input: at once
    /// unless frames received before `now` are still to be reported, else once `poll_event`
    /// has reported them. Calling it early, late or repeatedly is harmless.
    pub fn handle_timeout(&mut self, now: I) {
        if self.state == State::Closed {
            return;
        }
        self.start(now);
        let now = self.core.note_timeout(now);
        if self.state == State::Connected {
            self.core.send_heartbeat_if_due(now);
        }
        self.settle();
    }

    /// The closing timers, checked at `at` (a `handle_timeout` time) after the input received
    /// before it.
    fn run_timers(&mut self, at: I) {
        match self.state {
            State::AwaitingConnect if self.core.timers.expired(Timer::Connect, at) => {
                let timeout = self.config.connect_timeout.unwrap_or_default();
                let _ = self.fail(at, ConnectionError::ConnectTimeout { timeout }, None);
            }
            State::Connected => {
                if let Some(err) = self.core.peer_silent(at) {
                    self.failed = Some(err.clone());
                    self.abort_transactions();
                    self.events.push_back(ServerEvent::HeartbeatTimeout);
                    self.close(CloseReason::Failed(err));
                }
            }
            _ => {}
        }
    }

    /// Decodes and applies the next piece of input: a frame, then (once the buffered frames
    /// are done) a pending timeout check or end of input. Returns whether anything was done.
    fn step(&mut self) -> bool {
        let Some(now) = self.core.latest_seen() else {
            // No call has brought a time yet, hence no input and no timeout.
            if core::mem::take(&mut self.core.input_closed) {
                self.apply_close();
                return true;
            }
            return false;
        };
        match self.state {
            State::AwaitingConnect | State::Connected => match self.core.decoder.next_item() {
                Ok(None) => {}
                Ok(Some(Item::Heartbeat)) => return true,
                Ok(Some(Item::Frame(frame))) => {
                    // C-11: a receipt on CONNECT is ignored.
                    let receipt = match frame.command() {
                        Command::Connect | Command::Stomp => None,
                        _ => frame.headers().get_bytes(RECEIPT),
                    };
                    if let Err(err) = self.on_frame(frame) {
                        self.fail(now, err, receipt);
                    }
                    return true;
                }
                Err(err) => {
                    self.fail(now, err.into(), None);
                    return true;
                }
            },
            _ => {}
        }
        if self.check_held(now).is_err() {
            return true;
        }
        if let Some(at) = self.core.timeout_due.take() {
            self.run_timers(at);
            return true;
        }
        if core::mem::take(&mut self.core.input_closed) {
            self.apply_close();
            return true;
        }
        false
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), ConnectionError> {
        let command = frame.command().clone();
        match (self.state, &command) {
            (State::AwaitingConnect, Command::Connect | Command::Stomp) => self.on_connect(frame),
            (State::AwaitingConnect, _) => Err(ConnectionError::UnexpectedFrame {
                command,
                context: "before CONNECT",
            }),
            _ => self.on_session_frame(frame),
        }
    }

    /// CONNECT or STOMP (C-2..C-9, D-17..D-19).
    fn on_connect(&mut self, frame: Frame) -> Result<(), ConnectionError> {
        let h = frame.headers();
        let accept_version = match h.get(ACCEPT_VERSION) {
            Some(value) => Version::parse_accept_version(value),
            None => VersionSet::EMPTY.with(Version::V1_0),
        };
        let supported = self.config.versions;
        let version =
            supported
                .highest_common(accept_version)
                .ok_or(ConnectionError::NoCommonVersion {
                    offered: accept_version,
                    supported,
                })?;
        if self.config.require_host && !h.contains(HOST) {
            return Err(ConnectionError::MissingHost);
        }
        let heartbeat = match h.get(HEART_BEAT) {
            Some(v) if version != Version::V1_0 => {
                Heartbeat::parse(v).ok_or_else(|| ConnectionError::InvalidHeartbeat {
                    value: shown(v, 64),
                })?
            }
            _ => Heartbeat::NONE,
        };
        // Frames after CONNECT use the version CONNECTED will announce (E-8).
        self.core.decoder.set_version(version);
        // The client is on time; the application's answer is not the client's to wait for.
        self.core.timers.set(Timer::Connect, None);
        self.pending_connect = Some((version, heartbeat));
        self.state = State::AwaitingAccept;
        self.events.push_back(ServerEvent::Connect(ConnectRequest {
            version,
            accept_version,
            host: h.get_bytes(HOST),
            login: h.get_bytes(LOGIN),
            passcode: h.get_bytes(PASSCODE),
            heartbeat,
            frame,
        }));
        Ok(())
    }

    /// A frame of the open session: validate (D-24), update the bookkeeping, report it.
    fn on_session_frame(&mut self, frame: Frame) -> Result<(), ConnectionError> {
        let version = self.negotiated();
        let command = frame.command().clone();
        let h = frame.headers();
        let missing = |header: &'static str| ConnectionError::MissingHeader {
            command: command.clone(),
            header,
        };
        let require = |header: &'static str| h.get_bytes(header).ok_or_else(|| missing(header));
        let receipt = h.get_bytes(RECEIPT);
        let transaction = h.get_bytes(TRANSACTION);
        let open_transaction = || match &transaction {
            Some(tx) if !self.transactions.contains(tx) => {
                Err(ConnectionError::UnknownTransaction {
                    transaction: shown(tx, 64),
                })
            }
            _ => Ok(transaction.clone()),
        };
        let event = match command {
            Command::Send => ServerEvent::Send {
                destination: require(DESTINATION)?,
                transaction: open_transaction()?,
                receipt,
                frame,
            },
            Command::Subscribe => {
                let destination = require(DESTINATION)?;
                let (id, has_id) = match h.get_bytes(ID) {
                    Some(id) => (id, true),
                    None if version == Version::V1_0 => (destination.clone(), false),
                    None => return Err(missing(ID)),
                };
                if self.subscriptions.contains_key(&id) {
                    return Err(ConnectionError::DuplicateSubscription { id: shown(&id, 64) });
                }
                if self.subscriptions.len() >= self.config.max_subscriptions {
                    return Err(ConnectionError::TooManySubscriptions {
                        max: self.config.max_subscriptions,
                    });
                }
                let ack = match h.get(ACK) {
                    None => AckMode::Auto,
                    Some(v) => AckMode::parse(v, version).ok_or_else(|| {
                        ConnectionError::InvalidAckMode {
                            value: shown(v, 64),
                            version,
                        }
                    })?,
                };
                self.subscriptions.insert(
                    id.clone(),
                    Subscription {
                        destination: destination.clone(),
                        ack,
                        has_id,
                        seq: self.next_subscription,
                    },
                );
                self.next_subscription = self.next_subscription.wrapping_add(1);
                ServerEvent::Subscribe {
                    id,
                    destination,
                    ack,
                    receipt,
                    frame,
                }
            }
            Command::Unsubscribe => {
                let id = match h.get_bytes(ID) {
                    Some(id) => id,
                    // S-6: a 1.0 UNSUBSCRIBE may name the destination instead.
                    None if version == Version::V1_0 => {
                        let destination = require(DESTINATION)?;
                        by_destination(&self.subscriptions, destination, |s| {
                            (&s.destination, s.seq)
                        })
                    }
                    None => return Err(missing(ID)),
                };
                let Some(sub) = self.subscriptions.remove(&id) else {
                    return Err(ConnectionError::UnknownSubscription { id: shown(&id, 64) });
                };
                ServerEvent::Unsubscribe {
                    id,
                    destination: sub.destination,
                    receipt,
                    frame,
                }
            }
            Command::Ack | Command::Nack => {
                if command == Command::Nack && version == Version::V1_0 {
                    return Err(ConnectionError::UnexpectedFrame {
                        command,
                        context: "in STOMP 1.0",
                    });
                }
                let (id, subscription) = match version {
                    Version::V1_2 => (require(ID)?, h.get_bytes(SUBSCRIPTION)),
                    Version::V1_1 => (require(MESSAGE_ID)?, Some(require(SUBSCRIPTION)?)),
                    Version::V1_0 => (require(MESSAGE_ID)?, h.get_bytes(SUBSCRIPTION)),
                };
                let transaction = open_transaction()?;
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
            Command::Begin => {
                let transaction = require(TRANSACTION)?;
                if self.transactions.contains(&transaction) {
                    return Err(ConnectionError::DuplicateTransaction {
                        transaction: shown(&transaction, 64),
                    });
                }
                if self.transactions.len() >= self.config.max_transactions {
                    return Err(ConnectionError::TooManyTransactions {
                        max: self.config.max_transactions,
                    });
                }
                self.transactions.insert(transaction.clone());
                ServerEvent::Begin {
                    transaction,
                    receipt,
                }
            }
            Command::Commit | Command::Abort => {
                let transaction = require(TRANSACTION)?;
                if !self.transactions.remove(&transaction) {
                    return Err(ConnectionError::UnknownTransaction {
                        transaction: shown(&transaction, 64),
                    });
                }
                if command == Command::Commit {
                    ServerEvent::Commit {
                        transaction,
                        receipt,
                    }
                } else {
                    ServerEvent::Abort {
                        transaction,
                        receipt,
                    }
                }
            }
            Command::Disconnect => {
                self.abort_transactions();
                self.core.stop_timers();
                self.events.push_back(ServerEvent::Disconnect {
                    receipt: receipt.clone(),
                });
                match receipt {
                    Some(receipt) => {
                        self.state = State::Disconnecting;
                        self.disconnect_receipt = Some(receipt);
                    }
                    None => self.close(CloseReason::Disconnected),
                }
                return Ok(());
            }
            Command::Connect | Command::Stomp => {
                return Err(ConnectionError::UnexpectedFrame {
                    command,
                    context: "after CONNECT",
                })
            }
            _ => {
                return Err(ConnectionError::UnexpectedFrame {
                    command,
                    context: "sent to a server",
                })
            }
        };
        self.events.push_back(event);
        Ok(())
    }

    // ---- output ------------------------------------------------------------------------

    /// The next event, oldest first.
    ///
    /// This is where the input is applied: when no event is waiting, the next buffered frame
    /// is decoded, checked (D-24) and applied to the connection's state, and its event
    /// returned. Then come, in order, a timeout that [`handle_timeout`] found due and the end
    /// of input from [`handle_close`]. So when you handle an event, the connection is in the
    /// state right after that frame: a `receipt` for it, or a `message` for the subscription
    /// it created, is accepted even if the client's next frame (UNSUBSCRIBE, DISCONNECT, a
    /// malformed frame) arrived in the same read.
    ///
    /// [`handle_timeout`]: ServerConnection::handle_timeout
    /// [`handle_close`]: ServerConnection::handle_close
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if !self.step() {
                return None;
            }
        }
    }

    /// All bytes queued for the client, to write in full; `None` when there are none.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let bytes = self.core.take_transmit();
        if bytes.is_some() {
            self.flushed();
        }
        bytes
    }

    /// Moves the queued bytes to the end of `dst` (without a copy when `dst` is empty);
    /// returns how many there were.
    pub fn poll_transmit_into(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.core.transmit_into(dst);
        if n > 0 {
            self.flushed();
        }
        n
    }

    fn flushed(&mut self) {
        if let Some(reason) = self.close_after_flush.take() {
            self.close(reason);
        }
    }

    /// The next deadline: call [`handle_timeout`](ServerConnection::handle_timeout) when it
    /// has passed. `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<I> {
        self.core.timers.next()
    }

    // ---- state -------------------------------------------------------------------------

    /// The negotiated version, once `accept` has sent CONNECTED.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether the session is open (CONNECTED sent, no DISCONNECT or ERROR yet).
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection is over (the `Closed` event has been queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The client's protocol error or heart-beat timeout that ended the connection, if any.
    pub fn failure(&self) -> Option<&ConnectionError> {
        self.failed.as_ref()
    }

    /// Events waiting in the queue. Frames still buffered are not counted: `poll_event`
    /// decodes them one at a time.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Bytes waiting in the transmit queue.
    pub fn pending_transmit(&self) -> usize {
        self.core.pending_transmit()
    }

    /// Received bytes held by the decoder: those fed to `handle_input` whose frames
    /// `poll_event` has not taken out yet, and the unfinished frame (or lone CR) after them.
    /// Once every event is polled, at most [`Limits::max_frame`](crate::Limits::max_frame),
    /// whatever the client sends (D-12). Input fed while it is above `max_frame` fails the
    /// connection ([`ConnectionError::InputNotPolled`]), so it never exceeds `max_frame` plus
    /// one read. It no longer grows once the connection is closed or has failed.
    pub fn buffered_input(&self) -> usize {
        self.core.decoder.buffered()
    }

    /// The destination and ack mode of the client's subscription `id`, if it is active.
    pub fn subscription(&self, id: impl AsRef<[u8]>) -> Option<(&Bytes, AckMode)> {
        self.subscriptions
            .get(id.as_ref())
            .map(|s| (&s.destination, s.ack))
    }

    /// The client's active subscriptions as `(id, destination, ack mode)`, in no particular
    /// order (a broker can collect the ids of one destination, then call `message` for each).
    pub fn subscriptions(&self) -> impl Iterator<Item = (&Bytes, &Bytes, AckMode)> + '_ {
        self.subscriptions
            .iter()
            .map(|(id, s)| (id, &s.destination, s.ack))
    }

    /// Whether `transaction` is open.
    pub fn is_transaction_open(&self, transaction: impl AsRef<[u8]>) -> bool {
        self.transactions.contains(transaction.as_ref())
    }
}
