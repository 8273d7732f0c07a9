//! Memory budgets: how much received data and how many fragment groups a
//! peer may hold, and how much outgoing data may wait for it, so that one
//! peer's abuse never costs another peer its session.
//!
//! Each peer has a budget of its own, checked first. Host-wide limits bound
//! the total, but a peer holding less than its fair share (the host limit
//! over the peer slots) is never refused because of the others: a handful
//! of abusive peers that fill the host-wide limit block each other, not the
//! rest. The total can thus reach the host limit plus every peer's fair
//! share, twice the host limit at most.
//!
//! A peer that goes over its receive budget pays for it: its incomplete
//! unreliable fragment groups (lost data by definition, which the sender
//! never resends) are dropped first, then what it sends is refused and not
//! acknowledged (a live sender resends it later); a peer still holding a
//! reliable fragment group no sender would have left incomplete, one older
//! than its timeout maximum, is disconnected.

use crate::config::EndpointConfig;

/// Whether a peer may hold `bytes` more, given what it and the host hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitingBudget {
    /// Most one peer may hold.
    pub(crate) peer_limit: usize,
    /// Most all peers together may hold, beyond fair shares.
    pub(crate) host_limit: usize,
    /// What a peer may always hold, whatever the others do (if its own
    /// limit allows).
    pub(crate) fair_share: usize,
    /// Most incomplete fragment groups one peer may hold.
    pub(crate) max_fragment_groups: usize,
}

impl WaitingBudget {
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        Self {
            peer_limit: config.max_waiting_data,
            host_limit: config.max_host_waiting_data,
            fair_share: config.max_host_waiting_data / config.peer_limit.max(1),
            max_fragment_groups: config.max_fragment_groups,
        }
    }

    /// Whether a peer holding `peer` bytes, on a host holding `host`, may take `bytes` more.
    pub(crate) fn admits(&self, peer: usize, host: usize, bytes: usize) -> bool {
        let wanted = peer + bytes;
        wanted <= self.peer_limit && (host + bytes <= self.host_limit || wanted <= self.fair_share)
    }
}

/// The same rule for outgoing data (queued or in flight), with the
/// host-wide total kept as an estimate that only grows between exact
/// counts, so the common send never walks the peers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueBudget {
    peer_limit: usize,
    host_limit: usize,
    fair_share: usize,
    /// At least what all peers hold (sends since the last count added, releases not subtracted).
    estimate: usize,
}

/// Why an outgoing packet may not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueRefusal {
    /// Over the peer's own limit.
    Peer(usize),
    /// Over the host-wide limit, and the peer holds more than its fair share.
    Host(usize),
}

impl QueueBudget {
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        Self {
            peer_limit: config.max_queued_data,
            host_limit: config.max_host_queued_data,
            fair_share: config.max_host_queued_data / config.peer_limit.max(1),
            estimate: 0,
        }
    }

    /// Whether a peer holding `queued` bytes may queue `bytes` more;
    /// `host_total` counts what all peers hold (called only when needed).
    pub(crate) fn admit(
        &mut self,
        queued: usize,
        bytes: usize,
        host_total: impl FnOnce() -> usize,
    ) -> Result<(), QueueRefusal> {
        if queued + bytes > self.peer_limit {
            return Err(QueueRefusal::Peer(self.peer_limit));
        }
        if queued + bytes > self.fair_share && self.estimate + bytes > self.host_limit {
            self.estimate = host_total();
            if self.estimate + bytes > self.host_limit {
                return Err(QueueRefusal::Host(self.host_limit));
            }
        }
        self.estimate += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EndpointConfig {
        let mut config = EndpointConfig::default();
        config.peer_limit(4).max_waiting_data(1000).max_host_waiting_data(2000);
        config.max_queued_data(1000).max_host_queued_data(2000);
        config
    }

    #[test]
    fn a_peer_under_its_fair_share_is_never_refused_for_the_others() {
        let budget = WaitingBudget::new(&config());
        assert_eq!(budget.fair_share, 500);
        assert!(budget.admits(900, 1900, 100), "its own limit, and the host's, allow it");
        assert!(!budget.admits(900, 1950, 101), "its own limit does not");
        assert!(!budget.admits(600, 1950, 100), "over the host limit and over its share");
        assert!(budget.admits(100, 1950, 400), "over the host limit, within its share");
    }

    #[test]
    fn queued_data_counts_the_host_only_for_peers_over_their_share() {
        let mut budget = QueueBudget::new(&config());
        for _ in 0..4 {
            assert!(budget.admit(0, 400, || unreachable!()).is_ok(), "within the fair share");
        }
        assert_eq!(budget.admit(900, 200, || unreachable!()), Err(QueueRefusal::Peer(1000)));
        assert!(budget.admit(600, 300, || unreachable!()).is_ok(), "the estimate allows it");
        let mut counted = 0;
        let mut count = |total| {
            counted += 1;
            total
        };
        // The estimate (2200) would pass the host limit: count exactly.
        assert_eq!(budget.admit(600, 300, || count(1900)), Err(QueueRefusal::Host(2000)));
        assert!(budget.admit(600, 300, || count(200)).is_ok(), "others released theirs");
        assert_eq!(counted, 2);
    }
}
