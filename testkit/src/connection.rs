//! Drives a [`ClientConnection`] or a [`ServerConnection`] through a sequence of operations
//! read from arbitrary bytes (received bytes, application calls, clock steps), checking the
//! connection's promises after every one. [`client`] and [`server`] are the bodies of the
//! `client_connection` and `server_connection` fuzz targets; the stable replay of their seeds
//! and the property tests call them too.
//!
//! # The input
//!
//! The first octet picks the configuration (see [`client`] and [`server`]). Then each operation
//! is an octet `op` whose value mod 16 says what to do, followed by its operands:
//!
//! | `op % 16` | operation | operands |
//! |-----------|-----------|----------|
//! | 0–3 | feed a canned peer frame: [`SERVER_PIECES`] (to a client) or [`CLIENT_PIECES`] | index |
//! | 4 | feed raw octets | length (mod 64), then the octets |
//! | 5 | feed a canned frame in two calls, the second through `handle_input_bytes` | index, cut |
//! | 6 | clock forward by n ms | n |
//! | 7 | clock forward by n hours | n |
//! | 8 | clock backwards by n ms (the API forbids it; it must still not panic) | n |
//! | 9 | clock to n ms before the latest `Instant` the platform can hold | n |
//! | 10 | `handle_timeout(now)` | |
//! | 11 | clock to `poll_timeout()` (if later), then `handle_timeout` | |
//! | 12, 13 | an application call (see [`client`], [`server`]) | selector |
//! | 14 | `handle_close()` (even selector) or `note_activity(now)` (odd) | selector |
//! | 15 | do not drain the queues after the next operation | |
//!
//! A missing operand reads as 0. After each operation (unless held) the driver drains
//! `poll_event` and `poll_transmit` as the documented drive loop does.
//!
//! # What is checked
//!
//! - no panic, whatever the order of calls or the clock;
//! - a fatal error is sticky: `handle_input` returns it again and `failure()` reports it;
//! - nothing is reported after `Closed`, `Closed` comes once, a closed connection runs no timer
//!   and refuses every call with `UsageError::Closed`;
//! - a refused call (`UsageError`) queues nothing and changes no count (events, bytes,
//!   receipts);
//! - after `handle_timeout(now)` and the drain that follows (timers are applied in order with
//!   the input, as events are polled), no deadline is at or before `now` (unless saturated at
//!   the end of `Instant`'s range, or input fed after the timeout armed a timer that is already
//!   due), and the call queued at most one heart-beat EOL;
//! - client: a receipt is confirmed only if it was asked for and is pending, never twice; an
//!   id reported unknown is not pending; `pending_receipts()` agrees; no session event before
//!   `Connected`, `Connected` once;
//! - server: no client frame is reported after the session ended (DISCONNECT, ERROR sent,
//!   failure), a session frame only after `accept`, `Connect` once;
//! - every byte handed out decodes with the crate's own decoder (in the version in force),
//!   each `poll_transmit` ends on a frame boundary, and the frames are of the role's commands,
//!   in the order the protocol allows (client: CONNECT or STOMP first, nothing after
//!   DISCONNECT; server: CONNECTED or ERROR first, nothing after ERROR).

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use stomp_codec::{
    Accept, AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectionError,
    ErrorReply, FrameOptions, Message, ServerConfig, ServerConnection, ServerEvent, UsageError,
};
use stomp_codec::{Command, Decoder, Frame, Heartbeat, Item, Limits, Version, VersionSet};

/// Frames a server might send, fed to a client by operations 0–3 and 5.
pub const SERVER_PIECES: &[&[u8]] = &[
    b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0",
    b"CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0",
    b"CONNECTED\nversion:1.1\nheart-beat:50,0\n\n\0",
    b"CONNECTED\n\n\0",
    b"CONNECTED\nversion:1.2\nheart-beat:4294967295,4294967295\n\n\0",
    b"CONNECTED\nversion:2.0\n\n\0",
    b"CONNECTED\nversion:1.2\nheart-beat:x\n\n\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m1\nsubscription:s1\nack:a1\n\nhello\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m2\nsubscription:s2\ncontent-length:3\n\na\0b\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m3\n\n\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m4\nsubscription:s1\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-1\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-2\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-3\n\n\0",
    b"RECEIPT\nreceipt-id:mine\n\n\0",
    b"RECEIPT\n\n\0",
    b"ERROR\nmessage:bad\nreceipt-id:rcpt-2\n\nbody\0",
    b"ERROR\n\n\0",
    b"\n",
    b"\r\n",
    b"SEND\ndestination:/q\n\n\0",
    b"MESSAGE\ndestination:/q\\t\nmessage-id:x\nsubscription:s1\n\n\0",
    b"MESSAGE\ncontent-length:99999999999\n\n",
    b"\0",
];

/// Frames a client might send, fed to a server by operations 0–3 and 5.
pub const CLIENT_PIECES: &[&[u8]] = &[
    b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:100,100\n\n\0",
    b"STOMP\naccept-version:1.2\nhost:/\n\n\0",
    b"CONNECT\n\n\0",
    b"CONNECT\naccept-version:1.1\nheart-beat:0,0\n\n\0",
    b"CONNECT\naccept-version:2.0\n\n\0",
    b"CONNECT\naccept-version:1.2\nheart-beat:bad\n\n\0",
    b"CONNECT\naccept-version:1.2\nheart-beat:4294967295,4294967295\n\n\0",
    b"SEND\ndestination:/q\nreceipt:r1\n\nhello\0",
    b"SEND\ndestination:/q\nreceipt:r2\ntransaction:t1\n\nx\0",
    b"SEND\n\n\0",
    b"SUBSCRIBE\nid:s1\ndestination:/q\nack:client-individual\nreceipt:r3\n\n\0",
    b"SUBSCRIBE\nid:s2\ndestination:/q\nack:client\n\n\0",
    b"SUBSCRIBE\nid:s3\ndestination:/q\nack:bogus\n\n\0",
    b"UNSUBSCRIBE\nid:s1\n\n\0",
    b"ACK\nid:m-1\n\n\0",
    b"ACK\nmessage-id:m-1\nsubscription:s1\n\n\0",
    b"NACK\nid:m-2\n\n\0",
    b"BEGIN\ntransaction:t1\n\n\0",
    b"COMMIT\ntransaction:t1\n\n\0",
    b"ABORT\ntransaction:t1\nreceipt:r4\n\n\0",
    b"DISCONNECT\nreceipt:r5\n\n\0",
    b"DISCONNECT\n\n\0",
    b"MESSAGE\ndestination:/q\nmessage-id:1\n\n\0",
    b"\n",
    b"\r\n",
    b"\0",
    b"SEND\ndestination:/q\ncontent-length:99999999999\n\n",
    b"XYZ\n\n\0",
];

/// Heart-beats the configuration octet chooses from: none, short, lopsided, the largest.
const HEART_BEATS: [Heartbeat; 4] = [
    Heartbeat::new(0, 0),
    Heartbeat::new(100, 100),
    Heartbeat::new(10, 1000),
    Heartbeat::new(u32::MAX, u32::MAX),
];

/// Version sets the configuration octet chooses from.
const VERSION_SETS: [VersionSet; 4] = [
    VersionSet::ALL,
    VersionSet::EMPTY.with(Version::V1_0),
    VersionSet::EMPTY.with(Version::V1_2),
    VersionSet::EMPTY.with(Version::V1_1),
];

/// What a run did, for tests that check a seed reaches what it is named after.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// The version of the `Connected` event (client) or of the reported CONNECT (server).
    pub connected: Option<Version>,
    /// The reason of the `Closed` event, if one came.
    pub closed: Option<CloseReason>,
    /// The fatal error, if any.
    pub failure: Option<ConnectionError>,
    /// Events drained.
    pub events: usize,
    /// Frames handed out, decoded (heart-beats not counted).
    pub frames_out: usize,
    /// Heart-beat EOLs handed out.
    pub heartbeats_out: usize,
    /// Client: receipts confirmed. Server: RECEIPT frames handed out.
    pub receipts: usize,
}

/// The operations, read from the input.
struct Ops<'a> {
    data: &'a [u8],
}

impl<'a> Ops<'a> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn operand(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// The latest `Instant` the platform represents (found once, by bisection on `checked_add`).
pub fn far_future() -> Instant {
    static FAR: OnceLock<Instant> = OnceLock::new();
    *FAR.get_or_init(|| {
        let base = Instant::now();
        let fits = |d: Duration| base.checked_add(d).is_some();
        let (mut lo, mut hi) = (0u64, u64::MAX);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(Duration::from_secs(mid)) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let (mut nlo, mut nhi) = (0u32, 999_999_999u32);
        while nlo < nhi {
            let mid = nlo + (nhi - nlo).div_ceil(2);
            if fits(Duration::new(lo, mid)) {
                nlo = mid;
            } else {
                nhi = mid - 1;
            }
        }
        base + Duration::new(lo, nlo)
    })
}

/// The clock operations shared by both roles (6–9); `true` if `op` was one.
fn step_clock(op: u8, ops: &mut Ops<'_>, now: &mut Instant) -> bool {
    let n = u64::from(match op {
        6..=9 => ops.operand(),
        _ => return false,
    });
    let moved = match op {
        6 => now.checked_add(Duration::from_millis(n)),
        7 => now.checked_add(Duration::from_secs(n * 3600)),
        8 => now.checked_sub(Duration::from_millis(n)),
        _ => far_future().checked_sub(Duration::from_millis(n)),
    };
    if let Some(t) = moved {
        *now = t;
    }
    true
}

/// The bytes of canned piece `index`, and where operation 5 cuts it.
fn piece(table: &[&'static [u8]], index: u8, cut: u8) -> (&'static [u8], usize) {
    let p = table[usize::from(index) % table.len()];
    (p, usize::from(cut) % (p.len() + 1))
}

/// Decodes what a connection hands out, in the version in force, and checks the frames' order.
struct Wire {
    decoder: Decoder,
    frames: Vec<Frame>,
    heartbeats: usize,
}

impl Wire {
    /// `summary` completed with what was handed out and the connection's failure.
    fn summarise(&self, mut summary: Summary, failure: Option<ConnectionError>) -> Summary {
        summary.failure = failure;
        summary.frames_out = self.frames.len();
        summary.heartbeats_out = self.heartbeats;
        summary
    }

    fn new() -> Wire {
        Wire {
            decoder: Decoder::with_limits(Version::V1_0, Limits::unlimited())
                .allow_extension_commands(true),
            frames: Vec::new(),
            heartbeats: 0,
        }
    }

    /// Takes one `poll_transmit` output; returns the frames it held.
    fn take(&mut self, bytes: &[u8], version: Option<Version>) -> Vec<Frame> {
        // Output is always whole frames, so the decoder is between frames here and the version
        // applies from the first octet of `bytes`.
        self.decoder.set_version(version.unwrap_or(Version::V1_0));
        self.decoder.push(bytes);
        let mut new = Vec::new();
        loop {
            match self.decoder.next_item() {
                Ok(Some(Item::Frame(frame))) => new.push(frame),
                Ok(Some(Item::Heartbeat)) => self.heartbeats += 1,
                Ok(None) => break,
                Err(err) => panic!(
                    "our own output does not decode: {err} in \"{}\"",
                    bytes.escape_ascii()
                ),
            }
        }
        assert!(
            !self.decoder.is_mid_frame(),
            "poll_transmit handed out part of a frame: \"{}\"",
            bytes.escape_ascii()
        );
        self.frames.extend(new.iter().cloned());
        new
    }
}

/// The deadline promise after `handle_timeout(now)` and the drain that applies it (timers run
/// in order with the input, as events are polled): nothing due at or before `now`. The one
/// exception is a deadline saturated at the end of the `Instant`'s range when `now` is that
/// end itself.
fn check_deadline(next: Option<Instant>, now: Instant) {
    if let Some(t) = next {
        let saturated = now.checked_add(Duration::from_nanos(1)).is_none();
        assert!(
            t > now || (t == now && saturated),
            "after handle_timeout(now) and a drain a deadline is not after now: {:?} before",
            now.saturating_duration_since(t)
        );
    }
}

// ---- the driver both roles share ----------------------------------------------------------

/// What the driver calls on a connection: the methods the two roles have in common.
trait Driven {
    /// The role's event type.
    type Event;
    /// The canned frames of the peer (operations 0–3 and 5).
    const PEER_PIECES: &'static [&'static [u8]];
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_transmit(&mut self) -> Option<Bytes>;
    fn version(&self) -> Option<Version>;
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ConnectionError>;
    fn handle_input_bytes(&mut self, now: Instant, bytes: Bytes) -> Result<(), ConnectionError>;
    fn handle_timeout(&mut self, now: Instant);
    fn handle_close(&mut self);
    fn note_activity(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn failure(&self) -> Option<&ConnectionError>;
    fn is_closed(&self) -> bool;
    fn pending_events(&self) -> usize;
    fn pending_transmit(&self) -> usize;
}

/// Implements [`Driven`] by calling the connection's own methods of the same names.
macro_rules! driven {
    ($conn:ty, $event:ty, $pieces:expr) => {
        impl Driven for $conn {
            type Event = $event;
            const PEER_PIECES: &'static [&'static [u8]] = $pieces;
            fn poll_event(&mut self) -> Option<$event> {
                <$conn>::poll_event(self)
            }
            fn poll_transmit(&mut self) -> Option<Bytes> {
                <$conn>::poll_transmit(self)
            }
            fn version(&self) -> Option<Version> {
                <$conn>::version(self)
            }
            fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ConnectionError> {
                <$conn>::handle_input(self, now, bytes);
                self.failure().cloned().map_or(Ok(()), Err)
            }
            fn handle_input_bytes(
                &mut self,
                now: Instant,
                bytes: Bytes,
            ) -> Result<(), ConnectionError> {
                <$conn>::handle_input_bytes(self, now, bytes);
                self.failure().cloned().map_or(Ok(()), Err)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$conn>::handle_timeout(self, now);
            }
            fn handle_close(&mut self) {
                <$conn>::handle_close(self);
            }
            fn note_activity(&mut self, now: Instant) {
                <$conn>::note_activity(self, now);
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$conn>::poll_timeout(self)
            }
            fn failure(&self) -> Option<&ConnectionError> {
                <$conn>::failure(self)
            }
            fn is_closed(&self) -> bool {
                <$conn>::is_closed(self)
            }
            fn pending_events(&self) -> usize {
                <$conn>::pending_events(self)
            }
            fn pending_transmit(&self) -> usize {
                <$conn>::pending_transmit(self)
            }
        }
    };
}

driven!(ClientConnection, ClientEvent, SERVER_PIECES);
driven!(ServerConnection, ServerEvent, CLIENT_PIECES);

/// The record a role keeps beside its connection, checking every event and byte handed out.
trait Tracker<C: Driven> {
    /// Checks one event.
    fn event(&mut self, event: C::Event, c: &C);
    /// Checks bytes handed out, in the version in force.
    fn transmitted(&mut self, bytes: &[u8], version: Option<Version>);
    /// Checks what must hold once everything is drained.
    fn drained(&mut self, c: &C);
    /// Polls every event and every byte, as the documented drive loop does, checking each.
    fn drain(&mut self, c: &mut C) {
        // Bounded: each event is checked, and acting on none of them queues more.
        while let Some(event) = c.poll_event() {
            self.event(event, c);
        }
        while let Some(bytes) = c.poll_transmit() {
            self.transmitted(&bytes, c.version());
            while let Some(event) = c.poll_event() {
                self.event(event, c);
            }
        }
        self.drained(c);
    }
    /// One application call (operations 12 and 13).
    fn call(&mut self, c: &mut C, now: Instant, selector: u8);
    /// Whether `Closed` was reported.
    fn closed(&self) -> bool;
    /// The summary of the run.
    fn finish(self, failure: Option<ConnectionError>) -> Summary;
}

/// Runs the operations left in `ops` on `c` (see the module docs), checking after each one.
fn drive<C: Driven, T: Tracker<C>>(ops: &mut Ops<'_>, mut c: C, mut t: T) -> Summary {
    let mut now = Instant::now();
    let mut hold = false;
    // The `now` of a `handle_timeout` whose deadline promise waits for the next drain.
    let mut timed_out = None;
    while let Some(op) = ops.next() {
        let op = op % 16;
        let held = std::mem::take(&mut hold);
        match op {
            0..=5 => {
                let (bytes, cut) = if op == 4 {
                    let n = usize::from(ops.operand() % 64);
                    (ops.take(n), 0)
                } else {
                    let index = ops.operand();
                    let cut = if op == 5 { ops.operand() } else { 0 };
                    piece(C::PEER_PIECES, index, cut)
                };
                // Input fed after a held `handle_timeout` is applied in the same drain and may
                // arm a timer from the past (heart-beats count from the last write, B-4): that
                // deadline is due, not broken, so the promise is checked for timeouts only.
                timed_out = None;
                let failed = c.failure().cloned();
                let events = c.pending_events();
                let result = if op == 5 {
                    c.handle_input(now, &bytes[..cut]).and_then(|()| {
                        c.handle_input_bytes(now, Bytes::copy_from_slice(&bytes[cut..]))
                    })
                } else {
                    c.handle_input(now, bytes)
                };
                if let Some(err) = failed {
                    assert_eq!(result, Err(err), "a fatal error must be sticky");
                    assert_eq!(c.pending_events(), events, "input after a failure was read");
                }
                if let Err(err) = &result {
                    assert_eq!(c.failure(), Some(err), "failure() must report the error");
                }
                if t.closed() {
                    assert_eq!(c.pending_events(), events, "input after Closed was read");
                }
            }
            6..=9 => {
                step_clock(op, ops, &mut now);
            }
            10 | 11 => {
                if op == 11 {
                    if let Some(at) = c.poll_timeout() {
                        now = now.max(at);
                    }
                }
                let queued = c.pending_transmit();
                let failed_before = c.failure().is_some();
                c.handle_timeout(now);
                // Timers wait behind input not yet applied: checked after the next drain.
                timed_out = Some(now);
                // At most one heart-beat, unless this call failed the connection (a server's
                // connect timeout queues its ERROR frame).
                assert!(
                    c.pending_transmit() <= queued + 1 || (!failed_before && c.failure().is_some()),
                    "one handle_timeout queued more than one heart-beat"
                );
            }
            12 | 13 => {
                let selector = ops.operand();
                t.call(&mut c, now, selector);
            }
            14 => {
                if ops.operand() % 2 == 0 {
                    c.handle_close();
                } else {
                    c.note_activity(now);
                }
            }
            _ => hold = true,
        }
        if !held && !hold {
            t.drain(&mut c);
            if let Some(at) = timed_out.take() {
                check_deadline(c.poll_timeout(), at);
            }
        }
        if t.closed() {
            assert!(c.is_closed());
            assert_eq!(c.poll_timeout(), None, "a closed connection runs a timer");
        }
    }
    t.drain(&mut c);
    t.finish(c.failure().cloned())
}

// ---- client --------------------------------------------------------------------------------

/// Runs a [`ClientConnection`] through the operations in `data` (see the module docs).
///
/// Configuration octet: bits 0–1 the offered `heart-beat` (0,0 / 100,100 / 10,1000 /
/// 4294967295,4294967295), bits 2–3 the versions (all / 1.0 / 1.2 / 1.1), bit 4 STOMP instead of
/// CONNECT, bit 5 small limits, bit 6 zero heart-beat grace.
///
/// Application calls (selector mod 16): 0 `connect`; 1 `send`; 2 `send` with a receipt; 3
/// `send` with receipt id `mine`; 4 `subscribe` `s1` (client-individual) or, with bit 4 of the
/// selector, `s2` (auto); 5 `unsubscribe` `s1`; 6 `ack` and 7 `nack` of the last MESSAGE; 8
/// `begin`, 9 `commit`, 10 `abort` of `t1`; 11 `send` in `t1`; 12 `disconnect` with a receipt;
/// 13 without; 14 `send_frame` of a frame the client may not send (CONNECT, MESSAGE, an
/// extension command); 15 `send` with a header holding a CR (unrepresentable before 1.2).
///
/// # Panics
///
/// When a promise listed in the module docs is broken.
pub fn client(data: &[u8]) -> Summary {
    let mut ops = Ops { data };
    let config_octet = ops.operand();
    let mut config = ClientConfig::new("/")
        .heartbeat(HEART_BEATS[usize::from(config_octet & 3)])
        .versions(VERSION_SETS[usize::from((config_octet >> 2) & 3)])
        .stomp_command(config_octet & 16 != 0);
    if config_octet & 32 != 0 {
        config = config.limits(crate::small_limits());
    }
    if config_octet & 64 != 0 {
        config = config.heartbeat_grace(Duration::ZERO);
    }
    drive(
        &mut ops,
        ClientConnection::new(config),
        ClientTracker::default(),
    )
}

struct ClientTracker {
    summary: Summary,
    closed: Option<CloseReason>,
    /// Receipt ids the client handed back and the server has not confirmed, each with the
    /// number of events produced before it was asked for: an event queued before a request but
    /// drained after it (a held drain) predates the request. An id confirmed and asked for
    /// again while the confirmation waits undrained has two entries.
    pending: HashMap<Bytes, VecDeque<usize>>,
    last_message: Option<Message>,
    wire: Wire,
    disconnect_sent: bool,
}

impl Default for ClientTracker {
    fn default() -> Self {
        ClientTracker {
            summary: Summary::default(),
            closed: None,
            pending: HashMap::new(),
            last_message: None,
            wire: Wire::new(),
            disconnect_sent: false,
        }
    }
}

impl Tracker<ClientConnection> for ClientTracker {
    fn event(&mut self, event: ClientEvent, c: &ClientConnection) {
        // This event's place in the order the connection produced them.
        let index = self.summary.events;
        let asked_before = |pending: &HashMap<Bytes, VecDeque<usize>>, id: &Bytes| {
            pending
                .get(id)
                .and_then(VecDeque::front)
                .is_some_and(|&at| at <= index)
        };
        self.summary.events += 1;
        assert!(
            self.closed.is_none(),
            "event after Closed({:?}): {event:?}",
            self.closed
        );
        let connected = self.summary.connected.is_some();
        match event {
            ClientEvent::Connected { version, .. } => {
                assert!(!connected, "Connected reported twice");
                self.summary.connected = Some(version);
            }
            ClientEvent::Message(message) => {
                assert!(connected, "MESSAGE reported before Connected");
                self.last_message = Some(message);
            }
            ClientEvent::ReceiptConfirmed { receipt_id } => {
                assert!(connected, "receipt reported before Connected");
                assert!(
                    asked_before(&self.pending, &receipt_id),
                    "receipt {receipt_id:?} confirmed but not pending (never asked, or twice)"
                );
                take_request(&mut self.pending, &receipt_id);
                assert!(
                    !asked_before(&self.pending, &receipt_id),
                    "R-1: receipt {receipt_id:?} was pending twice"
                );
                self.summary.receipts += 1;
            }
            ClientEvent::UnknownReceipt { receipt_id } => {
                assert!(connected, "receipt reported before Connected");
                assert!(
                    !asked_before(&self.pending, &receipt_id),
                    "pending receipt {receipt_id:?} reported unknown"
                );
            }
            ClientEvent::ErrorReceived { receipt_id, .. } => {
                if let Some(id) = receipt_id {
                    if asked_before(&self.pending, &id) {
                        take_request(&mut self.pending, &id);
                    }
                }
            }
            ClientEvent::ProtocolViolation { .. } => {
                assert!(connected, "violation reported before Connected");
            }
            ClientEvent::HeartbeatTimeout => {}
            ClientEvent::Closed(reason) => {
                assert!(c.is_closed(), "Closed reported on an open connection");
                self.pending.clear();
                self.closed = Some(reason.clone());
                self.summary.closed = Some(reason);
            }
            // `ClientEvent` is `#[non_exhaustive]`: an event added to the library fails here
            // until the checks above say what it promises.
            other => panic!("an event these checks do not know: {other:?}"),
        }
    }

    fn transmitted(&mut self, bytes: &[u8], version: Option<Version>) {
        let first = self.wire.frames.is_empty();
        for (i, frame) in self.wire.take(bytes, version).iter().enumerate() {
            let command = frame.command();
            if first && i == 0 {
                assert!(
                    matches!(command, Command::Connect | Command::Stomp),
                    "C-1: the client's first frame is {command}"
                );
            }
            assert!(
                command.is_client_command(),
                "S-2: the client sent {command}"
            );
            assert!(
                !self.disconnect_sent,
                "R-6: {command} sent after DISCONNECT"
            );
            if *command == Command::Disconnect {
                self.disconnect_sent = true;
            }
        }
    }

    fn drained(&mut self, c: &ClientConnection) {
        if self.closed.is_none() {
            assert_eq!(
                c.pending_receipts(),
                self.pending.values().map(VecDeque::len).sum::<usize>(),
                "pending_receipts() disagrees with the receipts asked for and confirmed"
            );
        }
    }

    fn call(&mut self, c: &mut ClientConnection, now: Instant, selector: u8) {
        client_call(c, self, now, selector);
    }

    fn closed(&self) -> bool {
        self.closed.is_some()
    }

    fn finish(self, failure: Option<ConnectionError>) -> Summary {
        self.wire.summarise(self.summary, failure)
    }
}

/// Forgets the oldest request of receipt `id`.
fn take_request(pending: &mut HashMap<Bytes, VecDeque<usize>>, id: &Bytes) {
    if let Some(requests) = pending.get_mut(id) {
        requests.pop_front();
        if requests.is_empty() {
            pending.remove(id);
        }
    }
}

/// One application call on the client; checks what a refusal and what a success promise.
fn client_call(c: &mut ClientConnection, t: &mut ClientTracker, now: Instant, selector: u8) {
    let before = (
        c.pending_transmit(),
        c.pending_events(),
        c.pending_receipts(),
    );
    let message = t.last_message.clone();
    let fallback = Frame::builder(Command::Message)
        .header("message-id", "m0")
        .header("subscription", "s1")
        .header("ack", "a0")
        .build();
    let message_frame = message.as_ref().map_or(&fallback, |m| &m.frame);
    let opts = FrameOptions::new;
    let result = match selector % 16 {
        0 => c.connect(now).map(|()| None),
        1 => c.send(now, "/q", "body", opts()),
        2 => c.send(now, "/q", "body", opts().receipt()),
        3 => c.send(now, "/q", "", opts().receipt_id("mine")),
        4 if selector & 16 != 0 => c.subscribe(now, "s2", "/q", AckMode::Auto, opts().receipt()),
        4 => c.subscribe(now, "s1", "/q", AckMode::ClientIndividual, opts()),
        5 => c.unsubscribe(now, "s1", opts().receipt()),
        6 => c.ack(now, message_frame, opts()),
        7 => c.nack(now, message_frame, opts().receipt()),
        8 => c.begin(now, "t1", opts()),
        9 => c.commit(now, "t1", opts().receipt()),
        10 => c.abort(now, "t1", opts()),
        11 => c.send(now, "/q", "x", opts().transaction("t1")),
        12 => c.disconnect(now, opts().receipt()),
        13 => c.disconnect(now, opts()),
        14 => {
            let frame = match (selector >> 4) & 3 {
                0 => Frame::builder(Command::Connect)
                    .header("accept-version", "1.2")
                    .build(),
                1 => Frame::new(Command::Message),
                2 => Frame::new(Command::Extension(b"PING"[..].into())),
                _ => Frame::builder(Command::Send)
                    .header("destination", "/q")
                    .header("receipt", "mine")
                    .build(),
            };
            c.send_frame(now, frame)
        }
        // Unrepresentable in 1.0/1.1 (a CR ending a value, E-9): the refused-call path.
        _ => c.send(now, "/q", "", opts().header("x", "a\r")),
    };
    match result {
        Ok(receipt) => {
            assert!(t.closed.is_none(), "a call succeeded after Closed");
            if let Some(id) = receipt {
                let requests = t.pending.entry(id.clone()).or_default();
                // With every event drained the record is exact: the id must not be pending.
                assert!(
                    c.pending_events() > 0 || requests.is_empty(),
                    "receipt id {id:?} handed out while still pending (R-1)"
                );
                requests.push_back(t.summary.events + c.pending_events());
            }
        }
        Err(err) => {
            if t.closed.is_some() || c.is_closed() {
                assert_eq!(
                    err,
                    UsageError::Closed,
                    "a closed connection refuses with Closed"
                );
            }
            assert_eq!(
                (
                    c.pending_transmit(),
                    c.pending_events(),
                    c.pending_receipts()
                ),
                before,
                "a refused call ({err}) changed the queues"
            );
        }
    }
}

// ---- server --------------------------------------------------------------------------------

/// Runs a [`ServerConnection`] through the operations in `data` (see the module docs).
///
/// Configuration octet: bits 0–1 the `heart-beat` (as for [`client`]), bits 2–3 the versions,
/// bit 4 `require_host`, bit 5 small limits, bit 6 zero heart-beat grace.
///
/// Application calls (selector mod 8): 0 `accept` (bit 4 of the selector: with a session and
/// an extra header); 1 `error` (bit 4: naming the last receipt, with a body); 2 `message` for
/// the last subscription with the last SEND's frame; 3 `message` for an unknown subscription;
/// 4 `receipt` for the last receipt asked for; 5 `receipt` for `r-any`; 6 `message_with_id`
/// with a header holding a CR (unrepresentable before 1.2); 7 `accept` with a header holding an
/// LF (unrepresentable in CONNECTED).
///
/// # Panics
///
/// When a promise listed in the module docs is broken.
pub fn server(data: &[u8]) -> Summary {
    let mut ops = Ops { data };
    let config_octet = ops.operand();
    let mut config = ServerConfig::default()
        .heartbeat(HEART_BEATS[usize::from(config_octet & 3)])
        .versions(VERSION_SETS[usize::from((config_octet >> 2) & 3)])
        .require_host(config_octet & 16 != 0);
    if config_octet & 32 != 0 {
        config = config.limits(crate::small_limits());
    }
    if config_octet & 64 != 0 {
        config = config.heartbeat_grace(Duration::ZERO);
    }
    drive(
        &mut ops,
        ServerConnection::new(config),
        ServerTracker::default(),
    )
}

struct ServerTracker {
    summary: Summary,
    closed: Option<CloseReason>,
    /// A CONNECT was reported (and `accept` may be called).
    connect_seen: bool,
    accepted: bool,
    /// DISCONNECT reported, ERROR handed out, or a failure: no client frame may follow.
    session_over: Option<&'static str>,
    last_receipt: Option<Bytes>,
    last_subscription: Option<Bytes>,
    last_send: Option<Frame>,
    wire: Wire,
    error_sent: bool,
}

impl Default for ServerTracker {
    fn default() -> Self {
        ServerTracker {
            summary: Summary::default(),
            closed: None,
            connect_seen: false,
            accepted: false,
            session_over: None,
            last_receipt: None,
            last_subscription: None,
            last_send: None,
            wire: Wire::new(),
            error_sent: false,
        }
    }
}

impl Tracker<ServerConnection> for ServerTracker {
    fn event(&mut self, event: ServerEvent, s: &ServerConnection) {
        self.summary.events += 1;
        assert!(
            self.closed.is_none(),
            "event after Closed({:?}): {event:?}",
            self.closed
        );
        let frame_event = !matches!(
            event,
            ServerEvent::TransactionAborted { .. }
                | ServerEvent::HeartbeatTimeout
                | ServerEvent::Closed(_)
        );
        if frame_event {
            if let Some(after) = self.session_over {
                panic!("client frame reported after {after}: {event:?}");
            }
        }
        if let Some(r) = event.receipt() {
            self.last_receipt = Some(r.clone());
        }
        match event {
            ServerEvent::Connect(request) => {
                assert!(!self.connect_seen, "Connect reported twice");
                self.connect_seen = true;
                self.summary.connected = Some(request.version);
            }
            ServerEvent::Send { frame, .. } => {
                assert!(self.accepted, "SEND reported before accept");
                self.last_send = Some(frame);
            }
            ServerEvent::Subscribe { id, .. } => {
                assert!(self.accepted, "SUBSCRIBE reported before accept");
                self.last_subscription = Some(id);
            }
            ServerEvent::Disconnect { .. } => {
                assert!(self.accepted, "DISCONNECT reported before accept");
                self.session_over = Some("DISCONNECT");
            }
            ServerEvent::Closed(reason) => {
                assert!(s.is_closed(), "Closed reported on an open connection");
                self.closed = Some(reason.clone());
                self.summary.closed = Some(reason);
            }
            ServerEvent::TransactionAborted { .. } | ServerEvent::HeartbeatTimeout => {}
            other => assert!(self.accepted, "{other:?} reported before accept"),
        }
    }

    fn transmitted(&mut self, bytes: &[u8], version: Option<Version>) {
        let first = self.wire.frames.is_empty();
        for (i, frame) in self.wire.take(bytes, version).iter().enumerate() {
            let command = frame.command();
            if first && i == 0 {
                assert!(
                    matches!(command, Command::Connected | Command::Error),
                    "C-1: the server's first frame is {command}"
                );
            }
            assert!(
                command.is_server_command(),
                "S-2: the server sent {command}"
            );
            assert!(!self.error_sent, "R-9: {command} sent after ERROR");
            match command {
                Command::Error => {
                    self.error_sent = true;
                    self.session_over.get_or_insert("ERROR");
                }
                Command::Receipt => self.summary.receipts += 1,
                _ => {}
            }
        }
    }

    fn drained(&mut self, c: &ServerConnection) {
        if c.failure().is_some() && self.session_over.is_none() {
            self.session_over = Some("the failure");
        }
    }

    fn call(&mut self, c: &mut ServerConnection, now: Instant, selector: u8) {
        server_call(c, self, now, selector);
    }

    fn closed(&self) -> bool {
        self.closed.is_some()
    }

    fn finish(self, failure: Option<ConnectionError>) -> Summary {
        self.wire.summarise(self.summary, failure)
    }
}

/// One application call on the server; checks what a refusal and what a success promise.
fn server_call(s: &mut ServerConnection, t: &mut ServerTracker, now: Instant, selector: u8) {
    let before = (s.pending_transmit(), s.pending_events());
    let content = t.last_send.clone().unwrap_or_else(|| {
        Frame::builder(Command::Send)
            .header("destination", "/q")
            .body("x")
            .build()
    });
    let subscription = t
        .last_subscription
        .clone()
        .unwrap_or_else(|| Bytes::from_static(b"s1"));
    let receipt = t
        .last_receipt
        .clone()
        .unwrap_or_else(|| Bytes::from_static(b"r1"));
    let result = match selector % 8 {
        0 if selector & 16 != 0 => {
            s.accept(now, Accept::new().session("sess-1").header("x-extra", "1"))
        }
        0 => s.accept(now, Accept::new()),
        1 if selector & 16 != 0 => s.error(
            now,
            ErrorReply::new("refused\nhere")
                .receipt_id(&receipt)
                .detail("details"),
        ),
        1 => s.error(now, "bye"),
        2 => s.message(now, &subscription, format!("m-{selector}"), &content),
        3 => s.message(now, "no-such-sub", "m-0", &content),
        4 => s.receipt(now, &receipt),
        5 => s.receipt(now, "r-any"),
        6 => {
            // Unrepresentable in 1.0/1.1 (a CR ending a value, E-9): the refused-call path.
            let content = Frame::builder(Command::Send).header("x", "a\r").build();
            s.message(now, &subscription, format!("id-{selector}"), &content)
        }
        _ => s.accept(now, Accept::new().header("x", "a\nb")),
    };
    match result {
        Ok(()) => {
            assert!(t.closed.is_none(), "a call succeeded after Closed");
            if selector % 8 == 0 || selector % 8 == 7 {
                t.accepted = true;
            }
        }
        Err(err) => {
            if t.closed.is_some() || s.is_closed() {
                assert_eq!(
                    err,
                    UsageError::Closed,
                    "a closed connection refuses with Closed"
                );
            }
            assert_eq!(
                (s.pending_transmit(), s.pending_events()),
                before,
                "a refused call ({err}) changed the queues"
            );
        }
    }
}
