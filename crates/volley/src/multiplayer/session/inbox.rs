//! The ordered stream of packets and events waiting for the application.

use std::collections::VecDeque;

use crate::multiplayer::{Incoming, Packet, PacketInfo, PeerEvent};

/// Packets and events in arrival order, with the packet count kept so that
/// `available_packet_count` needs no scan.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    queue: VecDeque<Incoming>,
    packets: usize,
}

impl Inbox {
    pub(crate) fn push_packet(&mut self, packet: Packet) {
        self.packets += 1;
        self.queue.push_back(Incoming::Packet(packet));
    }

    pub(crate) fn push_event(&mut self, event: PeerEvent) {
        self.queue.push_back(Incoming::Event(event));
    }

    pub(crate) fn pop(&mut self) -> Option<Incoming> {
        let item = self.queue.pop_front()?;
        if matches!(item, Incoming::Packet(_)) {
            self.packets -= 1;
        }
        Some(item)
    }

    /// The first queued packet, past any events in front of it.
    pub(crate) fn peek_packet(&self) -> Option<PacketInfo> {
        self.queue.iter().find_map(|item| match item {
            Incoming::Packet(packet) => Some(packet.info()),
            Incoming::Event(_) => None,
        })
    }

    pub(crate) fn packet_count(&self) -> usize {
        self.packets
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.packets = 0;
    }
}

#[cfg(test)]
mod tests {
    use volley_proto::TransferMode;

    use super::*;
    use crate::multiplayer::PeerId;

    fn packet(payload: &[u8]) -> Packet {
        Packet {
            from: PeerId::SERVER,
            channel: 2,
            mode: TransferMode::Unreliable,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn packets_are_counted_and_peeked_past_events() {
        let mut inbox = Inbox::default();
        assert!(inbox.is_empty());
        inbox.push_event(PeerEvent::Connected(PeerId::SERVER));
        inbox.push_packet(packet(b"abc"));
        inbox.push_packet(packet(b"de"));
        assert_eq!(inbox.packet_count(), 2);
        assert_eq!(inbox.peek_packet().map(|info| info.len), Some(3));
        assert_eq!(inbox.pop(), Some(Incoming::Event(PeerEvent::Connected(PeerId::SERVER))));
        assert_eq!(inbox.packet_count(), 2);
        assert_eq!(inbox.pop(), Some(Incoming::Packet(packet(b"abc"))));
        assert_eq!(inbox.packet_count(), 1);
        inbox.clear();
        assert!(inbox.is_empty());
        assert_eq!(inbox.packet_count(), 0);
        assert_eq!(inbox.peek_packet(), None);
        assert_eq!(inbox.pop(), None);
    }
}
