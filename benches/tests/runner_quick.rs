//! Smoke test of the side-by-side runner: one short scenario for Volley and
//! raw UDP through the real binary, JSON out. It checks that the runner
//! works end to end, not how fast anything is.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far more than the run takes; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(120);

#[test]
fn quick_reliable_stream_for_volley_and_raw_udp() {
    let charts = std::env::temp_dir().join(format!("volley-bench-charts-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_volley-bench"))
        .args(["--quick", "--scenario", "reliable-64", "--systems", "raw", "--json", "--charts"])
        .arg(&charts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the runner can be waited for") {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the runner did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).expect("utf-8");
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("utf-8");
    assert!(status.success(), "runner failed: {status}\n{stderr}");
    // One row, a figure for both systems, and the ratio for raw UDP.
    assert!(stdout.contains("\"scenario\":\"reliable-64\""), "{stdout}");
    assert!(stdout.contains("\"Volley\":{\"value\":"), "{stdout}");
    assert!(stdout.contains("\"raw UDP\":{\"value\":"), "{stdout}");
    assert!(stdout.contains("\"volley_ratio\":"), "{stdout}");
    assert!(!stdout.contains("failed"), "{stdout}");
    // Progress went to stderr, not into the JSON.
    assert!(stderr.contains("reliable-64"), "{stderr}");
    // Next to the table: the table, the JSON, and the scenario's chart with
    // both systems and the ratio; the runner says where.
    assert!(stderr.contains(&charts.display().to_string()), "{stderr}");
    let svg = std::fs::read_to_string(charts.join("reliable-64.svg")).expect("the chart");
    let json = std::fs::read_to_string(charts.join("report.json")).expect("the JSON report");
    let table = std::fs::read_to_string(charts.join("table.md")).expect("the table");
    let _ = std::fs::remove_dir_all(&charts);
    assert!(svg.starts_with("<svg") && svg.contains("raw UDP") && svg.contains("(Volley = "));
    assert_eq!(json, stdout.trim_end());
    assert!(table.contains("| reliable 64 B ↑"), "{table}");
}

#[test]
fn unknown_arguments_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_volley-bench"))
        .arg("--bogus")
        .output()
        .expect("the runner starts");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument"));
}
