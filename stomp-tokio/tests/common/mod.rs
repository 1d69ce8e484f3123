//! A small STOMP broker on loopback for the client tests, built on `ServerConnection`: topics
//! that fan out to every subscriber, receipts that can be withheld, connections that can be
//! killed (a broker crash, as the client sees it), and a record of every frame received.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use stomp_codec::{Accept, Command, Frame, Heartbeat, ServerConfig, ServerConnection, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A frame the broker received, reduced to what the tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub connection: u64,
    pub command: Command,
    pub destination: String,
    pub body: String,
    pub transaction: Option<String>,
    pub login: Option<String>,
}

/// Where a subscriber's deliveries go: (subscription id, content).
type Deliveries = mpsc::UnboundedSender<(Bytes, Frame)>;

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// destination → (connection, subscription id, delivery channel)
    subscribers: HashMap<String, Vec<(u64, Bytes, Deliveries)>>,
    confirm: bool,
    next_connection: u64,
    next_message: u64,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Clone)]
pub struct TestBroker {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: Arc<Mutex<Option<JoinHandle<()>>>>,
    heartbeat: Heartbeat,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        TestBroker::with_heartbeat(Heartbeat::new(0, 0)).await
    }

    pub async fn with_heartbeat(heartbeat: Heartbeat) -> TestBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let broker = TestBroker {
            addr,
            state: Arc::new(Mutex::new(State {
                confirm: true,
                ..State::default()
            })),
            accept: Arc::new(Mutex::new(None)),
            heartbeat,
        };
        broker.listen(listener);
        broker
    }

    fn listen(&self, listener: TcpListener) {
        let broker = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let b = broker.clone();
                let id = {
                    let mut s = b.state.lock().unwrap();
                    s.next_connection += 1;
                    s.next_connection
                };
                let task = tokio::spawn(async move { b.serve(stream, id).await });
                broker.state.lock().unwrap().tasks.push(task);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    pub fn url(&self) -> String {
        format!("stomp://{}", self.addr)
    }

    /// Every frame received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn seen_commands(&self, command: Command) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.command == command)
            .collect()
    }

    /// Whether RECEIPTs are sent.
    pub fn set_confirm(&self, confirm: bool) {
        self.state.lock().unwrap().confirm = confirm;
    }

    /// Drops every connection at once, as a crashed broker would; the listener stays.
    pub fn kill_connections(&self) {
        let mut s = self.state.lock().unwrap();
        for task in s.tasks.drain(..) {
            task.abort();
        }
        s.subscribers.clear();
    }

    /// Stops accepting and drops every connection: the broker is down.
    pub fn stop(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.kill_connections();
    }

    /// Accepts again on the same address.
    pub async fn restart(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.listen(listener);
    }

    /// Waits (bounded) until `check` holds on what the broker saw.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&[Seen]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if check(&self.seen()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Subscribers of `destination` right now.
    pub fn subscriber_count(&self, destination: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .subscribers
            .get(destination)
            .map_or(0, |v| v.len())
    }

    /// Publishes to every subscriber of `destination`, as if a client had sent it.
    pub fn publish(&self, destination: &str, body: impl Into<Bytes>) {
        let frame = Frame::builder(Command::Send)
            .header("destination", destination)
            .body(body.into())
            .build();
        self.fan_out(destination, &frame);
    }

    fn fan_out(&self, destination: &str, frame: &Frame) {
        let s = self.state.lock().unwrap();
        if let Some(subs) = s.subscribers.get(destination) {
            for (_, sub, tx) in subs {
                let _ = tx.send((sub.clone(), frame.clone()));
            }
        }
    }

    async fn serve(&self, stream: TcpStream, connection: u64) {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let mut server: ServerConnection =
            ServerConnection::new(ServerConfig::default().heartbeat(self.heartbeat));
        let (deliver_tx, mut deliver_rx) = mpsc::unbounded_channel::<(Bytes, Frame)>();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut login = None;
        loop {
            while let Some(event) = server.poll_event() {
                let now = Instant::now();
                let receipt = event.receipt().cloned();
                let (command, destination, body, transaction) = match &event {
                    ServerEvent::Connect(request) => {
                        login = request
                            .login
                            .as_ref()
                            .map(|l| String::from_utf8_lossy(l).into_owned());
                        let _ = server.accept(now, Accept::new());
                        (Command::Connect, String::new(), String::new(), None)
                    }
                    ServerEvent::Subscribe {
                        id, destination, ..
                    } => {
                        let d = String::from_utf8_lossy(destination).into_owned();
                        self.state
                            .lock()
                            .unwrap()
                            .subscribers
                            .entry(d.clone())
                            .or_default()
                            .push((connection, id.clone(), deliver_tx.clone()));
                        (Command::Subscribe, d, String::new(), None)
                    }
                    ServerEvent::Unsubscribe { id, .. } => {
                        let mut s = self.state.lock().unwrap();
                        for subs in s.subscribers.values_mut() {
                            subs.retain(|(c, sub, _)| !(*c == connection && sub == id));
                        }
                        (Command::Unsubscribe, String::new(), String::new(), None)
                    }
                    ServerEvent::Send {
                        transaction, frame, ..
                    } => {
                        let destination = frame.destination().unwrap_or_default();
                        let d = String::from_utf8_lossy(destination).into_owned();
                        if transaction.is_none() {
                            self.fan_out(&d, frame);
                        }
                        (
                            Command::Send,
                            d,
                            String::from_utf8_lossy(frame.body()).into_owned(),
                            transaction
                                .as_ref()
                                .map(|t| String::from_utf8_lossy(t).into_owned()),
                        )
                    }
                    ServerEvent::Ack { transaction, .. } => (
                        Command::Ack,
                        String::new(),
                        String::new(),
                        transaction
                            .as_ref()
                            .map(|t| String::from_utf8_lossy(t).into_owned()),
                    ),
                    ServerEvent::Nack { .. } => (Command::Nack, String::new(), String::new(), None),
                    ServerEvent::Begin { transaction, .. } => (
                        Command::Begin,
                        String::new(),
                        String::new(),
                        Some(String::from_utf8_lossy(transaction).into_owned()),
                    ),
                    ServerEvent::Commit { transaction, .. } => (
                        Command::Commit,
                        String::new(),
                        String::new(),
                        Some(String::from_utf8_lossy(transaction).into_owned()),
                    ),
                    ServerEvent::Abort { transaction, .. } => (
                        Command::Abort,
                        String::new(),
                        String::new(),
                        Some(String::from_utf8_lossy(transaction).into_owned()),
                    ),
                    ServerEvent::Disconnect { .. } => {
                        (Command::Disconnect, String::new(), String::new(), None)
                    }
                    _ => continue,
                };
                let confirm = self.state.lock().unwrap().confirm;
                if let Some(r) = receipt {
                    if confirm || command == Command::Disconnect {
                        let _ = server.receipt(now, &r);
                    }
                }
                self.state.lock().unwrap().seen.push(Seen {
                    connection,
                    command,
                    destination,
                    body,
                    transaction,
                    login: login.clone(),
                });
            }
            while let Some(bytes) = server.poll_transmit() {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            if server.is_closed() {
                return;
            }
            let deadline = server.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                read = rd.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => { server.handle_close(); }
                    Ok(_) => { let b = buf.split().freeze(); server.handle_input_bytes(Instant::now(), b); }
                },
                Some((sub, frame)) = deliver_rx.recv() => {
                    let id = {
                        let mut s = self.state.lock().unwrap();
                        s.next_message += 1;
                        format!("m-{}", s.next_message)
                    };
                    let _ = server.message(Instant::now(), &sub, id, &frame);
                }
                () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    server.handle_timeout(Instant::now());
                }
            }
        }
    }
}
