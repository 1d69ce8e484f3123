//! The encoder: output form (F-1, F-2, D-25), escaping (E-1 to E-6), refusals (E-9, H-2, F-9,
//! D-25, D-1) and round trips through the decoder.

mod common;

use bytes::BytesMut;
use common::*;
use stomp_codec::{Command, Decoder, EncodeError, Encoder, Frame, Item, Unrepresentable, Version};

const ALL: [Version; 3] = Version::ALL;

/// Encodes with an `Encoder` and checks that `encoded_len` agrees.
fn enc(frame: &Frame, v: Version) -> Result<Vec<u8>, EncodeError> {
    let encoder = Encoder::new(v);
    let mut out = BytesMut::new();
    let result = encoder.encode(frame, &mut out);
    assert_eq!(
        encoder.encoded_len(frame),
        result.clone().map(|_| out.len())
    );
    match result {
        Ok(()) => Ok(out.to_vec()),
        Err(e) => {
            assert!(out.is_empty(), "nothing is written for a refused frame");
            Err(e)
        }
    }
}

fn unrepresentable(header: &str, v: Version, reason: Unrepresentable) -> EncodeError {
    EncodeError::Unrepresentable {
        header: header.into(),
        version: v,
        reason,
    }
}

// ---------------------------------------------------------------------------------------------
// F-1, F-2, D-25: output form.

#[test]
fn f1_f2_d25_lf_line_ends_content_length_last_nothing_after_nul() {
    let f = Frame::builder(Command::Send)
        .header("destination", "/queue/a")
        .header("content-type", "text/plain")
        .body("hello")
        .build();
    for v in ALL {
        assert_eq!(
            enc(&f, v).unwrap(),
            b"SEND\ndestination:/queue/a\ncontent-type:text/plain\ncontent-length:5\n\nhello\0",
            "{v}"
        );
    }
}

#[test]
fn d25_no_content_length_for_an_empty_body() {
    let f = Frame::builder(Command::Disconnect)
        .header("receipt", "r-1")
        .build();
    for v in ALL {
        assert_eq!(enc(&f, v).unwrap(), b"DISCONNECT\nreceipt:r-1\n\n\0", "{v}");
    }
    // F-6: no headers at all.
    assert_eq!(
        enc(&Frame::new(Command::Send), Version::V1_2).unwrap(),
        b"SEND\n\n\0"
    );
}

#[test]
fn d25_caller_content_length_that_matches_is_kept_in_place() {
    let f = Frame::builder(Command::Message)
        .header("content-length", "3")
        .header("x", "y")
        .body(&b"a\0b"[..])
        .build();
    for v in ALL {
        assert_eq!(
            enc(&f, v).unwrap(),
            b"MESSAGE\ncontent-length:3\nx:y\n\na\0b\0",
            "{v}"
        );
    }
    let empty = Frame::builder(Command::Receipt)
        .header("receipt-id", "1")
        .header("content-length", "0")
        .build();
    assert_eq!(
        enc(&empty, Version::V1_2).unwrap(),
        b"RECEIPT\nreceipt-id:1\ncontent-length:0\n\n\0"
    );
}

#[test]
fn d25_caller_content_length_that_disagrees_is_refused() {
    for (declared, body) in [
        ("4", "abc"),
        ("2", "abc"),
        ("abc", "abc"),
        ("", ""),
        (" 3", "abc"),
    ] {
        let f = Frame::builder(Command::Send)
            .header("content-length", declared)
            .body(body)
            .build();
        for v in ALL {
            assert_eq!(
                enc(&f, v),
                Err(EncodeError::ContentLengthMismatch {
                    declared: declared.into(),
                    actual: body.len()
                }),
                "{v} {declared:?}"
            );
        }
    }
    // A second, disagreeing entry is refused too (D-9 would reject the frame on decode).
    let f = Frame::builder(Command::Send)
        .header("content-length", "3")
        .header("content-length", "4")
        .body("abc")
        .build();
    assert!(matches!(
        enc(&f, Version::V1_2),
        Err(EncodeError::ContentLengthMismatch { actual: 3, .. })
    ));
}

#[test]
fn d25_h9_other_case_content_length_is_a_user_header() {
    let f = Frame::builder(Command::Send)
        .header("Content-Length", "99")
        .body("abc")
        .build();
    assert_eq!(
        enc(&f, Version::V1_2).unwrap(),
        b"SEND\nContent-Length:99\ncontent-length:3\n\nabc\0"
    );
}

#[test]
fn d25_omit_content_length() {
    let f = Frame::builder(Command::Send)
        .header("destination", "/q")
        .body("hello")
        .omit_content_length()
        .build();
    assert!(f.omits_content_length());
    for v in ALL {
        assert_eq!(
            enc(&f, v).unwrap(),
            b"SEND\ndestination:/q\n\nhello\0",
            "{v}"
        );
    }
}

#[test]
fn d25_encode_appends_to_the_buffer() {
    let mut out = BytesMut::from(&b"\n"[..]);
    let e = Encoder::new(Version::V1_2);
    e.encode(&Frame::new(Command::Disconnect), &mut out)
        .unwrap();
    e.encode(&Frame::new(Command::Disconnect), &mut out)
        .unwrap();
    assert_eq!(&out[..], b"\nDISCONNECT\n\n\0DISCONNECT\n\n\0");
}

// ---------------------------------------------------------------------------------------------
// H-2: a NUL in the body needs content-length.

#[test]
fn h2_nul_in_body_gets_content_length_by_default() {
    let f = Frame::builder(Command::Send).body(&b"\0\0"[..]).build();
    for v in ALL {
        assert_eq!(
            enc(&f, v).unwrap(),
            b"SEND\ncontent-length:2\n\n\0\0\0",
            "{v}"
        );
    }
}

#[test]
fn h2_nul_in_body_with_content_length_omitted_is_refused() {
    let f = Frame::builder(Command::Message)
        .body(&b"ab\0c"[..])
        .omit_content_length()
        .build();
    for v in ALL {
        assert_eq!(
            enc(&f, v),
            Err(EncodeError::NulInBody { position: 2 }),
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// F-9: bodies only on SEND, MESSAGE, ERROR in 1.1/1.2.

#[test]
fn f9_encoder_refuses_a_body_on_other_commands_in_1_1_and_1_2() {
    for c in [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Receipt,
    ] {
        let f = Frame::builder(c.clone()).body("x").build();
        for v in [Version::V1_1, Version::V1_2] {
            assert_eq!(
                enc(&f, v),
                Err(EncodeError::BodyNotAllowed {
                    command: c.clone(),
                    version: v
                }),
                "{v} {c}"
            );
        }
        // An empty body, even with content-length:0, is fine.
        let f = Frame::builder(c.clone())
            .header("content-length", "0")
            .build();
        let mut expected = c.as_bytes().to_vec();
        expected.extend_from_slice(b"\ncontent-length:0\n\n\0");
        for v in [Version::V1_1, Version::V1_2] {
            assert_eq!(enc(&f, v).unwrap(), expected, "{v} {c}");
        }
    }
}

#[test]
fn f9_encoder_allows_a_body_on_any_1_0_command() {
    let f = Frame::builder(Command::Subscribe)
        .header("destination", "/q")
        .body("x")
        .build();
    assert_eq!(
        enc(&f, Version::V1_0).unwrap(),
        b"SUBSCRIBE\ndestination:/q\ncontent-length:1\n\nx\0"
    );
}

// ---------------------------------------------------------------------------------------------
// E-1 to E-6: escaping on output.

#[test]
fn e2_escaping_in_1_1() {
    let f = Frame::builder(Command::Message)
        .header("x", "a:b\\c\nd")
        .build();
    assert_eq!(
        enc(&f, Version::V1_1).unwrap(),
        b"MESSAGE\nx:a\\cb\\\\c\\nd\n\n\0"
    );
}

#[test]
fn e3_escaping_in_1_2_adds_cr() {
    let f = Frame::builder(Command::Message)
        .header("x", "a:b\\c\nd\re")
        .build();
    assert_eq!(
        enc(&f, Version::V1_2).unwrap(),
        b"MESSAGE\nx:a\\cb\\\\c\\nd\\re\n\n\0"
    );
}

#[test]
fn e2_backslash_is_escaped_once() {
    // `\n` as two characters (backslash, n) must come out as `\\n`, not as a line feed escape.
    let f = Frame::builder(Command::Send).header("x", "\\n\\c").build();
    for v in [Version::V1_1, Version::V1_2] {
        assert_eq!(enc(&f, v).unwrap(), b"SEND\nx:\\\\n\\\\c\n\n\0", "{v}");
    }
}

#[test]
fn e6_names_are_escaped_too() {
    let f = Frame::builder(Command::Send).header("a:b\nc", "v").build();
    for v in [Version::V1_1, Version::V1_2] {
        assert_eq!(enc(&f, v).unwrap(), b"SEND\na\\cb\\nc:v\n\n\0", "{v}");
    }
}

#[test]
fn e1_no_escaping_in_1_0() {
    let f = Frame::builder(Command::Send)
        .header("x", "a:b\\c")
        .header("path", "C:\\dir")
        .build();
    assert_eq!(
        enc(&f, Version::V1_0).unwrap(),
        b"SEND\nx:a:b\\c\npath:C:\\dir\n\n\0"
    );
}

#[test]
fn e5_d7_connect_stomp_connected_are_written_raw() {
    for c in [Command::Connect, Command::Stomp, Command::Connected] {
        let f = Frame::builder(c.clone())
            .header("login", "us\\er")
            .header("passcode", "a:b\\c")
            .build();
        let mut expected = c.as_bytes().to_vec();
        expected.extend_from_slice(b"\nlogin:us\\er\npasscode:a:b\\c\n\n\0");
        for v in ALL {
            assert_eq!(enc(&f, v).unwrap(), expected, "{v} {c}");
        }
    }
}

#[test]
fn f2_output_never_contains_cr() {
    let f = Frame::builder(Command::Message)
        .header("a\rb", "c\r\nd")
        .body("x")
        .build();
    let out = enc(&f, Version::V1_2).unwrap();
    assert!(!out.contains(&b'\r'));
    assert_eq!(out, b"MESSAGE\na\\rb:c\\r\\nd\ncontent-length:1\n\nx\0");
}

// ---------------------------------------------------------------------------------------------
// E-9: unrepresentable headers.

#[test]
fn e9_lf_or_trailing_cr_in_a_1_0_header() {
    // E-9 (corrected): LF cannot be written in 1.0; a CR only where it would end the value.
    for (name, value, reason) in [
        ("x", "a\nb", Unrepresentable::LineFeed),
        ("x", "a\r", Unrepresentable::TrailingCarriageReturn),
        ("x", "a\r\nb", Unrepresentable::LineFeed),
    ] {
        let f = Frame::builder(Command::Send).header(name, value).build();
        assert_eq!(
            enc(&f, Version::V1_0),
            Err(unrepresentable(name, Version::V1_0, reason)),
            "{value:?}"
        );
    }
    let f = Frame::builder(Command::Send).header("a\nb", "v").build();
    assert!(matches!(
        enc(&f, Version::V1_0),
        Err(EncodeError::Unrepresentable {
            reason: Unrepresentable::LineFeed,
            version: Version::V1_0,
            ..
        })
    ));
    // E-9, D-3: a CR inside the value is an ordinary octet, written raw.
    let f = Frame::builder(Command::Send).header("x", "a\rb").build();
    assert_eq!(
        enc(&f, Version::V1_0).unwrap(),
        b"SEND\nx:a\rb\n\n\0".to_vec()
    );
}

#[test]
fn e9_lf_or_cr_in_connect_stomp_connected_headers() {
    for c in [Command::Connect, Command::Stomp, Command::Connected] {
        for v in ALL {
            let f = Frame::builder(c.clone()).header("login", "a\nb").build();
            assert_eq!(
                enc(&f, v),
                Err(unrepresentable("login", v, Unrepresentable::LineFeed)),
                "{v} {c}"
            );
            // No escaping in these frames (E-5): 1.2 cannot carry a CR in them at all (D-3);
            // 1.0 and 1.1 write it raw unless it would end the value (E-9).
            let f = Frame::builder(c.clone()).header("login", "a\rb").build();
            let trailing = Frame::builder(c.clone()).header("login", "a\r").build();
            if v == Version::V1_2 {
                let cr = Err(unrepresentable("login", v, Unrepresentable::CarriageReturn));
                assert_eq!(enc(&f, v), cr, "{v} {c}");
                assert_eq!(enc(&trailing, v), cr, "{v} {c}");
            } else {
                let mut wire = c.as_bytes().to_vec();
                wire.extend_from_slice(b"\nlogin:a\rb\n\n\0");
                assert_eq!(enc(&f, v), Ok(wire), "{v} {c}");
                assert_eq!(
                    enc(&trailing, v),
                    Err(unrepresentable(
                        "login",
                        v,
                        Unrepresentable::TrailingCarriageReturn
                    )),
                    "{v} {c}"
                );
            }
        }
    }
}

#[test]
fn e9_d3_cr_in_a_1_1_header_is_written_raw() {
    // Corrected E-9: 1.1 has no `\r` escape, but its grammar allows a raw CR in a value.
    let f = Frame::builder(Command::Send).header("x", "a\rb").build();
    assert_eq!(
        enc(&f, Version::V1_1).unwrap(),
        b"SEND\nx:a\rb\n\n\0".to_vec()
    );
    // Escapes still apply around it (E-2).
    let f = Frame::builder(Command::Send)
        .header("x\r:", "a\r:b")
        .build();
    assert_eq!(
        enc(&f, Version::V1_1).unwrap(),
        b"SEND\nx\r\\c:a\r\\cb\n\n\0".to_vec()
    );
    // 1.2 escapes it (E-3).
    let f = Frame::builder(Command::Send).header("x", "a\rb").build();
    assert_eq!(
        enc(&f, Version::V1_2).unwrap(),
        b"SEND\nx:a\\rb\n\n\0".to_vec()
    );
}

/// E-9: a CR as a value's last octet, in 1.0 and 1.1, is refused with its own reason (it would
/// read back as the CR of a CRLF, D-3); a CR last in a *name* is followed by the colon and is
/// fine.
#[test]
fn e9_d3_trailing_cr_in_a_1_0_or_1_1_value_is_refused() {
    for v in [Version::V1_0, Version::V1_1] {
        for value in ["\r", "a\r", "a\rb\r", "\r\r"] {
            let f = Frame::builder(Command::Send)
                .header("ok", "v")
                .header("x-cr", value)
                .build();
            assert_eq!(
                enc(&f, v),
                Err(unrepresentable(
                    "x-cr",
                    v,
                    Unrepresentable::TrailingCarriageReturn
                )),
                "{v} {value:?}"
            );
        }
        let f = Frame::builder(Command::Send).header("x\r", "v").build();
        assert_eq!(enc(&f, v).unwrap(), b"SEND\nx\r:v\n\n\0".to_vec(), "{v}");
    }
    // The error says why.
    let reason = Unrepresentable::TrailingCarriageReturn.to_string();
    assert!(reason.contains("CRLF"), "{reason}");
}

/// E-9, D-3: a name or value with CRs anywhere but at a value's end, encoded in 1.0 or 1.1 and
/// decoded in the same version, comes back as it was, however the wire is split (F-11).
#[test]
fn e9_d3_inner_cr_round_trips_in_1_0_and_1_1() {
    let texts: [&[u8]; 7] = [
        b"a\rb",
        b"\rab",
        b"a\r\rb",
        b"\r\rx",
        b"a\r\\b",
        b"a\rb:c",
        b"x\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\ry",
    ];
    for v in [Version::V1_0, Version::V1_1] {
        for text in texts {
            for command in [Command::Send, Command::Connect, Command::Message] {
                // 1.0 cannot write a colon in a name, nor 1.1 in an unescaped CONNECT's.
                let name_ok =
                    !text.contains(&b':') || (v == Version::V1_1 && command != Command::Connect);
                let mut builder = Frame::builder(command.clone()).header("x-cr", text);
                if name_ok {
                    builder = builder.header(text, "v");
                }
                let f = builder.build();
                let wire = enc(&f, v).unwrap_or_else(|e| panic!("{v} {command} {text:?}: {e}"));
                let items = check_v(v, &wire).ok();
                assert_eq!(
                    items,
                    vec![Item::Frame(f.clone())],
                    "{v} {command} {text:?}"
                );
            }
        }
    }
}

/// The case of the issue: a 1.2 publisher's header `x-cr:a\rb` (escaped on its wire) is
/// relayed to a 1.1 subscriber, raw on that wire, and reads back the same (E-3, E-9, D-3).
#[test]
fn e9_d3_a_1_2_cr_is_relayed_to_a_1_1_subscriber() {
    let published = b"SEND\ndestination:/queue/a\nx-cr:a\\rb\n\n\0";
    let mut dec = Decoder::new(Version::V1_2);
    dec.push(published);
    let Ok(Some(Item::Frame(frame))) = dec.next_item() else {
        panic!("the 1.2 frame decodes");
    };
    assert_eq!(frame.headers().get("x-cr"), Some(&b"a\rb"[..]));
    let relayed = enc(&frame, Version::V1_1).unwrap();
    assert_eq!(
        relayed,
        b"SEND\ndestination:/queue/a\nx-cr:a\rb\n\n\0".to_vec()
    );
    let items = check_v(Version::V1_1, &relayed).ok();
    assert_eq!(items, vec![Item::Frame(frame)]);
}

#[test]
fn e9_colon_in_a_name_where_escaping_is_off() {
    let f = Frame::builder(Command::Send).header("a:b", "v").build();
    assert_eq!(
        enc(&f, Version::V1_0),
        Err(unrepresentable(
            "a:b",
            Version::V1_0,
            Unrepresentable::ColonInName
        ))
    );
    for c in [Command::Connect, Command::Stomp, Command::Connected] {
        let f = Frame::builder(c.clone()).header("a:b", "v").build();
        for v in ALL {
            assert_eq!(
                enc(&f, v),
                Err(unrepresentable("a:b", v, Unrepresentable::ColonInName)),
                "{v} {c}"
            );
        }
    }
}

#[test]
fn f4_empty_header_name_is_refused() {
    let f = Frame::builder(Command::Send).header("", "v").build();
    for v in ALL {
        assert_eq!(
            enc(&f, v),
            Err(unrepresentable("", v, Unrepresentable::EmptyName)),
            "{v}"
        );
    }
}

#[test]
fn d15_nul_in_a_header_is_refused() {
    for v in ALL {
        let f = Frame::builder(Command::Send).header("x", "a\0b").build();
        assert_eq!(
            enc(&f, v),
            Err(unrepresentable("x", v, Unrepresentable::Nul)),
            "{v}"
        );
        let f = Frame::builder(Command::Connect).header("x", "\0").build();
        assert_eq!(
            enc(&f, v),
            Err(unrepresentable("x", v, Unrepresentable::Nul)),
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// D-1: extension commands on output.

#[test]
fn d1_extension_commands_are_written_when_well_formed() {
    let f = Frame::builder(Command::extension("PING").unwrap())
        .header("x", "a:b")
        .build();
    assert_eq!(
        enc(&f, Version::V1_2).unwrap(),
        b"PING\nx:a\\cb\n\n\0".to_vec()
    );
}

#[test]
fn d1_malformed_extension_commands_are_refused() {
    for word in [&b""[..], b"A B", b"SEND", b"P\xc3\x89NG", b"P\nING"] {
        let f = Frame::new(Command::Extension(word.into()));
        assert!(
            matches!(
                enc(&f, Version::V1_2),
                Err(EncodeError::InvalidCommand { .. })
            ),
            "{:?}",
            word.escape_ascii().to_string()
        );
    }
    let long = Frame::new(Command::Extension(vec![b'X'; 65].into()));
    assert!(matches!(
        enc(&long, Version::V1_2),
        Err(EncodeError::InvalidCommand { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Round trips: decode(encode(frame)) and encode(decode(bytes)).

/// Frames representable in `v`, covering escapes, repeats, empty values, NULs in bodies.
fn sample_frames(v: Version) -> Vec<Frame> {
    let mut frames = vec![
        Frame::new(Command::Disconnect),
        Frame::builder(Command::Connect)
            .header("accept-version", "1.0,1.1,1.2")
            .header("host", "/")
            .header("passcode", "p:a\\ss")
            .build(),
        Frame::builder(Command::Send)
            .header("destination", "/queue/a")
            .header("x", "")
            .header("x", "second")
            .header(" sp ", " kept ")
            .body(&b"bin\0ary\xff"[..])
            .build(),
        Frame::builder(Command::Message)
            .header("content-length", "4")
            .header("subscription", "0")
            .body("text")
            .build(),
        Frame::builder(Command::Error)
            .header("message", "café ✓")
            .body("no nul")
            .omit_content_length()
            .build(),
        Frame::builder(Command::Receipt)
            .header("receipt-id", "77")
            .build(),
    ];
    if v != Version::V1_0 {
        frames.push(
            Frame::builder(Command::Message)
                .header("a:b", "c\nd\\e:")
                .header("\\", "\n")
                .body("x")
                .build(),
        );
    }
    if v == Version::V1_2 {
        frames.push(
            Frame::builder(Command::Ack)
                .header("id", "ID:vm-1:2\r")
                .build(),
        );
    }
    frames
}

/// What the decoder must give back for `f`: the same frame, plus the `content-length` the
/// encoder adds as the last header for a non-empty body (D-25).
fn expected_after_round_trip(f: &Frame) -> Frame {
    let mut expected = Frame::builder(f.command().clone())
        .headers(f.headers().iter())
        .body(f.body_bytes())
        .build();
    let has_length = f.headers().contains("content-length");
    if !f.body().is_empty() && !has_length && !f.omits_content_length() {
        expected
            .headers_mut()
            .push("content-length", f.body().len().to_string());
    }
    expected
}

#[test]
fn d25_f11_round_trip_decode_of_encode_in_every_version() {
    for v in ALL {
        let frames = sample_frames(v);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for f in &frames {
            Encoder::new(v).encode(f, &mut wire).unwrap();
            expected.push(Item::Frame(expected_after_round_trip(f)));
        }
        let items = check_v(v, &wire).ok();
        assert_eq!(items, expected, "{v}");
    }
}

#[test]
fn d25_e1_e3_round_trip_encode_of_decode_gives_the_same_bytes() {
    // Canonical wire forms (LF line ends, escapes as the encoder writes them, content-length
    // present on non-empty bodies).
    let cases: [(&[u8], Version); 5] = [
        (
            b"MESSAGE\ndestination:/q\nx:a\\cb\\\\c\\nd\\re\ncontent-length:3\n\na\0b\0",
            Version::V1_2,
        ),
        (
            b"SEND\nx:a\\cb\\\\c\\nd\ncontent-length:0\n\n\0",
            Version::V1_1,
        ),
        (b"SEND\nx:a:b\\c\\t\n\n\0", Version::V1_0),
        (b"CONNECT\npasscode:a:b\\c\n\n\0", Version::V1_2),
        (
            b"ERROR\ncontent-length:5\nmessage:m\n\nerror\0",
            Version::V1_2,
        ),
    ];
    for (input, v) in cases {
        let mut dec = Decoder::new(v);
        dec.push(input);
        let Ok(Some(Item::Frame(f))) = dec.next_item() else {
            panic!("{v}: {:?}", input.escape_ascii().to_string());
        };
        assert_eq!(enc(&f, v).unwrap(), input, "{v}");
    }
}

/// F-9, D-1: extension commands are held to F-9 like the standard bodiless ones.
#[test]
fn f9_d1_encoder_refuses_a_body_on_extension_commands_in_1_1_and_1_2() {
    let ping = Command::extension("PING").unwrap();
    let f = Frame::builder(ping.clone()).body("x").build();
    for v in [Version::V1_1, Version::V1_2] {
        assert_eq!(
            enc(&f, v),
            Err(EncodeError::BodyNotAllowed {
                command: ping.clone(),
                version: v
            }),
            "{v}"
        );
    }
    assert_eq!(
        enc(&f, Version::V1_0).unwrap(),
        b"PING\ncontent-length:1\n\nx\0"
    );
}
