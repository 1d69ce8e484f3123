//! Arbitrary bytes through the decoder under every setup and several chunkings; the checks live
//! in `stomp_testkit::decode_chunked`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stomp_testkit::decode_all_setups(data));
