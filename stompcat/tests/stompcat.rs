//! Integration tests of the `stompcat` binary against its contract (issue 2, "stompcat").
//!
//! Every expected output here is written by hand from STOMP-RULES.md and the contract; the
//! binary is the one cargo builds for these tests (`CARGO_BIN_EXE_stompcat`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// The captures of `tests/fixtures/captures/` at the repository root, shared with stomp-codec's
/// own tests.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/captures")
        .join(name)
}

/// Runs stompcat with `args`, feeding `input` on stdin.
fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stompcat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stompcat starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // Write from a thread so a child that writes before reading everything cannot deadlock us.
    let writer = std::thread::spawn(move || {
        // The child may exit before reading (usage errors): a broken pipe here is fine.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("stompcat runs");
    writer.join().expect("the stdin writer does not panic");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "stompcat panicked: {stderr}");
    output
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("decode output is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `decode` and returns its JSON lines and exit code.
fn decode(args: &[&str], input: &[u8]) -> (Vec<Value>, i32) {
    let mut full = vec!["decode"];
    full.extend_from_slice(args);
    let output = run(&full, input);
    let lines = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    (lines, output.status.code().expect("exited normally"))
}

/// Runs `encode` over JSON lines and returns the raw output, stderr and exit code.
fn encode(args: &[&str], lines: &[Value]) -> (Vec<u8>, String, i32) {
    let mut input = String::new();
    for line in lines {
        input.push_str(&line.to_string());
        input.push('\n');
    }
    encode_text(args, &input)
}

fn encode_text(args: &[&str], input: &str) -> (Vec<u8>, String, i32) {
    let mut full = vec!["encode"];
    full.extend_from_slice(args);
    let output = run(&full, input.as_bytes());
    let code = output.status.code().expect("exited normally");
    (output.stdout.clone(), stderr(&output), code)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn heartbeat() -> Value {
    json!({"heartbeat": true})
}

fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Value {
    let headers: Vec<Value> = headers.iter().map(|(n, v)| json!([n, v])).collect();
    json!({"command": command, "headers": headers, "body_hex": hex(body)})
}

// ---------------------------------------------------------------------------------------------
// decode

#[test]
fn frame_line_has_the_exact_documented_form_f1_h6() {
    // Headers in wire order, the repeated destination kept (H-6), body as lowercase hex.
    let input =
        b"SEND\ndestination:/queue/a\ncontent-type:text/plain\ndestination:/queue/b\n\nhello\0";
    let output = run(&["decode"], input);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "{\"command\":\"SEND\",\"headers\":[[\"destination\",\"/queue/a\"],\
         [\"content-type\",\"text/plain\"],[\"destination\",\"/queue/b\"]],\
         \"body_hex\":\"68656c6c6f\"}\n"
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn counted_binary_body_and_crlf_lines_f2_f7_h1() {
    let input = b"MESSAGE\r\ncontent-length:3\r\n\r\na\0\xff\0";
    let (lines, code) = decode(&[], input);
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [frame("MESSAGE", &[("content-length", "3")], b"a\0\xff")]
    );
}

#[test]
fn non_utf8_header_bytes_become_replacement_characters_d11() {
    let (lines, code) = decode(&[], b"MESSAGE\nx\xfe:a\xffb\n\n\0");
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [frame("MESSAGE", &[("x\u{fffd}", "a\u{fffd}b")], b"")]
    );
}

#[test]
fn every_eol_between_frames_is_a_heartbeat_f10_d13() {
    // LF before the frame, then NUL + LF (the broker habit), CRLF and LF.
    let input = b"\nSEND\n\nhi\0\n\r\n\nDISCONNECT\n\n\0\n";
    let (lines, code) = decode(&[], input);
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [
            heartbeat(),
            frame("SEND", &[], b"hi"),
            heartbeat(),
            heartbeat(),
            heartbeat(),
            frame("DISCONNECT", &[], b""),
            heartbeat(),
        ]
    );
    // The same with LF-only EOLs in 1.0 and 1.1.
    for version in ["1.0", "1.1"] {
        let (lines, code) = decode(&["--version", version], b"\n\nSEND\n\n\0\n");
        assert_eq!(code, 0, "{version}");
        assert_eq!(
            lines,
            [
                heartbeat(),
                heartbeat(),
                frame("SEND", &[], b""),
                heartbeat()
            ],
            "{version}"
        );
    }
}

#[test]
fn headers_are_unescaped_in_1_2_e3_e6() {
    // Name `a\cb` is `a:b`; value `c\nd\\e\rf` holds LF, backslash and CR.
    let input = b"MESSAGE\na\\cb:c\\nd\\\\e\\rf\n\n\0";
    let (lines, code) = decode(&["--version", "1.2"], input);
    assert_eq!(code, 0);
    assert_eq!(lines, [frame("MESSAGE", &[("a:b", "c\nd\\e\rf")], b"")]);
    // 1.2 is the default.
    assert_eq!(decode(&[], input), (lines, 0));
}

#[test]
fn headers_are_unescaped_without_cr_in_1_1_e2_e4() {
    let (lines, code) = decode(&["--version", "1.1"], b"MESSAGE\nk\\c:v\\n\\\\\n\n\0");
    assert_eq!(code, 0);
    assert_eq!(lines, [frame("MESSAGE", &[("k:", "v\n\\")], b"")]);
    // `\r` is not a 1.1 escape (E-4): the backslash at byte 17 is the error.
    let (lines, code) = decode(&["--version", "1.1"], b"MESSAGE\nname:a\\rb\n\n\0");
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "bad_escape");
    assert_eq!(lines[0]["offset"], 14);
}

#[test]
fn headers_are_raw_in_1_0_e1() {
    let input = b"MESSAGE\na\\cb:c\\nd\\\\e\\rf\n\n\0";
    let (lines, code) = decode(&["--version", "1.0"], input);
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [frame("MESSAGE", &[("a\\cb", "c\\nd\\\\e\\rf")], b"")]
    );
}

#[test]
fn connect_headers_are_never_unescaped_e5_d7() {
    // `\b` would be a bad escape in a MESSAGE; in CONNECT and STOMP it is plain data.
    for command in ["CONNECT", "STOMP"] {
        let input = format!("{command}\npasscode:a\\b\\c\n\n\0");
        let (lines, code) = decode(&[], input.as_bytes());
        assert_eq!(code, 0, "{command}");
        assert_eq!(
            lines,
            [frame(command, &[("passcode", "a\\b\\c")], b"")],
            "{command}"
        );
    }
}

/// Checks an error line: the exact kind and offset, and a message naming the offset.
fn assert_error(line: &Value, kind: &str, offset: u64) {
    assert_eq!(line["kind"], kind, "{line}");
    assert_eq!(line["offset"], offset, "{line}");
    let message = line["error"].as_str().expect("error is a string");
    assert!(message.contains(&offset.to_string()), "{line}");
    assert_eq!(line.as_object().map(|o| o.len()), Some(3), "{line}");
}

#[test]
fn lowercase_command_is_an_error_after_the_frames_before_it_d1() {
    // First frame: 12 octets ("SEND\n" 5, "a:b\n" 4, "\n" 1, "x" 1, NUL 1), then `send`.
    let (lines, code) = decode(&[], b"SEND\na:b\n\nx\0send\n\n\0");
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], frame("SEND", &[("a", "b")], b"x"));
    assert_error(&lines[1], "unknown_command", 12);
}

#[test]
fn header_without_colon_is_an_error_d4() {
    // 12-octet frame, a heart-beat at 12, "SUBSCRIBE\n" at 13, the bad line at 23.
    let (lines, code) = decode(&[], b"SEND\na:b\n\nx\0\nSUBSCRIBE\nnocolon\n\n\0");
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], frame("SEND", &[("a", "b")], b"x"));
    assert_eq!(lines[1], heartbeat());
    assert_error(&lines[2], "missing_colon", 23);
}

#[test]
fn counted_body_must_end_in_nul_f8() {
    // "SEND\n" 5 + "content-length:2\n" 17 + "\n" 1 = body at 23..25; 'c' at 25 is no NUL.
    let (lines, code) = decode(&[], b"SEND\ncontent-length:2\n\nabc\0");
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1);
    assert_error(&lines[0], "missing_nul", 25);
}

#[test]
fn body_on_subscribe_is_an_error_in_1_2_only_f9_d10() {
    let input = b"SUBSCRIBE\nid:0\n\nx\0";
    let (lines, code) = decode(&[], input);
    assert_eq!(code, 1);
    assert_error(&lines[0], "body_not_allowed", 16);
    let (lines, code) = decode(&["--version", "1.0"], input);
    assert_eq!(code, 0);
    assert_eq!(lines, [frame("SUBSCRIBE", &[("id", "0")], b"x")]);
}

#[test]
fn error_is_reported_the_same_under_any_chunking_f11() {
    let input = b"SEND\na:b\n\nx\0\nSUBSCRIBE\nnocolon\n\n\0";
    let whole = run(&["decode"], input);
    for chunk in ["1", "2", "5", "1000"] {
        let split = run(&["decode", "--chunk", chunk], input);
        assert_eq!(split.status.code(), Some(1), "--chunk {chunk}");
        assert_eq!(stdout(&split), stdout(&whole), "--chunk {chunk}");
    }
}

#[test]
fn truncated_input_is_incomplete_with_status_0() {
    let cases: [(&[u8], Vec<Value>); 5] = [
        (b"SEND\na:b\n\nhel", vec![json!({"incomplete": true})]),
        (b"SEND\n", vec![json!({"incomplete": true})]),
        // A complete frame, then the start of the next one.
        (
            b"SEND\n\nok\0MESS",
            vec![frame("SEND", &[], b"ok"), json!({"incomplete": true})],
        ),
        // A lone CR between frames may still become a CRLF heart-beat.
        (
            b"SEND\n\nok\0\r",
            vec![frame("SEND", &[], b"ok"), json!({"incomplete": true})],
        ),
        // A counted body still missing octets.
        (
            b"SEND\ncontent-length:10\n\n\0\0",
            vec![json!({"incomplete": true})],
        ),
    ];
    for (input, expected) in cases {
        for chunk in ["1", "3"] {
            let (lines, code) = decode(&["--chunk", chunk], input);
            assert_eq!(code, 0, "{input:?}");
            assert_eq!(lines, expected, "{input:?} --chunk {chunk}");
        }
        assert_eq!(decode(&[], input), (expected, 0), "{input:?}");
    }
    // No input at all: nothing to say.
    let output = run(&["decode"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
}

/// The plain STOMP captures: every `*.bin` but the raw HTTP/WebSocket recordings, which are
/// the ones with a `*.ws-payload.bin` sibling holding their STOMP bytes.
fn captures() -> Vec<PathBuf> {
    let dir = fixture("");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let Some(stem) = name.strip_suffix(".bin") else {
                return false;
            };
            !dir.join(format!("{stem}.ws-payload.bin")).exists()
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "captures missing: {paths:?}");
    paths
}

#[test]
fn captures_decode_the_same_byte_by_byte_as_whole_f11() {
    for path in captures() {
        let input = std::fs::read(&path).expect("capture readable");
        let name = path.display();
        let whole = run(&["decode"], &input);
        assert_eq!(whole.status.code(), Some(0), "{name}");
        let text = stdout(&whole);
        assert!(text.contains("\"command\""), "{name}: no frame");
        assert!(!text.contains("\"error\""), "{name}: {text}");
        for chunk in ["1", "7"] {
            let split = run(&["decode", "--chunk", chunk], &input);
            assert_eq!(split.status.code(), Some(0), "{name} --chunk {chunk}");
            assert_eq!(stdout(&split), text, "{name} --chunk {chunk}");
        }
    }
}

fn command_of(line: &Value) -> &str {
    line["command"].as_str().unwrap_or("")
}

fn header_names(line: &Value) -> Vec<&str> {
    line["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .map(|pair| pair[0].as_str().expect("name"))
        .collect()
}

fn header<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    line["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

/// Value of `x-interop-escape` on the wire, `colon\cback\\slash\nnewline`, unescaped (E-3).
const INTEROP_ESCAPE: &str = "colon:back\\slash\nnewline";

#[test]
fn stomppy_to_rabbitmq_capture_has_the_frames_on_the_wire() {
    // Structure read from the capture bytes: STOMP, SUBSCRIBE, SEND, ACK, two LFs, DISCONNECT.
    let path = fixture("stomppy-to-rabbitmq.bin");
    let (lines, code) = decode(&[], &std::fs::read(path).expect("capture readable"));
    assert_eq!(code, 0);
    let shape: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l == &heartbeat() {
                "heartbeat"
            } else {
                command_of(l)
            }
        })
        .collect();
    assert_eq!(
        shape,
        [
            "STOMP",
            "SUBSCRIBE",
            "SEND",
            "ACK",
            "heartbeat",
            "heartbeat",
            "DISCONNECT"
        ]
    );
    let stomp = &lines[0];
    assert_eq!(
        header_names(stomp),
        ["accept-version", "heart-beat", "host", "login", "passcode"]
    );
    assert_eq!(header(stomp, "accept-version"), Some("1.2"));
    assert_eq!(header(stomp, "heart-beat"), Some("1000,1000"));

    let subscribe = &lines[1];
    assert_eq!(header(subscribe, "ack"), Some("client-individual"));
    assert_eq!(header(subscribe, "destination"), Some("/queue/interop"));

    let send = &lines[2];
    assert_eq!(
        header_names(send),
        [
            "content-length",
            "content-type",
            "destination",
            "receipt",
            "x-interop-escape"
        ]
    );
    assert_eq!(header(send, "x-interop-escape"), Some(INTEROP_ESCAPE));
    let body = "hello from stomp.py: caf\u{e9} \u{2713}";
    assert_eq!(header(send, "content-length"), Some("30"));
    assert_eq!(body.len(), 30);
    assert_eq!(send["body_hex"], hex(body.as_bytes()));

    let ack = &lines[3];
    assert_eq!(header_names(ack), ["id", "receipt"]);
    assert!(header(ack, "id").is_some_and(|id| id.starts_with("T_sub-0@@")));
    assert_eq!(header(ack, "receipt"), Some("ack-1"));
    assert_eq!(
        lines[6],
        frame("DISCONNECT", &[("receipt", "disconnect-1")], b"")
    );
}

#[test]
fn rabbitmq_to_stomppy_capture_has_the_frames_on_the_wire() {
    // CONNECTED, MESSAGE, two RECEIPTs, then the disconnect RECEIPT, each NUL followed by LFs.
    let path = fixture("rabbitmq-to-stomppy.bin");
    let (lines, code) = decode(&[], &std::fs::read(path).expect("capture readable"));
    assert_eq!(code, 0);
    let frames: Vec<&Value> = lines.iter().filter(|l| l != &&heartbeat()).collect();
    let commands: Vec<&str> = frames.iter().map(|l| command_of(l)).collect();
    assert_eq!(
        commands,
        ["CONNECTED", "MESSAGE", "RECEIPT", "RECEIPT", "RECEIPT"]
    );
    assert_eq!(header(frames[0], "version"), Some("1.2"));
    assert_eq!(header(frames[1], "x-interop-escape"), Some(INTEROP_ESCAPE));
    assert_eq!(header(frames[4], "receipt-id"), Some("disconnect-1"));
    assert!(
        lines.len() > frames.len(),
        "broker EOLs show as heart-beats"
    );
    assert_eq!(lines[1], heartbeat(), "the LF after CONNECTED's NUL");
}

// ---------------------------------------------------------------------------------------------
// encode

#[test]
fn encode_writes_lf_lines_and_adds_content_length_d25_h2() {
    let lines = [
        frame("SEND", &[("destination", "/queue/a")], b"hi\0h"),
        heartbeat(),
        frame("DISCONNECT", &[], b""),
    ];
    let (out, err, code) = encode(&[], &lines);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        b"SEND\ndestination:/queue/a\ncontent-length:4\n\nhi\0h\0\nDISCONNECT\n\n\0"
    );
}

#[test]
fn encode_accepts_text_bodies_skips_blank_lines_and_keeps_given_content_length() {
    let input = "\n{\"command\":\"SEND\",\"headers\":[[\"content-length\",\"2\"],[\"a\",\"b\"]],\"body\":\"ok\"}\n   \n\
                 {\"command\":\"ACK\",\"body_hex\":\"\"}\n";
    let (out, err, code) = encode_text(&[], input);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, b"SEND\ncontent-length:2\na:b\n\nok\0ACK\n\n\0");
}

#[test]
fn encode_escapes_per_version_e2_e3_e5() {
    let send = frame("SEND", &[("a:b", "c\nd\\e")], b"");
    let (out, _, code) = encode(&["--version", "1.1"], &[send]);
    assert_eq!(code, 0);
    assert_eq!(out, b"SEND\na\\cb:c\\nd\\\\e\n\n\0");
    let with_cr = frame("SEND", &[("x", "a\rb")], b"");
    let (out, _, code) = encode(&[], &[with_cr]);
    assert_eq!(code, 0);
    assert_eq!(out, b"SEND\nx:a\\rb\n\n\0");
    // CONNECT is never escaped: a colon in its value goes out as it is.
    let connect = frame("CONNECT", &[("passcode", "p:w\\")], b"");
    let (out, _, code) = encode(&[], &[connect]);
    assert_eq!(code, 0);
    assert_eq!(out, b"CONNECT\npasscode:p:w\\\n\n\0");
}

#[test]
fn encode_refuses_a_body_on_subscribe_in_1_2_after_writing_earlier_frames_f9() {
    let lines = [
        frame("SEND", &[], b""),
        frame("SUBSCRIBE", &[("id", "0")], b"a\0b"),
        frame("SEND", &[], b""),
    ];
    let (out, err, code) = encode(&[], &lines);
    assert_eq!(code, 1);
    assert_eq!(out, b"SEND\n\n\0", "only the frame before the refusal");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("SUBSCRIBE"), "{err}");
    assert!(err.contains("body"), "{err}");
}

#[test]
fn encode_refuses_headers_that_cannot_be_written_e9() {
    let cases = [
        // A CR inside a 1.1 value is written raw, but not last (it would read as a CRLF's).
        (
            "1.1",
            frame("SEND", &[("x", "a\r")], b""),
            "carriage return",
        ),
        (
            "1.2",
            frame("CONNECT", &[("x", "a\rb")], b""),
            "carriage return",
        ),
        ("1.0", frame("SEND", &[("x", "a\nb")], b""), "line feed"),
        ("1.0", frame("SEND", &[("a:b", "c")], b""), "colon"),
        ("1.2", frame("CONNECT", &[("x", "a\nb")], b""), "line feed"),
    ];
    for (version, line, reason) in cases {
        let (out, err, code) = encode(&["--version", version], std::slice::from_ref(&line));
        assert_eq!(code, 1, "{version} {line}");
        assert!(out.is_empty(), "{version} {line}");
        assert!(err.contains(reason), "{version} {line}: {err}");
    }
}

#[test]
fn encode_maps_command_names_s1_d1() {
    // Standard names map to their command; other printable words are extension commands.
    let (out, _, code) = encode(&[], &[frame("NACK", &[("id", "1")], b"")]);
    assert_eq!((out.as_slice(), code), (&b"NACK\nid:1\n\n\0"[..], 0));
    let (out, _, code) = encode(&[], &[frame("PING", &[], b"")]);
    assert_eq!((out.as_slice(), code), (&b"PING\n\n\0"[..], 0));
    for bad in ["", "SEND NOW", "SEND\n", "\u{e9}"] {
        let (out, err, code) = encode(&[], &[frame(bad, &[], b"")]);
        assert_eq!(code, 1, "{bad:?}");
        assert!(out.is_empty(), "{bad:?}");
        assert!(err.contains("command"), "{bad:?}: {err}");
    }
}

#[test]
fn encode_rejects_bad_json_with_status_1() {
    let good = frame("SEND", &[], b"").to_string();
    let cases = [
        "not json",
        "[1,2]",
        "{\"headers\":[]}",
        "{\"command\":5}",
        "{\"command\":\"SEND\",\"headers\":[[\"a\"]]}",
        "{\"command\":\"SEND\",\"headers\":{\"a\":\"b\"}}",
        "{\"command\":\"SEND\",\"body_hex\":\"abc\"}",
        "{\"command\":\"SEND\",\"body_hex\":\"zz\"}",
        "{\"command\":\"SEND\",\"body_hex\":\"00\",\"body\":\"x\"}",
        "{\"command\":\"SEND\",\"header\":[]}",
        "{\"heartbeat\":false}",
        "{\"command\":\"SEND\"",
    ];
    for bad in cases {
        let (out, err, code) = encode_text(&[], &format!("{good}\n{bad}\n{good}\n"));
        assert_eq!(code, 1, "{bad}");
        assert_eq!(out, b"SEND\n\n\0", "{bad}: the frame before it is written");
        assert!(err.contains("line 2"), "{bad}: {err}");
    }
}

#[test]
fn encode_then_decode_round_trips_hand_written_frames() {
    for version in ["1.1", "1.2"] {
        let lines = [
            frame(
                "CONNECT",
                &[("accept-version", "1.1,1.2"), ("host", "/")],
                b"",
            ),
            heartbeat(),
            frame(
                "SEND",
                &[("destination", "/q"), ("k:\\", "v\n:"), ("k:\\", "second")],
                b"\0\x01\xff",
            ),
            frame("MESSAGE", &[("caf\u{e9}", "\u{2713}"), ("empty", "")], b""),
        ];
        let (wire, err, code) = encode(&["--version", version], &lines);
        assert_eq!((code, err.as_str()), (0, ""), "{version}");
        let (decoded, code) = decode(&["--version", version, "--chunk", "1"], &wire);
        assert_eq!(code, 0, "{version}");
        // The encoder appends content-length:3 to the SEND (D-25).
        let mut expected = lines.to_vec();
        expected[2] = frame(
            "SEND",
            &[
                ("destination", "/q"),
                ("k:\\", "v\n:"),
                ("k:\\", "second"),
                ("content-length", "3"),
            ],
            b"\0\x01\xff",
        );
        assert_eq!(decoded, expected, "{version}");
    }
}

#[test]
fn decode_output_feeds_back_into_encode_on_captures() {
    // decode -> encode -> decode gives the same lines, but for content-length headers the
    // encoder adds to bodies that were sent without one (D-25).
    fn without_content_length(lines: &[Value]) -> Vec<Value> {
        let mut lines = lines.to_vec();
        for line in &mut lines {
            if let Some(headers) = line.get_mut("headers").and_then(Value::as_array_mut) {
                headers.retain(|pair| pair[0] != "content-length");
            }
        }
        lines
    }
    for path in captures() {
        let name = path.display();
        let (first, code) = decode(&[], &std::fs::read(&path).expect("capture readable"));
        assert_eq!(code, 0, "{name}");
        let (wire, err, code) = encode(&[], &first);
        assert_eq!((code, err.as_str()), (0, ""), "{name}");
        let (second, code) = decode(&[], &wire);
        assert_eq!(code, 0, "{name}");
        assert_eq!(
            without_content_length(&second),
            without_content_length(&first),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// usage

#[test]
fn help_explains_both_subcommands() {
    for args in [&["--help"][..], &["-h"], &["decode", "--help"], &["help"]] {
        let output = run(args, b"");
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = stdout(&output);
        for word in [
            "decode",
            "encode",
            "--chunk",
            "--version",
            "body_hex",
            "heartbeat",
        ] {
            assert!(text.contains(word), "{args:?}: help lacks {word}");
        }
    }
    // No arguments: the help, on stderr, as a usage error.
    let output = run(&[], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("encode"));
}

#[test]
fn bad_arguments_are_usage_errors_with_status_2() {
    let cases: [&[&str]; 11] = [
        &["decode", "--chunk", "0"],
        &["decode", "--chunk", "x"],
        &["decode", "--chunk", "-3"],
        &["decode", "--chunk"],
        &["decode", "--version", "2.0"],
        &["decode", "--version=1"],
        &["decode", "--verbose"],
        &["decode", "extra"],
        &["encode", "--chunk", "4"],
        &["frobnicate"],
        &["--version", "1.2"],
    ];
    for args in cases {
        let output = run(args, b"SEND\n\n\0");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let err = stderr(&output);
        assert!(err.starts_with("stompcat: "), "{args:?}: {err}");
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
    // Both spellings of a flag value work.
    let a = run(&["decode", "--chunk=2", "--version=1.0"], b"SEND\n\n\0");
    let b = run(
        &["decode", "--chunk", "2", "--version", "1.0"],
        b"SEND\n\n\0",
    );
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // Enough output to overflow any pipe buffer, so writes fail after the reader leaves.
    let input = b"SEND\ndestination:/queue/a\n\nhello\0\n".repeat(20_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stompcat"))
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stompcat starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("some output arrives");
    assert!(first.starts_with(b"{\"command\":\"SEND\""));
    drop(stdout);
    let output = child.wait_with_output().expect("stompcat ends");
    writer
        .join()
        .expect("the writer does not panic")
        .expect("stompcat reads all its input");
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(output.status.code(), Some(0), "{err}");
}
