#![no_main]
//! Fuzz target: see `volley::fuzz_checks::relay_framing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley::fuzz_checks::relay_framing(data));
