//! Version and CONNECT negotiation (C-1..C-11, D-14, D-16..D-19, E-8).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::{Duration, Instant};

use common_connection::*;
use stomp_codec::{
    Accept, ClientConfig, ClientConnection, ClientEvent, CloseReason, Command, ConnectionError,
    ErrorReply, Heartbeat, RuleViolation, ServerConfig, ServerConnection, ServerEvent, UsageError,
    Version, VersionSet,
};

fn set(versions: &[Version]) -> VersionSet {
    versions.iter().copied().collect()
}

/// Feeds raw CONNECT text to a fresh server and returns its events and output.
fn server_gets(config: ServerConfig, connect: &str) -> (ServerConnection, Vec<ServerEvent>) {
    let mut s = ServerConnection::new(config);
    s.handle_input(Instant::now(), connect.as_bytes());
    let events = server_events(&mut s);
    (s, events)
}

fn connect_request(events: &[ServerEvent]) -> &stomp_codec::ConnectRequest {
    match events {
        [ServerEvent::Connect(req)] => req,
        other => panic!("expected one Connect event, got {other:?}"),
    }
}

#[test]
fn client_speaks_first_with_connect_c1_c3_c4_c5() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/").login("guest").passcode("p:w\\d"));
    assert_eq!(c.poll_transmit(), None, "nothing before connect()");
    c.connect(now).unwrap();
    let out = drain_client(&mut c);
    let f = &frames(&out, Version::V1_0)[0];
    assert!(is(f, Command::Connect), "C-2: CONNECT by default");
    assert_eq!(header(f, "accept-version"), Some(&b"1.0,1.1,1.2"[..]));
    assert_eq!(header(f, "host"), Some(&b"/"[..]));
    assert_eq!(header(f, "login"), Some(&b"guest"[..]));
    assert_eq!(
        header(f, "heart-beat"),
        Some(&b"10000,10000"[..]),
        "D-19 default"
    );
    // E-5: CONNECT headers are not escaped, so the colon and backslash go out verbatim.
    assert!(out.windows(14).any(|w| w == b"passcode:p:w\\d"));
    assert!(!c.is_connected());
}

#[test]
fn stomp_command_on_request_is_handled_like_connect_c2() {
    let mut p = Pair::new(
        ClientConfig::new("/").stomp_command(true),
        ServerConfig::default(),
    );
    p.client.connect(p.now).unwrap();
    let bytes = p.client.poll_transmit().unwrap();
    assert!(bytes.starts_with(b"STOMP\n"));
    p.server.handle_input(p.now, &bytes);
    let events = server_events(&mut p.server);
    assert_eq!(connect_request(&events).frame.command(), &Command::Stomp);
    assert_eq!(connect_request(&events).version, Version::V1_2);
}

#[test]
fn stomp_command_needs_a_1_1_offer_s1() {
    let mut c = ClientConnection::new(
        ClientConfig::new("/")
            .stomp_command(true)
            .versions(set(&[Version::V1_0])),
    );
    assert_eq!(
        c.connect(Instant::now()),
        Err(UsageError::Rule(RuleViolation::NotInVersion {
            command: Command::Stomp,
            version: Version::V1_0
        }))
    );
    assert_eq!(c.pending_transmit(), 0);
}

#[test]
fn empty_version_offer_is_refused_c3() {
    let mut c = ClientConnection::new(ClientConfig::new("/").versions(VersionSet::EMPTY));
    assert_eq!(c.connect(Instant::now()), Err(UsageError::NoVersionOffered));
}

#[test]
fn server_picks_the_highest_common_version_c8() {
    let cases: &[(&[Version], &[Version], Version)] = &[
        (&Version::ALL, &Version::ALL, Version::V1_2),
        (
            &Version::ALL,
            &[Version::V1_0, Version::V1_1],
            Version::V1_1,
        ),
        (
            &[Version::V1_0, Version::V1_1],
            &Version::ALL,
            Version::V1_1,
        ),
        (&[Version::V1_0], &Version::ALL, Version::V1_0),
        (
            &[Version::V1_1, Version::V1_2],
            &[Version::V1_1],
            Version::V1_1,
        ),
    ];
    for (offered, supported, expected) in cases {
        let p = Pair::connect(
            ClientConfig::new("/").versions(set(offered)),
            ServerConfig::default().versions(set(supported)),
        );
        assert_eq!(
            p.client.version(),
            Some(*expected),
            "{offered:?} / {supported:?}"
        );
        assert_eq!(p.server.version(), Some(*expected));
    }
}

#[test]
fn missing_accept_version_means_1_0_and_connected_names_it_c3_d17() {
    let now = Instant::now();
    let (mut s, events) = server_gets(ServerConfig::default(), "CONNECT\nhost:/\n\n\0");
    let req = connect_request(&events);
    assert_eq!(req.version, Version::V1_0);
    assert_eq!(req.accept_version, set(&[Version::V1_0]));
    s.accept(now, Accept::new().session("s-1")).unwrap();
    let out = drain_server(&mut s);
    let f = &frames(&out, Version::V1_0)[0];
    assert!(is(f, Command::Connected));
    assert_eq!(
        header(f, "version"),
        Some(&b"1.0"[..]),
        "D-17: version always sent"
    );
    assert_eq!(header(f, "session"), Some(&b"s-1"[..]));
    assert_eq!(header(f, "heart-beat"), None, "B-8: no heart-beat in 1.0");
    assert_eq!(s.poll_timeout(), None, "B-8: no timers in 1.0");
}

#[test]
fn accept_version_tokens_are_trimmed_and_unknown_ones_ignored_d17() {
    let (_, events) = server_gets(
        ServerConfig::default(),
        "CONNECT\naccept-version: 2.0 , 1.1 \nhost:/\n\n\0",
    );
    assert_eq!(connect_request(&events).version, Version::V1_1);
    let (_, events) = server_gets(
        ServerConfig::default(),
        "CONNECT\naccept-version:\nhost:/\n\n\0",
    );
    assert_eq!(
        connect_request(&events).version,
        Version::V1_0,
        "empty = 1.0"
    );
}

#[test]
fn no_common_version_gets_error_with_supported_versions_c9() {
    let now = Instant::now();
    let config = ServerConfig::default().versions(set(&[Version::V1_1, Version::V1_2]));
    for connect in [
        "CONNECT\naccept-version:1.0\nhost:/\n\n\0",
        "CONNECT\nhost:/\n\n\0",
        "CONNECT\naccept-version:2.0\nhost:/\n\n\0",
    ] {
        let mut s = ServerConnection::new(config.clone());
        s.handle_input(now, connect.as_bytes());
        // No Closed before the ERROR is handed out.
        assert_eq!(server_events(&mut s), vec![]);
        let err = s.failure().cloned().unwrap();
        assert!(
            matches!(err, ConnectionError::NoCommonVersion { .. }),
            "{err}"
        );
        let out = drain_server(&mut s);
        let f = &frames(&out, Version::V1_0)[0];
        assert!(is(f, Command::Error));
        assert_eq!(header(f, "version"), Some(&b"1.1,1.2"[..]));
        assert_eq!(header(f, "content-type"), Some(&b"text/plain"[..]));
        assert!(!f.body().is_empty());
        assert_eq!(
            server_events(&mut s),
            vec![ServerEvent::Closed(CloseReason::Failed(err.clone()))]
        );
        // D-23: nothing further is read.
        assert_eq!(s.input(now, b"CONNECT\n\n\0"), Err(err));
        assert!(s.is_closed());
    }
}

#[test]
fn client_sees_the_c9_error_and_closes_c9_c10() {
    let mut p = Pair::new(
        ClientConfig::new("/").versions(set(&[Version::V1_0])),
        ServerConfig::default().versions(set(&[Version::V1_2])),
    );
    p.client.connect(p.now).unwrap();
    p.pump();
    match p.client_log.as_slice() {
        [ClientEvent::ErrorReceived { frame, .. }, ClientEvent::Closed(CloseReason::ErrorReceived)] =>
        {
            assert_eq!(header(frame, "version"), Some(&b"1.2"[..]))
        }
        other => panic!("{other:?}"),
    }
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn connected_without_version_means_1_0_c6() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    drain_client(&mut c);
    c.handle_input(now, b"CONNECTED\nsession:abc\nheart-beat:1000,1000\n\n\0");
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Connected {
            version: Version::V1_0,
            session: Some("abc".into()),
            server: None,
            heartbeat: Heartbeat::NONE,
            send_interval: None,
            receive_interval: None,
        }]
    );
    assert_eq!(c.poll_timeout(), None, "B-8");
}

#[test]
fn connected_event_reports_session_server_and_intervals_c7() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/").heartbeat(Heartbeat::new(500, 0)));
    c.connect(now).unwrap();
    c.handle_input(
        now,
        b"CONNECTED\nversion:1.2\nserver:Apache/1.3.9 (Unix)\nheart-beat:0,2000\n\n\0",
    );
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Connected {
            version: Version::V1_2,
            session: None,
            server: Some("Apache/1.3.9 (Unix)".into()),
            heartbeat: Heartbeat::new(0, 2000),
            send_interval: Some(Duration::from_millis(2000)),
            receive_interval: None,
        }]
    );
}

#[test]
fn a_version_the_client_did_not_offer_is_fatal_c6() {
    let now = Instant::now();
    let offered = set(&[Version::V1_1, Version::V1_2]);
    for (connected, shown) in [
        ("CONNECTED\nversion:1.0\n\n\0", "1.0"),
        ("CONNECTED\n\n\0", "(none)"),
        ("CONNECTED\nversion:3.0\n\n\0", "3.0"),
    ] {
        let mut c = ClientConnection::new(ClientConfig::new("/").versions(offered));
        c.connect(now).unwrap();
        c.handle_input(now, connected.as_bytes());
        let err = ConnectionError::VersionNotOffered {
            version: shown.into(),
        };
        assert_eq!(
            client_events(&mut c),
            vec![ClientEvent::Closed(CloseReason::Failed(err.clone()))]
        );
        assert_eq!(c.input(now, b"\n"), Err(err), "sticky");
    }
}

#[test]
fn escaping_switches_to_the_negotiated_version_e8_c12() {
    // 1.2: the colon and backslash in a SEND header are escaped on the wire and restored.
    let mut p = Pair::connect(ClientConfig::new("/"), ServerConfig::default());
    p.client
        .send(
            p.now,
            "/q",
            "x",
            stomp_codec::FrameOptions::new().header("k:1", "a:b\\c"),
        )
        .unwrap();
    let bytes = p.client.poll_transmit().unwrap();
    let line = b"k\\c1:a\\cb\\\\c\n";
    assert!(
        bytes.windows(line.len()).any(|w| w == line),
        "E-3: escaped on the wire"
    );
    p.server.handle_input(p.now, &bytes);
    match server_events(&mut p.server).as_slice() {
        [ServerEvent::Send { frame, .. }] => {
            assert_eq!(header(frame, "k:1"), Some(&b"a:b\\c"[..]))
        }
        other => panic!("{other:?}"),
    }

    // 1.0: no escaping at all; the value goes out verbatim (the name may not hold a colon).
    let mut p = Pair::connect(
        ClientConfig::new("/").versions(set(&[Version::V1_0])),
        ServerConfig::default(),
    );
    p.client
        .send(
            p.now,
            "/q",
            "x",
            stomp_codec::FrameOptions::new().header("k", "a:b\\c"),
        )
        .unwrap();
    let bytes = p.client.poll_transmit().unwrap();
    assert!(bytes.windows(8).any(|w| w == b"k:a:b\\c\n"));
    p.server.handle_input(p.now, &bytes);
    match server_events(&mut p.server).as_slice() {
        [ServerEvent::Send { frame, .. }] => assert_eq!(header(frame, "k"), Some(&b"a:b\\c"[..])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_error_before_connected_is_decoded_with_1_0_rules_d14() {
    // `\x` is a bad escape in 1.1/1.2 but plain text before negotiation.
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    c.handle_input(now, b"ERROR\nmessage:bad \\x login\n\nno\0");
    match client_events(&mut c).as_slice() {
        [ClientEvent::ErrorReceived { message, body, .. }, ClientEvent::Closed(CloseReason::ErrorReceived)] =>
        {
            assert_eq!(message.as_deref(), Some("bad \\x login"));
            assert_eq!(&body[..], b"no");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pre_negotiation_error_message_has_no_line_breaks_d14_c10() {
    let now = Instant::now();
    let (mut s, events) = server_gets(
        ServerConfig::default(),
        "CONNECT\naccept-version:1.2\nhost:/\nlogin:x\n\n\0",
    );
    assert_eq!(connect_request(&events).login.as_deref(), Some(&b"x"[..]));
    s.error(
        now,
        ErrorReply::new("bad\ncredentials\r").detail("user x unknown"),
    )
    .unwrap();
    assert_eq!(
        server_events(&mut s),
        vec![],
        "Closed only once the ERROR is out"
    );
    let out = drain_server(&mut s);
    let f = &frames(&out, Version::V1_0)[0];
    assert_eq!(header(f, "message"), Some(&b"bad credentials "[..]));
    assert_eq!(f.body(), b"user x unknown");
    assert_eq!(header(f, "content-type"), Some(&b"text/plain"[..]));
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::ErrorSent)]
    );
    assert_eq!(s.accept(now, Accept::new()), Err(UsageError::Closed));
}

#[test]
fn invalid_heartbeat_on_connect_is_an_error_d19() {
    for value in [
        "abc",
        "1000",
        "1000,",
        "-1,0",
        "1000, 1000",
        "99999999999,0",
    ] {
        let connect = format!("CONNECT\naccept-version:1.2\nheart-beat:{value}\n\n\0");
        let (mut s, events) = server_gets(ServerConfig::default(), &connect);
        assert_eq!(events, vec![], "{value}");
        assert!(matches!(
            s.failure(),
            Some(ConnectionError::Rule(
                RuleViolation::InvalidHeartbeat { .. }
            ))
        ));
        let out = drain_server(&mut s);
        assert!(is(&frames(&out, Version::V1_0)[0], Command::Error));
    }
    // B-8: in a 1.0 session the header means nothing and is not checked.
    let (_, events) = server_gets(ServerConfig::default(), "CONNECT\nheart-beat:abc\n\n\0");
    assert_eq!(connect_request(&events).heartbeat, Heartbeat::NONE);
}

#[test]
fn invalid_heartbeat_on_connected_fails_the_client_d19() {
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    c.handle_input(now, b"CONNECTED\nversion:1.2\nheart-beat:x\n\n\0");
    let err = ConnectionError::Rule(RuleViolation::InvalidHeartbeat { value: "x".into() });
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::Failed(err.clone()))]
    );
    assert_eq!(c.failure(), Some(&err));
}

#[test]
fn missing_host_is_accepted_unless_required_d18() {
    let (_, events) = server_gets(ServerConfig::default(), "CONNECT\naccept-version:1.2\n\n\0");
    assert_eq!(connect_request(&events).host, None);
    let (mut s, events) = server_gets(
        ServerConfig::default().require_host(true),
        "CONNECT\naccept-version:1.2\n\n\0",
    );
    assert_eq!(events, vec![]);
    assert_eq!(s.failure(), Some(&ConnectionError::MissingHost));
    assert!(is(
        &frames(&drain_server(&mut s), Version::V1_0)[0],
        Command::Error
    ));
    let (_, events) = server_gets(
        ServerConfig::default().require_host(true),
        "CONNECT\naccept-version:1.2\nhost:vh\n\n\0",
    );
    assert_eq!(connect_request(&events).host.as_deref(), Some(&b"vh"[..]));
}

#[test]
fn receipt_on_connect_is_refused_by_the_client_and_ignored_by_the_server_c11() {
    let mut c = ClientConnection::new(ClientConfig::new("/").header("receipt", "r-1"));
    assert_eq!(c.connect(Instant::now()), Err(UsageError::ReceiptOnConnect));
    assert_eq!(c.pending_transmit(), 0);

    let now = Instant::now();
    let (mut s, events) = server_gets(
        ServerConfig::default(),
        "CONNECT\naccept-version:1.2\nreceipt:r-1\n\n\0",
    );
    connect_request(&events);
    s.accept(now, Accept::new()).unwrap();
    let out = drain_server(&mut s);
    let fs = frames(&out, Version::V1_2);
    assert_eq!(fs.len(), 1, "no RECEIPT for CONNECT");
    assert!(is(&fs[0], Command::Connected));

    // A failing CONNECT with a receipt: the ERROR carries no receipt-id either.
    let (mut s, _) = server_gets(
        ServerConfig::default().versions(set(&[Version::V1_2])),
        "CONNECT\naccept-version:1.0\nreceipt:r-1\n\n\0",
    );
    let f = &frames(&drain_server(&mut s), Version::V1_0)[0];
    assert_eq!(header(f, "receipt-id"), None);
}

#[test]
fn connected_carries_server_heartbeat_and_extra_headers_c6_c7() {
    let now = Instant::now();
    let (mut s, _) = server_gets(
        ServerConfig::default()
            .heartbeat(Heartbeat::new(3000, 4000))
            .server("chat/1.0"),
        "CONNECT\naccept-version:1.1,1.2\n\n\0",
    );
    s.accept(now, Accept::new().header("x-node", "a")).unwrap();
    let f = &frames(&drain_server(&mut s), Version::V1_2)[0];
    assert_eq!(header(f, "version"), Some(&b"1.2"[..]));
    assert_eq!(header(f, "heart-beat"), Some(&b"3000,4000"[..]));
    assert_eq!(header(f, "server"), Some(&b"chat/1.0"[..]));
    assert_eq!(header(f, "x-node"), Some(&b"a"[..]));
    assert_eq!(header(f, "session"), None);
}

#[test]
fn accept_only_answers_a_pending_connect() {
    let now = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    assert_eq!(
        s.accept(now, Accept::new()),
        Err(UsageError::NotAwaitingConnect)
    );
    s.handle_input(now, b"CONNECT\naccept-version:1.2\n\n\0");
    assert_eq!(
        s.accept(now, Accept::new()),
        Err(UsageError::NotAwaitingConnect),
        "the CONNECT is applied when poll_event reports it"
    );
    assert!(matches!(
        server_events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    s.accept(now, Accept::new()).unwrap();
    assert_eq!(
        s.accept(now, Accept::new()),
        Err(UsageError::NotAwaitingConnect)
    );
}

#[test]
fn frames_right_after_connected_use_the_negotiated_escaping_e8() {
    // In the same chunk as CONNECTED: `\c` must already be read as a colon (1.2 rules).
    let now = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    c.connect(now).unwrap();
    c.subscribe(
        now,
        "s",
        "/q",
        stomp_codec::AckMode::Auto,
        Default::default(),
    )
    .unwrap_err();
    c.handle_input(
        now,
        b"CONNECTED\nversion:1.2\n\n\0\nRECEIPT\nreceipt-id:a\\cb\n\n\0",
    );
    let events = client_events(&mut c);
    assert_eq!(
        events[1],
        ClientEvent::UnknownReceipt {
            receipt_id: b("a:b")
        }
    );
}

#[test]
fn the_no_common_version_error_names_the_versions_in_wire_form_c9_r10() {
    // The body explains in words (C-9): versions as in accept-version, "(none)" for a set with
    // no version we know, never the Rust debug form.
    let now = Instant::now();
    let config = ServerConfig::default().versions(set(&[Version::V1_1, Version::V1_2]));
    for (connect, offered) in [
        ("CONNECT\naccept-version:2.0,1.3\n\n\0", "(none)"),
        ("CONNECT\naccept-version:1.0\n\n\0", "1.0"),
    ] {
        let mut s = ServerConnection::new(config.clone());
        s.handle_input(now, connect.as_bytes());
        assert_eq!(server_events(&mut s), vec![]);
        let f = &frames(&drain_server(&mut s), Version::V1_0)[0];
        assert!(is(f, Command::Error));
        assert_eq!(
            header(f, "message"),
            Some(&b"no common protocol version"[..]),
            "R-10: short"
        );
        let body = String::from_utf8_lossy(f.body()).into_owned();
        assert_eq!(
            body,
            format!("no common protocol version: client offers {offered}, server supports 1.1,1.2")
        );
    }
}
