//! renet with its UDP transport, renet_netcode (netcode: an authenticated,
//! encrypted handshake and ChaCha20-Poly1305 on every datagram, here with
//! `Unsecure` authentication, as its examples use).
//!
//! Driven as its documentation says, once per loop: `update(dt)` of the
//! connection and of the transport (which receives), take events and
//! messages, then `send_packets`. renet sends on each call everything due,
//! up to `available_bytes_per_tick`, and resends what is unacknowledged
//! after `resend_time`; it has no congestion window, so a stream is fed a
//! batch whenever fewer than `LOW_MARK` bytes of it are unconfirmed by the
//! receiver, topping up to `HIGH_MARK`. Channel 0 is reliable-ordered,
//! channel 1 unreliable.
//!
//! renet_netcode owns its socket and has no way to wait on it, so a
//! blocking wait is a 1 ms sleep between updates.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use renet::{
    ChannelConfig, ClientId, ConnectionConfig, RenetClient, RenetServer, SendType, ServerEvent,
};
use renet_netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication,
    ServerConfig,
};

use super::{
    Client, Delivery, DriverError, Feature, Incoming, PeerId, SOCKET_BUFFER, Server, ServerSetup,
    Wait, any_port_for, bind_udp,
};

/// Channel of reliable-ordered messages.
const RELIABLE: u8 = 0;
/// Channel of unreliable messages.
const UNRELIABLE: u8 = 1;
/// Unconfirmed bytes below which the client is fed again.
const LOW_MARK: usize = 32 * 1024;
/// Unconfirmed bytes a feed tops the stream up to.
const HIGH_MARK: usize = 128 * 1024;
/// Bytes each `send_packets` may send (the default, 60 000, is meant for a 60 Hz tick).
const BYTES_PER_TICK: u64 = 1 << 20;
/// Resend delay of unacknowledged reliable messages (renet's default).
const RESEND_TIME: Duration = Duration::from_millis(300);
/// Buffer of each channel, renet's default.
const CHANNEL_MEMORY: usize = 5 * 1024 * 1024;
/// The most clients renet_netcode serves.
const MAX_CLIENTS: usize = 1024;
/// Identifies the application in the netcode handshake.
const PROTOCOL_ID: u64 = 0x766f_6c6c_6579;
/// The sleep of a blocking wait.
const TICK: Duration = Duration::from_millis(1);

/// Client ids must be unique per server.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// renet with renet_netcode (crates.io).
#[derive(Debug, Clone, Copy)]
pub struct Renet;

impl super::System for Renet {
    fn name(&self) -> &'static str {
        "renet"
    }

    fn version(&self) -> &'static str {
        "renet 2.0.1 + renet_netcode 2.0.1"
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        match feature {
            Feature::BlockingWait => Some("cannot wait on its socket"),
            Feature::Sequenced => Some("no unreliable sequenced channel"),
            Feature::Clients(n) if n > MAX_CLIENTS => {
                Some("renet_netcode serves at most 1024 clients")
            }
            Feature::SharedPort => Some("not measured"),
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        if setup.peers > MAX_CLIENTS {
            return Err(DriverError::library("renet_netcode serves at most 1024 clients"));
        }
        let socket = bind_udp(setup.bind, setup.receive_buffer)?;
        let address = socket.local_addr()?;
        let config = ServerConfig {
            current_time: unix_time(),
            max_clients: setup.peers.max(1),
            protocol_id: PROTOCOL_ID,
            public_addresses: vec![address],
            authentication: ServerAuthentication::Unsecure,
        };
        let transport = NetcodeServerTransport::new(config, socket)?;
        Ok(Box::new(RenetServerSide {
            server: RenetServer::new(connection_config()),
            transport,
            address,
            last: Instant::now(),
            ids: Vec::new(),
            clients: Vec::new(),
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let socket = bind_udp(any_port_for(server), SOCKET_BUFFER)?;
        let authentication = ClientAuthentication::Unsecure {
            protocol_id: PROTOCOL_ID,
            client_id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
            server_addr: server,
            user_data: None,
        };
        let transport = NetcodeClientTransport::new(unix_time(), authentication, socket)
            .map_err(DriverError::library)?;
        Ok(Box::new(RenetClientSide {
            client: RenetClient::new(connection_config()),
            transport,
            last: Instant::now(),
            connected: false,
        }))
    }
}

fn unix_time() -> Duration {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

fn connection_config() -> ConnectionConfig {
    let channels = vec![
        ChannelConfig {
            channel_id: RELIABLE,
            max_memory_usage_bytes: CHANNEL_MEMORY,
            send_type: SendType::ReliableOrdered { resend_time: RESEND_TIME },
        },
        ChannelConfig {
            channel_id: UNRELIABLE,
            max_memory_usage_bytes: CHANNEL_MEMORY,
            send_type: SendType::Unreliable,
        },
    ];
    ConnectionConfig {
        available_bytes_per_tick: BYTES_PER_TICK,
        server_channels_config: channels.clone(),
        client_channels_config: channels,
    }
}

fn channel(delivery: Delivery) -> Result<u8, DriverError> {
    match delivery {
        Delivery::Reliable => Ok(RELIABLE),
        Delivery::Unreliable => Ok(UNRELIABLE),
        Delivery::Sequenced => {
            Err(DriverError::library("renet has no unreliable sequenced channel"))
        }
    }
}

/// Time since `last`, which becomes now; sleeps a tick first when blocking.
fn tick(last: &mut Instant, wait: Wait) -> Duration {
    if let Wait::Block(limit) = wait {
        std::thread::sleep(limit.min(TICK));
    }
    let now = Instant::now();
    let elapsed = now - *last;
    *last = now;
    elapsed
}

struct RenetServerSide {
    server: RenetServer,
    transport: NetcodeServerTransport,
    address: SocketAddr,
    last: Instant,
    /// Client id of each [`PeerId`].
    ids: Vec<ClientId>,
    /// Connected clients, reused to walk them.
    clients: Vec<(ClientId, PeerId)>,
}

impl Server for RenetServerSide {
    fn local_addr(&self) -> SocketAddr {
        self.address
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let elapsed = tick(&mut self.last, wait);
        self.server.update(elapsed);
        self.transport.update(elapsed, &mut self.server).map_err(DriverError::library)?;
        while let Some(event) = self.server.get_event() {
            match event {
                ServerEvent::ClientConnected { client_id } => {
                    let peer = self.ids.len();
                    self.ids.push(client_id);
                    self.clients.push((client_id, peer));
                    on(Incoming::Connected(peer));
                }
                ServerEvent::ClientDisconnected { client_id, .. } => {
                    if let Some(at) = self.clients.iter().position(|(id, _)| *id == client_id) {
                        let (_, peer) = self.clients.swap_remove(at);
                        on(Incoming::Disconnected(peer));
                    }
                }
            }
        }
        for &(client_id, peer) in &self.clients {
            for channel in [RELIABLE, UNRELIABLE] {
                while let Some(message) = self.server.receive_message(client_id, channel) {
                    on(Incoming::Message { peer, bytes: &message });
                }
            }
        }
        self.transport.send_packets(&mut self.server);
        Ok(())
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let id = *self.ids.get(peer).ok_or_else(|| DriverError::library("unknown peer"))?;
        self.server.send_message(id, channel(delivery)?, bytes.to_vec());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.transport.send_packets(&mut self.server);
        Ok(())
    }
}

struct RenetClientSide {
    client: RenetClient,
    transport: NetcodeClientTransport,
    last: Instant,
    connected: bool,
}

impl Client for RenetClientSide {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let elapsed = tick(&mut self.last, wait);
        self.client.update(elapsed);
        self.transport.update(elapsed, &mut self.client).map_err(DriverError::library)?;
        if self.client.is_connected() != self.connected {
            self.connected = !self.connected;
            on(if self.connected { Incoming::Connected(0) } else { Incoming::Disconnected(0) });
        }
        for channel in [RELIABLE, UNRELIABLE] {
            while let Some(message) = self.client.receive_message(channel) {
                on(Incoming::Message { peer: 0, bytes: &message });
            }
        }
        self.transport.send_packets(&mut self.client).map_err(DriverError::library)
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        self.client.send_message(channel(delivery)?, bytes.to_vec());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.transport.send_packets(&mut self.client).map_err(DriverError::library)
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        let len = len.max(1);
        let queued = usize::try_from(unconfirmed).unwrap_or(usize::MAX).saturating_mul(len);
        if queued < LOW_MARK { (HIGH_MARK - queued) / len + 1 } else { 0 }
    }
}

impl Drop for RenetClientSide {
    fn drop(&mut self) {
        self.transport.disconnect();
    }
}
