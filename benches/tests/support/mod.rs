//! The interop scenario every other ENet implementation goes through opposite
//! a Volley host on 127.0.0.1: connect with data, traffic both ways on four
//! channels in the three modes plus a 100 KiB reliable packet, then a
//! graceful disconnect started by either side, with checksums on or off.
//!
//! Both hosts live on this thread and are serviced in turn, each phase
//! bounded by a deadline.

use std::collections::HashSet;
use std::fmt::Debug;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use volley::{DisconnectReason, Event, Host, HostConfig, PeerHandle, Timeouts, TransferMode};
use volley_proto::EndpointStats;

/// Channels each connection asks for and the traffic uses.
pub(crate) const CHANNELS: u8 = 4;
/// Packets per channel and mode, each way.
const PER_MODE: u16 = 40;
/// The 100 KiB reliable packet (fragmented at any MTU) takes this index on this channel.
const BIG_CHANNEL: u8 = 1;
const BIG_INDEX: u16 = PER_MODE / 2;
const BIG_LEN: usize = 100 * 1024;
/// Unreliable packets of this size need several datagrams.
const LARGE_UNRELIABLE_LEN: usize = 6000;
const CONNECT_DATA: u32 = 0x5EED_C0DE;
const DISCONNECT_DATA: u32 = 0xD15C_0001;
const PHASE_DEADLINE: Duration = Duration::from_secs(10);
const MODES: [TransferMode; 3] =
    [TransferMode::Reliable, TransferMode::UnreliableOrdered, TransferMode::Unreliable];

/// An event of the other implementation, in Volley's vocabulary.
#[derive(Debug)]
pub(crate) enum ForeignEvent<P> {
    Connected { peer: P, data: u32 },
    Disconnected { peer: P, data: u32 },
    Received { peer: P, channel: u8, mode: TransferMode, payload: Vec<u8> },
}

/// How both ends are configured; they must agree on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// CRC-32 checksums.
    pub(crate) checksum: bool,
    /// ENet's range coder on every datagram (when it makes it smaller).
    pub(crate) range_coder: bool,
}

impl Settings {
    /// Checksums on or off, no compression.
    pub(crate) fn checksum(checksum: bool) -> Self {
        Self { checksum, range_coder: false }
    }
}

/// The other implementation's host, as the scenario drives it. Failures of
/// its calls panic: they end the test with the library's message.
pub(crate) trait ForeignHost {
    type Peer: Copy + Eq + Debug;
    /// A host accepting connections on 127.0.0.1 (ephemeral port).
    fn server(settings: Settings) -> Self;
    /// A host with one peer slot, to connect out.
    fn client(settings: Settings) -> Self;
    fn local_addr(&self) -> SocketAddr;
    fn connect(&mut self, to: SocketAddr, channels: usize, data: u32) -> Self::Peer;
    fn send(&mut self, peer: Self::Peer, channel: u8, mode: TransferMode, payload: &[u8]);
    fn disconnect(&mut self, peer: Self::Peer, data: u32);
    /// One non-blocking service pass.
    fn service(&mut self) -> Option<ForeignEvent<Self::Peer>>;
}

/// Which side listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Volley,
    Foreign,
}

/// Which side starts the disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closer {
    Volley,
    Foreign,
}

/// The whole scenario: connect, traffic both ways, graceful disconnect.
pub(crate) fn run<F: ForeignHost>(server: Server, checksum: bool, closer: Closer) {
    run_with::<F>(server, Settings::checksum(checksum), closer);
}

/// The whole scenario with both ends configured as `settings` says.
pub(crate) fn run_with<F: ForeignHost>(server: Server, settings: Settings, closer: Closer) {
    let mut session = Session::<F>::connect(server, settings);
    session.exchange_traffic();
    session.disconnect(closer);
}

/// The scenario through a relay that loses, duplicates and reorders
/// datagrams (seeded): retransmission, acknowledgements and reassembly of
/// each implementation must work with the other's.
pub(crate) fn run_over_bad_link<F: ForeignHost>(server: Server, seed: u64) {
    let mut session = Session::<F>::connect_over(server, Settings::checksum(true), Some(seed));
    session.exchange_traffic();
    session.disconnect(Closer::Volley);
}

/// Hosts whose checksum settings differ must not connect: the Volley side
/// drops the foreign CONNECT datagrams (checksum mismatch or, without a
/// checksum expected, undecodable) and reports no connection. This is what
/// makes the checksum-on runs meaningful for both implementations.
pub(crate) fn checksum_mismatch_prevents_connection<F: ForeignHost>(volley_checksum: bool) {
    let mut config = HostConfig::server(loopback());
    config.endpoint().checksum(volley_checksum);
    let mut volley = Host::new(config).expect("Volley server");
    let mut foreign = F::client(Settings::checksum(!volley_checksum));
    foreign.connect(volley.local_addr(), CHANNELS.into(), CONNECT_DATA);
    let deadline = Instant::now() + PHASE_DEADLINE;
    while dropped(&volley.endpoint_stats()) == 0 {
        assert!(Instant::now() < deadline, "the Volley server never saw the CONNECT");
        if let Some(event) = foreign.service() {
            panic!("foreign client got {event:?} despite the checksum mismatch");
        }
        if let Some(event) = volley.service(Duration::from_millis(1)).expect("Volley service") {
            panic!("Volley server got {event:?} despite the checksum mismatch");
        }
    }
    assert_eq!(volley.connected_peers(), []);
}

/// Unreliable packets larger than a datagram: Volley sends them as
/// unreliable fragments, which ENet reassembles and delivers as sequenced
/// unreliable; ENet sends them as reliable fragments (without
/// `ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT`), which Volley delivers as
/// reliable. Either way they must arrive whole, on their channel.
pub(crate) fn large_unreliable_packets_cross<F: ForeignHost>(server: Server) {
    let mut session = Session::<F>::connect(server, Settings::checksum(false));
    let (volley_peer, foreign_peer) = (session.volley_peer(), session.foreign_peer());
    let large = |channel: u8, mode: TransferMode| {
        let mut bytes = message(channel, mode, 0);
        bytes.resize(LARGE_UNRELIABLE_LEN, channel);
        bytes
    };
    let sent = [(2, TransferMode::UnreliableOrdered), (3, TransferMode::Unreliable)];
    for (channel, mode) in sent {
        session.volley.send(volley_peer, channel, mode, &large(channel, mode)).expect("send");
        session.foreign.send(foreign_peer, channel, mode, &large(channel, mode));
    }
    let (mut at_volley, mut at_foreign) = (Vec::new(), Vec::new());
    session.pump("large unreliable", |_, event| {
        match event {
            Side::Volley(Event::Received { channel, mode, payload, .. }) => {
                at_volley.push((channel, mode, payload));
            }
            Side::Foreign(ForeignEvent::Received { channel, mode, payload, .. }) => {
                at_foreign.push((channel, mode, payload));
            }
            other => panic!("unexpected: {other:?}"),
        }
        at_volley.len() == sent.len() && at_foreign.len() == sent.len()
    });
    at_volley.sort_by_key(|(channel, ..)| *channel);
    at_foreign.sort_by_key(|(channel, ..)| *channel);
    for (((channel, mode), volley), foreign) in sent.into_iter().zip(at_volley).zip(at_foreign) {
        assert_eq!(volley, (channel, TransferMode::Reliable, large(channel, mode)), "at Volley");
        let expected = (channel, TransferMode::UnreliableOrdered, large(channel, mode));
        assert_eq!(foreign, expected, "at the foreign host");
    }
}

fn dropped(stats: &EndpointStats) -> u64 {
    stats.dropped_checksum + stats.dropped_malformed
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Packet `index` of `channel` in `mode`: a header naming them, then bytes
/// derived from all three and the position, so corruption and misrouting
/// both show.
fn message(channel: u8, mode: TransferMode, index: u16) -> Vec<u8> {
    let len = if mode == TransferMode::Reliable && channel == BIG_CHANNEL && index == BIG_INDEX {
        BIG_LEN
    } else {
        8 + usize::from(index % 64)
    };
    let tag = mode_tag(mode);
    let [low, high] = index.to_le_bytes();
    let seed = u32::from(index) << 20 | u32::from(tag) << 18 | u32::from(channel) << 28;
    let mut bytes = vec![channel, tag, low, high];
    // A multiplicative hash of the position: no short period, so a
    // misplaced fragment of the big packet shows too.
    bytes.extend((4..len as u32).map(|i| ((i ^ seed).wrapping_mul(0x9E37_79B1) >> 24) as u8));
    bytes
}

fn mode_tag(mode: TransferMode) -> u8 {
    match mode {
        TransferMode::Reliable => 1,
        TransferMode::UnreliableOrdered => 2,
        TransferMode::Unreliable => 3,
    }
}

/// Every packet one side sends, interleaving modes and channels.
fn traffic() -> impl Iterator<Item = (u8, TransferMode, Vec<u8>)> {
    (0..PER_MODE).flat_map(|index| {
        (0..CHANNELS).flat_map(move |channel| {
            MODES.into_iter().map(move |mode| (channel, mode, message(channel, mode, index)))
        })
    })
}

/// What one side received, checked packet by packet.
#[derive(Default)]
struct Inbox {
    next_reliable: [u16; CHANNELS as usize],
    last_ordered: [Option<u16>; CHANNELS as usize],
    unsequenced: HashSet<(u8, u16)>,
    counts: [[u32; 3]; CHANNELS as usize],
}

impl Inbox {
    fn accept(&mut self, side: &str, channel: u8, mode: TransferMode, payload: &[u8]) {
        assert!(channel < CHANNELS, "{side}: packet on channel {channel}");
        assert!(payload.len() >= 4, "{side}: {}-byte packet", payload.len());
        let index = u16::from_le_bytes([payload[2], payload[3]]);
        assert_eq!(
            payload[0], channel,
            "{side}: packet of channel {} reported on {channel}",
            payload[0]
        );
        assert_eq!(
            payload[1],
            mode_tag(mode),
            "{side}: packet of mode tag {} reported as {mode}",
            payload[1]
        );
        assert!(index < PER_MODE, "{side}: index {index}");
        assert!(
            payload == message(channel, mode, index),
            "{side}: {mode} #{index} on channel {channel} corrupted"
        );
        let c = usize::from(channel);
        match mode {
            TransferMode::Reliable => {
                assert_eq!(
                    index, self.next_reliable[c],
                    "{side}: reliable out of order on channel {channel}"
                );
                self.next_reliable[c] += 1;
            }
            TransferMode::UnreliableOrdered => {
                assert!(
                    self.last_ordered[c] < Some(index),
                    "{side}: sequenced #{index} after {:?} on channel {channel}",
                    self.last_ordered[c]
                );
                self.last_ordered[c] = Some(index);
            }
            TransferMode::Unreliable => {
                assert!(
                    self.unsequenced.insert((channel, index)),
                    "{side}: unsequenced #{index} twice on channel {channel}"
                );
            }
        }
        self.counts[c][usize::from(mode_tag(mode) - 1)] += 1;
    }

    fn summary(&self) -> String {
        format!("{:?} per channel (reliable, ordered, unsequenced)", self.counts)
    }

    /// Every reliable packet, the 100 KiB one included, arrived intact.
    fn reliable_complete(&self) -> bool {
        self.next_reliable == [PER_MODE; CHANNELS as usize]
    }

    /// Loopback loses nothing in practice, but unreliable data may be
    /// dropped by design; each channel and mode must still have shown up,
    /// so the mode and channel reported on receipt were checked.
    fn assert_every_mode_arrived(&self, side: &str) {
        for (channel, counts) in self.counts.iter().enumerate() {
            assert!(
                counts.iter().all(|&n| n > 0),
                "{side}: channel {channel} got {counts:?} (reliable, ordered, unsequenced)"
            );
        }
    }
}

/// A Volley host and a foreign host connected to each other.
struct Session<F: ForeignHost> {
    volley: Host,
    foreign: F,
    relay: Option<Relay>,
    volley_peer: Option<PeerHandle>,
    foreign_peer: Option<F::Peer>,
    volley_inbox: Inbox,
    foreign_inbox: Inbox,
    volley_closed: Option<(DisconnectReason, u32)>,
    foreign_closed: Option<u32>,
}

impl<F: ForeignHost> Session<F> {
    fn connect(server: Server, settings: Settings) -> Self {
        Self::connect_over(server, settings, None)
    }

    /// Connects with the client's datagrams going through `relay` when given.
    fn connect_over(server: Server, settings: Settings, lossy_seed: Option<u64>) -> Self {
        let mut config = match server {
            Server::Volley => HostConfig::server(loopback()),
            Server::Foreign => HostConfig::client(),
        };
        config.endpoint().checksum(settings.checksum).range_coder(settings.range_coder);
        if lossy_seed.is_some() {
            // A closer whose last DISCONNECT acknowledgement is lost can
            // only time out; keep that short.
            let timeouts = Timeouts {
                minimum: Duration::from_secs(1),
                maximum: Duration::from_secs(5),
                ..Timeouts::default()
            };
            config.endpoint().timeouts(timeouts);
        }
        let volley = Host::new(config).expect("Volley host");
        let mut foreign = match server {
            Server::Volley => F::client(settings),
            Server::Foreign => F::server(settings),
        };
        let server_addr = match server {
            Server::Volley => volley.local_addr(),
            Server::Foreign => foreign.local_addr(),
        };
        let relay = lossy_seed.map(|seed| Relay::new(server_addr, seed));
        let to = relay.as_ref().map_or(server_addr, Relay::local_addr);
        let (mut volley_peer, mut foreign_peer) = (None, None);
        match server {
            Server::Volley => {
                foreign_peer = Some(foreign.connect(to, CHANNELS.into(), CONNECT_DATA));
            }
            Server::Foreign => {
                let peer = volley.connect(to, CHANNELS.into(), CONNECT_DATA).expect("connect");
                volley_peer = Some(peer);
            }
        }
        let mut session = Self {
            volley,
            foreign,
            relay,
            volley_peer,
            foreign_peer,
            volley_inbox: Inbox::default(),
            foreign_inbox: Inbox::default(),
            volley_closed: None,
            foreign_closed: None,
        };
        let (mut volley_data, mut foreign_data) = (None, None);
        session.pump("connect", |s, event| {
            match event {
                Side::Volley(Event::Connected { peer, data }) => {
                    assert!(s.volley_peer.is_none_or(|p| p == peer), "Volley: connect of {peer:?}");
                    s.volley_peer = Some(peer);
                    volley_data = Some(data);
                }
                Side::Foreign(ForeignEvent::Connected { peer, data }) => {
                    assert!(
                        s.foreign_peer.is_none_or(|p| p == peer),
                        "foreign: connect of {peer:?}"
                    );
                    s.foreign_peer = Some(peer);
                    foreign_data = Some(data);
                }
                other => panic!("unexpected while connecting: {other:?}"),
            }
            volley_data.is_some() && foreign_data.is_some()
        });
        // The listening side sees the connect data; ENet and Volley both
        // report 0 on the connecting side.
        let (server_data, client_data) = match server {
            Server::Volley => (volley_data, foreign_data),
            Server::Foreign => (foreign_data, volley_data),
        };
        assert_eq!(server_data, Some(CONNECT_DATA), "connect data seen by the server");
        assert_eq!(client_data, Some(0), "connect data seen by the client");
        let peer = session.volley_peer();
        assert_eq!(session.volley.peer_channel_count(peer), Some(CHANNELS.into()));
        session
    }

    fn volley_peer(&self) -> PeerHandle {
        self.volley_peer.expect("connected")
    }

    fn foreign_peer(&self) -> F::Peer {
        self.foreign_peer.expect("connected")
    }

    /// Both sides send all their traffic at once; waits until every reliable
    /// packet arrived on both.
    fn exchange_traffic(&mut self) {
        let (volley_peer, foreign_peer) = (self.volley_peer(), self.foreign_peer());
        for (channel, mode, payload) in traffic() {
            self.volley.send(volley_peer, channel, mode, &payload).expect("Volley send");
            self.foreign.send(foreign_peer, channel, mode, &payload);
        }
        self.pump("traffic", |s, event| {
            match event {
                Side::Volley(Event::Received { peer, channel, mode, payload }) => {
                    assert_eq!(peer, volley_peer);
                    s.volley_inbox.accept("Volley", channel, mode, &payload);
                }
                Side::Foreign(ForeignEvent::Received { peer, channel, mode, payload }) => {
                    assert_eq!(peer, foreign_peer);
                    s.foreign_inbox.accept("foreign", channel, mode, &payload);
                }
                other => panic!("unexpected during traffic: {other:?}"),
            }
            s.volley_inbox.reliable_complete() && s.foreign_inbox.reliable_complete()
        });
        if self.relay.is_none() {
            self.volley_inbox.assert_every_mode_arrived("Volley");
            self.foreign_inbox.assert_every_mode_arrived("foreign");
        } else {
            // Over the relay, unreliable packets may all be lost: only what
            // arrived is checked. Reliable data must have needed resends.
            let stats = self.volley.peer_stats(volley_peer).expect("connected");
            assert!(stats.packets_lost > 0, "the relay lost nothing: {stats:?}");
        }
    }

    /// `closer` disconnects gracefully; the other side must see its data,
    /// and the closer the completion.
    fn disconnect(&mut self, closer: Closer) {
        match closer {
            Closer::Volley => {
                self.volley.disconnect(self.volley_peer(), DISCONNECT_DATA).expect("disconnect")
            }
            Closer::Foreign => self.foreign.disconnect(self.foreign_peer(), DISCONNECT_DATA),
        }
        self.pump("disconnect", |s, event| {
            match event {
                // Stragglers of the unreliable traffic may still arrive.
                Side::Volley(Event::Received { channel, mode, payload, .. }) => {
                    s.volley_inbox.accept("Volley", channel, mode, &payload);
                }
                Side::Foreign(ForeignEvent::Received { channel, mode, payload, .. }) => {
                    s.foreign_inbox.accept("foreign", channel, mode, &payload);
                }
                Side::Volley(Event::Disconnected { peer, reason, data }) => {
                    assert_eq!(peer, s.volley_peer());
                    s.volley_closed = Some((reason, data));
                }
                Side::Foreign(ForeignEvent::Disconnected { peer, data }) => {
                    assert_eq!(peer, s.foreign_peer());
                    s.foreign_closed = Some(data);
                }
                other => panic!("unexpected while disconnecting: {other:?}"),
            }
            s.volley_closed.is_some() && s.foreign_closed.is_some()
        });
        match closer {
            Closer::Volley => {
                // ENet forgets a peer once it acknowledged its DISCONNECT; if
                // the relay loses that acknowledgement, the closer times out
                // (which ENet would report as a plain disconnect).
                let timed_out = self.relay.is_some()
                    && self.volley_closed == Some((DisconnectReason::Timeout, 0));
                if !timed_out {
                    assert_eq!(self.volley_closed, Some((DisconnectReason::Local, 0)));
                }
                assert_eq!(self.foreign_closed, Some(DISCONNECT_DATA));
            }
            Closer::Foreign => {
                assert_eq!(self.volley_closed, Some((DisconnectReason::Remote, DISCONNECT_DATA)));
                assert_eq!(self.foreign_closed, Some(0));
            }
        }
        assert_eq!(self.volley.peer_state(self.volley_peer()), None);
    }

    /// Services both hosts in turn, handing each event to `on_event`, until
    /// it returns true; panics after [`PHASE_DEADLINE`].
    fn pump(&mut self, phase: &str, mut on_event: impl FnMut(&mut Self, Side<F::Peer>) -> bool) {
        let deadline = Instant::now() + PHASE_DEADLINE;
        let mut idle = false;
        loop {
            assert!(
                Instant::now() < deadline,
                "{phase} did not finish in {PHASE_DEADLINE:?}: Volley got {}, foreign got {}; Volley's {:?}",
                self.volley_inbox.summary(),
                self.foreign_inbox.summary(),
                self.volley.endpoint_stats(),
            );
            // The foreign host is polled without blocking; when neither had
            // anything, Volley's service waits a little on its socket.
            let wait = if idle { Duration::from_millis(1) } else { Duration::ZERO };
            idle = !self.relay.as_mut().is_some_and(Relay::forward);
            if let Some(event) = self.foreign.service() {
                idle = false;
                if on_event(self, Side::Foreign(event)) {
                    return;
                }
            }
            if let Some(event) = self.volley.service(wait).expect("Volley service") {
                idle = false;
                if on_event(self, Side::Volley(event)) {
                    return;
                }
            }
        }
    }
}

/// An event and the host it came from.
#[derive(Debug)]
enum Side<P> {
    Volley(Event),
    Foreign(ForeignEvent<P>),
}

/// A UDP relay between the client and the server, on 127.0.0.1. A burst
/// larger than its socket buffer loses datagrams too, as a network would.
struct Relay {
    socket: UdpSocket,
    server: SocketAddr,
    client: Option<SocketAddr>,
    rng: SmallRng,
    batch: Vec<(SocketAddr, Vec<u8>)>,
}

impl Relay {
    /// Out of 100 datagrams, this many are lost and this many duplicated;
    /// each batch that arrives together goes out shuffled.
    const LOSS: u32 = 10;
    const DUPLICATION: u32 = 5;

    fn new(server: SocketAddr, seed: u64) -> Self {
        let socket = UdpSocket::bind(loopback()).expect("relay socket");
        socket.set_nonblocking(true).expect("non-blocking relay");
        let rng = SmallRng::seed_from_u64(seed);
        Self { socket, server, client: None, rng, batch: Vec::new() }
    }

    fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("relay address")
    }

    /// Forwards what arrived since the last call; true if anything did.
    fn forward(&mut self) -> bool {
        let mut buf = [0; 4096];
        while let Ok((len, from)) = self.socket.recv_from(&mut buf) {
            let to = if from == self.server {
                let Some(client) = self.client else { continue };
                client
            } else {
                self.client = Some(from);
                self.server
            };
            let roll = self.rng.random_range(0..100);
            if roll >= Self::LOSS {
                self.batch.push((to, buf[..len].to_vec()));
            }
            if roll >= 100 - Self::DUPLICATION {
                self.batch.push((to, buf[..len].to_vec()));
            }
        }
        self.batch.shuffle(&mut self.rng);
        let moved = !self.batch.is_empty();
        for (to, datagram) in self.batch.drain(..) {
            // A full socket buffer loses the datagram, like the network would.
            let _ = self.socket.send_to(&datagram, to);
        }
        moved
    }
}
