//! The client role: [`ClientConnection`] and its [`ClientConfig`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
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
use super::receipts::Receipts;
use super::{
    by_destination, interval, timed_struct, AckMode, ClientEvent, CloseReason, Core, FrameOptions,
    Message, ReceiptRequest, Timer, Timestamp, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DISCONNECT_TIMEOUT,
    DEFAULT_HEARTBEAT,
};

/// How a [`ClientConnection`] connects: the CONNECT headers and the connection's own settings.
///
/// Build it by chaining setters on [`ClientConfig::new`]:
///
/// ```
/// use std::time::Duration;
/// use stomp_codec::{ClientConfig, Heartbeat};
/// let config = ClientConfig::new("/")
///     .login("guest")
///     .passcode("guest")
///     .heartbeat(Heartbeat::new(5_000, 5_000))
///     .heartbeat_grace(Duration::from_secs(2));
/// assert_eq!(config.host, "/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `host` header: the virtual host wanted (C-4). RabbitMQ wants its vhost, usually `/`.
    pub host: String,
    /// The `login` header (C-5). Default: none.
    pub login: Option<String>,
    /// The `passcode` header (C-5). Default: none.
    pub passcode: Option<String>,
    /// The versions offered in `accept-version` (C-3). Default: 1.0, 1.1 and 1.2.
    pub versions: VersionSet,
    /// The `heart-beat` offered (B-1): `send_ms` is how often this client can send, `receive_ms`
    /// how often it wants to hear from the server. Default `10000,10000` (D-19).
    pub heartbeat: Heartbeat,
    /// Send STOMP instead of CONNECT (C-2). Default false: CONNECT is understood by 1.0
    /// servers too.
    pub stomp_command: bool,
    /// Extra CONNECT headers, written after the standard ones (e.g. `client-id`).
    pub headers: Vec<(String, String)>,
    /// Silence tolerated beyond the server's heart-beat interval before the server is declared
    /// dead (B-6, D-20). Default `None`: the interval itself, i.e. 2n in total, as stompjs and
    /// ActiveMQ Artemis allow: the peer's own timer fires only after n, and networks and
    /// schedulers add delay, so a strict n drops healthy connections.
    pub heartbeat_grace: Option<Duration>,
    /// How long to wait for the RECEIPT of DISCONNECT (D-22). Default 15 s. A duration too
    /// large for the clock type (e.g. `Duration::MAX`) is clamped to the latest point it can
    /// represent, which in practice means waiting until the server answers or closes.
    pub disconnect_timeout: Duration,
    /// How long to wait for CONNECTED (or ERROR) after CONNECT is queued; when it has not
    /// arrived in time the connection fails with [`ConnectionError::ConnectTimeout`], so a
    /// server that accepts the transport but never answers is not waited for forever.
    /// Default 10 s ([`DEFAULT_CONNECT_TIMEOUT`](super::DEFAULT_CONNECT_TIMEOUT)); `None`
    /// waits without limit.
    pub connect_timeout: Option<Duration>,
    /// Decoder limits for frames from the server (D-12).
    pub limits: Limits,
}

impl ClientConfig {
    /// Defaults for connecting to virtual host `host` (C-4).
    pub fn new(host: impl Into<String>) -> ClientConfig {
        ClientConfig {
            host: host.into(),
            login: None,
            passcode: None,
            versions: VersionSet::ALL,
            heartbeat: DEFAULT_HEARTBEAT,
            stomp_command: false,
            headers: Vec::new(),
            heartbeat_grace: None,
            disconnect_timeout: DEFAULT_DISCONNECT_TIMEOUT,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            limits: Limits::default(),
        }
    }

    /// Sets [`login`](ClientConfig::login).
    #[must_use]
    pub fn login(mut self, login: impl Into<String>) -> ClientConfig {
        self.login = Some(login.into());
        self
    }

    /// Sets [`passcode`](ClientConfig::passcode).
    #[must_use]
    pub fn passcode(mut self, passcode: impl Into<String>) -> ClientConfig {
        self.passcode = Some(passcode.into());
        self
    }

    /// Sets [`versions`](ClientConfig::versions).
    #[must_use]
    pub fn versions(mut self, versions: VersionSet) -> ClientConfig {
        self.versions = versions;
        self
    }

    /// Sets [`heartbeat`](ClientConfig::heartbeat).
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> ClientConfig {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets [`stomp_command`](ClientConfig::stomp_command).
    #[must_use]
    pub fn stomp_command(mut self, stomp: bool) -> ClientConfig {
        self.stomp_command = stomp;
        self
    }

    /// Appends an extra CONNECT header (see [`headers`](ClientConfig::headers)).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientConfig {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`heartbeat_grace`](ClientConfig::heartbeat_grace).
    #[must_use]
    pub fn heartbeat_grace(mut self, grace: Duration) -> ClientConfig {
        self.heartbeat_grace = Some(grace);
        self
    }

    /// Sets [`disconnect_timeout`](ClientConfig::disconnect_timeout).
    #[must_use]
    pub fn disconnect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.disconnect_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](ClientConfig::connect_timeout); `None` disables it.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`limits`](ClientConfig::limits).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> ClientConfig {
        self.limits = limits;
        self
    }

    /// The CONNECT (or STOMP) frame this configuration describes.
    fn connect_frame(&self) -> Frame {
        let command = if self.stomp_command {
            Command::Stomp
        } else {
            Command::Connect
        };
        let mut b = Frame::builder(command)
            .header(ACCEPT_VERSION, self.versions.to_string())
            .header(HOST, &self.host);
        if let Some(login) = &self.login {
            b = b.header(LOGIN, login);
        }
        if let Some(passcode) = &self.passcode {
            b = b.header(PASSCODE, passcode);
        }
        if self.versions.iter().any(|v| v != Version::V1_0) {
            b = b.header(HEART_BEAT, self.heartbeat.to_string());
        }
        b.headers(self.headers.iter().map(|(n, v)| (n, v))).build()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Connected,
    Disconnecting,
    Closed,
}

/// What the client knows of one of its subscriptions (S-4).
#[derive(Debug, Clone)]
struct Subscription {
    destination: Bytes,
    ack: AckMode,
    /// Order of creation, for a 1.0 UNSUBSCRIBE by destination (oldest first).
    seq: u64,
}

/// What a validated outgoing frame changes once it is queued.
enum Effect {
    None,
    Connect {
        offered: VersionSet,
        heartbeat: Heartbeat,
    },
    Subscribe {
        key: Bytes,
        sub: Subscription,
    },
    Unsubscribe {
        key: Bytes,
    },
    Begin {
        transaction: Bytes,
    },
    End {
        transaction: Bytes,
    },
    Disconnect,
}

timed_struct! {
/// The client role of one STOMP connection, sans IO: no socket, thread or clock inside.
///
/// # Driving it
///
/// Create it with a [`ClientConfig`] and call [`connect`](ClientConnection::connect). Then,
/// after every input (bytes read, a timer, a call of your own), drain both outputs until both
/// are empty, and wait for the next bytes or the next deadline:
///
/// ```text
/// loop {
///     // inputs
///     conn.handle_input(now, &buf[..n])?;   // any chunking; every byte counts as life (B-5)
///     conn.handle_close();                  // instead, at EOF
///     conn.handle_timeout(now);             // once poll_timeout() has passed
///     conn.send(now, "/queue/a", body, FrameOptions::new().receipt())?;   // your frames
///     // outputs
///     while let Some(event) = conn.poll_event() { ... }       // Connected, Message, Closed...
///     while let Some(bytes) = conn.poll_transmit() { socket.write_all(&bytes) }
///     // wait for readable bytes or conn.poll_timeout() (None: no timer)
/// }
/// ```
///
/// `now` must come from one monotonic clock (`Instant::now()` in a real program, a virtual
/// clock in tests). When [`ClientEvent::Closed`] arrives, write what `poll_transmit` still
/// returns and close the transport; later input is discarded and typed methods return
/// [`UsageError::Closed`].
///
/// # Frames and refusals
///
/// Typed methods exist for every client frame. Each takes [`FrameOptions`] (receipt,
/// transaction, extra headers) and returns the receipt id it asked for, if any, which
/// [`ClientEvent::ReceiptConfirmed`] later reports. A frame that is illegal in the current
/// state, role or version is refused with a [`UsageError`], nothing is queued and nothing
/// changes: SEND before CONNECTED, a second CONNECT, a receipt on CONNECT, SUBSCRIBE without
/// `id` or with an active one, ACK/NACK without the header the version needs, NACK in 1.0,
/// COMMIT/ABORT of a transaction that is not open, BEGIN of one that is, a pending receipt id,
/// anything after DISCONNECT, and headers the negotiated version cannot encode.
///
/// # Failures
///
/// A server that breaks the protocol (undecodable bytes, a frame other than CONNECTED or ERROR
/// first, a version not offered, a client command), does not answer CONNECT in time, or goes
/// silent past its heart-beat interval plus grace ends the connection with
/// [`CloseReason::Failed`], reported by `poll_event` in order with the frames received before
/// (see [`poll_event`](ClientConnection::poll_event)); `handle_input` returns the same
/// [`ConnectionError`] from then on. A server frame that merely lacks a required header is
/// dropped and reported as [`ClientEvent::ProtocolViolation`] (D-24). An ERROR frame is
/// reported as [`ClientEvent::ErrorReceived`], then `Closed(ErrorReceived)` (D-23).
///
/// # Memory
///
/// Nothing is dropped: queued bytes and events wait until drained. Both queues only grow in
/// answer to your calls (at most one heart-beat EOL is queued while bytes wait), so if you stop
/// draining, stop reading the transport too. See
/// [`pending_transmit`](ClientConnection::pending_transmit) and
/// [`pending_events`](ClientConnection::pending_events).
#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    core: Core<I>,
    state: State,
    version: Option<Version>,
    offered: VersionSet,
    offered_heartbeat: Heartbeat,
    receipts: Receipts,
    /// Active subscriptions by id (by destination for a 1.0 SUBSCRIBE without id).
    subscriptions: BTreeMap<Bytes, Subscription>,
    /// Creation number of the next subscription.
    next_subscription: u64,
    transactions: BTreeSet<Bytes>,
    events: VecDeque<ClientEvent>,
    failed: Option<ConnectionError>,
    /// Close once the queued bytes are handed out (DISCONNECT without receipt, D-22).
    close_after_flush: Option<CloseReason>,
}
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl ClientConnection<std::time::Instant> {
    /// A connection that has sent nothing yet, on the standard clock: `now` is a
    /// `std::time::Instant`.
    pub fn new(config: ClientConfig) -> ClientConnection {
        ClientConnection::new_generic(config)
    }
}

impl<I: Timestamp> ClientConnection<I> {
    /// A connection that has sent nothing yet, for any [`Timestamp`] type (e.g. [`Duration`]
    /// since boot, without `std`): name the type, as in
    /// `ClientConnection::<Duration>::new_generic(config)`.
    pub fn new_generic(config: ClientConfig) -> ClientConnection<I> {
        let core = Core::new(config.limits, config.heartbeat_grace);
        ClientConnection {
            config,
            core,
            state: State::Idle,
            version: None,
            offered: VersionSet::EMPTY,
            offered_heartbeat: Heartbeat::NONE,
            receipts: Receipts::new(),
            subscriptions: BTreeMap::new(),
            next_subscription: 0,
            transactions: BTreeSet::new(),
            events: VecDeque::new(),
            failed: None,
            close_after_flush: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ---- typed frames ------------------------------------------------------------------

    /// Queues CONNECT (or STOMP) built from the [`ClientConfig`] (C-1..C-5).
    ///
    /// Refused when already called ([`UsageError::AlreadyConnected`]), when the config's extra
    /// headers hold a `receipt` (C-11), offer no version, or ask for STOMP with only 1.0.
    pub fn connect(&mut self, now: I) -> Result<(), UsageError> {
        if self.config.versions.is_empty() {
            self.check_state(&Command::Connect)?;
            return Err(UsageError::NoVersionOffered);
        }
        let frame = self.config.connect_frame();
        self.submit(now, frame).map(|_| ())
    }

    /// Queues SEND of `body` to `destination` (S-3). With
    /// [`FrameOptions::transaction`], the transaction must be open (S-11).
    pub fn send(
        &mut self,
        now: I,
        destination: impl AsRef<[u8]>,
        body: impl Into<Bytes>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        let frame = self.build(
            Command::Send,
            &[(DESTINATION, destination.as_ref())],
            options,
            true,
            body.into(),
        );
        self.submit(now, frame)
    }

    /// Queues SUBSCRIBE (S-4, S-5): `id` must not name an active subscription. MESSAGE frames
    /// of the subscription then arrive as [`ClientEvent::Message`].
    pub fn subscribe(
        &mut self,
        now: I,
        id: impl AsRef<[u8]>,
        destination: impl AsRef<[u8]>,
        ack: AckMode,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        let frame = self.build(
            Command::Subscribe,
            &[
                (ID, id.as_ref()),
                (DESTINATION, destination.as_ref()),
                (ACK, ack.as_str().as_bytes()),
            ],
            options,
            false,
            Bytes::new(),
        );
        self.submit(now, frame)
    }

    /// Queues UNSUBSCRIBE of the active subscription `id` (S-6).
    pub fn unsubscribe(
        &mut self,
        now: I,
        id: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        let frame = self.build(
            Command::Unsubscribe,
            &[(ID, id.as_ref())],
            options,
            false,
            Bytes::new(),
        );
        self.submit(now, frame)
    }

    /// Queues ACK of a received MESSAGE with the headers the negotiated version needs: 1.2 `id`
    /// = the MESSAGE's `ack` header (S-7); 1.1 `message-id` and `subscription` (S-8); 1.0
    /// `message-id` (S-9). Refused when the MESSAGE lacks them.
    pub fn ack<M: AsRef<Frame> + ?Sized>(
        &mut self,
        now: I,
        message: &M,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.acknowledge(now, Command::Ack, message.as_ref(), options)
    }

    /// Queues NACK of a received MESSAGE (1.1+, S-10); headers as for
    /// [`ack`](ClientConnection::ack). Refused in 1.0 (S-1).
    pub fn nack<M: AsRef<Frame> + ?Sized>(
        &mut self,
        now: I,
        message: &M,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.acknowledge(now, Command::Nack, message.as_ref(), options)
    }

    /// Queues BEGIN of a new transaction (S-11); refused if `transaction` is already open.
    pub fn begin(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.transaction_frame(now, Command::Begin, transaction.as_ref(), options)
    }

    /// Queues COMMIT of an open transaction (S-11).
    pub fn commit(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.transaction_frame(now, Command::Commit, transaction.as_ref(), options)
    }

    /// Queues ABORT of an open transaction (S-11).
    pub fn abort(
        &mut self,
        now: I,
        transaction: impl AsRef<[u8]>,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.transaction_frame(now, Command::Abort, transaction.as_ref(), options)
    }

    /// Queues DISCONNECT (R-5, S-12). Every later frame is refused (R-6), heart-beats stop and
    /// open transactions are forgotten (the server rolls them back, R-7).
    ///
    /// With a receipt ([`FrameOptions::receipt`], recommended), `Closed(Disconnected)` follows
    /// its RECEIPT, the server closing (R-8), or `Closed(ReceiptTimeout)` after
    /// [`disconnect_timeout`](ClientConfig::disconnect_timeout) (D-22). Without one,
    /// `Closed(Disconnected)` follows as soon as `poll_transmit` has handed the DISCONNECT out.
    pub fn disconnect(
        &mut self,
        now: I,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        let frame = self.build(Command::Disconnect, &[], options, false, Bytes::new());
        self.submit(now, frame)
    }

    /// Queues any client frame, checked by the same rules as the typed methods (state, role,
    /// version, required headers, subscription, transaction and receipt bookkeeping). Its
    /// `receipt` header, if any, is tracked as a caller-chosen receipt id.
    pub fn send_frame(&mut self, now: I, frame: Frame) -> Result<Option<Bytes>, UsageError> {
        self.submit(now, frame)
    }

    fn transaction_frame(
        &mut self,
        now: I,
        command: Command,
        transaction: &[u8],
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        let frame = self.build(
            command,
            &[(TRANSACTION, transaction)],
            options,
            false,
            Bytes::new(),
        );
        self.submit(now, frame)
    }

    fn acknowledge(
        &mut self,
        now: I,
        command: Command,
        message: &Frame,
        options: FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        self.check_state(&command)?;
        let version = self.negotiated();
        let h = message.headers();
        let need = |header: &'static str| {
            h.get(header).ok_or(UsageError::CannotAcknowledge {
                command: command.clone(),
                header,
                version,
            })
        };
        let headers: Vec<(&str, &[u8])> = match version {
            Version::V1_2 => alloc::vec![(ID, need(ACK)?)],
            Version::V1_1 => alloc::vec![
                (MESSAGE_ID, need(MESSAGE_ID)?),
                (SUBSCRIPTION, need(SUBSCRIPTION)?)
            ],
            Version::V1_0 if command == Command::Nack => {
                return Err(UsageError::NotInVersion { command, version })
            }
            Version::V1_0 => alloc::vec![(MESSAGE_ID, need(MESSAGE_ID)?)],
        };
        let frame = self.build(command, &headers, options, true, Bytes::new());
        self.submit(now, frame)
    }

    /// A frame with the method's headers, then the receipt, transaction and extra headers.
    fn build(
        &self,
        command: Command,
        headers: &[(&str, &[u8])],
        options: FrameOptions,
        transactional: bool,
        body: Bytes,
    ) -> Frame {
        let mut b = Frame::builder(command).headers(headers.iter().copied());
        match options.receipt {
            ReceiptRequest::None => {}
            ReceiptRequest::Generated => b = b.header(RECEIPT, self.receipts.next_id()),
            ReceiptRequest::Id(id) => b = b.header(RECEIPT, id),
        }
        if transactional {
            if let Some(tx) = &options.transaction {
                b = b.header(TRANSACTION, tx);
            }
        }
        b.headers(options.headers).body(body).build()
    }

    // ---- checking and queueing ---------------------------------------------------------

    /// The negotiated version (only called once connected; 1.0 otherwise).
    fn negotiated(&self) -> Version {
        self.version.unwrap_or(Version::V1_0)
    }

    /// Whether `command` may be sent in the current state at all (C-1, D-16, R-6, S-2).
    fn check_state(&self, command: &Command) -> Result<(), UsageError> {
        let connect = matches!(command, Command::Connect | Command::Stomp);
        match self.state {
            State::Closed => return Err(UsageError::Closed),
            State::Disconnecting => {
                return Err(UsageError::AfterDisconnect {
                    command: command.clone(),
                })
            }
            State::Idle if connect => return Ok(()),
            State::Connecting | State::Connected if connect => {
                return Err(UsageError::AlreadyConnected)
            }
            _ => {}
        }
        if !command.is_client_command() {
            return Err(UsageError::WrongRole {
                command: command.clone(),
                role: "client",
            });
        }
        if self.state != State::Connected {
            return Err(UsageError::NotConnected {
                command: command.clone(),
            });
        }
        Ok(())
    }

    /// Validates, queues and records one outgoing frame. Nothing changes on error.
    fn submit(&mut self, now: I, frame: Frame) -> Result<Option<Bytes>, UsageError> {
        let command = frame.command().clone();
        self.check_state(&command)?;
        let receipt = frame.headers().get_bytes(RECEIPT);
        if let Some(id) = &receipt {
            if matches!(command, Command::Connect | Command::Stomp) {
                return Err(UsageError::ReceiptOnConnect);
            }
            self.receipts.check(id)?;
        }
        let effect = self.validate(&frame)?;
        self.core.queue(now, &frame)?;
        if let Some(id) = &receipt {
            self.receipts.insert(id.clone(), command);
        }
        self.apply(now, effect, receipt.is_some());
        Ok(receipt)
    }

    /// The per-command rules of S-1..S-12 for the negotiated version.
    fn validate(&self, frame: &Frame) -> Result<Effect, UsageError> {
        let version = self.negotiated();
        let command = frame.command();
        let h = frame.headers();
        let missing = |header: &'static str| UsageError::MissingHeader {
            command: command.clone(),
            header,
            version,
        };
        let require = |header: &'static str| h.get_bytes(header).ok_or_else(|| missing(header));
        let open_transaction = || match h.get(TRANSACTION) {
            Some(tx) if !self.transactions.contains(tx) => Err(UsageError::UnknownTransaction {
                transaction: shown(tx, 64),
            }),
            _ => Ok(Effect::None),
        };
        Ok(match command {
            Command::Connect | Command::Stomp => {
                let offered = match h.get(ACCEPT_VERSION) {
                    Some(value) => Version::parse_accept_version(value),
                    None => VersionSet::EMPTY.with(Version::V1_0),
                };
                let Some(highest) = offered.highest() else {
                    return Err(UsageError::NoVersionOffered);
                };
                if *command == Command::Stomp && highest == Version::V1_0 {
                    return Err(UsageError::NotInVersion {
                        command: Command::Stomp,
                        version: Version::V1_0,
                    });
                }
                let heartbeat = match h.get(HEART_BEAT) {
                    None => Heartbeat::NONE,
                    Some(v) => Heartbeat::parse(v).ok_or(UsageError::InvalidHeartbeat {
                        value: shown(v, 64),
                    })?,
                };
                Effect::Connect { offered, heartbeat }
            }
            Command::Send => {
                require(DESTINATION)?;
                open_transaction()?
            }
            Command::Subscribe => {
                let destination = require(DESTINATION)?;
                let key = match h.get_bytes(ID) {
                    Some(id) => id,
                    None if version == Version::V1_0 => destination.clone(),
                    None => return Err(missing(ID)),
                };
                if self.subscriptions.contains_key(&key) {
                    return Err(UsageError::DuplicateSubscription {
                        id: shown(&key, 64),
                    });
                }
                let ack = match h.get(ACK) {
                    None => AckMode::Auto,
                    Some(v) => AckMode::parse(v, version).ok_or(UsageError::InvalidAckMode {
                        value: shown(v, 64),
                        version,
                    })?,
                };
                Effect::Subscribe {
                    key,
                    sub: Subscription {
                        destination,
                        ack,
                        seq: self.next_subscription,
                    },
                }
            }
            Command::Unsubscribe => {
                let key = match h.get_bytes(ID) {
                    Some(id) => id,
                    None if version == Version::V1_0 => {
                        let destination = require(DESTINATION)?;
                        by_destination(&self.subscriptions, destination, |s| {
                            (&s.destination, s.seq)
                        })
                    }
                    None => return Err(missing(ID)),
                };
                if !self.subscriptions.contains_key(&key) {
                    return Err(UsageError::UnknownSubscription {
                        id: shown(&key, 64),
                    });
                }
                Effect::Unsubscribe { key }
            }
            Command::Ack | Command::Nack => {
                if *command == Command::Nack && version == Version::V1_0 {
                    return Err(UsageError::NotInVersion {
                        command: Command::Nack,
                        version,
                    });
                }
                match version {
                    Version::V1_2 => {
                        require(ID)?;
                    }
                    Version::V1_1 => {
                        require(MESSAGE_ID)?;
                        require(SUBSCRIPTION)?;
                    }
                    Version::V1_0 => {
                        require(MESSAGE_ID)?;
                    }
                }
                open_transaction()?
            }
            Command::Begin => {
                let transaction = require(TRANSACTION)?;
                if self.transactions.contains(&transaction) {
                    return Err(UsageError::DuplicateTransaction {
                        transaction: shown(&transaction, 64),
                    });
                }
                Effect::Begin { transaction }
            }
            Command::Commit | Command::Abort => {
                let transaction = require(TRANSACTION)?;
                if !self.transactions.contains(&transaction) {
                    return Err(UsageError::UnknownTransaction {
                        transaction: shown(&transaction, 64),
                    });
                }
                Effect::End { transaction }
            }
            Command::Disconnect => Effect::Disconnect,
            // check_state let only client commands through.
            _ => Effect::None,
        })
    }

    fn apply(&mut self, now: I, effect: Effect, with_receipt: bool) {
        match effect {
            Effect::None => {}
            Effect::Connect { offered, heartbeat } => {
                self.offered = offered;
                self.offered_heartbeat = heartbeat;
                self.state = State::Connecting;
                if let Some(timeout) = self.config.connect_timeout {
                    self.core.arm(Timer::Connect, now, timeout);
                }
            }
            Effect::Subscribe { key, sub } => {
                self.subscriptions.insert(key, sub);
                self.next_subscription = self.next_subscription.wrapping_add(1);
            }
            Effect::Unsubscribe { key } => {
                self.subscriptions.remove(&key);
            }
            Effect::Begin { transaction } => {
                self.transactions.insert(transaction);
            }
            Effect::End { transaction } => {
                self.transactions.remove(&transaction);
            }
            Effect::Disconnect => {
                self.state = State::Disconnecting;
                self.transactions.clear();
                self.core.stop_timers();
                if with_receipt {
                    let timeout = self.config.disconnect_timeout;
                    self.core.arm(Timer::DisconnectReceipt, now, timeout);
                } else {
                    self.close_after_flush = Some(CloseReason::Disconnected);
                }
            }
        }
    }

    // ---- input -------------------------------------------------------------------------

    /// Feeds bytes received from the server, in any chunking (F-11).
    ///
    /// Every byte counts as activity for the heart-beat timeout at once, even in the middle
    /// of a frame (B-5). Frames are only buffered here:
    /// [`poll_event`](ClientConnection::poll_event) decodes and applies them one at a time, so
    /// the connection's state is always the state after the last event you polled (a MESSAGE
    /// can be acknowledged while you handle it even if an ERROR arrived in the same read).
    ///
    /// A protocol error in the input therefore surfaces when `poll_event` reaches it, as
    /// `Closed(Failed(..))` after the events of the frames before it;
    /// [`failure`](ClientConnection::failure) reports it, and from then on this method returns
    /// it. After a normal close, input is discarded (D-23). One error is returned at once:
    /// [`ConnectionError::InputNotPolled`], when input arrives while more than
    /// [`Limits::max_frame`](crate::Limits::max_frame) bytes still wait for `poll_event`, which
    /// bounds memory when the application stops polling (poll every event after each read and
    /// this never happens).
    pub fn handle_input(&mut self, now: I, bytes: &[u8]) -> Result<(), ConnectionError> {
        if !self.take_input(now, bytes.len())? {
            return Ok(());
        }
        self.core.decoder.push(bytes);
        Ok(())
    }

    /// [`handle_input`](ClientConnection::handle_input) for bytes the caller already owns:
    /// frames are then slices of them, without a copy.
    pub fn handle_input_bytes(&mut self, now: I, bytes: Bytes) -> Result<(), ConnectionError> {
        if !self.take_input(now, bytes.len())? {
            return Ok(());
        }
        self.core.decoder.push_bytes(bytes);
        Ok(())
    }

    /// Whether input of `len` bytes is to be read; records the activity.
    fn take_input(&mut self, now: I, len: usize) -> Result<bool, ConnectionError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let reading = self.state != State::Closed && !self.core.input_closed && len > 0;
        if reading {
            self.core.note_rx(now);
            if let Some(err) = self.core.unpolled_input() {
                return Err(self.fail(err));
            }
        }
        Ok(reading)
    }

    /// Records that the peer showed life some other way (e.g. a WebSocket ping), which
    /// postpones the heart-beat timeout like received bytes do (D-20).
    pub fn note_activity(&mut self, now: I) {
        if self.state != State::Closed {
            self.core.note_rx(now);
        }
    }

    /// The transport ended (EOF or reset). After DISCONNECT this is a normal close (R-8);
    /// otherwise the connection closes with [`CloseReason::PeerClosed`].
    ///
    /// It takes effect in order with the input: at once unless frames received before it are
    /// still to be reported, else once `poll_event` has reported them.
    pub fn handle_close(&mut self) {
        if self.state != State::Closed {
            self.core.input_closed = true;
            self.settle();
        }
    }

    /// Applies a pending timeout check and end of input at once when no received bytes wait
    /// in the decoder (no frame received before them is still to be reported).
    fn settle(&mut self) {
        if self.core.decoder.buffered() == 0 {
            while self.step() {}
        }
    }

    fn apply_close(&mut self) {
        match self.state {
            State::Closed => {}
            State::Disconnecting => self.close(CloseReason::Disconnected),
            _ => self.close(CloseReason::PeerClosed),
        }
    }

    /// Runs the timers due at `now`: our own heart-beat (B-4) at once; the DISCONNECT receipt
    /// deadline (D-22), the connect deadline
    /// ([`connect_timeout`](ClientConfig::connect_timeout)) and the server's heart-beat timeout
    /// (B-6) in order with the input: at once unless frames received before `now` are still to
    /// be reported, else once `poll_event` has reported them. Calling it early, late or
    /// repeatedly is harmless.
    pub fn handle_timeout(&mut self, now: I) {
        if self.state == State::Closed {
            return;
        }
        let now = self.core.note_timeout(now);
        self.core.send_heartbeat_if_due(now);
        self.settle();
    }

    /// The closing timers, checked at `at` (a `handle_timeout` time) after the input received
    /// before it.
    fn run_timers(&mut self, at: I) {
        if self.state == State::Closed {
            return;
        }
        if self.core.timers.expired(Timer::DisconnectReceipt, at) {
            self.close(CloseReason::ReceiptTimeout);
            return;
        }
        if self.state == State::Connecting && self.core.timers.expired(Timer::Connect, at) {
            let timeout = self.config.connect_timeout.unwrap_or_default();
            self.fail(ConnectionError::ConnectTimeout { timeout });
            return;
        }
        if let Some(err) = self.core.peer_silent(at) {
            self.events.push_back(ClientEvent::HeartbeatTimeout);
            self.fail(err);
            return;
        }
        // A CONNECTED applied after `handle_timeout` (it was read before, polled after) arms
        // the sending timer from the last write, which may already be due at `at`: beat now,
        // so that no deadline is left at or before the time just handled.
        self.core.send_heartbeat_if_due(at);
    }

    /// Decodes and applies the next piece of input: a frame, then (once the buffered frames
    /// are done) a pending timeout check or end of input. Returns whether anything was done.
    fn step(&mut self) -> bool {
        if self.state == State::Closed {
            return false;
        }
        if let Some(now) = self.core.latest_seen() {
            match self.core.decoder.next_item() {
                Ok(None) => {}
                Ok(Some(Item::Heartbeat)) => return true,
                Ok(Some(Item::Frame(frame))) => {
                    if let Err(err) = self.on_frame(now, frame) {
                        self.fail(err);
                    }
                    return true;
                }
                Err(err) => {
                    self.fail(err.into());
                    return true;
                }
            }
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

    fn on_frame(&mut self, now: I, frame: Frame) -> Result<(), ConnectionError> {
        let unexpected = |context| ConnectionError::UnexpectedFrame {
            command: frame.command().clone(),
            context,
        };
        match (self.state, frame.command()) {
            (State::Idle, _) => Err(unexpected("before CONNECT")),
            (State::Connecting, Command::Connected) => self.on_connected(now, &frame),
            (State::Connecting, Command::Error) => {
                self.on_error(frame);
                Ok(())
            }
            (State::Connecting, _) => Err(unexpected("before CONNECTED")),
            (_, Command::Message) => {
                self.on_message(frame);
                Ok(())
            }
            (_, Command::Receipt) => {
                self.on_receipt(frame);
                Ok(())
            }
            (_, Command::Error) => {
                self.on_error(frame);
                Ok(())
            }
            (_, Command::Connected) => Err(unexpected("after CONNECTED")),
            _ => Err(unexpected("sent to a client")),
        }
    }

    /// CONNECTED: fix the version (C-6, E-8) and start the heart-beats (B-3, B-7, B-8).
    fn on_connected(&mut self, now: I, frame: &Frame) -> Result<(), ConnectionError> {
        let h = frame.headers();
        let version = match h.get(VERSION) {
            None => Some(Version::V1_0),
            Some(v) => Version::from_bytes(v),
        }
        .filter(|v| self.offered.contains(*v))
        .ok_or_else(|| ConnectionError::VersionNotOffered {
            version: h.get(VERSION).map_or("(none)".into(), |v| shown(v, 64)),
        })?;
        let heartbeat = match h.get(HEART_BEAT) {
            Some(v) if version != Version::V1_0 => {
                Heartbeat::parse(v).ok_or_else(|| ConnectionError::InvalidHeartbeat {
                    value: shown(v, 64),
                })?
            }
            _ => Heartbeat::NONE,
        };
        let (send_ms, receive_ms) = if version == Version::V1_0 {
            (0, 0)
        } else {
            Heartbeat::negotiate(self.offered_heartbeat, heartbeat)
        };
        let (send_interval, receive_interval) = (interval(send_ms), interval(receive_ms));
        self.core.timers.set(Timer::Connect, None);
        self.version = Some(version);
        self.core.set_version(version);
        self.core
            .start_heartbeats(now, send_interval, receive_interval);
        self.state = State::Connected;
        self.events.push_back(ClientEvent::Connected {
            version,
            session: lossy(h.get(SESSION)),
            server: lossy(h.get(SERVER)),
            heartbeat,
            send_interval,
            receive_interval,
        });
        Ok(())
    }

    /// MESSAGE (S-13, S-14, D-24).
    fn on_message(&mut self, frame: Frame) {
        let version = self.negotiated();
        let h = frame.headers();
        let missing = |header| ConnectionError::MissingHeader {
            command: Command::Message,
            header,
        };
        let (destination, message_id) = match (h.get_bytes(DESTINATION), h.get_bytes(MESSAGE_ID)) {
            (Some(d), Some(m)) => (d, m),
            (None, _) => return self.violation(missing(DESTINATION), frame),
            (_, None) => return self.violation(missing(MESSAGE_ID), frame),
        };
        let subscription = h.get_bytes(SUBSCRIPTION);
        if subscription.is_none() && version != Version::V1_0 {
            return self.violation(missing(SUBSCRIPTION), frame);
        }
        let known = match &subscription {
            Some(id) => self.subscriptions.get(id),
            None => self
                .subscriptions
                .values()
                .find(|s| s.destination == destination),
        };
        let ack_mode = known.map(|s| s.ack);
        if version == Version::V1_2 && ack_mode.is_some_and(AckMode::needs_ack) && !h.contains(ACK)
        {
            return self.violation(missing(ACK), frame);
        }
        self.events.push_back(ClientEvent::Message(Message {
            destination,
            message_id,
            subscription,
            ack_mode,
            unknown_subscription: known.is_none(),
            frame,
        }));
    }

    /// RECEIPT (R-2, R-5).
    fn on_receipt(&mut self, frame: Frame) {
        let Some(receipt_id) = frame.headers().get_bytes(RECEIPT_ID) else {
            let err = ConnectionError::MissingHeader {
                command: Command::Receipt,
                header: RECEIPT_ID,
            };
            return self.violation(err, frame);
        };
        if self.receipts.confirm(&receipt_id).is_none() {
            self.events
                .push_back(ClientEvent::UnknownReceipt { receipt_id });
            return;
        }
        let ends = self.receipts.is_disconnect(&receipt_id);
        self.events
            .push_back(ClientEvent::ReceiptConfirmed { receipt_id });
        if ends {
            self.close(CloseReason::Disconnected);
        }
    }

    /// ERROR: report it, then close (R-9, R-11, D-23).
    fn on_error(&mut self, frame: Frame) {
        let h = frame.headers();
        let receipt_id = h.get_bytes(RECEIPT_ID);
        if let Some(id) = &receipt_id {
            self.receipts.confirm(id);
        }
        self.events.push_back(ClientEvent::ErrorReceived {
            message: lossy(h.get(MESSAGE)),
            body: frame.body_bytes(),
            receipt_id,
            frame,
        });
        self.close(CloseReason::ErrorReceived);
    }

    fn violation(&mut self, error: ConnectionError, frame: Frame) {
        self.events
            .push_back(ClientEvent::ProtocolViolation { error, frame });
    }

    /// Ends the connection normally (not a protocol failure).
    fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.core.stop_timers();
        self.receipts.clear();
        self.transactions.clear();
        self.close_after_flush = None;
        self.events.push_back(ClientEvent::Closed(reason));
    }

    /// Ends the connection because the server broke the protocol or went silent.
    fn fail(&mut self, err: ConnectionError) -> ConnectionError {
        self.failed = Some(err.clone());
        self.close(CloseReason::Failed(err.clone()));
        err
    }

    // ---- output ------------------------------------------------------------------------

    /// The next event, oldest first.
    ///
    /// This is where the input is applied: when no event is waiting, the next buffered frame
    /// is decoded, checked and applied to the connection's state, and its event returned.
    /// Then come, in order, a timeout that [`handle_timeout`] found due and the end of input
    /// from [`handle_close`].
    ///
    /// [`handle_timeout`]: ClientConnection::handle_timeout
    /// [`handle_close`]: ClientConnection::handle_close
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if !self.step() {
                return None;
            }
        }
    }

    /// All bytes queued for the server, to write in full; `None` when there are none.
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

    /// The next deadline: call [`handle_timeout`](ClientConnection::handle_timeout) when it
    /// has passed. `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<I> {
        self.core.timers.next()
    }

    // ---- state -------------------------------------------------------------------------

    /// The negotiated version, once CONNECTED has arrived.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether CONNECTED has arrived and DISCONNECT has not been sent.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection is over (the `Closed` event has been queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The fatal error that closed the connection, if any.
    pub fn failure(&self) -> Option<&ConnectionError> {
        self.failed.as_ref()
    }

    /// Receipts asked for and not yet confirmed.
    pub fn pending_receipts(&self) -> usize {
        self.receipts.len()
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
    /// whatever the server sends (D-12). Input fed while it is above `max_frame` fails the
    /// connection ([`ConnectionError::InputNotPolled`]), so it never exceeds `max_frame` plus
    /// one read. It no longer grows once the connection is closed or has failed.
    pub fn buffered_input(&self) -> usize {
        self.core.decoder.buffered()
    }

    /// The ack mode of the active subscription `id`, if there is one.
    pub fn subscription(&self, id: impl AsRef<[u8]>) -> Option<AckMode> {
        self.subscriptions.get(id.as_ref()).map(|s| s.ack)
    }

    /// Whether `transaction` is open (begun and neither committed nor aborted).
    pub fn is_transaction_open(&self, transaction: impl AsRef<[u8]>) -> bool {
        self.transactions.contains(transaction.as_ref())
    }
}

fn lossy(value: Option<&[u8]>) -> Option<String> {
    value.map(|v| String::from_utf8_lossy(v).into_owned())
}
