//! What the application holds besides the client: subscriptions, received messages and
//! transactions. Each uses the session through a [`Link`], in its own task.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use stomp_codec::{Command as Stomp, Delivery, Frame, FrameOptions};

use super::inbox::InboxReceiver;
use super::shared::{Deferred, Link};
use super::ClientError;

/// A MESSAGE received on a [`Subscription`] (S-13), to [`ack`](ReceivedMessage::ack) or
/// [`nack`](ReceivedMessage::nack) when the subscription's mode asks for it.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    delivery: Delivery,
    link: Link,
}

impl ReceivedMessage {
    pub(crate) fn new(delivery: Delivery, link: Link) -> ReceivedMessage {
        ReceivedMessage { delivery, link }
    }

    /// The whole frame, every header included.
    pub fn frame(&self) -> &Frame {
        &self.delivery.message.frame
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.delivery.message.body()
    }

    /// The body as `Bytes`, shared with the frame (no copy).
    pub fn body_bytes(&self) -> Bytes {
        self.delivery.message.body_bytes()
    }

    /// The `destination` header.
    pub fn destination(&self) -> &[u8] {
        &self.delivery.message.destination
    }

    /// The `message-id` header.
    pub fn message_id(&self) -> &[u8] {
        &self.delivery.message.message_id
    }

    /// Whether the broker says it delivered this message before (`redelivered:true`, a
    /// RabbitMQ and ActiveMQ header).
    pub fn redelivered(&self) -> bool {
        self.frame().headers().get("redelivered") == Some(&b"true"[..])
    }

    /// The delivery as the session saw it (with the number of its connection).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Acknowledges the message (S-7..S-9); completes once the ACK is queued for the wire.
    /// Refused when the connection that delivered it is gone (the broker delivers it again).
    pub async fn ack(&self) -> Result<(), ClientError> {
        self.acknowledge(false, FrameOptions::new()).await
    }

    /// Refuses the message (1.1+, S-10).
    pub async fn nack(&self) -> Result<(), ClientError> {
        self.acknowledge(true, FrameOptions::new()).await
    }

    /// Acknowledges with options: a receipt (then it completes when confirmed), a
    /// transaction.
    pub async fn ack_with(&self, options: FrameOptions) -> Result<(), ClientError> {
        self.acknowledge(false, options).await
    }

    async fn acknowledge(&self, nack: bool, options: FrameOptions) -> Result<(), ClientError> {
        let delivery = &self.delivery;
        self.link
            .call_wait(|shared, now| {
                let receipt = if nack {
                    shared.session.nack(now, delivery, options.clone())?
                } else {
                    shared.session.ack(now, delivery, options.clone())?
                };
                Ok(shared.receipt_wait(receipt))
            })
            .await
    }
}

/// The messages of one subscription, as a [`Stream`]. It lives across reconnects (the
/// session subscribes again); it ends when the client closes. Dropping it unsubscribes.
///
/// Messages wait in a bounded buffer ([`ClientOptions::subscription_buffer`]); when it is
/// full the client stops reading the socket, so a slow consumer slows the broker down instead
/// of filling memory, while heart-beats keep going.
///
/// [`ClientOptions::subscription_buffer`]: super::ClientOptions::subscription_buffer
#[derive(Debug)]
pub struct Subscription {
    id: Bytes,
    messages: InboxReceiver,
    link: Link,
    active: bool,
}

impl Subscription {
    pub(crate) fn new(id: Bytes, messages: InboxReceiver, link: Link) -> Subscription {
        Subscription {
            id,
            messages,
            link,
            active: true,
        }
    }

    /// The subscription's `id` header.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The next message, or `None` once the client is closed.
    pub async fn next_message(&mut self) -> Option<ReceivedMessage> {
        std::future::poll_fn(|cx| self.messages.poll_next(cx, &self.link.0.driver)).await
    }

    /// Sends UNSUBSCRIBE (S-6) and waits until it is queued for the wire.
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        self.active = false;
        let id = &self.id;
        self.link
            .call(|shared, now| {
                shared.subscriptions.remove(id);
                shared
                    .session
                    .unsubscribe(now, id, FrameOptions::new())
                    .map(drop)
            })
            .await
    }
}

impl Stream for Subscription {
    type Item = ReceivedMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.messages.poll_next(cx, &this.link.0.driver)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.messages.close(&self.link.0.driver);
        if self.active {
            self.link
                .call_from_drop(Deferred::Unsubscribe(self.id.clone()));
        }
    }
}

/// A transaction (S-11): SENDs and ACKs in it take effect at [`commit`](Transaction::commit).
/// Dropped uncommitted, it is aborted.
#[derive(Debug)]
pub struct Transaction {
    id: Bytes,
    link: Link,
    open: bool,
}

impl Transaction {
    pub(crate) fn new(id: Bytes, link: Link) -> Transaction {
        Transaction {
            id,
            link,
            open: true,
        }
    }

    /// The transaction's id.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// Sends `body` to `destination` in the transaction.
    pub async fn send(
        &self,
        destination: impl AsRef<[u8]>,
        body: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let options = FrameOptions::new().transaction(&self.id);
        super::send(
            &self.link,
            destination,
            body.into(),
            options,
            super::Until::Outcome,
        )
        .await
    }

    /// Acknowledges `message` in the transaction.
    pub async fn ack(&self, message: &ReceivedMessage) -> Result<(), ClientError> {
        message
            .ack_with(FrameOptions::new().transaction(&self.id))
            .await
    }

    /// COMMIT, confirmed by a receipt.
    pub async fn commit(mut self) -> Result<(), ClientError> {
        self.finish(Stomp::Commit).await
    }

    /// ABORT, confirmed by a receipt.
    pub async fn abort(mut self) -> Result<(), ClientError> {
        self.finish(Stomp::Abort).await
    }

    async fn finish(&mut self, command: Stomp) -> Result<(), ClientError> {
        self.open = false;
        let id = &self.id;
        self.link
            .call_wait(|shared, now| {
                let options = FrameOptions::new().receipt();
                let receipt = if command == Stomp::Commit {
                    shared.session.commit(now, id, options)?
                } else {
                    shared.session.abort(now, id, options)?
                };
                Ok(shared.receipt_wait(receipt))
            })
            .await
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.open {
            self.link.call_from_drop(Deferred::Abort(self.id.clone()));
        }
    }
}
