//! ENet's C library (1.3.17, built from source by `enet-sys`), through the
//! crate's [`EnetHost`] wrapper.
//!
//! Driven as ENet's documentation says: `enet_host_service(host, &event,
//! timeout)` until it reports no event (a zero timeout polls, a longer one
//! sleeps in the OS on the socket), each received packet read in place and
//! destroyed. ENet's send path walks a peer's whole outgoing queue on every
//! service, so a stream is queued in batches of `BATCH_BYTES` whenever
//! that queue has drained (everything queued is in flight), which keeps the
//! queue short and the reliable window full. ENet asks the kernel for 256
//! KiB socket buffers itself.

use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::Duration;

use volley_proto::TransferMode;

use super::{Client, Delivery, DriverError, Feature, Incoming, PeerId, Server, ServerSetup, Wait};
use crate::enet_c_host::{EnetEventRef, EnetHost, EnetPeer};

/// Bytes of messages queued at once when the outgoing queue is empty: twice
/// ENet's largest reliable window (64 KiB), so the window stays full while
/// the next batch is queued.
const BATCH_BYTES: usize = 128 * 1024;

/// ENet's C library.
#[derive(Debug, Clone, Copy)]
pub struct EnetC;

impl super::System for EnetC {
    fn name(&self) -> &'static str {
        "ENet C"
    }

    fn version(&self) -> &'static str {
        "enet 1.3.17 (enet-sys 1.0.5)"
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        match feature {
            Feature::SharedPort => Some("ENet 1.3 has no SO_REUSEPORT option"),
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let bind = v4(setup.bind)?;
        let mut host =
            EnetHost::new(Some(bind), setup.peers.max(1), 1).map_err(DriverError::library)?;
        if setup.receive_buffer != super::SOCKET_BUFFER {
            host.set_receive_buffer(setup.receive_buffer).map_err(DriverError::library)?;
        }
        Ok(Box::new(EnetServer { host }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let mut host = EnetHost::new(None, 1, 1).map_err(DriverError::library)?;
        let peer = host.connect(v4(server)?, 1, 0).map_err(DriverError::library)?;
        Ok(Box::new(EnetClient { host, peer }))
    }
}

fn v4(address: SocketAddr) -> Result<SocketAddrV4, DriverError> {
    match address {
        SocketAddr::V4(address) => Ok(address),
        SocketAddr::V6(_) => Err(DriverError::library("ENet 1.3 speaks IPv4 only")),
    }
}

fn mode(delivery: Delivery) -> TransferMode {
    match delivery {
        Delivery::Reliable => TransferMode::Reliable,
        Delivery::Unreliable => TransferMode::Unreliable,
        Delivery::Sequenced => TransferMode::UnreliableOrdered,
    }
}

/// `enet_host_service` until no event is left, the first call waiting as
/// `wait` says.
fn service(
    host: &mut EnetHost,
    wait: Wait,
    on: &mut dyn FnMut(Incoming<'_>),
) -> Result<(), DriverError> {
    let mut timeout = match wait {
        Wait::Poll => Duration::ZERO,
        Wait::Block(limit) => limit,
    };
    while host
        .service_with(timeout, |event| match event {
            EnetEventRef::Connected { peer, .. } => on(Incoming::Connected(peer_id(peer))),
            EnetEventRef::Disconnected { peer, .. } => on(Incoming::Disconnected(peer_id(peer))),
            EnetEventRef::Received { peer, payload, .. } => {
                on(Incoming::Message { peer: peer_id(peer), bytes: payload });
            }
        })
        .map_err(DriverError::library)?
        .is_some()
    {
        timeout = Duration::ZERO;
    }
    Ok(())
}

fn peer_id(peer: EnetPeer) -> PeerId {
    peer.index()
}

struct EnetServer {
    host: EnetHost,
}

impl Server for EnetServer {
    fn local_addr(&self) -> SocketAddr {
        self.host.local_addr().into()
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        service(&mut self.host, wait, on)
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.host
            .send(EnetPeer::from_index(peer), 0, mode(delivery), bytes)
            .map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush();
        Ok(())
    }
}

struct EnetClient {
    host: EnetHost,
    peer: EnetPeer,
}

impl Client for EnetClient {
    fn socket_fd(&self) -> Option<RawFd> {
        Some(self.host.socket_fd())
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        service(&mut self.host, wait, on)
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.host.send(self.peer, 0, mode(delivery), bytes).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.host.flush();
        Ok(())
    }

    fn room(&mut self, len: usize, _unconfirmed: u64) -> usize {
        match self.host.has_unsent(self.peer) {
            Ok(false) => BATCH_BYTES / len.max(1) + 1,
            _ => 0,
        }
    }
}

impl Drop for EnetClient {
    fn drop(&mut self) {
        // The DISCONNECT goes out now, so that the server frees the slot.
        let _ = self.host.disconnect(self.peer, 0);
        self.host.flush();
    }
}
