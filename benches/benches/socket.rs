//! Datagrams per second through the loopback interface: one system call per
//! datagram (std), `sendmmsg`/`recvmmsg` batches, and batches whose runs go
//! out as UDP GSO messages.
//!
//! Each iteration sends 32 datagrams from one socket to another and reads all
//! 32 back, so a figure covers both directions.

use std::net::UdpSocket;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley::socket::{HostSocket, MAX_DATAGRAM_SIZE, RecvBatch, SendBatch, SocketConfig};

const BATCH: usize = 32;
const WAIT: Duration = Duration::from_secs(1);

/// A sender and a polled receiver on 127.0.0.1.
struct Link {
    sender: HostSocket,
    receiver: HostSocket,
    poll: Poll,
    events: Events,
    outgoing: SendBatch,
    incoming: RecvBatch,
}

impl Link {
    fn new(gso: bool) -> Self {
        let config = SocketConfig::new("127.0.0.1:0".parse().unwrap()).segmentation_offload(gso);
        let sender = HostSocket::bind(&config).unwrap();
        let mut receiver = HostSocket::bind(&config).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry().register(&mut receiver, Token(0), Interest::READABLE).unwrap();
        Self {
            sender,
            receiver,
            poll,
            events: Events::with_capacity(4),
            outgoing: SendBatch::new(BATCH),
            incoming: RecvBatch::new(BATCH),
        }
    }

    /// Queues `payloads`, sends them, and reads until all have arrived.
    fn round_trip(&mut self, payloads: &[Vec<u8>]) {
        let destination = self.receiver.local_addr();
        for payload in payloads {
            self.outgoing.push(destination, payload).unwrap();
        }
        assert_eq!(self.sender.send_batch(&mut self.outgoing), payloads.len());
        let mut received = 0;
        while received < payloads.len() {
            let read = self.receiver.recv_batch(&mut self.incoming).unwrap();
            if read == 0 {
                self.poll.poll(&mut self.events, Some(WAIT)).unwrap();
            }
            received += read;
        }
    }
}

fn std_pair() -> (UdpSocket, UdpSocket) {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(WAIT)).unwrap();
    (sender, receiver)
}

fn equal_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("socket_loopback");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [64, 1400] {
        let payloads = vec![vec![0xA5; size]; BATCH];

        let (sender, receiver) = std_pair();
        let destination = receiver.local_addr().unwrap();
        let mut buffer = vec![0; MAX_DATAGRAM_SIZE + 1];
        group.bench_function(BenchmarkId::new("std_one_at_a_time", size), |b| {
            b.iter(|| {
                for payload in &payloads {
                    sender.send_to(payload, destination).unwrap();
                }
                for _ in 0..BATCH {
                    receiver.recv_from(&mut buffer).unwrap();
                }
            });
        });

        let mut link = Link::new(false);
        group.bench_function(BenchmarkId::new("sendmmsg_recvmmsg", size), |b| {
            b.iter(|| link.round_trip(&payloads));
        });

        let mut link = Link::new(true);
        group.bench_function(BenchmarkId::new("gso_recvmmsg", size), |b| {
            b.iter(|| link.round_trip(&payloads));
        });
    }
    group.finish();
}

/// Sizes 1..=1400 at random: GSO rarely finds a run, so this shows what its
/// planning costs when it cannot help.
fn varied_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("socket_loopback_varied");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut rng = SmallRng::seed_from_u64(1);
    let payloads: Vec<Vec<u8>> =
        (0..BATCH).map(|_| vec![0x5A; rng.random_range(1..=1400)]).collect();
    for (name, gso) in [("sendmmsg_recvmmsg", false), ("gso_recvmmsg", true)] {
        let mut link = Link::new(gso);
        group.bench_function(name, |b| b.iter(|| link.round_trip(&payloads)));
    }
    group.finish();
}

criterion_group!(benches, equal_sizes, varied_sizes);
criterion_main!(benches);
