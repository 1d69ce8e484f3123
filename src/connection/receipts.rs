//! Pending receipts of a client: id generation (D-21), matching and the DISCONNECT
//! receipt whose arrival, or deadline (D-22), ends the session.

use alloc::collections::BTreeMap;
use alloc::format;

use bytes::Bytes;

use crate::error::shown;
use crate::frame::Command;

use super::error::UsageError;

/// Receipt ids the client asked for and the server has not confirmed yet.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    /// Number of the next generated id (`rcpt-N`).
    next: u64,
    /// Pending id → command of the frame that asked for it.
    pending: BTreeMap<Bytes, Command>,
    /// The receipt asked for by DISCONNECT, if any.
    disconnect: Option<Bytes>,
}

impl Receipts {
    pub(crate) fn new() -> Receipts {
        Receipts {
            next: 1,
            ..Receipts::default()
        }
    }

    /// The id the next generated receipt will have: `rcpt-1`, `rcpt-2`, ... skipping ids the
    /// caller already has pending (D-21). Nothing is reserved until [`insert`](Self::insert).
    pub(crate) fn next_id(&self) -> Bytes {
        let mut n = self.next;
        loop {
            let id = Bytes::from(format!("rcpt-{n}"));
            if !self.pending.contains_key(&id) {
                return id;
            }
            n = n.saturating_add(1);
        }
    }

    /// Refuses an id that is still pending.
    pub(crate) fn check(&self, id: &[u8]) -> Result<(), UsageError> {
        if self.pending.contains_key(id) {
            return Err(UsageError::DuplicateReceipt {
                receipt_id: shown(id, 64),
            });
        }
        Ok(())
    }

    /// Records `id` as pending for a frame of `command` that is now queued. A generated id
    /// advances the counter past it.
    pub(crate) fn insert(&mut self, id: Bytes, command: Command) {
        // `id == self.next_id()` without formatting an id for every receipt: the id's number,
        // if it has the generated form, is the next free one (those before it all pending).
        let generated = generated_number(&id).is_some_and(|m| {
            m >= self.next
                && (self.next..m).all(|n| self.pending.contains_key(format!("rcpt-{n}").as_bytes()))
                && !self.pending.contains_key(&id[..])
        });
        if generated {
            self.next = generated_number(&id).unwrap_or(self.next).saturating_add(1);
            while self
                .pending
                .contains_key(format!("rcpt-{}", self.next).as_bytes())
            {
                self.next = self.next.saturating_add(1);
            }
        }
        if command == Command::Disconnect {
            self.disconnect = Some(id.clone());
        }
        self.pending.insert(id, command);
    }

    /// Matches a RECEIPT's `receipt-id`: the command it confirms, if it was pending.
    pub(crate) fn confirm(&mut self, id: &[u8]) -> Option<Command> {
        self.pending.remove(id)
    }

    /// Whether `id` is the receipt DISCONNECT asked for.
    pub(crate) fn is_disconnect(&self, id: &[u8]) -> bool {
        self.disconnect.as_deref() == Some(id)
    }

    /// Number of receipts not yet confirmed.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Forgets everything (the connection is over).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.disconnect = None;
    }
}

/// The number of an id of the generated form `rcpt-N` (N without leading zeros, as
/// generated).
fn generated_number(id: &[u8]) -> Option<u64> {
    let digits = id.strip_prefix(b"rcpt-")?;
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_count_up_and_skip_caller_ids_d21() {
        let mut r = Receipts::new();
        assert_eq!(r.next_id(), "rcpt-1");
        r.insert(r.next_id(), Command::Send);
        assert_eq!(r.next_id(), "rcpt-2");
        // The caller takes the next generated id for itself.
        r.insert(Bytes::from_static(b"rcpt-2"), Command::Send);
        assert_eq!(r.next_id(), "rcpt-3");
        r.insert(Bytes::from_static(b"rcpt-4"), Command::Send);
        r.insert(r.next_id(), Command::Send);
        assert_eq!(r.next_id(), "rcpt-5");
        assert!(r.check(b"rcpt-4").is_err());
        assert_eq!(r.confirm(b"rcpt-4"), Some(Command::Send));
        assert_eq!(r.confirm(b"rcpt-4"), None);
        assert!(r.check(b"rcpt-4").is_ok());
        assert_eq!(r.len(), 3);
        // Ids that only look generated do not move the counter.
        for id in [
            "rcpt-05",
            "rcpt-",
            "rcpt-x",
            "rcpt-99999999999999999999",
            "rcpt-7",
        ] {
            r.insert(Bytes::from(id), Command::Send);
        }
        assert_eq!(r.next_id(), "rcpt-5");
    }
}
