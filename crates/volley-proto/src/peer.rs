//! One connection: its state, its queues, and how it fills datagrams.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use crate::budget::WaitingBudget;
use crate::channel::{Delivery, IncomingChannel, Violation};
use crate::constants::{MAX_WINDOW_SIZE, NO_PEER_ID, UNUSED_SESSION_ID};
use crate::outgoing::{OutKind, OutgoingCommand, PacketSlice, PacketStore};
use crate::pool::BufferPool;
use crate::reliable::{ReliableSender, TimeoutMs, WindowBlock};
use crate::rtt::RttEstimator;
use crate::stats::PeerStats;
use crate::throttle::PacketThrottle;
use crate::unsequenced::UnsequencedWindow;
use crate::wire::{Command, CommandBody, CommandHeader, DatagramWriter, Header, ThrottleParams};
use crate::{TransferMode, constants::CONTROL_CHANNEL};

/// Names a peer slot of an [`Endpoint`](crate::Endpoint).
///
/// Handles are generation-checked: once a peer disconnects or is reset, its
/// handle stays dead even when the slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerHandle {
    pub(crate) index: u16,
    pub(crate) generation: u32,
}

impl PeerHandle {
    /// The peer's slot index (the peer id the remote puts in its headers).
    pub fn index(&self) -> u16 {
        self.index
    }
}

impl fmt::Display for PeerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}.{}", self.index, self.generation)
    }
}

/// Connection state of a peer, as ENet names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerState {
    /// Slot free.
    Disconnected,
    /// CONNECT sent, waiting for VERIFY_CONNECT.
    Connecting,
    /// CONNECT received, waiting for the application to accept or refuse.
    AwaitingAccept,
    /// VERIFY_CONNECT sent, waiting for its acknowledgement.
    AcknowledgingConnect,
    /// Connected.
    Connected,
    /// Disconnect requested once queued data is delivered.
    DisconnectLater,
    /// DISCONNECT sent, waiting for its acknowledgement.
    Disconnecting,
    /// DISCONNECT received, its acknowledgement not yet sent.
    AcknowledgingDisconnect,
}

/// A reliable command received and not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingAck {
    pub(crate) channel_id: u8,
    pub(crate) seq: u16,
    pub(crate) sent_time: u16,
    pub(crate) is_disconnect: bool,
}

/// Sequence counters of one outgoing channel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OutgoingChannel {
    pub(crate) reliable_seq: u16,
    pub(crate) unreliable_seq: u16,
}

/// Most acknowledgements kept waiting for a peer; beyond it the remote resends.
/// Above what an honest sender can have in flight between two flushes (seven
/// sequence windows of 4096), at 8 bytes each: at most 256 KiB per peer.
const MAX_PENDING_ACKS: usize = 32_768;

/// A peer slot.
pub(crate) struct Peer {
    pub(crate) index: u16,
    pub(crate) generation: u32,
    pub(crate) state: PeerState,
    pub(crate) address: SocketAddr,
    pub(crate) outgoing_peer_id: u16,
    pub(crate) incoming_session_id: u8,
    pub(crate) outgoing_session_id: u8,
    pub(crate) connect_id: [u8; 4],
    pub(crate) connect_data: u32,
    /// Added to the clock in the sent time of our datagrams, and taken from
    /// echoes: random per connection, so an echo proves the remote saw the
    /// datagram (ENet only echoes the field).
    pub(crate) sent_time_offset: u16,
    pub(crate) disconnect_data: u32,
    pub(crate) mtu: u32,
    pub(crate) window_size: u32,
    pub(crate) channel_count: usize,
    pub(crate) remote_incoming_bandwidth: u32,
    pub(crate) remote_outgoing_bandwidth: u32,
    pub(crate) throttle: PacketThrottle,
    pub(crate) rtt: RttEstimator,
    pub(crate) timeouts: TimeoutMs,
    pub(crate) ping_interval: u32,
    pub(crate) last_receive_time: u32,
    /// Protocol time of the last PING sent (0: none yet).
    last_ping_sent: u32,
    pub(crate) control_seq: u16,
    pub(crate) unsequenced_group: u16,
    pub(crate) unsequenced_window: UnsequencedWindow,
    pub(crate) out_channels: Vec<OutgoingChannel>,
    pub(crate) in_channels: Vec<IncomingChannel>,
    pub(crate) sender: ReliableSender,
    pub(crate) control: VecDeque<OutgoingCommand>,
    pub(crate) reliable_queue: VecDeque<OutgoingCommand>,
    pub(crate) unreliable_queue: VecDeque<OutgoingCommand>,
    pub(crate) packets: PacketStore,
    pub(crate) next_order: u64,
    pub(crate) acks: VecDeque<PendingAck>,
    /// Received data not yet handed to the application (what it occupies).
    pub(crate) waiting: usize,
    /// Fragment groups (reassemblies) held.
    pub(crate) fragment_groups: usize,
    /// Protocol time [`Self::holds_stale_fragments`] last looked (0: never).
    stale_checked: u32,
    /// Bytes queued since the last bandwidth throttle run.
    pub(crate) outgoing_data_total: u32,
    pub(crate) bandwidth_marked: bool,
    pub(crate) in_ready: bool,
    pub(crate) stats: PeerStats,
    loss_epoch: u32,
    loss_sent: u32,
    loss_lost: u32,
}

/// Everything [`Peer::receive`] needs from the endpoint.
pub(crate) struct ReceiveContext<'a> {
    pub(crate) now: u32,
    pub(crate) pool: &'a mut BufferPool,
    pub(crate) budget: WaitingBudget,
    /// Received data not yet handed to the application, all peers.
    pub(crate) host_waiting: &'a mut usize,
    /// Packets ready for the application, in delivery order (see
    /// [`Delivery::out`]).
    pub(crate) out: &'a mut VecDeque<(TransferMode, Option<Vec<u8>>)>,
    /// The command's data can be lent out of its datagram ([`Delivery::lend`]).
    pub(crate) lend: bool,
    /// Fragment groups dropped to make room.
    pub(crate) shed: usize,
    /// The peer went over its budget (whether or not shedding made room).
    pub(crate) over_budget: bool,
}

impl ReceiveContext<'_> {
    /// The budget and sink of one receive for a peer holding `waiting`
    /// bytes and `groups` fragment groups.
    fn delivery<'d>(&'d mut self, waiting: &'d mut usize, groups: &'d mut usize) -> Delivery<'d> {
        Delivery {
            pool: self.pool,
            now: self.now,
            budget: self.budget,
            waiting,
            host_waiting: self.host_waiting,
            groups,
            out: self.out,
            lend: self.lend,
        }
    }
}

/// Everything [`Peer::fill_datagram`] needs from the endpoint.
pub(crate) struct FillContext<'a> {
    pub(crate) now: u32,
    pub(crate) pool: &'a mut BufferPool,
}

/// What filling one datagram produced.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    /// The acknowledgement of a DISCONNECT went out: the peer is now gone.
    pub(crate) acked_disconnect: bool,
    /// More is queued than fitted.
    pub(crate) more: bool,
}

impl Peer {
    pub(crate) fn new(index: u16) -> Self {
        Self {
            index,
            generation: 0,
            state: PeerState::Disconnected,
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            outgoing_peer_id: NO_PEER_ID,
            incoming_session_id: UNUSED_SESSION_ID,
            outgoing_session_id: UNUSED_SESSION_ID,
            connect_id: [0; 4],
            connect_data: 0,
            sent_time_offset: 0,
            disconnect_data: 0,
            mtu: 0,
            window_size: MAX_WINDOW_SIZE,
            channel_count: 0,
            remote_incoming_bandwidth: 0,
            remote_outgoing_bandwidth: 0,
            throttle: PacketThrottle::new(
                ThrottleParams { interval: 0, acceleration: 0, deceleration: 0 },
                0,
            ),
            rtt: RttEstimator::default(),
            timeouts: TimeoutMs { limit: 0, minimum: 0, maximum: 0 },
            ping_interval: 0,
            last_receive_time: 0,
            last_ping_sent: 0,
            control_seq: 0,
            unsequenced_group: 0,
            unsequenced_window: UnsequencedWindow::default(),
            out_channels: Vec::new(),
            in_channels: Vec::new(),
            sender: ReliableSender::default(),
            control: VecDeque::new(),
            reliable_queue: VecDeque::new(),
            unreliable_queue: VecDeque::new(),
            packets: PacketStore::default(),
            next_order: 0,
            acks: VecDeque::new(),
            waiting: 0,
            fragment_groups: 0,
            stale_checked: 0,
            outgoing_data_total: 0,
            bandwidth_marked: false,
            in_ready: false,
            stats: PeerStats::default(),
            loss_epoch: 0,
            loss_sent: 0,
            loss_lost: 0,
        }
    }

    pub(crate) fn handle(&self) -> PeerHandle {
        PeerHandle { index: self.index, generation: self.generation }
    }

    /// Connected or draining before a later disconnect: data flows.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.state, PeerState::Connected | PeerState::DisconnectLater)
    }

    /// Sizes the channel tables for `channels` channels.
    pub(crate) fn setup_channels(&mut self, channels: usize, pool: &mut BufferPool) {
        self.channel_count = channels;
        self.out_channels.clear();
        self.out_channels.resize(channels, OutgoingChannel::default());
        for c in &mut self.in_channels {
            c.clear(pool);
        }
        self.in_channels.resize_with(channels, IncomingChannel::default);
        self.in_channels.truncate(channels);
        let _ = self.sender.reset(channels);
    }

    /// Drops every queued, in-flight and partially received command.
    /// Returns the waiting bytes released (the caller keeps host totals).
    pub(crate) fn clear_queues(&mut self, pool: &mut BufferPool) -> usize {
        let channels = self.channel_count;
        let _ = self.sender.reset(channels);
        self.control.clear();
        self.reliable_queue.clear();
        self.unreliable_queue.clear();
        self.packets.clear(pool);
        self.acks.clear();
        let mut released = 0;
        for c in &mut self.in_channels {
            released += c.clear(pool);
        }
        self.waiting = self.waiting.saturating_sub(released);
        self.fragment_groups = 0;
        released
    }

    /// Hands a data command (SEND_UNSEQUENCED, delivered at once, is the
    /// caller's) to its channel, within the peer's budget. A peer
    /// over its budget pays: unreliable data is dropped, and for reliable
    /// data its incomplete unreliable fragment groups are dropped and the
    /// command tried once more.
    #[inline]
    pub(crate) fn receive(
        &mut self,
        channel: u8,
        command: &Command<'_>,
        cx: &mut ReceiveContext<'_>,
    ) -> Result<(), Violation> {
        let result = self.receive_once(channel, command, cx);
        if !matches!(result, Err(Violation::WaitingData | Violation::FragmentGroups)) {
            return result;
        }
        cx.over_budget = true;
        if !command.header.acknowledge {
            // Unreliable data over the budget is simply dropped: it may be
            // lost anyway, and dropping it costs nothing.
            return result;
        }
        let mut d = cx.delivery(&mut self.waiting, &mut self.fragment_groups);
        let shed: usize = self.in_channels.iter_mut().map(|c| c.shed_unreliable(&mut d)).sum();
        cx.shed += shed;
        if shed == 0 {
            return result;
        }
        self.receive_once(channel, command, cx)
    }

    fn receive_once(
        &mut self,
        channel: u8,
        command: &Command<'_>,
        cx: &mut ReceiveContext<'_>,
    ) -> Result<(), Violation> {
        let mut d = cx.delivery(&mut self.waiting, &mut self.fragment_groups);
        let incoming = &mut self.in_channels[usize::from(channel)];
        let seq = command.header.reliable_sequence_number;
        match command.body {
            CommandBody::SendReliable { data } => incoming.receive_reliable(seq, data, &mut d),
            CommandBody::SendUnreliable { unreliable_sequence_number, data } => {
                incoming.receive_unreliable(seq, unreliable_sequence_number, data, &mut d)
            }
            CommandBody::SendFragment(f) => incoming.receive_fragment(seq, &f, true, &mut d),
            CommandBody::SendUnreliableFragment(f) => {
                incoming.receive_fragment(seq, &f, false, &mut d)
            }
            _ => Ok(()),
        }
    }

    /// Whether the peer holds a reliable fragment group no live sender
    /// would have left incomplete for `maximum` ms (it resends a missing
    /// piece at least every few seconds, or is declared dead).
    ///
    /// Looked at most once a second: a peer over its budget asks for every
    /// command it sends.
    pub(crate) fn holds_stale_fragments(&mut self, now: u32, maximum: u32) -> bool {
        if self.stale_checked != 0 && crate::time::time_difference(now, self.stale_checked) < 1000 {
            return false;
        }
        self.stale_checked = now.max(1);
        self.in_channels
            .iter()
            .filter_map(IncomingChannel::oldest_incomplete_reliable)
            .any(|started| crate::time::time_difference(now, started) >= maximum)
    }

    /// Frees the slot for reuse; the handle dies. Keeps session ids (ENet
    /// carries them across resets so stale datagrams fail the session check).
    pub(crate) fn reset(&mut self, pool: &mut BufferPool) -> usize {
        let released = self.clear_queues(pool);
        let (index, generation) = (self.index, self.generation.wrapping_add(1));
        let (incoming_session_id, outgoing_session_id) =
            (self.incoming_session_id, self.outgoing_session_id);
        let mut in_channels = std::mem::take(&mut self.in_channels);
        in_channels.clear();
        let packets = std::mem::take(&mut self.packets);
        *self = Self::new(index);
        self.generation = generation;
        self.incoming_session_id = incoming_session_id;
        self.outgoing_session_id = outgoing_session_id;
        self.in_channels = in_channels;
        self.packets = packets;
        released
    }

    /// Nothing queued, nothing in flight.
    pub(crate) fn is_send_idle(&self) -> bool {
        self.control.is_empty()
            && self.reliable_queue.is_empty()
            && self.unreliable_queue.is_empty()
            && self.sender.is_idle()
    }

    /// Bytes of outgoing packets held (queued or in flight).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.packets.bytes
    }

    fn next_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// Queues a control command (channel 0xFF); `acknowledged` picks ACK or UNSEQUENCED.
    pub(crate) fn queue_control(&mut self, kind: OutKind, acknowledged: bool) {
        self.control_seq = self.control_seq.wrapping_add(1);
        let header = CommandHeader {
            acknowledge: acknowledged,
            unsequenced: !acknowledged,
            channel_id: CONTROL_CHANNEL,
            reliable_sequence_number: self.control_seq,
        };
        let order = self.next_order();
        let command = OutgoingCommand::new(order, header, kind);
        self.outgoing_data_total =
            self.outgoing_data_total.saturating_add(command.wire_len() as u32);
        self.control.push_back(command);
    }

    /// Queues an acknowledgement, unless too many wait already.
    pub(crate) fn queue_ack(&mut self, ack: PendingAck) {
        if self.acks.len() < MAX_PENDING_ACKS {
            self.acks.push_back(ack);
            // ENet counts acknowledgements in the bandwidth demand too.
            self.outgoing_data_total = self.outgoing_data_total.saturating_add(8);
        }
    }

    /// Splits `payload` into commands on `channel` and queues them.
    ///
    /// `fragment_len` is the most payload one fragment may carry.
    pub(crate) fn queue_packet(
        &mut self,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
        fragment_len: usize,
        pool: &mut BufferPool,
    ) {
        let ch = usize::from(channel);
        let len = payload.len();
        // Demand as ENet counts it: payload plus a command header per piece.
        let pieces = len.div_ceil(fragment_len).max(1);
        let command_len = match mode {
            _ if len > fragment_len => 24,
            TransferMode::Reliable => 6,
            _ => 8,
        };
        let demand = len + pieces * command_len;
        self.outgoing_data_total = self.outgoing_data_total.saturating_add(demand as u32);
        let unreliable_exhausted = self.out_channels[ch].unreliable_seq == u16::MAX;
        // An exhausted unreliable counter turns the packet reliable, as ENet does.
        let mode = match mode {
            TransferMode::UnreliableOrdered if unreliable_exhausted => TransferMode::Reliable,
            m => m,
        };
        if len > fragment_len {
            let count = len.div_ceil(fragment_len) as u32;
            let reliable = mode == TransferMode::Reliable || unreliable_exhausted;
            let id = self.packets.insert(payload, count, pool);
            let out = &mut self.out_channels[ch];
            let start = if reliable {
                out.reliable_seq.wrapping_add(1)
            } else {
                out.unreliable_seq += 1;
                out.unreliable_seq
            };
            for number in 0..count {
                let offset = number * fragment_len as u32;
                let piece_len = (len as u32 - offset).min(fragment_len as u32);
                let out = &mut self.out_channels[ch];
                let seq = if reliable {
                    out.reliable_seq = out.reliable_seq.wrapping_add(1);
                    out.unreliable_seq = 0;
                    out.reliable_seq
                } else {
                    out.reliable_seq
                };
                let header = CommandHeader {
                    acknowledge: reliable,
                    unsequenced: false,
                    channel_id: channel,
                    reliable_sequence_number: seq,
                };
                let kind =
                    OutKind::SendFragment { start, count, number, total: len as u32, offset };
                let mut command = OutgoingCommand::new(self.next_order(), header, kind);
                command.payload = Some(PacketSlice { id, offset, len: piece_len });
                if reliable {
                    self.reliable_queue.push_back(command);
                } else {
                    self.unreliable_queue.push_back(command);
                }
            }
            return;
        }
        let id = self.packets.insert(payload, 1, pool);
        let out = &mut self.out_channels[ch];
        let (header, kind) = match mode {
            TransferMode::Reliable => {
                out.reliable_seq = out.reliable_seq.wrapping_add(1);
                out.unreliable_seq = 0;
                let header = CommandHeader {
                    acknowledge: true,
                    unsequenced: false,
                    channel_id: channel,
                    reliable_sequence_number: out.reliable_seq,
                };
                (header, OutKind::SendReliable)
            }
            TransferMode::UnreliableOrdered => {
                out.unreliable_seq += 1;
                let header = CommandHeader {
                    acknowledge: false,
                    unsequenced: false,
                    channel_id: channel,
                    reliable_sequence_number: out.reliable_seq,
                };
                (header, OutKind::SendUnreliable { unreliable_sequence_number: out.unreliable_seq })
            }
            TransferMode::Unreliable => {
                self.unsequenced_group = self.unsequenced_group.wrapping_add(1);
                let header = CommandHeader {
                    acknowledge: false,
                    unsequenced: true,
                    channel_id: channel,
                    reliable_sequence_number: 0,
                };
                (header, OutKind::SendUnsequenced { group: self.unsequenced_group })
            }
        };
        let mut command = OutgoingCommand::new(self.next_order(), header, kind);
        command.payload = Some(PacketSlice { id, offset: 0, len: len as u32 });
        if mode == TransferMode::Reliable {
            self.reliable_queue.push_back(command);
        } else {
            self.unreliable_queue.push_back(command);
        }
    }

    /// Writes acknowledgements and queued commands into `writer`, ENet's way:
    /// acks first, then resends, then queued commands in queue order, within
    /// the reliable window; then a keep-alive ping if one is due.
    pub(crate) fn fill_datagram(
        &mut self,
        writer: &mut DatagramWriter<'_>,
        cx: &mut FillContext<'_>,
    ) -> (Filled, bool) {
        let mut filled = Filled::default();
        let mut needs_sent_time = false;
        while let Some(ack) = self.acks.front() {
            let command = Command {
                header: CommandHeader {
                    acknowledge: false,
                    unsequenced: false,
                    channel_id: ack.channel_id,
                    reliable_sequence_number: ack.seq,
                },
                body: CommandBody::Acknowledge {
                    received_reliable_sequence_number: ack.seq,
                    received_sent_time: ack.sent_time,
                },
            };
            if writer.push(&command).is_err() {
                filled.more = true;
                return (filled, needs_sent_time);
            }
            let is_disconnect = ack.is_disconnect;
            self.acks.pop_front();
            if is_disconnect && self.state == PeerState::AcknowledgingDisconnect {
                filled.acked_disconnect = true;
                return (filled, needs_sent_time);
            }
        }
        if self.state == PeerState::Connected
            && !self.sender.is_idle()
            && self.ping_due(cx.now)
            && (self.last_ping_sent == 0
                || crate::time::time_difference(cx.now, self.last_ping_sent) >= self.ping_interval)
        {
            // Data is in flight but nothing was acknowledged for a ping
            // interval: a PING ahead of it asks whether the peer is there at
            // all. A live peer acknowledges it even while it refuses our data
            // (its application is not reading), and only acknowledgements
            // keep a peer alive; one that acknowledges nothing times out.
            needs_sent_time |= self.push_ping(writer, cx);
        }
        let mut block = WindowBlock::default();
        let mut reliable_in_datagram = false;
        loop {
            // Resends go first, then the oldest of the three queues' heads.
            let source = if self.sender.peek_resend().is_some() {
                Source::Resend
            } else {
                let control = self.control.front().map(|c| c.order);
                let reliable = if block.byte_window || block.sequence_window {
                    None
                } else {
                    self.reliable_queue.front().map(|c| c.order)
                };
                let unreliable = self.unreliable_queue.front().map(|c| c.order);
                match [
                    (control, Source::Control),
                    (reliable, Source::Reliable),
                    (unreliable, Source::Unreliable),
                ]
                .into_iter()
                .filter_map(|(o, s)| o.map(|o| (o, s)))
                .min_by_key(|(o, _)| *o)
                {
                    Some((_, s)) => s,
                    None => break,
                }
            };
            let command = match source {
                Source::Resend => self.sender.peek_resend(),
                Source::Control => self.control.front(),
                Source::Reliable => self.reliable_queue.front(),
                Source::Unreliable => self.unreliable_queue.front(),
            };
            let Some(command) = command else { break };
            if command.header.acknowledge && command.payload.is_some() {
                let allowed = self.sender.may_send(
                    command,
                    self.throttle.value,
                    self.window_size,
                    self.mtu,
                    &mut block,
                );
                if !allowed {
                    if source == Source::Resend {
                        // A resend that must wait holds back everything reliable.
                        break;
                    }
                    continue;
                }
            }
            if command.wire_len() > writer.remaining() {
                filled.more = true;
                break;
            }
            let command = match source {
                Source::Resend => self.sender.pop_resend(),
                Source::Control => self.control.pop_front(),
                Source::Reliable => self.reliable_queue.pop_front(),
                Source::Unreliable => self.unreliable_queue.pop_front(),
            };
            let Some(command) = command else { break };
            if !command.header.acknowledge
                && command.payload.is_some()
                && !self.admit_unreliable(&command, cx.pool)
            {
                continue;
            }
            if writer.push(&command.to_wire(&self.packets)).is_err() {
                // Sized above; cannot happen, but never lose a reliable command.
                self.requeue_front(source, command);
                filled.more = true;
                break;
            }
            self.stats.packets_sent += 1;
            self.loss_sent += 1;
            if command.header.acknowledge {
                needs_sent_time = true;
                reliable_in_datagram = true;
                self.sender.on_sent(command, cx.now, &self.rtt);
            } else if let Some(p) = command.payload {
                self.packets.release(p, cx.pool);
            }
        }
        if self.state == PeerState::Connected
            && self.sender.is_idle()
            && !reliable_in_datagram
            && self.ping_due(cx.now)
        {
            needs_sent_time |= self.push_ping(writer, cx);
        }
        (filled, needs_sent_time)
    }

    /// Writes a PING into `writer` if it has room; true if it did.
    fn push_ping(&mut self, writer: &mut DatagramWriter<'_>, cx: &mut FillContext<'_>) -> bool {
        if writer.remaining() < 4 {
            return false;
        }
        self.queue_control(OutKind::Ping, true);
        let Some(ping) = self.control.pop_back() else { return false };
        if writer.push(&ping.to_wire(&self.packets)).is_err() {
            self.control.push_back(ping);
            return false;
        }
        self.stats.packets_sent += 1;
        self.last_ping_sent = cx.now.max(1);
        self.sender.on_sent(ping, cx.now, &self.rtt);
        true
    }

    fn requeue_front(&mut self, source: Source, command: OutgoingCommand) {
        match source {
            Source::Resend => self.sender.unpop_resend(command),
            Source::Reliable => self.reliable_queue.push_front(command),
            Source::Control => self.control.push_front(command),
            Source::Unreliable => self.unreliable_queue.push_front(command),
        }
    }

    /// Applies the unreliable throttle to a packet's first command; a dropped
    /// packet takes its remaining fragments with it.
    fn admit_unreliable(&mut self, command: &OutgoingCommand, pool: &mut BufferPool) -> bool {
        let first_piece = match command.kind {
            OutKind::SendFragment { number, .. } => number == 0,
            _ => true,
        };
        if !first_piece || self.throttle.admit() {
            return true;
        }
        self.stats.packets_throttled += 1;
        if let Some(p) = command.payload {
            self.packets.release(p, pool);
        }
        if let OutKind::SendFragment { start, .. } = command.kind {
            while let Some(next) = self.unreliable_queue.front() {
                let same = matches!(next.kind, OutKind::SendFragment { start: s, number, .. } if s == start && number > 0)
                    && next.header.channel_id == command.header.channel_id;
                if !same {
                    break;
                }
                if let Some(dropped) = self.unreliable_queue.pop_front()
                    && let Some(p) = dropped.payload
                {
                    self.packets.release(p, pool);
                }
            }
        }
        false
    }

    /// A keep-alive ping is due (nothing acknowledged for a ping interval).
    pub(crate) fn ping_due(&self, now: u32) -> bool {
        self.last_receive_time == 0
            || crate::time::time_difference(now, self.last_receive_time) >= self.ping_interval
    }

    /// The header of a datagram to this peer.
    pub(crate) fn datagram_header(&self, sent_time: Option<u16>) -> Header {
        let known = self.outgoing_peer_id < NO_PEER_ID;
        Header {
            peer_id: self.outgoing_peer_id,
            session_id: if known { self.outgoing_session_id } else { 0 },
            compressed: false,
            sent_time,
        }
    }

    /// The checksum placeholder for datagrams to this peer.
    pub(crate) fn checksum_placeholder(&self) -> [u8; 4] {
        if self.outgoing_peer_id < NO_PEER_ID { self.connect_id } else { [0; 4] }
    }

    /// Updates the packet-loss statistic once per loss interval.
    pub(crate) fn update_packet_loss(&mut self, now: u32, interval: u32) {
        if self.loss_epoch == 0 {
            self.loss_epoch = now;
        } else if crate::time::time_difference(now, self.loss_epoch) >= interval
            && self.loss_sent > 0
        {
            let loss = (u64::from(self.loss_lost) * u64::from(crate::constants::PACKET_LOSS_SCALE)
                / u64::from(self.loss_sent)) as u32;
            let previous = self.stats.packet_loss;
            self.stats.packet_loss = previous - previous / 4 + loss / 4;
            self.loss_epoch = now;
            self.loss_sent = 0;
            self.loss_lost = 0;
        }
    }

    /// Counts `n` commands lost (timed out and queued for resend).
    pub(crate) fn count_lost(&mut self, n: usize) {
        self.stats.packets_lost += n as u64;
        self.loss_lost += n as u32;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Resend,
    Control,
    Reliable,
    Unreliable,
}
