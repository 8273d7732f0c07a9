//! The server under attack: an echo server in a process of its own, so its
//! memory and CPU time can be read from `/proc` apart from the attackers'.
//!
//! The child is this crate's binary (`volley-bench attack-server --system
//! NAME`). It binds 127.0.0.1 on a free port, prints `listening ADDR`, then
//! echoes every packet to its sender on the same channel in the same mode,
//! printing `connected ADDR` and `disconnected ADDR` as peers come and go.
//! It stops when its standard input closes (its parent went away) or after
//! [`MAX_LIFETIME`], whichever comes first.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volley::{Event, Host, HostConfig};

/// Peer slots of the echo server, on both systems.
pub const SERVER_PEERS: usize = 64;
/// Channels a connection may have, on both systems (ENet's maximum).
pub const SERVER_CHANNELS: usize = 255;
/// A server process never outlives this, whatever its parent does.
pub const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A system the suite can attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Volley's host with its default settings.
    Volley,
    /// ENet's C library (1.3.17, built by `enet-sys`).
    EnetC,
}

impl Target {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Volley => "volley",
            Self::EnetC => "enet-c",
        }
    }

    /// The target named `name`, if this build has it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "volley" => Some(Self::Volley),
            "enet-c" if cfg!(feature = "enet-c") => Some(Self::EnetC),
            _ => None,
        }
    }

    /// Every target this build has.
    pub fn all() -> Vec<Self> {
        if cfg!(feature = "enet-c") { vec![Self::Volley, Self::EnetC] } else { vec![Self::Volley] }
    }
}

/// What the server reported about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNews {
    /// A connection completed, from this address.
    Connected(SocketAddr),
    /// A connection ended (any reason), for this address.
    Disconnected(SocketAddr),
}

/// What a server reported so far, with when it was read; shared with the
/// thread reading the server's output.
#[derive(Debug, Clone, Default)]
pub struct ServerLog(Arc<Mutex<Vec<(Instant, PeerNews)>>>);

impl ServerLog {
    /// Everything reported so far.
    pub fn news(&self) -> Vec<(Instant, PeerNews)> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// When the server reported `news`, if it did.
    pub fn when(&self, news: PeerNews) -> Option<Instant> {
        self.0.lock().ok()?.iter().find_map(|&(at, n)| (n == news).then_some(at))
    }

    fn push(&self, at: Instant, line: &str) {
        let Some((kind, address)) = line.split_once(' ') else { return };
        let Ok(address) = address.parse() else { return };
        let news = match kind {
            "connected" => PeerNews::Connected(address),
            "disconnected" => PeerNews::Disconnected(address),
            _ => return,
        };
        if let Ok(mut log) = self.0.lock() {
            log.push((at, news));
        }
    }
}

/// A running echo server child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    address: SocketAddr,
    log: ServerLog,
}

impl ServerProcess {
    /// Starts `exe attack-server --system NAME` and waits for its address.
    pub fn spawn(exe: &Path, target: Target) -> io::Result<Self> {
        let mut child = Command::new(exe)
            .args(["attack-server", "--system", target.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let (first_line, first) = mpsc::channel();
        let log = ServerLog::default();
        {
            let log = log.clone();
            std::thread::Builder::new().name("attack-server-output".into()).spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = first_line.send(line);
                }
                for line in lines {
                    let Ok(line) = line else { break };
                    log.push(Instant::now(), &line);
                }
            })?;
        }
        let stdin = child.stdin.take();
        let mut process = Self { child, stdin, address: SocketAddr::from(([0, 0, 0, 0], 0)), log };
        let first = first
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| io::Error::other("the server did not start"))?;
        process.address = first
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line `{first}`")))?;
        Ok(process)
    }

    /// The server's reports so far (shared; cheap to clone).
    pub fn log(&self) -> ServerLog {
        self.log.clone()
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Resident memory now and its peak so far (`VmRSS`, `VmHWM`), in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the server used so far (user and system).
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th of the whole line.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks: u64 =
            fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    /// Datagrams the kernel dropped at the server's socket so far (its
    /// receive buffer was full), from `/proc/PID/net/udp`.
    pub fn socket_drops(&self) -> u64 {
        let table = std::fs::read_to_string(format!("/proc/{}/net/udp", self.child.id()))
            .unwrap_or_default();
        let port = format!(":{:04X}", self.address.port());
        table
            .lines()
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|local| local.ends_with(&port)))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing its input tells the child to stop; kill it if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code)]
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The child's side: serves `target` until standard input closes.
pub fn serve(target: Target) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sink = String::new();
            while io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let deadline = Instant::now() + MAX_LIFETIME;
    let running = || !stop.load(Ordering::Relaxed) && Instant::now() < deadline;
    match target {
        Target::Volley => serve_volley(running),
        #[cfg(feature = "enet-c")]
        Target::EnetC => serve_enet(running),
        #[cfg(not(feature = "enet-c"))]
        Target::EnetC => Err("built without ENet's C library (feature enet-c)".into()),
    }
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn serve_volley(running: impl Fn() -> bool) -> Result<(), String> {
    let mut config = HostConfig::server(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.endpoint().peer_limit(SERVER_PEERS).channel_limit(SERVER_CHANNELS);
    let mut host = Host::new(config).map_err(|e| e.to_string())?;
    say(format_args!("listening {}", host.local_addr()));
    let mut addresses = HashMap::new();
    while running() {
        let event = host.service(Duration::from_millis(20)).map_err(|e| e.to_string())?;
        match event {
            Some(Event::Connected { peer, .. }) => {
                if let Some(address) = host.peer_address(peer) {
                    addresses.insert(peer, address);
                    say(format_args!("connected {address}"));
                }
            }
            Some(Event::Received { peer, channel, mode, payload }) => {
                let _ = host.send(peer, channel, mode, &payload);
                host.recycle(payload);
            }
            Some(Event::Disconnected { peer, .. }) => {
                if let Some(address) = addresses.remove(&peer) {
                    say(format_args!("disconnected {address}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(feature = "enet-c")]
fn serve_enet(running: impl Fn() -> bool) -> Result<(), String> {
    use crate::enet_c_host::{EnetEvent, EnetHost};
    let bind = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0);
    let mut host =
        EnetHost::new(Some(bind), SERVER_PEERS, SERVER_CHANNELS).map_err(|e| e.to_string())?;
    say(format_args!("listening {}", host.local_addr()));
    while running() {
        let event = host.service_with(Duration::from_millis(20), |event| match event {
            crate::enet_c_host::EnetEventRef::Connected { peer, data } => {
                EnetEvent::Connected { peer, data }
            }
            crate::enet_c_host::EnetEventRef::Disconnected { peer, data } => {
                EnetEvent::Disconnected { peer, data }
            }
            crate::enet_c_host::EnetEventRef::Received { peer, channel, mode, payload } => {
                EnetEvent::Received { peer, channel, mode, payload: payload.to_vec() }
            }
        });
        match event.map_err(|e| e.to_string())? {
            Some(EnetEvent::Connected { peer, .. }) => {
                if let Ok(address) = host.peer_address(peer) {
                    say(format_args!("connected {address}"));
                }
            }
            Some(EnetEvent::Received { peer, channel, mode, payload }) => {
                let _ = host.send(peer, channel, mode, &payload);
            }
            Some(EnetEvent::Disconnected { peer, .. }) => {
                if let Ok(address) = host.peer_address(peer) {
                    say(format_args!("disconnected {address}"));
                }
            }
            None => {}
        }
    }
    Ok(())
}
