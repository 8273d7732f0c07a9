//! The sender's side of reliability: what may be in flight, when to resend,
//! when to give up.
//!
//! This module alone decides the reliable window and the retransmission
//! policy (the receiver never polices bytes in flight), so a larger window or
//! another loss-recovery scheme can replace ENet's without touching the rest.
//! It follows ENet 1.3 where that is sound: a byte window of
//! `throttle × window / 32` (at least one MTU), the 16 × 4096 sequence-window
//! rule that keeps the sender inside the receiver's acceptance range, and a
//! per-command timeout of `RTT + 4 × variance` doubled on every resend.
//! It departs from ENet in ways that do not show on the wire:
//!
//! - the resend timer is the earliest deadline of *all* commands in flight,
//!   not the oldest command's, so one command backed off to seconds does not
//!   hold back the resends of the others;
//! - backoff stops doubling at [`MAX_RETRANSMISSION_TIMEOUT`];
//! - the dead-peer maximum is a deadline of its own, and it also applies to
//!   each command: one left unacknowledged for the timeout maximum since it
//!   was first sent ends the peer, even while the peer acknowledges others.
//!
//! As in ENet, only an acknowledgement of something we sent shows the peer
//! is alive ([`ReliableSender::note_progress`]): a peer that keeps sending
//! but never acknowledges is dropped like a silent one, so it cannot keep
//! us resending (and queueing) to it for ever.

use std::collections::VecDeque;

use crate::constants::{
    FREE_RELIABLE_WINDOWS, PACKET_THROTTLE_SCALE, RELIABLE_WINDOW_SIZE, RELIABLE_WINDOWS,
};
use crate::outgoing::OutgoingCommand;
use crate::rtt::RttEstimator;
use crate::time::{time_difference, time_less};

/// Resend timeouts stop doubling here (ms).
pub(crate) const MAX_RETRANSMISSION_TIMEOUT: u32 = 3000;

/// Acknowledgements of later commands after which a command still in flight
/// is taken as lost and resent without waiting for its timeout (as TCP's
/// three duplicate acknowledgements).
pub(crate) const FAST_RESEND_OVERTAKES: u8 = 3;

/// The most overtakes a fast resend may come to need on a reordering path.
pub(crate) const MAX_FAST_RESEND_OVERTAKES: u8 = 64;

/// The shortest probe timeout (ms); see [`ReliableSender::check_timeouts`].
pub(crate) const MIN_PROBE_TIMEOUT: u32 = 2;

/// Sequence-window use of one channel.
#[derive(Debug, Clone, Default)]
struct ChannelWindows {
    used: u16,
    in_flight: [u16; RELIABLE_WINDOWS as usize],
}

/// Timeout settings in protocol milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeoutMs {
    pub(crate) limit: u32,
    pub(crate) minimum: u32,
    pub(crate) maximum: u32,
}

/// Outcome of a timeout check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutCheck {
    /// This many commands were overdue and are queued for resending.
    Resend(usize),
    /// The peer stopped answering.
    Dead,
}

/// Reliable commands in flight and queued for resending, for one peer.
#[derive(Debug, Default)]
pub(crate) struct ReliableSender {
    in_flight: VecDeque<OutgoingCommand>,
    resend: VecDeque<OutgoingCommand>,
    windows: Vec<ChannelWindows>,
    /// Reliable payload bytes in flight.
    pub(crate) data_in_transit: u32,
    /// Protocol time of the next timeout check: the earliest deadline of the
    /// commands in flight, or the dead-peer deadline if sooner (0: none).
    pub(crate) next_timeout: u32,
    earliest_timeout: u32,
    /// Overtakes that make a command lost: [`FAST_RESEND_OVERTAKES`],
    /// doubled each time a fast resend proves needless (reordering).
    fast_resend_overtakes: u8,
    /// Commands moved to the resend queue by overtaking, not yet counted lost.
    fast_resends: usize,
    /// Protocol time of the last send or acknowledged progress.
    last_activity: u32,
    /// Silence after [`Self::last_activity`] that triggers a probe (ms; 0:
    /// none, when it would not come before the RTO).
    probe_timeout: u32,
    /// A probe was made since the last acknowledged progress.
    probed: bool,
}

/// Why a first transmission must wait; once set, later reliable data waits too.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WindowBlock {
    pub(crate) sequence_window: bool,
    pub(crate) byte_window: bool,
}

impl ReliableSender {
    /// Forgets everything and sizes the window table for `channels` channels.
    pub(crate) fn reset(&mut self, channels: usize) -> impl Iterator<Item = OutgoingCommand> + '_ {
        self.windows.clear();
        self.windows.resize(channels, ChannelWindows::default());
        self.data_in_transit = 0;
        self.next_timeout = 0;
        self.earliest_timeout = 0;
        self.fast_resend_overtakes = FAST_RESEND_OVERTAKES;
        self.fast_resends = 0;
        self.probed = false;
        self.in_flight.drain(..).chain(self.resend.drain(..))
    }

    /// Nothing in flight and nothing to resend.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.resend.is_empty()
    }

    /// The next command to resend, if any.
    pub(crate) fn peek_resend(&self) -> Option<&OutgoingCommand> {
        self.resend.front()
    }

    /// Removes the next command to resend.
    pub(crate) fn pop_resend(&mut self) -> Option<OutgoingCommand> {
        self.resend.pop_front()
    }

    /// Puts a command taken with [`Self::pop_resend`] back in front.
    pub(crate) fn unpop_resend(&mut self, command: OutgoingCommand) {
        self.resend.push_front(command);
    }

    /// May `command` (reliable, with ACK flag) go out now? Updates `block`
    /// so that once one command waits, later reliable data waits too (order).
    pub(crate) fn may_send(
        &self,
        command: &OutgoingCommand,
        throttle: u32,
        window_size: u32,
        mtu: u32,
        block: &mut WindowBlock,
    ) -> bool {
        let channel = usize::from(command.header.channel_id);
        if let Some(windows) = self.windows.get(channel) {
            let seq = command.header.reliable_sequence_number;
            let window = seq / RELIABLE_WINDOW_SIZE;
            if !block.sequence_window
                && command.send_attempts == 0
                && seq.is_multiple_of(RELIABLE_WINDOW_SIZE)
            {
                let previous = usize::from((window + RELIABLE_WINDOWS - 1) % RELIABLE_WINDOWS);
                let span = (1u32 << (FREE_RELIABLE_WINDOWS + 2)) - 1;
                let mask = ((span << window) | (span >> (RELIABLE_WINDOWS - window))) as u16;
                if windows.in_flight[previous] >= RELIABLE_WINDOW_SIZE || windows.used & mask != 0 {
                    block.sequence_window = true;
                }
            }
            if block.sequence_window {
                return false;
            }
        }
        if command.payload.is_some() {
            if !block.byte_window {
                let window = (throttle * window_size / PACKET_THROTTLE_SCALE).max(mtu);
                if self.data_in_transit + command.payload_len() > window {
                    block.byte_window = true;
                }
            }
            if block.byte_window {
                return false;
            }
        }
        true
    }

    /// Records that `command` was just written into a datagram at `now`.
    pub(crate) fn on_sent(&mut self, mut command: OutgoingCommand, now: u32, rtt: &RttEstimator) {
        if command.send_attempts == 0
            && let Some(w) = self.windows.get_mut(usize::from(command.header.channel_id))
        {
            let window =
                usize::from(command.header.reliable_sequence_number / RELIABLE_WINDOW_SIZE);
            w.used |= 1 << window;
            w.in_flight[window] += 1;
        }
        if command.send_attempts == 0 {
            command.first_sent = now;
        }
        command.send_attempts += 1;
        command.overtaken = 0;
        if command.rto == 0 {
            command.rto = rtt.retransmission_timeout().clamp(1, MAX_RETRANSMISSION_TIMEOUT);
        }
        command.sent_time = now;
        let deadline = now.wrapping_add(command.rto);
        if self.next_timeout == 0 || time_less(deadline, self.next_timeout) {
            self.next_timeout = deadline;
        }
        self.data_in_transit += command.payload_len();
        self.in_flight.push_back(command);
        // A probe or a timeout may move everything in flight to the resend
        // queue at once, which can come at any moment: it has room for it
        // already, so that steady traffic never allocates there.
        let outstanding = self.in_flight.len() + self.resend.len();
        if self.resend.capacity() < outstanding {
            self.resend.reserve(outstanding - self.resend.len());
        }
        self.last_activity = now;
        let probe = rtt.rtt.saturating_mul(2).max(MIN_PROBE_TIMEOUT);
        self.probe_timeout = if probe < rtt.retransmission_timeout() { probe } else { 0 };
        if let Some(probe) = self.probe_deadline()
            && time_less(probe, self.next_timeout)
        {
            self.next_timeout = probe;
        }
    }

    /// When the probe of [`Self::check_timeouts`] is due, if one is armed.
    fn probe_deadline(&self) -> Option<u32> {
        (!self.probed && self.probe_timeout != 0 && !self.in_flight.is_empty())
            .then(|| self.last_activity.wrapping_add(self.probe_timeout))
    }

    /// An acknowledgement removed a command we sent, at `now`: the peer is
    /// alive (the dead-peer clock restarts), the path works, and the next
    /// silence may be probed again.
    pub(crate) fn note_progress(&mut self, now: u32) {
        self.last_activity = now;
        self.probed = false;
        self.earliest_timeout = 0;
    }

    /// Removes the command an acknowledgement names, if it is in flight or
    /// waiting to be resent. Returns it and whether it was in flight.
    ///
    /// The commands sent before it and still in flight were overtaken; one
    /// overtaken often enough is taken as lost and joins the resend queue at
    /// once, its timeout unchanged (counted by [`Self::take_fast_resends`]).
    /// `sent` is the acknowledgement's echo of the acknowledged datagram's
    /// send time (`None` for a removal with no echo, such as the CONNECT a
    /// VERIFY_CONNECT answers): older than the command's last send, it acknowledges an
    /// earlier copy, and if that last send was a fast resend, it was
    /// needless — the path reorders, and fast resends from then on wait for
    /// twice as many overtakes.
    ///
    /// The resend timer is left as it is: a deadline that passes with
    /// nothing overdue costs one scan, which recomputes it.
    pub(crate) fn on_ack(
        &mut self,
        channel_id: u8,
        seq: u16,
        sent: Option<u32>,
    ) -> Option<(OutgoingCommand, bool)> {
        let matches = |c: &OutgoingCommand| {
            c.header.channel_id == channel_id && c.header.reliable_sequence_number == seq
        };
        let (command, was_in_flight) = if let Some(i) = self.in_flight.iter().position(matches) {
            let command = self.in_flight.remove(i)?;
            self.data_in_transit -= command.payload_len();
            self.overtake(i);
            (command, true)
        } else {
            let i = self.resend.iter().position(|c| matches(c) && c.send_attempts > 0)?;
            (self.resend.remove(i)?, false)
        };
        if let Some(w) = self.windows.get_mut(usize::from(channel_id)) {
            let window = usize::from(seq / RELIABLE_WINDOW_SIZE);
            if w.in_flight[window] > 0 {
                w.in_flight[window] -= 1;
                if w.in_flight[window] == 0 {
                    w.used &= !(1 << window);
                }
            }
        }
        if self.in_flight.is_empty() {
            self.next_timeout = 0;
        }
        if command.fast_resent && sent.is_some_and(|sent| time_less(sent, command.sent_time)) {
            self.fast_resend_overtakes =
                self.fast_resend_overtakes.saturating_mul(2).min(MAX_FAST_RESEND_OVERTAKES);
        }
        Some((command, was_in_flight))
    }

    /// The first `count` commands in flight were overtaken once more; those
    /// overtaken often enough move to the resend queue, in order.
    fn overtake(&mut self, count: usize) {
        let threshold = self.fast_resend_overtakes.max(FAST_RESEND_OVERTAKES);
        let mut i = 0;
        for _ in 0..count {
            let Some(command) = self.in_flight.get_mut(i) else { break };
            command.overtaken = command.overtaken.saturating_add(1);
            if command.overtaken < threshold {
                i += 1;
                continue;
            }
            let Some(mut command) = self.in_flight.remove(i) else { break };
            self.data_in_transit -= command.payload_len();
            command.fast_resent = true;
            self.resend.push_back(command);
            self.fast_resends += 1;
        }
    }

    /// Commands moved to the resend queue by overtaking since the last call.
    pub(crate) fn take_fast_resends(&mut self) -> usize {
        std::mem::take(&mut self.fast_resends)
    }

    /// The first round trip was measured: timeouts chosen before it, from
    /// the default estimate (half a second, far above most links), shrink to
    /// `rto` ms, doubled for each resend already made. A datagram lost in
    /// the first round trip is then resent after a few round trips instead
    /// of half a second, and again after a second if that resend is lost too.
    pub(crate) fn rebase_timeouts(&mut self, rto: u32) {
        let base = rto.clamp(1, MAX_RETRANSMISSION_TIMEOUT);
        let mut earliest = None;
        // A command in flight was doubled once per earlier send; one waiting
        // to be resent was doubled once more when it timed out.
        let in_flight = self.in_flight.iter_mut().map(|c| (c.send_attempts.saturating_sub(1), c));
        let waiting = self.resend.iter_mut().map(|c| (c.send_attempts, c));
        for (doublings, command) in in_flight.chain(waiting) {
            let backed_off =
                base.checked_shl(doublings).unwrap_or(u32::MAX).min(MAX_RETRANSMISSION_TIMEOUT);
            command.rto = command.rto.min(backed_off);
        }
        for command in &self.in_flight {
            let deadline = command.sent_time.wrapping_add(command.rto);
            if earliest.is_none_or(|e| time_less(deadline, e)) {
                earliest = Some(deadline);
            }
        }
        if let Some(deadline) = earliest
            && (self.next_timeout == 0 || time_less(deadline, self.next_timeout))
        {
            self.next_timeout = deadline;
        }
    }

    /// Moves overdue commands to the resend queue, or declares the peer dead.
    pub(crate) fn check_timeouts(&mut self, now: u32, timeouts: TimeoutMs) -> TimeoutCheck {
        let attempts_limit = timeouts.limit.max(1).ilog2() + 1;
        if self.earliest_timeout != 0
            && time_difference(now, self.earliest_timeout) >= timeouts.maximum
        {
            return TimeoutCheck::Dead;
        }
        let mut overdue = 0;
        if let Some(probe) = self.probe_deadline()
            && !time_less(now, probe)
        {
            // Nothing sent or acknowledged for two round trips with commands
            // in flight: the acknowledgements of a whole burst were lost
            // (one acknowledgement datagram covers a burst), or the burst
            // itself. Nothing newer is coming to overtake them and the
            // window is full, so waiting for the RTO (RTT + 4 × variance,
            // at least 5 ms with millisecond round trips) stalls the stream.
            // Resend everything in flight once, timeouts unchanged; the
            // RTO takes over if that brings no progress either.
            self.probed = true;
            self.data_in_transit = 0;
            for mut command in self.in_flight.drain(..) {
                command.fast_resent = false;
                self.resend.push_back(command);
                overdue += 1;
            }
        }
        let mut next: Option<u32> = None;
        // The age of the oldest command sent and not acknowledged.
        let mut oldest = 0;
        let mut i = 0;
        while i < self.in_flight.len() {
            let command = &self.in_flight[i];
            oldest = oldest.max(time_difference(now, command.first_sent));
            let deadline = command.sent_time.wrapping_add(command.rto);
            if time_less(now, deadline) {
                if next.is_none_or(|n| time_less(deadline, n)) {
                    next = Some(deadline);
                }
                i += 1;
                continue;
            }
            if self.earliest_timeout == 0 || time_less(command.sent_time, self.earliest_timeout) {
                self.earliest_timeout = command.sent_time;
            }
            let silent_for = time_difference(now, self.earliest_timeout);
            if command.send_attempts >= attempts_limit && silent_for >= timeouts.minimum {
                return TimeoutCheck::Dead;
            }
            let Some(mut command) = self.in_flight.remove(i) else { break };
            self.data_in_transit -= command.payload_len();
            command.rto = command.rto.saturating_mul(2).min(MAX_RETRANSMISSION_TIMEOUT);
            command.fast_resent = false;
            self.resend.push_back(command);
            overdue += 1;
        }
        // A command acknowledged around but never itself for the timeout
        // maximum will not get through, whatever else the peer acknowledges
        // (in the resend queue, only commands sent before have a first time).
        for command in self.resend.iter().filter(|c| c.send_attempts > 0) {
            oldest = oldest.max(time_difference(now, command.first_sent));
        }
        if oldest >= timeouts.maximum {
            return TimeoutCheck::Dead;
        }
        // While commands are overdue, the dead-peer deadline is a timer too.
        let dead = (self.earliest_timeout != 0)
            .then(|| self.earliest_timeout.wrapping_add(timeouts.maximum));
        self.next_timeout = [next, dead, self.probe_deadline()]
            .into_iter()
            .flatten()
            .reduce(|a, b| if time_less(b, a) { b } else { a })
            .unwrap_or(0);
        TimeoutCheck::Resend(overdue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outgoing::{OutKind, PacketSlice};
    use crate::wire::CommandHeader;

    const TIMEOUTS: TimeoutMs = TimeoutMs { limit: 32, minimum: 5000, maximum: 30000 };

    fn reliable(seq: u16, len: u32) -> OutgoingCommand {
        let header = CommandHeader {
            acknowledge: true,
            unsequenced: false,
            channel_id: 0,
            reliable_sequence_number: seq,
        };
        let mut c = OutgoingCommand::new(u64::from(seq), header, OutKind::SendReliable);
        c.payload = Some(PacketSlice { id: 0, offset: 0, len });
        c
    }

    #[test]
    fn byte_window_holds_the_sender() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default();
        let mut block = WindowBlock::default();
        let mut sent = 0;
        for seq in 1..100 {
            let c = reliable(seq, 1000);
            if !s.may_send(&c, 32, 4096, 1400, &mut block) {
                break;
            }
            s.on_sent(c, 1, &rtt);
            sent += 1;
        }
        assert_eq!(sent, 4, "4 × 1000 bytes fit a 4096-byte window");
        assert!(block.byte_window);
        assert!(s.on_ack(0, 1, None).is_some());
        assert!(s.may_send(&reliable(5, 1000), 32, 4096, 1400, &mut WindowBlock::default()));
    }

    #[test]
    fn resends_double_the_timeout_then_the_peer_dies() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default(); // 500 ms, RTO 500
        s.on_sent(reliable(1, 10), 1, &rtt);
        assert_eq!(s.next_timeout, 501);
        assert_eq!(s.check_timeouts(400, TIMEOUTS), TimeoutCheck::Resend(0));
        assert_eq!(s.check_timeouts(501, TIMEOUTS), TimeoutCheck::Resend(1));
        let mut now = 501;
        let mut resends = 1;
        loop {
            let c = s.pop_resend().expect("queued for resend");
            s.on_sent(c, now, &rtt);
            now = s.next_timeout;
            match s.check_timeouts(now, TIMEOUTS) {
                TimeoutCheck::Resend(n) => {
                    assert_eq!(n, 1);
                    resends += 1;
                }
                TimeoutCheck::Dead => break,
            }
        }
        // Sends at 0, 0.5, 1.5, 3.5, 6.5 and 9.5 s (the RTO doubles from 500
        // up to its 3 s cap); the sixth try is overdue at 12.5 s, past the
        // 5 s minimum: dead.
        assert_eq!(resends, 5);
        assert_eq!(now - 1, 12_500, "died after {} ms", now - 1);
    }

    #[test]
    fn acknowledgements_keep_a_peer_alive_other_datagrams_do_not() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = measured(10); // RTO 10 + 4 × 5 = 30 ms
        let mut now = 100;
        s.on_sent(reliable(1, 10), now, &rtt);
        // Command 1 is never acknowledged; a newer command is, every 100 ms.
        let mut seq = 2;
        let died = loop {
            now += 100;
            match s.check_timeouts(now, TIMEOUTS) {
                TimeoutCheck::Dead => break now,
                TimeoutCheck::Resend(_) => {}
            }
            while let Some(c) = s.pop_resend() {
                s.on_sent(c, now, &rtt);
            }
            s.on_sent(reliable(seq, 10), now, &rtt);
            assert!(s.on_ack(0, seq, Some(now)).is_some());
            s.note_progress(now);
            seq += 1;
            assert!(now < 100 + 60_000, "never declared dead");
        };
        // Progress elsewhere keeps restarting the dead-peer clock, so only
        // the command's own age ends it: the timeout maximum after it first went out.
        assert_eq!(died - 100, 30_000, "died {} ms after the first send", died - 100);
    }

    #[test]
    fn the_first_round_trip_shrinks_timeouts_set_from_the_default() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default(); // 500 ms before any sample
        s.on_sent(reliable(1, 10), 1, &rtt);
        s.on_sent(reliable(2, 10), 1, &rtt);
        assert_eq!(s.check_timeouts(501, TIMEOUTS), TimeoutCheck::Resend(2));
        s.on_sent(s.resend.front().cloned().unwrap(), 501, &rtt); // resent once (RTO 1000)
        s.resend.pop_front();
        s.on_sent(reliable(3, 10), 502, &rtt);
        s.rebase_timeouts(4);
        let timeouts: Vec<_> =
            s.in_flight.iter().chain(s.resend.iter()).map(|c| (c.send_attempts, c.rto)).collect();
        assert_eq!(timeouts, [(2, 8), (1, 4), (1, 8)], "doubled per timeout passed, never raised");
        assert_eq!(s.next_timeout, 502 + 4, "the earliest deadline in flight");
        assert_eq!(s.check_timeouts(505, TIMEOUTS), TimeoutCheck::Resend(0));
        assert_eq!(s.check_timeouts(506, TIMEOUTS), TimeoutCheck::Resend(1));
        assert_eq!(s.check_timeouts(509, TIMEOUTS), TimeoutCheck::Resend(1));
    }

    #[test]
    fn a_command_overtaken_three_times_is_resent_at_once() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default();
        for seq in 1..=5 {
            s.on_sent(reliable(seq, 10), 1, &rtt);
        }
        // Commands 2 and 3 are acknowledged: 1 was overtaken twice.
        assert!(s.on_ack(0, 2, Some(1)).is_some() && s.on_ack(0, 3, Some(1)).is_some());
        assert_eq!(s.take_fast_resends(), 0);
        assert!(s.peek_resend().is_none());
        // A third: 1 is taken as lost, its bytes leave the window at once.
        assert!(s.on_ack(0, 4, Some(1)).is_some());
        assert_eq!(s.take_fast_resends(), 1);
        assert_eq!(s.take_fast_resends(), 0, "counted once");
        assert_eq!(s.peek_resend().map(|c| c.header.reliable_sequence_number), Some(1));
        assert_eq!(s.data_in_transit, 10, "only command 5 in flight");
    }

    #[test]
    fn a_needless_fast_resend_doubles_the_overtakes_needed() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default();
        for seq in 1..=4 {
            s.on_sent(reliable(seq, 10), 1, &rtt);
        }
        for seq in 2..=4 {
            s.on_ack(0, seq, Some(1));
        }
        assert_eq!(s.take_fast_resends(), 1);
        let first = s.pop_resend().expect("fast resend of 1");
        s.on_sent(first, 7, &rtt);
        // The first copy's acknowledgement (echo 1, before the resend at 7)
        // arrives: the path reordered, nothing was lost.
        assert!(s.on_ack(0, 1, Some(1)).is_some());
        for seq in 5..=10 {
            s.on_sent(reliable(seq, 10), 8, &rtt);
        }
        for seq in 6..=10 {
            s.on_ack(0, seq, Some(8));
        }
        assert_eq!(s.take_fast_resends(), 0, "5 overtakes no longer make 5 lost");
        let mut more = reliable(11, 10);
        more.header.reliable_sequence_number = 11;
        s.on_sent(more, 9, &rtt);
        s.on_ack(0, 11, Some(9));
        assert_eq!(s.take_fast_resends(), 1, "the sixth does");
    }

    /// An estimator that measured `rtt` ms once (variance `rtt / 2`).
    fn measured(rtt: u32) -> RttEstimator {
        let mut estimator = RttEstimator::default();
        estimator.update(rtt, 0, 1000);
        estimator
    }

    #[test]
    fn silence_after_a_burst_is_probed_once_before_the_rto() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = measured(2); // RTO 2 + 4 × 1 = 6 ms, probe after 4 ms
        for seq in 1..=3 {
            s.on_sent(reliable(seq, 10), 100, &rtt);
        }
        assert_eq!(s.next_timeout, 104, "the probe comes before the RTO at 106");
        assert_eq!(s.check_timeouts(104, TIMEOUTS), TimeoutCheck::Resend(3));
        assert_eq!(s.data_in_transit, 0, "the whole burst waits to be resent");
        let mut resent = Vec::new();
        while let Some(c) = s.pop_resend() {
            resent.push((c.header.reliable_sequence_number, c.rto));
        }
        assert_eq!(resent, [(1, 6), (2, 6), (3, 6)], "in order, timeouts not doubled");
        for (seq, _) in resent {
            s.on_sent(reliable(seq, 10), 104, &rtt);
        }
        // Still silent: no second probe, the RTO decides (and doubles).
        assert_eq!(s.next_timeout, 110);
        assert_eq!(s.check_timeouts(109, TIMEOUTS), TimeoutCheck::Resend(0));
        assert_eq!(s.check_timeouts(110, TIMEOUTS), TimeoutCheck::Resend(3));
        // Progress re-arms it.
        while let Some(c) = s.pop_resend() {
            s.on_sent(c, 111, &rtt);
        }
        assert!(s.on_ack(0, 1, Some(111)).is_some());
        s.note_progress(112);
        assert_eq!(s.check_timeouts(116, TIMEOUTS), TimeoutCheck::Resend(2), "probed again");
    }

    #[test]
    fn no_probe_before_a_round_trip_is_known() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default(); // 500 ms, RTO 500: a probe at 1 s would come after it
        s.on_sent(reliable(1, 10), 1, &rtt);
        assert_eq!(s.next_timeout, 501);
        assert_eq!(s.check_timeouts(500, TIMEOUTS), TimeoutCheck::Resend(0));
    }

    #[test]
    fn acks_find_commands_waiting_for_resend() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default();
        s.on_sent(reliable(1, 10), 1, &rtt);
        assert_eq!(s.check_timeouts(600, TIMEOUTS), TimeoutCheck::Resend(1));
        let (_, in_flight) = s.on_ack(0, 1, None).expect("found in resend queue");
        assert!(!in_flight);
        assert!(s.is_idle());
        assert!(s.on_ack(0, 1, None).is_none(), "a second ack matches nothing");
    }

    #[test]
    fn sequence_windows_keep_the_sender_in_the_receivers_range() {
        let mut s = ReliableSender::default();
        let _ = s.reset(1);
        let rtt = RttEstimator::default();
        // Sequence 4096 starts window 1; window 0 still has commands in flight
        // but not 4096 of them, and windows 1..=10 are free: allowed.
        s.on_sent(reliable(4095, 0), 1, &rtt);
        assert!(s.may_send(&reliable(4096, 0), 32, 65536, 1400, &mut WindowBlock::default()));
        // Sequence 0 (window 0 again after wrap) while window 0 is in use: blocked.
        let mut block = WindowBlock::default();
        assert!(!s.may_send(&reliable(0, 0), 32, 65536, 1400, &mut block));
        assert!(block.sequence_window);
    }
}
