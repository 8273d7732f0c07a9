//! The server half of every scenario, on its own thread, and what it shares
//! with the client half: counters published every few dozen messages and
//! after each service call (not per message, so that reading them does not
//! slow the server), the server thread's CPU clock, which the client half
//! reads at the two ends of a measuring window, and a tick server's tick
//! durations inside that window.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::cpu::{cpu_time_of, thread_cpu_clock};
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

/// Window phases for a tick server's tick durations, driven by the client
/// half (0: none asked for).
const WINDOW_OPEN: u8 = 1;
const WINDOW_CLOSE: u8 = 2;
const WINDOW_DONE: u8 = 3;

/// Messages between two publications of the server's count.
const PUBLISH_EVERY: u64 = 64;

/// Where a measuring window began (see [`Shared::open_window`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowStart {
    cpu: Duration,
    delivered: u64,
}

/// What the server did inside a measuring window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Its thread's CPU time.
    pub(crate) cpu: Duration,
    /// Messages it received.
    pub(crate) messages: u64,
    /// The 99th percentile of a tick's duration (tick servers; else zero).
    pub(crate) tick_p99: Duration,
}

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
    /// The server thread's CPU clock (`clockid_t`), once it runs.
    server_clock: AtomicI32,
    has_clock: AtomicBool,
    window: AtomicU8,
    /// The 99th percentile of a tick's duration in the window (tick servers).
    window_tick_p99_nanos: AtomicU64,
}

impl Shared {
    /// Messages received so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// The server thread's CPU time so far (zero before it published its clock).
    fn server_cpu(&self) -> Duration {
        if self.has_clock.load(Ordering::Acquire) {
            cpu_time_of(self.server_clock.load(Ordering::Acquire))
        } else {
            Duration::ZERO
        }
    }

    /// Opens a measuring window: reads the server thread's CPU clock and
    /// count now, whatever the server is doing (a library that keeps
    /// receiving inside one service call is measured all the same), and
    /// has a tick server record its ticks from now on.
    pub(crate) fn open_window(&self) -> WindowStart {
        self.window.store(WINDOW_OPEN, Ordering::Release);
        WindowStart { cpu: self.server_cpu(), delivered: self.delivered() }
    }

    /// Closes the window opened at `start`: the server's CPU time and the
    /// messages it received since, and, for a tick server (`ticks`), the
    /// 99th percentile of its ticks, which it works out at the end of its
    /// current tick (`None` if it does not within `patience`).
    pub(crate) fn close_window(
        &self,
        start: WindowStart,
        ticks: bool,
        patience: Duration,
    ) -> Option<Measured> {
        let cpu = self.server_cpu().saturating_sub(start.cpu);
        let messages = self.delivered().saturating_sub(start.delivered);
        let mut tick_p99 = Duration::ZERO;
        if ticks {
            self.window.store(WINDOW_CLOSE, Ordering::Release);
            let deadline = Instant::now() + patience;
            while self.window.load(Ordering::Acquire) != WINDOW_DONE {
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            tick_p99 = Duration::from_nanos(self.window_tick_p99_nanos.load(Ordering::Acquire));
        }
        self.window.store(0, Ordering::Release);
        Some(Measured { cpu, messages, tick_p99 })
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
struct Tally<'a> {
    shared: &'a Shared,
    role: Role,
    next_stamp: Vec<u64>,
    delivered: u64,
    misordered: u64,
    connects: u64,
    echoes: Vec<(PeerId, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
}

impl<'a> Tally<'a> {
    fn new(role: Role, shared: &'a Shared) -> Self {
        Self {
            shared,
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
                if self.delivered.is_multiple_of(PUBLISH_EVERY) {
                    self.shared.delivered.store(self.delivered, Ordering::Release);
                }
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
    fn publish(&self) {
        self.shared.delivered.store(self.delivered, Ordering::Release);
        self.shared.misordered.store(self.misordered, Ordering::Release);
        self.shared.connects.store(self.connects, Ordering::Release);
    }
}

/// A tick server's side of the measuring window: its ticks' durations.
#[derive(Default)]
struct TickWindow {
    ticks: Vec<Duration>,
}

impl TickWindow {
    /// Records a tick that took `took`, if the window is open, and answers
    /// a close with the 99th percentile.
    fn tick(&mut self, shared: &Shared, took: Duration) {
        match shared.window.load(Ordering::Acquire) {
            WINDOW_OPEN => self.ticks.push(took),
            WINDOW_CLOSE => {
                self.ticks.sort_unstable();
                let at = (self.ticks.len().saturating_sub(1) as f64 * 0.99).round() as usize;
                let p99 = self.ticks.get(at).copied().unwrap_or_default();
                let p99 = u64::try_from(p99.as_nanos()).unwrap_or(u64::MAX);
                shared.window_tick_p99_nanos.store(p99, Ordering::Release);
                self.ticks.clear();
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
    if let Some(clock) = thread_cpu_clock() {
        shared.server_clock.store(clock, Ordering::Release);
        shared.has_clock.store(true, Ordering::Release);
    }
    let _ = ready.send(Ok(server.local_addr()));
    if let Role::Tick { period, .. } = role {
        return serve_ticks(server.as_mut(), role, period, shared);
    }
    let mut tally = Tally::new(role, shared);
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
        tally.publish();
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
    let mut tally = Tally::new(role, shared);
    let mut window = TickWindow::default();
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
        window.tick(shared, started.elapsed());
        tally.publish();
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
