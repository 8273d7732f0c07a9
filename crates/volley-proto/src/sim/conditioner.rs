//! The link conditioner: decides the fate of each datagram offered to one
//! direction of a link.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::config::LinkConfig;

/// Bytes an IPv4 and a UDP header add to every datagram on the wire.
pub const IPV4_UDP_OVERHEAD: usize = 20 + 8;

/// Bytes an IPv6 and a UDP header add to every datagram on the wire.
pub const IPV6_UDP_OVERHEAD: usize = 40 + 8;

/// Length on the wire of a UDP datagram with `payload_len` bytes sent to
/// `destination`: the payload plus [`IPV4_UDP_OVERHEAD`] or
/// [`IPV6_UDP_OVERHEAD`].
///
/// This is the length [`LinkConditioner::decide`] and
/// [`LinkConditioner::release`] expect, and the unit of the bandwidth, queue
/// limit and MTU knobs. Counting headers makes a zero-byte datagram cost
/// something, as it does on a real link.
///
/// ```
/// use volley_proto::sim::wire_len;
///
/// assert_eq!(wire_len(1472, "192.0.2.1:7777".parse().unwrap()), 1500);
/// assert_eq!(wire_len(0, "[2001:db8::1]:7777".parse().unwrap()), 48);
/// ```
pub fn wire_len(payload_len: usize, destination: SocketAddr) -> usize {
    payload_len.saturating_add(match destination {
        SocketAddr::V4(_) => IPV4_UDP_OVERHEAD,
        SocketAddr::V6(_) => IPV6_UDP_OVERHEAD,
    })
}

/// Why a datagram did not make it onto the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The link is cut ([`LinkConfig::cut`]).
    Cut,
    /// The datagram is longer than the link's MTU ([`LinkConfig::mtu_bytes`]).
    TooLarge,
    /// Random loss ([`LinkConfig::loss`]).
    Loss,
    /// The link already holds its limit ([`LinkConfig::queue_limit_bytes`]),
    /// or its backlog reaches beyond representable time.
    QueueFull,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cut => "link cut",
            Self::TooLarge => "larger than the MTU",
            Self::Loss => "lost",
            Self::QueueFull => "queue full",
        })
    }
}

/// The fate of one datagram offered to a [`LinkConditioner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The datagram never arrives.
    Dropped(DropReason),
    /// The datagram arrives at `at`, and a second copy at `duplicate_at` if
    /// the link duplicated it. Either instant may come first.
    Deliver {
        /// When the datagram arrives.
        at: Instant,
        /// When its duplicate arrives, if there is one.
        duplicate_at: Option<Instant>,
    },
}

impl Verdict {
    /// Arrival instants of every copy: none, one or two.
    pub fn deliveries(self) -> impl Iterator<Item = Instant> {
        let copies = match self {
            Self::Dropped(_) => [None, None],
            Self::Deliver { at, duplicate_at } => [Some(at), duplicate_at],
        };
        copies.into_iter().flatten()
    }
}

/// Counters of one link direction. Bytes are wire bytes (see [`wire_len`]).
///
/// `offered = dropped_* + accepted`, and
/// `accepted + duplicated = delivered + copies still in flight`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Datagrams offered to the link.
    pub offered: u64,
    /// Bytes offered to the link.
    pub offered_bytes: u64,
    /// Dropped because the link was cut.
    pub dropped_cut: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_too_large: u64,
    /// Dropped by random loss.
    pub dropped_loss: u64,
    /// Dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Extra copies the link made.
    pub duplicated: u64,
    /// Copies handed on at their arrival (reported through
    /// [`LinkConditioner::release`]).
    pub delivered: u64,
    /// Bytes of the delivered copies.
    pub delivered_bytes: u64,
}

impl LinkStats {
    fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Cut => &mut self.dropped_cut,
            DropReason::TooLarge => &mut self.dropped_too_large,
            DropReason::Loss => &mut self.dropped_loss,
            DropReason::QueueFull => &mut self.dropped_queue_full,
        };
        *counter += 1;
    }
}

/// One direction of a link: applies a [`LinkConfig`] to each datagram with
/// seeded, reproducible randomness.
///
/// It only decides; whoever calls it holds each copy until its arrival
/// instant, then hands it on and calls [`release`](Self::release) so the
/// queue limit sees the bytes leave. [`Network`](super::Network) does this
/// for tests, and a host on real sockets can do the same on its send path to
/// let users try their game on a bad link.
///
/// # Determinism
///
/// Every offered datagram consumes the same number of random draws, whatever
/// the knobs and whatever happens to it. So the n-th datagram on a link sees
/// the same draws in every run with the same seed, raising the loss from 10%
/// to 20% keeps every datagram the 10% run lost, and cutting the link for a
/// while does not shift the pattern after it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use volley_proto::sim::{LinkConditioner, LinkConfig, wire_len};
///
/// let mut config = LinkConfig::default();
/// config.loss(0.1)?.delay(Duration::from_millis(40))?.seed(7);
/// let mut link = LinkConditioner::new(config);
///
/// // A host's send path: hold each copy until it is due.
/// let peer = "192.0.2.1:7777".parse()?;
/// let now = Instant::now();
/// let mut held = Vec::new();
/// for payload in [&b"hello"[..], b"world"] {
///     for due in link.decide(now, wire_len(payload.len(), peer)).deliveries() {
///         held.push((due, payload.to_vec()));
///     }
/// }
///
/// // Later, once the host's clock has passed `due`:
/// for (due, payload) in held.drain(..) {
///     assert_eq!(due, now + Duration::from_millis(40));
///     // socket.send_to(&payload, peer)?;
///     link.release(wire_len(payload.len(), peer))?;
/// }
/// assert_eq!(link.in_flight_bytes(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinkConditioner {
    config: LinkConfig,
    rng: SmallRng,
    /// When the bandwidth-limited link finishes sending what it already took.
    busy_until: Option<Instant>,
    in_flight_bytes: usize,
    stats: LinkStats,
}

impl LinkConditioner {
    /// Seed of a standalone conditioner whose config does not set one.
    pub const DEFAULT_SEED: u64 = 0;

    /// A conditioner applying `config`, seeded with the config's seed or
    /// [`DEFAULT_SEED`](Self::DEFAULT_SEED).
    pub fn new(config: LinkConfig) -> Self {
        Self::with_seed(config, config.seed.unwrap_or(Self::DEFAULT_SEED))
    }

    /// A conditioner seeded with `seed` unless the config pins its own.
    pub(super) fn with_seed(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SmallRng::seed_from_u64(config.seed.unwrap_or(seed)),
            busy_until: None,
            in_flight_bytes: 0,
            stats: LinkStats::default(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Applies `config` from now on. The queue, the bytes in flight, the
    /// counters and the random stream carry over, so changing a knob mid-run
    /// is a continuation of the same run; only a seed different from the
    /// current one restarts the random stream.
    pub fn reconfigure(&mut self, config: LinkConfig) {
        if let Some(seed) = config.seed
            && config.seed != self.config.seed
        {
            self.rng = SmallRng::seed_from_u64(seed);
        }
        self.config = config;
    }

    /// Cuts the link (everything offered is dropped) or restores it.
    pub fn set_cut(&mut self, cut: bool) {
        self.config.cut(cut);
    }

    /// Decides the fate of a datagram of `wire_len` bytes (see [`wire_len`])
    /// offered at `now`.
    ///
    /// Checks, in order: cut, MTU, loss, queue limit. A datagram that passes
    /// waits for the link to finish sending earlier ones (bandwidth), then
    /// arrives after the delay, its jitter, and the reordering hold-back if
    /// drawn. A duplicate is made only if the queue has room for it too.
    pub fn decide(&mut self, now: Instant, wire_len: usize) -> Verdict {
        let draws = Draws::take(&mut self.rng);
        self.stats.offered += 1;
        self.stats.offered_bytes = self.stats.offered_bytes.saturating_add(wire_len as u64);
        match self.admit(now, wire_len, &draws) {
            Ok(verdict) => verdict,
            Err(reason) => {
                self.stats.count_drop(reason);
                Verdict::Dropped(reason)
            }
        }
    }

    /// Reports that one copy of `wire_len` bytes has arrived and left the
    /// caller's hands, freeing its room in the queue.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::MoreThanInFlight`] if the link holds fewer bytes; the
    /// conditioner is left unchanged.
    pub fn release(&mut self, wire_len: usize) -> Result<(), ReleaseError> {
        self.in_flight_bytes =
            self.in_flight_bytes.checked_sub(wire_len).ok_or(ReleaseError::MoreThanInFlight {
                wire_len,
                in_flight_bytes: self.in_flight_bytes,
            })?;
        self.stats.delivered += 1;
        self.stats.delivered_bytes = self.stats.delivered_bytes.saturating_add(wire_len as u64);
        Ok(())
    }

    /// Wire bytes accepted and not yet released.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    fn admit(
        &mut self,
        now: Instant,
        wire_len: usize,
        draws: &Draws,
    ) -> Result<Verdict, DropReason> {
        let config = self.config;
        if config.cut {
            return Err(DropReason::Cut);
        }
        if config.mtu_bytes.is_some_and(|mtu| wire_len > mtu.get()) {
            return Err(DropReason::TooLarge);
        }
        if chance(draws.loss, config.loss) {
            return Err(DropReason::Loss);
        }
        if !self.has_room_for(wire_len) {
            return Err(DropReason::QueueFull);
        }
        let departure = self.departure(now, wire_len).ok_or(DropReason::QueueFull)?;
        let at = self.arrival(departure, draws.copies[0]).ok_or(DropReason::QueueFull)?;

        if config.bandwidth_bytes_per_sec.is_some() {
            self.busy_until = Some(departure);
        }
        self.in_flight_bytes += wire_len;
        let duplicate_at =
            if chance(draws.duplicate, config.duplicate) && self.has_room_for(wire_len) {
                self.arrival(departure, draws.copies[1])
            } else {
                None
            };
        if duplicate_at.is_some() {
            self.in_flight_bytes += wire_len;
            self.stats.duplicated += 1;
        }
        Ok(Verdict::Deliver { at, duplicate_at })
    }

    fn has_room_for(&self, wire_len: usize) -> bool {
        match self.in_flight_bytes.checked_add(wire_len) {
            None => false,
            Some(total) => self.config.queue_limit_bytes.is_none_or(|limit| total <= limit.get()),
        }
    }

    /// When the datagram has been fully put on the link.
    fn departure(&self, now: Instant, wire_len: usize) -> Option<Instant> {
        let Some(rate) = self.config.bandwidth_bytes_per_sec else {
            return Some(now);
        };
        let start = self.busy_until.map_or(now, |busy| busy.max(now));
        start.checked_add(transmission_time(wire_len, rate))
    }

    fn arrival(&self, departure: Instant, draws: CopyDraws) -> Option<Instant> {
        let delay = i128::from(nanos(self.config.delay));
        let jitter = uniform_offset(draws.jitter, nanos(self.config.jitter));
        // Jitter larger than the delay floors at zero: nothing arrives before
        // it left.
        let mut total = u64::try_from((delay + jitter).max(0)).ok()?;
        if chance(draws.reorder, self.config.reorder) {
            total = total.checked_add(nanos(self.config.reorder_delay))?;
        }
        departure.checked_add(Duration::from_nanos(total))
    }
}

/// Why [`LinkConditioner::release`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// More bytes released than the link holds: release each delivered copy
    /// exactly once, with the length it was offered with.
    MoreThanInFlight {
        /// The length passed to `release`.
        wire_len: usize,
        /// What the link held.
        in_flight_bytes: usize,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MoreThanInFlight { wire_len, in_flight_bytes } => {
                write!(f, "released {wire_len} bytes but the link holds only {in_flight_bytes}")
            }
        }
    }
}

impl std::error::Error for ReleaseError {}

/// The random numbers one offered datagram consumes, taken all at once so the
/// count never depends on the knobs or the outcome.
struct Draws {
    loss: u64,
    duplicate: u64,
    copies: [CopyDraws; 2],
}

/// The draws of one copy of a datagram.
#[derive(Clone, Copy)]
struct CopyDraws {
    jitter: u64,
    reorder: u64,
}

impl Draws {
    fn take(rng: &mut SmallRng) -> Self {
        // Struct fields are evaluated in the order written, which fixes the
        // order of the draws.
        Self {
            loss: rng.next_u64(),
            duplicate: rng.next_u64(),
            copies: [CopyDraws::take(rng), CopyDraws::take(rng)],
        }
    }
}

impl CopyDraws {
    fn take(rng: &mut SmallRng) -> Self {
        Self { jitter: rng.next_u64(), reorder: rng.next_u64() }
    }
}

/// True with `probability`: the draw's top 53 bits as a fraction in `0..1`.
fn chance(draw: u64, probability: f64) -> bool {
    const UNIT: f64 = 1.0 / (1u64 << 53) as f64;
    ((draw >> 11) as f64) * UNIT < probability
}

/// Maps a draw onto `-spread..=spread` nanoseconds, uniformly (multiply-shift;
/// the bias is below 2^-20 for any spread up to `MAX_LINK_DELAY`).
fn uniform_offset(draw: u64, spread: u64) -> i128 {
    let width = 2 * u128::from(spread) + 1;
    let pick = (u128::from(draw) * width) >> 64;
    pick as i128 - i128::from(spread)
}

/// A validated link delay in nanoseconds (always below `MAX_LINK_DELAY`, so
/// it fits).
fn nanos(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)
}

/// How long `wire_len` bytes take at `rate` bytes per second, rounded up to
/// the nanosecond.
fn transmission_time(wire_len: usize, rate: NonZeroU64) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let total = (wire_len as u128 * NANOS_PER_SEC).div_ceil(u128::from(rate.get()));
    // `total / NANOS_PER_SEC <= wire_len`, so the seconds fit in a u64.
    let secs = u64::try_from(total / NANOS_PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (total % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn conditioner(seed: u64, configure: impl FnOnce(&mut LinkConfig)) -> LinkConditioner {
        let mut config = LinkConfig::default();
        config.seed(seed);
        configure(&mut config);
        LinkConditioner::new(config)
    }

    /// Offers `count` datagrams of `wire_len` bytes, one every `spacing`,
    /// releasing nothing.
    fn offer(
        link: &mut LinkConditioner,
        start: Instant,
        count: u32,
        spacing: Duration,
        wire_len: usize,
    ) -> Vec<Verdict> {
        (0..count).map(|i| link.decide(start + spacing * i, wire_len)).collect()
    }

    /// Asserts `observed` is within five standard deviations of a binomial
    /// count; deterministic seeds make this exact, the margin makes it honest.
    fn assert_binomial(observed: u64, trials: u64, probability: f64) {
        let mean = trials as f64 * probability;
        let margin = 5.0 * (mean * (1.0 - probability)).sqrt();
        assert!(
            (observed as f64 - mean).abs() <= margin,
            "{observed} of {trials}, expected {mean} ± {margin}"
        );
    }

    #[test]
    fn wire_len_adds_ip_and_udp_headers() {
        assert_eq!(wire_len(100, "10.0.0.1:1".parse().unwrap()), 128);
        assert_eq!(wire_len(100, "[::1]:1".parse().unwrap()), 148);
        assert_eq!(wire_len(usize::MAX, "[::1]:1".parse().unwrap()), usize::MAX);
    }

    #[test]
    fn perfect_link_delivers_one_copy_at_once() {
        let mut link = LinkConditioner::new(LinkConfig::default());
        let now = Instant::now();
        for len in [0, 28, 65_535] {
            assert_eq!(link.decide(now, len), Verdict::Deliver { at: now, duplicate_at: None });
        }
        assert_eq!(link.in_flight_bytes(), 28 + 65_535);
        let stats = link.stats();
        assert_eq!((stats.offered, stats.offered_bytes, stats.duplicated), (3, 65_563, 0));
    }

    #[test]
    fn loss_rate_matches_the_probability_for_several_seeds() {
        let now = Instant::now();
        for probability in [0.01, 0.1, 0.3] {
            for seed in [1, 2, 3, 0xDEAD_BEEF, u64::MAX] {
                let mut link = conditioner(seed, |c| {
                    c.loss(probability).unwrap();
                });
                let verdicts = offer(&mut link, now, 100_000, Duration::ZERO, 100);
                let lost =
                    verdicts.iter().filter(|v| **v == Verdict::Dropped(DropReason::Loss)).count()
                        as u64;
                assert_eq!(link.stats().dropped_loss, lost);
                assert_binomial(lost, 100_000, probability);
            }
        }
    }

    #[test]
    fn loss_zero_never_drops_and_one_always_drops() {
        let now = Instant::now();
        let mut never = conditioner(5, |c| {
            c.loss(0.0).unwrap();
        });
        let mut always = conditioner(5, |c| {
            c.loss(1.0).unwrap();
        });
        for _ in 0..10_000 {
            assert!(matches!(never.decide(now, 10), Verdict::Deliver { .. }));
            assert_eq!(always.decide(now, 10), Verdict::Dropped(DropReason::Loss));
        }
        assert_eq!(always.in_flight_bytes(), 0);
    }

    fn everything(config: &mut LinkConfig) {
        config
            .loss(0.05)
            .unwrap()
            .delay(20 * MS)
            .unwrap()
            .jitter(5 * MS)
            .unwrap()
            .duplicate(0.05)
            .unwrap()
            .reorder(0.05, 15 * MS)
            .unwrap()
            .bandwidth_bytes_per_sec(1_000_000)
            .unwrap();
    }

    #[test]
    fn same_seed_gives_the_same_verdicts_and_another_seed_does_not() {
        let now = Instant::now();
        let run = |seed| offer(&mut conditioner(seed, everything), now, 10_000, MS, 700);
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn raising_the_loss_keeps_the_earlier_losses() {
        let now = Instant::now();
        let lost_at = |probability: f64, duplicate: f64| -> Vec<bool> {
            let mut link = conditioner(99, |c| {
                c.loss(probability).unwrap().duplicate(duplicate).unwrap();
            });
            offer(&mut link, now, 20_000, MS, 100)
                .iter()
                .map(|v| *v == Verdict::Dropped(DropReason::Loss))
                .collect()
        };
        let light = lost_at(0.1, 0.0);
        let heavy = lost_at(0.2, 0.3);
        assert!(light.iter().zip(&heavy).all(|(l, h)| !l || *h));
        assert!(heavy.iter().filter(|h| **h).count() > light.iter().filter(|l| **l).count());
    }

    #[test]
    fn a_cut_does_not_shift_the_pattern_after_it() {
        let now = Instant::now();
        let mut steady = conditioner(3, everything);
        let mut interrupted = conditioner(3, everything);
        for i in 0..3_000u32 {
            interrupted.set_cut((1_000..2_000).contains(&i));
            let at = now + MS * i;
            let expected = steady.decide(at, 500);
            let got = interrupted.decide(at, 500);
            if (1_000..2_000).contains(&i) {
                assert_eq!(got, Verdict::Dropped(DropReason::Cut));
            } else {
                assert_eq!(got, expected, "datagram {i}");
            }
        }
        assert_eq!(interrupted.stats().dropped_cut, 1_000);
    }

    #[test]
    fn cut_drops_everything_and_restoring_resumes() {
        let now = Instant::now();
        let mut link = conditioner(1, |c| {
            c.cut(true);
        });
        for _ in 0..100 {
            assert_eq!(link.decide(now, 50), Verdict::Dropped(DropReason::Cut));
        }
        link.set_cut(false);
        assert!(!link.config().is_cut());
        for _ in 0..100 {
            assert!(matches!(link.decide(now, 50), Verdict::Deliver { .. }));
        }
        assert_eq!(link.stats().dropped_cut, 100);
    }

    #[test]
    fn delays_stay_within_delay_plus_or_minus_jitter_and_cover_the_range() {
        let now = Instant::now();
        let mut link = conditioner(8, |c| {
            c.delay(50 * MS).unwrap().jitter(10 * MS).unwrap();
        });
        let delays: Vec<Duration> = offer(&mut link, now, 10_000, Duration::ZERO, 100)
            .into_iter()
            .flat_map(Verdict::deliveries)
            .map(|at| at - now)
            .collect();
        assert_eq!(delays.len(), 10_000);
        let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*min >= 40 * MS && *max <= 60 * MS, "{min:?}..{max:?}");
        assert!(*min < 40 * MS + Duration::from_micros(100), "{min:?}");
        assert!(*max > 60 * MS - Duration::from_micros(100), "{max:?}");
        let mean = delays.iter().sum::<Duration>() / 10_000;
        assert!(mean.abs_diff(50 * MS) < Duration::from_micros(300), "{mean:?}");
    }

    #[test]
    fn jitter_beyond_the_delay_never_arrives_before_sending() {
        let now = Instant::now();
        let mut link = conditioner(8, |c| {
            c.delay(5 * MS).unwrap().jitter(20 * MS).unwrap();
        });
        let arrivals: Vec<Instant> = offer(&mut link, now, 10_000, Duration::ZERO, 100)
            .into_iter()
            .flat_map(Verdict::deliveries)
            .collect();
        assert!(arrivals.iter().all(|at| *at >= now));
        assert!(arrivals.contains(&now), "the floor is reached");
        assert!(arrivals.iter().any(|at| *at > now + 24 * MS));
    }

    #[test]
    fn duplication_rate_matches_the_probability() {
        let now = Instant::now();
        for seed in [4, 40, 400] {
            let mut link = conditioner(seed, |c| {
                c.duplicate(0.25).unwrap().delay(30 * MS).unwrap().jitter(5 * MS).unwrap();
            });
            let verdicts = offer(&mut link, now, 100_000, Duration::ZERO, 10);
            let twice = verdicts
                .iter()
                .filter(|v| matches!(v, Verdict::Deliver { duplicate_at: Some(_), .. }))
                .count() as u64;
            assert_eq!(link.stats().duplicated, twice);
            assert_binomial(twice, 100_000, 0.25);
            let copies: Vec<Instant> = verdicts.iter().flat_map(|v| v.deliveries()).collect();
            assert!(copies.iter().all(|at| *at >= now + 25 * MS && *at <= now + 35 * MS));
            assert_eq!(copies.len() as u64, 100_000 + twice);
            assert_eq!(link.in_flight_bytes() as u64, 10 * (100_000 + twice));
        }
    }

    /// Arrivals in send order; counts how many arrive before an earlier send.
    fn overtaken(verdicts: &[Verdict]) -> usize {
        let arrivals: Vec<Instant> = verdicts.iter().flat_map(|v| v.deliveries()).collect();
        let mut latest = None;
        let mut count = 0;
        for at in arrivals {
            if latest.is_some_and(|latest| at < latest) {
                count += 1;
            }
            latest = latest.max(Some(at));
        }
        count
    }

    #[test]
    fn reordering_reorders_only_when_asked() {
        let now = Instant::now();
        let mut steady = conditioner(21, |c| {
            c.delay(40 * MS)
                .unwrap()
                .bandwidth_bytes_per_sec(100_000)
                .unwrap()
                .reorder(0.0, 30 * MS)
                .unwrap();
        });
        assert_eq!(overtaken(&offer(&mut steady, now, 10_000, MS, 100)), 0);

        let mut shuffled = conditioner(21, |c| {
            c.delay(40 * MS).unwrap().reorder(0.2, 30 * MS).unwrap();
        });
        let verdicts = offer(&mut shuffled, now, 10_000, MS, 100);
        let held_back = verdicts
            .iter()
            .enumerate()
            .filter(|(i, v)| v.deliveries().all(|at| at == now + MS * *i as u32 + 70 * MS))
            .count() as u64;
        assert_binomial(held_back, 10_000, 0.2);
        // Each held-back datagram is overtaken by the next 29 sends, unless
        // those were held back too.
        assert!(overtaken(&verdicts) > 10_000 / 2, "{}", overtaken(&verdicts));
    }

    #[test]
    fn bandwidth_serializes_datagrams_back_to_back() {
        let now = Instant::now();
        let mut link = conditioner(0, |c| {
            c.bandwidth_bytes_per_sec(100_000).unwrap().delay(25 * MS).unwrap();
        });
        // 1000 datagrams of 1000 wire bytes, all offered at once.
        let verdicts = offer(&mut link, now, 1_000, Duration::ZERO, 1_000);
        for (i, verdict) in (1..).zip(&verdicts) {
            let expected = now + 10 * MS * i + 25 * MS;
            assert_eq!(verdict.deliveries().collect::<Vec<_>>(), [expected]);
        }
        // An idle link starts sending at once, not where the backlog ended.
        let later = now + Duration::from_secs(60);
        assert_eq!(link.decide(later, 500).deliveries().next(), Some(later + 5 * MS + 25 * MS));
        // Rates that do not divide evenly round each datagram up to the
        // nanosecond.
        let mut odd = conditioner(0, |c| {
            c.bandwidth_bytes_per_sec(3).unwrap();
        });
        assert_eq!(
            odd.decide(now, 1).deliveries().next(),
            Some(now + Duration::from_nanos(333_333_334))
        );
    }

    #[test]
    fn queue_limit_tail_drops_and_release_makes_room() {
        let now = Instant::now();
        let mut link = conditioner(0, |c| {
            c.bandwidth_bytes_per_sec(1_000)
                .unwrap()
                .queue_limit_bytes(10_000)
                .unwrap()
                .duplicate(1.0)
                .unwrap();
        });
        let verdicts = offer(&mut link, now, 100, Duration::ZERO, 1_000);
        let accepted = verdicts.iter().filter(|v| !matches!(v, Verdict::Dropped(_)));
        assert_eq!(accepted.count(), 5, "each accepted datagram brings its duplicate");
        assert_eq!(link.in_flight_bytes(), 10_000);
        assert_eq!(link.stats().dropped_queue_full, 95);

        link.release(1_000).unwrap();
        assert_eq!(
            link.decide(now, 1_000).deliveries().count(),
            1,
            "room for the datagram but not for its duplicate"
        );
        assert_eq!(link.in_flight_bytes(), 10_000);
        let stats = link.stats();
        assert_eq!((stats.delivered, stats.delivered_bytes), (1, 1_000));
        assert_eq!(stats.duplicated, 5);
    }

    #[test]
    fn datagrams_over_the_mtu_are_dropped() {
        let now = Instant::now();
        let mut link = conditioner(0, |c| {
            c.mtu_bytes(1_500).unwrap();
        });
        assert!(matches!(link.decide(now, 1_500), Verdict::Deliver { .. }));
        assert_eq!(link.decide(now, 1_501), Verdict::Dropped(DropReason::TooLarge));
        assert_eq!(link.stats().dropped_too_large, 1);
    }

    #[test]
    fn releasing_more_than_in_flight_is_refused() {
        let now = Instant::now();
        let mut link = LinkConditioner::new(LinkConfig::default());
        link.decide(now, 100);
        assert_eq!(
            link.release(101),
            Err(ReleaseError::MoreThanInFlight { wire_len: 101, in_flight_bytes: 100 })
        );
        assert_eq!(link.in_flight_bytes(), 100);
        assert_eq!(link.stats().delivered, 0);
        link.release(100).unwrap();
        assert!(link.release(1).is_err());
    }

    #[test]
    fn reconfiguring_continues_the_run_unless_the_seed_changes() {
        let now = Instant::now();
        let mut whole = conditioner(6, everything);
        let expected = offer(&mut whole, now, 2_000, MS, 300);

        let mut split = conditioner(6, everything);
        let mut got = offer(&mut split, now, 1_000, MS, 300);
        let same = *split.config();
        split.reconfigure(same);
        got.extend(offer(&mut split, now + MS * 1_000, 1_000, MS, 300));
        assert_eq!(got, expected);
        assert_eq!(split.stats(), whole.stats());

        let mut reseeded = *split.config();
        reseeded.seed(77);
        split.reconfigure(reseeded);
        let later = now + Duration::from_secs(10);
        let fresh = offer(&mut conditioner(77, everything), later, 100, MS, 300);
        assert_eq!(offer(&mut split, later, 100, MS, 300), fresh);
    }

    #[test]
    fn unrepresentable_backlogs_drop_instead_of_overflowing() {
        let now = Instant::now();
        let mut slow = conditioner(0, |c| {
            c.bandwidth_bytes_per_sec(1).unwrap();
        });
        assert_eq!(slow.decide(now, usize::MAX), Verdict::Dropped(DropReason::QueueFull));
        assert_eq!(slow.in_flight_bytes(), 0);

        let mut unlimited = LinkConditioner::new(LinkConfig::default());
        assert!(matches!(unlimited.decide(now, usize::MAX), Verdict::Deliver { .. }));
        assert_eq!(unlimited.decide(now, 1), Verdict::Dropped(DropReason::QueueFull));
        assert_eq!(unlimited.in_flight_bytes(), usize::MAX);
    }
}
