//! Counters an application can read per peer and per endpoint.

use std::time::Duration;

/// Statistics of one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rtt_variance: Duration,
    /// Commands sent (first transmissions and resends).
    pub packets_sent: u64,
    /// Data commands received.
    pub packets_received: u64,
    /// Datagram bytes sent to the peer.
    pub bytes_sent: u64,
    /// Datagram bytes received from the peer.
    pub bytes_received: u64,
    /// Reliable commands that timed out and were resent.
    pub packets_lost: u64,
    /// Unreliable packets dropped locally by the throttle.
    pub packets_throttled: u64,
    /// Packet loss over the last interval, in 1/65536 units.
    pub packet_loss: u32,
    /// Current unreliable throttle (out of 32).
    pub throttle: u32,
    /// Negotiated MTU.
    pub mtu: u32,
    /// Reliable window in bytes.
    pub window_size: u32,
    /// Reliable payload bytes in flight.
    pub reliable_in_flight: u32,
}

/// Statistics of the whole endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to the endpoint.
    pub datagrams_received: u64,
    /// Datagrams produced by the endpoint.
    pub datagrams_sent: u64,
    /// Datagrams dropped because they did not decompress or decode.
    pub dropped_malformed: u64,
    /// Datagrams dropped for a checksum mismatch.
    pub dropped_checksum: u64,
    /// Datagrams dropped because no live peer matched (slot, address, session).
    pub dropped_unknown_peer: u64,
    /// Datagrams whose processing stopped at a command the peer's state forbids.
    pub dropped_out_of_state: u64,
    /// Connect requests ignored (full, duplicates, half-open limits).
    pub connects_ignored: u64,
    /// Commands dropped because waiting data hit its limit.
    pub dropped_waiting_data: u64,
    /// Incomplete unreliable fragment groups dropped to make room for
    /// their peer's newer data.
    pub fragment_groups_shed: u64,
    /// Peers dropped for holding fragment groups no sender leaves
    /// incomplete while over their budget ([`DisconnectReason::Evicted`](crate::DisconnectReason::Evicted)).
    pub peers_evicted: u64,
    /// Half-open connections dropped to make room for newer ones (the table was full).
    pub half_open_evicted: u64,
    /// Acknowledgements of a VERIFY_CONNECT that echoed a sent time we never sent.
    pub handshake_proofs_failed: u64,
    /// Proven connections whose promised slot another connection had taken meanwhile.
    pub handshake_collisions: u64,
}
