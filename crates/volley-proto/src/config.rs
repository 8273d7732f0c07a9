//! Endpoint configuration, validated once when the endpoint is created.

use std::time::Duration;

use crate::constants::{
    DEFAULT_DUPLICATE_PEERS, DEFAULT_MAX_PACKET_SIZE, DEFAULT_MAX_WAITING_DATA, DEFAULT_MTU,
    DEFAULT_PING_INTERVAL, DEFAULT_TIMEOUT_LIMIT, DEFAULT_TIMEOUT_MAXIMUM, DEFAULT_TIMEOUT_MINIMUM,
    MAX_CHANNEL_COUNT, MAX_MTU, MAX_PEERS, MIN_CHANNEL_COUNT, MIN_MTU, PACKET_THROTTLE_SCALE,
};
use crate::error::ConfigError;

/// How long a peer may stay silent, as ENet's `enet_peer_timeout` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Retransmissions, as a power of two: the peer may be declared dead once
    /// one command went out `log2(limit) + 1` times (6 for 32).
    pub limit: u32,
    /// The peer is never declared dead before this long with nothing received
    /// from it while a command went unacknowledged.
    pub minimum: Duration,
    /// The peer is always declared dead after this long with nothing received
    /// from it while a command went unacknowledged.
    pub maximum: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            limit: DEFAULT_TIMEOUT_LIMIT,
            minimum: DEFAULT_TIMEOUT_MINIMUM,
            maximum: DEFAULT_TIMEOUT_MAXIMUM,
        }
    }
}

/// Configuration of an [`Endpoint`](crate::Endpoint).
///
/// Setters chain; [`Endpoint::new`](crate::Endpoint::new) validates the whole.
///
/// # Examples
///
/// ```
/// use volley_proto::EndpointConfig;
///
/// let mut config = EndpointConfig::default();
/// config.peer_limit(64).channel_limit(4).checksum(true);
/// assert_eq!(config.get_peer_limit(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub(crate) peer_limit: usize,
    pub(crate) channel_limit: usize,
    pub(crate) mtu: u32,
    pub(crate) incoming_bandwidth: u32,
    pub(crate) outgoing_bandwidth: u32,
    pub(crate) checksum: bool,
    pub(crate) range_coder: bool,
    pub(crate) max_packet_size: usize,
    pub(crate) max_waiting_data: usize,
    pub(crate) max_host_waiting_data: usize,
    pub(crate) max_queued_data: usize,
    pub(crate) max_host_queued_data: usize,
    pub(crate) max_fragment_groups: usize,
    pub(crate) duplicate_peers: usize,
    pub(crate) max_half_open: usize,
    pub(crate) max_half_open_per_address: usize,
    pub(crate) manual_accept: bool,
    pub(crate) throttle_floor: u32,
    pub(crate) timeouts: Timeouts,
    pub(crate) ping_interval: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            peer_limit: 32,
            channel_limit: MAX_CHANNEL_COUNT as usize,
            mtu: DEFAULT_MTU,
            incoming_bandwidth: 0,
            outgoing_bandwidth: 0,
            checksum: false,
            range_coder: false,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_waiting_data: DEFAULT_MAX_WAITING_DATA,
            max_host_waiting_data: 256 * 1024 * 1024,
            max_queued_data: 64 * 1024 * 1024,
            max_host_queued_data: 256 * 1024 * 1024,
            max_fragment_groups: 256,
            duplicate_peers: DEFAULT_DUPLICATE_PEERS,
            max_half_open: 4096,
            max_half_open_per_address: 16,
            manual_accept: false,
            throttle_floor: PACKET_THROTTLE_SCALE / 4,
            timeouts: Timeouts::default(),
            ping_interval: DEFAULT_PING_INTERVAL,
        }
    }
}

impl EndpointConfig {
    /// Number of peer slots (1 to 4095). A client needs one per connection.
    pub fn peer_limit(&mut self, peers: usize) -> &mut Self {
        self.peer_limit = peers;
        self
    }
    /// The configured number of peer slots.
    pub fn get_peer_limit(&self) -> usize {
        self.peer_limit
    }
    /// Most channels a connection may have (1 to 255); requests for more are reduced.
    pub fn channel_limit(&mut self, channels: usize) -> &mut Self {
        self.channel_limit = channels;
        self
    }
    /// MTU proposed to peers, in bytes (576 to 4096).
    pub fn mtu(&mut self, mtu: u32) -> &mut Self {
        self.mtu = mtu;
        self
    }
    /// Incoming bandwidth in bytes per second announced to peers (0 = unlimited).
    pub fn incoming_bandwidth(&mut self, bytes_per_sec: u32) -> &mut Self {
        self.incoming_bandwidth = bytes_per_sec;
        self
    }
    /// Outgoing bandwidth in bytes per second (0 = unlimited).
    pub fn outgoing_bandwidth(&mut self, bytes_per_sec: u32) -> &mut Self {
        self.outgoing_bandwidth = bytes_per_sec;
        self
    }
    /// Whether datagrams carry a CRC-32 checksum; both ends must agree.
    pub fn checksum(&mut self, enabled: bool) -> &mut Self {
        self.checksum = enabled;
        self
    }
    /// Whether datagram bodies are compressed with ENet's range coder
    /// ([`RangeCoder`](crate::compress::RangeCoder)); both ends must agree.
    /// Other compressors are installed with
    /// [`Endpoint::set_compressor`](crate::Endpoint::set_compressor).
    pub fn range_coder(&mut self, enabled: bool) -> &mut Self {
        self.range_coder = enabled;
        self
    }
    /// Largest packet sent or received, in bytes (at most 32 MiB).
    pub fn max_packet_size(&mut self, bytes: usize) -> &mut Self {
        self.max_packet_size = bytes;
        self
    }
    /// Received but undelivered data allowed per peer, in bytes (default
    /// 32 MiB, so a packet of the largest size still arrives). Buffers count
    /// with their whole capacity, and every packet, reassembly and stored
    /// fragment with 64 bytes more.
    pub fn max_waiting_data(&mut self, bytes: usize) -> &mut Self {
        self.max_waiting_data = bytes;
        self
    }
    /// Received but undelivered data allowed for all peers together, in
    /// bytes (default 256 MiB). A peer holding less than this divided by
    /// [`peer_limit`](Self::peer_limit) (its fair share) is never refused
    /// for it, so peers that fill the host's budget only block each other.
    pub fn max_host_waiting_data(&mut self, bytes: usize) -> &mut Self {
        self.max_host_waiting_data = bytes;
        self
    }
    /// Fragment groups (packets being reassembled) one peer may hold at a
    /// time (default 256, far above what a sender's window leaves
    /// incomplete). Past it the peer's incomplete unreliable groups are
    /// dropped, then new ones refused until it completes some.
    pub fn max_fragment_groups(&mut self, groups: usize) -> &mut Self {
        self.max_fragment_groups = groups;
        self
    }
    /// Queued and unacknowledged outgoing data allowed per peer (default
    /// 64 MiB); a send past it fails with
    /// [`SendError::QueueFull`](crate::SendError::QueueFull).
    pub fn max_queued_data(&mut self, bytes: usize) -> &mut Self {
        self.max_queued_data = bytes;
        self
    }
    /// Queued and unacknowledged outgoing data allowed for all peers
    /// together (default 256 MiB). As for received data, a peer holding
    /// less than its fair share is never refused for it.
    pub fn max_host_queued_data(&mut self, bytes: usize) -> &mut Self {
        self.max_host_queued_data = bytes;
        self
    }
    /// Connections allowed from one IP address (1 to 4095).
    pub fn duplicate_peers(&mut self, peers: usize) -> &mut Self {
        self.duplicate_peers = peers;
        self
    }
    /// Half-open connections (answered, not yet acknowledged) allowed in total
    /// and from one IP address.
    pub fn max_half_open(&mut self, total: usize, per_address: usize) -> &mut Self {
        self.max_half_open = total;
        self.max_half_open_per_address = per_address;
        self
    }
    /// When true, each incoming connection waits for
    /// [`Endpoint::accept`](crate::Endpoint::accept) or
    /// [`Endpoint::refuse`](crate::Endpoint::refuse) after an
    /// [`Event::ConnectRequest`](crate::Event::ConnectRequest).
    pub fn manual_accept(&mut self, manual: bool) -> &mut Self {
        self.manual_accept = manual;
        self
    }
    /// Lowest value (out of 32) the unreliable packet throttle may fall to.
    pub fn throttle_floor(&mut self, floor: u32) -> &mut Self {
        self.throttle_floor = floor;
        self
    }
    /// Default timeouts of new peers.
    pub fn timeouts(&mut self, timeouts: Timeouts) -> &mut Self {
        self.timeouts = timeouts;
        self
    }
    /// Default keep-alive ping interval of new peers.
    pub fn ping_interval(&mut self, interval: Duration) -> &mut Self {
        self.ping_interval = interval;
        self
    }
    /// Whether checksums are on.
    pub fn get_checksum(&self) -> bool {
        self.checksum
    }
    /// The configured MTU.
    pub fn get_mtu(&self) -> u32 {
        self.mtu
    }
    /// The configured largest packet size.
    pub fn get_max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_PEERS).contains(&self.peer_limit) {
            return Err(ConfigError::PeerLimit(self.peer_limit));
        }
        let channels = MIN_CHANNEL_COUNT as usize..=MAX_CHANNEL_COUNT as usize;
        if !channels.contains(&self.channel_limit) {
            return Err(ConfigError::ChannelLimit(self.channel_limit));
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::Mtu(self.mtu));
        }
        if self.max_packet_size == 0 || self.max_packet_size > DEFAULT_MAX_PACKET_SIZE {
            return Err(ConfigError::MaxPacketSize(self.max_packet_size));
        }
        if !(1..=MAX_PEERS).contains(&self.duplicate_peers) {
            return Err(ConfigError::DuplicatePeers(self.duplicate_peers));
        }
        if self.max_half_open == 0 || self.max_half_open_per_address == 0 {
            return Err(ConfigError::HalfOpen);
        }
        if self.max_fragment_groups == 0 {
            return Err(ConfigError::FragmentGroups);
        }
        if self.throttle_floor > PACKET_THROTTLE_SCALE {
            return Err(ConfigError::ThrottleFloor(self.throttle_floor));
        }
        validate_timeouts(&self.timeouts)?;
        if self.ping_interval.is_zero() {
            return Err(ConfigError::PingInterval);
        }
        Ok(())
    }
}

pub(crate) fn validate_timeouts(t: &Timeouts) -> Result<(), ConfigError> {
    if t.limit == 0 || t.minimum.is_zero() || t.maximum < t.minimum {
        return Err(ConfigError::Timeouts);
    }
    Ok(())
}
