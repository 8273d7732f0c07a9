//! The exact bytes each wire profile puts on the wire, decoded from
//! datagrams captured between a MultiplayerPeer and a raw Volley host, and
//! checked against docs/godot-framing.md.

use volley::multiplayer::enet::EnetMultiplayerPeer;
use volley::multiplayer::framing::{RefuseReason, WireProfile};
use volley::multiplayer::{
    ConnectionStatus, DepartureReason, MultiplayerPeer, PeerEvent, PeerId, Target,
};
use volley::{Event, TransferMode};

use crate::world::{Direction, Kind, Proxy, Raw, World, local, seeded};

/// `[source u32 LE][target i32 LE][bytes]`.
fn framed(source: u32, target: i32, bytes: &[u8]) -> Vec<u8> {
    let mut packet = source.to_le_bytes().to_vec();
    packet.extend_from_slice(&target.to_le_bytes());
    packet.extend_from_slice(bytes);
    packet
}

/// A MultiplayerPeer client (node 0) dialling a raw host (raw 0) through a
/// capturing proxy (proxy 0), connected.
fn client_behind_proxy(profile: WireProfile, seed: u64) -> World {
    let mut world = World::default();
    world.raws.push(Raw::server());
    let proxy = Proxy::new(world.raws[0].host.local_addr());
    let client =
        EnetMultiplayerPeer::create_client(proxy.addr(), 3, profile, seeded(seed)).unwrap();
    world.proxies.push(proxy);
    world.add(client);
    assert!(
        world.run_until(|w| w.nodes[0].peer.connection_status() == ConnectionStatus::Connected)
    );
    world
}

#[test]
fn a_client_connects_with_its_id_and_the_profiles_channel_count() {
    // Relay: 3 reserved + user channels 1..=2; godot4: 2 reserved + 2.
    for (profile, channel_count) in [(WireProfile::Relay, 5), (WireProfile::Godot4, 4)] {
        let world = client_behind_proxy(profile, 200);
        let id = world.nodes[0].id().get();
        let connects: Vec<Kind> = world.proxies[0]
            .datagrams(Direction::Out)
            .into_iter()
            .flat_map(|(_, commands)| commands)
            .map(|c| c.kind)
            .filter(|k| matches!(k, Kind::Connect { .. }))
            .collect();
        assert_eq!(connects, [Kind::Connect { channel_count, data: id }], "{profile}");
        assert!(
            world.raws[0]
                .log
                .iter()
                .any(|e| matches!(e, Event::Connected { data, .. } if *data == id))
        );
    }
}

/// Puts one packet per (user channel, mode) in one frame, then runs until
/// they are on the wire.
fn send_every_mode(world: &mut World) {
    let peer = &mut world.nodes[0].peer;
    peer.set_target_peer(Target::SERVER);
    for (channel, name) in [(0, b'0'), (2, b'2')] {
        for (mode, letter) in [
            (TransferMode::Reliable, b'r'),
            (TransferMode::UnreliableOrdered, b'o'),
            (TransferMode::Unreliable, b'u'),
        ] {
            peer.set_transfer_channel(channel);
            peer.set_transfer_mode(mode);
            peer.put_packet(&[letter, name]).unwrap();
        }
    }
    world.proxies[0].forget();
    assert!(world.run_until(|w| !w.proxies[0].first_sends(Direction::Out).is_empty()));
}

#[test]
fn relay_profile_client_packets_carry_the_header_on_godot3_channels() {
    let mut world = client_behind_proxy(WireProfile::Relay, 210);
    let id = world.nodes[0].id().get();
    send_every_mode(&mut world);
    let mut sends = world.proxies[0].first_sends(Direction::Out);
    sends.sort();
    let mut expected = vec![
        (Kind::SendReliable, 1, framed(id, 1, b"r0")),
        (Kind::SendUnreliable, 2, framed(id, 1, b"o0")),
        (Kind::SendUnsequenced, 2, framed(id, 1, b"u0")),
        // User channel n >= 1 is ENet channel n + 2, for every mode.
        (Kind::SendReliable, 4, framed(id, 1, b"r2")),
        (Kind::SendUnreliable, 4, framed(id, 1, b"o2")),
        (Kind::SendUnsequenced, 4, framed(id, 1, b"u2")),
    ];
    expected.sort();
    assert_eq!(sends, expected);
}

#[test]
fn godot4_profile_client_packets_are_bare_on_godot4_channels() {
    let mut world = client_behind_proxy(WireProfile::Godot4, 220);
    send_every_mode(&mut world);
    let mut sends = world.proxies[0].first_sends(Direction::Out);
    sends.sort();
    let mut expected = vec![
        (Kind::SendReliable, 0, b"r0".to_vec()),
        (Kind::SendUnreliable, 1, b"o0".to_vec()),
        (Kind::SendUnsequenced, 1, b"u0".to_vec()),
        // User channel c >= 1 is ENet channel c + 1, for every mode.
        (Kind::SendReliable, 3, b"r2".to_vec()),
        (Kind::SendUnreliable, 3, b"o2".to_vec()),
        (Kind::SendUnsequenced, 3, b"u2".to_vec()),
    ];
    expected.sort();
    assert_eq!(sends, expected);
}

#[test]
fn packets_of_one_frame_share_a_datagram() {
    for profile in [WireProfile::Relay, WireProfile::Godot4] {
        let mut world = client_behind_proxy(profile, 230);
        send_every_mode(&mut world);
        let first = world.proxies[0].first_sends(Direction::Out).len();
        assert_eq!(first, 6, "{profile}: six packets, one datagram");
        assert_eq!(world.proxies[0].sends(Direction::Out).len(), 6, "{profile}: nothing else");
    }
}

#[test]
fn large_unreliable_packets_go_as_unreliable_fragments() {
    for (profile, unreliable_channel) in [(WireProfile::Relay, 2), (WireProfile::Godot4, 1)] {
        let mut world = client_behind_proxy(profile, 240);
        for (salt, mode) in
            [TransferMode::Unreliable, TransferMode::UnreliableOrdered].into_iter().enumerate()
        {
            let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 ^ salt as u8).collect();
            world.nodes[0].peer.set_transfer_mode(mode);
            world.nodes[0].send(Target::SERVER, &big);
        }
        world.proxies[0].forget();
        assert!(world.run_until(|w| w.raws[0].received().len() == 2));
        let sends = world.proxies[0].sends(Direction::Out);
        assert!(sends.len() >= 8, "{profile}: fragmented");
        for (kind, channel, _) in sends {
            assert_eq!(
                (kind, channel),
                (Kind::SendUnreliableFragment, unreliable_channel),
                "{profile}"
            );
        }
    }
}

#[test]
fn close_sends_one_unsequenced_disconnect_with_the_profiles_data() {
    for profile in [WireProfile::Relay, WireProfile::Godot4] {
        let mut world = client_behind_proxy(profile, 250);
        let id = world.nodes[0].id().get();
        world.proxies[0].forget();
        world.nodes[0].peer.close();
        assert!(world.run_until(|w| w.raws[0].disconnect_data().is_some()));
        let expected = if profile == WireProfile::Relay { id } else { 0 };
        let disconnects: Vec<(Kind, bool)> = world.proxies[0]
            .datagrams(Direction::Out)
            .into_iter()
            .flat_map(|(_, commands)| commands)
            .filter(|c| matches!(c.kind, Kind::Disconnect { .. }))
            .map(|c| (c.kind, c.unsequenced_flag))
            .collect();
        assert_eq!(disconnects, [(Kind::Disconnect { data: expected }, true)], "{profile}");
    }
}

#[test]
fn a_refusal_is_a_lone_disconnect_carrying_the_code() {
    let server =
        EnetMultiplayerPeer::create_server(local(), 4, 1, WireProfile::Relay, Default::default())
            .unwrap();
    let mut world = World::default();
    let proxy = Proxy::new(server.local_addr().unwrap());
    world.add(server);
    let raw = Raw::client();
    raw.host.connect(proxy.addr(), 3, 1).unwrap(); // 1 is the server's id
    world.raws.push(raw);
    world.proxies.push(proxy);
    assert!(world.run_until(|w| w.raws[0].disconnect_data().is_some()));
    let replies: Vec<_> = world.proxies[0].datagrams(Direction::In);
    assert_eq!(replies.len(), 1, "one datagram, no VERIFY_CONNECT");
    let (_, commands) = &replies[0];
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].kind, Kind::Disconnect { data: RefuseReason::InvalidId.code() });
    assert!(commands[0].unsequenced_flag);
    assert_eq!(commands[0].channel, 0xFF);
}

/// A MultiplayerPeer server (node 0); raw client A dials it through the
/// proxy (captured), raw client B directly.
fn server_with_raw_clients(profile: WireProfile) -> (World, [u32; 2]) {
    let server =
        EnetMultiplayerPeer::create_server(local(), 4, 1, profile, Default::default()).unwrap();
    let mut world = World::default();
    let proxy = Proxy::new(server.local_addr().unwrap());
    let server_address = server.local_addr().unwrap();
    world.add(server);
    let ids = [1000, 2000];
    let (a, b) = (Raw::client(), Raw::client());
    let channels = usize::from(profile.reserved_channels());
    a.host.connect(proxy.addr(), channels, ids[0]).unwrap();
    world.proxies.push(proxy);
    world.raws.push(a);
    assert!(world.run_until(|w| w.raws[0].connected()));
    world.proxies[0].forget();
    b.host.connect(server_address, channels, ids[1]).unwrap();
    world.raws.push(b);
    assert!(world.run_until(|w| w.raws[1].connected()
        && w.nodes[0].saw(PeerEvent::Connected(PeerId::try_from(ids[1]).unwrap()))));
    (world, ids)
}

#[test]
fn relay_server_announces_relays_and_frames_like_godot3() {
    let (mut world, [a, b]) = server_with_raw_clients(WireProfile::Relay);
    let added = |id: u32| [&0u32.to_le_bytes()[..], &id.to_le_bytes()].concat();
    let removed = |id: u32| [&1u32.to_le_bytes()[..], &id.to_le_bytes()].concat();
    // B's join reaches A as a system message; B hears of A.
    assert!(world.run_until(|w| w.raws[1].received().contains(&(
        0,
        TransferMode::Reliable,
        &added(a)[..]
    ))));
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::In).contains(&(
        Kind::SendReliable,
        0,
        added(b)
    ))));

    // The server's own packets: source 1 and the target as set.
    world.proxies[0].forget();
    world.nodes[0].send(Target::Broadcast, b"hi");
    world.nodes[0].peer.set_transfer_mode(TransferMode::Unreliable);
    world.nodes[0].send(Target::Peer(PeerId::try_from(a).unwrap()), b"you");
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::In).len() == 2));
    let mut sends = world.proxies[0].sends(Direction::In);
    sends.sort();
    assert_eq!(
        sends,
        [
            (Kind::SendReliable, 1, framed(1, 0, b"hi")),
            (Kind::SendUnsequenced, 2, framed(1, a as i32, b"you")),
        ]
    );

    // A relayed packet keeps its bytes, channel and mode.
    let to_server = world.raws[0].host.connected_peers()[0];
    let packet = framed(a, b as i32, b"psst");
    world.raws[0].host.send(to_server, 2, TransferMode::Unreliable, &packet).unwrap();
    world.raws[0].host.send(to_server, 1, TransferMode::Reliable, &packet).unwrap();
    assert!(
        world
            .run_until(|w| w.raws[1].received().iter().filter(|r| r.2 == &packet[..]).count() == 2)
    );
    let relayed: Vec<_> =
        world.raws[1].received().into_iter().filter(|r| r.2 == &packet[..]).collect();
    assert!(relayed.contains(&(2, TransferMode::Unreliable, &packet[..])));
    assert!(relayed.contains(&(1, TransferMode::Reliable, &packet[..])));
    assert!(!world.nodes[0].got(b"psst"), "target N is not for the server");

    // B leaves: A is told.
    let to_server_b = world.raws[1].host.connected_peers()[0];
    world.raws[1].host.disconnect(to_server_b, 0).unwrap();
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::In).contains(&(
        Kind::SendReliable,
        0,
        removed(b)
    ))));
}

#[test]
fn godot4_server_sends_bare_payloads_and_announces_peers() {
    let (mut world, [a, b]) = server_with_raw_clients(WireProfile::Godot4);
    world.nodes[0].send(Target::Broadcast, b"hi");
    world.nodes[0].peer.set_transfer_mode(TransferMode::UnreliableOrdered);
    world.nodes[0].send(Target::Peer(PeerId::try_from(a).unwrap()), b"you");
    assert!(world.run_until(|w| w.proxies[0].sends(Direction::In).len() >= 3));
    let mut sends = world.proxies[0].sends(Direction::In);
    sends.sort();
    let [b0, b1, b2, b3] = b.to_le_bytes();
    assert_eq!(
        sends,
        [
            // B's join, announced to A as SceneMultiplayer's ADD_PEER.
            (Kind::SendReliable, 0, vec![0x07, 0x01, b0, b1, b2, b3]),
            (Kind::SendReliable, 0, b"hi".to_vec()),
            (Kind::SendUnreliable, 1, b"you".to_vec())
        ],
        "bare payloads, and B's join announced"
    );
    // A raw client's bytes reach the server as they are, from its id.
    let to_server = world.raws[0].host.connected_peers()[0];
    world.raws[0].host.send(to_server, 0, TransferMode::Reliable, b"raw").unwrap();
    assert!(world.run_until(|w| w.nodes[0].got(b"raw")));
    let packet =
        world.nodes[0].packets().into_iter().find(|p| p.payload == b"raw").cloned().unwrap();
    assert_eq!(packet.from.get(), a);
    assert_eq!(packet.channel, 0);
}

#[test]
fn a_relay_client_follows_a_godot3_server() {
    let mut world = client_behind_proxy(WireProfile::Relay, 260);
    let own = world.nodes[0].id().get();
    let raw = &world.raws[0];
    let to_client = raw.host.connected_peers()[0];
    let system = |kind: u32, id: u32| [kind.to_le_bytes(), id.to_le_bytes()].concat();
    let send = |channel: u8, bytes: &[u8]| {
        raw.host.send(to_client, channel, TransferMode::Reliable, bytes).unwrap();
    };
    // A relayed packet overtaking its sender's announcement: the client
    // announces the sender first.
    send(1, &framed(5000, 0, b"early"));
    send(0, &system(0, 5000));
    send(0, &system(0, 6000));
    send(0, &system(1, 5000));
    send(1, &framed(5000, 0, b"late")); // from a departed peer: dropped
    send(1, &framed(own, 0, b"echo")); // claims to come from us: dropped
    send(1, &[1, 2, 3]); // no header: dropped
    send(0, &system(7, 6000)); // unknown kind: dropped
    send(0, &system(0, 5000)); // 5000 is back
    send(1, &framed(1, own as i32, b"from the server"));
    assert!(world.run_until(|w| w.nodes[0].got(b"from the server")));
    let id = |raw: u32| PeerId::try_from(raw).unwrap();
    let log: Vec<String> = world.nodes[0]
        .log
        .iter()
        .skip(1) // Connected(1)
        .map(|item| match item {
            volley::multiplayer::Incoming::Event(event) => format!("{event:?}"),
            volley::multiplayer::Incoming::Packet(p) => {
                format!("{} from {}", String::from_utf8_lossy(&p.payload), p.from)
            }
        })
        .collect();
    assert_eq!(
        log,
        [
            format!("{:?}", PeerEvent::Connected(id(5000))),
            "early from 5000".to_owned(),
            format!("{:?}", PeerEvent::Connected(id(6000))),
            format!("{:?}", PeerEvent::Disconnected(id(5000), DepartureReason::Announced)),
            format!("{:?}", PeerEvent::Connected(id(5000))),
            "from the server from 1".to_owned(),
        ]
    );
    let stats = world.nodes[0].peer.stats();
    assert_eq!(stats.dropped_departed, 1);
    assert_eq!(stats.dropped_malformed, 3);
    // The client can now target the announced peers, through the server.
    world.nodes[0].send(Target::Peer(id(6000)), b"hello 6000");
    assert!(world.run_until(|w| {
        w.raws[0].received().iter().any(|r| r.2 == framed(own, 6000, b"hello 6000"))
    }));
}

#[test]
fn a_relay_server_with_relay_off_accepts_only_target_1_and_announces_nothing() {
    let options = seeded(270).server_relay(false);
    let server =
        EnetMultiplayerPeer::create_server(local(), 4, 1, WireProfile::Relay, options).unwrap();
    assert!(!server.is_server_relay_supported());
    let address = server.local_addr().unwrap();
    let mut world = World::default();
    world.add(server);
    for seed in [271, 272] {
        world.add(
            EnetMultiplayerPeer::create_client(address, 1, WireProfile::Relay, seeded(seed))
                .unwrap(),
        );
    }
    assert!(world.run_until(|w| w.nodes[0].events().len() == 2));
    world.nodes[1].send(Target::Broadcast, b"all");
    world.nodes[1].send(Target::SERVER, b"server");
    assert!(world.run_until(|w| w.nodes[0].got(b"server")));
    assert!(!world.nodes[0].got(b"all") && !world.nodes[2].got(b"all"));
    assert_eq!(world.nodes[0].peer.stats().dropped_unroutable, 1);
    for client in &world.nodes[1..] {
        assert_eq!(client.events(), [PeerEvent::Connected(PeerId::SERVER)]);
    }
}
