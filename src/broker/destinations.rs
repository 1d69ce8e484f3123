//! The routing table: who subscribes to what, where round-robin continues, and the messages
//! that wait in queues, within their limits.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use bytes::Bytes;

use crate::frame::Frame;

use super::{BrokerLimits, ConnectionId, Refusal};

/// One subscriber of a destination: a connection and its subscription id.
pub(crate) type Subscriber = (ConnectionId, Bytes);

#[derive(Debug, Default)]
pub(crate) struct Destination {
    /// In the order they subscribed.
    pub(crate) subscribers: Vec<Subscriber>,
    /// Where round-robin continues (queues).
    next: usize,
    /// Messages waiting for a subscriber (queues), oldest first.
    backlog: VecDeque<Waiting>,
    backlog_bytes: usize,
}

impl Destination {
    fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.backlog.is_empty()
    }
}

#[derive(Debug)]
struct Waiting {
    /// Arrival order across queues: the oldest goes first when all queues are full.
    seq: u64,
    size: usize,
    content: Frame,
}

/// What a message costs to keep: body and header bytes, plus a little for the bookkeeping.
pub(crate) fn size_of(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers()
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    frame.body().len() + headers + 32
}

/// Destinations with a subscriber or a waiting message; no others are kept.
#[derive(Debug, Default)]
pub(crate) struct Destinations {
    map: BTreeMap<Bytes, Destination>,
    backlog_bytes: usize,
    next_seq: u64,
}

impl Destinations {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, destination: &[u8]) -> Option<&Destination> {
        self.map.get(destination)
    }

    /// Adds a subscriber.
    pub(crate) fn subscribe(
        &mut self,
        subscriber: Subscriber,
        destination: &Bytes,
        limits: &BrokerLimits,
    ) -> Result<(), Refusal> {
        if !self.map.contains_key(destination) && self.map.len() >= limits.max_destinations {
            return Err(Refusal::too_many_destinations(destination, limits));
        }
        let dest = self.map.entry(destination.clone()).or_default();
        dest.subscribers.push(subscriber);
        Ok(())
    }

    /// The size of the oldest message waiting in `destination`.
    pub(crate) fn next_waiting_size(&self, destination: &[u8]) -> Option<usize> {
        self.map.get(destination)?.backlog.front().map(|w| w.size)
    }

    /// Takes the oldest message waiting in `destination`.
    pub(crate) fn take_waiting(&mut self, destination: &[u8]) -> Option<Frame> {
        let dest = self.map.get_mut(destination)?;
        let waiting = dest.backlog.pop_front()?;
        dest.backlog_bytes -= waiting.size;
        self.backlog_bytes -= waiting.size;
        Some(waiting.content)
    }

    /// Puts back, first in line, a message [`take_waiting`](Self::take_waiting) took.
    pub(crate) fn put_back(&mut self, destination: &Bytes, content: Frame) {
        let size = size_of(&content);
        let seq = self.next_seq;
        let dest = self.map.entry(destination.clone()).or_default();
        let seq = dest.backlog.front().map_or(seq, |w| w.seq);
        dest.backlog.push_front(Waiting { seq, size, content });
        dest.backlog_bytes += size;
        self.backlog_bytes += size;
    }

    pub(crate) fn unsubscribe(&mut self, connection: ConnectionId, id: &[u8], destination: &[u8]) {
        if let Some(dest) = self.map.get_mut(destination) {
            dest.subscribers
                .retain(|(c, s)| !(*c == connection && s == id));
            if dest.is_unused() {
                self.map.remove(destination);
            }
        }
    }

    /// Forgets every subscription of `connection`.
    pub(crate) fn remove_connection(&mut self, connection: ConnectionId) {
        for dest in self.map.values_mut() {
            dest.subscribers.retain(|(c, _)| *c != connection);
        }
        self.map.retain(|_, d| !d.is_unused());
    }

    /// The queue's subscribers in round-robin order from where it continues, advancing it by
    /// one (the caller tries them in this order until one takes the message).
    pub(crate) fn round_robin(&mut self, destination: &[u8]) -> Vec<Subscriber> {
        let Some(dest) = self.map.get_mut(destination) else {
            return Vec::new();
        };
        let n = dest.subscribers.len();
        if n == 0 {
            return Vec::new();
        }
        dest.next = (dest.next + 1) % n;
        (0..n)
            .map(|i| dest.subscribers[(dest.next + i) % n].clone())
            .collect()
    }

    /// Whether messages to `destinations` can be kept: a queue the table does not know needs
    /// room for one more destination.
    pub(crate) fn has_room_for<'a>(
        &self,
        queues: impl Iterator<Item = &'a Bytes>,
        limits: &BrokerLimits,
    ) -> Result<(), Refusal> {
        let mut new: Vec<&Bytes> = queues.filter(|d| !self.map.contains_key(*d)).collect();
        new.sort();
        new.dedup();
        match new.first() {
            Some(first) if self.map.len() + new.len() > limits.max_destinations => {
                Err(Refusal::too_many_destinations(first, limits))
            }
            _ => Ok(()),
        }
    }

    /// Keeps a message until the queue has a subscriber, dropping the oldest waiting messages
    /// beyond the limits of the queue and of all queues. Returns (destination, count) of what
    /// was dropped.
    pub(crate) fn wait_in_queue(
        &mut self,
        destination: &Bytes,
        content: Frame,
        limits: &BrokerLimits,
    ) -> Result<Vec<(Bytes, usize)>, Refusal> {
        if !self.map.contains_key(destination) && self.map.len() >= limits.max_destinations {
            return Err(Refusal::too_many_destinations(destination, limits));
        }
        let size = size_of(&content);
        let seq = self.next_seq;
        self.next_seq += 1;
        let dest = self.map.entry(destination.clone()).or_default();
        dest.backlog.push_back(Waiting { seq, size, content });
        dest.backlog_bytes += size;
        self.backlog_bytes += size;
        let mut dropped = Vec::new();
        let mut here = 0;
        while dest.backlog.len() > limits.queue_backlog
            || dest.backlog_bytes > limits.queue_backlog_bytes
        {
            let Some(oldest) = dest.backlog.pop_front() else {
                break;
            };
            dest.backlog_bytes -= oldest.size;
            self.backlog_bytes -= oldest.size;
            here += 1;
        }
        if here > 0 {
            dropped.push((destination.clone(), here));
        }
        while self.backlog_bytes > limits.total_backlog_bytes {
            // The oldest waiting message of any queue goes.
            let Some(key) = self
                .map
                .iter()
                .filter_map(|(key, d)| d.backlog.front().map(|w| (w.seq, key)))
                .min()
                .map(|(_, key)| key.clone())
            else {
                break;
            };
            let Some(dest) = self.map.get_mut(&key) else {
                break;
            };
            if let Some(oldest) = dest.backlog.pop_front() {
                dest.backlog_bytes -= oldest.size;
                self.backlog_bytes -= oldest.size;
            }
            if dest.is_unused() {
                self.map.remove(&key);
            }
            dropped.push((key, 1));
        }
        Ok(dropped)
    }

    /// Whether a message of `size` bytes fits in the queue `destination` and in all queues
    /// (for [`Overflow::RejectPublish`](super::Overflow::RejectPublish)).
    pub(crate) fn check_room(
        &self,
        destination: &[u8],
        size: usize,
        limits: &BrokerLimits,
    ) -> Result<(), Refusal> {
        let (count, bytes) = self
            .map
            .get(destination)
            .map_or((0, 0), |d| (d.backlog.len(), d.backlog_bytes));
        if count + 1 > limits.queue_backlog
            || bytes + size > limits.queue_backlog_bytes
            || self.backlog_bytes + size > limits.total_backlog_bytes
        {
            return Err(Refusal::new(
                "queue full",
                alloc::format!(
                    "{} keeps at most {} waiting messages and {} bytes (all queues {} bytes); \
                     it has {count} messages and {bytes} bytes",
                    crate::error::shown(destination, 64),
                    limits.queue_backlog,
                    limits.queue_backlog_bytes,
                    limits.total_backlog_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Messages waiting in `destination`.
    pub(crate) fn waiting(&self, destination: &[u8]) -> usize {
        self.map.get(destination).map_or(0, |d| d.backlog.len())
    }

    /// Bytes waiting in all queues.
    pub(crate) fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }
}
