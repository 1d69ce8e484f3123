//! The rules both roles enforce on the frames of an open session, written once: subscriptions
//! (S-4..S-6), acknowledgements per version (S-7..S-10, S-14) and transactions (S-11). The
//! client checks its own frames with them before queueing (a [`UsageError`]), the server
//! checks the client's frames with them on arrival (a [`ConnectionError`]); both wrap the same
//! [`RuleViolation`].
//!
//! [`UsageError`]: super::UsageError
//! [`ConnectionError`]: super::ConnectionError

use alloc::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::error::shown;
use crate::frame::Command;
use crate::headers::Headers;
use crate::version::Version;

use super::{AckMode, RuleViolation};
use crate::header::*;

/// The one or two `(name, value)` headers an ACK or NACK carries.
pub(crate) type AckHeaders<'m> = [Option<(&'static str, &'m [u8])>; 2];

/// What a connection knows of one subscription (S-4).
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) destination: Bytes,
    pub(crate) ack: AckMode,
    /// Whether SUBSCRIBE had an `id` (only 1.0 may leave it out): MESSAGE then names it.
    pub(crate) has_id: bool,
    /// Order of creation, for a 1.0 UNSUBSCRIBE by destination (oldest first).
    seq: u64,
}

/// The subscriptions and open transactions of one session.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Active subscriptions by id (by destination for a 1.0 SUBSCRIBE without id).
    subscriptions: BTreeMap<Bytes, Subscription>,
    next_seq: u64,
    transactions: BTreeSet<Bytes>,
}

/// The first `header` of `h`, or the violation that says the frame needs it.
fn require(
    h: &Headers,
    command: &Command,
    header: &'static str,
    version: Version,
) -> Result<Bytes, RuleViolation> {
    h.get_bytes(header)
        .ok_or_else(|| missing(command, header, version))
}

fn missing(command: &Command, header: &'static str, version: Version) -> RuleViolation {
    RuleViolation::MissingHeader {
        command: command.clone(),
        header,
        version,
    }
}

impl Session {
    /// Checks a SUBSCRIBE: `destination`, an `id` (1.0 may use the destination instead) that
    /// names no active subscription, a known ack mode. Returns the key and the subscription to
    /// [`subscribe`](Session::subscribe) once the frame is accepted.
    pub(crate) fn check_subscribe(
        &self,
        h: &Headers,
        version: Version,
    ) -> Result<(Bytes, Subscription), RuleViolation> {
        let destination = require(h, &Command::Subscribe, DESTINATION, version)?;
        let (key, has_id) = match h.get_bytes(ID) {
            Some(id) => (id, true),
            None if version == Version::V1_0 => (destination.clone(), false),
            None => return Err(missing(&Command::Subscribe, ID, version)),
        };
        if self.subscriptions.contains_key(&key) {
            return Err(RuleViolation::DuplicateSubscription {
                id: shown(&key, 64),
            });
        }
        let ack = match h.get(ACK) {
            None => AckMode::Auto,
            Some(v) => AckMode::parse(v, version).ok_or(RuleViolation::InvalidAckMode {
                value: shown(v, 64),
                version,
            })?,
        };
        let sub = Subscription {
            destination,
            ack,
            has_id,
            seq: self.next_seq,
        };
        Ok((key, sub))
    }

    pub(crate) fn subscribe(&mut self, key: Bytes, sub: Subscription) {
        self.subscriptions.insert(key, sub);
        self.next_seq = self.next_seq.wrapping_add(1);
    }

    /// Checks an UNSUBSCRIBE and returns the key of the subscription it ends: its `id`, or in
    /// 1.0 its `destination` (S-6, see [`by_destination`]).
    pub(crate) fn check_unsubscribe(
        &self,
        h: &Headers,
        version: Version,
    ) -> Result<Bytes, RuleViolation> {
        let key = match h.get_bytes(ID) {
            Some(id) => id,
            None if version == Version::V1_0 => {
                let destination = require(h, &Command::Unsubscribe, DESTINATION, version)?;
                self.by_destination(destination)
            }
            None => return Err(missing(&Command::Unsubscribe, ID, version)),
        };
        if !self.subscriptions.contains_key(&key) {
            return Err(RuleViolation::UnknownSubscription {
                id: shown(&key, 64),
            });
        }
        Ok(key)
    }

    pub(crate) fn unsubscribe(&mut self, key: &[u8]) -> Option<Subscription> {
        self.subscriptions.remove(key)
    }

    /// The key of the subscription that a 1.0 UNSUBSCRIBE naming `destination` instead of an
    /// `id` ends (S-6). Only one subscription ends per UNSUBSCRIBE: the one a SUBSCRIBE
    /// without `id` made for that destination (its key is the destination), else the oldest
    /// active one to that destination. When none matches, the destination itself (which then
    /// names nothing).
    fn by_destination(&self, destination: Bytes) -> Bytes {
        if self
            .subscriptions
            .get(&destination)
            .is_some_and(|s| s.destination == destination)
        {
            return destination;
        }
        self.subscriptions
            .iter()
            .filter(|(_, s)| s.destination == destination)
            .min_by_key(|(_, s)| s.seq)
            .map_or(destination, |(key, _)| key.clone())
    }

    /// Checks the headers an ACK or NACK needs in `version` (S-7..S-10): `id` in 1.2,
    /// `message-id` and `subscription` in 1.1, `message-id` in 1.0, which has no NACK. Returns
    /// what is acknowledged and the `subscription` header.
    pub(crate) fn check_ack(
        h: &Headers,
        command: &Command,
        version: Version,
    ) -> Result<(Bytes, Option<Bytes>), RuleViolation> {
        if *command == Command::Nack && version == Version::V1_0 {
            return Err(RuleViolation::NotInVersion {
                command: Command::Nack,
                version,
            });
        }
        Ok(match version {
            Version::V1_2 => (require(h, command, ID, version)?, h.get_bytes(SUBSCRIPTION)),
            Version::V1_1 => (
                require(h, command, MESSAGE_ID, version)?,
                Some(require(h, command, SUBSCRIPTION, version)?),
            ),
            Version::V1_0 => (
                require(h, command, MESSAGE_ID, version)?,
                h.get_bytes(SUBSCRIPTION),
            ),
        })
    }

    /// The headers an ACK or NACK of `message` carries in `version` (the other half of
    /// [`check_ack`](Session::check_ack)): the MESSAGE's `ack` as `id` in 1.2, its
    /// `message-id` and `subscription` in 1.1, its `message-id` in 1.0. `Err` names the
    /// MESSAGE header that is missing.
    pub(crate) fn ack_headers(
        message: &Headers,
        version: Version,
    ) -> Result<AckHeaders<'_>, &'static str> {
        let get = |header: &'static str| message.get(header).ok_or(header);
        Ok(match version {
            Version::V1_2 => [Some((ID, get(ACK)?)), None],
            Version::V1_1 => [
                Some((MESSAGE_ID, get(MESSAGE_ID)?)),
                Some((SUBSCRIPTION, get(SUBSCRIPTION)?)),
            ],
            Version::V1_0 => [Some((MESSAGE_ID, get(MESSAGE_ID)?)), None],
        })
    }

    /// The `transaction` header of a SEND, ACK or NACK, which must name an open transaction
    /// (S-11).
    pub(crate) fn check_in_transaction(&self, h: &Headers) -> Result<Option<Bytes>, RuleViolation> {
        let tx = h.get(TRANSACTION);
        self.check_transaction_open(tx)?;
        Ok(tx.map(|tx| h.share(tx)))
    }

    /// Checks that `transaction`, if any, names an open transaction (S-11).
    #[inline]
    pub(crate) fn check_transaction_open(
        &self,
        transaction: Option<&[u8]>,
    ) -> Result<(), RuleViolation> {
        match transaction {
            Some(tx) if !self.transactions.contains(tx) => Err(RuleViolation::UnknownTransaction {
                transaction: shown(tx, 64),
            }),
            _ => Ok(()),
        }
    }

    /// Checks a BEGIN (a transaction not open yet), COMMIT or ABORT (an open one) and returns
    /// the transaction id (S-11).
    pub(crate) fn check_transaction(
        &self,
        h: &Headers,
        command: &Command,
        version: Version,
    ) -> Result<Bytes, RuleViolation> {
        let transaction = require(h, command, TRANSACTION, version)?;
        let open = self.transactions.contains(&transaction);
        match (command, open) {
            (Command::Begin, true) => Err(RuleViolation::DuplicateTransaction {
                transaction: shown(&transaction, 64),
            }),
            (Command::Commit | Command::Abort, false) => Err(RuleViolation::UnknownTransaction {
                transaction: shown(&transaction, 64),
            }),
            _ => Ok(transaction),
        }
    }

    /// Applies a checked BEGIN, COMMIT or ABORT.
    pub(crate) fn apply_transaction(&mut self, command: &Command, transaction: Bytes) {
        if *command == Command::Begin {
            self.transactions.insert(transaction);
        } else {
            self.transactions.remove(&transaction);
        }
    }

    /// Ends every open transaction (DISCONNECT, ERROR, the connection closing: R-7) and
    /// returns them.
    pub(crate) fn take_transactions(&mut self) -> BTreeSet<Bytes> {
        core::mem::take(&mut self.transactions)
    }

    pub(crate) fn subscription(&self, key: &[u8]) -> Option<&Subscription> {
        self.subscriptions.get(key)
    }

    /// The subscription a 1.0 MESSAGE without `subscription` belongs to.
    pub(crate) fn subscription_to(&self, destination: &[u8]) -> Option<&Subscription> {
        self.subscriptions
            .values()
            .find(|s| s.destination == destination)
    }

    pub(crate) fn subscriptions(&self) -> impl Iterator<Item = (&Bytes, &Subscription)> {
        self.subscriptions.iter()
    }

    pub(crate) fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    pub(crate) fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    pub(crate) fn is_transaction_open(&self, transaction: &[u8]) -> bool {
        self.transactions.contains(transaction)
    }
}
