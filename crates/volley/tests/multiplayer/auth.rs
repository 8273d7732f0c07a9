//! Godot 4's authentication (§1.6 of the reference): pending peers exchange
//! only `07 00 …`, everything else waits for both sides to complete, and a
//! timeout drops them. With the option off, no authentication byte at all.

use std::time::{Duration, Instant};

use volley::TransferMode;
use volley::multiplayer::enet::{EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::{RefuseReason, WireProfile};
use volley::multiplayer::session::{AuthError, AuthMessage};
use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerEvent, PeerId, PutPacketError};

use crate::world::{Direction, Proxy, Raw, World, id, local, seeded};

const C: u32 = 0x77;

fn auth(seed: u64) -> EnetPeerOptions {
    seeded(seed).authentication(true)
}

/// Steps until node `node` has an authentication message, and takes it.
fn next_auth(world: &mut World, node: usize) -> AuthMessage {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        world.step();
        if let Some(message) = world.nodes[node].peer.next_auth_message() {
            return message;
        }
    }
    panic!("no authentication message for node {node}");
}

fn server(options: EnetPeerOptions) -> World {
    let server =
        EnetMultiplayerPeer::create_server(local(), 8, 1, WireProfile::Godot4, options).unwrap();
    let mut world = World::default();
    world.add(server);
    world
}

#[test]
fn authentication_holds_everything_back_until_both_sides_complete() {
    let mut world = server(auth(500));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let proxy = Proxy::new(address);
    let c1 = world.add(
        EnetMultiplayerPeer::create_client(proxy.addr(), 1, WireProfile::Godot4, auth(501))
            .unwrap(),
    );
    world.proxies.push(proxy);
    let c1_id = world.nodes[c1].id();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Authenticating(c1_id))
        && w.nodes[c1].saw(PeerEvent::Authenticating(PeerId::SERVER))));
    assert_eq!(world.nodes[c1].peer.connection_status(), ConnectionStatus::Connecting);
    assert_eq!(world.nodes[c1].peer.put_packet(b"early"), Err(PutPacketError::NotConnected));

    // Godot's auth_callback on either side.
    world.nodes[c1].peer.send_auth(PeerId::SERVER, b"password").unwrap();
    let message = next_auth(&mut world, 0);
    assert_eq!(message, AuthMessage { from: c1_id, data: b"password".to_vec() });
    world.nodes[0].peer.recycle(message.data);
    world.nodes[0].peer.send_auth(c1_id, b"welcome").unwrap();
    let message = next_auth(&mut world, c1);
    assert_eq!(message, AuthMessage { from: PeerId::SERVER, data: b"welcome".to_vec() });
    world.nodes[0].peer.complete_auth(c1_id).unwrap();

    // A raw Godot 4 client joins meanwhile; while pending, its game packets
    // and relays are dropped.
    let raw = Raw::client();
    raw.host.connect(address, 255, C).unwrap();
    world.raws.push(raw);
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Authenticating(id(C)))));
    let to_server = world.raws[0].host.connected_peers()[0];
    let raw_send = |w: &World, bytes: &[u8]| {
        w.raws[0].host.send(to_server, 0, TransferMode::Reliable, bytes).unwrap();
    };
    raw_send(&world, b"\x03game");
    raw_send(&world, &[0x07, 0x03, 0x00, 0x00, 0x00, 0x00, 0x03, 0x68, 0x69]);

    // C1 completes too: both sides done, it is in.
    world.nodes[c1].peer.complete_auth(PeerId::SERVER).unwrap();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Connected(c1_id))
        && w.nodes[c1].peer.connection_status() == ConnectionStatus::Connected));
    assert_eq!(
        world.nodes[c1].events(),
        [PeerEvent::Authenticating(PeerId::SERVER), PeerEvent::Connected(PeerId::SERVER)]
    );
    assert_eq!(world.nodes[0].peer.stats().dropped_pending, 2);
    assert!(!world.nodes[0].got(b"\x03game"));

    // The server completes C, then C completes: only now is it announced.
    world.nodes[0].peer.complete_auth(id(C)).unwrap();
    assert!(world.run_until(|w| w.raws[0].received().iter().any(|r| r.2 == [0x07, 0x00])));
    assert!(!world.nodes[c1].saw(PeerEvent::Connected(id(C))), "C is still pending");
    raw_send(&world, &[0x07, 0x00]);
    assert!(world.run_until(|w| w.nodes[c1].saw(PeerEvent::Connected(id(C)))));
    let added = [&[0x07, 0x01][..], &c1_id.get().to_le_bytes()].concat();
    assert!(world.run_until(|w| w.raws[0].received().iter().any(|r| r.2 == added)));
    let to_c: Vec<Vec<u8>> = world.raws[0].received().into_iter().map(|r| r.2.to_vec()).collect();
    assert_eq!(to_c, [vec![0x07, 0x00], added], "nothing but auth before the ADD");

    // The bytes C1 and the server exchanged (§1.6).
    let out: Vec<Vec<u8>> =
        world.proxies[0].sends(Direction::Out).into_iter().map(|s| s.2).collect();
    let into: Vec<Vec<u8>> =
        world.proxies[0].sends(Direction::In).into_iter().map(|s| s.2).collect();
    assert_eq!(&out[..2], [b"\x07\x00password".to_vec(), vec![0x07, 0x00]]);
    assert_eq!(&into[..2], [b"\x07\x00welcome".to_vec(), vec![0x07, 0x00]]);
    // After admission a stray "done" is ignored.
    raw_send(&world, &[0x07, 0x00]);
    raw_send(&world, b"\x03after");
    assert!(world.run_until(|w| w.nodes[0].got(b"\x03after")));
    assert_eq!(world.nodes[0].peer.stats().dropped_malformed, 0);
}

#[test]
fn the_server_drops_a_peer_that_does_not_authenticate_in_time() {
    let mut world = server(auth(510).auth_timeout(Duration::from_millis(300)));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let client = world.add(
        EnetMultiplayerPeer::create_client(address, 1, WireProfile::Godot4, auth(511)).unwrap(),
    );
    let client_id = world.nodes[client].id();
    let started = Instant::now();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::AuthenticationFailed(client_id))
        && w.nodes[client].peer.connection_status() == ConnectionStatus::Disconnected));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        world.nodes[0].events(),
        [PeerEvent::Authenticating(client_id), PeerEvent::AuthenticationFailed(client_id)]
    );
    let events = world.nodes[client].events();
    assert_eq!(
        &events[..2],
        [
            PeerEvent::Authenticating(PeerId::SERVER),
            PeerEvent::AuthenticationFailed(PeerId::SERVER)
        ]
    );
    assert_eq!(world.nodes[client].peer.refusal(), Some(RefuseReason::AuthenticationFailed));
}

#[test]
fn a_client_gives_up_on_a_server_that_does_not_authenticate_in_time() {
    let mut world = server(auth(520));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let options = auth(521).auth_timeout(Duration::from_millis(300));
    let client = world
        .add(EnetMultiplayerPeer::create_client(address, 1, WireProfile::Godot4, options).unwrap());
    let client_id = world.nodes[client].id();
    // The client completes its side; the server never does.
    assert!(world.run_until(|w| w.nodes[client].saw(PeerEvent::Authenticating(PeerId::SERVER))));
    world.nodes[client].peer.complete_auth(PeerId::SERVER).unwrap();
    assert!(
        world.run_until(|w| w.nodes[client].peer.connection_status()
            == ConnectionStatus::Disconnected
            && w.nodes[0].saw(PeerEvent::AuthenticationFailed(client_id)))
    );
    assert_eq!(
        world.nodes[client].events(),
        [
            PeerEvent::Authenticating(PeerId::SERVER),
            PeerEvent::AuthenticationFailed(PeerId::SERVER),
            PeerEvent::ConnectionFailed(None),
        ],
        "its own timeout: no reason"
    );
}

#[test]
fn a_pending_peer_can_be_turned_away() {
    let mut world = server(auth(530));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let client = world.add(
        EnetMultiplayerPeer::create_client(address, 1, WireProfile::Godot4, auth(531)).unwrap(),
    );
    let client_id = world.nodes[client].id();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Authenticating(client_id))));
    // Wrong credentials: the application ends the link; no Connected, no
    // Disconnected, only the failure, on both sides.
    world.nodes[0].peer.disconnect_peer(client_id, false).unwrap();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::AuthenticationFailed(client_id))
        && w.nodes[client].saw(PeerEvent::AuthenticationFailed(PeerId::SERVER))));
    assert!(!world.nodes[0].saw_departure(client_id));
    assert_eq!(world.nodes[client].peer.connection_status(), ConnectionStatus::Disconnected);
}

#[test]
fn authentication_misuse_is_a_typed_error() {
    let mut world = server(auth(540));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let client = world.add(
        EnetMultiplayerPeer::create_client(address, 1, WireProfile::Godot4, auth(541)).unwrap(),
    );
    let client_id = world.nodes[client].id();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Authenticating(client_id))));
    let server = &mut world.nodes[0].peer;
    assert_eq!(server.send_auth(id(999), b"x"), Err(AuthError::NotPending(id(999))));
    assert_eq!(server.send_auth(client_id, b""), Err(AuthError::EmptyData));
    server.complete_auth(client_id).unwrap();
    assert_eq!(server.complete_auth(client_id), Err(AuthError::Completed(client_id)));
    assert_eq!(server.send_auth(client_id, b"late"), Err(AuthError::Completed(client_id)));
    world.nodes[client].peer.complete_auth(PeerId::SERVER).unwrap();
    assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Connected(client_id))));
    assert_eq!(
        world.nodes[0].peer.send_auth(client_id, b"x"),
        Err(AuthError::NotPending(client_id)),
        "admitted"
    );
    let error = EnetMultiplayerPeer::create_client(
        address,
        1,
        WireProfile::Relay,
        EnetPeerOptions::default().authentication(true),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "authentication is Godot 4's: it needs the godot4 profile");
}

#[test]
fn without_authentication_no_authentication_byte_is_sent() {
    let mut world = server(seeded(550));
    let address = world.nodes[0].peer.local_addr().unwrap();
    let proxy = Proxy::new(address);
    let clients: Vec<usize> = (0..2)
        .map(|i| {
            let dial = if i == 0 { proxy.addr() } else { address };
            world.add(
                EnetMultiplayerPeer::create_client(dial, 1, WireProfile::Godot4, seeded(551 + i))
                    .unwrap(),
            )
        })
        .collect();
    world.proxies.push(proxy);
    assert!(world.run_until(World::everyone_in));
    let c1 = world.nodes[clients[1]].id();
    world.nodes[clients[0]].send(volley::multiplayer::Target::Peer(c1), b"\x03hi");
    assert!(world.run_until(|w| w.nodes[clients[1]].got(b"\x03hi")));
    for direction in [Direction::Out, Direction::In] {
        let sends = world.proxies[0].sends(direction);
        assert!(!sends.is_empty());
        assert!(sends.iter().all(|s| !s.2.starts_with(&[0x07, 0x00])), "{direction:?}: {sends:?}");
    }
    for node in &world.nodes {
        assert!(!node.events().iter().any(|e| matches!(e, PeerEvent::Authenticating(_))));
    }
    assert_eq!(world.nodes[0].peer.send_auth(c1, b"x"), Err(AuthError::Disabled));
}
