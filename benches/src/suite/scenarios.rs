//! The scenarios, each written once against the driver traits.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::netns::LossyNamespace;
use super::pair::{Role, STAMP_LEN, Shared, spawn_server, stamp};
use crate::drivers::{
    Client, Delivery, Feature, Incoming, SOCKET_BUFFER, ServerSetup, System, Wait,
};

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
/// Round trips the runner makes before it records any.
const PING_WARM_UP: u64 = 200;
/// Round trips the runner records at least.
const PING_MIN_SAMPLES: usize = 100;
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

/// When a measuring loop stops: after a time (the runner), or after a
/// number of units of work (criterion's `iter_custom`).
#[derive(Debug, Clone, Copy)]
enum Until {
    /// Start no more work once this long has passed since the loop began.
    Duration(Duration),
    /// Stop once this many units are done.
    Count(u64),
}

impl Until {
    /// Whether a loop `elapsed` into its run, with `done` units done, goes on.
    fn more(self, elapsed: Duration, done: u64) -> bool {
        match self {
            Self::Duration(limit) => elapsed < limit,
            Self::Count(count) => done < count,
        }
    }

    /// How many more units may start once `done` are (no bound for a duration).
    fn remaining(self, done: u64) -> u64 {
        match self {
            Self::Duration(_) => u64::MAX,
            Self::Count(count) => count.saturating_sub(done),
        }
    }
}

/// Sizes of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    /// Length of one measurement.
    pub(crate) measure: Duration,
    /// Client counts of the many-peers and tick rows.
    pub(crate) peers: [usize; 2],
    /// Client counts of the scale rows.
    pub(crate) scale: &'static [usize],
    /// Peer slots of the memory row.
    pub(crate) memory_peers: usize,
    /// Clients connecting at once in the connection-setup scenario.
    pub(crate) connect_batch: usize,
}

impl Scale {
    /// A few seconds per measurement; 200 and 1,000 clients, and up to
    /// 4,095 (ENet's peer id space) in the scale rows.
    pub(crate) const FULL: Self = Self {
        measure: Duration::from_secs(2),
        peers: [200, 1000],
        scale: &[200, 1000, 2000, 4095],
        memory_peers: 4095,
        connect_batch: 16,
    };

    /// CI-sized: short measurements, fewer clients.
    pub(crate) const QUICK: Self = Self {
        measure: Duration::from_millis(250),
        peers: [20, 100],
        scale: &[20, 100],
        memory_peers: 100,
        connect_batch: 8,
    };
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

/// Sets `stop` when dropped, so that the server thread ends however the
/// client half does (a panicking benchmark included).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `client_half` on the calling thread against a server of `system`
/// (`role`, `wait`) on its own thread, which joins `namespace` when given.
/// Stops the server when the client half ends.
fn serving<T>(
    system: &dyn System,
    peers: usize,
    role: Role,
    wait: Wait,
    namespace: Option<&LossyNamespace>,
    client_half: impl FnOnce(SocketAddr, &Shared) -> Result<T, String>,
) -> Result<T, String> {
    let setup = ServerSetup::new(loopback(), peers);
    serve_in(system, setup, role, wait, namespace, client_half)
}

/// [`serving`] with a server set up as `setup` says.
fn serve_in<T>(
    system: &dyn System,
    setup: ServerSetup,
    role: Role,
    wait: Wait,
    namespace: Option<&LossyNamespace>,
    client_half: impl FnOnce(SocketAddr, &Shared) -> Result<T, String>,
) -> Result<T, String> {
    let shared = &Shared::default();
    thread::scope(|scope| {
        let (address, server) = spawn_server(scope, system, setup, role, wait, shared, namespace)?;
        let result = {
            let _stop = StopOnDrop(&shared.stop);
            client_half(address, shared)
        };
        let served = server.join().unwrap_or_else(|_| Err("the server panicked".into()));
        let value = result?;
        served?;
        Ok(value)
    })
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
    serving(system, peers, role, wait, namespace, |address, shared| {
        thread::scope(|scope| {
            let client =
                thread::Builder::new().name("clients".into()).spawn_scoped(scope, move || {
                    if let Some(namespace) = namespace {
                        namespace.enter().map_err(|e| e.to_string())?;
                    }
                    client_half(address, shared)
                });
            let client = client.map_err(|e| format!("client thread: {e}"))?;
            client.join().unwrap_or_else(|_| Err("the client half panicked".into()))
        })
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
        send_reliable(client.as_mut(), shared, len, Until::Duration(duration), 0)
    })
}

/// Sends `len`-byte reliable messages stamped `first`, `first + 1`, ...,
/// fed as the library asks, until `until` (counting messages sent), then
/// services `client` until the server has every one. The server must have
/// counted every message sent before.
fn send_reliable(
    client: &mut dyn Client,
    shared: &Shared,
    len: usize,
    until: Until,
    first: u64,
) -> Result<Stream, String> {
    let mut message = vec![0xA5; len.max(STAMP_LEN)];
    let before = shared.delivered();
    let start = Instant::now();
    let (mut sent, mut last_delivered, mut last_progress) = (0_u64, 0_u64, start);
    loop {
        let delivered = shared.delivered().saturating_sub(before);
        let now = Instant::now();
        if delivered != last_delivered {
            (last_delivered, last_progress) = (delivered, now);
        } else if now - last_progress > STALL {
            return Err(format!("stalled: {delivered} of {sent} delivered"));
        }
        if until.more(now - start, sent) {
            let room = client.room(len, sent.saturating_sub(delivered));
            let batch = until.remaining(sent).min(u64::try_from(room).unwrap_or(u64::MAX));
            for _ in 0..batch {
                stamp(&mut message, first + sent);
                client.send(Delivery::Reliable, &message).map_err(|e| format!("send: {e}"))?;
                sent += 1;
            }
        } else if delivered >= sent {
            break;
        }
        client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
    }
    let elapsed = start.elapsed();
    let misordered = shared.misordered.load(Ordering::Acquire);
    if misordered > 0 {
        return Err(format!("{misordered} of {sent} messages out of order"));
    }
    Ok(Stream { messages: sent, elapsed })
}

/// Unreliable delivery: rate and share lost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unreliable {
    /// Messages delivered per second.
    pub(crate) rate: f64,
    /// Share of the messages sent that never arrived, in percent.
    pub(crate) loss_percent: f64,
}

/// Scenario 2: 64-byte unsequenced (or, with [`Delivery::Sequenced`],
/// sequenced) messages for `duration`, each sender kept
/// [`UNRELIABLE_WINDOW`] messages ahead of what the server counted (messages
/// that make no progress for a while are written off as lost). Sequenced
/// delivery fails if the server ever gets an older message after a newer.
pub(crate) fn unreliable_stream(
    system: &dyn System,
    delivery: Delivery,
    duration: Duration,
) -> Result<Unreliable, String> {
    let role = match delivery {
        Delivery::Sequenced => Role::Sequenced,
        _ => Role::Count { in_order: false },
    };
    with_server(system, 1, role, Wait::Poll, None, |server, shared| {
        let mut client = connect(system, server)?;
        let run = send_unreliable(client.as_mut(), shared, delivery, Until::Duration(duration))?;
        if run.sent == 0 {
            return Err("nothing sent".into());
        }
        let misordered = shared.misordered.load(std::sync::atomic::Ordering::Acquire);
        if misordered > 0 {
            return Err(format!("{misordered} of {} messages after a newer one", run.sent));
        }
        Ok(Unreliable {
            rate: run.delivered as f64 / run.sending.as_secs_f64(),
            loss_percent: 100.0 * (run.sent - run.delivered) as f64 / run.sent as f64,
        })
    })
}

/// What one run of unreliable sending did.
#[derive(Debug, Clone, Copy)]
struct UnreliableRun {
    /// Messages sent.
    sent: u64,
    /// Of those, how many the server received once what was in flight landed.
    delivered: u64,
    /// From the first send to the end of sending.
    sending: Duration,
}

/// Sends 64-byte unsequenced messages, kept [`UNRELIABLE_WINDOW`] ahead of
/// what the server counted (fewer near the end of a count), until `until`
/// (counting messages the server received); then lets what is in flight land.
fn send_unreliable(
    client: &mut dyn Client,
    shared: &Shared,
    delivery: Delivery,
    until: Until,
) -> Result<UnreliableRun, String> {
    let mut message = [0x5A_u8; 64];
    let before = shared.delivered();
    let start = Instant::now();
    let (mut sent, mut written_off) = (0_u64, 0_u64);
    let (mut last_delivered, mut last_progress) = (0_u64, start);
    loop {
        let delivered = shared.delivered().saturating_sub(before);
        let now = Instant::now();
        if !until.more(now - start, delivered) {
            break;
        }
        if delivered != last_delivered {
            (last_delivered, last_progress) = (delivered, now);
        }
        let ahead = sent.saturating_sub(delivered + written_off);
        let wanted = until.remaining(delivered).min(UNRELIABLE_WINDOW);
        if ahead < wanted {
            for _ in ahead..wanted {
                stamp(&mut message, sent);
                client.send(delivery, &message).map_err(|e| format!("send: {e}"))?;
                sent += 1;
            }
        } else if now - last_progress > UNRELIABLE_GIVE_UP {
            written_off = sent.saturating_sub(delivered);
            last_progress = now;
        }
        client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
    }
    let sending = start.elapsed();
    // Let what is in flight land (it counts as delivered, not as lost, and
    // does not spill into the next run).
    let settle = Instant::now() + Duration::from_millis(100);
    while Instant::now() < settle {
        client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
    }
    let delivered = shared.delivered().saturating_sub(before).min(sent);
    Ok(UnreliableRun { sent, delivered, sending })
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
        let start = Instant::now();
        round_trips(client.as_mut(), wait, Until::Count(PING_WARM_UP), |_| {})?;
        let mut samples = Vec::new();
        let rest = Until::Duration(duration.saturating_sub(start.elapsed()));
        round_trips(client.as_mut(), wait, rest, |rtt| samples.push(rtt))?;
        let missing = PING_MIN_SAMPLES.saturating_sub(samples.len()) as u64;
        round_trips(client.as_mut(), wait, Until::Count(missing), |rtt| samples.push(rtt))?;
        samples.sort_unstable();
        Ok(RoundTrips(samples))
    })
}

/// Sends a 32-byte reliable message and waits (as `wait` says) for its
/// echo, one at a time, until `until` (counting round trips); gives each
/// round trip's time to `record`.
fn round_trips(
    client: &mut dyn Client,
    wait: Wait,
    until: Until,
    mut record: impl FnMut(Duration),
) -> Result<(), String> {
    let mut message = [0x3C_u8; PING_LEN];
    let start = Instant::now();
    let mut done = 0_u64;
    while until.more(start.elapsed(), done) {
        stamp(&mut message, done);
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
        record(sent_at.elapsed());
        done += 1;
    }
    Ok(())
}

/// What each client of a crowd scenario sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CrowdLoad {
    /// Reliable 64-byte messages per client tick.
    pub(crate) burst: u64,
    /// Time between two ticks of one client (the clients' ticks are spread
    /// evenly over it).
    pub(crate) tick: Duration,
}

impl CrowdLoad {
    /// The many-peers and tick scenarios: 20 × 64 B per client at 30 Hz.
    pub(crate) const GAME: Self = Self { burst: PEER_BURST, tick: PEER_TICK };

    /// The scale scenario, light enough per client that 4,095 of them fit
    /// on one client thread: 5 × 64 B at 20 Hz.
    pub(crate) const SCALE: Self =
        Self { burst: 5, tick: Duration::from_nanos(1_000_000_000 / 20) };
}

/// How the server of a crowd scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerLoop {
    /// Blocks in the OS between arrivals, wakes for each.
    Blocking,
    /// Game-style: polls once per 60 Hz tick, answers, sleeps.
    Tick,
}

/// The server tick of [`ServerLoop::Tick`]: 60 Hz, as a game's frame loop.
const SERVER_TICK: Duration = Duration::from_nanos(1_000_000_000 / 60);

/// Kernel receive buffer for the server of a tick-driven crowd: one tick's
/// input must fit (4 MiB, what `net.core.rmem_max` allows on the test
/// machines; the kernel caps what is asked at it).
const TICK_RECEIVE_BUFFER: usize = 4 << 20;

/// Server cost in a crowd scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeersCost {
    /// Server thread CPU time per message received.
    pub(crate) cpu_per_message: Duration,
    /// Messages the server received per second in the window.
    pub(crate) rate: f64,
    /// 99th percentile of a server tick's duration (tick servers only; the
    /// largest of several hosts').
    pub(crate) tick_p99: Duration,
    /// Share of the messages the busiest host received (1 with one host).
    pub(crate) busiest_share: f64,
}

/// Scenarios 4 (many peers, blocking server), tick and scale: `peers`
/// clients on one thread, each sending `load` (ticks spread evenly), to a
/// server running `server_loop`; the server's thread CPU time per message
/// over `duration` after a warm-up. Each client is serviced at its tick
/// (its burst, then one service) and whenever its socket turns readable
/// (one poll instance over every client socket), not on every turn of the
/// loop: the client thread's cost grows with the traffic, not with the
/// number of clients times the loop rate, so thousands fit on one thread
/// and still take their acknowledgements at once.
pub(crate) fn crowd(
    system: &dyn System,
    peers: usize,
    load: CrowdLoad,
    server_loop: ServerLoop,
    duration: Duration,
) -> Result<PeersCost, String> {
    crowd_on_hosts(system, 1, peers, load, server_loop, duration)
}

/// [`crowd`] against `hosts` servers, each on its own thread, all bound to
/// one port with `SO_REUSEPORT` (when `hosts` > 1): the kernel gives each
/// client to one of them. CPU time is summed over the servers' threads;
/// [`PeersCost::busiest_share`] says how evenly the clients' messages were
/// spread.
pub(crate) fn crowd_on_hosts(
    system: &dyn System,
    hosts: usize,
    peers: usize,
    load: CrowdLoad,
    server_loop: ServerLoop,
    duration: Duration,
) -> Result<PeersCost, String> {
    // Without retransmission (raw UDP), a burst the socket buffer cannot
    // hold is lost, not late: only count then.
    let in_order = system.lacks(Feature::Retransmission).is_none();
    let (role, wait, receive_buffer) = match server_loop {
        ServerLoop::Blocking => {
            (Role::Count { in_order }, Wait::Block(SERVER_BLOCK), SOCKET_BUFFER)
        }
        ServerLoop::Tick => {
            (Role::Tick { in_order, period: SERVER_TICK }, Wait::Poll, TICK_RECEIVE_BUFFER)
        }
    };
    let setup = ServerSetup {
        receive_buffer,
        reuse_port: hosts > 1,
        ..ServerSetup::new(loopback(), peers)
    };
    serve_on_hosts(system, hosts, setup, role, wait, |server, shared| {
        thread::scope(|scope| {
            let client =
                thread::Builder::new().name("clients".into()).spawn_scoped(scope, move || {
                    crowd_clients(system, server, shared, peers, load, server_loop, duration)
                });
            let client = client.map_err(|e| format!("client thread: {e}"))?;
            client.join().unwrap_or_else(|_| Err("the client half panicked".into()))
        })
    })
}

/// Runs `client_half` on the calling thread against `hosts` servers of
/// `system`, each on its own thread, the later ones bound to the first's
/// address (`setup.reuse_port` lets them share it). Stops them all when
/// the client half ends.
fn serve_on_hosts<T>(
    system: &dyn System,
    hosts: usize,
    setup: ServerSetup,
    role: Role,
    wait: Wait,
    client_half: impl FnOnce(SocketAddr, &[Shared]) -> Result<T, String>,
) -> Result<T, String> {
    let shared: Vec<Shared> = (0..hosts.max(1)).map(|_| Shared::default()).collect();
    let shared = &shared[..];
    thread::scope(|scope| {
        let mut servers = Vec::with_capacity(shared.len());
        let mut bind = setup.bind;
        for host in shared {
            let setup = ServerSetup { bind, ..setup };
            let stop_all = StopAllOnDrop(shared);
            let (address, server) = spawn_server(scope, system, setup, role, wait, host, None)?;
            std::mem::forget(stop_all);
            bind = address;
            servers.push(server);
        }
        let result = {
            let _stop = StopAllOnDrop(shared);
            client_half(bind, shared)
        };
        let mut served = Ok(());
        for server in servers {
            let joined = server.join().unwrap_or_else(|_| Err("a server panicked".into()));
            served = served.and(joined);
        }
        let value = result?;
        served?;
        Ok(value)
    })
}

/// Sets every server's `stop` when dropped.
struct StopAllOnDrop<'a>(&'a [Shared]);

impl Drop for StopAllOnDrop<'_> {
    fn drop(&mut self) {
        for shared in self.0 {
            shared.stop.store(true, Ordering::Release);
        }
    }
}

/// Which crowd clients have input: their sockets in one poll instance, or,
/// for a library that hides its socket, all of them every time.
struct Readable {
    poll: Option<(Poll, Events)>,
    clients: usize,
    ready: Vec<usize>,
}

impl Readable {
    fn new(clients: &[Box<dyn Client>]) -> Result<Self, String> {
        let fds: Option<Vec<RawFd>> = clients.iter().map(|c| c.socket_fd()).collect();
        let poll = match fds {
            Some(fds) => {
                let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
                for (i, fd) in fds.iter().enumerate() {
                    poll.registry()
                        .register(&mut SourceFd(fd), Token(i), Interest::READABLE)
                        .map_err(|e| format!("poll: {e}"))?;
                }
                Some((poll, Events::with_capacity(1024)))
            }
            None => None,
        };
        Ok(Self { poll, clients: clients.len(), ready: Vec::new() })
    }

    /// Waits up to `timeout` for input; the clients that have some.
    fn wait(&mut self, timeout: Duration) -> Result<impl Iterator<Item = usize> + '_, String> {
        self.ready.clear();
        match &mut self.poll {
            Some((poll, events)) => {
                match poll.poll(events, Some(timeout)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("poll: {e}")),
                }
                self.ready.extend(events.iter().map(|event| event.token().0));
            }
            None => {
                thread::sleep(timeout.min(Duration::from_micros(500)));
                self.ready.extend(0..self.clients);
            }
        }
        Ok(self.ready.iter().copied())
    }
}

/// The client half of [`crowd`].
fn crowd_clients(
    system: &dyn System,
    server: SocketAddr,
    shared: &[Shared],
    peers: usize,
    load: CrowdLoad,
    server_loop: ServerLoop,
    duration: Duration,
) -> Result<PeersCost, String> {
    let mut clients = connect_many(system, server, peers)?;
    let start = Instant::now();
    let spacing = load.tick / u32::try_from(peers).unwrap_or(u32::MAX).max(1);
    // Client `i` ticks at `start + i × spacing + k × tick`: in index order,
    // round and round.
    let mut next_tick: Vec<Instant> =
        (0..peers).map(|i| start + spacing * u32::try_from(i).unwrap_or(0)).collect();
    let mut sent = vec![0_u64; peers];
    let mut message = vec![0x11_u8; PEER_MESSAGE_LEN];
    let warm_up = start + Duration::from_millis(500).min(duration);
    let end = warm_up + duration;
    let mut window = None;
    let mut next = 0;
    let mut readable = Readable::new(&clients)?;
    loop {
        let now = Instant::now();
        if window.is_none() && now >= warm_up {
            window = Some(shared.iter().map(Shared::open_window).collect::<Vec<_>>());
        }
        if now >= end {
            break;
        }
        while next_tick[next] <= now {
            let client = &mut clients[next];
            for _ in 0..load.burst {
                stamp(&mut message, sent[next]);
                client.send(Delivery::Reliable, &message).map_err(|e| format!("send: {e}"))?;
                sent[next] += 1;
            }
            client.service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
            next_tick[next] += load.tick;
            next = (next + 1) % peers;
        }
        // Clients with input are serviced as it arrives, so that they take
        // their acknowledgements at once, as a client's own thread would.
        let until_tick = next_tick[next].saturating_duration_since(Instant::now());
        for i in readable.wait(until_tick.min(Duration::from_millis(1)))? {
            clients[i].service(Wait::Poll, &mut |_| {}).map_err(|e| format!("service: {e}"))?;
        }
    }
    let starts = window.ok_or("the measuring window never opened")?;
    let ticks = server_loop == ServerLoop::Tick;
    let (mut cpu, mut messages, mut busiest, mut tick_p99) = (Duration::ZERO, 0, 0, Duration::ZERO);
    for (host, start) in shared.iter().zip(starts) {
        let measured = host
            .close_window(start, ticks, Duration::from_secs(5))
            .ok_or("the tick server did not report")?;
        cpu += measured.cpu;
        messages += measured.messages;
        busiest = busiest.max(measured.messages);
        tick_p99 = tick_p99.max(measured.tick_p99);
    }
    let misordered: u64 = shared.iter().map(|s| s.misordered.load(Ordering::Acquire)).sum();
    if misordered > 0 {
        return Err(format!("{misordered} messages out of order"));
    }
    if messages == 0 {
        return Err("no message reached the server".into());
    }
    Ok(PeersCost {
        cpu_per_message: cpu / u32::try_from(messages).unwrap_or(u32::MAX),
        rate: messages as f64 / duration.as_secs_f64(),
        tick_p99,
        busiest_share: busiest as f64 / messages as f64,
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
        let (connected, elapsed) =
            connect_batches(system, server, batch, Until::Duration(duration))?;
        Ok(connected as f64 / elapsed.as_secs_f64())
    })
}

/// `count` clients of `system`, all made at once and serviced in turn
/// until every one is connected (within [`CONNECT_PATIENCE`]).
fn connect_many(
    system: &dyn System,
    server: SocketAddr,
    count: usize,
) -> Result<Vec<Box<dyn Client>>, String> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(system.client(server).map_err(|e| format!("client: {e}"))?);
    }
    let mut up = vec![false; count];
    let mut waiting = count;
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
            return Err(format!("{waiting} of {count} clients did not connect"));
        }
    }
    Ok(clients)
}

/// Connects batches of up to `batch` clients at once (fewer near the end of
/// a count), dropping each batch (disconnecting) once all are up, until
/// `until` (counting connections). Returns the connections made and the
/// time they took, client creation included.
fn connect_batches(
    system: &dyn System,
    server: SocketAddr,
    batch: usize,
    until: Until,
) -> Result<(u64, Duration), String> {
    let start = Instant::now();
    let mut connected = 0_u64;
    while until.more(start.elapsed(), connected) {
        let batch = usize::try_from(until.remaining(connected)).unwrap_or(usize::MAX).min(batch);
        // The clients are dropped (and disconnect) as soon as all are up.
        drop(connect_many(system, server, batch)?);
        connected += batch as u64;
    }
    Ok((connected, start.elapsed()))
}

/// What `system` lacks for a reliable stream of `len`-byte messages, if anything.
pub(crate) fn lacks_stream(system: &dyn System, len: usize, lossy: bool) -> Option<&'static str> {
    system
        .lacks(Feature::ReliableSize(len))
        .or_else(|| if lossy { system.lacks(Feature::Retransmission) } else { None })
}

/// A scenario as a criterion benchmark runs it: a unit of work, done a
/// given number of times per measurement against one server (and one
/// client, where the work needs one) kept for the whole benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Reliable ordered messages of this many bytes (at least 8) from one
    /// client, fed as the library asks; a unit is one message, done once the
    /// server has it and every earlier one, in order.
    Reliable(usize),
    /// Unsequenced 64-byte messages from one client, kept up to 256 ahead of
    /// what the server counted; a unit is one message the server received.
    Unreliable,
    /// A 32-byte reliable message echoed by the server, both ends
    /// busy-polling; a unit is one round trip.
    PingPong,
    /// Clients connecting 16 at a time, each batch dropped once all are up;
    /// a unit is one connection, client creation included.
    Connect,
}

impl Workload {
    /// Clients connecting at once in [`Workload::Connect`]: the runner's.
    const CONNECT_BATCH: usize = Scale::FULL.connect_batch;

    /// What `system` lacks to do this work, if anything.
    ///
    /// ```
    /// use volley_bench::drivers::raw_udp::RawUdp;
    /// use volley_bench::suite::Workload;
    ///
    /// assert!(Workload::Reliable(64).lacks(&RawUdp).is_none());
    /// assert!(Workload::Connect.lacks(&RawUdp).is_some()); // connectionless
    /// ```
    pub fn lacks(self, system: &dyn System) -> Option<&'static str> {
        match self {
            Self::Reliable(len) => lacks_stream(system, len, false),
            Self::Unreliable => system.lacks(Feature::UnreliableSize(64)),
            Self::PingPong => None,
            Self::Connect => system.lacks(Feature::Handshake),
        }
    }
}

/// Why a [`Workload`] could not be set up or done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadError(String);

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkloadError {}

/// Runs `body` with a server of `system` doing `workload`'s server side on
/// its own thread (127.0.0.1, busy-polling), and stops the server when
/// `body` returns (or panics).
///
/// `body` gets a function that does `count` units of the work on the
/// calling thread and returns the time they took, for criterion's
/// `iter_custom`. The client, where the work needs one, connects at the
/// first call (not timed) and stays connected for the later ones; each call
/// ends once the server has every unit it did, so calls never overlap.
///
/// Fails at once if `system` [lacks](Workload::lacks) what the work needs.
///
/// ```no_run
/// use volley_bench::drivers::volley::Volley;
/// use volley_bench::suite::{Workload, with_workload};
///
/// let per_message = with_workload(&Volley, Workload::Reliable(64), |run| {
///     run(10_000).map(|took| took / 10_000)
/// });
/// println!("{per_message:?}");
/// ```
pub fn with_workload<T>(
    system: &dyn System,
    workload: Workload,
    body: impl FnOnce(&mut dyn FnMut(u64) -> Result<Duration, WorkloadError>) -> T,
) -> Result<T, WorkloadError> {
    if let Some(why) = workload.lacks(system) {
        return Err(WorkloadError(format!("{}: {why}", system.name())));
    }
    let (peers, role) = match workload {
        Workload::Reliable(_) => (1, Role::Count { in_order: true }),
        Workload::Unreliable => (1, Role::Count { in_order: false }),
        Workload::PingPong => (1, Role::Echo),
        Workload::Connect => (Workload::CONNECT_BATCH * 4, Role::Count { in_order: false }),
    };
    serving(system, peers, role, Wait::Poll, None, |server, shared| {
        let mut worker = Worker { system, workload, server, shared, client: None, sent: 0 };
        Ok(body(&mut |count| worker.work(count).map_err(WorkloadError)))
    })
    .map_err(WorkloadError)
}

/// The client side of a [`Workload`], kept from one call to the next.
struct Worker<'a> {
    system: &'a dyn System,
    workload: Workload,
    server: SocketAddr,
    shared: &'a Shared,
    /// Connected at the first call that needs it.
    client: Option<Box<dyn Client>>,
    /// Reliable messages sent so far: the next one's stamp, as the server's
    /// order check expects.
    sent: u64,
}

impl Worker<'_> {
    /// Does `count` units of the work; returns the time they took.
    fn work(&mut self, count: u64) -> Result<Duration, String> {
        let until = Until::Count(count);
        let shared = self.shared;
        match self.workload {
            Workload::Reliable(len) => {
                let first = self.sent;
                let stream = send_reliable(self.client()?, shared, len, until, first)?;
                self.sent += stream.messages;
                Ok(stream.elapsed)
            }
            Workload::Unreliable => {
                Ok(send_unreliable(self.client()?, shared, Delivery::Unreliable, until)?.sending)
            }
            Workload::PingPong => {
                let client = self.client()?;
                let start = Instant::now();
                round_trips(client, Wait::Poll, until, |_| {})?;
                Ok(start.elapsed())
            }
            Workload::Connect => {
                let batch = Workload::CONNECT_BATCH;
                Ok(connect_batches(self.system, self.server, batch, until)?.1)
            }
        }
    }

    /// The client, connecting it first if it is not yet (not timed).
    fn client(&mut self) -> Result<&mut dyn Client, String> {
        let client = match self.client.take() {
            Some(client) => client,
            None => connect(self.system, self.server)?,
        };
        Ok(self.client.insert(client).as_mut())
    }
}
