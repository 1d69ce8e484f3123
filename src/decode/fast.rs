//! The decoder's fast paths: whole header lines read through the 64-octet classifier
//! (`scan.rs`), and unescaping helpers for short texts. Each gives exactly the result of the
//! careful path in `parser.rs` (and of `escape::unescape_into`); the tests below and the
//! decoder's equivalence tests hold them to it.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::escape::unescaped;
use crate::headers::Span;
use crate::scan;
use crate::version::Version;

use super::parser::{Parser, Stage, CONTENT_LENGTH, CR};

/// Longest name or value unescaped through a stack buffer (one copy into `owned`) rather
/// than by [`unescape_into`](crate::escape::unescape_into) (a search and a copy per escape).
pub(super) const SHORT_ESCAPED: usize = 128;

/// [`unescape_into`](crate::escape::unescape_into) for texts of at most [`SHORT_ESCAPED`]
/// octets, with the same result.
pub(super) fn unescape_short(
    text: &[u8],
    version: Version,
    out: &mut BytesMut,
) -> Result<(), (usize, Option<u8>)> {
    let mut buf = [0u8; SHORT_ESCAPED];
    let mut octets = text.iter();
    // One pass over an iterator, with no index arithmetic (cheaper than indexing on the few
    // dozen octets of a typical value). Each octet written consumes at least one of `text`'s,
    // which is at most SHORT_ESCAPED long, so `buf` never runs out first.
    let mut written = 0;
    for slot in buf.iter_mut() {
        let Some(&octet) = octets.next() else { break };
        *slot = if octet != b'\\' {
            octet
        } else {
            let next = octets.next().copied();
            match next.and_then(|letter| unescaped(letter, version)) {
                Some(decoded) => decoded,
                None => {
                    let at = text.len() - octets.as_slice().len() - 1 - usize::from(next.is_some());
                    return Err((at, next));
                }
            }
        };
        written += 1;
    }
    out.extend_from_slice(&buf[..written]);
    Ok(())
}

/// Where a header line's backslashes are.
#[derive(Debug, Clone, Copy)]
pub(super) struct Escapes {
    /// Index of the first backslash.
    pub(super) first: usize,
    /// Index of the last backslash.
    pub(super) last: usize,
    /// Bit `i` is set when the line's octet `i` is a backslash (lines read by
    /// [`Parser::quick_lines`], which are shorter than 64 octets); 0 when not known.
    pub(super) mask: u64,
}

/// Octets copied at once by [`unescape_masked`]: a fixed size compiles to two moves, where a
/// copy of a run's exact length would be a `memcpy` call per run.
const RUN_BLOCK: usize = 16;

/// [`unescape_short`] for a text `data[start..end]` inside a line of under 64 octets starting
/// at `line`, whose backslashes are the set bits of `mask` (bit `i` for `data[line + i]`),
/// with the same result: runs between escapes are copied a block at a time instead of an
/// octet at a time.
pub(super) fn unescape_masked(
    data: &[u8],
    line: usize,
    start: usize,
    end: usize,
    mask: u64,
    version: Version,
    out: &mut BytesMut,
) -> Result<(), (usize, Option<u8>)> {
    debug_assert!(line <= start && start <= end && end - line < 64);
    let len = end - start;
    // Where the runs below read whole blocks from: the input itself when it goes on far enough
    // past the text (nearly always), else a copy of the text on the stack. Octets past `len`
    // are never written out. (Always copying would save the check, but the loads of a freshly
    // copied block cannot be forwarded from the wide stores that wrote it: it stalled this
    // function for half its time.)
    let mut copy = [0u8; 64 + RUN_BLOCK];
    let text: &[u8] = match data.get(start..start + 64 + RUN_BLOCK) {
        Some(window) => window,
        None => {
            copy[..len].copy_from_slice(&data[start..end]);
            &copy
        }
    };
    // Room for the whole text plus the overshoot of the last block.
    let mut buf = [0u8; 64 + RUN_BLOCK];
    let mut written = 0;
    // Appends `text[from..to]` to `buf[written..]`, in whole blocks whose tails are
    // overwritten by what follows; returns the new `written`.
    #[inline(always)]
    fn copy_run(
        text: &[u8],
        buf: &mut [u8; 64 + RUN_BLOCK],
        written: usize,
        from: usize,
        to: usize,
    ) -> usize {
        let mut at = from;
        while at < to {
            let dst = written + (at - from);
            buf[dst..dst + RUN_BLOCK].copy_from_slice(&text[at..at + RUN_BLOCK]);
            at += RUN_BLOCK;
        }
        written + (to - from)
    }
    // The text's backslashes, bit `i` for `text[i]` (len < 64).
    let mut bits = (mask >> (start - line)) & ((1u64 << len) - 1);
    let mut from = 0;
    while bits != 0 {
        let at = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if at < from {
            // The second octet of a `\\` escape.
            continue;
        }
        written = copy_run(text, &mut buf, written, from, at);
        let next = (at + 1 < len).then(|| text[at + 1]);
        let Some(octet) = next.and_then(|letter| unescaped(letter, version)) else {
            return Err((at, next));
        };
        buf[written] = octet;
        written += 1;
        from = at + 2;
    }
    written = copy_run(text, &mut buf, written, from, len);
    out.extend_from_slice(&buf[..written]);
    Ok(())
}

impl Parser {
    /// Reads whole lines from `line_start` (with nothing of it scanned yet) while they are
    /// ordinary: shorter than a window, ended by LF (or CRLF), free of NUL and stray CR, and
    /// clear of every limit. These are exactly the lines for which
    /// [`line_done`](Parser::line_done) takes none of its careful branches, and they are read
    /// the same way; the first line that is not ordinary (or not complete) is left to it.
    ///
    /// Returns whether the head is done (the blank line was read).
    pub(super) fn quick_lines(&mut self, data: &[u8]) -> Result<bool, DecodeError> {
        let limits = self.config.limits;
        let (head_max, _) = self.head_cap();
        let mut start = self.line_start;
        let mut base = start;
        if base >= data.len() {
            return Ok(false);
        }
        let mut masks = scan::classify(data, base);
        loop {
            if start - base >= scan::WINDOW || masks.lf >> (start - base) == 0 {
                // The line goes past this window: classify afresh from its start.
                base = start;
                if base >= data.len() {
                    return Ok(false);
                }
                masks = scan::classify(data, base);
            }
            let at = start - base;
            let lf = masks.lf >> at;
            if lf == 0 {
                // Unfinished, or longer than a window: the careful path reads it.
                return Ok(false);
            }
            let len = lf.trailing_zeros() as usize;
            // Bits of the line's octets, LF excluded (len < 64).
            let line = (1u64 << len) - 1;
            let mut special = (masks.special >> at) & line;
            let colons = (masks.colon >> at) & line;
            let end = start + len;
            let line_max = match self.stage {
                Stage::Command => limits.max_command_line,
                _ => limits.max_header_line,
            };
            if len > line_max || end >= head_max || self.entries.len() >= limits.max_headers {
                return Ok(false);
            }
            let (mut text_end, mut backslashes) = (end, 0u64);
            if special != 0 {
                // A NUL, CR or backslash: the line is still ours if its only CR ends it (CRLF)
                // and there is no NUL; backslashes are unescaped where escaping applies.
                // Bits come in order, so a CR ending the line is the last one seen.
                while special != 0 {
                    let i = start + special.trailing_zeros() as usize;
                    special &= special - 1;
                    match data[i] {
                        CR if i + 1 == end => text_end = i,
                        b'\\' => backslashes |= 1 << (i - start),
                        _ => return Ok(false),
                    }
                }
            }
            let escapes = (backslashes != 0 && self.escaping).then(|| Escapes {
                first: start + backslashes.trailing_zeros() as usize,
                last: start + 63 - backslashes.leading_zeros() as usize,
                mask: backslashes,
            });
            self.scan = end + 1;
            self.line_start = end + 1;
            if self.stage == Stage::Command {
                self.command_line(data, start, text_end)?;
            } else if text_end == start {
                self.headers_done(data, end + 1)?;
                return Ok(true);
            } else if colons != 0 {
                let colon = start + colons.trailing_zeros() as usize;
                if escapes.is_none() && colon > start && !self.config.strict_utf8 {
                    // The common header: a raw name and value, no checks left to make but
                    // that of a content-length.
                    let value = Span::raw(colon + 1, text_end - colon - 1);
                    if &data[start..colon] == CONTENT_LENGTH {
                        self.content_length_line(data, value, start)?;
                    }
                    self.entries.push_raw(start, colon, text_end, end + 1);
                } else {
                    self.add_header(data, start, text_end, Some(colon), escapes)?;
                }
            } else {
                self.add_header(data, start, text_end, None, escapes)?;
            }
            start = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::LF;
    use super::*;
    use crate::escape::unescape_into;

    /// The stack-buffer unescaper must decode exactly as `unescape_into` does, failing at the
    /// same backslash with the same octet (E-2, E-3, E-4, D-8): both sides are checked against
    /// the escape table here rather than against each other only.
    #[test]
    fn short_unescape_follows_the_escape_rules_e2_e3_e4_d8() {
        for version in [Version::V1_1, Version::V1_2] {
            for octet in 0..=255u8 {
                let expected = match octet {
                    b'n' => Ok(b'\n'),
                    b'c' => Ok(b':'),
                    b'\\' => Ok(b'\\'),
                    b'r' if version == Version::V1_2 => Ok(b'\r'),
                    other => Err((2, Some(other))),
                };
                let text = [b'a', b'b', b'\\', octet, b'z'];
                let (mut short, mut long) = (BytesMut::new(), BytesMut::new());
                let got = unescape_short(&text, version, &mut short);
                assert_eq!(got, unescape_into(&text, version, &mut long));
                match expected {
                    Ok(decoded) => {
                        assert_eq!(got, Ok(()));
                        assert_eq!(&short[..], &[b'a', b'b', decoded, b'z'][..]);
                        assert_eq!(short, long);
                    }
                    Err(err) => assert_eq!(got, Err(err)),
                }
            }
            let mut out = BytesMut::new();
            assert_eq!(unescape_short(b"ab\\", version, &mut out), Err((2, None)));
            let full = [b'\\', b'n'].repeat(SHORT_ESCAPED / 2);
            out.clear();
            assert_eq!(unescape_short(&full, version, &mut out), Ok(()));
            assert_eq!(&out[..], &[b'\n'; SHORT_ESCAPED / 2][..]);
        }
    }

    /// The block-copying unescape agrees with the octet-at-a-time one (itself checked against
    /// the escape rules above) on every text of up to six octets over an alphabet that makes
    /// every escape, good and bad, and chains of backslashes, in a line whose text is a name
    /// or a value, with and without a block of input after the line (E-2, E-3, E-4, D-8).
    #[test]
    fn masked_unescape_agrees_with_the_short_one_e2_e3_e4_d8() {
        let alphabet = [b'a', b'\\', b'n', b'c', b'r', b't'];
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=6 {
            let before: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == len - 1)
                .cloned()
                .collect();
            for t in before {
                for &octet in &alphabet {
                    let mut next = t.clone();
                    next.push(octet);
                    texts.push(next);
                }
            }
        }
        let mut checked = 0;
        for version in [Version::V1_1, Version::V1_2] {
            for text in &texts {
                for (prefix, suffix) in [(&b"k:"[..], &b""[..]), (&b""[..], &b":v"[..])] {
                    for tail in [&b""[..], &[b'x'; RUN_BLOCK][..]] {
                        let mut data = b"xy\n".to_vec();
                        let line = data.len();
                        data.extend_from_slice(prefix);
                        let start = data.len();
                        data.extend_from_slice(text);
                        let end = data.len();
                        data.extend_from_slice(suffix);
                        data.push(LF);
                        data.extend_from_slice(tail);
                        let mask = data[line..]
                            .iter()
                            .take(64)
                            .enumerate()
                            .filter(|(_, &b)| b == b'\\')
                            .fold(0u64, |m, (i, _)| m | 1 << i);
                        let (mut masked, mut short) = (BytesMut::new(), BytesMut::new());
                        let got =
                            unescape_masked(&data, line, start, end, mask, version, &mut masked);
                        let want = unescape_short(text, version, &mut short);
                        assert_eq!(
                            got,
                            want,
                            "{:?} in {version}",
                            text.escape_ascii().to_string()
                        );
                        if want.is_ok() {
                            assert_eq!(masked, short);
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * texts.len() * 2 * 2);
    }
}
