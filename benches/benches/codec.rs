//! Wire codec alone: decode and encode of typical datagrams (CPU only).
//!
//! Run: `cargo bench -p volley-bench --bench codec`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use volley_proto::wire::{
    Command, CommandBody, CommandHeader, Datagram, DatagramWriter, Fragment, Header, MAX_HEADER_LEN,
};

const MTU: usize = 1392;

fn reliable(seq: u16, data: &[u8]) -> Command<'_> {
    Command {
        header: CommandHeader {
            acknowledge: true,
            unsequenced: false,
            channel_id: 0,
            reliable_sequence_number: seq,
        },
        body: CommandBody::SendReliable { data },
    }
}

/// Builds a datagram from `commands`; returns its bytes.
fn build(commands: &[Command<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; MTU + MAX_HEADER_LEN];
    let mut writer = DatagramWriter::new(&mut buf, MTU, false);
    for c in commands {
        writer.push(c).expect("fits");
    }
    let header = Header { peer_id: 1, session_id: 0, compressed: false, sent_time: Some(0x1234) };
    let range = writer.finish(&header, None);
    buf[range].to_vec()
}

fn decode_all(bytes: &[u8]) -> usize {
    let datagram = Datagram::parse(bytes, false).expect("valid");
    let mut payload_bytes = 0;
    for command in datagram.commands() {
        let command = command.expect("valid");
        payload_bytes += command.body.payload().map_or(0, <[u8]>::len);
    }
    payload_bytes
}

fn scenarios() -> Vec<(&'static str, Vec<Command<'static>>)> {
    static SMALL: [u8; 64] = [0x5A; 64];
    static PIECE: [u8; MTU - 28] = [0xA5; MTU - 28];
    let one_small = vec![reliable(1, &SMALL[..32])];
    // 64-byte reliable messages until the MTU is full (19 of them at 1392).
    let per = 6 + SMALL.len();
    let full: Vec<_> = (0..(MTU - 4) / per).map(|i| reliable(i as u16 + 1, &SMALL)).collect();
    let fragment = vec![Command {
        header: CommandHeader {
            acknowledge: true,
            unsequenced: false,
            channel_id: 0,
            reliable_sequence_number: 2,
        },
        body: CommandBody::SendFragment(Fragment {
            start_sequence_number: 1,
            fragment_count: 3,
            fragment_number: 1,
            total_length: 3 * PIECE.len() as u32,
            fragment_offset: PIECE.len() as u32,
            data: &PIECE,
        }),
    }];
    vec![("one_small_reliable", one_small), ("full_mtu_64B_reliable", full), ("fragment", fragment)]
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_decode");
    for (name, commands) in scenarios() {
        let bytes = build(&commands);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| decode_all(black_box(&bytes))));
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_encode");
    let mut buf = vec![0u8; MTU + MAX_HEADER_LEN];
    let header = Header { peer_id: 1, session_id: 0, compressed: false, sent_time: Some(0x1234) };
    for (name, commands) in scenarios() {
        group.throughput(Throughput::Bytes(build(&commands).len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut writer = DatagramWriter::new(&mut buf, MTU, false);
                for c in black_box(&commands) {
                    writer.push(c).expect("fits");
                }
                writer.finish(&header, None).len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
