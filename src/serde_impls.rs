//! `Serialize` and `Deserialize` for the frame model (feature `serde`), in the JSON form that
//! `stompcat` prints and reads:
//!
//! ```text
//! {"command":"SEND","headers":[["destination","/queue/a"]],"body_hex":"68656c6c6f"}
//! {"heartbeat":true}
//! ```
//!
//! * [`Frame`]: a map of `command` (string), `headers` (a sequence of `[name, value]` string
//!   pairs in wire order, repeats kept) and `body_hex` (the body as lowercase hex). Octets that
//!   are not UTF-8 in the command or headers are written as U+FFFD (the form is for people and
//!   tools; it is lossy there). Reading also accepts `body` (UTF-8 text) instead of `body_hex`,
//!   hex digits of either case, and a missing `headers` or body (empty); any other key is an
//!   error. Whether the frame opts out of `content-length` is not part of the form.
//! * [`Item`]: a frame as above, or `{"heartbeat":true}` for [`Item::Heartbeat`].
//! * [`Command`]: its wire spelling; reading accepts the standard names and extension words
//!   (D-1).
//! * [`Version`]: `"1.0"`, `"1.1"` or `"1.2"`.
//! * [`Headers`]: the sequence of `[name, value]` pairs.
//!
//! The same form is used by every serde format, human-readable or not. Nothing here needs
//! `std`.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::decode::Item;
use crate::frame::{Command, Frame};
use crate::headers::Headers;
use crate::version::Version;

const COMMAND: &str = "command";
const HEADERS: &str = "headers";
const BODY_HEX: &str = "body_hex";
const BODY: &str = "body";
const HEARTBEAT: &str = "heartbeat";
const FRAME_FIELDS: &[&str] = &[COMMAND, HEADERS, BODY_HEX, BODY];
const ITEM_FIELDS: &[&str] = &[COMMAND, HEADERS, BODY_HEX, BODY, HEARTBEAT];

/// Octets as a string, invalid UTF-8 replaced by U+FFFD.
struct Lossy<'a>(&'a [u8]);

impl Serialize for Lossy<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&String::from_utf8_lossy(self.0))
    }
}

/// Octets as lowercase hex, written without an intermediate string where the format allows.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut chunk = [0u8; 128];
        for piece in self.0.chunks(chunk.len() / 2) {
            for (i, &b) in piece.iter().enumerate() {
                chunk[2 * i] = DIGITS[usize::from(b >> 4)];
                chunk[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
            }
            let digits = &chunk[..2 * piece.len()];
            // Hex digits are ASCII, so this never fails; an error would only drop output.
            f.write_str(core::str::from_utf8(digits).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Bytes from hex digits of either case.
fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.len() % 2 != 0 {
        return Err(alloc::format!(
            "\"{BODY_HEX}\" has an odd number of digits ({})",
            hex.len()
        ));
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => {
                let bad = if digit(pair[0]).is_none() {
                    pair[0]
                } else {
                    pair[1]
                };
                Err(alloc::format!(
                    "\"{BODY_HEX}\" has a non-hex character {:?}",
                    char::from(bad)
                ))
            }
        })
        .collect()
}

// ---- Version -------------------------------------------------------------------------------

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        struct VersionVisitor;
        impl Visitor<'_> for VersionVisitor {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a STOMP version: \"1.0\", \"1.1\" or \"1.2\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Version, E> {
                Version::from_bytes(v.as_bytes())
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(VersionVisitor)
    }
}

// ---- Command -------------------------------------------------------------------------------

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Lossy(self.as_bytes()).serialize(serializer)
    }
}

/// A command from its spelling: a standard name, else an extension word (D-1).
fn command_from_str(word: &str) -> Option<Command> {
    Command::from_bytes(word.as_bytes()).or_else(|| Command::extension(word))
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Command, D::Error> {
        struct CommandVisitor;
        impl Visitor<'_> for CommandVisitor {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a STOMP command: a standard name or 1-64 printable ASCII characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                command_from_str(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(CommandVisitor)
    }
}

// ---- Headers -------------------------------------------------------------------------------

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for (name, value) in self.iter() {
            seq.serialize_element(&(Lossy(name), Lossy(value)))?;
        }
        seq.end()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Headers, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of [name, value] string pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut headers = Headers::new();
                while let Some((name, value)) =
                    seq.next_element::<(Cow<'de, str>, Cow<'de, str>)>()?
                {
                    headers.push(name.as_bytes(), value.as_bytes());
                }
                Ok(headers)
            }
        }
        deserializer.deserialize_seq(HeadersVisitor)
    }
}

// ---- Frame and Item ------------------------------------------------------------------------

/// The frame's entries, in the documented key order.
fn serialize_frame<S: Serializer>(frame: &Frame, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(3))?;
    map.serialize_entry(COMMAND, frame.command())?;
    map.serialize_entry(HEADERS, frame.headers())?;
    map.serialize_entry(BODY_HEX, &Hex(frame.body()))?;
    map.end()
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_frame(self, serializer)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Item {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Frame(frame) => serialize_frame(frame, serializer),
            Item::Heartbeat => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(HEARTBEAT, &true)?;
                map.end()
            }
        }
    }
}

/// A key of the frame or item map.
enum Field {
    Command,
    Headers,
    BodyHex,
    Body,
    Heartbeat,
}

/// Reads a key; `heartbeat` is known only when reading an [`Item`].
struct FieldSeed {
    item: bool,
}

impl<'de> de::DeserializeSeed<'de> for FieldSeed {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a frame key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            COMMAND => Field::Command,
            HEADERS => Field::Headers,
            BODY_HEX => Field::BodyHex,
            BODY => Field::Body,
            HEARTBEAT if self.item => Field::Heartbeat,
            _ if self.item => return Err(E::unknown_field(v, ITEM_FIELDS)),
            _ => return Err(E::unknown_field(v, FRAME_FIELDS)),
        })
    }
}

/// Reads a frame map (or, for an item, a heart-beat map).
struct FrameVisitor {
    item: bool,
}

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STOMP frame {\"command\":..,\"headers\":..,\"body_hex\":..}")?;
        if self.item {
            f.write_str(" or {\"heartbeat\":true}")?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut command: Option<Command> = None;
        let mut headers: Option<Headers> = None;
        let mut body_hex: Option<Cow<'de, str>> = None;
        let mut body: Option<Cow<'de, str>> = None;
        let mut heartbeat: Option<bool> = None;
        let mut keys = 0usize;
        while let Some(field) = map.next_key_seed(FieldSeed { item: self.item })? {
            keys += 1;
            fn once<T, E: de::Error>(slot: &Option<T>, name: &'static str) -> Result<(), E> {
                match slot {
                    Some(_) => Err(E::duplicate_field(name)),
                    None => Ok(()),
                }
            }
            match field {
                Field::Command => {
                    once(&command, COMMAND)?;
                    command = Some(map.next_value()?);
                }
                Field::Headers => {
                    once(&headers, HEADERS)?;
                    headers = Some(map.next_value()?);
                }
                Field::BodyHex => {
                    once(&body_hex, BODY_HEX)?;
                    body_hex = Some(map.next_value()?);
                }
                Field::Body => {
                    once(&body, BODY)?;
                    body = Some(map.next_value()?);
                }
                Field::Heartbeat => {
                    once(&heartbeat, HEARTBEAT)?;
                    heartbeat = Some(map.next_value()?);
                }
            }
        }
        if let Some(beat) = heartbeat {
            return if beat && keys == 1 {
                Ok(Item::Heartbeat)
            } else {
                Err(de::Error::custom(
                    "a heart-beat must be exactly {\"heartbeat\":true}",
                ))
            };
        }
        let command = command.ok_or_else(|| de::Error::missing_field(COMMAND))?;
        let body = match (body_hex, body) {
            (Some(_), Some(_)) => {
                return Err(de::Error::custom("give \"body_hex\" or \"body\", not both"))
            }
            (Some(hex), None) => bytes::Bytes::from(from_hex(&hex).map_err(de::Error::custom)?),
            (None, Some(text)) => bytes::Bytes::copy_from_slice(text.as_bytes()),
            (None, None) => bytes::Bytes::new(),
        };
        let mut frame = Frame::new(command);
        if let Some(headers) = headers {
            frame.set_headers(headers);
        }
        frame.set_body(body);
        Ok(Item::Frame(frame))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Frame, D::Error> {
        match deserializer.deserialize_map(FrameVisitor { item: false })? {
            Item::Frame(frame) => Ok(frame),
            // FrameVisitor { item: false } never accepts the `heartbeat` key.
            Item::Heartbeat => Err(de::Error::unknown_field(HEARTBEAT, FRAME_FIELDS)),
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_map(FrameVisitor { item: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_round_trip_and_reject_bad_input() {
        let all: Vec<u8> = (0..=255).collect();
        let text = alloc::format!("{}", Hex(&all));
        assert_eq!(text.len(), 512);
        assert!(text.starts_with("000102"));
        assert!(text.ends_with("fdfeff"));
        assert_eq!(from_hex(&text).unwrap(), all);
        assert_eq!(from_hex("ABcd").unwrap(), [0xab, 0xcd]);
        assert_eq!(from_hex("").unwrap(), Vec::<u8>::new());
        assert!(from_hex("abc").unwrap_err().contains("odd"));
        assert!(from_hex("zz").unwrap_err().contains("'z'"));
        assert!(from_hex("0g").unwrap_err().contains("'g'"));
        // A multi-byte character is refused, not sliced through.
        assert!(from_hex("é0").is_err());
    }
}
