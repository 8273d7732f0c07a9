//! Round-trip time and variance, computed exactly as ENet does (integer milliseconds).

use crate::constants::INITIAL_ROUND_TRIP_TIME;
use crate::time::{duration_ms, time_difference};

/// Smoothed round-trip time and its variance, plus the per-interval extremes
/// the packet throttle compares against.
#[derive(Debug, Clone)]
pub(crate) struct RttEstimator {
    /// Smoothed round-trip time (ms).
    pub(crate) rtt: u32,
    /// Mean deviation (ms).
    pub(crate) variance: u32,
    /// Best RTT of the last throttle interval (ms).
    pub(crate) last_rtt: u32,
    /// Worst variance of the last throttle interval (ms, at least 1).
    pub(crate) last_variance: u32,
    lowest_rtt: u32,
    highest_variance: u32,
    epoch: u32,
    samples: u64,
}

impl Default for RttEstimator {
    fn default() -> Self {
        let initial = duration_ms(INITIAL_ROUND_TRIP_TIME);
        Self {
            rtt: initial,
            variance: 0,
            last_rtt: initial,
            last_variance: 0,
            lowest_rtt: initial,
            highest_variance: 0,
            epoch: 0,
            samples: 0,
        }
    }
}

impl RttEstimator {
    /// True before the first sample.
    pub(crate) fn is_first_sample(&self) -> bool {
        self.samples == 0
    }

    /// Takes one sample of `rtt` ms at protocol time `now`; `interval` is the
    /// throttle interval over which extremes are tracked.
    pub(crate) fn update(&mut self, rtt: u32, now: u32, interval: u32) {
        let first = self.samples == 0;
        if first {
            self.rtt = rtt;
            self.variance = rtt.div_ceil(2);
        } else {
            self.variance -= self.variance / 4;
            if rtt >= self.rtt {
                let diff = rtt - self.rtt;
                self.variance += diff / 4;
                self.rtt += diff / 8;
            } else {
                let diff = self.rtt - rtt;
                self.variance += diff / 4;
                self.rtt -= diff / 8;
            }
        }
        self.samples += 1;
        if self.rtt < self.lowest_rtt {
            self.lowest_rtt = self.rtt;
        }
        if self.variance > self.highest_variance {
            self.highest_variance = self.variance;
        }
        if first || time_difference(now, self.epoch) >= interval {
            self.epoch = now;
            self.last_rtt = self.lowest_rtt;
            self.last_variance = self.highest_variance.max(1);
            self.lowest_rtt = self.rtt;
            self.highest_variance = self.variance;
        }
    }

    /// Retransmission timeout for a command sent now (ms).
    pub(crate) fn retransmission_timeout(&self) -> u32 {
        self.rtt.saturating_add(self.variance.saturating_mul(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_rtt_and_half_variance() {
        let mut r = RttEstimator::default();
        assert_eq!((r.rtt, r.variance), (500, 0));
        r.update(41, 1, 5000);
        assert_eq!((r.rtt, r.variance), (41, 21));
        assert_eq!((r.last_rtt, r.last_variance), (41, 21));
    }

    #[test]
    fn later_samples_smooth_like_enet() {
        let mut r = RttEstimator::default();
        r.update(100, 1, 5000);
        // variance 50 -> 50 - 12 = 38, + (180-100)/4 = 58; rtt 100 + 80/8 = 110
        r.update(180, 2, 5000);
        assert_eq!((r.rtt, r.variance), (110, 58));
        // variance 58 -> 44 + (110-30)/4 = 64; rtt 110 - 80/8 = 100
        r.update(30, 3, 5000);
        assert_eq!((r.rtt, r.variance), (100, 64));
        assert_eq!(r.retransmission_timeout(), 100 + 4 * 64);
    }

    #[test]
    fn interval_extremes_roll_over() {
        let mut r = RttEstimator::default();
        r.update(100, 1, 5000);
        r.update(20, 10, 5000);
        assert_eq!(r.last_rtt, 100, "extremes kept until the interval ends");
        r.update(20, 6000, 5000);
        assert!(r.last_rtt < 100);
    }
}
