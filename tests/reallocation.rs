//! How much the decoder allocates while counted bodies stream in: once per frame, never a
//! second buffer that the body already received is copied into.
//!
//! One test in its own binary, because it counts what this thread allocates through a global
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stomp_codec::{Decoder, Item, Version};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(size: usize) {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = ALLOCATED.try_with(|total| total.set(total.get() + size));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

/// Frames with 1 MiB counted bodies read 4 KiB at a time, as from a socket: the read that ends
/// a body also carries the next frame's first octets. The decoder reserves each frame once,
/// with room for that read, instead of regrowing (and copying the body) when it arrives.
#[test]
fn counted_bodies_read_in_chunks_are_not_copied_into_a_regrown_buffer() {
    const BODY: usize = 1 << 20;
    const FRAMES: usize = 4;
    let mut wire = Vec::new();
    for i in 0..FRAMES {
        wire.extend_from_slice(
            format!("MESSAGE\ndestination:/queue/{i}\ncontent-length:{BODY}\n\n").as_bytes(),
        );
        wire.extend(std::iter::repeat_n(b'x' ^ i as u8, BODY));
        wire.push(0);
    }
    let before = allocated();
    let mut decoder = Decoder::new(Version::V1_2);
    let mut bodies = Vec::new();
    for read in wire.chunks(4096) {
        decoder.push(read);
        while let Some(item) = decoder.next_item().unwrap() {
            if let Item::Frame(frame) = item {
                bodies.push((frame.body().len(), frame.body()[0]));
            }
        }
    }
    let during = allocated() - before;
    let expected: Vec<_> = (0..FRAMES).map(|i| (BODY, b'x' ^ i as u8)).collect();
    assert_eq!(bodies, expected);
    // One buffer of a frame and a read, used again for each next frame once the previous one
    // is dropped (1.07 MB here). Regrowing at each body's end would allocate a doubled buffer
    // (about 2 MiB) and copy the body into it, 3.15 MB in all before this was fixed.
    assert!(
        during < 2 * BODY,
        "{during} octets allocated for {FRAMES} frames of {BODY}"
    );
}
