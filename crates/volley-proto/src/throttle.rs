//! The unreliable packet throttle: drops a share of unreliable packets at the
//! sender when round trips grow, as ENet does, but never below a floor.

use crate::constants::{PACKET_THROTTLE_COUNTER, PACKET_THROTTLE_SCALE};
use crate::rtt::RttEstimator;
use crate::wire::ThrottleParams;

/// Throttle state of one peer. `value / 32` of unreliable packets get through.
#[derive(Debug, Clone)]
pub(crate) struct PacketThrottle {
    /// Current throttle, `floor..=limit`.
    pub(crate) value: u32,
    /// Ceiling set by the host's bandwidth throttle.
    pub(crate) limit: u32,
    /// Parameters agreed with the remote.
    pub(crate) params: ThrottleParams,
    /// Lowest value the throttle may fall to.
    floor: u32,
    counter: u32,
}

impl PacketThrottle {
    pub(crate) fn new(params: ThrottleParams, floor: u32) -> Self {
        let floor = floor.min(PACKET_THROTTLE_SCALE);
        Self {
            value: PACKET_THROTTLE_SCALE,
            limit: PACKET_THROTTLE_SCALE,
            params,
            floor,
            counter: 0,
        }
    }

    /// Adjusts the throttle after an acknowledgement measured `rtt` ms.
    ///
    /// ENet's rule, with the floor: when the interval's best round trip is
    /// within its variance, open fully; when this one is no worse than the
    /// best, accelerate; when it exceeds the best by twice the variance, slow down.
    pub(crate) fn on_round_trip(&mut self, rtt: u32, estimator: &RttEstimator) {
        if estimator.last_rtt <= estimator.last_variance {
            self.value = self.limit;
        } else if rtt <= estimator.last_rtt {
            self.value = (self.value + self.params.acceleration).min(self.limit);
        } else if rtt > estimator.last_rtt.saturating_add(estimator.last_variance.saturating_mul(2))
        {
            self.value = self.value.saturating_sub(self.params.deceleration);
        }
        self.value = self.value.max(self.floor.min(self.limit));
    }

    /// Sets a new ceiling (from the bandwidth throttle), lowering the value to it.
    pub(crate) fn set_limit(&mut self, limit: u32) {
        self.limit = limit.clamp(1, PACKET_THROTTLE_SCALE);
        self.value = self.value.min(self.limit);
    }

    /// Decides whether the next unreliable packet is sent (`true`) or dropped.
    pub(crate) fn admit(&mut self) -> bool {
        self.counter = (self.counter + PACKET_THROTTLE_COUNTER) % PACKET_THROTTLE_SCALE;
        self.counter <= self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: ThrottleParams =
        ThrottleParams { interval: 5000, acceleration: 2, deceleration: 2 };

    fn estimator(last_rtt: u32, last_variance: u32) -> RttEstimator {
        let mut e = RttEstimator::default();
        e.last_rtt = last_rtt;
        e.last_variance = last_variance;
        e
    }

    #[test]
    fn full_throttle_admits_everything() {
        let mut t = PacketThrottle::new(PARAMS, 0);
        assert!((0..1000).all(|_| t.admit()));
    }

    #[test]
    fn throttle_admits_its_share() {
        let mut t = PacketThrottle::new(PARAMS, 0);
        t.value = 16;
        let admitted = (0..3200).filter(|_| t.admit()).count();
        assert_eq!(admitted, 1700, "counter values 0..=16 of 32 pass");
    }

    #[test]
    fn slow_round_trips_decelerate_down_to_the_floor() {
        let mut t = PacketThrottle::new(PARAMS, 8);
        let e = estimator(50, 5);
        for _ in 0..100 {
            t.on_round_trip(200, &e);
        }
        assert_eq!(t.value, 8);
        let mut unfloored = PacketThrottle::new(PARAMS, 0);
        for _ in 0..100 {
            unfloored.on_round_trip(200, &e);
        }
        assert_eq!(unfloored.value, 0);
    }

    #[test]
    fn good_round_trips_accelerate_to_the_limit() {
        let mut t = PacketThrottle::new(PARAMS, 0);
        t.value = 3;
        t.set_limit(20);
        let e = estimator(50, 5);
        for _ in 0..20 {
            t.on_round_trip(40, &e);
        }
        assert_eq!(t.value, 20);
        // Tiny round trips (best within its variance) open fully at once.
        t.value = 1;
        t.on_round_trip(1, &estimator(1, 1));
        assert_eq!(t.value, 20);
    }
}
