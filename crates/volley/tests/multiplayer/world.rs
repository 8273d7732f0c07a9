//! Peers, raw hosts and capturing proxies on 127.0.0.1, driven from one
//! thread until a condition holds or ten seconds pass.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use volley::multiplayer::enet::{EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::ServerSession;
use volley::multiplayer::{
    ConnectionStatus, Incoming, MultiplayerPeer, Packet, PeerEvent, PeerId, Target,
};
use volley::{Event, Host, HostConfig, TransferMode};
use volley_proto::wire::{Command, CommandBody, Datagram, Header};

/// How long any scenario may take before the test fails.
const LIMIT: Duration = Duration::from_secs(10);
/// How long each peer's poll may wait per round.
const STEP: Duration = Duration::from_millis(1);

pub(crate) fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub(crate) fn id(raw: u32) -> PeerId {
    PeerId::try_from(raw).unwrap()
}

/// Options with a fixed id seed, so ids are the same on every run.
pub(crate) fn seeded(seed: u64) -> EnetPeerOptions {
    EnetPeerOptions::default().id_seed(seed)
}

/// A peer the tests drive: it can tell whether it was closed.
pub(crate) trait Peer: MultiplayerPeer {
    fn is_open(&self) -> bool;
}

impl Peer for EnetMultiplayerPeer {
    fn is_open(&self) -> bool {
        self.local_addr().is_some()
    }
}

impl Peer for ServerSession {
    fn is_open(&self) -> bool {
        self.local_addr(0).is_some()
    }
}

/// A multiplayer peer and everything it yielded so far.
pub(crate) struct Node<P: Peer = EnetMultiplayerPeer> {
    pub(crate) peer: P,
    pub(crate) log: Vec<Incoming>,
    /// Every status seen after a poll, repeats removed.
    pub(crate) statuses: Vec<ConnectionStatus>,
}

impl<P: Peer> Node<P> {
    pub(crate) fn new(peer: P) -> Self {
        let statuses = vec![peer.connection_status()];
        Self { peer, log: Vec::new(), statuses }
    }

    fn step(&mut self) {
        if !self.peer.is_open() {
            return;
        }
        self.peer.poll_timeout(STEP).expect("poll");
        while let Some(item) = self.peer.next_incoming() {
            self.log.push(item);
        }
        let status = self.peer.connection_status();
        if self.statuses.last() != Some(&status) {
            self.statuses.push(status);
        }
    }

    pub(crate) fn id(&self) -> PeerId {
        self.peer.unique_id()
    }

    pub(crate) fn events(&self) -> Vec<PeerEvent> {
        self.log
            .iter()
            .filter_map(|item| match item {
                Incoming::Event(event) => Some(*event),
                Incoming::Packet(_) => None,
            })
            .collect()
    }

    pub(crate) fn saw(&self, event: PeerEvent) -> bool {
        self.events().contains(&event)
    }

    /// Whether `id` left, for any reason.
    pub(crate) fn saw_departure(&self, id: PeerId) -> bool {
        self.events().iter().any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id))
    }

    pub(crate) fn packets(&self) -> Vec<&Packet> {
        self.log
            .iter()
            .filter_map(|item| match item {
                Incoming::Packet(packet) => Some(packet),
                Incoming::Event(_) => None,
            })
            .collect()
    }

    /// Whether a packet with exactly these bytes arrived.
    pub(crate) fn got(&self, payload: &[u8]) -> bool {
        self.packets().iter().any(|p| p.payload == payload)
    }

    /// Sends `payload` to `target` on the current channel and mode.
    pub(crate) fn send(&mut self, target: Target, payload: &[u8]) {
        self.peer.set_target_peer(target);
        self.peer.put_packet(payload).expect("put_packet");
    }
}

/// A plain Volley host playing a raw ENet peer, and its events.
pub(crate) struct Raw {
    pub(crate) host: Host,
    pub(crate) log: Vec<Event>,
}

impl Raw {
    pub(crate) fn client() -> Self {
        Self { host: Host::new(HostConfig::client()).unwrap(), log: Vec::new() }
    }

    pub(crate) fn server() -> Self {
        Self { host: Host::new(HostConfig::server(local())).unwrap(), log: Vec::new() }
    }

    fn step(&mut self) {
        while let Some(event) = self.host.service(Duration::ZERO).unwrap() {
            self.log.push(event);
        }
    }

    pub(crate) fn received(&self) -> Vec<(u8, TransferMode, &[u8])> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Received { channel, mode, payload, .. } => {
                    Some((*channel, *mode, payload.as_slice()))
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn connected(&self) -> bool {
        self.log.iter().any(|e| matches!(e, Event::Connected { .. }))
    }

    pub(crate) fn disconnect_data(&self) -> Option<u32> {
        self.log.iter().find_map(|e| match e {
            Event::Disconnected { data, .. } => Some(*data),
            _ => None,
        })
    }
}

/// Which way a captured datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the side that dialled the proxy to the target.
    Out,
    /// From the target back.
    In,
}

/// A UDP relay that records every datagram it passes on, so tests can
/// decode exactly what went on the wire.
pub(crate) struct Proxy {
    front: UdpSocket,
    back: UdpSocket,
    target: SocketAddr,
    dialler: Option<SocketAddr>,
    pub(crate) captured: Vec<(Direction, Vec<u8>)>,
}

impl Proxy {
    pub(crate) fn new(target: SocketAddr) -> Self {
        let bind = || {
            let socket = UdpSocket::bind(local()).unwrap();
            socket.set_nonblocking(true).unwrap();
            socket
        };
        Self { front: bind(), back: bind(), target, dialler: None, captured: Vec::new() }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.front.local_addr().unwrap()
    }

    fn step(&mut self) {
        let mut buf = [0u8; 65536];
        while let Ok((len, from)) = self.front.recv_from(&mut buf) {
            self.dialler = Some(from);
            self.captured.push((Direction::Out, buf[..len].to_vec()));
            self.back.send_to(&buf[..len], self.target).unwrap();
        }
        while let Ok((len, _)) = self.back.recv_from(&mut buf) {
            self.captured.push((Direction::In, buf[..len].to_vec()));
            if let Some(dialler) = self.dialler {
                self.front.send_to(&buf[..len], dialler).unwrap();
            }
        }
    }

    /// Every captured datagram of one direction, decoded: its header and
    /// commands (data payloads copied out).
    pub(crate) fn datagrams(&self, direction: Direction) -> Vec<(Header, Vec<Decoded>)> {
        self.captured
            .iter()
            .filter(|(d, _)| *d == direction)
            .map(|(_, bytes)| {
                let datagram = Datagram::parse(bytes, false).expect("valid datagram");
                let commands = datagram.commands().map(|c| Decoded::from(&c.unwrap())).collect();
                (*datagram.header(), commands)
            })
            .collect()
    }

    /// The data commands of one direction: (kind, ENet channel, payload),
    /// in order, a retransmitted command counted once.
    pub(crate) fn sends(&self, direction: Direction) -> Vec<Send> {
        let mut sends: Vec<Send> = Vec::new();
        for (_, commands) in self.datagrams(direction) {
            for send in commands.into_iter().filter_map(Decoded::into_send) {
                if !sends.contains(&send) {
                    sends.push(send);
                }
            }
        }
        sends
    }

    /// The data commands of the first datagram of one direction that has any.
    pub(crate) fn first_sends(&self, direction: Direction) -> Vec<Send> {
        self.datagrams(direction)
            .into_iter()
            .map(|(_, commands)| commands.into_iter().filter_map(Decoded::into_send).collect())
            .find(|sends: &Vec<Send>| !sends.is_empty())
            .unwrap_or_default()
    }

    pub(crate) fn forget(&mut self) {
        self.captured.clear();
    }
}

/// An ENet command kind, as tests care about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Connect { channel_count: u32, data: u32 },
    VerifyConnect,
    Disconnect { data: u32 },
    SendReliable,
    SendUnreliable,
    SendUnsequenced,
    SendFragment,
    SendUnreliableFragment,
    Other,
}

impl Kind {
    pub(crate) fn is_send(self) -> bool {
        matches!(
            self,
            Self::SendReliable
                | Self::SendUnreliable
                | Self::SendUnsequenced
                | Self::SendFragment
                | Self::SendUnreliableFragment
        )
    }
}

/// A data command: its kind, ENet channel and payload.
pub(crate) type Send = (Kind, u8, Vec<u8>);

/// One decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) kind: Kind,
    pub(crate) channel: u8,
    pub(crate) unsequenced_flag: bool,
    pub(crate) payload: Vec<u8>,
}

impl Decoded {
    fn into_send(self) -> Option<Send> {
        self.kind.is_send().then_some((self.kind, self.channel, self.payload))
    }
}

impl From<&Command<'_>> for Decoded {
    fn from(command: &Command<'_>) -> Self {
        let (kind, payload) = match command.body {
            CommandBody::Connect { params, data } => {
                (Kind::Connect { channel_count: params.channel_count, data }, &[][..])
            }
            CommandBody::VerifyConnect(_) => (Kind::VerifyConnect, &[][..]),
            CommandBody::Disconnect { data } => (Kind::Disconnect { data }, &[][..]),
            CommandBody::SendReliable { data } => (Kind::SendReliable, data),
            CommandBody::SendUnreliable { data, .. } => (Kind::SendUnreliable, data),
            CommandBody::SendUnsequenced { data, .. } => (Kind::SendUnsequenced, data),
            CommandBody::SendFragment(f) => (Kind::SendFragment, f.data),
            CommandBody::SendUnreliableFragment(f) => (Kind::SendUnreliableFragment, f.data),
            _ => (Kind::Other, &[][..]),
        };
        Self {
            kind,
            channel: command.header.channel_id,
            unsequenced_flag: command.header.unsequenced,
            payload: payload.to_vec(),
        }
    }
}

/// Everything a scenario runs.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) nodes: Vec<Node>,
    /// Servers on several listeners, stepped before the nodes.
    pub(crate) sessions: Vec<Node<ServerSession>>,
    pub(crate) raws: Vec<Raw>,
    pub(crate) proxies: Vec<Proxy>,
}

impl World {
    pub(crate) fn add(&mut self, peer: EnetMultiplayerPeer) -> usize {
        self.nodes.push(Node::new(peer));
        self.nodes.len() - 1
    }

    pub(crate) fn step(&mut self) {
        for session in &mut self.sessions {
            session.step();
        }
        for node in &mut self.nodes {
            node.step();
        }
        for proxy in &mut self.proxies {
            proxy.step();
        }
        for raw in &mut self.raws {
            raw.step();
        }
        for proxy in &mut self.proxies {
            proxy.step();
        }
    }

    /// Steps until `done` holds; false if it did not within the limit.
    pub(crate) fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = Instant::now() + LIMIT;
        while Instant::now() < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// A server (node 0) with user channels 0..3 and `clients` clients
    /// (nodes 1..), all connected and, where the server relays, each told
    /// about the others.
    pub(crate) fn session(profile: WireProfile, clients: usize, seed: u64) -> Self {
        Self::session_with(profile, clients, seed, |o| o)
    }

    /// A session whose every peer's options pass through `adjust`.
    pub(crate) fn session_with(
        profile: WireProfile,
        clients: usize,
        seed: u64,
        adjust: impl Fn(EnetPeerOptions) -> EnetPeerOptions,
    ) -> Self {
        let mut world = Self::default();
        let server =
            EnetMultiplayerPeer::create_server(local(), 8, 3, profile, adjust(seeded(seed)))
                .unwrap();
        let address = server.local_addr().unwrap();
        world.add(server);
        for i in 0..clients {
            let options = adjust(seeded(seed + 1 + i as u64));
            world.add(EnetMultiplayerPeer::create_client(address, 3, profile, options).unwrap());
        }
        assert!(world.run_until(Self::everyone_in), "session did not form");
        world
    }

    /// Every client is connected and seen by the server, and where the
    /// server relays every client saw every other one.
    pub(crate) fn everyone_in(&self) -> bool {
        let (server, clients) = self.nodes.split_first().unwrap();
        let relays = server.peer.is_server_relay_supported();
        clients.iter().all(|c| {
            let seen_by_server = server.saw(PeerEvent::Connected(c.id()));
            let sees_others = !relays
                || clients
                    .iter()
                    .filter(|o| o.id() != c.id())
                    .all(|o| c.saw(PeerEvent::Connected(o.id())));
            c.peer.connection_status() == ConnectionStatus::Connected
                && seen_by_server
                && sees_others
        })
    }
}
