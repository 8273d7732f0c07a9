//! Protocol constants of ENet 1.3, named once for the whole crate.
//!
//! Values marked *wire* are fixed by the protocol and must not change;
//! values marked *default* are what a peer uses unless configured otherwise.

use std::time::Duration;

/// *Wire.* Smallest MTU a peer may negotiate.
pub const MIN_MTU: u32 = 576;
/// *Wire.* Largest MTU a peer may negotiate; also the largest datagram a receiver accepts.
pub const MAX_MTU: u32 = 4096;
/// *Default.* MTU of a new host (ENet 1.3.18 and later use 1392; 1.3.17 used 1400).
pub const DEFAULT_MTU: u32 = 1392;
/// *Wire.* Largest datagram a receiver must accept, whatever MTU was negotiated.
pub const MAX_DATAGRAM_SIZE: usize = MAX_MTU as usize;

/// *Wire.* Smallest reliable window (bytes in flight).
pub const MIN_WINDOW_SIZE: u32 = 4096;
/// *Wire.* Largest reliable window (bytes in flight).
pub const MAX_WINDOW_SIZE: u32 = 65536;
/// *Wire.* Bytes per second of bandwidth that buy one [`MIN_WINDOW_SIZE`] of window.
pub const WINDOW_SIZE_SCALE: u32 = 65536;

/// *Wire.* Smallest number of channels a connection may have.
pub const MIN_CHANNEL_COUNT: u32 = 1;
/// *Wire.* Largest number of channels a connection may have.
pub const MAX_CHANNEL_COUNT: u32 = 255;
/// *Wire.* Channel id of connection-level commands (connect, ping, disconnect, ...).
pub const CONTROL_CHANNEL: u8 = 0xFF;

/// *Wire.* The "no peer yet" marker in the header, and one past the largest peer id.
pub const NO_PEER_ID: u16 = 0x0FFF;
/// *Wire.* Largest number of peer slots a host may have (ids `0..NO_PEER_ID`).
pub const MAX_PEERS: usize = NO_PEER_ID as usize;
/// *Wire.* Session id value meaning "this slot has never been used".
pub const UNUSED_SESSION_ID: u8 = 0xFF;
/// *Wire.* Session ids occupy two header bits.
pub const SESSION_ID_MASK: u8 = 0x03;

/// *Wire.* Largest number of fragments one packet may be split into.
pub const MAX_FRAGMENT_COUNT: u32 = 1024 * 1024;
/// *Wire.* Smallest piece a packet of several fragments is cut into: what
/// one datagram at the smallest MTU carries after the header, the fragment
/// command and a checksum. No conforming sender cuts smaller pieces.
pub const MIN_FRAGMENT_SIZE: u32 = MIN_MTU - 4 - 24 - 4;
/// *Default.* Largest packet (sent or received) a host accepts: 32 MiB.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 32 * 1024 * 1024;
/// *Default.* Largest amount of received but undelivered data per peer: 32 MiB.
pub const DEFAULT_MAX_WAITING_DATA: usize = 32 * 1024 * 1024;
/// *Default.* Connections allowed from one remote IP address (ENet allows all 4095).
pub const DEFAULT_DUPLICATE_PEERS: usize = MAX_PEERS;

/// *Default.* Round-trip time assumed before the first measurement.
pub const INITIAL_ROUND_TRIP_TIME: Duration = Duration::from_millis(500);
/// *Default.* Keep-alive ping interval when nothing is acknowledged.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(500);
/// *Default.* Retransmission count (as a power of two) after which a peer may
/// time out: a command sent `log2(32) + 1 = 6` times.
pub const DEFAULT_TIMEOUT_LIMIT: u32 = 32;
/// *Default.* A peer is never declared dead before this long with nothing received from it.
pub const DEFAULT_TIMEOUT_MINIMUM: Duration = Duration::from_millis(5000);
/// *Default.* A peer is always declared dead after this long with nothing received from it.
pub const DEFAULT_TIMEOUT_MAXIMUM: Duration = Duration::from_millis(30000);

/// *Wire.* Largest value of the unreliable packet throttle (= never drop).
pub const PACKET_THROTTLE_SCALE: u32 = 32;
/// *Default.* Step of the throttle counter that spreads drops evenly.
pub const PACKET_THROTTLE_COUNTER: u32 = 7;
/// *Default.* Throttle increase per good round trip.
pub const DEFAULT_PACKET_THROTTLE_ACCELERATION: u32 = 2;
/// *Default.* Throttle decrease per bad round trip.
pub const DEFAULT_PACKET_THROTTLE_DECELERATION: u32 = 2;
/// *Default.* Interval over which the throttle tracks best round-trip time, in milliseconds.
pub const DEFAULT_PACKET_THROTTLE_INTERVAL_MS: u32 = 5000;
/// *Default.* How often the host recomputes bandwidth throttles.
pub const BANDWIDTH_THROTTLE_INTERVAL: Duration = Duration::from_millis(1000);
/// *Default.* Interval over which packet loss is averaged.
pub const PACKET_LOSS_INTERVAL: Duration = Duration::from_millis(10000);
/// *Wire.* Fixed-point scale of the packet-loss ratio (65536 = 100 %).
pub const PACKET_LOSS_SCALE: u32 = 65536;

/// *Wire.* Reliable sequence numbers per reliable window.
pub const RELIABLE_WINDOW_SIZE: u16 = 0x1000;
/// *Wire.* Number of reliable windows covering the 16-bit sequence space.
pub const RELIABLE_WINDOWS: u16 = 16;
/// *Wire.* Windows ahead of the current one a receiver accepts (it acks none past this).
pub const FREE_RELIABLE_WINDOWS: u16 = 8;
/// *Wire.* Unsequenced groups tracked per duplicate-suppression block.
pub const UNSEQUENCED_WINDOW_SIZE: u16 = 1024;
/// *Wire.* Blocks of [`UNSEQUENCED_WINDOW_SIZE`] ahead that a receiver accepts.
pub const FREE_UNSEQUENCED_WINDOWS: u16 = 32;

/// *Wire.* Time comparisons treat differences above one day as "earlier" (wrap-around).
pub const TIME_OVERFLOW_MS: u32 = 86_400_000;
