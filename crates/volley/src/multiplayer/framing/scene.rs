//! Godot 4's SceneMultiplayer packets, as a server that is not Godot reads
//! and writes them: the same bytes on every transport (ENet, WebSocket,
//! WebRTC).
//!
//! Byte 0 of every packet is a command in its low three bits (flags above):
//! 0 remote call, 1 simplify path, 2 confirm path, 3 RAW (`send_bytes`),
//! 4 spawn, 5 despawn, 6 sync, 7 SYS. The session layer reads only SYS,
//! which Godot always writes as exactly `0x07`; everything else is the
//! application's (see [`ScenePacket::Other`]).
//!
//! | packet | bytes | sent by |
//! |---|---|---|
//! | authentication data | `07 00 <data…>` (data ≥ 1 byte) | either side, while pending |
//! | authentication done | `07 00` (exactly 2 bytes) | either side, once |
//! | peer added | `07 01 <id i32 LE>` | the server, to each client |
//! | peer removed | `07 02 <id i32 LE>` | the server, to each remaining client |
//! | relay | `07 03 <peer i32 LE> <inner packet ≥ 1 byte>` | a client (peer = destination), the server (peer = source) |
//! | `send_bytes` | `03 <data ≥ 1 byte>` | anyone |
//!
//! A relay's destination follows Godot's target integers: `N > 0` one peer,
//! `0` everyone, `-N` everyone but `N`.
//!
//! ```
//! use volley::multiplayer::PeerId;
//! use volley::multiplayer::framing::scene::{self, ScenePacket};
//!
//! // A (0x2B) sends "hi" to B (0x5C) with send_bytes: wrapped in a relay.
//! let from_a = [0x07, 0x03, 0x5C, 0, 0, 0, 0x03, b'h', b'i'];
//! assert_eq!(ScenePacket::decode(&from_a)?, ScenePacket::Relay { peer: 0x5C });
//! // The server rewrites the destination into the source and forwards it.
//! let mut to_b = from_a;
//! to_b[..scene::SYS_HEADER_LEN].copy_from_slice(&scene::relay_header(0x2B));
//! assert_eq!(to_b, [0x07, 0x03, 0x2B, 0, 0, 0, 0x03, b'h', b'i']);
//! assert_eq!(scene::add_peer(PeerId::try_from(0x2B_u32)?), [0x07, 0x01, 0x2B, 0, 0, 0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::multiplayer::PeerId;

/// The SYS command byte (`NETWORK_COMMAND_SYS`).
pub const SYS: u8 = 0x07;
/// The RAW command byte in front of `send_bytes` data (`NETWORK_COMMAND_RAW`).
pub const RAW: u8 = 0x03;
/// The bits of byte 0 that hold the command (`CMD_MASK`).
pub const COMMAND_MASK: u8 = 0x07;
/// `[07][sub-command][peer i32]`: the length of every SYS packet but the
/// authentication ones, and the offset of a relay's inner packet.
pub const SYS_HEADER_LEN: usize = 6;
/// `[07 00]`: authentication is done on the sending side; with more bytes
/// after it, the prefix of authentication data.
pub const AUTH_DONE: [u8; 2] = [SYS, SUB_AUTH];

const SUB_AUTH: u8 = 0;
const SUB_ADD_PEER: u8 = 1;
const SUB_DEL_PEER: u8 = 2;
const SUB_RELAY: u8 = 3;

/// What a SceneMultiplayer packet is, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenePacket {
    /// Not SYS: a remote call, a path-cache message, a spawn, despawn or
    /// sync, `send_bytes` data (`03 …`), or bytes of a Volley application.
    /// Opaque to the session: it is delivered or relayed byte for byte.
    Other,
    /// `07 00 …`: authentication. `done` for the 2-byte "done" packet;
    /// otherwise the data starts at byte 2.
    Auth {
        /// The sender finished authenticating this connection.
        done: bool,
    },
    /// `07 01 id`: the server announces a client.
    AddPeer(PeerId),
    /// `07 02 id`: the server says a client left.
    DelPeer(PeerId),
    /// `07 03 peer inner`: from a client, `peer` is the destination; from
    /// the server, the original sender. The inner packet starts at
    /// [`SYS_HEADER_LEN`].
    Relay {
        /// The destination or source, as Godot's signed target integer.
        peer: i32,
    },
}

impl ScenePacket {
    /// Reads a packet's kind, strictly: every length and id is checked.
    ///
    /// SYS is the first byte `0x07` exactly. Godot routes any first byte
    /// whose low three bits are 7 to SYS, but writes no SYS packet with
    /// flag bits set; Volley leaves such bytes to the application rather
    /// than read announcements or relays into them.
    pub fn decode(packet: &[u8]) -> Result<Self, ScenePacketError> {
        let Some(&first) = packet.first() else {
            return Err(ScenePacketError::Empty);
        };
        if !Self::is_sys(first) {
            return Ok(Self::Other);
        }
        let len = packet.len();
        let Some(&sub) = packet.get(1) else {
            return Err(ScenePacketError::TooShort { len });
        };
        if sub == SUB_AUTH {
            return Ok(Self::Auth { done: len == AUTH_DONE.len() });
        }
        let Some(&[i0, i1, i2, i3]) = packet.get(2..SYS_HEADER_LEN) else {
            return Err(ScenePacketError::TooShort { len });
        };
        let peer = i32::from_le_bytes([i0, i1, i2, i3]);
        let client = || match PeerId::try_from(peer) {
            Ok(id) if !id.is_server() => Ok(id),
            _ => Err(ScenePacketError::NotAClient(peer)),
        };
        match sub {
            SUB_ADD_PEER => client().map(Self::AddPeer),
            SUB_DEL_PEER => client().map(Self::DelPeer),
            SUB_RELAY if len > SYS_HEADER_LEN => Ok(Self::Relay { peer }),
            SUB_RELAY => Err(ScenePacketError::TooShort { len }),
            other => Err(ScenePacketError::UnknownSys(other)),
        }
    }

    /// Whether a payload's first byte is SceneMultiplayer's SYS command,
    /// `0x07`: such packets belong to the session layer.
    pub const fn is_sys(first_byte: u8) -> bool {
        first_byte == SYS
    }

    /// The command of a packet's first byte (its low three bits).
    pub const fn command(first_byte: u8) -> u8 {
        first_byte & COMMAND_MASK
    }
}

/// `07 01 id`: the server tells a client that `id` joined.
pub fn add_peer(id: PeerId) -> [u8; SYS_HEADER_LEN] {
    sys(SUB_ADD_PEER, i32::from(id))
}

/// `07 02 id`: the server tells a client that `id` left.
pub fn del_peer(id: PeerId) -> [u8; SYS_HEADER_LEN] {
    sys(SUB_DEL_PEER, i32::from(id))
}

/// `07 03 peer`: the header in front of a relayed inner packet (`peer` is
/// the destination from a client, the source from the server).
pub fn relay_header(peer: i32) -> [u8; SYS_HEADER_LEN] {
    sys(SUB_RELAY, peer)
}

fn sys(sub: u8, peer: i32) -> [u8; SYS_HEADER_LEN] {
    let [p0, p1, p2, p3] = peer.to_le_bytes();
    [SYS, sub, p0, p1, p2, p3]
}

/// A packet the session layer cannot read; drop it and count it (Godot
/// logs and drops these; it never disconnects for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScenePacketError {
    /// No bytes at all.
    Empty,
    /// A SYS packet shorter than its kind needs (6 bytes, 7 for a relay,
    /// 2 for authentication).
    TooShort {
        /// The packet's length.
        len: usize,
    },
    /// A SYS sub-command other than 0 to 3.
    UnknownSys(u8),
    /// An announcement naming something that is not a client id (≤ 1).
    NotAClient(i32),
}

impl fmt::Display for ScenePacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty SceneMultiplayer packet"),
            Self::TooShort { len } => write!(f, "SYS packet of {len} bytes is too short"),
            Self::UnknownSys(sub) => write!(f, "unknown SYS sub-command {sub}"),
            Self::NotAClient(peer) => write!(f, "announcement of {peer}, which is not a client id"),
        }
    }
}

impl std::error::Error for ScenePacketError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn announcements_match_the_reference_bytes() {
        assert_eq!(add_peer(id(0x2B)), [0x07, 0x01, 0x2B, 0x00, 0x00, 0x00]);
        assert_eq!(add_peer(id(0x5C)), [0x07, 0x01, 0x5C, 0x00, 0x00, 0x00]);
        assert_eq!(del_peer(id(0x2B)), [0x07, 0x02, 0x2B, 0x00, 0x00, 0x00]);
        assert_eq!(add_peer(PeerId::MAX), [0x07, 0x01, 0xFF, 0xFF, 0xFF, 0x7F]);
        for message in [add_peer(id(0x2B)), del_peer(PeerId::MAX)] {
            let decoded = ScenePacket::decode(&message).expect("valid");
            assert!(matches!(decoded, ScenePacket::AddPeer(_) | ScenePacket::DelPeer(_)));
        }
        assert_eq!(ScenePacket::decode(&add_peer(id(9))), Ok(ScenePacket::AddPeer(id(9))));
        assert_eq!(ScenePacket::decode(&del_peer(id(9))), Ok(ScenePacket::DelPeer(id(9))));
    }

    #[test]
    fn bytes_after_an_announcement_are_ignored_as_in_godot() {
        let long = [0x07, 0x01, 0x2B, 0, 0, 0, 0xEE, 0xEE];
        assert_eq!(ScenePacket::decode(&long), Ok(ScenePacket::AddPeer(id(0x2B))));
    }

    #[test]
    fn relay_headers_carry_signed_targets() {
        assert_eq!(relay_header(0), [0x07, 0x03, 0, 0, 0, 0]);
        assert_eq!(relay_header(-3), [0x07, 0x03, 0xFD, 0xFF, 0xFF, 0xFF]);
        assert_eq!(relay_header(0x5C), [0x07, 0x03, 0x5C, 0, 0, 0]);
        for peer in [0, 1, -1, -3, 0x5C, i32::MAX, i32::MIN] {
            let mut packet = relay_header(peer).to_vec();
            packet.push(RAW);
            assert_eq!(ScenePacket::decode(&packet), Ok(ScenePacket::Relay { peer }));
        }
    }

    /// §2.3 of the reference: A's broadcast `send_bytes("hi", 0)`.
    #[test]
    fn a_broadcast_send_bytes_is_a_relay_to_0() {
        let packet = [0x07, 0x03, 0x00, 0x00, 0x00, 0x00, 0x03, 0x68, 0x69];
        assert_eq!(ScenePacket::decode(&packet), Ok(ScenePacket::Relay { peer: 0 }));
        assert_eq!(ScenePacket::decode(&packet[SYS_HEADER_LEN..]), Ok(ScenePacket::Other));
    }

    #[test]
    fn authentication_packets_have_no_id() {
        assert_eq!(ScenePacket::decode(&AUTH_DONE), Ok(ScenePacket::Auth { done: true }));
        assert_eq!(ScenePacket::decode(&[0x07, 0x00, 0x42]), Ok(ScenePacket::Auth { done: false }));
    }

    #[test]
    fn everything_but_sys_is_opaque() {
        for first in [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x43, 0x6F, 0xFF] {
            let packet = [first, 0x01, 0x2B, 0, 0, 0];
            assert_eq!(ScenePacket::decode(&packet), Ok(ScenePacket::Other), "{first:#x}");
            assert!(!ScenePacket::is_sys(first));
        }
        assert!(ScenePacket::is_sys(0x07));
        assert_eq!(ScenePacket::command(0x0F), 7, "Godot would route this to SYS");
        assert_eq!(ScenePacket::command(0x4B), RAW);
    }

    #[test]
    fn malformed_sys_packets_are_typed_errors() {
        let cases: [(&[u8], ScenePacketError); 8] = [
            (&[], ScenePacketError::Empty),
            (&[0x07], ScenePacketError::TooShort { len: 1 }),
            (&[0x07, 0x01, 2, 0, 0], ScenePacketError::TooShort { len: 5 }),
            (&[0x07, 0x03, 2, 0, 0, 0], ScenePacketError::TooShort { len: 6 }),
            (&[0x07, 0x04, 2, 0, 0, 0], ScenePacketError::UnknownSys(4)),
            (&[0x07, 0x01, 1, 0, 0, 0], ScenePacketError::NotAClient(1)),
            (&[0x07, 0x02, 0, 0, 0, 0], ScenePacketError::NotAClient(0)),
            (&[0x07, 0x01, 0xFE, 0xFF, 0xFF, 0xFF], ScenePacketError::NotAClient(-2)),
        ];
        for (packet, error) in cases {
            assert_eq!(ScenePacket::decode(packet), Err(error), "{packet:x?}");
        }
        assert_eq!(ScenePacketError::Empty.to_string(), "empty SceneMultiplayer packet");
        assert_eq!(
            ScenePacketError::TooShort { len: 3 }.to_string(),
            "SYS packet of 3 bytes is too short"
        );
        assert_eq!(ScenePacketError::UnknownSys(9).to_string(), "unknown SYS sub-command 9");
        assert_eq!(
            ScenePacketError::NotAClient(1).to_string(),
            "announcement of 1, which is not a client id"
        );
    }
}
