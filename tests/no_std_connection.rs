//! The connection state machines on a clock of the caller's choosing: `Duration` since an
//! epoch, the `Timestamp` a program without `std` uses (a tick counter, say). Nothing here needs
//! the `std` feature, so `cargo test --no-default-features --test no_std_connection` runs the
//! connections as a no_std build of the crate has them.

use core::time::Duration;

use stomp_codec::{
    Accept, ClientConfig, ClientConnection, ClientEvent, CloseReason, ConnectionError,
    FrameOptions, Heartbeat, ServerConfig, ServerConnection, ServerEvent, Timestamp, Version,
};

type Client = ClientConnection<Duration>;
type Server = ServerConnection<Duration>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Client offers `1000,2000`, server `500,500`: client→server every max(1000, 500) = 1000 ms,
/// server→client every max(500, 2000) = 2000 ms (B-3). Everything happens at t = 0.
fn connected_pair() -> (Client, Server) {
    let mut client =
        Client::with_timestamp_type(ClientConfig::new("/").heartbeat(Heartbeat::new(1000, 2000)));
    let mut server =
        Server::with_timestamp_type(ServerConfig::default().heartbeat(Heartbeat::new(500, 500)));
    client.connect(ms(0)).unwrap();
    move_bytes(&mut client, &mut server, ms(0));
    let Some(ServerEvent::Connect(request)) = server.poll_event() else {
        panic!("no CONNECT")
    };
    assert_eq!(request.version, Version::V1_2);
    server.accept(ms(0), Accept::new()).unwrap();
    move_bytes(&mut client, &mut server, ms(0));
    let Some(ClientEvent::Connected {
        version,
        send_interval,
        receive_interval,
        ..
    }) = client.poll_event()
    else {
        panic!("no CONNECTED")
    };
    assert_eq!(version, Version::V1_2);
    assert_eq!(send_interval, Some(ms(1000)), "B-3: max(cx, sy)");
    assert_eq!(receive_interval, Some(ms(2000)), "B-3: max(sx, cy)");
    (client, server)
}

/// Hands every queued byte to the other side at `now`; returns (client→server, server→client).
fn move_bytes(client: &mut Client, server: &mut Server, now: Duration) -> (Vec<u8>, Vec<u8>) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    while let Some(bytes) = client.poll_transmit() {
        up.extend_from_slice(&bytes);
        server.handle_input(now, &bytes);
    }
    while let Some(bytes) = server.poll_transmit() {
        down.extend_from_slice(&bytes);
        client.handle_input(now, &bytes);
    }
    (up, down)
}

#[test]
fn duration_timestamps_drive_heartbeats_at_the_negotiated_intervals_b3_b4_d20() {
    let (mut client, mut server) = connected_pair();
    // D-20: sending is due exactly n after the last octet written (CONNECT / CONNECTED at 0).
    assert_eq!(client.poll_timeout(), Some(ms(1000)));
    assert_eq!(server.poll_timeout(), Some(ms(2000)));

    // Run ten virtual seconds, jumping to the earliest deadline each time (bounded loop).
    let mut now = ms(0);
    let (mut client_beats, mut server_beats) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let next = [client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("heart-beat timers are armed");
        if next > ms(10_000) {
            break;
        }
        now = next;
        client.handle_timeout(now);
        server.handle_timeout(now);
        let (up, down) = move_bytes(&mut client, &mut server, now);
        if !up.is_empty() {
            assert_eq!(up, b"\n", "B-4: a heart-beat is one EOL");
            client_beats.push(now);
        }
        if !down.is_empty() {
            assert_eq!(down, b"\n", "B-4: a heart-beat is one EOL");
            server_beats.push(now);
        }
    }
    assert_eq!(now, ms(10_000));
    let expected_client: Vec<Duration> = (1..=10).map(|k| ms(k * 1000)).collect();
    let expected_server: Vec<Duration> = (1..=5).map(|k| ms(k * 2000)).collect();
    assert_eq!(client_beats, expected_client);
    assert_eq!(server_beats, expected_server);
    // Both peers stayed alive: the beats kept the receive deadlines moving (B-5).
    assert!(client.is_connected() && !server.is_closed());
    assert_eq!(client.poll_event(), None);
    assert_eq!(server.poll_event(), None);
}

#[test]
fn a_silent_peer_times_out_after_interval_plus_grace_b6_d20() {
    let (_client, mut server) = connected_pair();
    // The client's heart-beats are never delivered: the server hears nothing after the CONNECT
    // at 0, so it gives up at 0 + n + grace = 1000 + 1000 ms (D-20, grace defaulting to n).
    let mut now = ms(0);
    for _ in 0..10 {
        let Some(next) = server.poll_timeout() else {
            break;
        };
        assert!(next <= ms(2000), "no deadline later than 2n: {next:?}");
        now = next;
        server.handle_timeout(now);
        while server.poll_transmit().is_some() {}
        if server.is_closed() {
            break;
        }
    }
    assert_eq!(now, ms(2000));
    assert_eq!(server.poll_event(), Some(ServerEvent::HeartbeatTimeout));
    match server.poll_event() {
        Some(ServerEvent::Closed(CloseReason::Failed(ConnectionError::HeartbeatTimeout {
            interval,
            silence,
        }))) => {
            assert_eq!(interval, ms(1000));
            assert_eq!(silence, ms(2000));
        }
        other => panic!("expected Closed(Failed(HeartbeatTimeout)), got {other:?}"),
    }
}

#[test]
fn a_receipt_round_trip_on_duration_time_r1_r2() {
    let (mut client, mut server) = connected_pair();
    let receipt = client
        .send(ms(5), "/queue/a", "hello", FrameOptions::new().receipt())
        .unwrap()
        .expect("a receipt id");
    move_bytes(&mut client, &mut server, ms(5));
    let Some(ServerEvent::Send {
        frame,
        receipt: Some(asked),
        ..
    }) = server.poll_event()
    else {
        panic!("no SEND")
    };
    assert_eq!(frame.body(), &b"hello"[..]);
    assert_eq!(asked, receipt);
    server.receipt(ms(6), &asked).unwrap();
    move_bytes(&mut client, &mut server, ms(6));
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::ReceiptConfirmed {
            receipt_id: receipt
        })
    );
}

#[test]
fn an_unrepresentable_deadline_is_clamped_to_the_end_of_the_clock_b4_d20() {
    // A clock near its end: adding the interval overflows. The deadline is the last point the
    // clock can represent instead of no deadline at all (which would silently turn a timer
    // off), and nothing panics.
    let end = Duration::MAX - ms(1);
    assert_eq!(Timestamp::checked_add(end, ms(1000)), None);
    let mut client = Client::with_timestamp_type(ClientConfig::new("/"));
    let mut server = Server::with_timestamp_type(ServerConfig::default());
    client.connect(end).unwrap();
    move_bytes(&mut client, &mut server, end);
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
    server.accept(end, Accept::new()).unwrap();
    move_bytes(&mut client, &mut server, end);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    assert!(client.is_connected());
    assert_eq!(client.poll_timeout(), Some(Duration::MAX));
    assert_eq!(server.poll_timeout(), Some(Duration::MAX));
}

#[test]
fn a_huge_disconnect_timeout_still_ends_the_wait_d22() {
    // `Duration::MAX` as a timeout used to overflow the deadline and disarm the timer: the
    // client then waited for the RECEIPT of DISCONNECT forever. It is clamped instead.
    let mut client =
        Client::with_timestamp_type(ClientConfig::new("/").disconnect_timeout(Duration::MAX));
    let mut server = Server::with_timestamp_type(ServerConfig::default());
    client.connect(ms(0)).unwrap();
    move_bytes(&mut client, &mut server, ms(0));
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
    server.accept(ms(0), Accept::new()).unwrap();
    move_bytes(&mut client, &mut server, ms(0));
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Connected { .. })
    ));
    client
        .disconnect(ms(5), FrameOptions::new().receipt())
        .unwrap();
    assert!(client.poll_transmit().is_some());
    assert_eq!(client.poll_timeout(), Some(Duration::MAX));
    client.handle_timeout(Duration::MAX);
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Closed(CloseReason::ReceiptTimeout))
    );
}
