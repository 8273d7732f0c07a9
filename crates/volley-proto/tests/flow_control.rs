//! Windows, waiting-data bounds, bandwidth limits and the throttle.

mod support;

use std::time::Duration;

use support::sim::{CLIENT, SERVER, addr, connect, pair};
use volley_proto::sim::LinkConfig;
use volley_proto::{EndpointConfig, Event, SendError, TransferMode};

fn link(delay_ms: u64) -> LinkConfig {
    let mut l = LinkConfig::default();
    l.delay(Duration::from_millis(delay_ms)).unwrap();
    l
}

#[test]
fn a_slow_receiver_holds_the_sender_at_the_window_with_bounded_memory() {
    let mut server = EndpointConfig::default();
    server.max_waiting_data(256 * 1024);
    let mut h = pair(1, server, EndpointConfig::default(), link(10));
    let (to_server, _) = connect(&mut h, 1);
    h.node(0).drain_events = false; // the application stops reading
    let message = vec![0x55u8; 1000];
    let mut sent = 0u32;
    while sent < 4000
        && h.node(1).endpoint.send(to_server, 0, TransferMode::Reliable, &message).is_ok()
    {
        sent += 1;
    }
    let mut max_in_flight = 0;
    let mut max_waiting = 0;
    for _ in 0..200 {
        h.run_for(Duration::from_millis(50));
        let stats = h.node(1).endpoint.peer_stats(to_server).unwrap();
        max_in_flight = max_in_flight.max(stats.reliable_in_flight);
        assert!(stats.reliable_in_flight <= stats.window_size.max(stats.mtu), "{stats:?}");
        max_waiting = max_waiting.max(h.node(0).endpoint.waiting_data());
    }
    assert!(max_waiting <= 256 * 1024, "receiver memory bounded: {max_waiting}");
    assert!(max_in_flight > 0);
    let queued = h.node(1).endpoint.peer_queued_bytes(to_server).unwrap();
    assert!(queued > 1_000_000, "the sender is held back: {queued} bytes still queued");
    // The application reads again: everything arrives, in order, once.
    h.node(0).drain_events = true;
    let mut received = 0u32;
    let done = h.run_until(Duration::from_secs(300), |h| {
        while let Some(e) = h.node(0).events.pop_front() {
            if let Event::Received { .. } = e {
                received += 1;
            }
        }
        received == sent
    });
    assert!(done, "{received} of {sent}");
}

#[test]
fn the_outgoing_queue_is_bounded() {
    let mut client = EndpointConfig::default();
    client.max_queued_data(100_000);
    let mut h = pair(2, EndpointConfig::default(), client, link(10));
    let (to_server, _) = connect(&mut h, 1);
    let message = vec![1u8; 1000];
    let mut accepted = 0;
    let err = loop {
        match h.node(1).endpoint.send(to_server, 0, TransferMode::Reliable, &message) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(accepted, 100);
    assert!(matches!(err, SendError::QueueFull { limit: 100_000, .. }), "{err}");
    h.run_for(Duration::from_secs(2));
    assert!(
        h.node(1).endpoint.send(to_server, 0, TransferMode::Reliable, &message).is_ok(),
        "room again"
    );
}

/// Bytes the client put on the link while flooding unreliable data for 10 s.
fn unreliable_flood_bytes(client: EndpointConfig, server: EndpointConfig) -> u64 {
    let mut h = pair(3, server, client, link(20));
    let (to_server, _) = connect(&mut h, 1);
    let message = vec![7u8; 500];
    for _ in 0..1000 {
        for _ in 0..20 {
            let _ =
                h.node(1).endpoint.send(to_server, 0, TransferMode::UnreliableOrdered, &message);
        }
        h.run_for(Duration::from_millis(10));
    }
    h.network().stats(addr(CLIENT), addr(SERVER)).delivered_bytes
}

#[test]
fn bandwidth_limits_shape_the_sent_bytes() {
    let unlimited = unreliable_flood_bytes(EndpointConfig::default(), EndpointConfig::default());
    let mut limited = EndpointConfig::default();
    limited.outgoing_bandwidth(100_000);
    let shaped = unreliable_flood_bytes(limited, EndpointConfig::default());
    // 1 MB/s offered for 10 s; a 100 kB/s host limit throttles unreliable data.
    assert!(unlimited > 9_000_000, "unlimited sends what is offered: {unlimited}");
    assert!(shaped < unlimited / 3, "limit shapes: {shaped} vs {unlimited}");
    // A server announcing a small incoming bandwidth shapes its clients too.
    let mut small_server = EndpointConfig::default();
    small_server.incoming_bandwidth(100_000);
    let mut client = EndpointConfig::default();
    client.outgoing_bandwidth(2_000_000);
    let told = unreliable_flood_bytes(client, small_server);
    assert!(told < unlimited / 3, "remote limit shapes: {told} vs {unlimited}");
}

#[test]
fn bandwidth_limit_commands_follow_a_connect() {
    let mut server = EndpointConfig::default();
    server.incoming_bandwidth(128_000).outgoing_bandwidth(64_000);
    let mut client = EndpointConfig::default();
    client.incoming_bandwidth(256_000).outgoing_bandwidth(32_000);
    let mut h = pair(4, server, client, link(5));
    let (to_server, to_client) = connect(&mut h, 1);
    h.run_for(Duration::from_secs(2));
    // Window sizes follow the announced bandwidths as ENet computes them.
    let client_window = h.node(1).endpoint.peer_stats(to_server).unwrap().window_size;
    let server_window = h.node(0).endpoint.peer_stats(to_client).unwrap().window_size;
    assert_eq!(client_window, 4096);
    assert_eq!(server_window, 4096);
}

#[test]
fn rising_round_trips_throttle_unreliable_data_down_to_the_floor() {
    let mut client = EndpointConfig::default();
    client.throttle_floor(8);
    let mut h = pair(5, EndpointConfig::default(), client, link(5));
    let (to_server, _) = connect(&mut h, 1);
    // Settle a low round trip, then make the link much slower.
    h.run_for(Duration::from_secs(6));
    let mut slow = LinkConfig::default();
    slow.delay(Duration::from_millis(150)).unwrap();
    slow.jitter(Duration::from_millis(100)).unwrap();
    h.network().set_link(addr(CLIENT), addr(SERVER), slow);
    for _ in 0..300 {
        h.node(1).endpoint.send(to_server, 0, TransferMode::Reliable, b"r").unwrap();
        for _ in 0..10 {
            let _ = h.node(1).endpoint.send(to_server, 0, TransferMode::Unreliable, b"u");
        }
        h.run_for(Duration::from_millis(20));
    }
    let stats = h.node(1).endpoint.peer_stats(to_server).unwrap();
    assert!(stats.packets_throttled > 0, "{stats:?}");
    assert!(stats.throttle >= 8, "never below the floor: {stats:?}");
}

#[test]
fn the_outgoing_queues_are_bounded_host_wide_but_not_for_a_peer_within_its_share() {
    // Four slots, 400 kB for all queues: a fair share of 100 kB each.
    let mut server = EndpointConfig::default();
    server.peer_limit(4).max_queued_data(300_000).max_host_queued_data(400_000);
    let mut h = volley_proto::sim::Harness::new(3);
    h.add(addr(SERVER), volley_proto::Endpoint::with_seed(server, 3).unwrap());
    let clients: Vec<_> = (0..3)
        .map(|n| {
            let a = addr(&format!("10.0.0.{}:7001", n + 2));
            h.add(a, volley_proto::Endpoint::with_seed(EndpointConfig::default(), 4 + n).unwrap());
            a
        })
        .collect();
    for (n, _) in clients.iter().enumerate() {
        let now = h.now();
        h.node(n + 1).endpoint.connect(now, addr(SERVER), 1, 0).unwrap();
    }
    h.run_for(Duration::from_millis(500));
    let peers: Vec<_> = h.node(0).endpoint.connected_peers().collect();
    assert_eq!(peers.len(), 3);
    // The links stop, so nothing queued leaves: two peers fill the host budget.
    for &a in &clients {
        h.network().cut(addr(SERVER), a, true);
    }
    let message = vec![0u8; 10_000];
    let queue = |h: &mut volley_proto::sim::Harness, peer, limit: usize| {
        let mut queued = 0;
        while queued < limit
            && h.node(0).endpoint.send(peer, 0, TransferMode::Reliable, &message).is_ok()
        {
            queued += 1;
        }
        queued
    };
    assert_eq!(queue(&mut h, peers[0], 1000), 30, "its own limit, 300 kB");
    assert_eq!(queue(&mut h, peers[1], 1000), 10, "the host's, 400 kB in all");
    // The third peer is within its fair share: never refused for the others.
    assert_eq!(queue(&mut h, peers[2], 1000), 10, "its fair share, 100 kB");
}
