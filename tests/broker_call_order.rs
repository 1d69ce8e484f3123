//! No panic on any call order for the broker: arbitrary sequences of opening, feeding valid
//! and arbitrary client frames, closing, removing, timeouts, polling and application calls,
//! under small limits. After every call: what waits for each connection stays within its
//! output limit (apart from one frame an empty queue takes, an ERROR and a CONNECTED), the
//! queues keep within their backlog limits, and closed or removed connections take nothing.

use std::time::Duration;

use proptest::prelude::*;
use stomp_codec::{
    Accept, Broker, BrokerConfig, Command, ConnectionId, ErrorReply, Frame, Heartbeat,
    ServerConfig, SlowConsumer,
};

#[derive(Debug, Clone)]
enum Op {
    Open,
    Input(usize, Vec<u8>),
    Close(usize),
    Remove(usize),
    Timeout(u64),
    Poll(usize),
    Publish(u8, usize),
    Reply(usize),
    Accept(usize),
    Refuse(usize),
    AppDone(usize),
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let dest = prop_oneof![
        Just("/topic/a"),
        Just("/queue/q"),
        Just("/queue/r"),
        Just("/app/chat.1"),
        Just("/user/queue/x")
    ];
    prop_oneof![
        Just(
            b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nlogin:u\nheart-beat:0,100\n\n\0"
                .to_vec()
        ),
        (0u8..3, dest.clone(), 0u8..3).prop_map(|(s, d, a)| {
            let ack = ["auto", "client", "client-individual"][a as usize];
            format!("SUBSCRIBE\nid:{s}\ndestination:{d}\nack:{ack}\nreceipt:r{s}\n\n\0")
                .into_bytes()
        }),
        (0u8..3).prop_map(|s| format!("UNSUBSCRIBE\nid:{s}\n\n\0").into_bytes()),
        (dest, any::<bool>(), 0usize..2000).prop_map(|(d, tx, n)| {
            let tx = if tx { "transaction:t\n" } else { "" };
            format!(
                "SEND\ndestination:{d}\n{tx}receipt:s\n\n{}\0",
                "x".repeat(n)
            )
            .into_bytes()
        }),
        (0u8..20).prop_map(|m| format!("ACK\nid:m-{m}\n\n\0").into_bytes()),
        (0u8..20).prop_map(|m| format!("NACK\nid:m-{m}\ntransaction:t\n\n\0").into_bytes()),
        Just(b"BEGIN\ntransaction:t\n\n\0".to_vec()),
        Just(b"COMMIT\ntransaction:t\nreceipt:c\n\n\0".to_vec()),
        Just(b"ABORT\ntransaction:t\n\n\0".to_vec()),
        Just(b"DISCONNECT\nreceipt:bye\n\n\0".to_vec()),
        Just(b"\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        10 => (0usize..6, frame()).prop_map(|(i, f)| Op::Input(i, f)),
        1 => (0usize..6).prop_map(Op::Close),
        1 => (0usize..6).prop_map(Op::Remove),
        2 => (0u64..500).prop_map(Op::Timeout),
        4 => (0usize..6).prop_map(Op::Poll),
        2 => (0u8..3, 0usize..3000).prop_map(|(d, n)| Op::Publish(d, n)),
        1 => (0usize..6).prop_map(Op::Reply),
        1 => (0usize..6).prop_map(Op::Accept),
        1 => (0usize..6).prop_map(Op::Refuse),
        1 => (0usize..6).prop_map(Op::AppDone),
    ]
}

const OUTPUT_LIMIT: usize = 8 * 1024;

fn run(ops: Vec<Op>, auto_accept: bool) {
    let mut config = BrokerConfig::default();
    config.server = ServerConfig::default()
        .heartbeat(Heartbeat::new(100, 100))
        .max_pending_transmit(OUTPUT_LIMIT)
        .slow_consumer(if auto_accept {
            SlowConsumer::Close
        } else {
            SlowConsumer::Refuse
        });
    config.limits.max_unacked = 3;
    config.limits.max_held = 3;
    config.limits.max_destinations = 4;
    config.limits.queue_backlog = 3;
    config.limits.total_backlog_bytes = 6000;
    config.auto_accept = auto_accept;
    let mut broker: Broker<Duration> = Broker::with_timestamp_type(config);
    let mut ids: Vec<ConnectionId> = Vec::new();
    let mut now = Duration::ZERO;
    let pick = |ids: &[ConnectionId], i: usize| ids.get(i % ids.len().max(1)).copied();
    for op in ops {
        match op {
            Op::Open => ids.push(broker.open(now)),
            Op::Input(i, bytes) => {
                if let Some(id) = pick(&ids, i) {
                    broker.handle_input(id, now, &bytes);
                }
            }
            Op::Close(i) => {
                if let Some(id) = pick(&ids, i) {
                    broker.handle_close(id, now);
                }
            }
            Op::Remove(i) => {
                if let Some(id) = pick(&ids, i) {
                    broker.remove(id, now);
                    assert!(broker.connection(id).is_none());
                    assert_eq!(broker.poll_transmit(id), None);
                }
            }
            Op::Timeout(ms) => {
                now += Duration::from_millis(ms);
                broker.handle_timeout(now);
            }
            Op::Poll(i) => {
                if let Some(id) = pick(&ids, i) {
                    while broker.poll_transmit(id).is_some() {}
                }
            }
            Op::Publish(d, n) => {
                let content = Frame::builder(Command::Send).body("y".repeat(n)).build();
                let _ = broker.publish(
                    now,
                    ["/topic/a", "/queue/q", "/queue/new"][d as usize],
                    &content,
                );
            }
            Op::Reply(i) => {
                if let Some(id) = pick(&ids, i) {
                    let content = Frame::builder(Command::Send).body("r").build();
                    broker.send_to_connection(id, now, "/user/queue/x", &content);
                }
            }
            Op::Accept(i) => {
                if let Some(id) = pick(&ids, i) {
                    let _ = broker.accept(id, now, Accept::new());
                }
            }
            Op::Refuse(i) => {
                if let Some(id) = pick(&ids, i) {
                    let _ = broker.refuse(id, now, ErrorReply::new("no"));
                }
            }
            Op::AppDone(i) => {
                if let Some(id) = pick(&ids, i) {
                    let _ = broker.app_done(id, now, Some(bytes::Bytes::from_static(b"s")));
                }
            }
        }
        while broker.poll_event().is_some() {}
        while broker.poll_woken().is_some() {}
        for id in &ids {
            if let Some(conn) = broker.connection(*id) {
                // Beyond the limit: one frame an empty queue took, plus ERROR and CONNECTED.
                assert!(
                    conn.pending_transmit() <= OUTPUT_LIMIT + 3000 + 2 * 1024,
                    "{} bytes wait for {id}",
                    conn.pending_transmit()
                );
            }
        }
        assert!(broker.waiting("/queue/q") <= 3 && broker.waiting("/queue/r") <= 3);
        assert!(broker.backlog_bytes() <= 6000);
        assert!(broker.destination_count() <= 4);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn any_call_order_is_safe(ops in prop::collection::vec(op(), 0..100), auto in any::<bool>()) {
        run(ops, auto);
    }
}
