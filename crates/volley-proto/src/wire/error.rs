//! What can be wrong with a received datagram.

use std::fmt;

/// Why a datagram (or one command in it) was rejected.
///
/// Decoding never panics and never trusts a length from the wire: every
/// rejection is one of these, and the caller drops the whole datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram is shorter than its own header (peer id word, sent time, checksum).
    TruncatedHeader {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the datagram has.
        available: usize,
    },
    /// The datagram is larger than any MTU allows.
    Oversized {
        /// Length of the datagram.
        len: usize,
    },
    /// The datagram has a header but no command.
    Empty,
    /// The checksum does not match the datagram's contents.
    ChecksumMismatch,
    /// Fewer bytes remain than a command header (4 bytes).
    TruncatedCommandHeader {
        /// Offset of the command within the body.
        offset: usize,
    },
    /// The command number is 0 or above 12.
    UnknownCommand {
        /// The command number (low four bits of the command byte).
        number: u8,
    },
    /// Bits 4-5 of the command byte, which no sender sets, are set.
    ReservedFlags {
        /// The whole command byte.
        byte: u8,
    },
    /// The command's acknowledge/unsequenced flags are not the ones its kind carries.
    InvalidFlags {
        /// The whole command byte.
        byte: u8,
    },
    /// The fixed part of a command runs past the end of the datagram.
    TruncatedCommand {
        /// The command number.
        number: u8,
    },
    /// A command's payload runs past the end of the datagram.
    TruncatedPayload {
        /// Payload length the command announces.
        declared: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// A connection-level command is not on the control channel, or a data
    /// command is on it.
    InvalidChannel {
        /// The command number.
        number: u8,
        /// The channel id it carries.
        channel_id: u8,
    },
    /// A connect or verify-connect asks for no channels or more than 255.
    InvalidChannelCount {
        /// The requested count.
        count: u32,
    },
    /// A connect or verify-connect names a peer slot that cannot exist.
    InvalidPeerId {
        /// The slot id it carries.
        peer_id: u16,
    },
    /// A connect or verify-connect carries a session id other than 0-3 or 0xFF.
    InvalidSessionId {
        /// The session id it carries.
        session_id: u8,
    },
    /// A fragment's count, number, offset, length and total do not describe
    /// one piece of a packet split into equal fragments.
    InvalidFragment(FragmentError),
}

/// How a fragment's fields disagree with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FragmentError {
    /// The fragment carries no bytes.
    Empty,
    /// The fragment count is zero or above the protocol's maximum.
    BadCount,
    /// The fragment number is not below the fragment count.
    NumberOutOfRange,
    /// The total length is above the protocol's maximum packet size.
    TotalTooLarge,
    /// Pieces of a multi-fragment packet are smaller than any MTU makes them.
    TooSmall,
    /// The total length cannot be split into `count` fragments of this size.
    TotalMismatch,
    /// The offset is not `number × fragment size`.
    OffsetMismatch,
    /// A reliable fragment's own sequence number is not `start + number`.
    SequenceMismatch,
}

impl fmt::Display for FragmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "fragment carries no data",
            Self::BadCount => "fragment count is zero or too large",
            Self::NumberOutOfRange => "fragment number is not below the fragment count",
            Self::TotalTooLarge => "packet total length exceeds the maximum packet size",
            Self::TooSmall => "fragments are smaller than the smallest MTU makes them",
            Self::TotalMismatch => "total length does not fit the fragment count and size",
            Self::OffsetMismatch => "fragment offset does not match its number",
            Self::SequenceMismatch => "fragment sequence number is not start + number",
        })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TruncatedHeader { needed, available } => {
                write!(f, "datagram header needs {needed} bytes, datagram has {available}")
            }
            Self::Oversized { len } => write!(f, "datagram of {len} bytes exceeds the largest MTU"),
            Self::Empty => f.write_str("datagram carries no command"),
            Self::ChecksumMismatch => f.write_str("checksum mismatch"),
            Self::TruncatedCommandHeader { offset } => {
                write!(f, "command header at body offset {offset} is truncated")
            }
            Self::UnknownCommand { number } => write!(f, "unknown command number {number}"),
            Self::ReservedFlags { byte } => {
                write!(f, "reserved bits set in command byte {byte:#04x}")
            }
            Self::InvalidFlags { byte } => {
                write!(f, "flags of command byte {byte:#04x} do not fit its kind")
            }
            Self::TruncatedCommand { number } => write!(f, "command {number} is truncated"),
            Self::TruncatedPayload { declared, available } => write!(
                f,
                "payload of {declared} bytes announced, {available} bytes left in datagram"
            ),
            Self::InvalidChannel { number, channel_id } => {
                write!(f, "command {number} not allowed on channel {channel_id}")
            }
            Self::InvalidChannelCount { count } => write!(f, "invalid channel count {count}"),
            Self::InvalidPeerId { peer_id } => write!(f, "invalid peer id {peer_id:#x}"),
            Self::InvalidSessionId { session_id } => {
                write!(f, "invalid session id {session_id:#x}")
            }
            Self::InvalidFragment(e) => write!(f, "invalid fragment: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a command could not be written into a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The command does not fit in the room left before the MTU.
    NoRoom {
        /// Bytes the command needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The payload is longer than a 16-bit length field can say.
    PayloadTooLong {
        /// Length of the payload.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoRoom { needed, available } => {
                write!(f, "command needs {needed} bytes, {available} left in datagram")
            }
            Self::PayloadTooLong { len } => {
                write!(f, "payload of {len} bytes exceeds the 65535-byte command limit")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
