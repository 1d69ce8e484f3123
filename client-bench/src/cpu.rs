//! Wall-clock and CPU time around a measurement.
//!
//! CPU is the process's user + system time (`getrusage(RUSAGE_SELF)`): every thread of this
//! process, so the tokio workers and whatever tasks a client library spawns. The brokers run in
//! other processes and are not counted.

use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

fn usage(who: UsageWho) -> Duration {
    match getrusage(who) {
        Ok(usage) => duration(usage.user_time()) + duration(usage.system_time()),
        // Only an unknown `who` fails; both used here exist on Linux.
        Err(_) => Duration::ZERO,
    }
}

fn duration(time: TimeVal) -> Duration {
    let micros = (time.tv_sec() as i128) * 1_000_000 + time.tv_usec() as i128;
    Duration::from_micros(micros.max(0) as u64)
}

/// CPU time of the whole process so far.
pub fn process() -> Duration {
    usage(UsageWho::RUSAGE_SELF)
}

/// CPU time of the calling thread so far.
pub fn thread() -> Duration {
    usage(UsageWho::RUSAGE_THREAD)
}

/// A measurement in progress.
#[derive(Debug)]
pub struct Meter {
    wall: Instant,
    cpu: Duration,
}

/// A finished measurement: its wall-clock time and the process CPU time spent meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            cpu: process(),
            wall: Instant::now(),
        }
    }

    pub fn stop(self) -> Sample {
        let wall = self.wall.elapsed();
        Sample {
            wall,
            cpu: process().saturating_sub(self.cpu),
        }
    }
}
