//! Shared helpers for Volley benchmarks.
