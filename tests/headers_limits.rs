//! Standard headers, repetition and limits on the decode side: rules H-1 to H-10 and the
//! limit decisions of D-12 in STOMP-RULES.md. Limit errors are checked for their kind, their
//! offset, chunking independence, and for firing as soon as the offending octet has arrived.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use stomp_codec::{Command, DecodeError, Decoder, LimitKind, Limits, Version};

const ALL: [Version; 3] = Version::ALL;

/// Feeds `input` one octet at a time (through `push`, `push_bytes` and `decode`) and returns
/// how many octets had been fed when the error appeared, with the error. Panics if none did.
fn fails_after(make: &dyn Fn() -> Decoder, input: &[u8]) -> (usize, DecodeError) {
    let mut results = Vec::new();
    for feed in FEEDS {
        let mut dec = make();
        let mut buf = BytesMut::new();
        let mut found = None;
        'feed: for (i, &octet) in input.iter().enumerate() {
            match feed {
                Feed::Push => dec.push(&[octet]),
                Feed::PushBytes => dec.push_bytes(Bytes::copy_from_slice(&[octet])),
                Feed::Decode => buf.extend_from_slice(&[octet]),
            }
            loop {
                let next = match feed {
                    Feed::Decode => dec.decode(&mut buf),
                    _ => dec.next_item(),
                };
                match next {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        found = Some((i + 1, e));
                        break 'feed;
                    }
                }
            }
        }
        results.push(found.unwrap_or_else(|| panic!("no error via {feed:?}")));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    results.swap_remove(0)
}

fn limit(offset: u64, limit: LimitKind, max: usize) -> DecodeError {
    DecodeError::LimitExceeded { offset, limit, max }
}

// ---------------------------------------------------------------------------------------------
// D-12: defaults.

#[test]
fn d12_default_limits() {
    let l = Limits::default();
    assert_eq!(l.max_command_line, 64);
    assert_eq!(l.max_header_line, 8 * 1024);
    assert_eq!(l.max_headers, 128);
    assert_eq!(l.max_header_bytes, 64 * 1024);
    assert_eq!(l.max_body, 8 * 1024 * 1024);
    // frame = header total + body + framing: the frame limit never undercuts the other two.
    assert!(l.max_frame > l.max_header_bytes + l.max_body);
    assert_eq!(*Decoder::new(Version::V1_2).limits(), l);
}

// ---------------------------------------------------------------------------------------------
// D-12, H-8: command line.

#[test]
fn d12_default_command_line_limit_is_64() {
    let make = || Decoder::new(Version::V1_2).allow_extension_commands(true);
    let ok = format!("{}\n\n\0", "X".repeat(64));
    assert_eq!(
        check(&make, ok.as_bytes()).ok(),
        [fr(
            Command::extension("X".repeat(64)).unwrap(),
            NO_HEADERS,
            b""
        )]
    );
    let input = format!("SEND\n\n\0{}\n\n\0", "X".repeat(65));
    let out = check(&make, input.as_bytes());
    assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
    let expected = limit(7 + 64, LimitKind::CommandLine, 64);
    assert_eq!(out.err(), expected);
    assert_eq!(fails_after(&make, input.as_bytes()), (7 + 65, expected));
}

#[test]
fn d12_command_line_limit_excludes_the_eol() {
    let limits = Limits::default().max_command_line(4);
    for v in ALL {
        let make = || Decoder::with_limits(v, limits);
        let items = check(&make, b"SEND\n\n\0SEND\r\n\r\n\0").ok();
        assert_eq!(
            items,
            [
                fr(Command::Send, NO_HEADERS, b""),
                fr(Command::Send, NO_HEADERS, b"")
            ],
            "{v}"
        );
        let input = b"SEND\n\n\0ABORT\n\n\0";
        let out = check(&make, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        let expected = limit(7 + 4, LimitKind::CommandLine, 4);
        assert_eq!(out.err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (12, expected), "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// D-12, H-8: header line.

#[test]
fn d12_header_line_limit() {
    let limits = Limits::default().max_header_line(8);
    for v in ALL {
        let make = || Decoder::with_limits(v, limits);
        // Exactly 8 octets, with LF and with CRLF: fine.
        let items = check(&make, b"SEND\nabc:defg\n\n\0SEND\r\nabc:defg\r\n\r\n\0").ok();
        let one = fr(Command::Send, [("abc", "defg")], b"");
        assert_eq!(items, [one.clone(), one], "{v}");
        // Nine octets: the ninth is the first one too many.
        let input = b"SEND\nabc:defgh\n\n\0";
        let out = check(&make, input);
        let expected = limit(13, LimitKind::HeaderLine, 8);
        assert_eq!(out.err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (14, expected), "{v}");
    }
}

#[test]
fn d3_d12_lone_cr_counts_toward_the_header_line_in_1_0_and_1_1() {
    // The CR at offset 13 could start a CRLF, so the limit is known once the next octet shows
    // it is data.
    let limits = Limits::default().max_header_line(8);
    for v in [Version::V1_0, Version::V1_1] {
        let make = || Decoder::with_limits(v, limits);
        let input = b"SEND\nabc:defg\rX\n\n\0";
        let expected = limit(13, LimitKind::HeaderLine, 8);
        assert_eq!(check(&make, input).err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (15, expected), "{v}");
    }
}

#[test]
fn d3_d12_lone_cr_counts_toward_the_command_line_in_1_0_and_1_1() {
    let limits = Limits::default().max_command_line(4);
    for v in [Version::V1_0, Version::V1_1] {
        let make = || Decoder::with_limits(v, limits);
        let input = b"SEND\rX\n\n\0";
        let expected = limit(4, LimitKind::CommandLine, 4);
        assert_eq!(check(&make, input).err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (6, expected), "{v}");
    }
}

#[test]
fn d12_default_header_line_limit_is_8_kib() {
    let make = || Decoder::new(Version::V1_2);
    let value = "v".repeat(8192 - 2);
    let ok = format!("SEND\nx:{value}\n\n\0");
    assert_eq!(
        check(&make, ok.as_bytes()).ok(),
        [fr(Command::Send, [("x", value.as_str())], b"")]
    );
    let input = format!("SEND\nx:{value}v\n\n\0");
    let expected = limit(5 + 8192, LimitKind::HeaderLine, 8192);
    assert_eq!(check(&make, input.as_bytes()).err(), expected);
    assert_eq!(fails_after(&make, input.as_bytes()), (5 + 8193, expected));
}

#[test]
fn d12_header_line_limit_counts_escapes_on_the_wire() {
    // `x:\n\n\n` is 8 octets on the wire, 5 once unescaped.
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_header_line(8));
    let items = check(&make, b"SEND\nx:\\n\\n\\n\n\n\0").ok();
    assert_eq!(items, [fr(Command::Send, [("x", "\n\n\n")], b"")]);
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_header_line(7));
    let err = check(&make, b"SEND\nx:\\n\\n\\n\n\n\0").err();
    assert_eq!(err, limit(12, LimitKind::HeaderLine, 7));
}

// ---------------------------------------------------------------------------------------------
// D-12, H-8: header count.

#[test]
fn d12_header_count_limit() {
    let limits = Limits::default().max_headers(2);
    for v in ALL {
        let make = || Decoder::with_limits(v, limits);
        let items = check(&make, b"SEND\na:1\nb:2\n\n\0").ok();
        assert_eq!(items, [fr(Command::Send, [("a", "1"), ("b", "2")], b"")]);
        // Repeats count as entries (H-6).
        let input = b"SEND\n\n\0SEND\na:1\na:2\na:3\n\n\0";
        let out = check(&make, input);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        let expected = limit(at(input, b"a:3"), LimitKind::HeaderCount, 2);
        assert_eq!(out.err(), expected, "{v}");
        let (fed, err) = fails_after(&make, input);
        assert_eq!(err, expected);
        assert!(fed <= input.len() - 2, "{v}: known by the end of the line");
    }
}

#[test]
fn d12_f6_zero_headers_allowed_with_max_headers_zero() {
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_headers(0));
    let items = check(&make, b"DISCONNECT\n\n\0SEND\r\n\r\nx\0").ok();
    assert_eq!(
        items,
        [
            fr(Command::Disconnect, NO_HEADERS, b""),
            fr(Command::Send, NO_HEADERS, b"x")
        ]
    );
    let err = check(&make, b"SEND\na:b\n\n\0").err();
    assert_eq!(err, limit(5, LimitKind::HeaderCount, 0));
}

#[test]
fn d12_default_header_count_is_128() {
    let make = || Decoder::new(Version::V1_2);
    let mut input = b"SEND\n".to_vec();
    for i in 0..128 {
        input.extend_from_slice(format!("h{i}:{i}\n").as_bytes());
    }
    let mut ok = input.clone();
    ok.extend_from_slice(b"\n\0");
    let out = check(&make, &ok).ok();
    assert_eq!(frame(&out[0]).headers().len(), 128);
    let extra_at = input.len() as u64;
    input.extend_from_slice(b"one:too many\n\n\0");
    assert_eq!(
        check(&make, &input).err(),
        limit(extra_at, LimitKind::HeaderCount, 128)
    );
}

// ---------------------------------------------------------------------------------------------
// D-12, H-8: total header bytes.

#[test]
fn d12_header_bytes_limit_counts_command_eols_and_blank_line() {
    // `SEND\n` + `a:b\n` + `\n` = 10 octets.
    let input = b"SEND\na:b\n\n\0\n\n\nSEND\na:b\n\n\0";
    for v in ALL {
        let make = || Decoder::with_limits(v, Limits::default().max_header_bytes(10));
        let one = fr(Command::Send, [("a", "b")], b"");
        assert_eq!(
            check(&make, input).ok(),
            [one.clone(), HB, HB, HB, one],
            "{v}: heart-beats are not frame bytes"
        );
        let make = || Decoder::with_limits(v, Limits::default().max_header_bytes(9));
        let expected = limit(9, LimitKind::HeaderBytes, 9);
        assert_eq!(check(&make, input).err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (10, expected), "{v}");
    }
}

#[test]
fn d12_header_bytes_limit_inside_a_line() {
    // 5 + 3 * 6 + 1 = 24 octets of head; the 21st (offset 20) is one too many.
    let input = b"SEND\naa:11\nbb:22\ncc:33\n\n\0";
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_header_bytes(20));
    let expected = limit(20, LimitKind::HeaderBytes, 20);
    assert_eq!(check(&make, input).err(), expected);
    assert_eq!(fails_after(&make, input), (21, expected));
}

#[test]
fn d12_header_bytes_limit_with_crlf_blank_line() {
    // `SEND\n` + `a:b\n` + `\r\n` = 11 octets.
    let input = b"SEND\na:b\n\r\n\0";
    for v in ALL {
        let make = || Decoder::with_limits(v, Limits::default().max_header_bytes(11));
        assert_eq!(check(&make, input).ok().len(), 1);
        let make = || Decoder::with_limits(v, Limits::default().max_header_bytes(10));
        let expected = limit(10, LimitKind::HeaderBytes, 10);
        assert_eq!(check(&make, input).err(), expected, "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// D-12, H-1, H-8: body.

#[test]
fn d12_declared_body_over_the_limit_fails_before_any_body_octet() {
    let limits = Limits::default().max_body(10);
    for v in ALL {
        let make = || Decoder::with_limits(v, limits);
        let head = b"SEND\n\n\0SEND\nx:y\ncontent-length:11\nz:w\n\n";
        let expected = limit(at(head, b"content-length"), LimitKind::Body, 10);
        // Nothing of the body is pushed: the error comes with the blank line.
        assert_eq!(fails_after(&make, head), (head.len(), expected.clone()));
        let out = check(&make, head);
        assert_eq!(out.items, [fr(Command::Send, NO_HEADERS, b"")]);
        assert_eq!(out.err(), expected, "{v}");

        let mut dec = make();
        dec.push(head);
        assert!(dec.next_item().unwrap().is_some());
        assert_eq!(dec.next_item(), Err(expected));
        assert_eq!(dec.buffered(), 0, "nothing is kept after the error");

        // Exactly at the limit: fine.
        let ok = b"SEND\ncontent-length:10\n\n0123456789\0";
        let items = check(&make, ok).ok();
        assert_eq!(
            items,
            [fr(Command::Send, [("content-length", "10")], b"0123456789")]
        );
    }
}

#[test]
fn d12_default_body_limit_is_8_mib() {
    let make = || Decoder::new(Version::V1_2);
    let head = b"MESSAGE\ncontent-length:8388609\n\n";
    assert_eq!(
        fails_after(&make, head),
        (head.len(), limit(8, LimitKind::Body, 8 * 1024 * 1024))
    );
    let huge = b"MESSAGE\ncontent-length:18446744073709551615\n\n";
    assert_eq!(
        fails_after(&make, huge),
        (huge.len(), limit(8, LimitKind::Body, 8 * 1024 * 1024))
    );
    // At the limit the decoder waits for the body.
    let mut dec = make();
    dec.push(b"MESSAGE\ncontent-length:8388608\n\n");
    assert_eq!(dec.next_item(), Ok(None));
    assert!(dec.is_mid_frame());
}

#[test]
fn d12_nul_scanned_body_fails_when_it_passes_the_limit() {
    let limits = Limits::default().max_body(10);
    for v in ALL {
        let make = || Decoder::with_limits(v, limits);
        let items = check(&make, b"SEND\n\n0123456789\0").ok();
        assert_eq!(items, [fr(Command::Send, NO_HEADERS, b"0123456789")]);
        // No NUL ever comes: the 11th body octet (offset 6 + 10) is one too many.
        let input = b"SEND\n\n0123456789A";
        let expected = limit(16, LimitKind::Body, 10);
        assert_eq!(check(&make, input).err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (17, expected), "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// D-12, H-8: whole frame.

#[test]
fn d12_frame_limit_with_scanned_body() {
    // `SEND\n\nabc\0` is 10 octets, NUL included.
    for v in ALL {
        let make = || Decoder::with_limits(v, Limits::default().max_frame(10));
        let items = check(&make, b"SEND\n\nabc\0\nSEND\n\nabc\0").ok();
        let one = fr(Command::Send, NO_HEADERS, b"abc");
        assert_eq!(items, [one.clone(), HB, one], "{v}");
        let expected = limit(10, LimitKind::Frame, 10);
        assert_eq!(check(&make, b"SEND\n\nabcd\0").err(), expected, "{v}");
        assert_eq!(
            fails_after(&make, b"SEND\n\nabcd\0"),
            (11, expected.clone())
        );
        assert_eq!(fails_after(&make, b"SEND\n\nabcde"), (11, expected));
    }
}

#[test]
fn d12_frame_limit_with_declared_length_fails_after_the_header_block() {
    // `SEND\ncontent-length:3\n\nabc\0` is 27 octets.
    let input = b"SEND\ncontent-length:3\n\nabc\0";
    for v in ALL {
        let make = || Decoder::with_limits(v, Limits::default().max_frame(27));
        assert_eq!(check(&make, input).ok().len(), 1);
        let make = || Decoder::with_limits(v, Limits::default().max_frame(26));
        let expected = limit(5, LimitKind::Frame, 26);
        assert_eq!(check(&make, input).err(), expected, "{v}");
        assert_eq!(fails_after(&make, input), (23, expected), "{v}");
    }
}

#[test]
fn d12_frame_limit_below_the_header_block() {
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_frame(8));
    let input = b"SEND\na:b\n\n\0";
    let expected = limit(8, LimitKind::Frame, 8);
    assert_eq!(check(&make, input).err(), expected);
    assert_eq!(fails_after(&make, input), (9, expected));
}

#[test]
fn h8_limits_apply_to_server_and_client_frames() {
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_body(2));
    for c in [Command::Send, Command::Message, Command::Error] {
        let mut input = c.as_bytes().to_vec();
        input.extend_from_slice(b"\n\nabc\0");
        let body_at = (c.as_bytes().len() + 2) as u64;
        assert_eq!(
            check(&make, &input).err(),
            limit(body_at + 2, LimitKind::Body, 2),
            "{c}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// H-1: content-length gives the body size, whatever the octets.

#[test]
fn h1_content_length_in_every_version() {
    let input = b"MESSAGE\ncontent-length:6\n\n\0\n\n\0\r\n\0\n";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Message, [("content-length", "6")], b"\0\n\n\0\r\n"),
                HB
            ],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// H-3: content-length is honoured on every frame.

#[test]
fn h3_content_length_honoured_on_error_and_receipt() {
    let input = b"ERROR\nmessage:bad\ncontent-length:3\n\na\0b\0RECEIPT\nreceipt-id:1\ncontent-length:0\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(
                    Command::Error,
                    [("message", "bad"), ("content-length", "3")],
                    b"a\0b"
                ),
                fr(
                    Command::Receipt,
                    [("receipt-id", "1"), ("content-length", "0")],
                    b""
                ),
            ],
            "{v}"
        );
    }
}

#[test]
fn h3_content_length_honoured_on_any_command_in_1_0() {
    for c in [Command::Connect, Command::Subscribe, Command::Ack] {
        let mut input = c.as_bytes().to_vec();
        input.extend_from_slice(b"\ncontent-length:2\n\n\0\0\0");
        let items = check_v(Version::V1_0, &input).ok();
        assert_eq!(
            items,
            [fr(c.clone(), [("content-length", "2")], b"\0\0")],
            "{c}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// H-4: content-type is exposed, never interpreted.

#[test]
fn h4_content_type_does_not_change_the_body() {
    let input = b"MESSAGE\ncontent-type:text/plain;charset=iso-8859-1\n\ncaf\xe9\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [fr(
                Command::Message,
                [("content-type", "text/plain;charset=iso-8859-1")],
                b"caf\xe9"
            )],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// H-5: receipt is an ordinary header to the decoder.

#[test]
fn h5_receipt_headers_pass_through() {
    let input =
        b"SEND\nreceipt:r-1\n\n\0SUBSCRIBE\nid:0\nreceipt:r-2\n\n\0DISCONNECT\nreceipt:r\\c3\n\n\0";
    for v in [Version::V1_1, Version::V1_2] {
        let items = check_v(v, input).ok();
        assert_eq!(
            items,
            [
                fr(Command::Send, [("receipt", "r-1")], b""),
                fr(Command::Subscribe, [("id", "0"), ("receipt", "r-2")], b""),
                fr(Command::Disconnect, [("receipt", "r:3")], b""),
            ],
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// H-6: repeated headers.

#[test]
fn h6_repeats_kept_in_wire_order_first_wins() {
    let input = b"MESSAGE\nfoo:World\nbar:1\nfoo:Hello\nfoo:a\\cb\n\n\0";
    for v in ALL {
        let items = check_v(v, input).ok();
        let f = frame(&items[0]);
        let third = if v == Version::V1_0 { "a\\cb" } else { "a:b" };
        assert_eq!(
            header_list(f),
            [
                (b"foo".to_vec(), b"World".to_vec()),
                (b"bar".to_vec(), b"1".to_vec()),
                (b"foo".to_vec(), b"Hello".to_vec()),
                (b"foo".to_vec(), third.as_bytes().to_vec()),
            ],
            "{v}"
        );
        assert_eq!(f.headers().get("foo"), Some(&b"World"[..]));
        assert_eq!(f.headers().get_str("foo").unwrap(), Some("World"));
        assert_eq!(f.headers().get_bytes("foo").as_deref(), Some(&b"World"[..]));
        assert_eq!(
            f.headers().get_all("foo").collect::<Vec<_>>(),
            [&b"World"[..], b"Hello", third.as_bytes()]
        );
        assert_eq!(f.headers().len(), 4);
    }
}

#[test]
fn h6_first_escaped_entry_wins_when_names_match_after_unescaping() {
    let input = b"MESSAGE\na\\cb:1\na:b:2\n\n\0";
    // In 1.1/1.2 the first name unescapes to `a:b`; the second line is name `a`, value `b:2`.
    for v in [Version::V1_1, Version::V1_2] {
        let items = check_v(v, input).ok();
        let f = frame(&items[0]);
        assert_eq!(f.headers().get("a:b"), Some(&b"1"[..]));
        assert_eq!(f.headers().get("a"), Some(&b"b:2"[..]));
    }
}

// ---------------------------------------------------------------------------------------------
// H-7: no trimming (1.1/1.2 MUST; D-6 extends it to 1.0).

#[test]
fn h7_spaces_around_escapes_are_kept() {
    let input = b"SEND\n a\\c : b\\n \n\n\0";
    for v in [Version::V1_1, Version::V1_2] {
        let items = check_v(v, input).ok();
        assert_eq!(items, [fr(Command::Send, [(" a: ", " b\n ")], b"")], "{v}");
    }
    let items = check_v(Version::V1_0, input).ok();
    assert_eq!(items, [fr(Command::Send, [(" a\\c ", " b\\n ")], b"")]);
}

// ---------------------------------------------------------------------------------------------
// H-9: protocol header names are matched exactly.

#[test]
fn h9_content_length_in_other_case_is_a_user_header() {
    for (name, value) in [
        ("Content-Length", "1"),
        ("CONTENT-LENGTH", "x"),
        ("content-length ", "1"),
        (" content-length", "1"),
        ("Content-length", "-5"),
    ] {
        // Not a length: no syntax check, and the body runs to the first NUL.
        let input = format!("SEND\n{name}:{value}\n\nabc\0");
        for v in ALL {
            let items = check_v(v, input.as_bytes()).ok();
            assert_eq!(items, [fr(Command::Send, [(name, value)], b"abc")], "{v}");
            assert_eq!(frame(&items[0]).headers().get("content-length"), None);
        }
    }
}

#[test]
fn h9_d12_uppercase_content_length_is_not_checked_against_the_body_limit() {
    let make = || Decoder::with_limits(Version::V1_2, Limits::default().max_body(4));
    let items = check(&make, b"SEND\nContent-Length:999999\n\nabc\0").ok();
    assert_eq!(
        items,
        [fr(Command::Send, [("Content-Length", "999999")], b"abc")]
    );
}

// ---------------------------------------------------------------------------------------------
// H-10: text access validates UTF-8 (see also escaping.rs, D-11).

#[test]
fn h10_get_str_returns_text() {
    let input = "MESSAGE\ndestination:/queue/ünïcode\ncontent-type:text/plain\n\n\0".as_bytes();
    let items = check_v(Version::V1_2, input).ok();
    let h = frame(&items[0]).headers();
    assert_eq!(h.get_str("destination").unwrap(), Some("/queue/ünïcode"));
    assert_eq!(h.get_str("content-type").unwrap(), Some("text/plain"));
}
