//! Incoming datagrams: the reusable [`RecvBatch`] one receive call fills.

use std::net::SocketAddr;

use super::{MAX_DATAGRAM_SIZE, SocketStats};

/// Most datagrams one [`RecvBatch`] holds (and one `recvmmsg` call asks for).
pub const MAX_RECV_BATCH: usize = 64;

/// Bytes reserved per datagram: one more than the largest accepted datagram,
/// so a longer one shows up as a read of this full length and can be dropped
/// instead of being delivered truncated.
pub(super) const SLOT_LEN: usize = MAX_DATAGRAM_SIZE + 1;

/// Datagrams read by one [`HostSocket::recv_batch`](super::HostSocket::recv_batch) call.
///
/// The buffer holds one slot of [`MAX_DATAGRAM_SIZE`] + 1 bytes per
/// datagram. It starts with one slot and doubles, up to the capacity, each
/// time a receive fills every slot; then it is reused by every call. A host
/// that never sees bursts (a client, say) neither zeroes nor hands the
/// kernel a full batch of slots per receive (making a client host is
/// mostly zeroing its buffers).
///
/// ```
/// use volley::socket::RecvBatch;
///
/// let batch = RecvBatch::new(32);
/// assert_eq!(batch.capacity(), 32);
/// assert!(batch.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct RecvBatch {
    /// The slots in use so far (a multiple of [`SLOT_LEN`] bytes).
    buffer: Vec<u8>,
    /// Most slots the buffer may grow to.
    capacity: usize,
    datagrams: Vec<ReceivedDatagram>,
    /// The last receive used every slot it had.
    filled: bool,
}

/// Slots a new [`RecvBatch`] starts with.
const FIRST_SLOTS: usize = 1;

/// Where one received datagram sits in the buffer and who sent it.
#[derive(Debug, Clone, Copy)]
struct ReceivedDatagram {
    source: SocketAddr,
    slot: usize,
    len: usize,
}

impl Default for RecvBatch {
    /// A batch of 32 datagrams.
    fn default() -> Self {
        Self::new(32)
    }
}

impl RecvBatch {
    /// A batch for up to `capacity` datagrams, clamped to `1..=`[`MAX_RECV_BATCH`].
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_RECV_BATCH);
        Self {
            buffer: vec![0; capacity.min(FIRST_SLOTS) * SLOT_LEN],
            capacity,
            datagrams: Vec::with_capacity(capacity),
            filled: false,
        }
    }

    /// Most datagrams one receive call stores (once the buffer has grown).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of datagrams the last receive call stored.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether the last receive call used every slot it had, so more
    /// datagrams may be waiting. A receive that used fewer read until the
    /// socket had nothing left: with an edge-triggered readiness
    /// registration, the next readable event says when more arrive, and
    /// reading again before it would only find the socket empty.
    ///
    /// ```
    /// use volley::socket::RecvBatch;
    ///
    /// assert!(!RecvBatch::new(8).filled(), "nothing read yet");
    /// ```
    pub fn filled(&self) -> bool {
        self.filled
    }

    /// Whether the last receive call stored nothing.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The `index`-th datagram: its source and payload.
    pub fn get(&self, index: usize) -> Option<(SocketAddr, &[u8])> {
        self.datagrams.get(index).map(|d| self.view(d))
    }

    /// Every stored datagram, in arrival order: its source and payload.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (SocketAddr, &[u8])> + '_ {
        self.datagrams.iter().map(|d| self.view(d))
    }

    fn view(&self, datagram: &ReceivedDatagram) -> (SocketAddr, &[u8]) {
        let start = datagram.slot * SLOT_LEN;
        (datagram.source, &self.buffer[start..start + datagram.len])
    }

    /// Empties the batch and lets `read` fill it: `read` gets the buffer
    /// (the slots grown so far, [`SLOT_LEN`] bytes each) and a callback to
    /// report each datagram it wrote as `(slot, len, source)`, and returns
    /// what the system call returned. When every slot was used, the buffer
    /// doubles (up to the capacity) for the next call.
    ///
    /// Datagrams longer than [`MAX_DATAGRAM_SIZE`] are dropped and counted.
    pub(super) fn fill<T>(
        &mut self,
        stats: &mut SocketStats,
        read: impl FnOnce(&mut [u8], &mut dyn FnMut(usize, usize, SocketAddr)) -> T,
    ) -> T {
        let datagrams = &mut self.datagrams;
        datagrams.clear();
        let mut slots_used = 0;
        let result = read(&mut self.buffer, &mut |slot, len, source| {
            slots_used = slots_used.max(slot + 1);
            if len > MAX_DATAGRAM_SIZE {
                stats.oversize_dropped += 1;
                return;
            }
            stats.datagrams_received += 1;
            stats.bytes_received += len as u64;
            datagrams.push(ReceivedDatagram { source: canonical(source), slot, len });
        });
        let slots = self.buffer.len() / SLOT_LEN;
        self.filled = slots_used == slots;
        if self.filled && slots < self.capacity {
            self.buffer.resize((slots * 2).min(self.capacity) * SLOT_LEN, 0);
        }
        result
    }
}

/// An IPv4 peer seen through a dual-stack socket arrives as `::ffff:a.b.c.d`;
/// report it as the plain IPv4 address so a peer has one address whatever the
/// socket's family.
fn canonical(source: SocketAddr) -> SocketAddr {
    match source {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => source,
        },
        SocketAddr::V4(_) => source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(RecvBatch::new(0).capacity(), 1);
        assert_eq!(RecvBatch::new(1000).capacity(), MAX_RECV_BATCH);
    }

    #[test]
    fn the_buffer_grows_when_a_receive_fills_it() {
        let mut batch = RecvBatch::new(10);
        let mut stats = SocketStats::default();
        let source: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let mut offered = Vec::new();
        for _ in 0..6 {
            batch.fill(&mut stats, |slots, on_datagram| {
                offered.push(slots.len() / SLOT_LEN);
                for slot in 0..slots.len() / SLOT_LEN {
                    on_datagram(slot, 1, source);
                }
            });
        }
        assert_eq!(offered, [1, 2, 4, 8, 10, 10]);
        // A receive that does not fill the slots leaves the size alone.
        let mut small = RecvBatch::new(10);
        small.fill(&mut stats, |_, _| {});
        small.fill(&mut stats, |slots, _| assert_eq!(slots.len(), FIRST_SLOTS * SLOT_LEN));
    }

    #[test]
    fn fill_keeps_good_datagrams_and_counts_oversize() {
        let mut batch = RecvBatch::new(4);
        let mut stats = SocketStats::default();
        let source: SocketAddr = "[::ffff:127.0.0.1]:9000".parse().unwrap();
        // Two slots: the first receive fills the one slot a batch starts with.
        batch.fill(&mut stats, |_, on_datagram| on_datagram(0, 0, source));
        let stats_before = stats;
        batch.fill(&mut stats, |slots, on_datagram| {
            slots[SLOT_LEN..SLOT_LEN + 3].copy_from_slice(b"abc");
            on_datagram(0, SLOT_LEN, source);
            on_datagram(1, 3, source);
        });
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.get(0), Some(("127.0.0.1:9000".parse().unwrap(), &b"abc"[..])));
        assert_eq!(stats.oversize_dropped, 1);
        assert_eq!(
            (stats.datagrams_received, stats.bytes_received),
            (stats_before.datagrams_received + 1, 3)
        );

        batch.fill(&mut stats, |_, _| {});
        assert!(batch.is_empty());
    }

    #[test]
    fn filled_says_whether_every_slot_was_used() {
        let mut batch = RecvBatch::new(8);
        let mut stats = SocketStats::default();
        let source: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        batch.fill(&mut stats, |_, on_datagram| on_datagram(0, 1, source));
        assert!(batch.filled(), "1 of 1: more may wait");
        batch.fill(&mut stats, |_, on_datagram| on_datagram(0, 1, source));
        assert!(!batch.filled(), "1 of 2 slots: the socket was read empty");
        batch.fill(&mut stats, |_, on_datagram| {
            (0..2).for_each(|slot| on_datagram(slot, 1, source))
        });
        assert!(batch.filled(), "2 of 2: more may wait");
        batch.fill(&mut stats, |_, on_datagram| {
            (0..4).for_each(|slot| on_datagram(slot, 1, source))
        });
        // The buffer doubled; an oversize datagram in the last slot still fills it.
        batch.fill(&mut stats, |_, on_datagram| {
            (0..7).for_each(|slot| on_datagram(slot, 1, source));
            on_datagram(7, SLOT_LEN, source);
        });
        assert!(batch.filled() && batch.len() == 7);
        batch.fill(&mut stats, |_, _| {});
        assert!(!batch.filled());
    }
}
