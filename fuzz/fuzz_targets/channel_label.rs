#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netchan::fuzzing::channel_label(data));
