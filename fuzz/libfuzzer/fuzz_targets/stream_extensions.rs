//! libFuzzer entry point of [`switchboard_fuzz::stream_extensions`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::stream_extensions(data));
