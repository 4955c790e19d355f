//! libFuzzer entry point of [`switchboard_fuzz::appsync_auth`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::appsync_auth(data));
