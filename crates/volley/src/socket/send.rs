//! Outgoing datagrams: the reusable [`SendBatch`] and the loop that hands it to the kernel.
//!
//! The loop is written against a `transmit` function so the same bookkeeping
//! (partial sends, would-block, refused datagrams, GSO fallback) serves the
//! Linux `sendmmsg` path, the portable one-by-one path and the unit tests.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::{MAX_DATAGRAM_SIZE, SocketStats};

/// Most messages handed to the kernel in one `sendmmsg` call.
pub(super) const MAX_TRANSMISSIONS: usize = 64;

/// Most datagrams one GSO message may carry (the kernel's `UDP_MAX_SEGMENTS`
/// is 64 before Linux 6.9, 128 after).
const MAX_GSO_SEGMENTS: usize = 64;

/// Most payload bytes one GSO message may carry: the largest UDP payload of an
/// IPv4 packet, which the kernel checks before segmenting.
const MAX_GSO_BYTES: usize = 65_507;

/// Datagrams the engine has produced and the socket has not yet sent.
///
/// Payloads are copied into one contiguous buffer that is kept between calls,
/// so once it has grown to the working size, queueing a datagram allocates
/// nothing. [`HostSocket::send_batch`](super::HostSocket::send_batch) removes
/// what the kernel accepted and keeps the rest, in order, for the next
/// writable event.
///
/// ```
/// use volley::socket::SendBatch;
///
/// let mut batch = SendBatch::new(64);
/// batch.push("127.0.0.1:7777".parse().unwrap(), b"hello")?;
/// assert_eq!(batch.len(), 1);
/// # Ok::<(), volley::socket::SendBatchError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SendBatch {
    payloads: Vec<u8>,
    datagrams: Vec<PendingDatagram>,
    capacity: usize,
    /// Scratch list of kernel messages for one `transmit` call, kept to avoid reallocating.
    plan: Vec<Transmission>,
}

/// Why [`SendBatch::push`] refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendBatchError {
    /// The batch already holds `capacity` datagrams; send it first.
    Full {
        /// The batch's capacity in datagrams.
        capacity: usize,
    },
    /// The payload is longer than [`MAX_DATAGRAM_SIZE`], which no ENet peer accepts.
    TooLarge {
        /// The refused payload's length in bytes.
        len: usize,
    },
}

impl fmt::Display for SendBatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity } => {
                write!(f, "send batch is full ({capacity} datagrams)")
            }
            Self::TooLarge { len } => {
                write!(f, "datagram of {len} bytes exceeds the {MAX_DATAGRAM_SIZE}-byte maximum")
            }
        }
    }
}

impl std::error::Error for SendBatchError {}

/// One queued datagram: `payloads[start..start + len]` goes to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingDatagram {
    destination: SocketAddr,
    start: usize,
    len: usize,
}

/// One message for the kernel: `payloads[start..start + len]` to `destination`.
///
/// When `datagrams > 1` it is a GSO run: the kernel cuts it into datagrams of
/// `segment_size` bytes, the last one possibly shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transmission {
    pub(super) destination: SocketAddr,
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) segment_size: usize,
    pub(super) datagrams: usize,
}

/// Which datagram sizes the socket may send as GSO runs.
///
/// Starts at the largest datagram when the kernel supports `UDP_SEGMENT`, and
/// only ever shrinks when the kernel refuses a run it then accepts datagram by
/// datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GsoSupport {
    max_segment_size: usize,
}

impl GsoSupport {
    /// Never build GSO runs.
    pub(super) const OFF: Self = Self { max_segment_size: 0 };

    /// Runs of any datagram size up to [`MAX_DATAGRAM_SIZE`].
    #[cfg(any(target_os = "linux", test))]
    pub(super) const FULL: Self = Self { max_segment_size: MAX_DATAGRAM_SIZE };

    pub(super) fn is_enabled(self) -> bool {
        self.max_segment_size > 0
    }

    fn allows(self, segment_size: usize) -> bool {
        segment_size > 0 && segment_size <= self.max_segment_size
    }

    /// Learns from a run of `segment_size` datagrams that failed as one GSO
    /// message but went through one by one.
    ///
    /// `EINVAL` means the segment is too large for the route's MTU, so only
    /// smaller runs stay allowed; anything else (typically `EIO`: the device
    /// cannot segment) turns GSO off for the socket.
    fn refused(&mut self, error: io::ErrorKind, segment_size: usize) {
        self.max_segment_size = if error == io::ErrorKind::InvalidInput {
            self.max_segment_size.min(segment_size.saturating_sub(1))
        } else {
            0
        };
    }
}

/// A GSO run the kernel refused, now being retried one datagram at a time.
#[derive(Debug, Clone, Copy)]
struct RefusedRun {
    /// Index one past the run's last datagram.
    end: usize,
    segment_size: usize,
    error: io::ErrorKind,
    /// A datagram of the run also failed on its own: the fault was the
    /// datagram (say, its destination), not GSO.
    datagram_failed: bool,
}

impl Default for SendBatch {
    /// A batch of 256 datagrams.
    fn default() -> Self {
        Self::new(256)
    }
}

impl SendBatch {
    /// An empty batch that holds at most `capacity` datagrams.
    pub fn new(capacity: usize) -> Self {
        Self {
            payloads: Vec::new(),
            datagrams: Vec::with_capacity(capacity),
            capacity,
            plan: Vec::with_capacity(MAX_TRANSMISSIONS),
        }
    }

    /// Queues a copy of `payload` for `destination`.
    ///
    /// # Errors
    ///
    /// [`SendBatchError::Full`] when the batch holds `capacity` datagrams,
    /// [`SendBatchError::TooLarge`] when `payload` exceeds [`MAX_DATAGRAM_SIZE`].
    pub fn push(&mut self, destination: SocketAddr, payload: &[u8]) -> Result<(), SendBatchError> {
        if payload.len() > MAX_DATAGRAM_SIZE {
            return Err(SendBatchError::TooLarge { len: payload.len() });
        }
        if self.datagrams.len() >= self.capacity {
            return Err(SendBatchError::Full { capacity: self.capacity });
        }
        self.datagrams.push(PendingDatagram {
            destination,
            start: self.payloads.len(),
            len: payload.len(),
        });
        self.payloads.extend_from_slice(payload);
        Ok(())
    }

    /// Number of datagrams waiting to be sent.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether every queued datagram has been sent.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Most datagrams the batch holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Hands the queued datagrams to `transmit` until all are gone or the
    /// socket would block; returns how many the kernel accepted.
    ///
    /// `transmit` sends the given messages in order and returns how many it
    /// sent (at least one), or the error of the first one. A datagram the
    /// kernel refuses is dropped and counted in `stats.send_errors`: UDP is
    /// best effort and one unreachable peer must not hold up the others.
    pub(super) fn flush(
        &mut self,
        gso: &mut GsoSupport,
        stats: &mut SocketStats,
        mut transmit: impl FnMut(&[Transmission], &[u8]) -> io::Result<usize>,
    ) -> usize {
        let mut next = 0;
        let mut sent = 0;
        let mut refused: Option<RefusedRun> = None;
        while next < self.datagrams.len() {
            let unsegmented_until = refused.map_or(next, |run| run.end);
            self.plan_transmissions(next, *gso, unsegmented_until);
            match transmit(&self.plan, &self.payloads) {
                // A transmitter that accepts nothing without an error would loop forever.
                Ok(0) => break,
                Ok(accepted) => {
                    if let Some(run) = refused.take_if(|run| !run.datagram_failed) {
                        gso.refused(run.error, run.segment_size);
                    }
                    for transmission in self.plan.iter().take(accepted) {
                        stats.datagrams_sent += transmission.datagrams as u64;
                        stats.bytes_sent += transmission.len as u64;
                        next += transmission.datagrams;
                        sent += transmission.datagrams;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    let Some(&head) = self.plan.first() else {
                        break;
                    };
                    if head.datagrams > 1 {
                        refused = Some(RefusedRun {
                            end: next + head.datagrams,
                            segment_size: head.segment_size,
                            error: error.kind(),
                            datagram_failed: false,
                        });
                    } else {
                        if let Some(run) = refused.as_mut() {
                            run.datagram_failed = true;
                        }
                        stats.send_errors += 1;
                        stats.last_send_error = Some(error.kind());
                        next += 1;
                    }
                }
            }
            if refused.is_some_and(|run| next >= run.end) {
                refused = None;
            }
        }
        self.remove_first(next);
        sent
    }

    /// Fills `self.plan` with messages for the datagrams from index `from`,
    /// grouping runs for GSO where `gso` allows and the index is at least
    /// `unsegmented_until`.
    fn plan_transmissions(&mut self, from: usize, gso: GsoSupport, unsegmented_until: usize) {
        self.plan.clear();
        let mut index = from;
        while let Some(&first) = self.datagrams.get(index) {
            if self.plan.len() == MAX_TRANSMISSIONS {
                break;
            }
            let mut datagrams = 1;
            let mut len = first.len;
            if index >= unsegmented_until && gso.allows(first.len) {
                // The kernel cuts a run into equal segments, so every datagram
                // but the last must have the first one's size.
                for candidate in &self.datagrams[index + 1..] {
                    if datagrams == MAX_GSO_SEGMENTS
                        || candidate.destination != first.destination
                        || candidate.len == 0
                        || candidate.len > first.len
                        || len + candidate.len > MAX_GSO_BYTES
                    {
                        break;
                    }
                    datagrams += 1;
                    len += candidate.len;
                    if candidate.len < first.len {
                        break;
                    }
                }
            }
            self.plan.push(Transmission {
                destination: first.destination,
                start: first.start,
                len,
                segment_size: first.len,
                datagrams,
            });
            index += datagrams;
        }
    }

    /// Forgets the first `count` datagrams, moving the rest to the front.
    fn remove_first(&mut self, count: usize) {
        match self.datagrams.get(count) {
            None => {
                self.datagrams.clear();
                self.payloads.clear();
            }
            Some(&PendingDatagram { start: offset, .. }) if count > 0 => {
                self.datagrams.drain(..count);
                self.payloads.drain(..offset);
                for datagram in &mut self.datagrams {
                    datagram.start -= offset;
                }
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// (destination, payload) of every datagram still queued.
    fn queued(batch: &SendBatch) -> Vec<(SocketAddr, Vec<u8>)> {
        batch
            .datagrams
            .iter()
            .map(|d| {
                let payload = batch.payloads[d.start..d.start + d.len].to_vec();
                (d.destination, payload)
            })
            .collect()
    }

    /// Splits transmissions back into datagrams, as the kernel would.
    fn split(transmissions: &[Transmission], payloads: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        for t in transmissions {
            for chunk in payloads[t.start..t.start + t.len].chunks(t.segment_size.max(1)) {
                out.push((t.destination, chunk.to_vec()));
            }
            if t.len == 0 {
                out.push((t.destination, Vec::new()));
            }
        }
        out
    }

    fn batch_of(datagrams: &[(u16, usize)]) -> SendBatch {
        let mut batch = SendBatch::new(1024);
        for (i, &(port, len)) in datagrams.iter().enumerate() {
            batch.push(addr(port), &vec![i as u8; len]).unwrap();
        }
        batch
    }

    fn shape(batch: &SendBatch) -> Vec<(u16, usize, usize)> {
        batch.plan.iter().map(|t| (t.destination.port(), t.segment_size, t.datagrams)).collect()
    }

    #[test]
    fn push_refuses_oversize_and_overflow() {
        let mut batch = SendBatch::new(2);
        assert_eq!(
            batch.push(addr(1), &[0; MAX_DATAGRAM_SIZE + 1]),
            Err(SendBatchError::TooLarge { len: MAX_DATAGRAM_SIZE + 1 })
        );
        batch.push(addr(1), &[0; MAX_DATAGRAM_SIZE]).unwrap();
        batch.push(addr(1), &[]).unwrap();
        assert_eq!(batch.push(addr(1), b"x"), Err(SendBatchError::Full { capacity: 2 }));
        assert_eq!(batch.len(), 2);
    }

    #[test]
    fn runs_group_equal_sizes_to_one_destination() {
        let mut batch = batch_of(&[
            (1, 100),
            (1, 100),
            (1, 60), // a shorter datagram ends the run
            (1, 100),
            (2, 100), // another destination starts a new message
            (2, 200), // a longer one cannot join
            (2, 0),
            (2, 0), // an empty datagram never joins a run
        ]);
        batch.plan_transmissions(0, GsoSupport::FULL, 0);
        assert_eq!(
            shape(&batch),
            vec![(1, 100, 3), (1, 100, 1), (2, 100, 1), (2, 200, 1), (2, 0, 1), (2, 0, 1)]
        );
        assert_eq!(split(&batch.plan, &batch.payloads), queued(&batch));

        batch.plan_transmissions(0, GsoSupport::OFF, 0);
        assert!(batch.plan.iter().all(|t| t.datagrams == 1));
        batch.plan_transmissions(0, GsoSupport::FULL, 2);
        assert_eq!(shape(&batch)[..3], [(1, 100, 1), (1, 100, 1), (1, 60, 1)]);
    }

    #[test]
    fn runs_respect_segment_count_and_byte_limits() {
        let mut batch = batch_of(&[(1, 10); 150]);
        batch.plan_transmissions(0, GsoSupport::FULL, 0);
        assert_eq!(shape(&batch), vec![(1, 10, 64), (1, 10, 64), (1, 10, 22)]);

        let mut batch = batch_of(&[(1, 4096); 20]);
        batch.plan_transmissions(0, GsoSupport::FULL, 0);
        assert_eq!(shape(&batch), vec![(1, 4096, 15), (1, 4096, 5)]);

        let mut batch = batch_of(&[(1, 10); 200]);
        batch.plan_transmissions(0, GsoSupport::OFF, 0);
        assert_eq!(batch.plan.len(), MAX_TRANSMISSIONS);
    }

    #[test]
    fn everything_accepted_empties_the_batch() {
        let mut batch = batch_of(&[(1, 5), (2, 7), (1, 3)]);
        let mut gso = GsoSupport::OFF;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let sent = batch.flush(&mut gso, &mut stats, |plan, payloads| {
            wire.extend(split(plan, payloads));
            Ok(plan.len())
        });
        assert_eq!(sent, 3);
        assert!(batch.is_empty());
        assert_eq!(wire.len(), 3);
        assert_eq!((stats.datagrams_sent, stats.bytes_sent), (3, 15));
    }

    #[test]
    fn would_block_keeps_the_remainder_for_later() {
        let mut batch = batch_of(&[(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]);
        let expected = queued(&batch);
        let mut gso = GsoSupport::OFF;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let mut calls = 0;
        let sent = batch.flush(&mut gso, &mut stats, |plan, payloads| {
            calls += 1;
            match calls {
                // The kernel takes two, then the buffer is full.
                1 => {
                    wire.extend(split(&plan[..2], payloads));
                    Ok(2)
                }
                _ => Err(io::ErrorKind::WouldBlock.into()),
            }
        });
        assert_eq!(sent, 2);
        assert_eq!(queued(&batch), expected[2..]);

        // Room again: the rest goes out, in order, without duplicates.
        batch.push(addr(6), b"later").unwrap();
        let sent = batch.flush(&mut gso, &mut stats, |plan, payloads| {
            wire.extend(split(plan, payloads));
            Ok(plan.len())
        });
        assert_eq!(sent, 4);
        assert!(batch.is_empty());
        let mut all = expected;
        all.push((addr(6), b"later".to_vec()));
        assert_eq!(wire, all);
        assert_eq!(stats.datagrams_sent, 6);
        assert_eq!(stats.send_errors, 0);
    }

    #[test]
    fn refused_datagram_is_dropped_and_counted() {
        let mut batch = batch_of(&[(1, 10), (0, 10), (3, 10)]);
        let mut gso = GsoSupport::OFF;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let sent = batch.flush(&mut gso, &mut stats, refusing_port_zero(&mut wire));
        assert_eq!(sent, 2);
        assert!(batch.is_empty());
        assert_eq!(wire.iter().map(|(a, _)| a.port()).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(stats.send_errors, 1);
        assert_eq!(stats.last_send_error, Some(io::ErrorKind::InvalidInput));
    }

    /// A transmitter whose kernel refuses destination port 0, as sendmmsg
    /// does: it stops before the failing message, and fails when it is first.
    fn refusing_port_zero(
        wire: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) -> impl FnMut(&[Transmission], &[u8]) -> io::Result<usize> + '_ {
        move |plan, payloads| {
            let good = plan.iter().take_while(|t| t.destination.port() != 0).count();
            if good == 0 {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            wire.extend(split(&plan[..good], payloads));
            Ok(good)
        }
    }

    /// A transmitter whose kernel refuses every GSO message with `error`.
    fn without_gso(
        error: io::ErrorKind,
        wire: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) -> impl FnMut(&[Transmission], &[u8]) -> io::Result<usize> + '_ {
        move |plan, payloads| {
            let singles = plan.iter().take_while(|t| t.datagrams == 1).count();
            if singles == 0 {
                return Err(error.into());
            }
            wire.extend(split(&plan[..singles], payloads));
            Ok(singles)
        }
    }

    #[test]
    fn gso_refused_with_eio_falls_back_and_turns_off() {
        let mut batch = batch_of(&[(1, 100), (1, 100), (1, 100), (2, 50)]);
        let expected = queued(&batch);
        let mut gso = GsoSupport::FULL;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let sent = batch.flush(&mut gso, &mut stats, without_gso(io::ErrorKind::Other, &mut wire));
        assert_eq!(sent, 4);
        assert_eq!(wire, expected);
        assert!(!gso.is_enabled());
        assert_eq!(stats.send_errors, 0);
    }

    #[test]
    fn gso_refused_with_einval_only_lowers_the_segment_limit() {
        let mut batch = batch_of(&[(1, 1500), (1, 1500), (1, 200), (1, 200)]);
        let expected = queued(&batch);
        let mut gso = GsoSupport::FULL;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let sent = batch.flush(&mut gso, &mut stats, |plan, payloads| {
            // This route takes GSO segments of at most 1000 bytes.
            let good =
                plan.iter().take_while(|t| t.datagrams == 1 || t.segment_size <= 1000).count();
            if good == 0 {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            wire.extend(split(&plan[..good], payloads));
            Ok(good)
        });
        assert_eq!(sent, 4);
        assert_eq!(wire, expected);
        assert_eq!(gso.max_segment_size, 1499);
        assert!(gso.allows(200));
    }

    #[test]
    fn gso_run_to_a_bad_destination_keeps_gso_on() {
        let mut batch = batch_of(&[(0, 100), (0, 100), (0, 100), (1, 100), (1, 100)]);
        let mut gso = GsoSupport::FULL;
        let mut stats = SocketStats::default();
        let mut wire = Vec::new();
        let sent = batch.flush(&mut gso, &mut stats, refusing_port_zero(&mut wire));
        assert_eq!(sent, 2);
        assert_eq!(stats.send_errors, 3);
        assert_eq!(gso, GsoSupport::FULL);
        assert_eq!(wire.len(), 2);
        assert!(batch.is_empty());
    }
}
