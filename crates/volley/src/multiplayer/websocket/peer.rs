//! [`WebSocketMultiplayerPeer`]: a server or client over WebSocket.

use std::net::SocketAddr;
use std::time::Instant;

use volley_proto::constants::MAX_PEERS;

use super::{WsClientOptions, WsListener, WsTransport};
use crate::multiplayer::framing::{RefuseReason, WireProfile};
use crate::multiplayer::session::reactor::Reactor;
use crate::multiplayer::session::transport::{Tokens, Transport, TransportSet};
use crate::multiplayer::session::{
    AuthError, AuthMessage, ClientState, Core, CoreConfig, CreateError, MultiplayerStats, Role,
    SessionOptions, check_config,
};
use crate::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerId};
use crate::websocket::{WsClient, WsServerStats};

/// A [`MultiplayerPeer`] over WebSocket: Godot 4's
/// `WebSocketMultiplayerPeer`, or Godot 3's `WebSocketServer` /
/// `WebSocketClient` with the multiplayer API on, in the framing of the
/// [`WireProfile`] it was created with; see the
/// [module documentation](super).
///
/// Create it with [`create_server`](Self::create_server) or
/// [`create_client`](Self::create_client); drive it with
/// [`poll_timeout`](MultiplayerPeer::poll_timeout) from one thread. To hold
/// WebSocket and ENet clients in one session, build a
/// [`ServerSession`](crate::multiplayer::session::ServerSession) with both
/// listeners instead.
#[derive(Debug)]
pub struct WebSocketMultiplayerPeer {
    core: Core,
    /// `None` once closed.
    transports: Option<TransportSet>,
    reactor: Reactor,
    local_addr: Option<SocketAddr>,
}

/// User channels a WebSocket peer takes: every one its generation names,
/// since none is carried (Godot's WebSocket peer ignores the channel too).
fn all_channels(profile: WireProfile) -> u8 {
    profile.max_user_channel() + 1
}

impl WebSocketMultiplayerPeer {
    /// A server on `listener`, id 1, for up to `max_clients` clients.
    ///
    /// A client is a TCP connection that completed its upgrade; the server
    /// assigns its id and tells it first thing (Godot 4: a 4-byte message;
    /// Godot 3: `SYS_ID`, then `SYS_ADD(1)`). A newcomer beyond
    /// `max_clients`, or while refusing new connections, is closed after
    /// its upgrade with a close code that says why (4001–4005, see
    /// [`refusal_close_code`](super::refusal_close_code)).
    pub fn create_server(
        listener: WsListener,
        max_clients: usize,
        profile: WireProfile,
        options: SessionOptions,
    ) -> Result<Self, CreateError> {
        if !(1..=MAX_PEERS).contains(&max_clients) {
            return Err(CreateError::MaxClients(max_clients));
        }
        check_config(profile, all_channels(profile), &options)?;
        let reactor = Reactor::new()?;
        let mut transport = WsTransport::server(0, listener.open()?, profile);
        transport.register(reactor.registry(), Tokens::new(0))?;
        let local_addr = transport.local_addr();
        let config = CoreConfig {
            role: Role::Server,
            profile,
            channels: all_channels(profile),
            max_clients,
            max_frame_size: transport.max_frame_size(),
            options,
        };
        let mut core = Core::new(config, PeerId::SERVER);
        core.status = ConnectionStatus::Connected;
        Ok(Self::new(core, transport, reactor, local_addr))
    }

    /// A client of the server at `url` (`ws://host:port/path`, or `wss://`
    /// with TLS options and the `tls` feature); it starts
    /// [`Connecting`](ConnectionStatus::Connecting).
    ///
    /// It is connected once the server sent its id; the TCP connect, the
    /// upgrade and that wait must all end within the handshake timeout
    /// ([`WsConfig::handshake_timeout`](crate::websocket::WsConfig::handshake_timeout)),
    /// as in Godot. Until then it has no id of its own:
    /// [`unique_id`](MultiplayerPeer::unique_id) reads 1. A refusal from a
    /// Volley server ends the attempt, and [`refusal`](Self::refusal) says
    /// why.
    pub fn create_client(
        url: &str,
        profile: WireProfile,
        options: WsClientOptions,
    ) -> Result<Self, CreateError> {
        let WsClientOptions { config, tls, session } = options;
        check_config(profile, all_channels(profile), &session)?;
        let now = Instant::now();
        let client = WsClient::dial(url, &config, tls, now)?;
        let deadline = now + config.get_handshake_timeout();
        let max_message = config.get_max_message_size();
        let mut transport = WsTransport::client(0, client, profile, max_message, deadline);
        let reactor = Reactor::new()?;
        transport.register(reactor.registry(), Tokens::new(0))?;
        let link = transport.client_link();
        let core_config = CoreConfig {
            role: Role::Client,
            profile,
            channels: all_channels(profile),
            max_clients: 0,
            max_frame_size: transport.max_frame_size(),
            options: session,
        };
        let mut core = Core::new(core_config, PeerId::SERVER);
        core.add_dialled(link, PeerId::SERVER);
        core.status = ConnectionStatus::Connecting;
        core.client = Some(ClientState::new(0));
        Ok(Self::new(core, transport, reactor, None))
    }

    fn new(
        core: Core,
        transport: WsTransport,
        reactor: Reactor,
        local_addr: Option<SocketAddr>,
    ) -> Self {
        let mut transports = TransportSet::default();
        transports.push(Box::new(transport));
        Self { core, transports: Some(transports), reactor, local_addr }
    }

    /// What this peer was created as: [`Role::Server`] or [`Role::Client`].
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// The framing this peer speaks.
    pub fn profile(&self) -> WireProfile {
        self.core.profile
    }

    /// The address a server listens on; `None` on a client or once closed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transports.as_ref().and(self.local_addr)
    }

    /// The remote address (Godot's `get_peer_address` and `get_peer_port`)
    /// of a server's client, or of a client's server.
    pub fn peer_address(&self, peer: PeerId) -> Option<SocketAddr> {
        let link = self.core.link_of(peer)?;
        self.transports.as_ref()?.get(0)?.link_address(link)
    }

    /// Counters of relayed, refused and dropped packets.
    pub fn stats(&self) -> MultiplayerStats {
        self.core.stats
    }

    /// The next authentication message a peer sent while authenticating
    /// (Godot's `auth_callback(id, data)`), with
    /// [`SessionOptions::authentication`] on (Godot 4's framing). Poll
    /// first; a poll returns as soon as one arrives.
    pub fn next_auth_message(&mut self) -> Option<AuthMessage> {
        self.core.next_auth_message()
    }

    /// Sends authentication data to a peer that is authenticating (Godot's
    /// `send_auth`): `[07 00][data]`.
    pub fn send_auth(&mut self, peer: PeerId, data: &[u8]) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.send_auth(transports, peer, data)
    }

    /// Completes this side's authentication of `peer` (Godot's
    /// `complete_auth`): `[07 00]`. The peer is admitted once it completed
    /// too; one that does not in time is closed with code 4006.
    pub fn complete_auth(&mut self, peer: PeerId) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.complete_auth(transports, peer)
    }

    /// Why the server turned this client away, if it said (a Volley
    /// server does, in its close code); `None` otherwise.
    pub fn refusal(&self) -> Option<RefuseReason> {
        self.core.refusal
    }

    /// A server's counters of TCP connections and handshakes: accepted,
    /// refused at accept, failed or timed-out upgrades, peers closed for
    /// abuse or silence. `None` on a client or once closed.
    pub fn websocket_stats(&self) -> Option<WsServerStats> {
        let transport = self.transports.as_ref()?.get(0)?;
        transport.as_any().downcast_ref::<WsTransport>()?.server_stats()
    }
}

impl MultiplayerPeer for WebSocketMultiplayerPeer {
    crate::multiplayer::session::delegate_to_core!();

    /// Newcomers are closed after their upgrade with close code 4003.
    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.core.refuse_new_connections = refuse;
    }

    /// 1 on a server; on a client, the id the server assigned (1 until it
    /// has).
    fn unique_id(&self) -> PeerId {
        self.core.unique_id
    }

    /// Whether this peer was created as a server.
    fn is_server(&self) -> bool {
        self.core.role == Role::Server
    }

    /// True, as Godot's WebSocket peer: a server relays (unless
    /// [`SessionOptions::server_relay`] is off), and clients reach each
    /// other through it.
    fn is_server_relay_supported(&self) -> bool {
        match self.core.role {
            Role::Server => self.core.relay || self.core.profile == WireProfile::Godot4,
            _ => true,
        }
    }

    crate::multiplayer::session::delegate_to_transports!();
}
