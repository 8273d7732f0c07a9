//! The twelve protocol commands: their layouts, decoding and encoding.

use super::{DecodeError, EncodeError, FragmentError};
use crate::constants::{
    CONTROL_CHANNEL, DEFAULT_MAX_PACKET_SIZE, MAX_CHANNEL_COUNT, MAX_FRAGMENT_COUNT,
    MIN_CHANNEL_COUNT, MIN_FRAGMENT_SIZE, NO_PEER_ID, SESSION_ID_MASK, UNUSED_SESSION_ID,
};

const FLAG_ACKNOWLEDGE: u8 = 0x80;
const FLAG_UNSEQUENCED: u8 = 0x40;
const RESERVED_BITS: u8 = 0x30;
const NUMBER_MASK: u8 = 0x0F;

/// Command numbers as they appear in the low four bits of the command byte.
mod number {
    pub(super) const ACKNOWLEDGE: u8 = 1;
    pub(super) const CONNECT: u8 = 2;
    pub(super) const VERIFY_CONNECT: u8 = 3;
    pub(super) const DISCONNECT: u8 = 4;
    pub(super) const PING: u8 = 5;
    pub(super) const SEND_RELIABLE: u8 = 6;
    pub(super) const SEND_UNRELIABLE: u8 = 7;
    pub(super) const SEND_FRAGMENT: u8 = 8;
    pub(super) const SEND_UNSEQUENCED: u8 = 9;
    pub(super) const BANDWIDTH_LIMIT: u8 = 10;
    pub(super) const THROTTLE_CONFIGURE: u8 = 11;
    pub(super) const SEND_UNRELIABLE_FRAGMENT: u8 = 12;
}

/// Size of the command header shared by all commands.
pub const COMMAND_HEADER_LEN: usize = 4;

/// The four bytes that open every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// The receiver must acknowledge this command.
    pub acknowledge: bool,
    /// The command is unsequenced (SEND_UNSEQUENCED, or a DISCONNECT sent without ack).
    pub unsequenced: bool,
    /// Channel of the command; [`CONTROL_CHANNEL`] for connection-level commands.
    pub channel_id: u8,
    /// Reliable sequence number (see the protocol reference for each kind).
    pub reliable_sequence_number: u16,
}

/// Parameters shared by CONNECT and VERIFY_CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectParams {
    /// The sender's own peer slot; the receiver puts it in the headers it sends back.
    pub outgoing_peer_id: u16,
    /// Session id for datagrams the sender receives (0-3, or 0xFF when unused).
    pub incoming_session_id: u8,
    /// Session id for datagrams the sender sends (0-3, or 0xFF when unused).
    pub outgoing_session_id: u8,
    /// Proposed MTU in bytes.
    pub mtu: u32,
    /// Proposed reliable window in bytes.
    pub window_size: u32,
    /// Number of channels (1-255).
    pub channel_count: u32,
    /// The sender's incoming bandwidth in bytes/s (0 = unlimited).
    pub incoming_bandwidth: u32,
    /// The sender's outgoing bandwidth in bytes/s (0 = unlimited).
    pub outgoing_bandwidth: u32,
    /// Unreliable throttle parameters.
    pub throttle: ThrottleParams,
    /// Random connection identifier, opaque bytes echoed by VERIFY_CONNECT.
    pub connect_id: [u8; 4],
}

/// Packet throttle parameters (CONNECT, VERIFY_CONNECT, THROTTLE_CONFIGURE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleParams {
    /// Interval in milliseconds over which the best round trip is measured.
    pub interval: u32,
    /// Throttle increase per good round trip.
    pub acceleration: u32,
    /// Throttle decrease per bad round trip.
    pub deceleration: u32,
}

/// One piece of a fragmented packet (SEND_FRAGMENT and SEND_UNRELIABLE_FRAGMENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Reliable: sequence number of fragment 0. Unreliable: the packet's unreliable sequence number.
    pub start_sequence_number: u16,
    /// Number of fragments of the packet.
    pub fragment_count: u32,
    /// Index of this fragment (0-based).
    pub fragment_number: u32,
    /// Length of the whole packet.
    pub total_length: u32,
    /// Byte offset of this fragment in the packet.
    pub fragment_offset: u32,
    /// This fragment's bytes.
    pub data: &'a [u8],
}

impl Fragment<'_> {
    /// The size of every fragment but the last one of this packet.
    ///
    /// Only meaningful for a fragment that passed decoding.
    pub fn fragment_size(&self) -> u32 {
        if self.fragment_number + 1 < self.fragment_count {
            self.data.len() as u32
        } else {
            // The last fragment: its offset is `number × size`; a lone one is the whole packet.
            self.fragment_offset.checked_div(self.fragment_number).unwrap_or(self.total_length)
        }
    }

    /// Checks that the fields describe one piece of a packet split into
    /// `fragment_count` pieces of equal size (the last one possibly shorter),
    /// so that a reassembly fed only such pieces is covered exactly.
    fn validate(&self) -> Result<(), FragmentError> {
        let len = self.data.len() as u64;
        let (count, number) = (u64::from(self.fragment_count), u64::from(self.fragment_number));
        let (total, offset) = (u64::from(self.total_length), u64::from(self.fragment_offset));
        if len == 0 {
            return Err(FragmentError::Empty);
        }
        if count == 0 || count > u64::from(MAX_FRAGMENT_COUNT) {
            return Err(FragmentError::BadCount);
        }
        if number >= count {
            return Err(FragmentError::NumberOutOfRange);
        }
        if total > DEFAULT_MAX_PACKET_SIZE as u64 {
            return Err(FragmentError::TotalTooLarge);
        }
        let size =
            if number + 1 < count { len } else { offset.checked_div(number).unwrap_or(total) };
        if count > 1 && size < u64::from(MIN_FRAGMENT_SIZE) {
            return Err(FragmentError::TooSmall);
        }
        if number + 1 < count {
            // A full-size fragment: it fixes the fragment size.
            if offset != number * len {
                return Err(FragmentError::OffsetMismatch);
            }
            if total <= (count - 1) * len || total > count * len {
                return Err(FragmentError::TotalMismatch);
            }
        } else {
            // The last fragment ends the packet and starts at a multiple of the size.
            if offset + len != total {
                return Err(FragmentError::TotalMismatch);
            }
            if number == 0 {
                if offset != 0 {
                    return Err(FragmentError::OffsetMismatch);
                }
            } else if offset % number != 0 || len > offset / number {
                return Err(FragmentError::OffsetMismatch);
            }
        }
        Ok(())
    }
}

/// What a command says, with payloads borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandBody<'a> {
    /// Acknowledges one reliable command.
    Acknowledge {
        /// Sequence number of the acknowledged command.
        received_reliable_sequence_number: u16,
        /// The `sent_time` of the datagram that carried it.
        received_sent_time: u16,
    },
    /// Opens a connection.
    Connect {
        /// Connection parameters.
        params: ConnectParams,
        /// Application data delivered with the connect event.
        data: u32,
    },
    /// Accepts a connection.
    VerifyConnect(ConnectParams),
    /// Closes a connection.
    Disconnect {
        /// Application data delivered with the disconnect event.
        data: u32,
    },
    /// Keep-alive.
    Ping,
    /// A reliable packet (or packet piece that fits one datagram).
    SendReliable {
        /// The payload.
        data: &'a [u8],
    },
    /// An unreliable, sequenced packet.
    SendUnreliable {
        /// Sequence number among unreliable packets since the last reliable one.
        unreliable_sequence_number: u16,
        /// The payload.
        data: &'a [u8],
    },
    /// A fragment of a reliable packet.
    SendFragment(Fragment<'a>),
    /// An unsequenced packet.
    SendUnsequenced {
        /// Per-peer group number used to suppress duplicates.
        unsequenced_group: u16,
        /// The payload.
        data: &'a [u8],
    },
    /// Announces the sender's bandwidth limits.
    BandwidthLimit {
        /// Incoming bandwidth in bytes/s (0 = unlimited).
        incoming_bandwidth: u32,
        /// Outgoing bandwidth in bytes/s (0 = unlimited).
        outgoing_bandwidth: u32,
    },
    /// Changes the throttle parameters.
    ThrottleConfigure(ThrottleParams),
    /// A fragment of an unreliable packet.
    SendUnreliableFragment(Fragment<'a>),
}

/// One command: header and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The command header.
    pub header: CommandHeader,
    /// The command's fields and payload.
    pub body: CommandBody<'a>,
}

/// Flag combinations each command kind may carry. Volley only accepts what a
/// correct sender emits, so a peer cannot, say, make us acknowledge an ack.
enum Flags {
    /// The ACK flag, nothing else.
    Acknowledged,
    /// No flag.
    Plain,
    /// The UNSEQUENCED flag, nothing else.
    Unsequenced,
    /// Either ACK (graceful) or UNSEQUENCED (immediate), not both.
    AcknowledgedOrUnsequenced,
}

/// Whether a command kind lives on the control channel or a data channel.
#[derive(PartialEq)]
enum ChannelKind {
    Control,
    Data,
    Any,
}

struct Layout {
    fixed_len: usize,
    flags: Flags,
    channel: ChannelKind,
}

fn layout(number: u8) -> Option<Layout> {
    use ChannelKind::{Any, Control, Data};
    use Flags::{Acknowledged, AcknowledgedOrUnsequenced, Plain, Unsequenced};
    let (fixed_len, flags, channel) = match number {
        number::ACKNOWLEDGE => (8, Plain, Any),
        number::CONNECT => (48, Acknowledged, Control),
        number::VERIFY_CONNECT => (44, Acknowledged, Control),
        number::DISCONNECT => (8, AcknowledgedOrUnsequenced, Control),
        number::PING => (4, Acknowledged, Control),
        number::SEND_RELIABLE => (6, Acknowledged, Data),
        number::SEND_UNRELIABLE => (8, Plain, Data),
        number::SEND_FRAGMENT => (24, Acknowledged, Data),
        number::SEND_UNSEQUENCED => (8, Unsequenced, Data),
        number::BANDWIDTH_LIMIT => (12, Acknowledged, Control),
        number::THROTTLE_CONFIGURE => (16, Acknowledged, Control),
        number::SEND_UNRELIABLE_FRAGMENT => (24, Plain, Data),
        _ => return None,
    };
    Some(Layout { fixed_len, flags, channel })
}

impl Flags {
    fn allows(&self, acknowledge: bool, unsequenced: bool) -> bool {
        match self {
            Self::Acknowledged => acknowledge && !unsequenced,
            Self::Plain => !acknowledge && !unsequenced,
            Self::Unsequenced => !acknowledge && unsequenced,
            Self::AcknowledgedOrUnsequenced => acknowledge != unsequenced,
        }
    }
}

/// Big-endian field reader over a command whose fixed length was checked.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl Fields<'_> {
    fn u8(&self, at: usize) -> u8 {
        self.bytes[at]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.bytes[at], self.bytes[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.raw4(at))
    }
    fn raw4(&self, at: usize) -> [u8; 4] {
        [self.bytes[at], self.bytes[at + 1], self.bytes[at + 2], self.bytes[at + 3]]
    }
}

fn decode_connect_params(f: &Fields<'_>) -> Result<ConnectParams, DecodeError> {
    let params = ConnectParams {
        outgoing_peer_id: f.u16(4),
        incoming_session_id: f.u8(6),
        outgoing_session_id: f.u8(7),
        mtu: f.u32(8),
        window_size: f.u32(12),
        channel_count: f.u32(16),
        incoming_bandwidth: f.u32(20),
        outgoing_bandwidth: f.u32(24),
        throttle: ThrottleParams {
            interval: f.u32(28),
            acceleration: f.u32(32),
            deceleration: f.u32(36),
        },
        connect_id: f.raw4(40),
    };
    if params.outgoing_peer_id >= NO_PEER_ID {
        return Err(DecodeError::InvalidPeerId { peer_id: params.outgoing_peer_id });
    }
    for session_id in [params.incoming_session_id, params.outgoing_session_id] {
        if session_id != UNUSED_SESSION_ID && session_id > SESSION_ID_MASK {
            return Err(DecodeError::InvalidSessionId { session_id });
        }
    }
    if !(MIN_CHANNEL_COUNT..=MAX_CHANNEL_COUNT).contains(&params.channel_count) {
        return Err(DecodeError::InvalidChannelCount { count: params.channel_count });
    }
    Ok(params)
}

impl<'a> Command<'a> {
    /// Decodes the command at the start of `bytes`, returning it and its
    /// length on the wire (fixed part plus payload).
    ///
    /// # Examples
    ///
    /// ```
    /// use volley_proto::wire::{Command, CommandBody};
    ///
    /// // SEND_RELIABLE|ACK on channel 0, sequence 1, payload "hi"
    /// let bytes = [0x86, 0x00, 0x00, 0x01, 0x00, 0x02, b'h', b'i'];
    /// let (command, len) = Command::decode(&bytes)?;
    /// assert_eq!(len, 8);
    /// assert_eq!(command.body, CommandBody::SendReliable { data: b"hi" });
    /// # Ok::<(), volley_proto::wire::DecodeError>(())
    /// ```
    pub fn decode(bytes: &'a [u8]) -> Result<(Self, usize), DecodeError> {
        let Some(&[byte, channel_id, seq_hi, seq_lo]) = bytes.first_chunk::<COMMAND_HEADER_LEN>()
        else {
            return Err(DecodeError::TruncatedCommandHeader { offset: 0 });
        };
        let number = byte & NUMBER_MASK;
        let Some(layout) = layout(number) else {
            return Err(DecodeError::UnknownCommand { number });
        };
        if byte & RESERVED_BITS != 0 {
            return Err(DecodeError::ReservedFlags { byte });
        }
        let header = CommandHeader {
            acknowledge: byte & FLAG_ACKNOWLEDGE != 0,
            unsequenced: byte & FLAG_UNSEQUENCED != 0,
            channel_id,
            reliable_sequence_number: u16::from_be_bytes([seq_hi, seq_lo]),
        };
        if !layout.flags.allows(header.acknowledge, header.unsequenced) {
            return Err(DecodeError::InvalidFlags { byte });
        }
        let channel_ok = match layout.channel {
            ChannelKind::Control => channel_id == CONTROL_CHANNEL,
            ChannelKind::Data => channel_id != CONTROL_CHANNEL,
            ChannelKind::Any => true,
        };
        if !channel_ok {
            return Err(DecodeError::InvalidChannel { number, channel_id });
        }
        if bytes.len() < layout.fixed_len {
            return Err(DecodeError::TruncatedCommand { number });
        }
        let f = Fields { bytes };
        let payload = |length_at: usize| -> Result<&'a [u8], DecodeError> {
            let declared = usize::from(f.u16(length_at));
            let rest = &bytes[layout.fixed_len..];
            rest.get(..declared)
                .ok_or(DecodeError::TruncatedPayload { declared, available: rest.len() })
        };
        let fragment = |data| Fragment {
            start_sequence_number: f.u16(4),
            fragment_count: f.u32(8),
            fragment_number: f.u32(12),
            total_length: f.u32(16),
            fragment_offset: f.u32(20),
            data,
        };
        let body = match number {
            number::ACKNOWLEDGE => CommandBody::Acknowledge {
                received_reliable_sequence_number: f.u16(4),
                received_sent_time: f.u16(6),
            },
            number::CONNECT => {
                CommandBody::Connect { params: decode_connect_params(&f)?, data: f.u32(44) }
            }
            number::VERIFY_CONNECT => CommandBody::VerifyConnect(decode_connect_params(&f)?),
            number::DISCONNECT => CommandBody::Disconnect { data: f.u32(4) },
            number::PING => CommandBody::Ping,
            number::SEND_RELIABLE => CommandBody::SendReliable { data: payload(4)? },
            number::SEND_UNRELIABLE => CommandBody::SendUnreliable {
                unreliable_sequence_number: f.u16(4),
                data: payload(6)?,
            },
            number::SEND_UNSEQUENCED => {
                CommandBody::SendUnsequenced { unsequenced_group: f.u16(4), data: payload(6)? }
            }
            number::SEND_FRAGMENT | number::SEND_UNRELIABLE_FRAGMENT => {
                let fragment = fragment(payload(6)?);
                fragment.validate().map_err(DecodeError::InvalidFragment)?;
                if number == number::SEND_FRAGMENT {
                    let expected = fragment
                        .start_sequence_number
                        .wrapping_add(fragment.fragment_number as u16);
                    if header.reliable_sequence_number != expected {
                        return Err(DecodeError::InvalidFragment(FragmentError::SequenceMismatch));
                    }
                    CommandBody::SendFragment(fragment)
                } else {
                    CommandBody::SendUnreliableFragment(fragment)
                }
            }
            number::BANDWIDTH_LIMIT => CommandBody::BandwidthLimit {
                incoming_bandwidth: f.u32(4),
                outgoing_bandwidth: f.u32(8),
            },
            number::THROTTLE_CONFIGURE => CommandBody::ThrottleConfigure(ThrottleParams {
                interval: f.u32(4),
                acceleration: f.u32(8),
                deceleration: f.u32(12),
            }),
            _ => unreachable!("layout() accepted only known numbers"),
        };
        let len = layout.fixed_len + body.payload().map_or(0, <[u8]>::len);
        Ok((Self { header, body }, len))
    }

    /// Bytes this command takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.body.fixed_len() + self.body.payload().map_or(0, <[u8]>::len)
    }

    /// Writes the command at the start of `out`, returning the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let payload = self.body.payload();
        if let Some(p) = payload
            && p.len() > usize::from(u16::MAX)
        {
            return Err(EncodeError::PayloadTooLong { len: p.len() });
        }
        let needed = self.encoded_len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(EncodeError::NoRoom { needed, available: out.len() });
        };
        let mut byte = self.body.number();
        if self.header.acknowledge {
            byte |= FLAG_ACKNOWLEDGE;
        }
        if self.header.unsequenced {
            byte |= FLAG_UNSEQUENCED;
        }
        out[0] = byte;
        out[1] = self.header.channel_id;
        out[2..4].copy_from_slice(&self.header.reliable_sequence_number.to_be_bytes());
        let mut w = FieldWriter { out, at: 4 };
        match &self.body {
            CommandBody::Acknowledge { received_reliable_sequence_number, received_sent_time } => {
                w.u16(*received_reliable_sequence_number);
                w.u16(*received_sent_time);
            }
            CommandBody::Connect { params, data } => {
                w.connect_params(params);
                w.u32(*data);
            }
            CommandBody::VerifyConnect(params) => w.connect_params(params),
            CommandBody::Disconnect { data } => w.u32(*data),
            CommandBody::Ping => {}
            CommandBody::SendReliable { data } => w.payload(data),
            CommandBody::SendUnreliable { unreliable_sequence_number: n, data }
            | CommandBody::SendUnsequenced { unsequenced_group: n, data } => {
                w.u16(*n);
                w.payload(data);
            }
            CommandBody::SendFragment(f) | CommandBody::SendUnreliableFragment(f) => {
                w.u16(f.start_sequence_number);
                w.u16(f.data.len() as u16);
                w.u32(f.fragment_count);
                w.u32(f.fragment_number);
                w.u32(f.total_length);
                w.u32(f.fragment_offset);
                w.bytes(f.data);
            }
            CommandBody::BandwidthLimit { incoming_bandwidth, outgoing_bandwidth } => {
                w.u32(*incoming_bandwidth);
                w.u32(*outgoing_bandwidth);
            }
            CommandBody::ThrottleConfigure(t) => w.throttle(t),
        }
        debug_assert_eq!(w.at, needed);
        Ok(needed)
    }
}

impl<'a> CommandBody<'a> {
    fn number(&self) -> u8 {
        match self {
            Self::Acknowledge { .. } => number::ACKNOWLEDGE,
            Self::Connect { .. } => number::CONNECT,
            Self::VerifyConnect(_) => number::VERIFY_CONNECT,
            Self::Disconnect { .. } => number::DISCONNECT,
            Self::Ping => number::PING,
            Self::SendReliable { .. } => number::SEND_RELIABLE,
            Self::SendUnreliable { .. } => number::SEND_UNRELIABLE,
            Self::SendFragment(_) => number::SEND_FRAGMENT,
            Self::SendUnsequenced { .. } => number::SEND_UNSEQUENCED,
            Self::BandwidthLimit { .. } => number::BANDWIDTH_LIMIT,
            Self::ThrottleConfigure(_) => number::THROTTLE_CONFIGURE,
            Self::SendUnreliableFragment(_) => number::SEND_UNRELIABLE_FRAGMENT,
        }
    }

    /// Length of the fixed part of this kind of command, header included.
    pub fn fixed_len(&self) -> usize {
        layout(self.number()).map_or(0, |l| l.fixed_len)
    }

    /// The payload, for the data-carrying kinds.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match *self {
            Self::SendReliable { data }
            | Self::SendUnreliable { data, .. }
            | Self::SendUnsequenced { data, .. } => Some(data),
            Self::SendFragment(f) | Self::SendUnreliableFragment(f) => Some(f.data),
            _ => None,
        }
    }
}

/// Big-endian field writer into a slice already sized for the command.
struct FieldWriter<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl FieldWriter<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    fn payload(&mut self, data: &[u8]) {
        self.u16(data.len() as u16);
        self.bytes(data);
    }
    fn throttle(&mut self, t: &ThrottleParams) {
        self.u32(t.interval);
        self.u32(t.acceleration);
        self.u32(t.deceleration);
    }
    fn connect_params(&mut self, p: &ConnectParams) {
        self.u16(p.outgoing_peer_id);
        self.bytes(&[p.incoming_session_id, p.outgoing_session_id]);
        self.u32(p.mtu);
        self.u32(p.window_size);
        self.u32(p.channel_count);
        self.u32(p.incoming_bandwidth);
        self.u32(p.outgoing_bandwidth);
        self.throttle(&p.throttle);
        self.bytes(&p.connect_id);
    }
}
