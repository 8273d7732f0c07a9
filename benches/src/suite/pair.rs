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
use crate::drivers::{Delivery, Incoming, PeerId, ServerSetup, System, Wait};

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
}

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
    let mut next_stamp: Vec<u64> = Vec::new();
    let mut echoes: Vec<(PeerId, Vec<u8>)> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let (mut delivered, mut misordered, mut connects) = (0_u64, 0_u64, 0_u64);
    let mut window_start = (Duration::ZERO, 0_u64);
    while !shared.stop.load(Ordering::Acquire) {
        server
            .service(wait, &mut |incoming| match incoming {
                Incoming::Connected(peer) => {
                    if next_stamp.len() <= peer {
                        next_stamp.resize(peer + 1, 0);
                    }
                    next_stamp[peer] = 0;
                    connects += 1;
                }
                Incoming::Message { peer, bytes } => {
                    delivered += 1;
                    if role == (Role::Count { in_order: true }) {
                        if next_stamp.len() <= peer {
                            next_stamp.resize(peer + 1, 0);
                        }
                        let got = read_stamp(bytes).unwrap_or(u64::MAX);
                        if got != next_stamp[peer] {
                            misordered += 1;
                        }
                        next_stamp[peer] = got.wrapping_add(1);
                    }
                    if role == Role::Sequenced {
                        if next_stamp.len() <= peer {
                            next_stamp.resize(peer + 1, 0);
                        }
                        let got = read_stamp(bytes).unwrap_or(0);
                        if got < next_stamp[peer] {
                            misordered += 1;
                        } else {
                            next_stamp[peer] = got.wrapping_add(1);
                        }
                    }
                    if role == Role::Echo {
                        let mut copy = spare.pop().unwrap_or_default();
                        copy.clear();
                        copy.extend_from_slice(bytes);
                        echoes.push((peer, copy));
                    }
                }
                Incoming::Disconnected(_) => {}
            })
            .map_err(|e| format!("server service: {e}"))?;
        if !echoes.is_empty() {
            for (peer, message) in echoes.drain(..) {
                server
                    .send(peer, Delivery::Reliable, &message)
                    .map_err(|e| format!("server send: {e}"))?;
                spare.push(message);
            }
            server.flush().map_err(|e| format!("server flush: {e}"))?;
        }
        shared.delivered.store(delivered, Ordering::Release);
        shared.misordered.store(misordered, Ordering::Release);
        shared.connects.store(connects, Ordering::Release);
        match shared.window.load(Ordering::Acquire) {
            WINDOW_START => {
                window_start = (thread_cpu_time(), delivered);
                shared.window.store(WINDOW_OPEN, Ordering::Release);
            }
            WINDOW_CLOSE => {
                let cpu = thread_cpu_time().saturating_sub(window_start.0);
                let nanos = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
                shared.window_cpu_nanos.store(nanos, Ordering::Release);
                shared.window_messages.store(delivered - window_start.1, Ordering::Release);
                shared.window.store(WINDOW_DONE, Ordering::Release);
            }
            _ => {}
        }
    }
    Ok(())
}
