//! Generated STOMP streams shared by the decode and encode benchmarks.
//!
//! Deterministic (a fixed xorshift seed) so every run measures the same bytes.

use bytes::{Bytes, BytesMut};
use stomp_codec::{Command, Encoder, Frame, Version};

/// A named corpus: the frames and their wire bytes (each frame followed by an EOL, as brokers
/// write them).
pub struct Corpus {
    pub name: &'static str,
    pub frames: Vec<Frame>,
    pub wire: Bytes,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn wire(frames: &[Frame]) -> Bytes {
    let encoder = Encoder::new(Version::V1_2);
    let mut out = BytesMut::new();
    for f in frames {
        encoder
            .encode(f, &mut out)
            .expect("corpus frames are representable");
        out.extend_from_slice(b"\n");
    }
    out.freeze()
}

fn message(rng: &mut Rng, i: usize, escaped: bool, body: Bytes) -> Frame {
    let room = rng.below(50);
    let mut b = Frame::builder(Command::Message)
        .header("destination", format!("/topic/room.{room}"))
        .header("message-id", format!("T_sub-0@@session-Kq3s9x@@{i}"))
        .header("subscription", "sub-0")
        .header("ack", format!("T_sub-0@@session-Kq3s9x@@{i}"))
        .header("content-type", "application/json");
    b = if escaped {
        b.header("x-trace", format!("span:{i}\\node\nhop:{room}"))
    } else {
        b.header("redelivered", "false")
    };
    b.body(body).build()
}

/// ~100k MESSAGE frames of 150–250 bytes, 6 headers, JSON bodies.
pub fn small() -> Corpus {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let frames: Vec<Frame> = (0..100_000)
        .map(|i| {
            let pad = "x".repeat(rng.below(60) as usize);
            let body = format!(
                "{{\"user\":\"u{}\",\"text\":\"hi {pad}\"}}",
                rng.below(1000)
            );
            message(&mut rng, i, false, body.into())
        })
        .collect();
    Corpus {
        name: "small",
        wire: wire(&frames),
        frames,
    }
}

/// The small corpus with a header value that needs `\c`, `\\` and `\n` escapes in every frame.
pub fn escaped() -> Corpus {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let frames: Vec<Frame> = (0..100_000)
        .map(|i| {
            let pad = "x".repeat(rng.below(40) as usize);
            let body = format!(
                "{{\"user\":\"u{}\",\"text\":\"hi {pad}\"}}",
                rng.below(1000)
            );
            message(&mut rng, i, true, body.into())
        })
        .collect();
    Corpus {
        name: "escaped",
        wire: wire(&frames),
        frames,
    }
}

/// 2,000 MESSAGE frames with 4 KiB text bodies and content-length.
pub fn medium() -> Corpus {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let frames: Vec<Frame> = (0..2_000)
        .map(|i| {
            let body: Vec<u8> = (0..4096).map(|_| b'a' + rng.below(26) as u8).collect();
            message(&mut rng, i, false, body.into())
        })
        .collect();
    Corpus {
        name: "medium",
        wire: wire(&frames),
        frames,
    }
}

/// 16 MESSAGE frames with 1 MiB binary bodies (NULs included) and content-length.
pub fn large() -> Corpus {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let frames: Vec<Frame> = (0..16)
        .map(|i| {
            let body: Vec<u8> = (0..1 << 20).map(|_| rng.next() as u8).collect();
            message(&mut rng, i, false, body.into())
        })
        .collect();
    Corpus {
        name: "large",
        wire: wire(&frames),
        frames,
    }
}
