//! [`Connection`]: everything both roles share, written once — the drive loop (`handle_*`,
//! `poll_*`), input buffering and stepping in order, failure and close handling, the output
//! limit, the state machine of `states.rs` and the session bookkeeping of `session.rs`. The
//! role files add only what differs, through the [`Role`] hooks.

use alloc::collections::VecDeque;
use core::fmt::Debug;

use bytes::{Bytes, BytesMut};

use crate::decode::Item;
use crate::frame::{Command, Frame};
use crate::version::Version;

use super::session::Session;
use super::states::{self, Side, State, Trigger};
use super::wire::Core;
use super::{timed_struct, AckMode, CloseReason, ConnectionError, Timestamp, UsageError};

pub(crate) mod sealed {
    use super::*;

    /// What a role adds to the shared [`Connection`]: its reactions to frames, timers and the
    /// end of input. Private: only the two roles of this crate implement it.
    pub trait Hooks: Sized {
        /// What the connection reports.
        type Event: Debug;
        /// Which side of the protocol this role plays.
        #[doc(hidden)]
        const SIDE: Side;
        /// The event that ends the event stream.
        #[doc(hidden)]
        fn closed(reason: CloseReason) -> Self::Event;
        /// The event reported when the peer went silent (B-6).
        #[doc(hidden)]
        fn heartbeat_timeout() -> Self::Event;
        /// The event reported for a transaction rolled back when the session ended,
        /// if the role reports them.
        #[doc(hidden)]
        fn transaction_aborted(transaction: Bytes) -> Option<Self::Event>;
        /// Applies a decoded frame from the peer. The event it leaves in `event` (`None` on
        /// entry) comes after any it queued: `poll_event` hands it out without a trip through
        /// the queue when nothing waits before it. A refused frame comes back as the error and
        /// the receipt its ERROR names (R-11; C-11: never CONNECT's), looked up only then.
        #[doc(hidden)]
        fn on_frame<I: Timestamp>(
            conn: &mut Connection<Self, I>,
            now: I,
            frame: Frame,
            event: &mut Option<Self::Event>,
        ) -> Result<(), (ConnectionError, Option<Bytes>)>
        where
            Self: Role;
        /// Reacts to the peer breaking the protocol (a server queues ERROR first).
        #[doc(hidden)]
        fn on_failure<I: Timestamp>(
            conn: &mut Connection<Self, I>,
            now: I,
            error: &ConnectionError,
            receipt: Option<Bytes>,
        ) where
            Self: Role;
        /// Checks the role's own timers at `at`; `true` when they ended the connection.
        #[doc(hidden)]
        fn on_timers<I: Timestamp>(conn: &mut Connection<Self, I>, at: I) -> bool
        where
            Self: Role;
        /// What a role forgets when the connection ends (the client's pending receipts).
        #[doc(hidden)]
        fn on_end<I: Timestamp>(_conn: &mut Connection<Self, I>)
        where
            Self: Role,
        {
        }
        /// The check a role makes after input is buffered (the server's input held before
        /// CONNECTED is bounded); `true` when it failed the connection.
        #[doc(hidden)]
        fn after_input<I: Timestamp>(_conn: &mut Connection<Self, I>, _now: I) -> bool
        where
            Self: Role,
        {
            false
        }
    }
}

/// One side of a STOMP connection: [`ClientRole`](super::ClientRole) or
/// [`ServerRole`](super::ServerRole). It carries the role's configuration and state inside a
/// [`Connection`]; the trait is sealed.
pub trait Role: sealed::Hooks + Debug {}

timed_struct! {
/// One STOMP connection, sans IO, in either role: [`ClientConnection`](super::ClientConnection)
/// is `Connection<ClientRole>` and [`ServerConnection`](super::ServerConnection) is
/// `Connection<ServerRole>`.
///
/// The methods on this page exist in both roles; each role adds its typed frames (the
/// client's `send`, `subscribe`..., the server's `accept`, `message`, `receipt`, `error`).
/// The drive loop, the queues and the states are described in the crate docs
/// ("Connections").
///
/// `I` is the [`Timestamp`] type of `now`: `std::time::Instant` by default.
#[derive(Debug)]
pub struct Connection<R: Role> {
    pub(crate) core: Core<I>,
    pub(crate) state: State,
    pub(crate) version: Option<Version>,
    pub(crate) session: Session,
    pub(crate) events: VecDeque<R::Event>,
    pub(crate) failed: Option<ConnectionError>,
    /// Close with this reason once the queued bytes are handed out (DISCONNECT without
    /// receipt, the server's ERROR or its RECEIPT of DISCONNECT: D-22, D-23).
    pub(crate) close_after_flush: Option<CloseReason>,
    /// The most bytes that may wait for the wire (see `max_pending_transmit`).
    output_limit: usize,
    heartbeats_received: u64,
    pub(crate) role: R,
}
}

impl<R: Role, I: Timestamp> Connection<R, I> {
    pub(crate) fn with_role(core: Core<I>, output_limit: usize, role: R) -> Connection<R, I> {
        Connection {
            core,
            state: State::Idle,
            version: None,
            session: Session::default(),
            events: VecDeque::new(),
            failed: None,
            close_after_flush: None,
            output_limit,
            heartbeats_received: 0,
            role,
        }
    }

    // ---- input -------------------------------------------------------------------------

    /// Buffers bytes read from the transport (any chunking; they are copied). Every byte
    /// counts as life for the heart-beat timers (B-5). Nothing is decoded here:
    /// [`poll_event`](Connection::poll_event) applies the frames in order.
    ///
    /// Input after the connection closed, after [`handle_close`](Connection::handle_close),
    /// or (server) after DISCONNECT is ignored (R-6, D-23). A peer that breaks the protocol
    /// is reported by `poll_event` as `Closed(Failed(..))` once it reaches the bad frame, and
    /// by [`failure`](Connection::failure); so is more input while more than `max_frame`
    /// bytes already wait unapplied ([`ConnectionError::InputNotPolled`]).
    pub fn handle_input(&mut self, now: I, bytes: &[u8]) {
        if self.take_input(now, bytes.len()) {
            self.core.decoder.push(bytes);
            let _failed = R::after_input(self, now);
        }
    }

    /// [`handle_input`](Connection::handle_input) for bytes you already hold as [`Bytes`]
    /// (a WebSocket message, a `BytesMut` you split off): the decoder keeps them without a
    /// copy when it holds nothing else, so a frame's body can be the very buffer you read.
    pub fn handle_input_bytes(&mut self, now: I, bytes: Bytes) {
        if self.take_input(now, bytes.len()) {
            self.core.decoder.push_bytes(bytes);
            let _failed = R::after_input(self, now);
        }
    }

    /// Whether input of `len` bytes is to be buffered now; notes it as life (B-5).
    fn take_input(&mut self, now: I, len: usize) -> bool {
        if self.failed.is_some() {
            return false;
        }
        self.started(now);
        if len == 0 || !self.reads_input() {
            return false;
        }
        self.core.note_rx(now);
        if let Some(err) = self.core.unpolled_input() {
            self.fail(now, err, None);
            return false;
        }
        true
    }

    /// Whether bytes from the peer are still taken: not after the transport ended, nor in
    /// the states whose input is ignored (R-6, D-23).
    fn reads_input(&self) -> bool {
        let ignored = match R::SIDE {
            Side::Client => self.state == State::Closed,
            Side::Server => matches!(
                self.state,
                State::Disconnecting | State::Closing | State::Closed
            ),
        };
        !ignored && !self.core.input_closed
    }

    /// Counts as life for the heart-beat timers without bytes (B-5): e.g. a WebSocket ping
    /// or pong frame, which carries no STOMP bytes.
    pub fn note_activity(&mut self, now: I) {
        if self.reads_input() {
            self.core.note_rx(now);
        }
    }

    /// The transport ended (EOF, reset). Reported as `Closed` after the frames received
    /// before it: `Disconnected` after DISCONNECT, else `PeerClosed`.
    pub fn handle_close(&mut self) {
        if self.state != State::Closed {
            self.core.input_closed = true;
            self.settle();
        }
    }

    /// Runs the timers due at `now`; call it once [`poll_timeout`](Connection::poll_timeout)
    /// has passed (earlier calls do nothing). Queues a heart-beat EOL when one is due (B-4);
    /// a peer silent past its interval plus grace (B-6), a missing CONNECT or CONNECTED, or
    /// an overdue RECEIPT of DISCONNECT (D-22) is reported by `poll_event`, after the frames
    /// received before.
    pub fn handle_timeout(&mut self, now: I) {
        if self.state == State::Closed {
            return;
        }
        self.started(now);
        let now = self.core.note_timeout(now);
        if self.sends_heartbeats() {
            self.core.send_heartbeat_if_due(now);
        }
        self.settle();
    }

    /// The server's clock for CONNECT starts at the first call that brings a time.
    fn started(&mut self, now: I) {
        if R::SIDE == Side::Server {
            self.start_connect_timer(now);
        }
    }

    /// Arms the connect timer once (server: from the first time seen).
    pub(crate) fn start_connect_timer(&mut self, now: I) {
        if self.core.connect_timer_started {
            return;
        }
        self.core.connect_timer_started = true;
        if self.state == State::Idle {
            if let Some(timeout) = self.core.connect_timeout {
                self.core.arm(super::wire::Timer::Connect, now, timeout);
            }
        }
    }

    fn sends_heartbeats(&self) -> bool {
        R::SIDE == Side::Client || self.state == State::Connected
    }

    /// Applies what can be applied at once when nothing received is still waiting: the end
    /// of input and due timers take their place after the frames received before them.
    fn settle(&mut self) {
        if !self.decodes() || self.core.decoder.buffered() == 0 {
            let mut event = None;
            while self.step(&mut event) {
                self.events.extend(event.take());
            }
        }
    }

    /// Whether received frames are decoded and applied in this state. A server holds input
    /// while the application decides on CONNECT (D-16).
    fn decodes(&self) -> bool {
        match R::SIDE {
            Side::Client => self.state != State::Closed,
            Side::Server => matches!(self.state, State::Idle | State::Connected),
        }
    }

    /// Applies the next input: a frame, a heart-beat, a due timeout or the end of input.
    /// `false` when there was nothing to apply. A frame may leave its event in `event`
    /// (`None` on entry), for the caller to report after the queued ones.
    #[inline]
    fn step(&mut self, event: &mut Option<R::Event>) -> bool {
        if self.state == State::Closed {
            return false;
        }
        if let Some(now) = self.core.latest_seen() {
            if self.decodes() {
                match self.core.decoder.next_item() {
                    Ok(None) => {}
                    Ok(Some(Item::Heartbeat)) => {
                        self.heartbeats_received = self.heartbeats_received.saturating_add(1);
                        return true;
                    }
                    Ok(Some(Item::Frame(frame))) => {
                        if let Err((err, receipt)) = R::on_frame(self, now, frame, event) {
                            self.fail(now, err, receipt);
                        }
                        return true;
                    }
                    Err(err) => {
                        let receipt = self.core.failed_receipt(&err);
                        self.fail(now, err.into(), receipt);
                        return true;
                    }
                }
            }
            if R::after_input(self, now) {
                return true;
            }
        }
        if let Some(at) = self.core.timeout_due.take() {
            self.run_timers(at);
            return true;
        }
        if core::mem::take(&mut self.core.input_closed) {
            self.on_transport_closed();
            return true;
        }
        false
    }

    fn run_timers(&mut self, at: I) {
        if self.state == State::Closed || R::on_timers(self, at) {
            return;
        }
        let opening = matches!(self.state, State::Idle | State::Connecting);
        if opening && self.core.timers.expired(super::wire::Timer::Connect, at) {
            let timeout = self.core.connect_timeout.unwrap_or_default();
            self.fail(at, ConnectionError::ConnectTimeout { timeout }, None);
            return;
        }
        if self.state == State::Connected || R::SIDE == Side::Client {
            if let Some(err) = self.core.peer_silent(at) {
                self.failed = Some(err.clone());
                self.abort_transactions();
                self.events.push_back(R::heartbeat_timeout());
                self.end(CloseReason::Failed(err));
                return;
            }
        }
        // A CONNECTED applied after `handle_timeout` (it was read before, polled after) arms
        // the sending timer from the last write, which may already be due at `at`: beat now,
        // so that no deadline is left at or before the time just handled.
        if self.sends_heartbeats() {
            self.core.send_heartbeat_if_due(at);
        }
    }

    fn on_transport_closed(&mut self) {
        match self.state {
            State::Closed => {}
            State::Closing => {
                let reason = self
                    .close_after_flush
                    .take()
                    .unwrap_or(CloseReason::PeerClosed);
                self.end(reason);
            }
            State::Disconnecting => self.end(CloseReason::Disconnected),
            _ => {
                self.abort_transactions();
                self.end(CloseReason::PeerClosed);
            }
        }
    }

    // ---- state changes -----------------------------------------------------------------

    /// Moves along the state table (`states.rs`); a trigger the table does not have in this
    /// state leaves the state as it is.
    pub(crate) fn transition(&mut self, trigger: Trigger) {
        let next = states::next(R::SIDE, self.state, trigger);
        debug_assert!(
            next.is_some(),
            "{:?} has no {trigger:?} from {:?}",
            R::SIDE,
            self.state
        );
        if let Some(next) = next {
            self.state = next;
        }
    }

    /// Ends the connection now with `reason` (the `End` transition).
    pub(crate) fn end(&mut self, reason: CloseReason) {
        self.close_on(Trigger::End, reason);
    }

    pub(crate) fn close_on(&mut self, trigger: Trigger, reason: CloseReason) {
        self.transition(trigger);
        self.core.stop_timers();
        self.session.take_transactions();
        self.close_after_flush = None;
        R::on_end(self);
        self.events.push_back(R::closed(reason));
    }

    /// The peer broke the protocol: the failure is sticky and reported as
    /// `Closed(Failed(..))`; a server queues ERROR first (naming `receipt`, R-11).
    pub(crate) fn fail(&mut self, now: I, err: ConnectionError, receipt: Option<Bytes>) {
        self.failed = Some(err.clone());
        R::on_failure(self, now, &err, receipt);
        if self.state != State::Closing && self.state != State::Closed {
            self.end(CloseReason::Failed(err));
        }
    }

    /// Rolls back every open transaction, reporting each where the role does.
    pub(crate) fn abort_transactions(&mut self) {
        for transaction in self.session.take_transactions() {
            if let Some(event) = R::transaction_aborted(transaction) {
                self.events.push_back(event);
            }
        }
    }

    /// Whether this side may send `command` now (the state table).
    pub(crate) fn may_send(&self, command: &Command) -> bool {
        states::may_send(R::SIDE, self.state, command)
    }

    /// Whether this side accepts `command` from its peer now (the state table).
    pub(crate) fn accepts(&self, command: &Command) -> bool {
        states::accepts(R::SIDE, self.state, command)
    }

    /// Encodes `frame` onto the transmit queue, within the output limit unless `exempt`
    /// (CONNECT, CONNECTED, ERROR: one each per connection). Nothing is queued on error.
    pub(crate) fn queue(&mut self, now: I, frame: &Frame, exempt: bool) -> Result<(), UsageError> {
        let before = self.core.pending_transmit();
        self.core.queue(frame)?;
        self.check_output(now, before, exempt)
    }

    /// Takes back what was queued past `before` if it went over the output limit; else notes
    /// the write at `now` for the heart-beat timer (a frame taken back was never sent).
    pub(crate) fn check_output(
        &mut self,
        now: I,
        before: usize,
        exempt: bool,
    ) -> Result<(), UsageError> {
        let after = self.core.pending_transmit();
        // An empty queue takes any one frame: a frame larger than the limit (up to the peer's
        // `max_frame`) would otherwise never go out. What waits is then bounded by the limit
        // or by one frame, whichever is larger.
        if exempt || after <= self.output_limit || before == 0 {
            self.core.note_tx(now);
            return Ok(());
        }
        self.core.truncate_transmit(before);
        Err(UsageError::OutputFull {
            pending: before,
            needed: after - before,
            limit: self.output_limit,
        })
    }

    pub(crate) fn negotiated(&self) -> Version {
        self.version.unwrap_or(Version::V1_0)
    }

    // ---- output ------------------------------------------------------------------------

    /// The next event: decodes, checks and applies the next received frame (or timeout, or
    /// end of input) when no event is waiting. `None`: nothing more until the next input.
    #[must_use]
    #[inline]
    pub fn poll_event(&mut self) -> Option<R::Event> {
        // The event is large: it is written once, in the caller's slot.
        let mut event = None;
        self.next_event(&mut event);
        event
    }

    /// [`poll_event`](Connection::poll_event) into `event` (`None` on entry).
    fn next_event(&mut self, event: &mut Option<R::Event>) {
        loop {
            if let Some(queued) = self.events.pop_front() {
                event.get_or_insert(queued);
                return;
            }
            if !self.step(event) {
                return;
            }
            // The event of the frame just applied goes straight out when it is the only one
            // (no trip through the queue); after the ones it queued otherwise.
            if event.is_some() {
                if self.events.is_empty() {
                    return;
                }
                self.events.extend(event.take());
            }
        }
    }

    /// Everything queued for the wire, as one buffer to write whole (`None`: nothing).
    /// Handing out the last frame of a closing connection produces the `Closed` event.
    ///
    /// Use it when you write each buffer as it comes; use
    /// [`poll_transmit_into`](Connection::poll_transmit_into) to gather the bytes into a
    /// write buffer of your own.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let bytes = self.core.take_transmit();
        if bytes.is_some() {
            self.flushed();
        }
        bytes
    }

    /// Appends everything queued for the wire to `dst` and returns how many bytes that was
    /// (into an empty `dst` the queue is moved, not copied). For a drive loop that keeps
    /// one write buffer and appends to it while the socket is busy.
    pub fn poll_transmit_into(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.core.transmit_into(dst);
        if n > 0 {
            self.flushed();
        }
        n
    }

    fn flushed(&mut self) {
        if let Some(reason) = self.close_after_flush.take() {
            self.close_on(Trigger::Flushed, reason);
        }
    }

    /// The earliest deadline: call [`handle_timeout`](Connection::handle_timeout) then
    /// (`None`: no timer is armed).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<I> {
        self.core.timers.next()
    }

    // ---- state -------------------------------------------------------------------------

    /// The negotiated version, once CONNECTED is received (client) or sent (server).
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether the session is open (CONNECTED received or sent, no DISCONNECT yet).
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection is over (the `Closed` event has been queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// What the peer did wrong, once a failure has been reached.
    pub fn failure(&self) -> Option<&ConnectionError> {
        self.failed.as_ref()
    }

    /// How many heart-beats (EOLs between frames, B-2) the peer has sent: a way to see that
    /// its heart-beats arrive, not only that the connection survives. Counted as
    /// [`poll_event`](Connection::poll_event) reaches them.
    pub fn heartbeats_received(&self) -> u64 {
        self.heartbeats_received
    }

    /// Events waiting in the queue (the frames not yet decoded are not counted).
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Bytes waiting for [`poll_transmit`](Connection::poll_transmit).
    pub fn pending_transmit(&self) -> usize {
        self.core.pending_transmit()
    }

    /// The most bytes that may wait for the wire: past it, frame methods refuse with
    /// [`UsageError::OutputFull`] (the config's `max_pending_transmit`).
    pub fn output_limit(&self) -> usize {
        self.output_limit
    }

    /// Received bytes not yet applied by `poll_event`.
    pub fn buffered_input(&self) -> usize {
        self.core.decoder.buffered()
    }

    /// The destination and ack mode of the active subscription `id` (for a 1.0 SUBSCRIBE
    /// without `id`, its destination is its id).
    pub fn subscription(&self, id: impl AsRef<[u8]>) -> Option<(&Bytes, AckMode)> {
        self.session
            .subscription(id.as_ref())
            .map(|s| (&s.destination, s.ack))
    }

    /// The active subscriptions: `(id, destination, ack mode)`, in id order.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&Bytes, &Bytes, AckMode)> + '_ {
        self.session
            .subscriptions()
            .map(|(id, s)| (id, &s.destination, s.ack))
    }

    /// Whether `transaction` is open (S-11).
    pub fn is_transaction_open(&self, transaction: impl AsRef<[u8]>) -> bool {
        self.session.is_transaction_open(transaction.as_ref())
    }
}
