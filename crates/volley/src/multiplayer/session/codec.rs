//! The framings as the core uses them: each link's packets are read and
//! written with the codec of its [`LinkFraming`]. A new framing (say
//! Godot 3 over WebSocket) adds its arm to each function here.

use std::ops::Deref;

use super::admission::Announcement;
use super::link::Lane;
use crate::multiplayer::framing::{LinkFraming, RelayHeader, SystemMessage, scene};
use crate::multiplayer::websocket::framing::godot3::{self, Godot3Message, Godot3System};

/// A system message, built on the stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Short {
    bytes: [u8; 16],
    len: usize,
}

impl Short {
    fn new(message: &[u8]) -> Self {
        let mut bytes = [0; 16];
        let len = message.len().min(bytes.len());
        bytes[..len].copy_from_slice(&message[..len]);
        Self { bytes, len }
    }
}

impl Deref for Short {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An announcement as `framing` sends it, and the lane it goes on.
pub(crate) fn announcement(framing: LinkFraming, announcement: Announcement) -> (Lane, Short) {
    match (framing, announcement) {
        (LinkFraming::EnetGodot3, Announcement::Added(id)) => {
            (Lane::System, Short::new(&SystemMessage::PeerAdded(id).to_bytes()))
        }
        (LinkFraming::EnetGodot3, Announcement::Removed(id)) => {
            (Lane::System, Short::new(&SystemMessage::PeerRemoved(id).to_bytes()))
        }
        (LinkFraming::WsGodot3, Announcement::Added(id)) => {
            (Lane::RELIABLE_0, Short::new(&Godot3System::PeerAdded(id).to_bytes()))
        }
        (LinkFraming::WsGodot3, Announcement::Removed(id)) => {
            (Lane::RELIABLE_0, Short::new(&Godot3System::PeerRemoved(id).to_bytes()))
        }
        (LinkFraming::Scene, Announcement::Added(id)) => {
            (Lane::RELIABLE_0, Short::new(&scene::add_peer(id)))
        }
        (LinkFraming::Scene, Announcement::Removed(id)) => {
            (Lane::RELIABLE_0, Short::new(&scene::del_peer(id)))
        }
    }
}

/// A Godot 3 packet, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Godot3Packet {
    /// A server's announcement.
    System(Announcement),
    /// Game data with its header; the user's bytes follow the header.
    Data(RelayHeader),
}

/// Reads a Godot 3 packet that came on `lane` of a link of `framing`;
/// `None` for a packet that breaks the framing.
pub(crate) fn decode_godot3(
    framing: LinkFraming,
    lane: Lane,
    packet: &[u8],
) -> Option<Godot3Packet> {
    match (framing, lane) {
        (LinkFraming::EnetGodot3, Lane::System) => match SystemMessage::decode(packet).ok()? {
            SystemMessage::PeerAdded(id) => Some(Godot3Packet::System(Announcement::Added(id))),
            SystemMessage::PeerRemoved(id) => Some(Godot3Packet::System(Announcement::Removed(id))),
        },
        (LinkFraming::EnetGodot3, Lane::User { .. }) => {
            RelayHeader::decode(packet).ok().map(|(header, _)| Godot3Packet::Data(header))
        }
        // One lane: system messages are typed messages. SYS_ID is the
        // transport's business, before the link is up.
        (LinkFraming::WsGodot3, _) => match Godot3Message::decode(packet).ok()? {
            Godot3Message::Data { header, .. } => Some(Godot3Packet::Data(header)),
            Godot3Message::System(Godot3System::PeerAdded(id)) if !id.is_server() => {
                Some(Godot3Packet::System(Announcement::Added(id)))
            }
            Godot3Message::System(Godot3System::PeerRemoved(id)) => {
                Some(Godot3Packet::System(Announcement::Removed(id)))
            }
            Godot3Message::System(_) => None,
        },
        (LinkFraming::Scene, _) => None,
    }
}

/// Bytes of Godot 3 framing in front of the user's bytes in a game packet
/// of `framing`.
pub(crate) fn godot3_header_len(framing: LinkFraming) -> usize {
    match framing {
        LinkFraming::EnetGodot3 => RelayHeader::LEN,
        LinkFraming::WsGodot3 => godot3::HEADER_LEN,
        LinkFraming::Scene => 0,
    }
}

/// Writes a Godot 3 game packet of `framing` into `out`: `header`, then
/// the user's bytes unchanged.
pub(crate) fn encode_godot3(
    framing: LinkFraming,
    out: &mut Vec<u8>,
    header: RelayHeader,
    user: &[u8],
) {
    out.clear();
    match framing {
        LinkFraming::EnetGodot3 => out.extend_from_slice(&header.to_bytes()),
        LinkFraming::WsGodot3 => out.extend_from_slice(&godot3::data_header_from_relay(header)),
        LinkFraming::Scene => {}
    }
    out.extend_from_slice(user);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiplayer::{PeerId, Target};

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn announcements_in_each_framing() {
        let (lane, bytes) = announcement(LinkFraming::EnetGodot3, Announcement::Added(id(0x2B)));
        assert_eq!((lane, &bytes[..]), (Lane::System, &[0, 0, 0, 0, 0x2B, 0, 0, 0][..]));
        let (lane, bytes) = announcement(LinkFraming::EnetGodot3, Announcement::Removed(id(0x2B)));
        assert_eq!((lane, &bytes[..]), (Lane::System, &[1, 0, 0, 0, 0x2B, 0, 0, 0][..]));
        let (lane, bytes) = announcement(LinkFraming::Scene, Announcement::Added(id(0x2B)));
        assert_eq!((lane, &bytes[..]), (Lane::RELIABLE_0, &[7, 1, 0x2B, 0, 0, 0][..]));
        let (lane, bytes) = announcement(LinkFraming::Scene, Announcement::Removed(id(0x2B)));
        assert_eq!((lane, &bytes[..]), (Lane::RELIABLE_0, &[7, 2, 0x2B, 0, 0, 0][..]));
    }

    #[test]
    fn godot3_packets_round_trip_over_enet() {
        let header = RelayHeader::new(id(2), Target::Broadcast);
        let mut frame = Vec::new();
        encode_godot3(LinkFraming::EnetGodot3, &mut frame, header, b"hi");
        assert_eq!(frame, [2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']);
        let user = Lane::User { channel: 0, mode: volley_proto::TransferMode::Reliable };
        assert_eq!(
            decode_godot3(LinkFraming::EnetGodot3, user, &frame),
            Some(Godot3Packet::Data(header))
        );
        assert_eq!(decode_godot3(LinkFraming::EnetGodot3, user, &frame[..7]), None);
        let added = SystemMessage::PeerAdded(id(5)).to_bytes();
        assert_eq!(
            decode_godot3(LinkFraming::EnetGodot3, Lane::System, &added),
            Some(Godot3Packet::System(Announcement::Added(id(5))))
        );
        assert_eq!(decode_godot3(LinkFraming::EnetGodot3, Lane::System, &frame), None);
        assert_eq!(decode_godot3(LinkFraming::Scene, user, &frame), None);
        assert_eq!(godot3_header_len(LinkFraming::EnetGodot3), 8);
    }

    #[test]
    fn godot3_over_websocket_has_a_type_byte_and_typed_system_messages() {
        let (lane, bytes) = announcement(LinkFraming::WsGodot3, Announcement::Added(id(0x2B)));
        assert_eq!(
            (lane, &bytes[..]),
            (Lane::RELIABLE_0, &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0x2B, 0, 0, 0][..])
        );
        let (lane, bytes) = announcement(LinkFraming::WsGodot3, Announcement::Removed(id(0x2B)));
        assert_eq!(
            (lane, &bytes[..]),
            (Lane::RELIABLE_0, &[2, 1, 0, 0, 0, 0, 0, 0, 0, 0x2B, 0, 0, 0][..])
        );
        let header = RelayHeader::new(id(0x2B), Target::AllExcept(id(0x5C)));
        let mut frame = Vec::new();
        encode_godot3(LinkFraming::WsGodot3, &mut frame, header, b"hi");
        assert_eq!(frame, [0, 0x2B, 0, 0, 0, 0xA4, 0xFF, 0xFF, 0xFF, b'h', b'i']);
        let lane = Lane::RELIABLE_0;
        assert_eq!(
            decode_godot3(LinkFraming::WsGodot3, lane, &frame),
            Some(Godot3Packet::Data(header))
        );
        assert_eq!(godot3_header_len(LinkFraming::WsGodot3), 9);
        assert_eq!(
            decode_godot3(LinkFraming::WsGodot3, lane, &bytes),
            Some(Godot3Packet::System(Announcement::Removed(id(0x2B))))
        );
        // SYS_ID and SYS_ADD(1) belong to the handshake, not the session.
        for system in [Godot3System::AssignId(id(7)), Godot3System::PeerAdded(PeerId::SERVER)] {
            assert_eq!(decode_godot3(LinkFraming::WsGodot3, lane, &system.to_bytes()), None);
        }
        assert_eq!(decode_godot3(LinkFraming::WsGodot3, lane, &frame[..8]), None);
    }
}
