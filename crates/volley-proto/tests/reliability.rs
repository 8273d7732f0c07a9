//! Delivery guarantees of the three modes under a bad simulated network.

mod support;

use std::time::Duration;

use support::sim::{CLIENT, SERVER, addr, connect, lossy, pair};
use volley_proto::sim::{Harness, LinkConfig};
use volley_proto::{EndpointConfig, Event, PeerHandle, TransferMode};

/// Seeds for the heavy-loss reliable test; CI runs all of them.
const RELIABLE_SEEDS: u64 = 200;
const MESSAGES: u32 = 10_000;
const CHANNELS: u8 = 4;

/// Message `index` on `channel`: 8 header bytes, then filler; every 1000th is
/// large enough to be fragmented.
fn message(channel: u8, index: u32) -> Vec<u8> {
    let len = if index % 1000 == 999 { 3000 } else { 8 + (index % 24) as usize };
    let mut m = vec![channel ^ (index as u8); len];
    m[..4].copy_from_slice(&u32::from(channel).to_le_bytes());
    m[4..8].copy_from_slice(&index.to_le_bytes());
    m
}

fn decode(payload: &[u8]) -> (u8, u32) {
    let channel = u32::from_le_bytes(payload[..4].try_into().unwrap()) as u8;
    let index = u32::from_le_bytes(payload[4..8].try_into().unwrap());
    assert_eq!(payload, &message(channel, index)[..], "payload intact");
    (channel, index)
}

/// Sends `MESSAGES` reliable messages over `CHANNELS` channels and checks
/// that every one arrives exactly once and in order per channel.
fn reliable_run(seed: u64) {
    let link = lossy(0.3, 0.1, 0.1);
    let mut h = pair(seed, EndpointConfig::default(), EndpointConfig::default(), link);
    let (server, _) = connect(&mut h, usize::from(CHANNELS));
    let per_channel = MESSAGES / u32::from(CHANNELS);
    // Queue in bursts, as a game would across frames.
    let mut next = vec![0u32; usize::from(CHANNELS)];
    let mut received = vec![0u32; usize::from(CHANNELS)];
    let mut total = 0;
    let finished = h.run_until(Duration::from_secs(600), |h| {
        for channel in 0..CHANNELS {
            let n = &mut next[usize::from(channel)];
            let burst_end = (*n + 100).min(per_channel);
            while *n < burst_end {
                h.node(1)
                    .endpoint
                    .send(server, channel, TransferMode::Reliable, &message(channel, *n))
                    .unwrap();
                *n += 1;
            }
        }
        while let Some(event) = h.node(0).events.pop_front() {
            match event {
                Event::Received { channel, mode, payload, .. } => {
                    assert_eq!(mode, TransferMode::Reliable);
                    let (c, index) = decode(&payload);
                    assert_eq!(c, channel, "seed {seed}: right channel");
                    assert_eq!(
                        index,
                        received[usize::from(c)],
                        "seed {seed}: in order, exactly once"
                    );
                    received[usize::from(c)] += 1;
                    total += 1;
                }
                other => panic!("seed {seed}: unexpected {other:?}"),
            }
        }
        total == MESSAGES
    });
    assert!(finished, "seed {seed}: only {total} of {MESSAGES} arrived");
    // Nothing more arrives later: no duplicates after the fact.
    h.run_for(Duration::from_secs(5));
    assert!(h.node(0).events.iter().all(|e| !matches!(e, Event::Received { .. })), "seed {seed}");
}

#[test]
fn reliable_arrives_exactly_once_in_order_under_30pct_loss_duplication_and_reordering() {
    for seed in 0..RELIABLE_SEEDS {
        reliable_run(seed);
    }
}

fn run_mode(h: &mut Harness, server: PeerHandle, mode: TransferMode, count: u32) -> Vec<u32> {
    let mut sent = 0;
    let mut got = Vec::new();
    h.run_until(Duration::from_secs(120), |h| {
        if sent < count {
            for _ in 0..10 {
                // Packets over one datagram are fragmented unreliably (sequenced): keep to one datagram.
                if sent % 1000 != 999 {
                    h.node(1).endpoint.send(server, 1, mode, &message(1, sent)).unwrap();
                }
                sent += 1;
            }
        }
        while let Some(event) = h.node(0).events.pop_front() {
            if let Event::Received { payload, mode: m, .. } = event {
                assert_eq!(m, mode);
                got.push(decode(&payload).1);
            }
        }
        sent == count && h.node(1).endpoint.peer_queued_bytes(server) == Some(0)
    });
    h.run_for(Duration::from_secs(2));
    while let Some(event) = h.node(0).events.pop_front() {
        if let Event::Received { payload, .. } = event {
            got.push(decode(&payload).1);
        }
    }
    got
}

#[test]
fn unreliable_ordered_never_delivers_out_of_order() {
    for seed in 0..30 {
        let mut h =
            pair(seed, EndpointConfig::default(), EndpointConfig::default(), lossy(0.2, 0.2, 0.3));
        let (server, _) = connect(&mut h, 2);
        let got = run_mode(&mut h, server, TransferMode::UnreliableOrdered, 3000);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: out of order or duplicated");
        assert!(got.len() > 1000, "seed {seed}: most arrive ({})", got.len());
    }
}

#[test]
fn unreliable_ordered_interleaved_with_reliable_keeps_send_order() {
    for seed in 0..20 {
        let mut h =
            pair(seed, EndpointConfig::default(), EndpointConfig::default(), lossy(0.2, 0.1, 0.3));
        let (server, _) = connect(&mut h, 2);
        for i in 0..2000u32 {
            let mode =
                if i % 7 == 0 { TransferMode::Reliable } else { TransferMode::UnreliableOrdered };
            h.node(1).endpoint.send(server, 1, mode, &message(1, i)).unwrap();
        }
        h.run_for(Duration::from_secs(60));
        let got: Vec<(u32, TransferMode)> = h
            .node(0)
            .events
            .drain(..)
            .filter_map(|e| match e {
                Event::Received { payload, mode, .. } => Some((decode(&payload).1, mode)),
                _ => None,
            })
            .collect();
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "seed {seed}: send order kept");
        let reliable: Vec<u32> =
            got.iter().filter(|(_, m)| *m == TransferMode::Reliable).map(|(i, _)| *i).collect();
        assert_eq!(
            reliable,
            (0..2000).step_by(7).collect::<Vec<_>>(),
            "seed {seed}: every reliable one"
        );
    }
}

#[test]
fn unsequenced_never_delivers_a_duplicate() {
    for seed in 0..30 {
        let mut h =
            pair(seed, EndpointConfig::default(), EndpointConfig::default(), lossy(0.1, 0.5, 0.5));
        let (server, _) = connect(&mut h, 2);
        let mut got = run_mode(&mut h, server, TransferMode::Unreliable, 3000);
        let arrived = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), arrived, "seed {seed}: a duplicate was delivered");
        assert!(arrived > 2000, "seed {seed}: most arrive ({arrived})");
    }
}

#[test]
fn a_one_mebibyte_reliable_packet_crosses_a_lossy_link_intact() {
    let mut h =
        pair(1, EndpointConfig::default(), EndpointConfig::default(), lossy(0.2, 0.05, 0.1));
    let (server, _) = connect(&mut h, 1);
    let packet: Vec<u8> =
        (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    h.node(1).endpoint.send(server, 0, TransferMode::Reliable, &packet).unwrap();
    assert!(h.run_until(Duration::from_secs(600), |h| !h.node(0).events.is_empty()));
    match h.node(0).events.pop_front() {
        Some(Event::Received { payload, mode: TransferMode::Reliable, .. }) => {
            assert!(payload == packet)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn large_unreliable_packets_arrive_intact_or_not_at_all() {
    let mut h =
        pair(2, EndpointConfig::default(), EndpointConfig::default(), lossy(0.02, 0.05, 0.2));
    let (server, _) = connect(&mut h, 1);
    let packets: Vec<Vec<u8>> = (0..50u8).map(|k| vec![k; 64 * 1024]).collect();
    for p in &packets {
        h.node(1).endpoint.send(server, 0, TransferMode::UnreliableOrdered, p).unwrap();
        h.run_for(Duration::from_millis(100));
    }
    h.run_for(Duration::from_secs(5));
    let mut delivered = 0;
    let mut last = None;
    for e in h.node(0).events.drain(..) {
        if let Event::Received { payload, mode, .. } = e {
            assert_eq!(mode, TransferMode::UnreliableOrdered);
            assert_eq!(payload.len(), 64 * 1024);
            let k = payload[0];
            assert!(
                payload.iter().all(|b| *b == k),
                "no byte from another packet or never received"
            );
            assert!(last < Some(k), "in order");
            last = Some(k);
            delivered += 1;
        }
    }
    assert!(delivered >= 5, "some 48-fragment packets made it: {delivered}");
    let _ = (addr(SERVER), addr(CLIENT), LinkConfig::default());
}
