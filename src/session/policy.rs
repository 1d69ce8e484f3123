//! When to try again: the reconnect policy and the backoff state that follows it.

use core::time::Duration;

/// When a [`ClientSession`](crate::ClientSession) opens a new connection after losing one.
///
/// The delay before the next attempt grows with each failure in a row:
/// `initial_delay × multiplier^(failures − 1)`, capped at `max_delay`, then shortened by up to
/// `jitter` of itself (a fraction drawn from a generator seeded with `seed`, so that a test
/// sees the same delays every run and many clients restarted together do not all come back in
/// the same millisecond). The delay therefore always lies in `[base × (1 − jitter), base]`.
///
/// A connection that stayed up for `reset_after` counts as stable: the failures are forgotten
/// and the next loss waits `initial_delay` again. Without that, a client would keep the long
/// delay it reached during an outage for the rest of its life.
///
/// The very first attempt of a session is immediate.
///
/// ```
/// use std::time::Duration;
/// use stomp_codec::ReconnectPolicy;
/// let policy = ReconnectPolicy::default()
///     .initial_delay(Duration::from_millis(500))
///     .max_delay(Duration::from_secs(20))
///     .max_attempts(Some(10));
/// assert_eq!(policy.multiplier, 2.0);
/// assert!(!ReconnectPolicy::never().reconnect);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The delay after the first failure. Default 1 s.
    pub initial_delay: Duration,
    /// The longest delay. Default 30 s.
    pub max_delay: Duration,
    /// How much each further failure multiplies the delay by. Default 2. Values below 1 (or not
    /// finite) count as 1.
    pub multiplier: f64,
    /// The largest fraction of a delay taken off at random, from 0 (none) to 1. Default 0.2.
    pub jitter: f64,
    /// The seed of the jitter's generator. Default 0; give each client its own (its process id,
    /// a hash of its name) so that they spread out.
    pub seed: u64,
    /// How long a connection must stay up for the failures before it to be forgotten.
    /// Default 30 s.
    pub reset_after: Duration,
    /// Attempts in a row that fail to connect (no transport, or no CONNECTED) after which the
    /// session gives up; `None` tries forever (the default). Counted from the start and from
    /// each loss of a connection.
    pub max_attempts: Option<u32>,
    /// Whether to reconnect after losing a connection that was up. Default true.
    pub reconnect: bool,
}

impl Default for ReconnectPolicy {
    fn default() -> ReconnectPolicy {
        ReconnectPolicy {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            seed: 0,
            reset_after: Duration::from_secs(30),
            max_attempts: None,
            reconnect: true,
        }
    }
}

impl ReconnectPolicy {
    /// One attempt, no reconnect: the session ends with its first connection.
    pub fn never() -> ReconnectPolicy {
        ReconnectPolicy {
            reconnect: false,
            ..ReconnectPolicy::default().max_attempts(Some(1))
        }
    }

    /// Sets [`initial_delay`](ReconnectPolicy::initial_delay).
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> ReconnectPolicy {
        self.initial_delay = delay;
        self
    }

    /// Sets [`max_delay`](ReconnectPolicy::max_delay).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> ReconnectPolicy {
        self.max_delay = delay;
        self
    }

    /// Sets [`multiplier`](ReconnectPolicy::multiplier).
    #[must_use]
    pub fn multiplier(mut self, multiplier: f64) -> ReconnectPolicy {
        self.multiplier = multiplier;
        self
    }

    /// Sets [`jitter`](ReconnectPolicy::jitter).
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> ReconnectPolicy {
        self.jitter = jitter;
        self
    }

    /// Sets [`seed`](ReconnectPolicy::seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> ReconnectPolicy {
        self.seed = seed;
        self
    }

    /// Sets [`reset_after`](ReconnectPolicy::reset_after).
    #[must_use]
    pub fn reset_after(mut self, stable: Duration) -> ReconnectPolicy {
        self.reset_after = stable;
        self
    }

    /// Sets [`max_attempts`](ReconnectPolicy::max_attempts).
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> ReconnectPolicy {
        self.max_attempts = attempts;
        self
    }

    /// The delay before the next attempt after `failures` failures in a row (1 or more),
    /// before jitter.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let multiplier = if self.multiplier.is_finite() && self.multiplier > 1.0 {
            self.multiplier
        } else {
            1.0
        };
        // Multiplied step by step and capped at each step: no overflow, no float powers
        // (not in `core`), and at most a few dozen steps before the cap is reached.
        let mut delay = self.initial_delay.min(self.max_delay);
        for _ in 1..failures {
            if delay >= self.max_delay || multiplier == 1.0 {
                break;
            }
            delay = Duration::try_from_secs_f64(delay.as_secs_f64() * multiplier)
                .unwrap_or(self.max_delay)
                .min(self.max_delay);
        }
        delay
    }
}

/// The policy's running state: failures for the delay, attempts for giving up, and the
/// jitter's generator.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: ReconnectPolicy,
    /// Failed attempts and short-lived connections since the last stable one: the delay's
    /// exponent.
    failures: u32,
    /// Failed attempts since the last connection: the number of the next attempt, less one.
    attempts: u32,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(policy: ReconnectPolicy) -> Backoff {
        let rng = policy.seed;
        Backoff {
            policy,
            failures: 0,
            attempts: 0,
            rng,
        }
    }

    /// The number of the next attempt (1 for the first since the last connection).
    pub(crate) fn next_attempt(&self) -> u32 {
        self.attempts.saturating_add(1)
    }

    /// Failed attempts since the last connection.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// CONNECTED arrived.
    pub(crate) fn connected(&mut self) {
        self.attempts = 0;
    }

    /// A connection that was up for `up` is lost: the delay before the next attempt, or
    /// `None` when the policy does not reconnect. A stable connection forgets the failures
    /// before it; a short-lived one counts as one more.
    pub(crate) fn connection_lost(&mut self, up: Duration) -> Option<Duration> {
        if !self.policy.reconnect {
            return None;
        }
        if up >= self.policy.reset_after {
            self.failures = 0;
        }
        Some(self.next_delay())
    }

    /// An attempt failed: the delay before the next one, or `None` when the policy gives up.
    pub(crate) fn attempt_failed(&mut self) -> Option<Duration> {
        self.attempts = self.attempts.saturating_add(1);
        if self
            .policy
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            return None;
        }
        Some(self.next_delay())
    }

    fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = self.policy.base_delay(self.failures);
        let jitter = if self.policy.jitter.is_finite() {
            self.policy.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let cut = base.as_secs_f64() * jitter * self.next_unit();
        base.saturating_sub(Duration::try_from_secs_f64(cut).unwrap_or(Duration::ZERO))
    }

    /// A number in `[0, 1)` from splitmix64: tiny, seedable, good enough to spread delays.
    fn next_unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits: every value exactly representable, below 1.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn base_delay_grows_by_the_multiplier_up_to_the_cap() {
        let p = ReconnectPolicy::default()
            .initial_delay(ms(100))
            .max_delay(ms(1000))
            .multiplier(3.0);
        let delays: Vec<_> = (1..=6).map(|n| p.base_delay(n)).collect();
        assert_eq!(
            delays,
            [ms(100), ms(300), ms(900), ms(1000), ms(1000), ms(1000)]
        );
        assert_eq!(
            p.base_delay(u32::MAX),
            ms(1000),
            "no overflow, no long loop"
        );
    }

    #[test]
    fn odd_multipliers_and_jitter_are_tamed() {
        for m in [f64::NAN, f64::INFINITY, -2.0, 0.5] {
            let p = ReconnectPolicy::default()
                .initial_delay(ms(100))
                .multiplier(m);
            assert_eq!(p.base_delay(5), ms(100), "multiplier {m} counts as 1");
        }
        let mut b = Backoff::new(
            ReconnectPolicy::default()
                .initial_delay(ms(100))
                .jitter(7.0),
        );
        let d = b.attempt_failed().unwrap();
        assert!(d <= ms(100));
        let huge = ReconnectPolicy::default()
            .initial_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .multiplier(1e300);
        assert_eq!(huge.base_delay(3), Duration::MAX);
        let mut b = Backoff::new(huge.jitter(0.5));
        assert!(
            b.attempt_failed().is_some(),
            "no panic at the edges of Duration"
        );
    }

    #[test]
    fn jitter_is_seeded_and_within_its_bounds() {
        let policy = ReconnectPolicy::default()
            .initial_delay(ms(1000))
            .max_delay(ms(1000))
            .jitter(0.5)
            .seed(42);
        let run = |policy: &ReconnectPolicy| {
            let mut b = Backoff::new(policy.clone());
            (0..50)
                .map(|_| b.attempt_failed().unwrap())
                .collect::<Vec<_>>()
        };
        let first = run(&policy);
        assert_eq!(first, run(&policy), "same seed, same delays");
        assert_ne!(
            first,
            run(&policy.clone().seed(43)),
            "another seed, other delays"
        );
        assert!(first.iter().all(|d| *d >= ms(500) && *d <= ms(1000)));
        let spread = first
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*first.iter().min().unwrap());
        assert!(spread > ms(200), "the delays are spread: {first:?}");
    }

    #[test]
    fn gives_up_after_max_attempts_and_resets_once_stable() {
        let policy = ReconnectPolicy::default()
            .initial_delay(ms(100))
            .jitter(0.0)
            .max_attempts(Some(3))
            .reset_after(ms(5000));
        let mut b = Backoff::new(policy);
        assert_eq!(b.attempt_failed(), Some(ms(100)));
        assert_eq!(b.attempt_failed(), Some(ms(200)));
        assert_eq!(b.next_attempt(), 3);
        assert_eq!(
            b.attempt_failed(),
            None,
            "third failed attempt in a row: give up"
        );
        let mut b = Backoff::new(ReconnectPolicy::default().jitter(0.0).reset_after(ms(5000)));
        b.attempt_failed();
        b.connected();
        assert_eq!(b.next_attempt(), 1);
        assert_eq!(
            b.connection_lost(ms(4999)),
            Some(Duration::from_secs(2)),
            "flapping"
        );
        assert_eq!(
            b.connection_lost(ms(5000)),
            Some(Duration::from_secs(1)),
            "stable"
        );
        assert_eq!(
            Backoff::new(ReconnectPolicy::never()).connection_lost(ms(1)),
            None
        );
        assert_eq!(
            Backoff::new(ReconnectPolicy::never()).attempt_failed(),
            None
        );
    }
}
