//! What the application's calls and the connection's tasks share: the
//! [`ClientSession`] and the bookkeeping around it, behind one
//! `std::sync::Mutex` that is never held across an `.await`.
//!
//! A call (`send`, `ack`, `subscribe`...) runs the session method in the caller's own task,
//! then waits, if it has to, for one of three things, each without a channel or a task hop
//! per call:
//!
//! * **written**: every byte the session hands out has a position in one count that only
//!   grows (over all connections). A SEND without receipt on a live connection records where
//!   its frame ends; the writer publishes how far it has written and flushed, and wakes
//!   the calls whose frames are now out ([`Shared::written`], a queue of wakers by position).
//!   When a connection's writer ends, the positions it had not written are lost
//!   ([`ClientError::ConnectionLost`]). The positions are also published in atomics, so that
//!   a woken call sees its frame is out without the lock.
//! * **offline**: a SEND without receipt queued while offline (or behind the offline queue)
//!   waits for the queue to reach a connection; it then gets its position like the others.
//! * **receipt**: a map receipt id → slot (outcome and waker), filled by the driver task for
//!   all the RECEIPTs of one read in one pass: a confirmed receipt's slot is removed, a failed
//!   one keeps the error. The lowest generated receipt number still in the map is published,
//!   so that a woken call whose receipt was confirmed sees it without the lock.
//!
//! When the connection's output limit refuses a frame (`OutputFull`), the call takes a ticket
//! and waits its turn: calls then go in the order they came (as the old command channel did),
//! each retrying once the writer took bytes out (or the connection changed).
//!
//! Tasks are woken only when needed: the writer when output appears while it is idle, the
//! driver when there are session events for it or a deadline earlier than the one it sleeps
//! until. Wakers and notifications are collected under the lock and fired after it is
//! released ([`Locked`]'s `Drop`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use stomp_codec::{
    generated_receipt_number, ClientSession, FrameOptions, ReceiptMap, SessionError, SessionEvent,
    UsageError,
};
use tokio::sync::{broadcast, oneshot, Notify};

use super::inbox::InboxSender;
use super::{ClientError, ClientStatus};

/// The client's shared core: the state, and how to wake its driver and its writer.
pub(crate) struct Core {
    shared: Mutex<Shared>,
    /// Wakes the driver task: session events to dispatch, an earlier deadline, a writer that
    /// failed.
    pub(crate) driver: Notify,
    /// Wakes the writer: output to write while it was idle, or time to stop.
    pub(crate) writer: Notify,
    pub(crate) status: broadcast::Sender<ClientStatus>,
    /// Messages buffered per subscription.
    pub(crate) buffer: usize,
    /// [`Shared::written`], for a call to see its frame is out without the lock.
    written_at: AtomicU64,
    /// The end of the last range of lost positions (`u64::MAX` while one is open): a frame
    /// ending past it and at or before `written_at` is out.
    lost_up_to: AtomicU64,
    /// [`ReceiptMap::number_floor`] of [`Shared::receipts`]: a call waiting for a generated
    /// receipt numbered below it was confirmed (its slot is gone), seen without the lock.
    receipts_floor: AtomicU64,
}

impl Core {
    pub(crate) fn new(session: ClientSession, buffer: usize) -> Core {
        let (status, _) = broadcast::channel(256);
        Core {
            shared: Mutex::new(Shared::new(session)),
            driver: Notify::new(),
            writer: Notify::new(),
            status,
            buffer,
            written_at: AtomicU64::new(0),
            lost_up_to: AtomicU64::new(0),
            receipts_floor: AtomicU64::new(0),
        }
    }

    /// Whether the frame ending at `end` is out, as far as can be seen without the lock
    /// (`false`: look under the lock).
    fn surely_written(&self, end: u64) -> bool {
        // `written_at` first: a new value of it comes with the `lost_up_to` stored before it.
        end <= self.written_at.load(SeqCst) && end > self.lost_up_to.load(SeqCst)
    }

    pub(crate) fn lock(&self) -> Locked<'_> {
        let guard = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        Locked {
            core: self,
            guard: Some(guard),
        }
    }
}

/// The handles' (and the tasks') link to the core.
#[derive(Clone)]
pub(crate) struct Link(pub(crate) Arc<Core>);

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Link(..)")
    }
}

/// A frame a `Drop` could not queue at once (the output was full, or calls were waiting for
/// room): the writer queues it once bytes went out.
#[derive(Debug)]
pub(crate) enum Deferred {
    Unsubscribe(Bytes),
    Abort(Bytes),
}

/// A call's outcome still to come (see the module docs).
#[derive(Debug)]
pub(crate) enum Wait {
    /// Nothing to wait for.
    Now,
    /// The frame ends at this position of the written count.
    Written(u64),
    /// An offline SEND, by its key in [`Shared::offline`].
    Offline(u64),
    /// A receipt, by its id in [`Shared::receipts`], and the id's number if it has the
    /// generated form.
    Receipt(Bytes, Option<u64>),
}

/// An outcome one task leaves for another, and the waker of the one waiting for it.
struct Slot<T> {
    outcome: Option<Result<T, ClientError>>,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            outcome: None,
            waker: None,
        }
    }
}

/// The hasher of the subscription map: FxHash's multiply-rotate over 8-byte words, several
/// times cheaper than SipHash on ids like `sub-12`, looked up for every MESSAGE. The ids in
/// the map come from this client, not from the network, so there is no flooding to resist.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A call waiting for its frame to be written.
struct WriteWaiter {
    end: u64,
    waker: Waker,
}

/// Everything behind the mutex.
pub(crate) struct Shared {
    pub(crate) session: ClientSession,
    /// Session events taken out of the session by others than the driver (in order; the
    /// driver reads them before the session's own queue).
    events: VecDeque<SessionEvent>,
    /// The client is over: its driver finished, or the last `Client` was dropped.
    closed: bool,
    pub(crate) subscriptions: HashMap<Bytes, InboxSender, BuildHasherDefault<IdHasher>>,
    /// Calls waiting for a receipt, by its id (the session's `rcpt-N`: by number, no hashing).
    /// A confirmed receipt's slot is removed by the driver (a call finding none was
    /// confirmed); a failed one keeps the error for its call.
    receipts: ReceiptMap<Slot<()>>,
    /// `receipts` changed: [`Core::receipts_floor`] follows when the lock goes.
    receipts_changed: bool,
    /// Offline SENDs without receipt; the outcome is their position once on a connection.
    offline: HashMap<u64, Slot<u64>>,
    next_offline: u64,
    pub(crate) disconnecting: Vec<oneshot::Sender<Result<(), ClientError>>>,
    /// The last connection failure, in words: a server's ERROR, a transport error, a
    /// refused attempt (`None` before the first).
    pub(crate) last_failure: Option<String>,

    // ---- positions in the written count -------------------------------------------------
    /// Bytes handed out by the session to writers, over all connections, plus the bytes
    /// connections lost unwritten: the position where the session's pending output starts.
    drained: u64,
    /// How far the writers wrote and flushed.
    written: u64,
    /// Ranges `(from, to]` of positions lost with their connection, in order; the last one is
    /// open (`to == u64::MAX`) between the end of a writer and the next connection.
    lost: Vec<(u64, u64)>,
    /// In order of position: calls register in the order their frames were queued, nearly
    /// always, so the writer takes them from the front (it did so from a heap, under the lock
    /// the sending calls wait for).
    write_waiters: VecDeque<WriteWaiter>,
    /// `written` or `lost` changed: [`Core::written_at`] and [`Core::lost_up_to`] follow when
    /// the lock goes.
    positions_changed: bool,

    // ---- back-pressure --------------------------------------------------------------------
    /// Calls waiting for room in the output, in order: (ticket, waker).
    room: VecDeque<(u64, Option<Waker>)>,
    next_ticket: u64,
    /// Bumped whenever room may have appeared: a drain, a connection gained or lost.
    room_epoch: u64,
    deferred: VecDeque<Deferred>,

    // ---- the tasks --------------------------------------------------------------------------
    /// The writer waits for a notification (or there is none): the next output wakes it.
    pub(crate) writer_idle: bool,
    /// The writer is to write what is left of its connection's output, then close.
    pub(crate) writer_stop: bool,
    /// A writer failed: (its connection, the error), for the driver.
    pub(crate) writer_failed: Option<(u64, String)>,
    /// What the driver sleeps until (`None`: no deadline).
    pub(crate) driver_deadline: Option<Instant>,
    /// A call may have made an earlier deadline (a receipt, a DISCONNECT).
    timers_changed: bool,

    // ---- fired after the lock is released ----------------------------------------------
    to_wake: Vec<Waker>,
    pub(crate) kick_driver: bool,
    pub(crate) kick_writer: bool,
}

impl Shared {
    fn new(session: ClientSession) -> Shared {
        Shared {
            session,
            last_failure: None,
            events: VecDeque::new(),
            closed: false,
            subscriptions: HashMap::default(),
            receipts: ReceiptMap::new(),
            receipts_changed: false,
            offline: HashMap::new(),
            next_offline: 0,
            disconnecting: Vec::new(),
            drained: 0,
            written: 0,
            lost: Vec::new(),
            write_waiters: VecDeque::new(),
            positions_changed: false,
            room: VecDeque::new(),
            next_ticket: 0,
            room_epoch: 0,
            deferred: VecDeque::new(),
            writer_idle: true,
            writer_stop: false,
            writer_failed: None,
            driver_deadline: None,
            timers_changed: false,
            to_wake: Vec::new(),
            kick_driver: false,
            kick_writer: false,
        }
    }

    /// Whether calls are over: the client closed, or its session did.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed || self.session.is_closed()
    }

    /// Whether the client was shut down ([`shut_down`](Shared::shut_down)): the driver ends.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.closed
    }

    /// The next event for the driver: those others took out first, then the session's.
    pub(crate) fn next_event(&mut self) -> Option<SessionEvent> {
        self.events
            .pop_front()
            .or_else(|| self.session.poll_event())
    }

    /// Puts back an event the driver took but cannot handle yet: it comes first next time.
    pub(crate) fn unread_event(&mut self, event: SessionEvent) {
        self.events.push_front(event);
    }

    // ---- what calls wait for --------------------------------------------------------------

    /// The wait for a call the session answered with `receipt`.
    pub(crate) fn receipt_wait(&mut self, receipt: Option<Bytes>) -> Wait {
        match receipt {
            Some(id) => {
                self.receipts.insert(id.clone(), Slot::new());
                self.receipts_changed = true;
                self.timers_changed = true;
                let number = generated_receipt_number(&id);
                Wait::Receipt(id, number)
            }
            None => Wait::Now,
        }
    }

    /// The wait for a SEND without receipt just handed to the session: `ready` tells whether
    /// it went to the connection (connected, nothing offline before it) or to the offline
    /// queue.
    pub(crate) fn send_wait(&mut self, ready: bool) -> Wait {
        if ready {
            Wait::Written(self.assigned_end())
        } else {
            let key = self.next_offline;
            self.next_offline += 1;
            self.offline.insert(key, Slot::new());
            Wait::Offline(key)
        }
    }

    /// A call that asked for a DISCONNECT (or anything else that sets a deadline).
    pub(crate) fn timers_changed(&mut self) {
        self.timers_changed = true;
        self.kick_driver = true;
    }

    /// The position where the session's pending output ends.
    fn assigned_end(&self) -> u64 {
        self.drained + self.session.pending_transmit() as u64
    }

    /// Whether the frame ending at `end` is out (`Some(Ok)`), lost (`Some(Err)`), or neither
    /// yet.
    fn write_outcome(&self, end: u64) -> Option<Result<(), ClientError>> {
        for &(from, to) in self.lost.iter().rev() {
            if end > to {
                break;
            }
            if end > from {
                return Some(Err(ClientError::ConnectionLost));
            }
        }
        (end <= self.written).then_some(Ok(()))
    }

    /// The driver's answer to a receipt.
    pub(crate) fn complete_receipt(&mut self, id: &[u8], result: Result<(), ClientError>) {
        let Some(slot) = self.receipts.get_mut(id) else {
            return;
        };
        if let Some(waker) = slot.waker.take() {
            self.to_wake.push(waker);
        }
        match result {
            // Confirmed: the slot goes now, its call finds none.
            Ok(()) => {
                self.receipts.discard(id);
                self.receipts_changed = true;
            }
            Err(error) => slot.outcome = Some(Err(error)),
        }
    }

    // ---- the writer's side ----------------------------------------------------------------

    /// The writer took `n` bytes out of the session.
    pub(crate) fn drained(&mut self, n: usize) -> u64 {
        self.drained += n as u64;
        if n > 0 {
            self.run_deferred();
            self.room_changed();
        }
        self.drained
    }

    /// The writer wrote and flushed up to `end`: the calls waiting for that are done.
    pub(crate) fn written(&mut self, end: u64) {
        self.written = self.written.max(end);
        self.positions_changed = true;
        while let Some(first) = self.write_waiters.front() {
            if first.end > self.written {
                break;
            }
            if let Some(waiter) = self.write_waiters.pop_front() {
                self.to_wake.push(waiter.waker);
            }
        }
    }

    /// A call waits for the frame ending at `end`.
    fn wait_written(&mut self, end: u64, waker: Waker) {
        let waiter = WriteWaiter { end, waker };
        if self.write_waiters.back().is_none_or(|last| last.end <= end) {
            self.write_waiters.push_back(waiter);
        } else {
            let at = self.write_waiters.partition_point(|w| w.end <= end);
            self.write_waiters.insert(at, waiter);
        }
    }

    /// The writer ended: what it did not write is lost (until the next connection says where
    /// the loss ends).
    pub(crate) fn writer_ended(&mut self) {
        if self.lost.last().is_none_or(|&(_, to)| to != u64::MAX) {
            self.lost.push((self.written, u64::MAX));
        }
        self.positions_changed = true;
        self.wake_all_writes();
        self.writer_idle = true;
    }

    /// A new connection (the last writer has ended): positions of the old connection's
    /// unwritten output end the loss; the new one counts from there.
    pub(crate) fn new_connection(&mut self) {
        let end = self.assigned_end();
        match self.lost.last_mut() {
            Some(last) if last.1 == u64::MAX => last.1 = end,
            _ if self.written < end => self.lost.push((self.written, end)),
            _ => {}
        }
        if self.lost.last().is_some_and(|&(from, to)| from >= to) {
            self.lost.pop();
        }
        self.positions_changed = true;
        self.drained = end;
        self.written = end;
        self.writer_stop = false;
        self.writer_failed = None;
        self.writer_idle = false;
        self.wake_all_writes();
        self.room_changed();
    }

    fn wake_all_writes(&mut self) {
        let waiters = std::mem::take(&mut self.write_waiters);
        self.to_wake.extend(waiters.into_iter().map(|w| w.waker));
    }

    /// Room may have appeared: the first call waiting for it tries again.
    pub(crate) fn room_changed(&mut self) {
        self.room_epoch += 1;
        if let Some(waker) = self.room.front_mut().and_then(|(_, w)| w.take()) {
            self.to_wake.push(waker);
        }
    }

    /// Queues what `Drop`s could not, as far as there is room.
    fn run_deferred(&mut self) {
        while let Some(deferred) = self.deferred.pop_front() {
            if self.session.is_closed() {
                self.deferred.clear();
                return;
            }
            if self.apply(&deferred).is_err() {
                self.deferred.push_front(deferred);
                return;
            }
        }
    }

    /// A deferred frame: `Err` when the output has no room (refusals of other kinds are
    /// dropped, as a `Drop` has nobody to tell).
    fn apply(&mut self, deferred: &Deferred) -> Result<(), ()> {
        let now = Instant::now();
        let result = match deferred {
            Deferred::Unsubscribe(id) => self
                .session
                .unsubscribe(now, id, FrameOptions::new())
                .map(drop),
            Deferred::Abort(id) => self.session.abort(now, id, FrameOptions::new()).map(drop),
        };
        match result {
            Err(SessionError::Usage(UsageError::OutputFull { .. })) => Err(()),
            _ => Ok(()),
        }
    }

    /// The last connection failure, in words (what a failed first attempt reports).
    pub(crate) fn failure(&self) -> String {
        self.last_failure
            .clone()
            .unwrap_or_else(|| "no attempt yet".into())
    }

    /// The error of a call made on a closed client.
    pub(crate) fn closed_error(&self) -> ClientError {
        ClientError::Closed {
            reason: self.last_failure.clone(),
        }
    }

    // ---- the end --------------------------------------------------------------------------

    /// The client is over (its session ended, or the last `Client` went): every call still
    /// waiting learns it, subscriptions end, the writer writes what is left and closes.
    pub(crate) fn shut_down(&mut self) {
        let reason = self.last_failure.clone();
        let closed = || ClientError::Closed {
            reason: reason.clone(),
        };
        self.closed = true;
        self.writer_stop = true;
        self.kick_writer = true;
        self.kick_driver = true;
        self.events.clear();
        self.subscriptions.clear();
        self.deferred.clear();
        for (_, slot) in self.receipts.iter_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Err(closed()));
            }
            self.to_wake.extend(slot.waker.take());
        }
        for slot in self.offline.values_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Err(closed()));
            }
            self.to_wake.extend(slot.waker.take());
        }
        for (_, waker) in &mut self.room {
            self.to_wake.extend(waker.take());
        }
        for reply in self.disconnecting.drain(..) {
            let _ = reply.send(Err(closed()));
        }
    }

    /// After any use of the session, before the lock goes: events for the driver, offline
    /// SENDs that reached a connection, output for an idle writer, an earlier deadline.
    fn settle(&mut self) {
        let mut moved = false;
        while let Some(event) = self.session.poll_event() {
            self.events.push_back(event);
            moved = true;
        }
        if moved {
            self.kick_driver = true;
        }
        if !self.offline.is_empty()
            && self.session.is_connected()
            && self.session.offline_queued().0 == 0
        {
            let end = self.assigned_end();
            for slot in self.offline.values_mut() {
                if slot.outcome.is_none() {
                    slot.outcome = Some(Ok(end));
                    self.to_wake.extend(slot.waker.take());
                }
            }
        }
        if self.writer_idle && !self.closed && self.session.pending_transmit() > 0 {
            self.writer_idle = false;
            self.kick_writer = true;
        }
        if self.timers_changed {
            self.timers_changed = false;
            if let Some(next) = self.session.poll_timeout() {
                if self.driver_deadline.is_none_or(|d| next < d) {
                    self.kick_driver = true;
                }
            }
        }
    }
}

/// The locked state. Releasing it settles the state (see [`Shared::settle`]), then wakes
/// whom the work under the lock concerned.
pub(crate) struct Locked<'a> {
    core: &'a Core,
    guard: Option<MutexGuard<'a, Shared>>,
}

impl Deref for Locked<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Shared {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let Some(mut shared) = self.guard.take() else {
            return;
        };
        shared.settle();
        if std::mem::take(&mut shared.receipts_changed) {
            let floor = shared.receipts.number_floor();
            self.core.receipts_floor.store(floor, SeqCst);
        }
        if std::mem::take(&mut shared.positions_changed) {
            let lost = shared.lost.last().map_or(0, |&(_, to)| to);
            self.core.lost_up_to.store(lost, SeqCst);
            self.core.written_at.store(shared.written, SeqCst);
        }
        let wakers = std::mem::take(&mut shared.to_wake);
        let driver = std::mem::take(&mut shared.kick_driver);
        let writer = std::mem::take(&mut shared.kick_writer);
        drop(shared);
        for waker in wakers {
            waker.wake();
        }
        if driver {
            self.core.driver.notify_one();
        }
        if writer {
            self.core.writer.notify_one();
        }
    }
}

impl Link {
    /// Runs `op` on the session in the caller's task, in turn with other calls once the
    /// output is full (see the module docs); `op` may run again after `OutputFull`.
    pub(crate) fn call<T, F>(&self, op: F) -> Call<'_, F>
    where
        F: FnMut(&mut Shared, Instant) -> Result<T, SessionError> + Unpin,
    {
        Call {
            link: self,
            op,
            ticket: None,
            tried: None,
        }
    }

    /// [`call`](Link::call), then waits for what the op's [`Wait`] says: one future, and
    /// one lock for the op and the first look at its outcome.
    pub(crate) fn call_wait<F>(&self, op: F) -> CallWait<'_, F>
    where
        F: FnMut(&mut Shared, Instant) -> Result<Wait, SessionError> + Unpin,
    {
        CallWait {
            call: self.call(op),
            done: None,
        }
    }

    /// Waits for what a call's [`Wait`] says.
    pub(crate) fn wait(&self, wait: Wait) -> Done<'_> {
        Done {
            link: self,
            wait,
            registered: None,
        }
    }

    /// For `Drop`s, which cannot wait: now if there is room, else after the next drain.
    pub(crate) fn call_from_drop(&self, deferred: Deferred) {
        let mut shared = self.0.lock();
        if shared.is_closed() {
            return;
        }
        if let Deferred::Unsubscribe(id) = &deferred {
            shared.subscriptions.remove(id);
        }
        if !shared.room.is_empty()
            || !shared.deferred.is_empty()
            || shared.apply(&deferred).is_err()
        {
            shared.deferred.push_back(deferred);
        }
    }
}

/// The future of [`Link::call`].
pub(crate) struct Call<'a, F> {
    link: &'a Link,
    op: F,
    /// Its place among the calls waiting for room.
    ticket: Option<u64>,
    /// `room_epoch` when the output last refused it.
    tried: Option<u64>,
}

impl<F> Call<'_, F> {
    /// Gives up its place; the next call waiting tries.
    fn leave(&mut self, shared: &mut Shared) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        if let Some(index) = shared.room.iter().position(|(t, _)| *t == ticket) {
            shared.room.remove(index);
            if index == 0 {
                if let Some(waker) = shared.room.front_mut().and_then(|(_, w)| w.take()) {
                    shared.to_wake.push(waker);
                }
            }
        }
    }
}

impl<T, F> Future for Call<'_, F>
where
    F: FnMut(&mut Shared, Instant) -> Result<T, SessionError> + Unpin,
{
    type Output = Result<T, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut shared = this.link.0.lock();
        this.poll_locked(&mut shared, cx)
    }
}

impl<'a, F> Call<'a, F> {
    /// [`Future::poll`] with the lock held.
    fn poll_locked<T>(
        &mut self,
        shared: &mut Locked<'a>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, ClientError>>
    where
        F: FnMut(&mut Shared, Instant) -> Result<T, SessionError>,
    {
        let this = self;
        if shared.is_closed() {
            this.leave(shared);
            return Poll::Ready(Err(shared.closed_error()));
        }
        let turn = match this.ticket {
            None => shared.room.is_empty(),
            Some(ticket) => shared.room.front().map(|(t, _)| *t) == Some(ticket),
        };
        if turn && this.tried.is_none_or(|epoch| shared.room_epoch > epoch) {
            match (this.op)(shared, Instant::now()) {
                Err(SessionError::Usage(UsageError::OutputFull { .. })) => {
                    this.tried = Some(shared.room_epoch);
                }
                result => {
                    this.leave(shared);
                    return Poll::Ready(result.map_err(ClientError::from));
                }
            }
        }
        let waker = Some(cx.waker().clone());
        match this.ticket {
            None => {
                let ticket = shared.next_ticket;
                shared.next_ticket += 1;
                shared.room.push_back((ticket, waker));
                this.ticket = Some(ticket);
            }
            Some(ticket) => {
                if let Some(entry) = shared.room.iter_mut().find(|(t, _)| *t == ticket) {
                    entry.1 = waker;
                }
            }
        }
        Poll::Pending
    }
}

impl<F> Drop for Call<'_, F> {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            let link = self.link;
            let mut shared = link.0.lock();
            self.leave(&mut shared);
        }
    }
}

/// The future of [`Link::call_wait`].
pub(crate) struct CallWait<'a, F> {
    call: Call<'a, F>,
    /// Once the op ran: what it waits for.
    done: Option<Done<'a>>,
}

impl<F> Future for CallWait<'_, F>
where
    F: FnMut(&mut Shared, Instant) -> Result<Wait, SessionError> + Unpin,
{
    type Output = Result<(), ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(done) = &mut this.done {
            if done.done_without_lock() {
                return Poll::Ready(Ok(()));
            }
        }
        let mut shared = this.call.link.0.lock();
        let done = match &mut this.done {
            Some(done) => done,
            None => {
                let wait = match this.call.poll_locked(&mut shared, cx) {
                    Poll::Ready(Ok(wait)) => wait,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => return Poll::Pending,
                };
                this.done.insert(this.call.link.wait(wait))
            }
        };
        done.poll_locked(&mut shared, cx)
    }
}

/// The future of [`Link::wait`].
pub(crate) struct Done<'a> {
    link: &'a Link,
    wait: Wait,
    /// The waker last put in the write heap (woken only once the outcome is there).
    registered: Option<Waker>,
}

impl Future for Done<'_> {
    type Output = Result<(), ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done_without_lock() {
            return Poll::Ready(Ok(()));
        }
        let mut shared = this.link.0.lock();
        this.poll_locked(&mut shared, cx)
    }
}

impl Done<'_> {
    /// A frame seen to be out, or a generated receipt seen to be confirmed, without the lock
    /// (the common cases once the writer or the driver woke the call): done.
    fn done_without_lock(&mut self) -> bool {
        let core = &self.link.0;
        let done = match self.wait {
            Wait::Written(end) => core.surely_written(end),
            Wait::Receipt(_, Some(n)) => n < core.receipts_floor.load(SeqCst),
            _ => false,
        };
        if done {
            self.wait = Wait::Now;
        }
        done
    }

    /// [`Future::poll`] with the lock held.
    fn poll_locked(
        &mut self,
        shared: &mut Shared,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ClientError>> {
        let this = self;
        loop {
            match &this.wait {
                Wait::Now => return Poll::Ready(Ok(())),
                &Wait::Written(end) => {
                    if let Some(outcome) = shared.write_outcome(end) {
                        this.wait = Wait::Now;
                        return Poll::Ready(outcome);
                    }
                    if !this
                        .registered
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        let waker = cx.waker().clone();
                        this.registered = Some(waker.clone());
                        shared.wait_written(end, waker);
                    }
                    return Poll::Pending;
                }
                &Wait::Offline(key) => {
                    let Some(slot) = shared.offline.get_mut(&key) else {
                        this.wait = Wait::Now;
                        return Poll::Ready(Err(shared.closed_error()));
                    };
                    match slot.outcome.take() {
                        Some(Ok(end)) => {
                            shared.offline.remove(&key);
                            this.wait = Wait::Written(end);
                        }
                        Some(Err(error)) => {
                            shared.offline.remove(&key);
                            this.wait = Wait::Now;
                            return Poll::Ready(Err(error));
                        }
                        None => {
                            slot.waker = Some(cx.waker().clone());
                            return Poll::Pending;
                        }
                    }
                }
                Wait::Receipt(id, _) => {
                    let Some(slot) = shared.receipts.get_mut(id) else {
                        // The driver removed it: confirmed.
                        this.wait = Wait::Now;
                        return Poll::Ready(Ok(()));
                    };
                    match slot.outcome.take() {
                        Some(outcome) => {
                            shared.receipts.discard(id);
                            shared.receipts_changed = true;
                            this.wait = Wait::Now;
                            return Poll::Ready(outcome);
                        }
                        None => {
                            slot.waker = Some(cx.waker().clone());
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        // A call given up: its slot goes (a written wait leaves only a stale waker behind).
        match &self.wait {
            Wait::Offline(key) => {
                self.link.0.lock().offline.remove(key);
            }
            Wait::Receipt(id, _) => {
                let mut shared = self.link.0.lock();
                shared.receipts.discard(id);
                shared.receipts_changed = true;
            }
            Wait::Now | Wait::Written(_) => {}
        }
    }
}
