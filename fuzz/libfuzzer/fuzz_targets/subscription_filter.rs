//! libFuzzer entry point of [`switchboard_fuzz::subscription_filter`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::subscription_filter(data));
