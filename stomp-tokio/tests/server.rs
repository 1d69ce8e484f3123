//! The tokio server (the sans-IO broker served over TCP, WebSocket and TLS) driven by the
//! async client and by raw sockets: application handlers, cross-transport rooms, the CONNECT
//! hook, the Origin allow-list, the index page, the connection limit and graceful shutdown.
//! Loopback only; every wait bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use stomp_codec::{Accept, AckMode, Command, Frame, Heartbeat, ReconnectPolicy};
use stomp_tokio::client::{Client, ClientError, ClientOptions, ClientStatus};
use stomp_tokio::server::{OriginPolicy, Rejection, Running, Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn client_options(login: &str) -> ClientOptions {
    ClientOptions::new()
        .login(login)
        .heartbeat(Heartbeat::new(0, 0))
        .reconnect(ReconnectPolicy::never())
}

/// A chat server: `/app/chat.{room}` stamps the sender and publishes to `/topic/room.{room}`;
/// `/app/whoami` replies to the sender alone; `/app/forbidden` refuses.
fn chat_server(options: ServerOptions) -> Server {
    let mut server = Server::new(options);
    server
        .route("/app/chat.{room}", |app, frame, captures| {
            let room = captures.get("room").unwrap_or("none").to_string();
            let sender = app.login().unwrap_or("anonymous").to_string();
            let message = Frame::builder(Command::Send)
                .header("sender", sender)
                .body(frame.body_bytes())
                .build();
            app.publish(format!("/topic/room.{room}"), &message)?;
            Ok(())
        })
        .unwrap();
    server
        .route("/app/whoami", |app, _, _| {
            let login = app.login().unwrap_or("anonymous").to_string();
            // The session's CONNECT headers reach the handler too.
            let login = match app.connect_header("client-name") {
                Some(name) => format!("{login} ({})", String::from_utf8_lossy(name)),
                None => login,
            };
            let reply = Frame::builder(Command::Send).body(login).build();
            app.reply("/user/queue/replies", &reply);
            Ok(())
        })
        .unwrap();
    server
        .route("/app/forbidden", |_, _, _| {
            Err(Rejection::new("not allowed"))
        })
        .unwrap();
    server
}

async fn start(options: ServerOptions) -> (Running, String, String) {
    let mut server = chat_server(options);
    let tcp = server.listen_tcp("127.0.0.1:0").await.unwrap();
    let ws = server.listen_ws("127.0.0.1:0").await.unwrap();
    (
        server.start(),
        format!("stomp://{tcp}"),
        format!("ws://{ws}/ws"),
    )
}

async fn next_body(sub: &mut stomp_tokio::client::Subscription) -> (String, Option<String>) {
    let m = timeout(LIMIT, sub.next())
        .await
        .expect("in time")
        .expect("open");
    let sender = m
        .frame()
        .headers()
        .get("sender")
        .map(|s| String::from_utf8_lossy(s).into_owned());
    (String::from_utf8_lossy(m.body()).into_owned(), sender)
}

/// The `message` of the next ERROR a client reports (bounded wait; fails if its status
/// channel ends first).
async fn next_server_error(
    status: &mut tokio::sync::broadcast::Receiver<ClientStatus>,
) -> Option<String> {
    timeout(LIMIT, async {
        loop {
            match status.recv().await {
                Ok(ClientStatus::ServerError { message }) => return message,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the client's status ended before an ERROR: {e}"),
            }
        }
    })
    .await
    .expect("an ERROR in time")
}

#[tokio::test]
async fn app_handlers_publish_to_rooms_across_tcp_and_websocket() {
    let (running, tcp, ws) = start(ServerOptions::default()).await;
    let alice = Client::connect(&tcp, client_options("alice"))
        .await
        .unwrap();
    let bob = Client::connect(&ws, client_options("bob")).await.unwrap();
    let mut room = bob
        .subscribe_with(
            "/topic/room.5",
            AckMode::Auto,
            stomp_codec::FrameOptions::new().receipt(),
        )
        .await
        .unwrap();
    // The receipt of a SEND to /app comes once the handler has run.
    alice
        .send_with_receipt("/app/chat.5", "hello from tcp")
        .await
        .unwrap();
    assert_eq!(
        next_body(&mut room).await,
        ("hello from tcp".into(), Some("alice".into()))
    );
    let mut alice_room = alice
        .subscribe_with(
            "/topic/room.5",
            AckMode::Auto,
            stomp_codec::FrameOptions::new().receipt(),
        )
        .await
        .unwrap();
    bob.send_with_receipt("/app/chat.5", "hello from ws")
        .await
        .unwrap();
    assert_eq!(
        next_body(&mut alice_room).await,
        ("hello from ws".into(), Some("bob".into()))
    );
    assert_eq!(
        next_body(&mut room).await,
        ("hello from ws".into(), Some("bob".into()))
    );
    // Plain broker destinations work too.
    bob.send_with_receipt("/topic/room.5", "direct")
        .await
        .unwrap();
    assert_eq!(next_body(&mut alice_room).await.0, "direct");
    assert_eq!(running.connections(), 2);
    running.shutdown().await;
}

#[tokio::test]
async fn a_handler_replies_to_the_sender_alone_and_can_refuse() {
    let (running, tcp, _) = start(ServerOptions::default()).await;
    let with_name = client_options("alice").connect_header("client-name", "laptop");
    let alice = Client::connect(&tcp, with_name).await.unwrap();
    let bob = Client::connect(&tcp, client_options("bob")).await.unwrap();
    let opts = || stomp_codec::FrameOptions::new().receipt();
    let mut alice_replies = alice
        .subscribe_with("/user/queue/replies", AckMode::Auto, opts())
        .await
        .unwrap();
    let mut bob_replies = bob
        .subscribe_with("/user/queue/replies", AckMode::Auto, opts())
        .await
        .unwrap();
    alice.send_with_receipt("/app/whoami", "").await.unwrap();
    assert_eq!(next_body(&mut alice_replies).await.0, "alice (laptop)");
    assert!(
        timeout(Duration::from_millis(200), bob_replies.next())
            .await
            .is_err(),
        "bob got nothing"
    );
    let mut status = bob.status();
    let refused = bob.send_with_receipt("/app/forbidden", "x").await;
    assert!(
        matches!(refused, Err(ClientError::Receipt { .. })),
        "{refused:?}"
    );
    let saw_error = next_server_error(&mut status).await;
    assert_eq!(saw_error.as_deref(), Some("not allowed"));
    running.shutdown().await;
}

#[tokio::test]
async fn the_connect_hook_refuses_bad_credentials_c10() {
    let mut server = chat_server(ServerOptions::default());
    server.authenticate(|request| match request.passcode.as_deref() {
        Some(b"secret") => Ok(Accept::new()),
        _ => Err(Rejection::new("access refused").detail("wrong passcode")),
    });
    let addr = server.listen_tcp("127.0.0.1:0").await.unwrap();
    let running = server.start();
    let url = format!("stomp://{addr}");
    let ok = Client::connect(&url, client_options("a").passcode("secret")).await;
    assert!(ok.is_ok());
    let refused = Client::connect(&url, client_options("b").passcode("guess"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("access refused"), "{refused}");
    running.shutdown().await;
}

async fn http(addr: &str, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = timeout(LIMIT, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn upgrade(host: &str, origin: Option<&str>) -> String {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: v12.stomp\r\n{origin}\r\n"
    )
}

#[tokio::test]
async fn websocket_origins_are_checked_and_the_index_page_is_served() {
    let mut options = ServerOptions::default();
    options.index_html = Some("<html>chat</html>".into());
    options.origins = OriginPolicy::List(vec!["https://chat.example.com".into()]);
    let mut server = chat_server(options);
    let ws = server.listen_ws("127.0.0.1:0").await.unwrap().to_string();
    let running = server.start();
    let page = http(&ws, &format!("GET / HTTP/1.1\r\nHost: {ws}\r\n\r\n")).await;
    assert!(
        page.starts_with("HTTP/1.1 200") && page.ends_with("<html>chat</html>"),
        "{page}"
    );
    assert!(
        http(&ws, &format!("GET /nope HTTP/1.1\r\nHost: {ws}\r\n\r\n"))
            .await
            .starts_with("HTTP/1.1 404")
    );
    let evil = http(&ws, &upgrade(&ws, Some("http://evil.example"))).await;
    assert!(
        evil.starts_with("HTTP/1.1 403"),
        "another site's page is refused: {evil}"
    );
    for allowed in [
        Some("https://chat.example.com"),
        Some(&*format!("http://{ws}")),
        None,
    ] {
        let mut stream = tokio::net::TcpStream::connect(&ws).await.unwrap();
        stream
            .write_all(upgrade(&ws, allowed).as_bytes())
            .await
            .unwrap();
        let mut head = vec![0; 512];
        let n = timeout(LIMIT, stream.read(&mut head))
            .await
            .unwrap()
            .unwrap();
        let head = String::from_utf8_lossy(&head[..n]).to_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{allowed:?}: {head}");
        assert!(head.contains("sec-websocket-protocol: v12.stomp"), "{head}");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_get_an_error() {
    let mut options = ServerOptions::default();
    options.max_connections = 1;
    let (running, tcp, _) = start(options).await;
    let _first = Client::connect(&tcp, client_options("a")).await.unwrap();
    let addr = tcp.trim_start_matches("stomp://").to_string();
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut answer = Vec::new();
    timeout(LIMIT, second.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, b"ERROR\nmessage:too many connections\n\n\0");
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_every_client_and_finishes_in_time() {
    let (running, tcp, ws) = start(ServerOptions::default()).await;
    let a = Client::connect(&tcp, client_options("a")).await.unwrap();
    let b = Client::connect(&ws, client_options("b")).await.unwrap();
    let (mut sa, mut sb) = (a.status(), b.status());
    timeout(LIMIT, running.shutdown())
        .await
        .expect("a bounded shutdown");
    for status in [&mut sa, &mut sb] {
        let message = next_server_error(status).await;
        assert_eq!(message.as_deref(), Some("server shutting down"));
    }
    assert!(
        tokio::net::TcpStream::connect(tcp.trim_start_matches("stomp://"))
            .await
            .is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn tls_and_wss_listeners_serve_with_a_certificate() {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "stomp-tokio-server-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "server test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let mut server = chat_server(ServerOptions::default());
    let tls = server
        .listen_tls("127.0.0.1:0", &cert_file, &key_file)
        .await
        .unwrap();
    let wss = server
        .listen_wss("127.0.0.1:0", &cert_file, &key_file)
        .await
        .unwrap();
    let running = server.start();
    let a = Client::connect(
        &format!("stomp+ssl://localhost:{}", tls.port()),
        client_options("a").ca_file(&ca_file),
    )
    .await
    .unwrap();
    let b = Client::connect(
        &format!("wss://localhost:{}/ws", wss.port()),
        client_options("b").ca_file(&ca_file),
    )
    .await
    .unwrap();
    let mut room = b
        .subscribe_with(
            "/topic/room.1",
            AckMode::Auto,
            stomp_codec::FrameOptions::new().receipt(),
        )
        .await
        .unwrap();
    a.send_with_receipt("/app/chat.1", "over tls")
        .await
        .unwrap();
    assert_eq!(
        next_body(&mut room).await,
        ("over tls".into(), Some("a".into()))
    );
    // Without the CA, even a client that would reconnect forever gives up at once: no delay
    // cures an untrusted certificate.
    let forever = client_options("c").reconnect(ReconnectPolicy::default());
    let url = format!("stomp+ssl://localhost:{}", tls.port());
    let refused = timeout(Duration::from_secs(5), Client::connect(&url, forever))
        .await
        .expect("it gives up instead of retrying")
        .unwrap_err();
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_servers_relaying_to_one_broker_share_their_rooms() {
    // The external broker: a plain server of ours (RabbitMQ in the interop test).
    let mut external = Server::new(ServerOptions::default());
    let broker_addr = external.listen_tcp("127.0.0.1:0").await.unwrap();
    let external = external.start();
    let relayed = || {
        let mut options = ServerOptions::default();
        options.relay = Some(stomp_tokio::server::RelayOptions::new(format!(
            "stomp://{broker_addr}"
        )));
        options
    };
    let (a, a_tcp, _) = start(relayed()).await;
    let (b, b_tcp, b_ws) = start(relayed()).await;
    let alice = Client::connect(&a_tcp, client_options("alice"))
        .await
        .unwrap();
    let bob = Client::connect(&b_ws, client_options("bob")).await.unwrap();
    let receipt = || stomp_codec::FrameOptions::new().receipt();
    // The receipt comes once the relay has subscribed at the external broker.
    let mut room = alice
        .subscribe_with("/topic/room.5", AckMode::Auto, receipt())
        .await
        .unwrap();
    // Through process B's handler and its system connection.
    bob.send_with_receipt("/app/chat.5", "hello from B")
        .await
        .unwrap();
    assert_eq!(
        next_body(&mut room).await,
        ("hello from B".into(), Some("bob".into()))
    );
    // Straight to the room, through bob's own relay connection.
    bob.send_with_receipt("/topic/room.5", "direct")
        .await
        .unwrap();
    assert_eq!(next_body(&mut room).await.0, "direct");
    // A queue with acks: the external broker sees the ACK.
    let mut jobs = alice
        .subscribe_with("/queue/jobs", AckMode::ClientIndividual, receipt())
        .await
        .unwrap();
    let carol = Client::connect(&b_tcp, client_options("carol"))
        .await
        .unwrap();
    carol
        .send_with_receipt("/queue/jobs", "job 1")
        .await
        .unwrap();
    let job = timeout(LIMIT, jobs.next()).await.unwrap().unwrap();
    assert_eq!(job.body(), b"job 1");
    job.ack().await.unwrap();
    // The relay loses its broker: clients get an ERROR (their own clients reconnect).
    let mut status = alice.status();
    external.shutdown().await;
    let message = next_server_error(&mut status).await;
    assert!(
        matches!(
            message.as_deref(),
            Some("relay connection lost") | Some("server shutting down")
        ),
        "{message:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
