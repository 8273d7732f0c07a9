//! Godot 4's WebSocket multiplayer framing (`WebSocketMultiplayerPeer`).
//!
//! There is no per-message header. Right after the upgrade the server
//! sends one binary message of exactly 4 bytes, the client's id as a
//! little-endian `i32`; from then on every message is one SceneMultiplayer
//! packet (relay, announcements and authentication live in those bytes).
//! Channel and transfer mode are not carried: a receiver reports channel 0
//! and reliable, as Godot does.

use std::fmt;

use crate::multiplayer::PeerId;

/// Bytes of the id message.
pub const ID_LEN: usize = 4;

/// The id message telling a client its id.
///
/// ```
/// use volley::multiplayer::PeerId;
/// use volley::multiplayer::websocket::framing::godot4;
///
/// let id = PeerId::try_from(0x2B_u32)?;
/// assert_eq!(godot4::id_message(id), [0x2B, 0, 0, 0]);
/// assert_eq!(godot4::decode_id_message(&[0x2B, 0, 0, 0]), Ok(id));
/// # Ok::<(), volley::multiplayer::PeerIdError>(())
/// ```
pub fn id_message(id: PeerId) -> [u8; ID_LEN] {
    id.get().to_le_bytes()
}

/// Reads the id message: exactly 4 bytes naming a client id (2 to
/// `i32::MAX`). Godot 4 closes the connection on anything else, and so does
/// a Volley client.
pub fn decode_id_message(message: &[u8]) -> Result<PeerId, IdMessageError> {
    let bytes: [u8; ID_LEN] =
        message.try_into().map_err(|_| IdMessageError::WrongLength { len: message.len() })?;
    let raw = i32::from_le_bytes(bytes);
    match PeerId::try_from(raw) {
        Ok(id) if !id.is_server() => Ok(id),
        _ => Err(IdMessageError::InvalidId(raw)),
    }
}

/// Why a first message is not a valid Godot 4 id message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdMessageError {
    /// Not 4 bytes long.
    WrongLength {
        /// The message's length.
        len: usize,
    },
    /// Not a client id: 0, 1 (the server's) or negative.
    InvalidId(i32),
}

impl fmt::Display for IdMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { len } => write!(f, "{len}-byte id message (expected 4)"),
            Self::InvalidId(raw) => write!(f, "id message names {raw}, which is not a client id"),
        }
    }
}

impl std::error::Error for IdMessageError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_reference_bytes() {
        // §2.3: A = 0x2B gets `2B 00 00 00`, B = 0x5C gets `5C 00 00 00`.
        for (raw, bytes) in [(0x2B_u32, [0x2B, 0, 0, 0]), (0x5C, [0x5C, 0, 0, 0])] {
            let id = PeerId::try_from(raw).expect("valid");
            assert_eq!(id_message(id), bytes);
            assert_eq!(decode_id_message(&bytes), Ok(id));
        }
        assert_eq!(id_message(PeerId::MAX), [0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(decode_id_message(&[0xFF, 0xFF, 0xFF, 0x7F]), Ok(PeerId::MAX));
    }

    #[test]
    fn anything_else_is_rejected() {
        for len in [0, 3, 5, 6] {
            let bytes = [2; 6];
            assert_eq!(decode_id_message(&bytes[..len]), Err(IdMessageError::WrongLength { len }));
        }
        for raw in [0_i32, 1, -1, i32::MIN] {
            assert_eq!(decode_id_message(&raw.to_le_bytes()), Err(IdMessageError::InvalidId(raw)));
        }
        assert_eq!(
            IdMessageError::InvalidId(1).to_string(),
            "id message names 1, which is not a client id"
        );
        assert_eq!(
            IdMessageError::WrongLength { len: 6 }.to_string(),
            "6-byte id message (expected 4)"
        );
    }
}
