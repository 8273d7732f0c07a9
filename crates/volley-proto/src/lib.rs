//! Volley's protocol: an ENet 1.3 compatible transport as a pure state machine.
//!
//! This crate never touches a socket, a thread or the clock. Callers hand an
//! [`Endpoint`] the datagrams they receive together with `now`, and ask it for
//! datagrams to send ([`Endpoint::poll_transmit`]), for events
//! ([`Endpoint::poll_event`]) and for the next deadline
//! ([`Endpoint::poll_timeout`]). The same inputs always give the same
//! outputs, which is what lets the tests drive it over a simulated network
//! (`sim`, feature `sim`) with a virtual clock. The `volley` crate runs it on
//! real UDP sockets.
//!
//! Layout: [`wire`] is the codec; the endpoint keeps one peer slot per
//! connection, each with its channels (ordering and reassembly), a reliable
//! sender (window and retransmission), round-trip estimation and throttle.
//! `docs/architecture.md` describes the state machine.
//!
//! # Public API
//!
//! | item | what it is | example |
//! |---|---|---|
//! | [`Endpoint`] | a host's peers and connections: connect, accept, send, disconnect, and the `handle_*` / `poll_*` drive | [below](#example), [`Endpoint`] |
//! | [`EndpointConfig`], [`Timeouts`] | limits and settings (peers, channels, MTU, bandwidth, checksum, range coder, buffer bounds), per-peer timeouts | [`EndpointConfig`] |
//! | [`Event`], [`DisconnectReason`] | what an endpoint reports: connect requests, connections, disconnections with their cause, packets | [below](#example) |
//! | [`TransferMode`] | reliable, unreliable-ordered (sequenced) or unreliable (unsequenced) | [below](#example) |
//! | [`Transmit`], [`TRANSMIT_BUFFER_SIZE`] | a datagram to send, written into the caller's buffer | [below](#example) |
//! | [`PeerHandle`], [`PeerState`] | a peer slot and its connection state | [below](#example) |
//! | [`PeerStats`], [`EndpointStats`] | counters: round-trip time, loss, throttle, bytes; datagrams dropped and why | [below](#example) |
//! | [`ConfigError`], [`ConnectError`], [`PeerError`], [`SendError`] | typed errors for misuse (never a panic) | |
//! | [`wire`] | the ENet 1.3 codec: [`wire::Datagram`] (decode), [`wire::DatagramWriter`] (encode), [`wire::Command`] | [`wire`] |
//! | [`compress`] | ENet's range coder, [`compress::RangeCoder`], behind the [`compress::Compressor`] trait | [`compress`] |
//! | [`constants`] | ENet's protocol limits and defaults | |
//! | `sim` (feature `sim`) | the simulated network: `VirtualClock`, `LinkConfig`, `LinkConditioner`, `Network`, `Harness` | in `sim` |
//! | `fuzz_checks` (feature `fuzzing`) | the invariants the fuzz targets check | |
//!
//! # Example
//!
//! A server and a client endpoint joined by a loop that carries their
//! datagrams, with time advanced by hand: the client connects, sends a
//! reliable packet, disconnects, and both sides report it.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use volley_proto::{
//!     DisconnectReason, Endpoint, EndpointConfig, Event, PeerState, TRANSMIT_BUFFER_SIZE,
//!     TransferMode,
//! };
//!
//! let server_addr: SocketAddr = "127.0.0.1:7000".parse()?;
//! let client_addr: SocketAddr = "127.0.0.1:7001".parse()?;
//! let mut server = Endpoint::new(EndpointConfig::default())?;
//! let mut client = Endpoint::new(EndpointConfig::default())?;
//! let mut now = Instant::now();
//! let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
//!
//! // What a host does with real sockets, with a perfect link instead.
//! let mut step = |now: Instant, client: &mut Endpoint, server: &mut Endpoint| {
//!     for endpoint in [&mut *client, &mut *server] {
//!         if endpoint.poll_timeout().is_some_and(|deadline| deadline <= now) {
//!             endpoint.handle_timeout(now);
//!         }
//!     }
//!     while let Some(transmit) = client.poll_transmit(now, &mut buf) {
//!         assert_eq!(transmit.destination, server_addr);
//!         server.handle_datagram(now, client_addr, &buf[transmit.range]);
//!     }
//!     while let Some(transmit) = server.poll_transmit(now, &mut buf) {
//!         client.handle_datagram(now, server_addr, &buf[transmit.range]);
//!     }
//! };
//!
//! let peer = client.connect(now, server_addr, 2, 0)?;
//! for _ in 0..4 {
//!     step(now, &mut client, &mut server);
//! }
//! assert_eq!(client.peer_state(peer), Some(PeerState::Connected));
//! let Some(Event::Connected { peer: at_server, .. }) = server.poll_event() else {
//!     panic!("the server saw the client connect");
//! };
//!
//! client.send(peer, 1, TransferMode::Reliable, b"hello")?;
//! step(now, &mut client, &mut server);
//! match server.poll_event() {
//!     Some(Event::Received { channel: 1, mode: TransferMode::Reliable, payload, .. }) => {
//!         assert_eq!(payload, b"hello");
//!         server.recycle(payload); // the buffer goes back to the pool
//!     }
//!     other => panic!("expected the packet, got {other:?}"),
//! }
//!
//! client.disconnect(now, peer, 7)?;
//! for _ in 0..4 {
//!     now += Duration::from_millis(10);
//!     step(now, &mut client, &mut server);
//! }
//! assert!(matches!(
//!     server.poll_event(),
//!     Some(Event::Disconnected { peer: p, reason: DisconnectReason::Remote, data: 7 }) if p == at_server
//! ));
//! assert_eq!(server.stats().dropped_malformed, 0);
//! assert!(client.peer_stats(peer).is_none()); // the handle is dead now
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
mod lend;
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
mod timer;
mod trace;
mod unsequenced;
pub mod wire;

pub use config::{EndpointConfig, Timeouts};
pub use endpoint::{Endpoint, TRANSMIT_BUFFER_SIZE, Transmit};
pub use error::{ConfigError, ConnectError, PeerError, SendError};
pub use event::{DisconnectReason, Event, LentEvent};
pub use lend::{Lend, MAX_LENT_DATAGRAMS, Outbox};
pub use mode::TransferMode;
pub use peer::{PeerHandle, PeerState};
pub use stats::{EndpointStats, PeerStats};
/// The rate limiter of dropped-input logs, for the `volley` host's socket.
#[cfg(feature = "tracing")]
#[doc(hidden)]
pub use trace::DropCounter;
