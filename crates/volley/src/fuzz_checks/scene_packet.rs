//! Reading arbitrary payloads as Godot 4 SceneMultiplayer packets.

use crate::multiplayer::framing::scene::{self, ScenePacket, ScenePacketError};

/// Decodes `data` as a SceneMultiplayer packet, and a relay's inner packet
/// in turn. The kind must follow from the bytes (SYS is the first byte
/// `0x07` exactly), and every SYS packet Volley reads must begin with the
/// bytes Volley's encoder writes for it: the session relies on this when
/// it rewrites a relay header in place.
pub fn scene_packet(data: &[u8]) {
    let decoded = ScenePacket::decode(data);
    if let Err(error) = decoded {
        // Every error names itself without panicking.
        let _ = error.to_string();
    }
    match decoded {
        Err(ScenePacketError::Empty) => assert!(data.is_empty(), "non-empty packet read as empty"),
        Err(ScenePacketError::TooShort { len }) => {
            assert_eq!(len, data.len(), "a short packet misreports its length");
            assert!(len <= scene::SYS_HEADER_LEN, "a relay with an inner byte read as short");
        }
        Err(ScenePacketError::UnknownSys(sub)) => {
            assert_eq!(data.get(1), Some(&sub), "the unknown sub-command is not byte 1");
            assert!(sub > 3, "a known sub-command reported as unknown");
        }
        Err(ScenePacketError::NotAClient(peer)) => {
            assert!(peer <= 1, "a client id {peer} refused as an announcement");
        }
        Ok(ScenePacket::Other) => {
            assert!(data.first().is_some_and(|&b| b != scene::SYS), "SYS read as opaque");
        }
        Ok(ScenePacket::Auth { done }) => {
            assert_eq!(data.get(..2), Some(&scene::AUTH_DONE[..]), "not an AUTH packet");
            assert_eq!(done, data.len() == scene::AUTH_DONE.len(), "done means exactly 07 00");
        }
        Ok(ScenePacket::AddPeer(id)) => {
            assert!(!id.is_server(), "the server announced as a client");
            assert_eq!(&scene::add_peer(id)[..], &data[..scene::SYS_HEADER_LEN]);
        }
        Ok(ScenePacket::DelPeer(id)) => {
            assert!(!id.is_server(), "the server announced as leaving");
            assert_eq!(&scene::del_peer(id)[..], &data[..scene::SYS_HEADER_LEN]);
        }
        Ok(ScenePacket::Relay { peer }) => {
            let (header, inner) = data.split_at(scene::SYS_HEADER_LEN);
            assert_eq!(scene::relay_header(peer), header, "a relay header re-encodes differently");
            assert!(!inner.is_empty(), "a relay without an inner packet");
            // The server reads the inner packet when it is the destination.
            scene_packet(inner);
        }
    }
}
