//! Optional logs through [`tracing`](https://docs.rs/tracing) (feature
//! `tracing`, off by default; it turns on `volley-proto`'s too, which logs
//! each connection's life and the engine's dropped input).
//!
//! The host adds, at debug level: the socket it opened (target
//! `volley::host`), and datagrams its socket dropped — longer than any ENet
//! peer sends, or refused by the kernel on sending — the first after a quiet
//! spell at once, later ones summarised at most once a second (target
//! `volley_proto::drops`, source `volley::socket`).
//!
//! A server session logs each relay decision at trace level (target
//! `volley::relay`): the sender, and the relay verdict (Godot 3) or the
//! target (Godot 4).
//!
//! With the feature off the macros expand to nothing and [`SocketDropLog`]
//! is an empty type with empty methods.

use std::time::Instant;

use crate::socket::SocketStats;

/// A host event, at debug level (nothing without the feature).
#[cfg(feature = "tracing")]
macro_rules! host {
    ($($arg:tt)+) => {
        ::tracing::debug!(target: "volley::host", $($arg)+)
    };
}

/// A host event, at debug level (nothing without the feature).
#[cfg(not(feature = "tracing"))]
macro_rules! host {
    ($($arg:tt)+) => {};
}

pub(crate) use host;

/// A relay decision of a server session, at trace level (nothing without
/// the feature).
#[cfg(feature = "tracing")]
macro_rules! relay {
    ($($arg:tt)+) => {
        ::tracing::trace!(target: "volley::relay", $($arg)+)
    };
}

/// A relay decision of a server session, at trace level (nothing without
/// the feature).
#[cfg(not(feature = "tracing"))]
macro_rules! relay {
    ($($arg:tt)+) => {};
}

pub(crate) use relay;

/// The names of the socket's drop counts.
#[cfg(feature = "tracing")]
const SOCKET_DROP_NAMES: [&str; 2] = ["oversize datagram", "refused by the kernel on send"];

/// The rate-limited log of the socket's dropped datagrams.
#[derive(Debug, Default)]
pub(crate) struct SocketDropLog {
    #[cfg(feature = "tracing")]
    counter: volley_proto::DropCounter<2>,
}

impl SocketDropLog {
    /// Call after the socket was used, with its running totals.
    #[inline(always)]
    pub(crate) fn check(&mut self, stats: &SocketStats, now: Instant) {
        #[cfg(feature = "tracing")]
        self.counter.record(
            now,
            [stats.oversize_dropped, stats.send_errors],
            &SOCKET_DROP_NAMES,
            None,
            "volley::socket",
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (stats, now);
    }
}
