//! A client connection driven by arbitrary received bytes, application calls and clock steps;
//! the operations and checks live in `stomp_codec::fuzzing::connection::client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stomp_codec::fuzzing::connection::client(data);
});
