//! Endpoints wired to a [`Network`] under a [`VirtualClock`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Network, VirtualClock};
use crate::{Endpoint, Event, TRANSMIT_BUFFER_SIZE};

/// One endpoint of a [`Harness`] with the events it produced.
#[derive(Debug)]
pub struct Node {
    /// The endpoint's address on the simulated network.
    pub address: SocketAddr,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Events taken from the endpoint, oldest first.
    pub events: VecDeque<Event>,
    /// When false, events stay inside the endpoint (a receiver that does not
    /// read, holding its waiting-data budget).
    pub drain_events: bool,
}

/// Drives endpoints over a simulated network in virtual time: every step
/// jumps to the next delivery or deadline, so a minute of protocol time
/// costs only the work done in it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use volley_proto::sim::Harness;
/// use volley_proto::{Endpoint, EndpointConfig, Event};
///
/// let mut h = Harness::new(7);
/// let server = h.add("10.0.0.1:1".parse().unwrap(), Endpoint::with_seed(EndpointConfig::default(), 1)?);
/// let client = h.add("10.0.0.2:1".parse().unwrap(), Endpoint::with_seed(EndpointConfig::default(), 2)?);
/// let server_addr = h.node(server).address;
/// let now = h.now();
/// h.node(client).endpoint.connect(now, server_addr, 1, 0)?;
/// assert!(h.run_until(Duration::from_secs(5), |h| !h.node(server).events.is_empty()));
/// assert!(matches!(h.node(server).events.pop_front(), Some(Event::Connected { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Harness {
    clock: VirtualClock,
    network: Network,
    nodes: Vec<Node>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Harness {
    /// An empty harness whose network randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            clock: VirtualClock::new(),
            network: Network::new(seed),
            nodes: Vec::new(),
            buf: vec![0; TRANSMIT_BUFFER_SIZE],
            scratch: Vec::with_capacity(TRANSMIT_BUFFER_SIZE),
        }
    }

    /// Adds an endpoint at `address`; returns its node index.
    pub fn add(&mut self, address: SocketAddr, endpoint: Endpoint) -> usize {
        self.nodes.push(Node { address, endpoint, events: VecDeque::new(), drain_events: true });
        self.nodes.len() - 1
    }

    /// A node by index.
    pub fn node(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// The simulated network (to configure links, cut them, read counters).
    pub fn network(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Moves every datagram the endpoints want to send into the network.
    pub fn flush(&mut self) {
        let now = self.clock.now();
        for node in &mut self.nodes {
            while let Some(t) = node.endpoint.poll_transmit(now, &mut self.buf) {
                // A full network drops the datagram, as a full socket buffer would.
                let _ = self.network.send(now, node.address, t.destination, &self.buf[t.range]);
            }
        }
    }

    fn collect_events(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| n.drain_events) {
            while let Some(e) = node.endpoint.poll_event() {
                node.events.push_back(e);
            }
        }
    }

    /// Advances to the next delivery or deadline and processes it; returns
    /// false when nothing at all is scheduled.
    pub fn step(&mut self) -> bool {
        self.flush();
        let deadlines = self.nodes.iter().filter_map(|n| n.endpoint.poll_timeout());
        let Some(next) = deadlines.chain(self.network.next_delivery()).min() else {
            return false;
        };
        if next > self.clock.now() {
            // Moving forward to a later instant cannot fail.
            let _ = self.clock.advance_to(next);
        }
        let now = self.clock.now();
        while let Some(d) = self.network.pop_due(now, &mut self.scratch) {
            if let Some(node) = self.nodes.iter_mut().find(|n| n.address == d.to) {
                node.endpoint.handle_datagram(now, d.from, &self.scratch);
            }
        }
        for node in &mut self.nodes {
            if node.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                node.endpoint.handle_timeout(now);
            }
        }
        self.collect_events();
        self.flush();
        true
    }

    /// Runs for `duration` of virtual time (or until nothing is scheduled).
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.clock.now() + duration;
        self.run_until_instant(end, |_| false);
    }

    /// Runs until `done` holds or `limit` of virtual time passed; returns
    /// whether `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.clock.now() + limit;
        self.run_until_instant(end, done)
    }

    fn run_until_instant(&mut self, end: Instant, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.endpoint.poll_timeout())
                .chain(self.network.next_delivery())
                .min();
            if next.is_none_or(|t| t > end) {
                if end > self.clock.now() {
                    let _ = self.clock.advance_to(end);
                }
                return done(self);
            }
            self.step();
        }
    }
}
