#![no_main]
//! Fuzz target: see `volley_proto::fuzz_checks::decompress`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley_proto::fuzz_checks::decompress(data));
