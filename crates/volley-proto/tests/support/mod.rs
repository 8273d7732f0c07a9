//! Test support: reading the captured datagrams in `shared/vectors/`.

#![allow(dead_code, unreachable_pub)]

pub mod sim;

use std::path::PathBuf;

/// Directory of the captured datagrams (the repository's `shared/` sits beside it).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// One captured datagram.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `C>S` or `S>C`.
    pub direction: String,
    /// The UDP payload.
    pub bytes: Vec<u8>,
}

/// Decodes lowercase or uppercase hex without separators.
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length in {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Every datagram of one vector file, in file order.
pub fn load(file: &str) -> Vec<Captured> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (direction, data) = l.split_once(' ').expect("direction and hex");
            Captured { direction: direction.to_owned(), bytes: hex(data.trim()) }
        })
        .collect()
}

/// Names of all vector files.
pub fn all_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}
