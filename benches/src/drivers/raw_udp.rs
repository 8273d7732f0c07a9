//! Raw UDP: `std::net::UdpSocket` and nothing else (no acknowledgement, no
//! retransmission, no ordering): the floor every library is compared with.
//!
//! Messages are packed as the engines pack theirs: each send appends a
//! 2-byte length and the message to a datagram, which goes out when the
//! next message would not fit (at most `MESSAGES_PER_DATAGRAM` messages and
//! `PACKED_DATAGRAM` bytes) or at the next service or flush. A message
//! larger than that travels alone.
//!
//! Both sockets get the kernel buffers ENet and Volley ask for (256 KiB
//! each way). A client says hello with an empty datagram so the server knows
//! its address. With no flow control of its own, a sender keeps at most as
//! many messages ahead of what the server counted (the runner's in-process
//! count, free of any network cost) as the receive buffer always holds.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::{
    Client, Delivery, DriverError, Feature, Incoming, PeerId, SOCKET_BUFFER, Server, ServerSetup,
    Wait, bind_udp as bind,
};

/// Largest datagram read (the largest message the runner sends is 16 KiB).
const MAX_DATAGRAM: usize = 64 * 1024;
/// Bytes of packed messages per datagram: Volley's and ENet's default MTU.
const PACKED_DATAGRAM: usize = 1392;
/// Messages per datagram at most: as many 64 B messages as ENet's
/// aggregation fits in one datagram next to an acknowledgement.
const MESSAGES_PER_DATAGRAM: usize = 18;
/// Length prefix of each packed message.
const PREFIX: usize = 2;
/// Kernel memory a queued datagram costs beyond its bytes (a generous
/// estimate of the socket buffer's per-datagram overhead).
const DATAGRAM_OVERHEAD: usize = 1024;

/// Messages waiting to go out in one datagram.
#[derive(Default)]
struct Packer {
    datagram: Vec<u8>,
    messages: usize,
}

impl Packer {
    /// Appends `bytes`; returns the full datagram first if it would not fit.
    fn push(
        &mut self,
        socket: &UdpSocket,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), DriverError> {
        let len = u16::try_from(bytes.len())
            .map_err(|_| DriverError::library("message longer than 65535 bytes"))?;
        if self.messages == MESSAGES_PER_DATAGRAM
            || (self.messages > 0 && self.datagram.len() + PREFIX + bytes.len() > PACKED_DATAGRAM)
        {
            self.flush(socket, to)?;
        }
        self.datagram.extend_from_slice(&len.to_le_bytes());
        self.datagram.extend_from_slice(bytes);
        self.messages += 1;
        Ok(())
    }

    /// Sends the datagram if it holds anything, waiting for room in the
    /// kernel's buffer as a blocking send would.
    fn flush(&mut self, socket: &UdpSocket, to: SocketAddr) -> Result<(), DriverError> {
        if self.messages == 0 {
            return Ok(());
        }
        loop {
            match socket.send_to(&self.datagram, to) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        }
        self.datagram.clear();
        self.messages = 0;
        Ok(())
    }
}

/// Calls `on` with each message packed in `datagram`.
fn unpack(mut datagram: &[u8], on: &mut dyn FnMut(&[u8])) -> Result<(), DriverError> {
    while let Some((prefix, rest)) = datagram.split_first_chunk::<PREFIX>() {
        let len = usize::from(u16::from_le_bytes(*prefix));
        let message =
            rest.get(..len).ok_or_else(|| DriverError::library("truncated packed message"))?;
        on(message);
        datagram = &rest[len..];
    }
    if datagram.is_empty() { Ok(()) } else { Err(DriverError::library("stray byte in datagram")) }
}

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
            Feature::Sequenced => Some("no sequencing"),
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        Ok(Box::new(RawServer {
            socket: Mode::new(super::bind_server(&setup)?),
            peers: HashMap::new(),
            addresses: Vec::new(),
            outgoing: Vec::new(),
            buf: vec![0; MAX_DATAGRAM],
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let socket = Mode::new(bind(super::any_port_for(server), SOCKET_BUFFER)?);
        socket.socket.send_to(&[], server)?;
        Ok(Box::new(RawClient {
            socket,
            server,
            greeted: false,
            outgoing: Packer::default(),
            buf: vec![0; MAX_DATAGRAM],
        }))
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
    /// What waits to go to each peer, by [`PeerId`].
    outgoing: Vec<Packer>,
    buf: Vec<u8>,
}

impl Server for RawServer {
    fn local_addr(&self) -> SocketAddr {
        self.socket.socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        self.flush()?;
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
            unpack(&self.buf[..len], &mut |bytes| on(Incoming::Message { peer, bytes }))?;
            if matches!(wait, Wait::Block(_)) {
                break;
            }
            wait = Wait::Poll;
        }
        Ok(())
    }

    fn send(&mut self, peer: PeerId, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let to = *self.addresses.get(peer).ok_or_else(|| DriverError::library("unknown peer"))?;
        if self.outgoing.len() <= peer {
            self.outgoing.resize_with(peer + 1, Packer::default);
        }
        self.outgoing[peer].push(&self.socket.socket, to, bytes)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        for (packer, &to) in self.outgoing.iter_mut().zip(&self.addresses) {
            packer.flush(&self.socket.socket, to)?;
        }
        Ok(())
    }
}

struct RawClient {
    socket: Mode,
    server: SocketAddr,
    greeted: bool,
    outgoing: Packer,
    buf: Vec<u8>,
}

impl Client for RawClient {
    fn socket_fd(&self) -> Option<RawFd> {
        Some(self.socket.socket.as_raw_fd())
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        if !self.greeted {
            // Connectionless: usable as soon as the hello is out.
            self.greeted = true;
            on(Incoming::Connected(0));
            return Ok(());
        }
        self.outgoing.flush(&self.socket.socket, self.server)?;
        let mut wait = wait;
        while let Some((len, from)) = self.socket.recv(wait, &mut self.buf)? {
            if from == self.server {
                unpack(&self.buf[..len], &mut |bytes| on(Incoming::Message { peer: 0, bytes }))?;
            }
            if matches!(wait, Wait::Block(_)) {
                break;
            }
            wait = Wait::Poll;
        }
        Ok(())
    }

    fn send(&mut self, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.outgoing.push(&self.socket.socket, self.server, bytes)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.outgoing.flush(&self.socket.socket, self.server)
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        let per_datagram = (PACKED_DATAGRAM / (len + PREFIX)).clamp(1, MESSAGES_PER_DATAGRAM);
        let datagram_len = per_datagram * (len + PREFIX);
        let datagrams = (SOCKET_BUFFER / (datagram_len + DATAGRAM_OVERHEAD)).max(4);
        ((datagrams * per_datagram) as u64).saturating_sub(unconfirmed) as usize
    }
}
