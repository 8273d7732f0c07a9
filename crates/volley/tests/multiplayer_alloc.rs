//! Steady-state traffic through the multiplayer layer allocates nothing: a
//! counting allocator watches sessions of a server and three clients
//! broadcasting to each other (every packet relayed twice): Godot 3's relay
//! profile, Godot 4's SceneMultiplayer relay (the server rewrites each
//! relay and takes its inner packet), and a server on two listeners with
//! Godot 4's RAW packets. The WebSocket peer's count is bounded instead:
//! one allocation per message sent (tungstenite's `Bytes`).
//!
//! Its own test binary without the libtest harness, so that no other
//! thread allocates while it counts.

use std::time::{Duration, Instant};

use volley::TransferMode;
use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::{ServerSession, SessionOptions};
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
use volley::multiplayer::{ConnectionStatus, Incoming, MultiplayerPeer, Target};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// One game frame per round on every peer: each connected client broadcasts
/// 64 bytes (alternately reliable and unreliable), everyone polls once and
/// reads and recycles what arrived. Returns how many packets were read.
fn frames(peers: &mut [Box<dyn MultiplayerPeer>], rounds: usize) -> usize {
    let mut received = 0;
    for round in 0..rounds {
        for (i, peer) in peers.iter_mut().enumerate() {
            if i > 0 && peer.connection_status() == ConnectionStatus::Connected {
                let mode =
                    if round % 2 == 0 { TransferMode::Reliable } else { TransferMode::Unreliable };
                peer.set_transfer_mode(mode);
                peer.set_target_peer(Target::Broadcast);
                peer.put_packet(&[i as u8; 64]).expect("put_packet");
            }
            peer.poll_timeout(Duration::from_millis(1)).expect("poll");
            while let Some(item) = peer.next_incoming() {
                if let Incoming::Packet(packet) = item {
                    received += 1;
                    peer.recycle(packet.payload);
                }
            }
        }
    }
    received
}

/// Every client broadcasts a burst of datagram-sized packets, then a few
/// frames take them in: receive batches grow to their full size, which the
/// steady frames may or may not reach on their own depending on timing.
fn burst(peers: &mut [Box<dyn MultiplayerPeer>]) {
    for (i, peer) in peers.iter_mut().enumerate().skip(1) {
        peer.set_transfer_mode(TransferMode::Unreliable);
        peer.set_target_peer(Target::Broadcast);
        for _ in 0..64 {
            peer.put_packet(&[i as u8; 1000]).expect("put_packet");
        }
    }
    frames(peers, 100);
}

/// A server and three clients of `profile`; the server is one
/// `EnetMultiplayerPeer`, or a `ServerSession` on two listeners (clients
/// alternate between them).
fn session(
    profile: WireProfile,
    two_listeners: bool,
    options: EnetPeerOptions,
) -> Vec<Box<dyn MultiplayerPeer>> {
    let bind = "127.0.0.1:0".parse().expect("address");
    let (server, addresses): (Box<dyn MultiplayerPeer>, Vec<_>) = if two_listeners {
        let session = ServerSession::builder(profile)
            .max_clients(8)
            .options(SessionOptions::default().raw_packets(true))
            .enet(EnetListener::new(bind))
            .enet(EnetListener::new(bind))
            .build()
            .expect("session");
        let addresses =
            vec![session.local_addr(0).expect("open"), session.local_addr(1).expect("open")];
        (Box::new(session), addresses)
    } else {
        let server = EnetMultiplayerPeer::create_server(bind, 8, 1, profile, options.clone())
            .expect("server");
        let address = server.local_addr().expect("open");
        (Box::new(server), vec![address])
    };
    let mut peers = vec![server];
    for i in 0..3 {
        let address = addresses[i % addresses.len()];
        let client = EnetMultiplayerPeer::create_client(address, 1, profile, options.clone())
            .expect("client");
        peers.push(Box::new(client));
    }
    peers
}

/// A WebSocket server and three WebSocket clients of `profile`.
fn websocket_session(profile: WireProfile) -> Vec<Box<dyn MultiplayerPeer>> {
    let listener = WsListener::new("127.0.0.1:0".parse().expect("address"));
    let server =
        WebSocketMultiplayerPeer::create_server(listener, 8, profile, SessionOptions::default())
            .expect("server");
    let url = format!("ws://{}/", server.local_addr().expect("open"));
    let mut peers: Vec<Box<dyn MultiplayerPeer>> = vec![Box::new(server)];
    for _ in 0..3 {
        let client =
            WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default());
        peers.push(Box::new(client.expect("client")));
    }
    peers
}

/// The WebSocket path is not allocation-free: tungstenite takes every
/// message to send as `Bytes` of its own. It allocates once per distinct
/// message sent (a client's broadcast, and the server's relayed copy, shared
/// by both destinations) and nothing per message received.
fn websocket() {
    for profile in [WireProfile::Relay, WireProfile::Godot4] {
        let mut peers = websocket_session(profile);
        let end = Instant::now() + Duration::from_secs(10);
        while peers.iter().any(|p| p.connection_status() != ConnectionStatus::Connected) {
            assert!(Instant::now() < end, "websocket {profile}: the session did not form");
            frames(&mut peers, 1);
        }
        frames(&mut peers, 500);
        let before = counting_alloc::allocations();
        let received = frames(&mut peers, 2000);
        let allocations = counting_alloc::allocations() - before;
        // 2000 rounds x 3 clients broadcast; each is sent once by its client
        // and relayed once by the server.
        let messages_sent = 2000 * 3 * 2;
        assert!(received > 15_000, "websocket {profile}: only {received} packets arrived");
        assert!(
            allocations <= messages_sent + 64,
            "websocket {profile}: {allocations} allocations for {messages_sent} messages sent"
        );
        println!(
            "multiplayer_alloc, websocket {profile}: {received} packets read, {allocations} allocations for {messages_sent} messages sent"
        );
    }
}

fn main() {
    websocket();
    type Build = fn() -> Vec<Box<dyn MultiplayerPeer>>;
    let scenarios: [(&str, Build); 3] = [
        ("relay", || session(WireProfile::Relay, false, EnetPeerOptions::default())),
        ("godot4", || session(WireProfile::Godot4, false, EnetPeerOptions::default())),
        ("godot4 raw, two listeners", || {
            session(WireProfile::Godot4, true, EnetPeerOptions::default().raw_packets(true))
        }),
    ];
    for (name, build) in scenarios {
        let mut peers = build();
        let end = Instant::now() + Duration::from_secs(10);
        while peers.iter().any(|p| p.connection_status() != ConnectionStatus::Connected) {
            assert!(Instant::now() < end, "{name}: the session did not form");
            frames(&mut peers, 1);
        }
        // Warm-up: buffer pools, queues and maps reach their working size.
        burst(&mut peers);
        frames(&mut peers, 500);

        let before = counting_alloc::allocations();
        let received = frames(&mut peers, 2000);
        let allocations = counting_alloc::allocations() - before;

        // 6000 broadcasts, each read by the server and two clients; loopback
        // may still lose an unreliable one under load.
        assert!(received > 15_000, "{name}: only {received} packets arrived");
        assert_eq!(allocations, 0, "{name}: {allocations} allocations for {received} packets");
        println!("multiplayer_alloc, {name}: {received} packets read, {allocations} allocations");
    }
}
