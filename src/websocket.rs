//! STOMP over WebSocket, without a WebSocket library: subprotocol names and negotiation,
//! message payloads in and out. Use any WebSocket implementation (tungstenite, a browser
//! bridge, an embedded stack) for the transport itself.
//!
//! * **Handshake.** A client offers `Sec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp`
//!   (W-1). [`choose_subprotocol`] picks the answer; [`Version::subprotocol`] and
//!   [`Version::from_subprotocol`] map names and versions. The subprotocol does not fix the STOMP
//!   version: CONNECT/CONNECTED negotiation still does (W-2).
//! * **Receiving.** A WebSocket message may hold one frame, several, a part of one, or bare
//!   heart-beat EOLs, as text or binary (W-3, W-4). Feed every payload, in order, to one
//!   streaming decoder and never reset it between messages: [`MessageDecoder`] does that for
//!   the bare codec; a [`ClientConnection`](crate::ClientConnection) or
//!   [`ServerConnection`](crate::ServerConnection) needs nothing more than
//!   `handle_input(now, payload)` per message. WebSocket pings are not STOMP bytes: report them
//!   with `note_activity(now)` if they should count as life (W-7, D-20).
//! * **Sending.** Put encoded bytes (a frame, several, or a heart-beat `"\n"`) in a text
//!   message when [`fits_text_message`] says so, else in a binary one (W-4).
//!
//! ```
//! use stomp_codec::websocket::{
//!     choose_subprotocol, fits_text_message, MessageDecoder, Subprotocol,
//! };
//! use stomp_codec::{Decoder, Item, Version, VersionSet};
//!
//! // The handshake: the client's header value(s), the versions we serve.
//! let choice = choose_subprotocol(["v12.stomp, v11.stomp, v10.stomp"], VersionSet::ALL);
//! assert_eq!(choice, Subprotocol::Chosen(Version::V1_2));
//! assert_eq!(choice.name(), Some("v12.stomp")); // the Sec-WebSocket-Protocol answer
//!
//! // Messages as they come: a frame split over two, then a heart-beat and a frame in one.
//! let mut decoder = MessageDecoder::new(Decoder::new(Version::V1_2));
//! assert_eq!(decoder.feed(b"SEND\ndestination:/a\n").count(), 0);
//! let items: Vec<Item> = decoder.feed(b"\nhi\0").collect::<Result<_, _>>()?;
//! assert!(matches!(&items[..], [Item::Frame(f)] if f.body() == b"hi"));
//! let items: Vec<Item> = decoder.feed(b"\nSEND\ndestination:/b\n\n\0").collect::<Result<_, _>>()?;
//! assert!(matches!(&items[..], [Item::Heartbeat, Item::Frame(_)]));
//!
//! // Sending: text unless the bytes are not UTF-8.
//! assert!(fits_text_message(b"SEND\ndestination:/a\n\nhi\0"));
//! assert!(!fits_text_message(b"SEND\ndestination:/a\ncontent-length:1\n\n\xff\0"));
//! # Ok::<(), stomp_codec::DecodeError>(())
//! ```

use bytes::Bytes;

use crate::decode::{Decoder, Item};
use crate::error::DecodeError;
use crate::version::{Version, VersionSet};

/// The subprotocol name of STOMP 1.0 (W-1).
pub const V10_STOMP: &str = "v10.stomp";
/// The subprotocol name of STOMP 1.1 (W-1).
pub const V11_STOMP: &str = "v11.stomp";
/// The subprotocol name of STOMP 1.2 (W-1).
pub const V12_STOMP: &str = "v12.stomp";

/// Every subprotocol name, newest first: the order in which clients offer them (stompjs does)
/// and servers list them.
pub const SUBPROTOCOLS: [&str; 3] = [V12_STOMP, V11_STOMP, V10_STOMP];

impl Version {
    /// The WebSocket subprotocol name of this version: `v10.stomp`, `v11.stomp` or `v12.stomp`
    /// (W-1).
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Version::V1_0 => V10_STOMP,
            Version::V1_1 => V11_STOMP,
            Version::V1_2 => V12_STOMP,
        }
    }

    /// The version a subprotocol name stands for; the name must match exactly (RFC 6455 has
    /// the server echo one of the client's tokens, which clients compare byte for byte).
    pub fn from_subprotocol(name: &str) -> Option<Version> {
        match name {
            V10_STOMP => Some(Version::V1_0),
            V11_STOMP => Some(Version::V1_1),
            V12_STOMP => Some(Version::V1_2),
            _ => None,
        }
    }
}

/// The outcome of [`choose_subprotocol`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subprotocol {
    /// Answer the handshake with `Sec-WebSocket-Protocol: {version.subprotocol()}`.
    Chosen(Version),
    /// The client offered no subprotocol at all: accept without one and speak STOMP anyway,
    /// as RabbitMQ does (W-1). The response must then carry no `Sec-WebSocket-Protocol`.
    NotOffered,
    /// The client offered subprotocols, none of them a STOMP version we serve: refuse the
    /// upgrade (e.g. HTTP 400). Answering without a subprotocol is allowed by RFC 6455, but
    /// clients that asked for one may then fail the connection (tungstenite's client does).
    Unsupported,
}

impl Subprotocol {
    /// The name to answer with, if any.
    pub const fn name(self) -> Option<&'static str> {
        match self {
            Subprotocol::Chosen(version) => Some(version.subprotocol()),
            Subprotocol::NotOffered | Subprotocol::Unsupported => None,
        }
    }

    /// The chosen version, if any.
    pub const fn version(self) -> Option<Version> {
        match self {
            Subprotocol::Chosen(version) => Some(version),
            Subprotocol::NotOffered | Subprotocol::Unsupported => None,
        }
    }
}

/// Chooses the subprotocol to answer a WebSocket upgrade with (W-1).
///
/// `offered` holds the values of the client's `Sec-WebSocket-Protocol` header fields, in the
/// order they came (a client may send one field with a comma-separated list, or several);
/// tokens are split at commas and stripped of spaces and tabs. `supported` is the set of
/// versions the server serves.
///
/// The answer is the **client's most preferred** supported token: RFC 6455 (4.1) has the client
/// list subprotocols in its order of preference. Browser clients (stompjs) offer the newest
/// first, so this is the highest common version in practice, which is also what RabbitMQ
/// answers. Tokens match exactly (see [`Version::from_subprotocol`]), so the answer is always
/// one of the client's own tokens. A client that offered nothing gets
/// [`Subprotocol::NotOffered`]; one whose tokens are all foreign gets
/// [`Subprotocol::Unsupported`].
///
/// ```
/// use stomp_codec::websocket::{choose_subprotocol, Subprotocol};
/// use stomp_codec::{Version, VersionSet};
///
/// let only_11_12: VersionSet = [Version::V1_1, Version::V1_2].into_iter().collect();
/// assert_eq!(
///     choose_subprotocol(["v10.stomp, v11.stomp", "v12.stomp"], only_11_12),
///     Subprotocol::Chosen(Version::V1_1)
/// );
/// assert_eq!(choose_subprotocol(["mqtt"], only_11_12), Subprotocol::Unsupported);
/// assert_eq!(choose_subprotocol::<_, &str>([], only_11_12), Subprotocol::NotOffered);
/// ```
pub fn choose_subprotocol<I, V>(offered: I, supported: VersionSet) -> Subprotocol
where
    I: IntoIterator<Item = V>,
    V: AsRef<[u8]>,
{
    let mut any = false;
    for value in offered {
        for token in value.as_ref().split(|&b| b == b',') {
            let token = trim_ows(token);
            if token.is_empty() {
                continue;
            }
            any = true;
            let version = core::str::from_utf8(token)
                .ok()
                .and_then(Version::from_subprotocol);
            if let Some(version) = version.filter(|v| supported.contains(*v)) {
                return Subprotocol::Chosen(version);
            }
        }
    }
    if any {
        Subprotocol::Unsupported
    } else {
        Subprotocol::NotOffered
    }
}

/// Strips the optional white space (spaces and tabs) around a list element (RFC 9110 5.6.1).
fn trim_ows(mut token: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = token {
        token = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = token {
        token = rest;
    }
    token
}

/// Whether encoded STOMP bytes may go in a text WebSocket message: text messages must be valid
/// UTF-8 (RFC 6455, W-4). Otherwise send a binary message; receivers accept both (W-4).
///
/// A frame's NUL terminator is valid UTF-8 (U+0000), so frames with UTF-8 headers and bodies
/// fit, and so does a heart-beat `"\n"`.
pub fn fits_text_message(encoded: &[u8]) -> bool {
    core::str::from_utf8(encoded).is_ok()
}

/// A [`Decoder`] fed one WebSocket message payload at a time (W-3).
///
/// Each message may hold a frame, several, a part of one, or bare heart-beat EOLs; text and
/// binary payloads are the same bytes to STOMP (W-4). Parser state carries over from message
/// to message, exactly as for a TCP stream, so limits, errors and offsets are the decoder's
/// (D-12 bounds what a frame split over many messages may buffer). Message boundaries mean
/// nothing to STOMP and are not checked: the crate does not imitate stompjs'
/// `appendMissingNULLonIncoming` (W-6).
///
/// Items of a message that are not taken from the iterator stay in the decoder and come
/// first on the next [`feed`](MessageDecoder::feed) (or [`next_item`](MessageDecoder::next_item)).
#[derive(Debug)]
pub struct MessageDecoder {
    decoder: Decoder,
}

impl MessageDecoder {
    /// Wraps a configured decoder (version, limits, options).
    pub fn new(decoder: Decoder) -> MessageDecoder {
        MessageDecoder { decoder }
    }

    /// Feeds the payload of one text or binary message (copied) and returns the items it
    /// completed, in order.
    pub fn feed(&mut self, payload: &[u8]) -> Items<'_> {
        self.decoder.push(payload);
        Items {
            decoder: &mut self.decoder,
            done: false,
        }
    }

    /// Feeds a payload the caller owns, e.g. tungstenite's `Message::Binary(bytes)` or
    /// `Bytes::from(utf8_bytes)`: no copy when no partial frame is buffered.
    pub fn feed_bytes(&mut self, payload: impl Into<Bytes>) -> Items<'_> {
        self.decoder.push_bytes(payload);
        Items {
            decoder: &mut self.decoder,
            done: false,
        }
    }

    /// The next buffered item, as [`Decoder::next_item`].
    pub fn next_item(&mut self) -> Result<Option<Item>, DecodeError> {
        self.decoder.next_item()
    }

    /// Whether the messages so far ended inside a frame (the rest should follow in the next
    /// message).
    pub fn is_mid_frame(&self) -> bool {
        self.decoder.is_mid_frame()
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The decoder, e.g. to [`set_version`](Decoder::set_version) after CONNECTED (E-8).
    pub fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// Unwraps the decoder.
    pub fn into_decoder(self) -> Decoder {
        self.decoder
    }
}

/// The items completed by one message: see [`MessageDecoder::feed`].
///
/// Yields `Ok(item)` for each frame or heart-beat, then ends; or yields one `Err` (the
/// decoder's sticky error) and ends.
#[derive(Debug)]
#[must_use = "the items stay buffered until taken"]
pub struct Items<'a> {
    decoder: &'a mut Decoder,
    done: bool,
}

impl Iterator for Items<'_> {
    type Item = Result<Item, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.decoder.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

impl core::iter::FusedIterator for Items<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_map_both_ways_w1() {
        for version in Version::ALL {
            assert_eq!(
                Version::from_subprotocol(version.subprotocol()),
                Some(version)
            );
        }
        assert_eq!(Version::V1_0.subprotocol(), "v10.stomp");
        assert_eq!(Version::V1_1.subprotocol(), "v11.stomp");
        assert_eq!(Version::V1_2.subprotocol(), "v12.stomp");
        for other in ["V12.STOMP", "v12.stomp ", "v13.stomp", "stomp", "", "v12"] {
            assert_eq!(Version::from_subprotocol(other), None, "{other:?}");
        }
    }

    #[test]
    fn tokens_are_trimmed_and_empty_ones_skipped() {
        assert_eq!(trim_ows(b" \tv12.stomp \t"), b"v12.stomp");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(
            choose_subprotocol([" , ,\tv11.stomp ,"], VersionSet::ALL),
            Subprotocol::Chosen(Version::V1_1)
        );
        assert_eq!(
            choose_subprotocol([" , "], VersionSet::ALL),
            Subprotocol::NotOffered
        );
        assert_eq!(
            choose_subprotocol([&b"\xff, v10.stomp"[..]], VersionSet::ALL),
            Subprotocol::Chosen(Version::V1_0),
            "a token that is not UTF-8 is just unknown"
        );
    }
}
