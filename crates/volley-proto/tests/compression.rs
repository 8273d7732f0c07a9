//! Endpoints with ENet's range coder: everything crosses a lossy link
//! intact, datagrams really shrink, and a mismatch is dropped and counted.

mod support;

use std::time::Duration;

use support::sim::{CLIENT, SERVER, addr, connect, lossy, pair};
use volley_proto::sim::LinkConfig;
use volley_proto::{EndpointConfig, Event, TransferMode};

fn coded(checksum: bool) -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.range_coder(true).checksum(checksum);
    c
}

/// Sends a mix of compressible traffic and returns what arrived, in order.
fn exchange(
    server: EndpointConfig,
    client: EndpointConfig,
    link: LinkConfig,
) -> (Vec<Vec<u8>>, u64) {
    let mut h = pair(11, server, client, link);
    let (to_server, _) = connect(&mut h, 2);
    let mut sent = Vec::new();
    for i in 0..300u32 {
        // Game-like state: small structured records, very compressible.
        let record: Vec<u8> = (0..40).map(|k| if k % 8 == 0 { (i % 7) as u8 } else { 0 }).collect();
        h.node(1).endpoint.send(to_server, 0, TransferMode::Reliable, &record).unwrap();
        sent.push(record);
    }
    let big: Vec<u8> = b"position update ".iter().copied().cycle().take(20_000).collect();
    h.node(1).endpoint.send(to_server, 1, TransferMode::Reliable, &big).unwrap();
    sent.push(big);
    // Order holds per channel: the records on 0, the large packet on 1.
    let mut got = Vec::new();
    let mut big_got = Vec::new();
    h.run_until(Duration::from_secs(120), |h| {
        while let Some(e) = h.node(0).events.pop_front() {
            if let Event::Received { payload, channel, .. } = e {
                if channel == 0 { got.push(payload) } else { big_got.push(payload) }
            }
        }
        got.len() + big_got.len() == sent.len()
    });
    got.append(&mut big_got);
    assert!(got == sent, "everything, intact and in order ({} of {})", got.len(), sent.len());
    (got, h.network().stats(addr(CLIENT), addr(SERVER)).delivered_bytes)
}

#[test]
fn compressed_traffic_crosses_a_lossy_link_intact_and_smaller() {
    let link = lossy(0.1, 0.05, 0.1);
    let (_, plain) = exchange(EndpointConfig::default(), EndpointConfig::default(), link);
    let (_, packed) = exchange(coded(false), coded(false), link);
    assert!(packed < plain * 2 / 3, "range coder shrinks game data: {packed} vs {plain}");
    let (_, _) = exchange(coded(true), coded(true), link);
}

#[test]
fn a_peer_without_the_coder_drops_compressed_datagrams_and_counts_them() {
    let mut h = pair(12, EndpointConfig::default(), coded(false), LinkConfig::default());
    let now = h.now();
    h.node(1).endpoint.connect(now, addr(SERVER), 1, 0).unwrap();
    h.run_for(Duration::from_secs(2));
    assert!(h.node(0).endpoint.stats().dropped_malformed > 0);
    assert!(h.node(0).events.iter().all(|e| !matches!(e, Event::Connected { .. })));
}
