//! Volley through its host, [`volley::Host`], on real sockets.
//!
//! Driven as its documentation says for a server loop: `service_batch(timeout)`
//! reads everything waiting under one lock (`Duration::ZERO` never waits, a
//! timeout sleeps in epoll) and lends each event's payload out of the receive
//! buffer, so nothing is copied or recycled; what the events cause leaves
//! with their acknowledgements at the next service or flush. A stream is fed
//! the way ENet's is: a batch whenever the bytes queued or in flight to the
//! peer fall below a low mark, so queues stay short and the socket never
//! starves.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use volley::socket::SocketConfig;
use volley::{Event, Host, HostConfig, PeerHandle, TransferMode};

use super::{
    Client, Delivery, DriverError, EnginePair, Feature, Incoming, PeerId, Server, ServerSetup, Wait,
};
use crate::link::Link;

/// Queued-or-in-flight bytes below which the client is fed again.
const LOW_MARK: usize = 64 * 1024;
/// Queued-or-in-flight bytes a feed tops the queue up to.
const HIGH_MARK: usize = 256 * 1024;

/// Volley (this workspace).
#[derive(Debug, Clone, Copy)]
pub struct Volley;

impl super::System for Volley {
    fn name(&self) -> &'static str {
        "Volley"
    }

    fn version(&self) -> &'static str {
        concat!("volley ", env!("CARGO_PKG_VERSION"))
    }

    fn lacks(&self, _feature: Feature) -> Option<&'static str> {
        None
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let mut config = HostConfig::server(setup.bind);
        config.socket(
            SocketConfig::new(setup.bind)
                .recv_buffer_size(setup.receive_buffer)
                .reuse_port(setup.reuse_port),
        );
        let peers = setup.peers.max(1);
        // Every client of the runner comes from 127.0.0.1: allow them all to
        // be half-open at once (the default guards against floods from one
        // address with 16).
        config.endpoint().peer_limit(peers).channel_limit(1).max_half_open(peers, peers);
        let host = Host::new(config).map_err(DriverError::library)?;
        Ok(Box::new(VolleyServer { host, peers: Vec::new() }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let mut config = HostConfig::client();
        config.endpoint().channel_limit(1);
        let host = Host::new(config).map_err(DriverError::library)?;
        let peer = host.connect(server, 1, 0).map_err(DriverError::library)?;
        Ok(Box::new(VolleyClient { host, peer }))
    }

    fn engine_pair(&self) -> Result<Box<dyn EnginePair>, &'static str> {
        Link::connected()
            .map(|link| Box::new(link) as Box<dyn EnginePair>)
            .map_err(|_| "handshake failed")
    }
}

/// The engine alone is the crate's in-memory [`Link`] (as in the engine bench).
impl EnginePair for Link {
    fn transfer(&mut self, len: usize, count: u64) -> Result<(), DriverError> {
        Self::transfer(self, TransferMode::Reliable, len, count).map_err(DriverError::library)
    }
}

fn mode(delivery: Delivery) -> TransferMode {
    match delivery {
        Delivery::Reliable => TransferMode::Reliable,
        Delivery::Unreliable => TransferMode::Unreliable,
        Delivery::Sequenced => TransferMode::UnreliableOrdered,
    }
}

fn peer_id(peer: PeerHandle) -> PeerId {
    usize::from(peer.index())
}

/// Services `host` once with `service_batch` (waiting as `wait` says for
/// the first event), handing each event to `on` with its peer handle.
fn service(
    host: &mut Host,
    wait: Wait,
    on: &mut dyn FnMut(PeerHandle, Incoming<'_>),
) -> Result<(), DriverError> {
    let timeout = match wait {
        Wait::Poll => Duration::ZERO,
        Wait::Block(limit) => limit,
    };
    host.service_batch(timeout, |event, _| match event {
        Event::Connected { peer, .. } => on(peer, Incoming::Connected(peer_id(peer))),
        Event::Disconnected { peer, .. } => on(peer, Incoming::Disconnected(peer_id(peer))),
        Event::Received { peer, payload, .. } => {
            on(peer, Incoming::Message { peer: peer_id(peer), bytes: payload });
        }
        _ => {}
    })
    .map_err(DriverError::library)?;
    Ok(())
}

struct VolleyServer {
    host: Host,
    /// Live handles by slot index (the [`PeerId`]).
    peers: Vec<Option<PeerHandle>>,
}

impl Server for VolleyServer {
    fn local_addr(&self) -> SocketAddr {
        self.host.local_addr()
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let peers = &mut self.peers;
        service(&mut self.host, wait, &mut |handle, incoming| {
            let slot = peer_id(handle);
            if peers.len() <= slot {
                peers.resize(slot + 1, None);
            }
            match incoming {
                Incoming::Connected(_) => peers[slot] = Some(handle),
                Incoming::Disconnected(_) => peers[slot] = None,
                Incoming::Message { .. } => {}
            }
            on(incoming);
        })
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let handle = self
            .peers
            .get(peer)
            .copied()
            .flatten()
            .ok_or_else(|| DriverError::library(format!("no peer {peer}")))?;
        self.host.send(handle, 0, mode(delivery), bytes).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush().map_err(DriverError::library)
    }
}

struct VolleyClient {
    host: Host,
    peer: PeerHandle,
}

impl Client for VolleyClient {
    fn socket_fd(&self) -> Option<RawFd> {
        Some(self.host.as_raw_fd())
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        service(&mut self.host, wait, &mut |_, incoming| match incoming {
            Incoming::Message { bytes, .. } => on(Incoming::Message { peer: 0, bytes }),
            Incoming::Connected(_) => on(Incoming::Connected(0)),
            Incoming::Disconnected(_) => on(Incoming::Disconnected(0)),
        })
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.host.send(self.peer, 0, mode(delivery), bytes).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush().map_err(DriverError::library)
    }

    fn room(&mut self, len: usize, _unconfirmed: u64) -> usize {
        match self.host.peer_queued_bytes(self.peer) {
            Some(queued) if queued < LOW_MARK => (HIGH_MARK - queued) / len.max(1) + 1,
            _ => 0,
        }
    }
}

impl Drop for VolleyClient {
    fn drop(&mut self) {
        // Tell the server at once so that it frees the slot.
        let _ = self.host.disconnect_now(self.peer, 0);
        let _ = self.host.flush();
    }
}
