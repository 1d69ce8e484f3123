//! The connection layer against the raw codec, each measured in the same run (the machine is
//! shared; absolute figures drift, ratios hold). Run with `cargo bench --bench connection`,
//! then `python3 scripts/bench-ratios.py` prints the ratios the floors are stated in:
//!
//! - `connection/send`: `client_to_server` (ClientConnection::send, the bytes handed to a
//!   ServerConnection, its `Send` event) against `raw` (encode + decode of the same SEND):
//!   floor 1.5×;
//! - `connection/message`: `server_to_client` (ServerConnection::message, bytes, the client's
//!   `Message` event) against `raw` (encode + decode of the same MESSAGE): floor 1.5×;
//! - `connection/fanout`: `deliver` (one PreparedMessage delivered to 100 subscriptions on 100
//!   connections) against `encode` (100 full encodes of that MESSAGE): floor 0.6×.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stomp_codec::{
    AckMode, ClientConfig, ClientConnection, ClientEvent, Command, Decoder, Encoder, Frame,
    FrameOptions, Heartbeat, Item, PreparedMessage, ServerConfig, ServerConnection, ServerEvent,
    Version,
};

type Client = ClientConnection<Duration>;
type Server = ServerConnection<Duration>;

const BODY: &[u8] = b"{\"user\":\"u42\",\"room\":5,\"text\":\"hello there, how is it going\"}";
const BATCH: usize = 100;
const NOW: Duration = Duration::from_secs(1);

/// A client and a server with an open 1.2 session, no heart-beats, one subscription.
fn pair() -> (Client, Server) {
    let mut c = Client::with_timestamp_type(ClientConfig::new("/").heartbeat(Heartbeat::NONE));
    let mut s = Server::with_timestamp_type(ServerConfig::default().heartbeat(Heartbeat::NONE));
    c.connect(NOW).unwrap();
    pump(&mut c, &mut s);
    while let Some(event) = s.poll_event() {
        if let ServerEvent::Connect(_) = event {
            s.accept(NOW, Default::default()).unwrap();
        }
    }
    pump(&mut c, &mut s);
    while c.poll_event().is_some() {}
    c.subscribe(
        NOW,
        "sub-0",
        "/topic/room.5",
        AckMode::Auto,
        FrameOptions::new(),
    )
    .unwrap();
    pump(&mut c, &mut s);
    while s.poll_event().is_some() {}
    (c, s)
}

fn pump(c: &mut Client, s: &mut Server) {
    while let Some(bytes) = c.poll_transmit() {
        s.handle_input_bytes(NOW, bytes);
    }
    while let Some(bytes) = s.poll_transmit() {
        c.handle_input_bytes(NOW, bytes);
    }
}

fn options() -> FrameOptions {
    FrameOptions::new()
        .content_type("application/json")
        .header("x-trace", "abc123")
}

/// The SEND the client method writes, built by hand for the raw baseline.
fn send_frame() -> Frame {
    Frame::builder(Command::Send)
        .header("destination", "/topic/room.5")
        .header("content-type", "application/json")
        .header("x-trace", "abc123")
        .body(Bytes::from_static(BODY))
        .build()
}

/// Encodes and decodes `frame` `BATCH` times, as the connections move it.
fn raw(encoder: &Encoder, decoder: &mut Decoder, frame: &Frame, out: &mut BytesMut) -> usize {
    let mut n = 0;
    for _ in 0..BATCH {
        encoder.encode(frame, out).unwrap();
        decoder.push_bytes(out.split().freeze());
        while let Some(item) = decoder.next_item().unwrap() {
            if let Item::Frame(f) = item {
                n += f.body().len();
            }
        }
    }
    n
}

fn send(c: &mut Criterion) {
    let (mut client, mut server) = pair();
    let frame = send_frame();
    let encoder = Encoder::new(Version::V1_2);
    let mut out = BytesMut::new();
    encoder.encode(&frame, &mut out).unwrap();
    let mut group = c.benchmark_group("connection/send");
    group.throughput(Throughput::Bytes((out.len() * BATCH) as u64));
    out.clear();
    let mut decoder = Decoder::new(Version::V1_2);
    group.bench_function("raw", |b| {
        b.iter(|| raw(&encoder, &mut decoder, black_box(&frame), &mut out))
    });
    group.bench_function("client_to_server", |b| {
        b.iter(|| {
            let mut n = 0;
            for _ in 0..BATCH {
                client
                    .send(NOW, "/topic/room.5", Bytes::from_static(BODY), options())
                    .unwrap();
                let bytes = client.poll_transmit().unwrap();
                server.handle_input_bytes(NOW, bytes);
                if let Some(ServerEvent::Send { frame, .. }) = server.poll_event() {
                    n += frame.body().len();
                }
            }
            n
        })
    });
    group.finish();
}

fn message(c: &mut Criterion) {
    let (mut client, mut server) = pair();
    let content = send_frame();
    // The MESSAGE the server writes, for the raw baseline.
    server.message(NOW, "sub-0", "m-1", &content).unwrap();
    let wire = server.poll_transmit().unwrap();
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(&wire);
    let Some(Item::Frame(message)) = decoder.next_item().unwrap() else {
        panic!("a MESSAGE")
    };
    client.handle_input_bytes(NOW, wire.clone());
    while client.poll_event().is_some() {}
    let encoder = Encoder::new(Version::V1_2);
    let mut out = BytesMut::new();
    let mut group = c.benchmark_group("connection/message");
    group.throughput(Throughput::Bytes((wire.len() * BATCH) as u64));
    group.bench_function("raw", |b| {
        b.iter(|| raw(&encoder, &mut decoder, black_box(&message), &mut out))
    });
    let mut id = itoa_buffer();
    group.bench_function("server_to_client", |b| {
        b.iter(|| {
            let mut n = 0;
            for i in 0..BATCH {
                let message_id = id.format(i);
                server.message(NOW, "sub-0", message_id, &content).unwrap();
                let bytes = server.poll_transmit().unwrap();
                client.handle_input_bytes(NOW, bytes);
                if let Some(ClientEvent::Message(m)) = client.poll_event() {
                    n += m.body().len();
                }
            }
            n
        })
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let connections: Vec<(Client, Server)> = (0..BATCH).map(|_| pair()).collect();
    let mut servers: Vec<Server> = connections.into_iter().map(|(_, s)| s).collect();
    let content = send_frame();
    servers[0].message(NOW, "sub-0", "m-1", &content).unwrap();
    let wire = servers[0].poll_transmit().unwrap();
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(&wire);
    let Some(Item::Frame(message)) = decoder.next_item().unwrap() else {
        panic!("a MESSAGE")
    };
    let encoder = Encoder::new(Version::V1_2);
    let mut out = BytesMut::new();
    let mut group = c.benchmark_group("connection/fanout");
    group.throughput(Throughput::Bytes((wire.len() * BATCH) as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                encoder.encode(black_box(&message), &mut out).unwrap();
            }
            out.clear();
        })
    });
    let mut sink = BytesMut::new();
    group.bench_function("deliver", |b| {
        b.iter(|| {
            let prepared = PreparedMessage::new("/topic/room.5", black_box(&content));
            for s in servers.iter_mut() {
                s.deliver(NOW, "sub-0", "m-1", &prepared).unwrap();
                s.poll_transmit_into(&mut sink);
            }
            sink.clear();
        })
    });
    group.finish();
}

/// Message ids `0`, `1`, ... without an allocation each.
struct IdBuffer([u8; 20]);

fn itoa_buffer() -> IdBuffer {
    IdBuffer([0; 20])
}

impl IdBuffer {
    fn format(&mut self, mut n: usize) -> &[u8] {
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &self.0[i..];
            }
        }
    }
}

criterion_group!(benches, send, message, fanout);
criterion_main!(benches);
