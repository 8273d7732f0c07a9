//! Reassembly of fragmented packets, strict and bounded.
//!
//! The codec already guarantees that each fragment describes one piece of a
//! packet cut into equal pieces. Here every fragment of a packet must agree on
//! count, total and piece size; pieces are appended to one buffer as soon as
//! they extend the received prefix, and pieces that arrive ahead of it wait in
//! a side map. The packet buffer therefore never holds more than the bytes
//! already received (plus the `Vec` growth slack, itself at most that much),
//! whatever the first fragment claims the total to be, and a packet completes
//! only when every byte arrived. The buffer is only taken when the first
//! piece of the prefix arrives, so a reassembly that never gets one (the
//! lone last pieces of a fragment bomb) holds no packet buffer at all, and
//! [`Reassembly::held`] says what the reassembly really occupies.

use std::collections::BTreeMap;

use crate::pool::BufferPool;
use crate::wire::Fragment;

/// Why a fragment does not belong to the reassembly it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReassemblyError {
    /// Count, total length or piece size differ from the earlier fragments.
    Mismatch,
}

/// Outcome of adding a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// The fragment was new; this many bytes were stored.
    Stored(usize),
    /// The fragment was already received; nothing changed.
    Duplicate,
}

/// A packet being reassembled.
#[derive(Debug)]
pub(crate) struct Reassembly {
    fragment_count: u32,
    total_length: u32,
    fragment_size: u32,
    /// The contiguous prefix received so far: fragments `0..next`.
    data: Vec<u8>,
    next: u32,
    /// Fragments beyond the prefix, by number.
    ahead: BTreeMap<u32, Vec<u8>>,
    stored: usize,
    pieces: usize,
    /// Protocol time the reassembly started.
    started: u32,
}

impl Reassembly {
    /// Starts a reassembly shaped by `first` at protocol time `now`.
    pub(crate) fn new(first: &Fragment<'_>, now: u32) -> Self {
        Self {
            fragment_count: first.fragment_count,
            total_length: first.total_length,
            fragment_size: first.fragment_size(),
            data: Vec::new(),
            next: 0,
            ahead: BTreeMap::new(),
            stored: 0,
            pieces: 0,
            started: now,
        }
    }

    /// Bytes of memory the reassembly's buffers occupy (their capacities).
    pub(crate) fn held(&self) -> usize {
        self.data.capacity() + self.ahead.values().map(Vec::capacity).sum::<usize>()
    }

    /// Protocol time the reassembly started.
    pub(crate) fn started(&self) -> u32 {
        self.started
    }

    /// Payload bytes received for this packet.
    #[cfg(test)]
    pub(crate) fn stored(&self) -> usize {
        self.stored
    }

    /// Fragments held for this packet.
    pub(crate) fn pieces(&self) -> usize {
        self.pieces
    }

    /// True once every fragment arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.next == self.fragment_count
    }

    /// Adds one fragment; `pool` provides the packet buffer and buffers for
    /// out-of-order pieces, and takes the latter back.
    pub(crate) fn add(
        &mut self,
        fragment: &Fragment<'_>,
        pool: &mut BufferPool,
    ) -> Result<Added, ReassemblyError> {
        if fragment.fragment_count != self.fragment_count
            || fragment.total_length != self.total_length
            || fragment.fragment_size() != self.fragment_size
        {
            return Err(ReassemblyError::Mismatch);
        }
        let number = fragment.fragment_number;
        if number < self.next {
            return Ok(Added::Duplicate);
        }
        let len = fragment.data.len();
        if number == self.next {
            if self.data.capacity() == 0 {
                self.data = pool.take_for(self.total_length as usize);
            }
            self.append(fragment.data);
            // Pull in waiting pieces that now continue the prefix.
            while let Some(piece) = self.ahead.remove(&self.next) {
                self.append(&piece);
                pool.give(piece);
            }
        } else {
            if self.ahead.contains_key(&number) {
                return Ok(Added::Duplicate);
            }
            self.ahead.insert(number, pool.copy_of(fragment.data));
        }
        self.stored += len;
        self.pieces += 1;
        Ok(Added::Stored(len))
    }

    fn append(&mut self, piece: &[u8]) {
        // Grow by what arrived: capacity stays within twice the prefix, never
        // past the declared total.
        let wanted = self.data.len() + piece.len();
        if wanted > self.data.capacity() {
            let target = (wanted * 2).min(self.total_length as usize).max(wanted);
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend_from_slice(piece);
        self.next += 1;
    }

    /// The packet bytes (the whole packet once complete); side buffers go back to `pool`.
    pub(crate) fn into_data(self, pool: &mut BufferPool) -> Vec<u8> {
        for piece in self.ahead.into_values() {
            pool.give(piece);
        }
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(number: u32, count: u32, size: u32, total: u32, data: &[u8]) -> Fragment<'_> {
        Fragment {
            start_sequence_number: 1,
            fragment_count: count,
            fragment_number: number,
            total_length: total,
            fragment_offset: number * size,
            data,
        }
    }

    fn split(packet: &[u8], size: usize) -> Vec<Fragment<'_>> {
        let count = packet.len().div_ceil(size) as u32;
        packet
            .chunks(size)
            .enumerate()
            .map(|(i, c)| piece(i as u32, count, size as u32, packet.len() as u32, c))
            .collect()
    }

    #[test]
    fn reassembles_in_any_order_and_ignores_duplicates() {
        let mut pool = BufferPool::new(8, 1 << 20, 64 * 1024);
        let packet: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let frags = split(&packet, 1000);
        let order = [3, 0, 9, 9, 1, 2, 5, 4, 4, 8, 7, 6, 0];
        let mut r = Reassembly::new(&frags[3], 0);
        for (step, &i) in order.iter().enumerate() {
            let added = r.add(&frags[i], &mut pool).unwrap();
            let first_time = !order[..step].contains(&i);
            assert_eq!(added == Added::Duplicate, !first_time, "step {step}");
        }
        assert!(r.is_complete());
        assert_eq!(r.stored(), packet.len());
        assert_eq!(r.into_data(&mut pool), packet);
    }

    #[test]
    fn incomplete_until_every_piece_arrived() {
        let mut pool = BufferPool::new(8, 1 << 20, 64 * 1024);
        let packet = vec![1u8; 2500];
        let frags = split(&packet, 1000);
        let mut r = Reassembly::new(&frags[0], 0);
        r.add(&frags[0], &mut pool).unwrap();
        r.add(&frags[2], &mut pool).unwrap();
        assert!(!r.is_complete());
    }

    #[test]
    fn pieces_of_another_shape_are_rejected() {
        let mut pool = BufferPool::new(8, 1 << 20, 64 * 1024);
        let packet = vec![1u8; 2500];
        let frags = split(&packet, 1000);
        let mut r = Reassembly::new(&frags[0], 0);
        let other_total = piece(1, 3, 1000, 2600, &packet[..1000]);
        assert_eq!(r.add(&other_total, &mut pool), Err(ReassemblyError::Mismatch));
        let other_size = piece(1, 3, 900, 2500, &packet[..900]);
        assert_eq!(r.add(&other_size, &mut pool), Err(ReassemblyError::Mismatch));
    }

    #[test]
    fn a_lone_late_fragment_allocates_only_what_arrived() {
        let mut pool = BufferPool::new(8, 1 << 20, 64 * 1024);
        // The last of 24 000 fragments claims a 32 MB packet: only its bytes are held.
        let data = vec![0u8; 1000];
        let last = piece(23_999, 24_000, 1000, 23_999_000 + 1000, &data);
        let mut r = Reassembly::new(&last, 0);
        r.add(&last, &mut pool).unwrap();
        assert_eq!(r.stored(), 1000);
        assert_eq!(r.data.capacity(), 0);
        assert!(r.held() >= 1000 && r.held() <= 4096, "the piece's own buffer: {}", r.held());
        // In-order growth stays within twice what arrived.
        let first = piece(0, 24_000, 1000, 24_000_000, &data);
        r.add(&first, &mut pool).unwrap();
        assert!(r.data.capacity() <= 2000);
    }
}
