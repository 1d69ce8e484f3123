//! Property tests of the decoder's call order: no sequence of `push`, `push_bytes`,
//! `next_item` and `decode` panics, whatever buffers `decode` is handed (shortened, replaced,
//! cleared, extended, or mixed with the internal buffer); and a caller that keeps to one buffer
//! and only appends to it gets the items, and the error, of feeding the whole stream at once,
//! however its calls are interleaved (F-11: results do not depend on chunk boundaries).

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use stomp_codec::{DecodeError, Decoder, Item, Limits, Version};

const CASES: u32 = 512;

/// Pieces a stream is made of: whole frames of several shapes (counted and NUL-scanned bodies,
/// escapes, CRLF, CONNECT-like exemption), heart-beats, and octets that break the grammar.
const PIECES: &[&[u8]] = &[
    b"SEND\ndestination:/queue/a\ncontent-length:3\n\nabc\0",
    b"MESSAGE\nsubscription:1\nx-esc:a\\cb\\\\c\\nd\n\nhello\0\n",
    b"MESSAGE\r\nx:y\r\ncontent-length:2\r\n\r\n\0\0\0\r\n",
    b"CONNECT\naccept-version:1.2\nlogin:a\\b\nhost:h\n\n\0",
    b"RECEIPT\nreceipt-id:77\n\n\0",
    b"ERROR\nmessage:bad\ncontent-length:10\n\n0123456789\0",
    b"SEND\nx-cr:a\rb\n\n\0",
    b"\n",
    b"\r\n",
    b"SEND\nbad\n\n\0",
    b"SEND\nx:\\t\n\n\0",
    b"\0",
    b"SEND\ncontent-length:99999999999\n\n",
];

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V1_0),
        Just(Version::V1_1),
        Just(Version::V1_2)
    ]
}

/// Generous or tight limits: the tight ones make the limit checks fire part-way through lines.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        1 => (4usize..40, 1usize..5, 0usize..30).prop_map(|(line, count, body)| {
            Limits::default()
                .max_header_line(line)
                .max_headers(count)
                .max_body(body)
                .max_frame(200)
        }),
    ]
}

/// A stream: mostly whole pieces, sometimes arbitrary octets.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            6 => (0..PIECES.len()).prop_map(|i| PIECES[i].to_vec()),
            1 => vec(any::<u8>(), 0..8),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn decoder(version: Version, limits: Limits, extensions: bool) -> Decoder {
    Decoder::with_limits(version, limits).allow_extension_commands(extensions)
}

/// What feeding `input` at once (with `push`) gives: the items and the error, if any.
fn whole(make: &dyn Fn() -> Decoder, input: &[u8]) -> (Vec<Item>, Option<DecodeError>) {
    let mut dec = make();
    dec.push(input);
    let mut items = Vec::new();
    loop {
        match dec.next_item() {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, None),
            Err(err) => return (items, Some(err)),
        }
    }
}

/// One call a careless caller may make.
#[derive(Debug, Clone)]
enum Call {
    Push(Vec<u8>),
    PushBytes(Vec<u8>),
    NextItem,
    /// `decode` on the caller's buffer as it is.
    Decode,
    /// Appends to the caller's buffer.
    Extend(Vec<u8>),
    /// Cuts the caller's buffer to at most this many octets.
    Truncate(usize),
    /// Replaces the caller's buffer by another.
    Replace(Vec<u8>),
    /// Drops octets from the front of the caller's buffer, as if it had consumed them.
    Advance(usize),
    SetVersion(Version),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        2 => stream().prop_map(Call::Push),
        2 => stream().prop_map(Call::PushBytes),
        4 => Just(Call::NextItem),
        4 => Just(Call::Decode),
        3 => stream().prop_map(Call::Extend),
        1 => (0usize..64).prop_map(Call::Truncate),
        1 => stream().prop_map(Call::Replace),
        1 => (0usize..16).prop_map(Call::Advance),
        1 => version().prop_map(Call::SetVersion),
    ]
}

/// How a consistent caller hands over the next octets of the stream.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// `push` this many octets (or what is left).
    Push(usize),
    /// `push_bytes` this many octets.
    PushBytes(usize),
    /// One `next_item` call.
    Next,
}

fn feed() -> impl Strategy<Value = Feed> {
    prop_oneof![
        2 => (0usize..40).prop_map(Feed::Push),
        2 => (0usize..40).prop_map(Feed::PushBytes),
        3 => Just(Feed::Next),
    ]
}

/// Collects one call's result; false once the decoder has failed (its error is kept once).
fn record(
    result: Result<Option<Item>, DecodeError>,
    items: &mut Vec<Item>,
    error: &mut Option<DecodeError>,
) -> bool {
    match result {
        Ok(Some(item)) => {
            items.push(item);
            true
        }
        Ok(None) => true,
        Err(err) => {
            // Sticky: a later call repeats the first error.
            if let Some(first) = error {
                assert_eq!(*first, err, "a failed decoder changed its error");
            }
            *error = Some(err);
            false
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// No call order panics, whatever the caller does to its buffer between `decode` calls;
    /// the bookkeeping accessors stay callable throughout.
    #[test]
    fn no_call_order_panics(
        version in version(),
        limits in limits(),
        extensions in any::<bool>(),
        calls in vec(call(), 0..40),
    ) {
        let mut dec = decoder(version, limits, extensions);
        let mut buf = BytesMut::new();
        for call in calls {
            match call {
                Call::Push(bytes) => dec.push(&bytes),
                Call::PushBytes(bytes) => dec.push_bytes(Bytes::from(bytes)),
                Call::NextItem => {
                    let _ = dec.next_item();
                }
                Call::Decode => {
                    let before = buf.len();
                    if let Ok(Some(_)) = dec.decode(&mut buf) {
                        // An item is cut from the front of the buffer, never more than it had.
                        prop_assert!(buf.len() < before);
                    }
                }
                Call::Extend(bytes) => buf.extend_from_slice(&bytes),
                Call::Truncate(n) => buf.truncate(n),
                Call::Replace(bytes) => buf = BytesMut::from(&bytes[..]),
                Call::Advance(n) => {
                    let n = n.min(buf.len());
                    let _ = buf.split_to(n);
                }
                Call::SetVersion(v) => dec.set_version(v),
            }
            let _ = (dec.offset(), dec.buffered(), dec.is_mid_frame(), dec.error());
        }
        // Draining both buffers at the end panics no more than the calls did.
        for _ in 0..4 {
            let _ = dec.next_item();
            let _ = dec.decode(&mut buf);
        }
    }

    /// F-11: a caller of `decode` that keeps one buffer and only appends to it, calling
    /// `decode` any number of times between appends, gets what feeding the whole stream at
    /// once gives: the same items and the same error.
    #[test]
    fn appending_to_one_buffer_equals_the_whole_stream(
        version in version(),
        limits in limits(),
        input in stream(),
        // Per call: octets appended before it (0: call again on the same buffer).
        appends in vec(prop_oneof![2 => Just(0usize), 3 => 1usize..40], 0..60),
    ) {
        let make = || decoder(version, limits, false);
        let (want, want_error) = whole(&make, &input);
        let mut dec = make();
        let mut buf = BytesMut::new();
        let (mut items, mut error) = (Vec::new(), None);
        let mut at = 0;
        // After the planned calls, the rest of the stream at once, then drain.
        for n in appends.into_iter().chain([usize::MAX]) {
            let end = at + n.min(input.len() - at);
            buf.extend_from_slice(&input[at..end]);
            at = end;
            if !record(dec.decode(&mut buf), &mut items, &mut error) {
                break;
            }
        }
        while error.is_none() && at == input.len() {
            let before = items.len();
            if !record(dec.decode(&mut buf), &mut items, &mut error) || items.len() == before {
                break;
            }
        }
        prop_assert_eq!(items, want);
        prop_assert_eq!(error, want_error);
    }

    /// F-11: `push`, `push_bytes` and `next_item` in any order, over one stream, give what
    /// feeding it at once gives, whether or not the caller drains between pushes.
    #[test]
    fn pushing_in_any_order_equals_the_whole_stream(
        version in version(),
        limits in limits(),
        input in stream(),
        feeds in vec(feed(), 0..60),
    ) {
        let make = || decoder(version, limits, false);
        let (want, want_error) = whole(&make, &input);
        let mut dec = make();
        let (mut items, mut error) = (Vec::new(), None);
        let mut at = 0;
        for feed in feeds {
            let take = |n: usize| &input[at..at + n.min(input.len() - at)];
            match feed {
                Feed::Push(n) => {
                    let piece = take(n);
                    at += piece.len();
                    dec.push(piece);
                }
                Feed::PushBytes(n) => {
                    let piece = take(n);
                    at += piece.len();
                    dec.push_bytes(Bytes::copy_from_slice(piece));
                }
                Feed::Next => {
                    if !record(dec.next_item(), &mut items, &mut error) {
                        break;
                    }
                }
            }
        }
        if error.is_none() {
            dec.push(&input[at..]);
            loop {
                let before = items.len();
                if !record(dec.next_item(), &mut items, &mut error) || items.len() == before {
                    break;
                }
            }
        }
        prop_assert_eq!(items, want);
        prop_assert_eq!(error, want_error);
    }
}

/// The case of the issue: a decoder that had scanned 37 octets of a frame in one buffer was
/// handed a 2-octet one and indexed past its end. It now reads the new buffer from its start
/// (see `Decoder::decode`): here two heart-beats (D-13), then a frame in a third buffer.
#[test]
fn a_shorter_buffer_is_read_from_its_start() {
    let mut dec = Decoder::new(Version::V1_2);
    let mut first = BytesMut::from(&b"SEND\ndestination:/queue/a\nx-long-name"[..]);
    assert_eq!(first.len(), 37);
    assert_eq!(dec.decode(&mut first), Ok(None));
    let mut second = BytesMut::from(&b"\n\n"[..]);
    assert_eq!(dec.decode(&mut second), Ok(Some(Item::Heartbeat)));
    assert_eq!(dec.decode(&mut second), Ok(Some(Item::Heartbeat)));
    assert_eq!(dec.decode(&mut second), Ok(None));
    let mut third = BytesMut::from(&b"RECEIPT\nreceipt-id:7\n\n\0"[..]);
    let Ok(Some(Item::Frame(frame))) = dec.decode(&mut third) else {
        panic!("expected the RECEIPT frame");
    };
    assert_eq!(frame.headers().get("receipt-id"), Some(&b"7"[..]));
    assert!(third.is_empty());
    // Offsets count what was consumed: the two heart-beats and the frame, not the 37 octets
    // left behind in the first buffer.
    assert_eq!(dec.offset(), 2 + 23);
}

/// A fresh, shorter buffer holding the same frame from its start (as after
/// `Framed::into_parts`) gives the frame, and the first buffer's partial state is gone.
#[test]
fn a_fresh_buffer_with_the_frame_again_gives_the_frame() {
    let wire = b"MESSAGE\nsubscription:1\nx-a:b\\cc\n\nhello\0";
    let mut dec = Decoder::new(Version::V1_2);
    let mut partial = BytesMut::from(&wire[..wire.len() - 1]);
    assert_eq!(dec.decode(&mut partial), Ok(None));
    let mut fresh = BytesMut::from(&wire[..20]);
    assert_eq!(dec.decode(&mut fresh), Ok(None));
    fresh.extend_from_slice(&wire[20..]);
    let Ok(Some(Item::Frame(frame))) = dec.decode(&mut fresh) else {
        panic!("expected the MESSAGE frame");
    };
    assert_eq!(frame.headers().get("x-a"), Some(&b"b:c"[..]));
    assert_eq!(frame.body(), &b"hello"[..]);
}

/// Switching from `push`/`next_item` to `decode` mid-frame is a change of buffer: the shorter
/// caller buffer is read from its start, and the internal one afterwards likewise.
#[test]
fn mixing_push_and_decode_switches_buffers() {
    let mut dec = Decoder::new(Version::V1_2);
    dec.push(b"SEND\ndestination:/queue/a\ncontent-length:5\n\nhel");
    assert_eq!(dec.next_item(), Ok(None));
    let mut own = BytesMut::from(&b"\n"[..]);
    assert_eq!(dec.decode(&mut own), Ok(Some(Item::Heartbeat)));
    // The internal buffer still holds its partial frame, now scanned again from its start.
    dec.push(b"lo\0");
    let Ok(Some(Item::Frame(frame))) = dec.next_item() else {
        panic!("expected the SEND frame");
    };
    assert_eq!(frame.body(), &b"hello"[..]);
}
