//! Volley's protocol: an ENet 1.3 compatible transport as a pure state machine.
//!
//! This crate never touches a socket, a thread or the clock. Callers hand an
//! [`Endpoint`] the datagrams they receive together with `now`, and ask it for
//! datagrams to send ([`Endpoint::poll_transmit`]), for events
//! ([`Endpoint::poll_event`]) and for the next deadline
//! ([`Endpoint::poll_timeout`]). The same inputs always give the same
//! outputs, which is what lets the tests drive it over a simulated network
//! ([`sim`], feature `sim`) with a virtual clock.
//!
//! Layout: [`wire`] is the codec; the endpoint keeps one peer slot per
//! connection, each with its channels (ordering and reassembly), a reliable
//! sender (window and retransmission), round-trip estimation and throttle.
//! `docs/architecture.md` describes the state machine.

mod budget;
mod channel;
pub mod compress;
mod config;
pub mod constants;
mod endpoint;
mod error;
mod event;
mod fragment;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
mod half_open;
mod mode;
mod outgoing;
mod peer;
mod pool;
mod reliable;
mod rtt;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod stats;
mod throttle;
mod time;
mod unsequenced;
pub mod wire;

pub use config::{EndpointConfig, Timeouts};
pub use endpoint::{Endpoint, TRANSMIT_BUFFER_SIZE, Transmit};
pub use error::{ConfigError, ConnectError, PeerError, SendError};
pub use event::{DisconnectReason, Event};
pub use mode::TransferMode;
pub use peer::{PeerHandle, PeerState};
pub use stats::{EndpointStats, PeerStats};
