//! An ordered header list whose names and values point into the frame's own bytes.

use core::fmt;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::error::HeaderUtf8Error;

/// How many headers a frame holds without a heap allocation for the list itself.
const INLINE_HEADERS: usize = 8;
/// Marks a [`Span`] whose bytes live in the owned buffer rather than the received frame.
const OWNED: u32 = 1 << 31;

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

    /// A span into the owned (unescaped or caller-supplied) bytes.
    pub(crate) fn owned(start: usize, len: usize) -> Span {
        debug_assert!(start + len < OWNED as usize);
        Span {
            start: start as u32 | OWNED,
            len: len as u32,
        }
    }
}

impl Span {
    /// The bytes this span names, given the raw and the owned buffer.
    pub(crate) fn bytes_in<'a>(self, raw: &'a [u8], owned: &'a [u8]) -> &'a [u8] {
        let (buf, start) = if self.start & OWNED != 0 {
            (owned, (self.start & !OWNED) as usize)
        } else {
            (raw, self.start as usize)
        };
        &buf[start..start + self.len as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

pub(crate) type Entries = SmallVec<[Entry; INLINE_HEADERS]>;

/// The headers of a frame, in wire order, repeats kept (H-6).
///
/// Lookups such as [`get`](Headers::get) return the first entry with the name, as the spec says
/// a repeated header's first occurrence wins. Names and values are compared byte for byte (H-9):
/// `Content-Length` is not `content-length`.
///
/// A decoded frame's headers share its received bytes; only names and values that had to be
/// unescaped live in a separate buffer (one per frame, not one per header). Cloning is cheap:
/// reference counts and, past eight headers, one small list.
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
    raw: Bytes,
    owned: Bytes,
    entries: Entries,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn from_parts(raw: Bytes, owned: Bytes, entries: Entries) -> Headers {
        Headers {
            raw,
            owned,
            entries,
        }
    }

    fn resolve(&self, span: Span) -> &[u8] {
        // Spans are only ever made from offsets into these same buffers.
        span.bytes_in(&self.raw, &self.owned)
    }

    fn resolve_bytes(&self, span: Span) -> Bytes {
        let (buf, start) = if span.start & OWNED != 0 {
            (&self.owned, (span.start & !OWNED) as usize)
        } else {
            (&self.raw, span.start as usize)
        };
        buf.slice(start..start + span.len as usize)
    }

    /// Number of entries, repeats included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first entry named `name`.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first entry named `name` as a `Bytes` that shares the frame's storage.
    pub fn get_bytes(&self, name: impl AsRef<[u8]>) -> Option<Bytes> {
        let name = name.as_ref();
        self.entries
            .iter()
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
        Iter {
            headers: self,
            index: 0,
        }
    }

    /// Appends an entry, keeping any earlier entries with the same name.
    ///
    /// The name and value are copied into the list's owned buffer.
    ///
    /// # Panics
    ///
    /// If the owned header bytes of this list would exceed 1 GiB (as `Vec::push` panics past
    /// its capacity limit).
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let mut owned = match core::mem::take(&mut self.owned).try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => {
                let mut copy = BytesMut::with_capacity(shared.len() + name.len() + value.len());
                copy.extend_from_slice(&shared);
                copy
            }
        };
        let start = owned.len();
        assert!(
            start + name.len() + value.len() < OWNED as usize,
            "more than 1 GiB of header bytes in one header list"
        );
        owned.extend_from_slice(name);
        owned.extend_from_slice(value);
        self.owned = owned.freeze();
        self.entries.push(Entry {
            name: Span::owned(start, name.len()),
            value: Span::owned(start + name.len(), value.len()),
        });
    }

    /// Removes every entry named `name`; returns how many there were.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        let before = self.entries.len();
        let mut i = 0;
        while i < self.entries.len() {
            if self.resolve(self.entries[i].name) == name {
                self.entries.remove(i);
            } else {
                i += 1;
            }
        }
        before - self.entries.len()
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
        for (n, v) in iter {
            self.push(n, v);
        }
    }
}

/// Iterator over `(name, value)` pairs of [`Headers`], in wire order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    headers: &'a Headers,
    index: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.headers.entries.get(self.index)?;
        self.index += 1;
        Some((
            self.headers.resolve(entry.name),
            self.headers.resolve(entry.value),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.headers.entries.len() - self.index;
        (n, Some(n))
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
