//! Structured frames through encode and chunked decode; the checks live in
//! `stomp_testkit::roundtrip_frame`.
#![no_main]

use stomp_testkit::FrameInput;

libfuzzer_sys::fuzz_target!(|input: FrameInput| {
    stomp_testkit::roundtrip_frame(&input.frame(), input.version(), &input.splits());
});
