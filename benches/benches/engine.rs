//! The protocol engine alone: a client sends to a server over a perfect
//! in-process link in virtual time (CPU only, no sockets, no real clock).
//! Both sides do all their work: the server checks and recycles every
//! payload, the client processes every acknowledgement.
//!
//! Run: `cargo bench -p volley-bench --bench engine`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use volley_bench::link::Link;
use volley_proto::TransferMode;

/// Small messages per measured batch.
const BATCH: u64 = 1000;
/// 1200-byte messages per measured batch.
const LARGE_BATCH: u64 = 100;
/// Size of the fragmented packet.
const MIB: usize = 1024 * 1024;

fn connected() -> Link {
    Link::connected().unwrap_or_else(|e| panic!("{e}"))
}

/// Measures `count` messages of `len` bytes in `mode` per iteration.
fn bench_transfer(c: &mut Criterion, name: &str, mode: TransferMode, len: usize, count: u64) {
    let mut group = c.benchmark_group("engine");
    group.throughput(if len == 64 {
        Throughput::Elements(count)
    } else {
        Throughput::Bytes(len as u64 * count)
    });
    let mut link = connected();
    group.bench_function(name, |b| {
        b.iter(|| link.transfer(mode, len, count).unwrap_or_else(|e| panic!("{e}")));
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    bench_transfer(c, "reliable_64B", TransferMode::Reliable, 64, BATCH);
    bench_transfer(c, "unreliable_ordered_64B", TransferMode::UnreliableOrdered, 64, BATCH);
    bench_transfer(c, "unsequenced_64B", TransferMode::Unreliable, 64, BATCH);
    bench_transfer(c, "reliable_1200B", TransferMode::Reliable, 1200, LARGE_BATCH);
    bench_transfer(c, "reliable_1MiB_fragmented", TransferMode::Reliable, MIB, 1);
}

criterion_group!(benches, engine);
criterion_main!(benches);
