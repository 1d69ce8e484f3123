//! Errors of the connection layer: what the peer did wrong ([`ConnectionError`], fatal) and what
//! the caller asked for that the protocol does not allow ([`UsageError`], refused locally).

use alloc::string::String;
use core::time::Duration;

use crate::error::{DecodeError, EncodeError};
use crate::frame::Command;
use crate::version::{Version, VersionSet};

/// The peer broke the protocol or went silent. Fatal: the connection is closed.
///
/// A [`ServerConnection`](crate::ServerConnection) answers most of these with an ERROR frame
/// whose `message` header is [`error_message`](ConnectionError::error_message) and whose body is
/// the `Display` text; a [`ClientConnection`](crate::ClientConnection) just closes. Some variants
/// also describe a server frame the client drops without closing
/// ([`ClientEvent::ProtocolViolation`](crate::ClientEvent::ProtocolViolation), D-24).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The bytes received are not a valid STOMP stream, or a frame exceeds the configured
    /// [`Limits`](crate::Limits) (H-8).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A frame broke a rule of the session (subscriptions, acknowledgements, transactions,
    /// headers a version requires): the same rules the client's own frames are checked
    /// against.
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    /// A frame that is not allowed here: a command of the wrong role (S-2), anything but
    /// CONNECT/STOMP first (D-16), a second CONNECT, a second CONNECTED, a command the negotiated
    /// version lacks (S-1, R-12).
    #[error("unexpected {command} frame {context}")]
    UnexpectedFrame {
        /// The command received.
        command: Command,
        /// Where it was received, e.g. `"before CONNECT"`.
        context: &'static str,
    },
    /// The client offered no version the server supports (C-9).
    #[error(
        "no common protocol version: client offers {}, server supports {}",
        Versions(*.offered),
        Versions(*.supported)
    )]
    NoCommonVersion {
        /// What the client's `accept-version` listed (empty set: only unknown tokens).
        offered: VersionSet,
        /// What the server supports.
        supported: VersionSet,
    },
    /// CONNECTED names a version the client did not offer, or no version where 1.0 was not
    /// offered (C-6).
    #[error("server chose version \"{version}\", which was not offered")]
    VersionNotOffered {
        /// The `version` header as received (`"(none)"` when missing), escaped for display.
        version: String,
    },
    /// CONNECT without `host` while the server requires it (D-18).
    #[error("CONNECT frame without a host header")]
    MissingHost,
    /// The client sent more than a frame's worth of bytes after CONNECT while the application
    /// had not yet accepted it (D-16: the client must wait for CONNECTED).
    #[error("{buffered} bytes received after CONNECT before CONNECTED was sent")]
    InputBeforeConnected {
        /// Bytes held at the time.
        buffered: usize,
    },
    /// More input arrived while more than [`Limits::max_frame`](crate::Limits::max_frame)
    /// received bytes were still waiting for `poll_event` to apply them: the application feeds
    /// the transport without polling events, and holding more would let a peer grow the
    /// connection's memory without bound. A drive loop that polls every event after each read
    /// never holds more than the one unfinished frame, which the limits bound.
    #[error(
        "{buffered} received bytes were still waiting for poll_event when more arrived \
         (at most {max} may wait)"
    )]
    InputNotPolled {
        /// Bytes held, not yet applied, when the input arrived.
        buffered: usize,
        /// The bound: the decoder's `max_frame`.
        max: usize,
    },
    /// SUBSCRIBE while the client already has the most active subscriptions the server allows
    /// ([`ServerConfig::max_subscriptions`](crate::ServerConfig::max_subscriptions), H-8).
    #[error("too many subscriptions: at most {max} may be active")]
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// BEGIN while the client already has the most open transactions the server allows
    /// ([`ServerConfig::max_transactions`](crate::ServerConfig::max_transactions), H-8).
    #[error("too many transactions: at most {max} may be open")]
    TooManyTransactions {
        /// The limit.
        max: usize,
    },
    /// The client stopped reading: queueing a MESSAGE would have taken the bytes waiting for
    /// the wire past [`ServerConfig::max_pending_transmit`](crate::ServerConfig) and the
    /// server's policy is [`SlowConsumer::Close`](crate::SlowConsumer::Close).
    #[error("slow consumer: {pending} bytes already waiting for the wire, at most {limit} may")]
    SlowConsumer {
        /// Bytes waiting when the MESSAGE was refused.
        pending: usize,
        /// The limit.
        limit: usize,
    },
    /// The session was not opened in time: no CONNECT from the client (server), or no
    /// CONNECTED from the server (client), within the configured `connect_timeout`.
    #[error("the session was not opened within {timeout:?}")]
    ConnectTimeout {
        /// The configured timeout.
        timeout: Duration,
    },
    /// Nothing arrived within the negotiated interval plus grace (B-6, D-20).
    #[error("no data from the peer for {silence:?} (heart-beat interval {interval:?})")]
    HeartbeatTimeout {
        /// The negotiated interval the peer promised.
        interval: Duration,
        /// How long the peer was silent when the timeout fired.
        silence: Duration,
    },
}

impl ConnectionError {
    /// A short, single-line text for the `message` header of the ERROR frame a server sends
    /// about this error (the `Display` text goes into the body).
    pub fn error_message(&self) -> &'static str {
        match self {
            ConnectionError::Decode(DecodeError::LimitExceeded { .. }) => "frame too large",
            ConnectionError::Decode(_) => "malformed frame",
            ConnectionError::Rule(rule) => rule.error_message(),
            ConnectionError::SlowConsumer { .. } => "slow consumer",
            ConnectionError::UnexpectedFrame { .. } => "unexpected frame",
            ConnectionError::NoCommonVersion { .. } => "no common protocol version",
            ConnectionError::VersionNotOffered { .. } => "version not offered",
            ConnectionError::MissingHost => "missing host header",
            ConnectionError::InputBeforeConnected { .. } => "frames sent before CONNECTED",
            ConnectionError::InputNotPolled { .. } => "too much unprocessed input",
            ConnectionError::HeartbeatTimeout { .. } => "heart-beat timeout",
            ConnectionError::TooManySubscriptions { .. } => "too many subscriptions",
            ConnectionError::TooManyTransactions { .. } => "too many transactions",
            ConnectionError::ConnectTimeout { .. } => "connect timeout",
        }
    }
}

/// A version set for messages: `1.1,1.2`, or `(none)` when empty.
struct Versions(VersionSet);

impl core::fmt::Display for Versions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_empty() {
            f.write_str("(none)")
        } else {
            core::fmt::Display::fmt(&self.0, f)
        }
    }
}

/// The caller asked for something the protocol does not allow in this state, role or version.
///
/// Nothing was queued for the wire and no state changed: the connection stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A frame other than CONNECT before the session is established (C-1, D-16), or a server
    /// frame before the CONNECT was accepted.
    #[error("cannot send {command} before the connection is established")]
    NotConnected {
        /// The refused command.
        command: Command,
    },
    /// `connect()` called a second time, or a CONNECT/STOMP frame on an open session (D-16).
    #[error("CONNECT was already sent")]
    AlreadyConnected,
    /// A frame after DISCONNECT, or a MESSAGE/RECEIPT after the client's DISCONNECT was
    /// settled.
    #[error("cannot send {command} after DISCONNECT")]
    AfterDisconnect {
        /// The refused command.
        command: Command,
    },
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// A `receipt` header on CONNECT or STOMP (C-11, H-5).
    #[error("CONNECT takes no receipt header; CONNECTED is its acknowledgement")]
    ReceiptOnConnect,
    /// The command belongs to the other role or is not a STOMP command (S-1, S-2).
    #[error("{command} is not a {role} command")]
    WrongRole {
        /// The refused command.
        command: Command,
        /// `"client"` or `"server"`.
        role: &'static str,
    },
    /// The frame breaks a rule of the session (the same rules a server checks the client's
    /// frames against).
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    /// Queueing the frame would take the bytes waiting for the wire past the connection's
    /// output limit (`max_pending_transmit` of the config): the peer is not reading fast
    /// enough. Nothing was queued; drain [`poll_transmit`](crate::Connection::poll_transmit)
    /// (or, on a server, drop the slow consumer).
    #[error(
        "output full: {pending} bytes already waiting for the wire, the frame needs {needed} \
         more, at most {limit} may wait"
    )]
    OutputFull {
        /// Bytes waiting for the wire.
        pending: usize,
        /// The encoded size of the refused frame.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// The MESSAGE given to `ack`/`nack` lacks the header the version uses to acknowledge it
    /// (S-7: `ack` in 1.2; S-8: `message-id` and `subscription` in 1.1; S-9: `message-id`).
    #[error("the MESSAGE has no \"{header}\" header, which {command} needs in STOMP {version}")]
    CannotAcknowledge {
        /// ACK or NACK.
        command: Command,
        /// The header missing from the MESSAGE.
        header: &'static str,
        /// The version in force.
        version: Version,
    },
    /// A receipt id that is still pending (R-1, D-21).
    #[error("receipt \"{receipt_id}\" is already pending")]
    DuplicateReceipt {
        /// The receipt id, escaped for display.
        receipt_id: String,
    },
    /// The client configuration offers no version (C-3).
    #[error("no protocol version to offer")]
    NoVersionOffered,
    /// `accept` without a CONNECT waiting for an answer.
    #[error("no CONNECT is waiting to be accepted")]
    NotAwaitingConnect,
    /// The frame cannot be written in the negotiated version (E-9, H-2, F-9).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// A rule of the session broken by a frame: by the caller's own frame (wrapped in
/// [`UsageError::Rule`], refused before anything is queued) or by the peer's (wrapped in
/// [`ConnectionError::Rule`]; fatal for a server, which answers ERROR). Both roles check the
/// same rules with the same code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleViolation {
    /// The frame lacks a header its command requires in this version (S-3 to S-14, R-4).
    #[error("{command} needs a \"{header}\" header in STOMP {version}")]
    MissingHeader {
        /// The frame's command.
        command: Command,
        /// The missing header.
        header: &'static str,
        /// The version in force.
        version: Version,
    },
    /// The command does not exist in the version in force, e.g. NACK in 1.0 (S-1, S-10).
    #[error("{command} does not exist in STOMP {version}")]
    NotInVersion {
        /// The command.
        command: Command,
        /// The version in force.
        version: Version,
    },
    /// An `ack` value the version does not define (S-5).
    #[error("ack mode \"{value}\" does not exist in STOMP {version}")]
    InvalidAckMode {
        /// The value, escaped for display.
        value: String,
        /// The version in force.
        version: Version,
    },
    /// SUBSCRIBE with the id of an active subscription (S-4).
    #[error("subscription id \"{id}\" is already in use")]
    DuplicateSubscription {
        /// The id, escaped for display.
        id: String,
    },
    /// UNSUBSCRIBE, or a server's MESSAGE, for a subscription that does not exist (S-6).
    #[error("no subscription \"{id}\"")]
    UnknownSubscription {
        /// The id, escaped for display.
        id: String,
    },
    /// BEGIN of a transaction that is already open (S-11).
    #[error("transaction \"{transaction}\" is already open")]
    DuplicateTransaction {
        /// The transaction id, escaped for display.
        transaction: String,
    },
    /// COMMIT, ABORT, SEND, ACK or NACK naming a transaction that is not open (S-11).
    #[error("transaction \"{transaction}\" is not open")]
    UnknownTransaction {
        /// The transaction id, escaped for display.
        transaction: String,
    },
    /// A `heart-beat` header that is not `digits,digits` (B-1, D-19).
    #[error("invalid heart-beat header \"{value}\"")]
    InvalidHeartbeat {
        /// The value, escaped for display.
        value: String,
    },
}

impl RuleViolation {
    /// A short, single-line text for the `message` header of an ERROR frame about it.
    pub fn error_message(&self) -> &'static str {
        match self {
            RuleViolation::MissingHeader { .. } => "missing required header",
            RuleViolation::NotInVersion { .. } => "command not in this version",
            RuleViolation::InvalidAckMode { .. } => "invalid ack mode",
            RuleViolation::DuplicateSubscription { .. } => "subscription id already in use",
            RuleViolation::UnknownSubscription { .. } => "unknown subscription",
            RuleViolation::DuplicateTransaction { .. } => "transaction already open",
            RuleViolation::UnknownTransaction { .. } => "unknown transaction",
            RuleViolation::InvalidHeartbeat { .. } => "invalid heart-beat header",
        }
    }
}
