//! The transports against loopback servers written here: TCP, TLS with a CA made at test time,
//! WebSocket (subprotocols, message cutting, pings) and wss; URL parsing. Every wait is bounded.

// tungstenite's handshake callback returns its (large) ErrorResponse by value.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use stomp_codec::{Decoder, Item, Version, VersionSet};
use stomp_tokio::transport::{
    connect, Received, Transport, TransportError, TransportOptions, TransportReader,
};
use stomp_tokio::url::{Scheme, StompUrl, UrlError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The bound on every wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, step)
        .await
        .expect("a step took longer than 10 s")
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn url(text: &str) -> StompUrl {
    text.parse().unwrap()
}

/// Reads until `buf` holds `len` bytes; the connection must not end first.
async fn read_exactly(reader: &mut TransportReader, buf: &mut BytesMut, len: usize) {
    while buf.len() < len {
        match within(reader.read(buf)).await.unwrap() {
            Received::Bytes(n) => assert!(n > 0),
            Received::Activity => {}
            Received::Closed => panic!("closed after {} of {len} bytes", buf.len()),
        }
    }
    assert_eq!(buf.len(), len);
}

/// Echoes a byte stream back until its end, then shuts down.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

const FRAME: &[u8] = b"SEND\ndestination:/queue/a\ncontent-length:5\n\nhello\0";

/// Writes a frame, reads it back from an echo server, then closes and sees the end.
async fn round_trip(transport: Transport) {
    let (mut reader, mut writer) = transport.split();
    within(writer.write(FRAME)).await.unwrap();
    within(writer.flush()).await.unwrap();
    let mut buf = BytesMut::new();
    read_exactly(&mut reader, &mut buf, FRAME.len()).await;
    assert_eq!(&buf[..], FRAME);
    within(writer.close()).await.unwrap();
    assert_eq!(
        within(reader.read(&mut buf)).await.unwrap(),
        Received::Closed
    );
}

// ---------------------------------------------------------------------------------------------
// URLs

#[test]
fn urls_of_every_scheme_parse_with_their_defaults() {
    type Row = (
        &'static str,
        Scheme,
        &'static str,
        u16,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let table: &[Row] = &[
        (
            "stomp://broker",
            Scheme::Tcp,
            "broker",
            61613,
            None,
            None,
            None,
        ),
        (
            "tcp://broker:1234",
            Scheme::Tcp,
            "broker",
            1234,
            None,
            None,
            None,
        ),
        (
            "STOMP://broker/",
            Scheme::Tcp,
            "broker",
            61613,
            None,
            None,
            None,
        ),
        (
            "stomp+ssl://b.example",
            Scheme::Tls,
            "b.example",
            61614,
            None,
            None,
            None,
        ),
        ("stomp+tls://b:1", Scheme::Tls, "b", 1, None, None, None),
        (
            "ssl://10.0.0.1",
            Scheme::Tls,
            "10.0.0.1",
            61614,
            None,
            None,
            None,
        ),
        ("ws://host", Scheme::Ws, "host", 80, Some("/"), None, None),
        (
            "ws://host:15674/ws",
            Scheme::Ws,
            "host",
            15674,
            Some("/ws"),
            None,
            None,
        ),
        (
            "ws://host?x=1",
            Scheme::Ws,
            "host",
            80,
            Some("/?x=1"),
            None,
            None,
        ),
        (
            "wss://host/a/b?t=2",
            Scheme::Wss,
            "host",
            443,
            Some("/a/b?t=2"),
            None,
            None,
        ),
        ("stomp://[::1]", Scheme::Tcp, "::1", 61613, None, None, None),
        (
            "wss://[fe80::1]:8443/",
            Scheme::Wss,
            "fe80::1",
            8443,
            Some("/"),
            None,
            None,
        ),
        (
            "stomp://guest@h",
            Scheme::Tcp,
            "h",
            61613,
            None,
            Some("guest"),
            None,
        ),
        (
            "stomp://u:p@h:2",
            Scheme::Tcp,
            "h",
            2,
            None,
            Some("u"),
            Some("p"),
        ),
        (
            "ws://a%3Ab:c%40d:e@h",
            Scheme::Ws,
            "h",
            80,
            Some("/"),
            Some("a:b"),
            Some("c@d:e"),
        ),
        (
            "stomp://u:p@ss@h",
            Scheme::Tcp,
            "h",
            61613,
            None,
            Some("u"),
            Some("p@ss"),
        ),
        ("stomp://h:", Scheme::Tcp, "h", 61613, None, None, None),
        (
            "stomp://u:@h",
            Scheme::Tcp,
            "h",
            61613,
            None,
            Some("u"),
            Some(""),
        ),
    ];
    for &(input, scheme, host, port, path, login, passcode) in table {
        let parsed = StompUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.scheme(), scheme, "{input}");
        assert_eq!(parsed.host(), host, "{input}");
        assert_eq!(parsed.port(), port, "{input}");
        assert_eq!(parsed.path(), path, "{input}");
        assert_eq!(parsed.login(), login, "{input}");
        assert_eq!(parsed.passcode(), passcode, "{input}");
        // Display writes a form that parses back to the same URL.
        let shown = parsed.to_string();
        assert_eq!(
            shown.parse::<StompUrl>().unwrap(),
            parsed,
            "{input} -> {shown}"
        );
        assert_eq!(input.parse::<StompUrl>().unwrap(), parsed, "FromStr");
    }
    assert_eq!(
        url("tcp://u:p%20w@[::1]/").to_string(),
        "stomp://u:p%20w@[::1]:61613"
    );
    assert_eq!(url("ssl://h").to_string(), "stomp+ssl://h:61614");
    assert_eq!(url("ws://h?q").to_string(), "ws://h:80/?q");
    // Debug hides the passcode.
    let debug = format!("{:?}", url("stomp://guest:secret@h"));
    assert!(
        !debug.contains("secret") && debug.contains("guest"),
        "{debug}"
    );
}

#[test]
fn bad_urls_are_refused_naming_what_was_wrong() {
    let table: &[(&str, UrlError, &str)] = &[
        ("broker:61613", UrlError::MissingScheme, "scheme://"),
        ("http://h", UrlError::UnknownScheme("http".into()), "`http`"),
        (
            "x://h",
            UrlError::UnknownScheme("x".into()),
            "unknown scheme `x`",
        ),
        ("stomp://", UrlError::MissingHost, "missing host"),
        ("stomp://:61613", UrlError::MissingHost, "missing host"),
        ("stomp://u:p@", UrlError::MissingHost, "missing host"),
        (
            "stomp://h:abc",
            UrlError::BadPort("abc".into()),
            "bad port `abc`",
        ),
        (
            "stomp://h:70000",
            UrlError::BadPort("70000".into()),
            "`70000`",
        ),
        ("stomp://h:0", UrlError::BadPort("0".into()), "`0`"),
        ("stomp://h:+1", UrlError::BadPort("+1".into()), "`+1`"),
        ("stomp://::1", UrlError::BadHost("::1".into()), "brackets"),
        ("stomp://[::1", UrlError::BadHost("[::1".into()), "`[::1`"),
        (
            "stomp://[nope]:1",
            UrlError::BadHost("[nope]:1".into()),
            "`[nope]:1`",
        ),
        (
            "stomp://[::1]x",
            UrlError::BadHost("[::1]x".into()),
            "`[::1]x`",
        ),
        ("stomp://h st", UrlError::BadHost("h st".into()), "`h st`"),
        ("stomp://hé", UrlError::BadHost("hé".into()), "`hé`"),
        (
            "stomp://h/queue",
            UrlError::UnexpectedPath {
                scheme: Scheme::Tcp,
                path: "/queue".into(),
            },
            "`/queue`",
        ),
        (
            "ssl://h?x",
            UrlError::UnexpectedPath {
                scheme: Scheme::Tls,
                path: "?x".into(),
            },
            "stomp+ssl://",
        ),
        (
            "ws://h/a#frag",
            UrlError::BadPath("/a#frag".into()),
            "fragment",
        ),
        ("ws://h/a b", UrlError::BadPath("/a b".into()), "`/a b`"),
        (
            "stomp://u%zz@h",
            UrlError::BadPercentEncoding("login"),
            "login",
        ),
        (
            "stomp://u:%ff@h",
            UrlError::BadPercentEncoding("passcode"),
            "passcode",
        ),
        (
            "stomp://u:secret%4@h",
            UrlError::BadPercentEncoding("passcode"),
            "passcode",
        ),
    ];
    for (input, expected, message) in table {
        let err = StompUrl::parse(input).unwrap_err();
        assert_eq!(&err, expected, "{input}");
        let shown = err.to_string();
        assert!(
            shown.contains(message),
            "{input}: {shown:?} lacks {message:?}"
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// TCP

#[tokio::test]
async fn tcp_round_trip() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        echo(stream).await;
    });
    let transport = within(connect(
        &url(&format!("stomp://127.0.0.1:{}", addr.port())),
        &TransportOptions::default(),
    ))
    .await
    .unwrap();
    let info = transport.info();
    assert_eq!(info.scheme, Some(Scheme::Tcp));
    assert!(!info.websocket);
    assert_eq!(info.peer_addr, Some(addr));
    assert_eq!(info.subprotocol, None);
    round_trip(transport).await;
    within(server).await.unwrap();
}

#[tokio::test]
async fn an_in_memory_stream_is_a_transport() {
    let (client, server) = tokio::io::duplex(64);
    let server = tokio::spawn(echo(server));
    let transport = Transport::from_stream(client);
    assert_eq!(transport.info().scheme, None);
    assert_eq!(transport.info().peer_addr, None);
    round_trip(transport).await;
    within(server).await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error_naming_the_address() {
    let addr = bind().await.1; // bound, then closed: nothing listens there
    let err = within(connect(
        &url(&format!("stomp://127.0.0.1:{}", addr.port())),
        &TransportOptions::default(),
    ))
    .await
    .unwrap_err();
    match &err {
        TransportError::Io { context, source } => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
            assert!(context.contains(&addr.to_string()), "{context}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

/// A read raced in `select!` against a branch that wins whenever the read has to wait (so the
/// read future is dropped over and over while data comes): no byte is lost or reordered.
async fn read_while_cancelled(reader: &mut TransportReader, total: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    let mut cancelled = 0u32;
    within(async {
        while buf.len() < total {
            tokio::select! {
                biased;
                _ = tokio::task::yield_now() => cancelled += 1,
                received = reader.read(&mut buf) => match received.unwrap() {
                    Received::Closed => panic!("closed after {} bytes", buf.len()),
                    Received::Bytes(_) | Received::Activity => {}
                },
            }
        }
    })
    .await;
    assert!(
        cancelled > 0,
        "no read was ever cancelled: the test proved nothing"
    );
    buf
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test]
async fn tcp_reads_are_cancel_safe() {
    let (listener, addr) = bind().await;
    let data = pattern(200 * 1000);
    let sent = data.clone();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        for chunk in sent.chunks(1000) {
            stream.write_all(chunk).await.unwrap();
            stream.flush().await.unwrap();
        }
    });
    let transport = within(connect(
        &url(&format!("tcp://127.0.0.1:{}", addr.port())),
        &TransportOptions::default(),
    ))
    .await
    .unwrap();
    let (mut reader, _writer) = transport.split();
    let buf = read_while_cancelled(&mut reader, data.len()).await;
    assert!(buf[..] == data[..]);
    within(server).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, made now; the
/// CA's PEM is in a file of its own.
struct Pki {
    ca_file: PathBuf,
    acceptor: TlsAcceptor,
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}.pem", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn make_pki() -> Pki {
    // Each CA a name of its own: a client trusting another CA of the same name would find it
    // as the issuer and fail on the signature instead of on an unknown issuer.
    static CAS: AtomicUsize = AtomicUsize::new(0);
    let ca_name = format!(
        "stomp-tokio test CA {}",
        CAS.fetch_add(1, Ordering::Relaxed)
    );
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

    #[allow(deprecated)] // the ring provider, as in the crate (no aws-lc build)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(server_cert.der().to_vec())], key)
        .unwrap();
    Pki {
        ca_file: temp_file("ca", ca.pem().as_bytes()),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    }
}

#[tokio::test]
async fn tls_round_trip_with_a_ca_file_by_name_and_by_ip() {
    let pki = make_pki();
    let (listener, addr) = bind().await;
    let acceptor = pki.acceptor.clone();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            echo(acceptor.accept(tcp).await.unwrap()).await;
        }
    });
    let options = TransportOptions::default().ca_file(&pki.ca_file);
    for host in ["localhost", "127.0.0.1"] {
        let transport = within(connect(
            &url(&format!("stomp+ssl://{host}:{}", addr.port())),
            &options,
        ))
        .await
        .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(transport.info().scheme, Some(Scheme::Tls));
        assert_eq!(transport.info().peer_addr, Some(addr));
        round_trip(transport).await;
    }
    within(server).await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let pki = make_pki();
    let other_ca = make_pki().ca_file; // a CA that did not sign the server's certificate
    let (listener, addr) = bind().await;
    let acceptor = pki.acceptor.clone();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            assert!(acceptor.accept(tcp).await.is_err()); // the client sent an alert
        }
    });
    let target = url(&format!("stomp+ssl://localhost:{}", addr.port()));
    // The wrong CA, then the Mozilla roots.
    for options in [
        TransportOptions::default().ca_file(other_ca),
        TransportOptions::default(),
    ] {
        let err = within(connect(&target, &options)).await.unwrap_err();
        match &err {
            TransportError::Tls { server, source } => {
                assert_eq!(server, "localhost");
                let rustls_error = source.downcast_ref::<rustls::Error>();
                assert!(
                    matches!(
                        rustls_error,
                        Some(rustls::Error::InvalidCertificate(
                            rustls::CertificateError::UnknownIssuer
                        ))
                    ),
                    "{err}"
                );
            }
            other => panic!("expected Tls, got {other:?}"),
        }
        assert!(err.to_string().contains("localhost"), "{err}");
    }
    within(server).await.unwrap();
}

#[tokio::test]
async fn a_bad_ca_file_is_refused_before_connecting() {
    // Nothing listens on port 1: the CA file is checked first.
    let target = url("stomp+ssl://127.0.0.1:1");
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-ca.pem");
    let empty = temp_file("empty", b"not a certificate\n");
    for path in [missing, empty] {
        let options = TransportOptions::default().ca_file(&path);
        match within(connect(&target, &options)).await.unwrap_err() {
            TransportError::InvalidCa { path: named, .. } => assert_eq!(named, path),
            other => panic!("expected InvalidCa, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_handshake_never_answered_times_out_naming_the_stage() {
    let (listener, addr) = bind().await; // connects complete in the backlog; no accept
    let options = TransportOptions::default().connect_timeout(Duration::from_millis(300));
    for (scheme, stage) in [
        ("stomp+ssl", "TLS handshake"),
        ("ws", "WebSocket handshake"),
        ("wss", "TLS handshake"),
    ] {
        let started = tokio::time::Instant::now();
        let target = url(&format!("{scheme}://127.0.0.1:{}", addr.port()));
        match within(connect(&target, &options)).await.unwrap_err() {
            TransportError::Timeout {
                stage: named,
                after,
            } => {
                assert!(named.starts_with(stage), "{scheme}: {named}");
                assert_eq!(after, Duration::from_millis(300));
            }
            other => panic!("{scheme}: expected Timeout, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
    drop(listener);
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// Accepts a WebSocket upgrade, answering with `subprotocol` (or refusing with `status`), and
/// returns the stream with the request's headers and path.
async fn ws_accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    subprotocol: Option<&'static str>,
) -> (WebSocketStream<S>, HeaderMap, String) {
    let mut seen = None;
    let callback = |request: &Request, mut response: Response| {
        seen = Some((request.headers().clone(), request.uri().to_string()));
        if let Some(name) = subprotocol {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(name));
        }
        Ok::<_, ErrorResponse>(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, callback)
        .await
        .unwrap();
    let (headers, path) = seen.unwrap();
    (ws, headers, path)
}

/// A ws:// server accepting one connection, then running `serve` on it.
async fn ws_server<F, Fut>(
    subprotocol: Option<&'static str>,
    serve: F,
) -> (u16, tokio::task::JoinHandle<()>)
where
    F: FnOnce(WebSocketStream<tokio::net::TcpStream>, HeaderMap, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (listener, addr) = bind().await;
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (ws, headers, path) = ws_accept(tcp, subprotocol).await;
        within(serve(ws, headers, path)).await;
    });
    (addr.port(), handle)
}

/// The next data message the server gets: (is text, payload).
async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> (bool, Vec<u8>) {
    match ws.next().await {
        Some(Ok(Message::Text(text))) => (true, text.as_bytes().to_vec()),
        Some(Ok(Message::Binary(data))) => (false, data.to_vec()),
        other => panic!("expected a data message, got {other:?}"),
    }
}

#[tokio::test]
async fn ws_offers_the_stomp_subprotocols_and_reports_the_choice() {
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, headers, path| async move {
        let offered = headers.get("Sec-WebSocket-Protocol").unwrap();
        assert_eq!(offered, "v12.stomp, v11.stomp, v10.stomp");
        assert_eq!(headers.get("Origin").unwrap(), "http://example.com");
        assert!(headers.get("Authorization").is_none());
        assert_eq!(path, "/ws?x=1");
        // Echo one message, then answer the close.
        let (_, data) = next_message(&mut ws).await;
        ws.send(Message::binary(data)).await.unwrap();
        while ws.next().await.is_some() {}
    })
    .await;
    let options = TransportOptions::default().ws_header("Origin", "http://example.com");
    let target = url(&format!("ws://guest:guest@127.0.0.1:{port}/ws?x=1"));
    let transport = within(connect(&target, &options)).await.unwrap();
    let info = transport.info();
    assert_eq!(info.scheme, Some(Scheme::Ws));
    assert!(info.websocket);
    assert_eq!(info.subprotocol, Some(Version::V1_2));
    round_trip(transport).await;
    within(server).await.unwrap();
}

#[tokio::test]
async fn ws_without_subprotocols_and_refusals() {
    // Offering none: the server answers none.
    let (port, server) = ws_server(None, |ws, headers, _| async move {
        assert!(headers.get("Sec-WebSocket-Protocol").is_none());
        drop(ws);
    })
    .await;
    let options = TransportOptions::default().ws_versions(VersionSet::EMPTY);
    let target = url(&format!("ws://127.0.0.1:{port}"));
    let transport = within(connect(&target, &options)).await.unwrap();
    assert_eq!(transport.info().subprotocol, None);
    within(server).await.unwrap();

    // Offering 1.1 only, the server chooses none: refused by the client (RFC 6455 4.1).
    let (port, server) = ws_server(None, |ws, headers, _| async move {
        assert_eq!(headers.get("Sec-WebSocket-Protocol").unwrap(), "v11.stomp");
        drop(ws);
    })
    .await;
    let only_11 = VersionSet::EMPTY.with(Version::V1_1);
    let options = TransportOptions::default().ws_versions(only_11);
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    match within(connect(&target, &options)).await.unwrap_err() {
        TransportError::WebSocketHandshake {
            endpoint,
            status,
            reason,
        } => {
            assert_eq!(endpoint, format!("ws://127.0.0.1:{port}/"));
            assert_eq!(status, None);
            assert!(reason.to_lowercase().contains("subprotocol"), "{reason}");
        }
        other => panic!("expected WebSocketHandshake, got {other:?}"),
    }
    within(server).await.unwrap();

    // An HTTP refusal.
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refuse = |_: &Request, _: Response| {
            let mut refusal = ErrorResponse::new(Some("no".to_owned()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            Err(refusal)
        };
        assert!(tokio_tungstenite::accept_hdr_async(tcp, refuse)
            .await
            .is_err());
    });
    let target = url(&format!("ws://127.0.0.1:{}/ws", addr.port()));
    let err = within(connect(&target, &TransportOptions::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::WebSocketHandshake {
                status: Some(403),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("403"), "{err}");
    within(server).await.unwrap();

    // A header that HTTP cannot carry.
    let (_listener, addr) = bind().await;
    let options = TransportOptions::default().ws_header("bad name", "x");
    let target = url(&format!("ws://127.0.0.1:{}/", addr.port()));
    match within(connect(&target, &options)).await.unwrap_err() {
        TransportError::InvalidHeader { name, .. } => assert_eq!(name, "bad name"),
        other => panic!("expected InvalidHeader, got {other:?}"),
    }
}

/// Connects to a ws server that collects the data messages it gets until the close, and
/// returns them after writing `bytes` with `max` as the message size.
async fn messages_for(bytes: &[u8], max: usize) -> Vec<(bool, Vec<u8>)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, _, _| async move {
        let mut got = Vec::new();
        while let Some(message) = ws.next().await {
            match message.unwrap() {
                Message::Text(text) => got.push((true, text.as_bytes().to_vec())),
                Message::Binary(data) => got.push((false, data.to_vec())),
                _ => {}
            }
        }
        tx.send(got).unwrap();
    })
    .await;
    let options = TransportOptions::default().ws_max_message_size(max);
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    let transport = within(connect(&target, &options)).await.unwrap();
    let (mut reader, mut writer) = transport.split();
    within(writer.write(bytes)).await.unwrap();
    within(writer.flush()).await.unwrap();
    within(writer.close()).await.unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        within(reader.read(&mut buf)).await.unwrap(),
        Received::Closed
    );
    within(server).await.unwrap();
    within(rx).await.unwrap()
}

fn frame_with_body(body: &[u8]) -> Vec<u8> {
    let mut frame = format!("SEND\ndestination:/a\ncontent-length:{}\n\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    frame.push(0);
    frame
}

#[tokio::test]
async fn ws_a_large_write_is_cut_into_messages_of_the_max_size() {
    let frame = frame_with_body(&pattern(40 * 1024));
    let messages = messages_for(&frame, 16 * 1024).await;
    assert_eq!(messages.len(), 3);
    assert!(messages
        .iter()
        .all(|(text, m)| *text && m.len() <= 16 * 1024));
    assert_eq!(messages.concat_payloads(), frame);
}

#[tokio::test]
async fn ws_utf8_straddling_a_cut_stays_whole_in_text_messages() {
    // 3-byte characters after a 2-byte prefix: byte 16384 falls inside one.
    let body = format!("xy{}", "€".repeat(12 * 1024));
    let frame = frame_with_body(body.as_bytes());
    let header_len = frame.len() - body.len() - 1;
    assert_ne!((16 * 1024 - header_len - 2) % 3, 0, "the cut must straddle");
    let messages = messages_for(&frame, 16 * 1024).await;
    assert!(messages.len() >= 3);
    assert!(messages[0].1.len() < 16 * 1024, "the first cut moved back");
    for (text, payload) in &messages {
        assert!(*text, "every part is text");
        assert!(payload.len() <= 16 * 1024);
        assert!(std::str::from_utf8(payload).is_ok());
    }
    assert_eq!(messages.concat_payloads(), frame);
}

#[tokio::test]
async fn ws_bytes_that_are_not_utf8_go_in_binary_messages() {
    let frame = frame_with_body(b"\xff\xfe binary");
    let messages = messages_for(&frame, 16 * 1024).await;
    assert_eq!(messages, [(false, frame)]);
    // A heart-beat is text.
    assert_eq!(messages_for(b"\n", 16).await, [(true, b"\n".to_vec())]);
}

trait ConcatPayloads {
    fn concat_payloads(&self) -> Vec<u8>;
}

impl ConcatPayloads for Vec<(bool, Vec<u8>)> {
    fn concat_payloads(&self) -> Vec<u8> {
        self.iter().flat_map(|(_, m)| m.iter().copied()).collect()
    }
}

#[tokio::test]
async fn ws_incoming_messages_are_appended_in_order_and_frames_reassemble() {
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, _, _| async move {
        ws.send(Message::text(
            "MESSAGE\ndestination:/a\nmessage-id:1\nsubscription:0\n",
        ))
        .await
        .unwrap();
        ws.send(Message::binary(Bytes::from_static(b"\nhel")))
            .await
            .unwrap();
        ws.send(Message::text("lo\0\n")).await.unwrap();
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}
    })
    .await;
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    let transport = within(connect(&target, &TransportOptions::default()))
        .await
        .unwrap();
    let (mut reader, mut writer) = transport.split();
    let mut buf = BytesMut::new();
    let mut reads = Vec::new();
    loop {
        let received = within(reader.read(&mut buf)).await.unwrap();
        reads.push(received);
        if received == Received::Closed {
            break;
        }
    }
    let expected: &[u8] = b"MESSAGE\ndestination:/a\nmessage-id:1\nsubscription:0\n\nhello\0\n";
    assert_eq!(
        reads,
        [
            Received::Bytes(expected.len() - 8),
            Received::Bytes(4),
            Received::Bytes(4),
            Received::Closed
        ]
    );
    assert_eq!(&buf[..], expected);
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(&buf);
    assert!(matches!(decoder.next_item(), Ok(Some(Item::Frame(f))) if f.body() == b"hello"));
    assert!(matches!(decoder.next_item(), Ok(Some(Item::Heartbeat))));
    within(writer.close()).await.unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn ws_a_ping_is_activity_and_is_answered_while_the_client_only_reads() {
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, _, _| async move {
        ws.send(Message::Ping(Bytes::from_static(b"hb")))
            .await
            .unwrap();
        // The client never writes: its pong must come all the same.
        match ws.next().await {
            Some(Ok(Message::Pong(data))) => assert_eq!(&data[..], b"hb"),
            other => panic!("expected the pong, got {other:?}"),
        }
        ws.send(Message::text("\n")).await.unwrap();
        ws.close(None).await.unwrap();
        // The client's close reply completes the handshake.
        match ws.next().await {
            Some(Ok(Message::Close(_))) | None => {}
            other => panic!("expected the close reply, got {other:?}"),
        }
    })
    .await;
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    let transport = within(connect(&target, &TransportOptions::default()))
        .await
        .unwrap();
    let (mut reader, mut writer) = transport.split();
    let mut buf = BytesMut::new();
    let mut reads = Vec::new();
    loop {
        let received = within(reader.read(&mut buf)).await.unwrap();
        reads.push(received);
        if received == Received::Closed {
            break;
        }
    }
    assert_eq!(
        reads,
        [Received::Activity, Received::Bytes(1), Received::Closed]
    );
    within(writer.close()).await.unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn ws_reads_are_cancel_safe() {
    let data = pattern(200 * 1000);
    let sent = data.clone();
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, _, _| async move {
        for chunk in sent.chunks(1000) {
            ws.send(Message::binary(chunk.to_vec())).await.unwrap();
        }
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}
    })
    .await;
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    let transport = within(connect(&target, &TransportOptions::default()))
        .await
        .unwrap();
    let (mut reader, mut writer) = transport.split();
    let buf = read_while_cancelled(&mut reader, data.len()).await;
    assert!(buf[..] == data[..]);
    let mut rest = BytesMut::new();
    assert_eq!(
        within(reader.read(&mut rest)).await.unwrap(),
        Received::Closed
    );
    within(writer.close()).await.unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn wss_with_the_generated_ca() {
    let pki = make_pki();
    let (listener, addr) = bind().await;
    let acceptor = pki.acceptor.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let (mut ws, _, path) = ws_accept(tls, Some("v11.stomp")).await;
        assert_eq!(path, "/stomp");
        within(async {
            let (text, data) = next_message(&mut ws).await;
            assert!(text);
            ws.send(Message::binary(data)).await.unwrap();
            while ws.next().await.is_some() {}
        })
        .await;
    });
    let options = TransportOptions::default().ca_file(&pki.ca_file);
    let target = url(&format!("wss://localhost:{}/stomp", addr.port()));
    let transport = within(connect(&target, &options)).await.unwrap();
    assert_eq!(transport.info().scheme, Some(Scheme::Wss));
    assert_eq!(transport.info().subprotocol, Some(Version::V1_1));
    round_trip(transport).await;
    within(server).await.unwrap();
}

#[tokio::test]
async fn an_in_memory_websocket_is_a_transport() {
    use tokio_tungstenite::tungstenite::protocol::Role;
    let (client, server) = tokio::io::duplex(1024);
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let mut server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
    let options = TransportOptions::default().ws_max_message_size(4);
    let transport = Transport::from_websocket(client, Some(Version::V1_2)).with_options(&options);
    assert!(transport.info().websocket);
    assert_eq!(transport.info().subprotocol, Some(Version::V1_2));
    let (_reader, mut writer) = transport.split();
    within(writer.write(b"abcdef")).await.unwrap();
    within(writer.flush()).await.unwrap();
    assert_eq!(
        within(next_message(&mut server)).await,
        (true, b"abcd".to_vec())
    );
    assert_eq!(
        within(next_message(&mut server)).await,
        (true, b"ef".to_vec())
    );
}

#[tokio::test]
async fn ws_a_connection_dropped_without_a_close_is_an_error_not_closed() {
    let (port, server) = ws_server(Some("v12.stomp"), |mut ws, _, _| async move {
        ws.send(Message::text("\n")).await.unwrap();
        drop(ws); // TCP FIN, no WebSocket close
    })
    .await;
    let target = url(&format!("ws://127.0.0.1:{port}/"));
    let transport = within(connect(&target, &TransportOptions::default()))
        .await
        .unwrap();
    let (mut reader, _writer) = transport.split();
    let mut buf = BytesMut::new();
    assert_eq!(
        within(reader.read(&mut buf)).await.unwrap(),
        Received::Bytes(1)
    );
    match within(reader.read(&mut buf)).await {
        Err(TransportError::WebSocket { context, .. }) => assert_eq!(context, "reading"),
        other => panic!("expected a WebSocket error, got {other:?}"),
    }
    within(server).await.unwrap();
}
