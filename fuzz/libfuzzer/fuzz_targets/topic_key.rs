//! libFuzzer entry point of [`switchboard_fuzz::topic_key`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::topic_key(data));
