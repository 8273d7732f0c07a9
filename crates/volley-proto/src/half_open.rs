//! The half-open table: connection attempts a server answered and that
//! wait for the remote to prove it receives what we send, kept apart from
//! the peer slots.
//!
//! ENet keeps a half-open connection in a peer slot from the first CONNECT,
//! so a flood of CONNECTs from spoofed addresses fills every slot and no
//! client can connect until it ends. Here a CONNECT costs one small table
//! entry and a peer slot is only taken once the remote proved it receives
//! our datagrams, by acknowledging the VERIFY_CONNECT with the sent time it
//! carried: the clock plus a random per-connection offset, which no one who
//! does not see the datagram can know (ENet only echoes the field, so this
//! is invisible on the wire). When the table is full the oldest entry goes,
//! so a flood cannot pin it: it only shortens how long an entry lasts.
//!
//! Until the proof, what is sent to the remote's address is budgeted: three
//! bytes for every byte received from it (QUIC's rule). A CONNECT is
//! answered with one VERIFY_CONNECT, smaller than the CONNECT itself, and
//! nothing is resent on a timer: a VERIFY_CONNECT goes again only when the
//! remote sends something more (its CONNECT again, or data showing it has
//! the first one but its acknowledgement was lost), within the budget.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use crate::constants::CONTROL_CHANNEL;
use crate::time::{time_difference, time_less};
use crate::wire::{Command, CommandBody, CommandHeader, ConnectParams, DatagramWriter, Header};

/// Bytes an unproven address may be sent per byte received from it.
pub(crate) const AMPLIFICATION_LIMIT: usize = 3;
/// Acknowledgements of the VERIFY_CONNECT with a wrong sent time an entry
/// survives (a blind attacker guessing it gets this many tries).
const MAX_PROOF_MISSES: u8 = 4;
/// VERIFY_CONNECT send times an entry remembers (an acknowledgement may echo any).
const SENDS_KEPT: usize = 4;
/// Bytes of early datagrams kept for replay after the proof, the whole table.
const MAX_STASHED_BYTES: usize = 256 * 1024;
/// An entry's deadline moves with a new VERIFY_CONNECT at most this often (ms).
const REFRESH_INTERVAL: u32 = 1000;

/// One connection attempt awaiting its proof.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Unique among handles: the generation of the attempt's handle, and of
    /// the peer slot it takes once proven.
    pub(crate) serial: u32,
    pub(crate) address: SocketAddr,
    /// The peer slot the VERIFY_CONNECT names (taken only at the proof).
    pub(crate) slot: u16,
    /// The remote's CONNECT.
    pub(crate) connect: ConnectParams,
    pub(crate) data: u32,
    /// Our answer.
    pub(crate) verify: ConnectParams,
    /// Added to the clock in the sent time of every datagram to this remote.
    pub(crate) sent_time_offset: u16,
    /// The VERIFY_CONNECT may go (accepted, by the application or at once).
    pub(crate) accepted: bool,
    /// The application holds a handle naming the slot: no other entry may
    /// name it meanwhile (manual accept).
    pub(crate) exclusive: bool,
    /// In the outbox.
    queued: bool,
    /// Protocol times the VERIFY_CONNECT was sent, newest last.
    sends: [u32; SENDS_KEPT],
    send_count: usize,
    /// Bytes received from and sent to the address.
    received: usize,
    sent: usize,
    deadline: u32,
    misses: u8,
    /// A datagram that came before the proof (its acknowledgement was lost).
    pub(crate) stash: Option<Vec<u8>>,
    /// The next entry from the same IP address ([`NONE`] at the end).
    next_same_ip: u32,
}

/// The end of a chain of entries.
const NONE: u32 = u32::MAX;

/// The entries from one IP address: how many, and the chain through them.
#[derive(Debug, Clone, Copy)]
struct IpEntries {
    count: usize,
    head: u32,
}

impl Entry {
    /// A new attempt from `address`, answering `connect` with `verify`,
    /// expiring `lifetime` ms after `now`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        serial: u32,
        address: SocketAddr,
        slot: u16,
        connect: ConnectParams,
        data: u32,
        verify: ConnectParams,
        sent_time_offset: u16,
        now: u32,
        lifetime: u32,
    ) -> Self {
        Self {
            serial,
            address,
            slot,
            connect,
            data,
            verify,
            sent_time_offset,
            accepted: false,
            exclusive: false,
            queued: false,
            sends: [0; SENDS_KEPT],
            send_count: 0,
            received: 0,
            sent: 0,
            deadline: now.wrapping_add(lifetime),
            misses: 0,
            stash: None,
            next_same_ip: NONE,
        }
    }

    /// The session id our datagrams carry (the VERIFY_CONNECT's incoming one).
    pub(crate) fn outgoing_session(&self) -> u8 {
        self.verify.incoming_session_id
    }

    /// The session id the remote's datagrams carry.
    pub(crate) fn incoming_session(&self) -> u8 {
        self.verify.outgoing_session_id
    }
}

/// What an acknowledgement of the VERIFY_CONNECT proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// It echoes one of our sent times: the remote receives us. The round
    /// trip since that VERIFY_CONNECT, in ms.
    Valid(u32),
    /// It echoes something else; the entry survives a few of these.
    Miss,
    /// Too many misses: the entry is to go.
    Exhausted,
}

/// The table of half-open connections, bounded, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct HalfOpenTable {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_serial: HashMap<u32, u32>,
    /// Entries by IP address (at most the per-address limit each).
    by_ip: HashMap<IpAddr, IpEntries>,
    /// Slots named by exclusive entries.
    named: HashMap<u16, u32>,
    /// (entry, serial, deadline) in deadline order; records of removed or
    /// refreshed entries are skipped when they come up.
    expiry: VecDeque<(u32, u32, u32)>,
    /// Entries with a VERIFY_CONNECT to send.
    outbox: VecDeque<(u32, u32)>,
    live: usize,
    stashed: usize,
    /// Where the search for the next slot to name starts.
    pub(crate) cursor: usize,
}

impl HalfOpenTable {
    /// Entries in the table.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Entries from `ip`.
    pub(crate) fn count_from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).map_or(0, |e| e.count)
    }

    /// The entries from `ip`.
    fn same_ip(&self, ip: IpAddr) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        let mut next = self.by_ip.get(&ip).map_or(NONE, |e| e.head);
        std::iter::from_fn(move || {
            let index = next;
            let entry = self.get(index)?;
            next = entry.next_same_ip;
            Some((index, entry))
        })
    }

    pub(crate) fn get(&self, index: u32) -> Option<&Entry> {
        self.entries.get(index as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut Entry> {
        self.entries.get_mut(index as usize)?.as_mut()
    }

    /// Whether an exclusive entry names `slot`.
    pub(crate) fn is_named(&self, slot: u16) -> bool {
        self.named.contains_key(&slot)
    }

    /// The entry whose handle generation is `serial`.
    pub(crate) fn by_serial(&self, serial: u32) -> Option<u32> {
        self.by_serial.get(&serial).copied()
    }

    /// The entry for a CONNECT from `address` with `connect_id`.
    pub(crate) fn find(&self, address: SocketAddr, connect_id: [u8; 4]) -> Option<u32> {
        self.same_ip(address.ip())
            .find(|(_, e)| e.address == address && e.connect.connect_id == connect_id)
            .map(|(i, _)| i)
    }

    /// The entry a datagram from `address` to `slot` under `session` belongs to.
    pub(crate) fn find_for_datagram(
        &self,
        address: SocketAddr,
        slot: u16,
        session: u8,
    ) -> Option<u32> {
        self.same_ip(address.ip())
            .find(|(_, e)| {
                e.address == address && e.slot == slot && e.incoming_session() & 3 == session
            })
            .map(|(i, _)| i)
    }

    /// Adds `entry`; the caller made room.
    pub(crate) fn insert(&mut self, mut entry: Entry) -> u32 {
        let (serial, ip, deadline) = (entry.serial, entry.address.ip(), entry.deadline);
        let same_ip = self.by_ip.entry(ip).or_insert(IpEntries { count: 0, head: NONE });
        entry.next_same_ip = same_ip.head;
        same_ip.count += 1;
        let index = match self.free.pop() {
            Some(index) => {
                self.entries[index as usize] = Some(entry);
                index
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        };
        self.by_serial.insert(serial, index);
        if let Some(entry) = self.get(index)
            && entry.exclusive
        {
            self.named.insert(entry.slot, index);
        }
        if let Some(same_ip) = self.by_ip.get_mut(&ip) {
            same_ip.head = index;
        }
        self.expiry.push_back((index, serial, deadline));
        self.live += 1;
        index
    }

    /// Takes `index` out of the table.
    pub(crate) fn remove(&mut self, index: u32) -> Option<Entry> {
        let entry = self.entries.get_mut(index as usize)?.take()?;
        self.free.push(index);
        self.live -= 1;
        self.by_serial.remove(&entry.serial);
        if entry.exclusive {
            self.named.remove(&entry.slot);
        }
        let ip = entry.address.ip();
        if let Some(same_ip) = self.by_ip.get_mut(&ip) {
            same_ip.count -= 1;
            if same_ip.count == 0 {
                self.by_ip.remove(&ip);
            } else if same_ip.head == index {
                same_ip.head = entry.next_same_ip;
            } else {
                // Unlink it from the chain (a few entries at most).
                let mut at = same_ip.head;
                while let Some(e) = self.entries.get_mut(at as usize).and_then(Option::as_mut) {
                    if e.next_same_ip == index {
                        e.next_same_ip = entry.next_same_ip;
                        break;
                    }
                    at = e.next_same_ip;
                }
            }
        }
        if let Some(stash) = &entry.stash {
            self.stashed -= stash.len();
        }
        if self.live == 0 {
            // Nothing left to point at: drop the stale records too.
            self.expiry.clear();
            self.outbox.clear();
        }
        Some(entry)
    }

    /// The oldest entry (the first a full table gives up).
    pub(crate) fn oldest(&mut self) -> Option<u32> {
        while let Some(&(index, serial, _)) = self.expiry.front() {
            if self.get(index).is_some_and(|e| e.serial == serial) {
                return Some(index);
            }
            self.expiry.pop_front();
        }
        None
    }

    /// An entry whose deadline passed at `now`, if any.
    pub(crate) fn pop_expired(&mut self, now: u32) -> Option<u32> {
        while let Some(&(index, serial, deadline)) = self.expiry.front() {
            let live =
                self.get(index).is_some_and(|e| e.serial == serial && e.deadline == deadline);
            if live && time_less(now, deadline) {
                return None;
            }
            self.expiry.pop_front();
            if live {
                return Some(index);
            }
        }
        None
    }

    /// When [`Self::pop_expired`] may next have something (records of
    /// entries gone or refreshed may make it early).
    pub(crate) fn next_deadline(&self) -> Option<u32> {
        self.expiry.front().map(|&(_, _, deadline)| deadline)
    }

    /// Whether a VERIFY_CONNECT waits to be sent.
    pub(crate) fn has_outgoing(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// `bytes` arrived from the entry's remote: its budget grows.
    pub(crate) fn note_received(&mut self, index: u32, bytes: usize) {
        if let Some(entry) = self.get_mut(index) {
            entry.received = entry.received.saturating_add(bytes);
        }
    }

    /// Asks for the entry's VERIFY_CONNECT to be sent (if its budget allows then).
    pub(crate) fn queue_verify(&mut self, index: u32) {
        if let Some(entry) = self.get_mut(index)
            && entry.accepted
            && !entry.queued
        {
            entry.queued = true;
            let serial = entry.serial;
            self.outbox.push_back((index, serial));
        }
    }

    /// Builds the next VERIFY_CONNECT into `buf`, within its entry's
    /// budget; returns where to send it and where it lies.
    pub(crate) fn poll_transmit(
        &mut self,
        now: u32,
        buf: &mut [u8],
        checksum: bool,
        lifetime: u32,
    ) -> Option<(SocketAddr, Range<usize>)> {
        while let Some((index, serial)) = self.outbox.pop_front() {
            let Some(entry) = self.entries.get_mut(index as usize).and_then(Option::as_mut) else {
                continue;
            };
            if entry.serial != serial {
                continue;
            }
            entry.queued = false;
            let command = Command {
                header: CommandHeader {
                    acknowledge: true,
                    unsequenced: false,
                    channel_id: CONTROL_CHANNEL,
                    reliable_sequence_number: 1,
                },
                body: CommandBody::VerifyConnect(entry.verify),
            };
            let header = Header {
                peer_id: entry.connect.outgoing_peer_id,
                session_id: entry.outgoing_session() & 3,
                compressed: false,
                sent_time: Some((now as u16).wrapping_add(entry.sent_time_offset)),
            };
            let len = header.encoded_len(checksum) + command.encoded_len();
            if entry.sent + len > AMPLIFICATION_LIMIT * entry.received {
                continue;
            }
            let mut writer = DatagramWriter::new(buf, len, checksum);
            if writer.push(&command).is_err() {
                continue;
            }
            let range = writer.finish(&header, Some(entry.connect.connect_id));
            entry.sent += range.len();
            entry.sends[entry.send_count % SENDS_KEPT] = now;
            entry.send_count += 1;
            // The remote has a fresh answer to acknowledge: give it the time.
            let deadline = now.wrapping_add(lifetime);
            if time_difference(deadline, entry.deadline) >= REFRESH_INTERVAL {
                entry.deadline = deadline;
                self.expiry.push_back((index, serial, deadline));
            }
            return Some((entry.address, range));
        }
        None
    }

    /// Checks an acknowledgement of the VERIFY_CONNECT echoing `echo`.
    pub(crate) fn check_proof(&mut self, index: u32, echo: u16, now: u32) -> Proof {
        let Some(entry) = self.get_mut(index) else { return Proof::Exhausted };
        let sent = echo.wrapping_sub(entry.sent_time_offset);
        let kept = entry.send_count.min(SENDS_KEPT);
        if let Some(&at) = entry.sends[..kept].iter().find(|&&at| at as u16 == sent) {
            return Proof::Valid(time_difference(now, at).max(1));
        }
        entry.misses += 1;
        if entry.misses > MAX_PROOF_MISSES { Proof::Exhausted } else { Proof::Miss }
    }

    /// Keeps `datagram`, which came before the proof, to replay after it
    /// (one per entry, within the table's stash budget).
    pub(crate) fn stash(&mut self, index: u32, datagram: &[u8]) {
        if self.stashed + datagram.len() > MAX_STASHED_BYTES {
            return;
        }
        if let Some(entry) = self.entries.get_mut(index as usize).and_then(Option::as_mut)
            && entry.stash.is_none()
        {
            entry.stash = Some(datagram.to_vec());
            self.stashed += datagram.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Datagram, ThrottleParams};

    fn params(id: u8) -> ConnectParams {
        ConnectParams {
            outgoing_peer_id: 0,
            incoming_session_id: 1,
            outgoing_session_id: 2,
            mtu: 1392,
            window_size: 65536,
            channel_count: 2,
            incoming_bandwidth: 0,
            outgoing_bandwidth: 0,
            throttle: ThrottleParams { interval: 5000, acceleration: 2, deceleration: 2 },
            connect_id: [id, 0, 0, 0],
        }
    }

    fn entry(serial: u32, address: &str, now: u32) -> Entry {
        let mut e = Entry::new(
            serial,
            address.parse().unwrap(),
            3,
            params(serial as u8),
            0,
            params(9),
            0x4321,
            now,
            5000,
        );
        e.accepted = true;
        e
    }

    #[test]
    fn a_verify_connect_goes_only_within_three_times_what_was_received() {
        let mut table = HalfOpenTable::default();
        let i = table.insert(entry(1, "10.0.0.9:5000", 100));
        let mut buf = [0u8; 256];
        table.queue_verify(i);
        assert!(table.poll_transmit(100, &mut buf, false, 5000).is_none(), "nothing received yet");
        table.note_received(i, 52);
        let mut sent = 0;
        for now in 101..110 {
            table.queue_verify(i);
            if let Some((_, range)) = table.poll_transmit(now, &mut buf, false, 5000) {
                assert_eq!(range.len(), 48);
                let d = Datagram::parse(&buf[range.clone()], false).unwrap();
                assert_eq!(d.header().sent_time, Some((now as u16).wrapping_add(0x4321)));
                sent += range.len();
            }
        }
        assert_eq!(sent, 3 * 48, "156 bytes of budget: three answers");
    }

    #[test]
    fn only_an_echo_of_a_sent_time_proves_the_remote_receives() {
        let mut table = HalfOpenTable::default();
        let i = table.insert(entry(1, "10.0.0.9:5000", 100));
        table.note_received(i, 52);
        table.queue_verify(i);
        let mut buf = [0u8; 256];
        assert!(table.poll_transmit(200, &mut buf, false, 5000).is_some());
        assert_eq!(table.check_proof(i, 200u16.wrapping_add(0x4321), 230), Proof::Valid(30));
        for _ in 0..MAX_PROOF_MISSES {
            assert_eq!(table.check_proof(i, 200, 230), Proof::Miss, "the bare clock is no proof");
        }
        assert_eq!(table.check_proof(i, 201, 230), Proof::Exhausted);
    }

    #[test]
    fn entries_expire_and_the_oldest_goes_first() {
        let mut table = HalfOpenTable::default();
        let a = table.insert(entry(1, "10.0.0.9:5000", 100));
        let b = table.insert(entry(2, "10.0.0.9:5001", 200));
        assert_eq!(table.count_from("10.0.0.9".parse().unwrap()), 2);
        assert_eq!(table.oldest(), Some(a));
        assert_eq!(table.find("10.0.0.9:5001".parse().unwrap(), [2, 0, 0, 0]), Some(b));
        assert_eq!(table.find_for_datagram("10.0.0.9:5001".parse().unwrap(), 3, 2), Some(b));
        assert_eq!(table.find_for_datagram("10.0.0.9:5001".parse().unwrap(), 3, 1), None);
        assert_eq!(table.pop_expired(5099), None);
        assert_eq!(table.pop_expired(5100), Some(a));
        table.remove(a);
        assert_eq!(table.oldest(), Some(b));
        assert_eq!(table.by_serial(2), Some(b));
    }
}
