//! A STOMP server on tokio: the sans-IO [`Broker`] of `stomp-codec`, served over TCP, TLS
//! and WebSocket, with application handlers for `/app/...` destinations.
//!
//! ```no_run
//! use stomp_codec::{Command, Frame};
//! use stomp_tokio::server::{Server, ServerOptions};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let mut server = Server::new(ServerOptions::default());
//!     // SEND /app/chat.5 → stamp the sender, publish to /topic/room.5.
//!     server.route("/app/chat.{room}", |app, frame, captures| {
//!         let room = captures.get("room").unwrap_or("lobby");
//!         let sender = app.login().unwrap_or("anonymous").to_string();
//!         let message = Frame::builder(Command::Send)
//!             .header("sender", sender)
//!             .body(frame.body_bytes())
//!             .build();
//!         app.publish(format!("/topic/room.{room}"), &message)?;
//!         Ok(())
//!     }).expect("a valid pattern");
//!     server.listen_tcp("127.0.0.1:61613").await?;
//!     server.listen_ws("127.0.0.1:15674").await?;
//!     let running = server.start();
//!     // Serve for an hour, then tell every client and stop.
//!     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
//!     running.shutdown().await;
//!     Ok(())
//! }
//! ```

mod connection;
mod listen;
mod relay;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stomp_codec::broker::routes::{Captures, Pattern, PatternError, Routes};
use stomp_codec::{
    Accept, Broker, BrokerConfig, BrokerEvent, ConnectRequest, ConnectionId, ErrorReply, Frame,
    Refusal, VersionSet,
};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

pub use listen::OriginPolicy;
pub use relay::RelayOptions;

/// How a [`Server`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The broker: routing, per-connection settings (heart-beats, output limit, slow
    /// consumers), limits. Default: [`BrokerConfig::default`] with slow consumers closed.
    pub broker: BrokerConfig,
    /// The WebSocket path. Default `/ws`.
    pub ws_path: String,
    /// The STOMP versions served as WebSocket subprotocols. Default all three.
    pub ws_versions: VersionSet,
    /// Which web pages may open a WebSocket (their `Origin` header). Default: the server's
    /// own origin only, as Spring's default; requests without `Origin` (not from a browser)
    /// are always let in.
    pub origins: OriginPolicy,
    /// Connections served at once; more are answered with ERROR and closed. Default 10,000.
    pub max_connections: usize,
    /// A client whose socket takes nothing for this long is dropped. Default 10 s.
    pub write_timeout: Duration,
    /// How long [`Running::shutdown`] waits for clients to take their last bytes. Default 5 s.
    pub shutdown_grace: Duration,
    /// Time for the TLS and WebSocket handshakes. Default 10 s.
    pub handshake_timeout: Duration,
    /// A page served for `GET /` on the WebSocket listeners (the chat page, say).
    pub index_html: Option<Bytes>,
    /// The read buffer of each WebSocket connection. Default 8 KiB: tungstenite's own default
    /// (128 KiB, zero-filled before each read) made an idle WebSocket connection cost 163 KiB
    /// against 35 KiB with this one (`scripts/load.sh`, 1,000 connections).
    pub ws_read_buffer: usize,
    /// Relay the broker destinations to an external broker instead of routing them here.
    pub relay: Option<RelayOptions>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        let mut broker = BrokerConfig::default();
        broker.server = broker
            .server
            .slow_consumer(stomp_codec::SlowConsumer::Close)
            .max_pending_transmit(4 << 20);
        ServerOptions {
            broker,
            ws_path: String::from("/ws"),
            ws_versions: VersionSet::ALL,
            origins: OriginPolicy::SameOrigin,
            max_connections: 10_000,
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            index_html: None,
            ws_read_buffer: 8 * 1024,
            relay: None,
        }
    }
}

/// A handler's refusal: the ERROR its sender gets (then the connection closes, R-9). Built
/// from an [`ErrorReply`] or a broker [`Refusal`], so that `?` works in handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(Box<ErrorReply>);

impl Rejection {
    /// An ERROR with this `message` header.
    pub fn new(message: impl Into<String>) -> Rejection {
        Rejection(Box::new(ErrorReply::new(message)))
    }

    /// Adds details (the ERROR's body).
    #[must_use]
    pub fn detail(self, text: impl Into<String>) -> Rejection {
        Rejection(Box::new(self.0.detail(text)))
    }

    /// The ERROR to send.
    pub fn into_reply(self) -> ErrorReply {
        *self.0
    }
}

impl From<ErrorReply> for Rejection {
    fn from(reply: ErrorReply) -> Rejection {
        Rejection(Box::new(reply))
    }
}

impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Rejection {
        Rejection::new(refusal.message).detail(refusal.detail)
    }
}

/// What an application handler can do: publish to broker destinations, reply to the sender
/// alone, refuse the frame.
pub struct App<'a> {
    broker: &'a mut Broker,
    connection: ConnectionId,
    login: Option<String>,
    now: Instant,
}

impl App<'_> {
    /// The sender's connection.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The sender's `login` (from its CONNECT).
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// A header of the sender's CONNECT frame (its session: `host`, a token, a client name).
    pub fn connect_header(&self, name: &str) -> Option<&[u8]> {
        self.broker
            .connect_frame(self.connection)
            .and_then(|f| f.headers().get(name))
    }

    /// Publishes `content` to a broker destination (every subscriber of a topic, one of a
    /// queue).
    pub fn publish(
        &mut self,
        destination: impl AsRef<[u8]>,
        content: &Frame,
    ) -> Result<(), Refusal> {
        self.broker.publish(self.now, destination, content)
    }

    /// Sends `content` to the sender's own subscriptions to `destination` (e.g.
    /// `/user/queue/replies`); returns how many got it.
    pub fn reply(&mut self, destination: impl AsRef<[u8]>, content: &Frame) -> usize {
        self.broker
            .send_to_connection(self.connection, self.now, destination, content)
    }

    /// Sends `content` to every connection of user `login`, on their subscriptions to
    /// `destination`.
    pub fn send_to_user(
        &mut self,
        login: impl AsRef<[u8]>,
        destination: impl AsRef<[u8]>,
        content: &Frame,
    ) -> usize {
        self.broker
            .send_to_user(self.now, login, destination, content)
    }
}

/// An application handler: the frame sent to its destination and the pattern's captures.
/// `Err` refuses the frame: the sender gets that ERROR and is disconnected (R-9).
pub type Handler = dyn FnMut(&mut App<'_>, &Frame, &Captures) -> Result<(), Rejection> + Send;

/// The CONNECT hook: accept (with the CONNECTED's extras) or refuse with an ERROR.
pub type Authenticator = dyn Fn(&ConnectRequest) -> Result<Accept, Rejection> + Send + Sync;

/// What every connection task shares: the broker, the handlers, and how to wake a task.
struct State {
    broker: Broker,
    routes: Routes<Box<Handler>>,
    authenticate: Option<Arc<Authenticator>>,
    observer: Option<Box<Observer>>,
    wakers: HashMap<ConnectionId, Arc<Notify>>,
    /// The relay, once started.
    relay: Option<relay::Relay>,
    /// This state, for the relay's tasks.
    this: std::sync::Weak<Mutex<State>>,
}

/// Sees every broker event (connections, application messages, drops, closes), for logs.
pub type Observer = dyn FnMut(&BrokerEvent) + Send;

/// A poisoned lock is taken over: every method leaves the broker valid at each step.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// After any call into the broker: answer its events (CONNECT, application messages) and
    /// wake the connections that have bytes to write.
    fn settle(&mut self) {
        let now = Instant::now();
        while let Some(event) = self.broker.poll_event() {
            if let Some(observer) = &mut self.observer {
                observer(&event);
            }
            match event {
                BrokerEvent::Connect {
                    connection,
                    request,
                } => {
                    let answer = match &self.authenticate {
                        Some(hook) => hook(&request),
                        None => Ok(Accept::new()),
                    };
                    let _ = match answer {
                        Ok(accept) => self.broker.accept(connection, now, accept),
                        Err(rejection) => {
                            self.broker.refuse(connection, now, rejection.into_reply())
                        }
                    };
                }
                BrokerEvent::AppMessage {
                    connection,
                    login,
                    destination,
                    frame,
                    receipt,
                } => {
                    let login = login.map(|l| String::from_utf8_lossy(&l).into_owned());
                    let outcome = match self.routes.find_mut(&destination) {
                        Some((handler, captures)) => {
                            let mut app = App {
                                broker: &mut self.broker,
                                connection,
                                login,
                                now,
                            };
                            handler(&mut app, &frame, &captures)
                        }
                        None => Err(Rejection::new("no handler").detail(format!(
                            "no application handler for {}",
                            String::from_utf8_lossy(&destination)
                        ))),
                    };
                    let _ = match outcome {
                        Ok(()) => self.broker.app_done(connection, now, receipt),
                        Err(rejection) => {
                            let mut reply = rejection.into_reply();
                            reply.receipt_id = receipt;
                            self.broker.refuse(connection, now, reply)
                        }
                    };
                }
                BrokerEvent::Closed { connection, .. } => {
                    if let Some(relay) = &mut self.relay {
                        relay.close(connection);
                    }
                    self.wake(connection);
                }
                BrokerEvent::Connected { connection, .. } => {
                    if let Some(relay) = &mut self.relay {
                        relay.open(self.this.clone(), connection);
                    }
                }
                BrokerEvent::ExternalSubscribe {
                    connection,
                    subscription,
                    destination,
                    ack,
                    frame,
                    receipt,
                } => self.relay_op(
                    connection,
                    relay::LinkOp::Subscribe {
                        subscription,
                        destination,
                        ack,
                        frame,
                        receipt,
                    },
                ),
                BrokerEvent::ExternalUnsubscribe {
                    connection,
                    subscription,
                    ..
                } => self.relay_op(connection, relay::LinkOp::Unsubscribe { subscription }),
                BrokerEvent::ExternalSend {
                    connection,
                    destination,
                    frame,
                    receipt,
                } => self.relay_op(
                    connection,
                    relay::LinkOp::Send {
                        destination,
                        frame,
                        receipt,
                    },
                ),
                BrokerEvent::ExternalAck {
                    connection,
                    message_id,
                    nack,
                    ..
                } => self.relay_op(connection, relay::LinkOp::Ack { message_id, nack }),
                BrokerEvent::ExternalPublish { destination, frame } => {
                    if let Some(relay) = &self.relay {
                        relay.publish(destination, frame);
                    }
                }
                _ => {}
            }
        }
        while let Some(id) = self.broker.poll_woken() {
            self.wake(id);
        }
    }

    fn relay_op(&mut self, connection: ConnectionId, op: relay::LinkOp) {
        if let Some(relay) = &mut self.relay {
            relay.forward(connection, op);
        }
    }

    fn wake(&self, id: ConnectionId) {
        if let Some(waker) = self.wakers.get(&id) {
            waker.notify_one();
        }
    }
}

/// The server, before it starts: add handlers and listeners, then [`start`](Server::start).
pub struct Server {
    options: ServerOptions,
    state: Arc<Mutex<State>>,
    listeners: Vec<listen::Listener>,
}

impl Server {
    /// A server with these options and no listener yet.
    pub fn new(mut options: ServerOptions) -> Server {
        if let Some(relay) = &options.relay {
            options.broker.external_prefixes = relay.prefixes.clone();
        }
        let broker = Broker::new(options.broker.clone());
        let state = Arc::new_cyclic(|this| {
            Mutex::new(State {
                broker,
                routes: Routes::new(),
                authenticate: None,
                observer: None,
                wakers: HashMap::new(),
                relay: None,
                this: this.clone(),
            })
        });
        Server {
            state,
            options,
            listeners: Vec::new(),
        }
    }

    /// Handles SENDs to destinations matching `pattern` (`/app/chat.{room}`); the first
    /// matching route wins. Destinations under the broker's `app_prefixes` without a route are
    /// refused with ERROR.
    pub fn route(
        &mut self,
        pattern: &str,
        handler: impl FnMut(&mut App<'_>, &Frame, &Captures) -> Result<(), Rejection> + Send + 'static,
    ) -> Result<(), PatternError> {
        let pattern = Pattern::parse(pattern)?;
        lock(&self.state).routes.add(pattern, Box::new(handler));
        Ok(())
    }

    /// Checks every CONNECT (login, passcode, headers): accept, or refuse with ERROR.
    pub fn authenticate(
        &mut self,
        hook: impl Fn(&ConnectRequest) -> Result<Accept, Rejection> + Send + Sync + 'static,
    ) {
        let mut state = lock(&self.state);
        state.authenticate = Some(Arc::new(hook));
        state.broker.set_auto_accept(false);
    }

    /// Calls `observer` with every broker event (for logs).
    pub fn observe(&mut self, observer: impl FnMut(&BrokerEvent) + Send + 'static) {
        lock(&self.state).observer = Some(Box::new(observer));
    }

    /// Serves STOMP over TCP on `addr`; returns the bound address (port 0: any free one).
    pub async fn listen_tcp(&mut self, addr: &str) -> std::io::Result<SocketAddr> {
        self.listen(addr, listen::Kind::Tcp).await
    }

    /// Serves STOMP over WebSocket on `addr` (path [`ws_path`](ServerOptions::ws_path)).
    pub async fn listen_ws(&mut self, addr: &str) -> std::io::Result<SocketAddr> {
        self.listen(addr, listen::Kind::Ws).await
    }

    /// Serves STOMP over TLS on `addr`, with the certificate chain and private key of these
    /// PEM files.
    pub async fn listen_tls(
        &mut self,
        addr: &str,
        cert_pem: &std::path::Path,
        key_pem: &std::path::Path,
    ) -> std::io::Result<SocketAddr> {
        let acceptor = listen::tls_acceptor(cert_pem, key_pem)?;
        self.listen(addr, listen::Kind::Tls(acceptor)).await
    }

    /// Serves STOMP over WebSocket over TLS (wss) on `addr`.
    pub async fn listen_wss(
        &mut self,
        addr: &str,
        cert_pem: &std::path::Path,
        key_pem: &std::path::Path,
    ) -> std::io::Result<SocketAddr> {
        let acceptor = listen::tls_acceptor(cert_pem, key_pem)?;
        self.listen(addr, listen::Kind::Wss(acceptor)).await
    }

    async fn listen(&mut self, addr: &str, kind: listen::Kind) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        self.listeners.push(listen::Listener { listener, kind });
        Ok(local)
    }

    /// Publishes from outside a handler (a timer, another service).
    pub fn publish(&self, destination: &str, content: &Frame) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        let result = state.broker.publish(Instant::now(), destination, content);
        state.settle();
        result
    }

    /// Starts serving on every listener, in tasks of the current runtime.
    pub fn start(self) -> Running {
        if let Some(relay) = &self.options.relay {
            lock(&self.state).relay = Some(relay::Relay::start(relay.clone()));
        }
        let (shutdown, shutting_down) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: self.state,
            options: self.options,
            permits: Arc::new(Semaphore::new(0)),
            shutting_down,
        });
        shared.permits.add_permits(shared.options.max_connections);
        let mut tasks = JoinSet::new();
        for listener in self.listeners {
            tasks.spawn(listen::accept_loop(listener, shared.clone()));
        }
        Running {
            shared,
            shutdown,
            tasks,
        }
    }
}

/// What the listener and connection tasks share.
struct Shared {
    state: Arc<Mutex<State>>,
    options: ServerOptions,
    permits: Arc<Semaphore>,
    shutting_down: watch::Receiver<bool>,
}

/// A started server.
pub struct Running {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Connections being served.
    pub fn connections(&self) -> usize {
        lock(&self.shared.state).broker.connections().count()
    }

    /// Publishes from outside a handler.
    pub fn publish(&self, destination: &str, content: &Frame) -> Result<(), Refusal> {
        let mut state = lock(&self.shared.state);
        let result = state.broker.publish(Instant::now(), destination, content);
        state.settle();
        result
    }

    /// Stops accepting, sends every client an ERROR (`server shutting down`; a client that
    /// sent DISCONNECT gets its RECEIPT instead), lets them take their queued bytes for up to
    /// [`shutdown_grace`](ServerOptions::shutdown_grace), then closes every socket.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        {
            let mut state = lock(&self.shared.state);
            let now = Instant::now();
            let ids: Vec<ConnectionId> = state.broker.connections().collect();
            for id in ids {
                if !state.broker.is_closed(id) {
                    let reply = ErrorReply::new("server shutting down");
                    let _ = state.broker.refuse(id, now, reply);
                }
                state.wake(id);
            }
            state.settle();
        }
        let grace = self.shared.options.shutdown_grace;
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.tasks.abort_all();
    }
}
