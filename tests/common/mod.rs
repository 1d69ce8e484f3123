//! Shared helpers for the integration tests: feed a decoder whole, in chunks, byte by byte or
//! split at every point, with each of its three input paths, and collect what it produced.
//!
//! Every test file uses a subset of these, so unused ones are allowed.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use stomp_codec::{Command, DecodeError, Decoder, Frame, Item, Version};

/// What a decoder produced for one input: the items in order, the error that stopped it (if
/// any), and whether the input ended inside an unfinished frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub items: Vec<Item>,
    pub error: Option<DecodeError>,
    pub mid_frame: bool,
}

impl Outcome {
    /// The frames, heart-beats skipped.
    pub fn frames(&self) -> Vec<&Frame> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Frame(f) => Some(f),
                Item::Heartbeat => None,
            })
            .collect()
    }

    /// Asserts a clean end (no error, not mid-frame) and returns the items.
    pub fn ok(self) -> Vec<Item> {
        assert_eq!(self.error, None, "unexpected error after {:?}", self.items);
        assert!(!self.mid_frame, "input ended mid-frame: {:?}", self.items);
        self.items
    }

    /// Asserts the decoder failed and returns the error.
    pub fn err(&self) -> DecodeError {
        match &self.error {
            Some(e) => e.clone(),
            None => panic!("expected an error, got {:?}", self.items),
        }
    }
}

/// The three ways of handing bytes to a [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `push(&[u8])` then `next_item()`.
    Push,
    /// `push_bytes(Bytes)` then `next_item()`.
    PushBytes,
    /// A caller-owned `BytesMut` and `decode(&mut buf)`.
    Decode,
}

pub const FEEDS: [Feed; 3] = [Feed::Push, Feed::PushBytes, Feed::Decode];

/// Bytes pushed after an error to show that it is sticky (a valid frame, which must not be
/// decoded).
const AFTER_ERROR: &[u8] = b"SEND\n\n\0\n";

/// Feeds `input` to a fresh decoder from `make`, cut at the sorted offsets `cuts`, draining
/// after every piece. After an error it checks that the error is sticky: more input and more
/// calls give the same error and nothing else.
pub fn run(make: &dyn Fn() -> Decoder, input: &[u8], cuts: &[usize], feed: Feed) -> Outcome {
    let mut dec = make();
    let mut items = Vec::new();
    let mut buf = BytesMut::new();
    let mut start = 0;
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .chain([input.len()]);
    for end in ends {
        let piece = &input[start..end];
        start = end;
        match feed {
            Feed::Push => dec.push(piece),
            Feed::PushBytes => dec.push_bytes(Bytes::copy_from_slice(piece)),
            Feed::Decode => buf.extend_from_slice(piece),
        }
        loop {
            let next = match feed {
                Feed::Decode => dec.decode(&mut buf),
                _ => dec.next_item(),
            };
            match next {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(err) => {
                    assert_sticky(&mut dec, &mut buf, feed, &err);
                    return Outcome {
                        items,
                        error: Some(err),
                        mid_frame: false,
                    };
                }
            }
        }
    }
    let mid_frame = match feed {
        Feed::Decode => !buf.is_empty(),
        _ => dec.is_mid_frame(),
    };
    Outcome {
        items,
        error: None,
        mid_frame,
    }
}

fn assert_sticky(dec: &mut Decoder, buf: &mut BytesMut, feed: Feed, err: &DecodeError) {
    assert_eq!(dec.error(), Some(err), "error() after a failure");
    for _ in 0..2 {
        let again = match feed {
            Feed::Push => {
                dec.push(AFTER_ERROR);
                dec.next_item()
            }
            Feed::PushBytes => {
                dec.push_bytes(Bytes::from_static(AFTER_ERROR));
                dec.next_item()
            }
            Feed::Decode => {
                buf.extend_from_slice(AFTER_ERROR);
                dec.decode(buf)
            }
        };
        assert_eq!(
            again.as_ref(),
            Err(err),
            "the error must be sticky ({feed:?})"
        );
    }
    assert_eq!(dec.error(), Some(err));
}

/// The whole input in one piece, with `push`.
pub fn whole(make: &dyn Fn() -> Decoder, input: &[u8]) -> Outcome {
    run(make, input, &[], Feed::Push)
}

/// One octet at a time.
pub fn bytewise(make: &dyn Fn() -> Decoder, input: &[u8], feed: Feed) -> Outcome {
    let cuts: Vec<usize> = (1..input.len()).collect();
    run(make, input, &cuts, feed)
}

/// Decodes `input` whole, byte by byte, and split in two at every point (sampled for long
/// inputs), through `push`, `push_bytes` and `decode`, and asserts that every way gives the
/// same outcome (F-11). Returns it.
pub fn check(make: &dyn Fn() -> Decoder, input: &[u8]) -> Outcome {
    let reference = whole(make, input);
    let step = (input.len() / 300).max(1);
    for feed in FEEDS {
        let got = run(make, input, &[], feed);
        assert_eq!(got, reference, "whole input via {feed:?}");
        if input.len() <= 200_000 {
            let got = bytewise(make, input, feed);
            assert_eq!(got, reference, "byte by byte via {feed:?}");
        }
        for split in (1..input.len()).step_by(step) {
            let got = run(make, input, &[split], feed);
            assert_eq!(got, reference, "split at {split} via {feed:?}");
        }
    }
    reference
}

/// [`check`] with a default decoder for `version`.
pub fn check_v(version: Version, input: &[u8]) -> Outcome {
    check(&|| Decoder::new(version), input)
}

/// Feeds `input` cut at `cuts` through every feed and asserts they agree with the whole-input
/// outcome; returns it.
pub fn check_cuts(make: &dyn Fn() -> Decoder, input: &[u8], cuts: &[usize]) -> Outcome {
    let reference = whole(make, input);
    for feed in FEEDS {
        assert_eq!(run(make, input, cuts, feed), reference, "cuts via {feed:?}");
    }
    reference
}

/// An expected frame item.
pub fn fr<N, V>(command: Command, headers: impl IntoIterator<Item = (N, V)>, body: &[u8]) -> Item
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    Item::Frame(
        Frame::builder(command)
            .headers(headers)
            .body(Bytes::copy_from_slice(body))
            .build(),
    )
}

/// No headers, for [`fr`].
pub const NO_HEADERS: [(&str, &str); 0] = [];

/// A heart-beat item.
pub const HB: Item = Item::Heartbeat;

/// The frame inside an item.
pub fn frame(item: &Item) -> &Frame {
    match item {
        Item::Frame(f) => f,
        Item::Heartbeat => panic!("expected a frame, got a heart-beat"),
    }
}

/// The headers of a frame as owned pairs, in wire order.
pub fn header_list(f: &Frame) -> Vec<(Vec<u8>, Vec<u8>)> {
    f.headers()
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect()
}

/// The stream offset of the first occurrence of `needle` in `hay`.
pub fn at(hay: &[u8], needle: &[u8]) -> u64 {
    at_from(hay, needle, 0)
}

/// The stream offset of the first occurrence of `needle` in `hay` at or after `from`.
pub fn at_from(hay: &[u8], needle: &[u8], from: usize) -> u64 {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| (from + p) as u64)
        .unwrap_or_else(|| panic!("{:?} not in input", needle.escape_ascii().to_string()))
}

/// The `seed-*` files of one fuzz corpus directory (`fuzz/corpus/<target>`), sorted by name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect()
}
