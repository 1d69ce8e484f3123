//! The relay to an external broker (RabbitMQ, ActiveMQ, another of our servers), in the
//! manner of Spring's StompBrokerRelay: the broker destinations of every client go to the
//! external broker through a relay connection of that client's own (so the external broker
//! sees each session's subscriptions and acks), and what the application publishes goes
//! through one shared "system" connection. Several servers relaying to one broker share their
//! rooms.
//!
//! Each relay connection is an async [`Client`] of this crate. A client's relay connection
//! does not reconnect: when it is lost, the client gets an ERROR and is disconnected (its own
//! client reconnects, which opens a new relay connection and resubscribes). The system
//! connection reconnects by itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use stomp_codec::{
    AckMode, ConnectionId, ErrorReply, Frame, FrameOptions, Heartbeat, ReconnectPolicy,
};
use tokio::sync::mpsc;

use super::{lock, State};
use crate::client::{Client, ClientOptions, ClientStatus, ReceivedMessage};

/// Where and how to relay the broker destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayOptions {
    /// The external broker's URL (`stomp://`, `stomp+ssl://`, `ws://`, `wss://`).
    pub url: String,
    /// The login of the relay connections.
    pub login: Option<String>,
    /// Their passcode.
    pub passcode: Option<String>,
    /// The virtual host (`host` header). Default `/`.
    pub host: String,
    /// The destinations relayed. Default `/topic/` and `/queue/`.
    pub prefixes: Vec<String>,
    /// The heart-beats of the relay connections. Default 10000,10000.
    pub heartbeat: Heartbeat,
    /// A CA file to trust for TLS.
    pub ca_file: Option<PathBuf>,
}

impl RelayOptions {
    /// Relays `/topic/...` and `/queue/...` to the broker at `url`.
    pub fn new(url: impl Into<String>) -> RelayOptions {
        RelayOptions {
            url: url.into(),
            login: None,
            passcode: None,
            host: String::from("/"),
            prefixes: vec![String::from("/topic/"), String::from("/queue/")],
            heartbeat: Heartbeat::new(10_000, 10_000),
            ca_file: None,
        }
    }

    fn client_options(&self, reconnect: ReconnectPolicy) -> ClientOptions {
        let mut options = ClientOptions::new()
            .host(&self.host)
            .heartbeat(self.heartbeat)
            .reconnect(reconnect);
        if let Some(login) = &self.login {
            options = options.login(login);
        }
        if let Some(passcode) = &self.passcode {
            options = options.passcode(passcode);
        }
        if let Some(ca) = &self.ca_file {
            options = options.ca_file(ca);
        }
        options
    }
}

/// What a client's relay task does, in order.
pub(super) enum LinkOp {
    Subscribe {
        subscription: Bytes,
        destination: Bytes,
        ack: AckMode,
        frame: Frame,
        receipt: Option<Bytes>,
    },
    Unsubscribe {
        subscription: Bytes,
    },
    Send {
        destination: Bytes,
        frame: Frame,
        receipt: Option<Bytes>,
    },
    Ack {
        message_id: Bytes,
        nack: bool,
    },
}

/// The relay's part of the server state.
pub(super) struct Relay {
    options: RelayOptions,
    system: mpsc::UnboundedSender<(Bytes, Frame)>,
    links: HashMap<ConnectionId, mpsc::UnboundedSender<LinkOp>>,
}

impl Relay {
    /// Starts the system connection's task.
    pub(super) fn start(options: RelayOptions) -> Relay {
        let (system, published) = mpsc::unbounded_channel();
        tokio::spawn(system_task(options.clone(), published));
        Relay {
            options,
            system,
            links: HashMap::new(),
        }
    }

    /// A client connected: its relay connection opens.
    pub(super) fn open(&mut self, state: Weak<Mutex<State>>, connection: ConnectionId) {
        let (ops, rx) = mpsc::unbounded_channel();
        self.links.insert(connection, ops);
        tokio::spawn(link_task(self.options.clone(), state, connection, rx));
    }

    /// A client closed: its relay task ends (dropping its relay connection).
    pub(super) fn close(&mut self, connection: ConnectionId) {
        self.links.remove(&connection);
    }

    pub(super) fn forward(&mut self, connection: ConnectionId, op: LinkOp) {
        if let Some(link) = self.links.get(&connection) {
            let _ = link.send(op);
        }
    }

    pub(super) fn publish(&self, destination: Bytes, frame: Frame) {
        let _ = self.system.send((destination, frame));
    }
}

/// The headers a relayed SEND or SUBSCRIBE carries besides those the client sets itself.
fn extra_headers(frame: &Frame, options: FrameOptions) -> FrameOptions {
    const OWN: [&[u8]; 6] = [
        b"destination",
        b"id",
        b"ack",
        b"receipt",
        b"transaction",
        b"content-length",
    ];
    frame
        .headers()
        .iter()
        .filter(|(name, _)| !OWN.contains(name))
        .fold(options, |o, (name, value)| o.header(name, value))
}

/// The relayed messages waiting for ACK (a poisoned lock is taken over: the map stays valid).
fn held(
    unacked: &Mutex<HashMap<Bytes, ReceivedMessage>>,
) -> std::sync::MutexGuard<'_, HashMap<Bytes, ReceivedMessage>> {
    unacked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Refuses `connection` with an ERROR (the relay failed it), from a relay task.
fn fail_client(state: &Weak<Mutex<State>>, connection: ConnectionId, why: String) {
    if let Some(state) = state.upgrade() {
        let mut state = lock(&state);
        let reply = ErrorReply::new("relay connection lost").detail(why);
        let _ = state.broker.refuse(connection, Instant::now(), reply);
        state.settle();
    }
}

/// Answers `connection`'s receipt once the relay did what the frame asked.
fn done(state: &Weak<Mutex<State>>, connection: ConnectionId, receipt: Option<Bytes>) {
    if let (Some(state), Some(receipt)) = (state.upgrade(), receipt) {
        let mut state = lock(&state);
        let _ = state
            .broker
            .app_done(connection, Instant::now(), Some(receipt));
        state.settle();
    }
}

async fn link_task(
    options: RelayOptions,
    state: Weak<Mutex<State>>,
    connection: ConnectionId,
    mut ops: mpsc::UnboundedReceiver<LinkOp>,
) {
    let client = match Client::connect(
        &options.url,
        options.client_options(ReconnectPolicy::never()),
    )
    .await
    {
        Ok(client) => client,
        Err(e) => {
            return fail_client(
                &state,
                connection,
                format!("cannot reach {}: {e}", options.url),
            )
        }
    };
    let mut status = client.status();
    // Relayed messages waiting for the client's ACK, by the id the client got.
    let unacked: Arc<Mutex<HashMap<Bytes, ReceivedMessage>>> = Arc::default();
    let mut forwarders: HashMap<Bytes, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        tokio::select! {
            op = ops.recv() => {
                let Some(op) = op else { break };
                match op {
                    LinkOp::Subscribe { subscription, destination, ack, frame, receipt } => {
                        let mut o = extra_headers(&frame, FrameOptions::new());
                        if receipt.is_some() {
                            o = o.receipt();
                        }
                        match client.subscribe_with(&destination, ack, o).await {
                            Ok(mut messages) => {
                                done(&state, connection, receipt);
                                let (state, unacked, sub) = (state.clone(), unacked.clone(), subscription.clone());
                                let forwarder = tokio::spawn(async move {
                                    while let Some(message) = messages.next().await {
                                        let Some(state) = state.upgrade() else { return };
                                        let id = Bytes::copy_from_slice(message.message_id());
                                        let frame = message.frame().clone();
                                        // Kept before the client can see it, so that its ACK
                                        // (which may come at once) finds it.
                                        if ack != AckMode::Auto {
                                            held(&unacked).insert(id.clone(), message);
                                        }
                                        let mut state = lock(&state);
                                        let delivered = state.broker.deliver_external(
                                            connection, Instant::now(), &sub, &id, &frame);
                                        state.settle();
                                        drop(state);
                                        if delivered.is_err() {
                                            held(&unacked).remove(&id);
                                        }
                                    }
                                });
                                forwarders.insert(subscription, forwarder);
                            }
                            Err(e) => return fail_client(&state, connection, format!("SUBSCRIBE: {e}")),
                        }
                    }
                    LinkOp::Unsubscribe { subscription } => {
                        // Dropping the relay subscription sends its UNSUBSCRIBE.
                        if let Some(forwarder) = forwarders.remove(&subscription) {
                            forwarder.abort();
                        }
                    }
                    LinkOp::Send { destination, frame, receipt } => {
                        let mut o = extra_headers(&frame, FrameOptions::new());
                        if receipt.is_some() {
                            o = o.receipt();
                        }
                        match client.send_with(&destination, frame.body_bytes(), o).await {
                            Ok(()) => done(&state, connection, receipt),
                            Err(e) => return fail_client(&state, connection, format!("SEND: {e}")),
                        }
                    }
                    LinkOp::Ack { message_id, nack } => {
                        let message = held(&unacked).remove(&message_id);
                        if let Some(message) = message {
                            let acked = if nack { message.nack().await } else { message.ack().await };
                            if let Err(e) = acked {
                                return fail_client(&state, connection, format!("ACK: {e}"));
                            }
                        }
                    }
                }
            }
            s = status.recv() => match s {
                Ok(ClientStatus::Disconnected { reason }) => {
                    return fail_client(&state, connection, reason);
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return fail_client(&state, connection, "the relay client ended".into()),
            },
        }
    }
    for (_, forwarder) in forwarders {
        forwarder.abort();
    }
    let _ = client.disconnect().await;
}

/// The shared connection for what the application publishes; it reconnects by itself.
async fn system_task(
    options: RelayOptions,
    mut published: mpsc::UnboundedReceiver<(Bytes, Frame)>,
) {
    let client = loop {
        match Client::connect(
            &options.url,
            options.client_options(ReconnectPolicy::default()),
        )
        .await
        {
            Ok(client) => break client,
            // With the default policy `connect` only gives up when told to; try again.
            Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    };
    while let Some((destination, frame)) = published.recv().await {
        let o = extra_headers(&frame, FrameOptions::new());
        // Sent in order; a publish lost with a connection is not retried (at most once, as a
        // handler's publish to the in-memory broker).
        let _ = client.send_with(&destination, frame.body_bytes(), o).await;
    }
}
