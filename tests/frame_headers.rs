//! Typed header accessors on `Frame` (first occurrence wins, H-6; parsed values D-9, D-19),
//! the header-name constants (H-9), and editing header lists: builder, `Headers` and
//! `HeadersMut` give the same lists as the wire, in order, repeats kept.

use bytes::BytesMut;
use stomp_codec::header::{self, HeaderValueError};
use stomp_codec::{Command, Decoder, Encoder, Frame, Headers, Heartbeat, Item, Version};

/// Decodes one frame from `wire` (1.2 rules).
fn decode(wire: &[u8]) -> Frame {
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(wire);
    match decoder.next_item() {
        Ok(Some(Item::Frame(frame))) => frame,
        other => panic!(
            "expected a frame from {:?}, got {other:?}",
            wire.escape_ascii()
        ),
    }
}

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    Encoder::new(Version::V1_2).encode(frame, &mut out).unwrap();
    out.to_vec()
}

/// The byte accessors, each with the header it reads.
type Accessor = fn(&Frame) -> Option<&[u8]>;
const ACCESSORS: [(&str, Accessor); 9] = [
    ("destination", Frame::destination),
    ("content-type", Frame::content_type),
    ("message-id", Frame::message_id),
    ("subscription", Frame::subscription),
    ("ack", Frame::ack),
    ("id", Frame::id),
    ("receipt", Frame::receipt),
    ("receipt-id", Frame::receipt_id),
    ("transaction", Frame::transaction),
];

#[test]
fn header_name_constants_are_the_lowercase_wire_names_h9() {
    let names = [
        (header::ACCEPT_VERSION, "accept-version"),
        (header::ACK, "ack"),
        (header::CONTENT_LENGTH, "content-length"),
        (header::CONTENT_TYPE, "content-type"),
        (header::DESTINATION, "destination"),
        (header::HEART_BEAT, "heart-beat"),
        (header::HOST, "host"),
        (header::ID, "id"),
        (header::LOGIN, "login"),
        (header::MESSAGE, "message"),
        (header::MESSAGE_ID, "message-id"),
        (header::PASSCODE, "passcode"),
        (header::RECEIPT, "receipt"),
        (header::RECEIPT_ID, "receipt-id"),
        (header::SERVER, "server"),
        (header::SESSION, "session"),
        (header::SUBSCRIPTION, "subscription"),
        (header::TRANSACTION, "transaction"),
        (header::VERSION, "version"),
    ];
    for (constant, spelled) in names {
        assert_eq!(constant, spelled);
    }
}

/// Each accessor reads its own header and nothing else; absent is `None`.
#[test]
fn each_accessor_reads_its_header_s3_s13_r2() {
    for (name, accessor) in ACCESSORS {
        let frame = Frame::builder(Command::Message)
            .header("x-other", "noise")
            .header(name, format!("value of {name}"))
            .build();
        assert_eq!(
            accessor(&frame),
            Some(format!("value of {name}").as_bytes()),
            "{name}"
        );
        // Every other accessor finds nothing.
        for (other, other_accessor) in ACCESSORS {
            if other != name {
                assert_eq!(
                    other_accessor(&frame),
                    None,
                    "{other} on a frame with {name}"
                );
            }
        }
        assert_eq!(accessor(&Frame::new(Command::Message)), None, "{name}");
    }
}

/// A repeated header's first occurrence is its value (H-6), on a built frame and on a
/// decoded one; names are matched exactly (H-9).
#[test]
fn accessors_return_the_first_occurrence_h6_h9() {
    for (name, accessor) in ACCESSORS {
        let upper = name.to_ascii_uppercase();
        let built = Frame::builder(Command::Message)
            .header(&upper, "not it")
            .header(name, "first")
            .header(name, "second")
            .build();
        assert_eq!(accessor(&built), Some(&b"first"[..]), "{name}");
        let wire = format!("MESSAGE\n{upper}:not it\n{name}:first\n{name}:second\n\n\0");
        assert_eq!(
            accessor(&decode(wire.as_bytes())),
            Some(&b"first"[..]),
            "{name}"
        );
    }
}

/// A decoded value is returned unescaped (E-3), and a value the spec leaves opaque is given
/// as octets even when it is not UTF-8 (D-11).
#[test]
fn accessors_return_unescaped_octets_e3_d11() {
    let frame = decode(b"MESSAGE\ndestination:/queue/a\\cb\\\\c\nmessage-id:\xff\xfe\n\n\0");
    assert_eq!(frame.destination(), Some(&b"/queue/a:b\\c"[..]));
    assert_eq!(frame.message_id(), Some(&b"\xff\xfe"[..]));
}

#[test]
fn content_length_is_parsed_and_absent_differs_from_malformed_d9_h1() {
    assert_eq!(Frame::new(Command::Send).content_length(), Ok(None));
    let frame = decode(b"SEND\ncontent-length:5\n\nhello\0");
    assert_eq!(frame.content_length(), Ok(Some(5)));
    let max = Frame::builder(Command::Send)
        .header("content-length", "18446744073709551615")
        .build();
    assert_eq!(max.content_length(), Ok(Some(u64::MAX)));
    // Leading zeros are digits too (D-9).
    let padded = Frame::builder(Command::Send)
        .header("content-length", "007")
        .build();
    assert_eq!(padded.content_length(), Ok(Some(7)));
    for bad in [
        "",
        " 5",
        "5 ",
        "+5",
        "-1",
        "0x10",
        "5a",
        "18446744073709551616",
    ] {
        let frame = Frame::builder(Command::Send)
            .header("content-length", bad)
            .build();
        let err = frame.content_length().unwrap_err();
        assert_eq!(
            err,
            HeaderValueError::ContentLength { value: bad.into() },
            "{bad:?}"
        );
        assert_eq!(err.header(), "content-length");
        assert!(err.to_string().contains("content-length"), "{err}");
    }
    // The name is exact (H-9): `Content-Length` is a user header.
    let other = Frame::builder(Command::Send)
        .header("Content-Length", "x")
        .build();
    assert_eq!(other.content_length(), Ok(None));
}

/// Repeats: the first wins (H-6), even when a later one would parse and the first does not.
#[test]
fn content_length_uses_the_first_entry_h6() {
    let frame = Frame::builder(Command::Send)
        .header("content-length", "3")
        .header("content-length", "4")
        .build();
    assert_eq!(frame.content_length(), Ok(Some(3)));
    let frame = Frame::builder(Command::Send)
        .header("content-length", "three")
        .header("content-length", "3")
        .build();
    assert!(matches!(
        frame.content_length(),
        Err(HeaderValueError::ContentLength { value }) if value == "three"
    ));
}

#[test]
fn heartbeat_is_parsed_and_absent_differs_from_malformed_b1_b2_d19() {
    assert_eq!(Frame::new(Command::Connected).heartbeat(), Ok(None));
    let frame = decode(b"CONNECTED\nversion:1.2\nheart-beat:0,10000\nheart-beat:5,5\n\n\0");
    // First occurrence (H-6).
    assert_eq!(frame.heartbeat(), Ok(Some(Heartbeat::new(0, 10000))));
    for bad in [
        "",
        "1",
        "1,",
        ",1",
        "1, 2",
        "1,2,3",
        "4294967296,0",
        "a,b",
        "\u{e9}",
    ] {
        let frame = Frame::builder(Command::Connect)
            .header("heart-beat", bad)
            .build();
        let err = frame.heartbeat().unwrap_err();
        assert!(
            matches!(&err, HeaderValueError::Heartbeat { .. }),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.header(), "heart-beat");
    }
    // A value too long to show is cut (at most 64 octets and an ellipsis).
    let long = "9".repeat(200);
    let frame = Frame::builder(Command::Connect)
        .header("heart-beat", &long)
        .build();
    let Err(HeaderValueError::Heartbeat { value }) = frame.heartbeat() else {
        panic!("expected a heart-beat error")
    };
    assert_eq!(value, format!("{}...", &long[..64]));
}

/// Edits of a decoded frame's headers: entries keep their order, repeats stay (H-6), removed
/// ones are gone from the wire, and the body stays where it was.
#[test]
fn editing_a_decoded_frame_keeps_order_and_body_h6() {
    let mut frame = decode(b"MESSAGE\ndestination:/q\nx-a:1\nx-b:2\nx-a:3\n\nbody\0");
    {
        let mut headers = frame.headers_mut();
        headers.push("x-c", "4");
        assert_eq!(headers.remove("x-a"), 2);
        headers.push("x-a", "5");
        headers.set("x-b", "6");
        headers.extend([("x-d", "7"), ("x-d", "8")]);
        assert_eq!(headers.get("x-d"), Some(&b"7"[..]));
    }
    assert_eq!(frame.body(), b"body");
    assert_eq!(
        encode(&frame),
        b"MESSAGE\ndestination:/q\nx-c:4\nx-a:5\nx-b:6\nx-d:7\nx-d:8\ncontent-length:4\n\nbody\0"
    );
    // A clone is equal, and independent of later edits.
    let copy = frame.clone();
    assert_eq!(copy, frame);
    frame.headers_mut().push("x-e", "9");
    assert_eq!(copy.headers().len(), 6);
    assert_eq!(frame.headers().len(), 7);
    assert_eq!(frame.headers().get_bytes("x-e").as_deref(), Some(&b"9"[..]));
}

/// Many single pushes onto one list give every entry back in order.
#[test]
fn thousands_of_pushes_keep_every_entry_in_order() {
    let mut headers = Headers::new();
    let mut built = Frame::builder(Command::Send);
    for i in 0..5000 {
        headers.push(format!("x-{i}"), format!("{i}"));
        built = built.header(format!("x-{i}"), format!("{i}"));
    }
    let built = built.build();
    assert_eq!(headers.len(), 5000);
    assert_eq!(&headers, built.headers());
    for (i, (name, value)) in headers.iter().enumerate() {
        assert_eq!(name, format!("x-{i}").as_bytes());
        assert_eq!(value, format!("{i}").as_bytes());
    }
    let collected: Headers = (0..5000)
        .map(|i| (format!("x-{i}"), format!("{i}")))
        .collect();
    assert_eq!(collected, headers);
}

/// The builder's `header` and `headers` append in call order; the frame encodes as such.
#[test]
fn builder_appends_in_call_order_f1() {
    let frame = Frame::builder(Command::Send)
        .header(header::DESTINATION, "/queue/a")
        .headers([("x-1", "a"), ("x-2", "b")])
        .header("x-1", "c")
        .body("hi")
        .build();
    assert_eq!(
        encode(&frame),
        b"SEND\ndestination:/queue/a\nx-1:a\nx-2:b\nx-1:c\ncontent-length:2\n\nhi\0"
    );
}
