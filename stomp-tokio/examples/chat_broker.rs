//! A chat server with rooms, on the `stomp-tokio` server (the sans-IO `Broker` of stomp-codec
//! served over TCP and WebSocket). Browsers load the chat page at `/` and speak STOMP over
//! WebSocket with @stomp/stompjs; other clients use TCP. Both share the same rooms.
//!
//! ```text
//! cargo run --example chat_broker                      # TCP 127.0.0.1:61613, http://127.0.0.1:15674/
//! cargo run --example chat_broker -- --tcp 127.0.0.1:0 --ws 127.0.0.1:0   # any free ports
//! cargo run --example chat_broker -- --max-pending 1048576   # drop slow clients sooner
//! ```
//!
//! * **Rooms.** A client sends to `/app/chat.{room}`; the handler stamps the sender (its
//!   login) and the time, and publishes to `/topic/room.{room}`, which every member
//!   subscribes to. `/app/...` SENDs get their RECEIPT once the handler has run.
//! * **The broker.** `/queue/...` delivers each message to one subscriber, round-robin, and
//!   keeps messages while nobody subscribes; anything else is a topic. Acks (`auto`,
//!   cumulative `client`, `client-individual`), redelivery of unacknowledged queue messages
//!   (`redelivered:true`), transactions held until COMMIT, receipts and every limit are the
//!   broker's (`stomp_codec::Broker`, `BrokerLimits`): beyond a limit the client gets an ERROR.
//! * **Slow consumers.** At most `--max-pending` bytes (default 4 MiB) wait for a client that
//!   does not read; past that it gets ERROR `slow consumer` and is dropped, and the others go
//!   on.
//! * **WebSocket.** Path `/ws`, subprotocols `v12.stomp`, `v11.stomp`, `v10.stomp` (the choice
//!   caps the STOMP version), only from the server's own pages (`Origin`); after an ERROR the
//!   socket closes with status 1002 (W-8).
//! * **Relay.** With `--relay URL` (and `--relay-login`, `--relay-passcode`, `--relay-host`),
//!   `/topic/...` and `/queue/...` live in an external broker such as RabbitMQ: each client
//!   gets a relay connection of its own, the room handler publishes through a shared one, and
//!   several chat_broker processes relaying to one broker share their rooms.
//! * Heart-beats: CONNECTED offers `1000,1000`. Any login is accepted.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stomp_codec::{BrokerEvent, Command, Frame, Heartbeat};
use stomp_tokio::server::{RelayOptions, Server, ServerOptions};

const USAGE: &str = "\
Usage: chat_broker [OPTIONS]

A chat server with rooms over STOMP 1.0/1.1/1.2 (TCP and WebSocket), and its page at /.

Options:
  --tcp ADDR            STOMP over TCP on ADDR (default 127.0.0.1:61613; port 0: any free port)
  --ws ADDR             the chat page and STOMP over WebSocket (ws://ADDR/ws) on ADDR
                        (default 127.0.0.1:15674)
  --max-pending BYTES   bytes that may wait for a client that does not read (default 4194304);
                        past it the client is dropped (ERROR message:slow consumer)
  --relay URL           relay /topic/... and /queue/... to the broker at URL (stomp://,
                        stomp+ssl://, ws://, wss://), e.g. RabbitMQ, so that several
                        chat_broker processes share their rooms
  --relay-login L       the relay connections' login
  --relay-passcode P    their passcode
  --relay-host VHOST    their virtual host (default /)
  -h, --help            print this help

Clients send to /app/chat.{room}; members subscribe to /topic/room.{room}. /queue/... and
/topic/... work as a broker's would.";

/// The page browsers load: @stomp/stompjs over WebSocket, heart-beats, reconnect.
const PAGE: &str = include_str!("chat/index.html");

struct Options {
    tcp: String,
    ws: String,
    max_pending: usize,
    relay: Option<RelayOptions>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        tcp: "127.0.0.1:61613".into(),
        ws: "127.0.0.1:15674".into(),
        max_pending: 4 << 20,
        relay: None,
    };
    let (mut login, mut passcode, mut host) = (None, None, None);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--tcp" => options.tcp = value()?,
            "--ws" => options.ws = value()?,
            "--max-pending" => {
                let bytes = value()?;
                options.max_pending = bytes.parse().ok().filter(|n| *n > 0).ok_or(format!(
                    "--max-pending needs a number of bytes, not {bytes:?}"
                ))?;
            }
            "--relay" => options.relay = Some(RelayOptions::new(value()?)),
            "--relay-login" => login = Some(value()?),
            "--relay-passcode" => passcode = Some(value()?),
            "--relay-host" => host = Some(value()?),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    match &mut options.relay {
        Some(relay) => {
            relay.login = login;
            relay.passcode = passcode;
            if let Some(host) = host {
                relay.host = host;
            }
        }
        None if login.is_some() || passcode.is_some() || host.is_some() => {
            return Err("--relay-login, --relay-passcode and --relay-host need --relay".into())
        }
        None => {}
    }
    Ok(Some(options))
}

fn server_options(max_pending: usize, relay: Option<RelayOptions>) -> ServerOptions {
    let mut options = ServerOptions::default();
    options.relay = relay;
    let broker = &mut options.broker;
    broker.server = broker
        .server
        .clone()
        .heartbeat(Heartbeat::new(1_000, 1_000))
        .max_pending_transmit(max_pending)
        .max_subscriptions(256)
        .max_transactions(16);
    // Message ids unique across restarts (S-13): the start time and the process id.
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    broker.message_id_prefix = format!("{started:x}.{:x}", std::process::id());
    options.index_html = Some(PAGE.into());
    options
}

/// `HH:MM:SS` (UTC) of now, for the chat's time stamps.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn log(event: &BrokerEvent) {
    match event {
        BrokerEvent::Connected {
            connection,
            version,
            login,
        } => println!(
            "[{connection}] connected: STOMP {version}, login {}",
            login
                .as_ref()
                .map_or("(none)".into(), |l| String::from_utf8_lossy(l).into_owned())
        ),
        BrokerEvent::Closed { connection, reason } => println!("[{connection}] closed: {reason:?}"),
        BrokerEvent::SlowConsumer { connection } => {
            println!("[{connection}] slow consumer dropped: it fell --max-pending bytes behind")
        }
        BrokerEvent::Dropped {
            destination,
            count,
            reason,
        } => println!(
            "chat_broker: {count} message(s) to {} dropped: {reason:?}",
            String::from_utf8_lossy(destination)
        ),
        _ => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat_broker: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let relay = options.relay.clone();
    let mut server = Server::new(server_options(options.max_pending, options.relay));
    server.observe(log);
    // The room handler: stamp the sender and the time, publish to the room's topic.
    let routed = server.route("/app/chat.{room}", |app, frame, captures| {
        let room = captures.get("room").unwrap_or("lobby");
        let sender = app.login().unwrap_or("anonymous").to_string();
        let message = Frame::builder(Command::Send)
            .header("content-type", "text/plain")
            .header("sender", sender)
            .header("time", clock())
            .body(frame.body_bytes())
            .build();
        app.publish(format!("/topic/room.{room}"), &message)?;
        Ok(())
    });
    if let Err(e) = routed {
        eprintln!("chat_broker: {e}");
        return ExitCode::FAILURE;
    }
    let tcp = match server.listen_tcp(&options.tcp).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("chat_broker: cannot listen on {}: {e}", options.tcp);
            return ExitCode::FAILURE;
        }
    };
    let ws = match server.listen_ws(&options.ws).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("chat_broker: cannot listen on {}: {e}", options.ws);
            return ExitCode::FAILURE;
        }
    };
    println!("chat_broker: STOMP over TCP on {tcp}");
    println!("chat_broker: STOMP over WebSocket on ws://{ws}/ws");
    println!("chat_broker: the chat page on http://{ws}/");
    println!(
        "chat_broker: at most {} bytes wait for a client (--max-pending)",
        options.max_pending
    );
    if let Some(relay) = relay {
        println!("chat_broker: /topic/ and /queue/ relayed to {}", relay.url);
    }
    let running = server.start();
    let _ = tokio::signal::ctrl_c().await;
    println!("chat_broker: shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}
