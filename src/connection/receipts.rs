//! Pending receipts of a client: id generation (D-21), matching (R-2) and the DISCONNECT
//! receipt whose arrival, or deadline (D-22), ends the session; and [`ReceiptMap`], the map
//! by receipt id that the connection and the session keep their pending receipts in.

use alloc::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::error::shown;
use crate::frame::Command;

use super::error::UsageError;

/// The prefix of generated receipt ids (`rcpt-N`).
const PREFIX: &[u8] = b"rcpt-";

/// Slots a ring may hold beyond twice its live entries: room for a few ids skipped by the
/// caller without sending them to the general map.
const RING_SLACK: usize = 64;

/// The number of an id of the generated form `rcpt-N` (N without leading zeros, as
/// generated): one number per id and one id per number, so the number can stand for it.
pub(crate) fn generated_number(id: &[u8]) -> Option<u64> {
    let digits = id.strip_prefix(PREFIX)?;
    match digits {
        [] | [b'0', _, ..] => None,
        // Up to 19 digits cannot overflow: the common case goes without the checks.
        _ if digits.len() <= 19 => digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        }),
        _ => digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit()
                .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?
        }),
    }
}

/// The number `N` of a receipt id of the form [`ClientSession`](crate::ClientSession) and
/// [`ClientConnection`](crate::ClientConnection) generate, `rcpt-N` (`N` in decimal without
/// leading zeros, within `u64`); `None` for any other id. Distinct ids have distinct numbers,
/// so a driver may key its own bookkeeping by it.
///
/// ```
/// use stomp_codec::generated_receipt_number;
/// assert_eq!(generated_receipt_number(b"rcpt-42"), Some(42));
/// assert_eq!(generated_receipt_number(b"rcpt-042"), None);
/// assert_eq!(generated_receipt_number(b"my-id"), None);
/// ```
pub fn generated_receipt_number(id: &[u8]) -> Option<u64> {
    generated_number(id)
}

/// Appends the generated id `rcpt-N` to `dst`, without the formatting machinery.
pub(crate) fn write_generated(n: u64, dst: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    for slot in digits.iter_mut().rev() {
        // `rest % 10` is below 10.
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        at -= 1;
        if rest == 0 {
            break;
        }
    }
    dst.extend_from_slice(PREFIX);
    dst.extend_from_slice(digits.get(at..).unwrap_or_default());
}

/// The generated id `rcpt-N`, in a buffer of its own.
pub(crate) fn generated_id(n: u64) -> Bytes {
    let mut id = BytesMut::with_capacity(PREFIX.len() + 20);
    write_generated(n, &mut id);
    id.freeze()
}

/// Generated ids cut from shared blocks: one allocation for dozens of ids, and a clone of one
/// is a reference count, not the copy a `Bytes` made from a `String` needs on its first clone.
#[derive(Debug, Default)]
pub(crate) struct IdBlock {
    block: BytesMut,
}

impl IdBlock {
    /// Bytes per block: ids of up to 25 bytes, some 20 of them to a block, so that an id
    /// kept long keeps little else alive.
    const SIZE: usize = 512;

    /// The generated id `rcpt-N`.
    pub(crate) fn id(&mut self, n: u64) -> Bytes {
        if self.block.capacity() < PREFIX.len() + 20 {
            self.block = BytesMut::with_capacity(Self::SIZE);
        }
        write_generated(n, &mut self.block);
        self.block.split().freeze()
    }
}

/// How a [`ReceiptMap`] finds an entry: by the number of a generated-form id, or by the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReceiptKey {
    Number(u64),
    Name(Bytes),
}

/// Values by receipt id, built for the ids [`ClientSession`](crate::ClientSession) and
/// [`ClientConnection`](crate::ClientConnection) generate, `rcpt-1`, `rcpt-2`, ...: what a
/// driver keeps per receipt it waits for (the session and the connection keep theirs in it).
///
/// Ids of that form live in a ring indexed by their number: no string comparison, no tree to
/// rebalance, and as receipts mostly come back in order the ring stays about as long as the
/// window of pending ones. Any other id (one the caller chose), and a generated-form one too
/// far from the ring, goes to an ordered map; every id works.
///
/// ```
/// use bytes::Bytes;
/// use stomp_codec::ReceiptMap;
///
/// let mut waiting = ReceiptMap::new();
/// waiting.insert(Bytes::from_static(b"rcpt-1"), "first");
/// waiting.insert(Bytes::from_static(b"rcpt-2"), "second");
/// waiting.insert(Bytes::from_static(b"my-own-id"), "third");
/// assert_eq!(waiting.remove(b"rcpt-1"), Some("first"));
/// assert_eq!(waiting.get(b"my-own-id"), Some(&"third"));
/// assert_eq!(waiting.len(), 2);
/// ```
#[derive(Debug)]
pub struct ReceiptMap<V> {
    /// The number of `ring[0]`.
    base: u64,
    /// Slots of the numbers `base..base + ring.len()`; the first and the last are occupied.
    ring: VecDeque<Option<(Bytes, V)>>,
    /// Occupied slots of the ring.
    in_ring: usize,
    /// Every other id.
    named: BTreeMap<Bytes, V>,
    /// Ids of the generated form among `named`.
    named_numbered: usize,
}

impl<V> Default for ReceiptMap<V> {
    fn default() -> ReceiptMap<V> {
        ReceiptMap::new()
    }
}

impl<V> ReceiptMap<V> {
    /// An empty map.
    pub fn new() -> ReceiptMap<V> {
        ReceiptMap {
            base: 0,
            ring: VecDeque::new(),
            in_ring: 0,
            named: BTreeMap::new(),
            named_numbered: 0,
        }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.in_ring + self.named.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of number `n` in the ring, if the ring has a slot for it.
    fn index(&self, n: u64) -> Option<usize> {
        let index = usize::try_from(n.checked_sub(self.base)?).ok()?;
        (index < self.ring.len()).then_some(index)
    }

    /// Every generated id `rcpt-N` with `N` below this is absent from the map (0 when that
    /// cannot be told cheaply).
    pub fn number_floor(&self) -> u64 {
        if self.named_numbered > 0 {
            0
        } else if self.ring.is_empty() {
            u64::MAX
        } else {
            self.base
        }
    }

    /// Whether the generated id of number `n` is in the map.
    pub(crate) fn contains_number(&self, n: u64) -> bool {
        self.index(n)
            .and_then(|i| self.ring.get(i))
            .is_some_and(Option::is_some)
            || (self.named_numbered > 0 && self.named.contains_key(&generated_id(n)[..]))
    }

    /// The key `id` has in the map, if it is there.
    #[cfg(test)]
    pub(crate) fn key_of(&self, id: &[u8]) -> Option<ReceiptKey> {
        if let Some(n) = generated_number(id) {
            if self
                .index(n)
                .and_then(|i| self.ring.get(i))
                .is_some_and(Option::is_some)
            {
                return Some(ReceiptKey::Number(n));
            }
        }
        let (name, _) = self.named.get_key_value(id)?;
        Some(ReceiptKey::Name(name.clone()))
    }

    /// Whether `id` is in the map.
    pub fn contains(&self, id: &[u8]) -> bool {
        self.get(id).is_some()
    }

    /// The value of `id`.
    pub fn get(&self, id: &[u8]) -> Option<&V> {
        if let Some(index) = generated_number(id).and_then(|n| self.index(n)) {
            if let Some(Some((_, value))) = self.ring.get(index) {
                return Some(value);
            }
        }
        if self.named.is_empty() {
            return None;
        }
        self.named.get(id)
    }

    /// The value of `id`, to change.
    pub fn get_mut(&mut self, id: &[u8]) -> Option<&mut V> {
        if let Some(index) = generated_number(id).and_then(|n| self.index(n)) {
            if self.ring.get(index).is_some_and(Option::is_some) {
                return self
                    .ring
                    .get_mut(index)
                    .and_then(Option::as_mut)
                    .map(|(_, value)| value);
            }
        }
        if self.named.is_empty() {
            return None;
        }
        self.named.get_mut(id)
    }

    /// The entry of `key`.
    pub(crate) fn get_by_key(&self, key: &ReceiptKey) -> Option<&V> {
        match key {
            ReceiptKey::Number(n) => match self.index(*n).and_then(|i| self.ring.get(i)) {
                Some(Some((_, value))) => Some(value),
                _ => None,
            },
            ReceiptKey::Name(name) => self.named.get(name),
        }
    }

    /// Inserts `value` under `id`; returns the value it replaces.
    pub fn insert(&mut self, id: Bytes, value: V) -> Option<V> {
        let number = generated_number(&id);
        if let Some(index) = number.and_then(|n| self.index(n)) {
            if let Some(Some((_, old))) = self.ring.get_mut(index) {
                return Some(core::mem::replace(old, value));
            }
        }
        if let Some(old) = self.named.get_mut(&id) {
            return Some(core::mem::replace(old, value));
        }
        self.put(id, number, value);
        None
    }

    /// Inserts `value` under `id` (dropping what was there); returns the key it is under.
    #[inline]
    pub(crate) fn insert_keyed(&mut self, id: Bytes, value: V) -> ReceiptKey {
        let number = generated_number(&id);
        self.put(id, number, value)
    }

    /// [`insert_keyed`](Self::insert_keyed) of an id whose [`generated_number`] the caller
    /// has. Nothing is returned by value: the values may be large, and are built in place
    /// when this is inlined.
    #[inline]
    fn put(&mut self, id: Bytes, number: Option<u64>, value: V) -> ReceiptKey {
        if !self.named.is_empty() {
            if let Some(slot) = self.named.get_mut(&id) {
                *slot = value;
                return ReceiptKey::Name(id);
            }
        }
        if let Some(n) = number {
            if let Some(index) = self.ring_slot(n) {
                if let Some(slot) = self.ring.get_mut(index) {
                    if slot.is_none() {
                        self.in_ring += 1;
                    }
                    *slot = Some((id, value));
                    return ReceiptKey::Number(n);
                }
            }
            self.named_numbered += 1;
        }
        self.named.insert(id.clone(), value);
        ReceiptKey::Name(id)
    }

    /// The ring's index for number `n`, growing the ring for it when that keeps the ring
    /// within twice its entries (plus some slack); `None` when it would not.
    fn ring_slot(&mut self, n: u64) -> Option<usize> {
        if self.ring.is_empty() {
            self.base = n;
            self.ring.push_back(None);
            return Some(0);
        }
        let limit = 2 * (self.in_ring + 1) + RING_SLACK;
        if n >= self.base {
            let index = usize::try_from(n - self.base).ok()?;
            if index < self.ring.len() {
                return Some(index);
            }
            if index >= limit {
                return None;
            }
            self.ring.resize_with(index + 1, || None);
            return Some(index);
        }
        let before = usize::try_from(self.base - n).ok()?;
        if before.checked_add(self.ring.len())? > limit {
            return None;
        }
        for _ in 0..before {
            self.ring.push_front(None);
        }
        self.base = n;
        Some(0)
    }

    /// Removes `id`; returns its value.
    pub fn remove(&mut self, id: &[u8]) -> Option<V> {
        if let Some(index) = generated_number(id).and_then(|n| self.index(n)) {
            if let Some(entry) = self.ring.get_mut(index).and_then(Option::take) {
                self.in_ring -= 1;
                self.trim();
                return Some(entry.1);
            }
        }
        if self.named.is_empty() {
            return None;
        }
        let removed = self.named.remove(id)?;
        if generated_number(id).is_some() {
            self.named_numbered -= 1;
        }
        Some(removed)
    }

    /// Removes `id` and drops its value where it is (no move out); returns whether it was
    /// there.
    pub fn discard(&mut self, id: &[u8]) -> bool {
        if let Some(index) = generated_number(id).and_then(|n| self.index(n)) {
            if let Some(slot) = self.ring.get_mut(index) {
                if slot.is_some() {
                    *slot = None;
                    self.in_ring -= 1;
                    self.trim();
                    return true;
                }
            }
        }
        !self.named.is_empty() && self.remove(id).is_some()
    }

    /// Removes the entry of `key`; returns its id and value.
    pub(crate) fn remove_by_key(&mut self, key: &ReceiptKey) -> Option<(Bytes, V)> {
        match key {
            ReceiptKey::Number(n) => {
                let index = self.index(*n)?;
                let entry = self.ring.get_mut(index).and_then(Option::take)?;
                self.in_ring -= 1;
                self.trim();
                Some(entry)
            }
            ReceiptKey::Name(name) => {
                let removed = self.named.remove_entry(name)?;
                if generated_number(name).is_some() {
                    self.named_numbered -= 1;
                }
                Some(removed)
            }
        }
    }

    /// Drops the empty slots at both ends of the ring.
    fn trim(&mut self) {
        while self.ring.front().is_some_and(Option::is_none) {
            self.ring.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        while self.ring.back().is_some_and(Option::is_none) {
            self.ring.pop_back();
        }
    }

    /// Every entry: generated-form ids by number, then the others by their bytes.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Bytes, &mut V)> {
        let ring = self
            .ring
            .iter_mut()
            .filter_map(|slot| slot.as_mut().map(|(id, value)| (&*id, value)));
        ring.chain(self.named.iter_mut())
    }

    /// Removes every entry; returns them in the order of [`iter_mut`](Self::iter_mut).
    pub fn drain(&mut self) -> impl Iterator<Item = (Bytes, V)> {
        self.in_ring = 0;
        self.named_numbered = 0;
        let ring = core::mem::take(&mut self.ring).into_iter().flatten();
        ring.chain(core::mem::take(&mut self.named))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.ring.clear();
        self.in_ring = 0;
        self.named.clear();
        self.named_numbered = 0;
    }
}

/// Receipt ids the client asked for and the server has not confirmed yet.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    /// Number of the next generated id (`rcpt-N`).
    next: u64,
    /// Pending id → command of the frame that asked for it.
    pending: ReceiptMap<Command>,
    /// The receipt asked for by DISCONNECT, if any (R-5).
    disconnect: Option<Bytes>,
}

impl Receipts {
    pub(crate) fn new() -> Receipts {
        Receipts {
            next: 1,
            ..Receipts::default()
        }
    }

    /// The number of the next generated id: the first from `next` not pending.
    fn next_number(&self) -> u64 {
        let mut n = self.next;
        while self.pending.contains_number(n) {
            n = n.saturating_add(1);
        }
        n
    }

    /// The id the next generated receipt will have: `rcpt-1`, `rcpt-2`, ... skipping ids the
    /// caller already has pending (D-21). Nothing is reserved until [`insert`](Self::insert).
    pub(crate) fn next_id(&self) -> Bytes {
        generated_id(self.next_number())
    }

    /// Refuses an id that is still pending (R-1).
    pub(crate) fn check(&self, id: &[u8]) -> Result<(), UsageError> {
        if self.pending.contains(id) {
            return Err(UsageError::DuplicateReceipt {
                receipt_id: shown(id, 64),
            });
        }
        Ok(())
    }

    /// Records `id` as pending for a frame of `command` that is now queued. A generated id
    /// advances the counter past it.
    pub(crate) fn insert(&mut self, id: Bytes, command: Command) {
        // `id == self.next_id()`, by number: the id's number, if it has the generated form, is
        // the next free one (those before it all pending).
        let number = generated_number(&id);
        if let Some(m) = number {
            // The first free number from `next` is never pending itself.
            if m >= self.next && self.next_number() == m {
                self.next = m.saturating_add(1);
                self.next = self.next_number();
            }
        }
        if command == Command::Disconnect {
            self.disconnect = Some(id.clone());
        }
        self.pending.put(id, number, command);
    }

    /// Matches a RECEIPT's `receipt-id` (R-2): the command it confirms, if it was pending.
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

    #[test]
    fn generated_ids_are_written_without_formatting() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            let expected = alloc::format!("rcpt-{n}");
            assert_eq!(generated_id(n), expected.as_bytes());
            assert_eq!(generated_number(expected.as_bytes()), Some(n));
        }
        let mut block = IdBlock::default();
        // Across several blocks, each id stays what it was cut as.
        let ids: alloc::vec::Vec<Bytes> = (0..200).map(|n| block.id(n * 1_000_003)).collect();
        for (n, id) in (0u64..).zip(&ids) {
            assert_eq!(generated_number(id), Some(n * 1_000_003));
        }
    }

    /// The map against a `BTreeMap` model, with generated-form ids in and out of order, far
    /// apart, look-alikes (`rcpt-07`) and other names.
    #[test]
    fn receipt_map_agrees_with_a_plain_map() {
        let mut map = ReceiptMap::new();
        let mut model: BTreeMap<Bytes, u32> = BTreeMap::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        for step in 0..20_000u32 {
            let id = match random(10) {
                0 => Bytes::from(alloc::format!("rcpt-0{}", random(20))),
                1 => Bytes::from(alloc::format!("other-{}", random(50))),
                2 => Bytes::from(alloc::format!("rcpt-{}", 1_000_000 + random(500))),
                _ => Bytes::from(alloc::format!("rcpt-{}", u64::from(step / 8) + random(300))),
            };
            match random(4) {
                0 | 1 => {
                    let key = if step % 3 == 0 {
                        assert_eq!(map.insert(id.clone(), step), model.insert(id.clone(), step));
                        map.key_of(&id).expect("just inserted")
                    } else {
                        model.insert(id.clone(), step);
                        map.insert_keyed(id.clone(), step)
                    };
                    assert_eq!(map.get_by_key(&key), Some(&step));
                }
                2 if step % 2 == 0 => assert_eq!(map.remove(&id), model.remove(&id)),
                2 => assert_eq!(map.discard(&id), model.remove(&id).is_some()),
                _ => {
                    let key = map.key_of(&id);
                    assert_eq!(key.is_some(), model.contains_key(&id));
                    if let Some(key) = key {
                        let (gone, value) = map.remove_by_key(&key).expect("present");
                        assert_eq!(gone, id);
                        assert_eq!(Some(value), model.remove(&id));
                    }
                }
            }
            assert_eq!(map.get(&id), model.get(&id));
            assert_eq!(map.len(), model.len());
            if let Some(n) = generated_number(&id) {
                assert_eq!(map.contains_number(n), model.contains_key(&id));
            }
            if step % 100 == 0 {
                let floor = map.number_floor();
                assert!(model
                    .keys()
                    .filter_map(|k| generated_number(k))
                    .all(|n| n >= floor));
            }
            if step % 1000 == 0 {
                let mut seen: alloc::vec::Vec<_> =
                    map.iter_mut().map(|(k, v)| (k.clone(), *v)).collect();
                seen.sort();
                let expected: alloc::vec::Vec<_> =
                    model.iter().map(|(k, v)| (k.clone(), *v)).collect();
                assert_eq!(seen, expected);
            }
        }
        let drained: BTreeMap<Bytes, u32> = map.drain().collect();
        assert_eq!(drained, model);
        assert!(map.is_empty());
        assert!(map.get(b"rcpt-1").is_none());
    }

    #[test]
    fn a_stuck_receipt_keeps_the_ring_short() {
        let mut map = ReceiptMap::new();
        map.insert(Bytes::from_static(b"rcpt-1"), ());
        for n in 2..10_000u64 {
            let id = generated_id(n);
            map.insert(id.clone(), ());
            assert!(map.remove(&id).is_some());
        }
        assert!(map.ring.len() <= 2 * 2 + RING_SLACK, "{}", map.ring.len());
        assert_eq!(map.len(), 1);
        assert!(map.remove(b"rcpt-1").is_some());
        assert!(map.is_empty() && map.ring.is_empty());
    }
}
