//! The relay profile's system messages: the server announcing peers.

use std::fmt;

use crate::multiplayer::PeerId;

/// A relay-profile announcement from the server to a client, sent reliably
/// on ENet channel 0 as `[kind: u32 LE][peer id: u32 LE]`.
///
/// When client X joins (relay on), the server sends `PeerAdded(X)` to every
/// other client and `PeerAdded(E)` to X for each existing client E; when X
/// leaves, `PeerRemoved(X)` to the rest. Clients turn these into peer
/// connected / disconnected events. Only a server sends them: a server
/// ignores channel 0 from clients.
///
/// ```
/// use volley::multiplayer::PeerId;
/// use volley::multiplayer::framing::SystemMessage;
///
/// let added = SystemMessage::PeerAdded(PeerId::try_from(12345_u32)?);
/// assert_eq!(added.to_bytes(), [0, 0, 0, 0, 0x39, 0x30, 0, 0]);
/// assert_eq!(SystemMessage::decode(&added.to_bytes())?, added);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemMessage {
    /// Kind 0: this client joined; the receiver may now target it.
    PeerAdded(PeerId),
    /// Kind 1: this client left or was kicked.
    PeerRemoved(PeerId),
}

impl SystemMessage {
    /// The exact length of a system message.
    pub const LEN: usize = 8;

    const KIND_ADDED: u32 = 0;
    const KIND_REMOVED: u32 = 1;

    /// The message as it goes on the wire.
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let (kind, id) = match self {
            Self::PeerAdded(id) => (Self::KIND_ADDED, id),
            Self::PeerRemoved(id) => (Self::KIND_REMOVED, id),
        };
        let mut bytes = [0; Self::LEN];
        bytes[..4].copy_from_slice(&kind.to_le_bytes());
        bytes[4..].copy_from_slice(&id.get().to_le_bytes());
        bytes
    }

    /// Parses a channel-0 payload.
    ///
    /// Anything but exactly 8 bytes, an unknown kind, or an id that is not
    /// a client (0, the server's 1, or above `i32::MAX`) is an error: drop
    /// the message. Accepting "removed 1" would make a client forget its
    /// server.
    pub fn decode(payload: &[u8]) -> Result<Self, SystemMessageError> {
        let Ok(bytes) = <&[u8; Self::LEN]>::try_from(payload) else {
            return Err(SystemMessageError::WrongLength { len: payload.len() });
        };
        let [k0, k1, k2, k3, i0, i1, i2, i3] = *bytes;
        let kind = u32::from_le_bytes([k0, k1, k2, k3]);
        let raw_id = u32::from_le_bytes([i0, i1, i2, i3]);
        let message: fn(PeerId) -> Self = match kind {
            Self::KIND_ADDED => Self::PeerAdded,
            Self::KIND_REMOVED => Self::PeerRemoved,
            other => return Err(SystemMessageError::UnknownKind(other)),
        };
        match PeerId::try_from(raw_id) {
            Ok(id) if !id.is_server() => Ok(message(id)),
            _ => Err(SystemMessageError::InvalidPeerId(raw_id)),
        }
    }
}

/// A channel-0 payload that is not a valid [`SystemMessage`]; drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemMessageError {
    /// System messages are exactly 8 bytes.
    WrongLength {
        /// The payload's length.
        len: usize,
    },
    /// Neither 0 (added) nor 1 (removed).
    UnknownKind(u32),
    /// Not a client id: 0, 1 (the server is never announced) or above
    /// `i32::MAX`.
    InvalidPeerId(u32),
}

impl fmt::Display for SystemMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { len } => {
                write!(f, "system message of {len} bytes (expected 8)")
            }
            Self::UnknownKind(kind) => write!(f, "unknown system message kind {kind}"),
            Self::InvalidPeerId(id) => {
                write!(f, "system message names {id}, which is not a client id")
            }
        }
    }
}

impl std::error::Error for SystemMessageError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn both_kinds_round_trip() {
        for message in [
            SystemMessage::PeerAdded(id(2)),
            SystemMessage::PeerRemoved(id(2)),
            SystemMessage::PeerAdded(PeerId::MAX),
            SystemMessage::PeerRemoved(PeerId::MAX),
        ] {
            assert_eq!(SystemMessage::decode(&message.to_bytes()), Ok(message));
        }
    }

    #[test]
    fn removed_bytes_match_godot3() {
        assert_eq!(
            SystemMessage::PeerRemoved(PeerId::MAX).to_bytes(),
            [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        );
        assert_eq!(
            SystemMessage::decode(&[1, 0, 0, 0, 2, 0, 0, 0]),
            Ok(SystemMessage::PeerRemoved(id(2)))
        );
    }

    #[test]
    fn any_length_but_8_is_rejected() {
        let bytes = [0; 9];
        for len in [0, 1, 7, 9] {
            assert_eq!(
                SystemMessage::decode(&bytes[..len]),
                Err(SystemMessageError::WrongLength { len })
            );
        }
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        for kind in [2_u32, 7, u32::MAX] {
            let mut bytes = [0, 0, 0, 0, 5, 0, 0, 0];
            bytes[..4].copy_from_slice(&kind.to_le_bytes());
            assert_eq!(SystemMessage::decode(&bytes), Err(SystemMessageError::UnknownKind(kind)));
        }
    }

    #[test]
    fn non_client_ids_are_rejected() {
        for raw in [0_u32, 1, 0x8000_0000, u32::MAX] {
            let mut bytes = [0; 8];
            bytes[4..].copy_from_slice(&raw.to_le_bytes());
            assert_eq!(SystemMessage::decode(&bytes), Err(SystemMessageError::InvalidPeerId(raw)));
        }
    }

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            SystemMessageError::WrongLength { len: 3 }.to_string(),
            "system message of 3 bytes (expected 8)"
        );
        assert_eq!(SystemMessageError::UnknownKind(9).to_string(), "unknown system message kind 9");
        assert_eq!(
            SystemMessageError::InvalidPeerId(1).to_string(),
            "system message names 1, which is not a client id"
        );
    }
}
