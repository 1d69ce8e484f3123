//! A client session that outlives its connections: reconnects with backoff, replays its
//! subscriptions, queues what is sent while offline and sends again what a lost connection
//! did not confirm. Sans-IO like the connections: see [`ClientSession`].

mod pending;
mod policy;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::connection::{
    AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectionError,
    FrameOptions, IdBlock, Message, ReceiptRequest, Timestamp, UsageError,
};
use crate::error::shown;
use crate::frame::{Command, Frame};
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::Version;

use pending::{Outgoing, Pending, PendingReceipt};
use policy::Backoff;
pub use policy::ReconnectPolicy;

/// What happens to a SEND that asked for a receipt when its connection is lost before the
/// receipt came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unconfirmed {
    /// Send it again on the next connection, before anything queued while offline:
    /// at-least-once. The broker may then have it twice (it may have processed the first copy
    /// and lost only the receipt); consumers that must not see duplicates deduplicate on a
    /// header of their own (STOMP has no standard one).
    #[default]
    Resend,
    /// Report it as failed ([`ReceiptFailure::ConnectionLost`]) and let the application
    /// decide: at-most-once.
    Fail,
}

/// How a [`ClientSession`] behaves: the connection's settings, the reconnect policy and the
/// bounds of what it keeps.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The CONNECT headers and the settings of each connection.
    pub client: ClientConfig,
    /// When to reconnect.
    pub reconnect: ReconnectPolicy,
    /// How long a receipt may take, from the call that asked for it (offline time included):
    /// past it, [`SessionEvent::ReceiptFailed`] with [`ReceiptFailure::Expired`]. Default 30 s.
    pub receipt_timeout: Duration,
    /// What to do with unconfirmed SENDs when a connection is lost. Default: resend.
    pub unconfirmed: Unconfirmed,
    /// The most SENDs kept while offline. Default 1024.
    pub max_offline_frames: usize,
    /// The most bytes (destinations, bodies, headers) kept while offline. Default 8 MiB.
    pub max_offline_bytes: usize,
    /// The most receipts waiting at once; each unconfirmed SEND is kept until its receipt
    /// comes, so this bounds that memory too. Default 4096.
    pub max_unconfirmed: usize,
}

impl SessionConfig {
    /// Defaults around `client`.
    pub fn new(client: ClientConfig) -> SessionConfig {
        SessionConfig {
            client,
            reconnect: ReconnectPolicy::default(),
            receipt_timeout: Duration::from_secs(30),
            unconfirmed: Unconfirmed::Resend,
            max_offline_frames: 1024,
            max_offline_bytes: Limits::DEFAULT_BODY,
            max_unconfirmed: 4096,
        }
    }

    /// Sets [`reconnect`](SessionConfig::reconnect).
    #[must_use]
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> SessionConfig {
        self.reconnect = policy;
        self
    }

    /// Sets [`receipt_timeout`](SessionConfig::receipt_timeout).
    #[must_use]
    pub fn receipt_timeout(mut self, timeout: Duration) -> SessionConfig {
        self.receipt_timeout = timeout;
        self
    }

    /// Sets [`unconfirmed`](SessionConfig::unconfirmed).
    #[must_use]
    pub fn unconfirmed(mut self, unconfirmed: Unconfirmed) -> SessionConfig {
        self.unconfirmed = unconfirmed;
        self
    }

    /// Sets [`max_offline_frames`](SessionConfig::max_offline_frames) and
    /// [`max_offline_bytes`](SessionConfig::max_offline_bytes).
    #[must_use]
    pub fn max_offline(mut self, frames: usize, bytes: usize) -> SessionConfig {
        self.max_offline_frames = frames;
        self.max_offline_bytes = bytes;
        self
    }

    /// Sets [`max_unconfirmed`](SessionConfig::max_unconfirmed).
    #[must_use]
    pub fn max_unconfirmed(mut self, receipts: usize) -> SessionConfig {
        self.max_unconfirmed = receipts;
        self
    }
}

/// A MESSAGE, with the number of the connection that delivered it: only that connection can
/// acknowledge it (after a reconnect the broker delivers it again).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// [`ClientSession::connection_number`] when it arrived.
    pub connection: u64,
}

impl AsRef<Frame> for Delivery {
    fn as_ref(&self) -> &Frame {
        &self.message.frame
    }
}

/// The negotiated parameters of a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connected {
    /// The negotiated version.
    pub version: Version,
    /// The server's `session` header.
    pub session: Option<String>,
    /// The server's `server` header.
    pub server: Option<String>,
    /// The server's `heart-beat` header.
    pub heartbeat: Heartbeat,
    /// How often this client sends heart-beats.
    pub send_interval: Option<Duration>,
    /// How often the server promised to send.
    pub receive_interval: Option<Duration>,
    /// The attempt that succeeded (1 for the first try after a loss or at start).
    pub attempt: u32,
    /// The connection's number (1, 2, ...): [`Delivery::connection`] refers to it.
    pub connection: u64,
}

/// Why a receipt will not come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptFailure {
    /// [`receipt_timeout`](SessionConfig::receipt_timeout) passed.
    Expired,
    /// The connection was lost first, and the frame is not sent again (it was not a SEND, or
    /// the session's choice is [`Unconfirmed::Fail`]). The broker may or may not have
    /// processed it.
    ConnectionLost,
    /// The server's ERROR named it (R-11): the frame was refused.
    ErrorReceived,
    /// A new connection refused the frame when it was sent again or from the offline queue.
    Refused(UsageError),
    /// The session ended (disconnect, or it gave up) before the frame was confirmed.
    SessionClosed,
}

/// Why a connection of the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The connection closed ([`CloseReason`]: the server's ERROR, a heart-beat timeout, the
    /// transport closing...).
    Closed(CloseReason),
    /// The driver could not open a transport
    /// ([`handle_transport_failed`](ClientSession::handle_transport_failed)).
    TransportFailed,
}

/// What a [`ClientSession`] reports: instructions for the driver (open a transport, close it)
/// and what the application wants to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum SessionEvent {
    /// Driver: open a transport to the broker now, then call
    /// [`handle_transport_opened`](ClientSession::handle_transport_opened) or
    /// [`handle_transport_failed`](ClientSession::handle_transport_failed).
    OpenTransport {
        /// Attempts since the last connection (or the start), this one included: 1 for the
        /// first.
        attempt: u32,
    },
    /// CONNECTED arrived. The subscriptions are replayed, then what waited is sent.
    Connected(Connected),
    /// A MESSAGE.
    Delivery(Delivery),
    /// A receipt asked for through the session arrived (R-2).
    ReceiptConfirmed {
        /// The receipt id.
        receipt_id: Bytes,
    },
    /// A receipt will not come.
    ReceiptFailed {
        /// The receipt id.
        receipt_id: Bytes,
        /// Why.
        reason: ReceiptFailure,
    },
    /// A RECEIPT nobody waits for (one that arrived after it expired, say).
    UnknownReceipt {
        /// The receipt id.
        receipt_id: Bytes,
    },
    /// A frame the session held (a replayed SUBSCRIBE, a queued SEND without receipt) was
    /// refused by the new connection and dropped.
    FrameRefused {
        /// The frame's command.
        command: Command,
        /// Why.
        error: UsageError,
    },
    /// The server sent ERROR (R-9); `Disconnected` follows.
    ErrorReceived {
        /// The `message` header.
        message: Option<String>,
        /// The body.
        body: Bytes,
        /// The whole frame.
        frame: Frame,
    },
    /// A server frame that breaks the protocol but not the connection, dropped (D-24).
    ProtocolViolation {
        /// What is wrong.
        error: ConnectionError,
        /// The dropped frame.
        frame: Frame,
    },
    /// Driver: the connection is over; write what `poll_transmit` still returns, then close
    /// the transport. `ReconnectScheduled` or `GaveUp` follows.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The next attempt will be asked for (`OpenTransport`) after `delay`.
    ReconnectScheduled {
        /// The number the attempt will have.
        attempt: u32,
        /// How long until then.
        delay: Duration,
    },
    /// No further attempt: `max_attempts` failed in a row, or a connection was lost and the
    /// policy does not reconnect. `Closed` follows.
    GaveUp {
        /// Failed attempts since the last connection (0 when a connection was lost).
        attempts: u32,
    },
    /// The session is over (after [`disconnect`](ClientSession::disconnect) or `GaveUp`): the
    /// last event. Write what `poll_transmit` still returns and close the transport.
    Closed,
}

/// Where a [`ClientSession`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// Waiting for the driver to open a transport.
    Opening,
    /// CONNECT is out, CONNECTED has not come.
    Connecting,
    /// Connected.
    Connected,
    /// Waiting to try again.
    Waiting,
    /// DISCONNECT is out.
    Disconnecting,
    /// Over.
    Closed,
}

/// What a [`ClientSession`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is over, or ending ([`disconnect`](ClientSession::disconnect)).
    #[error("the session is closed")]
    Closed,
    /// The frame needs a live connection (ACK, NACK, transactions, and SEND in a
    /// transaction: none of them means anything on a later connection) and there is none,
    /// or what was queued offline is still being sent.
    #[error("{command} needs a live connection, and the session is not connected")]
    Offline {
        /// The refused command.
        command: Command,
    },
    /// The offline queue is full.
    #[error(
        "offline queue full: {frames} frames and {bytes} bytes wait; the limits are \
         {max_frames} frames and {max_bytes} bytes"
    )]
    OfflineQueueFull {
        /// Frames waiting.
        frames: usize,
        /// Their bytes.
        bytes: usize,
        /// `max_offline_frames`.
        max_frames: usize,
        /// `max_offline_bytes`.
        max_bytes: usize,
    },
    /// `max_unconfirmed` receipts are already waiting.
    #[error("{limit} receipts are already waiting, the most allowed")]
    TooManyUnconfirmed {
        /// `max_unconfirmed`.
        limit: usize,
    },
    /// The MESSAGE came on an earlier connection: the broker forgot that delivery with the
    /// connection and sends the message again, so acknowledging it now would at best be
    /// refused (RabbitMQ closes the connection over an unknown delivery).
    #[error("the message came on connection {delivered_on}; the session is on {current}")]
    StaleDelivery {
        /// The delivering connection.
        delivered_on: u64,
        /// The current one.
        current: u64,
    },
    /// `subscribe` with an id the session already has.
    #[error("subscription id \"{id}\" is already in use")]
    DuplicateSubscription {
        /// The id, escaped for display.
        id: String,
    },
    /// `unsubscribe` of an id the session does not have.
    #[error("no subscription \"{id}\"")]
    UnknownSubscription {
        /// The id, escaped for display.
        id: String,
    },
    /// `handle_transport_opened` without an `OpenTransport` waiting for it.
    #[error("no transport was asked for")]
    NoTransportAsked,
    /// The connection refused the frame.
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// A subscription the session replays on every connection.
#[derive(Debug, Clone)]
struct Registered {
    id: Bytes,
    destination: Bytes,
    ack: AckMode,
    /// Extra headers, without the receipt.
    options: FrameOptions,
    /// The receipt its SUBSCRIBE asked for, while it is pending: a replay asks it again.
    receipt: Option<Bytes>,
}

/// The hook's signature: the settings to change and the attempt's number.
type BeforeConnectFn = dyn FnMut(&mut ClientConfig, u32) + Send;

/// The hook run before each attempt.
struct BeforeConnect(Box<BeforeConnectFn>);

impl fmt::Debug for BeforeConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BeforeConnect(..)")
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase<I> {
    Opening,
    Connecting,
    Connected { since: I },
    Waiting { until: I },
    Disconnecting,
    Closed,
}

crate::connection::timed_struct! {
/// A client session that outlives its connections (sans-IO).
///
/// It owns one [`ClientConnection`] at a time and, when that connection is lost, asks for a
/// new transport after the [`ReconnectPolicy`]'s delay. On every new connection it replays
/// the subscriptions, in the order they were made, then sends again the SENDs whose receipts
/// had not come ([`Unconfirmed`]), then what was sent while offline, so that a consumer
/// resubscribes before anything it publishes goes out. Every receipt has a deadline.
///
/// It is driven like a connection: bytes and `now` in (`handle_*`), events, bytes and the
/// next deadline out (`poll_*`), plus two instructions for the driver:
/// [`OpenTransport`](SessionEvent::OpenTransport) (answer with
/// [`handle_transport_opened`](ClientSession::handle_transport_opened) or
/// [`handle_transport_failed`](ClientSession::handle_transport_failed)) and
/// [`Disconnected`](SessionEvent::Disconnected) / [`Closed`](SessionEvent::Closed) (flush,
/// then close the transport).
///
/// ```
/// use std::time::Duration;
/// use stomp_codec::{AckMode, ClientConfig, ClientSession, FrameOptions, SessionConfig,
///     SessionEvent, SessionState};
///
/// let t0 = Duration::ZERO; // any clock: here, time since the start
/// let mut session: ClientSession<Duration> =
///     ClientSession::with_timestamp_type(SessionConfig::new(ClientConfig::new("/")));
/// assert_eq!(session.poll_event(), Some(SessionEvent::OpenTransport { attempt: 1 }));
///
/// // Offline: the subscription is registered, the SEND queued.
/// session.subscribe(t0, "0", "/queue/a", AckMode::Auto, FrameOptions::new())?;
/// session.send(t0, "/queue/a", "hello", FrameOptions::new().receipt())?;
///
/// // The driver opened a TCP connection: CONNECT goes out.
/// session.handle_transport_opened(t0)?;
/// let connect = session.poll_transmit().unwrap();
/// assert!(connect.starts_with(b"CONNECT\n"));
///
/// // CONNECTED arrives: SUBSCRIBE, then the SEND.
/// session.handle_input(t0, b"CONNECTED\nversion:1.2\n\n\0");
/// assert!(matches!(session.poll_event(), Some(SessionEvent::Connected(_))));
/// assert_eq!(session.state(), SessionState::Connected);
/// let out = session.poll_transmit().unwrap();
/// assert!(out.starts_with(b"SUBSCRIBE\n"));
/// # Ok::<(), stomp_codec::SessionError>(())
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    before_connect: Option<BeforeConnect>,
    backoff: Backoff,
    phase: Phase<I>,
    conn: Option<ClientConnection<I>>,
    /// Number of the current (or last) connection; 0 before the first.
    connection: u64,
    /// The latest `now` seen: `poll_*` calls take none.
    now: Option<I>,
    subscriptions: Vec<Registered>,
    outbox: VecDeque<Outgoing>,
    outbox_bytes: usize,
    pending: Pending<I>,
    next_receipt: u64,
    /// Where the generated receipt ids are cut from.
    receipt_ids: IdBlock,
    /// The destination of the last SEND kept (for a receipt, or offline): the next one to
    /// the same destination shares it instead of copying it again.
    last_destination: Bytes,
    next_seq: u64,
    /// The DISCONNECT's receipt: its confirmation is the connection's business.
    disconnect_receipt: Option<Bytes>,
    events: VecDeque<SessionEvent>,
}
}

#[cfg(feature = "std")]
impl ClientSession<std::time::Instant> {
    /// A session on `std::time::Instant`. Its first event is
    /// [`OpenTransport`](SessionEvent::OpenTransport).
    pub fn new(config: SessionConfig) -> ClientSession {
        ClientSession::with_timestamp_type(config)
    }
}

impl<I: Timestamp> ClientSession<I> {
    /// A session on any [`Timestamp`] type. Its first event is
    /// [`OpenTransport`](SessionEvent::OpenTransport).
    pub fn with_timestamp_type(config: SessionConfig) -> ClientSession<I> {
        let mut events = VecDeque::new();
        events.push_back(SessionEvent::OpenTransport { attempt: 1 });
        ClientSession {
            backoff: Backoff::new(config.reconnect.clone()),
            config,
            before_connect: None,
            phase: Phase::Opening,
            conn: None,
            connection: 0,
            now: None,
            subscriptions: Vec::new(),
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            pending: Pending::new(),
            next_receipt: 1,
            receipt_ids: IdBlock::default(),
            last_destination: Bytes::new(),
            next_seq: 0,
            disconnect_receipt: None,
            events,
        }
    }

    /// Runs `hook` before each attempt, with the connection settings (change the login or
    /// passcode to refresh credentials) and the attempt's number. Changes persist.
    pub fn set_before_connect(
        &mut self,
        hook: impl FnMut(&mut ClientConfig, u32) + Send + 'static,
    ) {
        self.before_connect = Some(BeforeConnect(Box::new(hook)));
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The connection settings, to change before the next attempt.
    pub fn client_config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config.client
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        match self.phase {
            Phase::Opening => SessionState::Opening,
            Phase::Connecting => SessionState::Connecting,
            Phase::Connected { .. } => SessionState::Connected,
            Phase::Waiting { .. } => SessionState::Waiting,
            Phase::Disconnecting => SessionState::Disconnecting,
            Phase::Closed => SessionState::Closed,
        }
    }

    /// Whether a connection is up (CONNECTED received, not lost).
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The number of the current (or last) connection: 1 for the first, 0 before it.
    pub fn connection_number(&self) -> u64 {
        self.connection
    }

    /// The current connection, while there is one (its version, its counters).
    pub fn connection(&self) -> Option<&ClientConnection<I>> {
        self.conn.as_ref()
    }

    /// The registered subscriptions, in the order they are replayed: (id, destination, ack).
    pub fn subscriptions(&self) -> impl Iterator<Item = (&Bytes, &Bytes, AckMode)> + '_ {
        self.subscriptions
            .iter()
            .map(|s| (&s.id, &s.destination, s.ack))
    }

    /// Receipts waiting.
    pub fn pending_receipts(&self) -> usize {
        self.pending.len()
    }

    /// Bytes waiting for the wire on the current connection (see
    /// [`pending_transmit`](crate::Connection::pending_transmit)).
    pub fn pending_transmit(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.pending_transmit())
    }

    /// SENDs waiting for a connection, and their bytes.
    pub fn offline_queued(&self) -> (usize, usize) {
        (self.outbox.len(), self.outbox_bytes)
    }

    // ---- the driver's side -------------------------------------------------------------

    /// The transport asked for by `OpenTransport` is open: CONNECT is queued (after the
    /// `before_connect` hook).
    pub fn handle_transport_opened(&mut self, now: I) -> Result<(), SessionError> {
        let now = self.tick(now);
        if !matches!(self.phase, Phase::Opening) {
            return Err(SessionError::NoTransportAsked);
        }
        let attempt = self.backoff.next_attempt();
        if let Some(hook) = &mut self.before_connect {
            (hook.0)(&mut self.config.client, attempt);
        }
        let mut conn = ClientConnection::with_timestamp_type(self.config.client.clone());
        self.connection += 1;
        match conn.connect(now) {
            Ok(()) => {
                self.conn = Some(conn);
                self.phase = Phase::Connecting;
            }
            Err(error) => {
                // A config that cannot connect (no version offered, a receipt among its
                // headers) will not get better by waiting.
                self.conn = None;
                self.events.push_back(SessionEvent::FrameRefused {
                    command: Command::Connect,
                    error,
                });
                self.close();
            }
        }
        Ok(())
    }

    /// Stops trying: for a failure waiting will not cure (a certificate that is not trusted,
    /// a URL that is wrong). Reports `GaveUp`, fails what is pending and ends the session
    /// (`Closed`); a live connection is abandoned, not disconnected.
    pub fn give_up(&mut self, now: I) {
        self.tick(now);
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        let attempts = match self.phase {
            Phase::Opening | Phase::Connecting => self.backoff.attempts().saturating_add(1),
            _ => self.backoff.attempts(),
        };
        self.events.push_back(SessionEvent::GaveUp { attempts });
        self.close();
    }

    /// Opening the transport asked for by `OpenTransport` failed: counts as a failed attempt.
    pub fn handle_transport_failed(&mut self, now: I) {
        let now = self.tick(now);
        if matches!(self.phase, Phase::Opening) {
            self.lost(now, DisconnectReason::TransportFailed);
        }
    }

    /// Bytes read from the transport (copied when kept).
    pub fn handle_input(&mut self, now: I, bytes: &[u8]) {
        let now = self.tick(now);
        if let Some(conn) = self.live_conn() {
            conn.handle_input(now, bytes);
            self.absorb(now);
        }
    }

    /// Bytes read from the transport, kept without a copy.
    pub fn handle_input_bytes(&mut self, now: I, bytes: Bytes) {
        let now = self.tick(now);
        if let Some(conn) = self.live_conn() {
            conn.handle_input_bytes(now, bytes);
            self.absorb(now);
        }
    }

    /// Life on the transport that carries no STOMP bytes (a WebSocket ping).
    pub fn note_activity(&mut self, now: I) {
        let now = self.tick(now);
        if let Some(conn) = self.live_conn() {
            conn.note_activity(now);
        }
    }

    /// The transport ended (EOF or error).
    pub fn handle_close(&mut self, now: I) {
        let now = self.tick(now);
        if let Some(conn) = self.live_conn() {
            conn.handle_close();
            self.absorb(now);
        }
    }

    /// Time passed: heart-beats, receipt deadlines, the next attempt.
    pub fn handle_timeout(&mut self, now: I) {
        let now = self.tick(now);
        if let Some(conn) = self.live_conn() {
            conn.handle_timeout(now);
            self.absorb(now);
        }
        for (receipt_id, receipt) in self.pending.take_expired(now) {
            if receipt.sent_on.is_none() {
                self.forget_queued(&receipt_id);
            }
            self.events.push_back(SessionEvent::ReceiptFailed {
                receipt_id,
                reason: ReceiptFailure::Expired,
            });
        }
        if let Phase::Waiting { until } = self.phase {
            if now >= until {
                self.phase = Phase::Opening;
                let attempt = self.backoff.next_attempt();
                self.events
                    .push_back(SessionEvent::OpenTransport { attempt });
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The next bytes to write, as one buffer.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let bytes = self.conn.as_mut()?.poll_transmit();
        self.after_transmit();
        bytes
    }

    /// Appends the bytes to write to `dst`; returns how many.
    pub fn poll_transmit_into(&mut self, dst: &mut BytesMut) -> usize {
        let n = self
            .conn
            .as_mut()
            .map_or(0, |conn| conn.poll_transmit_into(dst));
        self.after_transmit();
        n
    }

    /// When to call [`handle_timeout`](ClientSession::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<I> {
        let conn = match self.phase {
            Phase::Connecting | Phase::Connected { .. } | Phase::Disconnecting => {
                self.conn.as_ref().and_then(|c| c.poll_timeout())
            }
            _ => None,
        };
        let waiting = match self.phase {
            Phase::Waiting { until } => Some(until),
            _ => None,
        };
        [conn, waiting, self.pending.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    // ---- the application's side --------------------------------------------------------

    /// Sends `body` to `destination` (S-3), or queues it until connected. With
    /// [`FrameOptions::receipt`] the session asks a receipt whose id it returns, and follows
    /// it: `ReceiptConfirmed`, or `ReceiptFailed` past the deadline; if the connection is lost
    /// first, the SEND goes out again on the next one ([`Unconfirmed`]).
    ///
    /// A SEND in a transaction needs a live connection ([`SessionError::Offline`]).
    pub fn send(
        &mut self,
        now: I,
        destination: impl AsRef<[u8]>,
        body: impl Into<Bytes>,
        mut options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        if options.transaction.is_some() && !self.ready() {
            return Err(SessionError::Offline {
                command: Command::Send,
            });
        }
        let receipt = self.take_receipt(&mut options)?;
        let (destination, body) = (destination.as_ref(), body.into());
        if receipt.is_none() && self.ready() {
            // Nothing to keep: straight to the connection.
            let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
            conn.send(now, destination, body, options)?;
            return Ok(None);
        }
        self.next_seq += 1;
        let outgoing = Outgoing {
            seq: self.next_seq,
            destination: self.kept_destination(destination),
            body,
            options,
            receipt: receipt.clone(),
        };
        let sent_on = if self.ready() {
            let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
            conn.send_with_options(now, destination, outgoing.body.clone(), &outgoing.options)?;
            Some(self.connection)
        } else {
            let size = outgoing.size();
            if self.outbox.len() >= self.config.max_offline_frames
                || self.outbox_bytes.saturating_add(size) > self.config.max_offline_bytes
            {
                return Err(SessionError::OfflineQueueFull {
                    frames: self.outbox.len(),
                    bytes: self.outbox_bytes,
                    max_frames: self.config.max_offline_frames,
                    max_bytes: self.config.max_offline_bytes,
                });
            }
            self.outbox_bytes += size;
            self.outbox.push_back(outgoing.clone());
            None
        };
        if let Some(id) = &receipt {
            self.track(now, id.clone(), Command::Send, sent_on, Some(outgoing));
        }
        Ok(receipt)
    }

    /// Subscribes (S-4, S-5) now if connected, and again on every later connection, in the
    /// order of the calls. Offline, it only registers. A receipt asked for is followed like
    /// a SEND's, and asked again by a replay while it is pending.
    pub fn subscribe(
        &mut self,
        now: I,
        id: impl AsRef<[u8]>,
        destination: impl AsRef<[u8]>,
        ack: AckMode,
        mut options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        let id = id.as_ref();
        if self.subscriptions.iter().any(|s| s.id == id) {
            return Err(SessionError::DuplicateSubscription { id: shown(id, 64) });
        }
        let receipt = self.take_receipt(&mut options)?;
        let mut registered = Registered {
            id: Bytes::copy_from_slice(id),
            destination: Bytes::copy_from_slice(destination.as_ref()),
            ack,
            options,
            receipt: receipt.clone(),
        };
        let sent_on = if self.is_connected() {
            let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
            conn.subscribe(
                now,
                id,
                &registered.destination,
                ack,
                registered.options.clone(),
            )?;
            Some(self.connection)
        } else {
            None
        };
        // Replays ask the receipt through `receipt`, not through the options.
        registered.options.receipt = ReceiptRequest::None;
        self.subscriptions.push(registered);
        if let Some(receipt_id) = &receipt {
            self.track(now, receipt_id.clone(), Command::Subscribe, sent_on, None);
        }
        Ok(receipt)
    }

    /// Ends the subscription `id`: UNSUBSCRIBE now if connected (S-6), and no replay later.
    /// Offline, nothing needs sending: the next connection will not have it.
    pub fn unsubscribe(
        &mut self,
        now: I,
        id: impl AsRef<[u8]>,
        mut options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        let id = id.as_ref();
        let index = self
            .subscriptions
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| SessionError::UnknownSubscription { id: shown(id, 64) })?;
        let mut receipt = None;
        if self.is_connected() {
            receipt = self.take_receipt(&mut options)?;
            let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
            conn.unsubscribe(now, id, options)?;
            if let Some(receipt_id) = &receipt {
                let sent_on = Some(self.connection);
                self.track(now, receipt_id.clone(), Command::Unsubscribe, sent_on, None);
            }
        }
        let removed = self.subscriptions.remove(index);
        if let Some(receipt_id) = removed.receipt {
            // Its SUBSCRIBE's receipt no longer matters.
            self.pending.remove(&receipt_id);
        }
        Ok(receipt)
    }

    /// Acknowledges a delivery (S-7..S-9) on the connection that delivered it.
    pub fn ack(
        &mut self,
        now: I,
        delivery: &Delivery,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        self.acknowledge(now, Command::Ack, delivery, options)
    }

    /// Refuses a delivery (1.1+, S-10) on the connection that delivered it.
    pub fn nack(
        &mut self,
        now: I,
        delivery: &Delivery,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        self.acknowledge(now, Command::Nack, delivery, options)
    }

    /// BEGIN (S-11). Transactions live and die with their connection: after a loss, COMMIT
    /// is refused by the new connection and the broker has rolled the transaction back (R-7).
    pub fn begin(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        self.transaction_frame(now, Command::Begin, transaction.as_ref(), options)
    }

    /// COMMIT (S-11).
    pub fn commit(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        self.transaction_frame(now, Command::Commit, transaction.as_ref(), options)
    }

    /// ABORT (S-11).
    pub fn abort(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        self.transaction_frame(now, Command::Abort, transaction.as_ref(), options)
    }

    /// Ends the session. Connected: DISCONNECT with a receipt (R-5), and `Closed` once it is
    /// confirmed (or after the config's `disconnect_timeout`). Otherwise `Closed` at once.
    /// Receipts still pending then fail with [`ReceiptFailure::SessionClosed`].
    pub fn disconnect(&mut self, now: I) -> Result<(), SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        if self.is_connected() {
            let id = self.fresh_receipt_id();
            let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
            conn.disconnect(now, FrameOptions::new().receipt_id(&id))?;
            self.disconnect_receipt = Some(id);
            self.phase = Phase::Disconnecting;
        } else {
            self.close();
        }
        Ok(())
    }

    // ---- inside ------------------------------------------------------------------------

    /// Keeps the latest `now`: a clock that steps back changes nothing.
    fn tick(&mut self, now: I) -> I {
        let now = self.now.map_or(now, |seen| seen.max(now));
        self.now = Some(now);
        now
    }

    fn live_conn(&mut self) -> Option<&mut ClientConnection<I>> {
        match self.phase {
            Phase::Connecting | Phase::Connected { .. } | Phase::Disconnecting => {
                self.conn.as_mut()
            }
            _ => None,
        }
    }

    fn check_open(&self) -> Result<(), SessionError> {
        match self.phase {
            Phase::Disconnecting | Phase::Closed => Err(SessionError::Closed),
            _ => Ok(()),
        }
    }

    /// Connected, and nothing from the offline queue still waiting to go before new frames.
    fn ready(&self) -> bool {
        self.is_connected() && self.outbox.is_empty()
    }

    fn fresh_receipt_id(&mut self) -> Bytes {
        while self.pending.contains_number(self.next_receipt) {
            self.next_receipt = self.next_receipt.saturating_add(1);
        }
        let id = self.receipt_ids.id(self.next_receipt);
        self.next_receipt = self.next_receipt.saturating_add(1);
        id
    }

    /// `destination` as `Bytes` to keep: the last one kept when it is the same.
    fn kept_destination(&mut self, destination: &[u8]) -> Bytes {
        if self.last_destination != destination {
            self.last_destination = Bytes::copy_from_slice(destination);
        }
        self.last_destination.clone()
    }

    /// Turns the options' receipt request into a session-wide id, checked against the
    /// pending ones and the bound.
    fn take_receipt(&mut self, options: &mut FrameOptions) -> Result<Option<Bytes>, SessionError> {
        let id = match &options.receipt {
            ReceiptRequest::None => return Ok(None),
            ReceiptRequest::Generated => self.fresh_receipt_id(),
            ReceiptRequest::Id(id) => {
                if self.pending.contains(id) {
                    return Err(UsageError::DuplicateReceipt {
                        receipt_id: shown(id, 64),
                    }
                    .into());
                }
                id.clone()
            }
        };
        if self.pending.len() >= self.config.max_unconfirmed {
            return Err(SessionError::TooManyUnconfirmed {
                limit: self.config.max_unconfirmed,
            });
        }
        options.receipt = ReceiptRequest::Id(id.clone());
        Ok(Some(id))
    }

    #[inline]
    fn track(
        &mut self,
        now: I,
        id: Bytes,
        command: Command,
        sent_on: Option<u64>,
        send: Option<Outgoing>,
    ) {
        let deadline = now.saturating_add(self.config.receipt_timeout);
        let send = send.filter(|_| self.config.unconfirmed == Unconfirmed::Resend);
        self.pending.insert(
            id,
            PendingReceipt {
                command,
                deadline,
                sent_on,
                send,
            },
        );
    }

    fn acknowledge(
        &mut self,
        now: I,
        command: Command,
        delivery: &Delivery,
        mut options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        if delivery.connection != self.connection || !self.is_connected() {
            return Err(SessionError::StaleDelivery {
                delivered_on: delivery.connection,
                current: self.connection,
            });
        }
        let receipt = self.take_receipt(&mut options)?;
        let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
        if command == Command::Ack {
            conn.ack(now, &delivery.message, options)?;
        } else {
            conn.nack(now, &delivery.message, options)?;
        }
        if let Some(id) = &receipt {
            self.track(now, id.clone(), command, Some(self.connection), None);
        }
        Ok(receipt)
    }

    fn transaction_frame(
        &mut self,
        now: I,
        command: Command,
        transaction: &[u8],
        mut options: FrameOptions,
    ) -> Result<Option<Bytes>, SessionError> {
        let now = self.tick(now);
        self.check_open()?;
        if !self.ready() {
            return Err(SessionError::Offline { command });
        }
        let receipt = self.take_receipt(&mut options)?;
        let conn = self.conn.as_mut().ok_or(SessionError::Closed)?;
        match command {
            Command::Begin => conn.begin(now, transaction, options)?,
            Command::Commit => conn.commit(now, transaction, options)?,
            _ => conn.abort(now, transaction, options)?,
        };
        if let Some(id) = &receipt {
            self.track(now, id.clone(), command, Some(self.connection), None);
        }
        Ok(receipt)
    }

    /// Takes the connection's events into the session's.
    fn absorb(&mut self, now: I) {
        while let Some(event) = self.conn.as_mut().and_then(|c| c.poll_event()) {
            match event {
                ClientEvent::Connected {
                    version,
                    session,
                    server,
                    heartbeat,
                    send_interval,
                    receive_interval,
                } => {
                    let attempt = self.backoff.next_attempt();
                    self.backoff.connected();
                    self.phase = Phase::Connected { since: now };
                    self.events.push_back(SessionEvent::Connected(Connected {
                        version,
                        session,
                        server,
                        heartbeat,
                        send_interval,
                        receive_interval,
                        attempt,
                        connection: self.connection,
                    }));
                    self.replay(now);
                }
                ClientEvent::Message(message) => {
                    self.events.push_back(SessionEvent::Delivery(Delivery {
                        message,
                        connection: self.connection,
                    }));
                }
                ClientEvent::ReceiptConfirmed { receipt_id }
                | ClientEvent::UnknownReceipt { receipt_id } => self.confirmed(receipt_id),
                ClientEvent::ErrorReceived {
                    message,
                    body,
                    receipt_id,
                    frame,
                } => {
                    if let Some(id) = receipt_id {
                        if self.pending.remove(&id) {
                            self.forget_queued(&id);
                            self.clear_subscription_receipt(&id);
                            self.events.push_back(SessionEvent::ReceiptFailed {
                                receipt_id: id,
                                reason: ReceiptFailure::ErrorReceived,
                            });
                        }
                    }
                    self.events.push_back(SessionEvent::ErrorReceived {
                        message,
                        body,
                        frame,
                    });
                }
                ClientEvent::ProtocolViolation { error, frame } => {
                    self.events
                        .push_back(SessionEvent::ProtocolViolation { error, frame });
                }
                ClientEvent::Closed(reason) => {
                    if matches!(self.phase, Phase::Disconnecting) {
                        self.close();
                    } else {
                        self.lost(now, DisconnectReason::Closed(reason));
                    }
                }
                // The Closed that follows says it.
                ClientEvent::HeartbeatTimeout => {}
                // A future event of the connection: nothing the session follows.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }

    fn confirmed(&mut self, receipt_id: Bytes) {
        if self.disconnect_receipt.as_ref() == Some(&receipt_id) {
            return;
        }
        if self.pending.remove(&receipt_id) {
            self.clear_subscription_receipt(&receipt_id);
            self.events
                .push_back(SessionEvent::ReceiptConfirmed { receipt_id });
        } else {
            self.events
                .push_back(SessionEvent::UnknownReceipt { receipt_id });
        }
    }

    fn clear_subscription_receipt(&mut self, receipt_id: &Bytes) {
        for sub in &mut self.subscriptions {
            if sub.receipt.as_ref() == Some(receipt_id) {
                sub.receipt = None;
            }
        }
    }

    /// Drops a SEND from the offline queue (its receipt failed before it went out).
    fn forget_queued(&mut self, receipt_id: &Bytes) {
        if let Some(index) = self
            .outbox
            .iter()
            .position(|o| o.receipt.as_ref() == Some(receipt_id))
        {
            if let Some(gone) = self.outbox.remove(index) {
                self.outbox_bytes -= gone.size();
            }
        }
    }

    /// On a new connection: the subscriptions, in order, then the offline queue (which the
    /// loss filled with the unconfirmed SENDs first).
    fn replay(&mut self, now: I) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut refused = Vec::new();
        for sub in &self.subscriptions {
            let mut options = sub.options.clone();
            if let Some(receipt) = &sub.receipt {
                options.receipt = ReceiptRequest::Id(receipt.clone());
            }
            match conn.subscribe(now, &sub.id, &sub.destination, sub.ack, options) {
                Ok(_) => {
                    if let Some(p) = sub.receipt.as_ref().and_then(|r| self.pending.get_mut(r)) {
                        p.sent_on = Some(self.connection);
                    }
                }
                Err(error) => refused.push((sub.id.clone(), sub.receipt.clone(), error)),
            }
        }
        for (id, receipt, error) in refused {
            self.subscriptions.retain(|s| s.id != id);
            self.refused(Command::Subscribe, receipt, error);
        }
        self.flush_outbox(now);
    }

    fn refused(&mut self, command: Command, receipt: Option<Bytes>, error: UsageError) {
        match receipt {
            Some(receipt_id) => {
                self.pending.remove(&receipt_id);
                self.events.push_back(SessionEvent::ReceiptFailed {
                    receipt_id,
                    reason: ReceiptFailure::Refused(error),
                });
            }
            None => self
                .events
                .push_back(SessionEvent::FrameRefused { command, error }),
        }
    }

    /// Sends what waits, in order, as far as the connection's output limit lets it.
    fn flush_outbox(&mut self, now: I) {
        while self.is_connected() {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let Some(next) = self.outbox.front() else {
                return;
            };
            let sent =
                conn.send_with_options(now, &next.destination, next.body.clone(), &next.options);
            if matches!(sent, Err(UsageError::OutputFull { .. })) {
                return; // more once poll_transmit has drained some
            }
            let Some(next) = self.outbox.pop_front() else {
                return;
            };
            self.outbox_bytes -= next.size();
            match sent {
                Ok(_) => {
                    let connection = self.connection;
                    if let Some(p) = next.receipt.as_ref().and_then(|r| self.pending.get_mut(r)) {
                        p.sent_on = Some(connection);
                    }
                }
                Err(error) => self.refused(Command::Send, next.receipt, error),
            }
        }
    }

    fn after_transmit(&mut self) {
        if !self.outbox.is_empty() {
            if let Some(now) = self.now {
                self.flush_outbox(now);
            }
        }
        // DISCONNECT handed out, or a connection that closed on flushing.
        if let Some(now) = self.now {
            if self.live_conn().is_some() {
                self.absorb(now);
            }
        }
    }

    /// The connection (or the attempt) is lost: settle its receipts, then wait or give up.
    fn lost(&mut self, now: I, reason: DisconnectReason) {
        let delay = match self.phase {
            Phase::Connected { since } => self
                .backoff
                .connection_lost(now.saturating_duration_since(since)),
            _ => self.backoff.attempt_failed(),
        };
        self.settle_unconfirmed();
        self.events.push_back(SessionEvent::Disconnected { reason });
        match delay {
            Some(delay) => {
                self.phase = Phase::Waiting {
                    until: now.saturating_add(delay),
                };
                self.events.push_back(SessionEvent::ReconnectScheduled {
                    attempt: self.backoff.next_attempt(),
                    delay,
                });
            }
            None => {
                self.events.push_back(SessionEvent::GaveUp {
                    attempts: self.backoff.attempts(),
                });
                self.close();
            }
        }
    }

    /// What the lost connection had not confirmed: SENDs to send again go to the front of
    /// the offline queue in their first order; SUBSCRIBE receipts ride on the replay; the rest
    /// fail.
    fn settle_unconfirmed(&mut self) {
        let lost = self.connection;
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        for (id, receipt) in self.pending.iter_mut() {
            if receipt.sent_on != Some(lost) {
                continue;
            }
            match (&receipt.send, &receipt.command) {
                (Some(send), _) => {
                    receipt.sent_on = None;
                    resend.push(send.clone());
                }
                (None, Command::Subscribe) => receipt.sent_on = None,
                _ => failed.push(id.clone()),
            }
        }
        for receipt_id in failed {
            self.pending.remove(&receipt_id);
            self.events.push_back(SessionEvent::ReceiptFailed {
                receipt_id,
                reason: ReceiptFailure::ConnectionLost,
            });
        }
        resend.sort_by_key(|o| o.seq);
        for outgoing in resend.into_iter().rev() {
            self.outbox_bytes += outgoing.size();
            self.outbox.push_front(outgoing);
        }
    }

    /// The end: every pending receipt fails, the offline queue is dropped.
    fn close(&mut self) {
        self.phase = Phase::Closed;
        for (receipt_id, _) in self.pending.drain() {
            self.events.push_back(SessionEvent::ReceiptFailed {
                receipt_id,
                reason: ReceiptFailure::SessionClosed,
            });
        }
        self.outbox.clear();
        self.outbox_bytes = 0;
        self.events.push_back(SessionEvent::Closed);
    }
}
