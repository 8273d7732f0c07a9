//! Optional logs through [`tracing`](https://docs.rs/tracing) (feature
//! `tracing`, off by default).
//!
//! - Connection lifecycle, at debug level, target `volley_proto::connection`:
//!   connecting, connect request, verify-connect sent, connected,
//!   disconnected with its reason (remote, local, timeout, refused), refused.
//! - Dropped or rejected input, at debug level, target `volley_proto::drops`:
//!   the first drop after a quiet spell is logged with its reason and
//!   source; the drops after it are counted and summarised at most once per
//!   [`DROP_SUMMARY_INTERVAL`], so a flood never gives a line per datagram.
//!
//! With the feature off the macros expand to nothing and [`DropLog`] is an
//! empty type whose methods are empty, so the engine pays nothing for them.

#[cfg(feature = "tracing")]
use std::fmt;
use std::net::SocketAddr;
#[cfg(feature = "tracing")]
use std::time::Duration;
use std::time::Instant;

use crate::EndpointStats;

/// The shortest time between two summaries of dropped input.
#[cfg(feature = "tracing")]
const DROP_SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

/// A connection lifecycle step, at debug level (nothing without the feature).
#[cfg(feature = "tracing")]
macro_rules! lifecycle {
    ($($arg:tt)+) => {
        ::tracing::debug!(target: "volley_proto::connection", $($arg)+)
    };
}

/// A connection lifecycle step, at debug level (nothing without the feature).
#[cfg(not(feature = "tracing"))]
macro_rules! lifecycle {
    ($($arg:tt)+) => {};
}

pub(crate) use lifecycle;

/// What an endpoint counts as dropped or rejected input.
#[cfg(feature = "tracing")]
fn endpoint_drops(stats: &EndpointStats) -> [u64; 6] {
    [
        stats.dropped_malformed,
        stats.dropped_checksum,
        stats.dropped_unknown_peer,
        stats.dropped_out_of_state,
        stats.dropped_waiting_data,
        stats.connects_ignored,
    ]
}

/// The names of [`endpoint_drops`]' counts.
#[cfg(feature = "tracing")]
const ENDPOINT_DROP_NAMES: [&str; 6] = [
    "malformed",
    "bad checksum",
    "unknown peer",
    "out of state",
    "waiting data full",
    "connect ignored",
];

/// The rate-limited log of an endpoint's dropped input: see the module docs.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    #[cfg(feature = "tracing")]
    counter: DropCounter<6>,
}

impl DropLog {
    /// Call after handling a datagram from `from`: logs its drop if it is the
    /// first in a while, or a summary if one is due.
    #[inline(always)]
    pub(crate) fn after_datagram(&mut self, stats: &EndpointStats, from: SocketAddr, now: Instant) {
        #[cfg(feature = "tracing")]
        self.counter.record(
            now,
            endpoint_drops(stats),
            &ENDPOINT_DROP_NAMES,
            Some(from),
            "volley_proto::endpoint",
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (stats, from, now);
    }

    /// Call on timers: a summary that is due goes out even if no datagram
    /// comes.
    #[inline(always)]
    pub(crate) fn on_timer(&mut self, stats: &EndpointStats, now: Instant) {
        #[cfg(feature = "tracing")]
        self.counter.record(
            now,
            endpoint_drops(stats),
            &ENDPOINT_DROP_NAMES,
            None,
            "volley_proto::endpoint",
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (stats, now);
    }
}

/// Running counts of `N` kinds of dropped input, logged at most once per
/// [`DROP_SUMMARY_INTERVAL`]; shared with the host for its socket's drops.
#[cfg(feature = "tracing")]
#[doc(hidden)]
#[derive(Debug)]
pub struct DropCounter<const N: usize> {
    /// The counts at the last call.
    last: [u64; N],
    /// Since when drops are being summarised, and the counts then.
    window: Option<(Instant, [u64; N])>,
}

#[cfg(feature = "tracing")]
impl<const N: usize> Default for DropCounter<N> {
    fn default() -> Self {
        Self { last: [0; N], window: None }
    }
}

#[cfg(feature = "tracing")]
impl<const N: usize> DropCounter<N> {
    /// Takes the running `counts` (named by `names`; `source` is the
    /// component, e.g. `volley_proto::endpoint`; `from` where the input
    /// came from, if known): a first drop is logged at once, later ones in
    /// a summary once the interval has passed.
    pub fn record(
        &mut self,
        now: Instant,
        counts: [u64; N],
        names: &'static [&'static str; N],
        from: Option<SocketAddr>,
        source: &'static str,
    ) {
        let last = std::mem::replace(&mut self.last, counts);
        match self.window {
            None if counts == last => {}
            None => {
                let reason = Breakdown::new(names, &last, &counts).first();
                ::tracing::debug!(
                    target: "volley_proto::drops",
                    source,
                    from = from.map(tracing::field::display),
                    reason,
                    "input dropped; further drops are summarised at most once a second"
                );
                self.window = Some((now, counts));
            }
            Some((since, at_start)) => {
                let elapsed = now.saturating_duration_since(since);
                if elapsed < DROP_SUMMARY_INTERVAL {
                    return;
                }
                let breakdown = Breakdown::new(names, &at_start, &counts);
                let dropped = breakdown.total();
                if dropped == 0 {
                    // A quiet interval: the next drop is logged by itself.
                    self.window = None;
                    return;
                }
                ::tracing::debug!(
                    target: "volley_proto::drops",
                    source,
                    dropped,
                    seconds = elapsed.as_secs_f64(),
                    reasons = %breakdown,
                    "input dropped since the last report"
                );
                self.window = Some((now, counts));
            }
        }
    }
}

/// The differences between two sets of counts, by name, for a log line.
#[cfg(feature = "tracing")]
struct Breakdown<'a, const N: usize> {
    names: &'a [&'static str; N],
    deltas: [u64; N],
}

#[cfg(feature = "tracing")]
impl<'a, const N: usize> Breakdown<'a, N> {
    fn new(names: &'a [&'static str; N], from: &[u64; N], to: &[u64; N]) -> Self {
        Self { names, deltas: std::array::from_fn(|i| to[i].saturating_sub(from[i])) }
    }

    fn total(&self) -> u64 {
        self.deltas.iter().sum()
    }

    /// The name of the first count that grew.
    fn first(&self) -> Option<&'static str> {
        self.deltas.iter().position(|d| *d > 0).map(|i| self.names[i])
    }
}

#[cfg(feature = "tracing")]
impl<const N: usize> fmt::Display for Breakdown<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, delta) in self.names.iter().zip(&self.deltas).filter(|(_, d)| **d > 0) {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "{name}: {delta}")?;
            first = false;
        }
        Ok(())
    }
}
