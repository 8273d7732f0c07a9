#![no_main]
//! Fuzz target: see `volley::fuzz_checks::signal_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley::fuzz_checks::signal_json(data));
