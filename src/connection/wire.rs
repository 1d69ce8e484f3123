//! The wire side both roles share below the protocol: the codec pair, the transmit queue, the timer
//! table and the heart-beat clocks.

use core::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Command, Frame};
use crate::limits::Limits;
use crate::version::Version;

use super::{ConnectionError, Timestamp};

/// The fixed timer table (the quinn-proto shape): one slot per kind of deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Queue an EOL if nothing was queued for the send interval (B-4).
    SendHeartbeat = 0,
    /// The peer has been silent for its interval plus grace (B-6).
    PeerSilent = 1,
    /// The RECEIPT of DISCONNECT is overdue (D-22).
    DisconnectReceipt = 2,
    /// The session is not open yet: no CONNECT (server) or no CONNECTED (client) in time.
    Connect = 3,
}

const TIMERS: usize = 4;

#[derive(Debug)]
pub(crate) struct TimerTable<I>([Option<I>; TIMERS]);

impl<I> Default for TimerTable<I> {
    fn default() -> Self {
        TimerTable(core::array::from_fn(|_| None))
    }
}

impl<I: Timestamp> TimerTable<I> {
    pub(crate) fn set(&mut self, timer: Timer, at: Option<I>) {
        self.0[timer as usize] = at;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<I> {
        self.0[timer as usize]
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn expired(&self, timer: Timer, now: I) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    pub(crate) fn clear_all(&mut self) {
        self.0 = [None; TIMERS];
    }

    pub(crate) fn next(&self) -> Option<I> {
        self.0.iter().flatten().min().copied()
    }
}

/// A negotiated heart-beat interval in ms as a duration; 0 means none (B-3).
pub(crate) fn interval(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// What both roles share: the codec pair, the transmit queue and the heart-beat timers.
#[derive(Debug)]
pub(crate) struct Core<I> {
    pub(crate) decoder: Decoder,
    pub(crate) encoder: Encoder,
    out: BytesMut,
    pub(crate) timers: TimerTable<I>,
    /// Interval at which we promised to send (B-4).
    send_every: Option<Duration>,
    /// Interval at which the peer promised to send, and the grace on top (B-6, D-20).
    peer_every: Option<Duration>,
    grace: Option<Duration>,
    last_rx: Option<I>,
    last_tx: Option<I>,
    /// The latest `now` seen: time never goes backwards inside the connection.
    latest: Option<I>,
    /// `handle_timeout` was called at this time and its closing timers (peer silent, receipt
    /// of DISCONNECT, connect) are still to be checked, after the input received before it.
    pub(crate) timeout_due: Option<I>,
    /// `handle_close` was called: the transport ended after the input buffered so far.
    pub(crate) input_closed: bool,
    /// How long the session may take to open (the role's `connect_timeout`).
    pub(crate) connect_timeout: Option<Duration>,
    /// The server arms its connect timer once, at the first time it is given.
    pub(crate) connect_timer_started: bool,
}

impl<I: Timestamp> Core<I> {
    /// Before negotiation both directions use 1.0 rules (D-14).
    pub(crate) fn new(
        limits: Limits,
        grace: Option<Duration>,
        connect_timeout: Option<Duration>,
    ) -> Core<I> {
        Core {
            decoder: Decoder::with_limits(Version::V1_0, limits),
            encoder: Encoder::new(Version::V1_0),
            out: BytesMut::new(),
            timers: TimerTable::default(),
            send_every: None,
            peer_every: None,
            grace,
            last_rx: None,
            last_tx: None,
            latest: None,
            timeout_due: None,
            input_closed: false,
            connect_timeout,
            connect_timer_started: false,
        }
    }

    /// `now`, or the latest time already seen if `now` is earlier: a clock that steps back
    /// must not rewind a timer (which could fire one early) or move one later.
    pub(crate) fn clock(&mut self, now: I) -> I {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }

    /// The latest time seen, if any call has brought one yet (for work done in `poll_event`,
    /// which takes no `now`).
    pub(crate) fn latest_seen(&self) -> Option<I> {
        self.latest
    }

    /// Arms `timer` to fire `after` from `now` (clamped to the latest representable point when
    /// that is too far away).
    pub(crate) fn arm(&mut self, timer: Timer, now: I, after: Duration) {
        let now = self.clock(now);
        self.timers.set(timer, Some(now.saturating_add(after)));
    }

    /// Records a `handle_timeout(now)` whose closing timers are checked once the input received
    /// before it has been processed (the roles' `poll_event` does it).
    pub(crate) fn note_timeout(&mut self, now: I) -> I {
        let now = self.clock(now);
        self.timeout_due = Some(now);
        now
    }

    /// Encodes `frame` onto the transmit queue; on error nothing is queued (E-9). The caller
    /// notes the write (`note_tx`) once the frame is kept (the output limit may take it back).
    pub(crate) fn queue(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        self.encoder.encode(frame, &mut self.out)
    }

    /// Encodes a frame given as its parts onto the transmit queue (see
    /// `Encoder::encode_parts`); on error nothing is queued.
    pub(crate) fn queue_parts<'a>(
        &mut self,
        command: &Command,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        plain: Option<bool>,
        body: &[u8],
    ) -> Result<(), EncodeError> {
        self.encoder
            .encode_parts(command, entries, plain, body, &mut self.out)
    }

    /// Encodes a frame of plain headers given as parts and lines onto the transmit queue (see
    /// `Encoder::encode_plain_parts`); on error nothing is queued.
    pub(crate) fn queue_plain_parts<'a>(
        &mut self,
        command: &Command,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        lines: &[u8],
        line_entries: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        body: &[u8],
    ) -> Result<(), EncodeError> {
        self.encoder
            .encode_plain_parts(command, entries, lines, line_entries, body, &mut self.out)
    }

    /// Something was queued at `now`: the next heart-beat is due one interval later (D-20).
    pub(crate) fn note_tx(&mut self, now: I) {
        let now = self.clock(now);
        self.last_tx = Some(now);
        self.arm_send(now);
    }

    fn arm_send(&mut self, from: I) {
        if let Some(every) = self.send_every {
            self.timers
                .set(Timer::SendHeartbeat, Some(from.saturating_add(every)));
        }
    }

    /// Bytes arrived at `now` (B-5): the peer is alive.
    pub(crate) fn note_rx(&mut self, now: I) {
        let now = self.clock(now);
        self.last_rx = Some(now);
        self.arm_peer_silent(now);
    }

    /// The error for more input while more than a frame's worth waits unapplied: the
    /// application is not polling, and the peer must not grow the connection's memory without
    /// bound.
    pub(crate) fn unpolled_input(&self) -> Option<ConnectionError> {
        let buffered = self.decoder.buffered();
        let max = self.decoder.limits().max_frame;
        // Not `then_some`: that builds the error on every call and drops it (a call to the
        // error's drop glue per input).
        if buffered > max {
            Some(ConnectionError::InputNotPolled { buffered, max })
        } else {
            None
        }
    }

    /// The peer is dead if nothing arrives within interval + grace after `from` (D-20).
    fn arm_peer_silent(&mut self, from: I) {
        if let Some(every) = self.peer_every {
            let span = every.saturating_add(self.grace.unwrap_or(every));
            self.timers
                .set(Timer::PeerSilent, Some(from.saturating_add(span)));
        }
    }

    /// Starts heart-beating in both directions (B-7).
    pub(crate) fn start_heartbeats(
        &mut self,
        now: I,
        send_every: Option<Duration>,
        peer_every: Option<Duration>,
    ) {
        let now = self.clock(now);
        self.send_every = send_every;
        self.peer_every = peer_every;
        // Due n after the last octet written, e.g. the CONNECT (D-20).
        self.arm_send(self.last_tx.unwrap_or(now));
        self.arm_peer_silent(self.last_rx.map_or(now, |t| t.max(now)));
    }

    /// Stops every timer and heart-beat (DISCONNECT sent, connection closing).
    pub(crate) fn stop_timers(&mut self) {
        self.send_every = None;
        self.peer_every = None;
        self.timers.clear_all();
    }

    /// Queues a heart-beat EOL if the send timer is due. The EOL is skipped (but the timer
    /// re-armed) when bytes are still waiting to be drained: they will carry the beat.
    pub(crate) fn send_heartbeat_if_due(&mut self, now: I) {
        if self.timers.expired(Timer::SendHeartbeat, now) {
            if self.out.is_empty() {
                self.out.extend_from_slice(b"\n");
            }
            self.note_tx(now);
        }
    }

    /// If the peer has been silent too long: the error to fail with (B-6).
    pub(crate) fn peer_silent(&self, now: I) -> Option<ConnectionError> {
        if !self.timers.expired(Timer::PeerSilent, now) {
            return None;
        }
        Some(ConnectionError::HeartbeatTimeout {
            interval: self.peer_every.unwrap_or_default(),
            silence: self
                .last_rx
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        })
    }

    /// Switches the decoder and encoder to the negotiated version (E-8, C-12).
    pub(crate) fn set_version(&mut self, version: Version) {
        self.decoder.set_version(version);
        self.encoder.set_version(version);
    }

    pub(crate) fn take_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    pub(crate) fn transmit_into(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.out.len();
        if dst.is_empty() {
            core::mem::swap(dst, &mut self.out);
        } else {
            dst.extend_from_slice(&self.out);
            self.out.clear();
        }
        n
    }

    pub(crate) fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// The queue itself, for a MESSAGE written straight into it from its prepared parts.
    pub(crate) fn out_mut(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Takes back what was queued past `len` bytes (a frame refused by the output limit).
    pub(crate) fn truncate_transmit(&mut self, len: usize) {
        self.out.truncate(len);
    }

    /// The `receipt` header of the frame the decoder failed on with `err`, when its line was
    /// received whole, before the error or after it (R-11: the ERROR then names it, as
    /// ActiveMQ does for an unknown command). The first occurrence wins (H-6); a value with escapes, or a receipt
    /// line the error is in (too long, a NUL, a bad escape), is not guessed at; CONNECT and
    /// STOMP take no receipt (C-11).
    pub(crate) fn failed_receipt(&self, err: &DecodeError) -> Option<Bytes> {
        let input = self.decoder.pending_input();
        // Where the error is in `input`, which starts at the decoder's offset.
        let at = err.offset().checked_sub(self.decoder.offset());
        let at = at.map_or(usize::MAX, |at| usize::try_from(at).unwrap_or(usize::MAX));
        let start = input.iter().position(|&b| b != b'\n' && b != b'\r')?;
        let frame = &input[start..];
        // Only lines a LF ends were read whole: cut after the last one.
        let whole = &frame[..frame.iter().rposition(|&b| b == b'\n')?];
        let mut lines = whole.split(|&b| b == b'\n');
        let command = lines.next()?;
        if matches!(
            command.strip_suffix(b"\r").unwrap_or(command),
            b"CONNECT" | b"STOMP"
        ) {
            return None;
        }
        let mut line_start = start + command.len() + 1;
        for line in lines {
            let line_end = line_start + line.len();
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            if text.is_empty() {
                break;
            }
            if let Some(value) = text.strip_prefix(b"receipt:") {
                if value.contains(&b'\\') || (line_start..=line_end).contains(&at) {
                    return None;
                }
                return Some(Bytes::copy_from_slice(value));
            }
            line_start = line_end + 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_table_reports_the_earliest_deadline() {
        // Any Timestamp will do: a Duration since an epoch builds with and without `std`.
        let t0 = Duration::from_secs(100);
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::PeerSilent, Some(t0 + Duration::from_secs(2)));
        t.set(Timer::SendHeartbeat, Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.expired(Timer::PeerSilent, t0 + Duration::from_secs(1)));
        assert!(t.expired(Timer::PeerSilent, t0 + Duration::from_secs(2)));
        assert!(!t.expired(Timer::DisconnectReceipt, t0 + Duration::from_secs(99)));
        t.clear_all();
        assert_eq!(t.next(), None);
    }

    #[test]
    fn zero_means_no_interval_b3() {
        assert_eq!(interval(0), None);
        assert_eq!(interval(1500), Some(Duration::from_millis(1500)));
    }
}
