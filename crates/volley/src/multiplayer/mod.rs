//! Godot's `MultiplayerPeer`, in Rust: peer ids and send targets.

mod peer_id;

pub use peer_id::{PeerId, PeerIdError, Target, TargetError, generate_unique_id};
