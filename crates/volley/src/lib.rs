//! Volley host: the [`volley_proto`] engine on real UDP sockets.

pub mod multiplayer;
pub mod socket;
