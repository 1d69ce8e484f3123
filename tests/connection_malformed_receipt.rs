//! R-11 for frames the server cannot even decode: the ERROR about a malformed client frame
//! carries `receipt-id` when the frame's `receipt` line was read whole before the decode error
//! (H-6: the first `receipt` wins), and none when the receipt line itself is the broken one or
//! has not arrived yet; CONNECT takes no receipt (C-11), malformed or not.
// Uses std::time::Instant and ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;

use std::time::Instant;

use common_connection::*;
use stomp_codec::{
    CloseReason, Command, ConnectionError, DecodeError, Frame, Limits, ServerConfig,
    ServerConnection, ServerEvent, Version,
};

const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

fn connect_text(version: Version) -> String {
    match version {
        Version::V1_0 => "CONNECT\n\n\0".into(),
        v => format!("CONNECT\naccept-version:{v}\nhost:/\n\n\0"),
    }
}

fn connected(config: ServerConfig, version: Version) -> ServerConnection {
    server_connected(config, Instant::now(), &connect_text(version))
}

/// Feeds `chunks` one after the other, polling events after each (as the drive loop does);
/// expects the connection to fail on a decode error and send one ERROR, returned with the
/// error.
fn error_after(
    s: &mut ServerConnection,
    chunks: &[&[u8]],
    version: Version,
) -> (ConnectionError, Frame) {
    let now = Instant::now();
    let mut events = Vec::new();
    for chunk in chunks {
        s.handle_input(now, chunk);
        events.extend(server_events(s));
    }
    let err = s.failure().cloned().expect("the input is a protocol error");
    assert!(
        matches!(err, ConnectionError::Decode(_)),
        "a decode error, not {err:?}"
    );
    let fs = frames(&drain_server(s), version);
    assert_eq!(fs.len(), 1, "one ERROR: {fs:?}");
    assert!(is(&fs[0], Command::Error), "{fs:?}");
    // closed once the ERROR is handed out.
    events.extend(server_events(s));
    assert!(
        matches!(
            events.last(),
            Some(ServerEvent::Closed(CloseReason::Failed(e))) if *e == err
        ),
        "{events:?}"
    );
    (err, fs[0].clone())
}

fn receipt_id(frame: &Frame) -> Option<&[u8]> {
    header(frame, "receipt-id")
}

/// A header line without a colon (D-4) after a whole `receipt` line: the ERROR names it.
#[test]
fn a_header_line_without_colon_after_receipt_gets_receipt_id_r11_d4() {
    for version in VERSIONS {
        let mut s = connected(ServerConfig::default(), version);
        let (err, error) = error_after(
            &mut s,
            &[b"SEND\nreceipt:r-7\ndestination:/q\nbad header line without colon\n\n\0"],
            version,
        );
        assert!(
            matches!(
                err,
                ConnectionError::Decode(DecodeError::MissingColon { .. })
            ),
            "{err:?}"
        );
        assert_eq!(receipt_id(&error), Some(&b"r-7"[..]), "R-11 in {version}");
    }
}

/// 1.2 CRLF line ends (F-2): the CR is not part of the receipt id.
#[test]
fn a_crlf_receipt_line_names_the_receipt_without_its_cr_r11_f2() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[b"SEND\r\nreceipt:r-7\r\ndestination:/q\r\nno colon\r\n\r\n\0"],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), Some(&b"r-7"[..]));
}

/// The receipt line arrived whole in an earlier chunk than the broken line (F-11: chunking
/// does not matter once the line is complete).
#[test]
fn a_receipt_line_from_an_earlier_chunk_counts_r11_f11() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[
            b"SEND\nrece",
            b"ipt:r-7\n",
            b"destination:/q\n",
            b"bad line\n\n\0",
        ],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), Some(&b"r-7"[..]));
}

/// An unknown command (D-1, R-12) with a receipt line, received in one piece.
#[test]
fn an_unknown_command_with_a_receipt_line_gets_receipt_id_r11_r12_d1() {
    for version in VERSIONS {
        let mut s = connected(ServerConfig::default(), version);
        let (err, error) = error_after(&mut s, &[b"FLUSH\nreceipt:r-7\n\n\0"], version);
        assert!(
            matches!(
                err,
                ConnectionError::Decode(DecodeError::UnknownCommand { .. })
            ),
            "{err:?}"
        );
        assert_eq!(receipt_id(&error), Some(&b"r-7"[..]), "R-11 in {version}");
    }
}

/// The command line alone already fails: the receipt line has not arrived when the ERROR is
/// written, so there is nothing to name.
#[test]
fn an_unknown_command_before_its_receipt_line_arrives_gets_no_receipt_id_r11() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(&mut s, &[b"FLUSH\n", b"receipt:r-7\n\n\0"], Version::V1_2);
    assert_eq!(receipt_id(&error), None);
}

/// A body past `max_body` (D-12, H-8) after a `receipt` header: NUL-scanned and counted.
#[test]
fn a_body_over_the_limit_after_receipt_gets_receipt_id_r11_h8_d12() {
    let config = ServerConfig::default().limits(Limits::default().max_body(8));
    let scanned: &[u8] = b"SEND\nreceipt:r-7\ndestination:/q\n\n0123456789abcdef\0";
    let counted: &[u8] = b"SEND\nreceipt:r-7\ndestination:/q\ncontent-length:100\n\n";
    for version in VERSIONS {
        for input in [scanned, counted] {
            let mut s = connected(config.clone(), version);
            let (err, error) = error_after(&mut s, &[input], version);
            assert!(
                matches!(
                    err,
                    ConnectionError::Decode(DecodeError::LimitExceeded { .. })
                ),
                "{err:?}"
            );
            assert_eq!(receipt_id(&error), Some(&b"r-7"[..]), "R-11 in {version}");
        }
    }
}

/// A body over the limit that arrives in pieces: the receipt line came long before.
#[test]
fn a_body_over_the_limit_in_pieces_names_the_receipt_r11_f11() {
    let config = ServerConfig::default().limits(Limits::default().max_body(8));
    let mut s = connected(config, Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[
            b"SEND\nreceipt:r-7\ndestination:/q\n\n0123",
            b"4567",
            b"89abcdef",
        ],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), Some(&b"r-7"[..]));
}

/// The receipt line is the broken one: a bad escape in its value (E-4), a NUL inside it
/// (D-15), a line too long (H-8, limit 24), a `receipt` line without its colon (D-4). Nothing is
/// guessed.
#[test]
fn a_broken_receipt_line_gives_no_receipt_id_r11_e4_d15_h8() {
    let small = ServerConfig::default().limits(Limits::default().max_header_line(24));
    let cases: &[(Version, ServerConfig, &[u8])] = &[
        (
            Version::V1_2,
            ServerConfig::default(),
            b"SEND\ndestination:/q\nreceipt:r\\t7\n\n\0",
        ),
        (
            Version::V1_1,
            ServerConfig::default(),
            b"SEND\ndestination:/q\nreceipt:r-7\\\n\n\0",
        ),
        (
            Version::V1_2,
            ServerConfig::default(),
            b"SEND\ndestination:/q\nreceipt:r-7\0\n\n\0",
        ),
        (
            Version::V1_2,
            small,
            b"SEND\ndestination:/q\nreceipt:r-7-and-much-more-than-twenty-four\n\n\0",
        ),
        (
            Version::V1_2,
            ServerConfig::default(),
            b"SEND\ndestination:/q\nreceipt r-7\n\n\0",
        ),
    ];
    for (version, config, input) in cases {
        let mut s = connected(config.clone(), *version);
        let (err, error) = error_after(&mut s, &[input], *version);
        assert_eq!(
            receipt_id(&error),
            None,
            "{err:?} for \"{}\"",
            input.escape_ascii()
        );
    }
}

/// The receipt line is still arriving when the frame fails (its line limit is passed before
/// the LF): not read whole, so not named.
#[test]
fn an_incomplete_receipt_line_gives_no_receipt_id_r11() {
    let config = ServerConfig::default().limits(Limits::default().max_header_line(24));
    let mut s = connected(config, Version::V1_2);
    let (err, error) = error_after(
        &mut s,
        &[b"SEND\ndestination:/q\n", b"receipt:r-7-0123456789abcdef"],
        Version::V1_2,
    );
    assert!(
        matches!(
            err,
            ConnectionError::Decode(DecodeError::LimitExceeded { .. })
        ),
        "{err:?}"
    );
    assert_eq!(receipt_id(&error), None);
}

/// A `receipt` line after the broken line is not read as part of the header block.
#[test]
fn a_receipt_line_after_the_broken_line_is_not_named_r11() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[b"SEND\ndestination:/q\n\0receipt:r-7\n\n\0"],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), None);
}

/// A header named like `receipt` is not `receipt` (H-9: exact names).
#[test]
fn only_the_exact_receipt_header_is_named_r11_h9() {
    for input in [
        &b"SEND\nReceipt:r-7\ndestination:/q\nbad\n\n\0"[..],
        &b"SEND\nreceipt-id:r-7\ndestination:/q\nbad\n\n\0"[..],
        &b"SEND\nx-receipt:r-7\ndestination:/q\nbad\n\n\0"[..],
    ] {
        let mut s = connected(ServerConfig::default(), Version::V1_2);
        let (_, error) = error_after(&mut s, &[input], Version::V1_2);
        assert_eq!(receipt_id(&error), None, "{}", input.escape_ascii());
    }
}

/// H-6: with two `receipt` lines, the first is the value, for a malformed frame as for a
/// well-formed one that breaks a rule (D-24).
#[test]
fn the_first_receipt_wins_h6_r11() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[b"SEND\nreceipt:r-7\nreceipt:r-8\ndestination:/q\nbad\n\n\0"],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), Some(&b"r-7"[..]), "malformed frame");

    // The first receipt line is the broken one: its value is unknown, and the second one is
    // not the value either (H-6), so the ERROR names none.
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    let (_, error) = error_after(
        &mut s,
        &[b"SEND\nreceipt:r\\t7\nreceipt:r-8\ndestination:/q\n\n\0"],
        Version::V1_2,
    );
    assert_eq!(receipt_id(&error), None, "broken first receipt");

    // Well-formed, but no destination (S-3).
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    s.handle_input(Instant::now(), b"SEND\nreceipt:r-7\nreceipt:r-8\n\nx\0");
    let _ = server_events(&mut s);
    assert!(s.failure().is_some());
    let fs = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(receipt_id(&fs[0]), Some(&b"r-7"[..]), "rule violation");
}

/// The frames applied before the malformed one are reported first, and the ERROR names
/// the malformed frame's receipt, not an earlier frame's.
#[test]
fn the_error_names_the_malformed_frame_not_an_earlier_one_r11_r3() {
    let mut s = connected(ServerConfig::default(), Version::V1_2);
    s.handle_input(
        Instant::now(),
        b"SEND\nreceipt:r-1\ndestination:/q\n\nok\0\nSEND\nreceipt:r-2\ndestination:/q\nbad\n\n\0",
    );
    let events = server_events(&mut s);
    assert!(
        matches!(&events[0], ServerEvent::Send { receipt: Some(r), .. } if r == "r-1"),
        "{events:?}"
    );
    let fs = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(receipt_id(&fs[0]), Some(&b"r-2"[..]));
}

/// C-11: CONNECT takes no receipt, and the ERROR about a malformed CONNECT names none either
/// (as for a well-formed CONNECT that fails, tests/connection_negotiation.rs).
#[test]
fn a_malformed_connect_with_a_receipt_line_gets_no_receipt_id_c11() {
    for input in [
        &b"CONNECT\naccept-version:1.2\nreceipt:r-7\nbad\n\n\0"[..],
        &b"STOMP\naccept-version:1.2\nreceipt:r-7\nbad\n\n\0"[..],
    ] {
        let mut s = ServerConnection::new(ServerConfig::default());
        let (_, error) = error_after(&mut s, &[input], Version::V1_0);
        assert_eq!(receipt_id(&error), None, "{}", input.escape_ascii());
    }
}
