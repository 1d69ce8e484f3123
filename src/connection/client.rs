//! The client role: [`ClientConnection`] and its [`ClientConfig`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::error::shown;
use crate::escape::specials;
use crate::frame::{Command, Frame};
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::{Version, VersionSet};

use super::common::{sealed::Hooks, Connection, Role};
use super::error::{ConnectionError, RuleViolation, UsageError};
use super::receipts::Receipts;
use super::session::Session;
use super::states::{Side, State, Trigger};
use super::wire::{interval, Core, Timer};
use super::{
    AckMode, ClientEvent, CloseReason, FrameOptions, Message, ReceiptRequest, Timestamp,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DISCONNECT_TIMEOUT, DEFAULT_HEARTBEAT,
    DEFAULT_MAX_PENDING_TRANSMIT,
};
use crate::header::*;

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
    /// The most bytes that may wait for the wire: a frame that would take the queue past it
    /// is refused with [`UsageError::OutputFull`] (CONNECT is exempt, and an empty queue takes
    /// any one frame, so that a frame larger than the limit can still go out). Default
    /// [`DEFAULT_MAX_PENDING_TRANSMIT`](super::DEFAULT_MAX_PENDING_TRANSMIT).
    pub max_pending_transmit: usize,
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
            max_pending_transmit: DEFAULT_MAX_PENDING_TRANSMIT,
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

    /// Sets [`max_pending_transmit`](ClientConfig::max_pending_transmit).
    #[must_use]
    pub fn max_pending_transmit(mut self, bytes: usize) -> ClientConfig {
        self.max_pending_transmit = bytes;
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

/// What a validated outgoing frame changes once it is queued.
enum Effect {
    None,
    Connect {
        offered: VersionSet,
        heartbeat: Heartbeat,
    },
    Subscribe {
        key: Bytes,
        sub: super::session::Subscription,
    },
    Unsubscribe {
        key: Bytes,
    },
    Transaction {
        command: Command,
        transaction: Bytes,
    },
    Disconnect,
}

/// The client role inside a [`Connection`]: its configuration, what it offered, and its
/// pending receipts. See [`ClientConnection`].
#[derive(Debug)]
pub struct ClientRole {
    config: ClientConfig,
    offered: VersionSet,
    offered_heartbeat: Heartbeat,
    receipts: Receipts,
}

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
///     conn.handle_input(now, &buf[..n]);    // any chunking; every byte counts as life (B-5)
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
/// [`UsageError::Closed`]. The methods shared with the server are on [`Connection`].
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
/// anything after DISCONNECT, headers the negotiated version cannot encode, and a frame that
/// would take the bytes waiting for the wire past
/// [`max_pending_transmit`](ClientConfig::max_pending_transmit).
///
/// # Failures
///
/// A server that breaks the protocol (undecodable bytes, a frame other than CONNECTED or ERROR
/// first, a version not offered, a client command), does not answer CONNECT in time, or goes
/// silent past its heart-beat interval plus grace ends the connection with
/// [`CloseReason::Failed`], reported by `poll_event` in order with the frames received before;
/// [`failure`](Connection::failure) returns it from then on. A server frame that merely lacks
/// a required header is dropped and reported as [`ClientEvent::ProtocolViolation`] (D-24). An
/// ERROR frame is reported as [`ClientEvent::ErrorReceived`], then `Closed(ErrorReceived)`
/// (D-23).
#[cfg(feature = "std")]
pub type ClientConnection<I = std::time::Instant> = Connection<ClientRole, I>;

/// The client role of one STOMP connection, sans IO (see the crate docs).
#[cfg(not(feature = "std"))]
pub type ClientConnection<I> = Connection<ClientRole, I>;

impl Role for ClientRole {}

impl Hooks for ClientRole {
    type Event = ClientEvent;
    const SIDE: Side = Side::Client;

    fn closed(reason: CloseReason) -> ClientEvent {
        ClientEvent::Closed(reason)
    }

    fn heartbeat_timeout() -> ClientEvent {
        ClientEvent::HeartbeatTimeout
    }

    fn transaction_aborted(_: Bytes) -> Option<ClientEvent> {
        // The server rolls them back (R-7); the client has nothing to report.
        None
    }

    fn on_frame<I: Timestamp>(
        conn: &mut ClientConnection<I>,
        now: I,
        frame: Frame,
        event: &mut Option<ClientEvent>,
    ) -> Result<(), (ConnectionError, Option<Bytes>)> {
        // A client names no receipt when it fails: it sends no ERROR.
        conn.on_server_frame(now, frame, event)
            .map_err(|err| (err, None))
    }

    fn on_failure<I: Timestamp>(
        _: &mut ClientConnection<I>,
        _: I,
        _: &ConnectionError,
        _: Option<Bytes>,
    ) {
        // A client has no one to tell: it just closes (the common code does).
    }

    fn on_end<I: Timestamp>(conn: &mut ClientConnection<I>) {
        conn.role.receipts.clear();
    }

    fn on_timers<I: Timestamp>(conn: &mut ClientConnection<I>, at: I) -> bool {
        if conn.core.timers.expired(Timer::DisconnectReceipt, at) {
            conn.end(CloseReason::ReceiptTimeout);
            return true;
        }
        false
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl ClientConnection<std::time::Instant> {
    /// A connection that has sent nothing yet, on the standard clock: `now` is a
    /// `std::time::Instant`.
    pub fn new(config: ClientConfig) -> ClientConnection {
        ClientConnection::with_timestamp_type(config)
    }
}

impl<I: Timestamp> ClientConnection<I> {
    /// A connection that has sent nothing yet, whose `now` is any [`Timestamp`] type (e.g. a
    /// [`Duration`] since boot, without `std`): name the type, as in
    /// `ClientConnection::<Duration>::with_timestamp_type(config)`. `new` (with `std`)
    /// is this with `std::time::Instant`.
    pub fn with_timestamp_type(config: ClientConfig) -> ClientConnection<I> {
        let core = Core::new(
            config.limits,
            config.heartbeat_grace,
            config.connect_timeout,
        );
        let limit = config.max_pending_transmit;
        Connection::with_role(
            core,
            limit,
            ClientRole {
                config,
                offered: VersionSet::EMPTY,
                offered_heartbeat: Heartbeat::NONE,
                receipts: Receipts::new(),
            },
        )
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.role.config
    }

    /// Receipts asked for and not yet confirmed (R-2).
    pub fn pending_receipts(&self) -> usize {
        self.role.receipts.len()
    }

    // ---- typed frames ------------------------------------------------------------------

    /// Queues CONNECT (or STOMP) built from the [`ClientConfig`] (C-1..C-5).
    ///
    /// Refused when already called ([`UsageError::AlreadyConnected`]), when the config's extra
    /// headers hold a `receipt` (C-11), offer no version, or ask for STOMP with only 1.0.
    pub fn connect(&mut self, now: I) -> Result<(), UsageError> {
        if self.role.config.versions.is_empty() {
            self.check_state(&Command::Connect)?;
            return Err(UsageError::NoVersionOffered);
        }
        let frame = self.role.config.connect_frame();
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
        self.send_with_options(now, destination.as_ref(), body.into(), &options)
    }

    /// [`send`](Self::send) with the options borrowed: a caller that keeps them (the
    /// session, to send again after a reconnect) copies nothing.
    pub(crate) fn send_with_options(
        &mut self,
        now: I,
        destination: &[u8],
        body: Bytes,
        options: &FrameOptions,
    ) -> Result<Option<Bytes>, UsageError> {
        // An extra `receipt` or `transaction` header would be the one that counts (H-6): the
        // general path tracks and checks it.
        if options.headers.overrides() {
            let frame = self.build(
                Command::Send,
                &[(DESTINATION, destination)],
                options.clone(),
                true,
                body,
            );
            return self.submit(now, frame);
        }
        // The same checks and effects as `submit` gives a SEND, without building the frame.
        self.check_state(&Command::Send)?;
        let receipt = match &options.receipt {
            ReceiptRequest::None => None,
            ReceiptRequest::Generated => Some(self.role.receipts.next_id()),
            ReceiptRequest::Id(id) => Some(id.clone()),
        };
        if let Some(id) = &receipt {
            self.role.receipts.check(id)?;
        }
        self.session
            .check_transaction_open(options.transaction.as_deref())?;
        // What the encoder would check is known here: the names the method adds are constants,
        // their values are checked one by one, and the extra headers as they were added.
        let mut own = [(DESTINATION.as_bytes(), destination); 3];
        let mut count = 1;
        let mut seen = specials(destination);
        if let Some(id) = &receipt {
            own[count] = (RECEIPT.as_bytes(), id);
            count += 1;
            seen |= specials(id);
        }
        if let Some(tx) = &options.transaction {
            own[count] = (TRANSACTION.as_bytes(), tx);
            count += 1;
            seen |= specials(tx);
        }
        let own = own.get(..count).unwrap_or_default();
        let extra = &options.headers;
        let before = self.core.pending_transmit();
        if seen == 0 && extra.specials() == 0 && !extra.irregular() {
            // All plain: the extra headers' lines are their wire form, copied as one block.
            self.core.queue_plain_parts(
                &Command::Send,
                own.iter().copied(),
                extra.text(),
                extra.iter(),
                &body,
            )?;
        } else {
            // The headers as one list of slices, walked twice by the encoder (check, then
            // write).
            let mut entries: SmallVec<[(&[u8], &[u8]); 8]> = SmallVec::new();
            entries.extend(own.iter().copied());
            entries.extend(extra.iter());
            let plain = seen == 0 && extra.specials() == 0;
            self.core
                .queue_parts(&Command::Send, entries.iter().copied(), Some(plain), &body)?;
        }
        self.check_output(now, before, false)?;
        if let Some(id) = &receipt {
            self.role.receipts.insert(id.clone(), Command::Send);
        }
        Ok(receipt)
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
    /// `receipt` header, if any, is tracked as a caller-chosen receipt id. For frames the typed
    /// methods do not build (an extension header layout, a frame decoded elsewhere).
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
        if command == Command::Nack && version == Version::V1_0 {
            return Err(RuleViolation::NotInVersion { command, version }.into());
        }
        let headers = Session::ack_headers(message.headers(), version).map_err(|header| {
            UsageError::CannotAcknowledge {
                command: command.clone(),
                header,
                version,
            }
        })?;
        let headers: Vec<(&str, &[u8])> = headers.into_iter().flatten().collect();
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
            ReceiptRequest::Generated => b = b.header(RECEIPT, self.role.receipts.next_id()),
            ReceiptRequest::Id(id) => b = b.header(RECEIPT, id),
        }
        if transactional {
            if let Some(tx) = &options.transaction {
                b = b.header(TRANSACTION, tx);
            }
        }
        b.headers(options.headers.iter()).body(body).build()
    }

    // ---- checking and queueing ---------------------------------------------------------

    /// Whether the state table lets the client send `command` now, and if not, why.
    #[inline]
    fn check_state(&self, command: &Command) -> Result<(), UsageError> {
        if self.may_send(command) {
            return Ok(());
        }
        Err(self.refusal(command))
    }

    /// Why the state table does not let the client send `command` now.
    #[cold]
    fn refusal(&self, command: &Command) -> UsageError {
        let command = command.clone();
        match self.state {
            State::Closed | State::Closing => UsageError::Closed,
            State::Disconnecting => UsageError::AfterDisconnect { command },
            _ if matches!(command, Command::Connect | Command::Stomp) => {
                UsageError::AlreadyConnected
            }
            _ if !command.is_client_command() => UsageError::WrongRole {
                command,
                role: "client",
            },
            _ => UsageError::NotConnected { command },
        }
    }

    fn submit(&mut self, now: I, frame: Frame) -> Result<Option<Bytes>, UsageError> {
        let command = frame.command().clone();
        self.check_state(&command)?;
        let receipt = frame.headers().get_bytes(RECEIPT);
        let connect = matches!(command, Command::Connect | Command::Stomp);
        if let Some(id) = &receipt {
            if connect {
                return Err(UsageError::ReceiptOnConnect);
            }
            self.role.receipts.check(id)?;
        }
        let effect = self.validate(&frame)?;
        // CONNECT is written under the highest version it offers: a CR inside a value is data
        // in 1.0 but cannot be read back by a 1.2 server (E-9, D-3); the connection itself
        // stays on 1.0 rules until CONNECTED (D-14).
        if let Effect::Connect { offered, .. } = &effect {
            let highest = offered.highest().unwrap_or(Version::V1_0);
            self.core.encoder.set_version(highest);
            let queued = self.queue(now, &frame, connect);
            self.core.encoder.set_version(Version::V1_0);
            queued?;
        } else {
            self.queue(now, &frame, connect)?;
        }
        if let Some(id) = &receipt {
            self.role.receipts.insert(id.clone(), command);
        }
        self.apply(now, effect, receipt.is_some());
        Ok(receipt)
    }

    /// Checks `frame` against the session's rules (the same code the server checks the
    /// client's frames with) and says what it changes once queued.
    fn validate(&self, frame: &Frame) -> Result<Effect, UsageError> {
        let version = self.negotiated();
        let command = frame.command();
        let h = frame.headers();
        let session = &self.session;
        let require = |header: &'static str| {
            h.get_bytes(header)
                .ok_or_else(|| RuleViolation::MissingHeader {
                    command: command.clone(),
                    header,
                    version,
                })
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
                    return Err(RuleViolation::NotInVersion {
                        command: Command::Stomp,
                        version: Version::V1_0,
                    }
                    .into());
                }
                let heartbeat = match h.get(HEART_BEAT) {
                    None => Heartbeat::NONE,
                    Some(v) => Heartbeat::parse(v).ok_or(RuleViolation::InvalidHeartbeat {
                        value: shown(v, 64),
                    })?,
                };
                Effect::Connect { offered, heartbeat }
            }
            Command::Send => {
                require(DESTINATION)?;
                session.check_in_transaction(h)?;
                Effect::None
            }
            Command::Subscribe => {
                let (key, sub) = session.check_subscribe(h, version)?;
                Effect::Subscribe { key, sub }
            }
            Command::Unsubscribe => Effect::Unsubscribe {
                key: session.check_unsubscribe(h, version)?,
            },
            Command::Ack | Command::Nack => {
                Session::check_ack(h, command, version)?;
                session.check_in_transaction(h)?;
                Effect::None
            }
            Command::Begin | Command::Commit | Command::Abort => Effect::Transaction {
                command: command.clone(),
                transaction: session.check_transaction(h, command, version)?,
            },
            Command::Disconnect => Effect::Disconnect,
            // check_state let only client commands through.
            _ => Effect::None,
        })
    }

    fn apply(&mut self, now: I, effect: Effect, with_receipt: bool) {
        match effect {
            Effect::None => {}
            Effect::Connect { offered, heartbeat } => {
                self.role.offered = offered;
                self.role.offered_heartbeat = heartbeat;
                self.transition(Trigger::ConnectSent);
                if let Some(timeout) = self.role.config.connect_timeout {
                    self.core.arm(Timer::Connect, now, timeout);
                }
            }
            Effect::Subscribe { key, sub } => self.session.subscribe(key, sub),
            Effect::Unsubscribe { key } => {
                self.session.unsubscribe(&key);
            }
            Effect::Transaction {
                command,
                transaction,
            } => self.session.apply_transaction(&command, transaction),
            Effect::Disconnect => {
                self.transition(Trigger::DisconnectSent);
                self.session.take_transactions();
                self.core.stop_timers();
                if with_receipt {
                    let timeout = self.role.config.disconnect_timeout;
                    self.core.arm(Timer::DisconnectReceipt, now, timeout);
                } else {
                    self.close_after_flush = Some(CloseReason::Disconnected);
                }
            }
        }
    }

    // ---- frames from the server ---------------------------------------------------------

    /// Applies a server frame; the event it leaves in `event` comes after the ones it queued.
    fn on_server_frame(
        &mut self,
        now: I,
        frame: Frame,
        event: &mut Option<ClientEvent>,
    ) -> Result<(), ConnectionError> {
        let command = frame.command();
        if !self.accepts(command) {
            let context = match (self.state, command) {
                (State::Idle, _) => "before CONNECT",
                (State::Connecting, _) => "before CONNECTED",
                (_, Command::Connected) => "after CONNECTED",
                _ => "sent to a client",
            };
            return Err(ConnectionError::UnexpectedFrame {
                command: command.clone(),
                context,
            });
        }
        match command {
            Command::Connected => self.on_connected(now, &frame)?,
            Command::Message => {
                // `event` is empty on entry: filled without dropping what it held.
                event.get_or_insert(self.on_message(frame));
            }
            Command::Receipt => self.on_receipt(frame),
            _ => self.on_error(frame),
        }
        Ok(())
    }

    fn on_connected(&mut self, now: I, frame: &Frame) -> Result<(), ConnectionError> {
        let h = frame.headers();
        let version = match h.get(VERSION) {
            None => Some(Version::V1_0),
            Some(v) => Version::from_bytes(v),
        }
        .filter(|v| self.role.offered.contains(*v))
        .ok_or_else(|| ConnectionError::VersionNotOffered {
            version: h.get(VERSION).map_or("(none)".into(), |v| shown(v, 64)),
        })?;
        let heartbeat = match h.get(HEART_BEAT) {
            Some(v) if version != Version::V1_0 => {
                Heartbeat::parse(v).ok_or_else(|| RuleViolation::InvalidHeartbeat {
                    value: shown(v, 64),
                })?
            }
            _ => Heartbeat::NONE,
        };
        let (send_ms, receive_ms) = if version == Version::V1_0 {
            (0, 0)
        } else {
            Heartbeat::negotiate(self.role.offered_heartbeat, heartbeat)
        };
        let (send_interval, receive_interval) = (interval(send_ms), interval(receive_ms));
        self.core.timers.set(Timer::Connect, None);
        self.version = Some(version);
        self.core.set_version(version);
        self.core
            .start_heartbeats(now, send_interval, receive_interval);
        self.transition(Trigger::ConnectedReceived);
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

    #[inline]
    fn on_message(&mut self, frame: Frame) -> ClientEvent {
        let version = self.negotiated();
        let h = frame.headers();
        let missing = |header| {
            ConnectionError::Rule(RuleViolation::MissingHeader {
                command: Command::Message,
                header,
                version,
            })
        };
        // The headers a MESSAGE needs, read in one walk (S-13, S-14).
        let [destination, message_id, subscription] =
            h.get_each([DESTINATION, MESSAGE_ID, SUBSCRIPTION]);
        let (destination, message_id) = match (destination, message_id) {
            (Some(d), Some(m)) => (d, m),
            (None, _) => return violation(missing(DESTINATION), frame),
            (_, None) => return violation(missing(MESSAGE_ID), frame),
        };
        if subscription.is_none() && version != Version::V1_0 {
            return violation(missing(SUBSCRIPTION), frame);
        }
        let known = match subscription {
            Some(id) => self.session.subscription(id),
            None => self.session.subscription_to(destination),
        };
        let ack_mode = known.map(|s| s.ack);
        if version == Version::V1_2 && ack_mode.is_some_and(AckMode::needs_ack) && !h.contains(ACK)
        {
            return violation(missing(ACK), frame);
        }
        let unknown_subscription = known.is_none();
        let (destination, message_id) = (h.share(destination), h.share(message_id));
        let subscription = subscription.map(|id| h.share(id));
        ClientEvent::Message(Message {
            destination,
            message_id,
            subscription,
            ack_mode,
            unknown_subscription,
            frame,
        })
    }

    fn on_receipt(&mut self, frame: Frame) {
        let Some(receipt_id) = frame.headers().get_bytes(RECEIPT_ID) else {
            let err = RuleViolation::MissingHeader {
                command: Command::Receipt,
                header: RECEIPT_ID,
                version: self.negotiated(),
            };
            return self.violation(err.into(), frame);
        };
        if self.role.receipts.confirm(&receipt_id).is_none() {
            self.events
                .push_back(ClientEvent::UnknownReceipt { receipt_id });
            return;
        }
        let ends = self.role.receipts.is_disconnect(&receipt_id);
        self.events
            .push_back(ClientEvent::ReceiptConfirmed { receipt_id });
        if ends {
            self.close_on(Trigger::FinalReceipt, CloseReason::Disconnected);
        }
    }

    fn on_error(&mut self, frame: Frame) {
        let h = frame.headers();
        let receipt_id = h.get_bytes(RECEIPT_ID);
        if let Some(id) = &receipt_id {
            self.role.receipts.confirm(id);
        }
        self.events.push_back(ClientEvent::ErrorReceived {
            message: lossy(h.get(MESSAGE)),
            body: frame.body_bytes(),
            receipt_id,
            frame,
        });
        self.end(CloseReason::ErrorReceived);
    }

    fn violation(&mut self, error: ConnectionError, frame: Frame) {
        self.events.push_back(violation(error, frame));
    }
}

/// A server frame dropped for a missing header (D-24).
fn violation(error: ConnectionError, frame: Frame) -> ClientEvent {
    ClientEvent::ProtocolViolation { error, frame }
}

fn lossy(value: Option<&[u8]>) -> Option<String> {
    value.map(|v| String::from_utf8_lossy(v).into_owned())
}
