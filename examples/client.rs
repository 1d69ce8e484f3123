//! A STOMP client over TCP, built on the sans-IO [`ClientConnection`] and tokio.
//!
//! It runs one round trip against a broker and checks that the broker confirmed every step:
//!
//! 1. CONNECT with heart-beats on (1000,1000) and wait for CONNECTED;
//! 2. SUBSCRIBE in `client-individual` mode, with a receipt;
//! 3. SEND a message with a receipt, and wait for the RECEIPT and for the MESSAGE to come back
//!    (in whichever order the broker sends them);
//! 4. ACK the MESSAGE with a receipt;
//! 5. DISCONNECT with a receipt, and wait for it.
//!
//! The exit status is 0 only when all of that happened; otherwise the client says what went
//! wrong (connection refused, an ERROR frame and its message, a timeout, the broker closing the
//! connection) on stderr and exits with 1 (2 for bad arguments).
//!
//! ```text
//! cargo run --example client -- --login guest --passcode guest       # RabbitMQ on 127.0.0.1:61613
//! cargo run --example client -- --addr 127.0.0.1:61623               # ActiveMQ, as interop/ starts it
//! ```
//!
//! The socket is driven the way `stomp_codec::ClientConnection` documents: after every input
//! (bytes read, a timer, a frame of ours) drain `poll_event` and `poll_transmit`, then wait for
//! whichever comes first: bytes from the socket or the connection's `poll_timeout` deadline
//! (heart-beats), bounded by the deadline of the current step.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use stomp_codec::{
    AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, FrameOptions, Heartbeat,
    Message, UsageError, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

const USAGE: &str = "\
Usage: client [OPTIONS]

Runs one STOMP round trip against a broker over TCP: CONNECT (heart-beats on), SUBSCRIBE
(client-individual), SEND with a receipt, receive the MESSAGE, ACK it with a receipt, DISCONNECT
with a receipt. Exits 0 only when the broker confirmed every step.

Options:
  --addr HOST:PORT     broker address (default 127.0.0.1:61613)
  --login LOGIN        CONNECT login header (default: none)
  --passcode PASSCODE  CONNECT passcode header (default: none)
  --host VHOST         CONNECT host header, the virtual host (default /)
  --destination DEST   where to subscribe and send (default /queue/stomp-codec-demo)
  -h, --help           print this help";

/// The heart-beat offered: send every second, expect the broker every second.
const HEART_BEAT: Heartbeat = Heartbeat::new(1_000, 1_000);
/// The whole run must finish within this.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Each step (TCP connect, waiting for one confirmation) must finish within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Args {
    addr: String,
    login: Option<String>,
    passcode: Option<String>,
    host: String,
    destination: String,
}

/// `Ok(None)`: `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        addr: "127.0.0.1:61613".into(),
        login: None,
        passcode: None,
        host: "/".into(),
        destination: "/queue/stomp-codec-demo".into(),
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        // Both `--flag value` and `--flag=value`.
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
            "--addr" => parsed.addr = value()?,
            "--login" => parsed.login = Some(value()?),
            "--passcode" => parsed.passcode = Some(value()?),
            "--host" => parsed.host = value()?,
            "--destination" => parsed.destination = value()?,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(parsed))
}

/// Why the round trip failed.
#[derive(Debug)]
enum Failure {
    /// The TCP connection could not be opened.
    Connect { addr: String, error: String },
    /// The broker sent ERROR.
    ErrorFrame {
        message: Option<String>,
        body: Bytes,
    },
    /// The connection ended before the step was confirmed.
    Closed { waiting_for: String, reason: String },
    /// A step was not confirmed in time.
    Timeout {
        waiting_for: String,
        after: Duration,
    },
    /// Reading or writing the socket failed.
    Io(std::io::Error),
    /// The connection refused a frame of ours (a bug in this program).
    Usage(UsageError),
    /// The broker confirmed something unexpected.
    Unexpected(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            Failure::ErrorFrame { message, body } => {
                write!(
                    f,
                    "the broker sent ERROR: {}",
                    message.as_deref().unwrap_or("(no message header)")
                )?;
                let body = String::from_utf8_lossy(body);
                if !body.trim().is_empty() {
                    write!(f, " ({})", body.trim())?;
                }
                Ok(())
            }
            Failure::Closed {
                waiting_for,
                reason,
            } => write!(
                f,
                "connection closed while waiting for {waiting_for}: {reason}"
            ),
            Failure::Timeout { waiting_for, after } => {
                let after = after.as_secs_f64();
                write!(f, "timed out after {after:.1} s waiting for {waiting_for}")
            }
            Failure::Io(e) => write!(f, "socket error: {e}"),
            Failure::Usage(e) => write!(f, "frame refused by the connection: {e}"),
            Failure::Unexpected(what) => f.write_str(what),
        }
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Failure {
        Failure::Usage(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// What the broker has sent so far, gathered from the connection's events.
#[derive(Debug, Default)]
struct Received {
    connected: Option<ClientEvent>,
    messages: VecDeque<Message>,
    receipts: HashSet<Bytes>,
    error: Option<Failure>,
    closed: Option<CloseReason>,
}

impl Received {
    fn record(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { .. } => self.connected = Some(event),
            ClientEvent::Message(message) => self.messages.push_back(message),
            ClientEvent::ReceiptConfirmed { receipt_id } => {
                self.receipts.insert(receipt_id);
            }
            ClientEvent::ErrorReceived { message, body, .. } => {
                self.error = Some(Failure::ErrorFrame { message, body });
            }
            ClientEvent::Closed(reason) => self.closed = Some(reason),
            ClientEvent::UnknownReceipt { receipt_id } => {
                println!("note: RECEIPT for an unknown receipt id {receipt_id:?}");
            }
            ClientEvent::ProtocolViolation { error, .. } => {
                println!("note: a frame from the broker was dropped: {error}");
            }
            ClientEvent::HeartbeatTimeout => println!("note: the broker stopped heart-beating"),
            other => println!("note: {other:?}"),
        }
    }
}

/// One TCP connection and the [`ClientConnection`] that speaks STOMP on it.
struct Session {
    conn: ClientConnection,
    stream: TcpStream,
    read_buf: BytesMut,
    received: Received,
    /// The end of the whole run.
    deadline: Instant,
}

impl Session {
    /// Drains the connection's outputs: events into `received`, bytes onto the socket, until
    /// both queues are empty (acting on one may fill the other).
    async fn drain(&mut self) -> Result<(), Failure> {
        loop {
            let mut idle = true;
            while let Some(event) = self.conn.poll_event() {
                self.received.record(event);
                idle = false;
            }
            while let Some(bytes) = self.conn.poll_transmit() {
                self.stream.write_all(&bytes).await?;
                idle = false;
            }
            if idle {
                return Ok(());
            }
        }
    }

    /// Drives the connection until `done` finds what it waits for in what was received, the
    /// broker sends ERROR or closes, or the step times out.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut Received) -> Option<T>,
    ) -> Result<T, Failure> {
        let step_started = Instant::now();
        let step_deadline = (step_started + STEP_TIMEOUT).min(self.deadline);
        loop {
            self.drain().await?;
            if let Some(found) = done(&mut self.received) {
                return Ok(found);
            }
            if let Some(error) = self.received.error.take() {
                return Err(error);
            }
            if let Some(reason) = &self.received.closed {
                let reason = match reason {
                    CloseReason::PeerClosed => "the broker closed the TCP connection".into(),
                    CloseReason::Failed(e) => format!("protocol failure: {e}"),
                    other => format!("{other:?}"),
                };
                return Err(Failure::Closed {
                    waiting_for: what.into(),
                    reason,
                });
            }
            let checked = Instant::now();
            if checked >= step_deadline {
                return Err(Failure::Timeout {
                    waiting_for: what.into(),
                    after: checked - step_started,
                });
            }
            // Wake up for the connection's own timers (heart-beats) or the step deadline.
            let wake = match self.conn.poll_timeout() {
                Some(at) => Instant::from_std(at).min(step_deadline),
                None => step_deadline,
            };
            self.read_buf.reserve(8 * 1024);
            // Bytes that are ready win over a timer (`biased`): after a stall, what the broker
            // sent in time is fed before a deadline that has meanwhile passed is checked.
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.read_buf) => match read? {
                    0 => self.conn.handle_close(),
                    _ => {
                        let bytes = self.read_buf.split().freeze();
                        // Protocol errors are reported as `Closed(Failed(..))`, handled above.
                        self.conn.handle_input_bytes(now(), bytes);
                    }
                },
                () = sleep_until(wake) => self.conn.handle_timeout(now()),
            }
        }
    }
}

/// The one clock the connection is given (`now` of every call): the standard monotonic
/// clock. Its deadlines are turned into tokio's `Instant` only to sleep.
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

async fn round_trip(args: &Args) -> Result<(), Failure> {
    let started = Instant::now();
    let lap = || format!("{:6.1} ms", started.elapsed().as_secs_f64() * 1000.0);

    let stream = match timeout(STEP_TIMEOUT, TcpStream::connect(&args.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(Failure::Connect {
                addr: args.addr.clone(),
                error: e.to_string(),
            })
        }
        Err(_) => {
            return Err(Failure::Connect {
                addr: args.addr.clone(),
                error: format!("no answer within {STEP_TIMEOUT:?}"),
            })
        }
    };
    // Frames are written whole: do not let Nagle hold one back waiting for an ACK.
    stream.set_nodelay(true)?;
    println!("{}  TCP connected to {}", lap(), args.addr);

    let mut config = ClientConfig::new(args.host.clone()).heartbeat(HEART_BEAT);
    if let Some(login) = &args.login {
        config = config.login(login.clone());
    }
    if let Some(passcode) = &args.passcode {
        config = config.passcode(passcode.clone());
    }
    let mut session = Session {
        conn: ClientConnection::new(config),
        stream,
        read_buf: BytesMut::new(),
        received: Received::default(),
        deadline: started + OVERALL_TIMEOUT,
    };

    // 1. CONNECT -> CONNECTED.
    session.conn.connect(now())?;
    let connected = session
        .wait_for("CONNECTED", |r| r.connected.take())
        .await?;
    if let ClientEvent::Connected {
        version,
        session: id,
        server,
        send_interval,
        receive_interval,
        ..
    } = &connected
    {
        println!(
            "{}  CONNECTED version={version} server={} session={} heart-beats: we send every {}, \
             the broker every {}",
            lap(),
            server.as_deref().unwrap_or("-"),
            id.as_deref().unwrap_or("-"),
            shown_interval(*send_interval),
            shown_interval(*receive_interval),
        );
        if *version == Version::V1_0 {
            return Err(Failure::Unexpected(
                "the broker chose STOMP 1.0, which has no client-individual ack mode".into(),
            ));
        }
    }

    // 2. SUBSCRIBE, client-individual, confirmed by a RECEIPT.
    let subscribed = session.conn.subscribe(
        now(),
        "sub-0",
        &args.destination,
        AckMode::ClientIndividual,
        FrameOptions::new().receipt(),
    )?;
    wait_receipt(&mut session, "SUBSCRIBE", subscribed).await?;
    println!(
        "{}  SUBSCRIBE id=sub-0 destination={} ack=client-individual confirmed",
        lap(),
        args.destination
    );

    // 3. SEND with a receipt; the MESSAGE is recognised by a header unique to this run, so
    //    that a message left in the queue by an earlier run is not mistaken for ours.
    let run_id = run_id();
    let body = format!("hello from stomp-codec's client example (run {run_id})");
    let sent = session.conn.send(
        now(),
        &args.destination,
        body.clone(),
        FrameOptions::new()
            .receipt()
            .content_type("text/plain;charset=utf-8")
            .header("x-stomp-codec-run", &run_id),
    )?;
    wait_receipt(&mut session, "SEND", sent).await?;
    println!("{}  SEND confirmed by its RECEIPT", lap());

    let message = session
        .wait_for("the MESSAGE", |r| {
            while let Some(m) = r.messages.pop_front() {
                if m.frame.headers().get("x-stomp-codec-run") == Some(run_id.as_bytes()) {
                    return Some(m);
                }
                println!(
                    "note: skipping a message from an earlier run (message-id {}); it is left \
                     unacknowledged, so the broker keeps it",
                    String::from_utf8_lossy(&m.message_id)
                );
            }
            None
        })
        .await?;
    println!(
        "{}  MESSAGE message-id={} body={:?}",
        lap(),
        String::from_utf8_lossy(&message.message_id),
        String::from_utf8_lossy(message.body())
    );
    if message.body() != body.as_bytes() {
        return Err(Failure::Unexpected(format!(
            "the MESSAGE body differs from what was sent: {:?}",
            String::from_utf8_lossy(message.body())
        )));
    }

    // 4. ACK (the connection writes `id`, or `message-id` + `subscription`, per version).
    let acked = session
        .conn
        .ack(now(), &message, FrameOptions::new().receipt())?;
    wait_receipt(&mut session, "ACK", acked).await?;
    println!("{}  ACK confirmed by its RECEIPT", lap());

    // 5. DISCONNECT with a receipt: the connection closes when the RECEIPT arrives.
    let disconnect = session
        .conn
        .disconnect(now(), FrameOptions::new().receipt())?;
    wait_receipt(&mut session, "DISCONNECT", disconnect).await?;
    session.drain().await?;
    // Close our side; the broker may already have closed its own.
    let _ = session.stream.shutdown().await;
    println!("{}  DISCONNECT confirmed by its RECEIPT", lap());
    Ok(())
}

/// Waits for the RECEIPT of a frame sent with `FrameOptions::receipt()`.
async fn wait_receipt(
    session: &mut Session,
    frame: &str,
    receipt: Option<Bytes>,
) -> Result<(), Failure> {
    let Some(id) = receipt else {
        return Err(Failure::Unexpected(format!(
            "{frame} was queued without a receipt id"
        )));
    };
    let what = format!("the RECEIPT for {frame} (receipt-id {})", shown(&id));
    session
        .wait_for(&what, |r| r.receipts.remove(&id).then_some(()))
        .await
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn shown_interval(interval: Option<Duration>) -> String {
    interval.map_or("never".into(), |d| format!("{} ms", d.as_millis()))
}

/// Unique enough to tell this run's message from older ones: process id and wall-clock time.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("client: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match timeout(OVERALL_TIMEOUT, round_trip(&args)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Timeout {
            waiting_for: "the whole round trip".into(),
            after: OVERALL_TIMEOUT,
        }),
    };
    match outcome {
        Ok(()) => {
            println!(
                "OK: every step was confirmed by the broker at {}",
                args.addr
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("client: FAILED: {failure}");
            ExitCode::FAILURE
        }
    }
}
