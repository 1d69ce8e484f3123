//! Frame grammar on the decode side: rules F-1 to F-12 and the decoder decisions D-1 to D-6,
//! D-9, D-10, D-13 and D-15 of STOMP-RULES.md. Every input is decoded whole, byte by byte and
//! split at every point, through `push`, `push_bytes` and `decode` (F-11), and errors are
//! checked for their exact variant, offset, the frames delivered before them and stickiness.

mod common;

use bytes::BytesMut;
use common::*;
use stomp_codec::{Command, DecodeError, Decoder, Item, Version};

const ALL: [Version; 3] = Version::ALL;

/// The commands of a version (S-1, S-2): 1.0 has no NACK and no STOMP.
fn commands(v: Version) -> Vec<Command> {
    Command::STANDARD
        .into_iter()
        .filter(|c| v != Version::V1_0 || !matches!(c, Command::Nack | Command::Stomp))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// F-1: command, EOL, headers, blank line, body, NUL.

#[test]
fn f1_frame_parts_in_every_version() {
    let input = b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Send,
                [("destination", "/queue/a"), ("content-type", "text/plain")],
                b"hello"
            )],
            "{v}"
        );
    }
}

#[test]
fn f1_f11_frames_back_to_back_in_one_chunk() {
    let input = b"SEND\na:1\n\nx\0MESSAGE\nb:2\n\ny\0RECEIPT\nreceipt-id:7\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Send, [("a", "1")], b"x"),
                fr(Command::Message, [("b", "2")], b"y"),
                fr(Command::Receipt, [("receipt-id", "7")], b""),
            ],
            "{v}"
        );
    }
}

#[test]
fn f1_f11_incomplete_frame_is_need_more_not_an_error() {
    let input = b"SEND\ndestination:/queue/a\n\nhel";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, []);
        assert_eq!(out.error, None);
        assert!(out.mid_frame);
    }
}

// ---------------------------------------------------------------------------------------------
// F-2, D-3: EOL = optional CR + LF; CRLF accepted in every version; lone CR rules.

#[test]
fn f2_d3_crlf_everywhere_is_an_eol_in_every_version() {
    let input = b"SEND\r\ndestination:/q\r\nx:y\r\n\r\nbody\0\r\n";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Send, [("destination", "/q"), ("x", "y")], b"body"),
                HB
            ],
            "{v}"
        );
    }
}

#[test]
fn f2_d3_mixed_lf_and_crlf_lines() {
    let input = b"MESSAGE\na:1\r\nb:2\n\r\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Message, [("a", "1"), ("b", "2")], b"")],
            "{v}"
        );
    }
}

#[test]
fn d3_lone_cr_in_value_is_an_error_in_1_2() {
    let input = b"SEND\n\n\0SEND\nx:a\rb\n\n\0";
    let out = check_v(Version::V1_2, input);
    assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
    assert_eq!(
        out.err(),
        DecodeError::StrayCarriageReturn {
            offset: at(input, b"\rb")
        }
    );
}

#[test]
fn d3_lone_cr_in_value_is_data_in_1_0_and_1_1() {
    let input = b"SEND\nx:a\rb\n\n\0";
    for v in [Version::V1_0, Version::V1_1] {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [("x", "a\rb")], b"")], "{v}");
    }
}

#[test]
fn d3_lone_cr_in_name_is_data_in_1_0_and_1_1_error_in_1_2() {
    let input = b"SEND\nx\ry:v\n\n\0";
    for v in [Version::V1_0, Version::V1_1] {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [("x\ry", "v")], b"")], "{v}");
    }
    let out = check_v(Version::V1_2, input);
    assert_eq!(out.items, []);
    assert_eq!(out.err(), DecodeError::StrayCarriageReturn { offset: 6 });
}

#[test]
fn d3_cr_cr_lf_keeps_one_cr_in_1_1_and_fails_in_1_2() {
    // The last CR belongs to the CRLF; the one before it is data (1.0/1.1) or stray (1.2).
    let input = b"SEND\nx:v\r\r\n\n\0";
    for v in [Version::V1_0, Version::V1_1] {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [("x", "v\r")], b"")], "{v}");
    }
    let out = check_v(Version::V1_2, input);
    assert_eq!(out.err(), DecodeError::StrayCarriageReturn { offset: 8 });
}

#[test]
fn d3_lone_cr_in_command_line() {
    // 1.2: stray CR at its own offset; 1.0/1.1: an ordinary octet, so the command is unknown.
    let input = b"MESSAGE\n\n\0SE\rND\n\n\0";
    let start = at(input, b"SE\r");
    let out = check_v(Version::V1_2, input);
    assert_eq!(out.items, [fr(Command::Message, NO_HEADERS, b"")]);
    assert_eq!(
        out.err(),
        DecodeError::StrayCarriageReturn { offset: start + 2 }
    );
    for v in [Version::V1_0, Version::V1_1] {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Message, NO_HEADERS, b"")]);
        let err = out.err();
        assert!(
            matches!(err, DecodeError::UnknownCommand { offset, .. } if offset == start),
            "{v} {err:?}"
        );
    }
}

#[test]
fn d3_lone_cr_between_frames() {
    // 1.2: a CR not followed by LF between frames is stray. 1.0/1.1: it starts a command,
    // which is then unknown (D-15, D-1).
    let input = b"SEND\n\n\0\rX\n\n\0";
    let out = check_v(Version::V1_2, input);
    assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
    assert_eq!(out.err(), DecodeError::StrayCarriageReturn { offset: 7 });
    for v in [Version::V1_0, Version::V1_1] {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        let err = out.err();
        assert!(
            matches!(err, DecodeError::UnknownCommand { offset: 7, .. }),
            "{v} {err:?}"
        );
    }
}

#[test]
fn d3_d13_lone_cr_at_end_of_input_waits_for_more() {
    for v in ALL {
        let out = check_v(v, b"SEND\n\n\0\r");
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(out.error, None);
        assert!(out.mid_frame, "a CR that may start a CRLF is held");
    }
}

// ---------------------------------------------------------------------------------------------
// F-3, D-1, D-2: commands are exact, case-sensitive words.

#[test]
fn f3_every_standard_command_decodes() {
    for v in ALL {
        let expected = if v == Version::V1_0 { 13 } else { 15 };
        assert_eq!(commands(v).len(), expected);
        for c in commands(v) {
            let mut input = c.as_bytes().to_vec();
            input.extend_from_slice(b"\n\n\0");
            let items = check_v(v, &input).ok();
            assert_eq!(items, [fr(c.clone(), NO_HEADERS, b"")], "{v} {c}");
        }
    }
}

#[test]
fn f3_d1_commands_are_case_sensitive() {
    for word in ["send", "Send", "SENd", "message", "Connect", "connected"] {
        let input = format!("MESSAGE\n\n\0{word}\n\n\0");
        for v in ALL {
            let out = check_v(v, input.as_bytes());
            assert_eq!(out.items, [fr(Command::Message, NO_HEADERS, b"")]);
            assert_eq!(
                out.err(),
                DecodeError::UnknownCommand {
                    offset: 10,
                    command: word.into()
                },
                "{v} {word}"
            );
        }
    }
}

#[test]
fn d1_unknown_command_is_an_error_by_default() {
    let input = b"SEND\n\n\0PING\nx:y\n\n\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::UnknownCommand {
                offset: 7,
                command: "PING".into()
            }
        );
    }
}

#[test]
fn d1_extension_commands_with_the_opt_in() {
    let input = b"PING\nx:y\n\n\0send\n\n\0SEND\n\n\0";
    for v in ALL {
        let make = || Decoder::new(v).allow_extension_commands(true);
        let items = check(&make, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::extension("PING").unwrap(), [("x", "y")], b""),
                fr(Command::extension("send").unwrap(), NO_HEADERS, b""),
                fr(Command::Send, NO_HEADERS, b""),
            ],
            "{v}"
        );
        // The standard spelling is never an extension.
        assert!(!matches!(frame(&items[2]).command(), Command::Extension(_)));
    }
}

#[test]
fn d1_extension_of_64_octets_is_accepted_65_is_not() {
    // The command-line limit is raised so that only the extension rule (1–64 octets) decides.
    let limits = stomp_codec::Limits::default().max_command_line(100);
    let make = || Decoder::with_limits(Version::V1_2, limits).allow_extension_commands(true);
    let word64 = "X".repeat(64);
    let input = format!("{word64}\n\n\0");
    let items = check(&make, input.as_bytes()).ok();
    assert_eq!(
        items,
        [fr(Command::extension(word64).unwrap(), NO_HEADERS, b"")]
    );

    let word65 = "X".repeat(65);
    let input = format!("SEND\n\n\0{word65}\n\n\0");
    let out = check(&make, input.as_bytes());
    assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
    let err = out.err();
    assert!(
        matches!(err, DecodeError::UnknownCommand { offset: 7, .. }),
        "{err:?}"
    );
}

#[test]
fn d1_d11_extension_commands_must_be_printable_ascii() {
    let make = || Decoder::new(Version::V1_2).allow_extension_commands(true);
    for word in [&b"P\xc3\x89NG"[..], b"PI\x01NG", b"PI\x7fNG"] {
        let mut input = b"SEND\n\n\0".to_vec();
        input.extend_from_slice(word);
        input.extend_from_slice(b"\n\n\0");
        let out = check(&make, &input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        let err = out.err();
        assert!(
            matches!(err, DecodeError::UnknownCommand { offset: 7, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn d1_empty_command_line_is_a_heartbeat_not_a_command() {
    // An empty line between frames is an EOL (D-13), never an empty command.
    let items = check_v(Version::V1_2, b"\n\nSEND\n\n\0").ok();
    assert_eq!(items, [HB, HB, fr(Command::Send, NO_HEADERS, b"")]);
}

#[test]
fn d2_whitespace_around_the_command_is_unknown() {
    for line in ["SEND ", " SEND", "SEND\t", "\tSEND", " SEND "] {
        let input = format!("RECEIPT\n\n\0{line}\n\n\0");
        for v in ALL {
            let out = check_v(v, input.as_bytes());
            assert_eq!(out.items, [fr(Command::Receipt, NO_HEADERS, b"")]);
            let err = out.err();
            assert!(
                matches!(err, DecodeError::UnknownCommand { offset: 10, .. }),
                "{v} {line:?} {err:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// F-4, F-5, D-4, D-5, D-6: header lines.

#[test]
fn f4_header_names_are_case_sensitive() {
    let input = b"MESSAGE\nDestination:/a\ndestination:/b\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        let f = frame(&items[0]);
        assert_eq!(f.headers().get("destination"), Some(&b"/b"[..]));
        assert_eq!(f.headers().get("Destination"), Some(&b"/a"[..]));
        assert_eq!(f.headers().get("DESTINATION"), None);
    }
}

#[test]
fn f4_d6_empty_values_in_every_version() {
    let input = b"SEND\na:\nb:\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Send, [("a", ""), ("b", "")], b"")],
            "{v}"
        );
    }
}

#[test]
fn d4_header_line_without_colon() {
    let input = b"SEND\n\n\0SEND\ndestination:/q\nnocolon\n\n\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::MissingColon {
                offset: at(input, b"nocolon"),
                line: "nocolon".into()
            },
            "{v}"
        );
    }
}

#[test]
fn d4_missing_colon_with_crlf_line_end() {
    let input = b"SEND\r\nnocolon\r\n\r\n\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::MissingColon {
                offset: 6,
                line: "nocolon".into()
            },
            "{v}"
        );
    }
}

#[test]
fn d5_empty_header_name() {
    let input = b"SEND\n\n\0SEND\na:b\n:value\n\n\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::EmptyHeaderName {
                offset: at(input, b":value")
            },
            "{v}"
        );
    }
}

#[test]
fn d5_f5_colons_after_the_first_stay_in_the_value() {
    let input = b"SEND\na:b:c\nd::\ne:\\\\:x\n\n\0";
    // 1.1/1.2 unescape `\\` in the value of e; 1.0 keeps it (E-1).
    for v in ALL {
        let e_value = if v == Version::V1_0 { "\\\\:x" } else { "\\:x" };
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Send,
                [("a", "b:c"), ("d", ":"), ("e", e_value)],
                b""
            )],
            "{v}"
        );
    }
}

#[test]
fn d5_f5_unescaped_colon_in_connect_values() {
    // CONNECT values are never unescaped, so passwords keep their raw colons.
    let input = b"CONNECT\nlogin:user\npasscode:se:cr:et\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Connect,
                [("login", "user"), ("passcode", "se:cr:et")],
                b""
            )]
        );
    }
}

#[test]
fn d6_h7_no_trimming_in_any_version() {
    let input = b"SEND\n key : value \n\tk\t:\tv\t\nx: \n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Send,
                [(" key ", " value "), ("\tk\t", "\tv\t"), ("x", " ")],
                b""
            )],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// F-6: zero headers; the header block ends at the first blank line.

#[test]
fn f6_zero_headers() {
    for v in ALL {
        let items = check_v(v, b"DISCONNECT\n\n\0").ok();
        assert_eq!(items, [fr(Command::Disconnect, NO_HEADERS, b"")], "{v}");
        assert!(frame(&items[0]).headers().is_empty());
        let items = check_v(v, b"SEND\r\n\r\nbody\0").ok();
        assert_eq!(items, [fr(Command::Send, NO_HEADERS, b"body")], "{v}");
    }
}

#[test]
fn f6_header_lines_after_the_blank_line_are_body() {
    let input = b"SEND\na:b\n\nc:d\n\ne\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [("a", "b")], b"c:d\n\ne")], "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// F-7, F-8, H-1: body modes.

#[test]
fn f7_body_without_content_length_ends_at_first_nul() {
    let input = b"SEND\n\nab\0SEND\n\ncd\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Send, NO_HEADERS, b"ab"),
                fr(Command::Send, NO_HEADERS, b"cd")
            ],
            "{v}"
        );
    }
}

#[test]
fn f7_content_length_body_keeps_nuls() {
    let input = b"SEND\ncontent-length:5\n\na\0b\0c\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Send, [("content-length", "5")], b"a\0b\0c")],
            "{v}"
        );
    }
}

#[test]
fn f7_h1_counted_body_is_not_scanned_for_frames() {
    // The body holds what looks like a NUL, a whole frame and EOLs; none of it is parsed.
    let body = b"\0SEND\n\n\0\n\nMESSAGE\n";
    let mut input = format!("MESSAGE\ncontent-length:{}\n\n", body.len()).into_bytes();
    input.extend_from_slice(body);
    input.extend_from_slice(b"\0\nRECEIPT\nreceipt-id:1\n\n\0");
    let len = body.len().to_string();
    for v in ALL {
        let items = check_v(v, &input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Message, [("content-length", len.as_str())], body),
                HB,
                fr(Command::Receipt, [("receipt-id", "1")], b""),
            ],
            "{v}"
        );
    }
}

#[test]
fn f8_nul_is_required_after_a_counted_body() {
    let input = b"SEND\n\n\0SEND\ncontent-length:2\n\nabc\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::MissingNul {
                offset: at(input, b"c\0"),
                length: 2,
                found: b'c'
            },
            "{v}"
        );
    }
}

#[test]
fn f8_content_length_zero_then_non_nul() {
    let input = b"SEND\ncontent-length:0\n\nx\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::MissingNul {
                offset: 23,
                length: 0,
                found: b'x'
            },
            "{v}"
        );
    }
}

#[test]
fn f8_eol_instead_of_nul_after_counted_body() {
    let input = b"MESSAGE\ncontent-length:1\n\na\n\0";
    let out = check_v(Version::V1_2, input);
    assert_eq!(
        out.err(),
        DecodeError::MissingNul {
            offset: at(input, b"\n\0"),
            length: 1,
            found: b'\n'
        }
    );
}

#[test]
fn f7_counted_body_waits_for_its_nul() {
    let out = check_v(Version::V1_2, b"SEND\ncontent-length:3\n\nabc");
    assert_eq!(out.items, []);
    assert_eq!(out.error, None);
    assert!(out.mid_frame);
}

// ---------------------------------------------------------------------------------------------
// F-9, D-10: which frames may carry a body.

const BODILESS: [Command; 12] = [
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
];

#[test]
fn f9_d10_body_rejected_on_other_commands_in_1_1_and_1_2() {
    for v in [Version::V1_1, Version::V1_2] {
        for c in BODILESS {
            let mut input = b"SEND\n\n\0".to_vec();
            input.extend_from_slice(c.as_bytes());
            input.extend_from_slice(b"\nid:1\n\nx\0");
            let body_at = (input.len() - 2) as u64;
            let out = check_v(v, &input);
            assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
            assert_eq!(
                out.err(),
                DecodeError::BodyNotAllowed {
                    offset: body_at,
                    command: c.clone(),
                    version: v
                },
                "{v} {c}"
            );
        }
    }
}

#[test]
fn f9_d10_counted_body_rejected_on_subscribe_in_1_1_and_1_2() {
    let input = b"SUBSCRIBE\ndestination:/q\ncontent-length:3\n\na\0b\0";
    for v in [Version::V1_1, Version::V1_2] {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::BodyNotAllowed {
                offset: at(input, b"a\0b"),
                command: Command::Subscribe,
                version: v
            },
            "{v}"
        );
    }
}

#[test]
fn f9_d10_body_accepted_on_any_command_in_1_0() {
    for c in [
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Begin,
        Command::Disconnect,
        Command::Connect,
        Command::Receipt,
    ] {
        let mut input = c.as_bytes().to_vec();
        input.extend_from_slice(b"\nid:1\n\nignored body\0");
        let items = check_v(Version::V1_0, &input).ok();
        assert_eq!(
            items,
            [fr(c.clone(), [("id", "1")], b"ignored body")],
            "{c}"
        );
    }
    let input = b"SUBSCRIBE\ncontent-length:3\n\na\0b\0";
    let items = check_v(Version::V1_0, input).ok();
    assert_eq!(
        items,
        [fr(Command::Subscribe, [("content-length", "3")], b"a\0b")]
    );
}

#[test]
fn f9_send_message_error_may_carry_a_body_in_every_version() {
    for v in ALL {
        for c in [Command::Send, Command::Message, Command::Error] {
            let mut input = c.as_bytes().to_vec();
            input.extend_from_slice(b"\n\nbody\0");
            let items = check_v(v, &input).ok();
            assert_eq!(items, [fr(c.clone(), NO_HEADERS, b"body")], "{v} {c}");
        }
    }
}

#[test]
fn d10_h3_content_length_zero_is_fine_on_any_frame() {
    for v in ALL {
        for c in commands(v) {
            let mut input = c.as_bytes().to_vec();
            input.extend_from_slice(b"\ncontent-length:0\n\n\0\n");
            let items = check_v(v, &input).ok();
            assert_eq!(
                items,
                [fr(c.clone(), [("content-length", "0")], b""), HB],
                "{v} {c}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// D-9: content-length syntax and repeats.

#[test]
fn d9_content_length_accepts_plain_digits() {
    let input = b"SEND\ncontent-length:007\n\n\0\0\0\0\0\0\0\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(Command::Send, [("content-length", "007")], &[0; 7])],
            "{v}"
        );
    }
}

#[test]
fn d9_invalid_content_length_values() {
    for value in [
        "",
        " 1",
        "1 ",
        "+1",
        "-1",
        "1a",
        "0x1",
        "1.0",
        "1,2",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let input = format!("SEND\n\n\0SEND\nx:y\ncontent-length:{value}\n\nb\0");
        for v in ALL {
            let out = check_v(v, input.as_bytes());
            assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
            assert_eq!(
                out.err(),
                DecodeError::InvalidContentLength {
                    offset: at(input.as_bytes(), b"content-length:"),
                    value: value.into()
                },
                "{v} {value:?}"
            );
        }
    }
    // A control octet in the value (shown escaped in the error).
    let input = b"SEND\ncontent-length:\t1\n\nb\0";
    for v in ALL {
        let err = check_v(v, input).err();
        assert!(
            matches!(err, DecodeError::InvalidContentLength { offset: 5, .. }),
            "{v} {err:?}"
        );
    }
}

#[test]
fn d9_conflicting_repeated_content_length() {
    let input = b"SEND\n\n\0SEND\ncontent-length:1\nx:y\ncontent-length:2\n\nab\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(
            out.err(),
            DecodeError::ConflictingContentLength {
                offset: at(input, b"content-length:2"),
                first: 1,
                second: 2
            },
            "{v}"
        );
    }
}

#[test]
fn d9_equal_repeated_content_length_is_fine() {
    let input = b"SEND\ncontent-length:2\ncontent-length:2\n\na\0\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Send,
                [("content-length", "2"), ("content-length", "2")],
                b"a\0"
            )],
            "{v}"
        );
    }
}

#[test]
fn d9_invalid_repeat_after_a_valid_content_length() {
    let input = b"SEND\ncontent-length:2\ncontent-length:two\n\nab\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(
            out.err(),
            DecodeError::InvalidContentLength {
                offset: at(input, b"content-length:two"),
                value: "two".into()
            },
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// F-10, D-13: EOLs between frames are heart-beats.

#[test]
fn f10_d13_trailing_eols_are_heartbeats_never_frame_bytes() {
    let input = b"\n\r\nMESSAGE\na:b\n\nhi\0\n\n\r\n\nSEND\n\n\0\n";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                HB,
                HB,
                fr(Command::Message, [("a", "b")], b"hi"),
                HB,
                HB,
                HB,
                HB,
                fr(Command::Send, NO_HEADERS, b""),
                HB,
            ],
            "{v}"
        );
    }
}

#[test]
fn d13_heartbeats_alone() {
    for v in ALL {
        let items = check_v(v, b"\n\n\r\n\n").ok();
        assert_eq!(items, [HB, HB, HB, HB], "{v}");
    }
}

#[test]
fn f10_eols_after_a_counted_body() {
    let input = b"MESSAGE\ncontent-length:1\n\n\n\0\n\n";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Message, [("content-length", "1")], b"\n"),
                HB,
                HB
            ],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// D-15: NUL outside a body; other octets start the next command.

#[test]
fn d15_nul_between_frames() {
    let input = b"SEND\n\n\0\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 7 }, "{v}");
    }
}

#[test]
fn d15_nul_after_heartbeats_and_at_stream_start() {
    for v in ALL {
        let out = check_v(v, b"\0");
        assert_eq!(out.items, []);
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 0 });
        let out = check_v(v, b"\n\r\n\0SEND\n\n\0");
        assert_eq!(out.items, [HB, HB]);
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 3 });
    }
}

#[test]
fn d15_nul_in_command_line() {
    for v in ALL {
        let out = check_v(v, b"SEND\n\n\0SE\0ND\n\n\0");
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 9 });
        let out = check_v(v, b"SEND\0");
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 4 });
    }
}

#[test]
fn d15_nul_in_header_name_or_value() {
    let cases: [(&[u8], u64); 3] = [
        (b"SEND\na\0b:c\n\n\0", 6),
        (b"SEND\nab:c\0d\n\n\0", 9),
        (b"SEND\nab:cd\0", 10),
    ];
    for (input, offset) in cases {
        for v in ALL {
            let out = check_v(v, input);
            assert_eq!(
                out.err(),
                DecodeError::UnexpectedNul { offset },
                "{v} {:?}",
                input.escape_ascii().to_string()
            );
        }
    }
    // In 1.0/1.1 a CR before the NUL is data (D-3), so the NUL is the first wrong octet.
    for v in [Version::V1_0, Version::V1_1] {
        let out = check_v(v, b"SEND\nab:cd\r\0");
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 11 }, "{v}");
    }
}

#[test]
fn d15_nul_where_the_blank_line_should_be() {
    // Without the blank line the NUL is still inside the header block.
    for v in ALL {
        let out = check_v(v, b"SEND\n\0");
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 5 }, "{v}");
        let out = check_v(v, b"SEND\na:b\n\0");
        assert_eq!(out.err(), DecodeError::UnexpectedNul { offset: 9 }, "{v}");
    }
}

#[test]
fn d15_other_octets_after_a_frame_start_the_next_command() {
    let input = b"SEND\n\n\0\nX\n\n\0";
    for v in ALL {
        let out = check_v(v, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b""), HB]);
        assert_eq!(
            out.err(),
            DecodeError::UnknownCommand {
                offset: 8,
                command: "X".into()
            },
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// F-11: chunking independence through every input path.

#[test]
fn f11_decode_push_and_push_bytes_agree() {
    let input: &[u8] = b"\nCONNECTED\nversion:1.2\n\n\0\nMESSAGE\nx:a\\cb\ncontent-length:3\n\n\0\0\0\0\r\nRECEIPT\nreceipt-id:9\n\n\0";
    let make = || Decoder::new(Version::V1_2);
    let expected = vec![
        HB,
        fr(Command::Connected, [("version", "1.2")], b""),
        HB,
        fr(
            Command::Message,
            [("x", "a:b"), ("content-length", "3")],
            b"\0\0\0",
        ),
        HB,
        fr(Command::Receipt, [("receipt-id", "9")], b""),
    ];
    for feed in FEEDS {
        for cut in [1, 2, 3, 5, 7, 11, 64] {
            let cuts: Vec<usize> = (cut..input.len()).step_by(cut).collect();
            let out = run(&make, input, &cuts, feed);
            assert_eq!(out.clone().ok(), expected, "{feed:?} every {cut}");
        }
    }
    // The same through decode() directly, one call per item, with the buffer consumed.
    let mut dec = Decoder::new(Version::V1_2);
    let mut buf = BytesMut::from(input);
    let mut items = Vec::new();
    while let Some(item) = dec.decode(&mut buf).unwrap() {
        items.push(item);
    }
    assert_eq!(items, expected);
    assert!(buf.is_empty());
}

#[test]
fn f11_offset_counts_consumed_octets() {
    let mut dec = Decoder::new(Version::V1_2);
    dec.push(b"SEND\n\n\0\nSE");
    assert!(matches!(dec.next_item(), Ok(Some(Item::Frame(_)))));
    assert_eq!(dec.offset(), 7);
    assert_eq!(dec.next_item(), Ok(Some(Item::Heartbeat)));
    assert_eq!(dec.offset(), 8);
    assert_eq!(dec.next_item(), Ok(None));
    assert!(dec.is_mid_frame());
    assert_eq!(dec.buffered(), 2);
}

// ---------------------------------------------------------------------------------------------
// F-12: bodies are arbitrary octets.

#[test]
fn f12_binary_bodies_are_never_decoded() {
    let body: Vec<u8> = (0u8..=255).collect();
    let mut input = format!("MESSAGE\ncontent-length:{}\n\n", body.len()).into_bytes();
    input.extend_from_slice(&body);
    input.push(0);
    let nul_free = b"SEND\n\n\xff\xfe\x80\xc3(\r\r\n\0";
    for v in ALL {
        let items = check_v(v, &input).ok();
        assert_eq!(frame(&items[0]).body(), &body[..], "{v}");
        let items = check_v(v, nul_free).ok();
        assert_eq!(
            items,
            [fr(Command::Send, NO_HEADERS, b"\xff\xfe\x80\xc3(\r\r\n")],
            "{v}"
        );
    }
}

/// F-9, D-1, D-10: an opted-in extension command is still not SEND, MESSAGE or ERROR, so in
/// 1.1 and 1.2 it may not carry a body; 1.0 forbids no body.
#[test]
fn f9_d1_d10_extension_command_body_rejected_in_1_1_and_1_2() {
    let input = b"PING\n\nbody\0";
    for v in [Version::V1_1, Version::V1_2] {
        let make = move || Decoder::new(v).allow_extension_commands(true);
        let out = check(&make, input);
        assert_eq!(
            out.err(),
            DecodeError::BodyNotAllowed {
                offset: at(input, b"body"),
                command: Command::extension("PING").unwrap(),
                version: v
            },
            "{v}"
        );
    }
    let make = || Decoder::new(Version::V1_0).allow_extension_commands(true);
    let frames = check(&make, input).ok();
    assert_eq!(frame(&frames[0]).body(), &b"body"[..]);
}

/// D-3, D-15: in 1.2 a CR not followed by LF is wrong where it stands, so it is reported
/// rather than a NUL later on the same line (the first wrong octet wins).
#[test]
fn d3_d15_stray_cr_before_nul_is_reported_at_the_cr_in_1_2() {
    let cases: [(&[u8], &[u8]); 3] = [
        (b"SEND\nab:c\rd\0", b"\rd"),
        (b"SEND\nab:cd\r\0", b"\r\0"),
        (b"SE\rND\0", b"\rND"),
    ];
    for (input, cr) in cases {
        let out = check_v(Version::V1_2, input);
        assert_eq!(
            out.err(),
            DecodeError::StrayCarriageReturn {
                offset: at(input, cr)
            }
        );
        // In 1.1 the CR is data, so the NUL is what is wrong.
        let out = check_v(Version::V1_1, input);
        assert_eq!(
            out.err(),
            DecodeError::UnexpectedNul {
                offset: at(input, b"\0")
            }
        );
    }
}
