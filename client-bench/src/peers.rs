//! The three clients, each used the way its API makes fastest (documented per function).
//!
//! Every measurement connects a fresh client first (not timed) with heart-beats 0,0, starts the
//! clock, does its work, stops the clock and disconnects (not timed). The callers bound the
//! whole of it with a timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};

use crate::cpu::{Meter, Sample};

/// How long a disconnect may take before it is abandoned.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the probe (the first message of a consume measurement) may take to arrive.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one receipt may take (iridium-stomp asks for a bound on every wait).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The clients compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// stomp-tokio's client, sends pipelined (up to `window` send futures at once).
    Ours,
    /// stomp-tokio's client, one `send().await` after another (publish without receipts
    /// only): the plainest usage, for reference.
    OursSequential,
    /// stomp-tokio's client, one `publish().await` after another (completes once queued:
    /// the counterpart of a `Sink`'s `feed`; publish without receipts only).
    OursPublish,
    Iridium,
    AsyncStomp,
    /// No client library: pre-encoded frames on a plain socket, replies only counted
    /// (`ceiling.rs`). The most any client could reach on the same broker.
    Ceiling,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::OursSequential => "ours-seq",
            Peer::OursPublish => "ours-publish",
            Peer::Iridium => "iridium-stomp",
            Peer::AsyncStomp => "async-stomp",
            Peer::Ceiling => "ceiling",
        }
    }

    pub fn parse(name: &str) -> Option<Peer> {
        [
            Peer::Ours,
            Peer::OursSequential,
            Peer::OursPublish,
            Peer::Iridium,
            Peer::AsyncStomp,
            Peer::Ceiling,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// Whether this is one of the peers (not a variant of ours, not the ceiling).
    pub fn is_peer(self) -> bool {
        matches!(self, Peer::Iridium | Peer::AsyncStomp)
    }

    /// Whether this is stomp-tokio's client, used one way or another.
    pub fn is_ours(self) -> bool {
        matches!(self, Peer::Ours | Peer::OursSequential | Peer::OursPublish)
    }
}

/// One measurement's parameters.
#[derive(Debug, Clone)]
pub struct Job {
    /// `host:port` of the broker's STOMP listener.
    pub addr: String,
    pub destination: String,
    pub messages: usize,
    pub body: Bytes,
    /// Sends (or receipts) in flight at most, where the client pipelines.
    pub window: usize,
    /// Extra SUBSCRIBE headers (the queue arguments the feeder declared the queue with).
    pub subscribe_headers: Vec<(String, String)>,
}

/// Called by a consumer when the probe arrived: the feeder may start (live mode).
pub type Go = Box<dyn FnOnce() + Send>;

/// How the measurement was done, for the output.
pub fn publish_mode(peer: Peer, receipts: bool) -> &'static str {
    match (peer, receipts) {
        (Peer::Ours, false) => "send() futures, up to `window` at once, then one send_with_receipt",
        (Peer::Ours, true) => "send_with_receipt() futures, up to `window` at once",
        (Peer::OursSequential, _) => "send().await one after another, then one send_with_receipt",
        (Peer::OursPublish, _) => {
            "publish().await one after another (completes when queued), then one send_with_receipt"
        }
        (Peer::Iridium, false) => {
            "send_frame().await one after another (completes when queued), then one receipt"
        }
        (Peer::Iridium, true) => {
            "send_frame_with_receipt() handles, up to `window` waited for at once"
        }
        (Peer::AsyncStomp, false) => "Sink::feed each SEND, then a SEND with a receipt (flushed)",
        (Peer::AsyncStomp, true) => {
            "split Sink/Stream: feed SENDs with receipt headers, up to `window` unanswered"
        }
        (Peer::Ceiling, false) => "pre-encoded SENDs written in 256 KiB blocks, then one receipt",
        (Peer::Ceiling, true) => {
            "pre-encoded SENDs with receipts, refilled to `window` unanswered, RECEIPTs counted"
        }
    }
}

/// How every client consumes (the ceiling counts NUL octets instead of decoding).
pub const CONSUME_MODE: &str = "auto-ack subscription, counting messages";

pub async fn publish(peer: Peer, job: &Job, receipts: bool) -> Result<Sample, String> {
    match peer {
        Peer::Ours => ours::publish(job, receipts, ours::Sending::Futures(job.window)).await,
        Peer::OursSequential => ours::publish(job, receipts, ours::Sending::Futures(1)).await,
        Peer::OursPublish => ours::publish(job, receipts, ours::Sending::Queued).await,
        Peer::Iridium => iridium::publish(job, receipts).await,
        Peer::AsyncStomp => async_stomp_client::publish(job, receipts).await,
        Peer::Ceiling => crate::ceiling::publish(job, receipts).await,
    }
}

pub async fn consume(peer: Peer, job: &Job, go: Go) -> Result<Sample, String> {
    match peer {
        Peer::Ours | Peer::OursSequential | Peer::OursPublish => ours::consume(job, go).await,
        Peer::Iridium => iridium::consume(job, go).await,
        Peer::AsyncStomp => async_stomp_client::consume(job, go).await,
        Peer::Ceiling => crate::ceiling::consume(job, go).await,
    }
}

fn error(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("{what}: {e}")
}

mod ours {
    use super::*;
    use stomp_codec::{AckMode, FrameOptions, Heartbeat, ReconnectPolicy};
    use stomp_tokio::client::{Client, ClientError, ClientOptions};

    async fn connect(job: &Job) -> Result<Client, String> {
        let options = ClientOptions::new()
            .login("guest")
            .passcode("guest")
            .heartbeat(Heartbeat::new(0, 0))
            .reconnect(ReconnectPolicy::never());
        Client::connect(&format!("stomp://{}", job.addr), options)
            .await
            .map_err(|e| error("connect")(&e))
    }

    async fn disconnect(client: Client) {
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, client.disconnect()).await;
    }

    /// How the messages are sent.
    pub enum Sending {
        /// `window` send futures at once in a `FuturesUnordered` (1: one after another).
        Futures(usize),
        /// `publish().await` one after another (each completes once queued).
        Queued,
    }

    /// The messages sent as `sending` says. Without receipts, one last `send_with_receipt`
    /// confirms the broker has them all.
    pub async fn publish(job: &Job, receipts: bool, sending: Sending) -> Result<Sample, String> {
        let client = connect(job).await?;
        let options = if receipts {
            FrameOptions::new().receipt()
        } else {
            FrameOptions::new()
        };
        let meter = Meter::start();
        let destination = job.destination.as_str();
        match sending {
            Sending::Queued => {
                for _ in 0..job.messages {
                    client
                        .publish_with(destination, job.body.clone(), options.clone())
                        .await
                        .map_err(|e| error("publish")(&e))?;
                }
            }
            Sending::Futures(0 | 1) => {
                for _ in 0..job.messages {
                    client
                        .send_with(destination, job.body.clone(), options.clone())
                        .await
                        .map_err(|e| error("send")(&e))?;
                }
            }
            Sending::Futures(window) => {
                let mut in_flight = FuturesUnordered::new();
                for _ in 0..job.messages {
                    if in_flight.len() >= window {
                        let next: Option<Result<(), ClientError>> = in_flight.next().await;
                        if let Some(done) = next {
                            done.map_err(|e| error("send")(&e))?;
                        }
                    }
                    in_flight.push(client.send_with(
                        destination,
                        job.body.clone(),
                        options.clone(),
                    ));
                }
                while let Some(done) = in_flight.next().await {
                    done.map_err(|e| error("send")(&e))?;
                }
            }
        }
        if !receipts {
            client
                .send_with_receipt(destination, Bytes::from_static(b"end"))
                .await
                .map_err(|e| error("final receipt")(&e))?;
        }
        let sample = meter.stop();
        disconnect(client).await;
        Ok(sample)
    }

    /// An auto-ack subscription with the default buffer; the clock starts at the probe.
    pub async fn consume(job: &Job, go: Go) -> Result<Sample, String> {
        let client = connect(job).await?;
        let mut options = FrameOptions::new();
        for (name, value) in &job.subscribe_headers {
            options = options.header(name, value);
        }
        let mut messages = client
            .subscribe_with(&job.destination, AckMode::Auto, options)
            .await
            .map_err(|e| error("subscribe")(&e))?;
        match tokio::time::timeout(PROBE_TIMEOUT, messages.next()).await {
            Ok(Some(_probe)) => {}
            Ok(None) => return Err("the subscription ended before the probe".into()),
            Err(_) => return Err("no probe message within 30 s".into()),
        }
        let meter = Meter::start();
        go();
        let mut bytes = 0usize;
        for received in 0..job.messages {
            let message = messages
                .next()
                .await
                .ok_or_else(|| format!("the subscription ended after {received} messages"))?;
            bytes += message.body().len();
        }
        let sample = meter.stop();
        std::hint::black_box(bytes);
        drop(messages);
        disconnect(client).await;
        Ok(sample)
    }
}

mod iridium {
    use super::*;
    use iridium_stomp::{AckMode, Connection, Frame, SubscriptionOptions};

    async fn connect(job: &Job) -> Result<Connection, String> {
        Connection::connect(&job.addr, "guest", "guest", Connection::NO_HEARTBEAT)
            .await
            .map_err(|e| error("connect")(&e))
    }

    async fn disconnect(connection: Connection) {
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, connection.close()).await;
    }

    fn send_frame(job: &Job) -> Frame {
        Frame::new("SEND")
            .header("destination", &job.destination)
            .set_body(job.body.to_vec())
    }

    /// Without receipts `send_frame().await` in a loop (it returns once the frame is queued
    /// for the connection's writer task), then `send_frame_confirmed` for one last frame.
    /// With receipts `send_frame_with_receipt()` for each, keeping up to `window` handles
    /// and waiting for the oldest when full: pipelined.
    pub async fn publish(job: &Job, receipts: bool) -> Result<Sample, String> {
        let connection = connect(job).await?;
        let meter = Meter::start();
        if receipts {
            let mut handles = VecDeque::with_capacity(job.window);
            for _ in 0..job.messages {
                if handles.len() >= job.window {
                    if let Some(handle) = handles.pop_front() {
                        iridium_stomp::ReceiptHandle::wait(handle, RECEIPT_TIMEOUT)
                            .await
                            .map_err(|e| error("receipt")(&e))?;
                    }
                }
                let handle = connection
                    .send_frame_with_receipt(send_frame(job))
                    .await
                    .map_err(|e| error("send")(&e))?;
                handles.push_back(handle);
            }
            while let Some(handle) = handles.pop_front() {
                handle
                    .wait(RECEIPT_TIMEOUT)
                    .await
                    .map_err(|e| error("receipt")(&e))?;
            }
        } else {
            for _ in 0..job.messages {
                connection
                    .send_frame(send_frame(job))
                    .await
                    .map_err(|e| error("send")(&e))?;
            }
            let last = Frame::new("SEND")
                .header("destination", &job.destination)
                .set_body(b"end".to_vec());
            connection
                .send_frame_confirmed(last, RECEIPT_TIMEOUT)
                .await
                .map_err(|e| error("final receipt")(&e))?;
        }
        let sample = meter.stop();
        disconnect(connection).await;
        Ok(sample)
    }

    /// An auto-ack `Subscription` (a `Stream` of frames). With the defaults (a channel of 16
    /// frames, 1024 parked behind it) the subscription fails with `Overflowed` as soon as the
    /// broker delivers faster than the application takes them for a moment (its reader never
    /// stops reading the socket), so it gets a channel of 1024 and room for every message of
    /// the run.
    pub async fn consume(job: &Job, go: Go) -> Result<Sample, String> {
        let connection = connect(job).await?;
        let options = SubscriptionOptions::new()
            .headers(job.subscribe_headers.clone())
            .channel_capacity(1024)
            .overflow_limit(job.messages + 1024);
        let mut messages = connection
            .subscribe_with_options(&job.destination, AckMode::Auto, options)
            .await
            .map_err(|e| error("subscribe")(&e))?;
        match tokio::time::timeout(PROBE_TIMEOUT, messages.next()).await {
            Ok(Some(_probe)) => {}
            Ok(None) => {
                return Err(format!(
                    "the subscription ended before the probe ({:?})",
                    messages.ended()
                ))
            }
            Err(_) => return Err("no probe message within 30 s".into()),
        }
        let meter = Meter::start();
        go();
        let mut bytes = 0usize;
        for received in 0..job.messages {
            let frame = messages.next().await.ok_or_else(|| {
                format!(
                    "the subscription ended after {received} messages ({:?})",
                    messages.ended()
                )
            })?;
            bytes += frame.body.len();
        }
        let sample = meter.stop();
        std::hint::black_box(bytes);
        drop(messages);
        disconnect(connection).await;
        Ok(sample)
    }
}

mod async_stomp_client {
    use super::*;
    use async_stomp::client::{ClientTransport, Connector, Subscriber};
    use async_stomp::{FromServer, Message, ToServer};
    use tokio::sync::Semaphore;

    async fn connect(job: &Job) -> Result<ClientTransport, String> {
        Connector::builder()
            .server(job.addr.as_str())
            .virtualhost("/")
            .login("guest".to_string())
            .passcode("guest".to_string())
            .heartbeat(0, 0)
            .connect()
            .await
            .map_err(|e| error("connect")(&e))
    }

    async fn disconnect(mut transport: ClientTransport) {
        let _ = tokio::time::timeout(
            DISCONNECT_TIMEOUT,
            async_stomp::client::disconnect(&mut transport, "client-bench-bye"),
        )
        .await;
    }

    fn send(job: &Job, body: Vec<u8>, receipt: Option<String>) -> Message<ToServer> {
        ToServer::Send {
            destination: job.destination.clone(),
            transaction: None,
            headers: receipt.map(|id| vec![("receipt".to_string(), id)]),
            body: Some(body),
        }
        .into()
    }

    /// Reads until the RECEIPT `id` (an ERROR fails).
    async fn wait_receipt(transport: &mut ClientTransport, id: &str) -> Result<(), String> {
        loop {
            let frame = tokio::time::timeout(RECEIPT_TIMEOUT, transport.next())
                .await
                .map_err(|_| "no receipt within 60 s".to_string())?
                .ok_or("the connection ended")?
                .map_err(|e| error("read")(&e))?;
            match frame.content {
                FromServer::Receipt { receipt_id } if receipt_id == id => return Ok(()),
                FromServer::Error { message, .. } => return Err(format!("ERROR {message:?}")),
                _ => {}
            }
        }
    }

    /// The transport is a `Sink` of frames over a tokio-util `Framed`: without receipts,
    /// `feed` each SEND (it buffers and writes when the buffer fills), then `send` one with a
    /// `receipt` header (which flushes) and read up to its RECEIPT. With receipts the
    /// transport is split: the sending half feeds SENDs with `receipt` headers while at most
    /// `window` are unanswered (flushing whenever it has to wait), the other half counts the
    /// RECEIPTs.
    pub async fn publish(job: &Job, receipts: bool) -> Result<Sample, String> {
        let mut transport = connect(job).await?;
        let meter = Meter::start();
        if receipts {
            let (mut sink, mut stream) = transport.split();
            let room = Arc::new(Semaphore::new(job.window));
            let sending = async {
                for i in 0..job.messages {
                    match room.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(_) => {
                            sink.flush().await.map_err(|e| error("flush")(&e))?;
                            room.acquire()
                                .await
                                .map_err(|e| error("window")(&e))?
                                .forget();
                        }
                    }
                    sink.feed(send(job, job.body.to_vec(), Some(format!("r-{i}"))))
                        .await
                        .map_err(|e| error("send")(&e))?;
                }
                sink.flush().await.map_err(|e| error("flush")(&e))
            };
            let receiving = async {
                let mut confirmed = 0;
                while confirmed < job.messages {
                    let frame = tokio::time::timeout(RECEIPT_TIMEOUT, stream.next())
                        .await
                        .map_err(|_| format!("no receipt within 60 s after {confirmed}"))?
                        .ok_or("the connection ended")?
                        .map_err(|e| error("read")(&e))?;
                    match frame.content {
                        FromServer::Receipt { .. } => {
                            confirmed += 1;
                            room.add_permits(1);
                        }
                        FromServer::Error { message, .. } => {
                            return Err(format!("ERROR {message:?}"))
                        }
                        _ => {}
                    }
                }
                Ok::<(), String>(())
            };
            let (sent, received) = tokio::join!(sending, receiving);
            sent?;
            received?;
            transport = sink
                .reunite(stream)
                .map_err(|_| "could not reunite the transport".to_string())?;
        } else {
            for _ in 0..job.messages {
                transport
                    .feed(send(job, job.body.to_vec(), None))
                    .await
                    .map_err(|e| error("send")(&e))?;
            }
            transport
                .send(send(job, b"end".to_vec(), Some("last".into())))
                .await
                .map_err(|e| error("send")(&e))?;
            wait_receipt(&mut transport, "last").await?;
        }
        let sample = meter.stop();
        disconnect(transport).await;
        Ok(sample)
    }

    /// SUBSCRIBE (auto ack) sent on the transport, then its `Stream` read for MESSAGE frames.
    pub async fn consume(job: &Job, go: Go) -> Result<Sample, String> {
        let mut transport = connect(job).await?;
        let subscribe = Subscriber::builder()
            .destination(job.destination.as_str())
            .id("client-bench-0")
            .headers(job.subscribe_headers.clone())
            .subscribe();
        transport
            .send(subscribe)
            .await
            .map_err(|e| error("subscribe")(&e))?;
        async fn next_message(transport: &mut ClientTransport) -> Result<usize, String> {
            loop {
                let frame = transport
                    .next()
                    .await
                    .ok_or("the connection ended")?
                    .map_err(|e| error("read")(&e))?;
                match frame.content {
                    FromServer::Message { body, .. } => return Ok(body.map_or(0, |b| b.len())),
                    FromServer::Error { message, .. } => return Err(format!("ERROR {message:?}")),
                    _ => {}
                }
            }
        }
        tokio::time::timeout(PROBE_TIMEOUT, next_message(&mut transport))
            .await
            .map_err(|_| "no probe message within 30 s".to_string())??;
        let meter = Meter::start();
        go();
        let mut bytes = 0usize;
        for _ in 0..job.messages {
            bytes += next_message(&mut transport).await?;
        }
        let sample = meter.stop();
        std::hint::black_box(bytes);
        disconnect(transport).await;
        Ok(sample)
    }
}
