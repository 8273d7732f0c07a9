//! Godot's `MultiplayerPeer`, in Rust: peer ids, send targets, and the
//! [`framing`] an ENet-backed peer speaks.

pub mod framing;
mod peer_id;

pub use peer_id::{PeerId, PeerIdError, Target, TargetError, generate_unique_id};
