//! The knobs of one link direction, each validated when it is set.

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

/// Upper bound for [`LinkConfig::delay`], [`LinkConfig::jitter`] and the
/// extra delay of [`LinkConfig::reorder`].
///
/// An hour is far beyond any real path and keeps every computed delivery
/// instant comfortably representable.
pub const MAX_LINK_DELAY: Duration = Duration::from_secs(60 * 60);

/// How one direction of a link mistreats datagrams.
///
/// [`Default`] is a perfect link: no loss, no delay, unlimited bandwidth, no
/// queue limit. Setters chain on `&mut self`; the ones that can receive an
/// invalid value return a [`LinkConfigError`] and leave the config unchanged,
/// so a `LinkConfig` is always valid.
///
/// Sizes and rates count *wire* bytes: the payload plus the IP and UDP headers
/// (see [`wire_len`](super::wire_len)).
///
/// ```
/// use std::time::Duration;
/// use volley_proto::sim::LinkConfig;
///
/// let mut mobile = LinkConfig::default();
/// mobile
///     .loss(0.02)?
///     .delay(Duration::from_millis(60))?
///     .jitter(Duration::from_millis(15))?
///     .bandwidth_bytes_per_sec(250_000)?
///     .queue_limit_bytes(64 * 1024)?;
///
/// let mut typo = mobile;
/// assert!(typo.loss(1.5).is_err()); // a fraction, not a percentage
/// # Ok::<(), volley_proto::sim::LinkConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkConfig {
    pub(super) loss: f64,
    pub(super) delay: Duration,
    pub(super) jitter: Duration,
    pub(super) duplicate: f64,
    pub(super) reorder: f64,
    pub(super) reorder_delay: Duration,
    pub(super) bandwidth_bytes_per_sec: Option<NonZeroU64>,
    pub(super) queue_limit_bytes: Option<NonZeroUsize>,
    pub(super) mtu_bytes: Option<NonZeroUsize>,
    pub(super) cut: bool,
    pub(super) seed: Option<u64>,
}

impl LinkConfig {
    /// Probability in `0.0..=1.0` that a datagram is lost.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::ProbabilityOutOfRange`] outside `0.0..=1.0` or NaN.
    pub fn loss(&mut self, probability: f64) -> Result<&mut Self, LinkConfigError> {
        self.loss = probability_of("loss", probability)?;
        Ok(self)
    }

    /// One-way propagation delay added to every datagram.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::DelayTooLong`] above [`MAX_LINK_DELAY`].
    pub fn delay(&mut self, delay: Duration) -> Result<&mut Self, LinkConfigError> {
        self.delay = bounded_delay("delay", delay)?;
        Ok(self)
    }

    /// Uniform jitter: each copy's delay is drawn from
    /// `delay - jitter ..= delay + jitter`, floored at zero.
    ///
    /// Like a real path, jitter alone can reorder datagrams sent close
    /// together.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::DelayTooLong`] above [`MAX_LINK_DELAY`].
    pub fn jitter(&mut self, jitter: Duration) -> Result<&mut Self, LinkConfigError> {
        self.jitter = bounded_delay("jitter", jitter)?;
        Ok(self)
    }

    /// Probability in `0.0..=1.0` that a datagram arrives twice. The second
    /// copy draws its own jitter and reordering.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::ProbabilityOutOfRange`] outside `0.0..=1.0` or NaN.
    pub fn duplicate(&mut self, probability: f64) -> Result<&mut Self, LinkConfigError> {
        self.duplicate = probability_of("duplicate", probability)?;
        Ok(self)
    }

    /// With `probability`, a copy is held back for `extra_delay` more, so
    /// datagrams sent after it overtake it.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::ProbabilityOutOfRange`] for a bad probability,
    /// [`LinkConfigError::DelayTooLong`] for `extra_delay` above
    /// [`MAX_LINK_DELAY`].
    pub fn reorder(
        &mut self,
        probability: f64,
        extra_delay: Duration,
    ) -> Result<&mut Self, LinkConfigError> {
        let probability = probability_of("reorder", probability)?;
        self.reorder_delay = bounded_delay("reorder", extra_delay)?;
        self.reorder = probability;
        Ok(self)
    }

    /// Caps the link's rate. Datagrams are serialized one after another: a
    /// datagram leaves the link no earlier than the previous one has finished,
    /// then travels for [`delay`](Self::delay).
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::Zero`] for `0`; use [`cut`](Self::cut) to stop all
    /// traffic.
    pub fn bandwidth_bytes_per_sec(&mut self, rate: u64) -> Result<&mut Self, LinkConfigError> {
        self.bandwidth_bytes_per_sec = Some(
            NonZeroU64::new(rate)
                .ok_or(LinkConfigError::Zero { knob: "bandwidth_bytes_per_sec" })?,
        );
        Ok(self)
    }

    /// Tail-drops a datagram when the bytes the link holds (accepted and not
    /// yet delivered, queued or in propagation) would exceed `limit`. This
    /// bounds the memory of whoever holds the datagrams.
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::Zero`] for `0`; use [`cut`](Self::cut) to stop all
    /// traffic.
    pub fn queue_limit_bytes(&mut self, limit: usize) -> Result<&mut Self, LinkConfigError> {
        self.queue_limit_bytes = Some(
            NonZeroUsize::new(limit).ok_or(LinkConfigError::Zero { knob: "queue_limit_bytes" })?,
        );
        Ok(self)
    }

    /// Drops every datagram whose wire length exceeds `mtu` (1500 on
    /// Ethernet, which leaves 1472 payload bytes over IPv4).
    ///
    /// # Errors
    ///
    /// [`LinkConfigError::Zero`] for `0`; use [`cut`](Self::cut) to stop all
    /// traffic.
    pub fn mtu_bytes(&mut self, mtu: usize) -> Result<&mut Self, LinkConfigError> {
        self.mtu_bytes =
            Some(NonZeroUsize::new(mtu).ok_or(LinkConfigError::Zero { knob: "mtu_bytes" })?);
        Ok(self)
    }

    /// While `true`, every datagram is dropped, as if the cable were pulled.
    pub fn cut(&mut self, cut: bool) -> &mut Self {
        self.cut = cut;
        self
    }

    /// Pins the seed of the link's random draws. Without it, a
    /// [`Network`](super::Network) derives one from its own seed and the
    /// link's addresses, and a standalone
    /// [`LinkConditioner`](super::LinkConditioner) uses
    /// [`LinkConditioner::DEFAULT_SEED`](super::LinkConditioner::DEFAULT_SEED).
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.seed = Some(seed);
        self
    }

    /// Whether the link currently drops everything.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

fn probability_of(knob: &'static str, value: f64) -> Result<f64, LinkConfigError> {
    // `contains` is false for NaN, so NaN is rejected too.
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(LinkConfigError::ProbabilityOutOfRange { knob, value })
    }
}

fn bounded_delay(knob: &'static str, value: Duration) -> Result<Duration, LinkConfigError> {
    if value <= MAX_LINK_DELAY {
        Ok(value)
    } else {
        Err(LinkConfigError::DelayTooLong { knob, value })
    }
}

/// A [`LinkConfig`] setter received a value it cannot honour.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LinkConfigError {
    /// A probability outside `0.0..=1.0`, or NaN. Pass a fraction, not a
    /// percentage.
    ProbabilityOutOfRange {
        /// The setter that refused it.
        knob: &'static str,
        /// The value it was given.
        value: f64,
    },
    /// A delay above [`MAX_LINK_DELAY`]; use [`LinkConfig::cut`] to model a
    /// link that never delivers.
    DelayTooLong {
        /// The setter that refused it.
        knob: &'static str,
        /// The value it was given.
        value: Duration,
    },
    /// Zero for a rate or size; use [`LinkConfig::cut`] to stop all traffic.
    Zero {
        /// The setter that refused it.
        knob: &'static str,
    },
}

impl fmt::Display for LinkConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProbabilityOutOfRange { knob, value } => {
                write!(f, "{knob}: probability {value} is not within 0..=1")
            }
            Self::DelayTooLong { knob, value } => {
                write!(f, "{knob}: {value:?} exceeds the maximum of {MAX_LINK_DELAY:?}")
            }
            Self::Zero { knob } => write!(f, "{knob}: must not be zero"),
        }
    }
}

impl std::error::Error for LinkConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_a_perfect_link() {
        let config = LinkConfig::default();
        assert_eq!(config.loss, 0.0);
        assert_eq!(config.delay, Duration::ZERO);
        assert_eq!(config.jitter, Duration::ZERO);
        assert_eq!(config.duplicate, 0.0);
        assert_eq!(config.reorder, 0.0);
        assert_eq!(config.bandwidth_bytes_per_sec, None);
        assert_eq!(config.queue_limit_bytes, None);
        assert_eq!(config.mtu_bytes, None);
        assert!(!config.is_cut());
        assert_eq!(config.seed, None);
    }

    #[test]
    fn probabilities_outside_zero_to_one_are_refused() {
        for bad in [-0.01, 1.0001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 50.0] {
            let mut config = LinkConfig::default();
            let loss = config.loss(bad).unwrap_err();
            assert!(
                matches!(loss, LinkConfigError::ProbabilityOutOfRange { knob: "loss", .. }),
                "{loss}"
            );
            assert!(matches!(
                config.duplicate(bad),
                Err(LinkConfigError::ProbabilityOutOfRange { knob: "duplicate", .. })
            ));
            assert!(matches!(
                config.reorder(bad, Duration::from_millis(1)),
                Err(LinkConfigError::ProbabilityOutOfRange { knob: "reorder", .. })
            ));
            assert_eq!(config, LinkConfig::default(), "a refused value changes nothing");
        }
    }

    #[test]
    fn probability_bounds_are_inclusive() {
        let mut config = LinkConfig::default();
        config.loss(0.0).unwrap().loss(1.0).unwrap();
        config.duplicate(1.0).unwrap().reorder(1.0, Duration::ZERO).unwrap();
        assert_eq!((config.loss, config.duplicate, config.reorder), (1.0, 1.0, 1.0));
    }

    #[test]
    fn delays_above_the_maximum_are_refused() {
        let too_long = MAX_LINK_DELAY + Duration::from_nanos(1);
        let mut config = LinkConfig::default();
        config.delay(MAX_LINK_DELAY).unwrap().jitter(MAX_LINK_DELAY).unwrap();
        assert_eq!(
            config.delay(too_long).unwrap_err(),
            LinkConfigError::DelayTooLong { knob: "delay", value: too_long }
        );
        assert!(matches!(
            config.jitter(Duration::MAX),
            Err(LinkConfigError::DelayTooLong { knob: "jitter", .. })
        ));
        let before = config;
        assert!(matches!(
            config.reorder(0.5, too_long),
            Err(LinkConfigError::DelayTooLong { knob: "reorder", .. })
        ));
        assert_eq!(config, before, "a refused reorder leaves its probability alone");
    }

    #[test]
    fn zero_rates_and_sizes_are_refused() {
        let mut config = LinkConfig::default();
        for (result, knob) in [
            (config.bandwidth_bytes_per_sec(0).map(|_| ()), "bandwidth_bytes_per_sec"),
            (config.queue_limit_bytes(0).map(|_| ()), "queue_limit_bytes"),
            (config.mtu_bytes(0).map(|_| ()), "mtu_bytes"),
        ] {
            assert_eq!(result, Err(LinkConfigError::Zero { knob }));
        }
        assert_eq!(config, LinkConfig::default());
    }

    #[test]
    fn errors_name_the_knob() {
        let mut config = LinkConfig::default();
        assert_eq!(
            config.loss(2.0).unwrap_err().to_string(),
            "loss: probability 2 is not within 0..=1"
        );
        assert_eq!(config.mtu_bytes(0).unwrap_err().to_string(), "mtu_bytes: must not be zero");
        assert!(
            config
                .delay(Duration::from_secs(7200))
                .unwrap_err()
                .to_string()
                .starts_with("delay: 7200s exceeds")
        );
    }
}
