//! No panic on any call order for the reconnecting session: arbitrary sequences of every
//! driver call (transport opened or failed at any time, input of arbitrary bytes and of server
//! frames, transport end, timeouts with a clock that goes forwards, backwards and to the end
//! of `Duration`) and every application call (giving up included), on `Duration` timestamps,
//! under small bounds.
//!
//! After every call: the offline queue and the pending receipts stay within their configured
//! bounds, `Closed` is reported at most once and is the last event, and a closed session
//! refuses every application call with `SessionError::Closed` and arms no timer.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use stomp_codec::{
    AckMode, ClientConfig, ClientSession, FrameOptions, Heartbeat, ReconnectPolicy, SessionConfig,
    SessionError, SessionEvent,
};

#[derive(Debug, Clone)]
enum Op {
    Opened,
    Failed,
    Input(Vec<u8>),
    Close,
    Timeout(u64),
    TimeoutMax,
    Send {
        receipt: bool,
        body: usize,
        tx: bool,
    },
    Subscribe(u8, bool),
    Unsubscribe(u8),
    Ack(usize, bool),
    Begin(u8),
    Commit(u8),
    Disconnect,
    GiveUp,
    Poll,
}

fn server_frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"CONNECTED\nversion:1.2\nheart-beat:0,50\n\n\0".to_vec()),
        Just(b"CONNECTED\nversion:1.0\n\n\0".to_vec()),
        (0u8..4, 0u8..3).prop_map(|(s, m)| format!(
            "MESSAGE\nsubscription:s{s}\nmessage-id:m{m}\nack:a{m}\ndestination:/q\n\nhi\0"
        )
        .into_bytes()),
        (1u8..8).prop_map(|r| format!("RECEIPT\nreceipt-id:rcpt-{r}\n\n\0").into_bytes()),
        (1u8..8).prop_map(|r| format!("ERROR\nmessage:no\nreceipt-id:rcpt-{r}\n\n\0").into_bytes()),
        Just(b"\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Opened),
        1 => Just(Op::Failed),
        6 => server_frame().prop_map(Op::Input),
        1 => Just(Op::Close),
        3 => (0u64..3000).prop_map(Op::Timeout),
        1 => Just(Op::TimeoutMax),
        4 => (any::<bool>(), 0usize..300, prop::bool::weighted(0.1))
            .prop_map(|(receipt, body, tx)| Op::Send { receipt, body, tx }),
        2 => (0u8..4, any::<bool>()).prop_map(|(s, r)| Op::Subscribe(s, r)),
        1 => (0u8..4).prop_map(Op::Unsubscribe),
        1 => (0usize..8, any::<bool>()).prop_map(|(i, n)| Op::Ack(i, n)),
        1 => (0u8..2).prop_map(Op::Begin),
        1 => (0u8..2).prop_map(Op::Commit),
        1 => Just(Op::Disconnect),
        1 => Just(Op::GiveUp),
        2 => Just(Op::Poll),
    ]
}

const MAX_OFFLINE_FRAMES: usize = 3;
const MAX_OFFLINE_BYTES: usize = 400;
const MAX_UNCONFIRMED: usize = 4;

fn run(ops: Vec<Op>, seed: u64) {
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(200))
        .jitter(0.5)
        .seed(seed)
        .max_attempts(if seed % 3 == 0 { Some(4) } else { None });
    let config = SessionConfig::new(
        ClientConfig::new("/")
            .heartbeat(Heartbeat::new(50, 50))
            .disconnect_timeout(Duration::from_millis(100)),
    )
    .reconnect(policy)
    .receipt_timeout(Duration::from_millis(500))
    .max_offline(MAX_OFFLINE_FRAMES, MAX_OFFLINE_BYTES)
    .max_unconfirmed(MAX_UNCONFIRMED);
    let mut s: ClientSession<Duration> = ClientSession::with_timestamp_type(config);
    let mut now = Duration::ZERO;
    let mut deliveries = Vec::new();
    let mut closed_seen = false;
    for op in ops {
        match op {
            Op::Opened => {
                let _ = s.handle_transport_opened(now);
            }
            Op::Failed => s.handle_transport_failed(now),
            Op::Input(bytes) => s.handle_input(now, &bytes),
            Op::Close => s.handle_close(now),
            Op::Timeout(ms) => {
                // Backwards now and then: the session keeps the latest.
                now = if ms % 7 == 0 {
                    now.saturating_sub(Duration::from_millis(ms))
                } else {
                    now + Duration::from_millis(ms)
                };
                s.handle_timeout(now);
            }
            Op::TimeoutMax => s.handle_timeout(Duration::MAX),
            Op::Send { receipt, body, tx } => {
                let mut o = FrameOptions::new();
                if receipt {
                    o = o.receipt();
                }
                if tx {
                    o = o.transaction("t0");
                }
                let _ = s.send(now, "/q", Bytes::from(vec![b'x'; body]), o);
            }
            Op::Subscribe(id, receipt) => {
                let o = if receipt {
                    FrameOptions::new().receipt()
                } else {
                    FrameOptions::new()
                };
                let _ = s.subscribe(now, format!("s{id}"), "/q", AckMode::Client, o);
            }
            Op::Unsubscribe(id) => {
                let _ = s.unsubscribe(now, format!("s{id}"), FrameOptions::new());
            }
            Op::Ack(i, nack) => {
                if let Some(d) = deliveries.get(i % deliveries.len().max(1)) {
                    let _ = if nack {
                        s.nack(now, d, FrameOptions::new())
                    } else {
                        s.ack(now, d, FrameOptions::new().receipt())
                    };
                }
            }
            Op::Begin(t) => {
                let _ = s.begin(now, format!("t{t}"), FrameOptions::new());
            }
            Op::Commit(t) => {
                let _ = s.commit(now, format!("t{t}"), FrameOptions::new());
            }
            Op::Disconnect => {
                let _ = s.disconnect(now);
            }
            Op::GiveUp => s.give_up(now),
            Op::Poll => while s.poll_transmit().is_some() {},
        }
        while let Some(event) = s.poll_event() {
            assert!(!closed_seen, "an event after Closed: {event:?}");
            match event {
                SessionEvent::Closed => closed_seen = true,
                SessionEvent::Delivery(d) => deliveries.push(d),
                _ => {}
            }
        }
        let (frames, bytes) = s.offline_queued();
        // A loss puts the unconfirmed SENDs back in the queue beyond its bound: at most
        // `max_unconfirmed` of them.
        assert!(
            frames <= MAX_OFFLINE_FRAMES + MAX_UNCONFIRMED,
            "{frames} frames queued"
        );
        assert!(
            bytes <= MAX_OFFLINE_BYTES + MAX_UNCONFIRMED * 305,
            "{bytes} bytes queued"
        );
        assert!(s.pending_receipts() <= MAX_UNCONFIRMED);
        if s.is_closed() {
            assert!(closed_seen, "closed without the event");
            assert_eq!(s.poll_timeout(), None);
            assert_eq!(
                s.send(now, "/q", "x", FrameOptions::new()),
                Err(SessionError::Closed)
            );
            assert_eq!(s.disconnect(now), Err(SessionError::Closed));
            assert_eq!(s.offline_queued(), (0, 0));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_call_order_is_safe(ops in prop::collection::vec(op(), 0..80), seed in any::<u64>()) {
        run(ops, seed);
    }
}
