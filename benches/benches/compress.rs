//! Range coder throughput on typical datagram bodies: Volley's coder, and
//! ENet's C coder beside it when the `enet-c` feature is on.
//!
//! Throughput counts uncompressed bytes in both directions. Compression gets
//! the engine's output limit (the body's own size), so on incompressible data
//! it measures how fast the coder gives up.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use volley_bench::payloads::{game_datagram, random_body, text_body};
use volley_proto::compress::{Compressor, RangeCoder};

fn bodies() -> [(&'static str, Vec<u8>); 3] {
    let mut rng = SmallRng::seed_from_u64(0xbe4c_0001);
    [
        ("game_1372", game_datagram(&mut rng, 1372)),
        ("text_200", text_body(&mut rng, 200)),
        ("random_1372", random_body(&mut rng, 1372)),
    ]
}

fn coders() -> Vec<(&'static str, Box<dyn Compressor>)> {
    vec![
        ("volley", Box::new(RangeCoder::new())),
        #[cfg(feature = "enet-c")]
        (
            "enet-c",
            Box::new(
                volley_bench::enet_c::EnetRangeCoder::new().expect("ENet allocates its coder"),
            ),
        ),
    ]
}

fn compress(c: &mut Criterion) {
    for (name, body) in bodies() {
        let mut group = c.benchmark_group(format!("compress/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (coder_name, mut coder) in coders() {
            let mut out = vec![0; body.len()];
            group.bench_function(coder_name, |b| {
                b.iter(|| coder.compress(black_box(&body), black_box(&mut out)));
            });
        }
        group.finish();
    }
}

fn decompress(c: &mut Criterion) {
    for (name, body) in bodies() {
        let mut packed = vec![0; body.len() * 2 + 64];
        let packed_len =
            RangeCoder::new().compress(&body, &mut packed).expect("fits in twice the size");
        packed.truncate(packed_len);

        let mut group = c.benchmark_group(format!("decompress/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (coder_name, mut coder) in coders() {
            let mut out = vec![0; 4096];
            group.bench_function(coder_name, |b| {
                b.iter(|| coder.decompress(black_box(&packed), black_box(&mut out)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compress, decompress);
criterion_main!(benches);
