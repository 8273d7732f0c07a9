//! How a packet is delivered: the three transfer modes of every channel.

use std::fmt;

/// Delivery guarantee of a packet on a channel.
///
/// The names follow Godot's `MultiplayerPeer` vocabulary; on the wire they map
/// to ENet's command kinds:
///
/// | mode | ENet command | guarantee |
/// |---|---|---|
/// | [`Reliable`](Self::Reliable) | SEND_RELIABLE / SEND_FRAGMENT | acked, resent, delivered exactly once, in order |
/// | [`UnreliableOrdered`](Self::UnreliableOrdered) | SEND_UNRELIABLE / SEND_UNRELIABLE_FRAGMENT | may be lost; never delivered after a newer one |
/// | [`Unreliable`](Self::Unreliable) | SEND_UNSEQUENCED | may be lost or reordered; never duplicated |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransferMode {
    /// Acknowledged and retransmitted; delivered once and in order per channel.
    #[default]
    Reliable,
    /// Sequenced: a packet older than the newest delivered one is dropped.
    UnreliableOrdered,
    /// Unsequenced: delivered in any order, duplicates suppressed.
    Unreliable,
}

impl fmt::Display for TransferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Reliable => "reliable",
            Self::UnreliableOrdered => "unreliable-ordered",
            Self::Unreliable => "unreliable",
        })
    }
}
