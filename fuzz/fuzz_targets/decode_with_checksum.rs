#![no_main]
//! Fuzz target: see `volley_proto::fuzz_checks::decode_with_checksum`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| volley_proto::fuzz_checks::decode_with_checksum(data));
