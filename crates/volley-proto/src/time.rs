//! The protocol's 32-bit millisecond clock, derived from the caller's `Instant`s.
//!
//! ENet measures time as a wrapping `u32` of milliseconds and puts its low 16
//! bits on the wire. Volley keeps `Instant` at its API and converts here, once.

use std::time::{Duration, Instant};

use crate::constants::TIME_OVERFLOW_MS;

/// Maps caller `Instant`s onto the protocol's wrapping millisecond clock.
///
/// The clock starts at 1 (0 means "never" in several protocol fields).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self { epoch }
    }

    /// Protocol milliseconds at `now` (wrapping; 1 at the epoch).
    pub(crate) fn ms(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.epoch).as_millis();
        (elapsed as u32).wrapping_add(1)
    }

    /// Protocol milliseconds at `now`, wrapping and not, from one reading.
    pub(crate) fn times(&self, now: Instant) -> (u32, u64) {
        let unwrapped = self.ms_unwrapped(now);
        (unwrapped as u32, unwrapped)
    }

    /// Protocol milliseconds at `now`, counted without wrapping (1 at the epoch).
    pub(crate) fn ms_unwrapped(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX - 1)
            + 1
    }

    /// The `Instant` of unwrapped protocol time `ms`.
    pub(crate) fn instant_unwrapped(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms.saturating_sub(1))
    }

    /// The `Instant` of protocol time `ms`, taking the nearest one after `now`'s wrap.
    pub(crate) fn instant(&self, now: Instant, ms: u32) -> Instant {
        let now_ms = self.ms(now);
        if time_less(ms, now_ms) {
            now - Duration::from_millis(u64::from(now_ms.wrapping_sub(ms)))
        } else {
            now + Duration::from_millis(u64::from(ms.wrapping_sub(now_ms)))
        }
    }
}

/// `a` is earlier than `b` on the wrapping clock.
pub(crate) fn time_less(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) >= TIME_OVERFLOW_MS
}

/// Absolute distance between two times on the wrapping clock.
pub(crate) fn time_difference(a: u32, b: u32) -> u32 {
    if a.wrapping_sub(b) >= TIME_OVERFLOW_MS { b.wrapping_sub(a) } else { a.wrapping_sub(b) }
}

/// Wrapping protocol time `t` without wrapping, given that wrapping `now`
/// is `now_unwrapped` (`t` within the comparison window of `now`).
pub(crate) fn unwrap_time(t: u32, now: u32, now_unwrapped: u64) -> u64 {
    if time_less(t, now) {
        now_unwrapped.saturating_sub(u64::from(now.wrapping_sub(t)))
    } else {
        now_unwrapped + u64::from(t.wrapping_sub(now))
    }
}

/// Milliseconds in `d`, saturated to `u32`.
pub(crate) fn duration_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_at_one_and_counts_milliseconds() {
        let epoch = Instant::now();
        let clock = Clock::new(epoch);
        assert_eq!(clock.ms(epoch), 1);
        assert_eq!(clock.ms(epoch + Duration::from_millis(1500)), 1501);
        assert_eq!(clock.instant(epoch, 501), epoch + Duration::from_millis(500));
    }

    #[test]
    fn unwrapped_time_continues_past_the_wrap() {
        let epoch = Instant::now();
        let clock = Clock::new(epoch);
        let later = epoch + Duration::from_millis(1500);
        assert_eq!(clock.ms_unwrapped(later), 1501);
        assert_eq!(clock.times(later), (clock.ms(later), 1501));
        assert_eq!(clock.instant_unwrapped(1501), later);
        assert_eq!(unwrap_time(u32::MAX - 5, u32::MAX - 10, 1 << 32), (1 << 32) + 5);
        assert_eq!(unwrap_time(3, u32::MAX - 5, 1 << 32), (1 << 32) + 9, "across the wrap");
        assert_eq!(unwrap_time(u32::MAX - 5, 3, 1 << 32), (1 << 32) - 9, "behind, across it");
    }

    #[test]
    fn comparisons_survive_wrap_around() {
        assert!(time_less(u32::MAX - 5, 3));
        assert!(!time_less(3, u32::MAX - 5));
        assert_eq!(time_difference(3, u32::MAX - 5), 9);
        assert_eq!(time_difference(u32::MAX - 5, 3), 9);
    }
}
