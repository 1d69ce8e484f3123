//! An ordered header list whose names and values are ranges of the frame's received bytes
//! (or of its own text, where they had to be unescaped or were set by hand).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;

use crate::error::HeaderUtf8Error;
use crate::escape::is_plain;

/// Marks a [`Span`] whose bytes live in a list's owned text (unescaped, or set by hand) rather
/// than the received frame.
const OWNED: u32 = 1 << 31;
/// Octets of one span entry: four little-endian `u32`s.
pub(crate) const ENTRY_LEN: usize = 16;
/// Octets of one compact line entry: two little-endian `u16`s, the colon and the value end.
const LINE_LEN: usize = 4;
/// Most entries a decoded frame's list keeps inside the frame. A frame with more, with
/// unescaped text or with a head past 64 KiB puts the rest in a side buffer. Broker MESSAGE
/// frames carry 9 or 10 (the RabbitMQ and ActiveMQ captures in `interop/`).
pub(crate) const RAW_ENTRIES: usize = 11;
/// Octets at the front of a side buffer: first name start (`u16`), compact lines (`u8`),
/// whether any entry points into the received bytes (`u8`), entry count (`u32`), where the
/// owned text ends (`u32`) and where the spans start (`u32`). At the front rather than the end,
/// so that reading it and then the text walks forward through memory. The two offsets let a
/// list built by hand keep room between its text and its spans, and after its spans: the
/// growing buffer of a [`Draft`] is its finished table, frozen without a copy.
const SIDE_HEADER: usize = 16;

/// Where a name or value lives: `start` (with the [`OWNED`] flag) and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// A span into the received frame bytes.
    pub(crate) fn raw(start: usize, len: usize) -> Span {
        debug_assert!(start + len < OWNED as usize);
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    /// A span into the owned (unescaped or caller-supplied) text.
    pub(crate) fn owned(start: usize, len: usize) -> Span {
        debug_assert!(start + len < OWNED as usize);
        Span {
            start: start as u32 | OWNED,
            len: len as u32,
        }
    }

    /// The bytes this span names, given the raw frame and the owned text.
    #[inline]
    pub(crate) fn bytes_in<'a>(self, raw: &'a [u8], owned: &'a [u8]) -> &'a [u8] {
        let (buf, start) = if self.start & OWNED != 0 {
            (owned, (self.start & !OWNED) as usize)
        } else {
            (raw, self.start as usize)
        };
        &buf[start..start + self.len as usize]
    }
}

/// One header: where its name and value are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

impl Entry {
    #[inline]
    fn to_bytes(self) -> [u8; ENTRY_LEN] {
        let [a, b, c, d] = self.name.start.to_le_bytes();
        let [e, f, g, h] = self.name.len.to_le_bytes();
        let [i, j, k, l] = self.value.start.to_le_bytes();
        let [m, n, o, p] = self.value.len.to_le_bytes();
        [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p]
    }

    #[inline]
    fn read(bytes: &[u8]) -> Entry {
        let bytes: &[u8; ENTRY_LEN] = bytes
            .try_into()
            .expect("table entries are ENTRY_LEN octets");
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Entry {
            name: Span {
                start: word(0),
                len: word(4),
            },
            value: Span {
                start: word(8),
                len: word(12),
            },
        }
    }
}

#[inline]
fn entry_bytes(name: Span, value: Span) -> [u8; ENTRY_LEN] {
    Entry { name, value }.to_bytes()
}

/// Where the line after a header whose value ends at `end` starts: past the LF, or past CR LF.
#[inline]
fn line_after(raw: &[u8], end: usize) -> usize {
    end + 1 + usize::from(raw.get(end) == Some(&b'\r'))
}

/// A decoded frame's side buffer (see [`Table::Owned`]): `owned` is its unescaped text, which
/// owned spans are offsets into; raw spans and compact lines point into the frame itself.
///
/// It is allocated at its exact size for this frame alone. A `Bytes` made from a `Vec` whose
/// length is its capacity owns it without a shared count, so it is freed without an atomic
/// operation; splitting it off a decoder-wide arena instead cost an atomic increment and
/// decrement a frame, which took longer than the allocation (escaped corpus: 12.9-13.9 ms
/// against 12.2-12.3 ms).
pub(crate) fn side_buffer(owned: &[u8], entries: &Recorder) -> Bytes {
    let spans = entries.spans.as_flattened();
    let lines = &entries.raw.lines[..entries.compact() * LINE_LEN];
    let mut side = Vec::with_capacity(SIDE_HEADER + owned.len() + spans.len() + lines.len());
    // Conservatively: a decoded list nearly always has some raw entry.
    side.extend_from_slice(&side_header(
        u16::from_le_bytes(entries.raw.first),
        entries.compact(),
        true,
        entries.len,
        SIDE_HEADER + owned.len(),
    ));
    side.extend_from_slice(owned);
    side.extend_from_slice(spans);
    side.extend_from_slice(lines);
    debug_assert!(side.len() < OWNED as usize);
    Bytes::from(side)
}

/// The [`SIDE_HEADER`] octets.
/// A decoded frame's: its text ends at `text_end`, where its spans start.
fn side_header(
    first: u16,
    compact: usize,
    uses_raw: bool,
    count: usize,
    text_end: usize,
) -> [u8; SIDE_HEADER] {
    let mut out = [0u8; SIDE_HEADER];
    out[..2].copy_from_slice(&first.to_le_bytes());
    out[2] = compact as u8;
    out[3] = u8::from(uses_raw);
    out[4..8].copy_from_slice(&(count as u32).to_le_bytes());
    out[8..12].copy_from_slice(&(text_end as u32).to_le_bytes());
    out[12..16].copy_from_slice(&(text_end as u32).to_le_bytes());
    out
}

/// The `u32` at `at` of a side buffer's header.
#[inline(always)]
fn word_at(header: &[u8], at: usize) -> usize {
    u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]) as usize
}

/// The storage of a side buffer (a frozen table's or a draft's); an empty one has no entries.
#[inline(always)]
fn side_parts(meta: &[u8]) -> Parts<'_> {
    let Some(header) = meta.get(..SIDE_HEADER) else {
        return Parts {
            text: &[],
            spans: &[],
            lines: &[],
            first: 0,
            uses_raw: false,
            count: 0,
        };
    };
    let compact = usize::from(header[2]);
    let count = word_at(header, 4);
    let (text_end, spans_at) = (word_at(header, 8), word_at(header, 12));
    let lines_at = meta.len() - compact * LINE_LEN;
    Parts {
        text: &meta[SIDE_HEADER..text_end],
        spans: &meta[spans_at..spans_at + (count - compact) * ENTRY_LEN],
        lines: &meta[lines_at..],
        first: usize::from(u16::from_le_bytes([header[0], header[1]])),
        uses_raw: header[3] != 0,
        count,
    }
}

/// Where a list's entries live.
///
/// Header lines follow one another with nothing between them, so an entry that is a plain
/// range of the received frame needs only its colon and the end of its value ("compact
/// lines"): its name starts right after the previous line (past its LF, or past CR LF when the
/// octet after the value is a CR), the first one at `first`. The first entries of a decoded
/// frame are kept that way; others are spans (start and length of name and value), into the
/// frame or into owned text.
pub(crate) enum Table {
    /// Entries that are all compact lines of the received frame bytes (`Headers::raw`), kept
    /// inside the frame: a decoded frame then costs a single reference count (that of its
    /// bytes) and no side buffer.
    Raw(RawLines),
    /// A side buffer `[header][owned text][spans][compact lines]` (see [`SIDE_HEADER`]), or
    /// empty when there are no entries. Lists built or edited by hand have owned spans only
    /// (and may keep room after their text and after their spans); decoded ones that do not
    /// fit `Raw` start with compact lines and go on with spans.
    Owned(Bytes),
}
// A third, growable form for lists edited in place made every decoded frame ~9 % slower to
// decode and drop (benches/decode.rs, small and escaped corpora): the builder keeps its
// growable `Draft` to itself and hands it over as `Owned` without a copy, and an edit in
// place goes through a draft and back.

impl Clone for Table {
    fn clone(&self) -> Table {
        match self {
            Table::Raw(raw) => Table::Raw(*raw),
            Table::Owned(meta) => Table::Owned(meta.clone()),
        }
    }
}

/// Span entries a [`Draft`] first has room for: a SEND or MESSAGE rarely has more.
const DRAFT_ENTRIES: usize = 8;
/// Text octets a [`Draft`] first has room for: the names and values of a typical SEND (about
/// 80 octets for destination, content-type, receipt and one user header). With the header and
/// the spans, one 256-octet allocation.
const DRAFT_TEXT: usize = 112;
/// Room a finished draft may keep unused before [`Draft::into_table`] copies it to its exact
/// size (as well as more than half its used size).
const DRAFT_SLACK: usize = 256;

/// An all-owned header list in growable form, laid out as its finished side buffer:
/// `[header][text, room][spans, room]`. Names and values are appended to the text, a span
/// entry per header to the spans; when either runs out of room the buffer is reallocated with
/// twice that room (amortized O(1) an entry). Freezing it writes the header (where the text
/// ends and the spans start) and hands the buffer over: one allocation for a small list,
/// built and frozen.
#[derive(Clone)]
pub(crate) struct Draft {
    /// The side buffer, every octet initialized (its length is its capacity); empty until the
    /// first entry. Its header is written when it is frozen.
    buf: Box<[u8]>,
    /// Entries, end of the text and start of the spans, in `buf`. Kept here rather than read
    /// from and written to the buffer's header at every append: inlined into a chain of
    /// `header` calls they stay in registers, where each append through memory waited on the
    /// stores of the one before.
    count: u32,
    text_end: u32,
    spans_at: u32,
}

impl Default for Draft {
    fn default() -> Draft {
        Draft {
            buf: Box::default(),
            count: 0,
            text_end: SIDE_HEADER as u32,
            spans_at: SIDE_HEADER as u32,
        }
    }
}

impl fmt::Debug for Draft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (Lossy(n), Lossy(v))))
            .finish()
    }
}

impl Draft {
    /// A draft holding the entries of `headers`.
    fn of(headers: &Headers) -> Draft {
        let parts = headers.parts();
        match &headers.table {
            // The same layout: copy it as it is (the next append makes room).
            Table::Owned(meta) if !parts.uses_raw && meta.len() >= SIDE_HEADER => Draft {
                buf: Box::from(&meta[..]),
                count: word_at(meta, 4) as u32,
                text_end: word_at(meta, 8) as u32,
                spans_at: word_at(meta, 12) as u32,
            },
            _ => {
                let mut draft = Draft::default();
                if parts.count > 0 {
                    draft.grow(headers.text_len_bound(), parts.count);
                }
                for (name, value) in headers.iter() {
                    draft.push(name, value);
                }
                draft
            }
        }
    }

    /// Entries, end of the text and start of the spans.
    #[inline(always)]
    fn state(&self) -> (usize, usize, usize) {
        (
            self.count as usize,
            self.text_end as usize,
            self.spans_at as usize,
        )
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Appends an entry.
    ///
    /// # Panics
    ///
    /// If the text would exceed 2 GiB (spans address it with 31 bits).
    //
    // Always: inlined where the name and value lengths are known (literals), their copies are
    // a few moves instead of `memcpy` calls.
    #[inline(always)]
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8]) {
        let added = name.len() + value.len();
        let (count, mut text_end, mut spans_at) = self.state();
        if added > spans_at - text_end || spans_at + (count + 1) * ENTRY_LEN > self.buf.len() {
            if self.buf.is_empty() && added <= DRAFT_TEXT {
                self.buf = first_buffer();
                self.spans_at = (SIDE_HEADER + DRAFT_TEXT) as u32;
            } else {
                self.grow(added, 1);
            }
            (_, text_end, spans_at) = self.state();
        }
        let buf = &mut self.buf[..];
        let value_at = text_end + name.len();
        let value_end = value_at + value.len();
        buf[text_end..value_at].copy_from_slice(name);
        buf[value_at..value_end].copy_from_slice(value);
        let span_at = spans_at + count * ENTRY_LEN;
        buf[span_at..span_at + ENTRY_LEN].copy_from_slice(&entry_bytes(
            Span::owned(text_end - SIDE_HEADER, name.len()),
            Span::owned(value_at - SIDE_HEADER, value.len()),
        ));
        // Both fit: `grow` keeps the buffer within `u32`.
        self.count = (count + 1) as u32;
        self.text_end = value_end as u32;
    }

    /// Makes room for `text` more octets of text and `entries` more entries (see [`grown`]).
    #[inline(always)]
    fn grow(&mut self, text: usize, entries: usize) {
        let (count, text_end, spans_at) = self.state();
        let (buf, spans_at) = grown(&self.buf, count, text_end, spans_at, text, entries);
        self.buf = buf;
        self.spans_at = spans_at as u32;
    }

    /// Removes every entry named `name`, and its text; returns how many there were.
    fn remove(&mut self, name: &[u8]) -> usize {
        let old = core::mem::take(self);
        for (n, v) in old.iter().filter(|(n, _)| *n != name) {
            self.push(n, v);
        }
        old.len() - self.len()
    }

    /// The entries, in order.
    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (count, text_end, spans_at) = self.state();
        let (text, spans) = match self.buf.get(SIDE_HEADER..text_end) {
            Some(text) => (text, &self.buf[spans_at..spans_at + count * ENTRY_LEN]),
            None => (&[][..], &[][..]),
        };
        spans.chunks_exact(ENTRY_LEN).map(move |span| {
            let entry = Entry::read(span);
            (
                entry.name.bytes_in(&[], text),
                entry.value.bytes_in(&[], text),
            )
        })
    }

    /// Octets in use: the header, the text and the spans.
    #[inline(always)]
    fn used(&self) -> usize {
        let (count, text_end, _) = self.state();
        text_end + count * ENTRY_LEN
    }

    /// The list in its frozen form: a copy of exactly its size.
    pub(crate) fn freeze(&self) -> Table {
        let (count, text_end, spans_at) = self.state();
        frozen(&self.buf, count, text_end, spans_at)
    }

    /// The list in its frozen form: the buffer itself, unless it has much room to spare.
    //
    // Always, and no call that sees `self`: inlined into a builder's `build`, the builder stays
    // in registers (see `grown`).
    #[inline(always)]
    pub(crate) fn into_table(mut self) -> Table {
        let (count, text_end, spans_at) = self.state();
        if count == 0 {
            return Table::Owned(Bytes::new());
        }
        let used = self.used();
        let spare = self.buf.len() - used;
        if spare > DRAFT_SLACK && spare > used / 2 {
            return frozen(&self.buf, count, text_end, spans_at);
        }
        write_draft_header(&mut self.buf, count, text_end, spans_at);
        // A boxed slice: the `Bytes` owns the allocation without a shared count.
        Table::Owned(Bytes::from(self.buf))
    }
}

/// Writes the [`SIDE_HEADER`] octets of a list built by hand into `buf`: the layout of
/// [`side_header`] with no compact lines and no raw entries, `count` entries, text up to
/// `text_end`, spans from `spans_at`.
//
// One field at a time, into the buffer: an array built on the stack with narrow stores and
// copied with one wide load stalled the load (store forwarding fails across stores) at every
// `build`.
#[inline(always)]
fn write_draft_header(buf: &mut [u8], count: usize, text_end: usize, spans_at: usize) {
    buf[..4].copy_from_slice(&[0; 4]);
    buf[4..8].copy_from_slice(&(count as u32).to_le_bytes());
    buf[8..12].copy_from_slice(&(text_end as u32).to_le_bytes());
    buf[12..16].copy_from_slice(&(spans_at as u32).to_le_bytes());
}

/// The first buffer of a draft: room for [`DRAFT_TEXT`] octets of text and [`DRAFT_ENTRIES`]
/// entries, the size most frames need.
//
// Apart from `grown`: of a size known here, it is filled with a few vector stores instead of a
// `memset` call, and returned in registers. Filled with a value other than zero: a zeroed
// allocation becomes `calloc`, which glibc serves without its per-thread cache (measured: a
// 4-header SEND took ~25 % longer to build). The value does not matter: every octet a reader
// sees is written before the list is frozen.
#[inline(never)]
fn first_buffer() -> Box<[u8]> {
    const LEN: usize = SIDE_HEADER + DRAFT_TEXT + DRAFT_ENTRIES * ENTRY_LEN;
    #[allow(clippy::slow_vector_initialization)]
    let mut buf = Vec::with_capacity(LEN);
    buf.resize(LEN, FILL);
    buf.into_boxed_slice()
}

/// What a draft's buffer holds where nothing was written yet (see [`first_buffer`]).
const FILL: u8 = 0xff;

/// The frozen table of a draft's buffer (see [`grown`] for the arguments): a copy of exactly
/// its size.
fn frozen(buf: &[u8], count: usize, text_end: usize, spans_at: usize) -> Table {
    if count == 0 {
        return Table::Owned(Bytes::new());
    }
    let mut side = Vec::with_capacity(text_end + count * ENTRY_LEN);
    side.resize(SIDE_HEADER, 0);
    write_draft_header(&mut side, count, text_end, text_end);
    side.extend_from_slice(&buf[SIDE_HEADER..text_end]);
    side.extend_from_slice(&buf[spans_at..spans_at + count * ENTRY_LEN]);
    // Length equal to capacity: the `Bytes` owns the allocation without a shared count.
    Table::Owned(Bytes::from(side))
}

/// The buffer of a draft (`buf`, with `count` entries, text up to `text_end` and spans from
/// `spans_at`) with room for `text` more octets of text and `entries` more entries: at least
/// twice the room of whichever ran out. Returns it and where its spans start.
///
/// A function of the buffer's contents rather than a method: the builder, passed by value
/// from call to call, is kept in registers only while no call sees its address, and a call
/// that did made each `header` copy it out through memory.
///
/// # Panics
///
/// If the text would exceed 2 GiB.
#[cold]
#[inline(never)]
fn grown(
    buf: &[u8],
    count: usize,
    text_end: usize,
    spans_at: usize,
    text: usize,
    entries: usize,
) -> (Box<[u8]>, usize) {
    let text_used = text_end - SIDE_HEADER;
    let spans_used = count * ENTRY_LEN;
    assert!(
        text_used + text < OWNED as usize,
        "more than 2 GiB of header bytes in one header list"
    );
    let (mut text_room, mut span_room) =
        (spans_at - SIDE_HEADER, buf.len().saturating_sub(spans_at));
    if text_used + text > text_room {
        text_room = (2 * text_room).max(text_used + text).max(DRAFT_TEXT);
    }
    if spans_used + entries * ENTRY_LEN > span_room {
        span_room = (2 * span_room)
            .max(spans_used + entries * ENTRY_LEN)
            .max(DRAFT_ENTRIES * ENTRY_LEN);
    }
    let new_spans_at = SIDE_HEADER + text_room;
    // Not `vec![0; n]`: that asks for zeroed memory (`calloc`), which in glibc skips the
    // thread cache that `malloc` serves small blocks from.
    #[allow(clippy::slow_vector_initialization)]
    let mut new = Vec::with_capacity(new_spans_at + span_room);
    new.resize(new_spans_at + span_room, 0);
    let mut new = new.into_boxed_slice();
    assert!(new.len() <= u32::MAX as usize, "header list too large");
    if !buf.is_empty() {
        new[SIDE_HEADER..text_end].copy_from_slice(&buf[SIDE_HEADER..text_end]);
        new[new_spans_at..new_spans_at + spans_used]
            .copy_from_slice(&buf[spans_at..spans_at + spans_used]);
    }
    (new, new_spans_at)
}

/// The compact lines of [`Table::Raw`]. Octets only (alignment 1, no padding), so that the
/// enum's tag fits beside them in 48 bytes, and so that the decoder's copy becomes the frame's
/// as one block move: built field by field in place, narrow stores followed by wide loads of
/// the same bytes stalled the copy out to the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawLines {
    /// Entries in use.
    len: u8,
    /// Where the first name starts (a little-endian `u16`).
    first: [u8; 2],
    /// [`LINE_LEN`] octets an entry.
    lines: [u8; RAW_ENTRIES * LINE_LEN],
}

/// The entries of a frame being decoded, kept in the form its [`Headers`] will take: compact
/// lines while every entry is a plain range of the frame that fits one, then (from the first
/// entry that does not) spans.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// Entries recorded.
    len: usize,
    /// The first entries, as compact lines (`raw.len` of them).
    raw: RawLines,
    /// Where the next line must start for the entries to stay compact.
    next: usize,
    /// The entries after the compact ones (kept across frames for its allocation).
    spans: Vec<[u8; ENTRY_LEN]>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder {
            len: 0,
            raw: RawLines {
                len: 0,
                first: [0; 2],
                lines: [0; RAW_ENTRIES * LINE_LEN],
            },
            next: 0,
            spans: Vec::new(),
        }
    }
}

impl Recorder {
    /// Entries recorded.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Entries kept as compact lines: the first ones.
    #[inline]
    fn compact(&self) -> usize {
        usize::from(self.raw.len)
    }

    /// Records the header whose name is `frame[start..colon]` and value
    /// `frame[colon + 1..end]`, on a line whose end of line runs up to `next_line`.
    #[inline]
    pub(crate) fn push_raw(&mut self, start: usize, colon: usize, end: usize, next_line: usize) {
        let compact = self.compact();
        let fits = self.len == compact
            && compact < RAW_ENTRIES
            && end <= usize::from(u16::MAX)
            && (compact == 0 || start == self.next);
        self.len += 1;
        if !fits {
            self.spans.push(entry_bytes(
                Span::raw(start, colon - start),
                Span::raw(colon + 1, end - colon - 1),
            ));
            return;
        }
        // `end` fits a `u16`, so `start` and `colon` (before it) do too.
        if compact == 0 {
            self.raw.first = (start as u16).to_le_bytes();
        }
        let (colon, end) = ((colon as u16).to_le_bytes(), (end as u16).to_le_bytes());
        let at = compact * LINE_LEN;
        self.raw.lines[at..at + LINE_LEN].copy_from_slice(&[colon[0], colon[1], end[0], end[1]]);
        self.next = next_line;
        self.raw.len += 1;
    }

    /// Records a header with any spans (unescaped ones included) of the frame `data`.
    pub(crate) fn push(&mut self, data: &[u8], name: Span, value: Span) {
        let raw = (name.start | value.start) & OWNED == 0;
        let colon = name.start as usize + name.len as usize;
        let end = value.start as usize + value.len as usize;
        if raw && value.start as usize == colon + 1 {
            self.push_raw(name.start as usize, colon, end, line_after(data, end));
        } else {
            self.len += 1;
            self.spans.push(entry_bytes(name, value));
        }
    }

    /// The table kept inside the frame, when every entry fitted it.
    #[inline]
    pub(crate) fn raw_table(&self) -> Option<Table> {
        (self.len == self.compact()).then_some(Table::Raw(self.raw))
    }

    /// Forgets the frame's entries.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.raw.len = 0;
        self.spans.clear();
    }
}

/// A list's storage, read out of its table.
struct Parts<'a> {
    /// Owned text (owned spans are offsets into it).
    text: &'a [u8],
    spans: &'a [u8],
    lines: &'a [u8],
    first: usize,
    /// Whether some entry points into the received bytes.
    uses_raw: bool,
    count: usize,
}

/// The headers of a frame, in wire order, repeats kept (H-6).
///
/// Lookups such as [`get`](Headers::get) return the first entry with the name, as the spec says
/// a repeated header's first occurrence wins. Names and values are compared byte for byte (H-9):
/// `Content-Length` is not `content-length`.
///
/// A decoded frame's names and values are ranges of the bytes it was received in (zero copy),
/// and for up to eleven entries the small table saying where each one is lives inside the
/// frame: a frame, headers and body together, costs one reference count. Entries past the
/// eleventh and unescaped text go to a small side buffer, the one allocation such a frame makes;
/// a list built or edited by hand keeps its text there too. Cloning costs at most two reference
/// count increments. A clone of a decoded frame's
/// headers keeps the frame's bytes, body included, alive.
///
/// ```
/// use stomp_codec::Headers;
/// let mut h = Headers::new();
/// h.push("destination", "/queue/a");
/// h.push("x-tag", "first");
/// h.push("x-tag", "second");
/// assert_eq!(h.get("x-tag"), Some(&b"first"[..]));
/// assert_eq!(h.get_all("x-tag").count(), 2);
/// assert_eq!(h.get_str("destination").unwrap(), Some("/queue/a"));
/// ```
#[derive(Clone)]
pub struct Headers {
    /// The bytes raw entries point into: a decoded frame, its body included. A frame keeps its
    /// body here too (see [`Frame`](crate::Frame)), so a list may hold bytes it does not point
    /// into.
    raw: Bytes,
    table: Table,
}

impl Default for Headers {
    fn default() -> Headers {
        Headers {
            raw: Bytes::new(),
            table: Table::Owned(Bytes::new()),
        }
    }
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// A list built by hand, frozen from `draft`, that keeps `raw` (a frame's body).
    #[inline(always)]
    pub(crate) fn built(raw: Bytes, draft: Draft) -> Headers {
        Headers {
            raw,
            table: draft.into_table(),
        }
    }

    /// The headers of a decoded frame whose bytes are `raw`.
    #[inline]
    pub(crate) fn decoded(raw: Bytes, table: Table) -> Headers {
        Headers { raw, table }
    }

    /// The bytes raw entries point into (see the field).
    #[inline]
    pub(crate) fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The raw bytes, given up.
    pub(crate) fn into_raw(self) -> Bytes {
        self.raw
    }

    /// Replaces the raw bytes, first copying entries that point into them into owned text (so
    /// a frame can swap its body under its headers).
    pub(crate) fn set_raw(&mut self, raw: Bytes) {
        self.make_owned();
        self.raw = raw;
    }

    // Always: callers use one or two fields, and inlined the rest folds away.
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        match &self.table {
            Table::Raw(raw) => Parts {
                text: &[],
                spans: &[],
                lines: &raw.lines[..usize::from(raw.len) * LINE_LEN],
                first: usize::from(u16::from_le_bytes(raw.first)),
                uses_raw: raw.len > 0,
                count: usize::from(raw.len),
            },
            Table::Owned(meta) => side_parts(meta),
        }
    }

    /// Applies `edit` to the list in growable form and freezes it again: O(entries) for the
    /// copy, then what the edit costs (a loop of single pushes is quadratic; `extend` or the
    /// builder append many at once).
    fn edit<T>(&mut self, edit: impl FnOnce(&mut Draft) -> T) -> T {
        let mut draft = Draft::of(self);
        let out = edit(&mut draft);
        self.table = draft.into_table();
        out
    }

    /// Moves every entry into owned text, before an edit or a change of raw bytes.
    fn make_owned(&mut self) {
        if self.parts().uses_raw {
            self.table = Draft::of(self).freeze();
        } else if let Table::Raw(_) = self.table {
            self.table = Table::Owned(Bytes::new());
        }
    }

    /// Number of entries, repeats included.
    pub fn len(&self) -> usize {
        match &self.table {
            Table::Raw(raw) => usize::from(raw.len),
            Table::Owned(_) => self.parts().count,
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of the first entry named `name`.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first entry named `name` as a `Bytes` that shares the frame's storage
    /// (for a decoded frame and a value that needed no unescaping, the received bytes). On a
    /// list edited in place and not cloned since, the value is copied.
    pub fn get_bytes(&self, name: impl AsRef<[u8]>) -> Option<Bytes> {
        Some(self.share(self.get(name)?))
    }

    /// The first value of each of `names` (H-6), found in one walk over the entries: what a
    /// connection reads of every frame it receives, without a walk per header.
    #[inline(always)]
    pub(crate) fn get_each<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        let mut found = [None; N];
        let mut missing = N;
        if let Table::Raw(raw) = &self.table {
            // A received frame's compact lines (as `Iter` walks them): a name is compared by
            // its length before any slice of it, or of its value, is made.
            let mut start = usize::from(u16::from_le_bytes(raw.first));
            for line in raw.lines[..usize::from(raw.len) * LINE_LEN].chunks_exact(LINE_LEN) {
                let colon = usize::from(u16::from_le_bytes([line[0], line[1]]));
                let end = usize::from(u16::from_le_bytes([line[2], line[3]]));
                let len = colon.wrapping_sub(start);
                for (slot, wanted) in found.iter_mut().zip(names) {
                    let wanted = wanted.as_bytes();
                    if len == wanted.len() && slot.is_none() && &self.raw[start..colon] == wanted {
                        *slot = Some(&self.raw[colon + 1..end]);
                        missing -= 1;
                    }
                }
                if missing == 0 {
                    break;
                }
                start = line_after(&self.raw, end);
            }
            return found;
        }
        for (name, value) in self.iter() {
            for (slot, wanted) in found.iter_mut().zip(names) {
                let wanted = wanted.as_bytes();
                // The length and first octet first: most names differ there, at no call.
                if name.len() == wanted.len()
                    && name.first() == wanted.first()
                    && slot.is_none()
                    && name == wanted
                {
                    *slot = Some(value);
                    missing -= 1;
                }
            }
            if missing == 0 {
                break;
            }
        }
        found
    }

    /// `value`, a value of this list, as a `Bytes` sharing the list's storage where it can (see
    /// [`get_bytes`](Headers::get_bytes)).
    pub(crate) fn share(&self, value: &[u8]) -> Bytes {
        let within = |whole: &[u8]| {
            let start = whole.as_ptr() as usize;
            let at = value.as_ptr() as usize;
            at >= start && at + value.len() <= start + whole.len()
        };
        match &self.table {
            Table::Owned(meta) if !within(&self.raw) => meta.slice_ref(value),
            _ => self.raw.slice_ref(value),
        }
    }

    /// The value of the first entry named `name` as UTF-8 text (H-10, D-11).
    ///
    /// `Ok(None)` when there is no such header; an error naming the header when its value is not
    /// valid UTF-8.
    pub fn get_str(&self, name: &str) -> Result<Option<&str>, HeaderUtf8Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => core::str::from_utf8(v)
                .map(Some)
                .map_err(|e| HeaderUtf8Error {
                    header: name.into(),
                    valid_up_to: e.valid_up_to(),
                }),
        }
    }

    /// Every value of entries named `name`, in wire order.
    pub fn get_all<'a>(
        &'a self,
        name: &'a (impl AsRef<[u8]> + ?Sized),
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_ref();
        self.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether an entry named `name` exists.
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.get(name).is_some()
    }

    /// The entries as `(name, value)` pairs, in wire order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        let parts = self.parts();
        Iter {
            raw: &self.raw,
            text: parts.text,
            next: parts.first,
            lines: parts.lines.chunks_exact(LINE_LEN),
            spans: parts.spans.chunks_exact(ENTRY_LEN),
        }
    }

    /// The entries of a list that points into no received bytes (built or edited by hand),
    /// walked without asking of each span where it points: the encoder's hot loop.
    #[inline]
    pub(crate) fn owned_only(&self) -> Option<OwnedIter<'_>> {
        let parts = self.parts();
        (!parts.uses_raw).then(|| OwnedIter {
            text: parts.text,
            spans: parts.spans.chunks_exact(ENTRY_LEN),
        })
    }

    /// Whether no name or value holds an octet that needs escaping or could not be written
    /// (NUL, LF, CR, colon, backslash): lets the encoder write them as they are.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        let parts = self.parts();
        if parts.uses_raw {
            self.iter().all(|(n, v)| is_plain(n) && is_plain(v))
        } else {
            // All text lies in one buffer: one scan.
            is_plain(parts.text)
        }
    }

    /// An upper bound on the octets of all names and values together.
    pub(crate) fn text_len_bound(&self) -> usize {
        let parts = self.parts();
        if parts.uses_raw {
            self.iter().map(|(n, v)| n.len() + v.len()).sum()
        } else {
            parts.text.len()
        }
    }

    /// Appends an entry, keeping any earlier entries with the same name.
    ///
    /// The name and value are copied into the list's owned text; the list is copied once per
    /// call (O(entries)). To add many entries, use [`extend`](Extend::extend) or
    /// [`FrameBuilder`](crate::FrameBuilder), which append each in O(1) amortized: a list that
    /// can grow in place would slow down every decoded frame.
    ///
    /// # Panics
    ///
    /// If the owned header bytes of this list would exceed 2 GiB (as `Vec::push` panics past
    /// its capacity limit).
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.edit(|draft| draft.push(name.as_ref(), value.as_ref()));
    }

    /// Removes every entry named `name`; returns how many there were. O(entries).
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        if !self.contains(name) {
            return 0;
        }
        self.edit(|draft| draft.remove(name))
    }

    /// Replaces every entry named `name` by one entry, appended at the end. O(entries).
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        self.edit(|draft| {
            draft.remove(name);
            draft.push(name, value);
        });
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (Lossy(n), Lossy(v))))
            .finish()
    }
}

/// Shows bytes as text, with invalid UTF-8 escaped, for `Debug` output.
pub(crate) struct Lossy<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    /// Collects the entries in growable form, then freezes them once.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        let mut draft = Draft::default();
        for (name, value) in iter {
            draft.push(name.as_ref(), value.as_ref());
        }
        Headers {
            raw: Bytes::new(),
            table: draft.into_table(),
        }
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Extend<(N, V)> for Headers {
    /// Appends the entries: O(entries added), plus one copy of the list.
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        let mut iter = iter.into_iter().peekable();
        if iter.peek().is_none() {
            return;
        }
        self.edit(|draft| {
            for (name, value) in iter {
                draft.push(name.as_ref(), value.as_ref());
            }
        });
    }
}

/// Iterator over `(name, value)` pairs of [`Headers`], in wire order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    raw: &'a [u8],
    /// The owned text (owned spans are offsets into it).
    text: &'a [u8],
    /// Where the next compact line's name starts.
    next: usize,
    /// Compact lines first, then spans.
    lines: core::slice::ChunksExact<'a, u8>,
    spans: core::slice::ChunksExact<'a, u8>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    // Always: LLVM does not inline it by itself, and a call per entry costs the encoder ~15 %
    // on small frames.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(line) = self.lines.next() {
            let colon = usize::from(u16::from_le_bytes([line[0], line[1]]));
            let end = usize::from(u16::from_le_bytes([line[2], line[3]]));
            let start = self.next;
            self.next = line_after(self.raw, end);
            return Some((&self.raw[start..colon], &self.raw[colon + 1..end]));
        }
        let entry = Entry::read(self.spans.next()?);
        Some((
            entry.name.bytes_in(self.raw, self.text),
            entry.value.bytes_in(self.raw, self.text),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.lines.len() + self.spans.len();
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Iterator over the entries of a list whose entries are all owned (see
/// [`Headers::owned_only`]).
pub(crate) struct OwnedIter<'a> {
    text: &'a [u8],
    spans: core::slice::ChunksExact<'a, u8>,
}

impl<'a> OwnedIter<'a> {
    /// The text every name and value is a slice of (and nothing else: removing an entry
    /// removes its text).
    pub(crate) fn text(&self) -> &'a [u8] {
        self.text
    }
}

impl<'a> Iterator for OwnedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let Entry { name, value } = Entry::read(self.spans.next()?);
        let text = self.text;
        let at = |span: Span| {
            let start = (span.start & !OWNED) as usize;
            &text[start..start + span.len as usize]
        };
        Some((at(name), at(value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for OwnedIter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_wins_and_repeats_are_kept_h6() {
        let h: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        assert_eq!(h.get("a"), Some(&b"1"[..]));
        assert_eq!(h.get_all("a").collect::<Vec<_>>(), [&b"1"[..], b"3"]);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn names_are_case_sensitive_h9() {
        let h: Headers = [("Content-Length", "5")].into_iter().collect();
        assert_eq!(h.get("content-length"), None);
    }

    #[test]
    fn remove_and_set() {
        let mut h: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        assert_eq!(h.remove("a"), 2);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(&b"b"[..], &b"2"[..])]);
        h.set("b", "x");
        assert_eq!(h.get("b"), Some(&b"x"[..]));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn push_after_clone_does_not_disturb_the_clone() {
        let mut h: Headers = [("a", "1")].into_iter().collect();
        let c = h.clone();
        h.push("b", "2");
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("a"), Some(&b"1"[..]));
        assert_eq!(h.get("b"), Some(&b"2"[..]));
    }

    #[test]
    fn edited_lists_are_frozen_and_clones_share_them() {
        // No growable form outside the builder: an edited list is a side buffer again, whose
        // clones are a reference count.
        let mut h = Headers::new();
        h.push("a", "1");
        h.push("b", "2");
        assert!(matches!(h.table, Table::Owned(_)));
        let frozen = h.clone();
        let again = frozen.clone();
        let (Table::Owned(one), Table::Owned(two)) = (&frozen.table, &again.table) else {
            panic!("an edited list is frozen")
        };
        assert_eq!(one.as_ptr(), two.as_ptr());
        assert_eq!(frozen, h);
        let collected: Headers = [("a", "1"), ("b", "2")].into_iter().collect();
        assert!(matches!(collected.table, Table::Owned(_)));
        assert_eq!(collected, h);
        let mut extended = Headers::new();
        extended.extend([("a", "1"), ("b", "2")]);
        assert_eq!(extended, h);
    }

    #[test]
    fn removing_an_entry_removes_its_text() {
        let mut h: Headers = [("x-gone", "a:b"), ("x-kept", "c"), ("x-gone", "d")]
            .into_iter()
            .collect();
        assert_eq!(h.remove("x-gone"), 2);
        assert_eq!(h.owned_only().map(|o| o.text()), Some(&b"x-keptc"[..]));
        assert_eq!(h.remove("x-gone"), 0);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn get_str_names_the_header_on_bad_utf8_d11() {
        let h: Headers = [(&b"x"[..], &b"\xff"[..])].into_iter().collect();
        let err = h.get_str("x").unwrap_err();
        assert_eq!(err.header, "x");
    }
}
