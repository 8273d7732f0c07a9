//! Many clients and one server endpoint joined in memory, in virtual time:
//! what a game server's engine costs per message as the number of peers
//! grows, with no socket and no system call in the way.
//!
//! Every client sends a burst of reliable 64-byte messages once per tick,
//! the ticks spread evenly over the tick period; a round is one virtual
//! millisecond, in which the server takes the datagrams the clients sent,
//! runs its timers, hands out (and checks and recycles) every message and
//! sends its acknowledgements back. Only the server's share of a round is
//! timed ([`Crowd::server_time`]): the clients' work is the load, not the
//! figure. If the engine did anything per peer on each call (a scan of
//! every slot for the next deadline, say), the server's time per message
//! would grow with the crowd; it should stay flat.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use volley_proto::{
    Endpoint, EndpointConfig, Event, PeerHandle, SendError, TRANSMIT_BUFFER_SIZE, TransferMode,
};

/// Virtual time that passes in one `Crowd::round`.
pub const ROUND: Duration = Duration::from_millis(1);

/// Bytes of each message that carry its per-client sequence stamp.
const STAMP_LEN: usize = 8;

/// Rounds the handshakes may take.
const HANDSHAKE_ROUNDS: u32 = 1000;

/// What the clients of a [`Crowd`] send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Clients.
    pub clients: usize,
    /// Reliable messages each client sends per tick.
    pub burst: usize,
    /// Bytes per message (at least 8).
    pub len: usize,
    /// Rounds between two ticks of one client.
    pub tick_rounds: u32,
    /// The server takes its messages lent out of the datagrams
    /// ([`volley_proto::Lend`]) instead of as owned, copied buffers.
    pub lend: bool,
}

impl Load {
    /// The runner's many-peers load: 20 × 64 B per client at 30 Hz.
    pub fn game(clients: usize) -> Self {
        Self { clients, burst: 20, len: 64, tick_rounds: 33, lend: false }
    }
}

/// Why a [`Crowd`] stopped.
#[derive(Debug)]
pub enum CrowdError {
    /// Not every client connected.
    Handshake {
        /// Clients connected.
        connected: usize,
        /// Clients in the crowd.
        clients: usize,
    },
    /// A client's send was refused.
    Send(SendError),
    /// A message reached the server out of its client's order.
    Misordered {
        /// The server's slot of the client.
        peer: u16,
        /// The stamp expected next.
        expected: u64,
        /// The stamp received.
        got: u64,
    },
    /// An event the steady state should not produce (a disconnection, say).
    Unexpected(String),
}

impl fmt::Display for CrowdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake { connected, clients } => {
                write!(f, "only {connected} of {clients} clients connected")
            }
            Self::Send(e) => write!(f, "send refused: {e}"),
            Self::Misordered { peer, expected, got } => {
                write!(f, "peer {peer}: expected message {expected}, got {got}")
            }
            Self::Unexpected(what) => write!(f, "unexpected event {what}"),
        }
    }
}

impl std::error::Error for CrowdError {}

/// One client endpoint and what the server sent it.
struct Member {
    endpoint: Endpoint,
    server: PeerHandle,
    address: SocketAddr,
    /// Round of its next tick.
    next_tick: u64,
    /// Messages sent so far (the next one's stamp).
    sent: u64,
    /// Datagrams from the server not yet handed to the endpoint.
    inbox: Vec<Vec<u8>>,
    inbox_len: usize,
}

/// A server endpoint and `clients` client endpoints in memory.
///
/// # Examples
///
/// ```
/// use volley_bench::crowd::{Crowd, Load};
///
/// let mut crowd = Crowd::connected(Load::game(50))?;
/// crowd.run(100)?;
/// assert!(crowd.delivered() > 0);
/// println!("{:?} per message", crowd.server_time() / crowd.delivered() as u32);
/// # Ok::<(), volley_bench::crowd::CrowdError>(())
/// ```
pub struct Crowd {
    server: Endpoint,
    server_address: SocketAddr,
    members: Vec<Member>,
    load: Load,
    now: Instant,
    round: u64,
    /// Datagrams the clients sent this round: source and bytes.
    to_server: Vec<(SocketAddr, Vec<u8>)>,
    to_server_len: usize,
    buf: Vec<u8>,
    message: Vec<u8>,
    /// Next stamp expected from each server slot.
    expected: Vec<u64>,
    delivered: u64,
    server_time: Duration,
}

impl fmt::Debug for Crowd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crowd")
            .field("load", &self.load)
            .field("round", &self.round)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

/// The address of client `i` (distinct ports on 127.0.0.1, then 127.0.0.2, ...).
fn client_address(i: usize) -> SocketAddr {
    let host = u8::try_from(i / 50_000 + 1).unwrap_or(u8::MAX);
    let port = u16::try_from(10_000 + i % 50_000).unwrap_or(u16::MAX);
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), port))
}

/// What the server endpoint holds per peer (see [`idle_peer_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMemory {
    /// Heap bytes per peer slot of a server made for that many peers,
    /// before anyone connects.
    pub per_slot: usize,
    /// Heap bytes each connected, idle peer adds to its slot.
    pub per_idle_peer: usize,
}

/// Heap memory of a server endpoint per peer, as `heap_in_use` (bytes of
/// live allocations) sees it: made for `peers` slots, then with `peers`
/// clients connected and idle for a second (keep-alive pings exchanged),
/// the clients and the harness dropped.
pub fn idle_peer_memory(
    peers: usize,
    heap_in_use: impl Fn() -> usize,
) -> Result<PeerMemory, CrowdError> {
    let peers = peers.max(1);
    let empty = heap_in_use();
    let server = server_endpoint(peers)?;
    let made = heap_in_use();
    let load = Load { clients: peers, burst: 0, len: STAMP_LEN, tick_rounds: 1000, lend: false };
    let mut crowd = Crowd::with_server(server, load)?;
    crowd.run(1000)?;
    let server = crowd.into_server();
    let idle = heap_in_use();
    drop(server);
    Ok(PeerMemory {
        per_slot: made.saturating_sub(empty) / peers,
        per_idle_peer: idle.saturating_sub(made) / peers,
    })
}

/// A server endpoint with `peers` slots that lets them all connect at once
/// from one address.
fn server_endpoint(peers: usize) -> Result<Endpoint, CrowdError> {
    let mut config = EndpointConfig::default();
    config.peer_limit(peers).channel_limit(1).max_half_open(peers, peers);
    Endpoint::with_seed(config, 2).map_err(|e| CrowdError::Unexpected(e.to_string()))
}

impl Crowd {
    /// A server with one slot per client, and every client connected.
    pub fn connected(load: Load) -> Result<Self, CrowdError> {
        Self::with_server(server_endpoint(load.clients.max(1))?, load)
    }

    /// The clients of `load` connected to `server` (one slot per client).
    fn with_server(server: Endpoint, load: Load) -> Result<Self, CrowdError> {
        let clients = load.clients.max(1);
        let server_address = SocketAddr::from((Ipv4Addr::LOCALHOST, 7000));
        let now = Instant::now();
        let mut members = Vec::with_capacity(clients);
        for i in 0..clients {
            let mut config = EndpointConfig::default();
            config.peer_limit(1).channel_limit(1);
            let mut endpoint = Endpoint::with_seed(config, 1000 + i as u64)
                .map_err(|e| CrowdError::Unexpected(e.to_string()))?;
            let server = endpoint
                .connect(now, server_address, 1, 0)
                .map_err(|e| CrowdError::Unexpected(e.to_string()))?;
            members.push(Member {
                endpoint,
                server,
                address: client_address(i),
                next_tick: 0,
                sent: 0,
                inbox: Vec::new(),
                inbox_len: 0,
            });
        }
        let mut crowd = Self {
            server,
            server_address,
            members,
            load: Load { clients, len: load.len.max(STAMP_LEN), ..load },
            now,
            round: 0,
            to_server: Vec::new(),
            to_server_len: 0,
            buf: vec![0; TRANSMIT_BUFFER_SIZE],
            message: vec![0x11; load.len.max(STAMP_LEN)],
            expected: vec![0; clients],
            delivered: 0,
            server_time: Duration::ZERO,
        };
        let mut connected = 0;
        for _ in 0..HANDSHAKE_ROUNDS {
            crowd.step(false)?;
            for member in &mut crowd.members {
                while let Some(event) = member.endpoint.poll_event() {
                    connected += usize::from(matches!(event, Event::Connected { .. }));
                }
            }
            if connected == clients {
                break;
            }
        }
        if connected < clients {
            return Err(CrowdError::Handshake { connected, clients });
        }
        // Spread the ticks evenly over the period, starting from the next round.
        let period = u64::from(load.tick_rounds.max(1));
        let start = crowd.round + 1;
        for (i, member) in crowd.members.iter_mut().enumerate() {
            member.next_tick = start + i as u64 * period / clients as u64;
        }
        crowd.server_time = Duration::ZERO;
        Ok(crowd)
    }

    /// The server endpoint alone; the clients and buffers are dropped.
    fn into_server(self) -> Endpoint {
        self.server
    }

    /// Runs `rounds` rounds of traffic.
    pub fn run(&mut self, rounds: u32) -> Result<(), CrowdError> {
        for _ in 0..rounds {
            self.step(true)?;
        }
        Ok(())
    }

    /// Messages the server received and checked.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Time spent in the server's share of the rounds since the crowd connected.
    pub fn server_time(&self) -> Duration {
        self.server_time
    }

    /// The server endpoint (its statistics, its next deadline).
    pub fn server(&self) -> &Endpoint {
        &self.server
    }

    /// One round: clients whose tick came send; the server serves; the
    /// clients take the server's datagrams and run their timers.
    fn step(&mut self, traffic: bool) -> Result<(), CrowdError> {
        let round = self.round;
        for member in &mut self.members {
            if traffic && member.next_tick <= round {
                for _ in 0..self.load.burst {
                    self.message[..STAMP_LEN].copy_from_slice(&member.sent.to_le_bytes());
                    member
                        .endpoint
                        .send(
                            member.server,
                            0,
                            TransferMode::Reliable,
                            &self.message[..self.load.len],
                        )
                        .map_err(CrowdError::Send)?;
                    member.sent += 1;
                }
                member.next_tick += u64::from(self.load.tick_rounds.max(1));
            }
            for datagram in &member.inbox[..member.inbox_len] {
                member.endpoint.handle_datagram(self.now, self.server_address, datagram);
            }
            member.inbox_len = 0;
            if member.endpoint.poll_timeout().is_some_and(|t| t <= self.now) {
                member.endpoint.handle_timeout(self.now);
            }
            while let Some(t) = member.endpoint.poll_transmit(self.now, &mut self.buf) {
                if self.to_server.len() == self.to_server_len {
                    self.to_server.push((member.address, Vec::new()));
                }
                let (from, bytes) = &mut self.to_server[self.to_server_len];
                *from = member.address;
                bytes.clear();
                bytes.extend_from_slice(&self.buf[t.range]);
                self.to_server_len += 1;
            }
            if traffic && let Some(event) = member.endpoint.poll_event() {
                return Err(CrowdError::Unexpected(format!("at a client: {event:?}")));
            }
        }
        let started = Instant::now();
        let served = self.serve(traffic);
        self.server_time += started.elapsed();
        served?;
        self.round += 1;
        self.now += ROUND;
        Ok(())
    }

    /// The server's share of a round (the only timed part): one service
    /// per datagram, as a server that wakes for each arrival does (the
    /// clients' ticks are spread, so their datagrams rarely arrive
    /// together): the datagram in, timers if due, events out, datagrams
    /// out, and the next deadline to sleep until.
    #[inline(never)]
    fn serve(&mut self, traffic: bool) -> Result<(), CrowdError> {
        let now = self.now;
        for i in 0..self.to_server_len.max(1) {
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
            if self.load.lend {
                self.take_lent_events(i, traffic)?;
            } else {
                if let Some((from, bytes)) = self.to_server[..self.to_server_len].get(i) {
                    self.server.handle_datagram(now, *from, bytes);
                }
                self.take_events(traffic)?;
            }
            self.transmit();
            std::hint::black_box(self.server.poll_timeout());
        }
        self.to_server_len = 0;
        Ok(())
    }

    /// Checks and recycles every message the server has for the application.
    fn take_events(&mut self, traffic: bool) -> Result<(), CrowdError> {
        while let Some(event) = self.server.poll_event() {
            if let Event::Received { peer, payload, .. } = &event {
                check(&mut self.expected, *peer, payload)?;
                self.delivered += 1;
            } else if traffic || !matches!(event, Event::Connected { .. }) {
                return Err(CrowdError::Unexpected(format!("at the server: {event:?}")));
            }
            if let Event::Received { payload, .. } = event {
                self.server.recycle(payload);
            }
        }
        Ok(())
    }

    /// [`Self::take_events`] through a [`volley_proto::Lend`] of the round's
    /// `index`-th datagram (none past the last).
    fn take_lent_events(&mut self, index: usize, traffic: bool) -> Result<(), CrowdError> {
        let Self { server, to_server, to_server_len, expected, delivered, now, .. } = self;
        let mut lend = server.lend();
        if let Some((from, bytes)) = to_server[..*to_server_len].get(index) {
            lend.handle_datagram(*now, *from, bytes);
        }
        while let Some((event, _)) = lend.next_event() {
            match event {
                Event::Received { peer, payload, .. } => {
                    check(expected, peer, payload)?;
                    *delivered += 1;
                }
                Event::Connected { .. } if !traffic => {}
                other => return Err(CrowdError::Unexpected(format!("at the server: {other:?}"))),
            }
        }
        Ok(())
    }

    /// Carries the server's datagrams to the clients' inboxes.
    fn transmit(&mut self) {
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            let SocketAddr::V4(to) = t.destination else { continue };
            let index = usize::from(to.port()).wrapping_sub(10_000)
                + usize::from(to.ip().octets()[3]).saturating_sub(1) * 50_000;
            let Some(member) = self.members.get_mut(index) else { continue };
            if member.inbox.len() == member.inbox_len {
                member.inbox.push(Vec::new());
            }
            let datagram = &mut member.inbox[member.inbox_len];
            datagram.clear();
            datagram.extend_from_slice(&self.buf[t.range]);
            member.inbox_len += 1;
        }
    }
}

/// `payload` carries the stamp `expected` holds for `peer`'s slot; moves it on.
fn check(expected: &mut [u64], peer: PeerHandle, payload: &[u8]) -> Result<(), CrowdError> {
    let got = payload
        .get(..STAMP_LEN)
        .and_then(|s| s.try_into().ok())
        .map_or(u64::MAX, u64::from_le_bytes);
    let Some(next) = expected.get_mut(usize::from(peer.index())) else {
        return Err(CrowdError::Unexpected(format!("a message from unknown slot {peer}")));
    };
    if got != *next {
        return Err(CrowdError::Misordered { peer: peer.index(), expected: *next, got });
    }
    *next = got + 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crowd_delivers_every_message_in_order() {
        for lend in [false, true] {
            let load = Load { clients: 40, burst: 5, len: 64, tick_rounds: 10, lend };
            let mut crowd = Crowd::connected(load).unwrap_or_else(|e| panic!("{e}"));
            crowd.run(200).unwrap_or_else(|e| panic!("{e}"));
            // 40 clients, one tick each per 10 rounds, 5 messages per tick;
            // the last ticks' messages may still be on their way.
            assert!(crowd.delivered() >= 40 * 5 * 19, "{}", crowd.delivered());
            assert_eq!(crowd.server().stats().dropped_malformed, 0);
        }
    }
}
