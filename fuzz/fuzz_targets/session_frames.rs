#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netchan_tests::fuzz::session_frames(data));
