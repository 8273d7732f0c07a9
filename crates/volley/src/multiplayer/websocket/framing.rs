//! What rides inside the WebSocket messages of Godot's two generations.
//!
//! - [`godot3`]: every message has a 9-byte `[type][from][to]` header;
//!   the server assigns ids and announces peers with system messages.
//! - [`godot4`]: a 4-byte id message first, then bare SceneMultiplayer
//!   packets.
//!
//! Both are pure, allocation-free functions of the bytes, strict about
//! lengths and values (a fuzz target checks them, see `fuzz/`).

pub mod godot3;
pub mod godot4;
