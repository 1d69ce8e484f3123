//! Sans-IO, zero-copy, streaming codec for the STOMP messaging protocol (1.0, 1.1, 1.2).
//!
//! The crate does no I/O: push bytes read from any transport into a [`Decoder`] and pull
//! [`Item`]s (frames and heart-beats) out; hand frames to an [`Encoder`] and write the bytes it
//! produces. On top of the codec, [`ClientConnection`] and [`ServerConnection`] run the rest of
//! the protocol for one connection each — version and heart-beat negotiation, receipts,
//! DISCONNECT, ERROR, subscriptions, acknowledgements and transactions — still without I/O or a
//! clock: you feed bytes and the time, and poll events, bytes to write and the next deadline
//! (section [Connections](#connections) below documents the drive loop and the states).
//! [`ClientSession`] keeps a client going across connections: it reconnects with backoff,
//! replays subscriptions, queues what is sent while offline and resends unconfirmed SENDs, still
//! sans-IO (the `stomp-tokio` crate drives it over TCP, TLS and WebSocket).
//! Adapters fit it into tokio (`StompCodec`, feature `tokio-codec`), WebSocket servers and clients
//! ([`websocket`]) and serde (feature `serde`); without `std` the codec and the connections
//! build on `core` + `alloc`.
//!
//! # Decoding a stream
//!
//! Any chunking of a stream gives the same items; `Ok(None)` means "need more bytes".
//!
//! ```
//! use stomp_codec::{DecodeError, Decoder, Item, Version};
//!
//! let stream: &[u8] = b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/queue/a\n\
//!                       content-length:5\n\nhello\0\nMESSAGE\nsubscription:0\nmessage-id:2\n\
//!                       destination:/queue/a\n\nbye\0\n";
//! let mut decoder = Decoder::new(Version::V1_2);
//! let mut bodies = Vec::new();
//! let mut heartbeats = 0;
//! for chunk in stream.chunks(7) {
//!     // e.g. what one read() returned
//!     decoder.push(chunk);
//!     while let Some(item) = decoder.next_item()? {
//!         match item {
//!             Item::Frame(frame) => bodies.push(frame.body_bytes()),
//!             Item::Heartbeat => heartbeats += 1, // the EOL after each NUL counts too
//!         }
//!     }
//! }
//! assert_eq!(bodies, ["hello", "bye"]);
//! assert_eq!(heartbeats, 2);
//! assert!(!decoder.is_mid_frame());
//!
//! // Bad input is a precise, sticky error at its stream offset.
//! decoder.push(b"send\n\n\0");
//! let err = decoder.next_item().unwrap_err();
//! assert_eq!(err.offset(), stream.len() as u64);
//! assert!(matches!(err, DecodeError::UnknownCommand { .. }));
//! # Ok::<(), DecodeError>(())
//! ```
//!
//! # Encoding a frame
//!
//! The encoder escapes for the version and adds `content-length` for a non-empty body; a frame
//! that cannot be written in the version is refused, and nothing is written.
//!
//! ```
//! use bytes::BytesMut;
//! use stomp_codec::{Command, EncodeError, Encoder, Frame, Version};
//!
//! let frame = Frame::builder(Command::Send)
//!     .header("destination", "/queue/a")
//!     .header("x-note", "a:b")
//!     .body("hello")
//!     .build();
//! let mut wire = BytesMut::new();
//! Encoder::new(Version::V1_2).encode(&frame, &mut wire)?;
//! assert_eq!(&wire[..], b"SEND\ndestination:/queue/a\nx-note:a\\cb\ncontent-length:5\n\nhello\0");
//!
//! // STOMP 1.0 has no escaping: a line feed in a header cannot be written.
//! let bad = Frame::builder(Command::Send).header("x", "two\nlines").build();
//! let mut out = BytesMut::new();
//! assert!(matches!(
//!     Encoder::new(Version::V1_0).encode(&bad, &mut out),
//!     Err(EncodeError::Unrepresentable { .. })
//! ));
//! assert!(out.is_empty());
//! # Ok::<(), EncodeError>(())
//! ```
//!
//! # Driving a client connection
//!
//! Blocking `std::net` TCP against a server thread on 127.0.0.1 (the next example's). After
//! every input, drain the events and the bytes to write until both are empty; then wait for
//! bytes or until [`poll_timeout`](ClientConnection::poll_timeout).
//!
//! ```
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::{SocketAddr, TcpStream};
//! use std::time::{Duration, Instant};
//! use stomp_codec::{ClientConfig, ClientConnection, ClientEvent, CloseReason, FrameOptions};
//! # use stomp_codec::{Accept, ServerConfig, ServerConnection, ServerEvent};
//! # type Error = Box<dyn std::error::Error + Send + Sync>;
//! # type Got = std::io::Result<Option<usize>>;
//! # fn wait(socket: &mut TcpStream, deadline: Option<Instant>, buf: &mut [u8]) -> Got {
//! #     let wait = deadline.map(|t| t.saturating_duration_since(Instant::now()));
//! #     socket.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))))?;
//! #     match socket.read(buf) {
//! #         Ok(n) => Ok(Some(n)),
//! #         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
//! #         Err(e) => Err(e),
//! #     }
//! # }
//! # fn serve(mut socket: TcpStream) -> Result<Vec<bytes::Bytes>, Error> {
//! #     let mut conn = ServerConnection::new(ServerConfig::default());
//! #     let (mut received, mut buf) = (Vec::new(), [0u8; 4096]);
//! #     loop {
//! #         let mut busy = true;
//! #         while busy {
//! #             busy = false;
//! #             while let Some(event) = conn.poll_event() {
//! #                 busy = true;
//! #                 let now = Instant::now();
//! #                 if let Some(r) = event.receipt() { conn.receipt(now, r.clone())?; }
//! #                 match event {
//! #                     ServerEvent::Connect(_) => conn.accept(now, Accept::new())?,
//! #                     ServerEvent::Send { frame, .. } => received.push(frame.body_bytes()),
//! #                     _ => {}
//! #                 }
//! #             }
//! #             while let Some(bytes) = conn.poll_transmit() {
//! #                 busy = true;
//! #                 socket.write_all(&bytes)?;
//! #             }
//! #         }
//! #         if conn.is_closed() { return Ok(received); }
//! #         match wait(&mut socket, conn.poll_timeout(), &mut buf)? {
//! #             Some(0) => conn.handle_close(),
//! #             Some(n) => { conn.handle_input(Instant::now(), &buf[..n]); }
//! #             None => conn.handle_timeout(Instant::now()),
//! #         }
//! #     }
//! # }
//!
//! /// Connects, sends one message with a receipt, disconnects once it is confirmed.
//! fn run_client(addr: SocketAddr) -> Result<CloseReason, Error> {
//!     let mut socket = TcpStream::connect(addr)?;
//!     let mut conn = ClientConnection::new(ClientConfig::new("/").login("guest"));
//!     conn.connect(Instant::now())?;
//!     let mut buf = [0u8; 4096];
//!     let mut sent = None;
//!     loop {
//!         // Outputs: events (acting on one may queue frames), then bytes, until both are empty.
//!         let mut busy = true;
//!         while busy {
//!             busy = false;
//!             while let Some(event) = conn.poll_event() {
//!                 busy = true;
//!                 let now = Instant::now();
//!                 match event {
//!                     ClientEvent::Connected { .. } => {
//!                         let receipt = FrameOptions::new().receipt();
//!                         sent = conn.send(now, "/queue/a", "hello", receipt)?;
//!                     }
//!                     // The SEND's receipt: done. (The DISCONNECT's comes next.)
//!                     ClientEvent::ReceiptConfirmed { receipt_id } => {
//!                         if sent.as_ref() == Some(&receipt_id) {
//!                             conn.disconnect(now, FrameOptions::new().receipt())?;
//!                         }
//!                     }
//!                     ClientEvent::Closed(reason) => return Ok(reason),
//!                     _ => {}
//!                 }
//!             }
//!             while let Some(bytes) = conn.poll_transmit() {
//!                 busy = true;
//!                 socket.write_all(&bytes)?;
//!             }
//!         }
//!         // Inputs: bytes, the end of the stream, or the deadline passing (heart-beats).
//!         let deadline = conn.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!         socket.set_read_timeout(deadline.map(|d| d.max(Duration::from_millis(1))))?;
//!         match socket.read(&mut buf) {
//!             Ok(0) => conn.handle_close(),
//!             Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                 conn.handle_timeout(Instant::now())
//!             }
//!             Err(e) => return Err(e.into()),
//!         }
//!     }
//! }
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || serve(listener.accept()?.0));
//! assert_eq!(run_client(addr)?, CloseReason::Disconnected);
//! assert_eq!(server.join().unwrap()?, ["hello"]);
//! # Ok::<(), Error>(())
//! ```
//!
//! # Driving a server connection
//!
//! One connection per client; the application answers CONNECT and confirms receipts (a broker
//! would also route SENDs to subscriptions with [`message`](ServerConnection::message)).
//!
//! ```
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use stomp_codec::{Accept, ServerConfig, ServerConnection, ServerEvent};
//! # use stomp_codec::{ClientConfig, ClientConnection, ClientEvent, FrameOptions};
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! /// Serves one client until it disconnects; returns the bodies it sent.
//! fn serve(mut socket: TcpStream) -> Result<Vec<Bytes>, Error> {
//!     let mut conn = ServerConnection::new(ServerConfig::default());
//!     let (mut received, mut buf) = (Vec::new(), [0u8; 4096]);
//!     loop {
//!         let mut busy = true;
//!         while busy {
//!             busy = false;
//!             while let Some(event) = conn.poll_event() {
//!                 busy = true;
//!                 let now = Instant::now();
//!                 // Confirm every frame that asked for it once it is processed (R-3).
//!                 if let Some(receipt) = event.receipt() {
//!                     conn.receipt(now, receipt.clone())?;
//!                 }
//!                 match event {
//!                     // Check credentials here; conn.error(now, "...") refuses.
//!                     ServerEvent::Connect(_request) => conn.accept(now, Accept::new())?,
//!                     ServerEvent::Send { frame, .. } => received.push(frame.body_bytes()),
//!                     _ => {}
//!                 }
//!             }
//!             while let Some(bytes) = conn.poll_transmit() {
//!                 busy = true;
//!                 socket.write_all(&bytes)?;
//!             }
//!         }
//!         if conn.is_closed() {
//!             return Ok(received);
//!         }
//!         let deadline = conn.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!         socket.set_read_timeout(deadline.map(|d| d.max(Duration::from_millis(1))))?;
//!         match socket.read(&mut buf) {
//!             Ok(0) => conn.handle_close(),
//!             // A protocol error is also reported as Closed, with an ERROR frame queued.
//!             Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                 conn.handle_timeout(Instant::now())
//!             }
//!             Err(e) => return Err(e.into()),
//!         }
//!     }
//! }
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || serve(listener.accept()?.0));
//!
//! // A client, driven in memory-sized steps for brevity (see the previous example).
//! let mut socket = TcpStream::connect(addr)?;
//! socket.set_read_timeout(Some(Duration::from_secs(10)))?;
//! let mut client = ClientConnection::new(ClientConfig::new("/"));
//! client.connect(Instant::now())?;
//! let mut buf = [0u8; 4096];
//! let mut sent = false;
//! while !client.is_closed() {
//!     while let Some(bytes) = client.poll_transmit() {
//!         socket.write_all(&bytes)?;
//!     }
//!     match client.poll_event() {
//!         Some(ClientEvent::Connected { .. }) if !sent => {
//!             client.send(Instant::now(), "/queue/a", "hi", FrameOptions::new())?;
//!             client.disconnect(Instant::now(), FrameOptions::new().receipt())?;
//!             sent = true;
//!         }
//!         Some(_) => {}
//!         None => match socket.read(&mut buf)? {
//!             0 => client.handle_close(),
//!             n => client.handle_input(Instant::now(), &buf[..n]),
//!         },
//!     }
//! }
//! assert_eq!(server.join().unwrap()?, ["hi"]);
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `std` | yes | `std::time::Instant` as the connections' default clock (`ClientConnection::new`), runtime SIMD detection in `memchr`. Without it the crate is `no_std` + `alloc`; the error types implement `core::error::Error` either way. |
//! | `serde` | no | `Serialize`/`Deserialize` for [`Frame`], [`Item`], [`Command`], [`Version`] and [`Headers`], in stompcat's JSON form (`{"command":..,"headers":[[name,value],..],"body_hex":..}`). Works without `std`. |
//! | `tokio-codec` | no | `StompCodec`: `tokio_util::codec::{Decoder, Encoder}` over the core codec, for `Framed`. Implies `std`. |
//!
//! The [`websocket`] helpers need no feature and no WebSocket dependency.
//!
//! # `no_std`
//!
//! With `default-features = false` the whole crate builds on `core` + `alloc`: the decoder,
//! the encoder, escaping, limits, the frame model, heart-beat parsing, the WebSocket helpers,
//! the serde impls, and the connection state machines. The connections are generic over the
//! [`Timestamp`] type of `now`; `std` makes `std::time::Instant` the default, and without it
//! you name a type, e.g. `ClientConnection::<Duration>::with_timestamp_type(config)` with a
//! [`Duration`](core::time::Duration) since boot. The README says how this is checked.
#![doc = include_str!("connection/guide.md")]
#![doc = include_str!("connection/states.md")]
// Unit tests use std (files, clocks) whatever the features; the library itself does not.
#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_debug_implementations)]

extern crate alloc;

pub mod broker;
mod connection;
mod decode;
mod encode;
mod error;
#[cfg(test)]
mod error_variants;
mod escape;
mod frame;
pub mod header;
mod headers;
mod heartbeat;
mod limits;
mod numbers;
mod scan;
#[cfg(feature = "serde")]
mod serde_impls;
mod session;
#[cfg(feature = "tokio-codec")]
mod tokio_codec;
mod version;

pub use broker::{
    Broker, BrokerConfig, BrokerEvent, BrokerLimits, ConnectionId, DropReason, Overflow, Refusal,
};
pub use connection::{
    generated_receipt_number, Accept, AckMode, ClientConfig, ClientConnection, ClientEvent,
    ClientRole, CloseReason, ConnectRequest, Connection, ConnectionError, ErrorReply, FrameOptions,
    Message, MessageIds, PreparedMessage, ReceiptMap, Role, RuleViolation, ServerConfig,
    ServerConnection, ServerEvent, ServerRole, SlowConsumer, Timestamp, UsageError,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DISCONNECT_TIMEOUT, DEFAULT_HEARTBEAT,
    DEFAULT_MAX_PENDING_TRANSMIT, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_MAX_TRANSACTIONS,
};
pub use decode::{Decoder, Item};
pub use encode::Encoder;
pub use error::{DecodeError, EncodeError, HeaderUtf8Error, Unrepresentable};
pub use frame::{Command, Frame, FrameBuilder, HeadersMut};
pub use header::HeaderValueError;
pub use headers::{Headers, Iter as HeaderIter};
pub use heartbeat::Heartbeat;
pub use limits::{LimitKind, Limits};
pub use session::{
    ClientSession, Connected, Delivery, DisconnectReason, ReceiptFailure, ReconnectPolicy,
    SessionConfig, SessionError, SessionEvent, SessionState, Unconfirmed,
};
#[cfg(feature = "tokio-codec")]
pub use tokio_codec::{CodecError, StompCodec};
pub use version::{Version, VersionSet};
pub mod websocket;

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
