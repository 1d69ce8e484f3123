//! The connection state machines: one [`Connection`] core for both roles. The design notes
//! (drive loop, queues, timers, states) are in the crate docs, section "Connections".

mod client;
mod common;
mod error;
mod receipts;
mod server;
mod session;
mod states;
mod timestamp;
mod wire;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;

use crate::escape::specials;
use crate::frame::Frame;
use crate::header::{CONTENT_LENGTH, RECEIPT, TRANSACTION};
use crate::heartbeat::Heartbeat;
use crate::limits::Limits;
use crate::version::{Version, VersionSet};

pub use client::{ClientConfig, ClientConnection, ClientRole};
pub use common::{Connection, Role};
pub use error::{ConnectionError, RuleViolation, UsageError};
pub use receipts::{generated_receipt_number, ReceiptMap};
pub(crate) use receipts::{IdBlock, ReceiptKey};
pub use server::{
    Accept, ErrorReply, MessageIds, PreparedMessage, ServerConfig, ServerConnection, ServerRole,
    SlowConsumer,
};
pub(crate) use timestamp::timed_struct;
pub use timestamp::Timestamp;

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

/// The most bytes a connection lets wait for the wire by default
/// ([`ClientConfig::max_pending_transmit`], [`ServerConfig::max_pending_transmit`]): room for
/// two frames of the default [`Limits`] (8 MiB body, 64 KiB of headers), so one largest frame
/// can always be queued behind another, and a client that stops reading costs the server at
/// most this much (plus one ERROR).
pub const DEFAULT_MAX_PENDING_TRANSMIT: usize =
    2 * (Limits::DEFAULT_HEADER_BYTES + Limits::DEFAULT_BODY + 1);

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
    /// The extra headers, kept as the builder keeps them: appending one copies its name and
    /// value into an inline buffer, not into two allocations.
    pub(crate) headers: ExtraHeaders,
}

/// The extra headers of a [`FrameOptions`], kept as the lines `send` writes (`name:value` and
/// a LF each) in one buffer, held inline for the few a call usually adds (no allocation): when
/// every name and value is plain, `send` copies them to the wire as one block.
///
/// Nothing but [`spill`] sees its address: `FrameOptions`, passed by value from call to call,
/// then stays in registers through a chain of `header` calls, where a call that saw it (the
/// general insertion of a `SmallVec` or a `Vec`) made each call copy the whole value out
/// through memory.
#[derive(Clone)]
pub(crate) struct ExtraHeaders {
    /// The lines while they fit inline: their first `len` octets.
    inline: [u8; EXTRA_INLINE],
    len: u8,
    /// Where each inline line's colon is and where the line ends, past its LF (its name starts
    /// where the line before it ends); `count` of them.
    ends: [(u8, u8); EXTRA_ENTRIES],
    count: u8,
    /// Every line, once one did not fit inline (the inline fields are then unused).
    spilled: Option<Box<Spilled>>,
    /// The union of the octet classes of every name and value ([`specials`]): 0 when all are
    /// plain. Gathered as headers are added, where a literal's folds away, rather than by a
    /// scan at each `send`.
    specials: u8,
    /// Whether a name is `receipt` or `transaction`, which would override the method's own.
    overrides: bool,
    /// Whether a name is empty or `content-length`, which the encoder refuses or checks
    /// against the body.
    irregular: bool,
}

/// [`ExtraHeaders`] past their inline room: the lines and where each colon is and each line
/// ends.
#[derive(Clone, Default)]
pub(crate) struct Spilled {
    text: Vec<u8>,
    ends: Vec<(usize, usize)>,
}

/// Octets of extra header lines kept inline: a content type and a trace id or two.
const EXTRA_INLINE: usize = 48;
/// Extra headers kept inline.
const EXTRA_ENTRIES: usize = 4;

impl Default for ExtraHeaders {
    #[inline]
    fn default() -> ExtraHeaders {
        ExtraHeaders {
            inline: [0; EXTRA_INLINE],
            len: 0,
            ends: [(0, 0); EXTRA_ENTRIES],
            count: 0,
            spilled: None,
            specials: 0,
            overrides: false,
            irregular: false,
        }
    }
}

impl ExtraHeaders {
    #[inline(always)]
    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.specials |= specials(name) | specials(value);
        self.overrides |= name == RECEIPT.as_bytes() || name == TRANSACTION.as_bytes();
        self.irregular |= name.is_empty() || name == CONTENT_LENGTH.as_bytes();
        let (len, count) = (usize::from(self.len), usize::from(self.count));
        let colon = len + name.len();
        let value_end = colon + 1 + value.len();
        if self.spilled.is_none() && count < EXTRA_ENTRIES && value_end < EXTRA_INLINE {
            self.inline[len..colon].copy_from_slice(name);
            self.inline[colon] = b':';
            self.inline[colon + 1..value_end].copy_from_slice(value);
            self.inline[value_end] = b'\n';
            // Both within EXTRA_INLINE.
            self.ends[count] = (colon as u8, (value_end + 1) as u8);
            self.len = (value_end + 1) as u8;
            self.count += 1;
            return;
        }
        let spilled = self.spilled.take();
        self.spilled = Some(spill(
            spilled,
            self.inline,
            self.ends,
            self.count,
            name,
            value,
        ));
    }

    /// The union of the octet classes of every name and value: 0 when none needs escaping or
    /// cannot be written ([`specials`]).
    #[inline]
    pub(crate) fn specials(&self) -> u8 {
        self.specials
    }

    /// Whether a name is `receipt` or `transaction`.
    #[inline]
    pub(crate) fn overrides(&self) -> bool {
        self.overrides
    }

    /// Whether a name is empty or `content-length`.
    #[inline]
    pub(crate) fn irregular(&self) -> bool {
        self.irregular
    }

    /// The headers' text, as lines: `name:value` and a LF each, in the order they were added
    /// (their wire form when [`specials`](ExtraHeaders::specials) is 0).
    #[inline]
    pub(crate) fn text(&self) -> &[u8] {
        match &self.spilled {
            Some(spilled) => &spilled.text,
            None => &self.inline[..usize::from(self.len)],
        }
    }

    /// The `(name, value)` pairs, in the order they were added.
    #[inline]
    pub(crate) fn iter(&self) -> ExtraIter<'_> {
        let (inline, spilled) = match &self.spilled {
            Some(spilled) => (&[][..], &spilled.ends[..]),
            None => (&self.ends[..usize::from(self.count)], &[][..]),
        };
        ExtraIter {
            text: self.text(),
            name_at: 0,
            inline: inline.iter(),
            spilled: spilled.iter(),
        }
    }
}

/// `spilled`, or the inline lines (`inline`, `ends`, `count`) moved to the heap, with one more.
/// Takes copies, not the headers: see [`ExtraHeaders`].
#[cold]
#[inline(never)]
fn spill(
    spilled: Option<Box<Spilled>>,
    inline: [u8; EXTRA_INLINE],
    ends: [(u8, u8); EXTRA_ENTRIES],
    count: u8,
    name: &[u8],
    value: &[u8],
) -> Box<Spilled> {
    let mut spilled = spilled.unwrap_or_else(|| {
        let ends = &ends[..usize::from(count)];
        let len = ends.last().map_or(0, |&(_, end)| usize::from(end));
        Box::new(Spilled {
            text: inline[..len].to_vec(),
            ends: ends
                .iter()
                .map(|&(colon, end)| (usize::from(colon), usize::from(end)))
                .collect(),
        })
    });
    spilled.text.extend_from_slice(name);
    let colon = spilled.text.len();
    spilled.text.push(b':');
    spilled.text.extend_from_slice(value);
    spilled.text.push(b'\n');
    spilled.ends.push((colon, spilled.text.len()));
    spilled
}

/// Iterator over [`ExtraHeaders`].
#[derive(Clone)]
pub(crate) struct ExtraIter<'a> {
    text: &'a [u8],
    /// Where the next name starts.
    name_at: usize,
    inline: core::slice::Iter<'a, (u8, u8)>,
    spilled: core::slice::Iter<'a, (usize, usize)>,
}

impl<'a> Iterator for ExtraIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (colon, end) = match self.inline.next() {
            Some(&(colon, end)) => (usize::from(colon), usize::from(end)),
            None => *self.spilled.next()?,
        };
        let name = core::mem::replace(&mut self.name_at, end);
        Some((
            self.text.get(name..colon).unwrap_or_default(),
            self.text.get(colon + 1..end - 1).unwrap_or_default(),
        ))
    }
}

impl core::fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl FrameOptions {
    /// No receipt, no transaction, no extra headers.
    #[inline]
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
    #[inline(always)]
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> FrameOptions {
        self.headers.push(name.as_ref(), value.as_ref());
        self
    }

    /// Shorthand for `header("content-type", content_type)` (H-4).
    #[inline]
    pub fn content_type(self, content_type: impl AsRef<[u8]>) -> FrameOptions {
        self.header(crate::header::CONTENT_TYPE, content_type)
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
    /// The peer broke the protocol, went silent, or (server) did not read fast enough. A
    /// server sends ERROR about it, except to a peer that went silent.
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
    /// SEND (S-3). Its `destination` is there (the connection checked it):
    /// [`frame.destination()`](Frame::destination), or
    /// `frame.headers().get_bytes(DESTINATION)` to keep it without a copy.
    Send {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_headers_keep_order_and_text_past_the_inline_room() {
        let mut options = FrameOptions::new();
        let mut want = alloc::vec::Vec::new();
        for i in 0..40 {
            let (name, value) = (alloc::format!("x-{i}"), alloc::format!("value {i}"));
            options = options.header(&name, &value);
            want.push((name.into_bytes(), value.into_bytes()));
        }
        let got: alloc::vec::Vec<_> = options
            .headers
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(got, want);
        let empty = FrameOptions::new().header("", "");
        assert_eq!(
            empty.headers.iter().collect::<alloc::vec::Vec<_>>(),
            [(&b""[..], &b""[..])]
        );
    }

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
}
