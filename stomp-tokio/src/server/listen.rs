//! Accepting transports: TCP, TLS, and WebSocket (over either), with the HTTP side of the
//! WebSocket listener: the path, the subprotocol, the `Origin` allow-list, and an index page.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use stomp_codec::websocket::{choose_subprotocol, Subprotocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::{connection, Shared};
use crate::transport::Transport;

/// Which web pages may open a WebSocket to the server, by their `Origin` header (a browser
/// sends it; other clients usually do not, and are always let in). Without such a check any
/// page the user has open could reach a server on their machine or network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Any origin.
    Any,
    /// Only the server's own origin: `Origin`'s host and port equal the request's `Host`.
    SameOrigin,
    /// These origins (`https://chat.example.com`, `http://localhost:8080`), exactly, plus
    /// the server's own.
    List(Vec<String>),
}

impl OriginPolicy {
    /// Whether a request with this `Origin` (if any) to this `Host` is allowed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let same = host.is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::SameOrigin => same,
            OriginPolicy::List(list) => same || list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

pub(super) enum Kind {
    Tcp,
    Ws,
    Tls(TlsAcceptor),
    Wss(TlsAcceptor),
}

pub(super) struct Listener {
    pub(super) listener: TcpListener,
    pub(super) kind: Kind,
}

/// A TLS acceptor from PEM files: the certificate chain, then the private key.
pub(super) fn tls_acceptor(cert_pem: &Path, key_pem: &Path) -> io::Result<TlsAcceptor> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| invalid(&cert_pem.display().to_string(), &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&cert_pem.display().to_string(), &e))?;
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| invalid(&key_pem.display().to_string(), &e))?;
    // The ring provider, as the client side uses (no aws-lc build).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid("TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate and key", &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts until shutdown; each connection is served in its own task. At shutdown, waits for
/// the connection tasks (which end once their clients took the last bytes).
pub(super) async fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    let mut shutting_down = shared.shutting_down.clone();
    loop {
        tokio::select! {
            _ = shutting_down.wait_for(|down| *down) => break,
            accepted = listener.listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let kind = match &listener.kind {
                    Kind::Tcp => KindRef::Tcp,
                    Kind::Ws => KindRef::Ws,
                    Kind::Tls(a) => KindRef::Tls(a.clone()),
                    Kind::Wss(a) => KindRef::Wss(a.clone()),
                };
                connections.spawn(async move { handle(stream, peer, kind, shared).await });
            }
            // Reap finished tasks as they end, so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

enum KindRef {
    Tcp,
    Ws,
    Tls(TlsAcceptor),
    Wss(TlsAcceptor),
}

async fn handle(stream: TcpStream, peer: SocketAddr, kind: KindRef, shared: Arc<Shared>) {
    let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
        too_many(stream, matches!(kind, KindRef::Tcp)).await;
        return;
    };
    let limit = shared.options.handshake_timeout;
    let transport = match kind {
        KindRef::Tcp => Some(Transport::from_stream(stream)),
        KindRef::Tls(acceptor) => {
            match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some(Transport::from_stream(tls)),
                _ => None,
            }
        }
        KindRef::Ws => tokio::time::timeout(limit, websocket(stream, &shared))
            .await
            .ok()
            .flatten(),
        KindRef::Wss(acceptor) => {
            match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tokio::time::timeout(limit, websocket(tls, &shared))
                    .await
                    .ok()
                    .flatten(),
                _ => None,
            }
        }
    };
    if let Some(transport) = transport {
        connection::serve(transport, peer, shared).await;
    }
    drop(permit);
}

/// Over the connection limit: a TCP client gets an ERROR frame (STOMP 1.0 form, readable by
/// every version) before the close; others just the close.
async fn too_many(mut stream: TcpStream, stomp: bool) {
    if stomp {
        let error = b"ERROR\nmessage:too many connections\n\n\0";
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(error)).await;
    }
    let _ = stream.shutdown().await;
}

/// The HTTP side: reads the request head; a WebSocket upgrade to the STOMP path with an
/// allowed origin is handed to tungstenite (with the head replayed), `GET /` gets the index
/// page, anything else 404. Returns the WebSocket transport, if that is what it became.
async fn websocket<S>(mut stream: S, shared: &Shared) -> Option<Transport>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut head = BytesMut::with_capacity(2048);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read_buf(&mut head).await.ok()? == 0 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?.to_string();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
    let upgrade = lines.clone().any(|l| {
        l.to_ascii_lowercase().starts_with("upgrade:")
            && l.to_ascii_lowercase().contains("websocket")
    });
    let options = &shared.options;
    if !upgrade {
        let path_only = path.split('?').next().unwrap_or("/");
        let response: Vec<u8> = match (&options.index_html, path_only) {
            (Some(page), "/" | "/index.html") => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    page.len()
                )
                .into_bytes();
                r.extend_from_slice(page);
                r
            }
            _ => {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            }
        };
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
        return None;
    }
    let ws_path = options.ws_path.clone();
    let versions = options.ws_versions;
    let origins = options.origins.clone();
    let mut chosen = None;
    // tungstenite's callback signature: its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let refuse = |status: StatusCode, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = status;
            r
        };
        if request.uri().path() != ws_path {
            return Err(refuse(StatusCode::NOT_FOUND, "no STOMP endpoint here"));
        }
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        if !origins.allows(header("origin"), header("host")) {
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
        }
        let offered = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok());
        match choose_subprotocol(offered, versions) {
            Subprotocol::Chosen(version) => {
                if let Ok(value) = HeaderValue::from_str(version.subprotocol()) {
                    response
                        .headers_mut()
                        .insert("sec-websocket-protocol", value);
                }
                chosen = Some(version);
            }
            // No subprotocol offered: plain STOMP over the socket (W-1 allows it).
            Subprotocol::NotOffered => {}
            _ => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "none of the offered STOMP subprotocols is served",
                ))
            }
        }
        Ok(response)
    };
    let replay = Replay {
        head: head.freeze(),
        inner: stream,
    };
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(options.ws_read_buffer.max(256));
    let ws = tokio_tungstenite::accept_hdr_async_with_config(replay, callback, Some(config))
        .await
        .ok()?;
    Some(Transport::from_websocket(ws, chosen))
}

/// A stream that first gives back the bytes already read from it.
struct Replay<S> {
    head: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.head.has_remaining() {
            let n = self.head.len().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::OriginPolicy;

    #[test]
    fn origins() {
        let host = Some("127.0.0.1:15674");
        assert!(OriginPolicy::SameOrigin.allows(None, host), "not a browser");
        assert!(OriginPolicy::SameOrigin.allows(Some("http://127.0.0.1:15674"), host));
        assert!(!OriginPolicy::SameOrigin.allows(Some("http://evil.example"), host));
        let list = OriginPolicy::List(vec!["https://chat.example.com".into()]);
        assert!(list.allows(Some("https://chat.example.com"), host));
        assert!(!list.allows(Some("https://chat.example.com.evil"), host));
        assert!(OriginPolicy::Any.allows(Some("http://evil.example"), host));
    }
}
