//! rusty_enet: ENet 1.3 transpiled from C to Rust, on `std::net::UdpSocket`.
//!
//! Driven as its documentation says: `Host::service` is called until it
//! returns no event ("should be called fairly regularly"); it never blocks,
//! so the blocking variant sleeps in `poll(2)` on the host's socket between
//! calls, as the C library does inside `enet_host_service`. The socket gets
//! the 256 KiB buffers ENet C asks for (rusty_enet leaves them at the
//! system default). rusty_enet shows nothing of its queues, so a stream is
//! fed a batch whenever fewer than 64 KiB of it remain unconfirmed by the
//! receiver, topping up to 256 KiB.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use rusty_enet::{Event, Host, HostSettings, Packet, PeerID};

use super::{
    Client, Delivery, DriverError, Feature, Incoming, PeerId, SOCKET_BUFFER, Server, ServerSetup,
    Wait, any_port_for, bind_server, bind_udp, wait_readable,
};

/// Unconfirmed bytes below which the client is fed again.
const LOW_MARK: usize = 64 * 1024;
/// Unconfirmed bytes a feed tops the stream up to.
const HIGH_MARK: usize = 256 * 1024;

/// rusty_enet (crates.io).
#[derive(Debug, Clone, Copy)]
pub struct RustyEnet;

impl super::System for RustyEnet {
    fn name(&self) -> &'static str {
        "rusty_enet"
    }

    fn version(&self) -> &'static str {
        "rusty_enet 0.4.1"
    }

    fn lacks(&self, _feature: Feature) -> Option<&'static str> {
        None
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let host = host(bind_server(&setup)?, setup.peers)?;
        Ok(Box::new(RustyServer { host }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let mut host = host(bind_udp(any_port_for(server), SOCKET_BUFFER)?, 1)?;
        let peer = host.connect(server, 1, 0).map_err(DriverError::library)?.id();
        Ok(Box::new(RustyClient { host, peer }))
    }
}

fn host(socket: UdpSocket, peers: usize) -> Result<Host<UdpSocket>, DriverError> {
    let settings =
        HostSettings { peer_limit: peers.max(1), channel_limit: 1, ..Default::default() };
    Host::new(socket, settings).map_err(|e| DriverError::library(format!("{e:?}")))
}

fn packet(delivery: Delivery, bytes: &[u8]) -> Packet {
    match delivery {
        Delivery::Reliable => Packet::reliable(bytes),
        Delivery::Unreliable => Packet::unreliable_unsequenced(bytes),
        Delivery::Sequenced => Packet::unreliable(bytes),
    }
}

/// Calls `Host::service` until it has nothing more; when blocking and
/// nothing happened, sleeps on the socket once and tries again.
fn service(
    host: &mut Host<UdpSocket>,
    wait: Wait,
    on: &mut dyn FnMut(Incoming<'_>),
) -> Result<(), DriverError> {
    let mut may_wait = matches!(wait, Wait::Block(_));
    loop {
        let mut any = false;
        while let Some(event) = host.service()? {
            any = true;
            match event {
                Event::Connect { peer, .. } => on(Incoming::Connected(peer.id().0)),
                Event::Disconnect { peer, .. } => on(Incoming::Disconnected(peer.id().0)),
                Event::Receive { peer, packet, .. } => {
                    on(Incoming::Message { peer: peer.id().0, bytes: packet.data() });
                }
            }
        }
        match wait {
            Wait::Block(limit) if may_wait && !any => {
                wait_readable(host.socket().as_raw_fd(), limit)?;
                may_wait = false;
            }
            _ => return Ok(()),
        }
    }
}

struct RustyServer {
    host: Host<UdpSocket>,
}

impl Server for RustyServer {
    fn local_addr(&self) -> SocketAddr {
        self.host.socket().local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        service(&mut self.host, wait, on)
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let peer = self
            .host
            .get_peer_mut(PeerID(peer))
            .ok_or_else(|| DriverError::library(format!("no peer {peer}")))?;
        peer.send(0, &packet(delivery, bytes)).map_err(|e| DriverError::library(format!("{e:?}")))
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush();
        Ok(())
    }
}

struct RustyClient {
    host: Host<UdpSocket>,
    peer: PeerID,
}

impl Client for RustyClient {
    fn socket_fd(&self) -> Option<RawFd> {
        Some(self.host.socket().as_raw_fd())
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        service(&mut self.host, wait, on)
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.host
            .peer_mut(self.peer)
            .send(0, &packet(delivery, bytes))
            .map_err(|e| DriverError::library(format!("{e:?}")))
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush();
        Ok(())
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        let len = len.max(1);
        let queued = usize::try_from(unconfirmed).unwrap_or(usize::MAX).saturating_mul(len);
        if queued < LOW_MARK { (HIGH_MARK - queued) / len + 1 } else { 0 }
    }
}

impl Drop for RustyClient {
    fn drop(&mut self) {
        self.host.peer_mut(self.peer).disconnect_now(0);
        self.host.flush();
    }
}
