//! Sans-IO STOMP connections: the part of the protocol that lives between frames.
//!
//! [`ClientConnection`] and [`ServerConnection`] do version negotiation (C-3..C-9), heart-beats
//! (B-1..B-8), receipts (R-1..R-8), ERROR handling, subscriptions, acknowledgements and
//! transactions (S-4..S-14) for one connection each. They never touch a socket, a thread or a
//! clock: you move bytes and time in and out.
//!
//! # The drive loop
//!
//! Inputs are `handle_*` calls and the typed frame methods; outputs are `poll_*` calls. Every
//! call that depends on time takes `now: Instant`, which must come from one monotonic clock
//! (a `now` earlier than one already seen is taken as the latest one). (`Instant` is the
//! connection's [`Timestamp`] type: `std::time::Instant` by default, or e.g. a `Duration`
//! since boot without `std`.)
//!
//! ```text
//! loop {
//!     // 1. Inputs: whichever happened.
//!     conn.handle_input(now, &buf[..n]);   // bytes read (any chunking); handle_close() at EOF
//!     conn.handle_timeout(now);            // poll_timeout() has passed (early calls are no-ops)
//!     conn.send(now, ...);                 // your own frames (client) / message(), receipt()...
//!
//!     // 2. Outputs: drain both queues until both are empty (acting on an event may queue
//!     //    frames, and handing out queued bytes may produce the Closed event).
//!     while let Some(event) = conn.poll_event() { /* act on it */ }
//!     while let Some(bytes) = conn.poll_transmit() { /* write all of it */ }
//!
//!     // 3. Wait for new bytes, or until conn.poll_timeout() (None: no timer).
//! }
//! ```
//!
//! When the `Closed` event arrives, write whatever `poll_transmit` still returns (the server's
//! ERROR or RECEIPT, the client's DISCONNECT) and close the transport. After that every input
//! is ignored and every typed method fails with [`UsageError::Closed`].
//!
//! # Input is applied in order, as you poll
//!
//! `handle_input` only buffers bytes (and counts them as life for the heart-beat timers, B-5);
//! `poll_event` decodes the next frame, checks it, applies it to the connection's state and
//! returns its event, one frame at a time (the h11 shape). A timeout found by
//! `handle_timeout` and the end of input reported by `handle_close` take their place in the
//! same order: after the frames received before them (at once when nothing received is still
//! waiting). So while you handle an event, the connection is in the state right after that
//! frame, whatever else came in the same read: the server can still answer a SEND's receipt
//! when a DISCONNECT or a malformed frame follows it (R-2, R-3), or deliver to the
//! subscription whose SUBSCRIBE it is handling when an UNSUBSCRIBE follows.
//!
//! The same holds for failures: a malformed or illegal frame is found when `poll_event`
//! reaches it, after the events of the frames before it; `failure()` then reports it and
//! `handle_input` returns it from then on.
//!
//! Errors come in two kinds. A [`UsageError`] means *you* asked for something the protocol does
//! not allow in this state, role or version (SEND before CONNECTED, ACK without the header the
//! version needs, a frame after DISCONNECT...): nothing is queued, nothing changes, the
//! connection stays usable. A [`ConnectionError`] means the *peer* broke the protocol or went
//! silent: it is fatal and sticky (`handle_input` keeps returning it once `poll_event` has
//! reached it), it is reported as `Closed(CloseReason::Failed(..))`, and a server has queued an
//! ERROR frame about it.
//!
//! # Queues and memory
//!
//! Nothing is ever dropped, and both queues grow only in answer to your calls:
//!
//! * the transmit queue holds the frames your calls produced, plus at most one heart-beat EOL
//!   (an EOL is only added when the queue is empty) and at most one ERROR frame;
//! * the event queue holds the few events of the frame `poll_event` applied last (a frame and
//!   the transactions it aborted, say), plus a few for closing;
//! * the decoder holds the bytes you fed to `handle_input` until `poll_event` has taken their
//!   frames out (one frame at most is buffered beyond them, bounded by [`Limits`]). Once every
//!   event is polled it holds at most the unfinished frame, `max_frame` bytes. Feeding more
//!   while over `max_frame` bytes still wait fails the connection with
//!   [`ConnectionError::InputNotPolled`] (a server answers ERROR), so a peer cannot grow it
//!   without bound even when the application stops polling: the most ever held is `max_frame`
//!   plus one read.
//!
//! If you stop draining, stop reading the transport too: that is the back-pressure.
//! `pending_transmit()` and `pending_events()` report the sizes. A server also bounds what a
//! client can make it remember: subscriptions and open transactions
//! ([`ServerConfig::max_subscriptions`], [`ServerConfig::max_transactions`], H-8).
//!
//! # Timers
//!
//! Each connection keeps a fixed table of four deadlines (`SendHeartbeat`, `PeerSilent`,
//! `DisconnectReceipt`, `Connect`); `poll_timeout` returns the earliest. A deadline too far away
//! for the [`Timestamp`] type is clamped to the latest point it can represent
//! ([`Timestamp::saturating_add`]). Heart-beats run only in 1.1 and 1.2 sessions (B-8) and
//! start once CONNECTED is received (client) or sent (server) (B-7):
//!
//! * **sending** (B-4, D-20): when nothing was queued for the negotiated interval, an EOL
//!   (`\n`) is queued. Bytes count as written when they are queued.
//! * **receiving** (B-5, B-6, D-20): any byte fed to `handle_input` counts as life, even in the
//!   middle of a frame (also [`note_activity`](ClientConnection::note_activity), e.g. for
//!   WebSocket pings). The peer is declared dead after *interval + grace* of silence. The grace
//!   defaults to the interval itself (2n in total), as stompjs and ActiveMQ Artemis do: the
//!   sender's own timer only fires *after* n, networks and schedulers add delay, and a strict n
//!   (ActiveMQ Classic's default) drops healthy connections. Configure it with
//!   `heartbeat_grace`.
//! * **DISCONNECT receipt** (client, R-5, D-22): after DISCONNECT with a receipt, the
//!   connection closes when the RECEIPT arrives, when the peer closes (R-8), or 15 s after the
//!   DISCONNECT was queued (`disconnect_timeout`) with [`CloseReason::ReceiptTimeout`].
//! * **opening the session** (`connect_timeout`, 10 s by default): a server whose client has
//!   not sent CONNECT in time answers ERROR and closes; a client that has not received
//!   CONNECTED (or ERROR) in time after its CONNECT closes. Both fail with
//!   [`ConnectionError::ConnectTimeout`]. The server's clock starts at
//!   [`ServerConnection::start`] (call it when the transport is accepted), else at the first
//!   `handle_input` or `handle_timeout`.
//!
//! # States
//!
//! Client (`connect` → CONNECTED → `disconnect` → RECEIPT):
//!
//! | state         | may send                          | accepts from the server          |
//! |---------------|-----------------------------------|----------------------------------|
//! | Idle          | `connect`                         | nothing (any frame is fatal)     |
//! | Connecting    | nothing                           | CONNECTED, ERROR (D-16)          |
//! | Connected     | every client frame but CONNECT    | MESSAGE, RECEIPT, ERROR          |
//! | Disconnecting | nothing (R-6)                     | MESSAGE, RECEIPT, ERROR          |
//! | Closed        | nothing                           | nothing (input discarded, D-23)  |
//!
//! Server (CONNECT → `accept` → ... → DISCONNECT):
//!
//! | state          | may send                              | accepts from the client           |
//! |----------------|---------------------------------------|-----------------------------------|
//! | AwaitingConnect| nothing                               | CONNECT, STOMP (D-16)             |
//! | AwaitingAccept | `accept`, `error` (reject, C-10)      | held until `accept` (D-16)        |
//! | Connected      | `message`, `receipt`, `error`         | every client frame but CONNECT    |
//! | Disconnecting  | `receipt`, `error`                    | nothing (R-6)                     |
//! | Closing        | nothing (ERROR or RECEIPT being sent) | nothing (D-23)                    |
//! | Closed         | nothing                               | nothing                           |
//!
//! # Example: a client and a server back to back
//!
//! ```
//! use std::time::{Duration, Instant};
//! use stomp_codec::{
//!     AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, FrameOptions,
//!     ServerConfig, ServerConnection, ServerEvent, Version,
//! };
//!
//! let now = Instant::now();
//! let mut client = ClientConnection::new(ClientConfig::new("/").login("guest").passcode("guest"));
//! let mut server = ServerConnection::new(ServerConfig::default());
//!
//! // Moves bytes both ways (a real program writes them to a socket instead).
//! fn pump(client: &mut ClientConnection, server: &mut ServerConnection, now: Instant) {
//!     while let Some(bytes) = client.poll_transmit() {
//!         server.handle_input(now, &bytes).unwrap();
//!     }
//!     while let Some(bytes) = server.poll_transmit() {
//!         client.handle_input(now, &bytes).unwrap();
//!     }
//! }
//!
//! client.connect(now)?;
//! pump(&mut client, &mut server, now);
//! let Some(ServerEvent::Connect(request)) = server.poll_event() else { panic!() };
//! assert_eq!(request.login.as_deref(), Some(&b"guest"[..]));
//! server.accept(now, Default::default())?; // or server.error(now, "bad credentials")
//! pump(&mut client, &mut server, now);
//! let Some(ClientEvent::Connected { version, send_interval, .. }) = client.poll_event() else {
//!     panic!()
//! };
//! assert_eq!(version, Version::V1_2);
//! assert_eq!(send_interval, Some(Duration::from_secs(10)));
//!
//! // Subscribe, then send to ourselves with a receipt.
//! client.subscribe(now, "sub-0", "/queue/a", AckMode::ClientIndividual, FrameOptions::new())?;
//! let receipt = client.send(now, "/queue/a", "hello", FrameOptions::new().receipt())?;
//! assert_eq!(receipt.as_deref(), Some(&b"rcpt-1"[..]));
//! pump(&mut client, &mut server, now);
//!
//! // The server application: route the SEND to the subscription and confirm it.
//! let Some(ServerEvent::Subscribe { id, .. }) = server.poll_event() else { panic!() };
//! let Some(ServerEvent::Send { frame, receipt, .. }) = server.poll_event() else { panic!() };
//! server.message(now, &id, &frame)?;
//! server.receipt(now, &receipt.unwrap())?;
//! pump(&mut client, &mut server, now);
//!
//! let Some(ClientEvent::Message(message)) = client.poll_event() else { panic!() };
//! assert_eq!(message.body(), &b"hello"[..]);
//! assert_eq!(
//!     client.poll_event(),
//!     Some(ClientEvent::ReceiptConfirmed { receipt_id: "rcpt-1".into() })
//! );
//! client.ack(now, &message, FrameOptions::new())?; // 1.2: `id` = the MESSAGE's `ack` header
//!
//! // Orderly shutdown (R-5): DISCONNECT with a receipt, closed when it is confirmed.
//! client.disconnect(now, FrameOptions::new().receipt())?;
//! pump(&mut client, &mut server, now);
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Ack { .. })));
//! let Some(ServerEvent::Disconnect { receipt: Some(r) }) = server.poll_event() else { panic!() };
//! server.receipt(now, &r)?;
//! pump(&mut client, &mut server, now);
//! assert_eq!(server.poll_event(), Some(ServerEvent::Closed(CloseReason::Disconnected)));
//! assert!(matches!(client.poll_event(), Some(ClientEvent::ReceiptConfirmed { .. })));
//! assert_eq!(client.poll_event(), Some(ClientEvent::Closed(CloseReason::Disconnected)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod error;
mod receipts;
mod server;
mod timestamp;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::EncodeError;
use crate::frame::Frame;
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::{Version, VersionSet};

pub use client::{ClientConfig, ClientConnection};
pub use error::{ConnectionError, UsageError};
pub use server::{Accept, ErrorReply, ServerConfig, ServerConnection};
pub(crate) use timestamp::timed_struct;
pub use timestamp::Timestamp;

/// Header names the connection reads or writes (H-9: matched exactly).
pub(crate) mod names {
    pub(crate) const ACCEPT_VERSION: &str = "accept-version";
    pub(crate) const ACK: &str = "ack";
    pub(crate) const CONTENT_LENGTH: &str = "content-length";
    pub(crate) const CONTENT_TYPE: &str = "content-type";
    pub(crate) const DESTINATION: &str = "destination";
    pub(crate) const HEART_BEAT: &str = "heart-beat";
    pub(crate) const HOST: &str = "host";
    pub(crate) const ID: &str = "id";
    pub(crate) const LOGIN: &str = "login";
    pub(crate) const MESSAGE: &str = "message";
    pub(crate) const MESSAGE_ID: &str = "message-id";
    pub(crate) const PASSCODE: &str = "passcode";
    pub(crate) const RECEIPT: &str = "receipt";
    pub(crate) const RECEIPT_ID: &str = "receipt-id";
    pub(crate) const SERVER: &str = "server";
    pub(crate) const SESSION: &str = "session";
    pub(crate) const SUBSCRIPTION: &str = "subscription";
    pub(crate) const TRANSACTION: &str = "transaction";
    pub(crate) const VERSION: &str = "version";
}

/// The default heart-beat both roles offer: `10000,10000` (D-19, as stompjs and Spring).
pub const DEFAULT_HEARTBEAT: Heartbeat = Heartbeat::new(10_000, 10_000);

/// How long a client waits for the RECEIPT of its DISCONNECT by default (D-22).
pub const DEFAULT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a server waits for CONNECT, and a client for CONNECTED, by default
/// ([`ServerConfig::connect_timeout`], [`ClientConfig::connect_timeout`]).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many active subscriptions a server allows a client by default
/// ([`ServerConfig::max_subscriptions`], H-8).
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1024;

/// How many open transactions a server allows a client by default
/// ([`ServerConfig::max_transactions`], H-8).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 256;

/// Acknowledgement mode of a subscription (S-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AckMode {
    /// `auto`: delivery counts as consumption; no ACK is sent.
    #[default]
    Auto,
    /// `client`: an ACK covers the message and every earlier one of the subscription.
    Client,
    /// `client-individual` (1.1+): ACK and NACK cover one message.
    ClientIndividual,
}

impl AckMode {
    /// The header value, e.g. `"client-individual"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }

    /// Parses an `ack` header value as defined in `version`: `client-individual` does not exist
    /// in 1.0 (S-5).
    pub fn parse(value: &[u8], version: Version) -> Option<AckMode> {
        match value {
            b"auto" => Some(AckMode::Auto),
            b"client" => Some(AckMode::Client),
            b"client-individual" if version != Version::V1_0 => Some(AckMode::ClientIndividual),
            _ => None,
        }
    }

    /// Whether messages of this mode must be acknowledged (and, in 1.2, carry `ack`, S-14).
    pub const fn needs_ack(self) -> bool {
        !matches!(self, AckMode::Auto)
    }
}

/// How a frame asks for a receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ReceiptRequest {
    #[default]
    None,
    Generated,
    Id(Bytes),
}

/// Options shared by the client's typed frame methods: a receipt, a transaction and extra
/// headers.
///
/// ```
/// use stomp_codec::FrameOptions;
/// let opts = FrameOptions::new().receipt().transaction("tx-1").header("priority", "9");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct FrameOptions {
    pub(crate) receipt: ReceiptRequest,
    pub(crate) transaction: Option<Bytes>,
    pub(crate) headers: Vec<(Bytes, Bytes)>,
}

impl FrameOptions {
    /// No receipt, no transaction, no extra headers.
    pub fn new() -> FrameOptions {
        FrameOptions::default()
    }

    /// Asks for a receipt with a generated id (`rcpt-1`, `rcpt-2`, ..., D-21); the method
    /// returns the id, and [`ClientEvent::ReceiptConfirmed`] reports it (R-1, R-2).
    pub fn receipt(mut self) -> FrameOptions {
        self.receipt = ReceiptRequest::Generated;
        self
    }

    /// Asks for a receipt with this id; refused while the same id is pending (R-1).
    pub fn receipt_id(mut self, id: impl AsRef<[u8]>) -> FrameOptions {
        self.receipt = ReceiptRequest::Id(Bytes::copy_from_slice(id.as_ref()));
        self
    }

    /// Makes the frame part of an open transaction (S-11). Used by `send`, `ack` and `nack`;
    /// the other methods ignore it.
    pub fn transaction(mut self, transaction: impl AsRef<[u8]>) -> FrameOptions {
        self.transaction = Some(Bytes::copy_from_slice(transaction.as_ref()));
        self
    }

    /// Appends a header after the ones the method writes (a repeated name loses: the first
    /// occurrence wins, H-6).
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> FrameOptions {
        self.headers.push((
            Bytes::copy_from_slice(name.as_ref()),
            Bytes::copy_from_slice(value.as_ref()),
        ));
        self
    }

    /// Shorthand for `header("content-type", content_type)` (H-4).
    pub fn content_type(self, content_type: impl AsRef<[u8]>) -> FrameOptions {
        self.header(names::CONTENT_TYPE, content_type)
    }
}

/// Why a connection closed ([`ClientEvent::Closed`], [`ServerEvent::Closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Orderly end: the DISCONNECT was handed out without a receipt, its RECEIPT arrived (or was
    /// handed out by the server), or the peer closed after DISCONNECT (R-5, R-8, D-22).
    Disconnected,
    /// The RECEIPT of DISCONNECT did not arrive in time (D-22). The frames sent before may or
    /// may not have been processed.
    ReceiptTimeout,
    /// Client: the server sent ERROR ([`ClientEvent::ErrorReceived`] has it) (R-9, D-23).
    ErrorReceived,
    /// Server: the application sent ERROR with [`ServerConnection::error`] (C-10, R-9).
    ErrorSent,
    /// The peer broke the protocol or went silent. A server has sent ERROR about it.
    Failed(ConnectionError),
    /// The transport ended ([`handle_close`](ClientConnection::handle_close)) without
    /// DISCONNECT.
    PeerClosed,
}

/// A MESSAGE received by a client (S-13), with what the client knows of its subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The whole frame, every header included.
    pub frame: Frame,
    /// The `destination` header.
    pub destination: Bytes,
    /// The `message-id` header.
    pub message_id: Bytes,
    /// The `subscription` header (only 1.0 servers may leave it out).
    pub subscription: Option<Bytes>,
    /// The ack mode of the subscription, when it is known.
    pub ack_mode: Option<AckMode>,
    /// Set when the message names no subscription this client has: it may race with an
    /// UNSUBSCRIBE, so it is delivered rather than refused (D-24).
    pub unknown_subscription: bool,
}

impl Message {
    /// The body.
    pub fn body(&self) -> &[u8] {
        self.frame.body()
    }

    /// The body as a `Bytes` sharing the received bytes (no copy).
    pub fn body_bytes(&self) -> Bytes {
        self.frame.body_bytes()
    }
}

impl AsRef<Frame> for Message {
    fn as_ref(&self) -> &Frame {
        &self.frame
    }
}

impl AsRef<Frame> for Frame {
    fn as_ref(&self) -> &Frame {
        self
    }
}

/// What a [`ClientConnection`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// A Message is the common case; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum ClientEvent {
    /// CONNECTED arrived: the session is open (C-6, C-7, B-3).
    Connected {
        /// The negotiated version.
        version: Version,
        /// The `session` header.
        session: Option<String>,
        /// The `server` header (`name/version comments`).
        server: Option<String>,
        /// The server's `heart-beat` header (`0,0` when missing or in 1.0).
        heartbeat: Heartbeat,
        /// How often this client sends heart-beats (`None`: never).
        send_interval: Option<Duration>,
        /// How often the server promised to send (`None`: never); silence for this plus the
        /// grace ends the connection.
        receive_interval: Option<Duration>,
    },
    /// A MESSAGE (S-13).
    Message(Message),
    /// A RECEIPT matched a pending receipt (R-2). Each id is confirmed at most once.
    ReceiptConfirmed {
        /// The `receipt-id`.
        receipt_id: Bytes,
    },
    /// A RECEIPT whose `receipt-id` is not pending; not fatal (R-2).
    UnknownReceipt {
        /// The `receipt-id`.
        receipt_id: Bytes,
    },
    /// The server sent ERROR (R-9, R-10); `Closed(ErrorReceived)` follows (D-23).
    ErrorReceived {
        /// The `message` header (invalid UTF-8 replaced).
        message: Option<String>,
        /// The body (details, often text).
        body: Bytes,
        /// The `receipt-id` header (R-11): the pending receipt it names has failed.
        receipt_id: Option<Bytes>,
        /// The whole frame.
        frame: Frame,
    },
    /// A server frame missing a header its version requires, dropped; not fatal (D-24).
    ProtocolViolation {
        /// What is wrong.
        error: ConnectionError,
        /// The dropped frame.
        frame: Frame,
    },
    /// The server went silent (B-6); `Closed(Failed(HeartbeatTimeout))` follows.
    HeartbeatTimeout,
    /// The connection is over; write what `poll_transmit` still returns and close the
    /// transport.
    Closed(CloseReason),
}

/// A CONNECT (or STOMP) the server application must answer with
/// [`accept`](ServerConnection::accept) or [`error`](ServerConnection::error) (C-10).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The version that `accept` will establish: the highest common one (C-8).
    pub version: Version,
    /// What the client offered (C-3; `{1.0}` when `accept-version` was missing or empty).
    pub accept_version: VersionSet,
    /// The `host` header: the virtual host wanted (C-4; D-18).
    pub host: Option<Bytes>,
    /// The `login` header (C-5).
    pub login: Option<Bytes>,
    /// The `passcode` header (C-5).
    pub passcode: Option<Bytes>,
    /// The client's `heart-beat` (`0,0` when missing or in 1.0).
    pub heartbeat: Heartbeat,
    /// The whole frame.
    pub frame: Frame,
}

/// What a [`ServerConnection`] reports: each client frame as a typed event, after validation
/// (D-24), plus the connection's own events.
///
/// Every frame event carries the client's `receipt` header; answer it with
/// [`receipt`](ServerConnection::receipt) once the frame is processed (R-3), or with an
/// [`error`](ServerConnection::error) that names it (R-11).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum ServerEvent {
    /// CONNECT or STOMP: call `accept` or `error` (C-1, C-2, C-10).
    Connect(ConnectRequest),
    /// SEND (S-3).
    Send {
        /// The `destination` header.
        destination: Bytes,
        /// The `transaction` header: the frame belongs to this open transaction (S-11).
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame (user headers and body, S-3; pass it to `message`).
        frame: Frame,
    },
    /// SUBSCRIBE (S-4, S-5). The connection now knows the subscription.
    Subscribe {
        /// The `id` header; for a 1.0 SUBSCRIBE without one, the destination.
        id: Bytes,
        /// The `destination` header.
        destination: Bytes,
        /// The `ack` header (`auto` when missing).
        ack: AckMode,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame (selectors and other extra headers, S-16).
        frame: Frame,
    },
    /// UNSUBSCRIBE (S-6). The subscription is gone.
    Unsubscribe {
        /// The subscription's id (as in [`ServerEvent::Subscribe`]).
        id: Bytes,
        /// The subscription's destination.
        destination: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame.
        frame: Frame,
    },
    /// ACK (S-7..S-9).
    Ack {
        /// What is acknowledged: the `id` header in 1.2 (the `ack` value of the MESSAGE, which
        /// [`message`](ServerConnection::message) sets to the message id), `message-id` in 1.0
        /// and 1.1.
        id: Bytes,
        /// The `subscription` header (1.1 requires it).
        subscription: Option<Bytes>,
        /// The `transaction` header (S-11).
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame.
        frame: Frame,
    },
    /// NACK (1.1+, S-10); fields as for [`ServerEvent::Ack`].
    Nack {
        /// What is refused (see [`ServerEvent::Ack`]).
        id: Bytes,
        /// The `subscription` header.
        subscription: Option<Bytes>,
        /// The `transaction` header.
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame.
        frame: Frame,
    },
    /// BEGIN (S-11). The transaction is open.
    Begin {
        /// The transaction id.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// COMMIT (S-11). The transaction is closed.
    Commit {
        /// The transaction id.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// ABORT (S-11). The transaction is closed.
    Abort {
        /// The transaction id.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// DISCONNECT (R-5). Without a receipt, `Closed(Disconnected)` follows at once; with one,
    /// the connection closes once your [`receipt`](ServerConnection::receipt) for it is handed
    /// out (or the client closes). Input after it is ignored (R-6).
    Disconnect {
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// A transaction still open when the session ended is rolled back (R-7). Reported before
    /// the `Disconnect` or `Closed` event that ended it.
    TransactionAborted {
        /// The transaction id.
        transaction: Bytes,
    },
    /// The client went silent (B-6); `Closed(Failed(HeartbeatTimeout))` follows.
    HeartbeatTimeout,
    /// The connection is over; write what `poll_transmit` still returns and close the
    /// transport.
    Closed(CloseReason),
}

impl ServerEvent {
    /// The `receipt` the client asked for with this frame, if any.
    pub fn receipt(&self) -> Option<&Bytes> {
        match self {
            ServerEvent::Send { receipt, .. }
            | ServerEvent::Subscribe { receipt, .. }
            | ServerEvent::Unsubscribe { receipt, .. }
            | ServerEvent::Ack { receipt, .. }
            | ServerEvent::Nack { receipt, .. }
            | ServerEvent::Begin { receipt, .. }
            | ServerEvent::Commit { receipt, .. }
            | ServerEvent::Abort { receipt, .. }
            | ServerEvent::Disconnect { receipt } => receipt.as_ref(),
            _ => None,
        }
    }
}

/// The fixed timer table (the quinn-proto shape): one slot per kind of deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Queue an EOL if nothing was queued for the send interval (B-4).
    SendHeartbeat = 0,
    /// The peer has been silent for its interval plus grace (B-6).
    PeerSilent = 1,
    /// The RECEIPT of DISCONNECT is overdue (D-22).
    DisconnectReceipt = 2,
    /// The session is not open yet: no CONNECT (server) or no CONNECTED (client) in time.
    Connect = 3,
}

const TIMERS: usize = 4;

#[derive(Debug)]
pub(crate) struct TimerTable<I>([Option<I>; TIMERS]);

impl<I> Default for TimerTable<I> {
    fn default() -> Self {
        TimerTable(core::array::from_fn(|_| None))
    }
}

impl<I: Timestamp> TimerTable<I> {
    pub(crate) fn set(&mut self, timer: Timer, at: Option<I>) {
        self.0[timer as usize] = at;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<I> {
        self.0[timer as usize]
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn expired(&self, timer: Timer, now: I) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    pub(crate) fn clear_all(&mut self) {
        self.0 = [None; TIMERS];
    }

    pub(crate) fn next(&self) -> Option<I> {
        self.0.iter().flatten().min().copied()
    }
}

/// The key of the subscription that a 1.0 UNSUBSCRIBE naming `destination` instead of an `id`
/// ends (S-6). Only one subscription ends per UNSUBSCRIBE: the one a SUBSCRIBE without `id`
/// made for that destination (its key is the destination), else the oldest active one to that
/// destination. When none matches, the destination itself (which then names nothing).
/// `view` gives a subscription's destination and creation number.
pub(crate) fn by_destination<S>(
    subscriptions: &BTreeMap<Bytes, S>,
    destination: Bytes,
    view: impl Fn(&S) -> (&Bytes, u64),
) -> Bytes {
    if subscriptions
        .get(&destination)
        .is_some_and(|s| *view(s).0 == destination)
    {
        return destination;
    }
    subscriptions
        .iter()
        .filter(|(_, s)| *view(s).0 == destination)
        .min_by_key(|(_, s)| view(s).1)
        .map_or(destination, |(key, _)| key.clone())
}

/// A negotiated heart-beat interval in ms as a duration; 0 means none (B-3).
pub(crate) fn interval(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// What both roles share: the codec pair, the transmit queue and the heart-beat timers.
#[derive(Debug)]
pub(crate) struct Core<I> {
    pub(crate) decoder: Decoder,
    pub(crate) encoder: Encoder,
    out: BytesMut,
    pub(crate) timers: TimerTable<I>,
    /// Interval at which we promised to send (B-4).
    send_every: Option<Duration>,
    /// Interval at which the peer promised to send, and the grace on top (B-6, D-20).
    peer_every: Option<Duration>,
    grace: Option<Duration>,
    last_rx: Option<I>,
    last_tx: Option<I>,
    /// The latest `now` seen: time never goes backwards inside the connection.
    latest: Option<I>,
    /// `handle_timeout` was called at this time and its closing timers (peer silent, receipt
    /// of DISCONNECT, connect) are still to be checked, after the input received before it.
    pub(crate) timeout_due: Option<I>,
    /// `handle_close` was called: the transport ended after the input buffered so far.
    pub(crate) input_closed: bool,
}

impl<I: Timestamp> Core<I> {
    /// Before negotiation both directions use 1.0 rules (D-14).
    pub(crate) fn new(limits: Limits, grace: Option<Duration>) -> Core<I> {
        Core {
            decoder: Decoder::with_limits(Version::V1_0, limits),
            encoder: Encoder::new(Version::V1_0),
            out: BytesMut::new(),
            timers: TimerTable::default(),
            send_every: None,
            peer_every: None,
            grace,
            last_rx: None,
            last_tx: None,
            latest: None,
            timeout_due: None,
            input_closed: false,
        }
    }

    /// `now`, or the latest time already seen if `now` is earlier: a clock that steps back
    /// must not rewind a timer (which could fire one early) or move one later.
    pub(crate) fn clock(&mut self, now: I) -> I {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }

    /// The latest time seen, if any call has brought one yet (for work done in `poll_event`,
    /// which takes no `now`).
    pub(crate) fn latest_seen(&self) -> Option<I> {
        self.latest
    }

    /// Arms `timer` to fire `after` from `now` (clamped to the latest representable point when
    /// that is too far away).
    pub(crate) fn arm(&mut self, timer: Timer, now: I, after: Duration) {
        let now = self.clock(now);
        self.timers.set(timer, Some(now.saturating_add(after)));
    }

    /// Records a `handle_timeout(now)` whose closing timers are checked once the input received
    /// before it has been processed (the roles' `poll_event` does it).
    pub(crate) fn note_timeout(&mut self, now: I) -> I {
        let now = self.clock(now);
        self.timeout_due = Some(now);
        now
    }

    /// Encodes `frame` onto the transmit queue; on error nothing is queued (E-9).
    pub(crate) fn queue(&mut self, now: I, frame: &Frame) -> Result<(), EncodeError> {
        self.encoder.encode(frame, &mut self.out)?;
        self.note_tx(now);
        Ok(())
    }

    /// Something was queued at `now`: the next heart-beat is due one interval later (D-20).
    fn note_tx(&mut self, now: I) {
        let now = self.clock(now);
        self.last_tx = Some(now);
        self.arm_send(now);
    }

    fn arm_send(&mut self, from: I) {
        if let Some(every) = self.send_every {
            self.timers
                .set(Timer::SendHeartbeat, Some(from.saturating_add(every)));
        }
    }

    /// Bytes arrived at `now` (B-5): the peer is alive.
    pub(crate) fn note_rx(&mut self, now: I) {
        let now = self.clock(now);
        self.last_rx = Some(now);
        self.arm_peer_silent(now);
    }

    /// The error for more input while more than a frame's worth waits unapplied: the
    /// application is not polling, and the peer must not grow the connection's memory without
    /// bound.
    pub(crate) fn unpolled_input(&self) -> Option<ConnectionError> {
        let buffered = self.decoder.buffered();
        let max = self.decoder.limits().max_frame;
        (buffered > max).then_some(ConnectionError::InputNotPolled { buffered, max })
    }

    /// The peer is dead if nothing arrives within interval + grace after `from` (D-20).
    fn arm_peer_silent(&mut self, from: I) {
        if let Some(every) = self.peer_every {
            let span = every.saturating_add(self.grace.unwrap_or(every));
            self.timers
                .set(Timer::PeerSilent, Some(from.saturating_add(span)));
        }
    }

    /// Starts heart-beating in both directions (B-7).
    pub(crate) fn start_heartbeats(
        &mut self,
        now: I,
        send_every: Option<Duration>,
        peer_every: Option<Duration>,
    ) {
        let now = self.clock(now);
        self.send_every = send_every;
        self.peer_every = peer_every;
        // Due n after the last octet written, e.g. the CONNECT (D-20).
        self.arm_send(self.last_tx.unwrap_or(now));
        self.arm_peer_silent(self.last_rx.map_or(now, |t| t.max(now)));
    }

    /// Stops every timer and heart-beat (DISCONNECT sent, connection closing).
    pub(crate) fn stop_timers(&mut self) {
        self.send_every = None;
        self.peer_every = None;
        self.timers.clear_all();
    }

    /// Queues a heart-beat EOL if the send timer is due. The EOL is skipped (but the timer
    /// re-armed) when bytes are still waiting to be drained: they will carry the beat.
    pub(crate) fn send_heartbeat_if_due(&mut self, now: I) {
        if self.timers.expired(Timer::SendHeartbeat, now) {
            if self.out.is_empty() {
                self.out.extend_from_slice(b"\n");
            }
            self.note_tx(now);
        }
    }

    /// If the peer has been silent too long: the error to fail with (B-6).
    pub(crate) fn peer_silent(&self, now: I) -> Option<ConnectionError> {
        if !self.timers.expired(Timer::PeerSilent, now) {
            return None;
        }
        Some(ConnectionError::HeartbeatTimeout {
            interval: self.peer_every.unwrap_or_default(),
            silence: self
                .last_rx
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        })
    }

    /// Switches the decoder and encoder to the negotiated version (E-8, C-12).
    pub(crate) fn set_version(&mut self, version: Version) {
        self.decoder.set_version(version);
        self.encoder.set_version(version);
    }

    pub(crate) fn take_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    pub(crate) fn transmit_into(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.out.len();
        if dst.is_empty() {
            core::mem::swap(dst, &mut self.out);
        } else {
            dst.extend_from_slice(&self.out);
            self.out.clear();
        }
        n
    }

    pub(crate) fn pending_transmit(&self) -> usize {
        self.out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_modes_by_version_s5() {
        assert_eq!(AckMode::parse(b"auto", Version::V1_0), Some(AckMode::Auto));
        assert_eq!(
            AckMode::parse(b"client", Version::V1_0),
            Some(AckMode::Client)
        );
        assert_eq!(AckMode::parse(b"client-individual", Version::V1_0), None);
        assert_eq!(
            AckMode::parse(b"client-individual", Version::V1_1),
            Some(AckMode::ClientIndividual)
        );
        assert_eq!(AckMode::parse(b"Client", Version::V1_2), None, "H-9: exact");
        for mode in [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual] {
            assert_eq!(
                AckMode::parse(mode.as_str().as_bytes(), Version::V1_2),
                Some(mode)
            );
        }
    }

    #[test]
    fn the_timer_table_reports_the_earliest_deadline() {
        // Any Timestamp will do: a Duration since an epoch builds with and without `std`.
        let t0 = Duration::from_secs(100);
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::PeerSilent, Some(t0 + Duration::from_secs(2)));
        t.set(Timer::SendHeartbeat, Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.expired(Timer::PeerSilent, t0 + Duration::from_secs(1)));
        assert!(t.expired(Timer::PeerSilent, t0 + Duration::from_secs(2)));
        assert!(!t.expired(Timer::DisconnectReceipt, t0 + Duration::from_secs(99)));
        t.clear_all();
        assert_eq!(t.next(), None);
    }

    #[test]
    fn zero_means_no_interval_b3() {
        assert_eq!(interval(0), None);
        assert_eq!(interval(1500), Some(Duration::from_millis(1500)));
    }
}
