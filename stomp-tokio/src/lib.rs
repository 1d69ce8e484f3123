//! Tokio transports for [`stomp_codec`]: STOMP over TCP, TLS, WebSocket and WebSocket over TLS,
//! from a broker URL.
//!
//! ```no_run
//! use bytes::BytesMut;
//! use stomp_tokio::transport::{connect, Received, TransportOptions};
//! use stomp_tokio::url::StompUrl;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let url: StompUrl = "ws://guest:guest@localhost:15674/ws".parse()?;
//!     let transport = connect(&url, &TransportOptions::default()).await?;
//!     println!("subprotocol chosen: {:?}", transport.info().subprotocol);
//!
//!     let (mut reader, mut writer) = transport.split();
//!     writer.write(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0").await?;
//!     writer.flush().await?;
//!
//!     let mut buf = BytesMut::new();
//!     loop {
//!         match reader.read(&mut buf).await? {
//!             // Hand `buf` to a stomp_codec::Decoder (or a ClientConnection).
//!             Received::Bytes(_) => println!("{} bytes buffered", buf.len()),
//!             Received::Activity => {} // a WebSocket ping: the peer is alive
//!             Received::Closed => break,
//!         }
//!     }
//!     writer.close().await?;
//!     Ok(())
//! }
//! ```
//!
//! * [`url`]: `stomp://`, `stomp+ssl://`, `ws://`, `wss://` broker addresses.
//! * [`transport`]: connecting, and the reading and writing halves of a connection.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod server;
pub mod transport;
pub mod url;
