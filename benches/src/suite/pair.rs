//! The server half of every scenario, on its own thread, and what it shares
//! with the client half: counters published once per service call (not per
//! message, so that reading them does not slow the server), and a window
//! over which it measures its own CPU time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::cpu::thread_cpu_time;
use super::netns::LossyNamespace;
use crate::drivers::{Delivery, Incoming, PeerId, Server, ServerSetup, System, Wait};

/// Bytes at the head of each message carrying its sequence number (per client).
pub(crate) const STAMP_LEN: usize = 8;

/// Writes sequence number `n` into `message`'s stamp.
pub(crate) fn stamp(message: &mut [u8], n: u64) {
    message[..STAMP_LEN].copy_from_slice(&n.to_le_bytes());
}

/// The sequence number in `message`'s stamp, if it has one.
fn read_stamp(message: &[u8]) -> Option<u64> {
    message.get(..STAMP_LEN)?.try_into().ok().map(u64::from_le_bytes)
}

/// What the server does with what arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Counts messages; with `in_order`, checks each client's stamps follow 0, 1, 2, ...
    Count {
        /// Check the order.
        in_order: bool,
    },
    /// Counts messages; checks each client's stamps only ever increase
    /// (sequenced delivery: gaps allowed, never an older one after a newer).
    Sequenced,
    /// Sends every message back to its sender, reliably.
    Echo,
    /// A game server: once per `period` it polls (never waiting), takes
    /// everything that arrived (counted, order checked with `in_order`),
    /// answers every client it heard from with one 64-byte unreliable
    /// state message, flushes, and sleeps until the next tick.
    Tick {
        /// Check each client's order.
        in_order: bool,
        /// Time between two ticks.
        period: Duration,
    },
}

/// The state message a [`Role::Tick`] server sends each client it heard from.
const STATE: [u8; 64] = [0x5E; 64];

/// CPU window phases, driven by the client half (0: none asked for).
const WINDOW_START: u8 = 1;
const WINDOW_OPEN: u8 = 2;
const WINDOW_CLOSE: u8 = 3;
const WINDOW_DONE: u8 = 4;

/// Counters the server publishes and flags the client half sets.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Messages received, all clients.
    pub(crate) delivered: AtomicU64,
    /// Messages whose stamp was not the next one of their client.
    pub(crate) misordered: AtomicU64,
    /// Connections completed.
    pub(crate) connects: AtomicU64,
    /// Set to end the server loop.
    pub(crate) stop: AtomicBool,
    window: AtomicU8,
    window_cpu_nanos: AtomicU64,
    window_messages: AtomicU64,
    /// The 99th percentile of a tick's duration in the window (tick servers).
    window_tick_p99_nanos: AtomicU64,
}

impl Shared {
    /// Messages received so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Asks the server to start measuring its CPU time at its next loop.
    pub(crate) fn open_window(&self) {
        self.window.store(WINDOW_START, Ordering::Release);
    }

    /// The 99th percentile of a tick's duration over the last closed window
    /// (zero unless the server ran ticks).
    pub(crate) fn tick_p99(&self) -> Duration {
        Duration::from_nanos(self.window_tick_p99_nanos.load(Ordering::Acquire))
    }

    /// Closes the window; returns the server's CPU time and the messages it
    /// received inside it, or `None` if the server did not answer in time.
    pub(crate) fn close_window(&self, patience: Duration) -> Option<(Duration, u64)> {
        let deadline = Instant::now() + patience;
        while self.window.load(Ordering::Acquire) == WINDOW_START {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::yield_now();
        }
        self.window.store(WINDOW_CLOSE, Ordering::Release);
        while self.window.load(Ordering::Acquire) != WINDOW_DONE {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Some((
            Duration::from_nanos(self.window_cpu_nanos.load(Ordering::Acquire)),
            self.window_messages.load(Ordering::Acquire),
        ))
    }
}

/// Starts a server of `system` on its own thread in `scope` and returns
/// where it listens. The thread runs until `shared.stop` is set; it joins
/// `namespace` first if one is given.
pub(crate) fn spawn_server<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    system: &'env dyn System,
    setup: ServerSetup,
    role: Role,
    wait: Wait,
    shared: &'env Shared,
    namespace: Option<&'env LossyNamespace>,
) -> Result<(SocketAddr, ScopedJoinHandle<'scope, Result<(), String>>), String> {
    let (ready, address) = mpsc::channel();
    // Named, so that a profiler can pick the server's samples out.
    let spawned =
        std::thread::Builder::new().name("server".into()).spawn_scoped(scope, move || {
            let result = serve(system, setup, role, wait, shared, namespace, &ready);
            if let Err(e) = &result {
                let _ = ready.send(Err(e.clone()));
            }
            result
        });
    let handle = spawned.map_err(|e| format!("server thread: {e}"))?;
    match address.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(address)) => Ok((address, handle)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the server did not start".into()),
    }
}

/// What the server counted, and the echoes it owes.
struct Tally {
    role: Role,
    next_stamp: Vec<u64>,
    delivered: u64,
    misordered: u64,
    connects: u64,
    echoes: Vec<(PeerId, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
}

impl Tally {
    fn new(role: Role) -> Self {
        Self {
            role,
            next_stamp: Vec::new(),
            delivered: 0,
            misordered: 0,
            connects: 0,
            echoes: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// The next stamp expected from `peer`.
    fn next_stamp(&mut self, peer: PeerId) -> &mut u64 {
        if self.next_stamp.len() <= peer {
            self.next_stamp.resize(peer + 1, 0);
        }
        &mut self.next_stamp[peer]
    }

    fn take(&mut self, incoming: Incoming<'_>) {
        match incoming {
            Incoming::Connected(peer) => {
                *self.next_stamp(peer) = 0;
                self.connects += 1;
            }
            Incoming::Message { peer, bytes } => {
                self.delivered += 1;
                match self.role {
                    Role::Count { in_order: true } | Role::Tick { in_order: true, .. } => {
                        let got = read_stamp(bytes).unwrap_or(u64::MAX);
                        let next = self.next_stamp(peer);
                        let wrong = got != *next;
                        *next = got.wrapping_add(1);
                        self.misordered += u64::from(wrong);
                    }
                    Role::Sequenced => {
                        let got = read_stamp(bytes).unwrap_or(0);
                        let next = self.next_stamp(peer);
                        if got < *next {
                            self.misordered += 1;
                        } else {
                            *next = got.wrapping_add(1);
                        }
                    }
                    Role::Echo => {
                        let mut copy = self.spare.pop().unwrap_or_default();
                        copy.clear();
                        copy.extend_from_slice(bytes);
                        self.echoes.push((peer, copy));
                    }
                    Role::Count { in_order: false } | Role::Tick { in_order: false, .. } => {}
                }
            }
            Incoming::Disconnected(_) => {}
        }
    }

    /// Publishes the counters (once per loop, not per message, so that
    /// reading them does not slow the server).
    fn publish(&self, shared: &Shared) {
        shared.delivered.store(self.delivered, Ordering::Release);
        shared.misordered.store(self.misordered, Ordering::Release);
        shared.connects.store(self.connects, Ordering::Release);
    }
}

/// The server side of the CPU window the client half opens and closes.
#[derive(Default)]
struct Window {
    start: (Duration, u64),
    open: bool,
    /// Durations of the ticks inside the window (tick servers).
    ticks: Vec<Duration>,
}

impl Window {
    /// Acts on what the client half asked for, at the end of a loop.
    fn poll(&mut self, shared: &Shared, delivered: u64) {
        match shared.window.load(Ordering::Acquire) {
            WINDOW_START => {
                self.start = (thread_cpu_time(), delivered);
                self.ticks.clear();
                self.open = true;
                shared.window.store(WINDOW_OPEN, Ordering::Release);
            }
            WINDOW_CLOSE => {
                let cpu = thread_cpu_time().saturating_sub(self.start.0);
                let nanos = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
                shared.window_cpu_nanos.store(nanos, Ordering::Release);
                shared.window_messages.store(delivered - self.start.1, Ordering::Release);
                self.ticks.sort_unstable();
                let at = (self.ticks.len().saturating_sub(1) as f64 * 0.99).round() as usize;
                let p99 = self.ticks.get(at).copied().unwrap_or_default();
                let p99 = u64::try_from(p99.as_nanos()).unwrap_or(u64::MAX);
                shared.window_tick_p99_nanos.store(p99, Ordering::Release);
                self.open = false;
                shared.window.store(WINDOW_DONE, Ordering::Release);
            }
            _ => {}
        }
    }
}

fn serve(
    system: &dyn System,
    setup: ServerSetup,
    role: Role,
    wait: Wait,
    shared: &Shared,
    namespace: Option<&LossyNamespace>,
    ready: &mpsc::Sender<Result<SocketAddr, String>>,
) -> Result<(), String> {
    if let Some(namespace) = namespace {
        namespace.enter().map_err(|e| e.to_string())?;
    }
    let mut server = system.server(setup).map_err(|e| format!("server: {e}"))?;
    let _ = ready.send(Ok(server.local_addr()));
    if let Role::Tick { period, .. } = role {
        return serve_ticks(server.as_mut(), role, period, shared);
    }
    let mut tally = Tally::new(role);
    let mut window = Window::default();
    while !shared.stop.load(Ordering::Acquire) {
        server
            .service(wait, &mut |incoming| tally.take(incoming))
            .map_err(|e| format!("server service: {e}"))?;
        if !tally.echoes.is_empty() {
            for (peer, message) in tally.echoes.drain(..) {
                server
                    .send(peer, Delivery::Reliable, &message)
                    .map_err(|e| format!("server send: {e}"))?;
                tally.spare.push(message);
            }
            server.flush().map_err(|e| format!("server flush: {e}"))?;
        }
        tally.publish(shared);
        window.poll(shared, tally.delivered);
    }
    Ok(())
}

/// The [`Role::Tick`] server loop.
fn serve_ticks(
    server: &mut dyn Server,
    role: Role,
    period: Duration,
    shared: &Shared,
) -> Result<(), String> {
    let mut tally = Tally::new(role);
    let mut window = Window::default();
    // Per client, the last tick it was heard in; the clients heard this tick.
    let mut heard_in: Vec<u64> = Vec::new();
    let mut heard: Vec<PeerId> = Vec::new();
    let mut next = Instant::now();
    let mut tick = 0_u64;
    while !shared.stop.load(Ordering::Acquire) {
        let started = Instant::now();
        tick += 1;
        server
            .service(Wait::Poll, &mut |incoming| {
                if let Incoming::Message { peer, .. } = incoming {
                    if heard_in.len() <= peer {
                        heard_in.resize(peer + 1, 0);
                    }
                    if heard_in[peer] != tick {
                        heard_in[peer] = tick;
                        heard.push(peer);
                    }
                }
                tally.take(incoming);
            })
            .map_err(|e| format!("server service: {e}"))?;
        for peer in heard.drain(..) {
            server
                .send(peer, Delivery::Unreliable, &STATE)
                .map_err(|e| format!("server send: {e}"))?;
        }
        server.flush().map_err(|e| format!("server flush: {e}"))?;
        if window.open {
            window.ticks.push(started.elapsed());
        }
        tally.publish(shared);
        window.poll(shared, tally.delivered);
        // The next tick on the beat; after an overrun, from now.
        next += period;
        let now = Instant::now();
        if next < now {
            next = now;
        } else {
            std::thread::sleep(next - now);
        }
    }
    Ok(())
}
