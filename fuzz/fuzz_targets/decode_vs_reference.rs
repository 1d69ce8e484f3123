//! Arbitrary bytes through the decoder, compared with the reference model at several
//! chunkings; the first octets choose the setup. The checks live in
//! `stomp_testkit::decode_vs_reference_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stomp_testkit::decode_vs_reference_input(data));
