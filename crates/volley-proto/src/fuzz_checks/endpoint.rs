//! Arbitrary datagrams and time steps against a server with a live peer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Endpoint, EndpointConfig, Event, PeerState, TRANSMIT_BUFFER_SIZE, TransferMode};

/// Interprets `data` as records driving a server that has one connected
/// client: `[0, ms]` advances time, `[1|2, len_hi, len_lo, bytes...]` delivers
/// a datagram from the client's address (1) or a stranger (2). The engine
/// must never panic, its waiting data must stay within its bounds, and a
/// connection both ends still hold must still carry (acknowledge) messages.
pub fn endpoint(data: &[u8]) {
    let client_addr: SocketAddr = ([10, 0, 0, 2], 7001).into();
    let server_addr: SocketAddr = ([10, 0, 0, 1], 7000).into();
    let stranger: SocketAddr = ([10, 0, 0, 3], 7002).into();
    let mut config = EndpointConfig::default();
    config.max_waiting_data(64 * 1024).max_host_waiting_data(128 * 1024);
    let (Ok(mut server), Ok(mut client)) =
        (Endpoint::with_seed(config.clone(), 1), Endpoint::with_seed(config, 2))
    else {
        return;
    };
    let mut now = Instant::now();
    let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
    let Ok(to_server) = client.connect(now, server_addr, 2, 0) else { return };
    let shuttle = |now: Instant, client: &mut Endpoint, server: &mut Endpoint, buf: &mut [u8]| {
        client.handle_timeout(now);
        server.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, buf) {
            server.handle_datagram(now, client_addr, &buf[t.range]);
        }
        while let Some(t) = server.poll_transmit(now, buf) {
            client.handle_datagram(now, server_addr, &buf[t.range]);
        }
    };
    for _ in 0..5 {
        now += Duration::from_millis(1);
        shuttle(now, &mut client, &mut server, &mut buf);
    }
    let Some(Event::Connected { peer: on_server, .. }) = server.poll_event() else { return };
    let mut rest = data;
    while let Some((&kind, tail)) = rest.split_first() {
        match kind % 3 {
            0 => {
                let Some((&ms, tail)) = tail.split_first() else { break };
                now += Duration::from_millis(u64::from(ms));
                server.handle_timeout(now);
                rest = tail;
            }
            k => {
                let Some((len, tail)) = tail.split_first_chunk::<2>() else { break };
                let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
                let from = if k == 1 { client_addr } else { stranger };
                server.handle_datagram(now, from, &tail[..len]);
                rest = &tail[len..];
            }
        }
        while server.poll_transmit(now, &mut buf).is_some() {}
        assert!(server.waiting_data() <= 128 * 1024, "host waiting data bounded");
    }
    while server.poll_event().is_some() {}
    // Whatever happened, the engine still works: if both ends still hold the
    // connection (a replayed DISCONNECT of the live session may end it, as in
    // ENet), a message gets through.
    let server_holds = server.peer_state(on_server) == Some(PeerState::Connected);
    if server_holds && client.send(to_server, 0, TransferMode::Reliable, b"still alive").is_ok() {
        for _ in 0..50 {
            now += Duration::from_millis(10);
            shuttle(now, &mut client, &mut server, &mut buf);
        }
        let alive =
            client.peer_state(to_server).is_some() && server.peer_state(on_server).is_some();
        // Delivered, or (when injected data already used its sequence
        // number, which no unauthenticated protocol can prevent) at least
        // acknowledged: either way the client holds nothing back.
        let settled = client.peer_queued_bytes(to_server) == Some(0);
        assert!(settled || !alive, "a live connection kept working");
    }
}
