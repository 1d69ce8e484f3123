//! The async client against a loopback broker (tests/common): sending, subscribing, acks,
//! receipts, transactions, back-pressure, reconnects with resubscription and at-least-once
//! resend, and the end of the client. Every wait is bounded.

mod common;

use std::time::Duration;

use common::TestBroker;
use futures_util::StreamExt;
use stomp_codec::{AckMode, Command, FrameOptions, Heartbeat, ReceiptFailure, ReconnectPolicy};
use stomp_tokio::client::{Client, ClientError, ClientOptions, ClientStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn fast_reconnect() -> ClientOptions {
    ClientOptions::new()
        .heartbeat(Heartbeat::new(0, 0))
        .reconnect(
            ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(50))
                .max_delay(Duration::from_millis(200))
                .jitter(0.0),
        )
}

async fn next_body(sub: &mut stomp_tokio::client::Subscription) -> String {
    let message = timeout(LIMIT, sub.next())
        .await
        .expect("a message in time")
        .expect("open");
    String::from_utf8_lossy(message.body()).into_owned()
}

#[tokio::test]
async fn subscribe_send_receive_and_ack_s7() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect().login("alice"))
        .await
        .unwrap();
    let mut sub = client
        .subscribe("/topic/a", AckMode::ClientIndividual)
        .await
        .unwrap();
    broker
        .wait_for("SUBSCRIBE", |s| {
            s.iter().any(|f| f.command == Command::Subscribe)
        })
        .await;
    client.send_with_receipt("/topic/a", "hello").await.unwrap();
    let message = timeout(LIMIT, sub.next()).await.unwrap().unwrap();
    assert_eq!(message.body(), b"hello");
    assert_eq!(message.destination(), b"/topic/a");
    assert!(!message.redelivered());
    message.ack().await.unwrap();
    broker
        .wait_for("ACK", |s| s.iter().any(|f| f.command == Command::Ack))
        .await;
    assert_eq!(
        broker.seen()[0].login.as_deref(),
        Some("alice"),
        "login from the options"
    );
}

#[tokio::test]
async fn send_completes_once_written_and_frames_arrive_in_order() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    for i in 0..200 {
        client.send("/queue/x", format!("{i}")).await.unwrap();
    }
    broker
        .wait_for("200 SENDs", |s| {
            s.iter().filter(|f| f.command == Command::Send).count() == 200
        })
        .await;
    let bodies: Vec<String> = broker
        .seen_commands(Command::Send)
        .into_iter()
        .map(|f| f.body)
        .collect();
    let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected);
}

/// `publish` completes once the SEND is queued, without waiting for the write: a burst of
/// them, then one SEND with a receipt, and the broker has them all, in order (S-3, R-2); a
/// transaction in `publish_with` reaches the broker too. On a closed client it fails.
#[tokio::test]
async fn publish_queues_without_waiting_and_frames_arrive_in_order() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let n = 5_000;
    for i in 0..n {
        timeout(LIMIT, client.publish("/queue/p", format!("{i}")))
            .await
            .expect("room in time")
            .unwrap();
    }
    client.send_with_receipt("/queue/p", "last").await.unwrap();
    let bodies: Vec<String> = broker
        .seen_commands(Command::Send)
        .into_iter()
        .map(|f| f.body)
        .collect();
    let expected: Vec<String> = (0..n)
        .map(|i| i.to_string())
        .chain(["last".to_string()])
        .collect();
    assert_eq!(
        bodies, expected,
        "the receipt of the last one came after all"
    );

    let tx = client.begin().await.unwrap();
    client
        .publish_with(
            "/queue/p",
            "in tx",
            FrameOptions::new().transaction(tx.id()),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    broker
        .wait_for("the transaction's SEND", |s| {
            s.iter()
                .any(|f| f.body == "in tx" && f.transaction.is_some())
        })
        .await;

    client.disconnect().await.unwrap();
    assert!(matches!(
        client.publish("/queue/p", "late").await,
        Err(ClientError::Closed { .. })
    ));
}

#[tokio::test]
async fn the_url_carries_login_and_passcode() {
    let broker = TestBroker::start().await;
    let url = format!("stomp://bob:secret@{}", broker.addr);
    let _client = Client::connect(&url, fast_reconnect()).await.unwrap();
    broker
        .wait_for("CONNECT", |s| {
            s.iter().any(|f| f.login.as_deref() == Some("bob"))
        })
        .await;
}

#[tokio::test]
async fn after_a_broker_crash_the_client_reconnects_and_resubscribes() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let mut status = client.status();
    let mut sub = client
        .subscribe("/topic/room", AckMode::Auto)
        .await
        .unwrap();
    broker
        .wait_for("SUBSCRIBE", |s| {
            s.iter().any(|f| f.command == Command::Subscribe)
        })
        .await;
    broker.publish("/topic/room", "before");
    assert_eq!(next_body(&mut sub).await, "before");

    broker.kill_connections();
    broker
        .wait_for("a second SUBSCRIBE", |s| {
            s.iter()
                .any(|f| f.command == Command::Subscribe && f.connection > 1)
        })
        .await;
    broker.publish("/topic/room", "after");
    assert_eq!(
        next_body(&mut sub).await,
        "after",
        "the same stream, resubscribed"
    );

    let mut seen = Vec::new();
    while let Ok(s) = status.try_recv() {
        seen.push(s);
    }
    assert!(
        seen.iter()
            .any(|s| matches!(s, ClientStatus::Disconnected { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| matches!(s, ClientStatus::Reconnecting { attempt: 1, .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| matches!(s, ClientStatus::Connected { connection: 2, .. })),
        "{seen:?}"
    );
}

#[tokio::test]
async fn an_unconfirmed_send_is_sent_again_after_the_reconnect() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    broker.set_confirm(false);
    let c = client.clone();
    let pending = tokio::spawn(async move { c.send_with_receipt("/queue/q", "important").await });
    broker
        .wait_for("the first copy", |s| {
            s.iter().any(|f| f.command == Command::Send)
        })
        .await;
    broker.set_confirm(true);
    broker.kill_connections();
    timeout(LIMIT, pending)
        .await
        .unwrap()
        .unwrap()
        .expect("confirmed by the second connection");
    let copies = broker.seen_commands(Command::Send);
    assert_eq!(copies.len(), 2, "at least once: the broker got it twice");
    assert_ne!(copies[0].connection, copies[1].connection);
}

#[tokio::test]
async fn sends_while_the_broker_is_down_go_out_after_it_returns() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let mut sub = client.subscribe("/queue/q", AckMode::Auto).await.unwrap();
    broker
        .wait_for("SUBSCRIBE", |s| {
            s.iter().any(|f| f.command == Command::Subscribe)
        })
        .await;
    broker.stop();
    let c = client.clone();
    let offline = tokio::spawn(async move { c.send_with_receipt("/queue/q", "queued").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.restart().await;
    timeout(LIMIT, offline).await.unwrap().unwrap().unwrap();
    assert_eq!(
        next_body(&mut sub).await,
        "queued",
        "resubscribed before the queued SEND went out"
    );
    let seen = broker.seen();
    let reconnected: Vec<Command> = seen
        .iter()
        .filter(|f| f.connection > 1)
        .map(|f| f.command.clone())
        .collect();
    assert_eq!(
        reconnected,
        [Command::Connect, Command::Subscribe, Command::Send]
    );
}

#[tokio::test]
async fn a_slow_subscriber_holds_the_broker_back_and_heartbeats_keep_the_connection() {
    let broker = TestBroker::with_heartbeat(Heartbeat::new(100, 100)).await;
    let options = fast_reconnect()
        .heartbeat(Heartbeat::new(100, 100))
        .subscription_buffer(4);
    let client = Client::connect(&broker.url(), options).await.unwrap();
    let mut status = client.status();
    let mut sub = client
        .subscribe("/topic/flood", AckMode::Auto)
        .await
        .unwrap();
    broker
        .wait_for("SUBSCRIBE", |s| {
            s.iter().any(|f| f.command == Command::Subscribe)
        })
        .await;
    for i in 0..2000 {
        broker.publish("/topic/flood", format!("{i:05}"));
    }
    // The application does not read for a while: several heart-beat intervals.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for i in 0..2000 {
        assert_eq!(next_body(&mut sub).await, format!("{i:05}"));
    }
    while let Ok(s) = status.try_recv() {
        assert!(
            !matches!(s, ClientStatus::Disconnected { .. }),
            "the connection survived: {s:?}"
        );
    }
}

#[tokio::test]
async fn receipts_that_expire_fail_their_calls_and_later_ones_still_complete_r2() {
    let broker = TestBroker::start().await;
    let options = fast_reconnect().receipt_timeout(Duration::from_millis(200));
    let client = Client::connect(&broker.url(), options).await.unwrap();
    broker.set_confirm(false);
    let (a, b) = tokio::join!(
        client.send_with_receipt("/queue/r", "a"),
        client.send_with_receipt("/queue/r", "b")
    );
    for result in [a, b] {
        assert!(
            matches!(
                result,
                Err(ClientError::Receipt {
                    reason: ReceiptFailure::Expired,
                    ..
                })
            ),
            "{result:?}"
        );
    }
    broker.set_confirm(true);
    let sends = (0..20).map(|i| client.send_with_receipt("/queue/r", format!("{i}")));
    let results = timeout(LIMIT, futures_util::future::join_all(sends))
        .await
        .expect("confirmed in time");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test]
async fn a_full_subscription_dropped_unblocks_the_others_and_batches_keep_order() {
    let broker = TestBroker::start().await;
    let options = fast_reconnect().subscription_buffer(3);
    let client = Client::connect(&broker.url(), options).await.unwrap();
    let full = client
        .subscribe("/topic/full", AckMode::Auto)
        .await
        .unwrap();
    let mut other = client
        .subscribe("/topic/other", AckMode::Auto)
        .await
        .unwrap();
    broker
        .wait_for("two SUBSCRIBEs", |s| {
            s.iter().filter(|f| f.command == Command::Subscribe).count() == 2
        })
        .await;
    // Never read: its buffer fills and the client stops delivering (and reading) behind it.
    for i in 0..50 {
        broker.publish("/topic/full", format!("full {i}"));
    }
    for i in 0..50 {
        broker.publish("/topic/other", format!("{i:02}"));
    }
    // Nothing for the other subscription gets past the full one...
    assert!(
        timeout(Duration::from_millis(300), other.next())
            .await
            .is_err(),
        "a message was delivered past the full subscription"
    );
    // ...until the full one is dropped: its messages go with it, the rest flows, in order.
    drop(full);
    for i in 0..50 {
        assert_eq!(next_body(&mut other).await, format!("{i:02}"));
    }
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_s6() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let sub = client.subscribe("/topic/a", AckMode::Auto).await.unwrap();
    let kept = client.subscribe("/topic/b", AckMode::Auto).await.unwrap();
    broker
        .wait_for("two SUBSCRIBEs", |s| {
            s.iter().filter(|f| f.command == Command::Subscribe).count() == 2
        })
        .await;
    drop(sub);
    broker
        .wait_for("UNSUBSCRIBE", |s| {
            s.iter().any(|f| f.command == Command::Unsubscribe)
        })
        .await;
    assert_eq!(broker.subscriber_count("/topic/a"), 0);
    kept.unsubscribe().await.unwrap();
    broker
        .wait_for("a second UNSUBSCRIBE", |s| {
            s.iter()
                .filter(|f| f.command == Command::Unsubscribe)
                .count()
                == 2
        })
        .await;
}

#[tokio::test]
async fn transactions_commit_and_abort_when_dropped_s11() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let tx = client.begin().await.unwrap();
    tx.send("/queue/t", "in-tx").await.unwrap();
    let id = String::from_utf8_lossy(tx.id()).into_owned();
    tx.commit().await.unwrap();
    let seen = broker.seen();
    let send = seen.iter().find(|f| f.command == Command::Send).unwrap();
    assert_eq!(send.transaction.as_deref(), Some(id.as_str()));
    assert!(seen
        .iter()
        .any(|f| f.command == Command::Commit && f.transaction.as_deref() == Some(id.as_str())));

    let dropped = client.begin().await.unwrap();
    let id2 = String::from_utf8_lossy(dropped.id()).into_owned();
    drop(dropped);
    broker
        .wait_for("ABORT", |s| {
            s.iter().any(|f| {
                f.command == Command::Abort && f.transaction.as_deref() == Some(id2.as_str())
            })
        })
        .await;
}

#[tokio::test]
async fn disconnect_is_orderly_and_final_r5() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let mut sub = client.subscribe("/topic/a", AckMode::Auto).await.unwrap();
    client.disconnect().await.unwrap();
    assert!(broker
        .seen()
        .iter()
        .any(|f| f.command == Command::Disconnect));
    assert!(
        timeout(LIMIT, sub.next()).await.unwrap().is_none(),
        "the stream ends"
    );
    // The application closed it: no failure to name.
    assert!(matches!(
        client.send("/q", "late").await,
        Err(ClientError::Closed { reason: None })
    ));
}

/// Reads from `socket` until `frames` NUL-terminated frames came; returns them.
async fn read_frames(socket: &mut tokio::net::TcpStream, frames: usize) -> Vec<Vec<u8>> {
    let (mut seen, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    while seen.iter().filter(|&&b| b == 0).count() < frames {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    seen.split(|&b| b == 0)
        .take(frames)
        .map(|frame| frame.trim_ascii_start().to_vec())
        .collect()
}

/// A plain CONNECTED frame of a scripted server.
const CONNECTED: &[u8] = b"CONNECTED\nversion:1.2\n\n\0";

/// A scripted server's next connection: accepted, its CONNECT read, `answer` written.
async fn accept_and_answer(
    listener: &tokio::net::TcpListener,
    answer: &[u8],
) -> tokio::net::TcpStream {
    let (mut socket, _) = listener.accept().await.unwrap();
    read_frames(&mut socket, 1).await;
    socket.write_all(answer).await.unwrap();
    socket
}

/// The value of header `name` in `frame` (a test failure when there is none).
fn header(frame: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(frame).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {text:?}"))
}

/// A client of a scripted server: no heart-beats, no second connection.
fn one_connection() -> ClientOptions {
    ClientOptions::new()
        .heartbeat(Heartbeat::new(0, 0))
        .reconnect(ReconnectPolicy::never())
}

#[tokio::test]
async fn a_read_of_many_frames_completes_every_receipt_and_delivers_every_message_in_order() {
    // The driver decodes a large read a slice at a time, letting the application run between
    // slices: nothing of the read may be lost or reordered (R-1 receipts, S-7 messages).
    const SENDS: usize = 600;
    const MESSAGES: usize = 2_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut socket = accept_and_answer(&listener, CONNECTED).await;
        // The SUBSCRIBE and every SEND, then all the answers in one write of about 150 KB.
        let frames = read_frames(&mut socket, 1 + SENDS).await;
        let subscription = header(&frames[0], "id");
        let mut answer = Vec::new();
        for (i, send) in frames[1..].iter().enumerate() {
            answer.extend_from_slice(
                format!("RECEIPT\nreceipt-id:{}\n\n\0", header(send, "receipt")).as_bytes(),
            );
            // Messages between the receipts, so that the slices cut through both kinds.
            for m in (i * MESSAGES / SENDS)..((i + 1) * MESSAGES / SENDS) {
                answer.extend_from_slice(
                    format!("MESSAGE\nsubscription:{subscription}\nmessage-id:{m}\ndestination:/queue/big\n\nbody {m:05}\0").as_bytes(),
                );
            }
        }
        assert!(answer.len() > 100 * 1024, "{} octets", answer.len());
        socket.write_all(&answer).await.unwrap();
        let mut buf = [0u8; 1024];
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    let client = Client::connect(&format!("stomp://{addr}"), one_connection())
        .await
        .unwrap();
    let mut sub = client.subscribe("/queue/big", AckMode::Auto).await.unwrap();
    let sends = (0..SENDS).map(|i| client.send_with_receipt("/queue/in", format!("{i}")));
    // Read while the receipts come: a full subscription holds back what follows its messages.
    let receive = async {
        for m in 0..MESSAGES {
            assert_eq!(next_body(&mut sub).await, format!("body {m:05}"));
        }
    };
    let (results, ()) = timeout(LIMIT, async {
        tokio::join!(futures_util::future::join_all(sends), receive)
    })
    .await
    .expect("every receipt and message in time");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    drop(sub);
    drop(client);
    timeout(LIMIT, server).await.unwrap().unwrap();
}

/// R-2: a RECEIPT already read, but in a slice not yet decoded when the receipt's deadline
/// passes (the application held the thread meanwhile), confirms its call: what was read is
/// decoded before any deadline is looked at.
#[tokio::test]
async fn a_receipt_read_before_its_deadline_is_not_expired_by_it_r2() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut socket = accept_and_answer(&listener, CONNECTED).await;
        let frames = read_frames(&mut socket, 2).await;
        let subscription = header(&frames[0], "id");
        let receipt = header(&frames[1], "receipt");
        // Messages for several slices, then the RECEIPT, in one write.
        let mut answer = Vec::new();
        for m in 0..300 {
            answer.extend_from_slice(
                format!(
                    "MESSAGE\nsubscription:{subscription}\nmessage-id:{m}\ndestination:/queue/s\n\n{m:080}\0"
                )
                .as_bytes(),
            );
        }
        answer.extend_from_slice(format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes());
        socket.write_all(&answer).await.unwrap();
        let mut buf = [0u8; 1024];
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    let options = one_connection()
        .receipt_timeout(Duration::from_millis(300))
        .subscription_buffer(1_000);
    let client = Client::connect(&format!("stomp://{addr}"), options)
        .await
        .unwrap();
    let mut sub = client.subscribe("/queue/s", AckMode::Auto).await.unwrap();
    let consume = async {
        for m in 0..300 {
            let message = timeout(LIMIT, sub.next()).await.unwrap().unwrap();
            assert_eq!(message.body(), format!("{m:080}").as_bytes());
            if m == 0 {
                // The application keeps the (only) thread past the receipt's deadline.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    let (sent, ()) = tokio::join!(client.send_with_receipt("/queue/in", "x"), consume);
    assert!(sent.is_ok(), "{sent:?}");
    drop(sub);
    drop(client);
    timeout(LIMIT, server).await.unwrap().unwrap();
}

/// A server that accepts the CONNECT and at once sends ERROR and closes (as a relaying server
/// does when its own broker is gone): the client, not reconnecting, closes, and the ERROR's
/// message is there to read afterwards, even though no one watched `status` when it came
/// (C-9: the server closes after ERROR).
#[tokio::test]
async fn an_error_right_after_connected_is_the_reason_a_closed_client_gives() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let answer = b"CONNECTED\nversion:1.2\n\n\0ERROR\nmessage:relay connection lost\n\n\0";
        let mut socket = accept_and_answer(&listener, answer).await;
        // Hold the socket open until the client goes: the ERROR alone must end it.
        let _ = socket.read(&mut [0u8; 1024]).await;
    });
    let client = Client::connect(&format!("stomp://{addr}"), one_connection())
        .await
        .unwrap();
    let failure = timeout(LIMIT, async {
        loop {
            match client.send("/q", "x").await {
                Err(ClientError::Closed { reason }) => break reason,
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("the client closes after the ERROR");
    let failure = failure.expect("a reason");
    assert!(failure.contains("relay connection lost"), "{failure}");
    assert_eq!(client.last_failure().as_deref(), Some(failure.as_str()));
    drop(client);
    timeout(LIMIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn frames_published_before_the_client_is_dropped_still_go_out_then_the_socket_closes() {
    // `publish` completes once queued: dropping the last `Client` right after must not lose
    // what was queued. The writer writes it, then closes the transport: the server reads
    // every SEND, in order, then the end of the stream (no task of the client holds it open).
    const N: usize = 2_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut socket = accept_and_answer(&listener, CONNECTED).await;
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let client = Client::connect(&format!("stomp://{addr}"), one_connection())
        .await
        .unwrap();
    for i in 0..N {
        client.publish("/queue/d", format!("m{i}")).await.unwrap();
    }
    drop(client);
    let seen = timeout(LIMIT, server)
        .await
        .expect("the client closes its socket after the drop")
        .unwrap();
    let bodies: Vec<String> = seen
        .split(|&b| b == 0)
        .filter(|frame| frame.trim_ascii_start().starts_with(b"SEND\n"))
        .map(|frame| {
            let text = String::from_utf8_lossy(frame);
            text.split("\n\n").nth(1).unwrap_or_default().to_string()
        })
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
}

/// B-6: a broker that stops reading and sending. The heart-beat timeout ends the connection
/// while the writer is blocked in a write that will never finish (the socket is full); the
/// writer gives up `close_timeout` after that, so the reconnect does not wait for it forever.
#[tokio::test]
async fn a_writer_blocked_by_a_broker_that_stopped_reading_does_not_hold_up_the_reconnect_b6() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // The first connection: CONNECTED, heart-beats promised every 100 ms, then silence,
        // and nothing read.
        let first =
            accept_and_answer(&listener, b"CONNECTED\nversion:1.2\nheart-beat:100,0\n\n\0").await;
        // The reconnect.
        let second = accept_and_answer(&listener, CONNECTED).await;
        // Both stay open until the test ends.
        (first, second)
    });
    let mut options = ClientOptions::new()
        .heartbeat(Heartbeat::new(0, 100))
        .reconnect(
            ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(20))
                .jitter(0.0),
        );
    options.transport.close_timeout = Duration::from_millis(300);
    let client = Client::connect(&format!("stomp://{addr}"), options)
        .await
        .unwrap();
    let mut status = client.status();
    // More than the socket's buffers hold, so that the writer blocks.
    let body = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let publishing = async {
        for _ in 0..1_000 {
            if client.publish("/queue/big", body.clone()).await.is_err() {
                break;
            }
        }
        std::future::pending::<()>().await;
    };
    let reconnected = async {
        loop {
            match status.recv().await {
                Ok(ClientStatus::Connected { connection, .. }) if connection >= 2 => break,
                Ok(_) => {}
                Err(e) => panic!("status ended: {e}"),
            }
        }
    };
    timeout(LIMIT, async {
        tokio::select! {
            () = publishing => {}
            () = reconnected => {}
        }
    })
    .await
    .expect("reconnected although the old writer was stuck");
    drop(client);
    let _ = timeout(LIMIT, server).await;
}

#[tokio::test]
async fn dropping_the_client_stops_its_task() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.url(), fast_reconnect())
        .await
        .unwrap();
    let mut sub = client.subscribe("/topic/a", AckMode::Auto).await.unwrap();
    drop(client);
    assert!(
        timeout(LIMIT, sub.next()).await.unwrap().is_none(),
        "the task is gone, the stream ends"
    );
}

#[tokio::test]
async fn connecting_to_nothing_gives_up_with_the_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let options = fast_reconnect().reconnect(
        ReconnectPolicy::default()
            .initial_delay(Duration::from_millis(10))
            .max_attempts(Some(2)),
    );
    let error = timeout(LIMIT, Client::connect(&format!("stomp://{addr}"), options))
        .await
        .unwrap()
        .unwrap_err();
    match error {
        ClientError::GaveUp { attempts, last } => {
            assert_eq!(attempts, 2);
            assert!(last.contains(&addr.to_string()), "{last}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Client::connect("ftp://x", ClientOptions::new()).await,
        Err(ClientError::Url(_))
    ));
}
