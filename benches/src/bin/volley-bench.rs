//! The side-by-side runner: Volley against ENet's C library, rusty_enet,
//! laminar, renet and raw UDP, every scenario in one process on 127.0.0.1.
//!
//! ```sh
//! cargo run --release -p volley-bench --features enet-c --bin volley-bench
//! cargo run --release -p volley-bench --bin volley-bench -- --quick --scenario reliable
//! cargo run --release -p volley-bench --features enet-c --bin volley-bench -- attacks
//! ```
//!
//! Besides printing the table, it writes the table (`table.md`), the report
//! as JSON (`report.json`) and one SVG chart per scenario into the charts
//! directory, `target/volley-bench/` by default.
//!
//! `attacks` runs the attack suite (`volley_bench::attack`) instead;
//! `attack-server` is the echo server it attacks, in a process of its own.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use volley_bench::attack::{self, Attack, Target};
use volley_bench::suite::report::Report;
use volley_bench::suite::{Options, chart, run, scenarios};

const USAGE: &str = "\
usage: volley-bench [--quick] [--scenario NAME]... [--systems A,B,...] [--repeat N] [--json]
                    [--charts DIR] [--list]

  --quick            CI-sized run (short measurements, fewer clients)
  --scenario NAME    only scenarios whose name starts with NAME (repeatable)
  --systems A,B      only these systems (name prefixes; Volley always runs)
  --repeat N         measure each cell N times and show the median (default 1)
  --json             print the report as JSON instead of a table
  --charts DIR       where to write table.md, report.json and one SVG chart per
                     scenario (default: target/volley-bench next to the build)
  --list             list the scenarios and systems, then exit

usage: volley-bench attacks [--quick] [--attack NAME]... [--systems A,B]

  --quick            the short version (2 s attacks, fewer attackers)
  --attack NAME      only this attack (repeatable): garbage, mutations,
                     connect-flood, spoofed-sessions, fragment-bomb,
                     never-ack, forged-handshake
  --systems A,B      only these servers: volley, enet-c
";

struct Args {
    options: Options,
    json: bool,
    list: bool,
    charts: Option<PathBuf>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        options: Options { progress: true, ..Options::default() },
        json: false,
        list: false,
        charts: None,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--quick" => parsed.options.quick = true,
            "--json" => parsed.json = true,
            "--list" => parsed.list = true,
            "--charts" => parsed.charts = Some(value("--charts")?.into()),
            "--scenario" => parsed.options.scenarios.push(value("--scenario")?),
            "--systems" => parsed.options.systems.extend(
                value("--systems")?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "--repeat" => {
                let text = value("--repeat")?;
                parsed.options.repeat = text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--repeat takes a positive count, not `{text}`"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(parsed)
}

/// `volley-bench attacks ...`: the attack suite, a Markdown table on stdout.
fn attacks(args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut options = attack::Options::full(exe);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.scale = attack::Scale::QUICK;
            }
            "--attack" => {
                let name = args.next().ok_or("--attack needs a name")?;
                let attack = Attack::ALL
                    .into_iter()
                    .find(|a| a.name() == name)
                    .ok_or_else(|| format!("no attack named `{name}`"))?;
                options.attacks.push(attack);
            }
            "--systems" => {
                let names = args.next().ok_or("--systems needs a list")?;
                options.targets = names
                    .split(',')
                    .map(|n| {
                        Target::parse(n.trim())
                            .ok_or_else(|| format!("no server `{n}` in this build"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !cfg!(feature = "enet-c") {
        eprintln!("note: ENet's C library is left out; build with --features enet-c to compare it");
    }
    let outcomes = attack::run(&options);
    print!("{}", attack::table(&outcomes));
    Ok(ExitCode::SUCCESS)
}

/// `volley-bench attack-server --system NAME`: the echo server under attack.
fn attack_server(mut args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    let target = match (args.next().as_deref(), args.next()) {
        (Some("--system"), Some(name)) => {
            Target::parse(&name).ok_or_else(|| format!("no server `{name}` in this build"))?
        }
        _ => return Err("attack-server needs --system NAME".into()),
    };
    attack::server::serve(target)?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1).peekable();
    let sub = match raw.peek().map(String::as_str) {
        Some("attacks") => {
            Some(attacks as fn(std::iter::Skip<std::env::Args>) -> Result<ExitCode, String>)
        }
        Some("attack-server") => {
            Some(attack_server as fn(std::iter::Skip<std::env::Args>) -> Result<ExitCode, String>)
        }
        _ => None,
    };
    if let Some(sub) = sub {
        return sub(std::env::args().skip(2)).unwrap_or_else(|message| {
            eprintln!("volley-bench: {message}");
            eprint!("{USAGE}");
            ExitCode::from(2)
        });
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("volley-bench: {message}");
            }
            eprint!("{USAGE}");
            return if message.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    if args.list {
        for scenario in scenarios(args.options.quick) {
            println!("{:<18} {}", scenario.name, scenario.description);
        }
        let systems: Vec<_> = volley_bench::drivers::all().iter().map(|s| s.version()).collect();
        println!("\nsystems: {}", systems.join(", "));
        if !cfg!(feature = "enet-c") {
            println!("(ENet's C library is compared when built with --features enet-c)");
        }
        return ExitCode::SUCCESS;
    }
    let known = scenarios(args.options.quick);
    if let Some(unknown) = args
        .options
        .scenarios
        .iter()
        .find(|f| !known.iter().any(|s| s.name.starts_with(f.as_str())))
    {
        eprintln!("volley-bench: no scenario starts with `{unknown}` (see --list)");
        return ExitCode::from(2);
    }
    if !cfg!(feature = "enet-c") {
        eprintln!("note: ENet's C library is left out; build with --features enet-c to compare it");
    }
    let charts = args.charts.unwrap_or_else(default_charts_dir);
    let report = run(&args.options);
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    match write_outputs(&report, &charts) {
        Ok(count) => {
            let shown = std::path::absolute(&charts).unwrap_or(charts);
            eprintln!(
                "wrote the table, the JSON report and {count} SVG charts to {}",
                shown.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("volley-bench: writing to {}: {e}", charts.display());
            ExitCode::FAILURE
        }
    }
}

/// `target/volley-bench` beside the directory the binary was built into
/// (`target/release`), or `./volley-bench` if that cannot be found.
fn default_charts_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|target| target.join("volley-bench")))
        .unwrap_or_else(|| PathBuf::from("volley-bench"))
}

/// Writes the table, the JSON report and the charts into `dir`; returns
/// how many charts.
fn write_outputs(report: &Report, dir: &Path) -> std::io::Result<usize> {
    let charts = chart::write_charts(report, dir)?;
    std::fs::write(dir.join("table.md"), report.table())?;
    std::fs::write(dir.join("report.json"), report.json())?;
    Ok(charts.len())
}
