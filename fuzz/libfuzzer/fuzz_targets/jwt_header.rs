//! libFuzzer entry point of [`switchboard_fuzz::jwt_header`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::jwt_header(data));
