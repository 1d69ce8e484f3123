//! Structured frames through encode and chunked decode; the checks live in
//! `stomp_codec::fuzzing::roundtrip_frame`.
#![no_main]

use stomp_codec_fuzz::FrameInput;

libfuzzer_sys::fuzz_target!(|input: FrameInput| {
    stomp_codec::fuzzing::roundtrip_frame(&input.frame(), input.version(), &input.splits());
});
