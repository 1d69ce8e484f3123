//! The clock the connections read: any monotonic time type, `std::time::Instant` by default.

use core::fmt::Debug;
use core::time::Duration;

/// A point in time on a monotonic clock, as the connections take it in `now`.
///
/// The connection state machines never read a clock: every call that depends on time takes
/// `now`, and [`poll_timeout`](crate::ClientConnection::poll_timeout) answers with a value of
/// the same type. They only need to add a [`Duration`] to a point and to measure the
/// [`Duration`] between two points, so any monotonic time type will do:
///
/// * `std::time::Instant` (feature `std`): the default type parameter of
///   [`ClientConnection`](crate::ClientConnection) and
///   [`ServerConnection`](crate::ServerConnection), so that `ClientConnection::new(config)`
///   and `handle_input(Instant::now(), ..)` need no annotation;
/// * [`Duration`], read as the time since a fixed epoch of your choice (boot, the start of the
///   program): the ready-made choice without `std`, e.g. a millisecond tick counter as
///   `Duration::from_millis(ticks)`, or a virtual clock in tests;
/// * your own type (an embedded HAL's instant): implement the two methods.
///
/// ```
/// use core::time::Duration;
/// use stomp_codec::{ClientConfig, ClientConnection, Timestamp};
///
/// // Milliseconds since boot, as a no_std program would read them from a timer.
/// let boot = Duration::ZERO;
/// let mut conn: ClientConnection<Duration> =
///     ClientConnection::with_timestamp_type(ClientConfig::new("/"));
/// conn.connect(boot).unwrap();
/// assert!(conn.poll_transmit().is_some());
/// assert_eq!(
///     Timestamp::checked_add(boot, Duration::from_millis(1500)),
///     Some(Duration::from_millis(1500))
/// );
/// ```
///
/// Values should never go backwards between calls on one connection. If one does, the
/// connection uses the latest value it has seen instead, so a clock that steps back can
/// neither rewind a timer nor fire one early.
///
/// A deadline too far away for the type (`Duration::MAX` as a timeout, say) is clamped to the
/// latest point the type can represent ([`saturating_add`](Timestamp::saturating_add)): the
/// timer is still armed, it just will not be due in practice.
pub trait Timestamp: Copy + Ord + Debug {
    /// `self` plus `duration`, or `None` when the type cannot represent it.
    fn checked_add(self, duration: Duration) -> Option<Self>;

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    fn saturating_duration_since(self, earlier: Self) -> Duration;

    /// `self` plus `duration`, or the latest point the type can represent when the sum
    /// overflows.
    ///
    /// The provided implementation finds that point by bisection over
    /// [`checked_add`](Timestamp::checked_add) (at most about a hundred calls, and only on
    /// overflow); override it when the type knows its maximum.
    fn saturating_add(self, duration: Duration) -> Self {
        if let Some(sum) = self.checked_add(duration) {
            return sum;
        }
        // Invariant: `self + ok` is representable, `self + too_far` is not.
        let (mut ok, mut too_far) = (Duration::ZERO, duration);
        while too_far - ok > Duration::from_nanos(1) {
            let mid = ok + (too_far - ok) / 2;
            if self.checked_add(mid).is_some() {
                ok = mid;
            } else {
                too_far = mid;
            }
        }
        // `self + 0` is `self`; a type whose checked_add refuses even that gets `self`.
        self.checked_add(ok).unwrap_or(self)
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl Timestamp for std::time::Instant {
    #[inline]
    fn checked_add(self, duration: Duration) -> Option<Self> {
        std::time::Instant::checked_add(&self, duration)
    }

    #[inline]
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        std::time::Instant::saturating_duration_since(&self, earlier)
    }
}

/// Time since a fixed epoch that the caller chooses (boot, program start, a test's zero).
impl Timestamp for Duration {
    #[inline]
    fn checked_add(self, duration: Duration) -> Option<Self> {
        Duration::checked_add(self, duration)
    }

    #[inline]
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }

    #[inline]
    fn saturating_add(self, duration: Duration) -> Self {
        Duration::saturating_add(self, duration)
    }
}

/// Declares a connection struct generic over its [`Timestamp`] type `I`, which defaults to
/// `std::time::Instant` when `std` is on. (A default type parameter cannot be switched with
/// `cfg_attr`, hence two declarations; without `std` the type must be named.)
macro_rules! timed_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident $(<$g:ident: $b:ident>)? { $($body:tt)* }) => {
        #[cfg(feature = "std")]
        $(#[$meta])*
        $vis struct $name<$($g: $b,)? I: Timestamp = std::time::Instant> { $($body)* }

        #[cfg(not(feature = "std"))]
        $(#[$meta])*
        $vis struct $name<$($g: $b,)? I: Timestamp> { $($body)* }
    };
}
pub(crate) use timed_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_timestamps_add_and_subtract() {
        let t = Duration::from_millis(1000);
        assert_eq!(
            Timestamp::checked_add(t, Duration::from_millis(500)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(Timestamp::checked_add(Duration::MAX, t), None);
        assert_eq!(
            t.saturating_duration_since(Duration::from_millis(400)),
            Duration::from_millis(600)
        );
        assert_eq!(
            Duration::from_millis(400).saturating_duration_since(t),
            Duration::ZERO,
            "an earlier point gives zero, not a panic"
        );
    }

    /// A type that only knows `checked_add`: whole seconds up to 1000.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Secs(u64);

    impl Timestamp for Secs {
        fn checked_add(self, duration: Duration) -> Option<Self> {
            let sum = self.0.checked_add(duration.as_secs())?;
            (sum <= 1000).then_some(Secs(sum))
        }

        fn saturating_duration_since(self, earlier: Self) -> Duration {
            Duration::from_secs(self.0.saturating_sub(earlier.0))
        }
    }

    #[test]
    fn saturating_add_clamps_to_the_latest_point() {
        assert_eq!(
            Timestamp::saturating_add(Duration::from_secs(1), Duration::MAX),
            Duration::MAX
        );
        // The provided bisection finds the maximum of a type that only has checked_add.
        assert_eq!(Secs(10).saturating_add(Duration::from_secs(5)), Secs(15));
        assert_eq!(Secs(10).saturating_add(Duration::MAX), Secs(1000));
        assert_eq!(
            Secs(1000).saturating_add(Duration::from_secs(1)),
            Secs(1000)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_instants_saturate_far_in_the_future() {
        let t = std::time::Instant::now();
        let far = Timestamp::saturating_add(t, Duration::MAX);
        assert!(far.saturating_duration_since(t) > Duration::from_secs(100 * 365 * 86_400));
        assert_eq!(Timestamp::saturating_add(far, Duration::from_secs(1)), far);
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_instants_add_and_subtract() {
        let t = std::time::Instant::now();
        let later = Timestamp::checked_add(t, Duration::from_secs(2)).unwrap();
        assert_eq!(later.saturating_duration_since(t), Duration::from_secs(2));
        assert_eq!(
            Timestamp::saturating_duration_since(t, later),
            Duration::ZERO
        );
    }
}
