//! The attack suite: what an attacker on the same network can do to a
//! server, tried against Volley and, side by side, ENet's C library.
//!
//! Each attack runs against a fresh echo server in a process of its own
//! ([`server`]) while a legitimate client exchanges reliable messages with
//! it ([`legit`]), and reports: whether the legitimate session survived,
//! the messages it lost, its round trips during the attack (median and
//! 99th percentile), the server's resident memory before, at its peak and
//! after the attack, the server's CPU time, and the amplification: bytes
//! the server sent to attacker addresses over bytes it received from them.
//!
//! Everything runs on 127.0.0.0/8: spoofed sources are other loopback
//! addresses, which any user may send from ([`spoof`]); nothing needs root.
//! Every attack is bounded in datagrams and in time and stops by itself.
//!
//! ```no_run
//! use volley_bench::attack::{Options, run};
//!
//! let outcomes = run(&Options::quick(std::env::current_exe().unwrap()));
//! println!("{}", volley_bench::attack::table(&outcomes));
//! ```

mod attacks;
pub mod legit;
pub mod raw;
pub mod server;
pub mod spoof;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

pub use attacks::Scale;
use attacks::{Aftermath, Context};
use legit::LegitClient;
pub use server::Target;
use server::{PeerNews, ServerProcess};

/// The legitimate client sends a message this often.
const LEGIT_INTERVAL: Duration = Duration::from_millis(5);
/// Round trips measured before the attack starts.
const WARM_UP: Duration = Duration::from_millis(300);

/// One attack of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Random bytes from many spoofed sources.
    Garbage,
    /// Mutations of real datagrams inside live sessions.
    Mutations,
    /// CONNECTs from many spoofed sources; a new client connects meanwhile.
    ConnectFlood,
    /// Datagrams for the first slots under every session id, from wrong addresses.
    SpoofedSessions,
    /// Connected peers opening fragment groups that never complete.
    FragmentBomb,
    /// Connected peers that send but never acknowledge.
    NeverAcknowledging,
    /// A handshake completed blind from a spoofed victim address.
    ForgedHandshake,
}

impl Attack {
    /// Every attack, in running order.
    pub const ALL: [Self; 7] = [
        Self::Garbage,
        Self::Mutations,
        Self::ConnectFlood,
        Self::SpoofedSessions,
        Self::FragmentBomb,
        Self::NeverAcknowledging,
        Self::ForgedHandshake,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Garbage => "garbage",
            Self::Mutations => "mutations",
            Self::ConnectFlood => "connect-flood",
            Self::SpoofedSessions => "spoofed-sessions",
            Self::FragmentBomb => "fragment-bomb",
            Self::NeverAcknowledging => "never-ack",
            Self::ForgedHandshake => "forged-handshake",
        }
    }

    fn launch(self, cx: Context) -> std::io::Result<Aftermath> {
        match self {
            Self::Garbage => attacks::garbage(cx),
            Self::Mutations => attacks::mutations(cx),
            Self::ConnectFlood => attacks::connect_flood(cx),
            Self::SpoofedSessions => attacks::spoofed_sessions(cx),
            Self::FragmentBomb => attacks::fragment_bomb(cx),
            Self::NeverAcknowledging => attacks::never_acknowledging(cx),
            Self::ForgedHandshake => attacks::forged_handshake(cx),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The executable that serves as `attack-server` (this crate's binary).
    pub server_exe: PathBuf,
    /// How big each attack is.
    pub scale: Scale,
    /// Attacks to run (all if empty).
    pub attacks: Vec<Attack>,
    /// Servers to attack.
    pub targets: Vec<Target>,
    /// How long the server may take to end the attackers' sessions by
    /// itself after the attack, before memory is read.
    pub settle: Duration,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Seed of the attackers' randomness.
    pub seed: u64,
}

impl Options {
    /// The full suite against every target of this build.
    pub fn full(server_exe: PathBuf) -> Self {
        Self {
            server_exe,
            scale: Scale::FULL,
            attacks: Vec::new(),
            targets: Target::all(),
            settle: Duration::from_secs(40),
            progress: true,
            seed: 1,
        }
    }

    /// The short version the tests run, against Volley only.
    pub fn quick(server_exe: PathBuf) -> Self {
        Self {
            scale: Scale::QUICK,
            targets: vec![Target::Volley],
            settle: Duration::from_secs(40),
            progress: false,
            ..Self::full(server_exe)
        }
    }
}

/// What one attack did to one server.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The attack.
    pub attack: Attack,
    /// The server.
    pub target: Target,
    /// The attack could not run (the suite's own failure), with why.
    pub error: Option<String>,
    /// The legitimate session lived through the attack and its aftermath.
    pub survived: bool,
    /// Why it did not, if it did not.
    pub failure: Option<String>,
    /// Messages the legitimate client sent.
    pub sent: u64,
    /// Messages it sent that never came back.
    pub lost: u64,
    /// Echoes out of order or duplicated.
    pub misordered: u64,
    /// Round trips of messages sent during the attack: median and 99th percentile.
    pub rtt: Option<(Duration, Duration)>,
    /// How long the attack ran.
    pub duration: Duration,
    /// Server resident memory before the attack, bytes.
    pub memory_before: u64,
    /// Server peak resident memory (to the end of the aftermath), bytes.
    pub memory_peak: u64,
    /// Server resident memory once the attackers' sessions ended, bytes.
    pub memory_after: u64,
    /// Server CPU time during the attack and the second after it (to
    /// include the backlog its socket held).
    pub cpu: Duration,
    /// Datagrams the kernel dropped at the server's socket during the attack.
    pub socket_drops: u64,
    /// Bytes sent from attacker addresses.
    pub from_attackers: u64,
    /// Bytes the server sent to attacker addresses (to the end of the aftermath).
    pub to_attackers: u64,
    /// Whether the attacker addresses were spoofed (never proved they receive).
    pub unproven: bool,
    /// Attacker sessions and how many of them the server ended by itself,
    /// with the latest ending after the attack started.
    pub sessions_ended: Option<(usize, usize, Option<Duration>)>,
    /// Spoofed addresses that became connected peers (never should).
    pub forged_connections: usize,
    /// A fresh client's attempt to connect during the attack.
    pub late_connect: Option<Result<Duration, String>>,
    /// For spoofed attackers: the highest amplification any one of their
    /// addresses saw.
    pub worst_address: Option<f64>,
}

impl Outcome {
    fn failed(attack: Attack, target: Target, error: String) -> Self {
        Self {
            attack,
            target,
            error: Some(error),
            survived: false,
            failure: None,
            sent: 0,
            lost: 0,
            misordered: 0,
            rtt: None,
            duration: Duration::ZERO,
            memory_before: 0,
            memory_peak: 0,
            memory_after: 0,
            cpu: Duration::ZERO,
            socket_drops: 0,
            from_attackers: 0,
            to_attackers: 0,
            unproven: false,
            sessions_ended: None,
            forged_connections: 0,
            late_connect: None,
            worst_address: None,
        }
    }

    /// Bytes to attacker addresses over bytes from them.
    pub fn amplification(&self) -> f64 {
        self.to_attackers as f64 / self.from_attackers.max(1) as f64
    }
}

/// Runs the attacks `options` names against its targets, one fresh server
/// each, one after the other.
pub fn run(options: &Options) -> Vec<Outcome> {
    let attacks =
        if options.attacks.is_empty() { Attack::ALL.to_vec() } else { options.attacks.clone() };
    let mut outcomes = Vec::new();
    for attack in attacks {
        for &target in &options.targets {
            if options.progress {
                eprintln!("attack {} against {}...", attack.name(), target.name());
            }
            let outcome = run_one(attack, target, options)
                .unwrap_or_else(|e| Outcome::failed(attack, target, e));
            if options.progress {
                eprintln!("  {}", summary(&outcome));
            }
            outcomes.push(outcome);
        }
    }
    outcomes
}

/// Runs one attack against a fresh server of `target`.
pub fn run_one(attack: Attack, target: Target, options: &Options) -> Result<Outcome, String> {
    let server = ServerProcess::spawn(&options.server_exe, target).map_err(|e| e.to_string())?;
    let SocketAddr::V4(address) = server.address() else {
        return Err("the server is not on IPv4".into());
    };
    let legit = LegitClient::start(address.into(), LEGIT_INTERVAL)
        .map_err(|e| format!("the legitimate client could not connect: {e}"))?;
    std::thread::sleep(WARM_UP);
    let log = server.log();
    let (memory_before, _) = server.memory();
    let (cpu_before, drops_before) = (server.cpu_time(), server.socket_drops());
    let start = Instant::now();
    let cx = Context {
        server: address,
        deadline: start + options.scale.window,
        scale: options.scale,
        rng: SmallRng::seed_from_u64(options.seed),
        log: log.clone(),
    };
    let mut after = attack.launch(cx).map_err(|e| format!("the attack failed: {e}"))?;
    let end = Instant::now();
    let drops_after = server.socket_drops();
    let mut cpu_after = None;
    let backlog_until = end + Duration::from_secs(1);
    // The aftermath: the server ends the attackers' sessions by itself, and
    // what it still sends to them or to spoofed addresses is counted.
    let connected = |a: &SocketAddr| log.when(PeerNews::Connected(*a)).is_some();
    let sessions: Vec<SocketAddr> = after
        .session_addresses()
        .into_iter()
        .chain(after.must_not_connect.iter().copied())
        .filter(connected)
        .collect();
    let settle_until = end + options.settle;
    let linger_until = if after.unproven { end + options.scale.linger } else { end };
    loop {
        after.drain();
        if cpu_after.is_none() && Instant::now() >= backlog_until {
            cpu_after = Some(server.cpu_time());
        }
        let ended = |a: &SocketAddr| log.when(PeerNews::Disconnected(*a)).is_some();
        let now = Instant::now();
        if (sessions.iter().all(ended) && now >= linger_until) || now >= settle_until {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Memory freed with the sessions shows once the server ran a little.
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        after.drain();
        std::thread::sleep(Duration::from_millis(20));
    }
    let news = log.news();
    let cpu_after = cpu_after.unwrap_or_else(|| server.cpu_time());
    let (memory_after, memory_peak) = server.memory();
    let report = legit.finish();
    let worst = after.tally.worst_address();
    drop(after.sockets.drain(..));
    let ended_times: Vec<Duration> = sessions
        .iter()
        .filter_map(|a| {
            log.when(PeerNews::Disconnected(*a)).map(|at| at.saturating_duration_since(start))
        })
        .collect();
    let forged_connections = news
        .iter()
        .filter(|(_, n)| matches!(n, PeerNews::Connected(a) if after.must_not_connect.contains(a) || (after.unproven && a.ip() != std::net::IpAddr::from([127, 0, 0, 1]))))
        .count();
    let duration = end.duration_since(start);
    let mut during: Vec<Duration> = report
        .round_trips
        .iter()
        .filter(|(at, _)| *at >= start && *at <= end)
        .map(|&(_, rtt)| rtt)
        .collect();
    during.sort_unstable();
    let rtt = (!during.is_empty()).then(|| (percentile(&during, 50.0), percentile(&during, 99.0)));
    Ok(Outcome {
        attack,
        target,
        error: None,
        survived: report.survived,
        failure: report.failure.clone(),
        sent: report.sent,
        lost: report.lost(),
        misordered: report.misordered,
        rtt,
        duration,
        memory_before,
        memory_peak,
        memory_after,
        cpu: cpu_after.saturating_sub(cpu_before),
        socket_drops: drops_after.saturating_sub(drops_before),
        from_attackers: after.tally.sent(),
        to_attackers: after.tally.received(),
        unproven: after.unproven,
        sessions_ended: (!sessions.is_empty())
            .then(|| (ended_times.len(), sessions.len(), ended_times.iter().max().copied())),
        forged_connections,
        late_connect: after.late_connect.take(),
        worst_address: worst.filter(|_| after.unproven).map(|(_, ratio)| ratio),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// One line about an outcome.
pub fn summary(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        return format!("could not run: {e}");
    }
    let mut line = format!(
        "{} lost {}/{}, rtt {}, memory {} -> {} -> {} MiB, cpu {} ms, amplification {:.2} ({} B / {} B)",
        if o.survived { "survived," } else { "LEGITIMATE SESSION LOST," },
        o.lost,
        o.sent,
        o.rtt
            .map_or_else(|| "-".into(), |(p50, p99)| format!("{}/{} ms", millis(p50), millis(p99))),
        mib(o.memory_before),
        mib(o.memory_peak),
        mib(o.memory_after),
        o.cpu.as_millis(),
        o.amplification(),
        o.to_attackers,
        o.from_attackers,
    );
    if let Some(f) = &o.failure {
        let _ = write!(line, " ({f})");
    }
    line
}

/// The outcomes as a Markdown table, one row per attack and server.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| attack | server | legit session | lost | RTT p50 / p99 ms | server RSS before / peak / after MiB | server CPU ms (attack length) | kernel drops | to / from attackers | amplification | notes |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        if let Some(e) = &o.error {
            let _ = writeln!(
                out,
                "| {} | {} | could not run: {e} ||||||||",
                o.attack.name(),
                o.target.name()
            );
            continue;
        }
        let mut notes = Vec::new();
        if let Some((ended, total, last)) = o.sessions_ended {
            notes.push(format!(
                "server ended {ended}/{total} attacker sessions{}",
                last.map_or(String::new(), |t| format!(
                    ", last {:.1} s after the start",
                    t.as_secs_f64()
                ))
            ));
        }
        if o.forged_connections > 0 {
            notes.push(format!("{} spoofed address(es) connected", o.forged_connections));
        }
        match &o.late_connect {
            Some(Ok(took)) => {
                notes.push(format!("new client connected during it in {} ms", millis(*took)))
            }
            Some(Err(why)) => notes.push(format!("new client could not connect during it: {why}")),
            None => {}
        }
        if o.misordered > 0 {
            notes.push(format!("{} echoes out of order", o.misordered));
        }
        if let Some(f) = &o.failure {
            notes.push(f.clone());
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {} | {} / {} / {} | {} ({:.1} s) | {} | {} / {} B | {:.2}×{}{} | {} |",
            o.attack.name(),
            o.target.name(),
            if o.survived { "survived" } else { "**lost**" },
            o.lost,
            o.sent,
            o.rtt.map_or_else(
                || "-".into(),
                |(p50, p99)| format!("{} / {}", millis(p50), millis(p99))
            ),
            mib(o.memory_before),
            mib(o.memory_peak),
            mib(o.memory_after),
            o.cpu.as_millis(),
            o.duration.as_secs_f64(),
            o.socket_drops,
            o.to_attackers,
            o.from_attackers,
            o.amplification(),
            if o.unproven { " (spoofed)" } else { "" },
            o.worst_address.map_or(String::new(), |w| format!(", worst address {w:.2}×")),
            notes.join("; "),
        );
    }
    out
}
