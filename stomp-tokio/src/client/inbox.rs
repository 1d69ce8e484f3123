//! A subscription's inbox: the driver hands messages over in batches (one channel item, one
//! wake of the consumer for all the messages of a pass), and the buffer bound
//! ([`ClientOptions::subscription_buffer`](super::ClientOptions::subscription_buffer)) is kept in
//! messages by a count both sides share.
//!
//! A consumer faster than the decoding would otherwise be woken for every message: it takes
//! each one as soon as it is there and parks again, and a full buffer would wake the driver for
//! every slot freed. Here the consumer is woken once per batch, and the driver, once the buffer
//! is full, once half of it is free again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, Notify};

use super::handles::ReceivedMessage;

/// Messages handed over at once.
pub(crate) type Batch = Vec<ReceivedMessage>;

/// What the two ends share.
#[derive(Debug)]
struct Room {
    /// The most messages handed over and not yet taken.
    capacity: usize,
    /// Messages handed over and not yet taken (a batch counts until its last message is).
    queued: AtomicUsize,
    /// The driver waits for room: the consumer notifies it once half the buffer is free.
    waiting: AtomicBool,
}

impl Room {
    /// Free room at which a waiting driver is woken.
    fn resume_at(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    fn free(&self) -> usize {
        self.capacity.saturating_sub(self.queued.load(SeqCst))
    }
}

/// A new inbox holding at most `capacity` messages (at least 1).
pub(crate) fn inbox(capacity: usize) -> (InboxSender, InboxReceiver) {
    let room = Arc::new(Room {
        capacity: capacity.max(1),
        queued: AtomicUsize::new(0),
        waiting: AtomicBool::new(false),
    });
    let (sender, receiver) = mpsc::unbounded_channel();
    let sender = InboxSender {
        sender,
        room: room.clone(),
    };
    let receiver = InboxReceiver {
        receiver,
        room,
        ready: Vec::new().into_iter(),
        in_hand: 0,
    };
    (sender, receiver)
}

/// The driver's end.
#[derive(Debug, Clone)]
pub(crate) struct InboxSender {
    sender: mpsc::UnboundedSender<Batch>,
    room: Arc<Room>,
}

impl InboxSender {
    /// Whether both are the same inbox.
    pub(crate) fn same(&self, other: &InboxSender) -> bool {
        self.sender.same_channel(&other.sender)
    }

    /// Whether the subscription's stream is gone (its messages go with it).
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Messages it takes now.
    pub(crate) fn free(&self) -> usize {
        self.room.free()
    }

    /// Hands `batch` over, whatever the room (the caller looked); `Err` when the stream is
    /// gone.
    pub(crate) fn send(&self, batch: Batch) -> Result<(), Batch> {
        let n = batch.len();
        self.room.queued.fetch_add(n, SeqCst);
        self.sender.send(batch).map_err(|gone| {
            self.room.queued.fetch_sub(n, SeqCst);
            gone.0
        })
    }

    /// Whether there is room for `wanted` messages (or half the buffer, if less) now; if not,
    /// the consumer will notify the driver once there is.
    pub(crate) fn wait_for_room(&self, wanted: usize) -> bool {
        let wanted = wanted.clamp(1, self.room.resume_at());
        if self.room.free() >= wanted {
            return true;
        }
        self.room.waiting.store(true, SeqCst);
        // The consumer may have made room between the look and the flag.
        if self.room.free() >= wanted || self.is_closed() {
            self.room.waiting.store(false, SeqCst);
            return true;
        }
        false
    }
}

/// The stream's end.
#[derive(Debug)]
pub(crate) struct InboxReceiver {
    receiver: mpsc::UnboundedReceiver<Batch>,
    room: Arc<Room>,
    /// The messages of the batch being taken.
    ready: std::vec::IntoIter<ReceivedMessage>,
    /// Messages of that batch still counted in `queued`.
    in_hand: usize,
}

impl InboxReceiver {
    /// The next message; `driver` is notified when it waits for the room this makes.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        driver: &Notify,
    ) -> Poll<Option<ReceivedMessage>> {
        loop {
            if let Some(message) = self.ready.next() {
                if self.ready.len() == 0 {
                    self.release(driver);
                }
                return Poll::Ready(Some(message));
            }
            match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(batch)) => {
                    self.in_hand = batch.len();
                    self.ready = batch.into_iter();
                    if self.in_hand == 0 {
                        continue;
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The batch is taken: its room is free.
    fn release(&mut self, driver: &Notify) {
        let n = std::mem::take(&mut self.in_hand);
        let before = self.room.queued.fetch_sub(n, SeqCst);
        let free = self.room.capacity.saturating_sub(before.saturating_sub(n));
        if free >= self.room.resume_at() && self.room.waiting.swap(false, SeqCst) {
            driver.notify_one();
        }
    }

    /// The stream is going: a driver waiting for its room is told (it then drops what it
    /// holds for it).
    pub(crate) fn close(&mut self, driver: &Notify) {
        self.receiver.close();
        if self.room.waiting.swap(false, SeqCst) {
            driver.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_counted_in_messages_and_a_waiting_driver_is_woken_at_half() {
        let (sender, mut receiver) = inbox(4);
        let driver = Notify::new();
        assert_eq!(sender.free(), 4);
        // Nothing to send in this unit test but the count: empty batches of a given length
        // cannot be made without messages, so the count is driven directly.
        sender.room.queued.fetch_add(4, SeqCst);
        assert_eq!(sender.free(), 0);
        assert!(!sender.wait_for_room(3));
        assert!(sender.room.waiting.load(SeqCst));
        // One message taken: not yet half the buffer.
        receiver.in_hand = 1;
        receiver.release(&driver);
        assert!(sender.room.waiting.load(SeqCst));
        // Two: half, the driver is notified once.
        receiver.in_hand = 1;
        receiver.release(&driver);
        assert!(!sender.room.waiting.load(SeqCst));
        assert!(futures_util::FutureExt::now_or_never(driver.notified()).is_some());
        assert!(
            sender.wait_for_room(3),
            "half the buffer is enough to resume"
        );
        receiver.close(&driver);
        assert!(sender.is_closed());
    }
}
