//! Echo server and client: the client sends on four channels in all three
//! transfer modes plus a 100 KiB reliable packet, and checks what comes back.
//!
//! ```sh
//! cargo run -p volley --example echo -- server 127.0.0.1:7777 [--checksum] [--compress]
//! cargo run -p volley --example echo -- client 127.0.0.1:7777 [--checksum] [--compress]
//! ```
//!
//! The server echoes every packet to its sender on the same channel in the
//! same mode, and keeps serving other peers after one leaves (stop it with
//! Ctrl-C). The client checks that reliable echoes come back exactly once and
//! in order, that unreliable ones are intact and that unsequenced ones are
//! never duplicated; it prints a summary, disconnects gracefully, and exits
//! with 0 only when every reliable packet came back intact. Both ends are
//! plain ENet 1.3 peers on the wire, so either can face an ENet program
//! (with `--checksum` meaning ENet's `host->checksum = enet_crc32`, and
//! `--compress` ENet's `enet_host_compress_with_range_coder`).
//!
//! The tests at the bottom run a server and clients in one process.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use volley::{
    DisconnectReason, Event, Host, HostConfig, HostError, PeerHandle, PeerStats, TransferMode,
};

const USAGE: &str = "usage: echo server ADDR [--checksum] [--compress]\n       echo client ADDR [--checksum] [--compress]";

/// Channels the client uses.
const CHANNELS: u8 = 4;
/// Packets per channel and mode.
const PER_MODE: u16 = 100;
const MODES: [TransferMode; 3] =
    [TransferMode::Reliable, TransferMode::UnreliableOrdered, TransferMode::Unreliable];
/// The 100 KiB reliable packet takes this index on channel 0.
const BIG_INDEX: u16 = PER_MODE / 2;
const BIG_LEN: usize = 100 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for its reliable echoes.
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);
/// After the last reliable echo, how long unreliable stragglers may take.
const SETTLE: Duration = Duration::from_millis(500);
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Wire settings both ends must share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Wire {
    /// CRC-32 checksums.
    checksum: bool,
    /// ENet's range coder.
    compress: bool,
}

impl Wire {
    fn apply(self, config: &mut HostConfig) {
        config.endpoint().checksum(self.checksum).range_coder(self.compress);
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checksum {}, compression {}", on_off(self.checksum), on_off(self.compress))
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Server { address: SocketAddr, wire: Wire },
    Client { address: SocketAddr, wire: Wire },
}

/// `server|client ADDR [--checksum] [--compress]`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let role = args.next().ok_or("missing role (server or client)")?;
    let address = args.next().ok_or("missing address, e.g. 127.0.0.1:7777")?;
    let address: SocketAddr =
        address.parse().map_err(|e| format!("bad address {address:?}: {e}"))?;
    let mut wire = Wire::default();
    for flag in args {
        let slot = match flag.as_str() {
            "--checksum" => &mut wire.checksum,
            "--compress" => &mut wire.compress,
            other => return Err(format!("unexpected argument {other:?}")),
        };
        if std::mem::replace(slot, true) {
            return Err(format!("{flag} given twice"));
        }
    }
    match role.as_str() {
        "server" => Ok(Command::Server { address, wire }),
        "client" => Ok(Command::Client { address, wire }),
        other => Err(format!("unknown role {other:?} (server or client)")),
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("echo: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Server { address, wire } => bind_server(address, wire)
            .and_then(|mut host| {
                println!("echo server on {} ({wire})", host.local_addr());
                serve(&mut host, &AtomicBool::new(false))
            })
            .map_err(EchoError::Host),
        Command::Client { address, wire } => {
            run_client(address, wire).map(|report| print!("{report}"))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn on_off(enabled: bool) -> &'static str {
    if enabled { "on" } else { "off" }
}

/// A server host on `address`.
fn bind_server(address: SocketAddr, wire: Wire) -> Result<Host, HostError> {
    let mut config = HostConfig::server(address);
    wire.apply(&mut config);
    Host::new(config)
}

/// Echoes every packet to its sender until `stop` is set.
fn serve(host: &mut Host, stop: &AtomicBool) -> Result<(), HostError> {
    // Address and echo count of each connected peer, for the log.
    let mut peers: HashMap<PeerHandle, (SocketAddr, u64)> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        match host.service(Duration::from_millis(100))? {
            Some(Event::Connected { peer, .. }) => {
                if let Some(address) = host.peer_address(peer) {
                    println!("{address} connected");
                    peers.insert(peer, (address, 0));
                }
            }
            Some(Event::Received { peer, channel, mode, payload }) => {
                // A peer that cannot take the echo (gone, queue full) only
                // loses that echo; the server goes on.
                match host.send(peer, channel, mode, &payload) {
                    Ok(()) => {
                        if let Some((_, echoed)) = peers.get_mut(&peer) {
                            *echoed += 1;
                        }
                    }
                    Err(e) => eprintln!("echo to {peer} failed: {e}"),
                }
                host.recycle(payload);
            }
            Some(Event::Disconnected { peer, reason, .. }) => {
                if let Some((address, echoed)) = peers.remove(&peer) {
                    println!("{address} left ({reason}) after {echoed} echoes");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why the client failed.
#[derive(Debug)]
enum EchoError {
    Host(HostError),
    NoAnswer(SocketAddr),
    Lost(DisconnectReason),
    Corrupt { channel: u8, mode: TransferMode, len: usize },
    OutOfOrder { channel: u8, expected: u16, got: u16 },
    Duplicate { channel: u8, mode: TransferMode, index: u16 },
    Stale { channel: u8, index: u16, after: u16 },
    Incomplete { missing: usize },
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(e) => write!(f, "{e}"),
            Self::NoAnswer(address) => {
                write!(f, "no connection to {address} within {CONNECT_TIMEOUT:?}")
            }
            Self::Lost(reason) => write!(f, "connection lost before the echoes: {reason}"),
            Self::Corrupt { channel, mode, len } => {
                write!(f, "corrupt {mode} echo of {len} bytes on channel {channel}")
            }
            Self::OutOfOrder { channel, expected, got } => write!(
                f,
                "reliable echo #{got} on channel {channel} where #{expected} was due \
                 (lost, duplicated or reordered)"
            ),
            Self::Duplicate { channel, mode, index } => {
                write!(f, "{mode} echo #{index} on channel {channel} came back twice")
            }
            Self::Stale { channel, index, after } => write!(
                f,
                "unreliable-ordered echo #{index} on channel {channel} came after #{after}"
            ),
            Self::Incomplete { missing } => write!(
                f,
                "{missing} reliable echoes missing after {ECHO_TIMEOUT:?}; reliable data was lost"
            ),
        }
    }
}

impl std::error::Error for EchoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Host(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HostError> for EchoError {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

fn mode_index(mode: TransferMode) -> usize {
    match mode {
        TransferMode::Reliable => 0,
        TransferMode::UnreliableOrdered => 1,
        TransferMode::Unreliable => 2,
    }
}

/// Packet `index` of `channel` in `mode`: a header naming all three, then
/// bytes derived from them and the position, so any corruption or
/// misrouting shows.
fn message(channel: u8, mode: TransferMode, index: u16) -> Vec<u8> {
    let len = if channel == 0 && mode == TransferMode::Reliable && index == BIG_INDEX {
        BIG_LEN
    } else {
        16 + usize::from(index % 64)
    };
    let tag = mode_index(mode) as u8;
    let [low, high] = index.to_le_bytes();
    let seed = u32::from(index) << 16 | u32::from(tag) << 28 | u32::from(channel) << 30;
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&[channel, tag, low, high]);
    // A multiplicative hash of the position: no short period, so a
    // misplaced fragment of the big packet shows too.
    bytes.extend((4..len as u32).map(|i| ((i ^ seed).wrapping_mul(0x9E37_79B1) >> 24) as u8));
    bytes
}

/// The echoes seen so far, checked one by one.
#[derive(Debug)]
struct Echoes {
    next_reliable: [u16; CHANNELS as usize],
    last_ordered: [Option<u16>; CHANNELS as usize],
    unsequenced_seen: Vec<bool>,
    /// Per mode.
    received: [usize; 3],
}

impl Echoes {
    fn new() -> Self {
        Self {
            next_reliable: [0; CHANNELS as usize],
            last_ordered: [None; CHANNELS as usize],
            unsequenced_seen: vec![false; usize::from(CHANNELS) * usize::from(PER_MODE)],
            received: [0; 3],
        }
    }

    /// Checks one echo: intact, on the channel and in the mode it was sent,
    /// reliable ones exactly once in order, unsequenced ones never twice.
    fn check(&mut self, channel: u8, mode: TransferMode, payload: &[u8]) -> Result<(), EchoError> {
        let corrupt = EchoError::Corrupt { channel, mode, len: payload.len() };
        let &[echo_channel, tag, low, high, ..] = payload else { return Err(corrupt) };
        let index = u16::from_le_bytes([low, high]);
        if echo_channel != channel
            || usize::from(tag) != mode_index(mode)
            || channel >= CHANNELS
            || index >= PER_MODE
            || payload != message(channel, mode, index)
        {
            return Err(corrupt);
        }
        let c = usize::from(channel);
        match mode {
            TransferMode::Reliable => {
                let expected = self.next_reliable[c];
                if index != expected {
                    return Err(EchoError::OutOfOrder { channel, expected, got: index });
                }
                self.next_reliable[c] += 1;
            }
            TransferMode::UnreliableOrdered => {
                // Sequenced: a repeat or an older one must never be delivered.
                if let Some(after) = self.last_ordered[c].filter(|&last| index <= last) {
                    return Err(EchoError::Stale { channel, index, after });
                }
                self.last_ordered[c] = Some(index);
            }
            TransferMode::Unreliable => {
                let seen =
                    &mut self.unsequenced_seen[c * usize::from(PER_MODE) + usize::from(index)];
                if *seen {
                    return Err(EchoError::Duplicate { channel, mode, index });
                }
                *seen = true;
            }
        }
        self.received[mode_index(mode)] += 1;
        Ok(())
    }

    fn reliable_missing(&self) -> usize {
        self.next_reliable.iter().map(|&n| usize::from(PER_MODE - n)).sum()
    }

    fn all_back(&self) -> bool {
        self.received.iter().all(|&n| n == usize::from(CHANNELS) * usize::from(PER_MODE))
    }
}

/// What the client saw.
#[derive(Debug)]
struct Report {
    server: SocketAddr,
    wire: Wire,
    /// Packets sent per mode (the same count for each).
    sent_per_mode: usize,
    /// Echoes per mode, in [`MODES`] order.
    echoed: [usize; 3],
    stats: PeerStats,
    /// Whether the server acknowledged the disconnect.
    disconnected: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "echo client: {} ({})", self.server, self.wire)?;
        writeln!(f, "{:<20} {:>6} {:>7}", "mode", "sent", "echoed")?;
        for (mode, echoed) in MODES.iter().zip(self.echoed) {
            writeln!(f, "{:<20} {:>6} {:>7}", mode.to_string(), self.sent_per_mode, echoed)?;
        }
        writeln!(f, "reliable echoes: all back, exactly once, in order, intact")?;
        writeln!(f, "100 KiB reliable packet: echoed intact")?;
        let s = &self.stats;
        writeln!(
            f,
            "rtt {:?} (variance {:?}), {} commands resent, {} bytes sent, {} received",
            s.rtt, s.rtt_variance, s.packets_lost, s.bytes_sent, s.bytes_received
        )?;
        let ending = if self.disconnected { "disconnected" } else { "disconnect not acknowledged" };
        writeln!(f, "{ending}")
    }
}

/// Connects to `server`, sends everything, checks the echoes, disconnects.
/// Succeeds only when every reliable packet came back intact.
fn run_client(server: SocketAddr, wire: Wire) -> Result<Report, EchoError> {
    let mut config = HostConfig::client();
    if server.is_ipv6() {
        let any = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
        config.socket(volley::socket::SocketConfig::new(any));
    }
    wire.apply(&mut config);
    let mut host = Host::new(config)?;
    let peer = host.connect(server, usize::from(CHANNELS), 0)?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        match host.service(Duration::from_millis(50))? {
            Some(Event::Connected { .. }) => break,
            Some(Event::Disconnected { .. }) => return Err(EchoError::NoAnswer(server)),
            _ if Instant::now() >= deadline => return Err(EchoError::NoAnswer(server)),
            _ => {}
        }
    }

    for index in 0..PER_MODE {
        for channel in 0..CHANNELS {
            for mode in MODES {
                host.send(peer, channel, mode, &message(channel, mode, index))?;
            }
        }
    }

    let mut echoes = Echoes::new();
    let deadline = Instant::now() + ECHO_TIMEOUT;
    let mut settle_until = None;
    loop {
        let now = Instant::now();
        if echoes.all_back() || settle_until.is_some_and(|t| now >= t) {
            break;
        }
        if now >= deadline {
            return Err(EchoError::Incomplete { missing: echoes.reliable_missing() });
        }
        match host.service(Duration::from_millis(10))? {
            Some(Event::Received { channel, mode, payload, .. }) => {
                echoes.check(channel, mode, &payload)?;
                host.recycle(payload);
                if settle_until.is_none() && echoes.reliable_missing() == 0 {
                    settle_until = Some(Instant::now() + SETTLE);
                }
            }
            Some(Event::Disconnected { reason, .. }) => return Err(EchoError::Lost(reason)),
            _ => {}
        }
    }
    let stats = host.peer_stats(peer).unwrap_or_default();

    host.disconnect(peer, 0)?;
    let deadline = Instant::now() + DISCONNECT_TIMEOUT;
    let mut disconnected = false;
    while !disconnected && Instant::now() < deadline {
        if let Some(Event::Disconnected { reason, .. }) = host.service(Duration::from_millis(50))? {
            disconnected = reason == DisconnectReason::Local;
        }
    }
    Ok(Report {
        server,
        wire,
        sent_per_mode: usize::from(CHANNELS) * usize::from(PER_MODE),
        echoed: echoes.received,
        stats,
        disconnected,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use super::*;

    fn args(line: &str) -> impl Iterator<Item = String> {
        line.split_whitespace().map(String::from).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn arguments_parse_by_hand() {
        let address: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        assert_eq!(
            parse_args(args("server 127.0.0.1:7777")),
            Ok(Command::Server { address, wire: Wire::default() })
        );
        assert_eq!(
            parse_args(args("client 127.0.0.1:7777 --checksum")),
            Ok(Command::Client { address, wire: Wire { checksum: true, compress: false } })
        );
        assert_eq!(
            parse_args(args("server 127.0.0.1:7777 --compress --checksum")),
            Ok(Command::Server { address, wire: Wire { checksum: true, compress: true } })
        );
        assert!(parse_args(args("client 127.0.0.1:1 --compress --compress")).is_err());
        for bad in ["", "server", "peer 127.0.0.1:7777", "client nowhere", "client 127.0.0.1:1 -x"]
        {
            assert!(parse_args(args(bad)).is_err(), "{bad:?} accepted");
        }
        assert!(parse_args(args("client 127.0.0.1:1 --checksum more")).is_err());
    }

    #[test]
    fn echoes_are_checked_for_order_duplicates_and_corruption() {
        let mut echoes = Echoes::new();
        let first = message(1, TransferMode::Reliable, 0);
        echoes.check(1, TransferMode::Reliable, &first).unwrap();
        assert!(matches!(
            echoes.check(1, TransferMode::Reliable, &first),
            Err(EchoError::OutOfOrder { channel: 1, expected: 1, got: 0 })
        ));
        let skipped = message(1, TransferMode::Reliable, 2);
        assert!(echoes.check(1, TransferMode::Reliable, &skipped).is_err());

        let unsequenced = message(2, TransferMode::Unreliable, 7);
        echoes.check(2, TransferMode::Unreliable, &unsequenced).unwrap();
        assert!(matches!(
            echoes.check(2, TransferMode::Unreliable, &unsequenced),
            Err(EchoError::Duplicate { index: 7, .. })
        ));
        let ordered = message(3, TransferMode::UnreliableOrdered, 5);
        echoes.check(3, TransferMode::UnreliableOrdered, &ordered).unwrap();
        let older = message(3, TransferMode::UnreliableOrdered, 4);
        assert!(matches!(
            echoes.check(3, TransferMode::UnreliableOrdered, &older),
            Err(EchoError::Stale { channel: 3, index: 4, after: 5 })
        ));

        let mut flipped = message(0, TransferMode::Unreliable, 3);
        flipped[10] ^= 1;
        assert!(matches!(
            echoes.check(0, TransferMode::Unreliable, &flipped),
            Err(EchoError::Corrupt { .. })
        ));
        let elsewhere = message(0, TransferMode::Unreliable, 3);
        assert!(echoes.check(1, TransferMode::Unreliable, &elsewhere).is_err(), "wrong channel");
        assert!(echoes.check(0, TransferMode::Reliable, &elsewhere).is_err(), "wrong mode");
        assert!(echoes.check(0, TransferMode::Unreliable, &[0, 2]).is_err(), "too short");
    }

    /// A server thread and two clients in turn (the server outlives the
    /// first), with checksums and compression off and on.
    #[test]
    fn clients_get_every_echo_back_from_the_server() {
        let wires = [(false, false), (true, false), (false, true), (true, true)]
            .map(|(checksum, compress)| Wire { checksum, compress });
        for wire in wires {
            let mut server = bind_server("127.0.0.1:0".parse().unwrap(), wire).unwrap();
            let address = server.local_addr();
            let stop = Arc::new(AtomicBool::new(false));
            let serving = {
                let stop = stop.clone();
                thread::spawn(move || serve(&mut server, &stop))
            };
            for _ in 0..2 {
                let report = run_client(address, wire).unwrap();
                let all = usize::from(CHANNELS) * usize::from(PER_MODE);
                assert_eq!(report.sent_per_mode, all);
                assert_eq!(report.echoed[0], all, "reliable");
                // Loopback loses nothing in practice; unreliable echoes may
                // still be dropped by design, so only some are required.
                assert!(report.echoed[1..].iter().all(|&n| n > 0), "{report}");
                assert!(report.disconnected, "{report}");
                assert!(report.stats.rtt < Duration::from_secs(1), "{report}");
            }
            stop.store(true, Ordering::Relaxed);
            serving.join().unwrap().unwrap();
        }
    }

    #[test]
    fn a_client_without_a_server_fails() {
        // A bound socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let error = run_client(silent.local_addr().unwrap(), Wire::default()).unwrap_err();
        assert!(matches!(error, EchoError::NoAnswer(_)), "{error}");
    }
}
