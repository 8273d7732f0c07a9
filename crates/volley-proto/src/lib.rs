//! Volley's protocol: an ENet 1.3 compatible transport as a pure state machine.
//!
//! This crate never touches a socket, a thread or the clock. Callers hand it
//! datagrams together with `now`, and ask it for datagrams to send and for the
//! next deadline.

pub mod compress;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
mod mode;

pub use mode::TransferMode;
