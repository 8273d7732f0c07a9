//! Connection life cycle over the simulated network: handshake, every
//! state, disconnects, timeouts, refusal.

mod support;

use std::time::Duration;

use support::sim::{CLIENT, SERVER, addr, connect, lossy, pair};
use volley_proto::sim::LinkConfig;
use volley_proto::{DisconnectReason, EndpointConfig, Event, PeerState, SendError, TransferMode};

fn default_pair(seed: u64) -> volley_proto::sim::Harness {
    pair(seed, EndpointConfig::default(), EndpointConfig::default(), LinkConfig::default())
}

#[test]
fn handshake_connects_both_sides_with_connect_data() {
    let mut h = default_pair(1);
    let now = h.now();
    let peer = h.node(1).endpoint.connect(now, addr(SERVER), 3, 77).unwrap();
    assert_eq!(h.node(1).endpoint.peer_state(peer), Some(PeerState::Connecting));
    assert!(h.run_until(Duration::from_secs(5), |h| h.node(0).events.len() == 1
        && h.node(1).events.len() == 1));
    assert!(matches!(h.node(1).events.pop_front(), Some(Event::Connected { data: 0, .. })));
    let Some(Event::Connected { peer: on_server, data: 77 }) = h.node(0).events.pop_front() else {
        panic!("server side connect event with data");
    };
    assert_eq!(h.node(0).endpoint.peer_state(on_server), Some(PeerState::Connected));
    assert_eq!(h.node(0).endpoint.peer_channel_count(on_server), Some(3));
    assert_eq!(h.node(0).endpoint.peer_address(on_server), Some(addr(CLIENT)));
}

#[test]
fn handshake_survives_loss() {
    for seed in 0..20 {
        let mut h =
            pair(seed, EndpointConfig::default(), EndpointConfig::default(), lossy(0.2, 0.1, 0.1));
        connect(&mut h, 2);
    }
}

#[test]
fn manual_accept_waits_then_connects() {
    let mut server = EndpointConfig::default();
    server.manual_accept(true);
    let mut h = pair(2, server, EndpointConfig::default(), LinkConfig::default());
    let now = h.now();
    h.node(1).endpoint.connect(now, addr(SERVER), 1, 5).unwrap();
    assert!(h.run_until(Duration::from_secs(1), |h| !h.node(0).events.is_empty()));
    let Some(Event::ConnectRequest { peer, data: 5, channel_count: 1, .. }) =
        h.node(0).events.pop_front()
    else {
        panic!("connect request");
    };
    assert_eq!(h.node(0).endpoint.peer_state(peer), Some(PeerState::AwaitingAccept));
    h.run_for(Duration::from_millis(200));
    assert!(h.node(1).events.is_empty(), "client waits while the server decides");
    h.node(0).endpoint.accept(peer).unwrap();
    assert_eq!(h.node(0).endpoint.peer_state(peer), Some(PeerState::AcknowledgingConnect));
    assert!(h.run_until(Duration::from_secs(2), |h| h.node(0).events.len() == 1
        && h.node(1).events.len() == 1));
    assert!(matches!(h.node(0).events.pop_front(), Some(Event::Connected { data: 5, .. })));
}

#[test]
fn refusal_reaches_the_client_at_once_with_its_reason() {
    let mut server = EndpointConfig::default();
    server.manual_accept(true);
    let mut h = pair(3, server, EndpointConfig::default(), LinkConfig::default());
    let now = h.now();
    let attempt = h.node(1).endpoint.connect(now, addr(SERVER), 1, 5).unwrap();
    assert!(h.run_until(Duration::from_secs(1), |h| !h.node(0).events.is_empty()));
    let Some(Event::ConnectRequest { peer, .. }) = h.node(0).events.pop_front() else { panic!() };
    h.node(0).endpoint.refuse(peer, 0x8000_0002).unwrap();
    let start = h.now();
    assert!(h.run_until(Duration::from_secs(1), |h| !h.node(1).events.is_empty()));
    assert!(h.now() - start < Duration::from_millis(100), "told at once, not by timeout");
    assert_eq!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected {
            peer: attempt,
            reason: DisconnectReason::Refused,
            data: 0x8000_0002
        })
    );
    assert_eq!(h.node(0).endpoint.peer_state(peer), None, "slot freed");
}

#[test]
fn unanswered_connect_times_out_within_enet_bounds() {
    let mut h = default_pair(4);
    h.network().cut(addr(SERVER), addr(CLIENT), true);
    let now = h.now();
    let start = now;
    let attempt = h.node(1).endpoint.connect(now, addr(SERVER), 1, 0).unwrap();
    assert!(h.run_until(Duration::from_secs(60), |h| !h.node(1).events.is_empty()));
    let waited = h.now() - start;
    assert!(waited >= Duration::from_secs(5) && waited <= Duration::from_secs(30), "{waited:?}");
    assert_eq!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected { peer: attempt, reason: DisconnectReason::Timeout, data: 0 })
    );
}

#[test]
fn cut_link_times_out_both_sides_within_enet_bounds() {
    let mut h = default_pair(5);
    let (server_peer, client_peer) = connect(&mut h, 1);
    h.run_for(Duration::from_secs(2));
    h.network().cut(addr(SERVER), addr(CLIENT), true);
    let start = h.now();
    assert!(h.run_until(Duration::from_secs(60), |h| !h.node(0).events.is_empty()
        && !h.node(1).events.is_empty()));
    let waited = h.now() - start;
    assert!(waited >= Duration::from_secs(5) && waited <= Duration::from_secs(30), "{waited:?}");
    assert_eq!(
        h.node(0).events.pop_front(),
        Some(Event::Disconnected { peer: client_peer, reason: DisconnectReason::Timeout, data: 0 })
    );
    assert_eq!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected { peer: server_peer, reason: DisconnectReason::Timeout, data: 0 })
    );
}

#[test]
fn a_peer_that_sends_but_never_acknowledges_times_out_within_enet_bounds() {
    // Only the client's direction works: the server hears pings and data
    // but nothing it sends is ever acknowledged. Hearing is not enough.
    let mut h = default_pair(15);
    let (server_peer, client_peer) = connect(&mut h, 1);
    h.run_for(Duration::from_secs(1));
    let mut cut = LinkConfig::default();
    cut.cut(true);
    h.network().set_link(addr(SERVER), addr(CLIENT), cut);
    let start = h.now();
    let mut sent = 0u32;
    let server_done = |h: &mut volley_proto::sim::Harness| {
        h.node(0).events.retain(|e| matches!(e, Event::Disconnected { .. }));
        !h.node(0).events.is_empty()
    };
    while !server_done(&mut h) && h.now() - start < Duration::from_secs(60) {
        // The client keeps talking (it is not yet timed out itself).
        if h.node(1).endpoint.peer_state(server_peer).is_some() {
            let _ = h.node(1).endpoint.send(server_peer, 0, TransferMode::Reliable, &[7; 100]);
            sent += 1;
        }
        h.run_for(Duration::from_millis(100));
    }
    let waited = h.now() - start;
    assert!(waited >= Duration::from_secs(5) && waited <= Duration::from_secs(13), "{waited:?}");
    assert!(sent > 40, "the client kept sending: {sent}");
    assert_eq!(
        h.node(0).events.pop_front(),
        Some(Event::Disconnected { peer: client_peer, reason: DisconnectReason::Timeout, data: 0 })
    );
}

#[test]
fn idle_connection_stays_up_with_pings() {
    let mut h = default_pair(6);
    let (server_peer, _) = connect(&mut h, 1);
    h.run_for(Duration::from_secs(120));
    assert_eq!(h.node(1).endpoint.peer_state(server_peer), Some(PeerState::Connected));
    assert!(h.node(0).events.is_empty() && h.node(1).events.is_empty());
    let stats = h.network().stats(addr(CLIENT), addr(SERVER));
    assert!(stats.delivered >= 200, "pings flow both ways: {stats:?}");
}

#[test]
fn graceful_disconnect_gives_both_sides_their_events() {
    let mut h = default_pair(7);
    let (server_peer, client_peer) = connect(&mut h, 1);
    let now = h.now();
    h.node(1).endpoint.disconnect(now, server_peer, 42).unwrap();
    assert_eq!(h.node(1).endpoint.peer_state(server_peer), Some(PeerState::Disconnecting));
    assert!(h.run_until(Duration::from_secs(5), |h| !h.node(0).events.is_empty()
        && !h.node(1).events.is_empty()));
    assert_eq!(
        h.node(0).events.pop_front(),
        Some(Event::Disconnected { peer: client_peer, reason: DisconnectReason::Remote, data: 42 })
    );
    assert_eq!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected { peer: server_peer, reason: DisconnectReason::Local, data: 0 })
    );
    assert_eq!(h.node(0).endpoint.peer_state(client_peer), None);
}

#[test]
fn disconnect_later_delivers_queued_data_first() {
    let mut h = pair(8, EndpointConfig::default(), EndpointConfig::default(), lossy(0.2, 0.0, 0.0));
    let (server_peer, client_peer) = connect(&mut h, 1);
    for i in 0..200u32 {
        h.node(1).endpoint.send(server_peer, 0, TransferMode::Reliable, &i.to_le_bytes()).unwrap();
    }
    let now = h.now();
    h.node(1).endpoint.disconnect_later(now, server_peer, 9).unwrap();
    assert_eq!(h.node(1).endpoint.peer_state(server_peer), Some(PeerState::DisconnectLater));
    assert_eq!(
        h.node(1).endpoint.send(server_peer, 0, TransferMode::Reliable, b"late"),
        Err(SendError::NotConnected)
    );
    assert!(h.run_until(Duration::from_secs(30), |h| {
        h.node(0).events.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    }));
    let received: Vec<u32> = h
        .node(0)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Received { payload, .. } => {
                Some(u32::from_le_bytes(payload[..4].try_into().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(received, (0..200).collect::<Vec<_>>());
    assert_eq!(
        h.node(0).events.back(),
        Some(&Event::Disconnected { peer: client_peer, reason: DisconnectReason::Remote, data: 9 })
    );
}

#[test]
fn disconnect_now_is_silent_locally_and_seen_remotely() {
    let mut h = default_pair(9);
    let (server_peer, client_peer) = connect(&mut h, 1);
    h.node(0).endpoint.disconnect_now(client_peer, 7).unwrap();
    assert_eq!(h.node(0).endpoint.peer_state(client_peer), None);
    assert!(h.run_until(Duration::from_secs(2), |h| !h.node(1).events.is_empty()));
    assert_eq!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected { peer: server_peer, reason: DisconnectReason::Remote, data: 7 })
    );
    assert!(h.node(0).events.is_empty(), "no local event");
}

#[test]
fn acknowledging_disconnect_state_ends_when_the_ack_is_sent() {
    let mut h = default_pair(10);
    let (server_peer, client_peer) = connect(&mut h, 1);
    let now = h.now();
    h.node(1).endpoint.disconnect(now, server_peer, 1).unwrap();
    h.flush();
    // Deliver the DISCONNECT to the server but do not let it send yet.
    let mut seen_ack_state = false;
    let mut scratch = Vec::new();
    while h.network().next_delivery().is_some() {
        let at = h.network().next_delivery().unwrap();
        let d = h.network().pop_due(at, &mut scratch).unwrap();
        h.node(0).endpoint.handle_datagram(at, d.from, &scratch);
        if h.node(0).endpoint.peer_state(client_peer) == Some(PeerState::AcknowledgingDisconnect) {
            seen_ack_state = true;
            break;
        }
    }
    assert!(seen_ack_state);
    assert!(h.run_until(Duration::from_secs(2), |h| !h.node(0).events.is_empty()
        && !h.node(1).events.is_empty()));
    assert!(matches!(
        h.node(0).events.pop_front(),
        Some(Event::Disconnected { reason: DisconnectReason::Remote, .. })
    ));
}

#[test]
fn reset_forgets_silently_and_handles_die() {
    let mut h = default_pair(11);
    let (server_peer, client_peer) = connect(&mut h, 1);
    h.node(0).endpoint.reset(client_peer).unwrap();
    assert_eq!(h.node(0).endpoint.peer_state(client_peer), None);
    assert_eq!(
        h.node(0).endpoint.send(client_peer, 0, TransferMode::Reliable, b"x"),
        Err(SendError::UnknownPeer)
    );
    // The client notices only by timeout.
    assert!(h.run_until(Duration::from_secs(60), |h| !h.node(1).events.is_empty()));
    assert!(matches!(
        h.node(1).events.pop_front(),
        Some(Event::Disconnected { peer, reason: DisconnectReason::Timeout, .. }) if peer == server_peer
    ));
}

#[test]
fn reconnecting_the_same_slots_changes_session_ids() {
    let mut h = default_pair(12);
    let (server_peer, _) = connect(&mut h, 1);
    let now = h.now();
    h.node(1).endpoint.disconnect(now, server_peer, 0).unwrap();
    assert!(h.run_until(Duration::from_secs(5), |h| !h.node(0).events.is_empty()
        && !h.node(1).events.is_empty()));
    h.node(0).events.clear();
    h.node(1).events.clear();
    let (again, _) = connect(&mut h, 1);
    assert_eq!(again.index(), server_peer.index(), "same slot");
    assert_ne!(again, server_peer, "new generation");
    h.node(1).endpoint.send(again, 0, TransferMode::Reliable, b"again").unwrap();
    assert!(h.run_until(Duration::from_secs(2), |h| !h.node(0).events.is_empty()));
}

#[test]
fn a_full_server_ignores_further_connects() {
    let mut server = EndpointConfig::default();
    server.peer_limit(1);
    let mut h = pair(13, server, EndpointConfig::default(), LinkConfig::default());
    connect(&mut h, 1);
    let third = h.add(
        addr("10.0.0.3:7002"),
        volley_proto::Endpoint::with_seed(EndpointConfig::default(), 3).unwrap(),
    );
    let now = h.now();
    h.node(third).endpoint.connect(now, addr(SERVER), 1, 0).unwrap();
    h.run_for(Duration::from_secs(2));
    assert!(h.node(third).events.is_empty());
    assert!(h.node(0).endpoint.stats().connects_ignored >= 1);
}

#[test]
fn an_unanswered_connect_request_lapses_with_an_event() {
    let mut server = EndpointConfig::default();
    server.manual_accept(true);
    let mut h = pair(14, server, EndpointConfig::default(), LinkConfig::default());
    let now = h.now();
    let attempt = h.node(1).endpoint.connect(now, addr(SERVER), 1, 0).unwrap();
    assert!(h.run_until(Duration::from_secs(1), |h| !h.node(0).events.is_empty()));
    let Some(Event::ConnectRequest { peer, .. }) = h.node(0).events.pop_front() else { panic!() };
    // The client gives up; the server never answers its request.
    h.node(1).endpoint.disconnect_now(attempt, 0).unwrap();
    assert!(h.run_until(Duration::from_secs(10), |h| !h.node(0).events.is_empty()));
    assert_eq!(
        h.node(0).events.pop_front(),
        Some(Event::Disconnected { peer, reason: DisconnectReason::Timeout, data: 0 })
    );
    assert_eq!(h.node(0).endpoint.accept(peer), Err(volley_proto::PeerError::UnknownPeer));
}

#[test]
fn data_after_a_lost_verify_ack_brings_the_proof_and_the_data_at_once() {
    use std::time::Instant;
    use volley_proto::{Endpoint, TRANSMIT_BUFFER_SIZE};

    let mut server = Endpoint::with_seed(EndpointConfig::default(), 1).unwrap();
    let mut client = Endpoint::with_seed(EndpointConfig::default(), 2).unwrap();
    let (server_addr, client_addr) = (addr(SERVER), addr(CLIENT));
    let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
    let now = Instant::now();
    let peer = client.connect(now, server_addr, 1, 9).unwrap();
    let t = client.poll_transmit(now, &mut buf).expect("CONNECT");
    server.handle_datagram(now, client_addr, &buf[t.range]);
    let t = server.poll_transmit(now, &mut buf).expect("VERIFY_CONNECT");
    client.handle_datagram(now, server_addr, &buf[t.range]);
    assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
    // The client's acknowledgement of the verify-connect is lost...
    assert!(client.poll_transmit(now, &mut buf).is_some());
    assert!(server.poll_event().is_none());
    // ...and its first data arrives. It shows the client has the
    // verify-connect, but only an echo of its sent time proves the client
    // receives us: the server answers again at once and keeps the data.
    client.send(peer, 0, TransferMode::Reliable, b"hello").unwrap();
    let t = client.poll_transmit(now, &mut buf).expect("data");
    server.handle_datagram(now, client_addr, &buf[t.range]);
    assert!(server.poll_event().is_none(), "not connected without the proof");
    let t = server.poll_transmit(now, &mut buf).expect("the verify-connect again");
    client.handle_datagram(now, server_addr, &buf[t.range]);
    let t = client.poll_transmit(now, &mut buf).expect("its acknowledgement");
    server.handle_datagram(now, client_addr, &buf[t.range]);
    let Some(Event::Connected { peer: on_server, data: 9 }) = server.poll_event() else {
        panic!("connect event first");
    };
    match server.poll_event() {
        Some(Event::Received { payload, .. }) => assert_eq!(&payload[..], b"hello"),
        other => panic!("expected the data kept from before the proof, got {other:?}"),
    }
    assert_eq!(server.peer_state(on_server), Some(PeerState::Connected));
    // The connection carries on with no further events on either side.
    let mut later = now;
    for _ in 0..40 {
        later += Duration::from_millis(50);
        server.handle_timeout(later);
        client.handle_timeout(later);
        while let Some(t) = server.poll_transmit(later, &mut buf) {
            client.handle_datagram(later, server_addr, &buf[t.range]);
        }
        while let Some(t) = client.poll_transmit(later, &mut buf) {
            server.handle_datagram(later, client_addr, &buf[t.range]);
        }
    }
    assert!(server.poll_event().is_none() && client.poll_event().is_none());
    assert_eq!(server.peer_stats(on_server).unwrap().packets_lost, 0);
    assert_eq!(client.peer_stats(peer).unwrap().reliable_in_flight, 0);
}
