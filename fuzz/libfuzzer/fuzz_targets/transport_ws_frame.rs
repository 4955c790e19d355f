//! libFuzzer entry point of [`switchboard_fuzz::transport_ws_frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::transport_ws_frame(data));
