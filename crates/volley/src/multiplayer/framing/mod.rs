//! How a `MultiplayerPeer` session looks inside transport payloads.
//!
//! Godot has used two generations of session framing, and Volley speaks
//! both so that a Volley server can host real Godot clients. A session picks
//! one [`WireProfile`]; everything here is a pure, allocation-free function
//! of that choice and of the transport:
//!
//! - ENet channel mapping: [`WireProfile::enet_channel`] (sending) and
//!   [`WireProfile::channel_kind`] (receiving), and
//!   [`WireProfile::enet_channel_count`] for the CONNECT;
//! - Godot 3 (the relay profile): ENet's 8-byte [`RelayHeader`] and its
//!   [`SystemMessage`]s, and the server's relay decision,
//!   [`route_from_client`];
//! - Godot 4 (the godot4 profile): SceneMultiplayer's packets, the same on
//!   every transport ([`scene`]);
//! - the [`RefuseReason`] codes a Volley server puts in ENet's DISCONNECT.
//!
//! Values inside payloads are little-endian (ENet's own headers are
//! big-endian).
//!
//! ```
//! use volley::multiplayer::framing::{ChannelKind, WireProfile};
//! use volley_proto::TransferMode;
//!
//! let relay = WireProfile::Relay;
//! assert_eq!(relay.enet_channel(0, TransferMode::Reliable), Ok(1));
//! assert_eq!(relay.enet_channel(0, TransferMode::Unreliable), Ok(2));
//! assert_eq!(relay.enet_channel(4, TransferMode::Reliable), Ok(6));
//! assert_eq!(relay.channel_kind(6), Ok(ChannelKind::User(4)));
//! assert_eq!(relay.channel_kind(0), Ok(ChannelKind::System));
//! ```

mod godot3;
mod refuse;
pub mod scene;

use std::fmt;

use volley_proto::TransferMode;

pub use godot3::{
    DropReason, Relay, RelayHeader, RelayHeaderError, SystemMessage, SystemMessageError,
    route_from_client,
};
pub use refuse::RefuseReason;
pub use scene::{ScenePacket, ScenePacketError};

/// The largest channel count an ENet connection can have; channel ids are
/// `0..=254` (`255` addresses the connection itself, never user data).
pub const MAX_ENET_CHANNEL_COUNT: u8 = 255;

/// Which of Godot's two framings a host speaks.
///
/// | | [`Relay`](Self::Relay) (Godot 3.x) | [`Godot4`](Self::Godot4) (Godot 4.x) |
/// |---|---|---|
/// | payload | `[source u32][target i32][user bytes]` | user bytes only |
/// | ENet channel 0 | system messages (server → client) | reliable, user channel 0 |
/// | ENet channel 1 | reliable, user channel 0 | unreliable, user channel 0 |
/// | ENet channel 2 | unreliable, user channel 0 | user channel 1 |
/// | user channel `n ≥ 1` | ENet channel `n + 2` | ENet channel `n + 1` |
/// | client → client | relayed by the server | not at this layer |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WireProfile {
    /// Volley's default, byte-compatible with Godot 3.x
    /// `NetworkedMultiplayerENet`: an 8-byte source/target header on every
    /// packet, and the server relays between clients.
    #[default]
    Relay,
    /// Byte-compatible with Godot 4.x `ENetMultiplayerPeer`: no header; the
    /// sender is the ENet peer the packet came from.
    Godot4,
}

impl WireProfile {
    /// How many ENet channels sit below the first user channel above 0:
    /// 3 for `Relay` (system, reliable, unreliable), 2 for `Godot4`.
    pub const fn reserved_channels(self) -> u8 {
        match self {
            Self::Relay => 3,
            Self::Godot4 => 2,
        }
    }

    /// The highest user channel the profile can carry within ENet's 255
    /// channels: 252 for `Relay`, 253 for `Godot4`.
    pub const fn max_user_channel(self) -> u8 {
        MAX_ENET_CHANNEL_COUNT - self.reserved_channels()
    }

    /// Bytes of framing in front of the user's bytes in every game packet.
    pub const fn header_len(self) -> usize {
        match self {
            Self::Relay => RelayHeader::LEN,
            Self::Godot4 => 0,
        }
    }

    /// The ENet channel carrying [`SystemMessage`]s, if the profile has one.
    pub const fn system_channel(self) -> Option<u8> {
        match self {
            Self::Relay => Some(0),
            Self::Godot4 => None,
        }
    }

    /// The ENet channel a packet on `user_channel` with `mode` is sent on.
    ///
    /// User channel 0 uses the profile's reliable or unreliable channel
    /// (both unreliable modes share one; the ENet command kind tells them
    /// apart). Higher user channels carry all three modes.
    pub const fn enet_channel(
        self,
        user_channel: u8,
        mode: TransferMode,
    ) -> Result<u8, ChannelError> {
        if user_channel > self.max_user_channel() {
            return Err(ChannelError::UserChannelOutOfRange {
                channel: user_channel,
                max: self.max_user_channel(),
            });
        }
        let reliable = matches!(mode, TransferMode::Reliable);
        Ok(match (self, user_channel) {
            (Self::Relay, 0) if reliable => 1,
            (Self::Relay, 0) => 2,
            (Self::Godot4, 0) if reliable => 0,
            (Self::Godot4, 0) => 1,
            // Channels 1..reserved-1 carry user channel 0, so user channel n
            // lands at reserved - 1 + n.
            (_, n) => self.reserved_channels() - 1 + n,
        })
    }

    /// What arrives on ENet channel `enet_channel`: a system message or a
    /// user channel.
    pub const fn channel_kind(self, enet_channel: u8) -> Result<ChannelKind, ChannelError> {
        // Channel 255 (ENet's connection-level commands) is the only u8
        // outside 0..MAX_ENET_CHANNEL_COUNT.
        if enet_channel == MAX_ENET_CHANNEL_COUNT {
            return Err(ChannelError::EnetChannelOutOfRange { channel: enet_channel });
        }
        Ok(match (self, enet_channel) {
            (Self::Relay, 0) => ChannelKind::System,
            (_, c) if c < self.reserved_channels() => ChannelKind::User(0),
            (_, c) => ChannelKind::User(c + 1 - self.reserved_channels()),
        })
    }

    /// The ENet channel count to request (in CONNECT) or to allow (on a
    /// server) so that user channels `0..=highest_user_channel` all fit.
    ///
    /// Godot 3 clients connect with 3 channels (user channel 0 only);
    /// Godot 4 clients ask for 255 by default.
    pub const fn enet_channel_count(self, highest_user_channel: u8) -> Result<u8, ChannelError> {
        if highest_user_channel > self.max_user_channel() {
            return Err(ChannelError::UserChannelOutOfRange {
                channel: highest_user_channel,
                max: self.max_user_channel(),
            });
        }
        Ok(highest_user_channel + self.reserved_channels())
    }

    /// The highest user channel a connection with `enet_channel_count`
    /// channels can carry, or `None` if it lacks the profile's reserved
    /// channels (a server refuses such a client with
    /// [`RefuseReason::TooFewChannels`]).
    pub const fn highest_user_channel(self, enet_channel_count: u8) -> Option<u8> {
        enet_channel_count.checked_sub(self.reserved_channels())
    }
}

impl fmt::Display for WireProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Relay => "relay",
            Self::Godot4 => "godot4",
        })
    }
}

/// How the links of one transport frame a session's packets: decided by
/// the session's generation ([`WireProfile`]) and the transport.
///
/// The session core reads and writes packets through this: it picks the
/// codec of the link a packet came on or goes to, so that one session can
/// hold links of several transports (a relayed packet is re-framed for a
/// destination of another framing, never altering the user's bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LinkFraming {
    /// Godot 3 over ENet: a [`RelayHeader`] in front of every game packet,
    /// [`SystemMessage`]s on ENet channel 0.
    EnetGodot3,
    /// Godot 3 over WebSocket: `[type u8]` and a [`RelayHeader`] in front of
    /// every message; system messages are typed messages of their own
    /// ([`godot3`](crate::multiplayer::websocket::framing::godot3)).
    WsGodot3,
    /// Godot 4's SceneMultiplayer: the same bytes on every transport.
    Scene,
}

/// What a received ENet channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// [`SystemMessage`]s from the server (relay profile, channel 0).
    System,
    /// Game packets of this user channel.
    User(u8),
}

/// A channel number outside what the profile or ENet can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelError {
    /// The user channel is above the highest one available. Use a lower
    /// channel, or connect with more ENet channels.
    UserChannelOutOfRange {
        /// The channel asked for.
        channel: u8,
        /// The highest usable user channel.
        max: u8,
    },
    /// ENet channel 255 addresses the connection itself and carries no
    /// packets; a packet claiming it is malformed and must be dropped.
    EnetChannelOutOfRange {
        /// The channel id received.
        channel: u8,
    },
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserChannelOutOfRange { channel, max } => {
                write!(f, "user channel {channel} is out of range (highest is {max})")
            }
            Self::EnetChannelOutOfRange { channel } => {
                write!(f, "ENet channel {channel} carries no packets")
            }
        }
    }
}

impl std::error::Error for ChannelError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiplayer::{PeerId, Target};
    use TransferMode::{Reliable, Unreliable, UnreliableOrdered};

    const MODES: [TransferMode; 3] = [Reliable, UnreliableOrdered, Unreliable];

    #[test]
    fn relay_is_the_default_profile() {
        assert_eq!(WireProfile::default(), WireProfile::Relay);
        assert_eq!(WireProfile::Relay.to_string(), "relay");
        assert_eq!(WireProfile::Godot4.to_string(), "godot4");
    }

    #[test]
    fn relay_channel_map_matches_godot3() {
        // 0 = config, 1 = reliable, 2 = unreliable (sequenced + unsequenced).
        let relay = WireProfile::Relay;
        assert_eq!(relay.enet_channel(0, Reliable), Ok(1));
        assert_eq!(relay.enet_channel(0, UnreliableOrdered), Ok(2));
        assert_eq!(relay.enet_channel(0, Unreliable), Ok(2));
        for mode in MODES {
            assert_eq!(relay.enet_channel(1, mode), Ok(3));
            assert_eq!(relay.enet_channel(7, mode), Ok(9));
            assert_eq!(relay.enet_channel(252, mode), Ok(254));
        }
        assert_eq!(relay.channel_kind(0), Ok(ChannelKind::System));
        assert_eq!(relay.channel_kind(1), Ok(ChannelKind::User(0)));
        assert_eq!(relay.channel_kind(2), Ok(ChannelKind::User(0)));
        assert_eq!(relay.channel_kind(3), Ok(ChannelKind::User(1)));
        assert_eq!(relay.channel_kind(254), Ok(ChannelKind::User(252)));
        assert_eq!(relay.system_channel(), Some(0));
        assert_eq!(relay.header_len(), 8);
    }

    #[test]
    fn godot4_channel_map_matches_godot4() {
        // 0 = reliable, 1 = unreliable; user channel c >= 1 -> c + 1.
        let godot4 = WireProfile::Godot4;
        assert_eq!(godot4.enet_channel(0, Reliable), Ok(0));
        assert_eq!(godot4.enet_channel(0, UnreliableOrdered), Ok(1));
        assert_eq!(godot4.enet_channel(0, Unreliable), Ok(1));
        for mode in MODES {
            assert_eq!(godot4.enet_channel(1, mode), Ok(2));
            assert_eq!(godot4.enet_channel(7, mode), Ok(8));
            assert_eq!(godot4.enet_channel(253, mode), Ok(254));
        }
        assert_eq!(godot4.channel_kind(0), Ok(ChannelKind::User(0)));
        assert_eq!(godot4.channel_kind(1), Ok(ChannelKind::User(0)));
        assert_eq!(godot4.channel_kind(2), Ok(ChannelKind::User(1)));
        assert_eq!(godot4.channel_kind(254), Ok(ChannelKind::User(253)));
        assert_eq!(godot4.system_channel(), None);
        assert_eq!(godot4.header_len(), 0);
    }

    #[test]
    fn every_user_channel_round_trips_in_both_profiles() {
        for profile in [WireProfile::Relay, WireProfile::Godot4] {
            for user in 0..=profile.max_user_channel() {
                for mode in MODES {
                    let enet = profile.enet_channel(user, mode).expect("in range");
                    assert_eq!(profile.channel_kind(enet), Ok(ChannelKind::User(user)));
                    let count = profile.enet_channel_count(user).expect("in range");
                    assert!(enet < count, "{profile} {user} {mode}");
                }
            }
        }
    }

    #[test]
    fn every_enet_channel_decodes_to_a_sendable_channel() {
        for profile in [WireProfile::Relay, WireProfile::Godot4] {
            for enet in 0..MAX_ENET_CHANNEL_COUNT {
                match profile.channel_kind(enet) {
                    Ok(ChannelKind::User(user)) => {
                        assert!(user <= profile.max_user_channel());
                    }
                    Ok(ChannelKind::System) => assert_eq!(profile.system_channel(), Some(enet)),
                    Err(e) => panic!("{profile} channel {enet}: {e}"),
                }
            }
        }
    }

    #[test]
    fn out_of_range_channels_are_typed_errors() {
        assert_eq!(
            WireProfile::Relay.enet_channel(253, Reliable),
            Err(ChannelError::UserChannelOutOfRange { channel: 253, max: 252 })
        );
        assert_eq!(
            WireProfile::Godot4.enet_channel(254, Unreliable),
            Err(ChannelError::UserChannelOutOfRange { channel: 254, max: 253 })
        );
        for profile in [WireProfile::Relay, WireProfile::Godot4] {
            assert_eq!(
                profile.channel_kind(255),
                Err(ChannelError::EnetChannelOutOfRange { channel: 255 })
            );
            assert!(profile.enet_channel(u8::MAX, Reliable).is_err());
            assert!(profile.enet_channel_count(u8::MAX).is_err());
        }
        assert_eq!(
            ChannelError::UserChannelOutOfRange { channel: 9, max: 3 }.to_string(),
            "user channel 9 is out of range (highest is 3)"
        );
        assert_eq!(
            ChannelError::EnetChannelOutOfRange { channel: 255 }.to_string(),
            "ENet channel 255 carries no packets"
        );
    }

    #[test]
    fn channel_counts_cover_the_reserved_channels() {
        // A Godot 3 client connects with 3 channels; a Godot 4 one with
        // `channel_count + 2`, or 255 by default.
        assert_eq!(WireProfile::Relay.enet_channel_count(0), Ok(3));
        assert_eq!(WireProfile::Relay.enet_channel_count(252), Ok(255));
        assert_eq!(WireProfile::Godot4.enet_channel_count(0), Ok(2));
        assert_eq!(WireProfile::Godot4.enet_channel_count(5), Ok(7));
        assert_eq!(WireProfile::Godot4.enet_channel_count(253), Ok(255));
        assert_eq!(WireProfile::Relay.highest_user_channel(3), Some(0));
        assert_eq!(WireProfile::Relay.highest_user_channel(2), None);
        assert_eq!(WireProfile::Relay.highest_user_channel(255), Some(252));
        assert_eq!(WireProfile::Godot4.highest_user_channel(1), None);
        assert_eq!(WireProfile::Godot4.highest_user_channel(255), Some(253));
        for profile in [WireProfile::Relay, WireProfile::Godot4] {
            for highest in 0..=profile.max_user_channel() {
                let count = profile.enet_channel_count(highest).expect("in range");
                assert_eq!(profile.highest_user_channel(count), Some(highest));
            }
        }
    }

    /// A whole relay-profile packet, byte for byte, as Godot 3 frames it.
    #[test]
    fn relay_packet_bytes_on_the_wire() {
        let from_2 = PeerId::try_from(2_u32).expect("valid");
        let header = RelayHeader::new(from_2, Target::Broadcast);
        let mut packet = header.to_bytes().to_vec();
        packet.extend_from_slice(b"hi");
        assert_eq!(
            packet,
            [0x02, 0, 0, 0, 0x00, 0, 0, 0, 0x68, 0x69],
            "source 2 LE, target 0 LE, then the user bytes"
        );
        let (decoded, user) = RelayHeader::decode(&packet).expect("8 bytes");
        assert_eq!(decoded, RelayHeader { source: 2, target: 0 });
        assert_eq!(user, b"hi");
        // Sent on channel 1 if reliable, 2 if not; the receiver reports
        // user channel 0 either way.
        assert_eq!(WireProfile::Relay.channel_kind(1), Ok(ChannelKind::User(0)));
    }

    /// The server's own packet to "everyone except 3": source 1, target -3.
    #[test]
    fn relay_server_packet_bytes_on_the_wire() {
        let except_3 = Target::AllExcept(PeerId::try_from(3_u32).expect("valid"));
        let header = RelayHeader::new(PeerId::SERVER, except_3);
        assert_eq!(header.to_bytes(), [1, 0, 0, 0, 0xFD, 0xFF, 0xFF, 0xFF]);
    }

    /// "Peer 12345 added" on channel 0, exactly as Godot 3 sends it.
    #[test]
    fn relay_system_message_bytes_on_the_wire() {
        let id = PeerId::try_from(12345_u32).expect("valid");
        let added = SystemMessage::PeerAdded(id).to_bytes();
        assert_eq!(added, [0, 0, 0, 0, 0x39, 0x30, 0, 0]);
        let removed = SystemMessage::PeerRemoved(id).to_bytes();
        assert_eq!(removed, [1, 0, 0, 0, 0x39, 0x30, 0, 0]);
        assert_eq!(SystemMessage::decode(&added), Ok(SystemMessage::PeerAdded(id)));
        assert_eq!(WireProfile::Relay.channel_kind(0), Ok(ChannelKind::System));
    }
}
