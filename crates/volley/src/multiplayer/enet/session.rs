//! A peer's state apart from its host, and what it does with each event the
//! host reports: admitting newcomers, announcing them, relaying, delivering.

use std::collections::HashSet;
use std::net::SocketAddr;

use rand::rngs::SmallRng;
use volley_proto::{DisconnectReason, Event, PeerHandle, TransferMode};

use super::inbox::Inbox;
use super::roster::{Member, Roster, Stage};
use super::{CreateError, EnetPeerOptions, MultiplayerStats, Role};
use crate::Host;
use crate::multiplayer::framing::{
    ChannelKind, DropReason, RefuseReason, Relay, RelayHeader, SystemMessage, WireProfile,
    route_from_client,
};
use crate::multiplayer::{ConnectionStatus, Packet, PeerEvent, PeerId, Target, generate_unique_id};

/// Departed ids a client remembers (see [`ClientState::departed`]); the set
/// is emptied when it would grow past this, so a server cannot grow it
/// without bound.
const MAX_DEPARTED: usize = 1024;

/// What only a client keeps.
#[derive(Debug)]
pub(super) struct ClientState {
    pub(super) server_address: SocketAddr,
    pub(super) retries_left: u32,
    pub(super) rng: SmallRng,
    /// Other clients the server announced (relay profile).
    pub(super) relayed: HashSet<PeerId>,
    /// Clients the server announced as gone: a late relayed packet from one
    /// of them is dropped instead of resurrecting it.
    pub(super) departed: HashSet<PeerId>,
}

/// Everything but the host, so that event handlers can borrow both.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) role: Role,
    pub(super) profile: WireProfile,
    /// User channels `0..channels`.
    pub(super) channels: u8,
    pub(super) enet_channels: usize,
    pub(super) unique_id: PeerId,
    pub(super) status: ConnectionStatus,
    pub(super) transfer_channel: u8,
    pub(super) transfer_mode: TransferMode,
    pub(super) target: Target,
    pub(super) refuse_new_connections: bool,
    /// Relay profile, server: forward between clients and announce them.
    pub(super) relay: bool,
    pub(super) max_clients: usize,
    pub(super) max_packet_size: usize,
    pub(super) roster: Roster,
    pub(super) client: Option<ClientState>,
    pub(super) inbox: Inbox,
    /// Reused to put the relay header in front of outgoing payloads.
    pub(super) frame: Vec<u8>,
    pub(super) stats: MultiplayerStats,
    pub(super) refusal: Option<RefuseReason>,
    /// Set by event handlers when the application has something new to see:
    /// a queued item or a status change. Ends a waiting poll.
    pub(super) progress: bool,
}

/// What every role derives alike from its channel count and options.
#[derive(Debug, Clone, Copy)]
pub(super) struct Channels {
    /// User channels `0..user`.
    pub(super) user: u8,
    /// ENet channels the profile needs for them.
    pub(super) enet: usize,
    /// The largest user payload, after the profile's header.
    pub(super) max_packet_size: usize,
}

impl Channels {
    pub(super) fn new(
        profile: WireProfile,
        user: u8,
        options: &EnetPeerOptions,
    ) -> Result<Self, CreateError> {
        let max = profile.max_user_channel() + 1;
        let highest = user.checked_sub(1).filter(|&highest| highest < max);
        let Some(Ok(enet)) = highest.map(|highest| profile.enet_channel_count(highest)) else {
            return Err(CreateError::Channels { channels: user, max });
        };
        let max_packet_size =
            options.endpoint.get_max_packet_size().saturating_sub(profile.header_len());
        Ok(Self { user, enet: usize::from(enet), max_packet_size })
    }
}

impl Session {
    pub(super) fn new(
        role: Role,
        profile: WireProfile,
        channels: Channels,
        unique_id: PeerId,
    ) -> Self {
        Self {
            role,
            profile,
            channels: channels.user,
            enet_channels: channels.enet,
            unique_id,
            status: ConnectionStatus::Disconnected,
            transfer_channel: 0,
            transfer_mode: TransferMode::Reliable,
            target: Target::Broadcast,
            refuse_new_connections: false,
            relay: false,
            max_clients: 0,
            max_packet_size: channels.max_packet_size,
            roster: Roster::default(),
            client: None,
            inbox: Inbox::default(),
            frame: Vec::new(),
            stats: MultiplayerStats::default(),
            refusal: None,
            progress: false,
        }
    }

    /// DISCONNECT `data` on close: Godot 3 sends its own id, Godot 4 zero.
    pub(super) fn close_data(&self) -> u32 {
        match self.profile {
            WireProfile::Relay => self.unique_id.get(),
            WireProfile::Godot4 => 0,
        }
    }

    fn set_status(&mut self, status: ConnectionStatus) {
        if self.status != status {
            self.status = status;
            self.progress = true;
        }
    }

    fn emit(&mut self, event: PeerEvent) {
        self.inbox.push_event(event);
        self.progress = true;
    }

    /// Strips the framing and queues the packet for the application.
    fn deliver(&mut self, from: PeerId, channel: u8, mode: TransferMode, mut payload: Vec<u8>) {
        if self.profile == WireProfile::Relay {
            payload.drain(..RelayHeader::LEN.min(payload.len()));
        }
        self.inbox.push_packet(Packet { from, channel, mode, payload });
        self.progress = true;
    }

    // ------------------------------------------------------------- events

    pub(super) fn handle(&mut self, host: &mut Host, event: Event) {
        match event {
            Event::ConnectRequest { peer, data, channel_count, .. } => {
                self.on_connect_request(host, peer, data, channel_count);
            }
            Event::Connected { peer, .. } => self.on_connected(host, peer),
            Event::Disconnected { peer, reason, data } => {
                self.on_disconnected(host, peer, reason, data);
            }
            Event::Received { peer, channel, mode, payload } => {
                self.on_received(host, peer, channel, mode, payload);
            }
            _ => {}
        }
    }

    /// The id a newcomer may join with, or why it may not.
    fn admit(&self, data: u32, channel_count: usize) -> Result<PeerId, RefuseReason> {
        if self.role == Role::Client || self.refuse_new_connections {
            return Err(RefuseReason::RefusingConnections);
        }
        if self.role == Role::Server && self.roster.len() >= self.max_clients {
            return Err(RefuseReason::ServerFull);
        }
        if channel_count < usize::from(self.profile.reserved_channels()) {
            return Err(RefuseReason::TooFewChannels);
        }
        let id = match PeerId::try_from(data) {
            // Only the server is 1; mesh ids are the application's choice.
            Ok(id) if !(self.role == Role::Server && id.is_server()) => id,
            _ => return Err(RefuseReason::InvalidId),
        };
        if id == self.unique_id || self.roster.contains_id(id) {
            return Err(RefuseReason::DuplicateId);
        }
        Ok(id)
    }

    fn on_connect_request(&mut self, host: &Host, peer: PeerHandle, data: u32, channels: usize) {
        self.forget_failed_handshakes(host);
        match self.admit(data, channels) {
            Ok(id) => {
                if host.accept(peer).is_ok() {
                    self.roster.insert(peer, id);
                }
            }
            Err(reason) => {
                // Refusing fails only for a request that is already gone.
                if host.refuse(peer, reason.code()).is_ok() {
                    self.stats.connections_refused += 1;
                }
            }
        }
    }

    /// The engine drops an accepted connection whose handshake fails (the
    /// remote vanishes before acknowledging) without an event; forget such
    /// members before counting clients or checking ids, or they would hold
    /// their id and a client slot forever.
    pub(super) fn forget_failed_handshakes(&mut self, host: &Host) {
        self.roster.retain(|m| m.stage != Stage::Joining || host.peer_state(m.handle).is_some());
    }

    fn on_connected(&mut self, host: &Host, peer: PeerHandle) {
        let Some(before) = self.roster.set_stage(peer, Stage::Connected) else { return };
        match self.role {
            Role::Client => {
                self.set_status(ConnectionStatus::Connected);
                self.emit(PeerEvent::Connected(PeerId::SERVER));
            }
            Role::Server => {
                self.emit(PeerEvent::Connected(before.id));
                if self.relay {
                    self.announce_join(host, before);
                }
            }
            Role::Mesh => self.emit(PeerEvent::Connected(before.id)),
        }
    }

    /// Tells the newcomer about every other client, and them about it.
    fn announce_join(&mut self, host: &Host, newcomer: Member) {
        let added = SystemMessage::PeerAdded(newcomer.id);
        for other in self.roster.connected_members().filter(|m| m.id != newcomer.id) {
            let told_newcomer =
                send_system(host, newcomer.handle, SystemMessage::PeerAdded(other.id));
            let told_other = send_system(host, other.handle, added);
            self.stats.copies_failed += u64::from(!told_newcomer) + u64::from(!told_other);
        }
    }

    /// Tells every remaining client that `gone` left.
    pub(super) fn announce_leave(&mut self, host: &Host, gone: PeerId) {
        for member in self.roster.connected_members() {
            let sent = send_system(host, member.handle, SystemMessage::PeerRemoved(gone));
            self.stats.copies_failed += u64::from(!sent);
        }
    }

    fn on_disconnected(
        &mut self,
        host: &Host,
        peer: PeerHandle,
        reason: DisconnectReason,
        data: u32,
    ) {
        let Some(member) = self.roster.remove(peer) else { return };
        let joined = member.stage != Stage::Joining;
        if !joined && reason == DisconnectReason::Refused {
            self.refusal = RefuseReason::from_code(data);
        }
        match self.role {
            Role::Client if joined => self.end_client_session(),
            Role::Client => {
                if !self.retry_with_new_id(host) {
                    self.set_status(ConnectionStatus::Disconnected);
                }
            }
            Role::Server | Role::Mesh if joined => {
                // Only a relay server has `relay` set.
                self.emit(PeerEvent::Disconnected(member.id));
                if self.relay {
                    self.announce_leave(host, member.id);
                }
            }
            Role::Server | Role::Mesh => {}
        }
    }

    /// After a refusal, dials again with a fresh id if the reason calls for
    /// it and retries are left. Returns whether a new attempt started.
    fn retry_with_new_id(&mut self, host: &Host) -> bool {
        let Some(client) = self.client.as_mut() else { return false };
        let retry = self.refusal.is_some_and(RefuseReason::retry_with_new_id);
        if !retry || client.retries_left == 0 {
            return false;
        }
        client.retries_left -= 1;
        let id = generate_unique_id(&mut client.rng);
        match host.connect(client.server_address, self.enet_channels, id.get()) {
            Ok(handle) => {
                self.unique_id = id;
                self.refusal = None;
                self.roster.insert(handle, PeerId::SERVER);
                true
            }
            Err(_) => false,
        }
    }

    /// The server is gone: the others reached through it are gone too.
    fn end_client_session(&mut self) {
        if let Some(client) = self.client.as_mut() {
            let mut gone: Vec<PeerId> = client.relayed.drain().collect();
            client.departed.clear();
            gone.sort_unstable();
            for id in gone {
                self.emit(PeerEvent::Disconnected(id));
            }
        }
        self.emit(PeerEvent::Disconnected(PeerId::SERVER));
        self.set_status(ConnectionStatus::Disconnected);
    }

    fn on_received(
        &mut self,
        host: &mut Host,
        peer: PeerHandle,
        channel: u8,
        mode: TransferMode,
        payload: Vec<u8>,
    ) {
        let Some(member) = self.roster.get(peer) else {
            host.recycle(payload);
            return;
        };
        match (self.profile.channel_kind(channel), self.profile) {
            (Ok(ChannelKind::User(user)), WireProfile::Godot4) => {
                self.deliver(member.id, user, mode, payload);
            }
            (Ok(ChannelKind::User(user)), WireProfile::Relay) => {
                self.on_relay_packet(host, member, channel, user, mode, payload);
            }
            (Ok(ChannelKind::System), _) if self.role == Role::Client => {
                self.on_system_message(&payload);
                host.recycle(payload);
            }
            // System messages only flow from a server to its clients.
            (Ok(ChannelKind::System), _) | (Err(_), _) => {
                self.stats.dropped_malformed += 1;
                host.recycle(payload);
            }
        }
    }

    fn on_relay_packet(
        &mut self,
        host: &mut Host,
        member: Member,
        enet_channel: u8,
        user_channel: u8,
        mode: TransferMode,
        payload: Vec<u8>,
    ) {
        let Ok((header, _)) = RelayHeader::decode(&payload) else {
            self.stats.dropped_malformed += 1;
            host.recycle(payload);
            return;
        };
        let from = match self.role {
            Role::Server => {
                let relay = route_from_client(member.id, header, self.relay, |id| {
                    self.roster.connected(id).is_some()
                });
                self.forward(host, member.id, relay, enet_channel, mode, &payload);
                if !relay.for_server() {
                    host.recycle(payload);
                    return;
                }
                member.id
            }
            Role::Mesh if header.source != member.id.get() => {
                self.stats.dropped_spoofed += 1;
                host.recycle(payload);
                return;
            }
            Role::Mesh => member.id,
            Role::Client => match self.relayed_source(header) {
                Some(source) => source,
                None => {
                    host.recycle(payload);
                    return;
                }
            },
        };
        self.deliver(from, user_channel, mode, payload);
    }

    /// Sends the copies `relay` calls for, the original bytes on the same
    /// channel with the same mode, and counts what happened.
    fn forward(
        &mut self,
        host: &Host,
        sender: PeerId,
        relay: Relay,
        enet_channel: u8,
        mode: TransferMode,
        packet: &[u8],
    ) {
        match relay {
            Relay::Drop(DropReason::SpoofedSource { .. }) => self.stats.dropped_spoofed += 1,
            Relay::Drop(_) => self.stats.dropped_unroutable += 1,
            Relay::ToServer => {}
            Relay::Forward(_) | Relay::Broadcast { .. } => {
                for member in self.roster.connected_members() {
                    if !relay.copies_to(sender, member.id) {
                        continue;
                    }
                    match host.send(member.handle, enet_channel, mode, packet) {
                        Ok(()) => self.stats.packets_relayed += 1,
                        Err(_) => self.stats.copies_failed += 1,
                    }
                }
            }
        }
    }

    /// The sender of a packet a client received from its server, or `None`
    /// (counted) if it must be dropped.
    fn relayed_source(&mut self, header: RelayHeader) -> Option<PeerId> {
        let source = match header.sender() {
            Ok(source) if source != self.unique_id => source,
            _ => {
                self.stats.dropped_malformed += 1;
                return None;
            }
        };
        let client = self.client.as_mut()?;
        if source.is_server() || client.relayed.contains(&source) {
            return Some(source);
        }
        if client.departed.contains(&source) {
            self.stats.dropped_departed += 1;
            return None;
        }
        // The announcement travels on another ENet channel, so under loss a
        // packet can overtake it: announce the peer now, so its packets
        // never come before its Connected.
        client.relayed.insert(source);
        self.emit(PeerEvent::Connected(source));
        Some(source)
    }

    fn on_system_message(&mut self, payload: &[u8]) {
        let Ok(message) = SystemMessage::decode(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let own_id = self.unique_id;
        let Some(client) = self.client.as_mut() else { return };
        match message {
            SystemMessage::PeerAdded(id) => {
                client.departed.remove(&id);
                if id != own_id && client.relayed.insert(id) {
                    self.emit(PeerEvent::Connected(id));
                }
            }
            SystemMessage::PeerRemoved(id) => {
                if client.departed.len() >= MAX_DEPARTED {
                    client.departed.clear();
                }
                client.departed.insert(id);
                if client.relayed.remove(&id) {
                    self.emit(PeerEvent::Disconnected(id));
                }
            }
        }
    }
}

/// Sends a relay-profile system message; returns whether it was queued.
fn send_system(host: &Host, to: PeerHandle, message: SystemMessage) -> bool {
    host.send(to, 0, TransferMode::Reliable, &message.to_bytes()).is_ok()
}
