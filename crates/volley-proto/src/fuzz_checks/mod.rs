//! Invariants checked by the fuzz targets in `fuzz/`, one function per target.
//!
//! Each function takes arbitrary bytes, must never panic on its own account,
//! and panics only when an invariant breaks. The unit tests below replay the
//! committed corpora (`fuzz/corpus/<target>/`) through the same functions, so
//! `cargo test` exercises every target's body even where the fuzzer cannot run.

mod datagram;
mod decompress;
mod endpoint;

pub use datagram::{decode_datagram, decode_with_checksum};
pub use decompress::decompress;
pub use endpoint::endpoint;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn replay(target: &str, check: fn(&[u8])) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            check(&std::fs::read(&path).expect("corpus file"));
            count += 1;
        }
        assert!(count > 0, "empty corpus for {target}");
    }

    #[test]
    fn decode_datagram_corpus() {
        replay("decode_datagram", super::decode_datagram);
    }

    #[test]
    fn decompress_corpus() {
        replay("decompress", super::decompress);
    }

    #[test]
    fn endpoint_corpus() {
        replay("endpoint", super::endpoint);
    }

    #[test]
    fn decode_with_checksum_corpus() {
        replay("decode_with_checksum", super::decode_with_checksum);
    }
}
