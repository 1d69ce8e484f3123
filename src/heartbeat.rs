//! The `heart-beat` header: parsing, formatting and negotiation (B-1 to B-3).

use core::fmt;

use crate::numbers::parse_heartbeat;

/// A `heart-beat` header value `x,y` in milliseconds (B-1).
///
/// `x` is the smallest gap the sender guarantees between its own beats (0: it sends none);
/// `y` is the gap it would like between beats it receives (0: it wants none).
///
/// ```
/// use stomp_codec::Heartbeat;
/// let client = Heartbeat::parse(b"10000,10000").unwrap();
/// let server = Heartbeat::new(5000, 20000);
/// // client -> server every max(10000, 20000) ms; server -> client every max(5000, 10000) ms.
/// assert_eq!(Heartbeat::negotiate(client, server), (20000, 10000));
/// assert_eq!(server.to_string(), "5000,20000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Heartbeat {
    /// Smallest interval the sender can guarantee between its own beats, in ms (0 = none).
    pub send_ms: u32,
    /// Interval the sender wants between beats it receives, in ms (0 = none).
    pub receive_ms: u32,
}

impl Heartbeat {
    /// `0,0`: no heart-beats either way; also what a missing header means (B-2).
    pub const NONE: Heartbeat = Heartbeat {
        send_ms: 0,
        receive_ms: 0,
    };

    /// A value from its two numbers.
    pub const fn new(send_ms: u32, receive_ms: u32) -> Heartbeat {
        Heartbeat {
            send_ms,
            receive_ms,
        }
    }

    /// Parses exactly `digits,digits`, each fitting `u32` (D-19); anything else is `None`.
    pub fn parse(value: &[u8]) -> Option<Heartbeat> {
        parse_heartbeat(value).map(|(send_ms, receive_ms)| Heartbeat {
            send_ms,
            receive_ms,
        })
    }

    /// The two negotiated intervals in ms, `(client_to_server, server_to_client)`, from the
    /// CONNECT and CONNECTED values (B-3): 0 when either side said 0, otherwise the larger.
    pub fn negotiate(client: Heartbeat, server: Heartbeat) -> (u32, u32) {
        (
            interval(client.send_ms, server.receive_ms),
            interval(server.send_ms, client.receive_ms),
        )
    }
}

fn interval(sender_can: u32, receiver_wants: u32) -> u32 {
    if sender_can == 0 || receiver_wants == 0 {
        0
    } else {
        sender_can.max(receiver_wants)
    }
}

impl fmt::Display for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.send_ms, self.receive_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_disables_a_direction_b3() {
        assert_eq!(
            Heartbeat::negotiate(Heartbeat::new(0, 1000), Heartbeat::new(1000, 1000)),
            (0, 1000)
        );
        assert_eq!(
            Heartbeat::negotiate(Heartbeat::new(1000, 0), Heartbeat::new(500, 2000)),
            (2000, 0)
        );
        assert_eq!(
            Heartbeat::negotiate(Heartbeat::NONE, Heartbeat::new(1, 1)),
            (0, 0)
        );
    }
}
