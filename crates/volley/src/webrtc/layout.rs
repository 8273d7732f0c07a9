//! Godot's data-channel layout: which SCTP stream carries which user channel
//! and transfer mode.
//!
//! Godot's `WebRTCMultiplayerPeer` creates, on every connection, three
//! negotiated data channels (no in-band DCEP open messages) and one more per
//! custom channel the game configured:
//!
//! | index | label | SCTP stream | ordered | reliability |
//! |---|---|---|---|---|
//! | 0 | `reliable` | 1 | yes | reliable |
//! | 1 | `ordered` | 2 | yes | partial |
//! | 2 | `unreliable` | 3 | no | partial |
//! | 3 + i | `4`, `5`, … | 4 + i | by mode | by mode |
//!
//! User channel 0 picks one of the first three by transfer mode; user
//! channel `c ≥ 1` is stream `c + 3` whatever the mode. Payloads carry no
//! header. Both ends must use the same custom channel list, or one side's
//! peer never counts as connected.
//!
//! ```
//! use volley::webrtc::ChannelLayout;
//! use volley_proto::TransferMode;
//!
//! let layout = ChannelLayout::new(&[TransferMode::Reliable, TransferMode::Unreliable])?;
//! assert_eq!(layout.stream_count(), 5);
//! assert_eq!(layout.send_stream(0, TransferMode::UnreliableOrdered), Ok(2));
//! assert_eq!(layout.send_stream(2, TransferMode::Reliable), Ok(5));
//! assert_eq!(layout.receive(5), Some((2, TransferMode::Unreliable)));
//! assert_eq!(layout.receive(6), None);
//! # Ok::<(), volley::webrtc::LayoutError>(())
//! ```

use std::fmt;

use str0m::channel::{ChannelConfig, Reliability};
use volley_proto::TransferMode;

use crate::multiplayer::framing::ChannelError;

/// Streams Godot reserves for user channel 0, one per transfer mode.
pub const RESERVED_STREAMS: usize = 3;

/// The most custom channels a layout holds: user channels `1..=255`.
pub const MAX_CUSTOM_CHANNELS: usize = u8::MAX as usize;

/// What "partially reliable" means for the streams a Volley peer sends on
/// in the unreliable modes.
///
/// SCTP's partial reliability is a sender's policy: each end decides for
/// what it sends, and a receiver takes whatever arrives. Godot asks for a
/// packet lifetime (`unreliable_lifetime`, 1 ms by default); Volley's
/// default is stricter and never retransmits at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PartialReliability {
    /// A message is sent once and never retransmitted (SCTP PR-SCTP
    /// "rexmit" policy with a limit of 0). A lost message is gone, which is
    /// what the unreliable modes promise.
    #[default]
    NoRetransmit,
    /// A message may be retransmitted until this many milliseconds after it
    /// was first sent (SCTP "timed" policy, Godot's `maxPacketLifetime`).
    /// On a path with a round trip shorter than the lifetime, a fast
    /// retransmit can still deliver a lost message.
    Lifetime {
        /// Milliseconds a message may live.
        millis: u16,
    },
}

impl PartialReliability {
    fn reliability(self) -> Reliability {
        match self {
            Self::NoRetransmit => Reliability::MaxRetransmits { retransmits: 0 },
            Self::Lifetime { millis } => Reliability::MaxPacketLifetime { lifetime: millis },
        }
    }
}

/// Why a [`ChannelLayout`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// More custom channels than user channels `1..=255` can name.
    TooManyChannels {
        /// How many were asked for.
        requested: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyChannels { requested } => write!(
                f,
                "{requested} custom channels requested, at most {MAX_CUSTOM_CHANNELS} fit"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// The data channels of one WebRTC connection in Godot's layout: the three
/// reserved streams and the custom channels, see the [module docs](crate::webrtc).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ChannelLayout {
    custom: Vec<TransferMode>,
}

impl ChannelLayout {
    /// A layout with custom channels `1..=custom.len()` in these modes
    /// (Godot's `channels_config`). An empty list is Godot's default.
    ///
    /// # Errors
    ///
    /// [`LayoutError::TooManyChannels`] past [`MAX_CUSTOM_CHANNELS`].
    pub fn new(custom: &[TransferMode]) -> Result<Self, LayoutError> {
        if custom.len() > MAX_CUSTOM_CHANNELS {
            return Err(LayoutError::TooManyChannels { requested: custom.len() });
        }
        Ok(Self { custom: custom.to_vec() })
    }

    /// The custom channels' modes, user channel 1 first.
    pub fn custom_channels(&self) -> &[TransferMode] {
        &self.custom
    }

    /// How many data channels a connection opens: 3 plus the custom ones.
    pub fn stream_count(&self) -> usize {
        RESERVED_STREAMS + self.custom.len()
    }

    /// The highest user channel (0 without custom channels).
    pub fn max_user_channel(&self) -> u8 {
        // `new` keeps the count within u8.
        u8::try_from(self.custom.len()).unwrap_or(u8::MAX)
    }

    /// The SCTP stream a packet on `channel` with `mode` goes out on.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UserChannelOutOfRange`] for a channel the layout lacks.
    pub fn send_stream(&self, channel: u8, mode: TransferMode) -> Result<u16, ChannelError> {
        if channel > self.max_user_channel() {
            return Err(ChannelError::UserChannelOutOfRange {
                channel,
                max: self.max_user_channel(),
            });
        }
        Ok(match (channel, mode) {
            (0, TransferMode::Reliable) => 1,
            (0, TransferMode::UnreliableOrdered) => 2,
            (0, TransferMode::Unreliable) => 3,
            (c, _) => u16::from(c) + 3,
        })
    }

    /// The user channel and mode of what arrives on SCTP stream `stream`, or
    /// `None` for a stream outside the layout.
    pub fn receive(&self, stream: u16) -> Option<(u8, TransferMode)> {
        match stream {
            1 => Some((0, TransferMode::Reliable)),
            2 => Some((0, TransferMode::UnreliableOrdered)),
            3 => Some((0, TransferMode::Unreliable)),
            _ => {
                let channel = u8::try_from(stream.checked_sub(3)?).ok()?;
                let mode = *self.custom.get(usize::from(channel) - 1)?;
                Some((channel, mode))
            }
        }
    }

    /// Every stream of the layout as `(stream id, label, mode)`, in order.
    pub fn streams(&self) -> impl ExactSizeIterator<Item = (u16, String, TransferMode)> + '_ {
        let reserved = [
            (1, "reliable".to_owned(), TransferMode::Reliable),
            (2, "ordered".to_owned(), TransferMode::UnreliableOrdered),
            (3, "unreliable".to_owned(), TransferMode::Unreliable),
        ];
        let custom = self.custom.iter().zip(4_u16..).map(|(&mode, id)| (id, id.to_string(), mode));
        reserved.into_iter().chain(custom).collect::<Vec<_>>().into_iter()
    }

    /// The str0m configuration of every stream, negotiated out of band as
    /// Godot does, with `partial` for the streams of the unreliable modes.
    pub fn channel_configs(&self, partial: PartialReliability) -> Vec<ChannelConfig> {
        self.streams()
            .map(|(id, label, mode)| ChannelConfig {
                label,
                ordered: mode != TransferMode::Unreliable,
                reliability: match mode {
                    TransferMode::Reliable => Reliability::Reliable,
                    _ => partial.reliability(),
                },
                negotiated: Some(id),
                protocol: String::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use TransferMode::{Reliable, Unreliable, UnreliableOrdered};

    #[test]
    fn default_layout_is_godots_three_channels() {
        let layout = ChannelLayout::default();
        assert_eq!(layout.stream_count(), 3);
        assert_eq!(layout.max_user_channel(), 0);
        let streams: Vec<_> = layout.streams().collect();
        assert_eq!(
            streams,
            [
                (1, "reliable".to_owned(), Reliable),
                (2, "ordered".to_owned(), UnreliableOrdered),
                (3, "unreliable".to_owned(), Unreliable),
            ]
        );
        for (mode, stream) in [(Reliable, 1), (UnreliableOrdered, 2), (Unreliable, 3)] {
            assert_eq!(layout.send_stream(0, mode), Ok(stream));
            assert_eq!(layout.receive(stream), Some((0, mode)));
        }
        assert_eq!(
            layout.send_stream(1, Reliable),
            Err(ChannelError::UserChannelOutOfRange { channel: 1, max: 0 })
        );
        for stream in [0, 4, 5, u16::MAX] {
            assert_eq!(layout.receive(stream), None, "stream {stream}");
        }
    }

    #[test]
    fn custom_channels_take_stream_c_plus_3_whatever_the_mode() {
        let layout = ChannelLayout::new(&[Unreliable, Reliable, UnreliableOrdered]).expect("fits");
        assert_eq!(layout.stream_count(), 6);
        for mode in [Reliable, UnreliableOrdered, Unreliable] {
            assert_eq!(layout.send_stream(1, mode), Ok(4));
            assert_eq!(layout.send_stream(3, mode), Ok(6));
        }
        assert_eq!(layout.receive(4), Some((1, Unreliable)));
        assert_eq!(layout.receive(5), Some((2, Reliable)));
        assert_eq!(layout.receive(6), Some((3, UnreliableOrdered)));
        assert_eq!(layout.receive(7), None);
        let labels: Vec<String> = layout.streams().map(|(_, label, _)| label).collect();
        assert_eq!(labels, ["reliable", "ordered", "unreliable", "4", "5", "6"]);
    }

    #[test]
    fn the_largest_layout_names_user_channel_255() {
        let layout = ChannelLayout::new(&[Reliable; MAX_CUSTOM_CHANNELS]).expect("fits");
        assert_eq!(layout.max_user_channel(), 255);
        assert_eq!(layout.send_stream(255, Unreliable), Ok(258));
        assert_eq!(layout.receive(258), Some((255, Reliable)));
        assert_eq!(layout.receive(259), None);
        assert_eq!(
            ChannelLayout::new(&[Reliable; MAX_CUSTOM_CHANNELS + 1]),
            Err(LayoutError::TooManyChannels { requested: 256 })
        );
        assert_eq!(
            LayoutError::TooManyChannels { requested: 256 }.to_string(),
            "256 custom channels requested, at most 255 fit"
        );
    }

    #[test]
    fn configs_are_negotiated_and_partial_streams_follow_the_policy() {
        let layout = ChannelLayout::new(&[UnreliableOrdered]).expect("fits");
        let configs = layout.channel_configs(PartialReliability::NoRetransmit);
        let summary: Vec<_> =
            configs.iter().map(|c| (c.negotiated, c.ordered, c.reliability)).collect();
        let none = Reliability::MaxRetransmits { retransmits: 0 };
        assert_eq!(
            summary,
            [
                (Some(1), true, Reliability::Reliable),
                (Some(2), true, none),
                (Some(3), false, none),
                (Some(4), true, none),
            ]
        );
        let timed = layout.channel_configs(PartialReliability::Lifetime { millis: 7 });
        assert_eq!(timed[0].reliability, Reliability::Reliable);
        assert_eq!(timed[2].reliability, Reliability::MaxPacketLifetime { lifetime: 7 });
    }
}
