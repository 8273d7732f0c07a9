//! Invariants checked by the fuzz targets in `fuzz/` that cover this
//! crate's parsers, one function per target.
//!
//! Each function takes arbitrary bytes, must never panic on its own account,
//! and panics only when an invariant breaks. The unit tests below replay the
//! committed corpora (`fuzz/corpus/<target>/`) through the same functions,
//! so `cargo test` exercises every target's body even where the fuzzer
//! cannot run.

mod signal_json;
mod ws_framing;

pub use signal_json::signal_json;
pub use ws_framing::ws_framing;

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
    fn signal_json_corpus() {
        replay("signal_json", super::signal_json);
    }

    #[test]
    fn ws_framing_corpus() {
        replay("ws_framing", super::ws_framing);
    }
}
