//! STOMP over WebSocket with the `websocket` helpers, against a real WebSocket client
//! (tokio-tungstenite) over loopback (127.0.0.1, port 0). The tiny server in each test uses
//! only the crate's helpers for the subprotocol and the payloads. Every wait is bounded.
#![cfg(feature = "std")]
// The handshake callback's error type is tungstenite's HTTP refusal.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use stomp_codec::websocket::{choose_subprotocol, fits_text_message, MessageDecoder, Subprotocol};
use stomp_codec::{
    Accept, Command, DecodeError, Decoder, Encoder, Frame, Item, ServerConfig, ServerConnection,
    ServerEvent, Version, VersionSet,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const STEP: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

type Ws = WebSocketStream<TcpStream>;

/// The server side of the handshake: the helper chooses, the response follows its answer.
fn answer(
    request: &Request,
    mut response: Response,
    supported: VersionSet,
    chosen: &Mutex<Option<Subprotocol>>,
) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .map(HeaderValue::as_bytes);
    let choice = choose_subprotocol(offered, supported);
    *chosen.lock().unwrap() = Some(choice);
    match choice.name() {
        Some(name) => {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static(name));
            Ok(response)
        }
        None if choice == Subprotocol::NotOffered => Ok(response),
        None => {
            let mut refusal = ErrorResponse::new(Some("no STOMP subprotocol".into()));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            Err(refusal)
        }
    }
}

/// A listener and a client connected to it: (server socket, client socket, client's result).
async fn connect(
    offer: Option<&str>,
    supported: VersionSet,
) -> (
    Result<Ws, WsError>,
    Result<(Ws, Option<String>), WsError>,
    Option<Subprotocol>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chosen = Arc::new(Mutex::new(None));
    let server_chosen = chosen.clone();
    let server = async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
            answer(req, resp, supported, &server_chosen)
        })
        .await
    };
    let client = async move {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(offer) = offer {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", offer.parse().unwrap());
        }
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (ws, response) = tokio_tungstenite::client_async(request, tcp).await?;
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_string());
        Ok((ws, protocol))
    };
    let (server, client) = bounded("handshake", async { tokio::join!(server, client) }).await;
    let chosen = *chosen.lock().unwrap();
    (server, client, chosen)
}

#[tokio::test]
async fn the_clients_most_preferred_supported_subprotocol_is_answered_w1() {
    // Client order wins (RFC 6455 4.1), whatever the version numbers.
    let (server, client, chosen) = connect(Some("v10.stomp, v12.stomp"), VersionSet::ALL).await;
    assert!(server.is_ok());
    assert_eq!(chosen, Some(Subprotocol::Chosen(Version::V1_0)));
    assert_eq!(client.unwrap().1.as_deref(), Some("v10.stomp"));

    // stompjs' offer, newest first, to a server without 1.2: the best it has.
    let no_12: VersionSet = [Version::V1_0, Version::V1_1].into_iter().collect();
    let (_, client, chosen) = connect(Some("v12.stomp, v11.stomp, v10.stomp"), no_12).await;
    assert_eq!(chosen, Some(Subprotocol::Chosen(Version::V1_1)));
    assert_eq!(client.unwrap().1.as_deref(), Some("v11.stomp"));
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_is_served_without_one_w1() {
    let (server, client, chosen) = connect(None, VersionSet::ALL).await;
    assert_eq!(chosen, Some(Subprotocol::NotOffered));
    let (mut ws, protocol) = client.unwrap();
    assert_eq!(protocol, None);
    // And STOMP flows over it (W-2: the version is CONNECT's business).
    let mut server = server.unwrap();
    bounded("send", ws.send(Message::text("SEND\ndestination:/a\n\n\0")))
        .await
        .unwrap();
    let mut decoder = MessageDecoder::new(Decoder::new(Version::V1_2));
    let message = bounded("recv", server.next()).await.unwrap().unwrap();
    let items: Vec<Item> = decoder
        .feed_bytes(message.into_data())
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(matches!(&items[..], [Item::Frame(f)] if f.command() == &Command::Send));
}

#[tokio::test]
async fn a_client_offering_only_foreign_subprotocols_is_refused_w1() {
    let (server, client, chosen) = connect(Some("mqtt, v13.stomp"), VersionSet::ALL).await;
    assert_eq!(chosen, Some(Subprotocol::Unsupported));
    assert!(server.is_err());
    match client {
        Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::BAD_REQUEST),
        other => panic!("expected an HTTP refusal, got {:?}", other.map(|_| ())),
    }
}

/// Decodes every message with one `MessageDecoder`, logs what each completed (or the
/// error), and echoes each frame's body back as a MESSAGE (text or binary, by
/// `fits_text_message`) and each heart-beat as a `"\n"` text message. On a decode error it
/// closes with 1007 (W-8).
async fn echo_server(mut ws: Ws, log: mpsc::UnboundedSender<Result<Vec<Item>, DecodeError>>) {
    let mut decoder = MessageDecoder::new(Decoder::new(Version::V1_2));
    let encoder = Encoder::new(Version::V1_2);
    while let Some(Ok(message)) = ws.next().await {
        let payload: Bytes = match message {
            Message::Text(text) => text.into(),
            Message::Binary(bytes) => bytes,
            Message::Close(_) => break,
            _ => continue,
        };
        let items: Result<Vec<Item>, DecodeError> = decoder.feed_bytes(payload).collect();
        let Ok(items) = items else {
            let _ = log.send(items);
            let close = CloseFrame {
                code: CloseCode::Invalid, // 1007, as RabbitMQ on a framing error
                reason: "malformed STOMP frame".into(),
            };
            let _ = ws.close(Some(close)).await;
            break;
        };
        for item in &items {
            let mut wire = bytes::BytesMut::new();
            match item {
                Item::Heartbeat => wire.extend_from_slice(b"\n"),
                Item::Frame(frame) => {
                    let echo = Frame::builder(Command::Message)
                        .header(
                            "destination",
                            frame.headers().get("destination").unwrap_or(&b"?"[..]),
                        )
                        .header("message-id", "1")
                        .header("subscription", "0")
                        .body(frame.body_bytes())
                        .build();
                    encoder.encode(&echo, &mut wire).unwrap();
                }
            }
            let wire = wire.freeze();
            let reply = if fits_text_message(&wire) {
                Message::Text(wire.try_into().unwrap())
            } else {
                Message::Binary(wire)
            };
            if ws.send(reply).await.is_err() {
                return;
            }
        }
        let _ = log.send(Ok(items));
    }
}

fn send(destination: &str, body: &[u8]) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", destination)
        .body(Bytes::copy_from_slice(body))
        .build()
}

/// The frame as decoded from the wire: the encoder's `content-length` included.
fn counted(destination: &str, body: &[u8]) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", destination)
        .header("content-length", body.len().to_string())
        .body(Bytes::copy_from_slice(body))
        .build()
}

#[tokio::test]
async fn frames_split_joined_and_bare_heartbeats_across_messages_w3_w4() {
    let (server, client, _) = connect(Some("v12.stomp"), VersionSet::ALL).await;
    let (mut ws, _) = client.unwrap();
    let (log_tx, mut log) = mpsc::unbounded_channel();
    let server = tokio::spawn(echo_server(server.unwrap(), log_tx));

    // Each entry: one WebSocket message, and the items it must complete (written from W-3:
    // a message may hold one frame, several, part of one, or bare EOLs).
    let text = |s: &'static str| Message::text(s);
    let binary = |b: &'static [u8]| Message::binary(Bytes::from_static(b));
    let script: Vec<(Message, Vec<Item>)> = vec![
        // One whole frame, as stompjs sends it.
        (
            text("SEND\ndestination:/a\n\none\0"),
            vec![Item::Frame(send("/a", b"one"))],
        ),
        // A bare heart-beat EOL as its own message (stompjs).
        (text("\n"), vec![Item::Heartbeat]),
        // Two frames and a CRLF heart-beat in one message (RabbitMQ, Spring accept this).
        (
            text("SEND\ndestination:/b\n\ntwo\0\r\nSEND\ndestination:/c\n\nthree\0"),
            vec![
                Item::Frame(send("/b", b"two")),
                Item::Heartbeat,
                Item::Frame(send("/c", b"three")),
            ],
        ),
        // One frame over three messages, text then binary (W-4: both kinds are accepted); its
        // body is not UTF-8, so it is counted.
        (text("SEND\ndesti"), vec![]),
        (binary(b"nation:/d\ncontent-length:3\n\n\xff"), vec![]),
        (
            binary(b"\x00\x01\0\n"),
            vec![Item::Frame(counted("/d", b"\xff\x00\x01")), Item::Heartbeat],
        ),
        // A split right after the command's LF and inside the CRLF of a header line.
        (text("SEND\r\n"), vec![]),
        (text("destination:/e\r"), vec![]),
        (text("\n\r\nfive\0"), vec![Item::Frame(send("/e", b"five"))]),
    ];

    let mut echoes = 0;
    for (message, expected) in script {
        let kind_was_text = message.is_text();
        bounded("send", ws.send(message)).await.unwrap();
        let got = bounded("log", log.recv()).await.unwrap().unwrap();
        assert_eq!(got, expected, "message (text: {kind_was_text})");
        echoes += expected.len();
    }

    // The replies: one message per item, in order; text unless the bytes are not UTF-8 (W-4).
    let mut replies = Vec::new();
    for _ in 0..echoes {
        replies.push(bounded("reply", ws.next()).await.unwrap().unwrap());
    }
    let mut decoder = MessageDecoder::new(Decoder::new(Version::V1_2));
    let mut bodies = Vec::new();
    for reply in replies {
        let is_text = reply.is_text();
        let items: Vec<Item> = decoder
            .feed_bytes(reply.into_data())
            .collect::<Result<_, _>>()
            .unwrap();
        match &items[..] {
            [Item::Heartbeat] => {
                assert!(is_text);
                bodies.push(None)
            }
            [Item::Frame(frame)] => {
                assert_eq!(frame.command(), &Command::Message);
                assert_eq!(is_text, std::str::from_utf8(frame.body()).is_ok());
                bodies.push(Some(frame.body_bytes()));
            }
            other => panic!("one item per reply, got {other:?}"),
        }
    }
    let expected_bodies: Vec<Option<Bytes>> = [
        Some(&b"one"[..]),
        None,
        Some(b"two"),
        None,
        Some(b"three"),
        Some(b"\xff\x00\x01"),
        None,
        Some(b"five"),
    ]
    .into_iter()
    .map(|b| b.map(Bytes::from_static))
    .collect();
    assert_eq!(bodies, expected_bodies);
    assert!(!decoder.is_mid_frame());

    bounded("close", ws.close(None)).await.unwrap();
    bounded("server", server).await.unwrap();
}

#[tokio::test]
async fn a_malformed_frame_is_an_error_at_its_stream_offset_across_messages_w8() {
    let (server, client, _) = connect(Some("v12.stomp"), VersionSet::ALL).await;
    let (mut ws, _) = client.unwrap();
    let (log_tx, mut log) = mpsc::unbounded_channel();
    let server = tokio::spawn(echo_server(server.unwrap(), log_tx));

    let first = "SEND\ndestination:/a\n\nx\0";
    bounded("send", ws.send(Message::text(first)))
        .await
        .unwrap();
    assert_eq!(bounded("log", log.recv()).await.unwrap().unwrap().len(), 1);
    // D-1: a lowercase command. The offset counts every byte of earlier messages: the decoder
    // is never reset between messages (W-3).
    bounded("send", ws.send(Message::text("send\n\n\0")))
        .await
        .unwrap();
    match bounded("log", log.recv()).await.unwrap() {
        Err(DecodeError::UnknownCommand { offset, .. }) => {
            assert_eq!(offset, first.len() as u64)
        }
        other => panic!("expected UnknownCommand, got {other:?}"),
    }
    // The server closes with 1007 (W-8); the client sees the echo of the first frame, then
    // the close.
    let mut close_code = None;
    for _ in 0..4 {
        match bounded("close", ws.next()).await {
            Some(Ok(Message::Close(frame))) => {
                close_code = frame.map(|f| f.code);
                break;
            }
            Some(Ok(_)) => continue,
            _ => break,
        }
    }
    assert_eq!(close_code, Some(CloseCode::Invalid));
    bounded("server", server).await.unwrap();
}

#[tokio::test]
async fn a_server_connection_takes_each_message_as_input_w3() {
    // The connection is its own decoder: each message's payload is one handle_input call.
    let (server, client, chosen) = connect(Some("v12.stomp, v11.stomp"), VersionSet::ALL).await;
    assert_eq!(chosen.and_then(Subprotocol::version), Some(Version::V1_2));
    let (mut ws, _) = client.unwrap();
    let mut server_ws = server.unwrap();
    let server = tokio::spawn(async move {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut connect_in = 0;
        while let Some(Ok(message)) = server_ws.next().await {
            let payload: Bytes = match message {
                Message::Text(text) => text.into(),
                Message::Binary(bytes) => bytes,
                _ => break,
            };
            connect_in += 1;
            conn.handle_input(Instant::now(), &payload);
            if let Some(ServerEvent::Connect(request)) = conn.poll_event() {
                assert_eq!(request.version, Version::V1_2);
                conn.accept(Instant::now(), Accept::new()).unwrap();
                while let Some(bytes) = conn.poll_transmit() {
                    assert!(fits_text_message(&bytes));
                    let text = bytes.try_into().unwrap();
                    server_ws.send(Message::Text(text)).await.unwrap();
                }
                break;
            }
        }
        connect_in
    });
    // CONNECT in two messages, cut inside a header.
    let connect = "CONNECT\naccept-version:1.1,1.2\nhost:/\nheart-beat:0,0\n\n\0";
    let (a, b) = connect.split_at(20);
    bounded("send", ws.send(Message::text(a))).await.unwrap();
    bounded("send", ws.send(Message::text(b))).await.unwrap();
    let reply = bounded("connected", ws.next()).await.unwrap().unwrap();
    assert!(reply.is_text());
    let mut decoder = MessageDecoder::new(Decoder::new(Version::V1_2));
    let items: Vec<Item> = decoder
        .feed_bytes(reply.into_data())
        .collect::<Result<_, _>>()
        .unwrap();
    let [Item::Frame(connected)] = &items[..] else {
        panic!("expected CONNECTED, got {items:?}")
    };
    assert_eq!(connected.command(), &Command::Connected);
    assert_eq!(connected.headers().get("version"), Some(&b"1.2"[..]));
    assert_eq!(bounded("server", server).await.unwrap(), 2);
}
