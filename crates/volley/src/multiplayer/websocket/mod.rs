//! Godot's `WebSocketMultiplayerPeer` (4.x) and `WebSocketServer` /
//! `WebSocketClient` multiplayer mode (3.x): the framings of both
//! generations ([`framing`]).

pub mod framing;
