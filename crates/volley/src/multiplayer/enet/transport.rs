//! ENet as a session transport: one [`Host`], its peers as links.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::event::Event as Readiness;
use volley_proto::constants::MAX_PEERS;
use volley_proto::{
    DisconnectReason, EndpointConfig, Event, PeerHandle, PeerStats, SendError, TransferMode,
};

use super::EnetListener;
use crate::multiplayer::PeerId;
use crate::multiplayer::framing::{ChannelKind, LinkFraming, RefuseReason, WireProfile};
use crate::multiplayer::session::CreateError;
use crate::multiplayer::session::link::{
    Departure, DownCause, IdClaim, Lane, LinkEvent, LinkId, LinkSendError, Links,
};
use crate::multiplayer::session::transport::{Tokens, Transport};
use crate::socket::SocketConfig;
use crate::{Host, HostConfig, HostError};

/// Peer slots a server keeps beyond `max_clients`, so that a newcomer
/// arriving when the server is full still gets a slot to be refused from
/// (with [`RefuseReason::ServerFull`]) instead of being ignored until it
/// times out. Refusing frees the slot at once, so a few cover bursts.
const REFUSAL_SLOTS: usize = 16;

/// One ENet peer the transport reported as a link.
#[derive(Debug, Clone, Copy)]
struct Slot {
    handle: PeerHandle,
    /// Accepted or dialled, not yet connected.
    joining: bool,
}

/// An ENet host whose peers are a session's links; a link's slot is its
/// peer's slot index in the host.
#[derive(Debug)]
pub(crate) struct EnetTransport {
    index: u16,
    host: Host,
    profile: WireProfile,
    framing: LinkFraming,
    enet_channels: usize,
    max_frame_size: usize,
    slots: Vec<Option<Slot>>,
    /// Events translated and not yet taken: those of a pump, and links
    /// found vanished ahead of the event that revealed them.
    queue: VecDeque<LinkEvent>,
    /// A client's server, dialled again when it refuses an id.
    server: Option<SocketAddr>,
}

impl EnetTransport {
    /// A host on `bind` that leaves every CONNECT to the session, with the
    /// ENet channels `channels` user channels need in `profile`.
    pub(crate) fn open(
        index: u16,
        bind: SocketAddr,
        dual_stack: bool,
        mut endpoint: EndpointConfig,
        profile: WireProfile,
        channels: u8,
    ) -> Result<Self, CreateError> {
        let enet = profile
            .enet_channel_count(channels.saturating_sub(1))
            .map_err(|_| CreateError::Channels { channels, max: profile.max_user_channel() + 1 })?;
        let enet_channels = usize::from(enet);
        let max_frame_size = endpoint.get_max_packet_size();
        endpoint.channel_limit(enet_channels).manual_accept(true);
        let mut config = HostConfig::server(bind);
        config.socket(SocketConfig::new(bind).dual_stack(dual_stack));
        *config.endpoint() = endpoint;
        let host = Host::new(config)?;
        let framing = match profile {
            WireProfile::Relay => LinkFraming::EnetGodot3,
            WireProfile::Godot4 => LinkFraming::Scene,
        };
        Ok(Self {
            index,
            host,
            profile,
            framing,
            enet_channels,
            max_frame_size,
            slots: Vec::new(),
            queue: VecDeque::new(),
            server: None,
        })
    }

    /// A server's listener, with room for `max_clients` and a few slots to
    /// refuse newcomers from.
    pub(crate) fn listen(
        index: u16,
        listener: &EnetListener,
        profile: WireProfile,
        channels: u8,
        max_clients: usize,
    ) -> Result<Self, CreateError> {
        let mut endpoint = listener.endpoint.clone();
        endpoint.peer_limit((max_clients + REFUSAL_SLOTS).min(MAX_PEERS));
        Self::open(index, listener.bind, listener.dual_stack, endpoint, profile, channels)
    }

    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    pub(crate) fn host_mut(&mut self) -> &mut Host {
        &mut self.host
    }

    /// Dials `address`, offering `id` in the CONNECT.
    pub(crate) fn dial(&mut self, address: SocketAddr, id: PeerId) -> Result<LinkId, HostError> {
        let handle = self.host.connect(address, self.enet_channels, id.get())?;
        Ok(self.occupy(handle))
    }

    /// Makes this a client of `server`: refused ids are retried there.
    pub(crate) fn set_server(&mut self, server: SocketAddr) {
        self.server = Some(server);
    }

    /// Translates an engine event into its link event. Events of links
    /// that vanished, reported first, go to the queue, and then this one
    /// with them: `None` means "take them from the queue" (or nothing
    /// concerns a link).
    pub(crate) fn translate(&mut self, event: Event) -> Option<LinkEvent> {
        match event {
            Event::ConnectRequest { peer, data, channel_count, .. } => {
                let queued = self.queue.len();
                self.forget_vanished();
                let link = self.occupy(peer);
                let reserved = usize::from(self.profile.reserved_channels());
                let objection = (channel_count < reserved).then_some(RefuseReason::TooFewChannels);
                let claim = IdClaim::Offered(data);
                let request = LinkEvent::JoinRequest { link, claim, objection };
                if self.queue.len() == queued {
                    return Some(request);
                }
                self.queue.push_back(request);
                None
            }
            Event::Connected { peer, .. } => {
                let link = self.link_of(peer)?;
                if let Some(Some(slot)) = self.slots.get_mut(slot_index(link)) {
                    slot.joining = false;
                }
                Some(LinkEvent::Up { link, assigned_id: None })
            }
            Event::Disconnected { peer, reason, data } => {
                let link = self.link_of(peer)?;
                self.free(link);
                let cause = match reason {
                    DisconnectReason::Refused => DownCause::Refused(data),
                    DisconnectReason::Remote => DownCause::Remote(data),
                    DisconnectReason::Local => DownCause::Local,
                    _ => DownCause::TimedOut,
                };
                Some(LinkEvent::Down { link, cause })
            }
            Event::Received { peer, channel, mode, payload } => {
                let Some(link) = self.link_of(peer) else {
                    self.host.recycle(payload);
                    return None;
                };
                let lane = match self.profile.channel_kind(channel) {
                    Ok(ChannelKind::System) => Lane::System,
                    Ok(ChannelKind::User(channel)) => Lane::User { channel, mode },
                    Err(_) => {
                        self.host.recycle(payload);
                        return Some(LinkEvent::Malformed { link });
                    }
                };
                Some(LinkEvent::Received { link, lane, payload })
            }
            _ => None,
        }
    }

    /// The next event already translated, without asking the host.
    pub(crate) fn queued_event(&mut self) -> Option<LinkEvent> {
        self.queue.pop_front()
    }

    /// The engine drops an accepted connection whose handshake fails (the
    /// remote vanishes before acknowledging) without an event; report such
    /// links down before counting clients or checking ids, or they would
    /// hold their id and a client slot forever.
    pub(crate) fn forget_vanished(&mut self) {
        for index in 0..self.slots.len() {
            let Some(slot) = self.slots[index] else { continue };
            if slot.joining && self.host.peer_state(slot.handle).is_none() {
                self.slots[index] = None;
                let link = self.link(index);
                self.queue.push_back(LinkEvent::Down { link, cause: DownCause::TimedOut });
            }
        }
    }

    fn link(&self, index: usize) -> LinkId {
        // Slots are ENet peer indices, below 4096.
        LinkId { transport: self.index, slot: u32::try_from(index).unwrap_or(u32::MAX) }
    }

    fn occupy(&mut self, handle: PeerHandle) -> LinkId {
        let index = usize::from(handle.index());
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        self.slots[index] = Some(Slot { handle, joining: true });
        self.link(index)
    }

    fn free(&mut self, link: LinkId) {
        if let Some(slot) = self.slots.get_mut(slot_index(link)) {
            *slot = None;
        }
    }

    /// The link of `handle`, if it is that very connection.
    fn link_of(&self, handle: PeerHandle) -> Option<LinkId> {
        let index = usize::from(handle.index());
        let slot = self.slots.get(index).copied().flatten()?;
        (slot.handle == handle).then(|| self.link(index))
    }

    fn handle_of(&self, link: LinkId) -> Option<PeerHandle> {
        if link.transport != self.index {
            return None;
        }
        Some(self.slots.get(slot_index(link)).copied().flatten()?.handle)
    }
}

fn slot_index(link: LinkId) -> usize {
    usize::try_from(link.slot).unwrap_or(usize::MAX)
}

fn io_error(e: HostError) -> io::Error {
    match e {
        HostError::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl Links for EnetTransport {
    fn framing(&self, _link: LinkId) -> LinkFraming {
        self.framing
    }

    fn send(&mut self, link: LinkId, lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError> {
        let handle = self.handle_of(link).ok_or(LinkSendError::Gone)?;
        let (channel, mode) = match lane {
            Lane::User { channel, mode } => {
                let channel = self.profile.enet_channel(channel, mode).map_err(|_| {
                    LinkSendError::Channel { highest: Some(self.profile.max_user_channel()) }
                })?;
                (channel, mode)
            }
            Lane::System => (self.profile.system_channel().unwrap_or(0), TransferMode::Reliable),
        };
        self.host.send(handle, channel, mode, bytes).map_err(|error| match error {
            HostError::Send(SendError::QueueFull { .. }) => LinkSendError::QueueFull,
            HostError::Send(SendError::ChannelOutOfRange { channel_count, .. }) => {
                let count = u8::try_from(channel_count).unwrap_or(u8::MAX);
                LinkSendError::Channel { highest: self.profile.highest_user_channel(count) }
            }
            HostError::Send(SendError::PacketTooLarge { len, max }) => {
                LinkSendError::TooLarge { len, max }
            }
            _ => LinkSendError::Gone,
        })
    }

    fn accept(&mut self, link: LinkId, _id: PeerId) -> bool {
        // The id travelled in the CONNECT: nothing to tell the remote.
        self.handle_of(link).is_some_and(|handle| self.host.accept(handle).is_ok())
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        let Some(handle) = self.handle_of(link) else { return false };
        self.free(link);
        self.host.refuse(handle, reason.code()).is_ok()
    }

    fn disconnect(&mut self, link: LinkId, departure: Departure, data: u32) -> bool {
        let Some(handle) = self.handle_of(link) else { return false };
        match departure {
            Departure::AfterQueued => self.host.disconnect_later(handle, data).is_ok(),
            Departure::Graceful => self.host.disconnect(handle, data).is_ok(),
            Departure::Now => {
                self.free(link);
                // What was queued before leaves first, as Godot, which
                // flushes every put_packet, would have sent it; flushing
                // cannot fail, and a datagram the socket refuses is lost
                // like any other.
                let _ = self.host.flush();
                self.host.disconnect_now(handle, data).is_ok()
            }
        }
    }

    fn redial(&mut self, _link: LinkId, id: PeerId) -> Option<LinkId> {
        let server = self.server?;
        self.dial(server, id).ok()
    }

    fn recycle(&mut self, _transport: u16, buffer: Vec<u8>) {
        self.host.recycle(buffer);
    }
}

impl Transport for EnetTransport {
    fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.host.local_addr())
    }

    fn link_address(&self, link: LinkId) -> Option<SocketAddr> {
        self.host.peer_address(self.handle_of(link)?)
    }

    fn link_stats(&self, link: LinkId) -> Option<PeerStats> {
        self.host.peer_stats(self.handle_of(link)?)
    }

    fn register(&mut self, registry: &Registry, tokens: Tokens) -> io::Result<()> {
        self.host.register(registry, tokens.token(0)).map_err(io_error)
    }

    /// Nothing to note: every pump reads the socket until it is empty.
    fn on_ready(&mut self, _readiness: &Readiness) {}

    fn pump(&mut self, _now: Instant) -> io::Result<()> {
        if let Some(event) = self.host.service(Duration::ZERO).map_err(io_error)?
            && let Some(event) = self.translate(event)
        {
            self.queue.push_back(event);
        }
        Ok(())
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            let event = self.host.next_event()?;
            if let Some(event) = self.translate(event) {
                return Some(event);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.host.next_deadline()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.host.flush().map_err(io_error)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
