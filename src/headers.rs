//! An ordered header list whose names and values are ranges of the frame's received bytes
//! (or of its own text, where they had to be unescaped or were set by hand).

use alloc::vec::Vec;
use core::fmt;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::error::HeaderUtf8Error;
use crate::escape::is_plain;

/// Marks a [`Span`] (while a frame is being decoded) whose bytes live in the decoder's owned
/// text rather than the received frame. Spans in a [`Headers`] table are plain offsets into its
/// text and never carry it.
const OWNED: u32 = 1 << 31;
/// Octets of one entry in the table: four little-endian `u32`s.
pub(crate) const ENTRY_LEN: usize = 16;

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

    /// A plain offset into a [`Headers`] text (what its table holds).
    fn text(start: usize, len: usize) -> Span {
        debug_assert!(start + len < OWNED as usize);
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    /// The bytes this span of a frame being decoded names, given the raw frame and the owned
    /// text.
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
    fn to_bytes(self) -> [u8; ENTRY_LEN] {
        let words = [
            self.name.start,
            self.name.len,
            self.value.start,
            self.value.len,
        ];
        let mut out = [0; ENTRY_LEN];
        for (dst, word) in out.chunks_exact_mut(4).zip(words) {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

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

/// A table entry as the decoder records it: raw spans are offsets into the frame, owned ones
/// (flagged) into its unescaped text; [`write_decoded`] turns both into text offsets.
fn entry_bytes(name: Span, value: Span) -> [u8; ENTRY_LEN] {
    Entry { name, value }.to_bytes()
}

/// Writes a decoded frame's header buffer into the empty `meta`: `[head][owned][table][count]`,
/// where `head` is the frame from its start through the blank line (so raw spans are already
/// offsets into it) and `owned` its unescaped text (owned spans are moved past `head`).
pub(crate) fn write_decoded(meta: &mut BytesMut, head: &[u8], owned: &[u8], entries: &Recorder) {
    debug_assert!(meta.is_empty());
    meta.extend_from_slice(head);
    meta.extend_from_slice(owned);
    // The compact entries, written out in full through a stack block (one copy into `meta`).
    let mut block = [[0u8; ENTRY_LEN]; RAW_ENTRIES];
    let mut start = usize::from(entries.first);
    for (slot, &[colon, end]) in block.iter_mut().zip(&entries.lines[..entries.compact]) {
        let (colon_at, end_at) = (usize::from(colon), usize::from(end));
        *slot = entry_bytes(
            Span::raw(start, colon_at - start),
            Span::raw(colon_at + 1, end_at - colon_at - 1),
        );
        start = line_after(head, end);
    }
    meta.extend_from_slice(block[..entries.compact].as_flattened());
    let spilled = meta.len();
    meta.extend_from_slice(entries.spans.as_flattened());
    meta.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    if !owned.is_empty() {
        let head_len = head.len() as u32;
        // Owned spans are only ever among the spilled entries.
        let fixed = spilled..spilled + entries.spans.len() * ENTRY_LEN;
        for entry in meta[fixed].chunks_exact_mut(ENTRY_LEN) {
            // Name and value starts: words 0 and 2.
            for at in [0, 8] {
                let word: &mut [u8; 4] = (&mut entry[at..at + 4])
                    .try_into()
                    .expect("a table entry holds four words");
                let start = u32::from_le_bytes(*word);
                if start & OWNED != 0 {
                    *word = ((start & !OWNED) + head_len).to_le_bytes();
                }
            }
        }
    }
    debug_assert!(meta.len() < OWNED as usize);
}

/// Appends the entry table and its count to `meta`, which already holds the text the entries'
/// spans are offsets into.
fn write_table(meta: &mut BytesMut, entries: &[Entry]) {
    meta.reserve(entries.len() * ENTRY_LEN + 4);
    // Fill a stack block at a time so each copy into `meta` is one call, not sixteen.
    let mut block = [0u8; 8 * ENTRY_LEN];
    for group in entries.chunks(8) {
        for (slot, entry) in block.chunks_exact_mut(ENTRY_LEN).zip(group) {
            *<&mut [u8; ENTRY_LEN]>::try_from(slot).expect("chunks_exact gives ENTRY_LEN") =
                entry.to_bytes();
        }
        meta.extend_from_slice(&block[..group.len() * ENTRY_LEN]);
    }
    meta.extend_from_slice(&(entries.len() as u32).to_le_bytes());
}

/// Most entries a decoded frame's list keeps as ranges of its received bytes. A frame with
/// more, with unescaped text or with a head past 64 KiB gets an owned table instead. Broker
/// MESSAGE frames carry 9 or 10 (the RabbitMQ and ActiveMQ captures in `interop/`).
pub(crate) const RAW_ENTRIES: usize = 11;

/// Where a list's entries live.
#[derive(Clone)]
pub(crate) enum Table {
    /// Every entry is a range of the received frame bytes (`Headers::raw`).
    ///
    /// Header lines follow one another with nothing between them, so an entry needs only its
    /// colon and the end of its value: its name starts right after the previous line (past its
    /// LF, or past CR LF when the octet after the value is a CR), the first one at `first`.
    /// Four octets an entry keep the whole list inside the frame, so a decoded frame costs a
    /// single reference count (that of its bytes).
    Raw {
        /// Entries in use.
        len: u8,
        /// Where the first name starts.
        first: u16,
        /// `[colon, value end]` of each entry.
        lines: [[u16; 2]; RAW_ENTRIES],
    },
    /// `[text][entry table: 16 octets each][entry count: u32 LE]`, or empty when there are no
    /// entries. Table spans are offsets into the text. Headers built or edited by hand, and
    /// decoded ones that do not fit `Raw`.
    Owned(Bytes),
}

/// The entries of a frame being decoded, kept in the form its [`Headers`] will take: the
/// compact lines of a [`Table::Raw`] while every entry is a plain range of the frame that fits
/// one, then (from the first entry that does not) the spans of an owned table.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Entries recorded.
    len: usize,
    /// Entries in `lines`: the first ones, all plain ranges of the frame.
    compact: usize,
    first: u16,
    lines: [[u16; 2]; RAW_ENTRIES],
    /// Where the next line must start for the entries to stay compact.
    next: usize,
    /// The entries after the compact ones, as [`entry_bytes`] writes them (kept across frames
    /// for its allocation).
    spans: Vec<[u8; ENTRY_LEN]>,
}

impl Recorder {
    /// Entries recorded.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Records the header whose name is `frame[start..colon]` and value
    /// `frame[colon + 1..end]`, on a line whose end of line runs up to `next_line`.
    #[inline]
    pub(crate) fn push_raw(&mut self, start: usize, colon: usize, end: usize, next_line: usize) {
        let fits = self.len == self.compact
            && self.compact < RAW_ENTRIES
            && end <= usize::from(u16::MAX)
            && (self.compact == 0 || start == self.next);
        self.len += 1;
        if !fits {
            self.spans.push(entry_bytes(
                Span::raw(start, colon - start),
                Span::raw(colon + 1, end - colon - 1),
            ));
            return;
        }
        // `end` fits a `u16`, so `start` and `colon` (before it) do too.
        if self.compact == 0 {
            self.first = start as u16;
        }
        self.lines[self.compact] = [colon as u16, end as u16];
        self.next = next_line;
        self.compact += 1;
    }

    /// Records a header with any spans (unescaped ones included) of the frame `data`.
    pub(crate) fn push(&mut self, data: &[u8], name: Span, value: Span) {
        let raw = (name.start | value.start) & OWNED == 0;
        let colon = name.start as usize + name.len as usize;
        let end = value.start as usize + value.len as usize;
        if raw && value.start as usize == colon + 1 && end <= usize::from(u16::MAX) {
            let next_line = line_after(data, end as u16);
            self.push_raw(name.start as usize, colon, end, next_line);
        } else {
            self.len += 1;
            self.spans.push(entry_bytes(name, value));
        }
    }

    /// The compact table, when every entry fitted it.
    #[inline]
    pub(crate) fn raw_table(&self) -> Option<Table> {
        (self.len == self.compact).then_some(Table::Raw {
            len: self.compact as u8,
            first: self.first,
            lines: self.lines,
        })
    }

    /// Forgets the frame's entries.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.compact = 0;
        self.spans.clear();
    }
}

/// Where the line after a header whose value ends at `end` starts: past the LF, or past CR LF.
#[inline]
fn line_after(raw: &[u8], end: u16) -> usize {
    let end = usize::from(end);
    end + 1 + usize::from(raw.get(end) == Some(&CR))
}

const CR: u8 = b'\r';

/// The headers of a frame, in wire order, repeats kept (H-6).
///
/// Lookups such as [`get`](Headers::get) return the first entry with the name, as the spec says
/// a repeated header's first occurrence wins. Names and values are compared byte for byte (H-9):
/// `Content-Length` is not `content-length`.
///
/// A decoded frame's names and values are ranges of the bytes it was received in (zero copy),
/// and the small table saying where each entry is lives inside the frame: a frame, headers and
/// body together, costs one reference count. A list that does not fit that form (more than
/// eleven entries, unescaped text, a head past 64 KiB) and one built or edited by hand keeps
/// its text and table in one shared buffer; decoding carves those from a decoder-wide arena,
/// so there is no allocation per frame either way. Cloning costs at most two reference count
/// increments. A clone of a decoded frame's headers keeps the frame's bytes, body included,
/// alive.
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
    /// The bytes a [`Table::Raw`] points into: a decoded frame, its body included. A frame
    /// keeps its body here too (see [`Frame`](crate::Frame)), so a list may hold bytes it does
    /// not point into.
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

    /// Replaces the raw bytes, first copying entries that point into them into an owned table
    /// (so a frame can swap its body under its headers).
    pub(crate) fn set_raw(&mut self, raw: Bytes) {
        self.make_owned();
        self.raw = raw;
    }

    /// Moves a `Raw` table's entries into an owned one, before an edit.
    fn make_owned(&mut self) {
        if let Table::Raw { len, .. } = self.table {
            self.table = if len == 0 {
                Table::Owned(Bytes::new())
            } else {
                let owned: Headers = self.iter().collect();
                owned.table
            };
        }
    }

    /// The owned buffer (empty while the table is `Raw`).
    fn meta(&self) -> &[u8] {
        match &self.table {
            Table::Owned(meta) => meta,
            Table::Raw { .. } => &[],
        }
    }

    fn table_start(&self) -> usize {
        self.meta().len() - 4 - self.len() * ENTRY_LEN
    }

    /// Entry `index` of an owned table.
    fn entry(&self, index: usize) -> Entry {
        let at = self.table_start() + index * ENTRY_LEN;
        Entry::read(&self.meta()[at..at + ENTRY_LEN])
    }

    /// The bytes of a span of an owned table.
    fn resolve(&self, span: Span) -> &[u8] {
        // Table spans are only ever made from offsets into this same buffer's text.
        let start = span.start as usize;
        &self.meta()[start..start + span.len as usize]
    }

    /// Number of entries, repeats included.
    pub fn len(&self) -> usize {
        match &self.table {
            Table::Raw { len, .. } => usize::from(*len),
            Table::Owned(meta) => match meta.len().checked_sub(4) {
                Some(at) => {
                    u32::from_le_bytes([meta[at], meta[at + 1], meta[at + 2], meta[at + 3]])
                        as usize
                }
                None => 0,
            },
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
    /// (for a decoded frame and a value that needed no unescaping, the received bytes).
    pub fn get_bytes(&self, name: impl AsRef<[u8]>) -> Option<Bytes> {
        let value = self.get(name)?;
        Some(match &self.table {
            Table::Raw { .. } => self.raw.slice_ref(value),
            Table::Owned(meta) => meta.slice_ref(value),
        })
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
    pub fn iter(&self) -> Iter<'_> {
        let inner = match &self.table {
            Table::Raw { len, first, lines } => Walk::Raw {
                raw: &self.raw,
                next: usize::from(*first),
                lines: lines[..usize::from(*len)].iter(),
            },
            Table::Owned(meta) => {
                let (table, text_len) = if meta.is_empty() {
                    (&[][..], 0)
                } else {
                    let start = self.table_start();
                    (&meta[start..meta.len() - 4], start)
                };
                Walk::Owned {
                    text: &meta[..text_len],
                    table: table.chunks_exact(ENTRY_LEN),
                }
            }
        };
        Iter { inner }
    }

    /// Whether no name or value holds an octet that needs escaping or could not be written
    /// (NUL, LF, CR, colon, backslash): lets the encoder write them as they are.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        match self.table {
            // All text lies in one buffer: one scan.
            Table::Owned(_) => is_plain(&self.meta()[..self.text_len()]),
            Table::Raw { .. } => self.iter().all(|(n, v)| is_plain(n) && is_plain(v)),
        }
    }

    /// An upper bound on the octets of all names and values together.
    pub(crate) fn text_len_bound(&self) -> usize {
        match &self.table {
            Table::Owned(_) => self.text_len(),
            Table::Raw { len, first, lines } => match lines[..usize::from(*len)].last() {
                Some(&[_, end]) => usize::from(end).saturating_sub(usize::from(*first)),
                None => 0,
            },
        }
    }

    /// Octets of an owned table's text.
    fn text_len(&self) -> usize {
        if self.meta().is_empty() {
            0
        } else {
            self.table_start()
        }
    }

    /// Rebuilds the owned buffer with `entries` (whose spans are offsets into its text),
    /// appending `extra` to the text.
    fn rebuild(&mut self, entries: &[Entry], extra: &[&[u8]]) {
        let text = &self.meta()[..self.text_len()];
        let extra_len: usize = extra.iter().map(|e| e.len()).sum();
        assert!(
            text.len() + extra_len < OWNED as usize,
            "more than 2 GiB of header bytes in one header list"
        );
        let mut meta =
            BytesMut::with_capacity(text.len() + extra_len + (entries.len() + 1) * ENTRY_LEN + 4);
        meta.extend_from_slice(text);
        for e in extra {
            meta.extend_from_slice(e);
        }
        write_table(&mut meta, entries);
        self.table = Table::Owned(if entries.is_empty() {
            Bytes::new()
        } else {
            meta.freeze()
        });
    }

    /// The entries of an owned table.
    fn entries(&self) -> SmallVec<[Entry; 8]> {
        (0..self.len()).map(|i| self.entry(i)).collect()
    }

    /// Appends an entry, keeping any earlier entries with the same name.
    ///
    /// The name and value are copied into the list's owned text. Each call rebuilds the small
    /// side buffer (O(number of headers)); to build many at once use
    /// [`FrameBuilder`](crate::FrameBuilder) or `collect`.
    ///
    /// # Panics
    ///
    /// If the owned header bytes of this list would exceed 2 GiB (as `Vec::push` panics past
    /// its capacity limit).
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.extend([(name, value)]);
    }

    /// Removes every entry named `name`; returns how many there were.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        if !self.contains(name) {
            return 0;
        }
        self.make_owned();
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|e| self.resolve(e.name) != name);
        let removed = before - entries.len();
        self.rebuild(&entries, &[]);
        removed
    }

    /// Replaces every entry named `name` by one entry, appended at the end.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.remove(name.as_ref());
        self.push(name, value);
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
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        h.extend(iter);
        h
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        let pairs: SmallVec<[(N, V); 8]> = iter.into_iter().collect();
        if pairs.is_empty() {
            return;
        }
        self.make_owned();
        let mut entries = self.entries();
        let mut texts: SmallVec<[&[u8]; 16]> = SmallVec::new();
        // New text goes right after the existing owned text.
        let mut offset = self.text_len();
        for (n, v) in &pairs {
            let (n, v) = (n.as_ref(), v.as_ref());
            entries.push(Entry {
                name: Span::text(offset, n.len()),
                value: Span::text(offset + n.len(), v.len()),
            });
            offset += n.len() + v.len();
            texts.push(n);
            texts.push(v);
        }
        self.rebuild(&entries, &texts);
    }
}

/// Iterator over `(name, value)` pairs of [`Headers`], in wire order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: Walk<'a>,
}

#[derive(Debug, Clone)]
enum Walk<'a> {
    /// Over a [`Table::Raw`]: `next` is where the next entry's name starts.
    Raw {
        raw: &'a [u8],
        next: usize,
        lines: core::slice::Iter<'a, [u16; 2]>,
    },
    /// Over an owned table: the text (the start of the buffer; spans never reach into the
    /// table) and the table.
    Owned {
        text: &'a [u8],
        table: core::slice::ChunksExact<'a, u8>,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    // Always: both walks together are past what LLVM inlines by itself, and a call per entry
    // costs the encoder ~15 % on small frames.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Walk::Raw { raw, next, lines } => {
                let &[colon, end] = lines.next()?;
                let raw: &'a [u8] = raw;
                let start = *next;
                *next = line_after(raw, end);
                let (colon, end) = (usize::from(colon), usize::from(end));
                Some((&raw[start..colon], &raw[colon + 1..end]))
            }
            Walk::Owned { text, table } => {
                let entry = Entry::read(table.next()?);
                let text: &'a [u8] = text;
                let at = |span: Span| -> &'a [u8] {
                    let start = span.start as usize;
                    &text[start..start + span.len as usize]
                };
                Some((at(entry.name), at(entry.value)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Walk::Raw { lines, .. } => lines.size_hint(),
            Walk::Owned { table, .. } => table.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

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
    fn get_str_names_the_header_on_bad_utf8_d11() {
        let h: Headers = [(&b"x"[..], &b"\xff"[..])].into_iter().collect();
        let err = h.get_str("x").unwrap_err();
        assert_eq!(err.header, "x");
    }
}
