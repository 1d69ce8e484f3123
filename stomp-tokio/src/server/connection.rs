//! One client connection: a task that feeds the transport's bytes to the broker and writes
//! what the broker has for this client.
//!
//! Bytes leave the broker only when the writer task can take them (a channel of one chunk),
//! so while a client reads slowly its bytes wait *in its connection*, where the output limit
//! (`max_pending_transmit`, slow consumers) sees them. A socket that takes nothing for
//! `write_timeout` ends the connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use stomp_codec::{ConnectionError, Version, VersionSet};
use tokio::sync::{mpsc, Notify};

use super::{lock, Shared};
use crate::transport::{Received, Transport, TransportWriter};

pub(super) async fn serve(transport: Transport, _peer: SocketAddr, shared: Arc<Shared>) {
    let waker = Arc::new(Notify::new());
    let websocket = transport.info().websocket;
    // The WebSocket subprotocol chosen caps the STOMP version (as its name promises).
    let versions = match transport.info().subprotocol {
        Some(chosen) => [Version::V1_0, Version::V1_1, Version::V1_2]
            .into_iter()
            .filter(|v| *v <= chosen)
            .fold(VersionSet::EMPTY, VersionSet::with),
        None => VersionSet::ALL,
    };
    let id = {
        let mut state = lock(&shared.state);
        let id = state.broker.open_with_versions(Instant::now(), versions);
        state.wakers.insert(id, waker.clone());
        id
    };
    let (mut reader, writer) = transport.split();
    let (chunks, chunks_rx) = mpsc::channel::<Bytes>(1);
    let write_timeout = shared.options.write_timeout;
    // The WebSocket close status: 1000, 1002 after a protocol failure, 0 (the plain close
    // that answers the client's) when the client closed first.
    let close_status = Arc::new(AtomicU16::new(1000));
    let mut writing = tokio::spawn(write_loop(
        writer,
        chunks_rx,
        write_timeout,
        close_status.clone(),
    ));
    let mut writer_done = false;
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut reading = true;
    loop {
        // Hand the next bytes to the writer when it has room.
        let closed = {
            let mut state = lock(&shared.state);
            if let Ok(permit) = chunks.try_reserve() {
                let mut out = BytesMut::new();
                if state.broker.poll_transmit_into(id, &mut out) > 0 {
                    permit.send(out.freeze());
                }
            }
            state.settle();
            state.broker.is_closed(id)
                && state
                    .broker
                    .connection(id)
                    .is_none_or(|c| c.pending_transmit() == 0)
        };
        if closed {
            break;
        }
        let deadline = lock(&shared.state)
            .broker
            .poll_timeout_of(id)
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            read = reader.read(&mut input), if reading => {
                let now = Instant::now();
                let mut state = lock(&shared.state);
                match read {
                    Ok(Received::Bytes(_)) => {
                        let bytes = input.split().freeze();
                        state.broker.handle_input_bytes(id, now, bytes);
                    }
                    Ok(Received::Activity) => state.broker.note_activity(id, now),
                    Ok(Received::Closed) | Err(_) => {
                        reading = false;
                        close_status.store(0, Ordering::Relaxed);
                        state.broker.handle_close(id, now);
                    }
                }
                state.settle();
            }
            () = waker.notified() => {}
            permit = chunks.reserve(), if has_output(&shared, id) => drop(permit),
            () = sleep_until(deadline) => {
                let mut state = lock(&shared.state);
                state.broker.handle_timeout_of(id, Instant::now());
                state.settle();
            }
            _ = &mut writing, if !writer_done => {
                // The socket failed or took nothing for too long.
                writer_done = true;
                let mut state = lock(&shared.state);
                state.broker.handle_close(id, Instant::now());
                state.settle();
                break;
            }
        }
    }
    // W-8: after a protocol failure (an ERROR sent about the client's frames), a WebSocket
    // closes with status 1002, as Spring does; otherwise 1000.
    let protocol_failure = {
        let mut state = lock(&shared.state);
        let failed = state.broker.connection(id).is_some_and(|c| {
            c.failure()
                .is_some_and(|e| !matches!(e, ConnectionError::HeartbeatTimeout { .. }))
        }) || state.broker.sent_error(id);
        state.broker.remove(id, Instant::now());
        state.wakers.remove(&id);
        state.settle();
        failed
    };
    if websocket && protocol_failure && reading {
        close_status.store(1002, Ordering::Relaxed);
    }
    // The writer writes what it was given, then closes the transport.
    drop(chunks);
    if !writer_done {
        let _ = tokio::time::timeout(write_timeout, writing).await;
    }
}

fn has_output(shared: &Shared, id: stomp_codec::ConnectionId) -> bool {
    lock(&shared.state)
        .broker
        .connection(id)
        .is_some_and(|c| c.pending_transmit() > 0)
}

async fn write_loop(
    mut writer: TransportWriter,
    mut chunks: mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
    close_status: Arc<AtomicU16>,
) {
    while let Some(bytes) = chunks.recv().await {
        let written = async {
            writer.write(&bytes).await?;
            writer.flush().await
        };
        match tokio::time::timeout(limit, written).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = match close_status.load(Ordering::Relaxed) {
        1002 => writer.close_with_status(1002, "protocol error").await,
        status => writer.close_with_status(status, "").await,
    };
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
