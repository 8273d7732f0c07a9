//! Shared helpers for Volley benchmarks.

#[cfg(feature = "enet-c")]
pub mod enet_c;
pub mod link;
pub mod payloads;
