//! Volley host: the [`volley_proto`] engine on real UDP sockets, and a
//! Godot-style [`MultiplayerPeer`](multiplayer::MultiplayerPeer) on top.
//!
//! - [`Host`] is the ENet-like level: peers, channels, the three transfer
//!   modes, connect/disconnect, `service(timeout)`.
//! - [`multiplayer`] is Godot's `MultiplayerPeer` vocabulary: peer ids,
//!   targets, transfer mode and channel, relay through the server; its
//!   [`EnetMultiplayerPeer`](multiplayer::EnetMultiplayerPeer) is the
//!   networked peer (server, client or mesh, in Godot 3's or Godot 4's
//!   framing), with an example in [`multiplayer::enet`].
//! - [`socket`] is the batched UDP socket underneath.
//! - [`websocket`] is the WebSocket transport (TCP, optionally TLS) that
//!   browser clients reach a session through.
//!
//! # Public API
//!
//! | item | what it is | example |
//! |---|---|---|
//! | [`Host`], [`HostHandle`] | an ENet-compatible host on a UDP socket: connect, send, broadcast, disconnect from any thread; `service` waits in the OS and never spins | [below](#example) |
//! | [`HostConfig`], [`HostError`] | socket and engine settings; what can fail | [`HostConfig`] |
//! | [`Event`], [`PeerHandle`], [`PeerState`], [`PeerStats`], [`DisconnectReason`], [`TransferMode`], [`EndpointConfig`], [`Timeouts`] | the engine's vocabulary, from `volley_proto` | [below](#example) |
//! | [`multiplayer::MultiplayerPeer`] | Godot's `MultiplayerPeer` as a trait: ids, targets, channels, modes, packets and peer events | [`multiplayer`] |
//! | [`multiplayer::EnetMultiplayerPeer`] | Godot's ENet peer (server, client, mesh) in Godot 3's or Godot 4's framing | [`multiplayer::enet`] |
//! | [`multiplayer::websocket::WebSocketMultiplayerPeer`] | Godot's WebSocket peer, both generations, `ws://` and (feature `tls`) `wss://` | [`multiplayer::websocket`] |
//! | [`multiplayer::session::ServerSession`] | one server session on several listeners (ENet on UDP, WebSocket on TCP), one id space | [`multiplayer::session`] |
//! | [`multiplayer::OfflinePeer`] | the peer of a game with no network | [`multiplayer`] |
//! | [`multiplayer::framing`] | the wire formats of both generations (relay header, system messages, SceneMultiplayer packets) | [`multiplayer::framing`] |
//! | [`socket::HostSocket`] | the batched UDP socket (`recvmmsg`/`sendmmsg`, UDP GSO on Linux) | [`socket`] |
//! | [`websocket`] | WebSocket server and client on `mio`, without a session | [`websocket`] |
//! | [`mio`] | the poll library, re-exported for [`Host::register`] | |
//!
//! Features: `tracing` logs each connection's life and dropped input through
//! `tracing` (off by default, free when off); `tls` serves and dials
//! `wss://` with rustls.
//!
//! # Example
//!
//! A server and a client on 127.0.0.1, each a [`Host`]: the client
//! connects, sends a reliable message, the server echoes it, the client
//! disconnects.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use volley::{DisconnectReason, Event, Host, HostConfig, TransferMode};
//!
//! let mut server = Host::new(HostConfig::server("127.0.0.1:0".parse()?))?;
//! let mut client = Host::new(HostConfig::client())?;
//! let to_server = client.connect(server.local_addr(), 2, 0)?;
//!
//! let end = Instant::now() + Duration::from_secs(10);
//! let mut echoed = None;
//! while echoed.is_none() && Instant::now() < end {
//!     // Each side services its socket; a real program would use a thread each.
//!     if let Some(event) = server.service(Duration::from_millis(1))? {
//!         match event {
//!             Event::Received { peer, channel, mode, payload } => {
//!                 server.send(peer, channel, mode, &payload)?; // echo
//!                 server.recycle(payload);
//!             }
//!             Event::Connected { .. } | Event::Disconnected { .. } => {}
//!             other => println!("server: {other:?}"),
//!         }
//!     }
//!     match client.service(Duration::from_millis(1))? {
//!         Some(Event::Connected { peer, .. }) => {
//!             client.send(peer, 1, TransferMode::Reliable, b"ping")?;
//!         }
//!         Some(Event::Received { payload, .. }) => echoed = Some(payload),
//!         _ => {}
//!     }
//! }
//! assert_eq!(echoed.as_deref(), Some(&b"ping"[..]));
//!
//! client.disconnect(to_server, 0)?;
//! let mut reason = None;
//! while reason.is_none() && Instant::now() < end {
//!     server.service(Duration::from_millis(1))?;
//!     if let Some(Event::Disconnected { reason: r, .. }) = client.service(Duration::from_millis(1))? {
//!         reason = Some(r);
//!     }
//! }
//! assert_eq!(reason, Some(DisconnectReason::Local));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
mod host;
pub mod multiplayer;
pub mod socket;
mod trace;
pub mod webrtc;
pub mod websocket;

pub use host::{Host, HostConfig, HostError, HostHandle};
/// The poll library Volley's sockets run on, for [`Host::register`]: use
/// this re-export so the versions match.
pub use mio;
pub use volley_proto::{
    DisconnectReason, EndpointConfig, Event, PeerHandle, PeerState, PeerStats, Timeouts,
    TransferMode,
};
pub use volley_proto::{LentEvent, Outbox};
