//! laminar: a semi-reliable UDP protocol, one datagram per message.
//!
//! Driven as its documentation says: `Socket::manual_poll(now)` in the
//! caller's loop, packets queued with `Socket::send` and events taken with
//! `Socket::recv`. Two properties of the protocol shape the driver:
//!
//! - Acknowledgements ride only in the headers of *reliable* packets going
//!   the other way, and each header acknowledges the newest 33 sequence
//!   numbers. The server therefore answers every service call in which a
//!   peer sent it data with an empty reliable packet (sent at once with a
//!   second `manual_poll`), and a sender keeps at most `WINDOW` messages
//!   unconfirmed, or older packets fall out of the acknowledged range and
//!   are sent again.
//! - There is no handshake: a connection exists once both ends sent and
//!   received. A client says hello with an empty reliable packet; the
//!   server answers it as above, which establishes the connection.
//!
//! laminar has no resend timer: a packet counts as lost only once the peer
//! acknowledged one 33 sequence numbers newer, so when a stream pauses (or
//! ends) after a loss, what was lost is never resent. Over the lossy link
//! every stream stalled; that scenario is marked as not expressible.
//!
//! laminar has no way to wait on its socket (it is private, and the
//! blocking mode blocks without a timeout before sending), so a blocking
//! wait is a 1 ms sleep between polls, as its own polling thread does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use laminar::{Config, Packet, Socket, SocketEvent};

use super::{
    Client, Delivery, DriverError, Feature, Incoming, PeerId, Server, ServerSetup, Wait,
    any_port_for,
};

/// Messages a sender keeps unconfirmed: within the 33 sequence numbers one
/// acknowledgement header covers.
const WINDOW: u64 = 24;
/// The polling thread's sleep, used for a blocking wait.
const TICK: Duration = Duration::from_millis(1);

/// laminar (crates.io).
#[derive(Debug, Clone, Copy)]
pub struct Laminar;

impl super::System for Laminar {
    fn name(&self) -> &'static str {
        "laminar"
    }

    fn version(&self) -> &'static str {
        "laminar 0.5.0"
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        match feature {
            Feature::BlockingWait => Some("cannot wait on its socket"),
            Feature::Retransmission => Some(
                "no resend timer: a loss is resent once 33 newer packets are acknowledged, so a stream's tail stalls",
            ),
            Feature::ReliableSize(len) if len > config().max_packet_size => {
                Some("packet over max_packet_size")
            }
            Feature::UnreliableSize(len) if len > config().receive_buffer_max_size => {
                Some("unreliable packets are not fragmented")
            }
            // Measured: 66 of 1,000 clients did not connect within 20 s.
            Feature::Clients(n) if n > 500 => Some("does not connect 1,000 clients to one server"),
            Feature::SharedPort => Some("binds its own socket"),
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let mut config = config();
        config.max_unestablished_connections =
            u16::try_from(setup.peers.max(64)).unwrap_or(u16::MAX);
        let socket = Socket::bind_with_config(setup.bind, config).map_err(DriverError::library)?;
        Ok(Box::new(LaminarServer {
            socket,
            peers: HashMap::new(),
            addresses: Vec::new(),
            answer: Vec::new(),
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let mut socket = Socket::bind_with_config(any_port_for(server), config())
            .map_err(DriverError::library)?;
        socket
            .send(Packet::reliable_unordered(server, Vec::new()))
            .map_err(DriverError::library)?;
        Ok(Box::new(LaminarClient { socket, server }))
    }
}

fn config() -> Config {
    Config {
        // Far above what the window keeps in flight: a connection is
        // dropped when it has more unacknowledged packets than this.
        max_packets_in_flight: 4096,
        ..Config::default()
    }
}

fn packet(to: SocketAddr, delivery: Delivery, bytes: &[u8]) -> Packet {
    match delivery {
        Delivery::Reliable => Packet::reliable_ordered(to, bytes.to_vec(), None),
        Delivery::Unreliable => Packet::unreliable(to, bytes.to_vec()),
        Delivery::Sequenced => Packet::unreliable_sequenced(to, bytes.to_vec(), None),
    }
}

/// Polls `socket` once, or sleeps a tick first when blocking.
fn poll(socket: &mut Socket, wait: Wait) {
    if let Wait::Block(limit) = wait {
        std::thread::sleep(limit.min(TICK));
    }
    socket.manual_poll(Instant::now());
}

struct LaminarServer {
    socket: Socket,
    peers: HashMap<SocketAddr, PeerId>,
    addresses: Vec<SocketAddr>,
    /// Peers that sent data in this service call and get an acknowledgement.
    answer: Vec<PeerId>,
}

impl LaminarServer {
    fn peer(&mut self, address: SocketAddr, on: &mut dyn FnMut(Incoming<'_>)) -> PeerId {
        if let Some(&peer) = self.peers.get(&address) {
            return peer;
        }
        let peer = self.addresses.len();
        self.peers.insert(address, peer);
        self.addresses.push(address);
        on(Incoming::Connected(peer));
        peer
    }

    /// Takes every event, noting who needs an acknowledgement.
    fn drain(&mut self, on: &mut dyn FnMut(Incoming<'_>)) {
        while let Some(event) = self.socket.recv() {
            match event {
                SocketEvent::Packet(packet) => {
                    let peer = self.peer(packet.addr(), on);
                    if !self.answer.contains(&peer) {
                        self.answer.push(peer);
                    }
                    if !packet.payload().is_empty() {
                        on(Incoming::Message { peer, bytes: packet.payload() });
                    }
                }
                SocketEvent::Timeout(address) | SocketEvent::Disconnect(address) => {
                    if let Some(peer) = self.peers.remove(&address) {
                        on(Incoming::Disconnected(peer));
                    }
                }
                SocketEvent::Connect(_) => {}
            }
        }
    }
}

impl Server for LaminarServer {
    fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        poll(&mut self.socket, wait);
        self.drain(on);
        if !self.answer.is_empty() {
            for peer in self.answer.drain(..) {
                let to = self.addresses[peer];
                self.socket
                    .send(Packet::reliable_unordered(to, Vec::new()))
                    .map_err(DriverError::library)?;
            }
            // Out now, before more data arrives and pushes what it
            // acknowledges out of range.
            self.socket.manual_poll(Instant::now());
            self.drain(on);
        }
        Ok(())
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let to = *self.addresses.get(peer).ok_or_else(|| DriverError::library("unknown peer"))?;
        self.socket.send(packet(to, delivery, bytes)).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.socket.manual_poll(Instant::now());
        Ok(())
    }
}

struct LaminarClient {
    socket: Socket,
    server: SocketAddr,
}

impl Client for LaminarClient {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        poll(&mut self.socket, wait);
        while let Some(event) = self.socket.recv() {
            match event {
                // Empty packets are the server's acknowledgements.
                SocketEvent::Packet(packet) if !packet.payload().is_empty() => {
                    on(Incoming::Message { peer: 0, bytes: packet.payload() });
                }
                SocketEvent::Connect(_) => on(Incoming::Connected(0)),
                SocketEvent::Timeout(_) | SocketEvent::Disconnect(_) => {
                    on(Incoming::Disconnected(0));
                }
                SocketEvent::Packet(_) => {}
            }
        }
        Ok(())
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.socket.send(packet(self.server, delivery, bytes)).map_err(DriverError::library)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.socket.manual_poll(Instant::now());
        Ok(())
    }

    fn room(&mut self, _len: usize, unconfirmed: u64) -> usize {
        WINDOW.saturating_sub(unconfirmed) as usize
    }
}
