//! A deterministic, in-process simulated network for driving the protocol in
//! tests.
//!
//! Three pieces, usable separately:
//!
//! - [`VirtualClock`]: time that moves only when the test advances it.
//! - [`LinkConditioner`], configured by a [`LinkConfig`]: decides, with
//!   seeded randomness, what one direction of a link does to each datagram
//!   (loss, delay, jitter, duplication, reordering, bandwidth cap, queue
//!   limit, MTU, cut). It only returns a [`Verdict`], so a host on real
//!   sockets can put it on its own send path too.
//! - [`Network`]: carries opaque datagrams between [`SocketAddr`]s through a
//!   conditioner per direction, and hands them out in arrival order.
//!
//! Nothing here knows the protocol: endpoints are whatever the test drives
//! with the payloads it pops.
//!
//! Available in this crate's unit tests, and elsewhere with the `sim` feature:
//!
//! ```toml
//! [dev-dependencies]
//! volley-proto = { workspace = true, features = ["sim"] }
//! ```
//!
//! # Determinism
//!
//! The same calls with the same seeds give the same deliveries, on every
//! machine: each link direction draws from its own [`SmallRng`] seeded from
//! the network seed and its two addresses (or [`LinkConfig::seed`]), every
//! datagram consumes a fixed number of draws, and arrival ties are broken by
//! send order. Only the start instant of a [`VirtualClock`] differs between
//! runs, and nothing depends on it. A failing test can print its seed and be
//! replayed exactly.
//!
//! # Example
//!
//! A client pings an echo server every 10 ms over a lossy, jittery path, and
//! the test steps virtual time from one event to the next:
//!
//! ```
//! use std::time::Duration;
//! use volley_proto::sim::{LinkConfig, Network, VirtualClock};
//!
//! let client = "10.0.0.1:5000".parse()?;
//! let server = "10.0.0.2:7777".parse()?;
//! let mut clock = VirtualClock::new();
//! let mut network = Network::new(42);
//!
//! let mut path = LinkConfig::default();
//! path.loss(0.1)?
//!     .delay(Duration::from_millis(30))?
//!     .jitter(Duration::from_millis(5))?;
//! network.set_link(client, server, path);
//! network.set_link(server, client, path);
//!
//! let mut payload = Vec::new();
//! let (mut pings, mut echoes) = (0u32, 0u32);
//! let mut next_ping = Some(clock.now());
//! // Jump from one event (a ping or an arrival) to the next until none is left.
//! while let Some(event) = [next_ping, network.next_delivery()].into_iter().flatten().min() {
//!     clock.advance_to(event)?;
//!     if next_ping == Some(clock.now()) {
//!         network.send(clock.now(), client, server, &pings.to_be_bytes())?;
//!         pings += 1;
//!         next_ping = (pings < 100).then(|| clock.now() + Duration::from_millis(10));
//!     }
//!     while let Some(delivery) = network.pop_due(clock.now(), &mut payload) {
//!         if delivery.to == server {
//!             network.send(clock.now(), server, client, &payload)?;
//!         } else {
//!             echoes += 1;
//!         }
//!     }
//! }
//!
//! // About 0.9 × 0.9 of the pings make the round trip.
//! assert!((70..=92).contains(&echoes), "{echoes}");
//! let lost = network.stats(client, server).dropped_loss
//!     + network.stats(server, client).dropped_loss;
//! assert_eq!(u64::from(echoes) + lost, 100);
//! // The last ping leaves at 990 ms and needs at most 2 × 35 ms to come back.
//! assert!(clock.elapsed() <= Duration::from_millis(1060));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`SocketAddr`]: std::net::SocketAddr
//! [`SmallRng`]: rand::rngs::SmallRng

mod clock;
mod conditioner;
mod config;
mod harness;
mod network;

pub use clock::{ClockError, VirtualClock};
pub use conditioner::{
    DropReason, IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD, LinkConditioner, LinkStats, ReleaseError,
    Verdict, wire_len,
};
pub use config::{LinkConfig, LinkConfigError, MAX_LINK_DELAY};
pub use harness::{Harness, Node};
pub use network::{Delivery, MAX_DATAGRAM_LEN, Network, SendError};
