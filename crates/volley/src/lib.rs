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

mod host;
pub mod multiplayer;
pub mod socket;

pub use host::{Host, HostConfig, HostError, HostHandle};
/// The poll library Volley's sockets run on, for [`Host::register`]: use
/// this re-export so the versions match.
pub use mio;
pub use volley_proto::{
    DisconnectReason, EndpointConfig, Event, PeerHandle, PeerState, PeerStats, Timeouts,
    TransferMode,
};
