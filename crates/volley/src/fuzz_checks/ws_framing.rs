//! Decoding arbitrary WebSocket messages in both Godot framings.

use crate::multiplayer::websocket::framing::godot3::{self, Godot3Message};
use crate::multiplayer::websocket::framing::godot4;

/// Decodes `data` as a Godot 3 WebSocket message and as a Godot 4 id
/// message. Whatever decodes must re-encode to exactly the same bytes (the
/// codecs are canonical), and a game packet's parts must tile the message.
pub fn ws_framing(data: &[u8]) {
    match Godot3Message::decode(data) {
        Ok(Godot3Message::Data { header, payload }) => {
            let mut again = godot3::data_header_from_relay(header).to_vec();
            again.extend_from_slice(payload);
            assert_eq!(again, data, "a game packet re-encodes differently");
        }
        Ok(Godot3Message::System(system)) => {
            assert_eq!(system.to_bytes(), data, "a system message re-encodes differently");
        }
        Err(_) => {}
    }
    if let Ok(id) = godot4::decode_id_message(data) {
        assert!(!id.is_server(), "the server's id is never assigned");
        assert_eq!(godot4::id_message(id), data, "an id message re-encodes differently");
    }
}
