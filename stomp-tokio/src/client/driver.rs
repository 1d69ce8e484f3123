//! The task behind a [`Client`](super::Client), and its writer.
//!
//! * The **driver** (one task per client) opens transports when the session asks, reads and
//!   feeds the session, fires its timers and dispatches its events (deliveries to the
//!   subscriptions, receipts to the calls waiting for them, status reports). A large read is
//!   decoded a slice at a time ([`INPUT_SLICE`]), with a turn for the other tasks between
//!   slices.
//! * The **writer** (one per transport) takes everything the session has pending in one go
//!   (the session's buffer is swapped out, not copied), writes and flushes it, and tells the
//!   calls waiting for those bytes. It sleeps while there is nothing to write; the first call
//!   that queues output wakes it. It is a future the driver polls beside its reading, not a
//!   task of its own, so that a call's output wakes one task, not two (with receipts on every
//!   SEND, about an eighth more throughput on the multi-thread runtime). A writer that has not
//!   ended when the next transport opens, or when the driver ends, finishes in a task of its
//!   own: it writes what its connection had left, then closes.
//!
//! Calls use the session themselves (see `shared.rs`); the driver is not on their path except
//! to write and to read. Reading and writing being separate futures, a peer that reads slowly
//! never stops the reading (the session's output limit, `max_pending_transmit`, bounds what
//! waits). A subscription whose buffer is full stops the reading instead: the message waits
//! here, and the bytes that keep coming are held (up to `HELD_INPUT`) without being decoded;
//! they still count as the broker's heart-beats.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stomp_codec::{CloseReason, DisconnectReason, SessionEvent};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::handles::ReceivedMessage;
use super::inbox::{Batch, InboxSender};
use super::shared::{Core, Link, Shared};
use super::{ClientError, ClientOptions, ClientStatus};
use crate::transport::{connect, Received, Transport, TransportError, TransportOptions};
use crate::transport::{TransportReader, TransportWriter};
use crate::url::StompUrl;

/// Bytes read but not yet decoded while a subscription's buffer is full: past this, the task
/// stops reading and TCP flow control holds the broker back.
const HELD_INPUT: usize = 256 * 1024;

/// Room made in the read buffer before each read: reads of up to this much at once.
const READ_ROOM: usize = 64 * 1024;

/// Octets handed to the session in one pass; the rest of a read waits for the next pass, after
/// the task has let the others run. A read of many RECEIPTs then completes its calls a slice at
/// a time: the application sends again, and the writer writes, while the rest is decoded. Without
/// it a whole window goes back and forth as one batch, and the client and the broker take
/// turns instead of working at once.
const INPUT_SLICE: usize = 8 * 1024;

type Connecting = Pin<Box<dyn Future<Output = Result<Transport, TransportError>> + Send>>;

/// A transport's [`write_loop`].
type Writing = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Messages for one subscription, with its inbox.
type Held = (InboxSender, Batch);

/// Deliveries decoded before they are handed over, each subscription's as one batch (see
/// `inbox.rs`).
const DELIVERY_BATCH: usize = 64;

/// What woke the driver.
enum Woken {
    /// A notification (or the first turn): only look at the shared state.
    Look,
    Opened(Result<Transport, TransportError>),
    Read(Result<Received, TransportError>),
    /// The writer ended.
    WriterEnded,
    /// The rest of the last read, after the others had their turn.
    More,
    Timer,
}

pub(crate) struct Driver {
    link: Link,
    url: StompUrl,
    transport: TransportOptions,
    first: Option<oneshot::Sender<Result<(), ClientError>>>,
    connecting: Option<Connecting>,
    reader: Option<TransportReader>,
    /// The writer of the current (or last) transport, polled in this task: a hand-off from
    /// a call to the writer then wakes one task, not two. A new transport, or the end of the
    /// driver, sends a writer that has not ended to a task of its own.
    writing: Option<Writing>,
    input: BytesMut,
    /// Deliveries decoded in this pass, not handed over yet, by subscription in order.
    batch: Vec<Held>,
    /// Messages in `batch`.
    batched: usize,
    /// Messages their subscription had no room for (the first), and those decoded after them:
    /// nothing else is delivered, and no other event handled, before them. The subscription
    /// notifies the task once it has room.
    held: VecDeque<Held>,
}

impl Driver {
    pub(crate) fn new(
        link: Link,
        url: StompUrl,
        options: &ClientOptions,
        first: oneshot::Sender<Result<(), ClientError>>,
    ) -> Driver {
        Driver {
            link,
            url,
            transport: options.transport.clone(),
            first: Some(first),
            connecting: None,
            reader: None,
            writing: None,
            input: BytesMut::new(),
            batch: Vec::new(),
            batched: 0,
            held: VecDeque::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let link = self.link.clone();
        let core = &*link.0;
        let mut woken = Woken::Look;
        loop {
            let deadline = {
                let mut shared = core.lock();
                self.apply(&mut shared, woken);
                self.check_writer(&mut shared);
                self.dispatch(&mut shared);
                // The session over and every message handed over, or the last `Client` gone.
                if (shared.session.is_closed() && self.held.is_empty()) || shared.is_shut_down() {
                    break;
                }
                let deadline = shared.session.poll_timeout();
                shared.driver_deadline = deadline;
                deadline.map(tokio::time::Instant::from_std)
            };
            // Undecoded input is decoded before more is read, unless it is held.
            let more = self.held.is_empty() && !self.input.is_empty() && self.reader.is_some();
            let reading = if self.held.is_empty() {
                !more
            } else {
                self.input.len() < HELD_INPUT
            };
            woken = tokio::select! {
                biased;
                () = core.driver.notified() => Woken::Look,
                () = poll_writing(&mut self.writing) => Woken::WriterEnded,
                opened = poll_connecting(&mut self.connecting) => Woken::Opened(opened),
                () = tokio::task::yield_now(), if more => Woken::More,
                read = read_from(&mut self.reader, &mut self.input), if reading => {
                    Woken::Read(read)
                }
                () = sleep_until(deadline) => Woken::Timer,
            };
        }
        self.finish();
        // What the writer still has to write (what was queued on the connection, a
        // DISCONNECT), then the close.
        if let Some(writing) = self.writing.take() {
            tokio::spawn(writing);
        }
    }

    /// What woke the task, applied to the session.
    fn apply(&mut self, shared: &mut Shared, woken: Woken) {
        let now = Instant::now();
        match woken {
            Woken::Look => {}
            Woken::Opened(opened) => self.on_connected(shared, opened),
            Woken::Read(read) => self.on_read(shared, read),
            Woken::WriterEnded => self.writing = None,
            Woken::More => self.decode(shared, now, INPUT_SLICE),
            Woken::Timer => {
                // What was read comes before any deadline: a RECEIPT waiting for its slice
                // must not expire.
                self.decode(shared, now, usize::MAX);
                if !self.held.is_empty() && !self.input.is_empty() {
                    // Undecoded bytes are the broker's life too.
                    shared.session.note_activity(now);
                }
                shared.session.handle_timeout(now);
            }
        }
    }

    /// A writer that failed ends its connection (the reader may not notice: a half-closed
    /// socket).
    fn check_writer(&mut self, shared: &mut Shared) {
        if let Some((connection, error)) = shared.writer_failed.take() {
            if connection == shared.session.connection_number() && self.reader.is_some() {
                let now = Instant::now();
                // What was read still counts (messages, receipts), though no more is written.
                self.decode(shared, now, usize::MAX);
                shared.last_failure = Some(error);
                self.close_transport(shared);
                shared.session.handle_close(now);
            }
        }
    }

    /// The session's events: transport instructions, deliveries, receipts, status. All of
    /// them in one pass (all the RECEIPTs of a read, say); the calls they complete are woken
    /// once the lock is released. Deliveries go over in batches ([`DELIVERY_BATCH`]); once a
    /// subscription has no room, everything waits behind its message.
    fn dispatch(&mut self, shared: &mut Shared) {
        if !self.held.is_empty() {
            self.deliver_held(shared);
        }
        while self.held.is_empty() {
            let Some(event) = shared.next_event() else {
                self.hand_over();
                return;
            };
            if let SessionEvent::Delivery(delivery) = event {
                let id = delivery.message.subscription.as_deref().unwrap_or_default();
                if let Some(sender) = shared.subscriptions.get(id) {
                    let message = ReceivedMessage::new(delivery, self.link.clone());
                    match self.batch.last_mut() {
                        Some((last, messages)) if last.same(sender) => messages.push(message),
                        _ => self.batch.push((sender.clone(), vec![message])),
                    }
                    self.batched += 1;
                    if self.batched >= DELIVERY_BATCH {
                        self.hand_over();
                    }
                }
                continue;
            }
            // Any other event comes after the deliveries before it.
            if !self.batch.is_empty() {
                self.hand_over();
                if !self.held.is_empty() {
                    shared.unread_event(event);
                    return;
                }
            }
            match event {
                SessionEvent::OpenTransport { attempt } => {
                    self.report(ClientStatus::Connecting { attempt });
                    let (url, options) = (self.url.clone(), self.transport.clone());
                    // One writer at a time: the last one writes what its connection had left
                    // (and closes) before the next connection starts counting.
                    let last: Option<JoinHandle<()>> = self.writing.take().map(tokio::spawn);
                    self.connecting = Some(Box::pin(async move {
                        if let Some(last) = last {
                            let _ = last.await;
                        }
                        connect(&url, &options).await
                    }));
                }
                SessionEvent::Connected(connected) => {
                    self.report(ClientStatus::Connected {
                        version: connected.version,
                        server: connected.server.clone(),
                        connection: connected.connection,
                    });
                    shared.room_changed();
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Ok(()));
                    }
                }
                SessionEvent::ReceiptConfirmed { receipt_id } => {
                    shared.complete_receipt(&receipt_id, Ok(()));
                }
                SessionEvent::ReceiptFailed { receipt_id, reason } => {
                    let error = ClientError::Receipt {
                        receipt_id: String::from_utf8_lossy(&receipt_id).into_owned(),
                        reason,
                    };
                    shared.complete_receipt(&receipt_id, Err(error));
                }
                SessionEvent::ErrorReceived { message, .. } => {
                    shared.last_failure = Some(format!(
                        "the server sent ERROR: {}",
                        message.as_deref().unwrap_or("(no message)")
                    ));
                    self.report(ClientStatus::ServerError { message });
                }
                SessionEvent::Disconnected { reason } => self.on_disconnected(shared, reason),
                SessionEvent::ReconnectScheduled { attempt, delay } => {
                    self.report(ClientStatus::Reconnecting { attempt, delay });
                }
                SessionEvent::GaveUp { attempts } => {
                    self.report(ClientStatus::GaveUp { attempts });
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(ClientError::GaveUp {
                            attempts,
                            last: shared.failure(),
                        }));
                    }
                }
                SessionEvent::Closed => {
                    self.report(ClientStatus::Closed);
                    for reply in shared.disconnecting.drain(..) {
                        let _ = reply.send(Ok(()));
                    }
                }
                // FrameRefused, ProtocolViolation, UnknownReceipt: nothing waits for them.
                _ => {}
            }
        }
    }

    fn report(&self, status: ClientStatus) {
        let _ = self.link.0.status.send(status);
    }

    fn on_connected(&mut self, shared: &mut Shared, opened: Result<Transport, TransportError>) {
        self.connecting = None;
        let now = Instant::now();
        match opened {
            Ok(transport) => {
                let (reader, writer) = transport.split();
                // The last writer has ended (`connecting` waited for it).
                shared.new_connection();
                self.reader = Some(reader);
                self.input.clear();
                if let Err(error) = shared.session.handle_transport_opened(now) {
                    shared.last_failure = Some(error.to_string());
                }
                let connection = shared.session.connection_number();
                self.writing = Some(Box::pin(write_loop(
                    self.link.clone(),
                    writer,
                    connection,
                    self.transport.close_timeout,
                )));
            }
            Err(error) => {
                shared.last_failure = Some(error.to_string());
                if error.is_permanent() {
                    // An untrusted certificate or a wrong URL: no delay will cure it.
                    shared.session.give_up(now);
                } else {
                    shared.session.handle_transport_failed(now);
                }
            }
        }
    }

    fn on_read(&mut self, shared: &mut Shared, read: Result<Received, TransportError>) {
        let now = Instant::now();
        match read {
            Ok(Received::Bytes(_)) => self.decode(shared, now, INPUT_SLICE),
            Ok(Received::Activity) => shared.session.note_activity(now),
            Ok(Received::Closed) => {
                shared.last_failure = Some("the broker closed the connection".into());
                self.close_transport(shared);
                shared.session.handle_close(now);
            }
            Err(error) => {
                shared.last_failure = Some(error.to_string());
                self.close_transport(shared);
                shared.session.handle_close(now);
            }
        }
    }

    /// Hands the batches over, in order: what a subscription has no room for, and everything
    /// after it, is held.
    fn hand_over(&mut self) {
        self.batched = 0;
        for held in self.batch.drain(..) {
            self.held.push_back(held);
        }
        self.give();
    }

    /// Hands the held messages over as far as there is room; `true` once none is left.
    fn give(&mut self) -> bool {
        while let Some((sender, mut messages)) = self.held.pop_front() {
            if sender.is_closed() {
                // Dropped: its messages go with it (its UNSUBSCRIBE is on its way).
                continue;
            }
            if !sender.wait_for_room(messages.len()) {
                self.held.push_front((sender, messages));
                return false;
            }
            let free = sender.free();
            if free < messages.len() {
                let rest = messages.split_off(free);
                self.held.push_front((sender.clone(), rest));
            }
            // Closed meanwhile: dropped likewise.
            let _ = sender.send(messages);
        }
        true
    }

    /// Hands the held messages over as far as there is room, then, once none is left, what
    /// was read meanwhile.
    fn deliver_held(&mut self, shared: &mut Shared) {
        if self.give() {
            self.decode(shared, Instant::now(), INPUT_SLICE);
        }
    }

    /// Hands the session up to `at_most` octets of what was read ([`INPUT_SLICE`] for a
    /// pass, `usize::MAX` for all of it), unless a full subscription holds the input back or
    /// the transport is gone.
    fn decode(&mut self, shared: &mut Shared, now: Instant, at_most: usize) {
        if self.held.is_empty() && self.reader.is_some() && !self.input.is_empty() {
            let bytes = self.input.split_to(self.input.len().min(at_most)).freeze();
            shared.session.handle_input_bytes(now, bytes);
        }
    }

    fn on_disconnected(&mut self, shared: &mut Shared, reason: DisconnectReason) {
        match &reason {
            // The ERROR's message, or what the reader saw, is already the better reason.
            DisconnectReason::Closed(CloseReason::ErrorReceived | CloseReason::PeerClosed) => {}
            DisconnectReason::Closed(CloseReason::Failed(error)) => {
                shared.last_failure = Some(error.to_string());
            }
            DisconnectReason::Closed(other) => {
                shared.last_failure = Some(format!("{other:?}"));
            }
            // The transport error was recorded when the attempt failed.
            _ => {}
        }
        // The writer writes what the session still has for this transport, then closes it;
        // what it cannot write fails its calls with `ConnectionLost`.
        self.close_transport(shared);
        // Calls waiting for room now go to the offline queue.
        shared.room_changed();
        self.report(ClientStatus::Disconnected {
            reason: shared.failure(),
        });
    }

    fn close_transport(&mut self, shared: &mut Shared) {
        self.reader = None;
        self.connecting = None;
        shared.writer_stop = true;
        shared.kick_writer = true;
    }

    /// The end: every call still waiting learns it; the writer finishes on its own.
    fn finish(&mut self) {
        let link = self.link.clone();
        let mut shared = link.0.lock();
        self.close_transport(&mut shared);
        shared.shut_down();
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(ClientError::GaveUp {
                attempts: 1,
                last: shared.failure(),
            }));
        }
    }
}

/// The writer of connection `connection`: takes all the session's pending output at once,
/// writes and flushes it, and tells the calls waiting for it; sleeps when there is none.
/// Told to stop, it writes what is left and closes the transport; a write that is still
/// blocked `close_timeout` after the stop (a peer that stopped reading) is abandoned, so the
/// next connection never waits for it for long. When it ends (stopped, or the transport
/// failed), what it did not write is lost for the calls waiting on it.
async fn write_loop(
    link: Link,
    mut writer: TransportWriter,
    connection: u64,
    close_timeout: Duration,
) {
    let core = &*link.0;
    let mut buf = BytesMut::new();
    let mut failed = false;
    // The end of what the last write put out, told under the same lock as the next take.
    let mut wrote_to = None;
    loop {
        buf.clear();
        let (end, stop) = {
            let mut shared = core.lock();
            if let Some(end) = wrote_to.take() {
                shared.written(end);
            }
            // Never another connection's bytes (there is none while this writer lives).
            let n = if shared.session.connection_number() == connection {
                shared.session.poll_transmit_into(&mut buf)
            } else {
                0
            };
            let end = shared.drained(n);
            let stop = shared.writer_stop;
            if n == 0 && !stop {
                shared.writer_idle = true;
            }
            (end, stop)
        };
        if buf.is_empty() {
            if stop {
                break;
            }
            core.writer.notified().await;
            continue;
        }
        let writing = async {
            writer.write(&buf).await?;
            writer.flush().await
        };
        let wrote = tokio::select! {
            wrote = writing => wrote,
            () = stopped_for(core, close_timeout) => Err(TransportError::Timeout {
                stage: "writing after the connection ended".into(),
                after: close_timeout,
            }),
        };
        if let Err(error) = wrote {
            let mut shared = core.lock();
            shared.writer_failed = Some((connection, error.to_string()));
            shared.kick_driver = true;
            failed = true;
            break;
        }
        wrote_to = Some(end);
    }
    if !failed {
        let _ = writer.close().await;
    }
    core.lock().writer_ended();
}

/// Ends `grace` after the writer was told to stop (never, if it is not).
async fn stopped_for(core: &Core, grace: Duration) {
    // A stop told between the look and the wait is not missed: `notify_one` keeps a permit.
    while !core.lock().writer_stop {
        core.writer.notified().await;
    }
    tokio::time::sleep(grace).await;
}

async fn poll_writing(writing: &mut Option<Writing>) {
    match writing {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn poll_connecting(connecting: &mut Option<Connecting>) -> Result<Transport, TransportError> {
    match connecting {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn read_from(
    reader: &mut Option<TransportReader>,
    input: &mut BytesMut,
) -> Result<Received, TransportError> {
    match reader {
        Some(reader) => {
            input.reserve(READ_ROOM);
            reader.read(input).await
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
