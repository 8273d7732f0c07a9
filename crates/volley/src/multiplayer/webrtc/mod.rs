//! The WebRTC [`MultiplayerPeer`]: Godot's `WebRTCMultiplayerPeer` on
//! Volley's own UDP socket, with browsers' three transfer modes.
//!
//! As in Godot, the peer is a server (id 1), a client (any other id) or one
//! peer of a mesh, and **the application chooses the ids and does the
//! signalling**: it adds a connection per remote with
//! [`add_peer`](WebRtcMultiplayerPeer::add_peer)`(id)` and moves that
//! connection's descriptions and candidates to the other end by any means
//! (Volley's WebSocket server has a built-in path:
//! [`signalling`](crate::webrtc::signalling)). Where Godot hands you a
//! `WebRTCPeerConnection` per remote, Volley keys the connection by the
//! remote's id: [`create_offer`](WebRtcMultiplayerPeer::create_offer),
//! [`set_remote_description`](WebRtcMultiplayerPeer::set_remote_description),
//! [`add_ice_candidate`](WebRtcMultiplayerPeer::add_ice_candidate) and
//! [`local_candidates`](WebRtcMultiplayerPeer::local_candidates) are that
//! connection's signalling.
//!
//! Every connection carries Godot's data channels
//! ([`ChannelLayout`](crate::webrtc::ChannelLayout)): bare SceneMultiplayer
//! packets, reliable ones on stream 1, unreliable-ordered on 2, unreliable
//! on 3, custom channels on 4 and up. A remote counts as connected once
//! every channel is open. A server relays between its clients and
//! announces them to each other as the session core does for every
//! transport; a mesh peer talks to each remote directly.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use volley::multiplayer::webrtc::{WebRtcMultiplayerPeer, WebRtcPeerOptions};
//! use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerId, Target};
//!
//! let options = WebRtcPeerOptions::new("127.0.0.1:0".parse()?);
//! let mut server = WebRtcMultiplayerPeer::create_server(options.clone())?;
//! let id = PeerId::try_from(77_u32)?;
//! let mut client = WebRtcMultiplayerPeer::create_client(id, options)?;
//!
//! // Signalling, done by hand here: an offer from the client, the answer back.
//! server.add_peer(id)?;
//! client.add_peer(PeerId::SERVER)?;
//! let offer = client.create_offer(PeerId::SERVER)?;
//! let answer = server.set_remote_description(id, &offer)?.expect("an offer is answered");
//! client.set_remote_description(PeerId::SERVER, &answer)?;
//!
//! let end = Instant::now() + Duration::from_secs(10);
//! while client.connection_status() != ConnectionStatus::Connected && Instant::now() < end {
//!     server.poll_timeout(Duration::from_millis(2))?;
//!     client.poll_timeout(Duration::from_millis(2))?;
//! }
//! client.set_target_peer(Target::SERVER);
//! client.put_packet(b"hello")?;
//! let mut received = None;
//! while received.is_none() && Instant::now() < end {
//!     client.poll_timeout(Duration::ZERO)?;
//!     server.poll_timeout(Duration::from_millis(2))?;
//!     received = server.next_packet();
//! }
//! assert_eq!(received.expect("delivered").payload, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod listener;
mod options;
pub(crate) mod transport;

use super::framing::WireProfile;
use super::session::link::Links;
use super::session::reactor::Reactor;
use super::session::transport::{Tokens, Transport, TransportSet};
use super::session::{ClientState, Core, CoreConfig};
use super::{ConnectionStatus, DisconnectPeerError, MultiplayerPeer, PeerId};
use crate::webrtc::{EndpointStats, IceCandidate, LinkState, SessionDescription, SignalError};

pub use super::session::{AuthError, AuthMessage, MultiplayerStats, Role};
pub use error::{AddPeerError, WebRtcCreateError};
pub use listener::WebRtcListener;
pub use options::WebRtcPeerOptions;
use transport::WebRtcTransport;

/// Godot's `WebRTCMultiplayerPeer`; see the [module documentation](self).
#[derive(Debug)]
pub struct WebRtcMultiplayerPeer {
    /// Its one transport; `None` once closed.
    transports: Option<TransportSet>,
    core: Core,
    reactor: Reactor,
}

impl WebRtcMultiplayerPeer {
    /// A server, id 1 (Godot's `create_server`). Add each client with
    /// [`add_peer`](Self::add_peer) once signalling has named it.
    ///
    /// A server is an ICE-lite agent: it sends no connectivity checks and
    /// answers the ones it gets, so it never sends to an address that did
    /// not send to it first. Its clients must be full agents (browsers,
    /// Godot and Volley clients are).
    ///
    /// # Errors
    ///
    /// A [`WebRtcCreateError`].
    pub fn create_server(mut options: WebRtcPeerOptions) -> Result<Self, WebRtcCreateError> {
        options.endpoint.link.ice_lite = true;
        let mut peer = Self::open(Role::Server, PeerId::SERVER, options)?;
        peer.core.status = ConnectionStatus::Connected;
        Ok(peer)
    }

    /// A client with id `id` (Godot's `create_client`): it may add only the
    /// server, [`PeerId::SERVER`], and is connected once that connection is.
    ///
    /// # Errors
    ///
    /// [`WebRtcCreateError::InvalidId`] for id 1; otherwise as
    /// [`create_server`](Self::create_server).
    pub fn create_client(
        id: PeerId,
        mut options: WebRtcPeerOptions,
    ) -> Result<Self, WebRtcCreateError> {
        options.endpoint.link.ice_lite = false;
        if id.is_server() {
            return Err(WebRtcCreateError::InvalidId(id));
        }
        let mut peer = Self::open(Role::Client, id, options)?;
        peer.core.status = ConnectionStatus::Connecting;
        peer.core.client = Some(ClientState::new(0));
        Ok(peer)
    }

    /// A mesh peer with id `id` (Godot's `create_mesh`): connected at once,
    /// to whoever it adds; no relay.
    ///
    /// # Errors
    ///
    /// As [`create_server`](Self::create_server).
    pub fn create_mesh(
        id: PeerId,
        mut options: WebRtcPeerOptions,
    ) -> Result<Self, WebRtcCreateError> {
        options.endpoint.link.ice_lite = false;
        let mut peer = Self::open(Role::Mesh, id, options)?;
        peer.core.status = ConnectionStatus::Connected;
        Ok(peer)
    }

    fn open(role: Role, id: PeerId, options: WebRtcPeerOptions) -> Result<Self, WebRtcCreateError> {
        if !(1..=volley_proto::constants::MAX_PEERS).contains(&options.max_clients) {
            return Err(WebRtcCreateError::MaxClients(options.max_clients));
        }
        let channels = options.endpoint.link.layout.max_user_channel() + 1;
        let mut transport = WebRtcTransport::open(0, options.endpoint)?;
        let reactor = Reactor::new()?;
        transport.register(reactor.registry(), Tokens::new(0))?;
        let config = CoreConfig {
            role,
            profile: WireProfile::Godot4,
            channels,
            max_clients: options.max_clients,
            max_frame_size: transport.max_frame_size(),
            options: options.session,
        };
        let mut transports = TransportSet::default();
        transports.push(Box::new(transport));
        Ok(Self { transports: Some(transports), core: Core::new(config, id), reactor })
    }

    /// The one transport, while open.
    fn transport_mut(&mut self) -> Option<&mut WebRtcTransport> {
        rtc_transport(self.transports.as_mut()?)
    }

    fn transport(&self) -> Option<&WebRtcTransport> {
        self.transports.as_ref()?.get_as(0)
    }

    /// Adds a connection to the remote `id` (Godot's `add_peer`): a server
    /// adds clients (any id but 1), a client only the server (1), a mesh
    /// peer anyone. Signal it next: one end calls
    /// [`create_offer`](Self::create_offer).
    ///
    /// # Errors
    ///
    /// An [`AddPeerError`]; nothing was added.
    pub fn add_peer(&mut self, id: PeerId) -> Result<(), AddPeerError> {
        let role = self.core.role;
        match role {
            Role::Client if !id.is_server() => return Err(AddPeerError::ClientAddsServerOnly(id)),
            Role::Server if id.is_server() => return Err(AddPeerError::ServerIsOne),
            _ => {}
        }
        let transports = self.transports.as_mut().ok_or(AddPeerError::Closed)?;
        // Links that went down meanwhile free their ids first.
        while let Some(event) = transports.get_mut(0).and_then(|t| t.poll_event()) {
            self.core.handle(transports, event);
        }
        let transport = rtc_transport(transports).ok_or(AddPeerError::Closed)?;
        if self.core.id_taken(id) || transport.link_of_peer(id).is_some() {
            return Err(AddPeerError::DuplicateId(id));
        }
        let link = transport.open_link(id)?;
        if role == Role::Server {
            self.core.handle(transports, WebRtcTransport::join_request(link, id));
            let transport = rtc_transport(transports).ok_or(AddPeerError::Closed)?;
            if !transport.in_session(link) {
                let reason = transport.take_refusal();
                transport.discard(link);
                return Err(AddPeerError::Refused(reason));
            }
        } else {
            self.core.add_dialled(link, id);
            if let Some(transport) = rtc_transport(transports) {
                transport.enter_session(link);
            }
        }
        Ok(())
    }

    /// Ends the connection to `id` (Godot's `remove_peer`): a connected
    /// remote's [`PeerEvent::Disconnected`](super::PeerEvent::Disconnected)
    /// follows.
    ///
    /// # Errors
    ///
    /// [`DisconnectPeerError::UnknownPeer`] without such a connection.
    pub fn remove_peer(&mut self, id: PeerId) -> Result<(), DisconnectPeerError> {
        let unknown = DisconnectPeerError::UnknownPeer(id);
        let transports = self.transports.as_mut().ok_or(unknown)?;
        let link = rtc_transport(transports).and_then(|t| t.link_of_peer(id)).ok_or(unknown)?;
        if self.core.disconnect_peer(transports, id, false).is_err() {
            // Still negotiating: the core learns of it from the link's end.
            transports.disconnect(link, super::session::link::Departure::AfterQueued, 0);
        }
        Ok(())
    }

    /// Whether a connection to `id` exists, negotiating or connected
    /// (Godot's `has_peer`).
    pub fn has_peer(&self, id: PeerId) -> bool {
        self.transport().is_some_and(|t| t.link_of_peer(id).is_some())
    }

    /// Where the connection to `id` stands.
    pub fn peer_state(&self, id: PeerId) -> Option<LinkState> {
        let transport = self.transport()?;
        let rtc = transport.rtc(transport.link_of_peer(id)?)?;
        transport.endpoint().link(rtc).map(|link| link.state())
    }

    /// The ids of every connection, negotiating or connected.
    pub fn peers(&self) -> Vec<PeerId> {
        self.transport().map(|t| t.peers().collect()).unwrap_or_default()
    }

    /// Starts negotiating the connection to `id` from this end: the offer
    /// to signal to it (Godot's `create_offer` and
    /// `session_description_created`).
    ///
    /// # Errors
    ///
    /// A [`SignalError`]; [`SignalError::NotNegotiating`] without such a
    /// connection.
    pub fn create_offer(&mut self, id: PeerId) -> Result<SessionDescription, SignalError> {
        let transport = self.transport_mut().ok_or(SignalError::NotNegotiating)?;
        let link = transport.link_of_peer(id).ok_or(SignalError::NotNegotiating)?;
        transport.create_offer(link)
    }

    /// Takes `id`'s description (Godot's `set_remote_description`); an
    /// offer returns the answer to signal back.
    ///
    /// # Errors
    ///
    /// A [`SignalError`]; [`SignalError::NotNegotiating`] without such a
    /// connection.
    pub fn set_remote_description(
        &mut self,
        id: PeerId,
        description: &SessionDescription,
    ) -> Result<Option<SessionDescription>, SignalError> {
        let transport = self.transport_mut().ok_or(SignalError::NotNegotiating)?;
        let link = transport.link_of_peer(id).ok_or(SignalError::NotNegotiating)?;
        transport.set_remote_description(link, description)
    }

    /// Adds a candidate `id` trickled (Godot's `add_ice_candidate`).
    ///
    /// # Errors
    ///
    /// A [`SignalError`]; [`SignalError::NotNegotiating`] without such a
    /// connection.
    pub fn add_ice_candidate(
        &mut self,
        id: PeerId,
        candidate: &IceCandidate,
    ) -> Result<(), SignalError> {
        let transport = self.transport_mut().ok_or(SignalError::NotNegotiating)?;
        let link = transport.link_of_peer(id).ok_or(SignalError::NotNegotiating)?;
        transport.add_remote_candidate(link, candidate)
    }

    /// This end's candidates for the connection to `id`, to signal (Godot's
    /// `ice_candidate_created`). They are in this end's descriptions too,
    /// so signalling them separately is only needed by a remote that wants
    /// trickled candidates.
    pub fn local_candidates(&self, id: PeerId) -> Vec<IceCandidate> {
        let Some(transport) = self.transport() else { return Vec::new() };
        transport.link_of_peer(id).map(|link| transport.local_candidates(link)).unwrap_or_default()
    }

    /// What this peer was created as.
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// The address the socket is bound to; `None` once closed.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.transport().map(|t| t.endpoint().local_addr())
    }

    /// Counters of relayed, refused and dropped packets.
    pub fn stats(&self) -> MultiplayerStats {
        self.core.stats
    }

    /// The next authentication message a peer sent while authenticating
    /// (Godot's `auth_callback(id, data)`), with
    /// [`SessionOptions::authentication`](super::session::SessionOptions::authentication)
    /// on. Poll first; a poll returns as soon as one arrives.
    pub fn next_auth_message(&mut self) -> Option<AuthMessage> {
        self.core.next_auth_message()
    }

    /// Sends authentication data to a peer that is authenticating (Godot's
    /// `send_auth`): `[07 00][data]` on the reliable channel.
    ///
    /// # Errors
    ///
    /// [`AuthError`] for a peer that is not authenticating.
    pub fn send_auth(&mut self, peer: PeerId, data: &[u8]) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.send_auth(transports, peer, data)
    }

    /// Completes this side's authentication of `peer` (Godot's
    /// `complete_auth`): `[07 00]`; the peer is admitted once it completed
    /// too.
    ///
    /// # Errors
    ///
    /// [`AuthError`] for a peer that is not authenticating.
    pub fn complete_auth(&mut self, peer: PeerId) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.complete_auth(transports, peer)
    }

    /// What the socket dropped (garbage, unknown sources) and the
    /// negotiations refused or timed out.
    pub fn endpoint_stats(&self) -> Option<EndpointStats> {
        self.transport().map(|t| t.endpoint().stats())
    }
}

/// The WebRTC transport of a lone peer's set.
fn rtc_transport(transports: &mut TransportSet) -> Option<&mut WebRtcTransport> {
    transports.get_mut_as(0)
}

impl MultiplayerPeer for WebRtcMultiplayerPeer {
    crate::multiplayer::session::delegate_to_core!();

    /// A server then refuses [`add_peer`](WebRtcMultiplayerPeer::add_peer).
    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.core.refuse_new_connections = refuse;
    }

    fn unique_id(&self) -> PeerId {
        self.core.unique_id
    }

    fn is_server(&self) -> bool {
        self.core.role == Role::Server
    }

    /// As in Godot: true for a server and its clients, false in a mesh.
    fn is_server_relay_supported(&self) -> bool {
        self.core.role != Role::Mesh
    }

    crate::multiplayer::session::delegate_to_transports!();
}
