//! The peer of a game with no network.

use std::time::Duration;

use volley_proto::TransferMode;

use super::{
    ConnectionStatus, DisconnectPeerError, Incoming, MultiplayerPeer, PacketInfo, PeerId,
    PollError, PutPacketError, Target,
};

/// A peer that is its own server with nobody connected: Godot's
/// `OfflineMultiplayerPeer`, the default before a game goes online.
///
/// It behaves as Godot's does — id 1, always connected, a server, never a
/// packet or event, polls that return at once, `close` that changes nothing —
/// with one deliberate difference: where Godot silently accepts and discards
/// a packet or a kick, Volley reports it, with
/// [`PutPacketError::Offline`] and [`DisconnectPeerError::UnknownPeer`].
///
/// ```
/// use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, OfflinePeer, PeerId, PutPacketError};
///
/// let mut peer = OfflinePeer::new();
/// assert_eq!(peer.unique_id(), PeerId::SERVER);
/// assert_eq!(peer.connection_status(), ConnectionStatus::Connected);
/// assert_eq!(peer.put_packet(b"hello?"), Err(PutPacketError::Offline));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfflinePeer {
    transfer_channel: u8,
    transfer_mode: TransferMode,
    refuse_new_connections: bool,
}

impl OfflinePeer {
    /// An offline peer with Godot's default settings: channel 0, reliable,
    /// accepting connections (of which none will come).
    pub fn new() -> Self {
        Self::default()
    }
}

impl MultiplayerPeer for OfflinePeer {
    fn transfer_channel(&self) -> u8 {
        self.transfer_channel
    }

    fn set_transfer_channel(&mut self, channel: u8) {
        self.transfer_channel = channel;
    }

    fn transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.transfer_mode = mode;
    }

    /// Accepted and ignored: whatever the target, nobody is there.
    fn set_target_peer(&mut self, _target: Target) {}

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new_connections
    }

    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.refuse_new_connections = refuse;
    }

    /// Always [`PeerId::SERVER`].
    fn unique_id(&self) -> PeerId {
        PeerId::SERVER
    }

    /// Always `true`: the offline game is its own authority.
    fn is_server(&self) -> bool {
        true
    }

    /// Always [`ConnectionStatus::Connected`].
    fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus::Connected
    }

    /// Always fails with [`PutPacketError::Offline`].
    fn put_packet(&mut self, _payload: &[u8]) -> Result<(), PutPacketError> {
        Err(PutPacketError::Offline)
    }

    /// 0, as in Godot: no packet can be sent.
    fn max_packet_size(&self) -> usize {
        0
    }

    /// Returns at once: nothing can arrive, so waiting would only stall
    /// the caller.
    fn poll_timeout(&mut self, _timeout: Duration) -> Result<(), PollError> {
        Ok(())
    }

    fn next_incoming(&mut self) -> Option<Incoming> {
        None
    }

    fn peek_packet(&self) -> Option<PacketInfo> {
        None
    }

    fn available_packet_count(&self) -> usize {
        0
    }

    /// Always fails with [`DisconnectPeerError::UnknownPeer`]: no peer is
    /// connected (and the server cannot disconnect itself).
    fn disconnect_peer(&mut self, peer: PeerId, _force: bool) -> Result<(), DisconnectPeerError> {
        Err(DisconnectPeerError::UnknownPeer(peer))
    }

    /// Does nothing: there is no session to end, so the peer stays
    /// connected, as Godot's does.
    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn defaults_match_godot() {
        let peer = OfflinePeer::new();
        assert_eq!(peer.transfer_channel(), 0);
        assert_eq!(peer.transfer_mode(), TransferMode::Reliable);
        assert!(!peer.is_refusing_new_connections());
        assert_eq!(peer, OfflinePeer::default());
    }

    #[test]
    fn settings_are_kept() {
        let mut peer = OfflinePeer::new();
        peer.set_transfer_channel(7);
        peer.set_transfer_mode(TransferMode::UnreliableOrdered);
        peer.set_refuse_new_connections(true);
        assert_eq!(peer.transfer_channel(), 7);
        assert_eq!(peer.transfer_mode(), TransferMode::UnreliableOrdered);
        assert!(peer.is_refusing_new_connections());
        peer.set_refuse_new_connections(false);
        assert!(!peer.is_refusing_new_connections());
    }

    #[test]
    fn is_a_connected_server_with_id_1() {
        let peer = OfflinePeer::new();
        assert_eq!(peer.unique_id(), PeerId::SERVER);
        assert!(peer.is_server());
        assert_eq!(peer.connection_status(), ConnectionStatus::Connected);
        assert!(!peer.is_server_relay_supported());
    }

    #[test]
    fn generates_client_ids_like_any_peer() {
        let fresh = OfflinePeer::new().generate_unique_id();
        assert!((2..=0x7FFF_FFFF).contains(&fresh.get()), "{fresh}");
    }

    #[test]
    fn sending_fails_whatever_the_target_or_size() {
        let mut peer = OfflinePeer::new();
        assert_eq!(peer.max_packet_size(), 0);
        for target in [Target::Broadcast, Target::SERVER, Target::Peer(id(2))] {
            peer.set_target_peer(target);
            assert_eq!(peer.put_packet(b""), Err(PutPacketError::Offline));
            assert_eq!(peer.put_packet(&[0; 2000]), Err(PutPacketError::Offline));
        }
    }

    #[test]
    fn nothing_ever_arrives() {
        let mut peer = OfflinePeer::new();
        peer.poll_timeout(Duration::ZERO).expect("offline poll succeeds");
        assert_eq!(peer.available_packet_count(), 0);
        assert_eq!(peer.peek_packet(), None);
        assert_eq!(peer.packet_peer(), None);
        assert_eq!(peer.packet_channel(), None);
        assert_eq!(peer.packet_mode(), None);
        assert_eq!(peer.next_incoming(), None);
        assert_eq!(peer.next_packet(), None);
        peer.recycle(vec![1, 2, 3]);
        assert_eq!(peer.next_packet(), None);
    }

    #[test]
    fn polls_return_at_once() {
        let mut peer = OfflinePeer::new();
        let start = Instant::now();
        peer.poll().expect("offline poll succeeds");
        peer.poll_timeout(Duration::from_secs(3600)).expect("offline poll succeeds");
        // Either call blocking as asked would take a second or an hour.
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn disconnecting_anyone_fails() {
        let mut peer = OfflinePeer::new();
        for (who, force) in [(id(2), false), (id(2), true), (PeerId::SERVER, false)] {
            assert_eq!(
                peer.disconnect_peer(who, force),
                Err(DisconnectPeerError::UnknownPeer(who))
            );
        }
    }

    #[test]
    fn close_changes_nothing() {
        let mut peer = OfflinePeer::new();
        peer.set_transfer_channel(2);
        let before = peer.clone();
        peer.close();
        assert_eq!(peer, before);
        assert_eq!(peer.connection_status(), ConnectionStatus::Connected);
        assert_eq!(peer.unique_id(), PeerId::SERVER);
        peer.poll_timeout(Duration::ZERO).expect("still usable after close");
    }
}
