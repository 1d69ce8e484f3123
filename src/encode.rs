//! The encoder: a frame in, its wire bytes appended to the caller's buffer.

use bytes::BytesMut;
use memchr::memchr;

use crate::error::{shown, EncodeError, Unrepresentable};
use crate::escape::{escape_into, is_plain, plan_text, specials};
use crate::frame::{is_extension_word, Command, Frame};
use crate::numbers::parse_content_length;
use crate::version::Version;

const CONTENT_LENGTH: &[u8] = b"content-length";

/// What the encoder needs of a frame besides its headers: a [`Frame`], or the parts the
/// connections' typed methods hold without building one.
#[derive(Clone, Copy)]
struct Shape<'f> {
    command: &'f Command,
    body: &'f [u8],
    omit_length: bool,
}

impl<'f> Shape<'f> {
    fn of(frame: &'f Frame) -> Shape<'f> {
        Shape {
            command: frame.command(),
            body: frame.body(),
            omit_length: frame.omits_content_length(),
        }
    }
}

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
        check_command(Shape::of(frame), self.version)?;
        Ok(self.plan(frame, has_plain_headers(frame))?.len)
    }

    /// Appends the wire form of `frame` to `dst`, reserving room once.
    ///
    /// On an error `dst` holds exactly what it held before (its capacity may have grown).
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let shape = Shape::of(frame);
        check_command(shape, self.version)?;
        let headers = frame.headers();
        let start = dst.len();
        let written = match headers.owned_only() {
            // Built by hand: all the text lies in one buffer, checked with one scan, and the
            // spans need no question of where they point.
            Some(owned) if is_plain(owned.text()) => {
                let (count, text_len) = (owned.len(), owned.text().len());
                Some(self.encode_plain(shape, owned, count, text_len, &[], dst))
            }
            Some(_) => None,
            None if headers.is_plain() => {
                let text_len = headers.text_len_bound();
                Some(self.encode_plain(shape, headers.iter(), headers.len(), text_len, &[], dst))
            }
            None => None,
        };
        self.finish(frame_fallback(frame), start, written, dst)
    }

    /// Appends a frame given as its parts: `command`, the headers `entries` yields (in that
    /// order, repeats kept) and `body`, exactly as [`encode`](Encoder::encode) would write the
    /// frame they make (`content-length` added for a non-empty body, D-25; the same refusals).
    /// For the connections' typed methods, which know a frame's headers without building one.
    ///
    /// `plain` is what the caller knows of the header text: `Some(true)` when it checked that
    /// no name or value holds a special octet ([`specials`] is 0 for each), `Some(false)` when
    /// one does, `None` to have it checked here.
    pub(crate) fn encode_parts<'a, E>(
        &self,
        command: &Command,
        entries: E,
        plain: Option<bool>,
        body: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError>
    where
        E: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let shape = Shape {
            command,
            body,
            omit_length: false,
        };
        check_command(shape, self.version)?;
        // One pass gathers what the plain path needs: the count and length to bound the head,
        // and unless the caller knows, whether any text is special (a table lookup per octet,
        // no early exit: the texts are short).
        let (mut count, mut text_len, mut seen) = (0, 0, 0);
        for (name, value) in entries.clone() {
            count += 1;
            text_len += name.len() + value.len();
            if plain.is_none() {
                seen |= specials(name) | specials(value);
            }
        }
        let plain = plain.unwrap_or(seen == 0);
        let start = dst.len();
        let written =
            plain.then(|| self.encode_plain(shape, entries.clone(), count, text_len, &[], dst));
        self.finish(Fallback::Parts(shape, entries), start, written, dst)
    }

    /// [`encode_parts`](Encoder::encode_parts) for plain headers (the caller checked that no
    /// name or value holds a special octet): `entries`, then `lines`, further headers already
    /// in wire form (`name:value` and a LF each; no name empty or `content-length`), copied as
    /// one block. `line_entries` are the same headers as pairs, for the general path.
    pub(crate) fn encode_plain_parts<'a, E, F>(
        &self,
        command: &Command,
        entries: E,
        lines: &[u8],
        line_entries: F,
        body: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError>
    where
        E: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        F: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let shape = Shape {
            command,
            body,
            omit_length: false,
        };
        check_command(shape, self.version)?;
        let (mut count, mut text_len) = (0, 0);
        for (name, value) in entries.clone() {
            count += 1;
            text_len += name.len() + value.len();
        }
        let start = dst.len();
        let written = self.encode_plain(shape, entries.clone(), count, text_len, lines, dst);
        let fallback = Fallback::Parts(shape, entries.chain(line_entries));
        self.finish(fallback, start, Some(written), dst)
    }

    /// The end of both `encode`s: takes back a refused frame, or writes it the general way
    /// when the plain path did not apply.
    fn finish<'a, E>(
        &self,
        fallback: Fallback<'_, E>,
        start: usize,
        written: Option<Result<bool, EncodeError>>,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError>
    where
        E: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        match written {
            Some(Err(err)) => {
                // Refused part-way: take back what was written.
                dst.truncate(start);
                Err(err)
            }
            Some(Ok(true)) => Ok(()),
            // The head did not fit its bound (which cannot happen): the general path.
            Some(Ok(false)) => {
                debug_assert!(false, "a frame's head outgrew its bound");
                dst.truncate(start);
                self.encode_fallback(fallback, dst)
            }
            None => self.encode_fallback(fallback, dst),
        }
    }

    fn encode_fallback<'a, E>(
        &self,
        fallback: Fallback<'_, E>,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError>
    where
        E: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        match fallback {
            Fallback::Frame(frame) => {
                let (shape, plan) = (Shape::of(frame), self.plan(frame, false)?);
                match frame.headers().owned_only() {
                    Some(owned) => self.write_planned(shape, &plan, owned, dst),
                    None => self.write_planned(shape, &plan, frame.headers().iter(), dst),
                }
            }
            Fallback::Parts(shape, entries) => {
                let plan = self.plan_over(shape, entries.clone(), false)?;
                self.write_planned(shape, &plan, entries, dst);
            }
        }
        Ok(())
    }

    /// Writes a frame checked and sized by `plan` (the general path, for any frame).
    fn write_planned<'a>(
        &self,
        shape: Shape<'_>,
        plan: &Plan,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        dst: &mut BytesMut,
    ) {
        dst.reserve(plan.len);
        dst.extend_from_slice(shape.command.as_bytes());
        dst.extend_from_slice(b"\n");
        self.write_headers(entries, plan, dst);
        if plan.add_length {
            let line = &mut [0; CONTENT_LENGTH_LINE_MAX];
            dst.extend_from_slice(content_length_line(shape.body.len(), line));
        }
        write_body(shape.body, dst);
    }

    /// Writes `entries`, the headers of a frame planned as `plan`, escaping those it noted.
    #[inline(always)]
    fn write_headers<'a>(
        &self,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        plan: &Plan,
        dst: &mut BytesMut,
    ) {
        if !plan.escaping {
            for (name, value) in entries {
                write_header(name, value, dst);
            }
            return;
        }
        for (i, (name, value)) in entries.enumerate() {
            let (escape_name, escape_value) = plan.escapes(i, || {
                // Past the first 32 headers the plan kept no note: ask again (it passed
                // before).
                let again = |text, is_name| {
                    plan_text(text, self.version, true, is_name).is_ok_and(|p| p.is_some())
                };
                (again(name, true), again(value, false))
            });
            escape_into(name, escape_name, self.version, dst);
            dst.extend_from_slice(b":");
            escape_into(value, escape_value, self.version, dst);
            dst.extend_from_slice(b"\n");
        }
    }

    /// Writes a frame whose header text is all plain (see [`has_plain_headers`]), walking
    /// `entries`, its headers, once; `text_len` bounds their names and values together.
    ///
    /// Text can then make no header unrepresentable, so what is left to refuse is an empty
    /// name, a mismatched `content-length` or a NUL in the body; those are checked as the
    /// headers are written and the caller takes the output back on an error. The one reserve
    /// uses an upper bound, which needs no pass over the headers.
    ///
    /// The head goes into room cleared in `dst` for its bound, then `dst` is cut to what was
    /// written: appending piece by piece would update `dst`'s length after every name, colon,
    /// value and LF, and each update waits for the one before (a store and a load of the same
    /// field), which made the length, not the copying, what encoding a small frame waited on.
    ///
    /// Returns `Ok(false)`, with `dst` to be cut back, if the head did not fit its bound.
    #[inline(always)]
    fn encode_plain<'a>(
        &self,
        shape: Shape<'_>,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        count: usize,
        text_len: usize,
        lines: &[u8],
        dst: &mut BytesMut,
    ) -> Result<bool, EncodeError> {
        let command = shape.command.as_bytes();
        let body = shape.body;
        let head_bound =
            command.len() + 1 + text_len + 2 * count + lines.len() + CONTENT_LENGTH_LINE_MAX + 1;
        dst.reserve(head_bound + body.len() + 1);
        let start = dst.len();
        dst.resize(start + head_bound, 0);
        let mut head = HeadWriter {
            buf: &mut dst[start..],
            at: 0,
            fits: true,
        };
        head.put(command);
        head.put(b"\n");
        let has_length = write_plain_headers(entries, body, self.version, &mut head)?;
        if !lines.is_empty() {
            head.put(lines);
        }
        if add_length(shape, has_length)? {
            head.put(content_length_line(
                body.len(),
                &mut [0; CONTENT_LENGTH_LINE_MAX],
            ));
        }
        head.put(b"\n");
        if !head.fits {
            return Ok(false);
        }
        let end = start + head.at;
        dst.truncate(end);
        dst.extend_from_slice(body);
        dst.extend_from_slice(b"\0");
        Ok(true)
    }

    /// Validates `frame`'s headers and body (its command passed [`check_command`]) and sizes
    /// its wire form without writing anything; `plain` is [`has_plain_headers`].
    fn plan(&self, frame: &Frame, plain: bool) -> Result<Plan, EncodeError> {
        let shape = Shape::of(frame);
        match frame.headers().owned_only() {
            Some(owned) => self.plan_over(shape, owned, plain),
            None => self.plan_over(shape, frame.headers().iter(), plain),
        }
    }

    /// [`Encoder::plan`] over `entries`, the frame's headers.
    #[inline(always)]
    fn plan_over<'a>(
        &self,
        shape: Shape<'_>,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        plain: bool,
    ) -> Result<Plan, EncodeError> {
        let version = self.version;
        let command = shape.command;
        let body = shape.body;
        let escaping = command.escapes_headers(version) && !plain;
        let mut len = command.as_bytes().len() + 1;
        let mut has_length = false;
        let mut escaped = 0u64;
        for (i, (name, value)) in entries.enumerate() {
            let unrepresentable = |reason| EncodeError::Unrepresentable {
                header: shown(name, 64),
                version,
                reason,
            };
            if plain {
                if name.is_empty() {
                    return Err(unrepresentable(Unrepresentable::EmptyName));
                }
                len += name.len() + value.len() + 2;
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
                len += 2;
            }
            if is_content_length(name) {
                check_length(value, body)?;
                has_length = true;
            }
        }
        let add_length = add_length(shape, has_length)?;
        if add_length {
            len += CONTENT_LENGTH.len() + 2 + decimal_len(body.len());
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

/// How to write a frame the plain path did not take: from the frame, or from its parts.
enum Fallback<'f, E> {
    Frame(&'f Frame),
    Parts(Shape<'f>, E),
}

/// The fallback of a [`Frame`] (no parts: the iterator type is a placeholder).
fn frame_fallback<'a>(frame: &Frame) -> Fallback<'_, core::iter::Empty<(&'a [u8], &'a [u8])>> {
    Fallback::Frame(frame)
}

/// Longest `content-length` line the encoder adds: the name, colon, up to 20 digits, LF.
const CONTENT_LENGTH_LINE_MAX: usize = CONTENT_LENGTH.len() + 1 + 20 + 1;

/// Refuses an extension command the decoder could not read back (D-1) and a body on a command
/// that may not carry one (F-9).
#[inline]
fn check_command(shape: Shape<'_>, version: Version) -> Result<(), EncodeError> {
    let command = shape.command;
    if let Command::Extension(word) = command {
        if !is_extension_word(word) || Command::from_bytes(word).is_some() {
            return Err(EncodeError::InvalidCommand {
                command: shown(word, 64),
            });
        }
    }
    if !shape.body.is_empty() && !command.allows_body(version) {
        return Err(EncodeError::BodyNotAllowed {
            command: command.clone(),
            version,
        });
    }
    Ok(())
}

/// Whether no header text of `frame` holds a special octet: then no header needs escaping and
/// only an empty name can make one unrepresentable.
fn has_plain_headers(frame: &Frame) -> bool {
    frame.headers().is_plain()
}

fn is_content_length(name: &[u8]) -> bool {
    // Comparing lengths first keeps the common miss to one compare.
    name.len() == CONTENT_LENGTH.len() && name == CONTENT_LENGTH
}

/// Checks a caller-supplied `content-length` against the body (H-2).
fn check_length(value: &[u8], body: &[u8]) -> Result<(), EncodeError> {
    if parse_content_length(value) == Some(body.len() as u64) {
        Ok(())
    } else {
        Err(EncodeError::ContentLengthMismatch {
            declared: shown(value, 64),
            actual: body.len(),
        })
    }
}

/// Whether the encoder adds `content-length` (D-25); refuses a body that would end at a NUL
/// because it has none (H-2).
fn add_length(shape: Shape<'_>, has_length: bool) -> Result<bool, EncodeError> {
    let body = shape.body;
    if has_length || body.is_empty() {
        return Ok(false);
    }
    if !shape.omit_length {
        return Ok(true);
    }
    match memchr(0, body) {
        Some(position) => Err(EncodeError::NulInBody { position }),
        None => Ok(false),
    }
}

/// Writes headers whose text is all plain (see [`Encoder::encode_plain`]), checking what can
/// still make one unrepresentable; returns whether there was a `content-length`.
#[inline(always)]
fn write_plain_headers<'a>(
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    body: &[u8],
    version: Version,
    dst: &mut HeadWriter<'_>,
) -> Result<bool, EncodeError> {
    let mut has_length = false;
    for (name, value) in entries {
        if name.is_empty() {
            return Err(EncodeError::Unrepresentable {
                header: shown(name, 64),
                version,
                reason: Unrepresentable::EmptyName,
            });
        }
        if is_content_length(name) {
            check_length(value, body)?;
            has_length = true;
        }
        dst.put(name);
        dst.put(b":");
        dst.put(value);
        dst.put(b"\n");
    }
    Ok(has_length)
}

/// Writes a frame's head into room set aside for it (see [`Encoder::encode_plain`]), keeping
/// its position in a register.
struct HeadWriter<'a> {
    buf: &'a mut [u8],
    at: usize,
    /// Cleared if something did not fit; nothing more is written then.
    fits: bool,
}

impl HeadWriter<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.at..self.at + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.at += bytes.len();
            }
            None => self.fits = false,
        }
    }
}

#[inline]
fn write_header(name: &[u8], value: &[u8], dst: &mut BytesMut) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b":");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\n");
}

/// The `content-length` line for a body of `body_len` octets, put together in `line` so that
/// it is copied out in one go.
fn content_length_line(body_len: usize, line: &mut [u8; CONTENT_LENGTH_LINE_MAX]) -> &[u8] {
    const DIGITS_AT: usize = CONTENT_LENGTH.len() + 1;
    line[..CONTENT_LENGTH.len()].copy_from_slice(CONTENT_LENGTH);
    line[CONTENT_LENGTH.len()] = b':';
    let end = DIGITS_AT + decimal_len(body_len);
    write_decimal(body_len, &mut line[DIGITS_AT..end]);
    line[end] = b'\n';
    &line[..=end]
}

/// The blank line, the body and the NUL.
fn write_body(body: &[u8], dst: &mut BytesMut) {
    dst.extend_from_slice(b"\n");
    dst.extend_from_slice(body);
    dst.extend_from_slice(b"\0");
}

/// The number of decimal digits of `n`.
fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// Writes the last `digits.len()` decimal digits of `n` into `digits` (all of them when it has
/// [`decimal_len`] octets).
fn write_decimal(mut n: usize, digits: &mut [u8]) {
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(frame: &Frame, v: Version) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        Encoder::new(v)
            .encode(frame, &mut out)
            .map(|_| out.freeze())
    }

    #[test]
    fn decimal() {
        for n in [0, 1, 9, 10, 99, 100, 12345, usize::MAX] {
            let mut digits = vec![0; decimal_len(n)];
            write_decimal(n, &mut digits);
            assert_eq!(digits, n.to_string().into_bytes(), "{n}");
        }
        let line = &mut [0; CONTENT_LENGTH_LINE_MAX];
        assert_eq!(content_length_line(4096, line), b"content-length:4096\n");
        assert_eq!(
            content_length_line(usize::MAX, line),
            format!("content-length:{}\n", usize::MAX).as_bytes()
        );
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

    /// A refusal found while the headers are being written (D-25, H-2, F-4) leaves what the
    /// buffer held before untouched.
    #[test]
    fn late_refusals_take_back_partial_output_h2_f4() {
        let frames = [
            Frame::builder(Command::Send)
                .header("destination", "/queue/a")
                .header("", "x")
                .build(),
            Frame::builder(Command::Send)
                .header("destination", "/queue/a")
                .header("content-length", "2")
                .body("abc")
                .build(),
            Frame::builder(Command::Send)
                .header("destination", "/queue/a")
                .body(&b"a\0b"[..])
                .omit_content_length()
                .build(),
        ];
        for f in &frames {
            for v in Version::ALL {
                let mut out = BytesMut::from(&b"MESSAGE\n\n\0"[..]);
                let err = Encoder::new(v).encode(f, &mut out).unwrap_err();
                assert_eq!(&out[..], b"MESSAGE\n\n\0", "{err}");
                assert_eq!(Encoder::new(v).encoded_len(f), Err(err));
            }
        }
    }

    /// Text left behind by a removed header is not written, and when it holds octets that
    /// need escaping the frame is still encoded exactly (E-2).
    #[test]
    fn removed_header_text_is_not_written_e2() {
        let mut f = Frame::builder(Command::Send)
            .header("x-gone", "a:b")
            .header("x-kept", "c")
            .build();
        assert_eq!(f.headers_mut().remove("x-gone"), 1);
        let e = Encoder::new(Version::V1_2);
        let out = enc(&f, Version::V1_2).unwrap();
        assert_eq!(&out[..], b"SEND\nx-kept:c\n\n\0");
        assert_eq!(e.encoded_len(&f).unwrap(), out.len());
        f.headers_mut().push("x-new", "d\\e");
        let out = enc(&f, Version::V1_2).unwrap();
        assert_eq!(&out[..], b"SEND\nx-kept:c\nx-new:d\\\\e\n\n\0");
        assert_eq!(e.encoded_len(&f).unwrap(), out.len());
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
