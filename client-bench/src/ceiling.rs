//! The ceiling: what a broker gives a client that does no work at all, measured the same way
//! as the clients. It is not a client anyone would use (no decoding, no checks beyond counting
//! frames): the SEND frames are encoded before the clock starts and written in large blocks,
//! and what comes back is only counted, one NUL octet a frame. No client can go much faster
//! than this on the same broker, so `ceiling ÷ better peer` is about the most any client could
//! reach in the ratio of that row (within the run's noise: on RabbitMQ the ceiling has
//! measured below the better peer).
//!
//! Heart-beats are off (0,0), so every NUL the broker sends ends a frame: a RECEIPT in the
//! publish measurements, a MESSAGE once subscribed.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cpu::{Meter, Sample};
use crate::peers::{Go, Job};

/// How long any one read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Octets written at once, at most.
const WRITE_BLOCK: usize = 256 * 1024;

/// What [`Raw::frames`] keeps of what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The octets (to look at the CONNECTED frame).
    Octets,
    /// Only the count.
    Count,
}

struct Raw {
    stream: TcpStream,
    input: BytesMut,
    /// The next octet read starts a frame (or the EOLs before one), across reads.
    at_frame_start: bool,
}

impl Raw {
    async fn connect(addr: &str) -> Result<Raw, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("ceiling: connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("ceiling: nodelay: {e}"))?;
        let mut raw = Raw {
            stream,
            input: BytesMut::with_capacity(64 * 1024),
            at_frame_start: true,
        };
        raw.write(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0")
            .await?;
        raw.frames(1, Keep::Octets).await?;
        if !raw.input.starts_with(b"CONNECTED") {
            return Err(format!(
                "ceiling: expected CONNECTED, got {}",
                String::from_utf8_lossy(&raw.input).replace(['\n', '\0'], " ")
            ));
        }
        raw.input.clear();
        Ok(raw)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        for block in bytes.chunks(WRITE_BLOCK) {
            self.stream
                .write_all(block)
                .await
                .map_err(|e| format!("ceiling: write: {e}"))?;
        }
        Ok(())
    }

    /// Reads until at least `least` more frames ended, and says how many did.
    async fn frames(&mut self, least: usize, keep: Keep) -> Result<usize, String> {
        let mut ended = 0;
        while ended < least {
            let start = self.input.len();
            self.input.reserve(64 * 1024);
            let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read_buf(&mut self.input))
                .await
                .map_err(|_| "ceiling: nothing read within 60 s".to_string())?
                .map_err(|e| format!("ceiling: read: {e}"))?;
            if read == 0 {
                return Err("ceiling: the broker closed the connection".into());
            }
            let mut rest = &self.input[start..];
            while !rest.is_empty() {
                if self.at_frame_start {
                    // EOLs between frames; then the command's first octet: ERROR is the only
                    // server frame whose command starts with `E`.
                    let eols = rest
                        .iter()
                        .take_while(|&&b| b == b'\n' || b == b'\r')
                        .count();
                    rest = &rest[eols..];
                    match rest.first() {
                        None => break,
                        Some(b'E') => return Err("ceiling: the broker sent ERROR".into()),
                        Some(_) => self.at_frame_start = false,
                    }
                }
                let Some(end) = memchr::memchr(0, rest) else {
                    break;
                };
                ended += 1;
                self.at_frame_start = true;
                rest = &rest[end + 1..];
            }
            if keep == Keep::Count {
                self.input.clear();
            }
        }
        Ok(ended)
    }

    async fn close(mut self) {
        let _ = self.stream.write_all(b"DISCONNECT\n\n\0").await;
        let _ = self.stream.shutdown().await;
    }
}

fn encode_send(out: &mut BytesMut, destination: &str, body: &[u8], receipt: Option<usize>) {
    out.put_slice(b"SEND\ndestination:");
    out.put_slice(destination.as_bytes());
    out.put_slice(format!("\ncontent-length:{}\n", body.len()).as_bytes());
    if let Some(n) = receipt {
        out.put_slice(format!("receipt:r-{n}\n").as_bytes());
    }
    out.put_slice(b"\n");
    out.put_slice(body);
    out.put_u8(0);
}

/// Without receipts: every SEND written at once, then one with a receipt, and its RECEIPT
/// awaited. With receipts: SENDs with receipts written in blocks while at most `window` are
/// unanswered, the RECEIPTs counted.
pub async fn publish(job: &Job, receipts: bool) -> Result<Sample, String> {
    let mut raw = Raw::connect(&job.addr).await?;
    let mut all = BytesMut::with_capacity(job.messages * (job.body.len() + 80) + 128);
    // Where each frame ends in `all`.
    let ends: Vec<usize> = (0..job.messages)
        .map(|i| {
            encode_send(&mut all, &job.destination, &job.body, receipts.then_some(i));
            all.len()
        })
        .collect();
    let meter = Meter::start();
    if receipts {
        let window = job.window.max(2);
        let (mut sent, mut confirmed, mut written) = (0, 0, 0);
        while confirmed < job.messages {
            // Refill once half the window is answered: large writes, as the clients do.
            if confirmed > sent {
                return Err(format!("ceiling: {confirmed} RECEIPTs for {sent} SENDs"));
            }
            if sent < job.messages && sent - confirmed <= window / 2 {
                sent = (confirmed + window).min(job.messages);
                raw.write(&all[written..ends[sent - 1]]).await?;
                written = ends[sent - 1];
            }
            confirmed += raw.frames(1, Keep::Count).await?;
        }
    } else {
        encode_send(&mut all, &job.destination, b"end", Some(job.messages));
        raw.write(&all).await?;
        raw.frames(1, Keep::Count).await?;
    }
    let sample = meter.stop();
    raw.close().await;
    Ok(sample)
}

/// SUBSCRIBE (auto ack), the probe awaited, then MESSAGE frames counted.
pub async fn consume(job: &Job, go: Go) -> Result<Sample, String> {
    let mut raw = Raw::connect(&job.addr).await?;
    let mut subscribe = format!(
        "SUBSCRIBE\nid:0\nack:auto\ndestination:{}\n",
        job.destination
    );
    for (name, value) in &job.subscribe_headers {
        subscribe.push_str(&format!("{name}:{value}\n"));
    }
    subscribe.push_str("\n\0");
    raw.write(subscribe.as_bytes()).await?;
    // The probe, and maybe the first of the messages after it (prefilled queues).
    let mut received = raw.frames(1, Keep::Count).await? - 1;
    let meter = Meter::start();
    go();
    while received < job.messages {
        received += raw.frames(1, Keep::Count).await?;
    }
    let sample = meter.stop();
    raw.close().await;
    Ok(sample)
}
