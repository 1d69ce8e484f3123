//! [`StompCodec`]: the core [`Decoder`] and [`Encoder`] behind `tokio_util::codec`'s
//! `Decoder` and `Encoder` traits (feature `tokio-codec`).

use std::io;

use bytes::BytesMut;

use crate::decode::{Decoder, Item};
use crate::encode::Encoder;
use crate::error::{DecodeError, EncodeError};
use crate::limits::Limits;
use crate::version::Version;

/// A STOMP codec for `tokio_util::codec::Framed`, `FramedRead` and `FramedWrite`.
///
/// A thin adapter: decoding is [`Decoder::decode`] on the framed buffer and encoding is
/// [`Encoder::encode`] into it, so limits, errors, escaping and version rules are exactly the
/// core codec's. The stream yields [`Item`]s (frames and heart-beat EOLs) and the sink takes
/// them: send a frame as `frame.into()` (or `Item::Frame(frame)`; cloning a [`Frame`](crate::Frame) to keep it
/// costs a reference count) and `Item::Heartbeat` to write one heart-beat EOL. One item type
/// both ways lets `flush()` and `close()` infer it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), stomp_codec::CodecError> {
/// use futures_util::{SinkExt, StreamExt};
/// use stomp_codec::{Command, Frame, Item, StompCodec, Version};
/// use tokio_util::codec::Framed;
///
/// // Any AsyncRead + AsyncWrite: a TcpStream, a TLS stream, here an in-memory pipe.
/// let (a, b) = tokio::io::duplex(64);
/// let mut client = Framed::new(a, StompCodec::new(Version::V1_2));
/// let mut server = Framed::new(b, StompCodec::new(Version::V1_2));
///
/// let frame = Frame::builder(Command::Send).header("destination", "/queue/a").body("hi").build();
/// client.send(frame.into()).await?;
/// client.send(Item::Heartbeat).await?;
/// client.flush().await?;
/// let Some(Item::Frame(received)) = server.next().await.transpose()? else { panic!() };
/// assert_eq!(received.headers().get("destination"), Some(&b"/queue/a"[..]));
/// assert_eq!(received.body(), &b"hi"[..]);
/// assert_eq!(server.next().await.transpose()?, Some(Item::Heartbeat));
/// # Ok(())
/// # }
/// ```
///
/// Errors are fatal and sticky, as in the core decoder: after a [`CodecError::Decode`] the
/// stream yields the same error again if polled. A stream that ends inside a frame yields
/// [`CodecError::Truncated`]. The decoder keeps its scan position in the framed read buffer
/// between calls: append to it (`Framed::read_buffer_mut`) freely; a buffer cut short or
/// swapped for a shorter one is read again from its start (see [`Decoder::decode`]).
///
/// Switch versions once CONNECT/CONNECTED has fixed one with
/// `framed.codec_mut().set_version(v)` (E-8).
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-codec")))]
pub struct StompCodec {
    decoder: Decoder,
    encoder: Encoder,
}

impl StompCodec {
    /// A codec for `version` with the default [`Limits`].
    pub fn new(version: Version) -> StompCodec {
        StompCodec::from_decoder(Decoder::new(version))
    }

    /// A codec for `version` that decodes with `limits`.
    pub fn with_limits(version: Version, limits: Limits) -> StompCodec {
        StompCodec::from_decoder(Decoder::with_limits(version, limits))
    }

    /// A codec around a configured decoder (limits, extension commands, strict UTF-8); the
    /// encoder uses the decoder's version. The decoder must not have been fed yet.
    pub fn from_decoder(decoder: Decoder) -> StompCodec {
        let encoder = Encoder::new(decoder.version());
        StompCodec { decoder, encoder }
    }

    /// The version both directions use.
    pub fn version(&self) -> Version {
        self.encoder.version()
    }

    /// Switches both directions to `version` (E-8): the encoder at once, the decoder from the
    /// next frame (see [`Decoder::set_version`]).
    pub fn set_version(&mut self, version: Version) {
        self.decoder.set_version(version);
        self.encoder.set_version(version);
    }

    /// The core decoder: its [`offset`](Decoder::offset), [`error`](Decoder::error) and
    /// [`limits`](Decoder::limits).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The core encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }
}

/// What went wrong in a [`StompCodec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-codec")))]
pub enum CodecError {
    /// The peer sent bytes that are not STOMP (fatal; see [`DecodeError`]).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A frame that cannot be written in the codec's version; nothing was written.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The stream ended inside a frame (or inside a CRLF between frames).
    #[error("the stream ended inside a frame: {buffered} octets from offset {offset} are unused")]
    Truncated {
        /// Stream offset of the first unused octet.
        offset: u64,
        /// How many octets were left.
        buffered: usize,
    },
    /// Reading or writing the transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<CodecError> for io::Error {
    /// I/O errors come back as they were; the others become `InvalidData` errors.
    fn from(err: CodecError) -> io::Error {
        match err {
            CodecError::Io(err) => err,
            CodecError::Truncated { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, err),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

impl tokio_util::codec::Decoder for StompCodec {
    type Item = Item;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Item>, CodecError> {
        Ok(self.decoder.decode(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Item>, CodecError> {
        match self.decoder.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated {
                offset: self.decoder.offset(),
                buffered: src.len(),
            }),
        }
    }
}

/// The one sink item type: a single `Encoder` impl lets `SinkExt::flush` and `SinkExt::close`,
/// which take no item, infer it (with one impl per item type they failed with E0283).
impl tokio_util::codec::Encoder<Item> for StompCodec {
    type Error = CodecError;

    /// A frame, or one EOL (`\n`) for [`Item::Heartbeat`] (B-4).
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Item::Frame(frame) => Ok(self.encoder.encode(&frame, dst)?),
            Item::Heartbeat => {
                dst.extend_from_slice(b"\n");
                Ok(())
            }
        }
    }
}
