//! Shared helpers for Volley benchmarks.

pub mod link;
