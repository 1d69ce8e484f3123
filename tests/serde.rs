//! Feature `serde`: the frame model in stompcat's JSON form, both ways.
//!
//! The expected strings below are written from the documented form: keys `command`, `headers`
//! (`[name, value]` pairs in wire order), `body_hex` (lowercase hex); `{"heartbeat":true}` for
//! a heart-beat.
#![cfg(feature = "serde")]

use bytes::BytesMut;
use proptest::prelude::*;
use serde_json::json;
use stomp_codec::{Command, Decoder, Encoder, Frame, Headers, Item, Version};

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

#[test]
fn a_frame_serializes_to_the_stompcat_line() {
    let frame = Frame::builder(Command::Send)
        .header("destination", "/queue/a")
        .body("hello")
        .build();
    assert_eq!(
        to_json(&frame),
        r#"{"command":"SEND","headers":[["destination","/queue/a"]],"body_hex":"68656c6c6f"}"#
    );
    // The same through Item.
    assert_eq!(to_json(&Item::Frame(frame.clone())), to_json(&frame));
    assert_eq!(to_json(&Item::Heartbeat), r#"{"heartbeat":true}"#);
}

#[test]
fn repeated_headers_keep_wire_order_h6_and_bodies_are_lowercase_hex() {
    // H-6: repeats are kept, in order; the body may hold any octet (F-7), NUL included.
    let frame = Frame::builder(Command::Message)
        .header("k", "first")
        .header("a", "x")
        .header("k", "second")
        .body(vec![0x00, 0xab, 0xff, b'\n'])
        .build();
    let value: serde_json::Value = serde_json::to_value(&frame).unwrap();
    assert_eq!(
        value,
        json!({
            "command": "MESSAGE",
            "headers": [["k", "first"], ["a", "x"], ["k", "second"]],
            "body_hex": "00abff0a"
        })
    );
    // No headers, no body: both fields are still written, empty.
    assert_eq!(
        to_json(&Frame::new(Command::Disconnect)),
        r#"{"command":"DISCONNECT","headers":[],"body_hex":""}"#
    );
}

#[test]
fn special_characters_in_headers_are_json_escaped_not_stomp_escaped_e1() {
    // The model holds unescaped values (E-1 undone by the decoder); JSON has its own escapes.
    let frame = Frame::builder(Command::Send)
        .header("a:b", "line\nbreak\\\"")
        .build();
    assert_eq!(
        to_json(&frame),
        r#"{"command":"SEND","headers":[["a:b","line\nbreak\\\""]],"body_hex":""}"#
    );
    let back: Frame = serde_json::from_str(&to_json(&frame)).unwrap();
    assert_eq!(back, frame);
}

#[test]
fn octets_that_are_not_utf8_become_u_fffd_in_headers_h5() {
    // H-5: headers are UTF-8, but a decoder that is not strict keeps raw octets; the JSON form
    // replaces each bad sequence with U+FFFD.
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(b"MESSAGE\nx\xff:v\xc3\n\nab\0");
    let Some(Item::Frame(frame)) = decoder.next_item().unwrap() else {
        panic!("no frame")
    };
    assert_eq!(
        to_json(&frame),
        concat!(
            "{\"command\":\"MESSAGE\",\"headers\":[[\"x\u{fffd}\",\"v\u{fffd}\"]],",
            "\"body_hex\":\"6162\"}"
        )
    );
}

#[test]
fn extension_commands_round_trip_d1() {
    let frame = Frame::new(Command::extension("PING").unwrap());
    let text = to_json(&frame);
    assert_eq!(text, r#"{"command":"PING","headers":[],"body_hex":""}"#);
    assert_eq!(serde_json::from_str::<Frame>(&text).unwrap(), frame);
    // Names match exactly (D-1): `send` is an extension word, not SEND.
    let lower: Command = serde_json::from_str("\"send\"").unwrap();
    assert_eq!(lower, Command::extension("send").unwrap());
    assert_ne!(lower, Command::Send);
}

#[test]
fn every_standard_command_and_version_round_trips_s1() {
    for command in Command::STANDARD {
        let text = to_json(&command);
        assert_eq!(
            text,
            format!("\"{}\"", std::str::from_utf8(command.as_bytes()).unwrap())
        );
        assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
    }
    for (version, text) in [
        (Version::V1_0, "\"1.0\""),
        (Version::V1_1, "\"1.1\""),
        (Version::V1_2, "\"1.2\""),
    ] {
        assert_eq!(to_json(&version), text);
        assert_eq!(serde_json::from_str::<Version>(text).unwrap(), version);
    }
    for bad in ["\"1.3\"", "\"1\"", "\"v12.stomp\"", "12"] {
        assert!(serde_json::from_str::<Version>(bad).is_err(), "{bad}");
    }
}

#[test]
fn reading_accepts_the_forms_stompcat_encode_accepts() {
    // `body` (text) instead of `body_hex`, upper-case hex, missing headers and body.
    let cases: [(&str, Frame); 4] = [
        (
            r#"{"command":"SEND","body":"hi"}"#,
            Frame::builder(Command::Send).body("hi").build(),
        ),
        (
            r#"{"body_hex":"4A6b","command":"SEND"}"#,
            Frame::builder(Command::Send).body("Jk").build(),
        ),
        (r#"{"command":"BEGIN"}"#, Frame::new(Command::Begin)),
        (
            r#"{"command":"ACK","headers":[["id","1"],["id","2"]]}"#,
            Frame::builder(Command::Ack)
                .header("id", "1")
                .header("id", "2")
                .build(),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            serde_json::from_str::<Frame>(text).unwrap(),
            expected,
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<Item>(text).unwrap(),
            Item::Frame(expected),
            "{text}"
        );
    }
    assert_eq!(
        serde_json::from_str::<Item>(r#"{"heartbeat":true}"#).unwrap(),
        Item::Heartbeat
    );
}

#[test]
fn reading_refuses_malformed_frames() {
    let cases = [
        ("[1,2]", "invalid type: sequence"),
        (r#"{"headers":[]}"#, "missing field `command`"),
        (r#"{"command":5}"#, "invalid type"),
        (r#"{"command":""}"#, "STOMP command"),
        (r#"{"command":"SEND NOW"}"#, "STOMP command"),
        (r#"{"command":"SEND","headers":[["a"]]}"#, "invalid length"),
        (r#"{"command":"SEND","headers":[["a","b","c"]]}"#, ""),
        (r#"{"command":"SEND","headers":{"a":"b"}}"#, "invalid type"),
        (r#"{"command":"SEND","headers":[[1,"b"]]}"#, "invalid type"),
        (r#"{"command":"SEND","body_hex":"abc"}"#, "odd number"),
        (r#"{"command":"SEND","body_hex":"zz"}"#, "non-hex"),
        (
            r#"{"command":"SEND","body_hex":"00","body":"x"}"#,
            "not both",
        ),
        (
            r#"{"command":"SEND","header":[]}"#,
            "unknown field `header`",
        ),
        (r#"{"command":"SEND","command":"ACK"}"#, "duplicate field"),
        (r#"{"command":"SEND","body":5}"#, "invalid type"),
    ];
    for (text, reason) in cases {
        let err = serde_json::from_str::<Frame>(text)
            .expect_err(text)
            .to_string();
        assert!(err.contains(reason), "{text}: {err}");
        assert!(serde_json::from_str::<Item>(text).is_err(), "{text}");
    }
}

#[test]
fn a_frame_is_not_a_heartbeat_and_a_heartbeat_is_exactly_one_key() {
    // `heartbeat` is a key of Item, not of Frame.
    let err = serde_json::from_str::<Frame>(r#"{"heartbeat":true}"#).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `heartbeat`"),
        "{err}"
    );
    for bad in [
        r#"{"heartbeat":false}"#,
        r#"{"heartbeat":true,"command":"SEND"}"#,
        r#"{"command":"SEND","heartbeat":true}"#,
        r#"{"heartbeat":1}"#,
    ] {
        assert!(serde_json::from_str::<Item>(bad).is_err(), "{bad}");
    }
}

/// Header text without the characters JSON cannot carry losslessly: any UTF-8.
fn header_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect())
}

fn any_frame() -> impl Strategy<Value = Frame> {
    let command = prop_oneof![
        proptest::sample::select(Command::STANDARD.to_vec()),
        "[!-~]{1,10}".prop_map(|w| Command::from_bytes(w.as_bytes())
            .or_else(|| Command::extension(w))
            .unwrap()),
    ];
    (
        command,
        proptest::collection::vec((header_text(), header_text()), 0..6),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(command, headers, body)| {
            let mut frame = Frame::new(command);
            for (n, v) in &headers {
                frame.headers_mut().push(n, v);
            }
            frame.set_body(body);
            frame
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any frame with UTF-8 headers survives JSON and back unchanged.
    #[test]
    fn frames_round_trip_through_json(frame in any_frame()) {
        let text = to_json(&frame);
        let back: Frame = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &frame);
        let item: Item = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(item, Item::Frame(frame));
    }

    /// Wire → decoder → JSON → frame → encoder: the same wire bytes (1.2, UTF-8 headers).
    #[test]
    fn decoded_frames_re_encode_identically_after_json(
        headers in proptest::collection::vec(("[a-z:\\\\\n]{1,6}", "[a-z:\\\\\n]{0,6}"), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut frame = Frame::new(Command::Send);
        for (n, v) in &headers {
            frame.headers_mut().push(n, v);
        }
        frame.set_body(body);
        let encoder = Encoder::new(Version::V1_2);
        let mut wire = BytesMut::new();
        encoder.encode(&frame, &mut wire).unwrap();
        let mut decoder = Decoder::new(Version::V1_2);
        decoder.push(&wire);
        let Some(Item::Frame(decoded)) = decoder.next_item().unwrap() else {
            panic!("no frame")
        };
        let back: Frame = serde_json::from_str(&to_json(&decoded)).unwrap();
        let mut again = BytesMut::new();
        encoder.encode(&back, &mut again).unwrap();
        prop_assert_eq!(&again[..], &wire[..]);
    }
}

#[test]
fn headers_serialize_alone_as_pairs() {
    let headers: Headers = [("a", "1"), ("b", "2")].into_iter().collect();
    assert_eq!(to_json(&headers), r#"[["a","1"],["b","2"]]"#);
    assert_eq!(
        serde_json::from_str::<Headers>(r#"[["a","1"],["b","2"]]"#).unwrap(),
        headers
    );
}
