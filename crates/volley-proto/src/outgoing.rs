//! Commands waiting to be sent, and the packet bytes they point into.

use crate::pool::BufferPool;
use crate::wire::{Command, CommandBody, CommandHeader, ConnectParams, Fragment, ThrottleParams};

/// What an outgoing command is; payloads live in the [`PacketStore`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutKind {
    Connect {
        params: ConnectParams,
        data: u32,
    },
    Disconnect {
        data: u32,
    },
    Ping,
    BandwidthLimit {
        incoming: u32,
        outgoing: u32,
    },
    ThrottleConfigure(ThrottleParams),
    SendReliable,
    SendUnreliable {
        unreliable_sequence_number: u16,
    },
    SendUnsequenced {
        group: u16,
    },
    /// Reliable when the header has the ACK flag, else unreliable.
    SendFragment {
        start: u16,
        count: u32,
        number: u32,
        total: u32,
        offset: u32,
    },
}

/// Where a command's payload lies: a slice of a stored packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketSlice {
    pub(crate) id: u32,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// One command, queued or in flight.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingCommand {
    /// Position in the peer's queue order (merges the queues as ENet's single queue).
    pub(crate) order: u64,
    pub(crate) header: CommandHeader,
    pub(crate) kind: OutKind,
    pub(crate) payload: Option<PacketSlice>,
    pub(crate) send_attempts: u32,
    /// Protocol time of the first transmission.
    pub(crate) first_sent: u32,
    pub(crate) sent_time: u32,
    pub(crate) rto: u32,
    /// Acknowledgements of commands sent after this one, in its current
    /// flight (see [`crate::reliable::ReliableSender`]'s fast resend).
    pub(crate) overtaken: u8,
    /// Its last resend was a fast one (overtaken, not timed out).
    pub(crate) fast_resent: bool,
}

impl OutgoingCommand {
    pub(crate) fn new(order: u64, header: CommandHeader, kind: OutKind) -> Self {
        Self {
            order,
            header,
            kind,
            payload: None,
            send_attempts: 0,
            first_sent: 0,
            sent_time: 0,
            rto: 0,
            overtaken: 0,
            fast_resent: false,
        }
    }

    /// Payload bytes of this command (what counts against the reliable window).
    pub(crate) fn payload_len(&self) -> u32 {
        self.payload.map_or(0, |p| p.len)
    }

    /// The wire form, borrowing the payload from `store`.
    pub(crate) fn to_wire<'s>(&self, store: &'s PacketStore) -> Command<'s> {
        let data = self.payload.map_or(&[][..], |p| store.slice(p));
        let body = match self.kind {
            OutKind::Connect { params, data } => CommandBody::Connect { params, data },
            OutKind::Disconnect { data } => CommandBody::Disconnect { data },
            OutKind::Ping => CommandBody::Ping,
            OutKind::BandwidthLimit { incoming, outgoing } => CommandBody::BandwidthLimit {
                incoming_bandwidth: incoming,
                outgoing_bandwidth: outgoing,
            },
            OutKind::ThrottleConfigure(t) => CommandBody::ThrottleConfigure(t),
            OutKind::SendReliable => CommandBody::SendReliable { data },
            OutKind::SendUnreliable { unreliable_sequence_number } => {
                CommandBody::SendUnreliable { unreliable_sequence_number, data }
            }
            OutKind::SendUnsequenced { group } => {
                CommandBody::SendUnsequenced { unsequenced_group: group, data }
            }
            OutKind::SendFragment { start, count, number, total, offset } => {
                let fragment = Fragment {
                    start_sequence_number: start,
                    fragment_count: count,
                    fragment_number: number,
                    total_length: total,
                    fragment_offset: offset,
                    data,
                };
                if self.header.acknowledge {
                    CommandBody::SendFragment(fragment)
                } else {
                    CommandBody::SendUnreliableFragment(fragment)
                }
            }
        };
        Command { header: self.header, body }
    }

    /// Bytes this command takes in a datagram.
    pub(crate) fn wire_len(&self) -> usize {
        let fixed = match self.kind {
            OutKind::Connect { .. } => 48,
            OutKind::Disconnect { .. } | OutKind::SendUnreliable { .. } => 8,
            OutKind::SendUnsequenced { .. } => 8,
            OutKind::Ping => 4,
            OutKind::BandwidthLimit { .. } => 12,
            OutKind::ThrottleConfigure(_) => 16,
            OutKind::SendReliable => 6,
            OutKind::SendFragment { .. } => 24,
        };
        fixed + self.payload_len() as usize
    }
}

/// Packets being sent to one peer, shared by their fragments, reference counted.
#[derive(Debug, Default)]
pub(crate) struct PacketStore {
    slots: Vec<(Vec<u8>, u32)>,
    free: Vec<u32>,
    /// Bytes held.
    pub(crate) bytes: usize,
}

impl PacketStore {
    /// Stores `data` for `refs` commands; returns its id.
    pub(crate) fn insert(&mut self, data: &[u8], refs: u32, pool: &mut BufferPool) -> u32 {
        let buf = pool.copy_of(data);
        self.bytes += buf.len();
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = (buf, refs);
                id
            }
            None => {
                self.slots.push((buf, refs));
                (self.slots.len() - 1) as u32
            }
        }
    }

    pub(crate) fn slice(&self, p: PacketSlice) -> &[u8] {
        let data = &self.slots[p.id as usize].0;
        &data[p.offset as usize..(p.offset + p.len) as usize]
    }

    /// Drops one command's reference; the buffer returns to `pool` with the last.
    pub(crate) fn release(&mut self, p: PacketSlice, pool: &mut BufferPool) {
        let slot = &mut self.slots[p.id as usize];
        slot.1 -= 1;
        if slot.1 == 0 {
            let buf = std::mem::take(&mut slot.0);
            self.bytes -= buf.len();
            pool.give(buf);
            self.free.push(p.id);
        }
    }

    /// Forgets every packet.
    pub(crate) fn clear(&mut self, pool: &mut BufferPool) {
        for (buf, _) in self.slots.drain(..) {
            pool.give(buf);
        }
        self.free.clear();
        self.bytes = 0;
    }
}
