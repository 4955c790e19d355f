//! libFuzzer entry point of [`switchboard_fuzz::sigv4_authorization`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::sigv4_authorization(data));
