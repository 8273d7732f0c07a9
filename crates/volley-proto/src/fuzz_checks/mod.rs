//! Invariant checks for the fuzz targets.
//!
//! Each check takes arbitrary bytes, drives one part of Volley with them and
//! panics when an invariant breaks. Available with the `fuzzing` feature.

pub mod decompress;
