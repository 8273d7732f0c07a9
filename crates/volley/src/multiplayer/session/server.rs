//! A server session on several listeners at once: one id space, one poll.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley_proto::PeerStats;
use volley_proto::constants::MAX_PEERS;

use super::reactor::Reactor;
use super::transport::{Tokens, Transport, TransportSet};
use super::{
    AuthError, AuthMessage, Core, CoreConfig, CreateError, MultiplayerStats, Role, SessionOptions,
};
use crate::multiplayer::enet::{EnetListener, EnetTransport};
use crate::multiplayer::framing::WireProfile;
use crate::multiplayer::webrtc::WebRtcListener;
use crate::multiplayer::webrtc::transport::WebRtcTransport;
use crate::multiplayer::websocket::{WsListener, WsTransport};
use crate::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerId, PollError};
use crate::webrtc::EndpointStats;
use crate::websocket::WsServerStats;

/// The longest a single poll waits; longer timeouts are cut to this.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The most listeners a session takes (each owns a range of poll tokens).
const MAX_LISTENERS: u16 = 255;

/// A listener of a [`ServerSession`], before it is opened.
#[derive(Debug, Clone)]
enum Listener {
    Enet(EnetListener),
    WebSocket(WsListener),
    WebRtc(WebRtcListener),
}

/// Sets up a [`ServerSession`]: the wire profile, the session's limits and
/// options, and its listeners.
///
/// ```
/// use volley::multiplayer::enet::EnetListener;
/// use volley::multiplayer::framing::WireProfile;
/// use volley::multiplayer::session::{ServerSession, SessionOptions};
///
/// // UDP on IPv4 and on IPv6 without relying on a dual-stack socket.
/// let v4 = EnetListener::new("127.0.0.1:0".parse()?);
/// let session = ServerSession::builder(WireProfile::Godot4)
///     .max_clients(64)
///     .channels(3)
///     .options(SessionOptions::default().id_seed(1))
///     .enet(v4)
///     .build()?;
/// assert_eq!(session.listener_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerSessionBuilder {
    profile: WireProfile,
    max_clients: usize,
    channels: u8,
    options: SessionOptions,
    listeners: Vec<Listener>,
}

impl ServerSessionBuilder {
    /// The most clients across every listener. Default 32 (Godot's); at
    /// most 4095.
    pub fn max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients;
        self
    }

    /// User channels `0..channels`. Default 1. A client whose transport
    /// carries fewer gets fewer.
    pub fn channels(mut self, channels: u8) -> Self {
        self.channels = channels;
        self
    }

    /// The session's options (relay, ids).
    pub fn options(mut self, options: SessionOptions) -> Self {
        self.options = options;
        self
    }

    /// Adds a UDP listener speaking ENet. Its links are numbered after the
    /// listeners added before it.
    pub fn enet(mut self, listener: EnetListener) -> Self {
        self.listeners.push(Listener::Enet(listener));
        self
    }

    /// Adds a TCP listener speaking WebSocket (browsers, Godot's
    /// `WebSocketMultiplayerPeer`), in the session's generation's WebSocket
    /// framing. Its links are numbered after the listeners added before it.
    pub fn websocket(mut self, listener: WsListener) -> Self {
        self.listeners.push(Listener::WebSocket(listener));
        self
    }

    /// Adds a WebRTC listener (browsers' unreliable traffic, Godot's
    /// `WebRTCMultiplayerPeer` clients), godot4 profile only, with its
    /// signalling path if it has one. Its links are numbered after the
    /// listeners added before it.
    pub fn webrtc(mut self, listener: WebRtcListener) -> Self {
        self.listeners.push(Listener::WebRtc(listener));
        self
    }

    /// Opens every listener and starts the session.
    pub fn build(self) -> Result<ServerSession, CreateError> {
        if self.listeners.is_empty() {
            return Err(CreateError::NoListeners);
        }
        if !(1..=MAX_PEERS).contains(&self.max_clients) {
            return Err(CreateError::MaxClients(self.max_clients));
        }
        super::check_config(self.profile, self.channels, &self.options)?;
        let reactor = Reactor::new()?;
        let mut transports = TransportSet::default();
        let mut addresses = Vec::with_capacity(self.listeners.len());
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let index = u16::try_from(index)
                .ok()
                .filter(|&index| index < MAX_LISTENERS)
                .ok_or(CreateError::TooManyListeners)?;
            let mut transport: Box<dyn Transport> = match listener {
                Listener::Enet(listener) => Box::new(EnetTransport::listen(
                    index,
                    &listener,
                    self.profile,
                    self.channels,
                    self.max_clients,
                )?),
                Listener::WebSocket(listener) => {
                    Box::new(WsTransport::server(index, listener.open()?, self.profile))
                }
                Listener::WebRtc(_) if self.profile != WireProfile::Godot4 => {
                    return Err(CreateError::Godot4Only("a WebRTC listener"));
                }
                Listener::WebRtc(listener) => {
                    let signalling = listener.signalling.as_ref().map(WsListener::open);
                    Box::new(WebRtcTransport::listen(
                        index,
                        listener.endpoint,
                        signalling.transpose()?,
                    )?)
                }
            };
            transport.register(reactor.registry(), Tokens::new(index))?;
            addresses.push(transport.local_addr());
            transports.push(transport);
        }
        let config = CoreConfig {
            role: Role::Server,
            profile: self.profile,
            channels: self.channels,
            max_clients: self.max_clients,
            max_frame_size: transports.max_frame_size(),
            options: self.options,
        };
        let mut core = Core::new(config, PeerId::SERVER);
        core.status = ConnectionStatus::Connected;
        Ok(ServerSession { core, transports: Some(transports), reactor, addresses })
    }
}

/// A server [`MultiplayerPeer`] on several listeners at once — say ENet
/// (UDP) for desktop clients and WebSocket (TCP) for browsers, or ENet on
/// IPv4 and on IPv6 — with one id space: clients of every listener see each
/// other join and leave, broadcasts reach them all, and client-to-client
/// packets are relayed across listeners (and transports).
///
/// It behaves as [`EnetMultiplayerPeer::create_server`](crate::multiplayer::EnetMultiplayerPeer::create_server)
/// in everything else; build it with [`ServerSession::builder`]. One poll
/// waits on every listener at once, so [`poll`](MultiplayerPeer::poll)
/// returns as soon as any of them has something.
#[derive(Debug)]
pub struct ServerSession {
    core: Core,
    /// `None` once closed.
    transports: Option<TransportSet>,
    reactor: Reactor,
    addresses: Vec<Option<SocketAddr>>,
}

impl ServerSession {
    /// A builder for a session speaking `profile`, with Godot's defaults
    /// (32 clients, 1 channel) and no listener yet.
    pub fn builder(profile: WireProfile) -> ServerSessionBuilder {
        ServerSessionBuilder {
            profile,
            max_clients: 32,
            channels: 1,
            options: SessionOptions::default(),
            listeners: Vec::new(),
        }
    }

    /// How many listeners the session was built with.
    pub fn listener_count(&self) -> usize {
        self.addresses.len()
    }

    /// The address listener `index` (in the order they were added) is bound
    /// to; `None` once closed.
    pub fn local_addr(&self, index: usize) -> Option<SocketAddr> {
        self.transports.as_ref()?;
        self.addresses.get(index).copied().flatten()
    }

    /// The framing the session speaks.
    pub fn profile(&self) -> WireProfile {
        self.core.profile
    }

    /// Counters of relayed, refused and dropped packets, for the whole
    /// session.
    pub fn stats(&self) -> MultiplayerStats {
        self.core.stats
    }

    /// The remote address of client `peer`.
    pub fn peer_address(&self, peer: PeerId) -> Option<SocketAddr> {
        let link = self.core.link_of(peer)?;
        self.transports.as_ref()?.get(usize::from(link.transport))?.link_address(link)
    }

    /// The engine statistics of client `peer`'s connection, where its
    /// transport keeps them (ENet does).
    pub fn peer_stats(&self, peer: PeerId) -> Option<PeerStats> {
        let link = self.core.link_of(peer)?;
        self.transports.as_ref()?.get(usize::from(link.transport))?.link_stats(link)
    }

    /// The TCP connection counters of listener `index` (accepted, refused
    /// at accept, failed or timed-out upgrades, peers closed for abuse or
    /// silence) if it is a WebSocket listener; `None` otherwise.
    pub fn websocket_stats(&self, index: usize) -> Option<WsServerStats> {
        let transport = self.transports.as_ref()?.get(index)?;
        transport.as_any().downcast_ref::<WsTransport>()?.server_stats()
    }

    /// The address of listener `index`'s signalling path, if it is a
    /// WebRTC listener with one: where browsers open their WebSocket.
    pub fn webrtc_signalling_addr(&self, index: usize) -> Option<SocketAddr> {
        let transport = self.transports.as_ref()?.get(index)?;
        transport.as_any().downcast_ref::<WebRtcTransport>()?.signalling_addr()
    }

    /// What listener `index` dropped and refused, if it is a WebRTC
    /// listener: garbage datagrams, negotiations over the cap or out of
    /// time, and the signalling messages it refused.
    pub fn webrtc_stats(&self, index: usize) -> Option<(EndpointStats, u64)> {
        let transport = self.transports.as_ref()?.get(index)?;
        let webrtc = transport.as_any().downcast_ref::<WebRtcTransport>()?;
        Some((webrtc.endpoint().stats(), webrtc.signalling_refused()))
    }

    /// Which listener (its index) client `peer` came through.
    pub fn peer_listener(&self, peer: PeerId) -> Option<usize> {
        self.core.link_of(peer).map(|link| usize::from(link.transport))
    }

    /// The next authentication message a client sent while authenticating,
    /// with [`SessionOptions::authentication`] on; see
    /// [`EnetMultiplayerPeer::next_auth_message`](crate::multiplayer::EnetMultiplayerPeer::next_auth_message).
    pub fn next_auth_message(&mut self) -> Option<AuthMessage> {
        self.core.next_auth_message()
    }

    /// Sends authentication data to a client that is authenticating.
    pub fn send_auth(&mut self, peer: PeerId, data: &[u8]) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.send_auth(transports, peer, data)
    }

    /// Completes the server's side of a client's authentication.
    pub fn complete_auth(&mut self, peer: PeerId) -> Result<(), AuthError> {
        let transports = self.transports.as_mut().ok_or(AuthError::NotPending(peer))?;
        self.core.complete_auth(transports, peer)
    }
}

impl MultiplayerPeer for ServerSession {
    super::delegate_to_core!();

    /// Newcomers on every listener are refused at their handshake.
    fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.core.refuse_new_connections = refuse;
    }

    /// Always [`PeerId::SERVER`].
    fn unique_id(&self) -> PeerId {
        self.core.unique_id
    }

    /// Always `true`.
    fn is_server(&self) -> bool {
        true
    }

    /// Whether clients reach each other through this server: the relay
    /// option ([`SessionOptions::server_relay`]).
    fn is_server_relay_supported(&self) -> bool {
        self.core.relay
    }

    super::delegate_to_transports!();
}

/// Serves a session's transports for its core: the one poll loop every
/// multi-transport driver runs ([`ServerSession`], the WebSocket peer).
///
/// Waits on `reactor` until something reaches the application or `timeout`
/// passes (at once if items already wait); then handles whatever else
/// already arrived on any transport, and flushes them all.
pub(crate) fn serve(
    core: &mut Core,
    transports: &mut TransportSet,
    reactor: &mut Reactor,
    timeout: Duration,
) -> Result<(), PollError> {
    core.progress = false;
    let wait = if core.has_incoming() { Duration::ZERO } else { timeout.min(MAX_POLL_WAIT) };
    let deadline = Instant::now() + wait;
    loop {
        pump(core, transports)?;
        let now = Instant::now();
        core.run_timers(transports, now);
        if core.progress || now >= deadline {
            break;
        }
        // What the events made this side send (acknowledgements, relayed
        // copies) leaves before the sleep.
        transports.flush()?;
        let wake = [transports.next_deadline(), core.next_deadline()]
            .into_iter()
            .flatten()
            .fold(deadline, Instant::min);
        reactor.wait(wake.saturating_duration_since(now), transports)?;
    }
    transports.flush()?;
    Ok(())
}

/// Pumps every transport once and hands their events to the core.
fn pump(core: &mut Core, transports: &mut TransportSet) -> Result<(), PollError> {
    let now = Instant::now();
    for index in 0..transports.len() {
        let Some(transport) = transports.get_mut(index) else { continue };
        transport.pump(now)?;
        while let Some(event) = transports.get_mut(index).and_then(|t| t.poll_event()) {
            core.handle(transports, event);
        }
    }
    Ok(())
}
