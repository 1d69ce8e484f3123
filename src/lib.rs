//! Sans-IO, zero-copy, streaming codec for the STOMP messaging protocol (1.0, 1.1, 1.2).
//!
//! ```
//! use stomp_codec::{Command, DecodeError, Decoder, Encoder, Frame, Item, Version};
//! use bytes::BytesMut;
//!
//! // Encode a frame: escaping and content-length are handled for the version.
//! let frame = Frame::builder(Command::Send)
//!     .header("destination", "/queue/a")
//!     .body("hello")
//!     .build();
//! let mut wire = BytesMut::new();
//! Encoder::new(Version::V1_2).encode(&frame, &mut wire)?;
//! assert_eq!(&wire[..], b"SEND\ndestination:/queue/a\ncontent-length:5\n\nhello\0");
//!
//! // Decode it back, fed in two pieces: the first returns "need more" (`None`).
//! let mut decoder = Decoder::new(Version::V1_2);
//! decoder.push(&wire[..10]);
//! assert_eq!(decoder.next_item()?, None);
//! decoder.push(&wire[10..]);
//! let Some(Item::Frame(decoded)) = decoder.next_item()? else { unreachable!() };
//! assert_eq!(decoded.headers().get("destination"), Some(&b"/queue/a"[..]));
//! assert_eq!(decoded.body(), &b"hello"[..]);
//!
//! // Bad input is a precise, sticky error.
//! decoder.push(b"send\n\n\0");
//! let err = decoder.next_item().unwrap_err();
//! assert!(matches!(err, DecodeError::UnknownCommand { offset, .. } if offset == wire.len() as u64));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate does no I/O: push bytes read from any transport into a [`Decoder`] and pull
//! [`Item`]s out; hand frames to an [`Encoder`] and write the bytes it produces.
//!
//! On top of the codec, [`ClientConnection`] and [`ServerConnection`] (feature `std`) run the
//! rest of the protocol for one connection each — version and heart-beat negotiation, receipts,
//! DISCONNECT, ERROR, subscriptions, acknowledgements and transactions — still without I/O or a
//! clock: see the [`connection`] module for the drive loop and an example.
// Unit tests use std (files, clocks) whatever the features; the library itself does not.
#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_debug_implementations)]

extern crate alloc;

/// The connection state machines; their design notes (drive loop, queues, timers, states)
/// are on this module. Every item is also re-exported at the crate root.
pub mod connection;
mod decode;
mod encode;
mod error;
mod escape;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod heartbeat;
mod limits;
mod numbers;
#[cfg(feature = "serde")]
mod serde_impls;
#[cfg(feature = "tokio-codec")]
mod tokio_codec;
mod version;

pub use connection::{
    Accept, AckMode, ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectRequest,
    ConnectionError, ErrorReply, FrameOptions, Message, ServerConfig, ServerConnection,
    ServerEvent, Timestamp, UsageError, DEFAULT_DISCONNECT_TIMEOUT, DEFAULT_HEART_BEAT,
};
pub use decode::{Decoder, Item};
pub use encode::{encode, Encoder};
pub use error::{DecodeError, EncodeError, HeaderUtf8Error, Unrepresentable};
pub use frame::{Command, Frame, FrameBuilder};
pub use headers::{Headers, Iter as HeaderIter};
pub use heartbeat::HeartBeat;
pub use limits::{LimitKind, Limits};
#[cfg(feature = "tokio-codec")]
pub use tokio_codec::{CodecError, StompCodec};
pub use version::{Version, VersionSet};
pub mod websocket;

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
