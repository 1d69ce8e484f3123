//! The WebSocket side: the client handshake offering the STOMP subprotocols, and cutting
//! outgoing bytes into messages.

use bytes::Bytes;
use stomp_codec::websocket::fits_text_message;
use stomp_codec::Version;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::{TransportError, TransportOptions};
use crate::url::StompUrl;

/// Runs the client handshake over `stream` (TCP or TLS, already connected) and returns the
/// WebSocket with the version of the subprotocol the server chose, if it chose one.
pub(super) async fn handshake<S>(
    url: &StompUrl,
    options: &TransportOptions,
    stream: S,
) -> Result<(WebSocketStream<S>, Option<Version>), TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The request URI never carries the userinfo: login and passcode are for CONNECT.
    let scheme = if url.scheme().is_tls() { "wss" } else { "ws" };
    let endpoint = format!(
        "{scheme}://{}{}",
        url.host_port(),
        url.path().unwrap_or("/")
    );
    let refused = |status: Option<u16>, reason: String| TransportError::WebSocketHandshake {
        endpoint: endpoint.clone(),
        status,
        reason,
    };

    let mut request = endpoint
        .as_str()
        .into_client_request()
        .map_err(|err| refused(None, err.to_string()))?;
    // Newest first (W-1): the server picks the first it serves.
    let offered: Vec<&str> = Version::ALL
        .into_iter()
        .rev()
        .filter(|&version| options.ws_versions.contains(version))
        .map(Version::subprotocol)
        .collect();
    if !offered.is_empty() {
        let value = HeaderValue::from_str(&offered.join(", "))
            .map_err(|err| refused(None, err.to_string()))?;
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
    }
    for (name, value) in &options.ws_headers {
        let invalid = |reason: String| TransportError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        request.headers_mut().insert(name, value);
    }

    match tokio_tungstenite::client_async_with_config(request, stream, None).await {
        Ok((ws, response)) => {
            // tungstenite has checked that the answer is one of the names offered.
            let chosen = response
                .headers()
                .get(SEC_WEBSOCKET_PROTOCOL)
                .and_then(|value| value.to_str().ok())
                .and_then(Version::from_subprotocol);
            Ok((ws, chosen))
        }
        Err(tungstenite::Error::Io(source)) => Err(TransportError::Io {
            context: format!("WebSocket handshake with {endpoint}"),
            source,
        }),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status();
            Err(refused(Some(status.as_u16()), format!("HTTP {status}")))
        }
        Err(err) => Err(refused(None, err.to_string())),
    }
}

/// Cuts `bytes` into WebSocket messages of at most `max` bytes each (at least 1), like stompjs'
/// `splitLargeFrames`: when `bytes` is UTF-8, cuts fall between characters and every message is
/// text; otherwise they fall anywhere, and each message is text if its part happens to be UTF-8,
/// binary if not (W-4: receivers take both). A `max` smaller than a character still cuts it:
/// those parts go binary.
pub(super) fn messages(bytes: &[u8], max: usize) -> impl Iterator<Item = Message> + '_ {
    let max = max.max(1);
    let utf8 = fits_text_message(bytes);
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        if utf8 {
            // Back off to the first byte of the character the cut falls in.
            while end > 0 && end < rest.len() && is_continuation(rest[end]) {
                end -= 1;
            }
            if end == 0 {
                end = rest.len().min(max);
            }
        }
        let (part, tail) = rest.split_at(end);
        rest = tail;
        // One UTF-8 check per part, which also gives the text message its String.
        Some(match String::from_utf8(part.to_vec()) {
            Ok(text) => Message::text(text),
            Err(err) => Message::Binary(Bytes::from(err.into_bytes())),
        })
    })
}

/// A byte inside a UTF-8 character, after its first byte.
fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(bytes: &[u8], max: usize) -> Vec<(bool, Vec<u8>)> {
        messages(bytes, max)
            .map(|m| (m.is_text(), m.into_data().to_vec()))
            .collect()
    }

    #[test]
    fn cuts_fall_between_characters() {
        // "é" is 2 bytes, "€" 3: a cut at 4 would split the second "€".
        let text = "a€€é".as_bytes();
        let parts = payloads(text, 5);
        assert_eq!(parts, [(true, "a€".into()), (true, "€é".into())]);
        assert_eq!(payloads(b"", 4), []);
        assert_eq!(
            payloads(b"abc", 0),
            [
                (true, b"a".to_vec()),
                (true, b"b".to_vec()),
                (true, b"c".to_vec())
            ]
        );
    }

    #[test]
    fn a_max_smaller_than_a_character_cuts_it_into_binary_parts() {
        let parts = payloads("€".as_bytes(), 2);
        assert_eq!(parts, [(false, vec![0xE2, 0x82]), (false, vec![0xAC])]);
    }

    #[test]
    fn non_utf8_cuts_anywhere_and_utf8_parts_stay_text() {
        let parts = payloads(b"abcd\xff", 2);
        assert_eq!(
            parts,
            [
                (true, b"ab".to_vec()),
                (true, b"cd".to_vec()),
                (false, b"\xff".to_vec())
            ]
        );
    }
}
