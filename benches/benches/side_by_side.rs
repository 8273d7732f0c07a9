//! Every compared system side by side: one criterion group per scenario of
//! the side-by-side runner, one benchmark per system in each (a system that
//! cannot express the scenario has none). Client and server run in one
//! process on 127.0.0.1, each on its own thread; the server is set up once
//! per benchmark and the client connects once, so every measurement is the
//! work alone, `iters` units of it.
//!
//! Before measuring, each system does [`CHECK_UNITS`] units; one that fails
//! (laminar reorders fragmented 16 KiB messages, for one) is left out of the
//! group with a message, as the runner's table marks it FAILED. A failure
//! while measuring aborts the bench; under `cargo test --benches` (one
//! unmeasured pass, often on a loaded machine) it is printed instead, so that
//! another library timing out under load does not fail the test run.
//!
//! Run: `cargo bench -p volley-bench --bench side_by_side`
//! (with `--features enet-c`, ENet's C library too).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use volley_bench::drivers;
use volley_bench::suite::{Workload, with_workload};

/// Warm-up per benchmark.
const WARM_UP: Duration = Duration::from_millis(500);
/// Measurement per benchmark: short, since each group has a benchmark per
/// system.
const MEASUREMENT: Duration = Duration::from_secs(1);

/// Units of work a system must do correctly before it is measured.
const CHECK_UNITS: u64 = 512;

/// The group `name`: `workload` for every system that can do it.
fn compare(c: &mut Criterion, name: &str, workload: Workload, throughput: Option<Throughput>) {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    if let Some(throughput) = throughput {
        group.throughput(throughput);
    }
    for system in drivers::all() {
        if workload.lacks(system).is_some() {
            continue;
        }
        let who = format!("{name}/{}", system.name());
        with_workload(system, workload, |run| {
            if let Err(e) = run(CHECK_UNITS) {
                eprintln!("{who}: left out, failed its check: {e}");
                return;
            }
            group.bench_function(system.name(), |b| {
                b.iter_custom(|iters| match run(iters) {
                    Ok(elapsed) => elapsed,
                    Err(e) if !measuring => {
                        eprintln!("{who}: failed (test pass, nothing measured): {e}");
                        Duration::ZERO
                    }
                    Err(e) => panic!("{who}: {e}"),
                });
            });
        })
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    }
    group.finish();
}

fn side_by_side(c: &mut Criterion) {
    compare(c, "reliable_64", Workload::Reliable(64), Some(Throughput::Elements(1)));
    compare(c, "reliable_1200", Workload::Reliable(1200), Some(Throughput::Bytes(1200)));
    compare(c, "reliable_16k", Workload::Reliable(16 * 1024), Some(Throughput::Bytes(16 * 1024)));
    compare(c, "unreliable_64", Workload::Unreliable, Some(Throughput::Elements(1)));
    compare(c, "pingpong_busy", Workload::PingPong, None);
    compare(c, "connect", Workload::Connect, None);
}

criterion_group!(benches, side_by_side);
criterion_main!(benches);
