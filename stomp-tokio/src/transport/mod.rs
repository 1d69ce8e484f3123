//! Byte transports to a STOMP broker: TCP, TLS, WebSocket and WebSocket over TLS.
//!
//! [`connect`] opens one from a [`StompUrl`]; [`Transport::from_stream`] and
//! [`Transport::from_websocket`] wrap a stream you already have (e.g. `tokio::io::duplex` in
//! tests). [`Transport::split`] gives a [`TransportReader`] and a [`TransportWriter`], so that
//! one task can `tokio::select!` on reading while it writes.
//!
//! Whatever the transport, STOMP sees a byte stream: [`TransportReader::read`] appends what came
//! to a `BytesMut` for the decoder, and [`TransportWriter::write`] takes encoded frames. Over
//! WebSocket, incoming text and binary messages are appended in order (a frame may span
//! messages, a message may hold several frames: W-3), and outgoing bytes are cut into messages
//! of at most [`TransportOptions::ws_max_message_size`] bytes, text when they are UTF-8 (W-4).
//! WebSocket pings are answered by the transport and reported as [`Received::Activity`] (W-7).
//!
//! Writes may be buffered (by TLS, by the WebSocket): call [`TransportWriter::flush`] after the
//! frames of one turn.

mod tls;
mod ws;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use stomp_codec::{Version, VersionSet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::url::{Scheme, StompUrl, UrlError};

/// The default of [`TransportOptions::ws_max_message_size`]: 16 KiB.
pub const DEFAULT_WS_MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// How many bytes a TCP or TLS read asks for at least.
const READ_SIZE: usize = 8 * 1024;

/// How to connect: timeouts, trusted roots, WebSocket handshake and message size.
///
/// Build with the setters from `Default`:
///
/// ```
/// use std::time::Duration;
/// use stomp_tokio::transport::TransportOptions;
///
/// let options = TransportOptions::default()
///     .connect_timeout(Duration::from_secs(3))
///     .ca_file("/etc/stomp/ca.pem")
///     .ws_header("Origin", "https://example.com");
/// assert_eq!(options.ws_max_message_size, 16 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportOptions {
    /// The time for everything [`connect`] does: name lookup, TCP connect, TLS and WebSocket
    /// handshakes. Default 10 s.
    pub connect_timeout: Duration,
    /// The time [`TransportWriter::close`] waits for its bytes to go out. Default 5 s.
    pub close_timeout: Duration,
    /// A PEM file of CA certificates: when set, TLS trusts exactly these roots; when not, the
    /// Mozilla roots of `webpki-roots`.
    pub ca_file: Option<PathBuf>,
    /// The largest WebSocket message sent, in bytes; longer writes are cut into several
    /// messages, never inside a UTF-8 character (stompjs' `splitLargeFrames`). Default 16 KiB
    /// ([`DEFAULT_WS_MAX_MESSAGE_SIZE`]): twice stompjs' 8 KiB `maxWebSocketChunkSize`, well
    /// within what brokers accept in one message. `usize::MAX` never cuts; 0 counts as 1.
    pub ws_max_message_size: usize,
    /// The STOMP versions offered as WebSocket subprotocols (`v12.stomp, v11.stomp, v10.stomp`
    /// by default, newest first). Empty offers none; the server must then choose none.
    pub ws_versions: VersionSet,
    /// Extra headers of the WebSocket handshake request, e.g. `Origin`; one replaces a header
    /// of the same name set by the transport.
    pub ws_headers: Vec<(String, String)>,
    /// Whether to send small TCP segments at once (`TCP_NODELAY`): STOMP frames are small and
    /// latency matters more than packet count. Default true.
    pub tcp_nodelay: bool,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            ca_file: None,
            ws_max_message_size: DEFAULT_WS_MAX_MESSAGE_SIZE,
            ws_versions: VersionSet::ALL,
            ws_headers: Vec::new(),
            tcp_nodelay: true,
        }
    }
}

impl TransportOptions {
    /// Sets [`connect_timeout`](TransportOptions#structfield.connect_timeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`close_timeout`](TransportOptions#structfield.close_timeout).
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`ca_file`](TransportOptions#structfield.ca_file).
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets [`ws_max_message_size`](TransportOptions#structfield.ws_max_message_size).
    #[must_use]
    pub fn ws_max_message_size(mut self, bytes: usize) -> Self {
        self.ws_max_message_size = bytes;
        self
    }

    /// Sets [`ws_versions`](TransportOptions#structfield.ws_versions).
    #[must_use]
    pub fn ws_versions(mut self, versions: VersionSet) -> Self {
        self.ws_versions = versions;
        self
    }

    /// Adds one of [`ws_headers`](TransportOptions#structfield.ws_headers).
    #[must_use]
    pub fn ws_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.ws_headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`tcp_nodelay`](TransportOptions#structfield.tcp_nodelay).
    #[must_use]
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.tcp_nodelay = nodelay;
        self
    }
}

/// Why connecting, reading, writing or closing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// An I/O error, with what was being done (e.g. `connecting to localhost:61613`).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed: e.g. an untrusted or expired certificate, a name mismatch,
    /// an alert from the server. The source is a `rustls::Error` (or, for a host that cannot
    /// be a server name, rustls' `InvalidDnsNameError`).
    #[error("TLS with {server}: {source}")]
    Tls {
        /// The server name the certificate had to match.
        server: String,
        /// The error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The WebSocket handshake failed: the server answered with another HTTP status than 101,
    /// chose no subprotocol (or one not offered), or broke the protocol.
    #[error("WebSocket handshake with {endpoint} failed: {reason}")]
    WebSocketHandshake {
        /// The request URI (without the login and passcode).
        endpoint: String,
        /// The HTTP status of a refusal.
        status: Option<u16>,
        /// What was wrong.
        reason: String,
    },
    /// The WebSocket connection broke its protocol (after the handshake), e.g. a bad frame or
    /// a TCP close without a close handshake.
    #[error("WebSocket {context}: {source}")]
    WebSocket {
        /// What was being done: `reading`, `writing`, `closing`.
        context: &'static str,
        /// tungstenite's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A step did not finish in time.
    #[error("{stage} timed out after {after:?}")]
    Timeout {
        /// What timed out, e.g. `TLS handshake with localhost:61614`.
        stage: String,
        /// The time allowed.
        after: Duration,
    },
    /// [`TransportOptions::ca_file`] could not be read or holds no usable certificate.
    #[error("CA file {}: {reason}", path.display())]
    InvalidCa {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A header of [`TransportOptions::ws_headers`] is not a valid HTTP header.
    #[error("WebSocket header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// A URL that does not parse.
    #[error("bad URL: {0}")]
    Url(#[from] UrlError),
}

impl TransportError {
    /// Whether trying again cannot help: a certificate the configured roots do not trust, a
    /// bad CA file, URL or header, a WebSocket endpoint that refuses with 401, 403 or 404.
    /// A refused or timed-out connection is not permanent: the broker may come back.
    pub fn is_permanent(&self) -> bool {
        match self {
            TransportError::InvalidCa { .. }
            | TransportError::InvalidHeader { .. }
            | TransportError::Url(_) => true,
            TransportError::WebSocketHandshake { status, .. } => {
                matches!(status, Some(401 | 403 | 404))
            }
            TransportError::Tls { source, .. } => source
                .downcast_ref::<tokio_rustls::rustls::Error>()
                .is_some_and(|e| {
                    matches!(
                        e,
                        tokio_rustls::rustls::Error::InvalidCertificate(_)
                            | tokio_rustls::rustls::Error::NoCertificatesPresented
                    )
                }),
            _ => false,
        }
    }
}

/// What one [`TransportReader::read`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// This many bytes were appended to the buffer (never 0).
    Bytes(usize),
    /// Proof of life without STOMP bytes: a WebSocket ping (already answered), pong or empty
    /// message. Counts for heart-beating (W-7).
    Activity,
    /// The peer ended the connection in order: end of stream, or a WebSocket close.
    Closed,
}

/// What a [`Transport`] is connected over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportInfo {
    /// The URL's scheme; `None` for [`Transport::from_stream`] and [`Transport::from_websocket`].
    pub scheme: Option<Scheme>,
    /// Whether STOMP travels in WebSocket messages.
    pub websocket: bool,
    /// The address connected to, when there is one.
    pub peer_addr: Option<SocketAddr>,
    /// The version of the WebSocket subprotocol the server chose, if it chose one. It does not
    /// fix the STOMP version: CONNECT/CONNECTED still negotiate it (W-2).
    pub subprotocol: Option<Version>,
}

/// An open connection, to [`split`](Transport::split) into its reading and writing halves.
#[derive(Debug)]
pub struct Transport {
    info: TransportInfo,
    reader: TransportReader,
    writer: TransportWriter,
}

/// Opens a transport to `url`: TCP connect, then the TLS handshake (stomp+ssl, wss), then the
/// WebSocket handshake (ws, wss), all within [`TransportOptions::connect_timeout`].
///
/// The TLS server name is the URL's host (a DNS name or an IP address).
pub async fn connect(
    url: &StompUrl,
    options: &TransportOptions,
) -> Result<Transport, TransportError> {
    // The CA file and the server name are checked before the clock starts: a bad file is not
    // a slow network.
    let tls = if url.scheme().is_tls() {
        let connector = tls::connector(options.ca_file.as_deref(), url.host())?;
        Some((connector, tls::server_name(url.host())?))
    } else {
        None
    };
    let deadline = Instant::now() + options.connect_timeout;
    let within = |stage: String| Deadline {
        deadline,
        after: options.connect_timeout,
        stage,
    };
    let address = url.host_port();

    let connecting = format!("connecting to {address}");
    let tcp = within(format!("TCP connect to {address}"))
        .run(async {
            TcpStream::connect((url.host(), url.port()))
                .await
                .map_err(|source| TransportError::Io {
                    context: connecting,
                    source,
                })
        })
        .await?;
    tcp.set_nodelay(options.tcp_nodelay)
        .map_err(|source| TransportError::Io {
            context: format!("setting TCP_NODELAY on the connection to {address}"),
            source,
        })?;
    let info = TransportInfo {
        scheme: Some(url.scheme()),
        websocket: url.scheme().is_websocket(),
        peer_addr: tcp.peer_addr().ok(),
        subprotocol: None,
    };

    match tls {
        Some((connector, name)) => {
            let stream = within(format!("TLS handshake with {address}"))
                .run(async {
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|err| tls::handshake_error(url.host(), err))
                })
                .await?;
            finish(url, options, info, stream, within).await
        }
        None if url.scheme().is_websocket() => finish(url, options, info, tcp, within).await,
        None => {
            // A TcpStream splits without the lock tokio::io::split needs.
            let (read, write) = tcp.into_split();
            Ok(Transport::bytes(info, Box::new(read), Box::new(write)).with_options(options))
        }
    }
}

/// The step after TCP (and TLS): the WebSocket handshake, or nothing.
async fn finish<S>(
    url: &StompUrl,
    options: &TransportOptions,
    mut info: TransportInfo,
    stream: S,
    within: impl Fn(String) -> Deadline,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if !url.scheme().is_websocket() {
        let (read, write) = tokio::io::split(stream);
        return Ok(Transport::bytes(info, Box::new(read), Box::new(write)).with_options(options));
    }
    let (websocket, subprotocol) = within(format!("WebSocket handshake with {}", url.host_port()))
        .run(ws::handshake(url, options, stream))
        .await?;
    info.subprotocol = subprotocol;
    Ok(Transport::websocket(info, websocket).with_options(options))
}

/// One deadline shared by the steps of [`connect`], each naming itself when it is the one late.
struct Deadline {
    deadline: Instant,
    after: Duration,
    stage: String,
}

impl Deadline {
    async fn run<T>(
        self,
        step: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        match tokio::time::timeout_at(self.deadline, step).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                stage: self.stage,
                after: self.after,
            }),
        }
    }
}

impl Transport {
    /// Wraps a connected byte stream (TCP, TLS, a Unix socket, `tokio::io::duplex`): STOMP
    /// frames go over it as they are. [`info`](Transport::info) knows no scheme nor address.
    pub fn from_stream<S>(stream: S) -> Transport
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let info = TransportInfo {
            scheme: None,
            websocket: false,
            peer_addr: None,
            subprotocol: None,
        };
        let (read, write) = tokio::io::split(stream);
        Transport::bytes(info, Box::new(read), Box::new(write))
    }

    /// Wraps a WebSocket whose handshake is done, with the subprotocol version the server
    /// chose (for [`info`](Transport::info)).
    pub fn from_websocket<S>(
        websocket: WebSocketStream<S>,
        subprotocol: Option<Version>,
    ) -> Transport
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let info = TransportInfo {
            scheme: None,
            websocket: true,
            peer_addr: None,
            subprotocol,
        };
        Transport::websocket(info, websocket)
    }

    /// Applies the options that still matter once connected: `ws_max_message_size` and
    /// `close_timeout` (for [`from_stream`](Transport::from_stream) and
    /// [`from_websocket`](Transport::from_websocket), which start with the defaults).
    #[must_use]
    pub fn with_options(mut self, options: &TransportOptions) -> Transport {
        self.writer.max_message_size = options.ws_max_message_size;
        self.writer.close_timeout = options.close_timeout;
        self
    }

    /// What the transport is connected over.
    pub fn info(&self) -> &TransportInfo {
        &self.info
    }

    /// The reading and writing halves, to use from one task (`tokio::select!`) or two.
    pub fn split(self) -> (TransportReader, TransportWriter) {
        (self.reader, self.writer)
    }

    fn bytes(info: TransportInfo, read: Box<dyn ByteRead>, write: Box<dyn ByteWrite>) -> Transport {
        Transport::new(info, ReadHalf::Bytes(read), WriteHalf::Bytes(write))
    }

    fn websocket<S>(info: TransportInfo, websocket: WebSocketStream<S>) -> Transport
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        // futures' split locks the stream only while one half is polled, so the reader
        // waiting for a message never blocks the writer.
        let (sink, stream) = websocket.split();
        Transport::new(
            info,
            ReadHalf::WebSocket(Box::new(stream)),
            WriteHalf::WebSocket(Box::new(sink)),
        )
    }

    fn new(info: TransportInfo, read: ReadHalf, write: WriteHalf) -> Transport {
        let defaults = TransportOptions::default();
        Transport {
            info,
            reader: TransportReader { inner: read },
            writer: TransportWriter {
                inner: write,
                max_message_size: defaults.ws_max_message_size,
                close_timeout: defaults.close_timeout,
            },
        }
    }
}

trait ByteRead: AsyncRead + Send + Unpin {}
impl<T: AsyncRead + Send + Unpin> ByteRead for T {}
trait ByteWrite: AsyncWrite + Send + Unpin {}
impl<T: AsyncWrite + Send + Unpin> ByteWrite for T {}
trait MessageStream: Stream<Item = Result<Message, tungstenite::Error>> + Send + Unpin {}
impl<T: Stream<Item = Result<Message, tungstenite::Error>> + Send + Unpin> MessageStream for T {}
trait MessageSink: Sink<Message, Error = tungstenite::Error> + Send + Unpin {}
impl<T: Sink<Message, Error = tungstenite::Error> + Send + Unpin> MessageSink for T {}

enum ReadHalf {
    Bytes(Box<dyn ByteRead>),
    WebSocket(Box<dyn MessageStream>),
}

enum WriteHalf {
    Bytes(Box<dyn ByteWrite>),
    WebSocket(Box<dyn MessageSink>),
}

/// The reading half of a [`Transport`].
pub struct TransportReader {
    inner: ReadHalf,
}

impl TransportReader {
    /// Waits for the next bytes and appends them to `buf`; or reports a WebSocket ping or
    /// pong ([`Received::Activity`]) or the end of the connection ([`Received::Closed`]).
    ///
    /// Feed `buf` to one streaming decoder and never reset it: over WebSocket a frame may span
    /// messages (W-3). Keep reading (a `select!` loop does): the answer to a ping goes out with
    /// the next read or write.
    ///
    /// **Cancel-safe**: when the future is dropped before it completes (another `select!`
    /// branch won), nothing was consumed: no bytes and no message are lost.
    pub async fn read(&mut self, buf: &mut BytesMut) -> Result<Received, TransportError> {
        match &mut self.inner {
            ReadHalf::Bytes(io) => {
                buf.reserve(READ_SIZE);
                // read_buf is cancel-safe: it either appended bytes and returned, or read none.
                match io.read_buf(buf).await {
                    Ok(0) => Ok(Received::Closed),
                    Ok(n) => Ok(Received::Bytes(n)),
                    Err(source) => Err(TransportError::Io {
                        context: "reading".to_owned(),
                        source,
                    }),
                }
            }
            // A stream yields whole messages only (tungstenite keeps partial ones), and the
            // message is appended in the same poll that takes it: cancel-safe too.
            ReadHalf::WebSocket(stream) => match stream.next().await {
                Some(Ok(Message::Text(text))) => Ok(append(buf, text.as_bytes())),
                Some(Ok(Message::Binary(data))) => Ok(append(buf, &data)),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    Ok(Received::Activity)
                }
                Some(Ok(Message::Close(_))) | None => Ok(Received::Closed),
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => Ok(Received::Closed),
                Some(Err(err)) => Err(websocket_error("reading", err)),
            },
        }
    }
}

fn append(buf: &mut BytesMut, payload: &[u8]) -> Received {
    if payload.is_empty() {
        return Received::Activity;
    }
    buf.extend_from_slice(payload);
    Received::Bytes(payload.len())
}

fn websocket_error(context: &'static str, err: tungstenite::Error) -> TransportError {
    match err {
        tungstenite::Error::Io(source) => TransportError::Io {
            context: format!("{context} over the WebSocket"),
            source,
        },
        err => TransportError::WebSocket {
            context,
            source: Box::new(err),
        },
    }
}

/// The writing half of a [`Transport`].
///
/// Its methods are not cancel-safe: a write dropped half-way may have sent part of the bytes,
/// so do not race them against other branches of a `select!`; await them to the end.
pub struct TransportWriter {
    inner: WriteHalf,
    max_message_size: usize,
    close_timeout: Duration,
}

impl TransportWriter {
    /// Writes encoded STOMP bytes (one frame, several, or a heart-beat `"\n"`); they may stay
    /// buffered until [`flush`](TransportWriter::flush).
    ///
    /// Over WebSocket the bytes become messages of at most `ws_max_message_size` bytes each,
    /// text when they are UTF-8 (never cut inside a character), binary otherwise (W-4).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        match &mut self.inner {
            WriteHalf::Bytes(io) => io.write_all(bytes).await.map_err(write_error),
            WriteHalf::WebSocket(sink) => {
                for message in ws::messages(bytes, self.max_message_size) {
                    sink.feed(message)
                        .await
                        .map_err(|err| websocket_error("writing", err))?;
                }
                Ok(())
            }
        }
    }

    /// Sends what is buffered (and, over WebSocket, any pong or close reply pending).
    pub async fn flush(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            WriteHalf::Bytes(io) => io.flush().await.map_err(write_error),
            WriteHalf::WebSocket(sink) => sink
                .flush()
                .await
                .map_err(|err| websocket_error("writing", err)),
        }
    }

    /// Ends the connection from this side, within `close_timeout`: flushes, then shuts down
    /// writing (TCP FIN; TLS close_notify first) or sends a WebSocket close. The peer's answer
    /// (end of stream, its close) comes to the reader as [`Received::Closed`].
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.close_with_status(0, "").await
    }

    /// Closes as [`close`](TransportWriter::close) does, with this WebSocket close status
    /// and reason (e.g. 1002, "protocol error", after a STOMP ERROR: W-8), for a close this
    /// side starts (status 0: none, as `close`). Over a byte stream the status means nothing
    /// and the stream is simply shut down.
    pub async fn close_with_status(
        &mut self,
        status: u16,
        reason: &str,
    ) -> Result<(), TransportError> {
        let closing = async {
            match &mut self.inner {
                WriteHalf::Bytes(io) => io.shutdown().await.map_err(|source| TransportError::Io {
                    context: "closing".to_owned(),
                    source,
                }),
                WriteHalf::WebSocket(sink) => {
                    // A close frame with its status starts the close handshake (a frame
                    // without one leaves the peer guessing, and browsers report 1005).
                    let frame = tungstenite::protocol::CloseFrame {
                        code: status.into(),
                        reason: reason.to_owned().into(),
                    };
                    // Fed only: the sink's close below flushes it, then waits for the
                    // handshake. Status 0 (`close`): the sink's own close frame, which also
                    // answers a peer that closed first.
                    if status != 0 {
                        let _ = sink.feed(Message::Close(Some(frame))).await;
                    }
                    let closed = sink.close().await;
                    match closed {
                        Ok(()) => Ok(()),
                        // The peer closed first: its close has been answered.
                        Err(
                            tungstenite::Error::ConnectionClosed
                            | tungstenite::Error::AlreadyClosed
                            | tungstenite::Error::Protocol(
                                tungstenite::error::ProtocolError::SendAfterClosing,
                            ),
                        ) => Ok(()),
                        Err(err) => Err(websocket_error("closing", err)),
                    }
                }
            }
        };
        match tokio::time::timeout(self.close_timeout, closing).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                stage: "close".to_owned(),
                after: self.close_timeout,
            }),
        }
    }
}

fn write_error(source: io::Error) -> TransportError {
    TransportError::Io {
        context: "writing".to_owned(),
        source,
    }
}

impl fmt::Debug for TransportReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            ReadHalf::Bytes(_) => "bytes",
            ReadHalf::WebSocket(_) => "websocket",
        };
        f.debug_struct("TransportReader")
            .field("kind", &kind)
            .finish()
    }
}

impl fmt::Debug for TransportWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            WriteHalf::Bytes(_) => "bytes",
            WriteHalf::WebSocket(_) => "websocket",
        };
        f.debug_struct("TransportWriter")
            .field("kind", &kind)
            .field("max_message_size", &self.max_message_size)
            .field("close_timeout", &self.close_timeout)
            .finish()
    }
}
