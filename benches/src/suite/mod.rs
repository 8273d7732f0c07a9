//! The side-by-side runner: every scenario against every system, in one
//! process on 127.0.0.1, gathered into one [`Report`]. The same scenarios,
//! a given count of work at a time, serve the criterion benches through
//! [`with_workload`].
//!
//! ```no_run
//! use volley_bench::suite::{Options, run};
//!
//! let report = run(&Options { quick: true, ..Options::default() });
//! println!("{}", report.table());
//! ```

pub mod chart;
pub mod cpu;
mod cpu_only;
pub mod memory;
pub mod netns;
mod pair;
pub mod report;
mod scenarios;

pub use scenarios::{Workload, WorkloadError, with_workload};

use std::io::Write as _;
use std::time::Instant;

use crate::drivers::{self, Delivery, Feature, System};
use netns::LossyNamespace;
use report::{Cell, Machine, Report, Row, Unit};
use scenarios::{CrowdLoad, Scale, ServerLoop};

/// Share of datagrams the loss scenario drops, in percent.
const LOSS_PERCENT: u8 = 5;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// CI-sized: short measurements and fewer clients.
    pub quick: bool,
    /// Only scenarios whose name starts with one of these (all if empty).
    pub scenarios: Vec<String>,
    /// Only these systems (matched case-insensitively on the start of the
    /// name, spaces ignored); Volley always runs. All if empty.
    pub systems: Vec<String>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Measurements per cell; the table shows their median (0 counts as 1).
    pub repeat: usize,
}

/// One scenario of the suite.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Reliable(usize),
    Unreliable,
    Sequenced,
    PingPong { blocking: bool },
    Peers(usize),
    Tick(usize),
    Scale(usize),
    SharedPort(usize),
    Memory,
    Connects,
    Engine,
    Loss(usize),
}

/// A scenario as the runner lists it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name for `--scenario`.
    pub name: String,
    /// What it measures.
    pub description: String,
    kind: Kind,
}

/// Every scenario at `quick` or full scale, in running order.
pub fn scenarios(quick: bool) -> Vec<Scenario> {
    let scale = if quick { Scale::QUICK } else { Scale::FULL };
    let mut list = vec![
        (Kind::Reliable(64), "reliable-64", "reliable ordered 64 B messages: messages/s until the receiver has all, in order"),
        (Kind::Reliable(1200), "reliable-1200", "reliable ordered 1200 B messages: payload bytes/s until the receiver has all, in order"),
        (Kind::Reliable(16 * 1024), "reliable-16k", "reliable ordered 16 KiB messages (fragmented): payload bytes/s until the receiver has all, in order"),
        (Kind::Unreliable, "unreliable-64", "unsequenced 64 B messages, sender kept 256 ahead of the receiver's count: delivered messages/s and share lost"),
        (Kind::Sequenced, "sequenced-64", "unreliable sequenced 64 B messages, kept as unsequenced ones: delivered messages/s and share lost, never an older one after a newer"),
        (Kind::PingPong { blocking: false }, "pingpong-busy", "32 B reliable message echoed by the server, both ends busy-polling: round trip median and p99"),
        (Kind::PingPong { blocking: true }, "pingpong-blocking", "the same with both ends blocking in the OS between arrivals"),
    ]
    .into_iter()
    .map(|(kind, name, description)| Scenario { name: name.into(), description: description.into(), kind })
    .collect::<Vec<_>>();
    for peers in scale.peers {
        list.push(Scenario {
            name: format!("peers-{peers}"),
            description: format!(
                "{peers} clients on one thread, each 20 × 64 B reliable per tick at 30 Hz, to a blocking server: server thread CPU time per message"
            ),
            kind: Kind::Peers(peers),
        });
    }
    for peers in scale.peers {
        list.push(Scenario {
            name: format!("tick-{peers}"),
            description: format!(
                "the same {peers} clients to a game-style server: a zero-timeout poll per 60 Hz tick, everything taken, one 64 B unreliable answer per client heard, flush, sleep: server CPU per message and p99 tick time"
            ),
            kind: Kind::Tick(peers),
        });
    }
    for &peers in scale.scale {
        list.push(Scenario {
            name: format!("scale-{peers}"),
            description: format!(
                "{peers} clients, each 5 × 64 B reliable per tick at 20 Hz, to the 60 Hz tick server: server CPU per message (flat from 200 to 4,095 peers means nothing per peer per call)"
            ),
            kind: Kind::Scale(peers),
        });
    }
    let peers = scale.peers[1];
    list.push(Scenario {
        name: format!("shared-port-{peers}"),
        description: format!(
            "the tick scenario's {peers} clients against one host, then against two hosts on one port (SO_REUSEPORT, a thread each): received rate and server CPU per message summed over both threads"
        ),
        kind: Kind::SharedPort(peers),
    });
    list.push(Scenario {
        name: "memory".into(),
        description: format!(
            "heap per peer of a server endpoint with {} slots: per slot, and added per connected idle peer",
            scale.memory_peers
        ),
        kind: Kind::Memory,
    });
    list.push(Scenario {
        name: "connect".into(),
        description: format!(
            "batches of {} clients connect at once, then disconnect: connections/s (client creation included)",
            scale.connect_batch
        ),
        kind: Kind::Connects,
    });
    list.push(Scenario {
        name: "engine".into(),
        description: "CPU only, no sockets: the engine alone (client and server joined in memory) and the codec alone".into(),
        kind: Kind::Engine,
    });
    for (len, name) in [(64, "loss-64"), (1200, "loss-1200"), (16 * 1024, "loss-16k")] {
        list.push(Scenario {
            name: name.into(),
            description: format!(
                "reliable-{} over loopback in a network namespace dropping {LOSS_PERCENT}% of datagrams (nftables): messages/s, every message delivered in order",
                if len == 64 { "64".to_owned() } else if len == 1200 { "1200".to_owned() } else { "16k".to_owned() }
            ),
            kind: Kind::Loss(len),
        });
    }
    list
}

fn size_label(len: usize) -> String {
    if len >= 1024 && len.is_multiple_of(1024) {
        format!("{} KiB", len / 1024)
    } else {
        format!("{len} B")
    }
}

/// The rows a scenario fills, as (label, unit).
fn row_specs(kind: Kind) -> Vec<(String, Unit)> {
    match kind {
        Kind::Reliable(64) => vec![("reliable 64 B".into(), Unit::MessagesPerSecond)],
        Kind::Reliable(len) => {
            vec![(format!("reliable {}", size_label(len)), Unit::BytesPerSecond)]
        }
        Kind::Unreliable => vec![
            ("unreliable 64 B delivered".into(), Unit::MessagesPerSecond),
            ("unreliable 64 B lost".into(), Unit::Percent),
        ],
        Kind::Sequenced => vec![
            ("sequenced 64 B delivered".into(), Unit::MessagesPerSecond),
            ("sequenced 64 B lost".into(), Unit::Percent),
        ],
        Kind::PingPong { blocking } => {
            let how = if blocking { "blocking" } else { "busy-poll" };
            vec![
                (format!("ping-pong {how} median"), Unit::Micros),
                (format!("ping-pong {how} p99"), Unit::Micros),
            ]
        }
        Kind::Peers(peers) => vec![
            (format!("{peers} peers: server CPU"), Unit::NanosPerMessage),
            (format!("{peers} peers: server received"), Unit::MessagesPerSecond),
        ],
        Kind::Tick(peers) => vec![
            (format!("tick, {peers} peers: server CPU"), Unit::NanosPerMessage),
            (format!("tick, {peers} peers: p99 tick"), Unit::Micros),
            (format!("tick, {peers} peers: server received"), Unit::MessagesPerSecond),
        ],
        Kind::Scale(peers) => vec![
            (format!("scale, {peers} peers: server CPU"), Unit::NanosPerMessage),
            (format!("scale, {peers} peers: server received"), Unit::MessagesPerSecond),
        ],
        Kind::SharedPort(peers) => vec![
            (format!("one host, {peers} peers: server CPU"), Unit::NanosPerMessage),
            (format!("one host, {peers} peers: server received"), Unit::MessagesPerSecond),
            (format!("two hosts on one port, {peers} peers: server CPU"), Unit::NanosPerMessage),
            (
                format!("two hosts on one port, {peers} peers: server received"),
                Unit::MessagesPerSecond,
            ),
            ("two hosts on one port: busier host's share".into(), Unit::Percent),
        ],
        Kind::Memory => vec![
            ("memory per peer slot".into(), Unit::Bytes),
            ("memory per idle connected peer".into(), Unit::Bytes),
        ],
        Kind::Connects => vec![("connection setup".into(), Unit::ConnectsPerSecond)],
        Kind::Engine => vec![
            ("engine alone: reliable 64 B".into(), Unit::MessagesPerSecond),
            ("engine alone: reliable 1200 B".into(), Unit::BytesPerSecond),
            ("codec alone: decode 64 B commands".into(), Unit::MessagesPerSecond),
            ("codec alone: encode 64 B commands".into(), Unit::MessagesPerSecond),
        ],
        Kind::Loss(len) => {
            vec![(
                format!("{LOSS_PERCENT}% loss: reliable {}", size_label(len)),
                Unit::MessagesPerSecond,
            )]
        }
    }
}

/// Runs one scenario for one system: a cell per row.
fn measure(
    kind: Kind,
    system: &dyn System,
    scale: Scale,
    namespace: Option<&Result<LossyNamespace, String>>,
) -> Vec<Cell> {
    let rows = row_specs(kind).len();
    let not_applicable = |why: &str| vec![Cell::NotApplicable(why.to_owned()); rows];
    let failed = |why: String| vec![Cell::Failed(why); rows];
    let duration = scale.measure;
    match kind {
        Kind::Reliable(len) => {
            if let Some(why) = scenarios::lacks_stream(system, len, false) {
                return not_applicable(why);
            }
            match scenarios::reliable_stream(system, len, duration, None) {
                Ok(stream) if len == 64 => vec![Cell::Value(stream.rate())],
                Ok(stream) => vec![Cell::Value(stream.rate() * len as f64)],
                Err(e) => failed(e),
            }
        }
        Kind::Unreliable => {
            if let Some(why) = system.lacks(Feature::UnreliableSize(64)) {
                return not_applicable(why);
            }
            match scenarios::unreliable_stream(system, Delivery::Unreliable, duration) {
                Ok(u) => vec![Cell::Value(u.rate), Cell::Value(u.loss_percent)],
                Err(e) => failed(e),
            }
        }
        Kind::Sequenced => {
            if let Some(why) = system.lacks(Feature::Sequenced) {
                return not_applicable(why);
            }
            match scenarios::unreliable_stream(system, Delivery::Sequenced, duration) {
                Ok(u) => vec![Cell::Value(u.rate), Cell::Value(u.loss_percent)],
                Err(e) => failed(e),
            }
        }
        Kind::PingPong { blocking } => {
            if blocking && let Some(why) = system.lacks(Feature::BlockingWait) {
                return not_applicable(why);
            }
            match scenarios::ping_pong(system, blocking, duration) {
                Ok(rtts) => vec![
                    Cell::Value(rtts.quantile(0.5).as_secs_f64() * 1e6),
                    Cell::Value(rtts.quantile(0.99).as_secs_f64() * 1e6),
                ],
                Err(e) => failed(e),
            }
        }
        Kind::Peers(peers) | Kind::Tick(peers) | Kind::Scale(peers) => {
            if let Some(why) = system.lacks(Feature::Clients(peers)) {
                return not_applicable(why);
            }
            let (load, server_loop) = match kind {
                Kind::Peers(_) => (CrowdLoad::GAME, ServerLoop::Blocking),
                Kind::Tick(_) => (CrowdLoad::GAME, ServerLoop::Tick),
                _ => (CrowdLoad::SCALE, ServerLoop::Tick),
            };
            match scenarios::crowd(system, peers, load, server_loop, duration) {
                Ok(cost) => {
                    let cpu = Cell::Value(cost.cpu_per_message.as_secs_f64() * 1e9);
                    let rate = Cell::Value(cost.rate);
                    if let Kind::Tick(_) = kind {
                        vec![cpu, Cell::Value(cost.tick_p99.as_secs_f64() * 1e6), rate]
                    } else {
                        vec![cpu, rate]
                    }
                }
                Err(e) => failed(e),
            }
        }
        Kind::SharedPort(peers) => {
            if let Some(why) =
                system.lacks(Feature::SharedPort).or_else(|| system.lacks(Feature::Clients(peers)))
            {
                return not_applicable(why);
            }
            let mut cells = Vec::new();
            for hosts in [1, 2] {
                let load = CrowdLoad::GAME;
                match scenarios::crowd_on_hosts(
                    system,
                    hosts,
                    peers,
                    load,
                    ServerLoop::Tick,
                    duration,
                ) {
                    Ok(cost) => {
                        cells.push(Cell::Value(cost.cpu_per_message.as_secs_f64() * 1e9));
                        cells.push(Cell::Value(cost.rate));
                        if hosts == 2 {
                            cells.push(Cell::Value(cost.busiest_share * 100.0));
                        }
                    }
                    Err(e) => {
                        let cells_of_run = if hosts == 1 { 2 } else { 3 };
                        cells.extend((0..cells_of_run).map(|_| Cell::Failed(e.clone())));
                    }
                }
            }
            cells
        }
        Kind::Memory => {
            if system.name() != drivers::volley::Volley.name() {
                return not_applicable("allocates inside its host, not measured apart");
            }
            match crate::crowd::idle_peer_memory(scale.memory_peers, memory::heap_in_use) {
                Ok(memory) => vec![
                    Cell::Value(memory.per_slot as f64),
                    Cell::Value(memory.per_idle_peer as f64),
                ],
                Err(e) => failed(e.to_string()),
            }
        }
        Kind::Connects => {
            if let Some(why) = system.lacks(Feature::Handshake) {
                return not_applicable(why);
            }
            match scenarios::connects(system, scale.connect_batch, duration) {
                Ok(rate) => vec![Cell::Value(rate)],
                Err(e) => failed(e),
            }
        }
        Kind::Engine => {
            let engine = |len| match cpu_only::engine_rate(system, len, 1000, duration) {
                Ok(Ok(rate)) if len == 64 => Cell::Value(rate),
                Ok(Ok(rate)) => Cell::Value(rate * len as f64),
                Ok(Err(e)) => Cell::Failed(e),
                Err(why) => Cell::NotApplicable(why.into()),
            };
            let codec = |result: Result<f64, String>| match result {
                Ok(rate) => Cell::Value(rate),
                Err(e) => Cell::Failed(e),
            };
            let mut cells = vec![engine(64), engine(1200)];
            if system.name() == drivers::volley::Volley.name() {
                cells.push(codec(cpu_only::decode_rate(duration)));
                cells.push(codec(cpu_only::encode_rate(duration)));
            } else {
                cells.extend(not_applicable("no separate codec").into_iter().take(2));
            }
            cells
        }
        Kind::Loss(len) => {
            if let Some(why) = scenarios::lacks_stream(system, len, true) {
                return not_applicable(why);
            }
            match namespace {
                Some(Ok(namespace)) => {
                    match scenarios::reliable_stream(system, len, duration, Some(namespace)) {
                        Ok(stream) => vec![Cell::Value(stream.rate())],
                        Err(e) => failed(e),
                    }
                }
                Some(Err(why)) => vec![Cell::Skipped(why.clone())],
                None => vec![Cell::Skipped("no namespace".into())],
            }
        }
    }
}

/// Cell by cell, the median of repeated measurements; the first failure
/// (or other non-figure) wins over figures.
fn median_cells(runs: &[Vec<Cell>]) -> Vec<Cell> {
    let rows = runs.iter().map(Vec::len).max().unwrap_or(0);
    (0..rows)
        .map(|row| {
            let cells: Vec<&Cell> = runs.iter().filter_map(|run| run.get(row)).collect();
            if let Some(other) = cells.iter().find(|c| !matches!(c, Cell::Value(_))) {
                return (*other).clone();
            }
            let mut values: Vec<f64> = cells
                .iter()
                .filter_map(|c| if let Cell::Value(v) = c { Some(*v) } else { None })
                .collect();
            values.sort_by(f64::total_cmp);
            values
                .get(values.len() / 2)
                .map_or_else(|| Cell::Failed("no run".into()), |v| Cell::Value(*v))
        })
        .collect()
}

fn selected(name: &str, filters: &[String]) -> bool {
    let squash = |s: &str| s.to_lowercase().replace([' ', '_', '-'], "");
    filters.is_empty() || filters.iter().any(|f| squash(name).starts_with(&squash(f)))
}

/// Runs the scenarios and systems `options` selects.
pub fn run(options: &Options) -> Report {
    let scale = if options.quick { Scale::QUICK } else { Scale::FULL };
    let systems: Vec<&dyn System> = drivers::all()
        .into_iter()
        .enumerate()
        .filter(|(i, s)| *i == 0 || selected(s.name(), &options.systems))
        .map(|(_, s)| s)
        .collect();
    let chosen: Vec<Scenario> = scenarios(options.quick)
        .into_iter()
        .filter(|s| {
            options.scenarios.is_empty()
                || options.scenarios.iter().any(|f| s.name.starts_with(f.as_str()))
        })
        .collect();
    let namespace = chosen.iter().any(|s| matches!(s.kind, Kind::Loss(_))).then(|| {
        LossyNamespace::create(LOSS_PERCENT).map_err(|e| format!("needs root, ip and nft: {e}"))
    });
    let total = chosen.len() * systems.len();
    let mut rows = Vec::new();
    let mut step = 0;
    for scenario in &chosen {
        let specs = row_specs(scenario.kind);
        let mut columns = Vec::with_capacity(systems.len());
        for system in &systems {
            step += 1;
            let started = Instant::now();
            if options.progress {
                eprint!("[{step}/{total}] {} · {} … ", scenario.name, system.name());
                let _ = std::io::stderr().flush();
            }
            let runs: Vec<Vec<Cell>> = (0..options.repeat.max(1))
                .map(|_| measure(scenario.kind, *system, scale, namespace.as_ref()))
                .collect();
            let cells = median_cells(&runs);
            if options.progress {
                let summary: Vec<String> = cells
                    .iter()
                    .zip(&specs)
                    .map(|(cell, (_, unit))| match *cell {
                        Cell::Value(v) => unit.format(v),
                        ref other => format!("{other:?}"),
                    })
                    .collect();
                eprintln!("{} ({:.1} s)", summary.join(", "), started.elapsed().as_secs_f64());
            }
            columns.push(cells);
        }
        for (r, (label, unit)) in specs.into_iter().enumerate() {
            rows.push(Row {
                scenario: scenario.name.clone(),
                label,
                unit,
                cells: columns
                    .iter()
                    .map(|c| c.get(r).cloned().unwrap_or_else(|| Cell::Failed("missing".into())))
                    .collect(),
            });
        }
    }
    Report {
        systems: systems.iter().map(|s| s.name()).collect(),
        versions: systems.iter().map(|s| s.version()).collect(),
        rows,
        machine: Machine::this(),
        quick: options.quick,
    }
}
