use bytes::{Bytes, BytesMut};
use std::time::Duration;
use stomp_codec::*;
type Client = ClientConnection<Duration>;
type Server = ServerConnection<Duration>;
const BODY: &[u8] = b"{\"user\":\"u42\",\"room\":5,\"text\":\"hello there, how is it going\"}";
const NOW: Duration = Duration::from_secs(1);
fn pump(c: &mut Client, s: &mut Server) {
    while let Some(b) = c.poll_transmit() {
        s.handle_input_bytes(NOW, b);
    }
    while let Some(b) = s.poll_transmit() {
        c.handle_input_bytes(NOW, b);
    }
}
fn pair() -> (Client, Server) {
    let mut c = Client::with_timestamp_type(ClientConfig::new("/").heartbeat(Heartbeat::NONE));
    let mut s = Server::with_timestamp_type(ServerConfig::default().heartbeat(Heartbeat::NONE));
    c.connect(NOW).unwrap();
    pump(&mut c, &mut s);
    while let Some(e) = s.poll_event() {
        if let ServerEvent::Connect(_) = e {
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
fn send_frame() -> Frame {
    Frame::builder(Command::Send)
        .header("destination", "/topic/room.5")
        .header("content-type", "application/json")
        .header("x-trace", "abc123")
        .body(Bytes::from_static(BODY))
        .build()
}
#[inline(never)]
fn raw(encoder: &Encoder, decoder: &mut Decoder, frame: &Frame, out: &mut BytesMut) -> usize {
    let mut n = 0;
    for _ in 0..100 {
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
#[inline(never)]
fn raw_msg(encoder: &Encoder, decoder: &mut Decoder, frame: &Frame, out: &mut BytesMut) -> usize {
    let mut n = 0;
    for _ in 0..100 {
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
#[inline(never)]
fn c2s(client: &mut Client, server: &mut Server) -> usize {
    let mut n = 0;
    for _ in 0..100 {
        client
            .send(
                NOW,
                "/topic/room.5",
                Bytes::from_static(BODY),
                FrameOptions::new()
                    .content_type("application/json")
                    .header("x-trace", "abc123"),
            )
            .unwrap();
        let b = client.poll_transmit().unwrap();
        server.handle_input_bytes(NOW, b);
        if let Some(ServerEvent::Send { frame, .. }) = server.poll_event() {
            n += frame.body().len();
        }
    }
    n
}
#[inline(never)]
fn s2c(client: &mut Client, server: &mut Server, content: &Frame) -> usize {
    let mut n = 0;
    for i in 0..100usize {
        let id = i.to_string();
        server
            .message(NOW, "sub-0", id.as_bytes(), content)
            .unwrap();
        let b = server.poll_transmit().unwrap();
        client.handle_input_bytes(NOW, b);
        if let Some(ClientEvent::Message(m)) = client.poll_event() {
            n += m.body().len();
        }
    }
    n
}
#[inline(never)]
fn id_cost() -> usize {
    let mut n = 0;
    for i in 0..100usize {
        n += i.to_string().len();
    }
    n
}
fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(200);
    let (mut c, mut s) = pair();
    let frame = send_frame();
    let enc = Encoder::new(Version::V1_2);
    let mut dec = Decoder::new(Version::V1_2);
    let mut out = BytesMut::new();
    let mut n = 0;
    s.message(NOW, "sub-0", "m-1", &frame).unwrap();
    let wire = s.poll_transmit().unwrap();
    let mut d2 = Decoder::new(Version::V1_2);
    d2.push(&wire);
    let Some(Item::Frame(msg)) = d2.next_item().unwrap() else {
        panic!()
    };
    c.handle_input_bytes(NOW, wire);
    while c.poll_event().is_some() {}
    for _ in 0..reps {
        n += raw(&enc, &mut dec, &frame, &mut out);
        n += c2s(&mut c, &mut s);
        n += raw_msg(&enc, &mut d2, &msg, &mut out);
        n += s2c(&mut c, &mut s, &frame);
        n += id_cost();
    }
    println!("{n}");
}
