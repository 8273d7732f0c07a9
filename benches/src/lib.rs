//! Shared helpers for Volley benchmarks.

pub mod attack;
pub mod crowd;
pub mod drivers;
#[cfg(feature = "enet-c")]
pub mod enet_c;
#[cfg(feature = "enet-c")]
pub mod enet_c_host;
pub mod link;
pub mod payloads;
pub mod suite;
