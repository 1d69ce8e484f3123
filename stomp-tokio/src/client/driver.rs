//! The task behind a [`Client`](super::Client): it owns the session, opens transports when the
//! session asks, moves bytes both ways, fires the timers, and answers the handles.
//!
//! Reading and writing are decoupled: a writer task per transport takes byte chunks from a
//! bounded channel, so a peer that reads slowly never stops this task from reading (and the
//! session's output limit, `max_pending_transmit`, bounds what waits here). A subscription
//! whose buffer is full stops the reading instead: the message waits here, and the bytes that
//! keep coming are held (up to `HELD_INPUT`) without being decoded; they still count as the
//! broker's heart-beats.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use stomp_codec::{
    ClientSession, CloseReason, Command as Stomp, DisconnectReason, FrameOptions, SessionError,
    SessionEvent, UsageError,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::handles::ReceivedMessage;
use super::{ClientError, ClientOptions, ClientStatus, Command, Link, Reply};
use crate::transport::{connect, Received, Transport, TransportError, TransportOptions};
use crate::transport::{TransportReader, TransportWriter};
use crate::url::StompUrl;

/// Bytes read but not yet decoded while a subscription's buffer is full: past this, the task
/// stops reading and TCP flow control holds the broker back.
const HELD_INPUT: usize = 256 * 1024;

/// Chunks waiting for the writer task.
const WRITE_QUEUE: usize = 16;

type Connecting = Pin<Box<dyn Future<Output = Result<Transport, TransportError>> + Send>>;

/// A chunk for the writer task, and the calls that complete once it is written.
struct Chunk {
    bytes: Bytes,
    written: Vec<Reply<()>>,
}

/// A SEND without receipt waiting to be written: on the connection it was queued on, or
/// (`None`) in the session's offline queue.
struct WriteWaiter {
    connection: Option<u64>,
    reply: Reply<()>,
}

pub(crate) struct Driver {
    session: ClientSession,
    url: StompUrl,
    transport: TransportOptions,
    buffer: usize,
    commands: mpsc::Receiver<Command>,
    urgent: mpsc::UnboundedReceiver<Command>,
    status: broadcast::Sender<ClientStatus>,
    link: Link,
    first: Option<Reply<()>>,
    connecting: Option<Connecting>,
    reader: Option<TransportReader>,
    writer: Option<mpsc::Sender<Chunk>>,
    input: BytesMut,
    /// A message its subscription had no room for: nothing else is delivered before it.
    held: Option<(Bytes, ReceivedMessage)>,
    /// A SEND the connection's output limit refused: retried once bytes went out.
    blocked: Option<Command>,
    subscriptions: HashMap<Bytes, mpsc::Sender<ReceivedMessage>>,
    receipts: HashMap<Bytes, Reply<()>>,
    write_waiters: Vec<WriteWaiter>,
    disconnecting: Vec<Reply<()>>,
    last_failure: String,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        url: StompUrl,
        options: ClientOptions,
        commands: mpsc::Receiver<Command>,
        urgent: mpsc::UnboundedReceiver<Command>,
        status: broadcast::Sender<ClientStatus>,
        link: Link,
        first: Reply<()>,
    ) -> Driver {
        Driver {
            session: ClientSession::new(options.session),
            url,
            transport: options.transport,
            buffer: options.subscription_buffer.max(1),
            commands,
            urgent,
            status,
            link,
            first: Some(first),
            connecting: None,
            reader: None,
            writer: None,
            input: BytesMut::new(),
            held: None,
            blocked: None,
            subscriptions: HashMap::new(),
            receipts: HashMap::new(),
            write_waiters: Vec::new(),
            disconnecting: Vec::new(),
            last_failure: String::from("no attempt yet"),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            self.dispatch();
            self.retry_blocked();
            self.pump_output();
            if self.session.is_closed() && self.held.is_none() {
                break;
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let has_output = self.session.pending_transmit() > 0;
            let reading = self.held.is_none() || self.input.len() < HELD_INPUT;
            tokio::select! {
                biased;
                Some(command) = self.urgent.recv() => self.on_command(command),
                room = room_for(&self.held, &self.subscriptions), if self.held.is_some() => {
                    self.deliver_held(room);
                }
                opened = poll_connecting(&mut self.connecting) => self.on_connected(opened),
                read = read_from(&mut self.reader, &mut self.input), if reading => self.on_read(read),
                () = writer_room(&self.writer), if has_output => {}
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if self.held.is_some() && !self.input.is_empty() {
                        // Undecoded bytes are the broker's life too.
                        self.session.note_activity(now);
                    }
                    self.session.handle_timeout(now);
                }
                Some(command) = self.commands.recv(), if self.blocked.is_none() => {
                    self.on_command(command);
                }
            }
        }
        self.finish();
    }

    /// The session's events: transport instructions, deliveries, receipts, status.
    fn dispatch(&mut self) {
        while self.held.is_none() {
            let Some(event) = self.session.poll_event() else {
                return;
            };
            match event {
                SessionEvent::OpenTransport { attempt } => {
                    self.report(ClientStatus::Connecting { attempt });
                    let (url, options) = (self.url.clone(), self.transport.clone());
                    self.connecting = Some(Box::pin(async move { connect(&url, &options).await }));
                }
                SessionEvent::Connected(connected) => {
                    self.report(ClientStatus::Connected {
                        version: connected.version,
                        server: connected.server.clone(),
                        connection: connected.connection,
                    });
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Ok(()));
                    }
                }
                SessionEvent::Delivery(delivery) => {
                    let id = delivery.message.subscription.clone().unwrap_or_default();
                    let message = ReceivedMessage::new(delivery, self.link.clone());
                    if let Some(sender) = self.subscriptions.get(&id) {
                        match sender.try_send(message) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(message)) => {
                                self.held = Some((id, message));
                            }
                            // Dropped: its UNSUBSCRIBE is on its way.
                            Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    }
                }
                SessionEvent::ReceiptConfirmed { receipt_id } => {
                    if let Some(reply) = self.receipts.remove(&receipt_id) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::ReceiptFailed { receipt_id, reason } => {
                    if let Some(reply) = self.receipts.remove(&receipt_id) {
                        let _ = reply.send(Err(ClientError::Receipt {
                            receipt_id: String::from_utf8_lossy(&receipt_id).into_owned(),
                            reason,
                        }));
                    }
                }
                SessionEvent::ErrorReceived { message, .. } => {
                    self.last_failure = format!(
                        "the server sent ERROR: {}",
                        message.as_deref().unwrap_or("(no message)")
                    );
                    self.report(ClientStatus::ServerError { message });
                }
                SessionEvent::Disconnected { reason } => self.on_disconnected(reason),
                SessionEvent::ReconnectScheduled { attempt, delay } => {
                    self.report(ClientStatus::Reconnecting { attempt, delay });
                }
                SessionEvent::GaveUp { attempts } => {
                    self.report(ClientStatus::GaveUp { attempts });
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(ClientError::GaveUp {
                            attempts,
                            last: self.last_failure.clone(),
                        }));
                    }
                }
                SessionEvent::Closed => {
                    self.report(ClientStatus::Closed);
                    for reply in self.disconnecting.drain(..) {
                        let _ = reply.send(Ok(()));
                    }
                }
                // FrameRefused, ProtocolViolation, UnknownReceipt: nothing waits for them.
                _ => {}
            }
        }
    }

    fn report(&self, status: ClientStatus) {
        let _ = self.status.send(status);
    }

    fn on_connected(&mut self, opened: Result<Transport, TransportError>) {
        self.connecting = None;
        let now = Instant::now();
        match opened {
            Ok(transport) => {
                let (reader, writer) = transport.split();
                let (chunks, chunks_rx) = mpsc::channel(WRITE_QUEUE);
                tokio::spawn(write_loop(writer, chunks_rx));
                self.reader = Some(reader);
                self.writer = Some(chunks);
                self.input.clear();
                if let Err(error) = self.session.handle_transport_opened(now) {
                    self.last_failure = error.to_string();
                }
            }
            Err(error) => {
                self.last_failure = error.to_string();
                self.session.handle_transport_failed(now);
            }
        }
    }

    fn on_read(&mut self, read: Result<Received, TransportError>) {
        let now = Instant::now();
        match read {
            Ok(Received::Bytes(_)) => {
                if self.held.is_none() {
                    let bytes = self.input.split().freeze();
                    self.session.handle_input_bytes(now, bytes);
                }
            }
            Ok(Received::Activity) => self.session.note_activity(now),
            Ok(Received::Closed) => {
                self.last_failure = "the broker closed the connection".into();
                self.close_transport();
                self.session.handle_close(now);
            }
            Err(error) => {
                self.last_failure = error.to_string();
                self.close_transport();
                self.session.handle_close(now);
            }
        }
    }

    /// Hands the held message over, then what was read meanwhile.
    fn deliver_held(&mut self, room: Option<mpsc::OwnedPermit<ReceivedMessage>>) {
        let Some((_, message)) = self.held.take() else {
            return;
        };
        if let Some(permit) = room {
            permit.send(message);
        }
        if !self.input.is_empty() && self.reader.is_some() {
            let bytes = self.input.split().freeze();
            self.session.handle_input_bytes(Instant::now(), bytes);
        }
    }

    fn on_disconnected(&mut self, reason: DisconnectReason) {
        match &reason {
            // The ERROR's message, or what the reader saw, is already the better reason.
            DisconnectReason::Closed(CloseReason::ErrorReceived | CloseReason::PeerClosed) => {}
            DisconnectReason::Closed(CloseReason::Failed(error)) => {
                self.last_failure = error.to_string();
            }
            DisconnectReason::Closed(other) => self.last_failure = format!("{other:?}"),
            // The transport error was recorded when the attempt failed.
            _ => {}
        }
        // What the session still has for this transport goes out before it closes.
        self.pump_output();
        self.close_transport();
        let lost = self.session.connection_number();
        let (lost_waiters, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.write_waiters)
            .into_iter()
            .partition(|w| w.connection == Some(lost));
        self.write_waiters = kept;
        for waiter in lost_waiters {
            let _ = waiter.reply.send(Err(ClientError::ConnectionLost));
        }
        self.report(ClientStatus::Disconnected {
            reason: self.last_failure.clone(),
        });
    }

    fn close_transport(&mut self) {
        self.reader = None;
        // The writer task writes what it has, then closes the transport.
        self.writer = None;
        self.connecting = None;
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Send {
                destination,
                body,
                options,
                reply,
            } => {
                let connection = (self.session.is_connected()
                    && self.session.offline_queued().0 == 0)
                    .then(|| self.session.connection_number());
                match self
                    .session
                    .send(now, &destination, body.clone(), options.clone())
                {
                    Ok(Some(receipt)) => {
                        self.receipts.insert(receipt, reply);
                    }
                    Ok(None) => self.write_waiters.push(WriteWaiter { connection, reply }),
                    Err(SessionError::Usage(UsageError::OutputFull { .. })) => {
                        self.blocked = Some(Command::Send {
                            destination,
                            body,
                            options,
                            reply,
                        });
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error.into()));
                    }
                }
            }
            Command::Subscribe {
                id,
                destination,
                ack,
                options,
                reply,
            } => match self.session.subscribe(now, &id, &destination, ack, options) {
                Ok(receipt) => {
                    let (sender, messages) = mpsc::channel(self.buffer);
                    self.subscriptions.insert(id, sender);
                    match receipt {
                        // The stream is handed over at once; the receipt only delays the
                        // answer, which is what a caller asking for one wants.
                        Some(receipt) => {
                            let (confirmed, answer) = oneshot::channel();
                            self.receipts.insert(receipt, confirmed);
                            tokio::spawn(async move {
                                let result = answer.await.unwrap_or(Err(ClientError::Closed));
                                let _ = reply.send(result.map(|()| messages));
                            });
                        }
                        None => {
                            let _ = reply.send(Ok(messages));
                        }
                    }
                }
                Err(error) => {
                    let _ = reply.send(Err(error.into()));
                }
            },
            Command::Unsubscribe { id, reply } => {
                self.subscriptions.remove(&id);
                let result = self
                    .session
                    .unsubscribe(now, &id, FrameOptions::new())
                    .map(|_| ())
                    .map_err(ClientError::from);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Acknowledge {
                message,
                nack,
                options,
                reply,
            } => {
                let result = if nack {
                    self.session.nack(now, &message, options)
                } else {
                    self.session.ack(now, &message, options)
                };
                self.answer(result, reply);
            }
            Command::Transaction { command, id, reply } => {
                // COMMIT and ABORT wait for the broker's word; BEGIN only needs to be queued.
                let options = match (&reply, &command) {
                    (Some(_), Stomp::Commit | Stomp::Abort) => FrameOptions::new().receipt(),
                    _ => FrameOptions::new(),
                };
                let result = match command {
                    Stomp::Begin => self.session.begin(now, &id, options),
                    Stomp::Commit => self.session.commit(now, &id, options),
                    _ => self.session.abort(now, &id, options),
                };
                match reply {
                    Some(reply) => self.answer(result, reply),
                    None => drop(result),
                }
            }
            Command::Disconnect { reply } => match self.session.disconnect(now) {
                Ok(()) => self.disconnecting.push(reply),
                Err(error) => {
                    let _ = reply.send(Err(error.into()));
                }
            },
        }
    }

    /// Answers at once, or when the receipt the call asked for comes.
    fn answer(&mut self, result: Result<Option<Bytes>, SessionError>, reply: Reply<()>) {
        match result {
            Ok(Some(receipt)) => {
                self.receipts.insert(receipt, reply);
            }
            Ok(None) => {
                let _ = reply.send(Ok(()));
            }
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
    }

    fn retry_blocked(&mut self) {
        if self.session.pending_transmit() == 0 {
            if let Some(command) = self.blocked.take() {
                self.on_command(command);
            }
        }
    }

    /// Moves the session's bytes to the writer task, as far as its queue has room.
    fn pump_output(&mut self) {
        let Some(writer) = &self.writer else {
            return;
        };
        loop {
            let Ok(permit) = writer.try_reserve() else {
                // Full (the wait is in `run`) or closed (the reader will see the end).
                return;
            };
            let mut bytes = BytesMut::new();
            self.session.poll_transmit_into(&mut bytes);
            // Everything queued before is now in this chunk or an earlier one, unless the
            // offline queue still holds some of it.
            let written = if self.session.offline_queued().0 == 0 {
                std::mem::take(&mut self.write_waiters)
                    .into_iter()
                    .map(|w| w.reply)
                    .collect()
            } else {
                Vec::new()
            };
            if bytes.is_empty() && written.is_empty() {
                return;
            }
            permit.send(Chunk {
                bytes: bytes.freeze(),
                written,
            });
        }
    }

    /// The end: every call still waiting learns it.
    fn finish(&mut self) {
        self.pump_output();
        self.close_transport();
        for (_, reply) in self.receipts.drain() {
            let _ = reply.send(Err(ClientError::Closed));
        }
        for waiter in self.write_waiters.drain(..) {
            let _ = waiter.reply.send(Err(ClientError::Closed));
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(ClientError::GaveUp {
                attempts: 1,
                last: self.last_failure.clone(),
            }));
        }
        self.subscriptions.clear();
    }
}

/// Writes chunks in order until the channel closes or the transport fails, then closes the
/// transport. Calls waiting on a chunk complete once it is written and flushed; when the
/// transport fails first, they (and those of every chunk still queued) learn that the
/// connection was lost.
async fn write_loop(mut writer: TransportWriter, mut chunks: mpsc::Receiver<Chunk>) {
    while let Some(chunk) = chunks.recv().await {
        let mut ok = chunk.bytes.is_empty() || writer.write(&chunk.bytes).await.is_ok();
        if ok && (chunks.is_empty() || !chunk.written.is_empty()) {
            ok = writer.flush().await.is_ok();
        }
        let outcome = || {
            if ok {
                Ok(())
            } else {
                Err(ClientError::ConnectionLost)
            }
        };
        for reply in chunk.written {
            let _ = reply.send(outcome());
        }
        if !ok {
            chunks.close();
            while let Some(chunk) = chunks.recv().await {
                for reply in chunk.written {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            return;
        }
    }
    let _ = writer.close().await;
}

async fn room_for(
    held: &Option<(Bytes, ReceivedMessage)>,
    subscriptions: &HashMap<Bytes, mpsc::Sender<ReceivedMessage>>,
) -> Option<mpsc::OwnedPermit<ReceivedMessage>> {
    let sender = held
        .as_ref()
        .and_then(|(id, _)| subscriptions.get(id))?
        .clone();
    // Closed (the subscription was dropped): the message is dropped with it.
    sender.reserve_owned().await.ok()
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
        Some(reader) => reader.read(input).await,
        None => std::future::pending().await,
    }
}

async fn writer_room(writer: &Option<mpsc::Sender<Chunk>>) {
    match writer {
        // The permit is dropped at once: `pump_output` takes it again.
        Some(writer) => drop(writer.reserve().await),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
