//! Structured input of the `roundtrip_frames` fuzz target.
//!
//! Used by the fuzz target (`fuzz/fuzz_targets/roundtrip_frames.rs`) and by stomp-codec's
//! `tests/fuzz_corpus.rs`, so that the stable corpus replay turns each corpus file into exactly
//! the frame the fuzzer saw (both decode the bytes with
//! `arbitrary::Unstructured::arbitrary_take_rest`, as `libfuzzer_sys::fuzz_target!` does).

use arbitrary::Arbitrary;
use stomp_codec::{Command, Frame, Version};

/// Header names worth hitting often: protocol names, a repeatable user name, and case variants
/// that must stay user headers (H-9).
const NAMES: [&[u8]; 8] = [
    b"content-length",
    b"destination",
    b"content-type",
    b"receipt",
    b"x-repeat",
    b"Content-Length",
    b"id",
    b"message-id",
];

/// A frame, the version to encode it in and where to cut the encoding.
#[derive(Debug, Clone, Arbitrary)]
pub struct FrameInput {
    /// 0, 1, 2 (mod 3): 1.0, 1.1, 1.2.
    pub version: u8,
    /// The command.
    pub command: CommandInput,
    /// Headers in order; repeats allowed.
    pub headers: Vec<(NameInput, Vec<u8>)>,
    /// An extra `content-length` header, appended after `headers`.
    pub length: Option<LengthInput>,
    /// `FrameBuilder::omit_content_length`.
    pub omit_content_length: bool,
    /// Cut points in the encoded frame (taken modulo its length).
    pub splits: Vec<u16>,
    /// The body (arbitrary octets, NUL included).
    pub body: Vec<u8>,
}

/// A command: a standard one, or any octets as an extension.
#[derive(Debug, Clone, Arbitrary)]
pub enum CommandInput {
    /// `Command::STANDARD[n % 15]`.
    Standard(u8),
    /// `Command::Extension` with these octets (possibly invalid, D-1).
    Extension(Vec<u8>),
}

/// A header name.
#[derive(Debug, Clone, Arbitrary)]
pub enum NameInput {
    /// `NAMES[n % NAMES.len()]`.
    Known(u8),
    /// Any octets.
    Raw(Vec<u8>),
}

/// The value of an extra `content-length` header.
#[derive(Debug, Clone, Arbitrary)]
pub enum LengthInput {
    /// The body's length, in decimal.
    Exact,
    /// The body's length after `n % 4` leading zeros (still valid, D-9).
    LeadingZeros(u8),
    /// Any octets (usually wrong, D-25).
    Raw(Vec<u8>),
}

impl FrameInput {
    /// The version to encode in.
    pub fn version(&self) -> Version {
        Version::ALL[usize::from(self.version % 3)]
    }

    /// The frame to encode.
    pub fn frame(&self) -> Frame {
        let command = match &self.command {
            CommandInput::Standard(n) => Command::STANDARD[usize::from(*n) % 15].clone(),
            CommandInput::Extension(word) => Command::Extension(word.clone().into()),
        };
        let mut builder = Frame::builder(command).body(self.body.clone());
        for (name, value) in &self.headers {
            let name: &[u8] = match name {
                NameInput::Known(n) => NAMES[usize::from(*n) % NAMES.len()],
                NameInput::Raw(raw) => raw,
            };
            builder = builder.header(name, value);
        }
        if let Some(length) = &self.length {
            let decimal = self.body.len().to_string().into_bytes();
            let value = match length {
                LengthInput::Exact => decimal,
                LengthInput::LeadingZeros(n) => {
                    let mut padded = vec![b'0'; usize::from(n % 4)];
                    padded.extend_from_slice(&decimal);
                    padded
                }
                LengthInput::Raw(raw) => raw.clone(),
            };
            builder = builder.header("content-length", value);
        }
        if self.omit_content_length {
            builder = builder.omit_content_length();
        }
        builder.build()
    }

    /// The cut points.
    pub fn splits(&self) -> Vec<usize> {
        self.splits.iter().map(|&s| usize::from(s)).collect()
    }

    /// Decodes a corpus file the way `fuzz_target!` does; `None` when `arbitrary` runs out of
    /// bytes (the fuzzer skips such inputs too).
    pub fn from_corpus(data: &[u8]) -> Option<FrameInput> {
        if data.len() < <FrameInput as Arbitrary>::size_hint(0).0 {
            return None;
        }
        FrameInput::arbitrary_take_rest(arbitrary::Unstructured::new(data)).ok()
    }
}
