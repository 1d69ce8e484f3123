//! Commands, frames and the frame builder.

use alloc::boxed::Box;
use core::fmt;

use bytes::Bytes;

use crate::decode::Item;
use crate::header::{self, HeaderValueError};
use crate::headers::{Draft, Headers, Lossy};
use crate::heartbeat::Heartbeat;
use crate::numbers::parse_content_length;
use crate::version::Version;

/// Longest extension command accepted or written (D-1).
pub(crate) const MAX_EXTENSION_COMMAND: usize = 64;

/// A STOMP command (F-3, S-1, S-2).
///
/// Commands are matched byte for byte: `send` is not [`Command::Send`]. The decoder refuses
/// unknown commands unless [`Decoder::allow_extension_commands`](crate::Decoder::allow_extension_commands)
/// is set, in which case they arrive as [`Command::Extension`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `CONNECT` (client).
    Connect,
    /// `STOMP`, the 1.1+ synonym of CONNECT (client).
    Stomp,
    /// `CONNECTED` (server).
    Connected,
    /// `SEND` (client).
    Send,
    /// `SUBSCRIBE` (client).
    Subscribe,
    /// `UNSUBSCRIBE` (client).
    Unsubscribe,
    /// `ACK` (client).
    Ack,
    /// `NACK` (client, 1.1+).
    Nack,
    /// `BEGIN` (client).
    Begin,
    /// `COMMIT` (client).
    Commit,
    /// `ABORT` (client).
    Abort,
    /// `DISCONNECT` (client).
    Disconnect,
    /// `MESSAGE` (server).
    Message,
    /// `RECEIPT` (server).
    Receipt,
    /// `ERROR` (server).
    Error,
    /// A command outside the spec: 1–64 printable ASCII octets, no spaces (D-1).
    ///
    /// Boxed rather than a `Bytes`: extension commands are rare, and the smaller `Command`
    /// keeps `Frame` at 112 bytes, which LLVM moves out of `next_item` without copying it
    /// in the caller's loop (a 128-byte frame cost ~10 instructions more per call when fed
    /// 16 bytes at a time). Cloning one copies its at most 64 octets.
    Extension(Box<[u8]>),
}

impl Command {
    /// The fifteen commands of STOMP 1.0–1.2.
    pub const STANDARD: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// A standard command from its exact wire spelling.
    #[inline]
    pub fn from_bytes(word: &[u8]) -> Option<Command> {
        Some(match word {
            b"SEND" => Command::Send,
            b"MESSAGE" => Command::Message,
            b"ACK" => Command::Ack,
            b"NACK" => Command::Nack,
            b"SUBSCRIBE" => Command::Subscribe,
            b"UNSUBSCRIBE" => Command::Unsubscribe,
            b"RECEIPT" => Command::Receipt,
            b"CONNECT" => Command::Connect,
            b"STOMP" => Command::Stomp,
            b"CONNECTED" => Command::Connected,
            b"BEGIN" => Command::Begin,
            b"COMMIT" => Command::Commit,
            b"ABORT" => Command::Abort,
            b"DISCONNECT" => Command::Disconnect,
            b"ERROR" => Command::Error,
            _ => return None,
        })
    }

    /// An extension command, if `word` is 1–64 printable ASCII octets without spaces and not a
    /// standard command.
    pub fn extension(word: impl AsRef<[u8]>) -> Option<Command> {
        let word = word.as_ref();
        (is_extension_word(word) && Command::from_bytes(word).is_none())
            .then(|| Command::Extension(Box::from(word)))
    }

    /// The wire spelling.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Command::Connect => b"CONNECT",
            Command::Stomp => b"STOMP",
            Command::Connected => b"CONNECTED",
            Command::Send => b"SEND",
            Command::Subscribe => b"SUBSCRIBE",
            Command::Unsubscribe => b"UNSUBSCRIBE",
            Command::Ack => b"ACK",
            Command::Nack => b"NACK",
            Command::Begin => b"BEGIN",
            Command::Commit => b"COMMIT",
            Command::Abort => b"ABORT",
            Command::Disconnect => b"DISCONNECT",
            Command::Message => b"MESSAGE",
            Command::Receipt => b"RECEIPT",
            Command::Error => b"ERROR",
            Command::Extension(word) => word,
        }
    }

    /// Whether headers of this command are exempt from escaping: CONNECT, STOMP and CONNECTED
    /// (E-5, D-7).
    pub fn is_escape_exempt(&self) -> bool {
        matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// Whether headers of this command are escaped in `version` (E-1 to E-5).
    pub fn escapes_headers(&self, version: Version) -> bool {
        version.escapes_headers() && !self.is_escape_exempt()
    }

    /// Whether a frame of this command may carry a non-empty body in `version` (F-9, D-10).
    ///
    /// In 1.1 and 1.2 only SEND, MESSAGE and ERROR may, extension commands included (F-9 names
    /// these three and no other); 1.0 does not forbid any.
    pub fn allows_body(&self, version: Version) -> bool {
        version == Version::V1_0
            || matches!(self, Command::Send | Command::Message | Command::Error)
    }

    /// Whether a client sends this command (S-1).
    pub fn is_client_command(&self) -> bool {
        matches!(
            self,
            Command::Connect
                | Command::Stomp
                | Command::Send
                | Command::Subscribe
                | Command::Unsubscribe
                | Command::Ack
                | Command::Nack
                | Command::Begin
                | Command::Commit
                | Command::Abort
                | Command::Disconnect
        )
    }

    /// Whether a server sends this command (S-2).
    pub fn is_server_command(&self) -> bool {
        matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }
}

/// Whether `word` has the shape of an extension command (D-1).
pub(crate) fn is_extension_word(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= MAX_EXTENSION_COMMAND
        && word.iter().all(|b| b.is_ascii_graphic())
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

/// One STOMP frame: a command, headers and a body.
///
/// Frames own their bytes (`'static`, `Send`, `Sync`) and clone in O(1): a decoded frame is one
/// reference-counted slice of the input (command line, headers and body, never copied) with
/// its header table inside the `Frame`; a frame with more than eleven headers or escaped ones
/// adds a small shared side buffer for the table and the unescaped text (see [`Headers`]).
///
/// ```
/// use stomp_codec::{Command, Frame};
/// let frame = Frame::builder(Command::Send)
///     .header("destination", "/queue/a")
///     .header("content-type", "text/plain")
///     .body("hello")
///     .build();
/// assert_eq!(frame.command(), &Command::Send);
/// assert_eq!(frame.headers().get("destination"), Some(&b"/queue/a"[..]));
/// assert_eq!(frame.body(), &b"hello"[..]);
/// ```
#[derive(Clone)]
pub struct Frame {
    command: Command,
    /// The headers; their raw bytes are also where the body lives (a decoded frame's whole
    /// received frame, or the body given by hand), so a decoded frame costs one reference
    /// count for its head and body together.
    headers: Headers,
    /// Where the body starts in `headers.raw()`. Not 0 exactly when the raw bytes are a
    /// received frame, which then ends with its NUL (not part of the body); a frame built by
    /// hand keeps just its body there.
    body_start: u32,
    omit_content_length: bool,
}

impl Frame {
    /// A frame with no headers and an empty body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Headers::new(),
            body_start: 0,
            omit_content_length: false,
        }
    }

    /// Starts building a frame.
    #[inline]
    pub fn builder(command: Command) -> FrameBuilder {
        FrameBuilder {
            command,
            headers: Draft::default(),
            body: Bytes::new(),
            omit_content_length: false,
        }
    }

    /// A decoded frame: `headers.raw()` is the whole frame through its NUL, and its body
    /// starts at `body_start`.
    #[inline]
    pub(crate) fn decoded(command: Command, headers: Headers, body_start: usize) -> Frame {
        debug_assert!(headers.raw().last() == Some(&0) && body_start < headers.raw().len());
        let mut frame = Frame {
            command,
            headers,
            body_start: body_start as u32,
            omit_content_length: false,
        };
        if body_start > u32::MAX as usize {
            frame.give_body_its_own_bytes(body_start);
        }
        frame
    }

    /// For a head past 4 GiB (limits allowing), whose body start `u32` cannot hold: the body
    /// gets the raw bytes to itself.
    #[cold]
    fn give_body_its_own_bytes(&mut self, body_start: usize) {
        let raw = self.headers.raw();
        let body = raw.slice(body_start..raw.len() - 1);
        self.headers.set_raw(body);
        self.body_start = 0;
    }

    /// The command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The headers, in wire order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, to edit in place (see [`HeadersMut`]); [`set_headers`](Frame::set_headers)
    /// replaces them.
    pub fn headers_mut(&mut self) -> HeadersMut<'_> {
        HeadersMut {
            headers: &mut self.headers,
        }
    }

    /// Replaces the headers.
    pub fn set_headers(&mut self, mut headers: Headers) {
        // The body lives in the raw bytes of the list it replaces.
        headers.set_raw(core::mem::take(&mut self.headers).into_raw());
        self.headers = headers;
    }

    /// The body. On a decoded frame it is a slice of the received bytes, never copied.
    #[inline]
    pub fn body(&self) -> &[u8] {
        let raw = self.headers.raw();
        &raw[self.body_start as usize..raw.len() - usize::from(self.body_start != 0)]
    }

    /// The body as a `Bytes` sharing the frame's storage (on a decoded frame, the received
    /// bytes): a reference count increment, not a copy.
    pub fn body_bytes(&self) -> Bytes {
        self.headers.raw().slice_ref(self.body())
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        self.headers.set_raw(body.into());
        self.body_start = 0;
    }

    /// Replaces the command.
    pub fn set_command(&mut self, command: Command) {
        self.command = command;
    }

    /// Whether the encoder is told not to add `content-length` (see
    /// [`FrameBuilder::omit_content_length`]).
    pub fn omits_content_length(&self) -> bool {
        self.omit_content_length
    }

    /// Tells the encoder whether to leave out the automatic `content-length` header.
    pub fn set_omit_content_length(&mut self, omit: bool) {
        self.omit_content_length = omit;
    }

    /// Splits the frame into its command, headers and body.
    pub fn into_parts(self) -> (Command, Headers, Bytes) {
        let body = self.body_bytes();
        (self.command, self.headers, body)
    }
}

impl From<Frame> for Item {
    /// [`Item::Frame`]: what a sink of items (such as `StompCodec`'s) takes a frame as.
    fn from(frame: Frame) -> Item {
        Item::Frame(frame)
    }
}

/// Typed accessors for the standard headers.
///
/// Each returns the header's first occurrence: a repeated header's first entry is its value,
/// the later ones are history (H-6). They do not look at the command: `destination()` of a
/// frame that should not carry one is whatever it carries.
///
/// Identifiers and destinations are returned as the octets received, `&[u8]`: the spec gives
/// them no syntax beyond "text" (they are opaque, and echoed back as they came: S-3, S-7,
/// S-14, R-2), and the decoder does not check header UTF-8 unless asked to (D-11). For text,
/// use [`Headers::get_str`] with the [`header`](crate::header) name, which names the header in
/// its UTF-8 error. Headers whose value the spec gives a syntax are parsed:
/// [`content_length`](Frame::content_length) and [`heartbeat`](Frame::heartbeat) return
/// `Ok(None)` when the header is absent and an error naming it when its value is malformed.
///
/// ```
/// use stomp_codec::{Command, Frame, HeaderValueError, Heartbeat};
/// let frame = Frame::builder(Command::Connected)
///     .header("version", "1.2")
///     .header("heart-beat", "5000,10000")
///     .build();
/// assert_eq!(frame.heartbeat(), Ok(Some(Heartbeat::new(5000, 10000))));
/// assert_eq!(frame.content_length(), Ok(None)); // absent
///
/// let bad = Frame::builder(Command::Send).header("content-length", "12 ").build();
/// assert!(matches!(bad.content_length(), Err(HeaderValueError::ContentLength { .. })));
/// ```
impl Frame {
    /// The first `destination` (S-3, S-4, S-13; H-6).
    pub fn destination(&self) -> Option<&[u8]> {
        self.headers.get(header::DESTINATION)
    }

    /// The first `content-type` (H-4; H-6): a MIME type, exposed and never interpreted.
    pub fn content_type(&self) -> Option<&[u8]> {
        self.headers.get(header::CONTENT_TYPE)
    }

    /// The first `content-length`, parsed (H-1; syntax D-9; H-6).
    ///
    /// `Ok(None)` when absent; [`HeaderValueError::ContentLength`] unless the value is one or
    /// more ASCII digits fitting `u64` (no sign, no spaces). The decoder refuses a frame whose
    /// repeated `content-length` entries disagree (D-9); a frame built by hand may hold such
    /// repeats, and then this is the first one (the encoder refuses the frame unless it
    /// matches the body).
    pub fn content_length(&self) -> Result<Option<u64>, HeaderValueError> {
        match self.headers.get(header::CONTENT_LENGTH) {
            None => Ok(None),
            Some(value) => parse_content_length(value)
                .map(Some)
                .ok_or_else(|| HeaderValueError::content_length(value)),
        }
    }

    /// The first `heart-beat`, parsed (B-1; syntax D-19; H-6).
    ///
    /// `Ok(None)` when absent, which on CONNECT and CONNECTED means [`Heartbeat::NONE`] (B-2);
    /// [`HeaderValueError::Heartbeat`] unless the value is exactly `x,y`, two decimal numbers
    /// fitting `u32`.
    pub fn heartbeat(&self) -> Result<Option<Heartbeat>, HeaderValueError> {
        match self.headers.get(header::HEART_BEAT) {
            None => Ok(None),
            Some(value) => Heartbeat::parse(value)
                .map(Some)
                .ok_or_else(|| HeaderValueError::heartbeat(value)),
        }
    }

    /// The first `message-id`: a MESSAGE's id (S-13), or the message a 1.0/1.1 ACK or NACK
    /// acknowledges (S-8, S-9; H-6).
    pub fn message_id(&self) -> Option<&[u8]> {
        self.headers.get(header::MESSAGE_ID)
    }

    /// The first `subscription`: the subscription a MESSAGE is for (S-13), or that of a 1.1
    /// ACK/NACK (S-8; H-6).
    pub fn subscription(&self) -> Option<&[u8]> {
        self.headers.get(header::SUBSCRIPTION)
    }

    /// The first `ack` (H-6): on a MESSAGE, the id to acknowledge it with (S-14); on a
    /// SUBSCRIBE, the acknowledgement mode (`auto`, `client` or `client-individual`, S-5),
    /// returned as sent.
    pub fn ack(&self) -> Option<&[u8]> {
        self.headers.get(header::ACK)
    }

    /// The first `id` (H-6): a subscription's id on SUBSCRIBE and UNSUBSCRIBE (S-4, S-6), or
    /// the `ack` value of the message a 1.2 ACK/NACK acknowledges (S-7).
    pub fn id(&self) -> Option<&[u8]> {
        self.headers.get(header::ID)
    }

    /// The first `receipt`: the id a client frame asks the server to confirm (R-1, H-5; H-6).
    pub fn receipt(&self) -> Option<&[u8]> {
        self.headers.get(header::RECEIPT)
    }

    /// The first `receipt-id`: the `receipt` a RECEIPT or ERROR answers (R-2, R-11; H-6).
    pub fn receipt_id(&self) -> Option<&[u8]> {
        self.headers.get(header::RECEIPT_ID)
    }

    /// The first `transaction`: the transaction a frame belongs to (S-11; H-6).
    pub fn transaction(&self) -> Option<&[u8]> {
        self.headers.get(header::TRANSACTION)
    }
}

/// The headers of a [`Frame`], to edit in place: entries can be added and removed, and the
/// list read through `Deref`. (To replace the whole list use
/// [`Frame::set_headers`], which keeps the body where it is.)
///
/// Its methods are those of [`Headers`], for a list that belongs to a frame: a `&mut Headers`
/// would let a caller swap the whole list, and a frame's list also holds its body. Edits cost
/// what they cost on [`Headers`]: an append is amortized O(1) after the first edit, a removal
/// O(entries).
#[derive(Debug)]
pub struct HeadersMut<'a> {
    headers: &'a mut Headers,
}

impl HeadersMut<'_> {
    /// Appends an entry (see [`Headers::push`]).
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.headers.push(name, value);
    }

    /// Removes every entry named `name`; returns how many there were.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        self.headers.remove(name)
    }

    /// Replaces every entry named `name` by one entry, appended at the end.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.headers.set(name, value);
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Extend<(N, V)> for HeadersMut<'_> {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        self.headers.extend(iter);
    }
}

impl core::ops::Deref for HeadersMut<'_> {
    type Target = Headers;

    fn deref(&self) -> &Headers {
        self.headers
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.command == other.command
            && self.headers == other.headers
            && self.body() == other.body()
            && self.omit_content_length == other.omit_content_length
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Frame");
        d.field("command", &self.command)
            .field("headers", &self.headers)
            .field("body", &Lossy(self.body()));
        if self.omit_content_length {
            d.field("omit_content_length", &true);
        }
        d.finish()
    }
}

/// Builds a [`Frame`] for any command; see [`Frame::builder`].
///
/// Headers are appended to one growable buffer laid out as the frame's finished header table
/// (its first allocation holds 112 octets of names and values and 8 entries, and each
/// reallocation doubles the room that ran out), which [`build`](FrameBuilder::build) hands to
/// the frame as it is: building a frame with k headers costs O(k), and a small frame costs one
/// allocation.
#[derive(Debug, Clone)]
#[must_use]
pub struct FrameBuilder {
    command: Command,
    /// On the heap (two words here), so that the builder, passed by value from call to call,
    /// stays a few words: moving inline buffers at every call cost more than building
    /// (measured: a 4-header SEND took ~220 ns to build with them, most of it in `memmove`).
    headers: Draft,
    body: Bytes,
    omit_content_length: bool,
}

impl FrameBuilder {
    /// Appends a header (repeats are kept, the first wins on lookup, H-6).
    ///
    /// # Panics
    ///
    /// If the frame's header names and values together would exceed 2 GiB.
    //
    // Always: inlined, a literal name or value is copied with a few moves, not a `memcpy` call
    // (LLVM does not inline it by itself).
    #[inline(always)]
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> FrameBuilder {
        self.headers.push(name.as_ref(), value.as_ref());
        self
    }

    /// Appends every header of `headers`, in order: for a list at hand (another frame's
    /// headers, a configuration's extra headers), where [`header`](FrameBuilder::header) takes
    /// one.
    pub fn headers<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        mut self,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> FrameBuilder {
        for (name, value) in headers {
            self.headers.push(name.as_ref(), value.as_ref());
        }
        self
    }

    /// Sets the body (no copy for `Bytes`, `Vec<u8>`, `String` or `&'static` data).
    pub fn body(mut self, body: impl Into<Bytes>) -> FrameBuilder {
        self.body = body.into();
        self
    }

    /// Asks the encoder not to add `content-length` for a non-empty body (D-25, H-2).
    ///
    /// The body then ends at the first NUL on the wire, so the encoder refuses a body that
    /// contains one. Some 1.0 peers (and text-only transports) want this.
    pub fn omit_content_length(mut self) -> FrameBuilder {
        self.omit_content_length = true;
        self
    }

    /// The finished frame.
    //
    // Always: inlined, the builder of a chain of calls is never written out to memory.
    #[inline(always)]
    pub fn build(self) -> Frame {
        Frame {
            command: self.command,
            headers: Headers::built(self.body, self.headers),
            body_start: 0,
            omit_content_length: self.omit_content_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_command_round_trips_its_spelling_f3() {
        for c in Command::STANDARD {
            assert_eq!(Command::from_bytes(c.as_bytes()), Some(c.clone()));
        }
        assert_eq!(Command::from_bytes(b"send"), None);
        assert_eq!(Command::from_bytes(b"SEND "), None);
    }

    #[test]
    fn extension_words_d1() {
        assert!(Command::extension("PING").is_some());
        assert!(Command::extension("SEND").is_none());
        assert!(Command::extension("").is_none());
        assert!(Command::extension("A B").is_none());
        assert!(Command::extension(vec![b'A'; 65]).is_none());
    }

    #[test]
    fn a_frame_stays_small_enough_to_move_without_a_memcpy_call() {
        // `next_item` hands frames out by value. A 144-byte frame was moved with a call to
        // `memcpy`, even on the `Ok(None)` path of a caller's loop (measured: ~35 instructions
        // more per `next_item` when feeding 16 bytes at a time), and a 128-byte one with a
        // `Bytes` inside its `Command` was copied field by field (~10 more). A field that grows
        // `Frame` past 112 bytes must pay for that.
        assert!(core::mem::size_of::<Frame>() <= 112);
    }

    #[test]
    fn frames_are_static_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Frame>();
    }
}
