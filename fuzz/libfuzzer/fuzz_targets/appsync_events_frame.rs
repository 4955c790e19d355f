//! libFuzzer entry point of [`switchboard_fuzz::appsync_events_frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::appsync_events_frame(data));
