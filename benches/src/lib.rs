//! Shared helpers for Volley benchmarks.

pub mod link;
#[cfg(feature = "enet-c")]
pub mod enet_c;
pub mod payloads;
