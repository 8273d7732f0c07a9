//! The receiving side of one channel: reliable ordering, sequenced
//! unreliable delivery, and fragment reassembly, with ENet's window rules.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use crate::TransferMode;
use crate::budget::WaitingBudget;
use crate::constants::{FREE_RELIABLE_WINDOWS, RELIABLE_WINDOW_SIZE, RELIABLE_WINDOWS};
use crate::fragment::{Added, Reassembly};
use crate::pool::BufferPool;
use crate::time::time_less;
use crate::wire::Fragment;

/// Where a received sequence number lies relative to the channel's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowPosition {
    /// Inside the acceptance range.
    Inside,
    /// Outside, but the sender should be told (ack it): old or far behind.
    Outside,
    /// Too far ahead: do not even acknowledge, the sender will resend.
    TooFarAhead,
}

/// ENet's reliable window test for `seq` against the last delivered `incoming`.
pub(crate) fn window_position(incoming: u16, seq: u16) -> WindowPosition {
    let current = incoming / RELIABLE_WINDOW_SIZE;
    let mut window = seq / RELIABLE_WINDOW_SIZE;
    if seq < incoming {
        window += RELIABLE_WINDOWS;
    }
    if window >= current && window < current + FREE_RELIABLE_WINDOWS - 1 {
        WindowPosition::Inside
    } else if window >= current + FREE_RELIABLE_WINDOWS - 1
        && window <= current + FREE_RELIABLE_WINDOWS
    {
        WindowPosition::TooFarAhead
    } else {
        WindowPosition::Outside
    }
}

/// A protocol violation: the rest of the datagram is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A fragment disagrees with its reassembly, or a reliable fragment
    /// restarts an already delivered sequence.
    BadFragment,
    /// Waiting data would exceed its budget ([`WaitingBudget`]).
    WaitingData,
    /// The peer holds as many fragment groups as it may.
    FragmentGroups,
}

/// Budget and sink for one receive call: waiting-data accounting, buffers,
/// and where delivered packets go.
pub(crate) struct Delivery<'a> {
    pub(crate) pool: &'a mut BufferPool,
    /// Protocol time of the call.
    pub(crate) now: u32,
    /// What the peer and the host may hold.
    pub(crate) budget: WaitingBudget,
    /// Bytes received but not yet handed to the application, this peer.
    pub(crate) waiting: &'a mut usize,
    /// The same, all peers together.
    pub(crate) host_waiting: &'a mut usize,
    /// Fragment groups (reassemblies) this peer holds.
    pub(crate) groups: &'a mut usize,
    /// Packets ready for the application, in delivery order; `None` is the
    /// received command's own data, delivered at once and not copied
    /// (only with `lend`).
    pub(crate) out: &'a mut VecDeque<(TransferMode, Option<Vec<u8>>)>,
    /// The caller can lend the command's data out of its datagram: a packet
    /// delivered the moment it arrives is not copied.
    pub(crate) lend: bool,
}

impl Delivery<'_> {
    /// `data`, to be delivered as it arrived, charged what it will occupy:
    /// `None` when the caller lends it out of its datagram
    /// ([`lent_charge`]), else a copy ([`delivered_charge`]).
    fn take_now(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, Violation> {
        if self.lend {
            self.reserve(lent_charge(data.len()))?;
            Ok(None)
        } else {
            self.copy(data).map(Some)
        }
    }

    /// Charges `bytes` if the budget admits them.
    fn reserve(&mut self, bytes: usize) -> Result<(), Violation> {
        if !self.budget.admits(*self.waiting, *self.host_waiting, bytes) {
            return Err(Violation::WaitingData);
        }
        self.charge(bytes);
        Ok(())
    }

    /// Charges `bytes` unchecked: what an admitted piece really took.
    fn charge(&mut self, bytes: usize) {
        *self.waiting += bytes;
        *self.host_waiting += bytes;
    }

    fn unreserve(&mut self, bytes: usize) {
        *self.waiting -= bytes;
        *self.host_waiting -= bytes;
    }

    /// A copy of `data` for the application or a queue, charged what it
    /// occupies ([`delivered_charge`]).
    fn copy(&mut self, data: &[u8]) -> Result<Vec<u8>, Violation> {
        let copy = self.pool.copy_of(data);
        match self.reserve(delivered_charge(&copy)) {
            Ok(()) => Ok(copy),
            Err(e) => {
                self.pool.give(copy);
                Err(e)
            }
        }
    }

    /// Opens a fragment group: counted, and charged its bookkeeping.
    fn open_group(&mut self) -> Result<(), Violation> {
        if *self.groups >= self.budget.max_fragment_groups {
            return Err(Violation::FragmentGroups);
        }
        self.reserve(ENTRY_COST)?;
        *self.groups += 1;
        Ok(())
    }
}

/// Waiting data charged for bookkeeping: per queued or delivered packet,
/// reassembly and stored fragment, so that empty or tiny pieces cannot pile
/// up for free.
pub(crate) const ENTRY_COST: usize = 64;

/// What a packet handed to the application (or queued for it) is charged
/// until taken: its buffer's capacity, which is what it occupies, and its
/// bookkeeping.
pub(crate) fn delivered_charge(packet: &Vec<u8>) -> usize {
    packet.capacity() + ENTRY_COST
}

/// What a packet lent out of its datagram (see `Lend`) is charged until
/// taken: its length, which a copy would take if it outlived the datagram,
/// and its bookkeeping.
pub(crate) fn lent_charge(len: usize) -> usize {
    len + ENTRY_COST
}

enum Pending {
    Whole(Vec<u8>),
    Fragmented(Reassembly),
}

impl Pending {
    /// Everything charged against waiting data: the buffers' capacities plus bookkeeping.
    fn charge(&self) -> usize {
        match self {
            Self::Whole(b) => delivered_charge(b),
            Self::Fragmented(r) => r.held() + ENTRY_COST * (1 + r.pieces()),
        }
    }

    /// Turns a complete entry into its packet; the charge drops to the
    /// packet's own ([`delivered_charge`]) until the application takes it.
    fn into_packet(self, d: &mut Delivery<'_>) -> Vec<u8> {
        let before = self.charge();
        let packet = match self {
            Self::Whole(p) => p,
            Self::Fragmented(r) => {
                *d.groups -= 1;
                r.into_data(d.pool)
            }
        };
        d.unreserve(before - delivered_charge(&packet));
        packet
    }

    /// An unreliable reassembly that misses pieces.
    fn is_incomplete(&self) -> bool {
        matches!(self, Self::Fragmented(r) if !r.is_complete())
    }
}

/// An unreliable packet (or reassembly) waiting for its reliable predecessor.
struct Sequenced {
    /// Extended reliable sequence it follows.
    reliable: u64,
    unreliable: u16,
    pending: Pending,
}

/// Receive state of one channel.
#[derive(Default)]
pub(crate) struct IncomingChannel {
    /// Last delivered reliable sequence number.
    reliable_seq: u16,
    /// `reliable_seq` counted without wrapping, so queue keys never move.
    reliable_ext: u64,
    /// Last delivered unreliable sequence number since `reliable_seq`.
    unreliable_seq: u16,
    /// Reliable packets and reassemblies received ahead of order.
    reliable: BTreeMap<u64, (u32, Pending)>,
    /// Unreliable packets and reassemblies not yet deliverable, sorted by (reliable, unreliable).
    unreliable: Vec<Sequenced>,
}

impl IncomingChannel {
    /// Last delivered reliable sequence number.
    pub(crate) fn incoming_reliable(&self) -> u16 {
        self.reliable_seq
    }

    fn ext(&self, seq: u16) -> u64 {
        self.reliable_ext + u64::from(seq.wrapping_sub(self.reliable_seq))
    }

    /// A SEND_RELIABLE with sequence `seq`.
    pub(crate) fn receive_reliable(
        &mut self,
        seq: u16,
        data: &[u8],
        d: &mut Delivery<'_>,
    ) -> Result<(), Violation> {
        if window_position(self.reliable_seq, seq) != WindowPosition::Inside
            || seq == self.reliable_seq
        {
            return Ok(());
        }
        let key = self.ext(seq);
        if self.reliable.contains_key(&key) {
            return Ok(());
        }
        if key == self.reliable_ext + 1 {
            // In order: deliver at once, then whatever it unblocks.
            let payload = d.take_now(data)?;
            d.out.push_back((TransferMode::Reliable, payload));
            self.advance_reliable(1, d);
        } else {
            let copy = d.copy(data)?;
            self.reliable.insert(key, (1, Pending::Whole(copy)));
        }
        Ok(())
    }

    /// A SEND_FRAGMENT (reliable) or SEND_UNRELIABLE_FRAGMENT piece.
    /// `reliable_seq` is the command header's sequence number.
    pub(crate) fn receive_fragment(
        &mut self,
        reliable_seq: u16,
        fragment: &Fragment<'_>,
        reliable: bool,
        d: &mut Delivery<'_>,
    ) -> Result<(), Violation> {
        if reliable {
            let start = fragment.start_sequence_number;
            if window_position(self.reliable_seq, start) != WindowPosition::Inside {
                return Ok(());
            }
            if start == self.reliable_seq {
                return Err(Violation::BadFragment);
            }
            let key = self.ext(start);
            let span = fragment.fragment_count;
            if span > u32::from(u16::MAX) {
                // Cannot fit the sequence space (the codec's size rules already exclude it).
                return Err(Violation::BadFragment);
            }
            match self.reliable.get(&key) {
                Some((s, Pending::Fragmented(_))) if *s == span => {}
                Some(_) => return Err(Violation::BadFragment),
                None => {
                    d.open_group()?;
                    let r = Reassembly::new(fragment, d.now);
                    self.reliable.insert(key, (span, Pending::Fragmented(r)));
                }
            }
            let Some((_, Pending::Fragmented(reassembly))) = self.reliable.get_mut(&key) else {
                return Err(Violation::BadFragment);
            };
            add_piece(reassembly, fragment, d)?;
            if key == self.reliable_ext + 1 && reassembly.is_complete() {
                self.advance_reliable(0, d);
            }
            return Ok(());
        }
        let r = reliable_seq;
        if window_position(self.reliable_seq, r) != WindowPosition::Inside {
            return Ok(());
        }
        let u = fragment.start_sequence_number;
        if r == self.reliable_seq && u <= self.unreliable_seq {
            return Ok(());
        }
        let reliable_key = self.ext(r);
        let at =
            self.unreliable.partition_point(|s| (s.reliable, s.unreliable) < (reliable_key, u));
        if self.unreliable.get(at).is_none_or(|s| (s.reliable, s.unreliable) != (reliable_key, u)) {
            d.open_group()?;
            let reassembly = Reassembly::new(fragment, d.now);
            let pending = Pending::Fragmented(reassembly);
            self.unreliable
                .insert(at, Sequenced { reliable: reliable_key, unreliable: u, pending });
        }
        let Pending::Fragmented(reassembly) = &mut self.unreliable[at].pending else {
            return Err(Violation::BadFragment);
        };
        add_piece(reassembly, fragment, d)?;
        if reassembly.is_complete() {
            self.deliver_unreliable(d);
        }
        Ok(())
    }

    /// A SEND_UNRELIABLE with reliable sequence `r` and unreliable sequence `u`.
    pub(crate) fn receive_unreliable(
        &mut self,
        r: u16,
        u: u16,
        data: &[u8],
        d: &mut Delivery<'_>,
    ) -> Result<(), Violation> {
        if window_position(self.reliable_seq, r) != WindowPosition::Inside {
            return Ok(());
        }
        if r == self.reliable_seq && u <= self.unreliable_seq {
            return Ok(());
        }
        let reliable_key = self.ext(r);
        let at =
            self.unreliable.partition_point(|s| (s.reliable, s.unreliable) < (reliable_key, u));
        if self.unreliable.get(at).is_some_and(|s| (s.reliable, s.unreliable) == (reliable_key, u))
        {
            return Ok(());
        }
        if r == self.reliable_seq {
            // Current: deliver now; older incomplete reassemblies are superseded.
            let payload = d.take_now(data)?;
            self.unreliable_seq = u;
            self.drop_superseded(d);
            d.out.push_back((TransferMode::UnreliableOrdered, payload));
        } else {
            let pending = Pending::Whole(d.copy(data)?);
            self.unreliable
                .insert(at, Sequenced { reliable: reliable_key, unreliable: u, pending });
        }
        Ok(())
    }

    /// Delivers in-order reliable packets from the queue head; `already`
    /// packets were just delivered by the caller.
    fn advance_reliable(&mut self, already: u16, d: &mut Delivery<'_>) {
        if already > 0 {
            self.reliable_seq = self.reliable_seq.wrapping_add(already);
            self.reliable_ext += u64::from(already);
        }
        let mut delivered_any = already > 0;
        while let Some(entry) = self.reliable.first_entry() {
            if *entry.key() != self.reliable_ext + 1 {
                if *entry.key() <= self.reliable_ext {
                    // Inside a delivered fragment span: stale.
                    let (_, pending) = entry.remove();
                    self.discard(pending, d);
                    continue;
                }
                break;
            }
            let complete = match &entry.get().1 {
                Pending::Whole(_) => true,
                Pending::Fragmented(r) => r.is_complete(),
            };
            if !complete {
                break;
            }
            let (span, pending) = entry.remove();
            let packet = pending.into_packet(d);
            d.out.push_back((TransferMode::Reliable, Some(packet)));
            self.reliable_seq = self.reliable_seq.wrapping_add(span as u16);
            self.reliable_ext += u64::from(span);
            delivered_any = true;
        }
        if delivered_any {
            self.unreliable_seq = 0;
            self.deliver_unreliable(d);
        }
    }

    /// Delivers queued unreliable packets that now follow the reliable
    /// sequence, in order, and frees those that fell behind.
    fn deliver_unreliable(&mut self, d: &mut Delivery<'_>) {
        let current = self.reliable_ext;
        let mut i = 0;
        while i < self.unreliable.len() {
            let s = &self.unreliable[i];
            if s.reliable > current {
                break;
            }
            let stale = s.reliable < current || s.unreliable <= self.unreliable_seq;
            let complete = match &s.pending {
                Pending::Whole(_) => true,
                Pending::Fragmented(r) => r.is_complete(),
            };
            if stale {
                let s = self.unreliable.remove(i);
                self.discard(s.pending, d);
            } else if complete {
                let s = self.unreliable.remove(i);
                self.unreliable_seq = s.unreliable;
                let packet = s.pending.into_packet(d);
                d.out.push_back((TransferMode::UnreliableOrdered, Some(packet)));
            } else {
                // An incomplete reassembly does not block later complete ones.
                i += 1;
            }
        }
        self.drop_superseded(d);
    }

    /// Frees incomplete unreliable reassemblies older than what was delivered.
    fn drop_superseded(&mut self, d: &mut Delivery<'_>) {
        let (current, delivered) = (self.reliable_ext, self.unreliable_seq);
        let mut i = 0;
        while i < self.unreliable.len() {
            let s = &self.unreliable[i];
            if s.reliable < current || (s.reliable == current && s.unreliable <= delivered) {
                let s = self.unreliable.remove(i);
                self.discard(s.pending, d);
            } else {
                i += 1;
            }
        }
    }

    fn discard(&mut self, pending: Pending, d: &mut Delivery<'_>) {
        d.unreserve(pending.charge());
        match pending {
            Pending::Whole(p) => d.pool.give(p),
            Pending::Fragmented(r) => {
                *d.groups -= 1;
                let data = r.into_data(d.pool);
                d.pool.give(data);
            }
        }
    }

    /// Drops every incomplete unreliable reassembly: data the sender never
    /// resends, given up to make room. Returns how many were dropped.
    pub(crate) fn shed_unreliable(&mut self, d: &mut Delivery<'_>) -> usize {
        let mut shed = 0;
        let mut i = 0;
        while i < self.unreliable.len() {
            if self.unreliable[i].pending.is_incomplete() {
                let s = self.unreliable.remove(i);
                self.discard(s.pending, d);
                shed += 1;
            } else {
                i += 1;
            }
        }
        shed
    }

    /// When the oldest reliable reassembly still missing pieces started.
    pub(crate) fn oldest_incomplete_reliable(&self) -> Option<u32> {
        self.reliable
            .values()
            .filter_map(|(_, p)| match p {
                Pending::Fragmented(r) if !r.is_complete() => Some(r.started()),
                _ => None,
            })
            .reduce(|a, b| if time_less(b, a) { b } else { a })
    }

    /// Frees everything queued (peer reset); returns the bytes released.
    pub(crate) fn clear(&mut self, pool: &mut BufferPool) -> usize {
        let mut bytes = 0;
        let pending = std::mem::take(&mut self.reliable)
            .into_values()
            .map(|(_, p)| p)
            .chain(std::mem::take(&mut self.unreliable).into_iter().map(|s| s.pending));
        for p in pending {
            bytes += p.charge();
            match p {
                Pending::Whole(b) => pool.give(b),
                Pending::Fragmented(r) => {
                    let data = r.into_data(pool);
                    pool.give(data);
                }
            }
        }
        *self = Self::default();
        bytes
    }
}

/// Adds a piece to `r`: admitted by its length, then charged what it
/// really took (a buffer may come with more room than the piece needs, and
/// pieces pulled into the packet give theirs back).
fn add_piece(
    r: &mut Reassembly,
    fragment: &Fragment<'_>,
    d: &mut Delivery<'_>,
) -> Result<(), Violation> {
    let admitted = fragment.data.len() + ENTRY_COST;
    d.reserve(admitted)?;
    let before = r.held();
    match r.add(fragment, d.pool) {
        Ok(Added::Stored(_)) => {
            let after = r.held() + ENTRY_COST;
            if after > before + admitted {
                d.charge(after - before - admitted);
            } else {
                d.unreserve(before + admitted - after);
            }
            Ok(())
        }
        Ok(Added::Duplicate) => {
            d.unreserve(admitted);
            Ok(())
        }
        Err(_) => {
            d.unreserve(admitted);
            Err(Violation::BadFragment)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Harness {
        pool: BufferPool,
        waiting: usize,
        host_waiting: usize,
        groups: usize,
        max_groups: usize,
        out: VecDeque<(TransferMode, Option<Vec<u8>>)>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                pool: BufferPool::new(64, 1 << 20, 64 * 1024),
                waiting: 0,
                host_waiting: 0,
                groups: 0,
                max_groups: 64,
                out: VecDeque::new(),
            }
        }
        fn d(&mut self) -> Delivery<'_> {
            Delivery {
                pool: &mut self.pool,
                now: 1,
                budget: WaitingBudget {
                    peer_limit: 10_000,
                    host_limit: 1 << 30,
                    fair_share: 0,
                    max_fragment_groups: self.max_groups,
                },
                waiting: &mut self.waiting,
                host_waiting: &mut self.host_waiting,
                groups: &mut self.groups,
                out: &mut self.out,
                lend: false,
            }
        }
        /// What the delivered packets are charged.
        fn delivered_charges(&self) -> usize {
            self.out.iter().map(|(_, p)| p.as_ref().map_or(0, delivered_charge)).sum()
        }
        fn delivered(&mut self) -> Vec<Vec<u8>> {
            self.out.drain(..).map(|(_, p)| p.unwrap_or_default()).collect()
        }
    }

    #[test]
    fn window_positions_match_enet() {
        use WindowPosition::*;
        assert_eq!(window_position(0, 1), Inside);
        assert_eq!(window_position(0, 7 * 4096 - 1), Inside);
        assert_eq!(window_position(0, 7 * 4096), TooFarAhead);
        assert_eq!(window_position(0, 9 * 4096 - 1), TooFarAhead);
        assert_eq!(window_position(0, 9 * 4096), Outside);
        assert_eq!(window_position(100, 99), Outside, "behind");
        assert_eq!(window_position(0xFFF0, 5), Inside, "ahead across the wrap");
    }

    #[test]
    fn reliable_packets_are_delivered_once_in_order() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        for seq in [3u16, 1, 1, 4, 2, 3] {
            c.receive_reliable(seq, &[seq as u8], &mut h.d()).unwrap();
        }
        assert_eq!(h.delivered(), vec![vec![1], vec![2], vec![3], vec![4]]);
        assert_eq!(c.incoming_reliable(), 4);
    }

    #[test]
    fn unreliable_never_goes_backwards_and_waits_for_its_reliable() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        c.receive_unreliable(0, 2, b"u2", &mut h.d()).unwrap();
        c.receive_unreliable(0, 1, b"u1-late", &mut h.d()).unwrap();
        // Follows reliable 1, which has not arrived: waits.
        c.receive_unreliable(1, 1, b"after-r1", &mut h.d()).unwrap();
        assert_eq!(h.out.len(), 1, "u2 only");
        c.receive_reliable(1, b"r1", &mut h.d()).unwrap();
        let charges = h.delivered_charges();
        assert_eq!(h.delivered(), vec![b"u2".to_vec(), b"r1".to_vec(), b"after-r1".to_vec()]);
        assert_eq!(h.waiting, charges, "delivered packets stay charged until handed over");
        assert!(charges >= 3 * ENTRY_COST + 2 + 2 + 8);
    }

    #[test]
    fn fragmented_reliable_packet_completes_in_order() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        let packet: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
        let frag = |n: u32| Fragment {
            start_sequence_number: 1,
            fragment_count: 3,
            fragment_number: n,
            total_length: 250,
            fragment_offset: n * 100,
            data: &packet[(n * 100) as usize..((n + 1) * 100).min(250) as usize],
        };
        c.receive_fragment(3, &frag(2), true, &mut h.d()).unwrap();
        c.receive_reliable(4, b"next", &mut h.d()).unwrap();
        c.receive_fragment(1, &frag(0), true, &mut h.d()).unwrap();
        assert!(h.delivered().is_empty());
        c.receive_fragment(2, &frag(1), true, &mut h.d()).unwrap();
        assert_eq!(h.delivered(), vec![packet.clone(), b"next".to_vec()]);
        assert_eq!(c.incoming_reliable(), 4);
    }

    #[test]
    fn superseded_unreliable_fragments_are_discarded() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        let data = [7u8; 100];
        let frag = |u: u16, n: u32| Fragment {
            start_sequence_number: u,
            fragment_count: 2,
            fragment_number: n,
            total_length: 200,
            fragment_offset: n * 100,
            data: &data,
        };
        c.receive_fragment(0, &frag(1, 0), false, &mut h.d()).unwrap();
        assert!(h.waiting >= 100 + 2 * ENTRY_COST, "piece plus reassembly bookkeeping");
        assert_eq!(h.groups, 1);
        c.receive_unreliable(0, 2, b"newer", &mut h.d()).unwrap();
        let charges = h.delivered_charges();
        assert_eq!(h.delivered(), vec![b"newer".to_vec()]);
        assert_eq!(h.waiting, charges, "the partial set was freed");
        assert_eq!(h.groups, 0);
        c.receive_fragment(0, &frag(1, 1), false, &mut h.d()).unwrap();
        assert!(h.delivered().is_empty(), "its late half is ignored");
    }

    #[test]
    fn tiny_queued_packets_are_charged_their_bookkeeping() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        // Empty unreliable packets waiting for reliable 1: each costs ENTRY_COST.
        let mut queued = 0;
        while c.receive_unreliable(1, queued + 1, &[], &mut h.d()).is_ok() {
            queued += 1;
        }
        assert_eq!(usize::from(queued), 10_000 / ENTRY_COST);
        assert_eq!(h.waiting, usize::from(queued) * ENTRY_COST);
        c.receive_reliable(1, b"r", &mut h.d()).unwrap_err();
        assert!(h.out.is_empty(), "the budget is full: refused");
    }

    #[test]
    fn a_peer_holds_a_bounded_number_of_fragment_groups() {
        let mut h = Harness::new();
        h.max_groups = 3;
        let mut c = IncomingChannel::default();
        let data = [7u8; 1];
        // Lone last pieces of 2-fragment packets: groups that never complete.
        let last = |u: u16| Fragment {
            start_sequence_number: u,
            fragment_count: 2,
            fragment_number: 1,
            total_length: 545,
            fragment_offset: 544,
            data: &data,
        };
        for u in 1..=3 {
            c.receive_fragment(1, &last(u), false, &mut h.d()).unwrap();
        }
        assert_eq!(
            c.receive_fragment(1, &last(4), false, &mut h.d()),
            Err(Violation::FragmentGroups)
        );
        assert!(h.waiting < 3 * (4096 + 2 * ENTRY_COST), "no packet buffers held: {}", h.waiting);
        // They were unreliable: shedding them frees the budget.
        assert_eq!(c.shed_unreliable(&mut h.d()), 3);
        assert_eq!((h.groups, h.waiting), (0, 0));
        c.receive_fragment(1, &last(4), false, &mut h.d()).unwrap();
    }

    #[test]
    fn waiting_data_is_bounded() {
        let mut h = Harness::new();
        let mut c = IncomingChannel::default();
        let big = vec![0u8; 6000];
        c.receive_reliable(2, &big, &mut h.d()).unwrap();
        assert_eq!(c.receive_reliable(3, &big, &mut h.d()), Err(Violation::WaitingData));
    }
}
