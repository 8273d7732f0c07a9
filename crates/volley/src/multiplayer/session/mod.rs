//! The session core: Godot's multiplayer semantics over links of any
//! transport.
//!
//! Everything a `MultiplayerPeer` does above its transport lives here, once:
//! the roster of peers and their ids, admission (capacity, refusing new
//! connections, duplicate ids), targets, the server's relay and its join and
//! leave announcements, the inbox of packets and events in order, and the
//! counters. It works over *links* — one connected remote each, of whatever
//! transport — and never sees a socket: transports report link events
//! (a remote asks to join, a link is up or down, bytes arrived on a lane)
//! and the core acts on links (accept, refuse, send on a lane,
//! disconnect). `docs/architecture.md` ("The session core") describes the
//! design and how a transport plugs in.
//!
//! Two drivers run it:
//!
//! - [`EnetMultiplayerPeer`](crate::multiplayer::EnetMultiplayerPeer): one
//!   ENet host, waited on through [`Host::service`](crate::Host::service);
//! - [`ServerSession`]: a server on several listeners at once (say UDP on
//!   IPv4 and on IPv6 without a dual-stack socket), one id space, one poll.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
//! use volley::multiplayer::framing::WireProfile;
//! use volley::multiplayer::session::ServerSession;
//! use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerEvent};
//!
//! let mut server = ServerSession::builder(WireProfile::Relay)
//!     .max_clients(8)
//!     .enet(EnetListener::new("127.0.0.1:0".parse()?))
//!     .enet(EnetListener::new("127.0.0.1:0".parse()?))
//!     .build()?;
//! let [first, second] = [0, 1].map(|i| server.local_addr(i).expect("listening"));
//! let options = EnetPeerOptions::default();
//! let mut a = EnetMultiplayerPeer::create_client(first, 1, WireProfile::Relay, options.clone())?;
//! let mut b = EnetMultiplayerPeer::create_client(second, 1, WireProfile::Relay, options)?;
//!
//! // A and B dialled different sockets, yet share one session.
//! let mut b_saw_a = false;
//! let end = Instant::now() + Duration::from_secs(10);
//! while !b_saw_a && Instant::now() < end {
//!     server.poll_timeout(Duration::from_millis(2))?;
//!     a.poll_timeout(Duration::from_millis(2))?;
//!     b.poll_timeout(Duration::from_millis(2))?;
//!     while let Some(event) = b.next_incoming() {
//!         b_saw_a |= event == volley::multiplayer::Incoming::Event(PeerEvent::Connected(a.unique_id()));
//!     }
//! }
//! assert!(b_saw_a);
//! assert_eq!(a.connection_status(), ConnectionStatus::Connected);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admission;
mod auth;
mod codec;
mod error;
mod inbox;
pub(crate) mod link;
mod options;
pub(crate) mod reactor;
mod receive;
mod roster;
mod scene;
mod send;
mod server;
mod stats;
#[cfg(test)]
mod tests;
pub(crate) mod transport;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use volley_proto::TransferMode;

pub use auth::AuthMessage;
pub use error::{AuthError, CreateError};
use inbox::Inbox;
use link::{LinkId, Links};
pub use options::SessionOptions;
use roster::{Roster, Stage};
pub(crate) use server::{MAX_POLL_WAIT, serve};
pub use server::{ServerSession, ServerSessionBuilder};
pub use stats::MultiplayerStats;

use super::framing::{RefuseReason, WireProfile};
use super::{
    ConnectionStatus, DisconnectPeerError, Incoming, PacketInfo, PeerEvent, PeerId, Target,
};

/// The [`MultiplayerPeer`](crate::multiplayer::MultiplayerPeer) methods a
/// peer over the session core answers from its `core: Core` field alone —
/// transfer settings, target, status, size limit, inbox — for expanding
/// inside its `impl MultiplayerPeer`.
macro_rules! delegate_to_core {
    () => {
        fn transfer_channel(&self) -> u8 {
            self.core.transfer_channel
        }

        fn set_transfer_channel(&mut self, channel: u8) {
            self.core.transfer_channel = channel;
        }

        fn transfer_mode(&self) -> $crate::TransferMode {
            self.core.transfer_mode
        }

        fn set_transfer_mode(&mut self, mode: $crate::TransferMode) {
            self.core.transfer_mode = mode;
        }

        fn set_target_peer(&mut self, target: $crate::multiplayer::Target) {
            self.core.target = target;
        }

        fn is_refusing_new_connections(&self) -> bool {
            self.core.refuse_new_connections
        }

        fn connection_status(&self) -> $crate::multiplayer::ConnectionStatus {
            self.core.status
        }

        fn max_packet_size(&self) -> usize {
            self.core.max_packet_size
        }

        fn next_incoming(&mut self) -> Option<$crate::multiplayer::Incoming> {
            self.core.next_incoming()
        }

        fn peek_packet(&self) -> Option<$crate::multiplayer::PacketInfo> {
            self.core.peek_packet()
        }

        fn available_packet_count(&self) -> usize {
            self.core.available_packet_count()
        }
    };
}
pub(crate) use delegate_to_core;

/// The [`MultiplayerPeer`](crate::multiplayer::MultiplayerPeer) methods of
/// a driver that holds its `core`, its `transports` (an
/// `Option<TransportSet>`, `None` once closed) and its `reactor`, and waits
/// in [`serve`]: sending, polling, recycling, disconnecting and closing, the
/// same for every such driver ([`ServerSession`], the WebSocket peer).
macro_rules! delegate_to_transports {
    () => {
        /// Queues the packet on every link the target covers; it leaves at
        /// the next poll.
        fn put_packet(
            &mut self,
            payload: &[u8],
        ) -> Result<(), $crate::multiplayer::PutPacketError> {
            let transports = self
                .transports
                .as_mut()
                .ok_or($crate::multiplayer::PutPacketError::NotConnected)?;
            self.core.put(transports, payload)
        }

        /// Serves every transport: receives, relays, runs timers, sends.
        ///
        /// Waits on one poll until something reaches the application or
        /// `timeout` passes; then handles whatever else already arrived on
        /// any transport, and flushes them all. Timeouts above a day wait a
        /// day.
        fn poll_timeout(
            &mut self,
            timeout: std::time::Duration,
        ) -> Result<(), $crate::multiplayer::PollError> {
            let mut transports =
                self.transports.take().ok_or($crate::multiplayer::PollError::Closed)?;
            let result = $crate::multiplayer::session::serve(
                &mut self.core,
                &mut transports,
                &mut self.reactor,
                timeout,
            );
            self.transports = Some(transports);
            result
        }

        /// Hands the buffer back to a transport's pool for a later packet.
        fn recycle(&mut self, payload: Vec<u8>) {
            if let Some(transports) = self.transports.as_mut() {
                self.core.recycle(transports, payload);
            }
        }

        /// As [`EnetMultiplayerPeer::disconnect_peer`](crate::multiplayer::EnetMultiplayerPeer),
        /// whatever transport the peer is on; a client forcing its server
        /// away closes.
        fn disconnect_peer(
            &mut self,
            peer: $crate::multiplayer::PeerId,
            force: bool,
        ) -> Result<(), $crate::multiplayer::DisconnectPeerError> {
            let transports = self
                .transports
                .as_mut()
                .ok_or($crate::multiplayer::DisconnectPeerError::UnknownPeer(peer))?;
            if self.core.disconnect_peer(transports, peer, force)? {
                $crate::multiplayer::MultiplayerPeer::close(self);
            }
            Ok(())
        }

        /// Sends what was put before, then drops every link of every
        /// transport at once, as
        /// [`EnetMultiplayerPeer::close`](crate::multiplayer::EnetMultiplayerPeer)
        /// does, and closes the transports.
        fn close(&mut self) {
            if let Some(mut transports) = self.transports.take() {
                self.core.close(&mut transports);
                // What a socket refuses now is lost like any other
                // datagram or message; the remote finds the link gone.
                let _ = transports.flush();
            }
            self.core.forget_everyone();
        }
    };
}
pub(crate) use delegate_to_transports;

/// Checks a session's settings against `profile`: the user channel count
/// it carries, and SceneMultiplayer's RAW packets and authentication, which
/// exist only in Godot 4.
pub(crate) fn check_config(
    profile: WireProfile,
    channels: u8,
    options: &SessionOptions,
) -> Result<(), CreateError> {
    let max = profile.max_user_channel() + 1;
    if !(1..=max).contains(&channels) {
        return Err(CreateError::Channels { channels, max });
    }
    if profile == WireProfile::Relay {
        if options.raw_packets {
            return Err(CreateError::Godot4Only("raw_packets"));
        }
        if options.authentication {
            return Err(CreateError::Godot4Only("authentication"));
        }
    }
    Ok(())
}

/// What a session was created as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A server: id 1, accepts clients.
    Server,
    /// A client: one link, to the server.
    Client,
    /// A mesh peer: direct links to other mesh peers, no relay.
    Mesh,
}

/// Departed ids a client remembers (see [`ClientState::departed`]); the set
/// is emptied when it would grow past this, so a server cannot grow it
/// without bound.
const MAX_DEPARTED: usize = 1024;

/// What only a client keeps.
#[derive(Debug, Default)]
pub(crate) struct ClientState {
    /// Fresh ids to try after the server refused one.
    retries_left: u32,
    /// Other clients the server announced.
    relayed: HashSet<PeerId>,
    /// Clients the server announced as gone: a late relayed packet from one
    /// of them is dropped instead of resurrecting it.
    departed: HashSet<PeerId>,
}

impl ClientState {
    /// A client that may retry `retries` times with a fresh id.
    pub(crate) fn new(retries: u32) -> Self {
        Self { retries_left: retries, ..Self::default() }
    }
}

/// How a core is set up; the rest starts at Godot's defaults.
#[derive(Debug, Clone)]
pub(crate) struct CoreConfig {
    pub(crate) role: Role,
    pub(crate) profile: WireProfile,
    /// User channels `0..channels`.
    pub(crate) channels: u8,
    /// A server's most clients (ignored by other roles).
    pub(crate) max_clients: usize,
    /// The largest packet every transport carries, framing included.
    pub(crate) max_frame_size: usize,
    pub(crate) options: SessionOptions,
}

/// The session state and logic, apart from the transports, so that event
/// handlers can borrow both.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) role: Role,
    pub(crate) profile: WireProfile,
    /// User channels `0..channels`.
    pub(crate) channels: u8,
    pub(crate) unique_id: PeerId,
    pub(crate) status: ConnectionStatus,
    pub(crate) transfer_channel: u8,
    pub(crate) transfer_mode: TransferMode,
    pub(crate) target: Target,
    pub(crate) refuse_new_connections: bool,
    /// The session relays (a server forwards and announces; a godot4
    /// client wraps packets for other clients and hears announcements).
    pub(crate) relay: bool,
    /// Godot 4 RAW: `03` added to what the application sends and stripped
    /// from what it receives.
    raw: bool,
    /// Godot 4 authentication, with its timeout (zero: none).
    auth_timeout: Option<Duration>,
    /// Authentication messages for the application.
    auth_inbox: VecDeque<AuthMessage>,
    /// When each authenticating member times out, in the order they
    /// started (the timeout is fixed, so this is deadline order). Entries
    /// of members admitted or gone meanwhile are skipped when they expire.
    auth_deadlines: VecDeque<(Instant, LinkId, u64)>,
    max_clients: usize,
    pub(crate) max_packet_size: usize,
    roster: Roster,
    pub(crate) client: Option<ClientState>,
    inbox: Inbox,
    /// Packets handed to the application per transport and not yet
    /// recycled: a recycled buffer goes back to the transport owed most.
    lent: Vec<u64>,
    /// Reused to frame outgoing packets.
    frame: Vec<u8>,
    pub(crate) stats: MultiplayerStats,
    pub(crate) refusal: Option<RefuseReason>,
    /// Draws a client's fresh ids and the ids a server assigns.
    pub(crate) rng: SmallRng,
    /// Set when the application has something new to see: a queued item or
    /// a status change. Ends a waiting poll.
    pub(crate) progress: bool,
}

impl Core {
    pub(crate) fn new(config: CoreConfig, unique_id: PeerId) -> Self {
        let rng = match config.options.id_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Self::with_rng(config, unique_id, rng)
    }

    /// A core whose id generator is `rng` (a client draws its first id from
    /// it before the core exists).
    pub(crate) fn with_rng(config: CoreConfig, unique_id: PeerId, rng: SmallRng) -> Self {
        let godot4 = config.profile == WireProfile::Godot4;
        let relay = config.options.server_relay
            && (config.role == Role::Server || (godot4 && config.role == Role::Client));
        let raw = godot4 && config.options.raw_packets;
        // What framing takes from every packet: Godot 3's header; Godot 4's
        // RAW byte, and on a relaying client the relay header.
        let overhead = match config.profile {
            WireProfile::Relay => config.profile.header_len(),
            WireProfile::Godot4 => {
                usize::from(raw)
                    + if relay && config.role == Role::Client {
                        crate::multiplayer::framing::scene::SYS_HEADER_LEN
                    } else {
                        0
                    }
            }
        };
        let auth_timeout =
            (godot4 && config.options.authentication).then_some(config.options.auth_timeout);
        Self {
            role: config.role,
            profile: config.profile,
            channels: config.channels,
            unique_id,
            status: ConnectionStatus::Disconnected,
            transfer_channel: 0,
            transfer_mode: TransferMode::Reliable,
            target: Target::Broadcast,
            refuse_new_connections: false,
            relay,
            raw,
            auth_timeout,
            auth_inbox: VecDeque::new(),
            auth_deadlines: VecDeque::new(),
            max_clients: config.max_clients,
            max_packet_size: config.max_frame_size.saturating_sub(overhead),
            roster: Roster::default(),
            client: None,
            inbox: Inbox::default(),
            lent: Vec::new(),
            frame: Vec::new(),
            stats: MultiplayerStats::default(),
            refusal: None,
            rng,
            progress: false,
        }
    }

    /// Records a link this side dialled, to the peer `id`.
    pub(crate) fn add_dialled(&mut self, link: LinkId, id: PeerId) {
        self.roster.insert(link, id);
    }

    /// The link of the peer `id` in any stage but joining: what stats and
    /// addresses are asked of.
    pub(crate) fn link_of(&self, id: PeerId) -> Option<LinkId> {
        self.roster.by_id(id).map(|m| m.link)
    }

    /// Whether `id` is this peer's or one of its links' (joining included).
    pub(crate) fn id_taken(&self, id: PeerId) -> bool {
        id == self.unique_id || self.roster.contains_id(id)
    }

    /// DISCONNECT `data` on close: Godot 3 sends its own id, Godot 4 zero.
    fn close_data(&self) -> u32 {
        match self.profile {
            WireProfile::Relay => self.unique_id.get(),
            WireProfile::Godot4 => 0,
        }
    }

    /// Whether this side tells clients about each other.
    fn announces(&self) -> bool {
        self.role == Role::Server && self.relay
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

    // ------------------------------------------------------------- inbox

    /// Whether items wait for the application (a poll then returns at once).
    pub(crate) fn has_incoming(&self) -> bool {
        !self.inbox.is_empty() || !self.auth_inbox.is_empty()
    }

    pub(crate) fn next_incoming(&mut self) -> Option<Incoming> {
        self.inbox.pop()
    }

    pub(crate) fn peek_packet(&self) -> Option<PacketInfo> {
        self.inbox.peek_packet()
    }

    pub(crate) fn available_packet_count(&self) -> usize {
        self.inbox.packet_count()
    }

    /// Gives a buffer the application took back to the transport that lent
    /// most, so that every transport's pool keeps its working size.
    pub(crate) fn recycle(&mut self, links: &mut dyn Links, buffer: Vec<u8>) {
        let owed = self.lent.iter_mut().enumerate().max_by_key(|(_, owed)| **owed);
        let transport = match owed {
            Some((index, owed)) => {
                *owed = owed.saturating_sub(1);
                index
            }
            None => 0,
        };
        links.recycle(u16::try_from(transport).unwrap_or(0), buffer);
    }

    /// Counts a buffer lent to the application by `transport`.
    fn lend(&mut self, transport: u16) {
        let index = usize::from(transport);
        if self.lent.len() <= index {
            self.lent.resize(index + 1, 0);
        }
        self.lent[index] += 1;
    }

    // ------------------------------------------------------- disconnects

    /// Ends one peer's link; returns whether the caller must close (a
    /// client that forced its server away).
    pub(crate) fn disconnect_peer(
        &mut self,
        links: &mut dyn Links,
        peer: PeerId,
        force: bool,
    ) -> Result<bool, DisconnectPeerError> {
        let unknown = DisconnectPeerError::UnknownPeer(peer);
        let member = self.roster.by_id(peer).filter(|m| m.stage != Stage::Joining);
        let member = member.ok_or(unknown)?;
        let data = self.close_data();
        if !force {
            if member.stage != Stage::Leaving {
                if !links.disconnect(member.link, link::Departure::AfterQueued, data) {
                    return Err(unknown);
                }
                self.roster.set_stage(member.link, Stage::Leaving);
            }
            return Ok(false);
        }
        // Only a link that died meanwhile fails, and then there is nobody
        // left to tell.
        links.disconnect(member.link, link::Departure::Now, data);
        self.roster.remove(member.link);
        if member.admitted && self.announces() {
            self.announce_leave(links, peer);
        }
        Ok(self.role == Role::Client)
    }

    /// Ends every link at once and forgets everything queued.
    pub(crate) fn close(&mut self, links: &mut dyn Links) {
        let data = self.close_data();
        for member in self.roster.members() {
            // A link that died meanwhile has nobody left to tell.
            links.disconnect(member.link, link::Departure::Now, data);
        }
        self.forget_everyone();
    }

    /// The state after a close (also when the transports are already gone).
    pub(crate) fn forget_everyone(&mut self) {
        self.roster.clear();
        self.inbox.clear();
        self.auth_inbox.clear();
        self.auth_deadlines.clear();
        self.lent.clear();
        if let Some(client) = self.client.as_mut() {
            client.relayed.clear();
            client.departed.clear();
        }
        self.status = ConnectionStatus::Disconnected;
    }
}
