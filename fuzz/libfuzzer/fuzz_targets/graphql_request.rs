//! libFuzzer entry point of [`switchboard_fuzz::graphql_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::graphql_request(data));
