//! The ENet-backed [`MultiplayerPeer`]: Godot's `ENetMultiplayerPeer` (4.x)
//! and `NetworkedMultiplayerENet` (3.x) on a Volley [`Host`].
//!
//! An [`EnetMultiplayerPeer`] is a server (up to `max_clients` clients), a
//! client, or one peer of a mesh (every peer connected to every other, no
//! relay). It speaks one of the two framings of
//! [`WireProfile`], chosen at creation:
//!
//! - **relay** (the default), byte-compatible with Godot 3: every packet
//!   carries its source and target, the server checks the source, forwards
//!   client-to-client, broadcast and all-but packets, and announces joins
//!   and leaves, so a client sees the other clients come and go and can
//!   send to them;
//! - **godot4**, byte-compatible with Godot 4: bare payloads; a client
//!   reaches only the server at this layer.
//!
//! Ids travel in the CONNECT's `data`; the server is 1. A server refuses a
//! bad or duplicate id, or any newcomer while refusing connections, at the
//! handshake with a [`RefuseReason`] code, and a Volley client replaces a
//! refused id with a fresh one by itself. Sends are queued and leave,
//! aggregated into datagrams, at the next poll.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use volley::multiplayer::enet::{EnetMultiplayerPeer, EnetPeerOptions};
//! use volley::multiplayer::framing::WireProfile;
//! use volley::multiplayer::{ConnectionStatus, Incoming, MultiplayerPeer, PeerEvent, Target};
//!
//! let bind = "127.0.0.1:0".parse()?;
//! let options = EnetPeerOptions::default();
//! let mut server =
//!     EnetMultiplayerPeer::create_server(bind, 8, 1, WireProfile::Relay, options.clone())?;
//! let address = server.local_addr().expect("open");
//! let mut client = EnetMultiplayerPeer::create_client(address, 1, WireProfile::Relay, options)?;
//!
//! // Serve both until the client is in.
//! let end = Instant::now() + Duration::from_secs(10);
//! while client.connection_status() != ConnectionStatus::Connected && Instant::now() < end {
//!     server.poll_timeout(Duration::from_millis(5))?;
//!     client.poll_timeout(Duration::from_millis(5))?;
//! }
//! client.set_target_peer(Target::SERVER);
//! client.put_packet(b"hello")?;
//!
//! let mut received = None;
//! while received.is_none() && Instant::now() < end {
//!     client.poll_timeout(Duration::ZERO)?;
//!     server.poll_timeout(Duration::from_millis(5))?;
//!     while let Some(incoming) = server.next_incoming() {
//!         match incoming {
//!             Incoming::Event(PeerEvent::Connected(id)) => println!("{id} joined"),
//!             Incoming::Packet(packet) => received = Some((packet.from, packet.payload)),
//!             Incoming::Event(_) => {}
//!         }
//!     }
//! }
//! let (from, payload) = received.expect("delivered on loopback");
//! assert_eq!(from, client.unique_id());
//! assert_eq!(payload, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod inbox;
mod options;
mod outgoing;
mod roster;
mod session;
mod stats;

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use volley_proto::constants::MAX_PEERS;
use volley_proto::{EndpointConfig, PeerStats, TransferMode};

use super::framing::{RefuseReason, WireProfile};
use super::{
    ConnectionStatus, DisconnectPeerError, Incoming, MultiplayerPeer, PacketInfo, PeerId,
    PollError, PutPacketError, Target, generate_unique_id,
};
use crate::socket::SocketConfig;
use crate::{Host, HostConfig, HostError};

pub use error::{AddMeshPeerError, CreateError};
pub use options::EnetPeerOptions;
use roster::Stage;
use session::{Channels, ClientState, Session};
pub use stats::MultiplayerStats;

/// Peer slots a server keeps beyond `max_clients`, so that a newcomer
/// arriving when the server is full still gets a slot to be refused from
/// (with [`RefuseReason::ServerFull`]) instead of being ignored until it
/// times out. Refusing frees the slot at once, so a few cover bursts.
const REFUSAL_SLOTS: usize = 16;

/// The longest a single poll waits; longer timeouts are cut to this.
const MAX_POLL_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// What an [`EnetMultiplayerPeer`] was created as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// [`EnetMultiplayerPeer::create_server`]: id 1, accepts clients.
    Server,
    /// [`EnetMultiplayerPeer::create_client`]: one connection, to the server.
    Client,
    /// [`EnetMultiplayerPeer::create_mesh`]: direct connections to other
    /// mesh peers, added with [`EnetMultiplayerPeer::add_mesh_peer`].
    Mesh,
}

/// A [`MultiplayerPeer`] over ENet-compatible connections, speaking Godot 3's
/// or Godot 4's framing; see the [module documentation](self).
///
/// Create it with [`create_server`](Self::create_server),
/// [`create_client`](Self::create_client) or
/// [`create_mesh`](Self::create_mesh); drive it with
/// [`poll_timeout`](MultiplayerPeer::poll_timeout) from one thread.
#[derive(Debug)]
pub struct EnetMultiplayerPeer {
    /// `None` once closed.
    host: Option<Host>,
    session: Session,
}

impl EnetMultiplayerPeer {
    /// A server on `bind`, id 1, for up to `max_clients` clients, with user
    /// channels `0..channels`.
    ///
    /// A client asking for fewer ENet channels gets fewer user channels
    /// (Godot 3 clients ask for 3: channel 0 only); one asking for more is
    /// cut down to `channels`. An IPv6 `bind` is dual-stack, so IPv4 clients
    /// reach it too.
    pub fn create_server(
        bind: SocketAddr,
        max_clients: usize,
        channels: u8,
        profile: WireProfile,
        options: EnetPeerOptions,
    ) -> Result<Self, CreateError> {
        if !(1..=MAX_PEERS).contains(&max_clients) {
            return Err(CreateError::MaxClients(max_clients));
        }
        let channels = Channels::new(profile, channels, &options)?;
        let mut endpoint = options.endpoint.clone();
        endpoint.peer_limit((max_clients + REFUSAL_SLOTS).min(MAX_PEERS));
        let host = open_host(bind, endpoint, channels.enet)?;
        let mut session = Session::new(Role::Server, profile, channels, PeerId::SERVER);
        session.relay = profile == WireProfile::Relay && options.server_relay;
        session.max_clients = max_clients;
        session.status = ConnectionStatus::Connected;
        Ok(Self { host: Some(host), session })
    }

    /// A client of the server at `server`, with user channels
    /// `0..channels`; it starts [`Connecting`](ConnectionStatus::Connecting).
    ///
    /// It offers a random id (or [`EnetPeerOptions::client_id`]); if the
    /// server refuses it as invalid or duplicate, it retries with a fresh one,
    /// up to [`EnetPeerOptions::id_retries`] times. Any other refusal ends
    /// the attempt at once: the status turns
    /// [`Disconnected`](ConnectionStatus::Disconnected) and
    /// [`refusal`](Self::refusal) says why.
    pub fn create_client(
        server: SocketAddr,
        channels: u8,
        profile: WireProfile,
        options: EnetPeerOptions,
    ) -> Result<Self, CreateError> {
        let channels = Channels::new(profile, channels, &options)?;
        let bind = if server.is_ipv6() {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        };
        let mut endpoint = options.endpoint.clone();
        endpoint.peer_limit(1);
        let host = open_host(bind, endpoint, channels.enet)?;
        let mut rng = match options.id_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let id = options.client_id.unwrap_or_else(|| generate_unique_id(&mut rng));
        let handle = host.connect(server, channels.enet, id.get())?;
        let mut session = Session::new(Role::Client, profile, channels, id);
        session.roster.insert(handle, PeerId::SERVER);
        session.status = ConnectionStatus::Connecting;
        session.client = Some(ClientState {
            server_address: server,
            retries_left: options.id_retries,
            rng,
            relayed: HashSet::new(),
            departed: HashSet::new(),
        });
        Ok(Self { host: Some(host), session })
    }

    /// A mesh peer on `bind` with id `unique_id` and user channels
    /// `0..channels`: connected to nobody yet, and
    /// [`Connected`](ConnectionStatus::Connected) at once, as in Godot.
    ///
    /// Connect peers with [`add_mesh_peer`](Self::add_mesh_peer); other mesh
    /// peers dialling this one are accepted unless their id is invalid or
    /// taken. Packets go directly to their targets: there is no relay, and
    /// [`is_server_relay_supported`](MultiplayerPeer::is_server_relay_supported)
    /// is false. The most peers is the endpoint's peer limit
    /// ([`EnetPeerOptions::endpoint`], 32 by default).
    pub fn create_mesh(
        bind: SocketAddr,
        unique_id: PeerId,
        channels: u8,
        profile: WireProfile,
        options: EnetPeerOptions,
    ) -> Result<Self, CreateError> {
        let channels = Channels::new(profile, channels, &options)?;
        let host = open_host(bind, options.endpoint.clone(), channels.enet)?;
        let mut session = Session::new(Role::Mesh, profile, channels, unique_id);
        session.status = ConnectionStatus::Connected;
        Ok(Self { host: Some(host), session })
    }

    /// Dials the mesh peer at `address`, which has id `id`. A
    /// [`PeerEvent::Connected`](super::PeerEvent::Connected)`(id)` follows once it accepts; if it refuses,
    /// [`refusal`](Self::refusal) says why and no event follows.
    ///
    /// The remote learns this peer's id from the CONNECT and trusts it; this
    /// peer trusts `id`. Connect each pair once, from one side: two peers
    /// dialling each other at the same time refuse each other as duplicates.
    pub fn add_mesh_peer(
        &mut self,
        address: SocketAddr,
        id: PeerId,
    ) -> Result<(), AddMeshPeerError> {
        if self.session.role != Role::Mesh {
            return Err(AddMeshPeerError::NotMesh);
        }
        let host = self.host.as_ref().ok_or(AddMeshPeerError::Closed)?;
        self.session.forget_failed_handshakes(host);
        if id == self.session.unique_id || self.session.roster.contains_id(id) {
            return Err(AddMeshPeerError::DuplicateId(id));
        }
        let handle =
            host.connect(address, self.session.enet_channels, self.session.unique_id.get())?;
        self.session.roster.insert(handle, id);
        Ok(())
    }

    /// What this peer was created as.
    pub fn role(&self) -> Role {
        self.session.role
    }

    /// The framing this peer speaks.
    pub fn profile(&self) -> WireProfile {
        self.session.profile
    }

    /// The number of user channels (`0..channels`) this peer was created with.
    pub fn channels(&self) -> u8 {
        self.session.channels
    }

    /// The address the socket is bound to; `None` once closed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.host.as_ref().map(|host| host.local_addr())
    }

    /// The engine's statistics (RTT, loss, throttle, bytes) of the direct
    /// connection to `peer`: a client of a server, the server of a client,
    /// a mesh peer. `None` for a peer reached through the server, or one not
    /// connected.
    pub fn peer_stats(&self, peer: PeerId) -> Option<PeerStats> {
        let member = self.session.roster.by_id(peer)?;
        self.host.as_ref()?.peer_stats(member.handle)
    }

    /// The remote address of the direct connection to `peer`.
    pub fn peer_address(&self, peer: PeerId) -> Option<SocketAddr> {
        let member = self.session.roster.by_id(peer)?;
        self.host.as_ref()?.peer_address(member.handle)
    }

    /// Counters of relayed, refused and dropped packets.
    pub fn stats(&self) -> MultiplayerStats {
        self.session.stats
    }

    /// Why the last connection this peer dialled was refused, if the remote
    /// gave a reason Volley knows: on a client, why it is
    /// [`Disconnected`](ConnectionStatus::Disconnected) without having
    /// connected (`None` after a timeout or an unknown code); on a mesh
    /// peer, why a dialled peer did not come.
    pub fn refusal(&self) -> Option<RefuseReason> {
        self.session.refusal
    }
}

/// A host on `bind` that leaves every CONNECT to the multiplayer layer.
fn open_host(
    bind: SocketAddr,
    mut endpoint: EndpointConfig,
    enet_channels: usize,
) -> Result<Host, HostError> {
    endpoint.channel_limit(enet_channels).manual_accept(true);
    let mut config = HostConfig::server(bind);
    config.socket(SocketConfig::new(bind).dual_stack(bind.is_ipv6()));
    *config.endpoint() = endpoint;
    Host::new(config)
}

impl MultiplayerPeer for EnetMultiplayerPeer {
    fn transfer_channel(&self) -> u8 {
        self.session.transfer_channel
    }

    fn set_transfer_channel(&mut self, channel: u8) {
        self.session.transfer_channel = channel;
    }

    fn transfer_mode(&self) -> TransferMode {
        self.session.transfer_mode
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.session.transfer_mode = mode;
    }

    fn set_target_peer(&mut self, target: Target) {
        self.session.target = target;
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.session.refuse_new_connections
    }

    /// Newcomers are refused at the handshake with
    /// [`RefuseReason::RefusingConnections`], so they learn at once.
    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.session.refuse_new_connections = refuse;
    }

    /// 1 on a server; on a client, the id it offered last (a refused id is
    /// replaced by a fresh one); on a mesh peer, the id it was created with.
    fn unique_id(&self) -> PeerId {
        self.session.unique_id
    }

    /// Whether this peer was created as a server (a mesh peer is not one,
    /// whatever its id).
    fn is_server(&self) -> bool {
        self.session.role == Role::Server
    }

    fn connection_status(&self) -> ConnectionStatus {
        self.session.status
    }

    /// True for a server that relays (relay profile with
    /// [`EnetPeerOptions::server_relay`] on, or the godot4 profile, whose
    /// relay is the layer above's) and for clients; false for mesh peers.
    fn is_server_relay_supported(&self) -> bool {
        match self.session.role {
            Role::Server => self.session.relay || self.session.profile == WireProfile::Godot4,
            Role::Client => true,
            Role::Mesh => false,
        }
    }

    /// Queues the packet; it leaves at the next poll, aggregated with the
    /// others into datagrams.
    ///
    /// A single target that cannot take the packet is an error. A broadcast
    /// (or all-but) goes to every connection that can take it; copies a
    /// connection refuses (a channel it did not negotiate, a full queue) are
    /// counted in [`MultiplayerStats::copies_failed`].
    fn put_packet(&mut self, payload: &[u8]) -> Result<(), PutPacketError> {
        let host = self.host.as_ref().ok_or(PutPacketError::NotConnected)?;
        self.session.put(host, payload)
    }

    fn max_packet_size(&self) -> usize {
        self.session.max_packet_size
    }

    /// Receives, relays, runs timers, and sends what is queued.
    ///
    /// Waits until something reaches the application (a packet, a peer
    /// event, a status change) or `timeout` passes; then handles whatever
    /// else already arrived, and flushes everything queued, so replies and
    /// relayed copies leave together. Timeouts above a day wait a day.
    fn poll_timeout(&mut self, timeout: Duration) -> Result<(), PollError> {
        let host = self.host.as_mut().ok_or(PollError::Closed)?;
        let session = &mut self.session;
        session.progress = false;
        let wait =
            if session.inbox.is_empty() { timeout.min(MAX_POLL_WAIT) } else { Duration::ZERO };
        let deadline = Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(event) = host.service(remaining).map_err(poll_error)? else { break };
            session.handle(host, event);
            while let Some(event) = host.next_event() {
                session.handle(host, event);
            }
            if session.progress || Instant::now() >= deadline {
                break;
            }
        }
        host.flush().map_err(poll_error)
    }

    fn next_incoming(&mut self) -> Option<Incoming> {
        self.session.inbox.pop()
    }

    fn peek_packet(&self) -> Option<PacketInfo> {
        self.session.inbox.peek_packet()
    }

    fn available_packet_count(&self) -> usize {
        self.session.inbox.packet_count()
    }

    /// Hands the buffer to the engine, which reuses it for a later packet.
    fn recycle(&mut self, payload: Vec<u8>) {
        if let Some(host) = &self.host {
            host.recycle(payload);
        }
    }

    /// Disconnects a directly connected peer: a client (on a server), the
    /// server (on a client), a mesh peer.
    ///
    /// Without `force`, queued packets go first, then a
    /// [`PeerEvent::Disconnected`](super::PeerEvent::Disconnected) follows once the peer acknowledged; on a
    /// relay server the other clients are told then. With `force`, the peer
    /// gets one unacknowledged DISCONNECT and is forgotten at once, with no
    /// event; on a relay server the other clients are told at once. A client
    /// forcing its server's disconnect closes, as Godot's does.
    fn disconnect_peer(&mut self, peer: PeerId, force: bool) -> Result<(), DisconnectPeerError> {
        let unknown = DisconnectPeerError::UnknownPeer(peer);
        let host = self.host.as_ref().ok_or(unknown)?;
        let session = &mut self.session;
        let member = session.roster.by_id(peer).filter(|m| m.stage != Stage::Joining);
        let member = member.ok_or(unknown)?;
        let data = session.close_data();
        if !force {
            if member.stage == Stage::Connected {
                host.disconnect_later(member.handle, data).map_err(|_| unknown)?;
                session.roster.set_stage(member.handle, Stage::Leaving);
            }
            return Ok(());
        }
        // Only a handle that died meanwhile fails, and then there is
        // nobody left to tell.
        let _ = host.disconnect_now(member.handle, data);
        session.roster.remove(member.handle);
        if session.relay {
            session.announce_leave(host, peer);
        }
        if session.role == Role::Client {
            self.close();
        }
        Ok(())
    }

    /// Drops every connection at once: each peer gets one unacknowledged
    /// DISCONNECT (carrying this peer's id in the relay profile, 0 in
    /// godot4, as Godot does). No events; queued packets are discarded; the
    /// socket is closed.
    fn close(&mut self) {
        if let Some(host) = self.host.take() {
            let data = self.session.close_data();
            for member in self.session.roster.members() {
                // A handle that died meanwhile has nobody left to tell.
                let _ = host.disconnect_now(member.handle, data);
            }
            // Flushing cannot fail; a datagram the socket refuses is lost
            // like any other, and the remote times out.
            let _ = host.flush();
        }
        let session = &mut self.session;
        session.roster.clear();
        session.inbox.clear();
        if let Some(client) = session.client.as_mut() {
            client.relayed.clear();
            client.departed.clear();
        }
        session.status = ConnectionStatus::Disconnected;
    }
}

fn poll_error(e: HostError) -> PollError {
    match e {
        HostError::Io(e) => PollError::Io(e),
        other => PollError::Io(io::Error::other(other)),
    }
}
