//! What the core does with a received packet: Godot 3's checks and relay
//! (Godot 4's are in `scene`), and delivery to the application.

use super::codec::{self, Godot3Packet};
use super::link::{Lane, LinkId, Links};
use super::roster::{Member, Stage};
use super::{Core, Role};
use crate::multiplayer::framing::{DropReason, Relay, RelayHeader, WireProfile, route_from_client};
use crate::multiplayer::{Packet, PeerId};

impl Core {
    pub(super) fn on_received(
        &mut self,
        links: &mut dyn Links,
        link: LinkId,
        lane: Lane,
        payload: Vec<u8>,
    ) {
        let Some(member) = self.roster.get(link) else {
            links.recycle(link.transport, payload);
            return;
        };
        if !member.admitted && member.stage != Stage::Authenticating {
            // Not in yet, or turned away before it got in.
            self.stats.dropped_pending += 1;
            links.recycle(link.transport, payload);
            return;
        }
        match self.profile {
            WireProfile::Relay => self.on_godot3(links, member, lane, payload),
            WireProfile::Godot4 => self.on_scene(links, member, lane, payload),
        }
    }

    fn on_godot3(&mut self, links: &mut dyn Links, member: Member, lane: Lane, payload: Vec<u8>) {
        let framing = links.framing(member.link);
        match codec::decode_godot3(framing, lane, &payload) {
            Some(Godot3Packet::Data(header)) => {
                self.on_godot3_data(links, member, lane, header, payload);
            }
            Some(Godot3Packet::System(announcement)) if self.role == Role::Client => {
                self.on_announcement(announcement);
                links.recycle(member.link.transport, payload);
            }
            // System messages only flow from a server to its clients.
            Some(Godot3Packet::System(_)) | None => {
                self.stats.dropped_malformed += 1;
                links.recycle(member.link.transport, payload);
            }
        }
    }

    fn on_godot3_data(
        &mut self,
        links: &mut dyn Links,
        member: Member,
        lane: Lane,
        header: RelayHeader,
        payload: Vec<u8>,
    ) {
        let from = match self.role {
            Role::Server => {
                let relay = route_from_client(member.id, header, self.relay, |id| {
                    self.roster.connected(id).is_some()
                });
                self.forward_godot3(links, member, relay, lane, header, &payload);
                if !relay.for_server() {
                    links.recycle(member.link.transport, payload);
                    return;
                }
                member.id
            }
            Role::Mesh if header.source != member.id.get() => {
                self.stats.dropped_spoofed += 1;
                links.recycle(member.link.transport, payload);
                return;
            }
            Role::Mesh => member.id,
            Role::Client => match self.relayed_source(header.sender().ok()) {
                Some(source) => source,
                None => {
                    links.recycle(member.link.transport, payload);
                    return;
                }
            },
        };
        let header_len = codec::godot3_header_len(links.framing(member.link));
        self.deliver(member.link, from, lane, payload, header_len);
    }

    /// Sends the copies `relay` calls for, on the lane the packet came on,
    /// and counts what happened. A destination of the sender's framing gets
    /// the original bytes; another framing gets them re-framed around the
    /// same header and user bytes.
    fn forward_godot3(
        &mut self,
        links: &mut dyn Links,
        sender: Member,
        relay: Relay,
        lane: Lane,
        header: RelayHeader,
        packet: &[u8],
    ) {
        crate::trace::relay!(from = %sender.id, ?relay, len = packet.len(), "relay decision");
        match relay {
            Relay::Drop(DropReason::SpoofedSource { .. }) => self.stats.dropped_spoofed += 1,
            Relay::Drop(_) => self.stats.dropped_unroutable += 1,
            Relay::ToServer => {}
            Relay::Forward(_) | Relay::Broadcast { .. } => {
                let source_framing = links.framing(sender.link);
                let user = &packet[codec::godot3_header_len(source_framing).min(packet.len())..];
                let mut framed_for = None;
                for member in self.roster.connected_members() {
                    if !relay.copies_to(sender.id, member.id) {
                        continue;
                    }
                    let framing = links.framing(member.link);
                    let bytes = if framing == source_framing {
                        packet
                    } else {
                        if framed_for != Some(framing) {
                            codec::encode_godot3(framing, &mut self.frame, header, user);
                            framed_for = Some(framing);
                        }
                        &self.frame[..]
                    };
                    match links.send(member.link, lane, bytes) {
                        Ok(()) => self.stats.packets_relayed += 1,
                        Err(_) => self.stats.copies_failed += 1,
                    }
                }
            }
        }
    }

    /// Strips `framing_len` bytes of framing and queues the packet for the
    /// application.
    pub(super) fn deliver(
        &mut self,
        link: LinkId,
        from: PeerId,
        lane: Lane,
        mut payload: Vec<u8>,
        framing_len: usize,
    ) {
        // Game packets travel on user lanes; a system lane has no channel.
        let (channel, mode) = match lane {
            Lane::User { channel, mode } => (channel, mode),
            Lane::System => (0, volley_proto::TransferMode::Reliable),
        };
        payload.drain(..framing_len.min(payload.len()));
        self.lend(link.transport);
        self.inbox.push_packet(Packet { from, channel, mode, payload });
        self.progress = true;
    }
}
