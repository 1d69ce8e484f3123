//! A client connection driven by arbitrary received bytes, application calls and clock steps;
//! the operations and checks live in `stomp_testkit::connection::client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stomp_testkit::connection::client(data);
});
