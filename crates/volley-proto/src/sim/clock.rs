//! Virtual time: an [`Instant`] that only moves when a test says so.

use std::fmt;
use std::time::{Duration, Instant};

/// A clock that stands still until it is advanced.
///
/// It hands out real [`Instant`]s, so the protocol code under test cannot tell
/// it apart from wall-clock time, but a ten-second transfer runs in
/// microseconds and every run sees the same instants relative to the start.
/// Only differences between instants matter; the start point itself is
/// arbitrary.
///
/// ```
/// use std::time::Duration;
/// use volley_proto::sim::VirtualClock;
///
/// let mut clock = VirtualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_millis(250))?;
/// assert_eq!(clock.now() - start, Duration::from_millis(250));
/// assert_eq!(clock.elapsed(), Duration::from_millis(250));
/// # Ok::<(), volley_proto::sim::ClockError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualClock {
    start: Instant,
    now: Instant,
}

impl VirtualClock {
    /// A clock starting at the current instant (read once, never again).
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock starting at `start`.
    pub fn starting_at(start: Instant) -> Self {
        Self { start, now: start }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time passed since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves time forward by `by` and returns the new instant.
    ///
    /// # Errors
    ///
    /// [`ClockError::Overflow`] if the new instant cannot be represented; the
    /// clock is left unchanged.
    pub fn advance(&mut self, by: Duration) -> Result<Instant, ClockError> {
        self.now = self.now.checked_add(by).ok_or(ClockError::Overflow)?;
        Ok(self.now)
    }

    /// Moves time forward to `target` (staying put if it is `now`).
    ///
    /// # Errors
    ///
    /// [`ClockError::Backwards`] if `target` is earlier than `now`; the clock
    /// is left unchanged.
    pub fn advance_to(&mut self, target: Instant) -> Result<(), ClockError> {
        if target < self.now {
            return Err(ClockError::Backwards { by: self.now - target });
        }
        self.now = target;
        Ok(())
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a [`VirtualClock`] refused to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockError {
    /// The target lies in the past; virtual time never goes backwards.
    /// Advance only to instants at or after [`VirtualClock::now`].
    Backwards {
        /// How far before `now` the target was.
        by: Duration,
    },
    /// The new instant is beyond what [`Instant`] can represent; advance by a
    /// realistic amount.
    Overflow,
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backwards { by } => {
                write!(f, "virtual clock cannot go back ({by:?} before now)")
            }
            Self::Overflow => f.write_str("virtual clock advanced beyond the representable range"),
        }
    }
}

impl std::error::Error for ClockError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_by_exactly_the_duration() {
        let mut clock = VirtualClock::new();
        let start = clock.now();
        let after = clock.advance(Duration::from_millis(10)).unwrap();
        assert_eq!(after, start + Duration::from_millis(10));
        assert_eq!(clock.now(), after);
        clock.advance(Duration::ZERO).unwrap();
        assert_eq!(clock.elapsed(), Duration::from_millis(10));
    }

    #[test]
    fn advance_to_accepts_now_and_later() {
        let start = Instant::now();
        let mut clock = VirtualClock::starting_at(start);
        clock.advance_to(start).unwrap();
        clock.advance_to(start + Duration::from_secs(3)).unwrap();
        assert_eq!(clock.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn advance_to_the_past_is_refused() {
        let start = Instant::now();
        let mut clock = VirtualClock::starting_at(start);
        clock.advance(Duration::from_secs(2)).unwrap();
        assert_eq!(
            clock.advance_to(start + Duration::from_secs(1)),
            Err(ClockError::Backwards { by: Duration::from_secs(1) })
        );
        assert_eq!(clock.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn overflow_is_refused_and_leaves_the_clock_alone() {
        let mut clock = VirtualClock::new();
        let before = clock.now();
        assert_eq!(clock.advance(Duration::MAX), Err(ClockError::Overflow));
        assert_eq!(clock.now(), before);
    }
}
