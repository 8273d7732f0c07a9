#![no_main]
//! Fuzz target: see `volley::fuzz_checks::scene_packet`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley::fuzz_checks::scene_packet(data));
