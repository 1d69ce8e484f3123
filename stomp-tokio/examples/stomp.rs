//! `stomp`: a command-line STOMP client on the async client of `stomp-tokio`.
//!
//! ```text
//! cargo run --release --example stomp -- COMMAND URL DESTINATION [options]
//!
//! COMMAND    send | subscribe | bench
//! URL        stomp://host:port  tcp://host:port  stomp+ssl://host:port
//!            ws://host:port/path  wss://host:port/path
//!
//! common     --login L  --passcode P  --host VHOST  --heart-beat SEND,RECEIVE (ms, 4000,4000)
//!            --header name:value (repeatable; on SEND or SUBSCRIBE)  --ca FILE  --no-reconnect
//! send       [--count N] [--body TEXT] [--rate MSGS_PER_S] [--receipt]
//!            with --count: N messages, TEXT with {seq} replaced by 0..N-1; without: one
//!            message per line of stdin. --receipt: exit 0 only once every SEND is confirmed.
//! subscribe  [--ack auto|client|client-individual] [--count N] [--timeout SECS]
//!            one JSON line per message on stdout, acked after printing; exit 0 after N
//!            messages, 1 when the timeout passes first.
//! bench      [--publishers P] [--subscribers S] [--messages N] [--size BYTES]
//!            progress on stderr, one JSON summary line on stdout.
//! ```
//!
//! Progress and the connection's state go to stderr; stdout carries only results. Failures
//! exit 1 with a one-line reason.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use stomp_codec::{AckMode, FrameOptions, Heartbeat, ReconnectPolicy};
use stomp_tokio::client::{Client, ClientError, ClientOptions, ClientStatus, ReceivedMessage};
use tokio::io::AsyncBufReadExt;

/// What the command line asked for.
#[derive(Debug, Default)]
struct Args {
    command: String,
    url: String,
    destination: String,
    login: Option<String>,
    passcode: Option<String>,
    host: Option<String>,
    heartbeat: (u32, u32),
    headers: Vec<(String, String)>,
    ca: Option<String>,
    no_reconnect: bool,
    count: Option<u64>,
    body: Option<String>,
    rate: Option<f64>,
    receipt: bool,
    ack: AckMode,
    timeout: Option<f64>,
    publishers: usize,
    subscribers: usize,
    messages: u64,
    size: usize,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        heartbeat: (4000, 4000),
        publishers: 1,
        subscribers: 1,
        messages: 10_000,
        size: 128,
        ..Args::default()
    };
    let mut positional = Vec::new();
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--login" => args.login = Some(value("--login")?),
            "--passcode" => args.passcode = Some(value("--passcode")?),
            "--host" => args.host = Some(value("--host")?),
            "--heart-beat" => {
                let v = value("--heart-beat")?;
                let (s, r) = v
                    .split_once(',')
                    .ok_or(format!("--heart-beat {v}: expected SEND,RECEIVE"))?;
                args.heartbeat = (number(s, "--heart-beat")?, number(r, "--heart-beat")?);
            }
            "--header" => {
                let v = value("--header")?;
                let (n, val) = v
                    .split_once(':')
                    .ok_or(format!("--header {v}: expected name:value"))?;
                args.headers.push((n.to_string(), val.to_string()));
            }
            "--ca" => args.ca = Some(value("--ca")?),
            "--no-reconnect" => args.no_reconnect = true,
            "--count" => args.count = Some(number(&value("--count")?, "--count")?),
            "--body" => args.body = Some(value("--body")?),
            "--rate" => args.rate = Some(number(&value("--rate")?, "--rate")?),
            "--receipt" => args.receipt = true,
            "--ack" => {
                args.ack = match value("--ack")?.as_str() {
                    "auto" => AckMode::Auto,
                    "client" => AckMode::Client,
                    "client-individual" => AckMode::ClientIndividual,
                    other => {
                        return Err(format!(
                            "--ack {other}: expected auto, client or client-individual"
                        ))
                    }
                }
            }
            "--timeout" => args.timeout = Some(number(&value("--timeout")?, "--timeout")?),
            "--publishers" => args.publishers = number(&value("--publishers")?, "--publishers")?,
            "--subscribers" => {
                args.subscribers = number(&value("--subscribers")?, "--subscribers")?
            }
            "--messages" => args.messages = number(&value("--messages")?, "--messages")?,
            "--size" => args.size = number(&value("--size")?, "--size")?,
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [command, url, destination]: [String; 3] = positional
        .try_into()
        .map_err(|_| format!("expected COMMAND URL DESTINATION\n{USAGE}"))?;
    args.command = command;
    args.url = url;
    args.destination = destination;
    Ok(args)
}

const USAGE: &str =
    "usage: stomp send|subscribe|bench URL DESTINATION [options] (see examples/stomp.rs)";

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what}: `{text}` is not a valid number"))
}

fn options(args: &Args) -> ClientOptions {
    let mut o = ClientOptions::new().heartbeat(Heartbeat::new(args.heartbeat.0, args.heartbeat.1));
    if let Some(l) = &args.login {
        o = o.login(l);
    }
    if let Some(p) = &args.passcode {
        o = o.passcode(p);
    }
    if let Some(h) = &args.host {
        o = o.host(h);
    }
    if let Some(ca) = &args.ca {
        o = o.ca_file(ca);
    }
    let policy = if args.no_reconnect {
        ReconnectPolicy::never()
    } else {
        ReconnectPolicy::default()
            .initial_delay(Duration::from_millis(250))
            .max_delay(Duration::from_secs(5))
            .seed(u64::from(std::process::id()))
    };
    o.reconnect(policy)
}

fn frame_options(args: &Args) -> FrameOptions {
    args.headers
        .iter()
        .fold(FrameOptions::new(), |o, (n, v)| o.header(n, v))
}

/// The tasks printing the clients' states: a failure's reason waits for them, so that it is
/// the last line on stderr.
static WATCHERS: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// How long a failure's reason waits for the state lines still to come.
const WATCHERS_END: std::time::Duration = std::time::Duration::from_secs(2);

/// Reports the connection's state on stderr, as it changes, until the client is gone.
fn watch(client: &Client, who: &str) {
    let mut status = client.status();
    let who = who.to_string();
    let watcher = tokio::spawn(async move {
        while let Ok(s) = status.recv().await {
            let line = match s {
                ClientStatus::Connecting { attempt } if attempt > 1 => {
                    format!("connecting (attempt {attempt})")
                }
                ClientStatus::Connecting { .. } => continue,
                ClientStatus::Connected {
                    version,
                    server,
                    connection,
                } => format!(
                    "connected (STOMP {version}, server {}, connection {connection})",
                    server.as_deref().unwrap_or("unnamed")
                ),
                ClientStatus::Disconnected { reason } => format!("disconnected: {reason}"),
                ClientStatus::Reconnecting { attempt, delay } => {
                    format!(
                        "reconnecting in {} ms (attempt {attempt})",
                        delay.as_millis()
                    )
                }
                ClientStatus::ServerError { message } => {
                    format!(
                        "server ERROR: {}",
                        message.as_deref().unwrap_or("(no message)")
                    )
                }
                ClientStatus::GaveUp { attempts } => format!("gave up after {attempts} attempts"),
                ClientStatus::Closed => "closed".into(),
                other => format!("{other:?}"),
            };
            eprintln!("stomp{who}: {line}");
        }
    });
    WATCHERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(watcher);
}

/// Waits (bounded) until the clients' state lines are all printed: the commands have
/// returned, so their clients are gone and the status channels close.
async fn watchers_done() {
    let watchers = std::mem::take(
        &mut *WATCHERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let _ = tokio::time::timeout(WATCHERS_END, futures_util::future::join_all(watchers)).await;
}

/// The client's last connection failure (a server's ERROR, a transport error), if any, as
/// " (last failure: ...)" for a failure's reason.
fn last_failure(client: &Client) -> String {
    client
        .last_failure()
        .map(|f| format!(" (last failure: {f})"))
        .unwrap_or_default()
}

async fn connect(args: &Args, who: &str) -> Result<Client, String> {
    eprintln!("stomp{who}: connecting to {}", args.url);
    let client = Client::connect(&args.url, options(args))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.url))?;
    eprintln!("stomp{who}: connected to {}", args.url);
    watch(&client, who);
    Ok(client)
}

// ---- send --------------------------------------------------------------------------------------

async fn send(args: &Args) -> Result<(), String> {
    let client = connect(args, "").await?;
    let mut options = frame_options(args);
    if args.receipt {
        options = options.receipt();
    }
    let mut pacer = args.rate.filter(|r| *r > 0.0).map(|rate| {
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        i
    });
    // Receipts are awaited side by side (a window of them), so that a confirmed run is not one
    // round trip per message.
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0u64;
    let body_of = {
        let template = args.body.clone();
        move |seq: u64, line: Option<String>| match (&template, line) {
            (_, Some(line)) => line,
            (Some(t), None) => t.replace("{seq}", &seq.to_string()),
            (None, None) => format!("message {seq}"),
        }
    };
    let mut lines = match args.count {
        Some(_) => None,
        None => Some(tokio::io::BufReader::new(tokio::io::stdin()).lines()),
    };
    let mut seq = 0u64;
    // Without receipts each call ends once written: one at a time keeps them in order. With
    // receipts a window of them is confirmed side by side. The sends in flight are polled
    // while the next message waits for its turn (`--rate`), so that each goes out when due.
    let window = if args.receipt { 1000 } else { 1 };
    let mut source_done = false;
    loop {
        let can_push = !source_done && in_flight.len() < window;
        tokio::select! {
            biased;
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                let result: Result<(), ClientError> = result;
                result.map_err(|e| match e {
                    // Its text names the last failure already.
                    ClientError::Closed { .. } => format!("send failed: {e}"),
                    e => format!("send failed: {e}{}", last_failure(&client)),
                })?;
                sent += 1;
            }
            next = async {
                if let Some(p) = &mut pacer {
                    p.tick().await;
                }
                match (&mut lines, args.count) {
                    (Some(lines), _) => lines.next_line().await,
                    (None, Some(n)) if seq < n => Ok(Some(String::new())),
                    _ => Ok(None),
                }
            }, if can_push => {
                match next {
                    Ok(Some(line)) => {
                        let body = if lines.is_some() { body_of(seq, Some(line)) } else { body_of(seq, None) };
                        let (c, d, o) = (client.clone(), args.destination.clone(), options.clone());
                        in_flight.push(async move { c.send_with(d, body, o).await });
                        seq += 1;
                    }
                    Ok(None) => source_done = true,
                    Err(e) => return Err(format!("reading stdin: {e}")),
                }
            }
            else => break,
        }
    }
    let confirmed = if args.receipt { " (confirmed)" } else { "" };
    eprintln!(
        "stomp: sent {sent} messages to {}{confirmed}",
        args.destination
    );
    let _ = client.disconnect().await;
    Ok(())
}

// ---- subscribe -----------------------------------------------------------------------------------

fn json_line(message: &ReceivedMessage) -> String {
    let frame = message.frame();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers: Vec<[String; 2]> = frame
        .headers()
        .iter()
        .map(|(n, v)| [text(n), text(v)])
        .collect();
    let mut object = serde_json::json!({
        "destination": text(message.destination()),
        "message_id": text(message.message_id()),
        "redelivered": message.redelivered(),
        "headers": headers,
    });
    match std::str::from_utf8(message.body()) {
        Ok(body) => object["body"] = body.into(),
        Err(_) => {
            let hex: String = message.body().iter().map(|b| format!("{b:02x}")).collect();
            object["body_hex"] = hex.into();
        }
    }
    object.to_string()
}

async fn subscribe(args: &Args) -> Result<(), String> {
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let work = async {
        let client = connect(args, "").await?;
        let mut messages = client
            .subscribe_with(&args.destination, args.ack, frame_options(args))
            .await
            .map_err(|e| format!("subscribe failed: {e}"))?;
        let mut received = 0u64;
        let stdout = std::io::stdout();
        while args.count.is_none_or(|n| received < n) {
            let Some(message) = messages.next().await else {
                return Err(format!("the client closed{}", last_failure(&client)));
            };
            {
                let mut out = stdout.lock();
                writeln!(out, "{}", json_line(&message))
                    .and_then(|()| out.flush())
                    .map_err(|e| format!("writing stdout: {e}"))?;
            }
            if args.ack != AckMode::Auto {
                // A message from a lost connection is delivered again: nothing to ack here.
                if let Err(e) = message.ack().await {
                    eprintln!("stomp: ack not sent: {e}");
                }
            }
            received += 1;
        }
        let _ = client.disconnect().await;
        Ok(())
    };
    match deadline {
        Some(d) => tokio::time::timeout_at(d, work).await.unwrap_or_else(|_| {
            Err(format!(
                "timeout: {} s passed",
                args.timeout.unwrap_or_default()
            ))
        }),
        None => work.await,
    }
}

// ---- bench ---------------------------------------------------------------------------------------

async fn bench(args: &Args) -> Result<(), String> {
    let epoch = Instant::now();
    let publishers = args.publishers.max(1);
    let subscribers = args.subscribers;
    let total = args.messages;
    // A queue delivers each message once; a topic once per subscriber.
    let expected = if args.destination.starts_with("/queue/") || subscribers == 0 {
        total.min(total * subscribers as u64)
    } else {
        total * subscribers as u64
    };
    let delivered = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(expected as usize)));

    let mut subs = Vec::new();
    let mut clients = Vec::new();
    for i in 0..subscribers {
        let client = connect(args, &format!("[sub {i}]")).await?;
        let mut stream = client
            .subscribe_with(&args.destination, AckMode::Auto, frame_options(args))
            .await
            .map_err(|e| format!("subscribe failed: {e}"))?;
        let (delivered, latencies) = (delivered.clone(), latencies.clone());
        subs.push(tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                let body = message.body();
                if let Some(sent) = body.get(..16).and_then(|t| std::str::from_utf8(t).ok()) {
                    if let Ok(nanos) = u64::from_str_radix(sent, 16) {
                        let now = epoch.elapsed().as_nanos() as u64;
                        latencies.lock().unwrap().push(now.saturating_sub(nanos));
                    }
                }
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        }));
        clients.push(client);
    }
    // Let the subscriptions reach the broker before publishing.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    let mut pubs = Vec::new();
    for p in 0..publishers {
        let client = connect(args, &format!("[pub {p}]")).await?;
        let share = total / publishers as u64 + u64::from((p as u64) < total % publishers as u64);
        let (destination, size, options) = (
            args.destination.clone(),
            args.size.max(17),
            frame_options(args),
        );
        let published = published.clone();
        pubs.push(tokio::spawn(async move {
            for _ in 0..share {
                let mut body = format!("{:016x}", epoch.elapsed().as_nanos() as u64).into_bytes();
                body.resize(size, b'.');
                match client.send_with(&destination, body, options.clone()).await {
                    Ok(()) => {
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                    // At most once without receipts: a frame lost with its connection is
                    // not published; the session reconnects and the run goes on.
                    Err(ClientError::ConnectionLost) => {}
                    Err(e) => return Err(format!("send failed: {e}")),
                }
            }
            let _ = client.disconnect().await;
            Ok::<(), String>(())
        }));
    }

    let mut last_progress = Instant::now();
    let mut last_count = 0;
    let mut idle_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let d = delivered.load(Ordering::Relaxed);
        let published_now = published.load(Ordering::Relaxed);
        if d != last_count {
            idle_since = Instant::now();
            last_count = d;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            eprintln!("stomp bench: published {published_now}/{total}, delivered {d}/{expected}");
            last_progress = Instant::now();
        }
        let publishing_done = pubs.iter().all(|p| p.is_finished());
        if d >= expected && publishing_done {
            break;
        }
        if publishing_done && idle_since.elapsed() > Duration::from_secs(5) {
            eprintln!("stomp bench: nothing delivered for 5 s; stopping at {d}/{expected}");
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for p in pubs {
        p.await.map_err(|e| format!("publisher: {e}"))??;
    }
    for c in &clients {
        let _ = c.disconnect().await;
    }
    for s in subs {
        s.abort();
    }
    let (published, delivered) = (
        published.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
    );
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort_unstable();
    let percentile = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[i] as f64 / 1e6
    };
    println!(
        "{}",
        serde_json::json!({
            "published": published,
            "delivered": delivered,
            "seconds": seconds,
            "published_per_s": published as f64 / seconds,
            "delivered_per_s": delivered as f64 / seconds,
            "p50_ms": percentile(0.5),
            "p99_ms": percentile(0.99),
        })
    );
    if delivered < expected {
        return Err(format!("delivered {delivered} of {expected}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("stomp: {message}");
            return ExitCode::from(1);
        }
    };
    let result = match args.command.as_str() {
        "send" => send(&args).await,
        "subscribe" => subscribe(&args).await,
        "bench" => bench(&args).await,
        other => Err(format!(
            "unknown command {other}: expected send, subscribe or bench"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            watchers_done().await;
            eprintln!("stomp: {}", reason.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
