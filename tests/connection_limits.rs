//! Bounds on what a peer can make a connection keep or wait for: active subscriptions and open
//! transactions (H-8: a server may cap any unbounded input, answering ERROR and closing), and
//! the time allowed to open the session (no CONNECT, or no CONNECTED, in time).
// Uses std::time::Instant and ClientConnection::new/ServerConnection::new (feature `std`).
#![cfg(feature = "std")]

mod common_connection;
use common_connection::InputResult;

use std::time::{Duration, Instant};

use common_connection::*;
use stomp_codec::{
    ClientConfig, ClientConnection, ClientEvent, CloseReason, Command, ConnectionError, Heartbeat,
    ServerConfig, ServerConnection, ServerEvent, Version,
};

const CONNECT12: &str = "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0";

/// Polls the events of `input`; the connection must fail with ERROR. Returns the number of
/// frame events before the failure, the error and the ERROR frame.
fn fed_until_error(
    s: &mut ServerConnection,
    input: &[u8],
) -> (usize, ConnectionError, stomp_codec::Frame) {
    let now = Instant::now();
    s.handle_input(now, input);
    let events = server_events(s);
    let err = s.failure().cloned().expect("the input breaks a limit");
    let out = frames(&drain_server(s), Version::V1_2);
    let error = out.last().expect("an ERROR frame").clone();
    assert!(is(&error, Command::Error));
    assert_eq!(
        header(&error, "message"),
        Some(err.error_message().as_bytes()),
        "R-10: a short message"
    );
    assert!(!error.body().is_empty(), "R-10: details in the body");
    assert_eq!(
        server_events(s),
        vec![ServerEvent::Closed(CloseReason::Failed(err.clone()))]
    );
    let frames_seen = events
        .iter()
        .filter(|e| !matches!(e, ServerEvent::TransactionAborted { .. }))
        .count();
    (frames_seen, err, error)
}

#[test]
fn subscriptions_beyond_the_maximum_get_error_and_close_h8() {
    let now = Instant::now();
    let config = ServerConfig::default().max_subscriptions(2);
    let mut s = server_connected(config, now, CONNECT12);
    // The limit counts active subscriptions: one that ended makes room.
    s.handle_input(
        now,
        b"SUBSCRIBE\nid:a\ndestination:/q\n\n\0SUBSCRIBE\nid:b\ndestination:/q\n\n\0\
          UNSUBSCRIBE\nid:a\n\n\0SUBSCRIBE\nid:c\ndestination:/q\n\n\0",
    );
    assert_eq!(server_events(&mut s).len(), 4);
    assert_eq!(s.subscriptions().count(), 2);
    let (seen, err, error) =
        fed_until_error(&mut s, b"SUBSCRIBE\nid:d\ndestination:/q\nreceipt:r\n\n\0");
    assert_eq!(seen, 0);
    assert_eq!(err, ConnectionError::TooManySubscriptions { max: 2 });
    assert_eq!(header(&error, "receipt-id"), Some(&b"r"[..]), "R-11");
    assert_eq!(
        s.subscriptions().count(),
        2,
        "the refused one was not added"
    );
}

#[test]
fn transactions_beyond_the_maximum_get_error_and_close_h8_r7() {
    let now = Instant::now();
    let config = ServerConfig::default().max_transactions(2);
    let mut s = server_connected(config, now, CONNECT12);
    s.handle_input(
        now,
        b"BEGIN\ntransaction:a\n\n\0BEGIN\ntransaction:b\n\n\0COMMIT\ntransaction:a\n\n\0\
          BEGIN\ntransaction:c\n\n\0",
    );
    assert_eq!(server_events(&mut s).len(), 4);
    s.handle_input(now, b"BEGIN\ntransaction:d\n\n\0");
    let events = server_events(&mut s);
    // R-7: the open ones are rolled back.
    assert_eq!(
        events,
        vec![
            ServerEvent::TransactionAborted {
                transaction: b("b")
            },
            ServerEvent::TransactionAborted {
                transaction: b("c")
            },
        ]
    );
    assert_eq!(
        s.failure(),
        Some(&ConnectionError::TooManyTransactions { max: 2 })
    );
    let out = frames(&drain_server(&mut s), Version::V1_2);
    assert_eq!(
        header(&out[0], "message"),
        Some(&b"too many transactions"[..])
    );
}

#[test]
fn the_default_limits_are_1024_subscriptions_and_256_transactions_h8() {
    let config = ServerConfig::default();
    assert_eq!(config.max_subscriptions, 1024);
    assert_eq!(config.max_transactions, 256);
    let now = Instant::now();
    let mut s = server_connected(config.clone(), now, CONNECT12);
    let mut input = Vec::new();
    for i in 0..=1024 {
        input.extend_from_slice(format!("SUBSCRIBE\nid:{i}\ndestination:/t/{i}\n\n\0").as_bytes());
    }
    let (seen, err, _) = fed_until_error(&mut s, &input);
    assert_eq!(seen, 1024);
    assert_eq!(err, ConnectionError::TooManySubscriptions { max: 1024 });

    let mut s = server_connected(config, now, CONNECT12);
    let mut input = Vec::new();
    for i in 0..=256 {
        input.extend_from_slice(format!("BEGIN\ntransaction:t{i}\n\n\0").as_bytes());
    }
    let (seen, err, _) = fed_until_error(&mut s, &input);
    assert_eq!(seen, 256);
    assert_eq!(err, ConnectionError::TooManyTransactions { max: 256 });
}

#[test]
fn a_client_that_sends_nothing_is_closed_after_the_connect_timeout() {
    let t0 = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    assert_eq!(s.poll_timeout(), None, "no clock before start");
    s.start(t0);
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_secs(10)),
        "default 10 s"
    );
    s.start(t0 + Duration::from_secs(5));
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_secs(10)),
        "a second start does not move it"
    );
    s.handle_timeout(t0 + Duration::from_millis(9_999));
    assert_eq!(server_events(&mut s), vec![]);
    s.handle_timeout(t0 + Duration::from_secs(10));
    let err = ConnectionError::ConnectTimeout {
        timeout: Duration::from_secs(10),
    };
    assert_eq!(s.failure(), Some(&err));
    // Before CONNECT, frames use 1.0 rules (D-14).
    let out = frames(&drain_server(&mut s), Version::V1_0);
    assert_eq!(out.len(), 1);
    assert!(is(&out[0], Command::Error));
    assert_eq!(header(&out[0], "message"), Some(&b"connect timeout"[..]));
    assert_eq!(
        server_events(&mut s),
        vec![ServerEvent::Closed(CloseReason::Failed(err))]
    );
}

#[test]
fn a_client_that_trickles_a_partial_connect_is_closed_too() {
    let t0 = Instant::now();
    let config = ServerConfig::default().connect_timeout(Some(Duration::from_secs(3)));
    let mut s = ServerConnection::new(config);
    // Without start(), the first input starts the clock.
    for (i, piece) in [&b"CONN"[..], b"ECT\n", b"accept-version:1.2\n"]
        .into_iter()
        .enumerate()
    {
        s.handle_input(t0 + Duration::from_secs(i as u64), piece);
        assert_eq!(server_events(&mut s), vec![]);
    }
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    s.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(
        server_events(&mut s),
        vec![],
        "Closed once the ERROR is out"
    );
    assert!(matches!(
        s.failure(),
        Some(ConnectionError::ConnectTimeout { .. })
    ));
    assert!(is(
        &frames(&drain_server(&mut s), Version::V1_0)[0],
        Command::Error
    ));
    assert!(s.is_closed());
}

#[test]
fn the_connect_timeout_ends_with_the_connect_frame_and_can_be_disabled() {
    let t0 = Instant::now();
    let mut s = ServerConnection::new(ServerConfig::default());
    s.start(t0);
    s.handle_input(t0 + Duration::from_secs(1), CONNECT12.as_bytes());
    assert!(matches!(
        server_events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    // The application may take its time to accept: that is not the client's delay.
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(s.failure(), None);
    s.accept(t0 + Duration::from_secs(60), Default::default())
        .unwrap();
    assert!(s.is_connected());

    let mut s = ServerConnection::new(ServerConfig::default().connect_timeout(None));
    s.start(t0);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + Duration::from_secs(3600));
    assert_eq!(server_events(&mut s), vec![]);
    assert!(!s.is_closed());
}

#[test]
fn a_client_gives_up_when_connected_does_not_come() {
    let t0 = Instant::now();
    let mut c = ClientConnection::new(ClientConfig::new("/"));
    assert_eq!(c.config().connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(c.poll_timeout(), None);
    c.connect(t0).unwrap();
    drain_client(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    c.handle_timeout(t0 + Duration::from_secs(10));
    let err = ConnectionError::ConnectTimeout {
        timeout: Duration::from_secs(10),
    };
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Closed(CloseReason::Failed(err.clone()))]
    );
    assert_eq!(c.input(t0, b"CONNECTED\n\n\0"), Err(err));
    assert_eq!(c.poll_transmit(), None, "the client sends nothing more");
}

#[test]
fn a_client_stops_its_connect_timer_at_connected_or_when_disabled() {
    let t0 = Instant::now();
    let config = ClientConfig::new("/").heartbeat(Heartbeat::NONE);
    let mut c = ClientConnection::new(config.clone());
    c.connect(t0).unwrap();
    drain_client(&mut c);
    c.handle_input(t0 + Duration::from_secs(9), b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(
        client_events(&mut c).as_slice(),
        [ClientEvent::Connected { .. }]
    ));
    assert_eq!(c.poll_timeout(), None);

    let mut c = ClientConnection::new(config.connect_timeout(None));
    c.connect(t0).unwrap();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + Duration::from_secs(3600));
    assert_eq!(client_events(&mut c), vec![]);
    assert!(!c.is_closed());
}
