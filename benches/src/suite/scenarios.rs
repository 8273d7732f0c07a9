//! The scenarios, each written once against the driver traits.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::LossyNamespace;
use super::pair::{Role, STAMP_LEN, Shared, spawn_server, stamp};
use crate::drivers::{Client, Delivery, Feature, Incoming, ServerSetup, System, Wait};

/// How long a transfer may go without progress before it is declared stuck.
const STALL: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_PATIENCE: Duration = Duration::from_secs(20);
/// Unreliable messages a sender keeps ahead of what the server counted.
const UNRELIABLE_WINDOW: u64 = 256;
/// Without delivery progress for this long, unreliable messages ahead are written off as lost.
const UNRELIABLE_GIVE_UP: Duration = Duration::from_millis(5);
/// Size of the ping-pong message.
const PING_LEN: usize = 32;
/// Messages each client sends per tick in the many-peers scenario.
const PEER_BURST: u64 = 20;
/// Size of those messages.
const PEER_MESSAGE_LEN: usize = 64;
/// Tick rate of those clients.
const PEER_TICK: Duration = Duration::from_nanos(1_000_000_000 / 30);
/// How long a server in the many-peers scenario may block per service call.
const SERVER_BLOCK: Duration = Duration::from_millis(5);

/// Where the server listens: loopback (in the lossy namespace, its loopback).
fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Sizes of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    /// Length of one measurement.
    pub(crate) measure: Duration,
    /// Client counts of the two many-peers rows.
    pub(crate) peers: [usize; 2],
    /// Clients connecting at once in the connection-setup scenario.
    pub(crate) connect_batch: usize,
}

impl Scale {
    /// A few seconds per measurement, the client counts.
    pub(crate) const FULL: Self =
        Self { measure: Duration::from_secs(2), peers: [200, 1000], connect_batch: 16 };

    /// CI-sized: short measurements, fewer clients.
    pub(crate) const QUICK: Self =
        Self { measure: Duration::from_millis(250), peers: [20, 100], connect_batch: 8 };
}

/// A client and the server's counters, joined in one measurement.
fn connect(system: &dyn System, server: SocketAddr) -> Result<Box<dyn Client>, String> {
    let mut client = system.client(server).map_err(|e| format!("client: {e}"))?;
    let deadline = Instant::now() + CONNECT_PATIENCE;
    let mut up = false;
    while !up {
        client
            .service(Wait::Poll, &mut |incoming| up |= matches!(incoming, Incoming::Connected(_)))
            .map_err(|e| format!("connecting: {e}"))?;
        if Instant::now() > deadline {
            return Err("connect timed out".into());
        }
    }
    Ok(client)
}

/// Runs `client_half` on its own thread against a server of `system`
/// (`role`, `wait`) on another; both join `namespace` when given. Stops the
/// server when the client half ends.
fn with_server<T: Send>(
    system: &dyn System,
    peers: usize,
    role: Role,
    wait: Wait,
    namespace: Option<&LossyNamespace>,
    client_half: impl FnOnce(SocketAddr, &Shared) -> Result<T, String> + Send,
) -> Result<T, String> {
    let shared = &Shared::default();
    thread::scope(|scope| {
        let setup = ServerSetup { bind: loopback(), peers };
        let (address, server) = spawn_server(scope, system, setup, role, wait, shared, namespace)?;
        let client = scope.spawn(move || {
            if let Some(namespace) = namespace {
                namespace.enter().map_err(|e| e.to_string())?;
            }
            client_half(address, shared)
        });
        let result = client.join().unwrap_or_else(|_| Err("the client half panicked".into()));
        shared.stop.store(true, std::sync::atomic::Ordering::Release);
        let served = server.join().unwrap_or_else(|_| Err("the server panicked".into()));
        let value = result?;
        served?;
        Ok(value)
    })
}

/// A reliable stream: messages delivered per second, all in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    /// Messages delivered.
    pub(crate) messages: u64,
    /// From the first send to the last delivery.
    pub(crate) elapsed: Duration,
}

impl Stream {
    /// Messages per second.
    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

/// Scenario 1 (and 7 in a lossy namespace): `len`-byte reliable messages
/// from one client for `duration`, fed as the library asks, until the
/// server has every one; the server checks the order.
pub(crate) fn reliable_stream(
    system: &dyn System,
    len: usize,
    duration: Duration,
    namespace: Option<&LossyNamespace>,
) -> Result<Stream, String> {
    let role = Role::Count { in_order: true };
    with_server(system, 1, role, Wait::Poll, namespace, |server, shared| {
        let mut client = connect(system, server)?;
        let mut message = vec![0xA5; len.max(STAMP_LEN)];
        let start = Instant::now();
        let (mut sent, mut last_delivered, mut last_progress) = (0_u64, 0_u64, start);
        loop {
            let delivered = shared.delivered();
            let now = Instant::now();
            if delivered != last_delivered {
                (last_delivered, last_progress) = (delivered, now);
            } else if now - last_progress > STALL {
                return Err(format!("stalled: {delivered} of {sent} delivered"));
            }
            if now - start < duration {
                for _ in 0..client.room(len, sent - delivered) {
                    stamp(&mut message, sent);
                    client.send(Delivery::Reliable, &message).map_err(|e| format!("send: {e}"))?;
                    sent += 1;
                }
            } else if delivered >= sent {
                break;
            }
            client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
        }
        let elapsed = start.elapsed();
        let misordered = shared.misordered.load(std::sync::atomic::Ordering::Acquire);
        if misordered > 0 {
            return Err(format!("{misordered} of {sent} messages out of order"));
        }
        Ok(Stream { messages: sent, elapsed })
    })
}

/// Unreliable delivery: rate and share lost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unreliable {
    /// Messages delivered per second.
    pub(crate) rate: f64,
    /// Share of the messages sent that never arrived, in percent.
    pub(crate) loss_percent: f64,
}

/// Scenario 2: 64-byte unsequenced messages for `duration`, each sender
/// kept [`UNRELIABLE_WINDOW`] messages ahead of what the server counted
/// (messages that make no progress for a while are written off as lost).
pub(crate) fn unreliable_stream(
    system: &dyn System,
    duration: Duration,
) -> Result<Unreliable, String> {
    let len = 64;
    let role = Role::Count { in_order: false };
    with_server(system, 1, role, Wait::Poll, None, |server, shared| {
        let mut client = connect(system, server)?;
        let mut message = vec![0x5A; len];
        let start = Instant::now();
        let (mut sent, mut written_off) = (0_u64, 0_u64);
        let (mut last_delivered, mut last_progress) = (0_u64, start);
        while start.elapsed() < duration {
            let delivered = shared.delivered();
            let now = Instant::now();
            if delivered != last_delivered {
                (last_delivered, last_progress) = (delivered, now);
            }
            let ahead = sent.saturating_sub(delivered + written_off);
            if ahead < UNRELIABLE_WINDOW {
                for _ in ahead..UNRELIABLE_WINDOW {
                    stamp(&mut message, sent);
                    client
                        .send(Delivery::Unreliable, &message)
                        .map_err(|e| format!("send: {e}"))?;
                    sent += 1;
                }
            } else if now - last_progress > UNRELIABLE_GIVE_UP {
                written_off = sent - delivered;
                last_progress = now;
            }
            client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
        }
        let sending = start.elapsed();
        // Let what is in flight land.
        let settle = Instant::now() + Duration::from_millis(100);
        while Instant::now() < settle {
            client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
        }
        let delivered = shared.delivered().min(sent);
        if sent == 0 {
            return Err("nothing sent".into());
        }
        Ok(Unreliable {
            rate: delivered as f64 / sending.as_secs_f64(),
            loss_percent: 100.0 * (sent - delivered) as f64 / sent as f64,
        })
    })
}

/// Round-trip times, sorted.
#[derive(Debug, Clone)]
pub(crate) struct RoundTrips(Vec<Duration>);

impl RoundTrips {
    /// The `q` quantile (0.5: median).
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        let at = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0.get(at).copied().unwrap_or_default()
    }
}

/// Scenario 3: a 32-byte reliable message to a server that echoes it,
/// again and again for `duration`; both ends busy-poll, or both block.
pub(crate) fn ping_pong(
    system: &dyn System,
    blocking: bool,
    duration: Duration,
) -> Result<RoundTrips, String> {
    let wait = if blocking { Wait::Block(Duration::from_millis(100)) } else { Wait::Poll };
    with_server(system, 1, Role::Echo, wait, None, |server, _| {
        let mut client = connect(system, server)?;
        let mut message = [0x3C_u8; PING_LEN];
        let warm_up = 200;
        let mut samples = Vec::new();
        let start = Instant::now();
        let mut n = 0_u64;
        while start.elapsed() < duration || samples.len() < 100 {
            stamp(&mut message, n);
            let sent_at = Instant::now();
            client.send(Delivery::Reliable, &message).map_err(|e| format!("send: {e}"))?;
            client.flush().map_err(|e| format!("flush: {e}"))?;
            let mut back = false;
            while !back {
                client
                    .service(wait, &mut |incoming| {
                        back |= matches!(incoming, Incoming::Message { bytes, .. } if bytes.len() == PING_LEN);
                    })
                    .map_err(|e| format!("service: {e}"))?;
                if sent_at.elapsed() > STALL {
                    return Err("no echo".into());
                }
            }
            let rtt = sent_at.elapsed();
            if n >= warm_up {
                samples.push(rtt);
            }
            n += 1;
        }
        samples.sort_unstable();
        Ok(RoundTrips(samples))
    })
}

/// Server cost in the many-peers scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeersCost {
    /// Server thread CPU time per message received.
    pub(crate) cpu_per_message: Duration,
    /// Messages the server received per second in the window.
    pub(crate) rate: f64,
}

/// Scenario 4: `peers` clients on one thread, each sending 20 reliable
/// 64-byte messages per tick at 30 Hz (ticks spread evenly), to a server
/// that blocks between arrivals; the server's thread CPU time per message
/// over `duration`.
pub(crate) fn many_peers(
    system: &dyn System,
    peers: usize,
    duration: Duration,
) -> Result<PeersCost, String> {
    // Without retransmission (raw UDP), a burst the socket buffer cannot
    // hold is lost, not late: only count then.
    let role = Role::Count { in_order: system.lacks(Feature::Retransmission).is_none() };
    let wait = Wait::Block(SERVER_BLOCK);
    with_server(system, peers, role, wait, None, |server, shared| {
        let mut clients = Vec::with_capacity(peers);
        for _ in 0..peers {
            clients.push(system.client(server).map_err(|e| format!("client: {e}"))?);
        }
        let mut up = vec![false; peers];
        let mut waiting = peers;
        let deadline = Instant::now() + CONNECT_PATIENCE;
        while waiting > 0 {
            for (client, up) in clients.iter_mut().zip(&mut up) {
                client
                    .service(Wait::Poll, &mut |incoming| {
                        if matches!(incoming, Incoming::Connected(_)) && !*up {
                            *up = true;
                            waiting -= 1;
                        }
                    })
                    .map_err(|e| format!("connecting: {e}"))?;
            }
            if Instant::now() > deadline {
                return Err(format!("{waiting} of {peers} clients did not connect"));
            }
        }
        let start = Instant::now();
        let spacing = PEER_TICK / u32::try_from(peers).unwrap_or(u32::MAX).max(1);
        let mut next_tick: Vec<Instant> =
            (0..peers).map(|i| start + spacing * u32::try_from(i).unwrap_or(0)).collect();
        let mut sent = vec![0_u64; peers];
        let mut message = vec![0x11_u8; PEER_MESSAGE_LEN];
        let warm_up = start + Duration::from_millis(300).min(duration);
        let end = warm_up + duration;
        let mut window_open = false;
        loop {
            let now = Instant::now();
            if !window_open && now >= warm_up {
                shared.open_window();
                window_open = true;
            }
            if now >= end {
                break;
            }
            for (i, client) in clients.iter_mut().enumerate() {
                if next_tick[i] <= now {
                    for _ in 0..PEER_BURST {
                        stamp(&mut message, sent[i]);
                        client
                            .send(Delivery::Reliable, &message)
                            .map_err(|e| format!("send: {e}"))?;
                        sent[i] += 1;
                    }
                    next_tick[i] += PEER_TICK;
                }
                client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
            }
            let soonest = next_tick.iter().min().copied().unwrap_or(now);
            let pause = soonest.saturating_duration_since(Instant::now());
            thread::sleep(pause.min(Duration::from_millis(1)));
        }
        let (cpu, messages) =
            shared.close_window(Duration::from_secs(5)).ok_or("the server did not report")?;
        let misordered = shared.misordered.load(std::sync::atomic::Ordering::Acquire);
        if misordered > 0 {
            return Err(format!("{misordered} messages out of order"));
        }
        if messages == 0 {
            return Err("no message reached the server".into());
        }
        Ok(PeersCost {
            cpu_per_message: cpu / u32::try_from(messages).unwrap_or(u32::MAX),
            rate: messages as f64 / duration.as_secs_f64(),
        })
    })
}

/// Scenario 5: batches of `batch` clients connect at once; each batch is
/// dropped (disconnecting) once all are up. Connections per second over
/// `duration`, client creation included.
pub(crate) fn connects(
    system: &dyn System,
    batch: usize,
    duration: Duration,
) -> Result<f64, String> {
    let role = Role::Count { in_order: false };
    with_server(system, batch * 4, role, Wait::Poll, None, |server, _| {
        let start = Instant::now();
        let mut connected = 0_u64;
        while start.elapsed() < duration {
            let mut clients = Vec::with_capacity(batch);
            for _ in 0..batch {
                clients.push(system.client(server).map_err(|e| format!("client: {e}"))?);
            }
            let mut waiting = batch;
            let mut up = vec![false; batch];
            let deadline = Instant::now() + CONNECT_PATIENCE;
            while waiting > 0 {
                for (client, up) in clients.iter_mut().zip(&mut up) {
                    client
                        .service(Wait::Poll, &mut |incoming| {
                            if matches!(incoming, Incoming::Connected(_)) && !*up {
                                *up = true;
                                waiting -= 1;
                            }
                        })
                        .map_err(|e| format!("connecting: {e}"))?;
                }
                if Instant::now() > deadline {
                    return Err(format!("{waiting} of {batch} clients did not connect"));
                }
            }
            connected += batch as u64;
        }
        Ok(connected as f64 / start.elapsed().as_secs_f64())
    })
}

/// What `system` lacks for a reliable stream of `len`-byte messages, if anything.
pub(crate) fn lacks_stream(system: &dyn System, len: usize, lossy: bool) -> Option<&'static str> {
    system
        .lacks(Feature::ReliableSize(len))
        .or_else(|| if lossy { system.lacks(Feature::Retransmission) } else { None })
}
