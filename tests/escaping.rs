//! Header escaping on the decode side: rules E-1 to E-8 of STOMP-RULES.md and the decisions
//! D-7 (STOMP is exempt like CONNECT), D-8 (dangling backslash) and D-11 (header UTF-8).
//! The encoder side of escaping (E-2, E-3, E-9) is in `encode.rs`.

mod common;

use common::*;
use stomp_codec::{Command, DecodeError, Decoder, Item, Version};

const ESCAPING: [Version; 2] = [Version::V1_1, Version::V1_2];

// ---------------------------------------------------------------------------------------------
// E-1: 1.0 has no escaping.

#[test]
fn e1_backslashes_are_ordinary_octets_in_1_0() {
    // Known escapes, undefined ones and a dangling backslash all stay as they are.
    let input = b"MESSAGE\na\\cb:c\\nd\\\\e\\r\\t\nz:end\\\n\n\0";
    let items = check_v(Version::V1_0, input).ok();
    assert_eq!(
        items,
        [fr(
            Command::Message,
            [("a\\cb", "c\\nd\\\\e\\r\\t"), ("z", "end\\")],
            b""
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// E-2, E-3: the escape tables.

#[test]
fn e2_escapes_in_1_1() {
    let input = b"SEND\nx:a\\nb\\cc\\\\d\n\n\0";
    let items = check_v(Version::V1_1, input).ok();
    assert_eq!(items, [fr(Command::Send, [("x", "a\nb:c\\d")], b"")]);
}

#[test]
fn e2_e3_escapes_in_1_2() {
    let input = b"SEND\nx:a\\nb\\cc\\\\d\\re\n\n\0";
    let items = check_v(Version::V1_2, input).ok();
    assert_eq!(items, [fr(Command::Send, [("x", "a\nb:c\\d\re")], b"")]);
}

#[test]
fn e2_escaped_backslash_is_consumed_before_what_follows() {
    // `\\n` is a backslash then `n`, not a line feed; `\\\n` is a backslash then a line feed.
    let input = b"MESSAGE\na:\\\\n\nb:\\\\\\n\nc:\\\\c\\\\\\\\\n\n\0";
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Message,
                [("a", "\\n"), ("b", "\\\n"), ("c", "\\c\\\\")],
                b""
            )],
            "{v}"
        );
    }
}

#[test]
fn e2_e3_whole_value_of_escapes_and_adjacent_escapes() {
    let input = b"MESSAGE\nx:\\c\\c\\n\\n\\\\\n\n\0";
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Message, [("x", "::\n\n\\")], b"")],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// E-4: undefined escapes are fatal.

#[test]
fn e4_cr_escape_is_undefined_in_1_1() {
    let input = b"SEND\n\n\0MESSAGE\nx-id:a\\rb\n\n\0";
    let out = check_v(Version::V1_1, input);
    assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
    assert_eq!(
        out.err(),
        DecodeError::BadEscape {
            offset: at(input, b"\\r"),
            header: "x-id".into(),
            octet: Some(b'r')
        }
    );
}

#[test]
fn e4_other_escapes_are_undefined_in_1_1_and_1_2() {
    for octet in [b't', b'N', b'C', b'R', b'0', b' ', b'x', b'"', b':'] {
        let mut input = b"SEND\n\n\0MESSAGE\nok:\\c\nbad:a".to_vec();
        let backslash = input.len() as u64;
        input.extend_from_slice(&[b'\\', octet]);
        input.extend_from_slice(b"b\n\n\0");
        for v in ESCAPING {
            let out = check_v(v, &input);
            assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
            assert_eq!(
                out.err(),
                DecodeError::BadEscape {
                    offset: backslash,
                    header: "bad".into(),
                    octet: Some(octet)
                },
                "{v} \\{}",
                octet as char
            );
        }
    }
}

#[test]
fn e4_e6_bad_escape_in_a_name() {
    let input = b"SEND\nab\\tc:v\n\n\0";
    for v in ESCAPING {
        let err = check_v(v, input).err();
        assert!(
            matches!(
                err,
                DecodeError::BadEscape {
                    offset: 7,
                    octet: Some(b't'),
                    ..
                }
            ),
            "{v} {err:?}"
        );
    }
}

#[test]
fn e4_e7_backslash_before_a_multibyte_sequence() {
    // The escape table is ASCII; a backslash before a UTF-8 lead byte is undefined.
    let input = "SEND\nx:\\é\n\n\0".as_bytes();
    for v in ESCAPING {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::BadEscape {
                offset: 7,
                header: "x".into(),
                octet: Some(0xc3)
            },
            "{v}"
        );
    }
}

#[test]
fn e4_d3_backslash_before_a_data_cr_in_1_1() {
    // In 1.1 a lone CR is data (D-3), and `\` followed by it is no defined escape.
    let input = b"SEND\nx:a\\\rb\n\n\0";
    let out = check_v(Version::V1_1, input);
    assert_eq!(
        out.err(),
        DecodeError::BadEscape {
            offset: 8,
            header: "x".into(),
            octet: Some(b'\r')
        }
    );
}

// ---------------------------------------------------------------------------------------------
// D-8: a backslash that ends a name or value.

#[test]
fn d8_dangling_backslash_at_end_of_value() {
    let input = b"SEND\n\n\0SEND\nx:abc\\\n\n\0";
    for v in ESCAPING {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::BadEscape {
                offset: at(input, b"\\\n"),
                header: "x".into(),
                octet: None
            },
            "{v}"
        );
    }
}

#[test]
fn d8_dangling_backslash_at_end_of_value_with_crlf() {
    // The CR belongs to the CRLF, so the backslash still ends the value.
    let input = b"SEND\r\nx:abc\\\r\n\r\n\0";
    for v in ESCAPING {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::BadEscape {
                offset: 11,
                header: "x".into(),
                octet: None
            },
            "{v}"
        );
    }
}

#[test]
fn d8_dangling_backslash_at_end_of_name() {
    let input = b"SEND\nname\\:v\n\n\0";
    for v in ESCAPING {
        let err = check_v(v, input).err();
        assert!(
            matches!(
                err,
                DecodeError::BadEscape {
                    offset: 9,
                    octet: None,
                    ..
                }
            ),
            "{v} {err:?}"
        );
    }
}

#[test]
fn d8_lone_backslash_value() {
    let input = b"SEND\nx:\\\n\n\0";
    for v in ESCAPING {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::BadEscape {
                offset: 7,
                header: "x".into(),
                octet: None
            },
            "{v}"
        );
    }
    let items = check_v(Version::V1_0, input).ok();
    assert_eq!(items, [fr(Command::Send, [("x", "\\")], b"")]);
}

// ---------------------------------------------------------------------------------------------
// E-5, D-7: CONNECT, STOMP and CONNECTED are never unescaped.

#[test]
fn e5_d7_connect_stomp_connected_keep_raw_headers() {
    for c in [Command::Connect, Command::Stomp, Command::Connected] {
        let mut input = c.as_bytes().to_vec();
        // Known escapes, undefined ones, a raw colon and a dangling backslash: all kept.
        input.extend_from_slice(b"\nlogin:a\\cb\npasscode:x\\ty:z\\\na\\nb:\\\\\n\n\0");
        // STOMP is a 1.1+ command (S-1); CONNECT and CONNECTED exist in every version.
        let versions: &[Version] = if c == Command::Stomp {
            &ESCAPING
        } else {
            &Version::ALL
        };
        for &v in versions {
            let items = check_v(v, &input).ok();
            assert_eq!(
                items,
                [fr(
                    c.clone(),
                    [
                        ("login", "a\\cb"),
                        ("passcode", "x\\ty:z\\"),
                        ("a\\nb", "\\\\")
                    ],
                    b""
                )],
                "{v} {c}"
            );
        }
    }
}

#[test]
fn e5_exemption_is_per_frame() {
    // The frame after a CONNECTED is unescaped again.
    let input = b"CONNECTED\nsession:a\\cb\n\n\0\nMESSAGE\nsession:a\\cb\n\n\0";
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Connected, [("session", "a\\cb")], b""),
                HB,
                fr(Command::Message, [("session", "a:b")], b""),
            ],
            "{v}"
        );
    }
}

#[test]
fn e5_every_other_command_is_unescaped() {
    for v in ESCAPING {
        for c in Command::STANDARD {
            if matches!(c, Command::Connect | Command::Stomp | Command::Connected) {
                continue;
            }
            let mut input = c.as_bytes().to_vec();
            input.extend_from_slice(b"\nx:a\\cb\n\n\0");
            let items = check_v(v, &input).ok();
            assert_eq!(items, [fr(c.clone(), [("x", "a:b")], b"")], "{v} {c}");
        }
    }
    let make = || Decoder::new(Version::V1_2).allow_extension_commands(true);
    let items = check(&make, b"PING\nx:a\\cb\n\n\0").ok();
    assert_eq!(
        items,
        [fr(Command::extension("PING").unwrap(), [("x", "a:b")], b"")]
    );
}

// ---------------------------------------------------------------------------------------------
// E-6: names are unescaped too.

#[test]
fn e6_header_names_are_unescaped() {
    let input = b"MESSAGE\na\\cb\\nc\\\\d:v\n\n\0";
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Message, [("a:b\nc\\d", "v")], b"")],
            "{v}"
        );
        assert_eq!(frame(&items[0]).headers().get("a:b\nc\\d"), Some(&b"v"[..]));
    }
    let items = check_v(Version::V1_2, b"MESSAGE\nr\\r:v\n\n\0").ok();
    assert_eq!(items, [fr(Command::Message, [("r\r", "v")], b"")]);
}

#[test]
fn e6_escaped_colon_in_a_name_does_not_split_the_line() {
    // The split is at the first raw colon; `\c` before it belongs to the name.
    let input = b"SEND\nk\\cey:va:lue\n\n\0";
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [("k:ey", "va:lue")], b"")], "{v}");
    }
    let items = check_v(Version::V1_0, input).ok();
    assert_eq!(items, [fr(Command::Send, [("k\\cey", "va:lue")], b"")]);
}

// ---------------------------------------------------------------------------------------------
// E-7: byte-level substitution on UTF-8 text.

#[test]
fn e7_escapes_next_to_multibyte_utf8() {
    let input = "MESSAGE\nn\\cé:café\\n✓\\c日本\\\\\n\n\0".as_bytes();
    for v in ESCAPING {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Message, [("n:é", "café\n✓:日本\\")], b"")],
            "{v}"
        );
        assert_eq!(
            frame(&items[0]).headers().get_str("n:é").unwrap(),
            Some("café\n✓:日本\\")
        );
    }
}

#[test]
fn e7_values_without_backslash_are_kept_verbatim() {
    let input = "SEND\nx:plain ✓ value\n\n\0".as_bytes();
    for v in Version::ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Send, [("x", "plain ✓ value")], b"")],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// E-8: the escaping in force is that of the negotiated version.

#[test]
fn e8_set_version_after_connected_switches_unescaping() {
    let mut dec = Decoder::new(Version::V1_0);
    dec.push(b"CONNECTED\nversion:1.2\n\n\0MESSAGE\nx:a\\cb\\r\n\n\0");
    let Ok(Some(Item::Frame(connected))) = dec.next_item() else {
        panic!("expected CONNECTED");
    };
    assert_eq!(connected.headers().get("version"), Some(&b"1.2"[..]));
    dec.set_version(Version::V1_2);
    assert_eq!(dec.version(), Version::V1_2);
    assert_eq!(
        dec.next_item(),
        Ok(Some(fr(Command::Message, [("x", "a:b\r")], b"")))
    );
}

#[test]
fn e8_version_switch_takes_effect_from_the_next_frame() {
    // The MESSAGE started under 1.0 rules, so it keeps them; the next frame uses 1.1.
    let mut dec = Decoder::new(Version::V1_0);
    dec.push(b"MESSAGE\nx:a\\cb\n");
    assert_eq!(dec.next_item(), Ok(None));
    dec.set_version(Version::V1_1);
    dec.push(b"\n\0MESSAGE\nx:a\\cb\n\n\0");
    assert_eq!(
        dec.next_item(),
        Ok(Some(fr(Command::Message, [("x", "a\\cb")], b"")))
    );
    assert_eq!(
        dec.next_item(),
        Ok(Some(fr(Command::Message, [("x", "a:b")], b"")))
    );
}

// ---------------------------------------------------------------------------------------------
// D-11: header UTF-8.

#[test]
fn d11_invalid_utf8_is_kept_raw_by_default() {
    let input = b"MESSAGE\nx:\xff\xfeok\nn\xc3:v\n\n\0";
    for v in Version::ALL {
        let items = check_v(v, input).ok();
        let f = frame(&items[0]);
        assert_eq!(f.headers().get("x"), Some(&b"\xff\xfeok"[..]));
        assert_eq!(f.headers().get(b"n\xc3"), Some(&b"v"[..]));
        let err = f.headers().get_str("x").unwrap_err();
        assert_eq!(err.header, "x");
        assert_eq!(err.valid_up_to, 0);
    }
}

#[test]
fn d11_h10_get_str_on_valid_utf8() {
    let items = check_v(Version::V1_2, "MESSAGE\nx:café ✓\n\n\0".as_bytes()).ok();
    let f = frame(&items[0]);
    assert_eq!(f.headers().get_str("x").unwrap(), Some("café ✓"));
    assert_eq!(f.headers().get_str("missing").unwrap(), None);
}

#[test]
fn d11_strict_utf8_rejects_invalid_values_and_names() {
    for v in Version::ALL {
        let make = || Decoder::new(v).strict_utf8(true);
        let input = b"SEND\nok:\xc3\xa9\n\n\0MESSAGE\na:b\nx:ab\xff\n\n\0";
        let out = check(&make, input);
        assert_eq!(out.items, [fr(Command::Send, [("ok", "é")], b"")], "{v}");
        assert_eq!(
            out.err(),
            DecodeError::InvalidUtf8 {
                offset: at(input, b"x:ab"),
                header: "x".into()
            },
            "{v}"
        );
        let input = b"SEND\nn\xe2\x9c:v\n\n\0";
        let err = check(&make, input).err();
        assert!(
            matches!(err, DecodeError::InvalidUtf8 { offset: 5, .. }),
            "{v} {err:?}"
        );
    }
}

#[test]
fn d11_strict_utf8_applies_to_connect_headers_too() {
    let make = || Decoder::new(Version::V1_2).strict_utf8(true);
    let err = check(&make, b"CONNECT\nlogin:\xff\n\n\0").err();
    assert_eq!(
        err,
        DecodeError::InvalidUtf8 {
            offset: 8,
            header: "login".into()
        }
    );
}

#[test]
fn d11_f12_strict_utf8_never_looks_at_the_body() {
    let make = || Decoder::new(Version::V1_2).strict_utf8(true);
    let items = check(&make, b"SEND\nx:y\n\n\xff\xfe\0").ok();
    assert_eq!(items, [fr(Command::Send, [("x", "y")], b"\xff\xfe")]);
}
