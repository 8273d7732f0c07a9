//! Godot 3's WebSocket multiplayer framing (`WebSocketServer` /
//! `WebSocketClient` with `gd_mp_api = true`).
//!
//! Every WebSocket message is `[type u8][from i32 LE][to i32 LE][payload]`.
//! Type 0 carries a game packet; types 1–3 are the server's system
//! messages, `[type][from = 1][to = 0][peer id i32 LE]`, 13 bytes:
//!
//! | type | name | meaning |
//! |---|---|---|
//! | 0 | `SYS_NONE` | a game packet from `from` to `to` (Godot's target integer) |
//! | 1 | `SYS_ADD` | peer `id` joined (`id` 1 tells a newcomer the server is there) |
//! | 2 | `SYS_DEL` | peer `id` left |
//! | 3 | `SYS_ID` | your id is `id` (the first message a client gets) |
//!
//! The eight bytes after the type are exactly the ENet relay profile's
//! [`RelayHeader`], so a server relays between Godot 3 WebSocket and ENet
//! clients by adding or dropping the type byte.

use std::fmt;

use crate::multiplayer::framing::RelayHeader;
use crate::multiplayer::{PeerId, Target};

/// Bytes in front of every message: the type and the relay header.
pub const HEADER_LEN: usize = 1 + RelayHeader::LEN;

/// Bytes of a system message: the header and a 4-byte peer id.
pub const SYSTEM_LEN: usize = HEADER_LEN + 4;

const TYPE_DATA: u8 = 0;
const TYPE_ADD: u8 = 1;
const TYPE_DEL: u8 = 2;
const TYPE_ID: u8 = 3;

/// A system message, sent by the server only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Godot3System {
    /// `SYS_ID`: the client's id, assigned by the server.
    AssignId(PeerId),
    /// `SYS_ADD`: a peer joined; `SYS_ADD(1)` right after `SYS_ID` tells a
    /// Godot client it is connected.
    PeerAdded(PeerId),
    /// `SYS_DEL`: a peer left (never the server).
    PeerRemoved(PeerId),
}

impl Godot3System {
    /// The message as it goes on the wire.
    ///
    /// ```
    /// use volley::multiplayer::PeerId;
    /// use volley::multiplayer::websocket::framing::godot3::Godot3System;
    ///
    /// let id = Godot3System::AssignId(PeerId::try_from(0x2B_u32)?);
    /// assert_eq!(id.to_bytes(), [3, 1, 0, 0, 0, 0, 0, 0, 0, 0x2B, 0, 0, 0]);
    /// # Ok::<(), volley::multiplayer::PeerIdError>(())
    /// ```
    pub fn to_bytes(self) -> [u8; SYSTEM_LEN] {
        let (kind, id) = match self {
            Self::AssignId(id) => (TYPE_ID, id),
            Self::PeerAdded(id) => (TYPE_ADD, id),
            Self::PeerRemoved(id) => (TYPE_DEL, id),
        };
        let mut bytes = [0; SYSTEM_LEN];
        bytes[..HEADER_LEN].copy_from_slice(&header(kind, 1, 0));
        bytes[HEADER_LEN..].copy_from_slice(&id.get().to_le_bytes());
        bytes
    }
}

/// A decoded Godot 3 WebSocket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Godot3Message<'a> {
    /// A game packet: its header as written by the sender (a server checks
    /// the source), and the payload (a Godot 3 MultiplayerAPI packet).
    Data {
        /// `from` and `to`.
        header: RelayHeader,
        /// The bytes after the 9-byte header.
        payload: &'a [u8],
    },
    /// A system message.
    System(Godot3System),
}

impl<'a> Godot3Message<'a> {
    /// Decodes a whole WebSocket message, strictly: a game packet needs the
    /// 9-byte header; a system message must be exactly 13 bytes, from 1 to
    /// 0, naming a valid id (1 only in `SYS_ADD`).
    ///
    /// ```
    /// use volley::multiplayer::{PeerId, Target};
    /// use volley::multiplayer::websocket::framing::godot3::Godot3Message;
    ///
    /// let bytes = [0, 0x2B, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'];
    /// let Godot3Message::Data { header, payload } = Godot3Message::decode(&bytes)? else {
    ///     unreachable!("a game packet");
    /// };
    /// assert_eq!(header.sender()?, PeerId::try_from(0x2B_u32)?);
    /// assert_eq!(header.destination()?, Target::Broadcast);
    /// assert_eq!(payload, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(message: &'a [u8]) -> Result<Self, Godot3Error> {
        let Some((&kind, rest)) = message.split_first() else {
            return Err(Godot3Error::TooShort { len: 0 });
        };
        let (header, payload) =
            RelayHeader::decode(rest).map_err(|_| Godot3Error::TooShort { len: message.len() })?;
        if kind == TYPE_DATA {
            return Ok(Self::Data { header, payload });
        }
        if kind > TYPE_ID {
            return Err(Godot3Error::UnknownType(kind));
        }
        if message.len() != SYSTEM_LEN {
            return Err(Godot3Error::SystemLength { len: message.len() });
        }
        if header.source != 1 || header.target != 0 {
            return Err(Godot3Error::SystemNotFromServer {
                from: header.source,
                to: header.target,
            });
        }
        let raw = u32::from_le_bytes(
            payload.try_into().map_err(|_| Godot3Error::SystemLength { len: message.len() })?,
        );
        let id = PeerId::try_from(raw).map_err(|_| Godot3Error::InvalidPeerId(raw))?;
        let system = match kind {
            TYPE_ADD => Godot3System::PeerAdded(id),
            _ if id.is_server() => return Err(Godot3Error::InvalidPeerId(raw)),
            TYPE_DEL => Godot3System::PeerRemoved(id),
            _ => Godot3System::AssignId(id),
        };
        Ok(Self::System(system))
    }
}

/// The 9 bytes in front of a game packet from `source` to `target`.
///
/// ```
/// use volley::multiplayer::{PeerId, Target};
/// use volley::multiplayer::websocket::framing::godot3;
///
/// let from = PeerId::try_from(0x2B_u32)?;
/// let to = Target::AllExcept(PeerId::try_from(0x5C_u32)?);
/// assert_eq!(godot3::data_header(from, to), [0, 0x2B, 0, 0, 0, 0xA4, 0xFF, 0xFF, 0xFF]);
/// # Ok::<(), volley::multiplayer::PeerIdError>(())
/// ```
pub fn data_header(source: PeerId, target: Target) -> [u8; HEADER_LEN] {
    header(TYPE_DATA, source.get(), i32::from(target))
}

/// The 9-byte header of a game packet whose relay header (as the ENet relay
/// profile carries it) is `relay`: the type byte in front.
pub fn data_header_from_relay(relay: RelayHeader) -> [u8; HEADER_LEN] {
    header(TYPE_DATA, relay.source, relay.target)
}

fn header(kind: u8, from: u32, to: i32) -> [u8; HEADER_LEN] {
    let mut bytes = [0; HEADER_LEN];
    bytes[0] = kind;
    bytes[1..].copy_from_slice(&RelayHeader { source: from, target: to }.to_bytes());
    bytes
}

/// Why a message is not a valid Godot 3 WebSocket message; drop it (a
/// server closes the sender: only a broken or hostile peer sends one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Godot3Error {
    /// Shorter than the 9-byte header.
    TooShort {
        /// The message's length.
        len: usize,
    },
    /// A type byte above 3.
    UnknownType(u8),
    /// A system message that is not 13 bytes.
    SystemLength {
        /// The message's length.
        len: usize,
    },
    /// A system message whose header is not from 1 to 0.
    SystemNotFromServer {
        /// The `from` field.
        from: u32,
        /// The `to` field.
        to: i32,
    },
    /// A system message naming 0, a negative id, or 1 where only a client fits.
    InvalidPeerId(u32),
}

impl fmt::Display for Godot3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "{len}-byte message (the header is 9 bytes)"),
            Self::UnknownType(kind) => write!(f, "unknown message type {kind}"),
            Self::SystemLength { len } => write!(f, "{len}-byte system message (expected 13)"),
            Self::SystemNotFromServer { from, to } => {
                write!(f, "system message from {from} to {to} (expected from 1 to 0)")
            }
            Self::InvalidPeerId(raw) => write!(f, "system message names invalid peer {raw}"),
        }
    }
}

impl std::error::Error for Godot3Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    /// §2.1's join sequence for a newcomer 0x5C with 0x2B already there:
    /// SYS_ID(new), SYS_ADD(1), then SYS_ADD(other) — byte for byte.
    #[test]
    fn system_messages_match_the_reference_bytes() {
        let cases = [
            (Godot3System::AssignId(id(0x5C)), [3, 1, 0, 0, 0, 0, 0, 0, 0, 0x5C, 0, 0, 0]),
            (Godot3System::PeerAdded(PeerId::SERVER), [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
            (Godot3System::PeerAdded(id(0x2B)), [1, 1, 0, 0, 0, 0, 0, 0, 0, 0x2B, 0, 0, 0]),
            (Godot3System::PeerRemoved(id(0x2B)), [2, 1, 0, 0, 0, 0, 0, 0, 0, 0x2B, 0, 0, 0]),
            (
                Godot3System::AssignId(PeerId::MAX),
                [3, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F],
            ),
        ];
        for (system, bytes) in cases {
            assert_eq!(system.to_bytes(), bytes, "{system:?}");
            assert_eq!(Godot3Message::decode(&bytes), Ok(Godot3Message::System(system)));
        }
    }

    #[test]
    fn data_headers_carry_every_target_kind() {
        let from = id(0x2B);
        let cases = [
            (Target::Broadcast, [0, 0, 0, 0]),
            (Target::SERVER, [1, 0, 0, 0]),
            (Target::Peer(id(0x5C)), [0x5C, 0, 0, 0]),
            (Target::AllExcept(id(0x5C)), [0xA4, 0xFF, 0xFF, 0xFF]),
            (Target::AllExcept(PeerId::SERVER), [0xFF, 0xFF, 0xFF, 0xFF]),
        ];
        for (target, to) in cases {
            let mut message = data_header(from, target).to_vec();
            assert_eq!(message[..5], [0, 0x2B, 0, 0, 0]);
            assert_eq!(message[5..], to, "{target:?}");
            message.extend_from_slice(b"\x04raw");
            let Ok(Godot3Message::Data { header, payload }) = Godot3Message::decode(&message)
            else {
                panic!("a game packet: {message:?}");
            };
            assert_eq!(header.sender(), Ok(from));
            assert_eq!(header.destination(), Ok(target));
            assert_eq!(payload, b"\x04raw");
            assert_eq!(data_header_from_relay(header), data_header(from, target));
        }
        // A header alone is a game packet with an empty payload.
        let empty = data_header(from, Target::SERVER);
        assert!(matches!(
            Godot3Message::decode(&empty),
            Ok(Godot3Message::Data { payload: [], .. })
        ));
    }

    #[test]
    fn short_and_unknown_messages_are_rejected() {
        for len in 0..HEADER_LEN {
            let bytes = [0; HEADER_LEN];
            assert_eq!(Godot3Message::decode(&bytes[..len]), Err(Godot3Error::TooShort { len }));
        }
        for kind in [4, 7, 0xFF] {
            let mut bytes = Godot3System::PeerAdded(id(2)).to_bytes();
            bytes[0] = kind;
            assert_eq!(Godot3Message::decode(&bytes), Err(Godot3Error::UnknownType(kind)));
        }
    }

    #[test]
    fn system_messages_are_checked_strictly() {
        let good = Godot3System::PeerRemoved(id(9)).to_bytes();
        assert_eq!(Godot3Message::decode(&good[..12]), Err(Godot3Error::SystemLength { len: 12 }));
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(Godot3Message::decode(&long), Err(Godot3Error::SystemLength { len: 14 }));
        let mut spoofed = good;
        spoofed[1] = 2;
        assert_eq!(
            Godot3Message::decode(&spoofed),
            Err(Godot3Error::SystemNotFromServer { from: 2, to: 0 })
        );
        let mut aimed = good;
        aimed[5] = 7;
        assert_eq!(
            Godot3Message::decode(&aimed),
            Err(Godot3Error::SystemNotFromServer { from: 1, to: 7 })
        );
        for (kind, raw) in [(1u8, 0u32), (2, 1), (3, 1), (3, 0), (1, 0x8000_0000), (2, u32::MAX)] {
            let mut bytes = good;
            bytes[0] = kind;
            bytes[9..].copy_from_slice(&raw.to_le_bytes());
            assert_eq!(Godot3Message::decode(&bytes), Err(Godot3Error::InvalidPeerId(raw)));
        }
    }

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            Godot3Error::TooShort { len: 3 }.to_string(),
            "3-byte message (the header is 9 bytes)"
        );
        assert_eq!(Godot3Error::UnknownType(9).to_string(), "unknown message type 9");
        assert_eq!(
            Godot3Error::SystemNotFromServer { from: 2, to: 0 }.to_string(),
            "system message from 2 to 0 (expected from 1 to 0)"
        );
    }
}
