//! Helpers for the connection tests: a virtual clock, raw-byte drivers for one role, and a
//! client and a server wired back to back in memory with configurable chunking.
//!
//! Nothing here sleeps: time is an `Instant` that the tests move by hand or jump to the
//! earliest `poll_timeout`. Every loop is bounded and panics instead of hanging.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use stomp_codec::{
    Accept, ClientConfig, ClientConnection, ClientEvent, Command, Connection, ConnectionError,
    Decoder, Frame, Item, Role, ServerConfig, ServerConnection, ServerEvent, Timestamp, Version,
};

/// Upper bound on any driving loop; a livelock fails the test instead of hanging it.
pub const MAX_STEPS: usize = 10_000;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Decodes bytes written by a connection into frames (heart-beat EOLs dropped).
pub fn frames(bytes: &[u8], version: Version) -> Vec<Frame> {
    let mut dec = Decoder::new(version);
    dec.push(bytes);
    let mut out = Vec::new();
    while let Some(item) = dec
        .next_item()
        .expect("connection wrote an undecodable stream")
    {
        if let Item::Frame(f) = item {
            out.push(f);
        }
    }
    assert_eq!(dec.buffered(), 0, "connection wrote a partial frame");
    out
}

/// One frame from raw wire text, for feeding a connection.
pub fn wire(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Everything a client has queued for the wire.
pub fn drain_client(c: &mut ClientConnection) -> BytesMut {
    let mut out = BytesMut::new();
    for _ in 0..MAX_STEPS {
        match c.poll_transmit() {
            Some(b) => out.extend_from_slice(&b),
            None => return out,
        }
    }
    panic!("poll_transmit never ran dry");
}

/// Everything a server has queued for the wire.
pub fn drain_server(s: &mut ServerConnection) -> BytesMut {
    let mut out = BytesMut::new();
    for _ in 0..MAX_STEPS {
        match s.poll_transmit() {
            Some(b) => out.extend_from_slice(&b),
            None => return out,
        }
    }
    panic!("poll_transmit never ran dry");
}

pub fn client_events(c: &mut ClientConnection) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event())
        .take(MAX_STEPS)
        .collect()
}

pub fn server_events(s: &mut ServerConnection) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event())
        .take(MAX_STEPS)
        .collect()
}

/// A client that has sent CONNECT (drained) and received `connected` (raw CONNECTED text).
pub fn client_connected(config: ClientConfig, now: Instant, connected: &str) -> ClientConnection {
    let mut c = ClientConnection::new(config);
    c.connect(now).unwrap();
    drain_client(&mut c);
    c.handle_input(now, connected.as_bytes());
    let events = client_events(&mut c);
    assert!(
        matches!(events.as_slice(), [ClientEvent::Connected { .. }]),
        "{events:?}"
    );
    c
}

/// A server that received `connect` (raw text), accepted it, and whose output was drained.
pub fn server_connected(config: ServerConfig, now: Instant, connect: &str) -> ServerConnection {
    let mut s = ServerConnection::new(config);
    s.handle_input(now, connect.as_bytes());
    let events = server_events(&mut s);
    assert!(
        matches!(events.as_slice(), [ServerEvent::Connect(_)]),
        "{events:?}"
    );
    s.accept(now, Accept::new()).unwrap();
    drain_server(&mut s);
    s
}

/// Cuts `bytes` into pieces whose sizes cycle through `plan` (0 and empty plans mean whole).
pub fn chunks<'a>(bytes: &'a [u8], plan: &'a [usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let size = plan
            .get(i % plan.len().max(1))
            .copied()
            .unwrap_or(rest.len());
        let size = size.clamp(1, rest.len());
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

/// A client and a server back to back, with a virtual clock and chunked delivery.
pub struct Pair {
    pub client: ClientConnection,
    pub server: ServerConnection,
    pub now: Instant,
    /// Chunk sizes for client → server bytes.
    pub up_plan: Vec<usize>,
    /// Chunk sizes for server → client bytes.
    pub down_plan: Vec<usize>,
    /// Events collected by `pump` (the server's and the client's, in arrival order).
    pub client_log: Vec<ClientEvent>,
    pub server_log: Vec<ServerEvent>,
    /// Bytes each side has written so far.
    pub up_bytes: usize,
    pub down_bytes: usize,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Pair {
        Pair {
            client: ClientConnection::new(client),
            server: ServerConnection::new(server),
            now: Instant::now(),
            up_plan: Vec::new(),
            down_plan: Vec::new(),
            client_log: Vec::new(),
            server_log: Vec::new(),
            up_bytes: 0,
            down_bytes: 0,
        }
    }

    /// Connects: CONNECT, the server application accepts, CONNECTED. Both logs are cleared.
    pub fn connect(client: ClientConfig, server: ServerConfig) -> Pair {
        let mut p = Pair::new(client, server);
        p.handshake();
        p
    }

    /// CONNECT, accept, CONNECTED with the current chunking plans; clears both logs.
    pub fn handshake(&mut self) {
        self.client.connect(self.now).unwrap();
        self.pump();
        match self.server_log.as_slice() {
            [ServerEvent::Connect(_)] => {}
            other => panic!("expected CONNECT, got {other:?}"),
        }
        self.server.accept(self.now, Accept::new()).unwrap();
        self.pump();
        match self.client_log.as_slice() {
            [ClientEvent::Connected { .. }] => {}
            other => panic!("expected CONNECTED, got {other:?}"),
        }
        self.client_log.clear();
        self.server_log.clear();
    }

    /// Moves bytes both ways (chunked per the plans) and collects events until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..MAX_STEPS {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit() {
                moved = true;
                self.up_bytes += bytes.len();
                for chunk in chunks(&bytes, &self.up_plan) {
                    self.server.handle_input(self.now, chunk);
                }
            }
            while let Some(bytes) = self.server.poll_transmit() {
                moved = true;
                self.down_bytes += bytes.len();
                for chunk in chunks(&bytes, &self.down_plan) {
                    self.client.handle_input(self.now, chunk);
                }
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                self.server_log.push(e);
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_log.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("pump did not settle");
    }

    /// The earliest deadline of either side.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jumps the clock from deadline to deadline up to `until`, running timers and pumping.
    /// Returns how many timer steps were taken.
    pub fn run_until(&mut self, until: Instant) -> usize {
        for step in 0..MAX_STEPS {
            match self.next_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.pump();
                }
                _ => {
                    self.now = self.now.max(until);
                    return step;
                }
            }
        }
        panic!("timers did not settle before the deadline");
    }

    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}

/// Whether a frame is of `command`.
pub fn is(frame: &Frame, command: Command) -> bool {
    frame.command() == &command
}

pub fn header<'a>(frame: &'a Frame, name: &str) -> Option<&'a [u8]> {
    frame.headers().get(name)
}

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// `handle_input` reports a peer's failure through `failure()` and the `Closed` event; the
/// tests that check the sticky failure right at the input read it back in one call.
pub trait InputResult<I> {
    /// `handle_input`, then the connection's failure, if any.
    fn input(&mut self, now: I, bytes: &[u8]) -> Result<(), ConnectionError>;
    /// `handle_input_bytes`, then the connection's failure, if any.
    fn input_bytes(&mut self, now: I, bytes: Bytes) -> Result<(), ConnectionError>;
}

impl<R: Role, I: Timestamp> InputResult<I> for Connection<R, I> {
    fn input(&mut self, now: I, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.handle_input(now, bytes);
        self.failure().cloned().map_or(Ok(()), Err)
    }

    fn input_bytes(&mut self, now: I, bytes: Bytes) -> Result<(), ConnectionError> {
        self.handle_input_bytes(now, bytes);
        self.failure().cloned().map_or(Ok(()), Err)
    }
}
