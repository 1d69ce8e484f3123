//! Real traffic: the captures in `tests/fixtures/captures/` (stomp.py and @stomp/stompjs
//! against RabbitMQ and ActiveMQ, over TCP and WebSocket; see the interop README) decode the
//! same whole, byte by byte, at every split point and at the read boundaries the capturing
//! proxy recorded (F-11, W-3), and hold what the bytes show: header order, `\c` escapes, the EOL
//! after every broker frame, the escaped test header.
//!
//! Files: `<client>-to-<broker>.bin` (client to server) and `<broker>-to-<client>.bin` (server
//! to client) are plain STOMP; for the WebSocket session those two files are the raw TCP bytes
//! (HTTP upgrade and WebSocket framing) and `*.ws-payload.bin` the STOMP stream they carry.
//! `<client>-<broker>.chunks.jsonl` has one line per `recv()`: `dir` (`c2s`/`s2c`), and the
//! `offset` and `len` of the read within that direction's raw file.

mod common;

use std::path::PathBuf;

use bytes::BytesMut;
use common::*;
use stomp_codec::{Command, Decoder, Encoder, Frame, Item, Version};

struct Session {
    /// Stem of the `.chunks.jsonl` file.
    chunks: &'static str,
    /// Stem of the client-to-server file.
    client: &'static str,
    /// Stem of the server-to-client file.
    server: &'static str,
    /// The `.bin` files are raw WebSocket traffic; the STOMP stream is in `.ws-payload.bin`.
    websocket: bool,
}

const SESSIONS: [Session; 6] = [
    Session {
        chunks: "stomppy-rabbitmq",
        client: "stomppy-to-rabbitmq",
        server: "rabbitmq-to-stomppy",
        websocket: false,
    },
    Session {
        chunks: "stomppy-activemq",
        client: "stomppy-to-activemq",
        server: "activemq-to-stomppy",
        websocket: false,
    },
    Session {
        chunks: "stomppy-default-host-rabbitmq",
        client: "stomppy-default-host-to-rabbitmq",
        server: "rabbitmq-to-stomppy-default-host",
        websocket: false,
    },
    Session {
        chunks: "stompjs-tcp-rabbitmq",
        client: "stompjs-tcp-to-rabbitmq",
        server: "rabbitmq-to-stompjs-tcp",
        websocket: false,
    },
    Session {
        chunks: "stompjs-tcp-activemq",
        client: "stompjs-tcp-to-activemq",
        server: "activemq-to-stompjs-tcp",
        websocket: false,
    },
    Session {
        chunks: "stompjs-ws-rabbitmq-web-stomp",
        client: "stompjs-ws-to-rabbitmq-web-stomp",
        server: "rabbitmq-web-stomp-to-stompjs-ws",
        websocket: true,
    },
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One direction of one session, as a STOMP stream with the read boundaries mapped onto it.
struct Stream {
    /// File name of the STOMP stream.
    name: String,
    /// Whether the server sent it.
    from_server: bool,
    stomp: Vec<u8>,
    /// Ends of the socket reads, as offsets into `stomp`.
    reads: Vec<usize>,
    /// WebSocket message boundaries in `stomp` (empty for TCP).
    messages: Vec<usize>,
}

/// `(offset, len)` of each read in direction `dir` (`c2s` or `s2c`), checked to tile the file.
fn reads(chunks: &str, dir: &str, file_len: usize) -> Vec<(usize, usize)> {
    let text = String::from_utf8(read(&format!("{chunks}.chunks.jsonl"))).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["dir"] == dir {
            let offset = v["offset"].as_u64().unwrap() as usize;
            let len = v["len"].as_u64().unwrap() as usize;
            out.push((offset, len));
        }
    }
    let mut next = 0;
    for &(offset, len) in &out {
        assert_eq!(offset, next, "{chunks} {dir}: reads must be contiguous");
        assert!(len > 0);
        next = offset + len;
    }
    assert_eq!(next, file_len, "{chunks} {dir}: reads must cover the file");
    out
}

/// Unmasked payload of the data messages of a raw WebSocket capture: the payload octets, the
/// raw-file position of each, and the payload offsets where each message ends.
fn ws_payload(raw: &[u8]) -> (Vec<u8>, Vec<usize>, Vec<usize>) {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP upgrade head")
        + 4;
    assert!(raw.starts_with(b"GET ") || raw.starts_with(b"HTTP/1.1 101"));
    let (mut payload, mut positions, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = head_end;
    while i < raw.len() {
        let (b0, b1) = (raw[i], raw[i + 1]);
        assert_eq!(b0 & 0x70, 0, "RSV bits set: compressed capture");
        let opcode = b0 & 0x0f;
        let masked = b1 & 0x80 != 0;
        let mut len = (b1 & 0x7f) as usize;
        i += 2;
        if len == 126 {
            len = u16::from_be_bytes([raw[i], raw[i + 1]]) as usize;
            i += 2;
        } else if len == 127 {
            len = u64::from_be_bytes(raw[i..i + 8].try_into().unwrap()) as usize;
            i += 8;
        }
        let mask = if masked {
            let m = [raw[i], raw[i + 1], raw[i + 2], raw[i + 3]];
            i += 4;
            Some(m)
        } else {
            None
        };
        if matches!(opcode, 0..=2) {
            for k in 0..len {
                let octet = raw[i + k] ^ mask.map_or(0, |m| m[k % 4]);
                payload.push(octet);
                positions.push(i + k);
            }
            if b0 & 0x80 != 0 {
                ends.push(payload.len());
            }
        }
        i += len;
    }
    assert_eq!(i, raw.len(), "the last WebSocket frame is complete");
    (payload, positions, ends)
}

fn stream(session: &Session, from_server: bool) -> Stream {
    let (stem, dir) = if from_server {
        (session.server, "s2c")
    } else {
        (session.client, "c2s")
    };
    let raw = read(&format!("{stem}.bin"));
    let read_ends: Vec<usize> = reads(session.chunks, dir, raw.len())
        .iter()
        .map(|&(o, l)| o + l)
        .collect();
    if !session.websocket {
        return Stream {
            name: format!("{stem}.bin"),
            from_server,
            stomp: raw,
            reads: read_ends,
            messages: Vec::new(),
        };
    }
    let name = format!("{stem}.ws-payload.bin");
    let stomp = read(&name);
    let (payload, positions, messages) = ws_payload(&raw);
    assert_eq!(payload, stomp, "{name} is the unmasked WebSocket payload");
    // A read that ended at raw position `end` had delivered every payload octet before it.
    let mut mapped: Vec<usize> = read_ends
        .iter()
        .map(|&end| positions.partition_point(|&p| p < end))
        .collect();
    mapped.dedup();
    Stream {
        name,
        from_server,
        stomp,
        reads: mapped,
        messages,
    }
}

fn streams() -> Vec<Stream> {
    SESSIONS
        .iter()
        .flat_map(|s| [stream(s, false), stream(s, true)])
        .collect()
}

fn stream_named(name: &str) -> Stream {
    streams()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

/// Decodes a stream with a 1.2 decoder (every captured session negotiated 1.2).
fn decode(s: &Stream) -> Vec<Item> {
    whole(&|| Decoder::new(Version::V1_2), &s.stomp).ok()
}

fn frames_of(items: &[Item]) -> Vec<&Frame> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Frame(f) => Some(f),
            Item::Heartbeat => None,
        })
        .collect()
}

/// Items as short tokens: the command, or `HB`.
fn shape(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Frame(f) => f.command().to_string(),
            Item::Heartbeat => "HB".into(),
        })
        .collect()
}

fn names(f: &Frame) -> Vec<String> {
    f.headers()
        .iter()
        .map(|(n, _)| String::from_utf8(n.to_vec()).unwrap())
        .collect()
}

fn value<'a>(f: &'a Frame, name: &str) -> &'a str {
    f.headers()
        .get_str(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no {name}", f.command()))
}

fn only<'a>(items: &'a [Item], command: &Command) -> &'a Frame {
    let found: Vec<&Frame> = frames_of(items)
        .into_iter()
        .filter(|f| f.command() == command)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {command}");
    found[0]
}

// ---------------------------------------------------------------------------------------------

/// Guards the fixture set: a capture added to the directory without an entry in `SESSIONS`
/// would otherwise go untested.
#[test]
fn every_capture_file_is_covered() {
    let mut expected: Vec<String> = Vec::new();
    for s in &SESSIONS {
        expected.push(format!("{}.chunks.jsonl", s.chunks));
        for stem in [s.client, s.server] {
            expected.push(format!("{stem}.bin"));
            if s.websocket {
                expected.push(format!("{stem}.ws-payload.bin"));
            }
        }
    }
    let mut found: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn f11_w3_captures_decode_the_same_however_they_are_cut() {
    for s in streams() {
        let make = || Decoder::new(Version::V1_2);
        // Whole, byte by byte and split in two at every octet, through every input path.
        let reference = check(&make, &s.stomp);
        assert_eq!(reference.error, None, "{}", s.name);
        assert!(!reference.mid_frame, "{}", s.name);
        assert!(!reference.frames().is_empty(), "{}", s.name);
        // At the read boundaries the proxy saw.
        assert_eq!(
            check_cuts(&make, &s.stomp, &s.reads),
            reference,
            "{} read boundaries",
            s.name
        );
        // At the WebSocket message boundaries (W-3).
        if !s.messages.is_empty() {
            assert_eq!(
                check_cuts(&make, &s.stomp, &s.messages),
                reference,
                "{} messages",
                s.name
            );
        }
    }
}

/// The frames and EOLs of each stream, in order, as read from its bytes (F-1, F-10, D-13).
#[test]
fn f1_f10_d13_item_sequences() {
    let client = "STOMP SUBSCRIBE SEND ACK HB HB DISCONNECT";
    let stompjs = "CONNECT SUBSCRIBE SEND ACK HB HB DISCONNECT";
    let rabbit = "CONNECTED HB MESSAGE HB RECEIPT HB RECEIPT HB HB HB HB HB HB RECEIPT HB";
    let activemq = "CONNECTED HB RECEIPT HB MESSAGE HB RECEIPT HB HB RECEIPT HB";
    let expected = [
        ("stomppy-to-rabbitmq.bin", client),
        ("rabbitmq-to-stomppy.bin", rabbit),
        ("stomppy-to-activemq.bin", client),
        ("activemq-to-stomppy.bin", activemq),
        ("stomppy-default-host-to-rabbitmq.bin", "STOMP"),
        ("rabbitmq-to-stomppy-default-host.bin", "ERROR HB"),
        ("stompjs-tcp-to-rabbitmq.bin", stompjs),
        ("rabbitmq-to-stompjs-tcp.bin", rabbit),
        ("stompjs-tcp-to-activemq.bin", stompjs),
        ("activemq-to-stompjs-tcp.bin", activemq),
        ("stompjs-ws-to-rabbitmq-web-stomp.ws-payload.bin", stompjs),
        // Web-STOMP closes without the DISCONNECT receipt (interop quirk 10).
        (
            "rabbitmq-web-stomp-to-stompjs-ws.ws-payload.bin",
            "CONNECTED HB MESSAGE HB RECEIPT HB RECEIPT HB HB HB HB",
        ),
    ];
    let all = streams();
    assert_eq!(all.len(), expected.len());
    for (name, tokens) in expected {
        let s = all.iter().find(|s| s.name == name).unwrap();
        assert_eq!(shape(&decode(s)).join(" "), tokens, "{name}");
    }
}

#[test]
fn f10_d13_every_broker_frame_is_followed_by_an_eol() {
    for s in streams().iter().filter(|s| s.from_server) {
        let items = decode(s);
        for (i, item) in items.iter().enumerate() {
            if matches!(item, Item::Frame(_)) {
                assert_eq!(items.get(i + 1), Some(&HB), "{} item {i}", s.name);
            }
        }
    }
}

/// Interop quirk 2: headers come out in wire order (H-6); CONNECTED is read raw (E-5).
#[test]
fn h6_rabbitmq_connected_header_order_server_session_heartbeat_version() {
    for name in [
        "rabbitmq-to-stomppy.bin",
        "rabbitmq-to-stompjs-tcp.bin",
        "rabbitmq-web-stomp-to-stompjs-ws.ws-payload.bin",
    ] {
        let items = decode(&stream_named(name));
        let f = frame(&items[0]);
        assert_eq!(f.command(), &Command::Connected, "{name}");
        assert_eq!(names(f), ["server", "session", "heart-beat", "version"]);
        assert_eq!(value(f, "server"), "RabbitMQ/3.10.8");
        assert!(value(f, "session").starts_with("session-"));
        assert_eq!(value(f, "heart-beat"), "1000,1000");
        assert_eq!(value(f, "version"), "1.2");
        assert!(f.body().is_empty());
    }
}

#[test]
fn activemq_connected_header_order_and_raw_colons_e5_d5() {
    for name in ["activemq-to-stomppy.bin", "activemq-to-stompjs-tcp.bin"] {
        let items = decode(&stream_named(name));
        let f = frame(&items[0]);
        assert_eq!(f.command(), &Command::Connected, "{name}");
        assert_eq!(names(f), ["server", "heart-beat", "session", "version"]);
        assert_eq!(value(f, "server"), "ActiveMQ/5.17.2");
        assert_eq!(value(f, "heart-beat"), "1000,1000");
        assert_eq!(value(f, "version"), "1.2");
        // CONNECTED is not unescaped; its raw colons stay in the value.
        let session = value(f, "session");
        assert!(session.starts_with("ID:vm-"), "{session}");
        assert_eq!(session.matches(':').count(), 2, "{session}");
    }
}

#[test]
fn e2_e3_activemq_escaped_ack_and_message_id_decode_with_colons() {
    for (server, client, ack, message_id) in [
        (
            "activemq-to-stomppy.bin",
            "stomppy-to-activemq.bin",
            "ID:vm-33919-1795417249081-4:3",
            "ID:vm-33919-1795417249081-3:7:-1:1:1",
        ),
        (
            "activemq-to-stompjs-tcp.bin",
            "stompjs-tcp-to-activemq.bin",
            "ID:vm-33919-1795417249081-4:4",
            "ID:vm-33919-1795417249081-3:8:-1:1:1",
        ),
    ] {
        let items = decode(&stream_named(server));
        let message = only(&items, &Command::Message);
        assert_eq!(value(message, "ack"), ack, "{server}");
        assert_eq!(value(message, "message-id"), message_id, "{server}");
        assert_eq!(value(message, "subscription"), "sub-0");
        assert_eq!(value(message, "destination"), "/queue/interop");
        // The client escaped the id again in its ACK; it decodes to the MESSAGE's ack (S-7).
        let client_items = decode(&stream_named(client));
        let ack_frame = only(&client_items, &Command::Ack);
        assert_eq!(value(ack_frame, "id"), ack, "{client}");
    }
}

#[test]
fn e1_activemq_escapes_stay_raw_in_1_0() {
    let s = stream_named("activemq-to-stomppy.bin");
    let items = whole(&|| Decoder::new(Version::V1_0), &s.stomp).ok();
    let message = only(&items, &Command::Message);
    assert_eq!(value(message, "ack"), "ID\\cvm-33919-1795417249081-4\\c3");
    assert_eq!(
        value(message, "x-interop-escape"),
        "colon\\cback\\\\slash\\nnewline"
    );
}

#[test]
fn e2_x_interop_escape_holds_colon_backslash_and_newline() {
    let mut seen = 0;
    for s in streams() {
        for f in frames_of(&decode(&s)) {
            if matches!(f.command(), Command::Send | Command::Message) {
                let v = value(f, "x-interop-escape");
                assert_eq!(v, "colon:back\\slash\nnewline", "{}", s.name);
                assert!(v.contains(':') && v.contains('\\') && v.contains('\n'));
                seen += 1;
            }
        }
    }
    // Five sessions delivered a SEND and its MESSAGE; the default-host one stopped at ERROR.
    assert_eq!(seen, 10);
}

#[test]
fn f12_h1_message_bodies_are_the_utf8_text_sent() {
    for s in streams() {
        for f in frames_of(&decode(&s)) {
            if !matches!(f.command(), Command::Send | Command::Message) {
                continue;
            }
            let client = if s.name.contains("stomppy") {
                "stomp.py"
            } else {
                "stompjs"
            };
            let text = format!("hello from {client}: café ✓");
            assert_eq!(f.body(), text.as_bytes(), "{}", s.name);
            assert_eq!(
                value(f, "content-length"),
                text.len().to_string(),
                "{}",
                s.name
            );
            assert_eq!(value(f, "content-type"), "text/plain;charset=utf-8");
        }
    }
}

#[test]
fn h6_rabbitmq_message_header_order_receipt_copied_ack_equals_message_id() {
    for name in [
        "rabbitmq-to-stomppy.bin",
        "rabbitmq-to-stompjs-tcp.bin",
        "rabbitmq-web-stomp-to-stompjs-ws.ws-payload.bin",
    ] {
        let items = decode(&stream_named(name));
        let m = only(&items, &Command::Message);
        assert_eq!(
            names(m),
            [
                "subscription",
                "destination",
                "message-id",
                "redelivered",
                "ack",
                "x-interop-escape",
                "receipt",
                "content-type",
                "content-length"
            ],
            "{name}"
        );
        assert_eq!(value(m, "ack"), value(m, "message-id"));
        assert!(value(m, "ack").starts_with("T_sub-0@@session-"));
        assert_eq!(value(m, "receipt"), "send-1");
        assert_eq!(value(m, "redelivered"), "false");
    }
}

#[test]
fn h5_receipts_match_the_client_receipt_headers() {
    for s in &SESSIONS {
        let client_items = decode(&stream(s, false));
        let server_items = decode(&stream(s, true));
        let asked: Vec<&str> = frames_of(&client_items)
            .into_iter()
            .filter_map(|f| f.headers().get_str("receipt").unwrap())
            .collect();
        let confirmed: Vec<&str> = frames_of(&server_items)
            .into_iter()
            .filter(|f| f.command() == &Command::Receipt)
            .map(|f| value(f, "receipt-id"))
            .collect();
        if s.chunks == "stomppy-default-host-rabbitmq" {
            assert!(asked.is_empty() && confirmed.is_empty());
        } else if s.websocket {
            assert_eq!(asked, ["send-1", "ack-1", "disconnect-1"]);
            assert_eq!(confirmed, ["send-1", "ack-1"]);
        } else {
            assert_eq!(asked, ["send-1", "ack-1", "disconnect-1"], "{}", s.chunks);
            assert_eq!(confirmed, asked, "{}", s.chunks);
        }
    }
}

#[test]
fn d7_e5_client_connect_frames_are_read_raw() {
    for name in ["stomppy-to-rabbitmq.bin", "stomppy-to-activemq.bin"] {
        let items = decode(&stream_named(name));
        let f = frame(&items[0]);
        assert_eq!(f.command(), &Command::Stomp);
        assert_eq!(
            header_list(f),
            [
                (b"accept-version".to_vec(), b"1.2".to_vec()),
                (b"heart-beat".to_vec(), b"1000,1000".to_vec()),
                (b"host".to_vec(), b"/".to_vec()),
                (b"login".to_vec(), b"guest".to_vec()),
                (b"passcode".to_vec(), b"guest".to_vec()),
            ],
            "{name}"
        );
    }
    for name in [
        "stompjs-tcp-to-rabbitmq.bin",
        "stompjs-tcp-to-activemq.bin",
        "stompjs-ws-to-rabbitmq-web-stomp.ws-payload.bin",
    ] {
        let items = decode(&stream_named(name));
        let f = frame(&items[0]);
        assert_eq!(f.command(), &Command::Connect);
        assert_eq!(
            header_list(f),
            [
                (b"login".to_vec(), b"guest".to_vec()),
                (b"passcode".to_vec(), b"guest".to_vec()),
                (b"host".to_vec(), b"/".to_vec()),
                (b"accept-version".to_vec(), b"1.2,1.1,1.0".to_vec()),
                (b"heart-beat".to_vec(), b"1000,1000".to_vec()),
            ],
            "{name}"
        );
    }
}

#[test]
fn h1_h3_rabbitmq_error_with_counted_body() {
    let items = decode(&stream_named("rabbitmq-to-stomppy-default-host.bin"));
    let f = frame(&items[0]);
    assert_eq!(f.command(), &Command::Error);
    assert_eq!(
        names(f),
        ["message", "content-type", "version", "content-length"]
    );
    assert_eq!(value(f, "message"), "Bad CONNECT");
    assert_eq!(value(f, "content-type"), "text/plain");
    assert_eq!(value(f, "version"), "1.0,1.1,1.2");
    assert_eq!(value(f, "content-length"), "38");
    assert_eq!(f.body(), &b"Virtual host '127.0.0.1' access denied"[..]);
    let items = decode(&stream_named("stomppy-default-host-to-rabbitmq.bin"));
    assert_eq!(value(frame(&items[0]), "host"), "127.0.0.1");
}

#[test]
fn e8_switching_to_1_2_after_connected_gives_the_same_frames() {
    // A client decoder starts before negotiation and switches once CONNECTED arrives.
    for s in streams().iter().filter(|s| s.from_server) {
        let mut dec = Decoder::new(Version::V1_0);
        dec.push(&s.stomp);
        let mut items = Vec::new();
        while let Some(item) = dec.next_item().unwrap() {
            if let Item::Frame(f) = &item {
                if f.command() == &Command::Connected {
                    dec.set_version(Version::V1_2);
                }
            }
            items.push(item);
        }
        assert_eq!(items, decode(s), "{}", s.name);
    }
}

#[test]
fn d25_e3_reencoding_every_capture_gives_its_bytes() {
    // Every peer here writes LF line ends, escapes the 1.2 way and states content-length on
    // bodies, so the encoder reproduces each stream octet for octet.
    for s in streams() {
        let mut out = BytesMut::new();
        for item in decode(&s) {
            match item {
                Item::Frame(f) => Encoder::new(Version::V1_2).encode(&f, &mut out).unwrap(),
                Item::Heartbeat => out.extend_from_slice(b"\n"),
            }
        }
        assert!(out[..] == s.stomp[..], "{}", s.name);
    }
}
