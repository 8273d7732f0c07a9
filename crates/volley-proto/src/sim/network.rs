//! The simulated network: moves opaque datagrams between addresses through
//! conditioned links, in virtual time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::conditioner::{LinkConditioner, LinkStats, Verdict, wire_len};
use super::config::LinkConfig;

/// Largest payload [`Network::send`] accepts: the most a UDP datagram can
/// carry over IPv4.
pub const MAX_DATAGRAM_LEN: usize = 65_535 - 20 - 8;

/// A datagram handed out by [`Network::pop_due`] or [`Network::deliver_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Delivery {
    /// The sender.
    pub from: SocketAddr,
    /// The receiver.
    pub to: SocketAddr,
    /// When it was sent.
    pub sent_at: Instant,
    /// When it arrived; the `now` it is handed out at may be later.
    pub at: Instant,
}

/// A deterministic in-process network of UDP-like links.
///
/// Every ordered pair of addresses is a link direction with its own
/// [`LinkConditioner`]: perfect until [`set_link`](Self::set_link) says
/// otherwise, and seeded from the network's seed and the two addresses, so
/// traffic on one link never changes what happens on another. The network
/// reads no clock: every call takes `now`, usually from a
/// [`VirtualClock`](super::VirtualClock).
///
/// Datagrams come out in arrival order, and datagrams arriving at the same
/// instant in the order they were sent. The same calls with the same seed
/// give the same deliveries.
///
/// Payloads are copied into buffers that are recycled after delivery, so once
/// traffic has warmed up, sending and delivering allocate nothing.
#[derive(Debug, Clone)]
pub struct Network {
    seed: u64,
    links: BTreeMap<(SocketAddr, SocketAddr), LinkConditioner>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    free_buffers: Vec<Vec<u8>>,
    next_sequence: u64,
    held_bytes: usize,
    memory_limit: usize,
}

impl Network {
    /// Default of [`set_memory_limit`](Self::set_memory_limit).
    pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

    /// An empty network whose links draw their randomness from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            links: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            free_buffers: Vec::new(),
            next_sequence: 0,
            held_bytes: 0,
            memory_limit: Self::DEFAULT_MEMORY_LIMIT,
        }
    }

    /// Caps the wire bytes the whole network holds, a safety net for tests
    /// that send without ever delivering. Links' own queue limits
    /// ([`LinkConfig::queue_limit_bytes`]) model congestion; this one only
    /// guards memory.
    pub fn set_memory_limit(&mut self, wire_bytes: usize) {
        self.memory_limit = wire_bytes;
    }

    /// Applies `config` to the direction `from` → `to`. On a link already in
    /// use, datagrams in flight, counters and the random stream carry over
    /// (see [`LinkConditioner::reconfigure`]).
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        let network_seed = self.seed;
        self.links.entry((from, to)).and_modify(|link| link.reconfigure(config)).or_insert_with(
            || LinkConditioner::with_seed(config, link_seed(network_seed, from, to)),
        );
    }

    /// Cuts both directions between `a` and `b`, or restores them. While cut,
    /// every datagram sent between them is dropped; datagrams already in
    /// flight still arrive.
    pub fn cut(&mut self, a: SocketAddr, b: SocketAddr, cut: bool) {
        for (from, to) in [(a, b), (b, a)] {
            self.link_mut(from, to).set_cut(cut);
        }
    }

    /// The conditioner of the direction `from` → `to`, if it was ever
    /// configured or used.
    pub fn link(&self, from: SocketAddr, to: SocketAddr) -> Option<&LinkConditioner> {
        self.links.get(&(from, to))
    }

    /// The counters of the direction `from` → `to` (all zero if unused).
    pub fn stats(&self, from: SocketAddr, to: SocketAddr) -> LinkStats {
        self.link(from, to).map(LinkConditioner::stats).unwrap_or_default()
    }

    /// Sends `payload` from `from` to `to` at `now`, and tells what the link
    /// did with it.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] above [`MAX_DATAGRAM_LEN`];
    /// [`SendError::NetworkFull`] if the network might exceed its memory
    /// limit. Either way nothing is sent and the link's random stream does
    /// not move.
    pub fn send(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> Result<Verdict, SendError> {
        if payload.len() > MAX_DATAGRAM_LEN {
            return Err(SendError::TooLarge { len: payload.len() });
        }
        let wire_len = wire_len(payload.len(), to);
        let network_seed = self.seed;
        let link =
            self.links.entry((from, to)).or_insert_with(|| default_link(network_seed, from, to));
        let copies = if link.config().duplicate > 0.0 { 2 } else { 1 };
        let worst_case = self.held_bytes.saturating_add(copies * wire_len);
        if worst_case > self.memory_limit {
            return Err(SendError::NetworkFull {
                held_bytes: self.held_bytes,
                limit: self.memory_limit,
            });
        }

        let verdict = link.decide(now, wire_len);
        for at in verdict.deliveries() {
            let mut buffer = self.free_buffers.pop().unwrap_or_default();
            buffer.extend_from_slice(payload);
            self.in_flight.push(Reverse(InFlight {
                at,
                sequence: self.next_sequence,
                sent_at: now,
                from,
                to,
                wire_len,
                payload: buffer,
            }));
            self.next_sequence += 1;
            self.held_bytes += wire_len;
        }
        Ok(verdict)
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse(next)| next.at)
    }

    /// Hands out the next datagram that has arrived by `now`, copying its
    /// payload into `payload` (cleared first). Reusing the same `payload`
    /// buffer keeps delivery allocation-free.
    pub fn pop_due(&mut self, now: Instant, payload: &mut Vec<u8>) -> Option<Delivery> {
        let arrived = self.pop_arrived(now)?;
        payload.clear();
        payload.extend_from_slice(&arrived.payload);
        let delivery = arrived.delivery();
        self.recycle(arrived.payload);
        Some(delivery)
    }

    /// Hands every datagram that has arrived by `now` to `receive`, in
    /// arrival order, and returns how many there were.
    pub fn deliver_due(&mut self, now: Instant, mut receive: impl FnMut(Delivery, &[u8])) -> usize {
        let mut count = 0;
        while let Some(arrived) = self.pop_arrived(now) {
            receive(arrived.delivery(), &arrived.payload);
            self.recycle(arrived.payload);
            count += 1;
        }
        count
    }

    /// Datagram copies in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Wire bytes of the datagram copies in flight.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    fn link_mut(&mut self, from: SocketAddr, to: SocketAddr) -> &mut LinkConditioner {
        let network_seed = self.seed;
        self.links.entry((from, to)).or_insert_with(|| default_link(network_seed, from, to))
    }

    fn pop_arrived(&mut self, now: Instant) -> Option<InFlight> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse(arrived) = self.in_flight.pop()?;
        self.held_bytes -= arrived.wire_len;
        let released = self.link_mut(arrived.from, arrived.to).release(arrived.wire_len);
        debug_assert!(released.is_ok(), "every copy in flight was counted by its link");
        Some(arrived)
    }

    fn recycle(&mut self, mut buffer: Vec<u8>) {
        buffer.clear();
        self.free_buffers.push(buffer);
    }
}

/// One copy of a datagram travelling through the network.
#[derive(Debug, Clone)]
struct InFlight {
    at: Instant,
    /// Send order, which breaks ties between equal arrival instants.
    sequence: u64,
    sent_at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    wire_len: usize,
    payload: Vec<u8>,
}

impl InFlight {
    fn delivery(&self) -> Delivery {
        Delivery { from: self.from, to: self.to, sent_at: self.sent_at, at: self.at }
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

/// A perfect link, as every direction starts out.
fn default_link(network_seed: u64, from: SocketAddr, to: SocketAddr) -> LinkConditioner {
    LinkConditioner::with_seed(LinkConfig::default(), link_seed(network_seed, from, to))
}

/// The seed of the direction `from` → `to`: the network seed mixed with both
/// addresses (SplitMix64 steps), so each link has its own stream.
fn link_seed(network_seed: u64, from: SocketAddr, to: SocketAddr) -> u64 {
    [from, to]
        .into_iter()
        .flat_map(address_words)
        .fold(split_mix(network_seed), |state, word| split_mix(state ^ word))
}

fn address_words(address: SocketAddr) -> [u64; 4] {
    let port = u64::from(address.port());
    match address.ip() {
        IpAddr::V4(ip) => [4, u64::from(ip.to_bits()), 0, port],
        IpAddr::V6(ip) => {
            let bits = ip.to_bits();
            [6, (bits >> 64) as u64, bits as u64, port]
        }
    }
}

fn split_mix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Why [`Network::send`] refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The payload exceeds [`MAX_DATAGRAM_LEN`]; split it, as a real UDP
    /// sender would have to.
    TooLarge {
        /// The payload's length.
        len: usize,
    },
    /// Sending could take the network past its memory limit: deliver what is
    /// due, or raise [`Network::set_memory_limit`].
    NetworkFull {
        /// Wire bytes in flight.
        held_bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len } => {
                write!(f, "datagram of {len} bytes exceeds the maximum of {MAX_DATAGRAM_LEN}")
            }
            Self::NetworkFull { held_bytes, limit } => {
                write!(f, "network holds {held_bytes} bytes, at its limit of {limit}")
            }
        }
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::{DropReason, VirtualClock};

    const MS: Duration = Duration::from_millis(1);

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 4000 + u16::from(last)))
    }

    fn lossy() -> LinkConfig {
        let mut config = LinkConfig::default();
        config
            .loss(0.1)
            .unwrap()
            .delay(20 * MS)
            .unwrap()
            .jitter(8 * MS)
            .unwrap()
            .duplicate(0.05)
            .unwrap()
            .reorder(0.05, 10 * MS)
            .unwrap()
            .bandwidth_bytes_per_sec(500_000)
            .unwrap();
        config
    }

    /// Everything `network` delivers until it is empty, stepping a clock.
    fn drain(network: &mut Network, clock: &mut VirtualClock) -> Vec<(Delivery, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(at) = network.next_delivery() {
            clock.advance_to(at).unwrap();
            network.deliver_due(clock.now(), |delivery, payload| {
                out.push((delivery, payload.to_vec()));
            });
        }
        out
    }

    #[test]
    fn arrivals_come_out_in_time_order_and_ties_in_send_order() {
        let start = Instant::now();
        let mut network = Network::new(1);
        let mut slow = LinkConfig::default();
        slow.delay(5 * MS).unwrap();
        network.set_link(addr(1), addr(9), slow);

        network.send(start, addr(1), addr(9), b"slow").unwrap();
        network.send(start, addr(2), addr(9), b"first").unwrap();
        network.send(start, addr(3), addr(9), b"second").unwrap();
        network.send(start + 5 * MS, addr(2), addr(9), b"tie").unwrap();
        assert_eq!(network.next_delivery(), Some(start));

        let mut payload = Vec::new();
        let mut order = Vec::new();
        while let Some(delivery) = network.pop_due(start + 5 * MS, &mut payload) {
            order.push((String::from_utf8(payload.clone()).unwrap(), delivery.at - start));
        }
        let expected = [
            ("first", Duration::ZERO),
            ("second", Duration::ZERO),
            ("slow", 5 * MS),
            ("tie", 5 * MS),
        ];
        assert_eq!(order, expected.map(|(text, at)| (text.to_owned(), at)));
    }

    #[test]
    fn many_simultaneous_arrivals_keep_send_order() {
        let start = Instant::now();
        let mut network = Network::new(1);
        let mut config = LinkConfig::default();
        config.delay(3 * MS).unwrap();
        for sender in 1..=5 {
            network.set_link(addr(sender), addr(9), config);
        }
        for i in 0..200u32 {
            let sender = addr(1 + (i * 7 % 5) as u8);
            network.send(start, sender, addr(9), &i.to_le_bytes()).unwrap();
        }
        let mut received = Vec::new();
        network.deliver_due(start + 3 * MS, |_, payload| received.push(payload.to_vec()));
        let sent: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(received, sent);
    }

    #[test]
    fn nothing_is_handed_out_before_it_arrives() {
        let start = Instant::now();
        let mut network = Network::new(1);
        let mut config = LinkConfig::default();
        config.delay(30 * MS).unwrap();
        network.set_link(addr(1), addr(2), config);
        network.send(start, addr(1), addr(2), b"x").unwrap();

        let mut payload = vec![1, 2, 3];
        assert_eq!(network.pop_due(start + 29 * MS, &mut payload), None);
        assert_eq!(payload, [1, 2, 3], "untouched when nothing is due");
        assert_eq!(network.deliver_due(start + 29 * MS, |_, _| ()), 0);
        assert_eq!(network.next_delivery(), Some(start + 30 * MS));

        let delivery = network.pop_due(start + 40 * MS, &mut payload).unwrap();
        assert_eq!(payload, b"x");
        assert_eq!(
            (delivery.from, delivery.to, delivery.sent_at, delivery.at),
            (addr(1), addr(2), start, start + 30 * MS)
        );
        assert_eq!(network.next_delivery(), None);
    }

    /// A delivery with its instants relative to the run's start, so that
    /// runs compare equal.
    type Logged = (SocketAddr, SocketAddr, Duration, Duration, Vec<u8>);

    /// Three nodes chatting over lossy links; returns everything delivered.
    fn chatter(seed: u64, extra_traffic: bool) -> Vec<Logged> {
        let start = Instant::now();
        let mut clock = VirtualClock::starting_at(start);
        let mut network = Network::new(seed);
        for (from, to) in [(1, 2), (2, 1), (3, 2)] {
            network.set_link(addr(from), addr(to), lossy());
        }
        let mut delivered = Vec::new();
        for round in 0..2_000u32 {
            let now = clock.now();
            network.send(now, addr(1), addr(2), &round.to_le_bytes()).unwrap();
            network.send(now, addr(2), addr(1), &[round as u8; 300]).unwrap();
            if extra_traffic {
                network.send(now, addr(3), addr(2), &[7; 900]).unwrap();
            }
            clock.advance(MS).unwrap();
            network.deliver_due(clock.now(), |delivery, payload| {
                delivered.push((delivery, payload.to_vec()));
            });
        }
        delivered.extend(drain(&mut network, &mut clock));
        delivered
            .into_iter()
            .map(|(d, payload)| (d.from, d.to, d.sent_at - start, d.at - start, payload))
            .collect()
    }

    #[test]
    fn same_seed_same_deliveries() {
        assert_eq!(chatter(5, true), chatter(5, true));
        assert_ne!(chatter(5, true), chatter(6, true));
    }

    #[test]
    fn traffic_on_one_link_does_not_change_another() {
        let one_to_two = |log: Vec<Logged>| {
            log.into_iter()
                .filter(|(from, to, ..)| (*from, *to) == (addr(1), addr(2)))
                .collect::<Vec<_>>()
        };
        let quiet = one_to_two(chatter(9, false));
        assert!(quiet.len() > 1_500);
        assert_eq!(quiet, one_to_two(chatter(9, true)));
    }

    #[test]
    fn cut_drops_both_directions_and_restoring_resumes() {
        let start = Instant::now();
        let mut network = Network::new(3);
        let mut config = LinkConfig::default();
        config.delay(10 * MS).unwrap();
        network.set_link(addr(1), addr(2), config);
        network.send(start, addr(1), addr(2), b"before").unwrap();

        network.cut(addr(1), addr(2), true);
        for (from, to) in [(1, 2), (2, 1)] {
            assert_eq!(
                network.send(start, addr(from), addr(to), b"during").unwrap(),
                Verdict::Dropped(DropReason::Cut)
            );
        }
        assert_eq!(
            network.send(start, addr(1), addr(3), b"elsewhere").unwrap(),
            Verdict::Deliver { at: start, duplicate_at: None }
        );
        network.cut(addr(2), addr(1), false);
        network.send(start, addr(2), addr(1), b"after").unwrap();

        let mut clock = VirtualClock::starting_at(start);
        let texts: Vec<Vec<u8>> =
            drain(&mut network, &mut clock).into_iter().map(|(_, payload)| payload).collect();
        assert_eq!(texts, [&b"elsewhere"[..], b"after", b"before"]);
        assert_eq!(network.stats(addr(1), addr(2)).dropped_cut, 1);
        assert_eq!(network.stats(addr(2), addr(1)).dropped_cut, 1);
        assert!(!network.link(addr(1), addr(2)).unwrap().config().is_cut());
        assert_eq!(
            network.link(addr(1), addr(2)).unwrap().config().delay,
            10 * MS,
            "cutting keeps the other knobs"
        );
    }

    #[test]
    fn one_megabyte_at_100_kb_per_second_takes_ten_seconds() {
        let mut clock = VirtualClock::new();
        let start = clock.now();
        let mut network = Network::new(0);
        let mut config = LinkConfig::default();
        config.bandwidth_bytes_per_sec(100_000).unwrap();
        network.set_link(addr(1), addr(2), config);

        // 1000 payloads of 972 bytes: 1 MB on the wire with the 28 bytes of
        // IPv4 and UDP headers each.
        let payload = [0xAB; 972];
        for _ in 0..1_000 {
            network.send(start, addr(1), addr(2), &payload).unwrap();
        }
        let log = drain(&mut network, &mut clock);
        assert_eq!(log.len(), 1_000);
        assert_eq!(log[0].0.at - start, 10 * MS);
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
        let stats = network.stats(addr(1), addr(2));
        assert_eq!((stats.delivered, stats.delivered_bytes), (1_000, 1_000_000));
    }

    #[test]
    fn queue_limit_bounds_what_the_network_holds() {
        let start = Instant::now();
        let mut network = Network::new(0);
        let mut config = LinkConfig::default();
        config
            .bandwidth_bytes_per_sec(10_000)
            .unwrap()
            .delay(100 * MS)
            .unwrap()
            .queue_limit_bytes(20_000)
            .unwrap();
        network.set_link(addr(1), addr(2), config);

        for _ in 0..10_000 {
            network.send(start, addr(1), addr(2), &[0; 972]).unwrap();
            assert!(network.held_bytes() <= 20_000);
        }
        assert_eq!(network.in_flight(), 20);
        let stats = network.stats(addr(1), addr(2));
        assert_eq!((stats.offered, stats.dropped_queue_full), (10_000, 9_980));

        // Delivering frees room for more.
        let mut payload = Vec::new();
        let first = network.next_delivery().unwrap();
        network.pop_due(first, &mut payload).unwrap();
        assert!(matches!(
            network.send(first, addr(1), addr(2), &[0; 972]).unwrap(),
            Verdict::Deliver { .. }
        ));
        assert_eq!(network.held_bytes(), 20_000);
    }

    #[test]
    fn memory_limit_refuses_before_the_link_draws() {
        let now = Instant::now();
        let mut network = Network::new(0);
        network.set_memory_limit(10_000);
        for _ in 0..10 {
            network.send(now, addr(1), addr(2), &[0; 972]).unwrap();
        }
        assert_eq!(
            network.send(now, addr(1), addr(2), &[]),
            Err(SendError::NetworkFull { held_bytes: 10_000, limit: 10_000 })
        );
        assert_eq!(network.stats(addr(1), addr(2)).offered, 10);

        // A link that may duplicate needs room for both copies.
        let mut twice = LinkConfig::default();
        twice.duplicate(0.5).unwrap();
        network.set_link(addr(3), addr(2), twice);
        network.set_memory_limit(10_000 + 1_500);
        assert!(network.send(now, addr(3), addr(2), &[0; 972]).is_err());
        network.set_memory_limit(10_000 + 2_000);
        assert!(network.send(now, addr(3), addr(2), &[0; 972]).is_ok());
    }

    #[test]
    fn oversized_datagrams_are_refused() {
        let now = Instant::now();
        let mut network = Network::new(0);
        let mut buffer = vec![0; MAX_DATAGRAM_LEN + 1];
        assert_eq!(
            network.send(now, addr(1), addr(2), &buffer),
            Err(SendError::TooLarge { len: MAX_DATAGRAM_LEN + 1 })
        );
        assert!(network.link(addr(1), addr(2)).is_none(), "nothing was offered");
        buffer.pop();
        network.send(now, addr(1), addr(2), &buffer).unwrap();
        assert_eq!(network.pop_due(now, &mut Vec::new()).map(|d| d.to), Some(addr(2)));
    }

    #[test]
    fn counters_add_up_after_a_lossy_run() {
        let start = Instant::now();
        let mut clock = VirtualClock::starting_at(start);
        let mut network = Network::new(77);
        let mut config = lossy();
        config.queue_limit_bytes(8_000).unwrap().mtu_bytes(1_000).unwrap();
        network.set_link(addr(1), addr(2), config);
        for i in 0..20_000u32 {
            let len = (i % 1_100) as usize;
            network.send(clock.now(), addr(1), addr(2), &vec![0; len]).unwrap();
            clock.advance(MS / 2).unwrap();
            network.deliver_due(clock.now(), |_, _| ());
        }
        drain(&mut network, &mut clock);
        let s = network.stats(addr(1), addr(2));
        assert!(s.dropped_loss > 0 && s.dropped_queue_full > 0 && s.dropped_too_large > 0);
        assert!(s.duplicated > 0);
        let accepted =
            s.offered - s.dropped_cut - s.dropped_too_large - s.dropped_loss - s.dropped_queue_full;
        assert_eq!(accepted + s.duplicated, s.delivered);
        assert_eq!(network.link(addr(1), addr(2)).unwrap().in_flight_bytes(), 0);
        assert_eq!(network.held_bytes(), 0);
    }

    #[test]
    fn steady_traffic_reuses_buffers() {
        let mut clock = VirtualClock::new();
        let mut network = Network::new(4);
        let mut config = LinkConfig::default();
        config.delay(50 * MS).unwrap().duplicate(1.0).unwrap();
        network.set_link(addr(1), addr(2), config);
        network.set_link(addr(2), addr(1), config);

        let mut payload = Vec::new();
        let mut step = |network: &mut Network, clock: &mut VirtualClock| {
            network.send(clock.now(), addr(1), addr(2), &[1; 1_200]).unwrap();
            clock.advance(MS).unwrap();
            while let Some(delivery) = network.pop_due(clock.now(), &mut payload) {
                if delivery.to == addr(2) {
                    network.send(clock.now(), addr(2), addr(1), &payload[..600]).unwrap();
                }
            }
        };
        let buffers = |network: &Network| {
            let all = network
                .free_buffers
                .iter()
                .chain(network.in_flight.iter().map(|Reverse(f)| &f.payload));
            (
                all.clone().count(),
                all.map(Vec::capacity).sum::<usize>(),
                network.in_flight.capacity(),
            )
        };

        for _ in 0..1_000 {
            step(&mut network, &mut clock);
        }
        let warmed_up = buffers(&network);
        assert!(warmed_up.0 >= 300, "{warmed_up:?}");
        for _ in 0..10_000 {
            step(&mut network, &mut clock);
            assert_eq!(buffers(&network), warmed_up);
        }
    }
}
