//! Receipts a session waits for, across connections: their deadlines and, for SEND, what to
//! send again after a reconnect.

use alloc::collections::VecDeque;

use bytes::Bytes;

use crate::connection::{FrameOptions, ReceiptKey, ReceiptMap};
use crate::frame::Command;

/// A SEND as the application asked for it, kept until it is on a connection (offline queue)
/// and, when it asked for a receipt, until the receipt comes (at-least-once).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// Order of submission: resent frames go out in it.
    pub(crate) seq: u64,
    pub(crate) destination: Bytes,
    pub(crate) body: Bytes,
    /// With the receipt id filled in, when there is one.
    pub(crate) options: FrameOptions,
    pub(crate) receipt: Option<Bytes>,
}

impl Outgoing {
    /// What the frame costs the offline queue: its text, near enough.
    pub(crate) fn size(&self) -> usize {
        self.destination.len()
            + self.body.len()
            + self.options.headers.text().len()
            + self.options.transaction.as_ref().map_or(0, |t| t.len())
    }
}

/// One receipt asked for and not confirmed yet.
#[derive(Debug)]
pub(crate) struct PendingReceipt<I> {
    pub(crate) command: Command,
    pub(crate) deadline: I,
    /// The connection it was written on; `None` while it waits to be (re)sent.
    pub(crate) sent_on: Option<u64>,
    /// The SEND itself, to send again if the connection is lost first.
    pub(crate) send: Option<Outgoing>,
}

/// Pending receipts by id (the session's own `rcpt-N` ids by number), and their deadlines in
/// order.
#[derive(Debug)]
pub(crate) struct Pending<I> {
    by_id: ReceiptMap<PendingReceipt<I>>,
    /// Deadlines in the order they fall (the timeout is one constant and `now` never goes
    /// back, so that is insertion order). Entries of confirmed receipts are removed lazily.
    deadlines: VecDeque<(I, ReceiptKey)>,
}

impl<I: Copy + Ord> Pending<I> {
    pub(crate) fn new() -> Pending<I> {
        Pending {
            by_id: ReceiptMap::new(),
            deadlines: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, id: &[u8]) -> bool {
        self.by_id.contains(id)
    }

    /// Whether the generated id `rcpt-n` is pending.
    pub(crate) fn contains_number(&self, n: u64) -> bool {
        self.by_id.contains_number(n)
    }

    pub(crate) fn get_mut(&mut self, id: &[u8]) -> Option<&mut PendingReceipt<I>> {
        self.by_id.get_mut(id)
    }

    #[inline]
    pub(crate) fn insert(&mut self, id: Bytes, receipt: PendingReceipt<I>) {
        let deadline = receipt.deadline;
        let key = self.by_id.insert_keyed(id, receipt);
        self.deadlines.push_back((deadline, key));
    }

    /// Removes `id`, confirmed or failed.
    pub(crate) fn remove(&mut self, id: &[u8]) -> bool {
        let removed = self.by_id.discard(id);
        self.trim();
        removed
    }

    /// The earliest deadline still pending.
    pub(crate) fn next_deadline(&self) -> Option<I> {
        self.deadlines
            .iter()
            .find(|(deadline, key)| self.is_live(*deadline, key))
            .map(|(deadline, _)| *deadline)
    }

    /// Removes and returns the receipts whose deadline is at or before `now`.
    pub(crate) fn take_expired(&mut self, now: I) -> VecDeque<(Bytes, PendingReceipt<I>)> {
        let mut expired = VecDeque::new();
        while let Some((deadline, key)) = self.deadlines.front() {
            if *deadline > now {
                break;
            }
            if self.is_live(*deadline, key) {
                if let Some(entry) = self.by_id.remove_by_key(key) {
                    expired.push_back(entry);
                }
            }
            self.deadlines.pop_front();
        }
        expired
    }

    /// Every id with its receipt: the generated ones by number, then the others by their
    /// bytes.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&Bytes, &mut PendingReceipt<I>)> {
        self.by_id.iter_mut()
    }

    /// Removes every receipt.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Bytes, PendingReceipt<I>)> {
        self.deadlines.clear();
        self.by_id.drain()
    }

    fn is_live(&self, deadline: I, key: &ReceiptKey) -> bool {
        self.by_id
            .get_by_key(key)
            .is_some_and(|r| r.deadline == deadline)
    }

    /// Drops stale deadline entries: from the front as receipts are confirmed (mostly in
    /// order), and all of them when they outnumber the live ones, so that the queue stays
    /// within twice the pending count however the receipts come back.
    fn trim(&mut self) {
        while let Some((deadline, key)) = self.deadlines.front() {
            if self.is_live(*deadline, key) {
                break;
            }
            self.deadlines.pop_front();
        }
        if self.deadlines.len() > 2 * self.by_id.len() + 16 {
            let by_id = &self.by_id;
            self.deadlines.retain(|(deadline, key)| {
                by_id
                    .get_by_key(key)
                    .is_some_and(|r| r.deadline == *deadline)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn receipt(at: u64) -> PendingReceipt<Duration> {
        PendingReceipt {
            command: Command::Send,
            deadline: Duration::from_millis(at),
            sent_on: None,
            send: None,
        }
    }

    #[test]
    fn deadlines_expire_in_order_and_confirmed_ones_never_do() {
        let mut p = Pending::new();
        p.insert(Bytes::from("a"), receipt(10));
        p.insert(Bytes::from("b"), receipt(20));
        p.insert(Bytes::from("c"), receipt(30));
        assert!(p.remove(b"b"));
        assert_eq!(p.next_deadline(), Some(Duration::from_millis(10)));
        let gone: Vec<_> = p
            .take_expired(Duration::from_millis(25))
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(gone, ["a"]);
        assert_eq!(p.next_deadline(), Some(Duration::from_millis(30)));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn stale_deadline_entries_stay_bounded() {
        let mut p = Pending::new();
        p.insert(Bytes::from("stuck"), receipt(0));
        for i in 0..10_000u64 {
            let id = Bytes::from(alloc::format!("r{i}"));
            p.insert(id.clone(), receipt(i));
            p.remove(&id);
        }
        assert!(
            p.deadlines.len() <= 2 * p.len() + 17,
            "{} entries",
            p.deadlines.len()
        );
    }
}
