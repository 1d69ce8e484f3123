//! Proof that stomp-codec builds and links without `std`.
//!
//! This crate is `#![no_std]` and defines its own `#[panic_handler]`. If anything in its
//! dependency graph (stomp-codec with `default-features = false`, or bytes, memchr, nom,
//! thiserror, smallvec, serde as stomp-codec configures them) linked `std`, std's panic handler
//! would be in the graph too and rustc would stop with E0152 "found duplicate lang item
//! `panic_impl`". On a target that has no `std` at all (thumbv7em-none-eabihf) any use of `std`
//! fails to resolve instead.
//!
//! The function below exercises the codec, the escaping, the limits, the heart-beat parser,
//! the WebSocket helpers and a client connection on `Duration` time, so that they are compiled
//! (monomorphised) for this build. Nothing here is ever run.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;
use core::time::Duration;

use bytes::BytesMut;
use stomp_codec::websocket::{choose_subprotocol, fits_text_message, MessageDecoder};
use stomp_codec::{
    ClientConfig, ClientConnection, Command, Decoder, Encoder, Frame, Heartbeat, Item, Limits,
    ServerConfig, ServerConnection, Version, VersionSet,
};

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// An allocator that has no memory: enough to link, as nothing runs.
struct NoMemory;

// SAFETY: returning null is the documented way to report an allocation failure.
unsafe impl GlobalAlloc for NoMemory {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoMemory = NoMemory;

/// The error types implement `core::error::Error` (the same trait as `std::error::Error`)
/// without `std` too.
fn _errors_are_errors() {
    fn is_error<E: core::error::Error>() {}
    is_error::<stomp_codec::DecodeError>();
    is_error::<stomp_codec::EncodeError>();
    is_error::<stomp_codec::ConnectionError>();
    is_error::<stomp_codec::UsageError>();
}

/// Decodes, re-encodes and drives both connection roles; returns a count so that nothing is
/// optimised away.
#[no_mangle]
pub extern "C" fn stomp_codec_no_std_check() -> usize {
    let mut count = 0;
    let limits = Limits::default().max_body(1024);
    let mut decoder = Decoder::with_limits(Version::V1_2, limits).allow_extension_commands(true);
    decoder.push(b"SEND\ndestination:/queue/\\c\n\nhi\0\n");
    let encoder = Encoder::new(Version::V1_2);
    let mut wire = BytesMut::new();
    while let Ok(Some(item)) = decoder.next_item() {
        if let Item::Frame(frame) = item {
            count += usize::from(encoder.encode(&frame, &mut wire).is_ok());
        }
    }
    let frame = Frame::builder(Command::Send)
        .header("a", "b")
        .body("c")
        .build();
    count += usize::from(
        Encoder::new(Version::V1_0)
            .encode(&frame, &mut wire)
            .is_ok(),
    );
    count += usize::from(Heartbeat::parse(b"1000,0").is_some());

    let mut messages = MessageDecoder::new(Decoder::new(Version::V1_2));
    count += messages.feed(b"\n").count();
    count += usize::from(fits_text_message(&wire));
    count += usize::from(
        choose_subprotocol(["v12.stomp"], VersionSet::ALL)
            .name()
            .is_some(),
    );

    let now = Duration::from_millis(1);
    let mut client = ClientConnection::<Duration>::with_timestamp_type(ClientConfig::new("/"));
    let mut server = ServerConnection::<Duration>::with_timestamp_type(ServerConfig::default());
    if client.connect(now).is_ok() {
        while let Some(bytes) = client.poll_transmit() {
            server.handle_input(now, &bytes);
            count += usize::from(server.failure().is_none());
        }
    }
    count += usize::from(server.poll_event().is_some());
    count += usize::from(client.poll_timeout().is_some());
    count
}
