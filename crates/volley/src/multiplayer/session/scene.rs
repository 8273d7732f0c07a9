//! Godot 4's session protocol (SceneMultiplayer): what the core does with a
//! received packet in the godot4 profile — authentication, announcements,
//! the server's relay with source rewriting, a client's relayed packets,
//! RAW delivery.

use super::admission::Announcement;
use super::link::{Lane, LinkId, Links};
use super::roster::{Member, Stage};
use super::{Core, Role};
use crate::multiplayer::framing::scene::{self, ScenePacket};
use crate::multiplayer::{PeerId, Target};

impl Core {
    pub(super) fn on_scene(
        &mut self,
        links: &mut dyn Links,
        member: Member,
        lane: Lane,
        payload: Vec<u8>,
    ) {
        let transport = member.link.transport;
        let Ok(packet) = ScenePacket::decode(&payload) else {
            self.stats.dropped_malformed += 1;
            links.recycle(transport, payload);
            return;
        };
        if member.stage == Stage::Authenticating {
            // A pending peer may only authenticate.
            match packet {
                ScenePacket::Auth { done: true } => {
                    links.recycle(transport, payload);
                    self.on_remote_auth_done(links, member);
                }
                ScenePacket::Auth { done: false } => self.queue_auth_message(member, payload),
                _ => {
                    self.stats.dropped_pending += 1;
                    links.recycle(transport, payload);
                }
            }
            return;
        }
        match packet {
            ScenePacket::Other => {
                self.deliver_scene(links, member.link, member.id, lane, payload, 0)
            }
            ScenePacket::Relay { peer } if self.role == Role::Server => {
                self.relay_from_client(links, member, lane, peer, payload);
            }
            ScenePacket::Relay { peer } if self.hears_relay() => {
                self.relayed_by_server(links, member.link, lane, peer, payload);
            }
            ScenePacket::AddPeer(id) if self.hears_relay() => {
                links.recycle(transport, payload);
                self.on_announcement(Announcement::Added(id));
            }
            ScenePacket::DelPeer(id) if self.hears_relay() => {
                links.recycle(transport, payload);
                self.on_announcement(Announcement::Removed(id));
            }
            // After admission a stray "completed" is ignored, as in Godot.
            ScenePacket::Auth { done: true } => links.recycle(transport, payload),
            // Authentication data after admission; announcements and relays
            // from anyone but a relaying server (or to a mesh peer).
            _ => {
                self.stats.dropped_malformed += 1;
                links.recycle(transport, payload);
            }
        }
    }

    /// A client that relays through its server: it hears announcements and
    /// relayed packets, from its only link, the server.
    fn hears_relay(&self) -> bool {
        self.role == Role::Client && self.relay
    }

    /// The server's relay: `07 03 dst inner` from `sender` becomes
    /// `07 03 src inner` (src from the link, never from the bytes), sent on
    /// the lane it came on to `dst`, or for `dst ≤ 0` to every client but
    /// the sender and `-dst`; the server takes the inner packet itself when
    /// `dst ≤ 0` and `dst ≠ -1`.
    fn relay_from_client(
        &mut self,
        links: &mut dyn Links,
        sender: Member,
        lane: Lane,
        destination: i32,
        mut packet: Vec<u8>,
    ) {
        let transport = sender.link.transport;
        crate::trace::relay!(from = %sender.id, destination, relay = self.relay, "relay request");
        let target = match Target::try_from(destination) {
            Ok(target) if self.relay => target,
            // Relay off, or -2^31, which names no peer.
            _ => {
                self.stats.dropped_unroutable += 1;
                links.recycle(transport, packet);
                return;
            }
        };
        packet[..scene::SYS_HEADER_LEN].copy_from_slice(&scene::relay_header(i32::from(sender.id)));
        let (consume, except) = match target {
            Target::Peer(id) => {
                // Gone in transit, or the server (no client has id 1): dropped.
                match self.roster.connected(id) {
                    Some(to) => match links.send(to.link, lane, &packet) {
                        Ok(()) => self.stats.packets_relayed += 1,
                        Err(_) => self.stats.copies_failed += 1,
                    },
                    None => self.stats.dropped_unroutable += 1,
                }
                links.recycle(transport, packet);
                return;
            }
            Target::Broadcast => (true, None),
            Target::AllExcept(id) => (!id.is_server(), Some(id)),
        };
        for member in self.roster.connected_members() {
            if member.id == sender.id || Some(member.id) == except {
                continue;
            }
            match links.send(member.link, lane, &packet) {
                Ok(()) => self.stats.packets_relayed += 1,
                Err(_) => self.stats.copies_failed += 1,
            }
        }
        if consume {
            self.deliver_scene(links, sender.link, sender.id, lane, packet, scene::SYS_HEADER_LEN);
        } else {
            links.recycle(transport, packet);
        }
    }

    /// `07 03 src inner` from the server: the inner packet, from `src`.
    fn relayed_by_server(
        &mut self,
        links: &mut dyn Links,
        server: LinkId,
        lane: Lane,
        source: i32,
        packet: Vec<u8>,
    ) {
        match self.relayed_source(PeerId::try_from(source).ok()) {
            Some(from) => {
                self.deliver_scene(links, server, from, lane, packet, scene::SYS_HEADER_LEN)
            }
            None => links.recycle(server.transport, packet),
        }
    }

    /// Queues a Godot 4 packet whose game bytes start at `offset`; with RAW
    /// packets on, only `send_bytes` data (`03 …`) is delivered, without
    /// its `03`.
    fn deliver_scene(
        &mut self,
        links: &mut dyn Links,
        link: LinkId,
        from: PeerId,
        lane: Lane,
        packet: Vec<u8>,
        mut offset: usize,
    ) {
        if self.raw {
            // Godot drops RAW packets without data too.
            let is_raw = packet.get(offset) == Some(&scene::RAW) && packet.len() > offset + 1;
            if !is_raw {
                self.stats.dropped_not_raw += 1;
                links.recycle(link.transport, packet);
                return;
            }
            offset += 1;
        }
        self.deliver(link, from, lane, packet, offset);
    }
}
