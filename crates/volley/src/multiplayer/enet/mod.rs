//! The ENet-backed [`MultiplayerPeer`]: Godot's `ENetMultiplayerPeer` (4.x)
//! and `NetworkedMultiplayerENet` (3.x) on a Volley [`Host`](crate::Host).
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
//! - **godot4**, byte-compatible with Godot 4's `ENetMultiplayerPeer` under
//!   its `SceneMultiplayer`: payloads are SceneMultiplayer packets, passed
//!   through untouched; the server speaks SceneMultiplayer's relay and
//!   announcements (`07 …` SYS packets), so Godot 4 clients — and Volley
//!   clients — see each other and reach each other through it, and
//!   optionally its authentication ([`EnetPeerOptions::authentication`])
//!   and `send_bytes` framing ([`EnetPeerOptions::raw_packets`]).
//!
//! Both run on the transport-neutral [session core](super::session);
//! [`ServerSession`](super::session::ServerSession) serves several
//! listeners as one session.
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
mod listener;
mod options;
mod transport;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use volley_proto::PeerStats;
use volley_proto::constants::MAX_PEERS;

use super::framing::{RefuseReason, WireProfile};
use super::session::link::Links;
use super::session::transport::Transport;
use super::session::{AuthError, AuthMessage, ClientState, Core, CoreConfig, MAX_POLL_WAIT};
use super::{
    ConnectionStatus, DisconnectPeerError, MultiplayerPeer, PeerId, PollError, PutPacketError,
    generate_unique_id,
};
use crate::HostError;

pub use super::session::{CreateError, MultiplayerStats, Role};
pub use error::AddMeshPeerError;
pub use listener::EnetListener;
pub use options::EnetPeerOptions;
pub(crate) use transport::EnetTransport;

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
    transport: Option<EnetTransport>,
    core: Core,
}

impl EnetMultiplayerPeer {
    /// A server on `bind`, id 1, for up to `max_clients` clients, with user
    /// channels `0..channels`.
    ///
    /// `channels` counts *user* channels, not ENet channels: the relay
    /// profile adds 2 ENet channels (Godot 3's `channel_count` is
    /// `channels + 2`, so its default 3 is `channels = 1`), the godot4
    /// profile 1. A client asking for fewer ENet channels gets fewer user
    /// channels (Godot 3 clients ask for 3: channel 0 only); one asking for
    /// more is cut down to `channels`. Received packets report the user
    /// channel ([`Packet::channel`](super::Packet::channel)); Godot 3.2's
    /// `get_packet_channel()` reports the ENet channel instead, which is
    /// [`WireProfile::enet_channel`]`(channel, mode)`: 1 for reliable and 2
    /// for unreliable packets of user channel 0, `n + 2` for user channel
    /// `n ≥ 1`. An IPv6 `bind` is dual-stack, so IPv4 clients reach it too.
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
        super::session::check_config(profile, channels, &options.session)?;
        let listener = EnetListener::new(bind).endpoint(options.endpoint.clone());
        let transport = EnetTransport::listen(0, &listener, profile, channels, max_clients)?;
        let config = core_config(Role::Server, profile, channels, max_clients, &transport, options);
        let mut core = Core::new(config, PeerId::SERVER);
        core.status = ConnectionStatus::Connected;
        Ok(Self { transport: Some(transport), core })
    }

    /// A client of the server at `server`, with user channels
    /// `0..channels`; it starts [`Connecting`](ConnectionStatus::Connecting).
    /// (`channels` counts user channels: a Godot 3 client's `channel_count`
    /// of 3 is `channels = 1`; see [`create_server`](Self::create_server).)
    ///
    /// It offers a random id (or [`EnetPeerOptions::client_id`]); if the
    /// server refuses it as invalid or duplicate, it retries with a fresh one,
    /// up to [`EnetPeerOptions::id_retries`] times, so its
    /// [`unique_id`](MultiplayerPeer::unique_id) can change until it is
    /// connected. Any other refusal (or the last one) ends the attempt at
    /// once: the status turns
    /// [`Disconnected`](ConnectionStatus::Disconnected), a
    /// [`PeerEvent::ConnectionFailed`](super::PeerEvent::ConnectionFailed)
    /// carries the reason, and [`refusal`](Self::refusal) keeps it.
    pub fn create_client(
        server: SocketAddr,
        channels: u8,
        profile: WireProfile,
        options: EnetPeerOptions,
    ) -> Result<Self, CreateError> {
        super::session::check_config(profile, channels, &options.session)?;
        let bind = if server.is_ipv6() {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        };
        let mut endpoint = options.endpoint.clone();
        endpoint.peer_limit(1);
        let mut transport =
            EnetTransport::open(0, bind, server.is_ipv6(), endpoint, profile, channels)?;
        transport.set_server(server);
        let mut rng = match options.session.id_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let id = options.client_id.unwrap_or_else(|| generate_unique_id(&mut rng));
        let link = transport.dial(server, id)?;
        let retries_left = options.id_retries;
        let config = core_config(Role::Client, profile, channels, 0, &transport, options);
        let mut core = Core::with_rng(config, id, rng);
        core.add_dialled(link, PeerId::SERVER);
        core.status = ConnectionStatus::Connecting;
        core.client = Some(ClientState::new(retries_left));
        Ok(Self { transport: Some(transport), core })
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
        super::session::check_config(profile, channels, &options.session)?;
        let endpoint = options.endpoint.clone();
        let transport = EnetTransport::open(0, bind, bind.is_ipv6(), endpoint, profile, channels)?;
        let config = core_config(Role::Mesh, profile, channels, 0, &transport, options);
        let mut core = Core::new(config, unique_id);
        core.status = ConnectionStatus::Connected;
        Ok(Self { transport: Some(transport), core })
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
        if self.core.role != Role::Mesh {
            return Err(AddMeshPeerError::NotMesh);
        }
        let transport = self.transport.as_mut().ok_or(AddMeshPeerError::Closed)?;
        transport.forget_vanished();
        while let Some(event) = transport.queued_event() {
            self.core.handle(transport, event);
        }
        if self.core.id_taken(id) {
            return Err(AddMeshPeerError::DuplicateId(id));
        }
        let link = transport.dial(address, self.core.unique_id)?;
        self.core.add_dialled(link, id);
        Ok(())
    }

    /// What this peer was created as.
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// The framing this peer speaks.
    pub fn profile(&self) -> WireProfile {
        self.core.profile
    }

    /// The number of user channels (`0..channels`) this peer was created with.
    pub fn channels(&self) -> u8 {
        self.core.channels
    }

    /// The address the socket is bound to; `None` once closed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transport.as_ref().map(|transport| transport.host().local_addr())
    }

    /// The engine's statistics (RTT, loss, throttle, bytes) of the direct
    /// connection to `peer`: a client of a server, the server of a client,
    /// a mesh peer. `None` for a peer reached through the server, or one not
    /// connected.
    pub fn peer_stats(&self, peer: PeerId) -> Option<PeerStats> {
        self.transport.as_ref()?.link_stats(self.core.link_of(peer)?)
    }

    /// The remote address of the direct connection to `peer`.
    pub fn peer_address(&self, peer: PeerId) -> Option<SocketAddr> {
        self.transport.as_ref()?.link_address(self.core.link_of(peer)?)
    }

    /// Counters of relayed, refused and dropped packets.
    pub fn stats(&self) -> MultiplayerStats {
        self.core.stats
    }

    /// The next authentication message a peer sent while authenticating
    /// (Godot's `auth_callback(id, data)`), with
    /// [`EnetPeerOptions::authentication`] on. Poll first; a poll returns as
    /// soon as one arrives.
    pub fn next_auth_message(&mut self) -> Option<AuthMessage> {
        self.core.next_auth_message()
    }

    /// Sends authentication data to a peer that is authenticating (Godot's
    /// `send_auth`): `[07 00][data]`, reliable, channel 0.
    pub fn send_auth(&mut self, peer: PeerId, data: &[u8]) -> Result<(), AuthError> {
        let transport = self.transport.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.send_auth(transport, peer, data)
    }

    /// Completes this side's authentication of `peer` (Godot's
    /// `complete_auth`): `[07 00]`. The peer is admitted — `Connected`,
    /// announced, relayed — once it completed too.
    pub fn complete_auth(&mut self, peer: PeerId) -> Result<(), AuthError> {
        let transport = self.transport.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.complete_auth(transport, peer)
    }

    /// Why the last connection this peer dialled was refused, if the remote
    /// gave a reason Volley knows: on a client, why it is
    /// [`Disconnected`](ConnectionStatus::Disconnected) without having
    /// connected (`None` after a timeout or an unknown code); on a mesh
    /// peer, why a dialled peer did not come.
    pub fn refusal(&self) -> Option<RefuseReason> {
        self.core.refusal
    }
}

/// The core settings of an ENet-backed peer.
fn core_config(
    role: Role,
    profile: WireProfile,
    channels: u8,
    max_clients: usize,
    transport: &EnetTransport,
    options: EnetPeerOptions,
) -> CoreConfig {
    CoreConfig {
        role,
        profile,
        channels,
        max_clients,
        max_frame_size: transport.max_frame_size(),
        options: options.session,
    }
}

impl MultiplayerPeer for EnetMultiplayerPeer {
    super::session::delegate_to_core!();

    /// Newcomers are refused at the handshake with
    /// [`RefuseReason::RefusingConnections`], so they learn at once.
    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.core.refuse_new_connections = refuse;
    }

    /// 1 on a server; on a mesh peer, the id it was created with; on a
    /// client, the id it offered last. A client's id can change while it is
    /// [`Connecting`](ConnectionStatus::Connecting): a server that refuses
    /// it as invalid or duplicate makes the client retry with a fresh one
    /// ([`EnetPeerOptions::id_retries`]). Nothing is sent or emitted under
    /// a refused id (sending needs `Connected`), so the id read once
    /// `Connected(PeerId::SERVER)` arrived is the one the session knows.
    fn unique_id(&self) -> PeerId {
        self.core.unique_id
    }

    /// Whether this peer was created as a server (a mesh peer is not one,
    /// whatever its id).
    fn is_server(&self) -> bool {
        self.core.role == Role::Server
    }

    /// True for a server that relays ([`EnetPeerOptions::server_relay`],
    /// on by default) and for clients; false for mesh peers.
    fn is_server_relay_supported(&self) -> bool {
        match self.core.role {
            Role::Server => self.core.relay,
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
        let transport = self.transport.as_mut().ok_or(PutPacketError::NotConnected)?;
        self.core.put(transport, payload)
    }

    /// Receives, relays, runs timers, and sends what is queued.
    ///
    /// Waits until something reaches the application (a packet, a peer
    /// event, a status change) or `timeout` passes; then handles whatever
    /// else already arrived, and flushes everything queued, so replies and
    /// relayed copies leave together. Timeouts above a day wait a day.
    fn poll_timeout(&mut self, timeout: Duration) -> Result<(), PollError> {
        let transport = self.transport.as_mut().ok_or(PollError::Closed)?;
        let core = &mut self.core;
        core.progress = false;
        let wait = if core.has_incoming() { Duration::ZERO } else { timeout.min(MAX_POLL_WAIT) };
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            core.run_timers(transport, now);
            // Authentication timeouts wake the wait too.
            let until = core.next_deadline().map_or(deadline, |at| at.min(deadline));
            let remaining = until.saturating_duration_since(now);
            if let Some(event) = transport.host_mut().service(remaining).map_err(poll_error)? {
                if let Some(event) = transport.translate(event) {
                    core.handle(transport, event);
                }
                while let Some(event) = transport.poll_event() {
                    core.handle(transport, event);
                }
            }
            if core.progress || Instant::now() >= deadline {
                break;
            }
        }
        transport.host().flush().map_err(poll_error)
    }

    /// Hands the buffer to the engine, which reuses it for a later packet.
    fn recycle(&mut self, payload: Vec<u8>) {
        if let Some(transport) = self.transport.as_mut() {
            transport.recycle(0, payload);
        }
    }

    /// Disconnects a directly connected peer: a client (on a server), the
    /// server (on a client), a mesh peer.
    ///
    /// Without `force`, queued packets go first, then a
    /// [`PeerEvent::Disconnected`](super::PeerEvent::Disconnected) follows
    /// once the peer acknowledged; on a relaying server the other clients
    /// are told then. With `force`, what was queued is flushed (sent once),
    /// then the peer gets one unacknowledged DISCONNECT and is forgotten at
    /// once, with no event; on a relaying server the other clients are told
    /// at once. A client forcing its server's disconnect closes, as Godot's
    /// does. A peer still authenticating ends with
    /// [`PeerEvent::AuthenticationFailed`](super::PeerEvent::AuthenticationFailed)
    /// instead of `Disconnected`.
    fn disconnect_peer(&mut self, peer: PeerId, force: bool) -> Result<(), DisconnectPeerError> {
        let transport = self.transport.as_mut().ok_or(DisconnectPeerError::UnknownPeer(peer))?;
        if self.core.disconnect_peer(transport, peer, force)? {
            self.close();
        }
        Ok(())
    }

    /// Drops every connection at once: what was put before goes out first
    /// (one flush: sent once, not resent if lost, as Godot, which flushes
    /// every `put_packet`), then each peer gets one unacknowledged
    /// DISCONNECT (carrying this peer's id in the relay profile, 0 in
    /// godot4, as Godot does). No events; queued incoming packets are
    /// discarded; the socket is closed. To be sure everything arrived,
    /// disconnect gracefully first (`disconnect_peer(id, false)`) and poll
    /// until the `Disconnected` events.
    fn close(&mut self) {
        if let Some(mut transport) = self.transport.take() {
            self.core.close(&mut transport);
            // Flushing cannot fail; a datagram the socket refuses is lost
            // like any other, and the remote times out.
            let _ = transport.host().flush();
        }
        self.core.forget_everyone();
    }
}

fn poll_error(e: HostError) -> PollError {
    match e {
        HostError::Io(e) => PollError::Io(e),
        other => PollError::Io(io::Error::other(other)),
    }
}
