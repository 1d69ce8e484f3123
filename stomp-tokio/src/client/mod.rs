//! The async client: a [`ClientSession`] driven by one tokio task
//! over a [`transport`](crate::transport), with handles for the application.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use stomp_codec::AckMode;
//! use stomp_tokio::client::{Client, ClientOptions};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), stomp_tokio::client::ClientError> {
//!     let options = ClientOptions::new().login("guest").passcode("guest");
//!     let client = Client::connect("stomp://localhost:61613", options).await?;
//!     let mut messages = client.subscribe("/queue/demo", AckMode::ClientIndividual).await?;
//!     client.send_with_receipt("/queue/demo", "hello").await?;
//!     if let Some(message) = messages.next().await {
//!         println!("{}", String::from_utf8_lossy(message.body()));
//!         message.ack().await?;
//!     }
//!     client.disconnect().await
//! }
//! ```

mod driver;
mod handles;
mod inbox;
mod shared;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stomp_codec::{
    AckMode, ClientConfig, ClientSession, FrameOptions, Heartbeat, ReceiptFailure, ReconnectPolicy,
    SessionConfig, SessionError, Unconfirmed, Version,
};
use tokio::sync::{broadcast, oneshot};

use shared::{Core, Link, Wait};

use crate::transport::{TransportError, TransportOptions};
use crate::url::{StompUrl, UrlError};

pub use handles::{ReceivedMessage, Subscription, Transaction};

/// How a [`Client`] connects and behaves.
///
/// ```
/// use std::time::Duration;
/// use stomp_codec::Heartbeat;
/// use stomp_tokio::client::ClientOptions;
/// let options = ClientOptions::new()
///     .login("guest")
///     .passcode("guest")
///     .host("/")
///     .heartbeat(Heartbeat::new(4000, 4000))
///     .receipt_timeout(Duration::from_secs(10));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The session: CONNECT headers (`session.client`), reconnect policy, receipt deadline,
    /// offline bounds.
    pub session: SessionConfig,
    /// How transports are opened: timeouts, the CA file, WebSocket settings.
    pub transport: TransportOptions,
    /// Messages buffered per subscription before the client stops reading the socket (the
    /// broker then holds the rest). Default 64.
    pub subscription_buffer: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions::new()
    }
}

impl ClientOptions {
    /// Defaults: virtual host `/`, no login, heart-beats `10000,10000`, reconnecting forever.
    pub fn new() -> ClientOptions {
        ClientOptions {
            session: SessionConfig::new(ClientConfig::new("/")),
            transport: TransportOptions::default(),
            subscription_buffer: 64,
        }
    }

    /// The `login` header (a login in the URL is used when this is not set).
    #[must_use]
    pub fn login(mut self, login: impl Into<String>) -> ClientOptions {
        self.session.client.login = Some(login.into());
        self
    }

    /// The `passcode` header (likewise).
    #[must_use]
    pub fn passcode(mut self, passcode: impl Into<String>) -> ClientOptions {
        self.session.client.passcode = Some(passcode.into());
        self
    }

    /// The `host` header: the virtual host. Default `/`.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> ClientOptions {
        self.session.client.host = host.into();
        self
    }

    /// The heart-beats offered (B-1).
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> ClientOptions {
        self.session.client.heartbeat = heartbeat;
        self
    }

    /// An extra CONNECT header.
    #[must_use]
    pub fn connect_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.session
            .client
            .headers
            .push((name.into(), value.into()));
        self
    }

    /// The reconnect policy; [`ReconnectPolicy::never`] for none.
    #[must_use]
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> ClientOptions {
        self.session.reconnect = policy;
        self
    }

    /// How long a receipt may take.
    #[must_use]
    pub fn receipt_timeout(mut self, timeout: Duration) -> ClientOptions {
        self.session.receipt_timeout = timeout;
        self
    }

    /// What happens to unconfirmed SENDs when a connection is lost.
    #[must_use]
    pub fn unconfirmed(mut self, unconfirmed: Unconfirmed) -> ClientOptions {
        self.session.unconfirmed = unconfirmed;
        self
    }

    /// Trust the CA certificates of this PEM file for TLS (instead of the Mozilla roots).
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> ClientOptions {
        self.transport.ca_file = Some(path.into());
        self
    }

    /// The largest WebSocket message sent; larger frames are cut.
    #[must_use]
    pub fn ws_max_message_size(mut self, bytes: usize) -> ClientOptions {
        self.transport.ws_max_message_size = bytes;
        self
    }

    /// Sets [`subscription_buffer`](ClientOptions::subscription_buffer) (at least 1).
    #[must_use]
    pub fn subscription_buffer(mut self, messages: usize) -> ClientOptions {
        self.subscription_buffer = messages.max(1);
        self
    }
}

/// What the client reports about its connection, for logs and dashboards
/// ([`Client::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientStatus {
    /// Opening a transport.
    Connecting {
        /// Attempts since the last connection, this one included.
        attempt: u32,
    },
    /// Connected.
    Connected {
        /// The negotiated version.
        version: Version,
        /// The server's `server` header.
        server: Option<String>,
        /// The connection's number (1, 2, ...).
        connection: u64,
    },
    /// A connection (or an attempt) ended.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// The next attempt comes after `delay`.
    Reconnecting {
        /// Its number.
        attempt: u32,
        /// The wait.
        delay: Duration,
    },
    /// The server sent ERROR.
    ServerError {
        /// Its `message` header.
        message: Option<String>,
    },
    /// The client will not reconnect again.
    GaveUp {
        /// Failed attempts.
        attempts: u32,
    },
    /// The client is closed.
    Closed,
}

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL does not parse.
    #[error("bad URL: {0}")]
    Url(#[from] UrlError),
    /// The session refused the call (closed, offline for a transaction, a full offline queue,
    /// a stale delivery...).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The receipt asked for did not come.
    #[error("receipt {receipt_id}: {}", failure_text(.reason))]
    Receipt {
        /// The receipt id.
        receipt_id: String,
        /// Why.
        reason: ReceiptFailure,
    },
    /// The connection was lost before the frame was written; it was not sent again (it asked
    /// for no receipt).
    #[error("the connection was lost before the frame was written")]
    ConnectionLost,
    /// The client gave up connecting (its reconnect policy's `max_attempts`), with the last
    /// reason it had.
    #[error("gave up after {attempts} attempt(s): {last}")]
    GaveUp {
        /// Failed attempts.
        attempts: u32,
        /// The last failure, in words.
        last: String,
    },
    /// The client is closed (disconnected, gave up, or its task is gone).
    #[error("the client is closed{}", closed_text(.reason))]
    Closed {
        /// The last connection failure the client saw, in words (a server's ERROR, a
        /// transport error), if any: why it closed, unless the application closed it.
        reason: Option<String>,
    },
}

fn closed_text(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(" (last failure: {r})"))
        .unwrap_or_default()
}

fn failure_text(reason: &ReceiptFailure) -> String {
    match reason {
        ReceiptFailure::Expired => "timed out".into(),
        ReceiptFailure::ConnectionLost => "the connection was lost first".into(),
        ReceiptFailure::ErrorReceived => "the server refused the frame (ERROR)".into(),
        ReceiptFailure::Refused(e) => format!("refused: {e}"),
        ReceiptFailure::SessionClosed => "the session closed first".into(),
        other => format!("{other:?}"),
    }
}

impl From<TransportError> for ClientError {
    fn from(error: TransportError) -> ClientError {
        ClientError::GaveUp {
            attempts: 1,
            last: error.to_string(),
        }
    }
}

/// Ends the client when the last [`Client`] clone goes.
#[derive(Debug)]
struct Inner {
    link: Link,
    next_id: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Calls and subscriptions learn the end here; the driver, woken, ends at once, and its
        // writer writes what was queued on the live connection (a `publish` completed once
        // queued), then closes. Frames still in the offline queue go with the client.
        self.link.0.lock().shut_down();
    }
}

/// An async STOMP client that reconnects by itself (see the [module docs](self)).
///
/// Cheap to clone; the connection's task stops when the last clone is dropped (its
/// subscriptions then end). For an orderly end, call [`disconnect`](Client::disconnect).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to `url` (`stomp://`, `tcp://`, `stomp+ssl://`, `ws://`, `wss://`) and waits
    /// for the first CONNECTED. Attempts follow the options' reconnect policy: with the
    /// default (forever), this waits until the broker answers; wrap it in
    /// `tokio::time::timeout` or set `max_attempts` to bound it.
    pub async fn connect(url: &str, mut options: ClientOptions) -> Result<Client, ClientError> {
        let url = StompUrl::parse(url)?;
        let client = &mut options.session.client;
        if client.login.is_none() {
            client.login = url.login().map(String::from);
        }
        if client.passcode.is_none() {
            client.passcode = url.passcode().map(String::from);
        }
        let session = ClientSession::new(options.session.clone());
        let link = Link(Arc::new(Core::new(
            session,
            options.subscription_buffer.max(1),
        )));
        let (connected, first) = oneshot::channel();
        let driver = driver::Driver::new(link.clone(), url, &options, connected);
        tokio::spawn(driver.run());
        let client = Client {
            inner: Arc::new(Inner {
                link,
                next_id: AtomicU64::new(1),
            }),
        };
        first.await.map_err(|_| client.closed_error())??;
        Ok(client)
    }

    /// The connection's reports from now on (connected, disconnected, reconnecting...). A
    /// receiver that falls 256 reports behind misses the oldest.
    pub fn status(&self) -> broadcast::Receiver<ClientStatus> {
        self.inner.link.0.status.subscribe()
    }

    /// The last connection failure the client saw, in words: a server's ERROR (with its
    /// `message`), a transport error, a refused attempt; `None` while nothing failed. Read it
    /// when a call fails with [`ClientError::Closed`] or a subscription ends, to tell why
    /// without having watched [`status`](Client::status) from the start.
    pub fn last_failure(&self) -> Option<String> {
        self.link().0.lock().last_failure.clone()
    }

    fn closed_error(&self) -> ClientError {
        self.link().0.lock().closed_error()
    }

    fn link(&self) -> &Link {
        &self.inner.link
    }

    fn next_id(&self, prefix: &str) -> Bytes {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        Bytes::from(format!("{prefix}-{n}"))
    }

    /// Sends `body` to `destination` (S-3); completes once the frame is written to the
    /// transport. Offline, it waits in the session's queue and completes once written after
    /// the reconnect. At most once: a frame lost with its connection is not sent again.
    ///
    /// The returned future is small (the frame's parts and a few words): the send futures of
    /// a pipeline (`FuturesUnordered`, `join_all`) cost little to move and keep.
    pub fn send<'a, D, B>(
        &'a self,
        destination: D,
        body: B,
    ) -> impl Future<Output = Result<(), ClientError>> + 'a
    where
        D: AsRef<[u8]> + 'a,
        B: Into<Bytes>,
    {
        self.send_with(destination, body, FrameOptions::new())
    }

    /// Sends with a receipt (R-2) and completes once the broker confirms it: at least once,
    /// resent after a reconnect; an error when its deadline passes or the client gives up.
    pub fn send_with_receipt<'a, D, B>(
        &'a self,
        destination: D,
        body: B,
    ) -> impl Future<Output = Result<(), ClientError>> + 'a
    where
        D: AsRef<[u8]> + 'a,
        B: Into<Bytes>,
    {
        self.send_with(destination, body, FrameOptions::new().receipt())
    }

    /// Sends with options: extra headers, a content type, a receipt (then it completes when
    /// confirmed), a transaction.
    pub fn send_with<'a, D, B>(
        &'a self,
        destination: D,
        body: B,
        options: FrameOptions,
    ) -> impl Future<Output = Result<(), ClientError>> + 'a
    where
        D: AsRef<[u8]> + 'a,
        B: Into<Bytes>,
    {
        send(
            self.link(),
            destination,
            body.into(),
            options,
            Until::Outcome,
        )
    }

    /// Publishes without waiting for the wire: completes as soon as the SEND is queued (in
    /// the connection's output, or in the offline queue while disconnected), like a `Sink`'s
    /// `feed` or stompjs' `publish`. It waits only while the output is full (back-pressure),
    /// and fails only when the client refuses the frame (closed, offline queue full). A frame
    /// lost with its connection before it was written is not reported: use
    /// [`send`](Client::send) to learn that, or a receipt to be sure the broker has it.
    /// Dropping the last `Client` still writes what was queued on the live connection;
    /// what waits in the offline queue is dropped with it.
    pub fn publish<'a, D, B>(
        &'a self,
        destination: D,
        body: B,
    ) -> impl Future<Output = Result<(), ClientError>> + 'a
    where
        D: AsRef<[u8]> + 'a,
        B: Into<Bytes>,
    {
        self.publish_with(destination, body, FrameOptions::new())
    }

    /// [`publish`](Client::publish) with options (extra headers, a content type, a
    /// transaction). A receipt asked for here is kept by the session (resent after a
    /// reconnect, at least once) but not waited for.
    pub fn publish_with<'a, D, B>(
        &'a self,
        destination: D,
        body: B,
        options: FrameOptions,
    ) -> impl Future<Output = Result<(), ClientError>> + 'a
    where
        D: AsRef<[u8]> + 'a,
        B: Into<Bytes>,
    {
        send(
            self.link(),
            destination,
            body.into(),
            options,
            Until::Queued,
        )
    }

    /// Subscribes to `destination` (S-4): a [`Stream`](futures_util::Stream) of messages,
    /// kept across reconnects. Dropping it (or [`Subscription::unsubscribe`]) sends
    /// UNSUBSCRIBE.
    pub async fn subscribe(
        &self,
        destination: impl AsRef<[u8]>,
        ack: AckMode,
    ) -> Result<Subscription, ClientError> {
        self.subscribe_with(destination, ack, FrameOptions::new())
            .await
    }

    /// Subscribes with options (extra SUBSCRIBE headers such as `prefetch-count`; a receipt,
    /// then it completes when confirmed).
    pub async fn subscribe_with(
        &self,
        destination: impl AsRef<[u8]>,
        ack: AckMode,
        options: FrameOptions,
    ) -> Result<Subscription, ClientError> {
        let id = self.next_id("sub");
        let destination = destination.as_ref();
        let link = self.link();
        let (messages, wait) = link
            .call(|shared, now| {
                let receipt =
                    shared
                        .session
                        .subscribe(now, &id, destination, ack, options.clone())?;
                let (sender, messages) = inbox::inbox(link.0.buffer);
                shared.subscriptions.insert(id.clone(), sender);
                Ok((messages, shared.receipt_wait(receipt)))
            })
            .await?;
        // The stream exists at once (messages may come before the receipt); a receipt only
        // delays the answer, which is what a caller asking for one wants. Dropped on an
        // error, it unsubscribes.
        let subscription = Subscription::new(id, messages, link.clone());
        link.wait(wait).await?;
        Ok(subscription)
    }

    /// Begins a transaction (S-11). It needs a live connection; it is aborted when dropped
    /// uncommitted, and lost (rolled back by the broker) with its connection.
    pub async fn begin(&self) -> Result<Transaction, ClientError> {
        let id = self.next_id("tx");
        self.link()
            .call(|shared, now| {
                shared
                    .session
                    .begin(now, &id, FrameOptions::new())
                    .map(drop)
            })
            .await?;
        Ok(Transaction::new(id, self.link().clone()))
    }

    /// Disconnects in order (DISCONNECT with a receipt, R-5) and ends the client: every clone,
    /// subscription and pending call then gets [`ClientError::Closed`].
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        let done = self
            .link()
            .call(|shared, now| {
                shared.session.disconnect(now)?;
                let (reply, done) = oneshot::channel();
                shared.disconnecting.push(reply);
                shared.timers_changed();
                Ok(done)
            })
            .await?;
        done.await.map_err(|_| self.closed_error())?
    }
}

/// What a SEND call waits for once the frame is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Nothing more ([`Client::publish`]).
    Queued,
    /// Its receipt if it asked for one, else its bytes written ([`Client::send`]).
    Outcome,
}

/// SEND, for [`Client`] and [`Transaction`]: the session queues the frame in the caller's
/// task; then the call waits for what `until` says.
/// One future for all of them, an `async` block that keeps the arguments once (an `async fn`,
/// or one inside another, would keep copies); the queueing and the first look at the outcome
/// take the lock once ([`Link::call_wait`]).
#[allow(clippy::manual_async_fn)]
pub(crate) fn send<'a, D: AsRef<[u8]> + 'a>(
    link: &'a Link,
    destination: D,
    body: Bytes,
    options: FrameOptions,
    until: Until,
) -> impl Future<Output = Result<(), ClientError>> + 'a {
    async move {
        let destination = destination.as_ref();
        link.call_wait(|shared, now| {
            // On the wire now, or in the offline queue (behind what waits there)?
            let ready = shared.session.is_connected() && shared.session.offline_queued().0 == 0;
            let receipt = shared
                .session
                .send(now, destination, body.clone(), options.clone())?;
            // A publish's receipt is the session's alone: no slot that nobody would take.
            Ok(match (until, receipt) {
                (Until::Queued, _) => Wait::Now,
                (Until::Outcome, Some(id)) => shared.receipt_wait(Some(id)),
                (Until::Outcome, None) => shared.send_wait(ready),
            })
        })
        .await
    }
}
