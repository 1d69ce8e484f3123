//! Feature `tokio-codec`: `StompCodec` in `tokio_util::codec::Framed` over real loopback TCP
//! sockets (127.0.0.1, port 0). Every wait is bounded by a timeout.
#![cfg(feature = "tokio-codec")]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use stomp_codec::{
    CodecError, Command, DecodeError, EncodeError, Frame, Item, LimitKind, Limits, StompCodec,
    Version,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, FramedRead};

/// Bound on any single test step.
const STEP: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A connected pair of loopback sockets: (client side, server side).
async fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = bounded("connect", async {
        tokio::join!(TcpStream::connect(addr), listener.accept())
    })
    .await;
    let client = client.unwrap();
    client.set_nodelay(true).unwrap();
    (client, accepted.unwrap().0)
}

fn send_frame(destination: &str, body: &'static [u8]) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", destination)
        .body(Bytes::from_static(body))
        .build()
}

/// What the peer decodes: the encoder appends `content-length` to a non-empty body (H-2, H-3).
fn with_content_length(mut frame: Frame) -> Frame {
    let len = frame.body().len();
    if len > 0 {
        frame.headers_mut().push("content-length", len.to_string());
    }
    frame
}

/// The next item, or `None` at the end of the stream.
async fn next<S>(stream: &mut S) -> Option<Result<Item, CodecError>>
where
    S: futures_util::Stream<Item = Result<Item, CodecError>> + Unpin,
{
    bounded("next item", stream.next()).await
}

#[tokio::test]
async fn frames_and_heartbeats_cross_a_tcp_socket_both_ways() {
    let (a, b) = socket_pair().await;
    let mut client = Framed::new(a, StompCodec::new(Version::V1_2));
    let mut server = Framed::new(b, StompCodec::new(Version::V1_2));

    let first = send_frame("/queue/a", b"hello");
    // H-2: a body holding NUL goes with content-length (added by the encoder).
    let second = send_frame("/queue/b", b"bin\0ary");
    bounded("send", client.send(first.clone().into()))
        .await
        .unwrap();
    bounded("send", client.send(Item::Heartbeat)).await.unwrap();
    bounded("send", client.send(second.clone().into()))
        .await
        .unwrap();

    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Item::Frame(with_content_length(first))
    );
    assert_eq!(next(&mut server).await.unwrap().unwrap(), Item::Heartbeat);
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Item::Frame(with_content_length(second))
    );

    // And back.
    let receipt = Frame::builder(Command::Receipt)
        .header("receipt-id", "77")
        .build();
    bounded("send", server.send(Item::Frame(receipt.clone())))
        .await
        .unwrap();
    assert_eq!(
        next(&mut client).await.unwrap().unwrap(),
        Item::Frame(receipt)
    );

    // A clean close between frames ends the stream without an error.
    drop(client);
    assert!(next(&mut server).await.is_none());
}

/// The wire bytes of a small session, written by hand from the grammar (F-1..F-10), and what
/// the decoder must yield for them.
fn session() -> (Vec<u8>, Vec<Item>) {
    let mut wire = Vec::new();
    wire.extend_from_slice(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
    wire.extend_from_slice(b"\n"); // F-10 / D-13: an EOL after a NUL is a heart-beat
    wire.extend_from_slice(b"\r\n"); // a CRLF heart-beat (D-3, D-13)
    wire.extend_from_slice(b"SEND\r\ndestination:/queue/a\r\ncontent-length:3\r\n\r\na\0b\0");
    wire.extend_from_slice(b"SEND\ndestination:/queue/\\c\\\\\ncolor:red\ncolor:blue\n\nhi\0");
    let connect = Frame::builder(Command::Connect)
        .header("accept-version", "1.2")
        .header("host", "/")
        .build();
    let counted = Frame::builder(Command::Send)
        .header("destination", "/queue/a")
        .header("content-length", "3")
        .body(&b"a\0b"[..])
        .build();
    // E-3: `\c` is a colon and `\\` a backslash; H-6: repeats kept in order.
    let escaped = Frame::builder(Command::Send)
        .header("destination", "/queue/:\\")
        .header("color", "red")
        .header("color", "blue")
        .body(&b"hi"[..])
        .build();
    let items = vec![
        Item::Frame(connect),
        Item::Heartbeat,
        Item::Heartbeat,
        Item::Frame(counted),
        Item::Frame(escaped),
    ];
    (wire, items)
}

#[tokio::test]
async fn a_peer_writing_one_byte_at_a_time_gives_the_same_items() {
    let (wire, expected) = session();
    let (mut raw, b) = socket_pair().await;
    let writer = tokio::spawn(async move {
        for byte in wire {
            raw.write_all(&[byte]).await.unwrap();
            raw.flush().await.unwrap();
            // Let the reader run, so that reads see the stream in small pieces.
            tokio::task::yield_now().await;
        }
        raw.shutdown().await.unwrap();
    });
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = CountReads {
        inner: b,
        reads: reads.clone(),
    };
    let mut server = FramedRead::new(counted, StompCodec::new(Version::V1_2));
    let mut items = Vec::new();
    while let Some(item) = next(&mut server).await {
        items.push(item.unwrap());
        assert!(items.len() <= expected.len(), "too many items: {items:?}");
    }
    assert_eq!(items, expected);
    bounded("writer", writer).await.unwrap();
    // The frames really arrived in pieces: many more reads than items.
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 2 * expected.len(), "only {reads} reads");
}

/// Counts the reads that returned data.
struct CountReads {
    inner: TcpStream,
    reads: Arc<AtomicUsize>,
}

impl AsyncRead for CountReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

#[tokio::test]
async fn nothing_is_yielded_before_the_last_byte_of_a_frame_arrives() {
    let (mut raw, b) = socket_pair().await;
    let mut server = FramedRead::new(b, StompCodec::new(Version::V1_2));
    let wire: &[u8] = b"SEND\ndestination:/q\ncontent-length:4\n\nab\0c\0";
    let quiet = Duration::from_millis(100);
    // Everything but the NUL of a counted body (whose NUL-looking octet is data, H-1): no item.
    raw.write_all(&wire[..wire.len() - 1]).await.unwrap();
    assert!(
        tokio::time::timeout(quiet, server.next()).await.is_err(),
        "an incomplete frame must not be yielded"
    );
    raw.write_all(&wire[wire.len() - 1..]).await.unwrap();
    let Item::Frame(frame) = next(&mut server).await.unwrap().unwrap() else {
        panic!("expected a frame")
    };
    assert_eq!(frame.body(), &b"ab\0c"[..]);
}

#[tokio::test]
async fn a_decode_error_is_reported_with_its_offset_and_stays() {
    let (mut raw, b) = socket_pair().await;
    let good = b"SEND\ndestination:/q\n\n\0";
    let mut wire = good.to_vec();
    // D-1: a lowercase command is unknown; its offset is where it starts.
    wire.extend_from_slice(b"send\ndestination:/q\n\n\0SEND\n\n\0");
    raw.write_all(&wire).await.unwrap();
    let mut server = FramedRead::new(b, StompCodec::new(Version::V1_2));
    assert!(matches!(next(&mut server).await, Some(Ok(Item::Frame(_)))));
    match next(&mut server).await {
        Some(Err(CodecError::Decode(DecodeError::UnknownCommand { offset, .. }))) => {
            assert_eq!(offset, good.len() as u64)
        }
        other => panic!("expected UnknownCommand, got {other:?}"),
    }
    assert_eq!(server.decoder().decoder().offset(), good.len() as u64);
    // Sticky: the valid frame after the bad one is never yielded.
    drop(raw);
    for _ in 0..3 {
        match next(&mut server).await {
            None | Some(Err(CodecError::Decode(DecodeError::UnknownCommand { .. }))) => {}
            other => panic!("a frame after a fatal error: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_declared_body_over_the_limit_fails_before_the_body_is_sent_d12() {
    let (mut raw, b) = socket_pair().await;
    let limits = Limits::default().max_body(16);
    let mut server = FramedRead::new(b, StompCodec::with_limits(Version::V1_2, limits));
    assert_eq!(server.decoder().decoder().limits().max_body, 16);
    // Only the headers: the body never comes, yet the frame is refused (D-12, H-1).
    let head = b"SEND\ndestination:/q\ncontent-length:17\n\n";
    raw.write_all(head).await.unwrap();
    match next(&mut server).await {
        Some(Err(CodecError::Decode(DecodeError::LimitExceeded {
            limit: LimitKind::Body,
            max: 16,
            offset,
        }))) => assert_eq!(offset, "SEND\ndestination:/q\n".len() as u64),
        other => panic!("expected a body limit error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_that_ends_inside_a_frame_is_truncated() {
    let (mut raw, b) = socket_pair().await;
    let whole = b"SEND\ndestination:/q\n\nx\0";
    raw.write_all(whole).await.unwrap();
    raw.write_all(b"SEND\ndesti").await.unwrap();
    raw.shutdown().await.unwrap();
    let mut server = FramedRead::new(b, StompCodec::new(Version::V1_2));
    assert!(matches!(next(&mut server).await, Some(Ok(Item::Frame(_)))));
    match next(&mut server).await {
        Some(Err(CodecError::Truncated { offset, buffered })) => {
            assert_eq!(offset, whole.len() as u64);
            assert_eq!(buffered, "SEND\ndesti".len());
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let io: std::io::Error = CodecError::Truncated {
        offset: 0,
        buffered: 1,
    }
    .into();
    assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn an_unrepresentable_frame_is_refused_and_nothing_is_written_e9() {
    let (a, mut raw) = socket_pair().await;
    let mut client = Framed::new(a, StompCodec::new(Version::V1_0));
    // E-1/E-9: 1.0 has no escaping, so a header value cannot hold a line feed.
    let bad = Frame::builder(Command::Send)
        .header("destination", "/q")
        .header("note", "two\nlines")
        .build();
    match bounded("send", client.send(bad.into())).await {
        Err(CodecError::Encode(EncodeError::Unrepresentable { .. })) => {}
        other => panic!("expected an encode error, got {other:?}"),
    }
    let good = Frame::builder(Command::Send)
        .header("destination", "/q")
        .build();
    bounded("send", client.send(good.into())).await.unwrap();
    drop(client);
    let mut received = Vec::new();
    bounded("read", raw.read_to_end(&mut received))
        .await
        .unwrap();
    assert_eq!(received, b"SEND\ndestination:/q\n\n\0");
}

#[tokio::test]
async fn set_version_switches_escaping_after_connect_e8() {
    // A server starts with 1.0 rules (nothing negotiated yet, D-14) and switches once
    // CONNECTED fixed 1.2.
    let (a, b) = socket_pair().await;
    let mut client = Framed::new(a, StompCodec::new(Version::V1_2));
    let mut server = Framed::new(b, StompCodec::new(Version::V1_0));
    let connect = Frame::builder(Command::Connect)
        .header("accept-version", "1.2")
        .build();
    // E-3: the 1.2 encoder writes CR in a value as `\r`.
    let send = Frame::builder(Command::Send)
        .header("destination", "/q")
        .header("x", "a\rb")
        .build();
    bounded("send", client.send(connect.clone().into()))
        .await
        .unwrap();
    bounded("send", client.send(send.clone().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Item::Frame(connect)
    );
    server.codec_mut().set_version(Version::V1_2);
    assert_eq!(server.codec().version(), Version::V1_2);
    // Decoded with 1.2 rules, `\r` is a CR again.
    assert_eq!(next(&mut server).await.unwrap().unwrap(), Item::Frame(send));
    // The server's encoder now escapes for 1.2 as well.
    let message = Frame::builder(Command::Message).header("k", "c:d").build();
    bounded("send", server.send(message.clone().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut client).await.unwrap().unwrap(),
        Item::Frame(message)
    );
}

#[tokio::test]
async fn from_decoder_keeps_the_decoder_options_d1() {
    let (mut raw, b) = socket_pair().await;
    let decoder = stomp_codec::Decoder::new(Version::V1_2).allow_extension_commands(true);
    let mut server = FramedRead::new(b, StompCodec::from_decoder(decoder));
    raw.write_all(b"PING\n\n\0").await.unwrap();
    let Item::Frame(frame) = next(&mut server).await.unwrap().unwrap() else {
        panic!("expected a frame")
    };
    assert_eq!(frame.command(), &Command::extension("PING").unwrap());
}

/// The ordinary `SinkExt` calls infer the item type with no annotation: one `Encoder` impl.
/// (With one impl each for `Frame`, `&Frame` and `Item`, `flush()` and `close()`, which take
/// no item, failed to compile with E0283.) What the peer decodes: the frames in order with the
/// `content-length` the encoder adds (H-2), the heart-beat EOL between them (B-4, D-13), and
/// the end of the stream after `close()`.
#[tokio::test]
async fn send_feed_flush_and_close_infer_their_item_over_a_duplex_pipe_b4() {
    let (a, b) = tokio::io::duplex(64);
    let mut framed = Framed::new(a, StompCodec::new(Version::V1_2));
    let mut peer = FramedRead::new(b, StompCodec::new(Version::V1_2));
    let frame = send_frame("/queue/a", b"first");
    let later = send_frame("/queue/b", b"second");
    let reader = tokio::spawn(async move {
        let mut items = Vec::new();
        while let Some(item) = next(&mut peer).await {
            items.push(item.unwrap());
        }
        items
    });

    bounded("send", framed.send(frame.clone().into()))
        .await
        .unwrap();
    bounded("feed", framed.feed(Item::Heartbeat)).await.unwrap();
    bounded("feed", framed.feed(later.clone().into()))
        .await
        .unwrap();
    bounded("flush", framed.flush()).await.unwrap();
    bounded("close", framed.close()).await.unwrap();

    let items = bounded("reader", reader).await.unwrap();
    assert_eq!(
        items,
        [
            Item::Frame(with_content_length(frame)),
            Item::Heartbeat,
            Item::Frame(with_content_length(later)),
        ]
    );
}
