//! Volley's WebSocket transport, [`volley::websocket`]: a [`WsServer`] and
//! [`WsClient`]s on tungstenite, each in its own mio poll.
//!
//! Driven as its documentation says: readiness events go to `on_ready`,
//! `on_timer` at the deadline it names, events are drained with
//! `poll_event`, and what a service queued leaves with one `flush` (frames
//! batched into few writes). Over TCP every message is reliable and
//! ordered; there is no unreliable delivery. A stream is fed whenever
//! fewer than `LOW_MARK` bytes are unconfirmed by the receiver, topping
//! up to `HIGH_MARK`, well inside the connection's outbound cap.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley::mio::{Events, Poll, Token};
use volley::websocket::{ConnectionId, WsClient, WsConfig, WsEvent, WsServer};

use super::{Client, Delivery, DriverError, Feature, Incoming, PeerId, Server, ServerSetup, Wait};

/// Unconfirmed bytes below which the client is fed again.
pub(crate) const LOW_MARK: usize = 64 * 1024;
/// Unconfirmed bytes a feed tops up to.
pub(crate) const HIGH_MARK: usize = 256 * 1024;

/// What a TCP transport cannot do, for [`System::lacks`](super::System::lacks).
pub(crate) fn tcp_lacks(feature: Feature) -> Option<&'static str> {
    match feature {
        Feature::UnreliableSize(_) | Feature::Sequenced => Some("TCP: reliable only"),
        Feature::SharedPort => Some("the listener binds without SO_REUSEPORT"),
        Feature::Clients(n) if n > 1000 => {
            Some("not run past 1,000 clients (a TCP connection each)")
        }
        _ => None,
    }
}

/// How many more messages of `len` bytes to give a TCP stream with
/// `unconfirmed` messages not yet counted by the receiver.
pub(crate) fn tcp_room(len: usize, unconfirmed: u64) -> usize {
    let len = len.max(1);
    let queued = usize::try_from(unconfirmed).unwrap_or(usize::MAX).saturating_mul(len);
    if queued < LOW_MARK { (HIGH_MARK - queued) / len + 1 } else { 0 }
}

/// Volley over WebSocket (this workspace).
#[derive(Debug, Clone, Copy)]
pub struct VolleyWs;

const SERVER: Token = Token(0);
const CLIENT: Token = Token(0);

impl super::System for VolleyWs {
    fn name(&self) -> &'static str {
        "Volley WS"
    }

    fn version(&self) -> &'static str {
        concat!("volley ", env!("CARGO_PKG_VERSION"), " websocket")
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        tcp_lacks(feature)
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let config = WsConfig::default()
            .max_connections(setup.peers.max(1) + 16)
            .max_pending_handshakes(setup.peers.max(1) + 16);
        let mut server = WsServer::bind(setup.bind, config)?;
        let poll = Poll::new()?;
        server.register(poll.registry(), SERVER)?;
        Ok(Box::new(VolleyWsServer {
            server,
            poll,
            events: Events::with_capacity(1024),
            peers: Vec::new(),
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let url = format!("ws://{server}/");
        let mut client = WsClient::dial(&url, &WsConfig::default(), None, Instant::now())
            .map_err(DriverError::library)?;
        let poll = Poll::new()?;
        client.register(poll.registry(), CLIENT)?;
        Ok(Box::new(VolleyWsClient { client, poll, events: Events::with_capacity(16) }))
    }
}

/// How long a poll may sleep: as `wait` says, but no longer than the next
/// deadline.
fn timeout(wait: Wait, deadline: Option<Instant>) -> Duration {
    let limit = match wait {
        Wait::Poll => Duration::ZERO,
        Wait::Block(limit) => limit,
    };
    deadline.map_or(limit, |d| d.saturating_duration_since(Instant::now()).min(limit))
}

struct VolleyWsServer {
    server: WsServer,
    poll: Poll,
    events: Events,
    /// Connections by the small index the runner knows them by.
    peers: Vec<Option<ConnectionId>>,
}

impl Server for VolleyWsServer {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let wait = timeout(wait, self.server.next_deadline(Instant::now()));
        self.poll.poll(&mut self.events, Some(wait))?;
        let now = Instant::now();
        for event in &self.events {
            self.server.on_ready(event.token(), now);
        }
        self.server.on_timer(now);
        while let Some((id, event)) = self.server.poll_event() {
            let peer = id.index() as usize;
            match event {
                WsEvent::Opened => {
                    if self.peers.len() <= peer {
                        self.peers.resize(peer + 1, None);
                    }
                    self.peers[peer] = Some(id);
                    on(Incoming::Connected(peer));
                }
                WsEvent::Message { data, .. } => on(Incoming::Message { peer, bytes: &data }),
                WsEvent::Closed(_) => {
                    if let Some(slot) = self.peers.get_mut(peer) {
                        *slot = None;
                    }
                    on(Incoming::Disconnected(peer));
                }
            }
        }
        self.server.flush();
        Ok(())
    }

    fn send(&mut self, peer: PeerId, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let id = self
            .peers
            .get(peer)
            .copied()
            .flatten()
            .ok_or_else(|| DriverError::library(format!("no peer {peer}")))?;
        self.server.send(id, bytes.to_vec().into()).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.server.flush();
        Ok(())
    }
}

struct VolleyWsClient {
    client: WsClient,
    poll: Poll,
    events: Events,
}

impl Client for VolleyWsClient {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let wait = timeout(wait, self.client.next_deadline(Instant::now()));
        self.poll.poll(&mut self.events, Some(wait))?;
        let now = Instant::now();
        if !self.events.is_empty() {
            self.client.on_ready(now);
        }
        self.client.on_timer(now);
        while let Some(event) = self.client.poll_event() {
            match event {
                WsEvent::Opened => on(Incoming::Connected(0)),
                WsEvent::Message { data, .. } => on(Incoming::Message { peer: 0, bytes: &data }),
                WsEvent::Closed(_) => on(Incoming::Disconnected(0)),
            }
        }
        self.client.flush();
        Ok(())
    }

    fn send(&mut self, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.client.send(bytes.to_vec().into()).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.client.flush();
        Ok(())
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        tcp_room(len, unconfirmed)
    }
}
