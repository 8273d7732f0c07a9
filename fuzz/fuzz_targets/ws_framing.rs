#![no_main]
//! Fuzz target: see `volley::fuzz_checks::ws_framing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley::fuzz_checks::ws_framing(data));
