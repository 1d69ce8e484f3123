//! Replays the committed fuzz seed corpus (`fuzz/corpus/<target>/seed-*`) on stable, without
//! libFuzzer, through the same checks the fuzz targets run (`stomp_testkit`, in `testkit/`).
//!
//! - `decode_chunked`: each file is a raw byte stream. It goes through
//!   `testkit::decode_all_setups` exactly as the fuzz target does, then through
//!   `testkit::decode_chunked` with fixed split patterns under every setup. The hand-made seeds
//!   also have an expected outcome, stated from the rules, in `EXPECTED` below.
//! - `roundtrip_frames`: each file is turned into a `FrameInput` by `arbitrary`, with the very
//!   type the fuzz target uses (`stomp_testkit::FrameInput`), and goes through
//!   `testkit::roundtrip_frame`.
//!
//! Run with `cargo test --test fuzz_corpus`.

use stomp_codec::{Command, DecodeError, EncodeError, Item, LimitKind, Unrepresentable, Version};
use stomp_testkit::{self as testkit, DecodeSetup, FrameInput, RoundTrip};

mod common;

use common::seeds;

/// Fixed cut patterns: every `n` octets, and the middle.
fn patterns(len: usize) -> Vec<Vec<usize>> {
    let mut all: Vec<Vec<usize>> = [2, 3, 7, 64]
        .iter()
        .map(|&n| (n..len).step_by(n).collect())
        .collect();
    all.push(vec![len / 2]);
    all
}

#[test]
fn decode_chunked_corpus_keeps_every_invariant_f11_d12() {
    let corpus = seeds("decode_chunked");
    assert!(corpus.len() >= 30, "seed corpus went missing");
    for (name, data) in &corpus {
        testkit::decode_all_setups(data);
        for setup in DecodeSetup::all() {
            let whole = testkit::decode_chunked(data, &[], &setup);
            for cuts in patterns(data.len()) {
                assert_eq!(
                    testkit::decode_chunked(data, &cuts, &setup),
                    whole,
                    "{name}: F-11"
                );
            }
        }
    }
}

#[test]
fn captures_decode_without_error_f11() {
    let captures: Vec<_> = seeds("decode_chunked")
        .into_iter()
        .filter(|(name, _)| name.starts_with("seed-capture-"))
        .collect();
    assert!(captures.len() >= 10, "capture seeds went missing");
    for (name, data) in &captures {
        let out = testkit::decode_chunked(data, &[], &DecodeSetup::new(Version::V1_2));
        assert_eq!(out.error, None, "{name}");
        assert!(out.frames().count() >= 1, "{name}");
        assert_eq!(out.pending, 0, "{name}: a capture ends between frames");
    }
}

/// What the hand-made seeds decode to under 1.2 with the default limits, from the rules.
#[derive(Debug)]
enum Expect {
    /// No error; this many frames and heart-beats; nothing pending.
    Items { frames: usize, heartbeats: usize },
    /// Frames before the error, then an error of this kind.
    Error { frames: usize, kind: &'static str },
    /// No error and no item: the input stops inside a frame.
    Incomplete,
}

const EXPECTED: &[(&str, Expect)] = &[
    // E-3: \c \n \r \\ in names and values.
    ("seed-escapes", items(1, 0)),
    // F-2, F-10, D-13: CRLF line ends; each trailing EOL is a heart-beat.
    ("seed-crlf", items(1, 3)),
    // F-7, H-1: NULs inside a counted body, then one EOL.
    ("seed-content-length-nul", items(1, 1)),
    // E-4: undefined escape.
    ("seed-bad-escape-t", fails(0, "bad_escape")),
    // D-8: backslash ending a value.
    ("seed-dangling-backslash", fails(0, "bad_escape")),
    // 42-octet header line, 6 headers, 70-octet bodies: far below the default limits (D-12).
    ("seed-long-header-line", items(1, 0)),
    ("seed-many-headers", items(1, 0)),
    ("seed-body-over-limit", items(1, 0)),
    ("seed-scanned-body-over-limit", items(1, 0)),
    ("seed-frame-limit-scanned", items(1, 0)),
    ("seed-frame-limit-counted", items(1, 0)),
    ("seed-frame-limit-head", items(1, 0)),
    // D-9: 20 digits above u64::MAX.
    (
        "seed-huge-content-length",
        fails(0, "invalid_content_length"),
    ),
    // D-13: LF, CRLF, LF, CRLF.
    ("seed-heartbeats", items(0, 4)),
    // D-3: a CR not followed by LF is an error in 1.2.
    ("seed-lone-cr", fails(0, "stray_carriage_return")),
    // F-8: the octet after the counted body is not NUL.
    ("seed-missing-nul", fails(0, "missing_nul")),
    // D-9: 1 and 01 agree, 2 does not.
    (
        "seed-conflicting-length",
        fails(0, "conflicting_content_length"),
    ),
    // F-9, D-10.
    ("seed-body-on-subscribe", fails(0, "body_not_allowed")),
    // E-5: CONNECT headers are not unescaped, so `\b` is no error.
    ("seed-connect-unescaped", items(1, 0)),
    // D-15.
    ("seed-nul-in-header", fails(0, "unexpected_nul")),
    // D-1: extensions are off by default.
    ("seed-extension-command", fails(0, "unknown_command")),
    // F-3: commands are case-sensitive.
    ("seed-lowercase-command", fails(0, "unknown_command")),
    // D-5.
    ("seed-empty-header-name", fails(0, "empty_header_name")),
    // D-4.
    ("seed-missing-colon", fails(0, "missing_colon")),
    // D-11: raw bytes kept unless strict_utf8.
    ("seed-non-utf8-header", items(1, 0)),
    // D-3.
    ("seed-stray-cr-header", fails(0, "stray_carriage_return")),
    // D-3: `a\r` before the CRLF leaves a CR in the value.
    ("seed-cr-before-crlf", fails(0, "stray_carriage_return")),
    // H-6.
    ("seed-repeated-names", items(1, 0)),
    ("seed-zero-length", items(1, 0)),
    // D-9: leading zeros are digits.
    ("seed-leading-zeros-length", items(1, 0)),
    // D-9: no sign.
    ("seed-invalid-length", fails(0, "invalid_content_length")),
    // D-15: NUL between frames.
    ("seed-nul-between-frames", fails(1, "unexpected_nul")),
    ("seed-truncated", Expect::Incomplete),
    // D-2: no trimming of the command line.
    ("seed-command-with-space", fails(0, "unknown_command")),
    // D-5: colons after the first belong to the value.
    ("seed-colon-in-value-10", items(1, 0)),
];

const fn items(frames: usize, heartbeats: usize) -> Expect {
    Expect::Items { frames, heartbeats }
}

const fn fails(frames: usize, kind: &'static str) -> Expect {
    Expect::Error { frames, kind }
}

#[test]
fn hand_made_seeds_decode_as_the_rules_say() {
    let corpus = seeds("decode_chunked");
    for (name, data) in corpus
        .iter()
        .filter(|(n, _)| !n.starts_with("seed-capture-"))
    {
        let Some((_, expect)) = EXPECTED.iter().find(|(n, _)| n == name) else {
            panic!("{name}: add its expected outcome to EXPECTED");
        };
        let out = testkit::decode_chunked(data, &[], &DecodeSetup::new(Version::V1_2));
        let frames = out.frames().count();
        let heartbeats = out.items.len() - frames;
        match *expect {
            Expect::Items {
                frames: f,
                heartbeats: h,
            } => {
                assert_eq!(out.error, None, "{name}");
                assert_eq!((frames, heartbeats, out.pending), (f, h, 0), "{name}");
            }
            Expect::Error { frames: f, kind } => {
                assert_eq!(frames, f, "{name}");
                assert_eq!(out.error.as_ref().map(|e| e.kind()), Some(kind), "{name}");
            }
            Expect::Incomplete => {
                assert_eq!(out.error, None, "{name}");
                assert!(out.items.is_empty(), "{name}");
                assert_eq!(out.pending, data.len(), "{name}");
            }
        }
    }
    for (name, _) in EXPECTED {
        assert!(corpus.iter().any(|(n, _)| n == name), "{name} is missing");
    }
}

/// The bytes of one `decode_chunked` seed.
fn decode_seed(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/decode_chunked")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn seeds_carry_the_values_the_rules_give_e3_e5_h6_d5() {
    let frame = |name: &str| {
        let data = decode_seed(name);
        let out = testkit::decode_chunked(&data, &[], &DecodeSetup::new(Version::V1_2));
        let first = out.frames().next().cloned();
        first.expect("a frame")
    };
    let f = frame("seed-escapes");
    assert_eq!(f.headers().get("key:x"), Some(&b"v\n\r\\"[..]));
    let f = frame("seed-connect-unescaped");
    assert_eq!(f.command(), &Command::Connect);
    assert_eq!(f.headers().get("login"), Some(&b"a\\b"[..]));
    assert_eq!(f.headers().get("passcode"), Some(&b"p:w\\c"[..]));
    let f = frame("seed-repeated-names");
    assert_eq!(f.headers().get("a"), Some(&b"1"[..]));
    assert_eq!(f.headers().get_all("a").count(), 3);
    let f = frame("seed-colon-in-value-10");
    assert_eq!(f.headers().get("k"), Some(&b"a:b:c"[..]));
    let f = frame("seed-content-length-nul");
    assert_eq!(f.body(), b"a\0b\0c");
}

#[test]
fn small_limits_stop_the_limit_seeds_d12() {
    // The same seeds under testkit::small_limits (32-octet header lines, 4 headers, 64-octet
    // bodies, 256-octet frames) fail with a limit error.
    let setup = DecodeSetup {
        limits: testkit::small_limits(),
        ..DecodeSetup::new(Version::V1_2)
    };
    for name in [
        "seed-long-header-line",
        "seed-many-headers",
        "seed-body-over-limit",
        "seed-scanned-body-over-limit",
    ] {
        let data = decode_seed(name);
        let out = testkit::decode_chunked(&data, &[], &setup);
        assert_eq!(
            out.error.as_ref().map(|e| e.kind()),
            Some("limit_exceeded"),
            "{name}"
        );
        assert!(out.items.iter().all(|i| !matches!(i, Item::Frame(_))));
    }
}

#[test]
fn frame_limit_binds_first_where_it_is_lowest_d12() {
    // Under testkit::frame_bound_limits (96-octet frames, 128 header octets, 64-octet bodies)
    // these frames pass every other limit but not max_frame: a 127-octet head, a declared body
    // that would end the frame at 128 octets, and a scanned body that passes octet 96 before
    // its own 64-octet limit.
    let setup = DecodeSetup {
        limits: testkit::frame_bound_limits(),
        ..DecodeSetup::new(Version::V1_2)
    };
    for name in [
        "seed-frame-limit-head",
        "seed-frame-limit-counted",
        "seed-frame-limit-scanned",
    ] {
        let data = decode_seed(name);
        let out = testkit::decode_chunked(&data, &[], &setup);
        match out.error {
            Some(DecodeError::LimitExceeded { limit, max, .. }) => {
                assert_eq!((limit, max), (LimitKind::Frame, 96), "{name}");
            }
            other => panic!("{name}: expected the frame limit, got {other:?}"),
        }
    }
}

/// The refusal each `seed-refused-<what>-<version>` seed must meet, by the rule that forbids it.
fn refusal_matches(what: &str, err: &EncodeError) -> bool {
    let reason = |r: Unrepresentable| matches!(err, EncodeError::Unrepresentable { reason, .. } if *reason == r);
    match what {
        // F-9.
        "body-on-subscribe" | "body-on-extension" => {
            matches!(err, EncodeError::BodyNotAllowed { .. })
        }
        // E-9.
        // E-9, D-3: a 1.2 frame that is not escaped cannot carry a CR; 1.0 and 1.1 write one
        // raw, except last in a value.
        "cr" => match err {
            EncodeError::Unrepresentable {
                version: Version::V1_2,
                ..
            } => reason(Unrepresentable::CarriageReturn),
            _ => reason(Unrepresentable::TrailingCarriageReturn),
        },
        "lf" => reason(Unrepresentable::LineFeed),
        "colon-in-name" => reason(Unrepresentable::ColonInName),
        // F-4.
        "empty-name" => reason(Unrepresentable::EmptyName),
        // H-2.
        "nul-in-body" => matches!(err, EncodeError::NulInBody { .. }),
        // D-25.
        "length-mismatch" => matches!(err, EncodeError::ContentLengthMismatch { .. }),
        // D-1.
        "invalid-command" => matches!(err, EncodeError::InvalidCommand { .. }),
        other => panic!("no rule known for seed-refused-{other}"),
    }
}

#[test]
fn roundtrip_frames_corpus_keeps_every_invariant() {
    let corpus = seeds("roundtrip_frames");
    assert!(corpus.len() >= 10, "seed corpus went missing");
    for (name, data) in &corpus {
        let input = FrameInput::from_corpus(data).unwrap_or_else(|| panic!("{name}: too short"));
        let frame = input.frame();
        // Seed names end in the version they encode in: -10, -11, -12.
        let (stem, version) = name.rsplit_once('-').expect("versioned seed name");
        assert_eq!(input.version().as_str().replace('.', ""), version, "{name}");
        for splits in [input.splits(), Vec::new(), vec![1, 2, 3, 5, 8, 13, 21]] {
            let outcome = testkit::roundtrip_frame(&frame, input.version(), &splits);
            match (stem.strip_prefix("seed-refused-"), outcome) {
                (None, RoundTrip::Decoded(_)) => assert!(stem.starts_with("seed-ok-"), "{name}"),
                (Some(what), RoundTrip::Refused(err)) => {
                    assert!(refusal_matches(what, &err), "{name}: {err:?}")
                }
                (_, outcome) => panic!("{name}: {outcome:?}"),
            }
        }
    }
}
