//! Errors of the endpoint's API: each says what was wrong and what to do.

use std::fmt;

/// An [`EndpointConfig`](crate::EndpointConfig) value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Peer limit not in 1..=4095.
    PeerLimit(usize),
    /// Channel limit not in 1..=255.
    ChannelLimit(usize),
    /// MTU not in 576..=4096.
    Mtu(u32),
    /// Maximum packet size zero or above 32 MiB.
    MaxPacketSize(usize),
    /// Duplicate peers not in 1..=4095.
    DuplicatePeers(usize),
    /// A half-open limit of zero.
    HalfOpen,
    /// A fragment group limit of zero.
    FragmentGroups,
    /// Throttle floor above 32.
    ThrottleFloor(u32),
    /// Timeout limit zero, minimum zero, or maximum below minimum.
    Timeouts,
    /// Ping interval of zero.
    PingInterval,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerLimit(n) => write!(f, "peer limit {n} is not in 1..=4095"),
            Self::ChannelLimit(n) => write!(f, "channel limit {n} is not in 1..=255"),
            Self::Mtu(n) => write!(f, "MTU {n} is not in 576..=4096"),
            Self::MaxPacketSize(n) => write!(f, "maximum packet size {n} is not in 1..=32 MiB"),
            Self::DuplicatePeers(n) => write!(f, "duplicate peers {n} is not in 1..=4095"),
            Self::HalfOpen => f.write_str("half-open connection limits must be at least 1"),
            Self::FragmentGroups => f.write_str("the fragment group limit must be at least 1"),
            Self::ThrottleFloor(n) => write!(f, "throttle floor {n} is above 32"),
            Self::Timeouts => f.write_str("timeouts need limit > 0 and 0 < minimum <= maximum"),
            Self::PingInterval => f.write_str("ping interval must not be zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Endpoint::connect`](crate::Endpoint::connect) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// Channel count not in 1..=255.
    ChannelCount(usize),
    /// Every peer slot is in use: raise the peer limit or disconnect a peer.
    NoFreeSlot,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChannelCount(n) => write!(f, "channel count {n} is not in 1..=255"),
            Self::NoFreeSlot => f.write_str("no free peer slot"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Why [`Endpoint::send`](crate::Endpoint::send) refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The handle names no live peer (it was disconnected or reset).
    UnknownPeer,
    /// The peer is not connected (yet, or any more).
    NotConnected,
    /// The channel is not below the connection's channel count.
    ChannelOutOfRange {
        /// The channel asked for.
        channel: u8,
        /// The connection's channel count.
        channel_count: usize,
    },
    /// The packet is larger than the configured maximum packet size.
    PacketTooLarge {
        /// Length of the packet.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer's outgoing queue holds the configured maximum already: wait
    /// for acknowledgements (service the endpoint) and try again.
    QueueFull {
        /// Bytes queued for the peer.
        queued: usize,
        /// The configured maximum.
        limit: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPeer => f.write_str("unknown peer"),
            Self::NotConnected => f.write_str("peer is not connected"),
            Self::ChannelOutOfRange { channel, channel_count } => {
                write!(f, "channel {channel} out of range (connection has {channel_count})")
            }
            Self::PacketTooLarge { len, max } => {
                write!(f, "packet of {len} bytes exceeds the maximum of {max}")
            }
            Self::QueueFull { queued, limit } => {
                write!(f, "outgoing queue full ({queued} of {limit} bytes)")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// A per-peer call named a peer that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The handle names no live peer (it was disconnected or reset).
    UnknownPeer,
    /// The call does not apply in the peer's current state.
    WrongState,
    /// A value passed with the call is out of range.
    InvalidValue(ConfigError),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPeer => f.write_str("unknown peer"),
            Self::WrongState => f.write_str("not possible in the peer's current state"),
            Self::InvalidValue(e) => write!(f, "invalid value: {e}"),
        }
    }
}

impl std::error::Error for PeerError {}
