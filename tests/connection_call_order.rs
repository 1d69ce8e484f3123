//! No panic on any call order: both roles, every version, driven by arbitrary sequences of every
//! public method (input of arbitrary bytes and of valid frames of both roles, the end of input,
//! timeouts with a clock that goes forwards, backwards and to the end of `Duration`, activity,
//! every `poll_*`, and every typed frame method with arbitrary arguments, also under small
//! `max_pending_transmit` limits), on `Duration` timestamps.
//!
//! The file runs in the debug profile, where the state machine's `debug_assert` on transitions
//! (states.rs) turns an unexpected transition into a panic. After every call it checks:
//!
//! - the bytes waiting for the wire stay within `output_limit()`, apart from at most one
//!   CONNECT/STOMP (client), one CONNECTED and one ERROR (server) per connection, and one
//!   heart-beat EOL (B-4) in front; or they are one frame alone, which an empty queue always
//!   takes (a frame larger than the limit would otherwise never go out);
//! - everything handed out decodes, whole frames only;
//! - `Closed` is reported at most once and nothing is reported after it; once the connection is
//!   closed no new bytes are queued (only those still waiting are handed out), no timer is
//!   armed, and every typed method returns `UsageError::Closed` (D-23, R-6).

use std::fmt::Debug;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use stomp_codec::{
    Accept, AckMode, ClientConfig, ClientConnection, ClientEvent, ClientRole, Command, Connection,
    Decoder, Encoder, ErrorReply, Frame, FrameOptions, Heartbeat, Item, Limits, MessageIds, Role,
    ServerConfig, ServerConnection, ServerEvent, ServerRole, SlowConsumer, UsageError, Version,
    VersionSet, DEFAULT_MAX_PENDING_TRANSMIT,
};

type Conn<R> = Connection<R, Duration>;

// ---- building blocks -------------------------------------------------------------------------

const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(&VERSIONS[..])
}

/// Any subset of the three versions, the empty one included (weighted to single versions and
/// all three, so that every version gets negotiated often).
fn version_set() -> impl Strategy<Value = VersionSet> {
    prop_oneof![
        3 => Just(VersionSet::ALL),
        2 => version().prop_map(|v| VersionSet::EMPTY.with(v)),
        1 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c)| {
            let mut s = VersionSet::EMPTY;
            for (on, v) in [(a, Version::V1_0), (b, Version::V1_1), (c, Version::V1_2)] {
                if on {
                    s = s.with(v);
                }
            }
            s
        }),
    ]
}

fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    prop_oneof![
        Just(Heartbeat::new(0, 0)),
        Just(Heartbeat::new(100, 100)),
        Just(Heartbeat::new(10, 1000)),
        Just(Heartbeat::new(u32::MAX, u32::MAX)),
        (0u32..300, 0u32..300).prop_map(|(a, b)| Heartbeat::new(a, b)),
    ]
}

/// Output limits: none at all, a few bytes (every frame refused), about one frame, and the
/// default.
fn output_limit() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(24),
        Just(64),
        Just(200),
        Just(4096),
        Just(DEFAULT_MAX_PENDING_TRANSMIT),
    ]
}

/// Default limits, or small ones that frames of this file exceed (H-8, D-12).
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        1 => Just(
            Limits::default()
                .max_body(8)
                .max_header_line(40)
                .max_headers(6)
                .max_frame(160)
        ),
    ]
}

fn millis() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        (0u64..500).prop_map(|n| Some(Duration::from_millis(n))),
        Just(Some(Duration::MAX)),
    ]
}

const NAMES: &[&str] = &[
    "destination",
    "id",
    "ack",
    "receipt",
    "receipt-id",
    "transaction",
    "subscription",
    "message-id",
    "accept-version",
    "version",
    "heart-beat",
    "host",
    "content-type",
    "content-length",
    "message",
    "x-user",
];

const VALUES: &[&str] = &[
    "",
    "/q",
    "s1",
    "s2",
    "t1",
    "r1",
    "r-7",
    "rcpt-1",
    "rcpt-2",
    "m-1",
    "auto",
    "client",
    "client-individual",
    "1.0",
    "1.1",
    "1.2",
    "1.0,1.1,1.2",
    "2.0",
    "0,0",
    "100,100",
    "4294967295,4294967295",
    "x",
    "3",
    "99999999999",
    "a:b",
    "a\\b",
    "line\nbreak",
    "cr\r",
    "text/plain",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(VALUES).prop_map(str::to_owned),
        1 => "[a-z:\\\\\r\n -]{0,6}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-z:\\\\\r\n-]{0,5}",
    ]
}

fn body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => Just(Bytes::new()),
        2 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
    ]
}

const COMMANDS: [Command; 15] = [
    Command::Connect,
    Command::Stomp,
    Command::Connected,
    Command::Send,
    Command::Subscribe,
    Command::Unsubscribe,
    Command::Ack,
    Command::Nack,
    Command::Begin,
    Command::Commit,
    Command::Abort,
    Command::Disconnect,
    Command::Message,
    Command::Receipt,
    Command::Error,
];

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        12 => prop::sample::select(COMMANDS.to_vec()),
        1 => "[A-Z]{1,8}".prop_map(|w| Command::extension(w).unwrap_or(Command::Send)),
    ]
}

/// Any frame of either role: a command, headers from the names the connections read (and
/// some others), values that are valid, invalid or unrepresentable, and a body.
fn any_frame() -> impl Strategy<Value = Frame> {
    (
        command(),
        prop::collection::vec((name(), text()), 0..5),
        body(),
        any::<bool>(),
    )
        .prop_map(|(command, headers, body, omit)| {
            let mut b = Frame::builder(command).headers(headers).body(body);
            if omit {
                b = b.omit_content_length();
            }
            b.build()
        })
}

/// Frames a client sends, fed to a server: the handshake and session frames with the ids the
/// typed calls use.
const FROM_CLIENT: &[&[u8]] = &[
    b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:100,100\n\n\0",
    b"CONNECT\naccept-version:1.1\nhost:/\nheart-beat:0,0\n\n\0",
    b"STOMP\naccept-version:1.2\nhost:/\n\n\0",
    b"CONNECT\n\n\0",
    b"SEND\ndestination:/q\nreceipt:r1\n\nbody\0",
    b"SEND\ndestination:/q\ntransaction:t1\n\nx\0",
    b"SUBSCRIBE\nid:s1\ndestination:/q\nack:client\nreceipt:r-7\n\n\0",
    b"SUBSCRIBE\nid:s2\ndestination:/q\nack:client-individual\n\n\0",
    b"UNSUBSCRIBE\nid:s1\n\n\0",
    b"ACK\nid:m-1\n\n\0",
    b"ACK\nmessage-id:m-1\nsubscription:s1\n\n\0",
    b"NACK\nmessage-id:m-1\nsubscription:s1\n\n\0",
    b"BEGIN\ntransaction:t1\n\n\0",
    b"COMMIT\ntransaction:t1\nreceipt:r1\n\n\0",
    b"ABORT\ntransaction:t1\n\n\0",
    b"DISCONNECT\nreceipt:r-7\n\n\0",
    b"DISCONNECT\n\n\0",
    b"\n",
    b"\r\n",
];

/// Frames a server sends, fed to a client.
const FROM_SERVER: &[&[u8]] = &[
    b"CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0",
    b"CONNECTED\nversion:1.1\nheart-beat:0,50\n\n\0",
    b"CONNECTED\nversion:1.0\n\n\0",
    b"CONNECTED\n\n\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m-1\nsubscription:s1\nack:m-1\n\nhi\0",
    b"MESSAGE\ndestination:/q\nmessage-id:m-2\nsubscription:s2\n\n\0",
    b"MESSAGE\ndestination:/q\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-1\n\n\0",
    b"RECEIPT\nreceipt-id:rcpt-2\n\n\0",
    b"RECEIPT\nreceipt-id:r1\n\n\0",
    b"RECEIPT\n\n\0",
    b"ERROR\nmessage:x\nreceipt-id:rcpt-2\n\nwhy\0",
    b"\n",
    b"\r\n",
];

/// Broken input: a stray NUL, a header line without a colon after a receipt (R-11), an
/// unknown command, a bad escape, an oversized `content-length`.
const BROKEN: &[&[u8]] = &[
    b"\0",
    b"SEND\nreceipt:r-7\ndestination:/q\nbad line\n\n\0",
    b"XYZ\nreceipt:r1\n\n\0",
    b"SEND\ndestination:/q\\t\n\n\0",
    b"SEND\ncontent-length:99999999999\n\n",
];

/// Bytes as a peer would send them: canned frames, any frame encoded in any version, or noise.
#[derive(Debug, Clone)]
enum PeerBytes {
    Piece(&'static [u8]),
    Encoded(Frame, Version),
    Noise(Vec<u8>),
}

impl PeerBytes {
    fn render(&self) -> Vec<u8> {
        match self {
            PeerBytes::Piece(bytes) => bytes.to_vec(),
            PeerBytes::Encoded(frame, version) => {
                let mut dst = BytesMut::new();
                // An unrepresentable frame (E-9) sends nothing.
                let _ = Encoder::new(*version).encode(frame, &mut dst);
                dst.to_vec()
            }
            PeerBytes::Noise(bytes) => bytes.clone(),
        }
    }
}

/// Mostly the peer's own frames, sometimes the other role's, broken ones or noise.
fn peer_bytes(peer: &'static [&'static [u8]]) -> impl Strategy<Value = PeerBytes> {
    let all: Vec<&'static [u8]> = [FROM_CLIENT, FROM_SERVER, BROKEN].concat();
    prop_oneof![
        16 => prop::sample::select(peer).prop_map(PeerBytes::Piece),
        1 => prop::sample::select(all).prop_map(PeerBytes::Piece),
        2 => (any_frame(), version()).prop_map(|(f, v)| PeerBytes::Encoded(f, v)),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(PeerBytes::Noise),
    ]
}

/// The calls both roles have.
#[derive(Debug, Clone)]
enum Op<A> {
    /// `handle_input`, or with a cut, the head through `handle_input` and the rest through
    /// `handle_input_bytes`.
    Input(PeerBytes, Option<usize>),
    /// `handle_input_bytes` of the whole.
    InputBytes(PeerBytes),
    Close,
    /// The clock forward by ms, then `handle_timeout`.
    Forward(u16),
    /// The clock forward by hours.
    Hours(u8),
    /// The clock backwards by ms (callers must not, but it must not break anything).
    Back(u16),
    /// The clock to this many ms before the end of `Duration`.
    NearEnd(u16),
    /// The clock to `poll_timeout()` if later.
    ToDeadline,
    Timeout,
    Activity,
    PollEvent,
    PollTransmit,
    /// `poll_transmit_into`, into an empty buffer or one that holds something.
    PollTransmitInto(bool),
    /// Every event and every byte, as the drive loop does; with `answer`, the application
    /// reacts to the events (accepts CONNECT, confirms receipts, acknowledges messages).
    Drain(bool),
    App(A),
}

fn op<A: Debug + Clone + 'static>(
    peer: &'static [&'static [u8]],
    app: impl Strategy<Value = A> + 'static,
) -> impl Strategy<Value = Op<A>> {
    prop_oneof![
        8 => (peer_bytes(peer), prop::option::of(any::<usize>())).prop_map(|(b, c)| Op::Input(b, c)),
        1 => peer_bytes(peer).prop_map(Op::InputBytes),
        1 => Just(Op::Close),
        2 => any::<u16>().prop_map(|n| Op::Forward(n % 400)),
        1 => any::<u8>().prop_map(Op::Hours),
        1 => any::<u16>().prop_map(|n| Op::Back(n % 400)),
        1 => any::<u16>().prop_map(Op::NearEnd),
        2 => Just(Op::ToDeadline),
        2 => Just(Op::Timeout),
        1 => Just(Op::Activity),
        2 => Just(Op::PollEvent),
        2 => Just(Op::PollTransmit),
        1 => any::<bool>().prop_map(Op::PollTransmitInto),
        4 => any::<bool>().prop_map(Op::Drain),
        8 => app.prop_map(Op::App),
    ]
}

// ---- the driver both roles share -------------------------------------------------------------

/// What a role adds to the driver: its event type, its typed calls, and its exempt frames.
trait Side: Role + Sized {
    type Ev: Debug;
    type App: Debug + Clone;
    /// The frames the output limit does not hold back, each at most once per connection.
    const EXEMPT: &'static [Command];
    fn event(c: &mut Conn<Self>) -> Option<Self::Ev>;
    fn is_closed_event(e: &Self::Ev) -> bool;
    /// Remembers what the application may react to, and reacts if `answer`.
    fn react(d: &mut Driver<Self>, e: &Self::Ev, answer: bool);
    fn app(d: &mut Driver<Self>, call: &Self::App);
    /// Every typed method on a closed connection: each must return `UsageError::Closed`.
    fn all_refused(d: &mut Driver<Self>);
    /// A well-formed handshake in the configured versions.
    fn handshake(d: &mut Driver<Self>);
}

struct Driver<R: Side> {
    c: Conn<R>,
    now: Duration,
    /// `Closed` events seen.
    closed_events: usize,
    /// Bytes the closed connection may still hand out (those queued when it closed).
    after_close: Option<usize>,
    /// Exempt frames handed out over the connection's life, by command.
    exempt_seen: Vec<Command>,
    /// The last MESSAGE a client received (for `ack`/`nack`) or the last SEND a server
    /// received (as MESSAGE content).
    last_frame: Option<Frame>,
    /// The last subscription id a server learnt of, the last receipt asked for.
    last_subscription: Option<Bytes>,
    last_receipt: Option<Bytes>,
    ids: MessageIds,
}

fn refused<T: Debug>(what: &str, r: Result<T, UsageError>) {
    assert!(
        matches!(r, Err(UsageError::Closed)),
        "{what} on a closed connection: {r:?}"
    );
}

impl<R: Side> Driver<R> {
    fn new(c: Conn<R>, start: Duration) -> Driver<R> {
        Driver {
            c,
            now: start,
            closed_events: 0,
            after_close: None,
            exempt_seen: Vec::new(),
            last_frame: None,
            last_subscription: None,
            last_receipt: None,
            ids: MessageIds::new("node-1"),
        }
    }

    fn poll_event(&mut self, answer: bool) -> bool {
        let Some(e) = R::event(&mut self.c) else {
            return false;
        };
        assert_eq!(self.closed_events, 0, "an event after Closed: {e:?}");
        if R::is_closed_event(&e) {
            self.closed_events += 1;
            assert!(self.c.is_closed(), "Closed reported on an open connection");
        }
        R::react(self, &e, answer);
        true
    }

    /// Checks bytes handed out: all of what was pending, whole frames that decode, and within
    /// the output limit but for the exempt frames and one heart-beat.
    fn transmitted(&mut self, bytes: &[u8], pending: usize) {
        assert_eq!(bytes.len(), pending, "a poll hands out everything queued");
        if let Some(budget) = &mut self.after_close {
            assert!(
                bytes.len() <= *budget,
                "bytes queued after Closed: {}",
                bytes.escape_ascii()
            );
            *budget -= bytes.len();
        }
        let version = self.c.version().unwrap_or(Version::V1_0);
        let mut dec = Decoder::with_limits(version, Limits::unlimited());
        dec.push(bytes);
        let (mut exempt, mut beats, mut others) = (0, 0, 0);
        loop {
            let before = dec.buffered();
            match dec.next_item() {
                Ok(Some(Item::Heartbeat)) => beats += before - dec.buffered(),
                Ok(Some(Item::Frame(f))) => {
                    if !R::EXEMPT.contains(f.command()) {
                        others += 1;
                    }
                    if R::EXEMPT.contains(f.command()) {
                        let command = match f.command() {
                            Command::Stomp => Command::Connect,
                            c => c.clone(),
                        };
                        assert!(
                            !self.exempt_seen.contains(&command),
                            "{command} handed out twice"
                        );
                        self.exempt_seen.push(command);
                        exempt += before - dec.buffered();
                    }
                }
                Ok(None) => break,
                Err(e) => panic!("undecodable output ({e}): {}", bytes.escape_ascii()),
            }
        }
        assert_eq!(dec.buffered(), 0, "a partial frame handed out");
        assert!(beats <= 1, "{beats} heart-beat EOLs in one output");
        let limit = self.c.output_limit();
        assert!(
            bytes.len() - exempt - beats <= limit || others <= 1,
            "{} bytes queued past the output limit {limit}: {}",
            bytes.len(),
            bytes.escape_ascii()
        );
    }

    fn poll_transmit(&mut self) -> bool {
        let pending = self.c.pending_transmit();
        match self.c.poll_transmit() {
            Some(bytes) => {
                assert!(!bytes.is_empty());
                self.transmitted(&bytes, pending);
                true
            }
            None => {
                assert_eq!(pending, 0, "poll_transmit left bytes queued");
                false
            }
        }
    }

    fn poll_transmit_into(&mut self, prefilled: bool) {
        let pending = self.c.pending_transmit();
        let mut dst = BytesMut::new();
        if prefilled {
            dst.extend_from_slice(b"already here");
        }
        let start = dst.len();
        let n = self.c.poll_transmit_into(&mut dst);
        assert_eq!(n, dst.len() - start);
        assert_eq!(self.c.pending_transmit(), 0);
        if n > 0 {
            self.transmitted(&dst[start..], pending);
        }
    }

    fn drain(&mut self, answer: bool) {
        for _ in 0..10_000 {
            let mut moved = false;
            while self.poll_event(answer) {
                moved = true;
            }
            moved |= self.poll_transmit();
            if !moved {
                return;
            }
        }
        panic!("the drive loop did not settle");
    }

    fn run(&mut self, op: &Op<R::App>) {
        let now = self.now;
        match op {
            Op::Input(bytes, cut) => {
                let bytes = bytes.render();
                match cut {
                    None => self.c.handle_input(now, &bytes),
                    Some(cut) => {
                        let (head, tail) = bytes.split_at(cut % (bytes.len() + 1));
                        self.c.handle_input(now, head);
                        self.c.handle_input_bytes(now, Bytes::copy_from_slice(tail));
                    }
                }
            }
            Op::InputBytes(bytes) => self.c.handle_input_bytes(now, Bytes::from(bytes.render())),
            Op::Close => self.c.handle_close(),
            Op::Forward(ms) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_millis(u64::from(*ms)));
                self.c.handle_timeout(self.now);
            }
            Op::Hours(h) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_secs(u64::from(*h) * 3600));
            }
            Op::Back(ms) => {
                self.now = self
                    .now
                    .saturating_sub(Duration::from_millis(u64::from(*ms)));
            }
            Op::NearEnd(ms) => {
                self.now = Duration::MAX.saturating_sub(Duration::from_millis(u64::from(*ms)));
            }
            Op::ToDeadline => {
                if let Some(t) = self.c.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.c.handle_timeout(self.now);
            }
            Op::Timeout => self.c.handle_timeout(now),
            Op::Activity => self.c.note_activity(now),
            Op::PollEvent => {
                self.poll_event(false);
            }
            Op::PollTransmit => {
                self.poll_transmit();
            }
            Op::PollTransmitInto(prefilled) => self.poll_transmit_into(*prefilled),
            Op::Drain(answer) => self.drain(*answer),
            Op::App(call) => R::app(self, call),
        }
        self.check();
    }

    /// What holds after every call.
    fn check(&mut self) {
        assert!(self.closed_events <= 1, "Closed reported twice");
        if self.closed_events == 1 {
            assert_eq!(self.c.pending_events(), 0, "events queued after Closed");
        }
        if self.c.is_closed() {
            assert!(
                self.closed_events == 1 || self.c.pending_events() > 0,
                "closed without a Closed event"
            );
            assert_eq!(self.c.poll_timeout(), None, "a timer armed after Closed");
            let pending = self.c.pending_transmit();
            match self.after_close {
                None => self.after_close = Some(pending),
                Some(budget) => assert!(
                    pending <= budget,
                    "{pending} bytes queued after Closed, {budget} were"
                ),
            }
            R::all_refused(self);
            assert_eq!(
                self.c.pending_transmit(),
                pending,
                "a refused call queued bytes"
            );
        }
    }

    /// Runs `ops`, then drains and closes: the connection must end with one `Closed`.
    fn finish(&mut self) {
        self.drain(false);
        self.c.handle_close();
        self.check();
        self.drain(false);
        self.check();
        // The transport ended: whatever the state, the connection is over once drained.
        assert!(self.c.is_closed(), "open after handle_close and a drain");
        assert_eq!(self.closed_events, 1);
        assert_eq!(self.c.poll_event().map(|_| ()), None);
        assert_eq!(self.c.poll_transmit(), None);
    }
}

// ---- the client --------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Receipt {
    None,
    Generated,
    Id(String),
}

#[derive(Debug, Clone)]
struct Options {
    receipt: Receipt,
    transaction: Option<String>,
    headers: Vec<(String, String)>,
}

impl Options {
    fn build(&self) -> FrameOptions {
        let mut o = FrameOptions::new();
        match &self.receipt {
            Receipt::None => {}
            Receipt::Generated => o = o.receipt(),
            Receipt::Id(id) => o = o.receipt_id(id),
        }
        if let Some(t) = &self.transaction {
            o = o.transaction(t);
        }
        for (n, v) in &self.headers {
            o = o.header(n, v);
        }
        o
    }
}

fn options() -> impl Strategy<Value = Options> {
    (
        prop_oneof![
            3 => Just(Receipt::None),
            2 => Just(Receipt::Generated),
            1 => text().prop_map(Receipt::Id),
        ],
        prop::option::weighted(0.3, text()),
        prop::collection::vec((name(), text()), 0..2),
    )
        .prop_map(|(receipt, transaction, headers)| Options {
            receipt,
            transaction,
            headers,
        })
}

fn ack_mode() -> impl Strategy<Value = AckMode> {
    prop::sample::select(&[AckMode::Auto, AckMode::Client, AckMode::ClientIndividual][..])
}

#[derive(Debug, Clone)]
enum ClientCall {
    Connect,
    Send(String, Bytes, Options),
    Subscribe(String, String, AckMode, Options),
    Unsubscribe(String, Options),
    /// ACK (or NACK) of the last MESSAGE received, or of any frame.
    Ack(bool, Option<Frame>, Options),
    Begin(String, Options),
    Commit(String, Options),
    Abort(String, Options),
    Disconnect(Options),
    SendFrame(Frame),
}

fn client_call() -> impl Strategy<Value = ClientCall> {
    prop_oneof![
        3 => Just(ClientCall::Connect),
        2 => (text(), body(), options()).prop_map(|(d, b, o)| ClientCall::Send(d, b, o)),
        2 => (text(), text(), ack_mode(), options())
            .prop_map(|(i, d, a, o)| ClientCall::Subscribe(i, d, a, o)),
        1 => (text(), options()).prop_map(|(i, o)| ClientCall::Unsubscribe(i, o)),
        2 => (any::<bool>(), prop::option::weighted(0.3, any_frame()), options())
            .prop_map(|(n, f, o)| ClientCall::Ack(n, f, o)),
        1 => (text(), options()).prop_map(|(t, o)| ClientCall::Begin(t, o)),
        1 => (text(), options()).prop_map(|(t, o)| ClientCall::Commit(t, o)),
        1 => (text(), options()).prop_map(|(t, o)| ClientCall::Abort(t, o)),
        1 => options().prop_map(ClientCall::Disconnect),
        2 => any_frame().prop_map(ClientCall::SendFrame),
    ]
}

/// A refused call must leave the queue as it was (UsageError: "nothing was queued").
fn unchanged_on_error<T: Debug>(pending: usize, after: usize, r: &Result<T, UsageError>) {
    if r.is_err() {
        assert_eq!(pending, after, "a refused call changed the queue: {r:?}");
    }
}

impl Side for ClientRole {
    type Ev = ClientEvent;
    type App = ClientCall;
    const EXEMPT: &'static [Command] = &[Command::Connect, Command::Stomp];

    fn event(c: &mut Conn<Self>) -> Option<ClientEvent> {
        c.poll_event()
    }

    fn is_closed_event(e: &ClientEvent) -> bool {
        matches!(e, ClientEvent::Closed(_))
    }

    fn react(d: &mut Driver<Self>, e: &ClientEvent, answer: bool) {
        if let ClientEvent::Message(m) = e {
            d.last_frame = Some(m.frame.clone());
            if answer && m.ack_mode.is_some_and(AckMode::needs_ack) {
                let _ = d.c.ack(d.now, m, FrameOptions::new());
            }
        }
    }

    fn app(d: &mut Driver<Self>, call: &ClientCall) {
        let now = d.now;
        let pending = d.c.pending_transmit();
        let c = &mut d.c;
        let r = match call {
            ClientCall::Connect => c.connect(now).map(|()| None::<Bytes>),
            ClientCall::Send(dest, body, o) => c.send(now, dest, body.clone(), o.build()),
            ClientCall::Subscribe(id, dest, ack, o) => c.subscribe(now, id, dest, *ack, o.build()),
            ClientCall::Unsubscribe(id, o) => c.unsubscribe(now, id, o.build()),
            ClientCall::Ack(nack, frame, o) => {
                let m = frame
                    .clone()
                    .or_else(|| d.last_frame.clone())
                    .unwrap_or_else(|| Frame::new(Command::Message));
                if *nack {
                    c.nack(now, &m, o.build())
                } else {
                    c.ack(now, &m, o.build())
                }
            }
            ClientCall::Begin(t, o) => c.begin(now, t, o.build()),
            ClientCall::Commit(t, o) => c.commit(now, t, o.build()),
            ClientCall::Abort(t, o) => c.abort(now, t, o.build()),
            ClientCall::Disconnect(o) => c.disconnect(now, o.build()),
            ClientCall::SendFrame(f) => c.send_frame(now, f.clone()),
        };
        unchanged_on_error(pending, d.c.pending_transmit(), &r);
    }

    fn handshake(d: &mut Driver<Self>) {
        let _ = d.c.connect(d.now);
        d.drain(false);
        let connected = match d.c.config().versions.highest() {
            None | Some(Version::V1_0) => "CONNECTED\nversion:1.0\n\n\0".to_owned(),
            Some(v) => format!("CONNECTED\nversion:{v}\nheart-beat:100,100\n\n\0"),
        };
        d.c.handle_input(d.now, connected.as_bytes());
        d.drain(false);
    }

    fn all_refused(d: &mut Driver<Self>) {
        let now = d.now;
        let c = &mut d.c;
        let m = Frame::builder(Command::Message)
            .header("destination", "/q")
            .header("message-id", "m-1")
            .header("subscription", "s1")
            .header("ack", "m-1")
            .build();
        refused("connect", c.connect(now));
        refused("send", c.send(now, "/q", "x", FrameOptions::new()));
        refused(
            "subscribe",
            c.subscribe(now, "s9", "/q", AckMode::Auto, FrameOptions::new()),
        );
        refused("unsubscribe", c.unsubscribe(now, "s1", FrameOptions::new()));
        refused("ack", c.ack(now, &m, FrameOptions::new()));
        refused("nack", c.nack(now, &m, FrameOptions::new()));
        refused("begin", c.begin(now, "t9", FrameOptions::new()));
        refused("commit", c.commit(now, "t1", FrameOptions::new()));
        refused("abort", c.abort(now, "t1", FrameOptions::new()));
        refused(
            "disconnect",
            c.disconnect(now, FrameOptions::new().receipt()),
        );
        for command in COMMANDS {
            refused("send_frame", c.send_frame(now, Frame::new(command)));
        }
    }
}

#[derive(Debug, Clone)]
struct ClientSetup {
    versions: VersionSet,
    heartbeat: Heartbeat,
    stomp: bool,
    grace: Option<Duration>,
    connect_timeout: Option<Duration>,
    disconnect_timeout: Option<Duration>,
    limits: Limits,
    output: usize,
    start: u32,
}

fn client_setup() -> impl Strategy<Value = ClientSetup> {
    (
        version_set(),
        heartbeat(),
        any::<bool>(),
        millis(),
        millis(),
        millis(),
        limits(),
        output_limit(),
        any::<u32>(),
    )
        .prop_map(
            |(
                versions,
                heartbeat,
                stomp,
                grace,
                connect_timeout,
                disconnect_timeout,
                limits,
                output,
                start,
            )| {
                ClientSetup {
                    versions,
                    heartbeat,
                    stomp,
                    grace,
                    connect_timeout,
                    disconnect_timeout,
                    limits,
                    output,
                    start,
                }
            },
        )
}

fn client(setup: &ClientSetup) -> Driver<ClientRole> {
    let mut config = ClientConfig::new("/")
        .versions(setup.versions)
        .heartbeat(setup.heartbeat)
        .stomp_command(setup.stomp)
        .connect_timeout(setup.connect_timeout)
        .limits(setup.limits)
        .max_pending_transmit(setup.output);
    if let Some(g) = setup.grace {
        config = config.heartbeat_grace(g);
    }
    if let Some(t) = setup.disconnect_timeout {
        config = config.disconnect_timeout(t);
    }
    let c = ClientConnection::<Duration>::with_timestamp_type(config);
    Driver::new(c, Duration::from_millis(u64::from(setup.start)))
}

// ---- the server --------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ServerCall {
    Start,
    Accept(Option<String>, Vec<(String, String)>),
    /// MESSAGE to the last subscription (or to this one), with an id from the server's
    /// `MessageIds` (or this one), with the last SEND as content (or this frame).
    Message(Option<String>, Option<String>, Option<Frame>),
    /// RECEIPT for the last receipt asked for (or this id).
    Receipt(Option<String>),
    Error(
        String,
        Option<String>,
        Option<String>,
        Option<(String, String)>,
    ),
}

fn server_call() -> impl Strategy<Value = ServerCall> {
    prop_oneof![
        1 => Just(ServerCall::Start),
        3 => (prop::option::of(text()), prop::collection::vec((name(), text()), 0..2))
            .prop_map(|(s, h)| ServerCall::Accept(s, h)),
        4 => (
            prop::option::weighted(0.2, text()),
            prop::option::weighted(0.2, text()),
            prop::option::weighted(0.3, any_frame()),
        )
            .prop_map(|(s, i, f)| ServerCall::Message(s, i, f)),
        2 => prop::option::weighted(0.3, text()).prop_map(ServerCall::Receipt),
        1 => (
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of((name(), text())),
        )
            .prop_map(|(m, r, d, h)| ServerCall::Error(m, r, d, h)),
    ]
}

impl Side for ServerRole {
    type Ev = ServerEvent;
    type App = ServerCall;
    const EXEMPT: &'static [Command] = &[Command::Connected, Command::Error];

    fn event(c: &mut Conn<Self>) -> Option<ServerEvent> {
        c.poll_event()
    }

    fn is_closed_event(e: &ServerEvent) -> bool {
        matches!(e, ServerEvent::Closed(_))
    }

    fn react(d: &mut Driver<Self>, e: &ServerEvent, answer: bool) {
        match e {
            ServerEvent::Subscribe { id, .. } => d.last_subscription = Some(id.clone()),
            ServerEvent::Send { frame, .. } => d.last_frame = Some(frame.clone()),
            _ => {}
        }
        if let Some(r) = e.receipt() {
            d.last_receipt = Some(r.clone());
        }
        if !answer {
            return;
        }
        let now = d.now;
        match e {
            ServerEvent::Connect(_) => {
                let _ = d.c.accept(now, Accept::new().session("s-1"));
            }
            ServerEvent::Send { frame, .. } => {
                if let Some(sub) = d.last_subscription.clone() {
                    let id = d.ids.next_id();
                    let _ = d.c.message(now, &sub, &id, frame);
                }
                if let Some(r) = e.receipt() {
                    let _ = d.c.receipt(now, r);
                }
            }
            other => {
                if let Some(r) = other.receipt() {
                    let _ = d.c.receipt(now, r);
                }
            }
        }
    }

    fn app(d: &mut Driver<Self>, call: &ServerCall) {
        let now = d.now;
        let pending = d.c.pending_transmit();
        let r = match call {
            ServerCall::Start => {
                d.c.start(now);
                Ok(())
            }
            ServerCall::Accept(session, headers) => {
                let mut a = Accept::new();
                if let Some(s) = session {
                    a = a.session(s);
                }
                for (n, v) in headers {
                    a = a.header(n, v);
                }
                d.c.accept(now, a)
            }
            ServerCall::Message(sub, id, content) => {
                let sub = sub
                    .as_ref()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .or_else(|| d.last_subscription.clone())
                    .unwrap_or_else(|| Bytes::from_static(b"s1"));
                let id = match id {
                    Some(id) => Bytes::copy_from_slice(id.as_bytes()),
                    None => d.ids.next_id(),
                };
                let content = content
                    .clone()
                    .or_else(|| d.last_frame.clone())
                    .unwrap_or_else(|| Frame::new(Command::Send));
                d.c.message(now, &sub, &id, &content)
            }
            ServerCall::Receipt(id) => {
                let id = id
                    .as_ref()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .or_else(|| d.last_receipt.clone())
                    .unwrap_or_else(|| Bytes::from_static(b"r1"));
                d.c.receipt(now, &id)
            }
            ServerCall::Error(message, receipt, detail, header) => {
                let mut e = ErrorReply::new(message.clone());
                if let Some(r) = receipt {
                    e = e.receipt_id(r);
                }
                if let Some(t) = detail {
                    e = e.detail(t.clone());
                }
                if let Some((n, v)) = header {
                    e = e.header(n, v);
                }
                d.c.error(now, e)
            }
        };
        // The slow-consumer policy `Close` queues ERROR when it refuses: not "unchanged".
        let closing = matches!(r, Err(UsageError::OutputFull { .. }))
            && d.c.config().slow_consumer == SlowConsumer::Close;
        if !closing {
            unchanged_on_error(pending, d.c.pending_transmit(), &r);
        }
    }

    fn handshake(d: &mut Driver<Self>) {
        d.c.start(d.now);
        d.c.handle_input(
            d.now,
            b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:100,100\n\n\0",
        );
        d.drain(true);
    }

    fn all_refused(d: &mut Driver<Self>) {
        let now = d.now;
        let c = &mut d.c;
        let content = Frame::builder(Command::Send)
            .header("destination", "/q")
            .body("x")
            .build();
        refused("accept", c.accept(now, Accept::new()));
        refused("message", c.message(now, "s1", "m-1", &content));
        refused("receipt", c.receipt(now, "r1"));
        refused("error", c.error(now, "late"));
        // `start` returns nothing; it must not arm a timer.
        c.start(now);
    }
}

#[derive(Debug, Clone)]
struct ServerSetup {
    versions: VersionSet,
    heartbeat: Heartbeat,
    grace: Option<Duration>,
    require_host: bool,
    limits: Limits,
    max_subscriptions: usize,
    max_transactions: usize,
    connect_timeout: Option<Duration>,
    output: usize,
    slow: bool,
    start: u32,
}

fn server_setup() -> impl Strategy<Value = ServerSetup> {
    (
        (
            version_set(),
            heartbeat(),
            millis(),
            any::<bool>(),
            limits(),
        ),
        (
            0usize..3,
            0usize..3,
            millis(),
            output_limit(),
            any::<bool>(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (versions, heartbeat, grace, require_host, limits),
                (max_subscriptions, max_transactions, connect_timeout, output, slow, start),
            )| ServerSetup {
                versions,
                heartbeat,
                grace,
                require_host,
                limits,
                max_subscriptions,
                max_transactions,
                connect_timeout,
                output,
                slow,
                start,
            },
        )
}

fn server(setup: &ServerSetup) -> Driver<ServerRole> {
    let mut config = ServerConfig::default()
        .versions(setup.versions)
        .heartbeat(setup.heartbeat)
        .require_host(setup.require_host)
        .limits(setup.limits)
        .max_subscriptions(setup.max_subscriptions)
        .max_transactions(setup.max_transactions)
        .connect_timeout(setup.connect_timeout)
        .max_pending_transmit(setup.output)
        .slow_consumer(if setup.slow {
            SlowConsumer::Close
        } else {
            SlowConsumer::Refuse
        });
    if let Some(g) = setup.grace {
        config = config.heartbeat_grace(g);
    }
    let c = ServerConnection::<Duration>::with_timestamp_type(config);
    Driver::new(c, Duration::from_millis(u64::from(setup.start)))
}

// ---- the properties ------------------------------------------------------------------------------

fn ops<A: Debug + Clone + 'static>(
    peer: &'static [&'static [u8]],
    app: impl Strategy<Value = A> + 'static,
) -> impl Strategy<Value = Vec<Op<A>>> {
    prop::collection::vec(op(peer, app), 0..48)
}

/// Runs `ops` on `d`, after a well-formed handshake when `handshake` (so that most runs get
/// to the session before something ends it), then drains and closes.
fn drive<R: Side>(mut d: Driver<R>, handshake: bool, ops: &[Op<R::App>]) {
    if handshake {
        R::handshake(&mut d);
        d.check();
    }
    for op in ops {
        d.run(op);
    }
    d.finish();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The client, any configuration, any call order: no panic, the output limit, one Closed.
    #[test]
    fn the_client_survives_any_call_order(
        setup in client_setup(),
        handshake in prop::bool::weighted(0.75),
        ops in ops(FROM_SERVER, client_call()),
    ) {
        drive(client(&setup), handshake, &ops);
    }

    /// The server, any configuration, any call order: no panic, the output limit, one Closed.
    #[test]
    fn the_server_survives_any_call_order(
        setup in server_setup(),
        handshake in prop::bool::weighted(0.75),
        ops in ops(FROM_CLIENT, server_call()),
    ) {
        drive(server(&setup), handshake, &ops);
    }
}
