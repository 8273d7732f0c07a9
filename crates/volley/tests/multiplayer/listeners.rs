//! One server session on two UDP listeners (two ports of 127.0.0.1): one id
//! space, one poll. The shape every new transport's test copies: clients of
//! each listener see each other come and go, every target kind reaches both
//! sides, and client-to-client packets cross listeners.

use std::collections::BTreeSet;

use volley::TransferMode;
use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::{ServerSession, SessionOptions};
use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, PeerEvent, PeerId, Target};

use crate::world::{Node, World, local, seeded};

/// A session on two listeners (world.sessions[0]); clients 0 and 1 dial
/// listener 0, client 2 listener 1; all in and, where the profile
/// announces, each aware of the others.
pub(crate) fn two_listener_session(profile: WireProfile, seed: u64) -> World {
    let session = ServerSession::builder(profile)
        .max_clients(8)
        .channels(3)
        .options(SessionOptions::default().id_seed(seed))
        .enet(EnetListener::new(local()))
        .enet(EnetListener::new(local()))
        .build()
        .unwrap();
    let addresses = [session.local_addr(0).unwrap(), session.local_addr(1).unwrap()];
    assert_ne!(addresses[0], addresses[1]);
    let mut world = World::default();
    world.sessions.push(Node::new(session));
    for (i, listener) in [0, 0, 1].into_iter().enumerate() {
        let options = seeded(seed + 1 + i as u64);
        let client =
            EnetMultiplayerPeer::create_client(addresses[listener], 3, profile, options).unwrap();
        world.add(client);
    }
    assert!(world.run_until(everyone_in), "session did not form");
    world
}

fn everyone_in(world: &World) -> bool {
    let server = &world.sessions[0];
    world.nodes.iter().all(|c| {
        let sees_others = world
            .nodes
            .iter()
            .filter(|o| o.id() != c.id())
            .all(|o| c.saw(PeerEvent::Connected(o.id())));
        c.peer.connection_status() == ConnectionStatus::Connected
            && server.saw(PeerEvent::Connected(c.id()))
            && sees_others
    })
}

/// Who got exactly `payload`: "s" for the session, then client indices.
fn receivers(world: &World, payload: &[u8]) -> BTreeSet<String> {
    let mut who: BTreeSet<String> = (0..world.nodes.len())
        .filter(|&i| world.nodes[i].got(payload))
        .map(|i| i.to_string())
        .collect();
    if world.sessions[0].got(payload) {
        who.insert("s".to_owned());
    }
    who
}

fn set(who: &[&str]) -> BTreeSet<String> {
    who.iter().map(|w| (*w).to_owned()).collect()
}

/// A reliable broadcast from client `sender`, awaited by everyone else.
fn fence(world: &mut World, sender: usize) {
    world.nodes[sender].peer.set_transfer_mode(TransferMode::Reliable);
    world.nodes[sender].send(Target::Broadcast, b"fence");
    let others: Vec<usize> = (0..world.nodes.len()).filter(|&i| i != sender).collect();
    assert!(world.run_until(|w| {
        w.sessions[0].got(b"fence") && others.iter().all(|&i| w.nodes[i].got(b"fence"))
    }));
}

#[test]
fn a_session_on_two_listeners_is_one_session() {
    for profile in [WireProfile::Relay, WireProfile::Godot4] {
        one_session_on_two_listeners(profile);
    }
}

fn one_session_on_two_listeners(profile: WireProfile) {
    let mut world = two_listener_session(profile, 300);
    assert!(world.sessions[0].peer.is_server_relay_supported());
    let ids: Vec<PeerId> = world.nodes.iter().map(Node::id).collect();
    let session = &world.sessions[0].peer;
    assert_eq!(session.peer_listener(ids[0]), Some(0));
    assert_eq!(session.peer_listener(ids[2]), Some(1));
    let client_port = world.nodes[2].peer.local_addr().unwrap().port();
    assert_eq!(session.peer_address(ids[2]).map(|a| a.port()), Some(client_port));
    assert!(session.peer_stats(ids[0]).is_some_and(|s| s.bytes_received > 0));

    // The server's own packets, in every target kind.
    let server = &mut world.sessions[0];
    server.send(Target::Broadcast, b"all");
    server.send(Target::Peer(ids[2]), b"one");
    server.send(Target::AllExcept(ids[2]), b"but");
    // From a client of listener 0, through the server, to either side.
    let sender = &mut world.nodes[0];
    sender.peer.set_transfer_mode(TransferMode::Unreliable);
    sender.send(Target::Peer(ids[2]), b"across");
    sender.peer.set_transfer_mode(TransferMode::Reliable);
    sender.peer.set_target_peer(Target::Peer(PeerId::try_from(999_u32).unwrap()));
    assert!(sender.peer.put_packet(b"nobody").is_err());
    sender.peer.set_transfer_mode(TransferMode::Reliable);
    sender.send(Target::Broadcast, b"everyone");
    sender.send(Target::AllExcept(ids[1]), b"not 1");
    sender.send(Target::AllExcept(PeerId::SERVER), b"clients");
    fence(&mut world, 0);
    assert_eq!(receivers(&world, b"all"), set(&["0", "1", "2"]));
    assert_eq!(receivers(&world, b"one"), set(&["2"]));
    assert_eq!(receivers(&world, b"but"), set(&["0", "1"]));
    assert_eq!(receivers(&world, b"everyone"), set(&["s", "1", "2"]));
    assert_eq!(receivers(&world, b"not 1"), set(&["s", "2"]));
    assert_eq!(receivers(&world, b"clients"), set(&["1", "2"]));
    let across = world.nodes[2].packets().into_iter().find(|p| p.payload == b"across").cloned();
    assert!(across.is_some_and(|p| p.from == ids[0]), "relayed with its sender");
    // across 1, everyone 2, not 1: 1, clients 2, fence 2.
    assert_eq!(world.sessions[0].peer.stats().packets_relayed, 8);

    // A client of listener 1 leaves: listener 0's clients are told.
    world.nodes[2].peer.disconnect_peer(PeerId::SERVER, false).unwrap();
    assert!(world.run_until(|w| {
        w.sessions[0].saw_departure(ids[2]) && w.nodes[..2].iter().all(|n| n.saw_departure(ids[2]))
    }));
    // And the session keeps one id space: a newcomer with a taken id is
    // refused whichever listener it dials.
    let address = world.sessions[0].peer.local_addr(1).unwrap();
    let dup = world.add(
        EnetMultiplayerPeer::create_client(
            address,
            1,
            profile,
            seeded(310).client_id(ids[0]).id_retries(0),
        )
        .unwrap(),
    );
    assert!(
        world
            .run_until(|w| w.nodes[dup].peer.connection_status() == ConnectionStatus::Disconnected)
    );
    assert_eq!(
        world.nodes[dup].peer.refusal(),
        Some(volley::multiplayer::framing::RefuseReason::DuplicateId)
    );
}

#[test]
fn close_drops_the_clients_of_every_listener() {
    let mut world = two_listener_session(WireProfile::Godot4, 320);
    world.sessions[0].peer.close();
    assert_eq!(world.sessions[0].peer.local_addr(0), None);
    assert_eq!(
        world.sessions[0].peer.poll_timeout(std::time::Duration::ZERO).unwrap_err().to_string(),
        "cannot poll: the peer is closed"
    );
    assert!(world.run_until(|w| {
        w.nodes.iter().all(|c| c.peer.connection_status() == ConnectionStatus::Disconnected)
    }));
}

#[test]
fn a_session_needs_a_listener_and_sane_limits() {
    let error = ServerSession::builder(WireProfile::Relay).build().unwrap_err();
    assert_eq!(error.to_string(), "a server session needs at least one listener");
    let error = ServerSession::builder(WireProfile::Relay)
        .max_clients(0)
        .enet(EnetListener::new(local()))
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "max_clients 0 is not in 1..=4095");
    let error = ServerSession::builder(WireProfile::Godot4)
        .channels(0)
        .enet(EnetListener::new(local()))
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "0 user channels asked for; the profile allows 1 to 254");
}
