//! The peers' deadlines in one min-heap: the next deadline and the peers
//! due at a given time cost `O(log n)` to find, never a scan of every slot.
//!
//! A peer has one deadline at a time, the earliest of its timers (resend,
//! probe, dead peer, keep-alive ping, accept deadline); the endpoint works
//! it out and calls [`TimerQueue::schedule`] after anything that may have
//! changed it. Deadlines mostly move *later* (an acknowledgement, a ping
//! answered), and a heap cannot cheaply move an entry, so the queue is
//! lazy:
//!
//! - a deadline earlier than the one the peer has queued is pushed, and the
//!   older entry goes stale;
//! - a later one is not pushed at all: the queued entry fires early, the
//!   endpoint finds nothing due, and schedules the real deadline then (at
//!   most one early firing per deadline, where a scan visited every peer on
//!   every call);
//! - an entry is valid only while it is the one its peer has queued; stale
//!   entries are dropped when they reach the top, so [`TimerQueue::next`]
//!   is always a real deadline, and the heap is rebuilt without them when
//!   they outnumber the peers.
//!
//! Times are protocol milliseconds counted without wrapping (`u64`), so the
//! heap's order is total.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::peer::{Peer, PeerState};
use crate::time::time_less;

/// Nothing queued for a peer.
const NONE: u64 = u64::MAX;

/// Stale entries tolerated beyond one per peer before the heap is rebuilt.
const SLACK: usize = 64;

/// Deadlines of peer slots `0..peers`, earliest first.
#[derive(Debug)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(u64, u16)>>,
    /// Per slot: the deadline of its valid entry, or [`NONE`].
    queued: Vec<u64>,
}

impl TimerQueue {
    /// A queue for `peers` slots, none scheduled.
    pub(crate) fn new(peers: usize) -> Self {
        Self { heap: BinaryHeap::with_capacity(peers + SLACK), queued: vec![NONE; peers] }
    }

    /// Makes sure slot `peer` fires no later than `at` (ms); `None` leaves
    /// what is queued, which fires and is found early if it is.
    pub(crate) fn schedule(&mut self, peer: u16, at: Option<u64>) {
        let (Some(at), Some(queued)) = (at, self.queued.get_mut(usize::from(peer))) else {
            return;
        };
        if at >= *queued {
            return;
        }
        *queued = at;
        if self.heap.len() >= 2 * self.queued.len() + SLACK {
            let queued = &self.queued;
            self.heap.retain(|Reverse((t, p))| queued[usize::from(*p)] == *t);
        }
        self.heap.push(Reverse((at, peer)));
    }

    /// Forgets slot `peer`'s deadline (the slot was freed).
    pub(crate) fn cancel(&mut self, peer: u16) {
        if let Some(queued) = self.queued.get_mut(usize::from(peer)) {
            *queued = NONE;
            self.drop_stale();
        }
    }

    /// The earliest deadline queued.
    pub(crate) fn next(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes a slot whose deadline is `now` or earlier; it has none queued
    /// until scheduled again.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<u16> {
        let &Reverse((at, peer)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.queued[usize::from(peer)] = NONE;
        self.drop_stale();
        Some(peer)
    }

    /// Pops entries that are no longer their slot's deadline.
    fn drop_stale(&mut self) {
        while let Some(&Reverse((at, peer))) = self.heap.peek() {
            if self.queued[usize::from(peer)] == at {
                break;
            }
            self.heap.pop();
        }
    }

    /// Entries in the heap, stale ones included.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.heap.len()
    }
}

/// When `peer` next needs the endpoint's timeout handling (wrapping
/// protocol ms; `now` if it is due already), or `None` if nothing of it
/// waits on time: the accept deadline of a half-open slot; otherwise the
/// reliable sender's timer (resend, probe, dead peer) and, for a connected
/// peer with nothing in flight, the keep-alive ping.
pub(crate) fn peer_deadline(peer: &Peer, now: u32) -> Option<u32> {
    if peer.state == PeerState::Disconnected {
        return None;
    }
    let resend = (peer.sender.next_timeout != 0).then_some(peer.sender.next_timeout);
    let ping = (peer.state == PeerState::Connected && peer.sender.is_idle()).then(|| {
        if peer.last_receive_time == 0 {
            now
        } else {
            peer.last_receive_time.wrapping_add(peer.ping_interval)
        }
    });
    match (resend, ping) {
        (Some(a), Some(b)) => Some(if time_less(b, a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(q: &mut TimerQueue, now: u64) -> Vec<u16> {
        std::iter::from_fn(|| q.pop_due(now)).collect()
    }

    #[test]
    fn peers_come_out_in_deadline_order_once_due() {
        let mut q = TimerQueue::new(4);
        q.schedule(0, Some(30));
        q.schedule(1, Some(10));
        q.schedule(2, Some(20));
        q.schedule(3, None);
        assert_eq!(q.next(), Some(10));
        assert_eq!(due(&mut q, 5), Vec::<u16>::new());
        assert_eq!(due(&mut q, 20), vec![1, 2]);
        assert_eq!(q.next(), Some(30));
        assert_eq!(due(&mut q, 100), vec![0]);
        assert_eq!(q.next(), None);
    }

    #[test]
    fn an_earlier_deadline_replaces_a_later_one_and_a_later_one_waits() {
        let mut q = TimerQueue::new(1);
        q.schedule(0, Some(50));
        q.schedule(0, Some(20));
        assert_eq!(q.next(), Some(20));
        // Later than what is queued: the earlier entry stays and fires first.
        q.schedule(0, Some(80));
        assert_eq!(due(&mut q, 20), vec![0]);
        // The stale entry at 50 was dropped: nothing fires until rescheduled.
        assert_eq!(q.next(), None);
        q.schedule(0, Some(80));
        assert_eq!(due(&mut q, 79), Vec::<u16>::new());
        assert_eq!(due(&mut q, 80), vec![0]);
    }

    #[test]
    fn a_cancelled_slot_never_fires() {
        let mut q = TimerQueue::new(2);
        q.schedule(0, Some(10));
        q.schedule(1, Some(20));
        q.cancel(0);
        assert_eq!(q.next(), Some(20));
        assert_eq!(due(&mut q, 100), vec![1]);
        q.schedule(7, Some(1)); // no such slot: ignored
        assert_eq!(q.next(), None);
    }

    #[test]
    fn stale_entries_stay_bounded() {
        let mut q = TimerQueue::new(3);
        // Every slot keeps getting earlier deadlines: each push strands the
        // previous entry.
        for t in (0..10_000u64).rev() {
            q.schedule((t % 3) as u16, Some(t + 1_000_000));
            assert!(q.entries() <= 2 * 3 + SLACK + 1, "{}", q.entries());
        }
        assert_eq!(due(&mut q, u64::MAX - 1), vec![0, 1, 2]);
    }
}
