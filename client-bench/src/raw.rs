//! The feeder of the consume measurements: a plain blocking socket on its own thread that
//! writes pre-encoded SEND frames, so that the client under test is the only STOMP client
//! library at work (and the feeder's own CPU, measured per thread, can be taken out).
//!
//! It sends one probe message first (the consumer starts its clock when the probe arrives),
//! then, in `Live` mode, waits for the go signal before writing the `n` messages; in `Prefill`
//! mode it writes them at once. Either way it ends with a SEND carrying a receipt and waits for
//! that RECEIPT, so the broker holds every message when it returns. Every wait is bounded by
//! socket timeouts and the go timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use crate::cpu;

/// How long any single socket read or write, or the wait for the go signal, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the feeder's last SEND (the one with the receipt) goes.
const DONE_TOPIC: &str = "/topic/client-bench.feeder-done";

/// What the feeder writes.
#[derive(Debug, Clone)]
pub struct Feed {
    pub addr: String,
    pub destination: String,
    pub messages: usize,
    pub body: Vec<u8>,
    /// Extra headers on every SEND (the queue arguments, which must match the SUBSCRIBE's).
    pub headers: Vec<(String, String)>,
}

/// The CPU time the feeder's thread spent writing the measured messages (after the go signal
/// in live mode; zero in prefill mode, where nothing is being measured yet).
pub type FeederCpu = Duration;

fn encode_send(
    out: &mut Vec<u8>,
    destination: &str,
    headers: &[(String, String)],
    body: &[u8],
    receipt: Option<&str>,
) {
    out.extend_from_slice(b"SEND\ndestination:");
    out.extend_from_slice(destination.as_bytes());
    out.extend_from_slice(format!("\ncontent-length:{}\n", body.len()).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}:{value}\n").as_bytes());
    }
    if let Some(receipt) = receipt {
        out.extend_from_slice(format!("receipt:{receipt}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out.push(0);
}

/// Reads until `until` occurs in what the broker sent; an ERROR frame fails.
fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, until: &[u8]) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    loop {
        if seen.windows(until.len()).any(|w| w == until) {
            return Ok(());
        }
        if seen.starts_with(b"ERROR") || seen.windows(6).any(|w| w == b"\nERROR") {
            return Err(format!(
                "feeder: the broker sent {}",
                String::from_utf8_lossy(seen).replace(['\n', '\0'], " ")
            ));
        }
        let read = stream
            .read(&mut buf)
            .map_err(|e| format!("feeder: read: {e}"))?;
        if read == 0 {
            return Err("feeder: the broker closed the connection".into());
        }
        seen.extend_from_slice(&buf[..read]);
    }
}

/// Connects, sends the probe, waits for `go` when given one, writes the messages and the
/// final receipt, and disconnects.
pub fn feed(feed: &Feed, go: Option<mpsc::Receiver<()>>) -> Result<FeederCpu, String> {
    let mut stream = TcpStream::connect(&feed.addr).map_err(|e| format!("feeder: connect: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| format!("feeder: socket options: {e}"))?;
    stream
        .write_all(
            b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0",
        )
        .map_err(|e| format!("feeder: write: {e}"))?;
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, b"\0")?;
    if !seen.starts_with(b"CONNECTED") {
        return Err(format!(
            "feeder: expected CONNECTED, got {}",
            String::from_utf8_lossy(&seen).replace(['\n', '\0'], " ")
        ));
    }
    seen.clear();

    let mut probe = Vec::new();
    encode_send(&mut probe, &feed.destination, &feed.headers, b"probe", None);
    stream
        .write_all(&probe)
        .map_err(|e| format!("feeder: write: {e}"))?;

    let mut frames = Vec::with_capacity(feed.messages * (feed.body.len() + 96) + 256);
    for _ in 0..feed.messages {
        encode_send(
            &mut frames,
            &feed.destination,
            &feed.headers,
            &feed.body,
            None,
        );
    }
    // The receipt confirms everything before it on this connection; its SEND goes to a topic
    // nobody subscribes to, so it leaves nothing behind in the queue.
    encode_send(&mut frames, DONE_TOPIC, &[], b"end", Some("feeder-done"));

    let live = go.is_some();
    if let Some(go) = go {
        go.recv_timeout(IO_TIMEOUT)
            .map_err(|_| "feeder: no go signal (the consumer never saw the probe)".to_string())?;
    }
    let started = cpu::thread();
    for chunk in frames.chunks(256 * 1024) {
        stream
            .write_all(chunk)
            .map_err(|e| format!("feeder: write: {e}"))?;
    }
    let spent = cpu::thread().saturating_sub(started);
    read_until(&mut stream, &mut seen, b"receipt-id:feeder-done")?;
    let _ = stream.write_all(b"DISCONNECT\n\n\0");
    Ok(if live { spent } else { Duration::ZERO })
}
