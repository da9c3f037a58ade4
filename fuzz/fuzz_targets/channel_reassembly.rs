#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netchan_transport::fuzzing::channel_reassembly(data));
