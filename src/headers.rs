//! An ordered header list whose names and values point into the frame's own bytes.

use core::fmt;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::error::HeaderUtf8Error;

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
pub(crate) fn entry_bytes(name: Span, value: Span) -> [u8; ENTRY_LEN] {
    Entry { name, value }.to_bytes()
}

/// Writes a decoded frame's header buffer into the empty `meta`: `[head][owned][table][count]`,
/// where
/// `head` is the frame from its start through the blank line (so raw spans are already offsets
/// into it) and `owned` its unescaped text (owned spans, in entries from `first_owned` on, are
/// moved past `head`).
pub(crate) fn write_decoded(
    meta: &mut BytesMut,
    head: &[u8],
    owned: &[u8],
    entries: &[[u8; ENTRY_LEN]],
    first_owned: usize,
) {
    debug_assert!(meta.is_empty());
    meta.extend_from_slice(head);
    meta.extend_from_slice(owned);
    let table = meta.len();
    meta.extend_from_slice(entries.as_flattened());
    meta.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    if !owned.is_empty() {
        let head_len = head.len() as u32;
        // Entries before `first_owned` point into the head only.
        let fixed = table + first_owned * ENTRY_LEN..table + entries.len() * ENTRY_LEN;
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

/// The headers of a frame, in wire order, repeats kept (H-6).
///
/// Lookups such as [`get`](Headers::get) return the first entry with the name, as the spec says
/// a repeated header's first occurrence wins. Names and values are compared byte for byte (H-9):
/// `Content-Length` is not `content-length`.
///
/// All of a list's names and values, and the small table saying where each entry is, live in
/// one shared buffer. For a decoded frame that is a slice of a decoder-wide arena holding a
/// copy of the frame's header lines (a few hundred octets, cheaper to copy than to share: a
/// shared slice of the input would cost a reference count per frame) with any unescaped text,
/// so there is no allocation per frame. Cloning costs one reference count increment.
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
#[derive(Clone, Default)]
pub struct Headers {
    /// `[text][entry table: 16 octets each][entry count: u32 LE]`, or empty when there are no
    /// entries. Table spans are offsets into the text.
    meta: Bytes,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Headers over a buffer built with [`write_table`].
    pub(crate) fn from_meta(meta: Bytes) -> Headers {
        Headers { meta }
    }

    fn table_start(&self) -> usize {
        self.meta.len() - 4 - self.len() * ENTRY_LEN
    }

    fn entry(&self, index: usize) -> Entry {
        let at = self.table_start() + index * ENTRY_LEN;
        Entry::read(&self.meta[at..at + ENTRY_LEN])
    }

    fn resolve(&self, span: Span) -> &[u8] {
        // Table spans are only ever made from offsets into this same buffer's text.
        let start = span.start as usize;
        &self.meta[start..start + span.len as usize]
    }

    fn resolve_bytes(&self, span: Span) -> Bytes {
        self.meta.slice_ref(self.resolve(span))
    }

    /// Number of entries, repeats included.
    pub fn len(&self) -> usize {
        match self.meta.len().checked_sub(4) {
            Some(at) => u32::from_le_bytes([
                self.meta[at],
                self.meta[at + 1],
                self.meta[at + 2],
                self.meta[at + 3],
            ]) as usize,
            None => 0,
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// The value of the first entry named `name`.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first entry named `name` as a `Bytes` that shares the frame's storage.
    pub fn get_bytes(&self, name: impl AsRef<[u8]>) -> Option<Bytes> {
        let name = name.as_ref();
        (0..self.len())
            .map(|i| self.entry(i))
            .find(|e| self.resolve(e.name) == name)
            .map(|e| self.resolve_bytes(e.value))
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
        let (table, text_len) = if self.meta.is_empty() {
            (&[][..], 0)
        } else {
            let start = self.table_start();
            (&self.meta[start..self.meta.len() - 4], start)
        };
        Iter {
            text: &self.meta[..text_len],
            table: table.chunks_exact(ENTRY_LEN),
        }
    }

    /// The text every entry's name and value are slices of. It may hold more: a decoded
    /// frame's command line and header lines as received, text of removed entries. Lets the
    /// encoder check all header text with one scan.
    pub(crate) fn text(&self) -> &[u8] {
        &self.meta[..self.text_len()]
    }

    fn text_len(&self) -> usize {
        if self.meta.is_empty() {
            0
        } else {
            self.table_start()
        }
    }

    /// Rebuilds the buffer with `entries` (whose spans are offsets into the text), appending
    /// `extra` to the text.
    fn rebuild(&mut self, entries: &[Entry], extra: &[&[u8]]) {
        let text = &self.meta[..self.text_len()];
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
        self.meta = if entries.is_empty() {
            Bytes::new()
        } else {
            meta.freeze()
        };
    }

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
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|e| self.resolve(e.name) != name);
        let removed = before - entries.len();
        if removed > 0 {
            self.rebuild(&entries, &[]);
        }
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
    /// The text (the start of the buffer; spans never reach into the table).
    text: &'a [u8],
    table: core::slice::ChunksExact<'a, u8>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let entry = Entry::read(self.table.next()?);
        let text = self.text;
        let at = |span: Span| -> &'a [u8] {
            let start = span.start as usize;
            &text[start..start + span.len as usize]
        };
        Some((at(entry.name), at(entry.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.table.size_hint()
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
