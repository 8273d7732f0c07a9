//! The endpoint: owns the peer slots, turns datagrams and deadlines into
//! events, and events and commands into datagrams. No I/O, no clock.

mod handshake;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::TransferMode;
use crate::budget::{QueueBudget, QueueRefusal, WaitingBudget};
use crate::channel::{Violation, WindowPosition, delivered_charge, lent_charge, window_position};
use crate::compress::{Compressor, RangeCoder};
use crate::config::{EndpointConfig, Timeouts, validate_timeouts};
use crate::constants::{
    BANDWIDTH_THROTTLE_INTERVAL, CONTROL_CHANNEL, DEFAULT_PACKET_THROTTLE_ACCELERATION,
    DEFAULT_PACKET_THROTTLE_DECELERATION, DEFAULT_PACKET_THROTTLE_INTERVAL_MS, MAX_CHANNEL_COUNT,
    MAX_DATAGRAM_SIZE, MAX_MTU, MAX_WINDOW_SIZE, MIN_CHANNEL_COUNT, MIN_MTU, MIN_WINDOW_SIZE,
    NO_PEER_ID, PACKET_LOSS_INTERVAL, PACKET_THROTTLE_SCALE, SESSION_ID_MASK, WINDOW_SIZE_SCALE,
};
use crate::error::{ConfigError, ConnectError, PeerError, SendError};
use crate::event::{DisconnectReason, Event};
use crate::half_open::HalfOpenTable;
use crate::lend::{Lend, LendSource, Payload};
use crate::outgoing::OutKind;
use crate::peer::{FillContext, Peer, PeerHandle, PeerState, PendingAck, ReceiveContext};
use crate::pool::BufferPool;
use crate::reliable::{TimeoutCheck, TimeoutMs};
use crate::stats::{EndpointStats, PeerStats};
use crate::throttle::PacketThrottle;
use crate::time::{Clock, duration_ms, time_difference, time_less, unwrap_time};
use crate::timer::{TimerQueue, peer_deadline};
use crate::trace;
use crate::wire::{
    Command, CommandBody, CommandHeader, Commands, ConnectParams, Datagram, DatagramWriter, Header,
    MAX_HEADER_LEN, ThrottleParams,
};
use handshake::HalfOpenOutcome;

/// Size a transmit buffer must have: the largest datagram plus header room.
pub const TRANSMIT_BUFFER_SIZE: usize = MAX_DATAGRAM_SIZE + MAX_HEADER_LEN;

/// A datagram to send, produced by [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Where it lies in the buffer given to `poll_transmit`.
    pub range: Range<usize>,
}

/// A datagram the endpoint built on the spot (immediate disconnects, refusals).
#[derive(Debug, Clone, Copy)]
struct Direct {
    destination: SocketAddr,
    len: usize,
    bytes: [u8; 16],
}

/// Protocol default throttle parameters.
const DEFAULT_THROTTLE: ThrottleParams = ThrottleParams {
    interval: DEFAULT_PACKET_THROTTLE_INTERVAL_MS,
    acceleration: DEFAULT_PACKET_THROTTLE_ACCELERATION,
    deceleration: DEFAULT_PACKET_THROTTLE_DECELERATION,
};

/// Volley's proof that a refusal comes from the server the client asked:
/// the sent-time field of the refusing datagram carries these 16 bits of the
/// connect id, which only the two ends know. Other clients ignore the field.
fn refusal_proof(connect_id: [u8; 4]) -> u16 {
    u16::from_be_bytes([connect_id[0] ^ connect_id[2], connect_id[1] ^ connect_id[3]])
}

/// Window size for a peer from bandwidths, as ENet computes it.
fn window_from_bandwidth(bandwidth: u32) -> u32 {
    ((bandwidth / WINDOW_SIZE_SCALE) * MIN_WINDOW_SIZE).clamp(MIN_WINDOW_SIZE, MAX_WINDOW_SIZE)
}

/// The send window between our outgoing and the remote's incoming bandwidth.
fn send_window(local_outgoing: u32, remote_incoming: u32) -> u32 {
    match (local_outgoing, remote_incoming) {
        (0, 0) => MAX_WINDOW_SIZE,
        (0, b) | (b, 0) => window_from_bandwidth(b),
        (a, b) => window_from_bandwidth(a.min(b)),
    }
}

/// What to do with the rest of a datagram after one command.
enum Flow {
    Continue,
    /// The command is not allowed here: drop the rest, count it out of state.
    Stop,
    /// Drop the rest; the reason was already counted.
    Dropped,
}

/// An ENet 1.3 compatible protocol endpoint: a host's peers and their
/// connections, as a state machine.
///
/// Drive it with [`handle_datagram`](Self::handle_datagram) and
/// [`handle_timeout`](Self::handle_timeout); collect
/// [`poll_transmit`](Self::poll_transmit) datagrams, [`poll_event`](Self::poll_event)
/// events and the [`poll_timeout`](Self::poll_timeout) deadline.
///
/// # Examples
///
/// Two endpoints connected through a function that carries datagrams:
///
/// ```
/// use std::time::Instant;
/// use volley_proto::{Endpoint, EndpointConfig, Event, TransferMode, TRANSMIT_BUFFER_SIZE};
///
/// let now = Instant::now();
/// let server_addr = "127.0.0.1:7000".parse().unwrap();
/// let client_addr = "127.0.0.1:7001".parse().unwrap();
/// let mut server = Endpoint::new(EndpointConfig::default())?;
/// let mut client = Endpoint::new(EndpointConfig::default())?;
/// let peer = client.connect(now, server_addr, 2, 42)?;
///
/// let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
/// // Carry datagrams both ways until both sides are quiet.
/// let mut shuttle = |client: &mut Endpoint, server: &mut Endpoint| {
///     for _ in 0..10 {
///         while let Some(t) = client.poll_transmit(now, &mut buf) {
///             server.handle_datagram(now, client_addr, &buf[t.range]);
///         }
///         while let Some(t) = server.poll_transmit(now, &mut buf) {
///             client.handle_datagram(now, server_addr, &buf[t.range]);
///         }
///     }
/// };
/// shuttle(&mut client, &mut server);
/// assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
/// assert!(matches!(server.poll_event(), Some(Event::Connected { data: 42, .. })));
///
/// client.send(peer, 0, TransferMode::Reliable, b"hello")?;
/// shuttle(&mut client, &mut server);
/// match server.poll_event() {
///     Some(Event::Received { payload, mode, .. }) => {
///         assert_eq!(payload, b"hello");
///         assert_eq!(mode, TransferMode::Reliable);
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Endpoint {
    config: EndpointConfig,
    clock: Option<Clock>,
    last_now: Option<Instant>,
    /// The last `now` converted to protocol time, and the result: a caller
    /// passes the same `now` to every call of one service.
    times_cache: Option<(Instant, u32, u64)>,
    peers: Vec<Peer>,
    events: VecDeque<Event<Payload>>,
    /// The datagram being handled inside a [`Lend`], if any.
    lend_source: Option<LendSource>,
    ready: VecDeque<u16>,
    /// Every live peer's next deadline.
    timers: TimerQueue,
    /// Slots due in the current `handle_timeout` (reused).
    due: Vec<u16>,
    direct: VecDeque<Direct>,
    pool: BufferPool,
    host_waiting: usize,
    /// What each peer, and all together, may hold of received data.
    budget: WaitingBudget,
    /// The same for outgoing data.
    queue_budget: QueueBudget,
    /// Connection attempts answered, not yet proven ([`crate::half_open`]).
    half_open: HalfOpenTable,
    /// The last handle generation given out.
    serial: u32,
    /// Peer slots in use.
    occupied: usize,
    rng: SmallRng,
    bandwidth_epoch: u32,
    recalculate_bandwidth: bool,
    stats: EndpointStats,
    delivered: VecDeque<(TransferMode, Option<Vec<u8>>)>,
    /// Reused peer-index lists of the bandwidth throttle.
    scratch: (Vec<usize>, Vec<usize>),
    compressor: Option<Box<dyn Compressor>>,
    /// Compressed bodies on the way out, decompressed ones on the way in
    /// (allocated with a compressor: most hosts, clients above all, never
    /// compress).
    compress_buf: Vec<u8>,
    decompress_buf: Vec<u8>,
    drop_log: trace::DropLog,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field(
                "peers",
                &self.peers.iter().filter(|p| p.state != PeerState::Disconnected).count(),
            )
            .field("events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Creates an endpoint; connect ids come from the operating system's randomness.
    pub fn new(config: EndpointConfig) -> Result<Self, ConfigError> {
        Self::with_seed(config, rand::rng().random())
    }

    /// Creates an endpoint whose connect ids come from `seed` (deterministic tests).
    pub fn with_seed(config: EndpointConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let peers = (0..config.peer_limit).map(|i| Peer::new(i as u16)).collect();
        Ok(Self {
            peers,
            timers: TimerQueue::new(config.peer_limit),
            due: Vec::new(),
            events: VecDeque::new(),
            lend_source: None,
            ready: VecDeque::new(),
            direct: VecDeque::new(),
            pool: BufferPool::new(2048, 4 << 20, 64 * 1024),
            host_waiting: 0,
            budget: WaitingBudget::new(&config),
            queue_budget: QueueBudget::new(&config),
            half_open: HalfOpenTable::default(),
            serial: 0,
            occupied: 0,
            rng: SmallRng::seed_from_u64(seed),
            bandwidth_epoch: 0,
            recalculate_bandwidth: false,
            stats: EndpointStats::default(),
            delivered: VecDeque::new(),
            // Sized for every peer now, so the first bandwidth epoch of a
            // running host allocates nothing.
            scratch: (Vec::with_capacity(config.peer_limit), Vec::with_capacity(config.peer_limit)),
            compressor: config
                .range_coder
                .then(|| Box::new(RangeCoder::new()) as Box<dyn Compressor>),
            compress_buf: if config.range_coder { vec![0; MAX_DATAGRAM_SIZE] } else { Vec::new() },
            decompress_buf: if config.range_coder {
                vec![0; MAX_DATAGRAM_SIZE]
            } else {
                Vec::new()
            },
            clock: None,
            last_now: None,
            times_cache: None,
            drop_log: trace::DropLog::default(),
            config,
        })
    }

    /// Installs a compressor for datagram bodies (`None` turns compression
    /// off). Both ends must use the same one; ENet's range coder is
    /// [`RangeCoder`], also selected by [`EndpointConfig::range_coder`].
    pub fn set_compressor(&mut self, compressor: Option<Box<dyn Compressor>>) {
        self.config.range_coder = false;
        if compressor.is_some() {
            self.compress_buf.resize(MAX_DATAGRAM_SIZE, 0);
            self.decompress_buf.resize(MAX_DATAGRAM_SIZE, 0);
        }
        self.compressor = compressor;
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    fn tick(&mut self, now: Instant) -> u32 {
        if self.last_now.is_none_or(|last| now > last) {
            self.last_now = Some(now);
        }
        let now_ms = self.times(now).0;
        if self.bandwidth_epoch == 0 {
            self.bandwidth_epoch = now_ms;
        }
        now_ms
    }

    /// Protocol time at `now`, wrapping and not (the clock starts at the
    /// first `now` seen).
    fn times(&mut self, now: Instant) -> (u32, u64) {
        if let Some((at, ms, unwrapped)) = self.times_cache
            && at == now
        {
            return (ms, unwrapped);
        }
        let clock = *self.clock.get_or_insert_with(|| Clock::new(now));
        let (ms, unwrapped) = clock.times(now);
        self.times_cache = Some((now, ms, unwrapped));
        (ms, unwrapped)
    }

    fn peer(&self, handle: PeerHandle) -> Option<&Peer> {
        self.peers
            .get(usize::from(handle.index))
            .filter(|p| p.generation == handle.generation && p.state != PeerState::Disconnected)
    }

    fn peer_index(&self, handle: PeerHandle) -> Result<usize, PeerError> {
        self.peer(handle).map(|_| usize::from(handle.index)).ok_or(PeerError::UnknownPeer)
    }

    /// Frees the slot at `index` silently; its handle dies.
    fn free_slot(&mut self, index: usize) {
        if self.peers[index].state != PeerState::Disconnected {
            self.occupied -= 1;
        }
        let released = self.peers[index].reset(&mut self.pool);
        self.host_waiting -= released;
        self.timers.cancel(index as u16);
    }

    /// Queues the peer at `index`'s next deadline after something that may
    /// have moved it earlier (see [`TimerQueue`]); `now` is the call's time.
    fn reschedule(&mut self, index: usize, now: Instant) {
        let (now_ms, now_unwrapped) = self.times(now);
        let deadline = peer_deadline(&self.peers[index], now_ms);
        let at = deadline.map(|t| unwrap_time(t, now_ms, now_unwrapped));
        self.timers.schedule(index as u16, at);
    }

    /// Ends the connection at `index`: the application is told why, then the slot is freed.
    fn end_peer(&mut self, index: usize, reason: DisconnectReason, data: u32) {
        let peer = self.peers[index].handle();
        trace::lifecycle!(%peer, address = %self.peers[index].address, %reason, data, "disconnected");
        self.events.push_back(Event::Disconnected { peer, reason, data });
        self.free_slot(index);
    }

    fn mark_ready(&mut self, index: usize) {
        let peer = &mut self.peers[index];
        if !peer.in_ready {
            peer.in_ready = true;
            self.ready.push_back(peer.index);
        }
    }

    fn timeouts_ms(t: &Timeouts) -> TimeoutMs {
        TimeoutMs {
            limit: t.limit,
            minimum: duration_ms(t.minimum),
            maximum: duration_ms(t.maximum),
        }
    }

    fn init_slot(&mut self, index: usize, address: SocketAddr, channels: usize) {
        let timeouts = Self::timeouts_ms(&self.config.timeouts);
        let ping = duration_ms(self.config.ping_interval);
        let floor = self.config.throttle_floor;
        // Due at once: the first timeout handling works out its real deadline.
        self.timers.schedule(index as u16, Some(0));
        let peer = &mut self.peers[index];
        peer.address = address;
        peer.timeouts = timeouts;
        peer.ping_interval = ping;
        peer.throttle = PacketThrottle::new(DEFAULT_THROTTLE, floor);
        peer.setup_channels(channels, &mut self.pool);
    }

    // ---------------------------------------------------------------- commands

    /// Starts connecting to `address` with `channel_count` channels (1-255);
    /// `data` reaches the remote with its connect event.
    pub fn connect(
        &mut self,
        now: Instant,
        address: SocketAddr,
        channel_count: usize,
        data: u32,
    ) -> Result<PeerHandle, ConnectError> {
        let channels = MIN_CHANNEL_COUNT as usize..=MAX_CHANNEL_COUNT as usize;
        if !channels.contains(&channel_count) {
            return Err(ConnectError::ChannelCount(channel_count));
        }
        let index = self
            .peers
            .iter()
            .position(|p| p.state == PeerState::Disconnected)
            .ok_or(ConnectError::NoFreeSlot)?;
        self.tick(now);
        self.init_slot(index, address, channel_count);
        let connect_id: [u8; 4] = self.rng.random();
        let sent_time_offset: u16 = self.rng.random();
        let generation = self.next_serial();
        self.occupied += 1;
        let (mtu, incoming, outgoing) =
            (self.config.mtu, self.config.incoming_bandwidth, self.config.outgoing_bandwidth);
        let peer = &mut self.peers[index];
        peer.state = PeerState::Connecting;
        peer.generation = generation;
        peer.sent_time_offset = sent_time_offset;
        peer.connect_id = connect_id;
        peer.mtu = mtu;
        peer.window_size =
            if outgoing == 0 { MAX_WINDOW_SIZE } else { window_from_bandwidth(outgoing) };
        let params = ConnectParams {
            outgoing_peer_id: index as u16,
            incoming_session_id: peer.incoming_session_id,
            outgoing_session_id: peer.outgoing_session_id,
            mtu,
            window_size: peer.window_size,
            channel_count: channel_count as u32,
            incoming_bandwidth: incoming,
            outgoing_bandwidth: outgoing,
            throttle: DEFAULT_THROTTLE,
            connect_id,
        };
        peer.queue_control(OutKind::Connect { params, data }, true);
        let handle = peer.handle();
        trace::lifecycle!(peer = %handle, %address, channel_count, "connecting");
        self.mark_ready(index);
        Ok(handle)
    }

    /// Accepts a connection announced by [`Event::ConnectRequest`].
    pub fn accept(&mut self, peer: PeerHandle) -> Result<(), PeerError> {
        match self.half_open_index(peer) {
            Some(index) => self.accept_half_open(index),
            None => {
                Err(self.peer_index(peer).map_or(PeerError::UnknownPeer, |_| PeerError::WrongState))
            }
        }
    }

    /// Refuses a connection announced by [`Event::ConnectRequest`]: the remote
    /// gets one DISCONNECT carrying `reason` at once (smaller than its
    /// CONNECT), and the slot is freed.
    pub fn refuse(&mut self, peer: PeerHandle, reason: u32) -> Result<(), PeerError> {
        match self.half_open_index(peer) {
            Some(index) => self.refuse_half_open(index, reason),
            None => {
                Err(self.peer_index(peer).map_or(PeerError::UnknownPeer, |_| PeerError::WrongState))
            }
        }
    }

    /// Builds a lone unsequenced DISCONNECT for the peer at `index`.
    fn queue_direct_disconnect(&mut self, index: usize, data: u32) {
        let p = &mut self.peers[index];
        p.control_seq = p.control_seq.wrapping_add(1);
        let (address, header, connect_id) = (p.address, p.datagram_header(None), p.connect_id);
        let placeholder = if header.peer_id < NO_PEER_ID { connect_id } else { [0; 4] };
        let seq = p.control_seq;
        self.push_direct_disconnect(address, header, placeholder, seq, data);
    }

    /// Builds a lone unsequenced DISCONNECT with `header` for `destination`.
    fn push_direct_disconnect(
        &mut self,
        destination: SocketAddr,
        header: Header,
        placeholder: [u8; 4],
        seq: u16,
        data: u32,
    ) {
        let command = Command {
            header: CommandHeader {
                acknowledge: false,
                unsequenced: true,
                channel_id: CONTROL_CHANNEL,
                reliable_sequence_number: seq,
            },
            body: CommandBody::Disconnect { data },
        };
        let mut buf = [0u8; 24];
        let mut writer = DatagramWriter::new(&mut buf, 16, self.config.checksum);
        if writer.push(&command).is_err() {
            return;
        }
        let range = writer.finish(&header, Some(placeholder));
        let mut bytes = [0u8; 16];
        bytes[..range.len()].copy_from_slice(&buf[range.clone()]);
        self.direct.push_back(Direct { destination, len: range.len(), bytes });
    }

    /// Queues `payload` to `peer` on `channel` with delivery `mode`.
    ///
    /// Packets larger than one datagram are fragmented: reliably for
    /// [`TransferMode::Reliable`], unreliably (as ENet's unreliable fragments,
    /// sequenced) for the other modes.
    pub fn send(
        &mut self,
        peer: PeerHandle,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let index = self.peer_index(peer).map_err(|_| SendError::UnknownPeer)?;
        let p = &self.peers[index];
        if p.state != PeerState::Connected {
            return Err(SendError::NotConnected);
        }
        if usize::from(channel) >= p.channel_count {
            return Err(SendError::ChannelOutOfRange { channel, channel_count: p.channel_count });
        }
        if payload.len() > self.config.max_packet_size {
            return Err(SendError::PacketTooLarge {
                len: payload.len(),
                max: self.config.max_packet_size,
            });
        }
        let queued = p.queued_bytes();
        let peers = &self.peers;
        let host_total = || peers.iter().map(Peer::queued_bytes).sum();
        match self.queue_budget.admit(queued, payload.len(), host_total) {
            Ok(()) => {}
            Err(QueueRefusal::Peer(limit) | QueueRefusal::Host(limit)) => {
                return Err(SendError::QueueFull { queued, limit });
            }
        }
        let fragment_len = self.fragment_len(p.mtu);
        let p = &mut self.peers[index];
        p.queue_packet(channel, mode, payload, fragment_len, &mut self.pool);
        self.mark_ready(index);
        Ok(())
    }

    /// Most payload one fragment carries at `mtu`.
    fn fragment_len(&self, mtu: u32) -> usize {
        mtu as usize - 4 - 24 - if self.config.checksum { 4 } else { 0 }
    }

    /// Queues `payload` to every connected peer; returns how many took it.
    pub fn broadcast(&mut self, channel: u8, mode: TransferMode, payload: &[u8]) -> usize {
        let mut sent = 0;
        for index in 0..self.peers.len() {
            let handle = self.peers[index].handle();
            if self.peers[index].state == PeerState::Connected
                && self.send(handle, channel, mode, payload).is_ok()
            {
                sent += 1;
            }
        }
        sent
    }

    /// Handles of all connected peers.
    pub fn connected_peers(&self) -> impl Iterator<Item = PeerHandle> + '_ {
        self.peers.iter().filter(|p| p.state == PeerState::Connected).map(Peer::handle)
    }

    /// Disconnects gracefully: queued data is dropped, a DISCONNECT is sent
    /// reliably, and [`Event::Disconnected`] follows its acknowledgement (or a
    /// timeout). A peer still connecting is dropped at once, without event.
    pub fn disconnect(
        &mut self,
        now: Instant,
        peer: PeerHandle,
        data: u32,
    ) -> Result<(), PeerError> {
        if let Some(index) = self.half_open_index(peer) {
            self.close_half_open(index, Some(data));
            return Ok(());
        }
        let index = self.peer_index(peer)?;
        self.tick(now);
        self.disconnect_index(index, data);
        Ok(())
    }

    fn disconnect_index(&mut self, index: usize, data: u32) {
        let p = &mut self.peers[index];
        match p.state {
            PeerState::Disconnecting
            | PeerState::Disconnected
            | PeerState::AcknowledgingDisconnect => {}
            PeerState::Connected | PeerState::DisconnectLater => {
                let released = p.clear_queues(&mut self.pool);
                self.host_waiting -= released;
                p.queue_control(OutKind::Disconnect { data }, true);
                p.state = PeerState::Disconnecting;
                self.recalculate_bandwidth = true;
                self.mark_ready(index);
            }
            PeerState::Connecting | PeerState::AwaitingAccept | PeerState::AcknowledgingConnect => {
                self.queue_direct_disconnect(index, data);
                self.free_slot(index);
            }
        }
    }

    /// Disconnects once everything queued was sent and acknowledged.
    pub fn disconnect_later(
        &mut self,
        now: Instant,
        peer: PeerHandle,
        data: u32,
    ) -> Result<(), PeerError> {
        if let Some(index) = self.half_open_index(peer) {
            self.close_half_open(index, Some(data));
            return Ok(());
        }
        let index = self.peer_index(peer)?;
        self.tick(now);
        let p = &mut self.peers[index];
        if p.is_connected() && !p.is_send_idle() {
            p.state = PeerState::DisconnectLater;
            p.disconnect_data = data;
        } else {
            self.disconnect_index(index, data);
        }
        Ok(())
    }

    /// Drops the peer at once; the remote gets one unacknowledged DISCONNECT.
    /// No local event.
    pub fn disconnect_now(&mut self, peer: PeerHandle, data: u32) -> Result<(), PeerError> {
        if let Some(index) = self.half_open_index(peer) {
            self.close_half_open(index, Some(data));
            return Ok(());
        }
        let index = self.peer_index(peer)?;
        if self.peers[index].state != PeerState::Disconnecting {
            self.queue_direct_disconnect(index, data);
        }
        if self.peers[index].is_connected() {
            self.recalculate_bandwidth = true;
        }
        self.free_slot(index);
        Ok(())
    }

    /// Forgets the peer without telling it. No local event.
    pub fn reset(&mut self, peer: PeerHandle) -> Result<(), PeerError> {
        if let Some(index) = self.half_open_index(peer) {
            self.close_half_open(index, None);
            return Ok(());
        }
        let index = self.peer_index(peer)?;
        if self.peers[index].is_connected() {
            self.recalculate_bandwidth = true;
        }
        self.free_slot(index);
        Ok(())
    }

    /// Sets a peer's timeouts (ENet's `enet_peer_timeout`).
    pub fn set_timeouts(&mut self, peer: PeerHandle, timeouts: Timeouts) -> Result<(), PeerError> {
        validate_timeouts(&timeouts).map_err(PeerError::InvalidValue)?;
        let index = self.peer_index(peer)?;
        self.peers[index].timeouts = Self::timeouts_ms(&timeouts);
        Ok(())
    }

    /// Sets a peer's keep-alive ping interval.
    pub fn set_ping_interval(
        &mut self,
        peer: PeerHandle,
        interval: Duration,
    ) -> Result<(), PeerError> {
        if interval.is_zero() {
            return Err(PeerError::InvalidValue(ConfigError::PingInterval));
        }
        let index = self.peer_index(peer)?;
        self.peers[index].ping_interval = duration_ms(interval);
        if let Some(now) = self.last_now {
            self.reschedule(index, now);
        }
        Ok(())
    }

    /// Changes a connected peer's throttle parameters on both ends
    /// (THROTTLE_CONFIGURE): `interval` over which the best round trip is
    /// measured, and the `acceleration` / `deceleration` steps (out of 32).
    pub fn configure_throttle(
        &mut self,
        peer: PeerHandle,
        interval: Duration,
        acceleration: u32,
        deceleration: u32,
    ) -> Result<(), PeerError> {
        let index = self.peer_index(peer)?;
        let p = &mut self.peers[index];
        if !p.is_connected() {
            return Err(PeerError::WrongState);
        }
        let params = ThrottleParams { interval: duration_ms(interval), acceleration, deceleration };
        p.throttle.params = sanitize_throttle(params);
        p.queue_control(OutKind::ThrottleConfigure(params), true);
        self.mark_ready(index);
        Ok(())
    }

    /// Changes the host's bandwidth limits (bytes/s, 0 = unlimited); peers
    /// are told within a second.
    pub fn set_bandwidth_limit(&mut self, incoming: u32, outgoing: u32) {
        self.config.incoming_bandwidth = incoming;
        self.config.outgoing_bandwidth = outgoing;
        self.recalculate_bandwidth = true;
    }

    /// Gives a received payload's buffer back for reuse.
    pub fn recycle(&mut self, payload: Vec<u8>) {
        self.pool.give(payload);
    }

    // ------------------------------------------------------------- inspection

    /// The peer's state, or `None` for a dead handle.
    pub fn peer_state(&self, peer: PeerHandle) -> Option<PeerState> {
        match self.half_open_index(peer) {
            Some(index) => self.half_open_state(index),
            None => self.peer(peer).map(|p| p.state),
        }
    }

    /// The peer's address.
    pub fn peer_address(&self, peer: PeerHandle) -> Option<SocketAddr> {
        match self.half_open_index(peer) {
            Some(index) => self.half_open.get(index).map(|e| e.address),
            None => self.peer(peer).map(|p| p.address),
        }
    }

    /// The peer's channel count.
    pub fn peer_channel_count(&self, peer: PeerHandle) -> Option<usize> {
        match self.half_open_index(peer) {
            Some(index) => self.half_open.get(index).map(|e| e.verify.channel_count as usize),
            None => self.peer(peer).map(|p| p.channel_count),
        }
    }

    /// The peer's statistics.
    pub fn peer_stats(&self, peer: PeerHandle) -> Option<PeerStats> {
        self.peer(peer).map(|p| {
            let mut s = p.stats;
            s.rtt = Duration::from_millis(u64::from(p.rtt.rtt));
            s.rtt_variance = Duration::from_millis(u64::from(p.rtt.variance));
            s.throttle = p.throttle.value;
            s.mtu = p.mtu;
            s.window_size = p.window_size;
            s.reliable_in_flight = p.sender.data_in_transit;
            s
        })
    }

    /// Bytes queued or in flight to the peer.
    pub fn peer_queued_bytes(&self, peer: PeerHandle) -> Option<usize> {
        self.peer(peer).map(Peer::queued_bytes)
    }

    /// Received data not yet taken with [`poll_event`](Self::poll_event), all peers.
    pub fn waiting_data(&self) -> usize {
        self.host_waiting
    }

    // ----------------------------------------------------------------- inputs

    /// Processes one received datagram from `from`.
    ///
    /// Malformed, misaddressed, stale-session or bad-checksum datagrams are
    /// dropped and counted in [`stats`](Self::stats); they never disturb a peer.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.receive_datagram(now, from, bytes);
        self.drop_log.after_datagram(&self.stats, from, now);
    }

    fn receive_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let now_ms = self.tick(now);
        self.stats.datagrams_received += 1;
        let Ok(datagram) = Datagram::parse(bytes, self.config.checksum) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let header = *datagram.header();
        // Which slot it claims, or which half-open connection: checked
        // before any decompression work.
        let (slot, half_open) = if header.is_unaddressed() {
            (None, None)
        } else if let Some(index) = self.addressed_slot(&header, from) {
            (Some(index), None)
        } else if let Some(index) =
            self.half_open.find_for_datagram(from, header.peer_id, header.session_id)
        {
            (None, Some(index))
        } else {
            self.stats.dropped_unknown_peer += 1;
            return;
        };
        let mut scratch = std::mem::take(&mut self.decompress_buf);
        let decompressed = if header.compressed {
            // ENet decompresses into one 4096-byte buffer behind the header.
            let limit = MAX_DATAGRAM_SIZE.saturating_sub(header.encoded_len(self.config.checksum));
            // Empty without a compressor: then nothing is decoded anyway.
            let output = scratch.get_mut(..limit).unwrap_or_default();
            match self.compressor.as_mut().map(|c| c.decompress(datagram.body(), output)) {
                Some(Ok(len)) if len > 0 => Some(len),
                // Undecodable, empty, or no compressor to decode it with.
                _ => {
                    self.stats.dropped_malformed += 1;
                    self.decompress_buf = scratch;
                    return;
                }
            }
        } else {
            None
        };
        let body = decompressed.map_or_else(|| datagram.body(), |len| &scratch[..len]);
        let (mut replay, mut touched) = (None, slot);
        match half_open {
            None => self.process_datagram(now_ms, from, &datagram, slot, body, bytes.len()),
            Some(index) => {
                if let HalfOpenOutcome::Proven { slot, replay: early } =
                    self.handle_half_open(index, now_ms, &datagram, body, bytes)
                {
                    self.process_datagram(now_ms, from, &datagram, Some(slot), body, bytes.len());
                    (replay, touched) = (early, Some(slot));
                }
            }
        }
        self.decompress_buf = scratch;
        if let Some(index) = touched {
            self.reschedule(index, now);
        }
        if let Some(early) = replay {
            // Sent before the proof: handled now that the connection exists.
            self.stats.datagrams_received -= 1;
            self.handle_datagram(now, from, &early);
        }
    }

    /// The live slot a datagram is addressed to, if its address and session
    /// match that slot's connection.
    fn addressed_slot(&self, header: &Header, from: SocketAddr) -> Option<usize> {
        let index = usize::from(header.peer_id);
        let peer = self.peers.get(index)?;
        let session_ok = peer.outgoing_peer_id >= NO_PEER_ID
            || header.session_id == peer.incoming_session_id & SESSION_ID_MASK;
        (peer.state != PeerState::Disconnected && peer.address == from && session_ok)
            .then_some(index)
    }

    /// Processes a datagram whose (uncompressed) body is `body`; `slot` is
    /// the peer it is addressed to (`None`: unaddressed, only a CONNECT).
    fn process_datagram(
        &mut self,
        now_ms: u32,
        from: SocketAddr,
        datagram: &Datagram<'_>,
        slot: Option<usize>,
        body: &[u8],
        wire_len: usize,
    ) {
        let header = *datagram.header();
        // All or nothing: a datagram with any malformed command is dropped whole.
        let mut commands = 0;
        for command in Commands::new(body) {
            match command {
                Ok(c) if c.header.acknowledge && header.sent_time.is_none() => {
                    self.stats.dropped_malformed += 1;
                    return;
                }
                Ok(_) => commands += 1,
                Err(_) => {
                    self.stats.dropped_malformed += 1;
                    return;
                }
            }
        }
        let Some(index) = slot else {
            if datagram.verify_checksum([0; 4], body).is_err() {
                self.stats.dropped_checksum += 1;
                return;
            }
            match Commands::new(body).next() {
                Some(Ok(Command { body: CommandBody::Connect { params, data }, .. }))
                    if commands == 1 =>
                {
                    self.handle_connect(now_ms, from, params, data, wire_len);
                }
                _ => self.stats.dropped_malformed += 1,
            }
            return;
        };
        let peer = &self.peers[index];
        if datagram.verify_checksum(peer.connect_id, body).is_err() {
            self.stats.dropped_checksum += 1;
            return;
        }
        let generation = peer.generation;
        let peer = &mut self.peers[index];
        peer.stats.bytes_received += wire_len as u64;
        for command in Commands::new(body).flatten() {
            let peer = &self.peers[index];
            if peer.generation != generation || peer.state == PeerState::Disconnected {
                break; // the peer was reset by an earlier command
            }
            let flow = self.handle_command(index, &header, &command, now_ms);
            let peer = &mut self.peers[index];
            if peer.generation == generation && command.header.acknowledge {
                let acked = match peer.state {
                    PeerState::Disconnecting
                    | PeerState::AcknowledgingConnect
                    | PeerState::AwaitingAccept
                    | PeerState::Disconnected => false,
                    PeerState::AcknowledgingDisconnect => {
                        matches!(command.body, CommandBody::Disconnect { .. })
                    }
                    _ => {
                        !matches!(command.body, CommandBody::VerifyConnect(_))
                            || peer.state == PeerState::Connected
                    }
                };
                let channel = usize::from(command.header.channel_id);
                let too_far = peer.in_channels.get(channel).is_some_and(|c| {
                    window_position(c.incoming_reliable(), command.header.reliable_sequence_number)
                        == WindowPosition::TooFarAhead
                });
                if acked && !too_far && matches!(flow, Flow::Continue) {
                    peer.queue_ack(PendingAck {
                        channel_id: command.header.channel_id,
                        seq: command.header.reliable_sequence_number,
                        sent_time: header.sent_time.unwrap_or(0),
                        is_disconnect: matches!(command.body, CommandBody::Disconnect { .. }),
                    });
                    self.mark_ready(index);
                }
            }
            match flow {
                Flow::Continue => {}
                Flow::Stop => {
                    self.stats.dropped_out_of_state += 1;
                    break;
                }
                Flow::Dropped => break,
            }
        }
    }

    fn handle_command(
        &mut self,
        index: usize,
        header: &Header,
        command: &Command<'_>,
        now: u32,
    ) -> Flow {
        let state = self.peers[index].state;
        let connected = matches!(state, PeerState::Connected | PeerState::DisconnectLater);
        match command.body {
            CommandBody::Acknowledge { received_reliable_sequence_number, received_sent_time } => {
                self.handle_ack(
                    index,
                    command.header.channel_id,
                    received_reliable_sequence_number,
                    received_sent_time,
                    now,
                )
            }
            CommandBody::Connect { .. } => Flow::Stop,
            CommandBody::VerifyConnect(params) => self.handle_verify(index, &params),
            CommandBody::Disconnect { data } => {
                self.handle_disconnect(index, header, command, data)
            }
            CommandBody::Ping if connected => Flow::Continue,
            CommandBody::BandwidthLimit { incoming_bandwidth, outgoing_bandwidth } if connected => {
                let local_outgoing = self.config.outgoing_bandwidth;
                let p = &mut self.peers[index];
                p.remote_incoming_bandwidth = incoming_bandwidth;
                p.remote_outgoing_bandwidth = outgoing_bandwidth;
                p.window_size = send_window(local_outgoing, incoming_bandwidth);
                Flow::Continue
            }
            CommandBody::ThrottleConfigure(params) if connected => {
                self.peers[index].throttle.params = sanitize_throttle(params);
                Flow::Continue
            }
            CommandBody::Ping
            | CommandBody::BandwidthLimit { .. }
            | CommandBody::ThrottleConfigure(_) => Flow::Stop,
            CommandBody::SendReliable { .. }
            | CommandBody::SendUnreliable { .. }
            | CommandBody::SendUnsequenced { .. }
            | CommandBody::SendFragment(_)
            | CommandBody::SendUnreliableFragment(_) => self.handle_data(index, command, now),
        }
    }

    fn handle_data(&mut self, index: usize, command: &Command<'_>, now: u32) -> Flow {
        let channel = command.header.channel_id;
        let p = &mut self.peers[index];
        if !p.is_connected() || usize::from(channel) >= p.channel_count {
            return Flow::Stop;
        }
        p.stats.packets_received += 1;
        let declared = match command.body {
            CommandBody::SendFragment(f) | CommandBody::SendUnreliableFragment(f) => {
                f.total_length as usize
            }
            _ => command.body.payload().map_or(0, <[u8]>::len),
        };
        if declared > self.config.max_packet_size {
            return Flow::Stop;
        }
        if p.state == PeerState::DisconnectLater {
            return Flow::Continue; // acknowledged, discarded
        }
        if let CommandBody::SendUnsequenced { unsequenced_group, data } = command.body {
            if !p.unsequenced_window.accept(unsequenced_group) {
                return Flow::Continue;
            }
            // Delivered at once: straight to the events, charged what it
            // occupies; lent out of the datagram when the caller can.
            let payload = match self.lend_source.and_then(|source| source.payload(data)) {
                Some(lent) => lent,
                None => Payload::Owned(self.pool.copy_of(data)),
            };
            let charge = payload.charge();
            if !self.budget.admits(p.waiting, self.host_waiting, charge) {
                if let Payload::Owned(buffer) = payload {
                    self.pool.give(buffer);
                }
                self.stats.dropped_waiting_data += 1;
                return Flow::Dropped;
            }
            p.waiting += charge;
            self.host_waiting += charge;
            let (peer, mode) = (p.handle(), TransferMode::Unreliable);
            self.events.push_back(Event::Received { peer, channel, mode, payload });
            return Flow::Continue;
        }
        let data = command.body.payload().unwrap_or_default();
        let mut lent = self.lend_source.and_then(|source| source.payload(data));
        let mut cx = ReceiveContext {
            now,
            pool: &mut self.pool,
            budget: self.budget,
            host_waiting: &mut self.host_waiting,
            out: &mut self.delivered,
            lend: lent.is_some(),
            shed: 0,
            over_budget: false,
        };
        let result = p.receive(channel, command, &mut cx);
        self.stats.fragment_groups_shed += cx.shed as u64;
        let (over_budget, handle) = (cx.over_budget, p.handle());
        for (mode, payload) in self.delivered.drain(..) {
            // `None` is this command's data, delivered as it arrived (once).
            let payload = match payload {
                Some(buffer) => Payload::Owned(buffer),
                None => match lent.take() {
                    Some(payload) => payload,
                    None => {
                        // Not reached (`lend` is set only with a lent payload):
                        // copied, and charged what the copy occupies beyond
                        // the lent charge.
                        let copy = self.pool.copy_of(data);
                        let extra = delivered_charge(&copy) - lent_charge(data.len());
                        self.peers[index].waiting += extra;
                        self.host_waiting += extra;
                        Payload::Owned(copy)
                    }
                },
            };
            self.events.push_back(Event::Received { peer: handle, channel, mode, payload });
        }
        let p = &mut self.peers[index];
        if over_budget && p.holds_stale_fragments(now, p.timeouts.maximum) {
            // Over its budget with groups no sender leaves incomplete: the
            // peer itself goes.
            self.evict(index);
            return Flow::Dropped;
        }
        match result {
            Ok(()) => Flow::Continue,
            Err(Violation::WaitingData | Violation::FragmentGroups) => {
                self.stats.dropped_waiting_data += 1;
                Flow::Dropped
            }
            Err(Violation::BadFragment) => Flow::Stop,
        }
    }

    /// Drops a peer that abused its budget: one unacknowledged DISCONNECT,
    /// and [`DisconnectReason::Evicted`] for the application.
    fn evict(&mut self, index: usize) {
        self.queue_direct_disconnect(index, 0);
        if self.peers[index].is_connected() {
            self.recalculate_bandwidth = true;
        }
        self.stats.peers_evicted += 1;
        self.end_peer(index, DisconnectReason::Evicted, 0);
    }

    fn handle_ack(&mut self, index: usize, channel: u8, seq: u16, echo: u16, now: u32) -> Flow {
        let p = &mut self.peers[index];
        // Rebuild the 32-bit send time from its low 16 bits, less the
        // connection's offset (see `Peer::sent_time_offset`).
        let echo = echo.wrapping_sub(p.sent_time_offset);
        let mut sent = u32::from(echo) | (now & 0xFFFF_0000);
        if (sent & 0x8000) > (now & 0x8000) {
            sent = sent.wrapping_sub(0x10000);
        }
        if time_less(now, sent) {
            return Flow::Continue;
        }
        let acked = p.sender.on_ack(channel, seq, Some(sent));
        let fast_resends = p.sender.take_fast_resends();
        if fast_resends > 0 {
            p.count_lost(fast_resends);
        }
        let Some((command, _)) = acked else {
            // Matches nothing: no RTT sample, and in the two waiting states an error.
            return match p.state {
                PeerState::Disconnecting => Flow::Stop,
                _ => Flow::Continue,
            };
        };
        p.sender.note_progress(now);
        let rtt = time_difference(now, sent).max(1);
        let first_sample = p.rtt.is_first_sample();
        if !first_sample {
            p.throttle.on_round_trip(rtt, &p.rtt);
        }
        let interval = p.throttle.params.interval.max(1);
        p.rtt.update(rtt, now, interval);
        if first_sample {
            p.sender.rebase_timeouts(p.rtt.retransmission_timeout());
        }
        p.last_receive_time = now.max(1);
        if let Some(payload) = command.payload {
            p.packets.release(payload, &mut self.pool);
        }
        match p.state {
            PeerState::Disconnecting => {
                if !matches!(command.kind, OutKind::Disconnect { .. }) {
                    return Flow::Stop;
                }
                self.end_peer(index, DisconnectReason::Local, 0);
                return Flow::Continue;
            }
            PeerState::DisconnectLater if p.is_send_idle() => {
                let data = p.disconnect_data;
                self.disconnect_index(index, data);
                return Flow::Continue;
            }
            _ => {}
        }
        self.mark_ready(index);
        Flow::Continue
    }

    fn handle_verify(&mut self, index: usize, params: &ConnectParams) -> Flow {
        let p = &mut self.peers[index];
        if p.state != PeerState::Connecting {
            return Flow::Continue;
        }
        if params.connect_id != p.connect_id
            || params.incoming_session_id > SESSION_ID_MASK
            || params.outgoing_session_id > SESSION_ID_MASK
        {
            // Not an answer to our CONNECT (stale, spoofed, or assigning no session): ignore it.
            return Flow::Stop;
        }
        if params.throttle != DEFAULT_THROTTLE {
            // The responder does not echo our parameters: the attempt fails.
            self.end_peer(index, DisconnectReason::Refused, 0);
            return Flow::Stop;
        }
        let _ = p.sender.on_ack(CONTROL_CHANNEL, 1, None);
        let channels = (params.channel_count as usize).min(p.channel_count);
        p.channel_count = channels;
        p.out_channels.truncate(channels);
        p.in_channels.truncate(channels);
        p.outgoing_peer_id = params.outgoing_peer_id;
        p.incoming_session_id = params.incoming_session_id;
        p.outgoing_session_id = params.outgoing_session_id;
        p.mtu = p.mtu.min(params.mtu.clamp(MIN_MTU, MAX_MTU));
        p.window_size =
            p.window_size.min(params.window_size.clamp(MIN_WINDOW_SIZE, MAX_WINDOW_SIZE));
        p.remote_incoming_bandwidth = params.incoming_bandwidth;
        p.remote_outgoing_bandwidth = params.outgoing_bandwidth;
        p.state = PeerState::Connected;
        let handle = p.handle();
        self.recalculate_bandwidth = true;
        trace::lifecycle!(peer = %handle, address = %p.address, "connected");
        self.events.push_back(Event::Connected { peer: handle, data: 0 });
        Flow::Continue
    }

    fn handle_disconnect(
        &mut self,
        index: usize,
        header: &Header,
        command: &Command<'_>,
        data: u32,
    ) -> Flow {
        let p = &mut self.peers[index];
        match p.state {
            // Half-open connections live in the half-open table, not in slots.
            PeerState::Disconnected
            | PeerState::AcknowledgingDisconnect
            | PeerState::AwaitingAccept
            | PeerState::AcknowledgingConnect => Flow::Continue,
            PeerState::Connecting => {
                // Only a refusal that proves it knows our connect id ends the attempt.
                if header.sent_time != Some(refusal_proof(p.connect_id)) {
                    return Flow::Stop;
                }
                self.end_peer(index, DisconnectReason::Refused, data);
                Flow::Stop
            }
            PeerState::Disconnecting => {
                self.end_peer(index, DisconnectReason::Remote, data);
                Flow::Stop
            }
            PeerState::Connected | PeerState::DisconnectLater => {
                let released = p.clear_queues(&mut self.pool);
                self.host_waiting -= released;
                self.recalculate_bandwidth = true;
                if command.header.acknowledge {
                    p.state = PeerState::AcknowledgingDisconnect;
                    p.disconnect_data = data;
                    Flow::Continue
                } else {
                    self.end_peer(index, DisconnectReason::Remote, data);
                    Flow::Stop
                }
            }
        }
    }

    /// Advances timers to `now`: resends, timeouts, keep-alives, bandwidth.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now_ms = self.tick(now);
        self.drop_log.on_timer(&self.stats, now);
        if time_difference(now_ms, self.bandwidth_epoch) >= duration_ms(BANDWIDTH_THROTTLE_INTERVAL)
        {
            self.bandwidth_throttle(now_ms);
        }
        self.expire_half_open(now_ms);
        // Only the peers whose deadline came: taken first, then handled and
        // rescheduled, so a deadline still due (a ping waiting to go out)
        // waits for the next call instead of coming straight back.
        let now_unwrapped = self.times(now).1;
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        due.extend(std::iter::from_fn(|| self.timers.pop_due(now_unwrapped)));
        for &index in &due {
            let index = usize::from(index);
            self.peer_timeout(index, now_ms);
            if self.peers[index].state != PeerState::Disconnected {
                self.reschedule(index, now);
            }
        }
        self.due = due;
    }

    /// What came due for the peer at `index`: resends or death, keep-alive
    /// ping, the loss statistic.
    fn peer_timeout(&mut self, index: usize, now_ms: u32) {
        let p = &mut self.peers[index];
        if p.state == PeerState::Disconnected {
            return;
        }
        if p.sender.next_timeout != 0 && !time_less(now_ms, p.sender.next_timeout) {
            match p.sender.check_timeouts(now_ms, p.timeouts) {
                TimeoutCheck::Dead => {
                    self.notify_timeout(index);
                    return;
                }
                TimeoutCheck::Resend(0) => {}
                TimeoutCheck::Resend(n) => {
                    p.count_lost(n);
                    self.mark_ready(index);
                }
            }
        }
        let p = &mut self.peers[index];
        if p.state == PeerState::Connected && p.sender.is_idle() && p.ping_due(now_ms) {
            self.mark_ready(index);
        }
        self.peers[index].update_packet_loss(now_ms, duration_ms(PACKET_LOSS_INTERVAL));
    }

    fn notify_timeout(&mut self, index: usize) {
        if self.peers[index].is_connected() {
            self.recalculate_bandwidth = true;
        }
        self.end_peer(index, DisconnectReason::Timeout, 0);
    }

    /// ENet's host bandwidth throttle: shares the outgoing budget among peers
    /// as throttle limits, and announces incoming limits after changes.
    fn bandwidth_throttle(&mut self, now: u32) {
        let elapsed = time_difference(now, self.bandwidth_epoch);
        self.bandwidth_epoch = now;
        let (mut connected, mut remaining) = std::mem::take(&mut self.scratch);
        connected.clear();
        connected.extend((0..self.peers.len()).filter(|&i| self.peers[i].is_connected()));
        if !connected.is_empty() {
            self.share_bandwidth(elapsed, &connected, &mut remaining);
        }
        self.scratch = (connected, remaining);
    }

    fn share_bandwidth(&mut self, elapsed: u32, connected: &[usize], remaining: &mut Vec<usize>) {
        let scale = u64::from(PACKET_THROTTLE_SCALE);
        if self.config.outgoing_bandwidth != 0 {
            let mut budget = u64::from(self.config.outgoing_bandwidth) * u64::from(elapsed) / 1000;
            let mut demand: u64 =
                connected.iter().map(|&i| u64::from(self.peers[i].outgoing_data_total)).sum();
            remaining.clear();
            remaining.extend_from_slice(connected);
            loop {
                let throttle =
                    if demand <= budget { scale } else { budget * scale / demand.max(1) };
                let mut adjusted = false;
                remaining.retain(|&i| {
                    let p = &mut self.peers[i];
                    if p.remote_incoming_bandwidth == 0 {
                        return true;
                    }
                    let peer_budget =
                        u64::from(p.remote_incoming_bandwidth) * u64::from(elapsed) / 1000;
                    let total = u64::from(p.outgoing_data_total);
                    if throttle * total / scale <= peer_budget {
                        return true;
                    }
                    p.throttle.set_limit((peer_budget * scale / total.max(1)).max(1) as u32);
                    p.outgoing_data_total = 0;
                    budget = budget.saturating_sub(peer_budget);
                    demand = demand.saturating_sub(peer_budget);
                    adjusted = true;
                    false
                });
                if !adjusted || remaining.is_empty() {
                    break;
                }
            }
            let throttle = if demand <= budget { scale } else { budget * scale / demand.max(1) };
            for &i in remaining.iter() {
                self.peers[i].throttle.set_limit(throttle as u32);
                self.peers[i].outgoing_data_total = 0;
            }
        } else {
            for &i in connected {
                self.peers[i].outgoing_data_total = 0;
            }
        }
        if !self.recalculate_bandwidth {
            return;
        }
        self.recalculate_bandwidth = false;
        // Share the incoming bandwidth: peers sending less than an equal share get what they send.
        let mut bandwidth = self.config.incoming_bandwidth;
        let mut limit = 0;
        for &i in connected {
            self.peers[i].bandwidth_marked = false;
        }
        if bandwidth != 0 {
            let mut remaining = connected.len() as u32;
            loop {
                limit = bandwidth / remaining.max(1);
                let mut adjusted = false;
                for &i in connected {
                    let p = &mut self.peers[i];
                    if p.bandwidth_marked
                        || (p.remote_outgoing_bandwidth > 0 && p.remote_outgoing_bandwidth >= limit)
                    {
                        continue;
                    }
                    p.bandwidth_marked = true;
                    adjusted = true;
                    remaining -= 1;
                    bandwidth = bandwidth.saturating_sub(p.remote_outgoing_bandwidth);
                }
                if !adjusted || remaining == 0 {
                    break;
                }
            }
        }
        let outgoing = self.config.outgoing_bandwidth;
        for &i in connected {
            let p = &mut self.peers[i];
            let incoming = if p.bandwidth_marked { p.remote_outgoing_bandwidth } else { limit };
            p.queue_control(OutKind::BandwidthLimit { incoming, outgoing }, true);
            self.mark_ready(i);
        }
    }

    // ---------------------------------------------------------------- outputs

    /// Builds the next datagram to send into `buf` (at least
    /// [`TRANSMIT_BUFFER_SIZE`] bytes for full-size datagrams), or `None`
    /// when nothing is due. Call until `None` after every input.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let now_ms = self.tick(now);
        if let Some(direct) = self.direct.pop_front() {
            let len = direct.len.min(buf.len());
            buf[..len].copy_from_slice(&direct.bytes[..len]);
            self.stats.datagrams_sent += 1;
            return Some(Transmit { destination: direct.destination, range: 0..len });
        }
        if self.half_open.has_outgoing() {
            let lifetime = duration_ms(self.config.timeouts.minimum);
            if let Some((destination, range)) =
                self.half_open.poll_transmit(now_ms, buf, self.config.checksum, lifetime)
            {
                self.stats.datagrams_sent += 1;
                return Some(Transmit { destination, range });
            }
        }
        while let Some(index) = self.ready.pop_front() {
            let index = usize::from(index);
            let p = &mut self.peers[index];
            p.in_ready = false;
            if p.state == PeerState::Disconnected {
                continue;
            }
            let mut writer = DatagramWriter::new(buf, p.mtu as usize, self.config.checksum);
            let mut cx = FillContext { now: now_ms, pool: &mut self.pool };
            let (filled, needs_sent_time) = p.fill_datagram(&mut writer, &mut cx);
            if writer.is_empty() {
                if p.state == PeerState::DisconnectLater && p.is_send_idle() {
                    let data = p.disconnect_data;
                    self.disconnect_index(index, data);
                }
                continue;
            }
            let sent_time = (now_ms as u16).wrapping_add(p.sent_time_offset);
            let mut header = p.datagram_header(needs_sent_time.then_some(sent_time));
            let placeholder = Some(p.checksum_placeholder());
            // Compressed only when it comes out strictly smaller, as ENet does.
            let body_len = writer.body().len();
            let compressed = self
                .compressor
                .as_mut()
                .and_then(|c| c.compress(writer.body(), &mut self.compress_buf[..body_len]))
                .filter(|&len| len < body_len);
            let range = match compressed {
                Some(len) => {
                    header.compressed = true;
                    writer.finish_compressed(&header, placeholder, &self.compress_buf[..len])
                }
                None => writer.finish(&header, placeholder),
            };
            p.stats.bytes_sent += range.len() as u64;
            self.stats.datagrams_sent += 1;
            let destination = p.address;
            if filled.acked_disconnect {
                let data = p.disconnect_data;
                self.end_peer(index, DisconnectReason::Remote, data);
            } else if filled.more {
                self.mark_ready(index);
            } else if p.state == PeerState::DisconnectLater && p.is_send_idle() {
                let data = p.disconnect_data;
                self.disconnect_index(index, data);
            }
            if self.peers[index].state != PeerState::Disconnected {
                self.reschedule(index, now);
            }
            return Some(Transmit { destination, range });
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, or
    /// `None` when nothing waits on time. May be in the past: call it then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (clock, now) = (self.clock?, self.last_now?);
        if !self.ready.is_empty() || !self.direct.is_empty() || self.half_open.has_outgoing() {
            return Some(now);
        }
        // The peers' earliest deadline from the timer queue: no peer is visited.
        let peers = self.timers.next().map(|ms| clock.instant_unwrapped(ms));
        let bandwidth = (self.occupied > 0
            && (self.recalculate_bandwidth || self.config.outgoing_bandwidth != 0))
            .then(|| {
                let epoch = self.bandwidth_epoch;
                clock.instant(now, epoch.wrapping_add(duration_ms(BANDWIDTH_THROTTLE_INTERVAL)))
            });
        let half_open = self.half_open.next_deadline().map(|ms| clock.instant(now, ms));
        [peers, bandwidth, half_open].into_iter().flatten().min()
    }

    /// The next event, if any.
    ///
    /// Events whose payload a live [`Lend`] still borrows are its to hand
    /// out; they are never seen here (a `Lend` copies what it did not hand
    /// out when it ends).
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(Event::Received { payload: Payload::Lent { .. }, .. }) = self.events.front() {
            return None;
        }
        let event = self.take_event()?;
        Some(event.map_payload(|payload| match payload {
            Payload::Owned(buffer) => buffer,
            Payload::Lent { .. } => Vec::new(),
        }))
    }

    /// Whether an event waits for [`poll_event`](Self::poll_event) (or a
    /// [`Lend`]): a caller polling in a loop can skip the work of taking
    /// none.
    ///
    /// ```
    /// use volley_proto::{Endpoint, EndpointConfig};
    ///
    /// let endpoint = Endpoint::new(EndpointConfig::default())?;
    /// assert!(!endpoint.has_events());
    /// # Ok::<(), volley_proto::ConfigError>(())
    /// ```
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Opens a [`Lend`]: a receive scope whose events borrow their payloads
    /// from the datagrams given to it instead of copying them.
    #[inline]
    pub fn lend<'d>(&mut self) -> Lend<'_, 'd> {
        Lend::new(self)
    }

    /// [`Self::handle_datagram`] inside a [`Lend`], which keeps `bytes`
    /// borrowed as `source`.
    pub(crate) fn handle_datagram_lending(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        source: LendSource,
    ) {
        self.lend_source = Some(source);
        self.handle_datagram(now, from, bytes);
        self.lend_source = None;
    }

    /// Takes the next event as queued; its payload no longer counts as waiting.
    pub(crate) fn take_event(&mut self) -> Option<Event<Payload>> {
        let event = self.events.pop_front()?;
        if let Event::Received { peer, payload, .. } = &event {
            let charge = payload.charge();
            self.host_waiting -= charge;
            if let Some(p) = self.peers.get_mut(usize::from(peer.index))
                && p.generation == peer.generation
            {
                p.waiting = p.waiting.saturating_sub(charge);
            }
        }
        Some(event)
    }

    /// Copies every queued payload still lent into an owned buffer;
    /// `datagram` gives the bytes a lent range refers to (a range it cannot
    /// give becomes an empty payload).
    pub(crate) fn own_lent_payloads<'d>(
        &mut self,
        datagram: impl Fn(u8, Range<usize>) -> Option<&'d [u8]>,
    ) {
        for event in &mut self.events {
            if let Event::Received { peer, payload, .. } = event
                && let Payload::Lent { datagram: index, start, len } = *payload
            {
                let range = start as usize..start as usize + len as usize;
                let bytes = datagram(index, range).unwrap_or_default();
                // Charged from now on what the copy occupies.
                let lent = payload.charge();
                *payload = Payload::Owned(self.pool.copy_of(bytes));
                let owned = payload.charge();
                self.host_waiting = self.host_waiting + owned - lent;
                if let Some(p) = self.peers.get_mut(usize::from(peer.index))
                    && p.generation == peer.generation
                {
                    p.waiting = (p.waiting + owned).saturating_sub(lent);
                }
            }
        }
    }
}

/// Keeps a remote's throttle parameters within sane bounds for our own use
/// (the original values are still echoed on the wire).
fn sanitize_throttle(params: ThrottleParams) -> ThrottleParams {
    ThrottleParams {
        interval: params.interval.max(1),
        acceleration: params.acceleration.min(PACKET_THROTTLE_SCALE),
        deceleration: params.deceleration.min(PACKET_THROTTLE_SCALE),
    }
}
