//! The encoder: a frame in, its wire bytes appended to the caller's buffer.

use bytes::BytesMut;
use memchr::memchr;

use crate::error::{shown, EncodeError, Unrepresentable};
use crate::escape::{escape_into, is_plain, plan_text};
use crate::frame::{is_extension_word, Command, Frame};
use crate::numbers::parse_content_length;
use crate::version::Version;

const CONTENT_LENGTH: &[u8] = b"content-length";

/// Encodes frames for one protocol version (D-25).
///
/// The output uses LF line ends, escapes headers as the version and command require (none for
/// CONNECT, STOMP and CONNECTED), adds `content-length` for a non-empty body unless the frame
/// opts out, and writes nothing after the NUL. A frame that cannot be represented is refused
/// with an [`EncodeError`] and nothing is written.
///
/// ```
/// use bytes::BytesMut;
/// use stomp_codec::{Command, Encoder, Frame, Version};
/// let frame = Frame::builder(Command::Send).header("x-note", "a:b").build();
/// let mut out = BytesMut::new();
/// Encoder::new(Version::V1_2).encode(&frame, &mut out).unwrap();
/// assert_eq!(&out[..], b"SEND\nx-note:a\\cb\n\n\0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    version: Version,
}

impl Encoder {
    /// An encoder for `version`.
    pub fn new(version: Version) -> Encoder {
        Encoder { version }
    }

    /// The version in force.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Switches version (e.g. once CONNECTED has fixed it, E-8).
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The number of octets `frame` takes on the wire, or why it cannot be encoded.
    pub fn encoded_len(&self, frame: &Frame) -> Result<usize, EncodeError> {
        Ok(self.plan(frame)?.len)
    }

    /// Appends the wire form of `frame` to `dst`, reserving the exact size once.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let plan = self.plan(frame)?;
        dst.reserve(plan.len);
        dst.extend_from_slice(frame.command().as_bytes());
        dst.extend_from_slice(b"\n");
        if plan.escaping {
            for (i, (name, value)) in frame.headers().iter().enumerate() {
                let (escape_name, escape_value) = plan.escapes(i, || {
                    // Past the first 32 headers the plan kept no note: ask again (it passed
                    // before).
                    let again = |text, is_name| {
                        plan_text(text, self.version, true, is_name).is_ok_and(|p| p.is_some())
                    };
                    (again(name, true), again(value, false))
                });
                escape_into(name, escape_name, dst);
                dst.extend_from_slice(b":");
                escape_into(value, escape_value, dst);
                dst.extend_from_slice(b"\n");
            }
        } else {
            // Nothing to escape: copy each header as it is.
            for (name, value) in frame.headers() {
                dst.extend_from_slice(name);
                dst.extend_from_slice(b":");
                dst.extend_from_slice(value);
                dst.extend_from_slice(b"\n");
            }
        }
        if plan.add_length {
            dst.extend_from_slice(CONTENT_LENGTH);
            dst.extend_from_slice(b":");
            let mut digits = [0u8; 20];
            dst.extend_from_slice(format_decimal(frame.body().len() as u64, &mut digits));
            dst.extend_from_slice(b"\n");
        }
        dst.extend_from_slice(b"\n");
        dst.extend_from_slice(frame.body());
        dst.extend_from_slice(b"\0");
        Ok(())
    }

    /// Validates `frame` and sizes its wire form without writing anything.
    fn plan(&self, frame: &Frame) -> Result<Plan, EncodeError> {
        let version = self.version;
        let command = frame.command();
        if let Command::Extension(word) = command {
            if !is_extension_word(word) || Command::from_bytes(word).is_some() {
                return Err(EncodeError::InvalidCommand {
                    command: shown(word, 64),
                });
            }
        }
        let body = frame.body();
        if !body.is_empty() && !command.allows_body(version) {
            return Err(EncodeError::BodyNotAllowed {
                command: command.clone(),
                version,
            });
        }
        // When all header text lies in one buffer free of special octets, no header needs
        // escaping and only empty names can make one unrepresentable.
        let plain = frame.headers().owned_text().is_some_and(is_plain);
        let escaping = command.escapes_headers(version) && !plain;
        let mut len = command.as_bytes().len() + 1;
        let mut has_length = false;
        let mut escaped = 0u64;
        for (i, (name, value)) in frame.headers().iter().enumerate() {
            let unrepresentable = |reason| EncodeError::Unrepresentable {
                header: shown(name, 64),
                version,
                reason,
            };
            if plain {
                if name.is_empty() {
                    return Err(unrepresentable(Unrepresentable::EmptyName));
                }
                len += name.len() + value.len();
            } else {
                for (bit, text, is_name) in [(2 * i, name, true), (2 * i + 1, value, false)] {
                    match plan_text(text, version, escaping, is_name).map_err(unrepresentable)? {
                        None => len += text.len(),
                        Some(escaped_len) => {
                            len += escaped_len;
                            if bit < 64 {
                                escaped |= 1 << bit;
                            }
                        }
                    }
                }
            }
            len += 2;
            if name == CONTENT_LENGTH {
                if parse_content_length(value) != Some(body.len() as u64) {
                    return Err(EncodeError::ContentLengthMismatch {
                        declared: shown(value, 64),
                        actual: body.len(),
                    });
                }
                has_length = true;
            }
        }
        let add_length = !has_length && !body.is_empty() && !frame.omits_content_length();
        if !has_length && !add_length {
            if let Some(position) = memchr(0, body) {
                return Err(EncodeError::NulInBody { position });
            }
        }
        if add_length {
            let mut digits = [0u8; 20];
            len += CONTENT_LENGTH.len() + 2 + format_decimal(body.len() as u64, &mut digits).len();
        }
        len += 1 + body.len() + 1;
        Ok(Plan {
            len,
            escaping,
            add_length,
            escaped,
        })
    }
}

struct Plan {
    len: usize,
    escaping: bool,
    add_length: bool,
    /// Bit `2i` (name) and `2i + 1` (value): header `i` needs escaping; kept for the first 32.
    escaped: u64,
}

impl Plan {
    /// Whether header `i`'s name and value need escaping (when the frame is escaped at all),
    /// from the note or from `ask`.
    fn escapes(&self, i: usize, ask: impl FnOnce() -> (bool, bool)) -> (bool, bool) {
        if i < 32 {
            (
                self.escaped & (1 << (2 * i)) != 0,
                self.escaped & (1 << (2 * i + 1)) != 0,
            )
        } else {
            ask()
        }
    }
}

/// Appends the wire form of `frame` for `version` to `dst`; see [`Encoder`].
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) -> Result<(), EncodeError> {
    Encoder::new(version).encode(frame, dst)
}

/// Writes `n` in decimal at the end of `buf` and returns the digits.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(frame: &Frame, v: Version) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        encode(frame, v, &mut out).map(|_| out.freeze())
    }

    #[test]
    fn decimal() {
        let mut b = [0; 20];
        assert_eq!(format_decimal(0, &mut b), b"0");
        assert_eq!(format_decimal(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn connect_headers_are_not_escaped_e5() {
        let f = Frame::builder(Command::Connect)
            .header("passcode", "a:b\\c")
            .build();
        assert_eq!(
            &enc(&f, Version::V1_2).unwrap()[..],
            b"CONNECT\npasscode:a:b\\c\n\n\0"
        );
    }

    #[test]
    fn refusals_h2_f9_d25() {
        let f = Frame::builder(Command::Send)
            .body(&b"a\0b"[..])
            .omit_content_length()
            .build();
        assert_eq!(
            enc(&f, Version::V1_2),
            Err(EncodeError::NulInBody { position: 1 })
        );
        let f = Frame::builder(Command::Send)
            .header("content-length", "4")
            .body("abc")
            .build();
        assert!(matches!(
            enc(&f, Version::V1_2),
            Err(EncodeError::ContentLengthMismatch { actual: 3, .. })
        ));
        let f = Frame::builder(Command::Subscribe).body("x").build();
        assert!(matches!(
            enc(&f, Version::V1_1),
            Err(EncodeError::BodyNotAllowed { .. })
        ));
        assert!(enc(&f, Version::V1_0).is_ok());
    }

    #[test]
    fn length_is_exact() {
        let f = Frame::builder(Command::Message)
            .header("a\nb", "c:d\r")
            .body("xyz")
            .build();
        let e = Encoder::new(Version::V1_2);
        let out = enc(&f, Version::V1_2).unwrap();
        assert_eq!(e.encoded_len(&f).unwrap(), out.len());
    }
}
