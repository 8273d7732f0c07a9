//! Godot 4's SceneMultiplayer session protocol in the godot4 profile, byte
//! for byte against docs of the reference (`godot-scene-and-web.md` §1 and
//! the ENet part of §2.3): raw ENet hosts play Godot 4 clients and servers,
//! with ids 0x2B (A), 0x5C (B) and 0x77 (C) as in the reference's examples.

use volley::PeerHandle;
use volley::TransferMode;
use volley::multiplayer::enet::{EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::{
    ConnectionStatus, DepartureReason, Incoming, MultiplayerPeer, PeerEvent, PeerId,
    PutPacketError, Target,
};

use crate::world::{Direction, Kind, Proxy, Raw, World, id, local, seeded};

const A: u32 = 0x2B;
const B: u32 = 0x5C;
const C: u32 = 0x77;

/// `07 01 id`: ADD_PEER.
fn add(peer: u32) -> Vec<u8> {
    [&[0x07, 0x01][..], &peer.to_le_bytes()].concat()
}

/// `07 02 id`: DEL_PEER.
fn del(peer: u32) -> Vec<u8> {
    [&[0x07, 0x02][..], &peer.to_le_bytes()].concat()
}

/// `07 03 peer inner`: RELAY.
fn relay(peer: i32, inner: &[u8]) -> Vec<u8> {
    [&[0x07, 0x03][..], &peer.to_le_bytes(), inner].concat()
}

/// A godot4 server (node 0) with `options`, and raw clients with the given
/// ids, connected in order; raw 0 dials through a capturing proxy.
fn server_with_raw_clients(ids: &[u32], options: EnetPeerOptions) -> World {
    let server =
        EnetMultiplayerPeer::create_server(local(), 8, 3, WireProfile::Godot4, options).unwrap();
    let address = server.local_addr().unwrap();
    let mut world = World::default();
    world.proxies.push(Proxy::new(address));
    world.add(server);
    for (i, &raw_id) in ids.iter().enumerate() {
        let raw = Raw::client();
        let dial = if i == 0 { world.proxies[0].addr() } else { address };
        // Godot 4 asks for 255 channels; the server cuts them to its own.
        raw.host.connect(dial, 255, raw_id).unwrap();
        world.raws.push(raw);
        assert!(world.run_until(
            |w| w.raws[i].connected() && w.nodes[0].saw(PeerEvent::Connected(id(raw_id)))
        ));
    }
    world
}

fn to_server(world: &World, raw: usize) -> PeerHandle {
    world.raws[raw].host.connected_peers()[0]
}

fn send(world: &World, raw: usize, channel: u8, mode: TransferMode, bytes: &[u8]) {
    world.raws[raw].host.send(to_server(world, raw), channel, mode, bytes).unwrap();
}

/// Whether raw client `raw` received exactly `bytes` on `channel` in `mode`.
fn got(world: &World, raw: usize, channel: u8, mode: TransferMode, bytes: &[u8]) -> bool {
    world.raws[raw].received().contains(&(channel, mode, bytes))
}

/// Every SYS packet raw client `raw` received, in order.
fn sys_received(world: &World, raw: usize) -> Vec<Vec<u8>> {
    let received = world.raws[raw].received();
    received.into_iter().filter(|r| r.2.first() == Some(&0x07)).map(|r| r.2.to_vec()).collect()
}

const RELIABLE: TransferMode = TransferMode::Reliable;
const UNRELIABLE: TransferMode = TransferMode::Unreliable;

/// §1.3, §1.5 and the ENet part of §2.3.
#[test]
fn the_reference_session_byte_for_byte() {
    let mut world = server_with_raw_clients(&[A, B], EnetPeerOptions::default());
    // B's join: B hears of A and A of B, reliable on channel 0 (§2.3).
    assert!(world.run_until(|w| got(w, 1, 0, RELIABLE, &add(A))));
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::In).contains(&(
        Kind::SendReliable,
        0,
        add(B)
    ))));

    // §1.5: A `send_bytes("hi", 0x5C, UNRELIABLE, 0)`: sent on ENet channel 1
    // unsequenced, forwarded to B on the same channel and flags with the
    // source in place of the destination; the server keeps nothing.
    world.proxies[0].forget();
    let to_b = [0x07, 0x03, 0x5C, 0x00, 0x00, 0x00, 0x03, 0x68, 0x69];
    send(&world, 0, 1, UNRELIABLE, &to_b);
    let from_a = [0x07, 0x03, 0x2B, 0x00, 0x00, 0x00, 0x03, 0x68, 0x69];
    assert!(world.run_until(|w| got(w, 1, 1, UNRELIABLE, &from_a)));
    assert_eq!(
        world.proxies[0].sends(Direction::Out),
        [(Kind::SendUnsequenced, 1, to_b.to_vec())],
        "A's packet as Godot sends it"
    );

    // §2.3: A `send_bytes("hi", 0)`: the server takes `03 68 69` from A
    // itself and sends B the rewritten relay.
    let to_all = [0x07, 0x03, 0x00, 0x00, 0x00, 0x00, 0x03, 0x68, 0x69];
    send(&world, 0, 0, RELIABLE, &to_all);
    assert!(world.run_until(|w| w.nodes[0].got(&[0x03, 0x68, 0x69])
        && w.raws[1].received().iter().filter(|r| r.2 == from_a).count() == 2));
    let packet = world.nodes[0].packets().into_iter().find(|p| p.payload == [3, 0x68, 0x69]);
    let packet = packet.cloned().unwrap();
    assert_eq!((packet.from, packet.channel, packet.mode), (id(A), 0, RELIABLE));
    assert_eq!(world.nodes[0].packets().len(), 1, "dst 0x5C was not for the server");

    // The server's own packets are bare: a client sees them from 1.
    world.nodes[0].send(Target::Peer(id(B)), &[0x03, 0x79, 0x6F]);
    assert!(world.run_until(|w| got(w, 1, 0, RELIABLE, &[0x03, 0x79, 0x6F])));

    // §2.3: A closes; B is told.
    let a_link = to_server(&world, 0);
    world.raws[0].host.disconnect(a_link, 0).unwrap();
    assert!(world.run_until(|w| got(w, 1, 0, RELIABLE, &del(A))));
    // One ADD per peer, never ADD(1), ADD(self) or DEL(1).
    assert_eq!(sys_received(&world, 1), [add(A), from_a.to_vec(), from_a.to_vec(), del(A)]);
    assert_eq!(world.nodes[0].peer.stats().packets_relayed, 2);
}

/// §1.4's fixed rule: for dst ≤ 0 every client but the sender and -dst; the
/// server takes it unless dst = -1; a gone dst is dropped and counted.
#[test]
fn negative_targets_follow_the_fixed_rule() {
    let mut world = server_with_raw_clients(&[A, B, C], EnetPeerOptions::default());
    let cases: [(i32, &[u8], [bool; 3], bool); 4] = [
        (-(B as i32), b"\x03not b", [false, false, true], true),
        (-1, b"\x03clients", [false, true, true], false),
        (-(A as i32), b"\x03not me", [false, true, true], true),
        (0, b"\x03all", [false, true, true], true),
    ];
    for (destination, inner, _, _) in cases {
        send(&world, 0, 0, RELIABLE, &relay(destination, inner));
    }
    // Unroutable: gone, the server (relays to 1 are Godot's to drop too),
    // and -2^31, which names no peer.
    for destination in [0x99, 1, i32::MIN] {
        send(&world, 0, 0, RELIABLE, &relay(destination, b"\x03lost"));
    }
    send(&world, 0, 0, RELIABLE, &relay(0, b"\x03fence"));
    let fence = relay(A as i32, b"\x03fence");
    assert!(
        world.run_until(|w| [1, 2].iter().all(|&r| got(w, r, 0, RELIABLE, &fence))
            && w.nodes[0].got(b"\x03fence"))
    );
    for (destination, inner, copies, consumed) in cases {
        let rewritten = relay(A as i32, inner);
        for (raw, copy) in copies.into_iter().enumerate() {
            assert_eq!(got(&world, raw, 0, RELIABLE, &rewritten), copy, "{destination} to {raw}");
        }
        assert_eq!(world.nodes[0].got(inner), consumed, "{destination} at the server");
    }
    assert!(!world.nodes[0].got(b"\x03lost"));
    assert!((1..3).all(|raw| !got(&world, raw, 0, RELIABLE, &relay(A as i32, b"\x03lost"))));
    let stats = world.nodes[0].peer.stats();
    assert_eq!(stats.dropped_unroutable, 3);
    // not b: 1, clients: 2, not me: 2, all: 2, fence: 2.
    assert_eq!(stats.packets_relayed, 9);
    assert!(world.nodes[0].packets().iter().all(|p| p.from == id(A)));
}

/// A relayed copy keeps the channel and mode its original came with.
#[test]
fn relayed_copies_keep_channel_and_mode() {
    let mut world = server_with_raw_clients(&[A, B], EnetPeerOptions::default());
    // User channel 2 is ENet channel 3 in every mode; channel 1 carries both
    // unreliable modes of user channel 0.
    let sent = [
        (3, TransferMode::UnreliableOrdered, b"\x03ordered".as_slice()),
        (3, RELIABLE, b"\x03reliable"),
        (1, TransferMode::UnreliableOrdered, b"\x03sequenced"),
    ];
    for (channel, mode, inner) in sent {
        send(&world, 0, channel, mode, &relay(B as i32, inner));
    }
    assert!(
        world.run_until(|w| sent
            .iter()
            .all(|(channel, mode, inner)| { got(w, 1, *channel, *mode, &relay(A as i32, inner)) }))
    );
}

/// The source comes from the connection, never from the bytes; clients
/// cannot announce peers.
#[test]
fn a_client_cannot_spoof_its_source_or_announce_peers() {
    let server = EnetMultiplayerPeer::create_server(
        local(),
        8,
        1,
        WireProfile::Godot4,
        EnetPeerOptions::default(),
    )
    .unwrap();
    let address = server.local_addr().unwrap();
    let mut world = World::default();
    world.add(server);
    let b = world.add(
        EnetMultiplayerPeer::create_client(address, 1, WireProfile::Godot4, seeded(400)).unwrap(),
    );
    assert!(
        world.run_until(|w| w.nodes[b].peer.connection_status() == ConnectionStatus::Connected)
    );
    let raw = Raw::client();
    raw.host.connect(address, 255, A).unwrap();
    world.raws.push(raw);
    let b_id = world.nodes[b].id();
    assert!(world.run_until(|w| w.nodes[b].saw(PeerEvent::Connected(id(A)))));
    // A relay names only its destination: the server writes the source
    // from the connection. And clients cannot announce peers.
    send(&world, 0, 0, RELIABLE, &relay(b_id.get() as i32, b"\x03spoof"));
    send(&world, 0, 0, RELIABLE, &add(0x99));
    send(&world, 0, 0, RELIABLE, &del(b_id.get()));
    send(&world, 0, 0, RELIABLE, &relay(b_id.get() as i32, b"\x03after"));
    assert!(world.run_until(|w| w.nodes[b].got(b"\x03after")));
    for packet in world.nodes[b].packets() {
        assert_eq!(packet.from, id(A), "relayed from the connection's id");
    }
    assert!(!world.nodes[b].saw(PeerEvent::Connected(id(0x99))));
    assert_eq!(world.nodes[0].peer.stats().dropped_malformed, 2, "announcements from a client");
}

/// §1.7: bad SYS input is dropped and counted, and never costs the
/// connection.
#[test]
fn malformed_sys_input_is_dropped_and_counted_never_a_disconnect() {
    let mut world = server_with_raw_clients(&[A, B], EnetPeerOptions::default());
    let malformed: [&[u8]; 8] = [
        &[],                                   // empty
        &[0x07],                               // no sub-command
        &[0x07, 0x01, 0x5C, 0x00, 0x00],       // ADD cut short
        &[0x07, 0x09, 0x5C, 0x00, 0x00, 0x00], // unknown sub-command
        &[0x07, 0x03, 0x5C, 0x00, 0x00, 0x00], // relay without an inner packet
        &[0x07, 0x01, 0x01, 0x00, 0x00, 0x00], // ADD(1)
        &[0x07, 0x02, 0x5C, 0x00, 0x00, 0x00], // DEL from a client
        &[0x07, 0x00, 0x41],                   // authentication data, admitted
    ];
    for packet in malformed {
        send(&world, 0, 0, RELIABLE, packet);
    }
    send(&world, 0, 0, RELIABLE, &[0x07, 0x00]); // a stray "done": ignored
    send(&world, 0, 0, RELIABLE, b"\x03after");
    assert!(world.run_until(|w| w.nodes[0].got(b"\x03after")));
    assert_eq!(world.nodes[0].peer.stats().dropped_malformed, 8);
    assert_eq!(world.nodes[0].packets().len(), 1, "nothing else delivered");
    assert!(world.raws[0].connected());
    assert!(world.raws[0].disconnect_data().is_none(), "never disconnected");
    assert_eq!(sys_received(&world, 1), [add(A)], "B heard nothing of it");
}

/// A Volley client behind a capturing proxy, connected to a raw host
/// playing a Godot 4 server.
fn client_of_raw_server(options: EnetPeerOptions) -> (World, u32) {
    let mut world = World::default();
    world.raws.push(Raw::server());
    let proxy = Proxy::new(world.raws[0].host.local_addr());
    let client =
        EnetMultiplayerPeer::create_client(proxy.addr(), 3, WireProfile::Godot4, options).unwrap();
    world.proxies.push(proxy);
    world.add(client);
    assert!(
        world.run_until(|w| w.nodes[0].peer.connection_status() == ConnectionStatus::Connected)
    );
    let own = world.nodes[0].id().get();
    (world, own)
}

fn to_client(world: &World) -> PeerHandle {
    world.raws[0].host.connected_peers()[0]
}

#[test]
fn a_volley_client_follows_a_godot4_server() {
    let (mut world, own) = client_of_raw_server(seeded(410));
    let link = to_client(&world);
    let send = |bytes: &[u8]| world.raws[0].host.send(link, 0, RELIABLE, bytes).unwrap();
    // A relayed packet overtaking its sender's announcement announces the
    // sender first.
    send(&relay(5000, b"\x03early"));
    send(&add(5000));
    send(&add(6000));
    send(&add(own)); // never itself
    send(&del(5000));
    send(&relay(5000, b"\x03late")); // from a departed peer: dropped
    send(&relay(own as i32, b"\x03echo")); // claims to come from us: dropped
    send(&relay(0, b"\x03zero")); // no peer 0: dropped
    send(&[0x07, 0x03, 0x70, 0x17, 0x00, 0x00]); // no inner packet: dropped
    send(&[0x07, 0x06, 0x70, 0x17, 0x00, 0x00]); // unknown: dropped
    send(&add(5000)); // 5000 is back
    send(b"\x03from the server");
    assert!(world.run_until(|w| w.nodes[0].got(b"\x03from the server")));
    let log: Vec<String> = world.nodes[0]
        .log
        .iter()
        .skip(1) // Connected(1)
        .map(|item| match item {
            Incoming::Event(event) => format!("{event:?}"),
            Incoming::Packet(p) => {
                format!("{} from {}", String::from_utf8_lossy(&p.payload), p.from)
            }
        })
        .collect();
    assert_eq!(
        log,
        [
            format!("{:?}", PeerEvent::Connected(id(5000))),
            "\u{3}early from 5000".to_owned(),
            format!("{:?}", PeerEvent::Connected(id(6000))),
            format!("{:?}", PeerEvent::Disconnected(id(5000), DepartureReason::Announced)),
            format!("{:?}", PeerEvent::Connected(id(5000))),
            "\u{3}from the server from 1".to_owned(),
        ]
    );
    let stats = world.nodes[0].peer.stats();
    assert_eq!(stats.dropped_departed, 1);
    assert_eq!(stats.dropped_malformed, 4);

    // Every target kind, as Godot 4's SceneMultiplayer wraps them (§1.4).
    world.proxies[0].forget();
    let client = &mut world.nodes[0];
    client.send(Target::Peer(id(6000)), b"\x03one");
    client.send(Target::Broadcast, b"\x03all");
    client.send(Target::AllExcept(id(6000)), b"\x03but");
    client.send(Target::AllExcept(PeerId::SERVER), b"\x03clients");
    client.send(Target::SERVER, b"\x03server");
    client.peer.set_target_peer(Target::Peer(id(7000)));
    assert_eq!(client.peer.put_packet(b"\x03x"), Err(PutPacketError::UnknownTarget(id(7000))));
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::Out).len() == 5));
    let payloads: Vec<Vec<u8>> =
        world.proxies[0].sends(Direction::Out).into_iter().map(|s| s.2).collect();
    assert_eq!(
        payloads,
        [
            vec![0x07, 0x03, 0x70, 0x17, 0x00, 0x00, 0x03, b'o', b'n', b'e'],
            vec![0x07, 0x03, 0x00, 0x00, 0x00, 0x00, 0x03, b'a', b'l', b'l'],
            vec![0x07, 0x03, 0x90, 0xE8, 0xFF, 0xFF, 0x03, b'b', b'u', b't'],
            [&[0x07, 0x03, 0xFF, 0xFF, 0xFF, 0xFF][..], b"\x03clients"].concat(),
            b"\x03server".to_vec(),
        ]
    );
}

#[test]
fn raw_packets_add_and_strip_the_send_bytes_byte() {
    let options = || EnetPeerOptions::default().raw_packets(true);
    let mut world = server_with_raw_clients(&[A], options());
    let address = world.nodes[0].peer.local_addr().unwrap();
    let proxy = Proxy::new(address);
    let volley = world.add(
        EnetMultiplayerPeer::create_client(proxy.addr(), 1, WireProfile::Godot4, options())
            .unwrap(),
    );
    world.proxies.push(proxy);
    assert!(world.run_until(|w| w.nodes[volley].saw(PeerEvent::Connected(id(A)))));
    let b = world.nodes[volley].id();
    // Exactly send_bytes' bytes, either way; the wire carries the 03.
    world.nodes[volley].send(Target::Peer(id(A)), b"hi");
    world.nodes[volley].send(Target::SERVER, b"server");
    world.nodes[0].send(Target::Peer(b), &[0x07, 0x01]);
    let wrapped = relay(b.get() as i32, b"\x03hi");
    assert!(world.run_until(|w| got(w, 0, 0, RELIABLE, &wrapped)
        && w.nodes[0].got(b"server")
        && w.nodes[volley].got(&[0x07, 0x01])));
    assert!(world.proxies[1].sends(Direction::Out).iter().any(|s| s.2 == b"\x03server"));
    assert!(world.proxies[1].sends(Direction::In).iter().any(|s| s.2 == [0x03, 0x07, 0x01]));
    // A Godot client's RPC (00 …) reaches no RAW application, but a relay
    // forwards it untouched.
    send(&world, 0, 0, RELIABLE, &[0x00, 0x01, 0x02]);
    send(&world, 0, 0, RELIABLE, &relay(0, &[0x00, 0x01, 0x02]));
    send(&world, 0, 0, RELIABLE, &relay(0, b"\x03ok"));
    assert!(world.run_until(|w| w.nodes[volley].got(b"ok") && w.nodes[0].got(b"ok")));
    assert_eq!(world.nodes[0].peer.stats().dropped_not_raw, 2);
    assert_eq!(world.nodes[volley].peer.stats().dropped_not_raw, 1);
    assert!(
        world.proxies[1].sends(Direction::In).iter().any(|s| s.2 == relay(A as i32, &[0, 1, 2]))
    );
    // Empty data is Godot's error too.
    assert_eq!(world.nodes[volley].peer.put_packet(b""), Err(PutPacketError::EmptyPayload));
}

#[test]
fn without_raw_packets_sys_first_bytes_and_empty_packets_are_refused() {
    let (mut world, _) = client_of_raw_server(seeded(420));
    let peer = &mut world.nodes[0].peer;
    peer.set_target_peer(Target::SERVER);
    assert_eq!(peer.put_packet(&[0x07, 0x01, 2, 0, 0, 0]), Err(PutPacketError::ReservedCommand(7)));
    assert_eq!(peer.put_packet(b""), Err(PutPacketError::EmptyPayload));
    // Any other first byte is the application's (Godot's own: 0x00-0x06).
    for first in [0x00, 0x03, 0x06, 0x0F, 0x6F] {
        peer.put_packet(&[first, 1]).unwrap();
    }
    let error = EnetMultiplayerPeer::create_server(
        local(),
        4,
        1,
        WireProfile::Relay,
        EnetPeerOptions::default().raw_packets(true),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "raw_packets is Godot 4's: it needs the godot4 profile");
}

#[test]
fn a_peer_joining_twice_is_announced_once_each_time() {
    // A raw Godot 4 client with one id joins and leaves twice: the other
    // client hears ADD, DEL, ADD, DEL, nothing more.
    let mut world = server_with_raw_clients(&[B], EnetPeerOptions::default());
    let address = world.nodes[0].peer.local_addr().unwrap();
    for round in 0..2 {
        let raw = Raw::client();
        raw.host.connect(address, 255, A).unwrap();
        world.raws.push(raw);
        let index = world.raws.len() - 1;
        assert!(world.run_until(|w| w.raws[index].connected()));
        let link = to_server(&world, index);
        world.raws[index].host.disconnect(link, 0).unwrap();
        let dels = round + 1;
        assert!(
            world
                .run_until(|w| sys_received(w, 0).iter().filter(|s| **s == del(A)).count() == dels)
        );
    }
    assert_eq!(sys_received(&world, 0), [add(A), del(A), add(A), del(A)]);
}
