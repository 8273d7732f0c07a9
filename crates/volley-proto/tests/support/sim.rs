//! Helpers to build simulated client/server pairs.

use std::net::SocketAddr;
use std::time::Duration;

use volley_proto::sim::{Harness, LinkConfig};
use volley_proto::{Endpoint, EndpointConfig, Event, PeerHandle};

pub const SERVER: &str = "10.0.0.1:7000";
pub const CLIENT: &str = "10.0.0.2:7001";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// A harness with a server (node 0) and a client (node 1), links as given.
pub fn pair(
    seed: u64,
    server: EndpointConfig,
    client: EndpointConfig,
    link: LinkConfig,
) -> Harness {
    let mut h = Harness::new(seed);
    h.add(addr(SERVER), Endpoint::with_seed(server, seed ^ 0x5EED).expect("server config"));
    h.add(addr(CLIENT), Endpoint::with_seed(client, seed ^ 0xC1E7).expect("client config"));
    h.network().set_link(addr(SERVER), addr(CLIENT), link);
    h.network().set_link(addr(CLIENT), addr(SERVER), link);
    h
}

/// Connects the client to the server, retrying a failed attempt as an
/// application would (on a very lossy link six tries can all be lost);
/// returns (client's handle of the server, server's handle of the client).
pub fn connect(h: &mut Harness, channels: usize) -> (PeerHandle, PeerHandle) {
    let mut server_peer = None;
    for _attempt in 0..5 {
        let now = h.now();
        let handle =
            h.node(1).endpoint.connect(now, addr(SERVER), channels, 0xABCD).expect("connect");
        let connected = |h: &mut Harness, n: usize| {
            h.node(n).events.iter().any(|e| matches!(e, Event::Connected { .. }))
        };
        let failed = |h: &mut Harness| {
            h.node(1).events.iter().any(|e| matches!(e, Event::Disconnected { .. }))
        };
        h.run_until(Duration::from_secs(60), |h| failed(h) || (connected(h, 0) && connected(h, 1)));
        if failed(h) {
            h.node(1).events.clear();
            continue;
        }
        server_peer = Some(handle);
        break;
    }
    let server_peer = server_peer.expect("connection did not complete in five attempts");
    let client_peer = take_connected(h, 0);
    assert_eq!(take_connected(h, 1), server_peer);
    (server_peer, client_peer)
}

fn take_connected(h: &mut Harness, node: usize) -> PeerHandle {
    let events = &mut h.node(node).events;
    let i = events.iter().position(|e| matches!(e, Event::Connected { .. })).expect("connected");
    match events.remove(i) {
        Some(Event::Connected { peer, .. }) => peer,
        _ => unreachable!(),
    }
}

/// A link with the given loss, duplication and reordering, 20 ms ± 5 ms delay.
pub fn lossy(loss: f64, duplicate: f64, reorder: f64) -> LinkConfig {
    let mut link = LinkConfig::default();
    link.loss(loss).expect("loss");
    link.duplicate(duplicate).expect("duplicate");
    link.reorder(reorder, Duration::from_millis(15)).expect("reorder");
    link.delay(Duration::from_millis(20)).expect("delay");
    link.jitter(Duration::from_millis(5)).expect("jitter");
    link
}
