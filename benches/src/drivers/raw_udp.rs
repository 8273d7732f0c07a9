//! Raw UDP: `std::net::UdpSocket` with one message per datagram and nothing
//! else (no header, no acknowledgement, no retransmission): the floor every
//! library is compared with.
//!
//! Both sockets get the kernel buffers ENet and Volley ask for (256 KiB
//! each way). A client says hello with an empty datagram so the server knows
//! its address. With no flow control of its own, a sender keeps at most
//! `256 KiB / (len + 1 KiB)` messages ahead of what the server counted (the
//! runner's in-process count, free of any network cost), which the receive
//! buffer always holds.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::{
    Client, Delivery, DriverError, Feature, Incoming, PeerId, SOCKET_BUFFER, Server, ServerSetup,
    Wait, bind_udp as bind,
};

/// Largest datagram read (the largest message the runner sends is 16 KiB).
const MAX_DATAGRAM: usize = 64 * 1024;

/// Raw UDP, the floor.
#[derive(Debug, Clone, Copy)]
pub struct RawUdp;

impl super::System for RawUdp {
    fn name(&self) -> &'static str {
        "raw UDP"
    }

    fn version(&self) -> &'static str {
        "std::net::UdpSocket"
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        match feature {
            Feature::Retransmission => Some("no retransmission"),
            Feature::Handshake => Some("connectionless"),
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        Ok(Box::new(RawServer {
            socket: Mode::new(bind(setup.bind)?),
            peers: HashMap::new(),
            addresses: Vec::new(),
            buf: vec![0; MAX_DATAGRAM],
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let socket = Mode::new(bind(super::any_port_for(server))?);
        socket.socket.send_to(&[], server)?;
        Ok(Box::new(RawClient { socket, server, greeted: false, buf: vec![0; MAX_DATAGRAM] }))
    }
}

/// A socket and the blocking mode it is in, switched only when the wait changes.
struct Mode {
    socket: UdpSocket,
    current: Option<Wait>,
}

impl Mode {
    fn new(socket: UdpSocket) -> Self {
        Self { socket, current: None }
    }

    /// Receives one datagram, waiting as `wait` says; `None` if none came.
    fn recv(
        &mut self,
        wait: Wait,
        buf: &mut [u8],
    ) -> Result<Option<(usize, SocketAddr)>, DriverError> {
        if self.current != Some(wait) {
            match wait {
                Wait::Poll => self.socket.set_nonblocking(true)?,
                Wait::Block(limit) => {
                    self.socket.set_nonblocking(false)?;
                    self.socket.set_read_timeout(Some(limit.max(Duration::from_micros(1))))?;
                }
            }
            self.current = Some(wait);
        }
        match self.socket.recv_from(buf) {
            Ok(got) => Ok(Some(got)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

struct RawServer {
    socket: Mode,
    peers: HashMap<SocketAddr, PeerId>,
    addresses: Vec<SocketAddr>,
    buf: Vec<u8>,
}

impl Server for RawServer {
    fn local_addr(&self) -> SocketAddr {
        self.socket.socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        // Blocking: one datagram per wake-up, as a blocking receive loop
        // would; polling: everything waiting.
        let mut wait = wait;
        while let Some((len, from)) = self.socket.recv(wait, &mut self.buf)? {
            let peer = match self.peers.get(&from) {
                Some(&peer) => peer,
                None => {
                    let peer = self.addresses.len();
                    self.peers.insert(from, peer);
                    self.addresses.push(from);
                    on(Incoming::Connected(peer));
                    peer
                }
            };
            if len > 0 {
                on(Incoming::Message { peer, bytes: &self.buf[..len] });
            }
            if matches!(wait, Wait::Block(_)) {
                break;
            }
            wait = Wait::Poll;
        }
        Ok(())
    }

    fn send(&mut self, peer: PeerId, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let to = self.addresses.get(peer).ok_or_else(|| DriverError::library("unknown peer"))?;
        self.socket.socket.send_to(bytes, to)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        Ok(())
    }
}

struct RawClient {
    socket: Mode,
    server: SocketAddr,
    greeted: bool,
    buf: Vec<u8>,
}

impl Client for RawClient {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        if !self.greeted {
            // Connectionless: usable as soon as the hello is out.
            self.greeted = true;
            on(Incoming::Connected(0));
            return Ok(());
        }
        let mut wait = wait;
        while let Some((len, from)) = self.socket.recv(wait, &mut self.buf)? {
            if from == self.server && len > 0 {
                on(Incoming::Message { peer: 0, bytes: &self.buf[..len] });
            }
            if matches!(wait, Wait::Block(_)) {
                break;
            }
            wait = Wait::Poll;
        }
        Ok(())
    }

    fn send(&mut self, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        loop {
            match self.socket.socket.send_to(bytes, self.server) {
                Ok(_) => return Ok(()),
                // A full send buffer: wait for room, as a blocking send would.
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        let window = (SOCKET_BUFFER / (len + 1024)).max(4) as u64;
        window.saturating_sub(unconfirmed) as usize
    }
}
