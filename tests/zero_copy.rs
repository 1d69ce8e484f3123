//! Decoded frames share the received bytes: header names and values that needed no unescaping,
//! and the body, are ranges of the input (D-11 keeps raw bytes), whichever form the header table
//! takes. These tests check where the bytes live, not only what they say.

use bytes::{Bytes, BytesMut};
use stomp_codec::{Command, Decoder, Frame, Item, Version};

/// Whether `part` lies inside `whole` (same memory, no copy).
fn inside(part: &[u8], whole: &[u8]) -> bool {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    p >= start && p + part.len() <= end
}

fn decode_bytes(version: Version, wire: &Bytes) -> Vec<Frame> {
    let mut decoder = Decoder::new(version);
    decoder.push_bytes(wire.clone());
    let mut frames = Vec::new();
    while let Some(item) = decoder.next_item().expect("the input is valid") {
        if let Item::Frame(frame) = item {
            frames.push(frame);
        }
    }
    frames
}

fn message(headers: usize, eol: &str) -> Vec<u8> {
    let mut wire = format!("MESSAGE{eol}");
    for i in 0..headers {
        wire.push_str(&format!("h{i}:value-{i}{eol}"));
    }
    wire.push_str(&format!("{eol}body-{headers}\0"));
    wire.into_bytes()
}

#[test]
fn names_values_and_body_are_slices_of_the_input_f1_d11() {
    for eol in ["\n", "\r\n"] {
        // 11 entries fit the table inside the frame, 12 and more take the owned one: both
        // keep reading the input.
        for count in [0, 1, 10, 11, 12, 40] {
            let wire = Bytes::from(message(count, eol));
            let frames = decode_bytes(Version::V1_2, &wire);
            let [frame] = &frames[..] else {
                panic!("one frame, got {frames:?}")
            };
            assert_eq!(frame.headers().len(), count);
            for (i, (name, value)) in frame.headers().iter().enumerate() {
                assert_eq!(name, format!("h{i}").as_bytes(), "{count} headers, {eol:?}");
                assert_eq!(value, format!("value-{i}").as_bytes());
                if count <= 11 {
                    assert!(
                        inside(name, &wire) && inside(value, &wire),
                        "entry {i} copied"
                    );
                }
            }
            assert_eq!(frame.body(), format!("body-{count}").as_bytes());
            assert!(inside(frame.body(), &wire), "the body is never copied");
            let body = frame.body_bytes();
            assert!(inside(&body, &wire), "body_bytes shares the input");
            if count > 0 {
                let value = frame.headers().get_bytes("h0").unwrap();
                assert_eq!(value, "value-0");
                if count <= 11 {
                    assert!(inside(&value, &wire), "get_bytes shares the input");
                }
            }
        }
    }
}

#[test]
fn unescaped_values_are_owned_and_the_rest_still_read_right_e2_e3_h6() {
    let wire = Bytes::from_static(
        b"MESSAGE\r\ndestination:/a\r\nx-note:a\\cb\\nc\r\nx-note:second\r\nplain:p\r\n\r\nhi\0",
    );
    let frames = decode_bytes(Version::V1_2, &wire);
    let headers = frames[0].headers();
    let entries: Vec<(&[u8], &[u8])> = headers.iter().collect();
    assert_eq!(
        entries,
        [
            (&b"destination"[..], &b"/a"[..]),
            (b"x-note", b"a:b\nc"),
            (b"x-note", b"second"),
            (b"plain", b"p"),
        ]
    );
    // First occurrence wins (H-6), and it is the unescaped one.
    assert_eq!(headers.get("x-note"), Some(&b"a:b\nc"[..]));
    assert!(!inside(headers.get("x-note").unwrap(), &wire));
    assert!(inside(frames[0].body(), &wire));
}

#[test]
fn a_value_ending_in_cr_before_lf_is_kept_in_1_1_d3() {
    // In 1.1 a CR before CR LF is data: the value is "v\r" and the next line still starts
    // right after the line end.
    let wire = Bytes::from_static(b"MESSAGE\na:v\r\r\nb:w\n\n\0");
    let frames = decode_bytes(Version::V1_1, &wire);
    let entries: Vec<(&[u8], &[u8])> = frames[0].headers().iter().collect();
    assert_eq!(entries, [(&b"a"[..], &b"v\r"[..]), (b"b", b"w")]);
}

#[test]
fn a_head_past_64_kib_still_decodes_h8() {
    let long = "x".repeat(70_000);
    let wire = format!("SEND\na:1\nlong:{long}\nz:2\n\nbody\0");
    let limits = stomp_codec::Limits::default()
        .max_header_line(80_000)
        .max_header_bytes(80_000);
    let mut decoder = Decoder::with_limits(Version::V1_2, limits);
    decoder.push(wire.as_bytes());
    let Some(Item::Frame(frame)) = decoder.next_item().unwrap() else {
        panic!("a frame")
    };
    assert_eq!(frame.headers().get("a"), Some(&b"1"[..]));
    assert_eq!(frame.headers().get("long").map(<[u8]>::len), Some(70_000));
    assert_eq!(frame.headers().get("z"), Some(&b"2"[..]));
    assert_eq!(frame.body(), b"body");
}

#[test]
fn editing_a_decoded_frame_keeps_its_body_and_other_headers() {
    let wire = Bytes::from(message(3, "\n"));
    let original = decode_bytes(Version::V1_2, &wire).remove(0);

    let mut edited = original.clone();
    edited.headers_mut().push("added", "yes");
    edited.headers_mut().set("h1", "changed");
    assert_eq!(edited.headers_mut().remove("h0"), 1);
    let entries: Vec<(&[u8], &[u8])> = edited.headers().iter().collect();
    assert_eq!(
        entries,
        [
            (&b"h2"[..], &b"value-2"[..]),
            (b"added", b"yes"),
            (b"h1", b"changed"),
        ]
    );
    assert_eq!(edited.body(), b"body-3");
    // The original is untouched.
    assert_eq!(original.headers().get("h1"), Some(&b"value-1"[..]));
    assert_eq!(original.headers().len(), 3);

    let mut rebodied = original.clone();
    rebodied.set_body("new body");
    assert_eq!(rebodied.body(), b"new body");
    assert_eq!(rebodied.headers(), original.headers());

    let mut reheaded = original.clone();
    reheaded.set_headers([("only", "one")].into_iter().collect());
    assert_eq!(reheaded.headers().len(), 1);
    assert_eq!(reheaded.body(), b"body-3");

    // A list taken from another decoded frame brings its entries, not that frame's body.
    let mut other = Frame::builder(Command::Send).body("mine").build();
    other.set_headers(original.headers().clone());
    assert_eq!(other.headers(), original.headers());
    assert_eq!(other.body(), b"mine");
}

#[test]
fn a_decoded_frame_encodes_back_to_its_input_f1() {
    // The encoder reads headers from the received lines (colons and line ends between them) and
    // must write names and values only.
    let wire = b"MESSAGE\ndestination:/a\nmessage-id:7\ncontent-length:2\n\nhi\0";
    let frames = decode_bytes(Version::V1_2, &Bytes::from_static(wire));
    let mut out = BytesMut::new();
    stomp_codec::Encoder::new(Version::V1_2)
        .encode(&frames[0], &mut out)
        .unwrap();
    assert_eq!(&out[..], &wire[..]);

    // A value with a raw colon (legal in 1.0) needs escaping when re-encoded for 1.2.
    let wire = b"MESSAGE\nx:a:b\n\n\0";
    let mut decoder = Decoder::new(Version::V1_0);
    decoder.push(wire);
    let Some(Item::Frame(frame)) = decoder.next_item().unwrap() else {
        panic!("a frame")
    };
    let mut out = BytesMut::new();
    stomp_codec::Encoder::new(Version::V1_2)
        .encode(&frame, &mut out)
        .unwrap();
    assert_eq!(&out[..], b"MESSAGE\nx:a\\cb\n\n\0");
}
