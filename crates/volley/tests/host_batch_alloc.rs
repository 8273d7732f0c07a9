//! Steady-state traffic through `Host::service_batch` allocates nothing: a
//! counting allocator watches a server running game ticks (everything that
//! arrived, lent; an answer to every peer; a flush) for three clients that
//! send reliable, unreliable and fragmented messages every tick.
//!
//! Its own test binary without the libtest harness, so that no other
//! thread allocates while it counts.

use std::time::{Duration, Instant};

use volley::{Event, Host, HostConfig, PeerHandle, TransferMode};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// Messages each client sends per tick: mode and length (the 3000-byte one
/// is fragmented).
const PER_TICK: [(TransferMode, usize); 4] = [
    (TransferMode::Reliable, 64),
    (TransferMode::Reliable, 3000),
    (TransferMode::UnreliableOrdered, 64),
    (TransferMode::Unreliable, 64),
];

/// Server ticks (and client sends) for `ticks` rounds; returns the messages
/// the server received.
fn ticks(
    server: &mut Host,
    clients: &mut [(Host, PeerHandle)],
    heard: &mut Vec<PeerHandle>,
    rounds: usize,
) -> usize {
    let message = [7u8; 3000];
    let mut received = 0;
    for _ in 0..rounds {
        for (client, to_server) in clients.iter_mut() {
            for (mode, len) in PER_TICK {
                client.send(*to_server, 0, mode, &message[..len]).expect("send");
            }
            client.service_batch(Duration::ZERO, |_, _| {}).expect("client service");
        }
        heard.clear();
        server
            .service_batch(Duration::ZERO, |event, _| {
                if let Event::Received { peer, .. } = event {
                    received += 1;
                    if !heard.contains(&peer) {
                        heard.push(peer);
                    }
                }
            })
            .expect("server service");
        for &peer in heard.iter() {
            server.send(peer, 0, TransferMode::Unreliable, &message[..64]).expect("answer");
        }
        server.flush().expect("flush");
    }
    received
}

fn main() {
    let mut server =
        Host::new(HostConfig::server("127.0.0.1:0".parse().expect("address"))).expect("server");
    let mut clients: Vec<(Host, PeerHandle)> = (0..3)
        .map(|_| {
            let client = Host::new(HostConfig::client()).expect("client");
            let peer = client.connect(server.local_addr(), 1, 0).expect("connect");
            (client, peer)
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(10);
    let mut connected = 0;
    while connected < clients.len() {
        assert!(Instant::now() < end, "the clients did not connect");
        server.service_batch(Duration::from_millis(1), |_, _| {}).expect("server");
        for (client, _) in &mut clients {
            client
                .service_batch(Duration::ZERO, |event, _| {
                    connected += usize::from(matches!(event, Event::Connected { .. }));
                })
                .expect("client");
        }
    }
    let mut heard = Vec::with_capacity(clients.len());
    // Warm-up: buffer pools, queues and the receive buffer reach their
    // size, and the once-a-second timers (bandwidth throttle) have run.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(2500) {
        ticks(&mut server, &mut clients, &mut heard, 50);
    }

    let before = counting_alloc::allocations();
    let received = ticks(&mut server, &mut clients, &mut heard, 2000);
    let allocations = counting_alloc::allocations() - before;

    // 24 000 messages sent; loopback may still lose an unreliable one under load.
    assert!(received > 20_000, "only {received} messages arrived");
    assert_eq!(allocations, 0, "{allocations} allocations for {received} messages");
    println!("host_batch_alloc: {received} messages read, {allocations} allocations");
}
