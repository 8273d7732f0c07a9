//! The ENet-backed MultiplayerPeer on real sockets (127.0.0.1 only), in both
//! wire profiles, bounded in time.

#[path = "multiplayer/auth.rs"]
mod auth;
#[path = "multiplayer/framing.rs"]
mod framing;
#[path = "multiplayer/godot4.rs"]
mod godot4;
#[path = "multiplayer/listeners.rs"]
mod listeners;
#[path = "multiplayer/world.rs"]
mod world;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use volley::multiplayer::enet::{AddMeshPeerError, EnetMultiplayerPeer, EnetPeerOptions, Role};
use volley::multiplayer::framing::{RefuseReason, WireProfile};
use volley::multiplayer::{
    ConnectionStatus, DepartureReason, DisconnectPeerError, MultiplayerPeer, PeerEvent, PeerId,
    PollError, PutPacketError, Target,
};
use volley::{DisconnectReason, Event, TransferMode};
use world::{Raw, World, id, local, seeded};

const PROFILES: [WireProfile; 2] = [WireProfile::Relay, WireProfile::Godot4];

/// Who got a packet with exactly `payload`: node indices.
fn receivers(world: &World, payload: &[u8]) -> BTreeSet<usize> {
    (0..world.nodes.len()).filter(|&i| world.nodes[i].got(payload)).collect()
}

fn set(indices: &[usize]) -> BTreeSet<usize> {
    indices.iter().copied().collect()
}

/// Sends a reliable broadcast "fence" from `sender` and runs until every
/// node in `reached` has it. Reliable packets of one sender keep their order
/// (also through the relay), so once the fence is in, every earlier packet
/// that was going to arrive has arrived.
fn fence(world: &mut World, sender: usize, reached: &[usize]) {
    world.nodes[sender].peer.set_transfer_mode(TransferMode::Reliable);
    world.nodes[sender].send(Target::Broadcast, b"fence");
    assert!(world.run_until(|w| reached.iter().all(|&i| w.nodes[i].got(b"fence"))));
}

#[test]
fn ids_server_is_1_and_clients_random_distinct() {
    for profile in PROFILES {
        let world = World::session(profile, 3, 10);
        let server = &world.nodes[0];
        assert_eq!(server.id(), PeerId::SERVER);
        assert!(server.peer.is_server());
        assert_eq!(server.peer.role(), Role::Server);
        let ids: BTreeSet<u32> = world.nodes[1..].iter().map(|c| c.id().get()).collect();
        assert_eq!(ids.len(), 3, "{profile}: distinct ids");
        for client in &world.nodes[1..] {
            assert!(client.id().get() >= 2);
            assert!(!client.peer.is_server());
            assert!(client.saw(PeerEvent::Connected(PeerId::SERVER)));
            assert!(client.peer.is_server_relay_supported());
            let stats = client.peer.peer_stats(PeerId::SERVER).expect("direct link");
            assert!(stats.mtu > 0);
            assert_eq!(client.peer.peer_stats(id(12345)), None);
        }
        let stats = server.peer.peer_stats(world.nodes[1].id()).expect("direct link");
        assert!(stats.bytes_received > 0);
    }
}

#[test]
fn clients_see_each_other_join_and_leave() {
    for profile in PROFILES {
        let mut world = World::session(profile, 3, 20);
        let leaver = world.nodes[3].id();
        world.nodes[3].peer.close();
        assert!(world.run_until(|w| { w.nodes[..3].iter().all(|n| n.saw_departure(leaver)) }));
        // Nobody hears of a peer twice, and the leaver's log stopped at close.
        for node in &world.nodes[..3] {
            let joins =
                node.events().iter().filter(|e| **e == PeerEvent::Connected(leaver)).count();
            assert_eq!(joins, 1, "{profile}");
        }
        assert!(!world.nodes[3].saw_departure(PeerId::SERVER));
    }
}

#[test]
fn without_relay_clients_hear_of_no_one_but_the_server() {
    for profile in PROFILES {
        let mut world = World::session_with(profile, 3, 30, |o| o.server_relay(false));
        assert!(!world.nodes[0].peer.is_server_relay_supported());
        let leaver = world.nodes[3].id();
        world.nodes[3].peer.close();
        assert!(world.run_until(|w| w.nodes[0].saw_departure(leaver)));
        fence(&mut world, 0, &[1, 2]);
        for client in &world.nodes[1..3] {
            assert_eq!(client.events(), [PeerEvent::Connected(PeerId::SERVER)], "{profile}");
        }
    }
}

#[test]
fn range_coded_sessions_work_in_both_profiles() {
    // Godot 3.4 and later compress with ENet's range coder by default.
    for profile in PROFILES {
        let mut world = World::session_with(profile, 2, 60, |o| o.range_coder(true));
        let c1 = world.nodes[1].id();
        world.nodes[0].send(Target::Broadcast, b"compressed hello to everyone");
        world.nodes[0].send(Target::Peer(c1), &[9u8; 5000]);
        fence(&mut world, 0, &[1, 2]);
        assert_eq!(receivers(&world, b"compressed hello to everyone"), set(&[1, 2]), "{profile}");
        assert_eq!(receivers(&world, &[9u8; 5000]), set(&[1]), "{profile}");
    }
}

#[test]
fn every_target_kind_from_the_server() {
    for profile in PROFILES {
        let mut world = World::session(profile, 3, 40);
        let c1 = world.nodes[2].id();
        let server = &mut world.nodes[0];
        server.send(Target::Broadcast, b"all");
        server.send(Target::Peer(c1), b"one");
        server.send(Target::AllExcept(c1), b"but");
        server.peer.set_target_peer(Target::SERVER);
        assert_eq!(server.peer.put_packet(b"self"), Err(PutPacketError::UnknownTarget(id(1))));
        server.peer.set_target_peer(Target::Peer(id(999)));
        assert_eq!(server.peer.put_packet(b"x"), Err(PutPacketError::UnknownTarget(id(999))));
        fence(&mut world, 0, &[1, 2, 3]);
        assert_eq!(receivers(&world, b"all"), set(&[1, 2, 3]), "{profile}");
        assert_eq!(receivers(&world, b"one"), set(&[2]), "{profile}");
        assert_eq!(receivers(&world, b"but"), set(&[1, 3]), "{profile}");
        for client in &world.nodes[1..] {
            assert!(client.packets().iter().all(|p| p.from == PeerId::SERVER));
        }
    }
}

#[test]
fn every_target_kind_from_a_client_goes_through_the_server() {
    for profile in PROFILES {
        let mut world = World::session(profile, 3, 50);
        let (c0, c1) = (world.nodes[1].id(), world.nodes[2].id());
        let sender = &mut world.nodes[1];
        sender.send(Target::Broadcast, b"all");
        sender.send(Target::SERVER, b"server");
        sender.send(Target::Peer(c1), b"one");
        sender.send(Target::AllExcept(c1), b"but");
        sender.send(Target::AllExcept(PeerId::SERVER), b"clients");
        sender.peer.set_target_peer(Target::Peer(id(999)));
        assert_eq!(sender.peer.put_packet(b"x"), Err(PutPacketError::UnknownTarget(id(999))));
        fence(&mut world, 1, &[0, 2, 3]);
        assert_eq!(receivers(&world, b"all"), set(&[0, 2, 3]), "{profile}");
        assert_eq!(receivers(&world, b"server"), set(&[0]), "{profile}");
        assert_eq!(receivers(&world, b"one"), set(&[2]), "{profile}");
        assert_eq!(receivers(&world, b"but"), set(&[0, 3]), "{profile}");
        assert_eq!(receivers(&world, b"clients"), set(&[2, 3]), "{profile}");
        for node in [0, 2, 3] {
            assert!(world.nodes[node].packets().iter().all(|p| p.from == c0), "relayed from {c0}");
        }
        // all: 2 copies, one: 1, but: 1, clients: 2, fence: 2.
        assert_eq!(world.nodes[0].peer.stats().packets_relayed, 8, "{profile}");
    }
}

#[test]
fn without_relay_a_client_reaches_only_the_server() {
    let mut world = World::session_with(WireProfile::Godot4, 3, 60, |o| o.server_relay(false));
    let c1 = world.nodes[2].id();
    let sender = &mut world.nodes[1];
    sender.send(Target::Broadcast, b"all");
    sender.send(Target::SERVER, b"server");
    sender.send(Target::AllExcept(c1), b"but");
    sender.send(Target::AllExcept(PeerId::SERVER), b"nobody");
    sender.peer.set_target_peer(Target::Peer(c1));
    assert_eq!(sender.peer.put_packet(b"x"), Err(PutPacketError::UnknownTarget(c1)));
    fence(&mut world, 1, &[0]);
    assert_eq!(receivers(&world, b"all"), set(&[0]));
    assert_eq!(receivers(&world, b"server"), set(&[0]));
    assert_eq!(receivers(&world, b"but"), set(&[0]));
    assert_eq!(receivers(&world, b"nobody"), set(&[]));
}

#[test]
fn channels_and_modes_arrive_as_sent_in_both_profiles() {
    use TransferMode::{Reliable, Unreliable, UnreliableOrdered};
    for profile in PROFILES {
        let mut world = World::session(profile, 1, 70);
        let mut expected = BTreeSet::new();
        for channel in 0..3u8 {
            for (m, mode) in [Reliable, UnreliableOrdered, Unreliable].into_iter().enumerate() {
                for (sender, label) in [(0, b's'), (1, b'c')] {
                    let peer = &mut world.nodes[sender].peer;
                    peer.set_transfer_channel(channel);
                    peer.set_transfer_mode(mode);
                    peer.put_packet(&[label, channel, m as u8]).unwrap();
                    expected.insert((1 - sender, channel, format!("{mode}"), label));
                }
            }
        }
        let peer = &mut world.nodes[1].peer;
        peer.set_transfer_channel(3);
        let error = PutPacketError::Channel(
            volley::multiplayer::framing::ChannelError::UserChannelOutOfRange {
                channel: 3,
                max: 2,
            },
        );
        assert_eq!(peer.put_packet(b"x"), Err(error));
        assert!(
            world.run_until(|w| w.nodes[0].packets().len() == 9 && w.nodes[1].packets().len() == 9)
        );
        let mut got = BTreeSet::new();
        for receiver in 0..2 {
            for p in world.nodes[receiver].packets() {
                assert_eq!(p.channel, p.payload[1], "{profile}");
                got.insert((receiver, p.channel, format!("{}", p.mode), p.payload[0]));
            }
        }
        assert_eq!(got, expected, "{profile}");
    }
}

#[test]
fn large_unreliable_packets_cross_whole_in_both_profiles() {
    for profile in PROFILES {
        let mut world = World::session(profile, 1, 80);
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        world.nodes[1].peer.set_transfer_mode(TransferMode::Unreliable);
        world.nodes[1].send(Target::SERVER, &big);
        assert!(world.run_until(|w| w.nodes[0].got(&big)), "{profile}");
        let packet = world.nodes[0].packets()[0].clone();
        assert_ne!(packet.mode, TransferMode::Reliable, "{profile}: stays unreliable");
    }
}

#[test]
fn payload_limits_and_sending_before_connecting_are_errors() {
    let server = EnetMultiplayerPeer::create_server(
        local(),
        4,
        1,
        WireProfile::Relay,
        EnetPeerOptions::default().endpoint({
            let mut endpoint = volley::EndpointConfig::default();
            endpoint.max_packet_size(100);
            endpoint
        }),
    )
    .unwrap();
    assert_eq!(server.max_packet_size(), 92, "the relay header takes 8 bytes");
    let mut client = EnetMultiplayerPeer::create_client(
        server.local_addr().unwrap(),
        1,
        WireProfile::Relay,
        EnetPeerOptions::default(),
    )
    .unwrap();
    assert_eq!(client.connection_status(), ConnectionStatus::Connecting);
    assert_eq!(client.put_packet(b"early"), Err(PutPacketError::NotConnected));
    let mut server = server;
    assert_eq!(
        server.put_packet(&[0; 93]),
        Err(PutPacketError::PayloadTooLarge { len: 93, max: 92 })
    );
    assert!(server.put_packet(&[0; 92]).is_ok(), "a broadcast to nobody is fine");
    for (channels, profile, max) in [(0, WireProfile::Relay, 253), (254, WireProfile::Relay, 253)]
        .into_iter()
        .chain([(255, WireProfile::Godot4, 254)])
    {
        let error =
            EnetMultiplayerPeer::create_server(local(), 4, channels, profile, Default::default())
                .unwrap_err();
        assert!(
            matches!(error, volley::multiplayer::enet::CreateError::Channels { channels: c, max: m } if c == channels && m == max),
            "{error}"
        );
    }
    let error =
        EnetMultiplayerPeer::create_server(local(), 0, 1, WireProfile::Relay, Default::default())
            .unwrap_err();
    assert_eq!(error.to_string(), "max_clients 0 is not in 1..=4095");
}

#[test]
fn a_spoofed_source_is_dropped_and_counted() {
    let mut world = World::session(WireProfile::Relay, 1, 90);
    let server_address = world.nodes[0].peer.local_addr().unwrap();
    let raw = Raw::client();
    let to_server = raw.host.connect(server_address, 3, 777).unwrap();
    world.raws.push(raw);
    assert!(
        world.run_until(|w| w.raws[0].connected() && w.nodes[1].saw(PeerEvent::Connected(id(777))))
    );
    let host = &world.raws[0].host;
    let framed = |source: u32, target: i32, bytes: &[u8]| {
        let mut packet = source.to_le_bytes().to_vec();
        packet.extend_from_slice(&target.to_le_bytes());
        packet.extend_from_slice(bytes);
        packet
    };
    host.send(to_server, 1, TransferMode::Reliable, &framed(5555, 0, b"spoof")).unwrap();
    host.send(to_server, 1, TransferMode::Reliable, &framed(777, 0, b"real")).unwrap();
    // Not framed: too short, and a system message sent to the server.
    host.send(to_server, 1, TransferMode::Reliable, &[1, 2, 3]).unwrap();
    host.send(to_server, 0, TransferMode::Reliable, &[0; 8]).unwrap();
    host.send(to_server, 1, TransferMode::Reliable, &framed(777, 0, b"after")).unwrap();
    assert!(world.run_until(|w| w.nodes[0].got(b"after") && w.nodes[1].got(b"after")));
    for node in &world.nodes[..2] {
        assert!(!node.got(b"spoof"));
        let real = node.packets().into_iter().find(|p| p.payload == b"real").expect("real");
        assert_eq!(real.from, id(777));
    }
    let stats = world.nodes[0].peer.stats();
    assert_eq!(stats.dropped_spoofed, 1);
    assert_eq!(stats.dropped_malformed, 2);
}

#[test]
fn refusing_new_connections_tells_the_client_at_once() {
    for profile in PROFILES {
        let mut world = World::session(profile, 1, 100);
        world.nodes[0].peer.set_refuse_new_connections(true);
        assert!(world.nodes[0].peer.is_refusing_new_connections());
        let address = world.nodes[0].peer.local_addr().unwrap();
        let started = Instant::now();
        let late = world
            .add(EnetMultiplayerPeer::create_client(address, 3, profile, seeded(101)).unwrap());
        assert!(world.run_until(
            |w| w.nodes[late].peer.connection_status() == ConnectionStatus::Disconnected
        ));
        // The reason can only come from the server's DISCONNECT, not from a
        // timeout, and well before the engine's 5 s connect timeout.
        assert_eq!(world.nodes[late].peer.refusal(), Some(RefuseReason::RefusingConnections));
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            world.nodes[late].statuses,
            [ConnectionStatus::Connecting, ConnectionStatus::Disconnected]
        );
        assert_eq!(
            world.nodes[late].events(),
            [PeerEvent::ConnectionFailed(Some(RefuseReason::RefusingConnections))],
            "never connected"
        );
        assert_eq!(world.nodes[0].peer.stats().connections_refused, 1);
        // The clients already in stay; newcomers are welcome again after.
        assert_eq!(world.nodes[1].peer.connection_status(), ConnectionStatus::Connected);
        world.nodes[0].peer.set_refuse_new_connections(false);
        let welcome = world
            .add(EnetMultiplayerPeer::create_client(address, 3, profile, seeded(102)).unwrap());
        assert!(world.run_until(
            |w| w.nodes[welcome].peer.connection_status() == ConnectionStatus::Connected
        ));
    }
}

#[test]
fn a_duplicate_id_is_refused_and_the_client_retries_with_a_fresh_one() {
    for profile in PROFILES {
        let mut world = World::session(profile, 0, 110);
        let address = world.nodes[0].peer.local_addr().unwrap();
        let taken = id(4242);
        let first = world.add(
            EnetMultiplayerPeer::create_client(address, 3, profile, seeded(111).client_id(taken))
                .unwrap(),
        );
        assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Connected(taken))));
        let second = world.add(
            EnetMultiplayerPeer::create_client(address, 3, profile, seeded(112).client_id(taken))
                .unwrap(),
        );
        assert_eq!(world.nodes[second].id(), taken);
        assert!(
            world.run_until(
                |w| w.nodes[second].peer.connection_status() == ConnectionStatus::Connected
            )
        );
        let fresh = world.nodes[second].id();
        assert_ne!(fresh, taken);
        assert_eq!(
            world.nodes[second].statuses,
            [ConnectionStatus::Connecting, ConnectionStatus::Connected]
        );
        assert_eq!(world.nodes[second].peer.refusal(), None, "the last attempt succeeded");
        assert!(world.run_until(|w| w.nodes[0].saw(PeerEvent::Connected(fresh))));
        // Nothing was emitted under the refused id, on either side: the
        // retry is not a failure, and the server only ever saw the fresh id.
        assert_eq!(world.nodes[second].events()[0], PeerEvent::Connected(PeerId::SERVER));
        let server_events = world.nodes[0].events();
        let about_taken: Vec<_> = server_events
            .iter()
            .filter(|e| matches!(e, PeerEvent::Connected(i) | PeerEvent::Disconnected(i, _) if *i == taken))
            .collect();
        assert_eq!(about_taken, [&PeerEvent::Connected(taken)], "only the first client's");
        assert_eq!(world.nodes[first].id(), taken);
        assert_eq!(world.nodes[0].peer.stats().connections_refused, 1);

        // Without retries, the client gives up and says why.
        let third = world.add(
            EnetMultiplayerPeer::create_client(
                address,
                3,
                profile,
                seeded(113).client_id(taken).id_retries(0),
            )
            .unwrap(),
        );
        assert!(world.run_until(
            |w| w.nodes[third].peer.connection_status() == ConnectionStatus::Disconnected
        ));
        assert_eq!(world.nodes[third].peer.refusal(), Some(RefuseReason::DuplicateId));
        assert_eq!(
            world.nodes[third].events(),
            [PeerEvent::ConnectionFailed(Some(RefuseReason::DuplicateId))]
        );
    }
}

#[test]
fn invalid_ids_too_few_channels_and_a_full_server_are_refused_with_their_code() {
    for profile in PROFILES {
        let server =
            EnetMultiplayerPeer::create_server(local(), 1, 1, profile, Default::default()).unwrap();
        let address = server.local_addr().unwrap();
        let mut world = World::default();
        world.add(server);
        let reserved = usize::from(profile.reserved_channels());
        let attempts = [
            (0, reserved, RefuseReason::InvalidId),
            (1, reserved, RefuseReason::InvalidId),
            (0x8000_0000, reserved, RefuseReason::InvalidId),
            (55, reserved - 1, RefuseReason::TooFewChannels),
        ];
        for (data, channels, reason) in attempts {
            let raw = Raw::client();
            raw.host.connect(address, channels, data).unwrap();
            world.raws.push(raw);
            let index = world.raws.len() - 1;
            assert!(world.run_until(|w| w.raws[index].disconnect_data().is_some()));
            assert!(
                matches!(
                    world.raws[index].log[..],
                    [Event::Disconnected { reason: DisconnectReason::Refused, data, .. }] if data == reason.code()
                ),
                "{profile} {reason}: {:?}",
                world.raws[index].log
            );
        }
        // One slot: the first client fills it, the next is told the server is full.
        let first = world
            .add(EnetMultiplayerPeer::create_client(address, 1, profile, seeded(121)).unwrap());
        assert!(
            world.run_until(
                |w| w.nodes[first].peer.connection_status() == ConnectionStatus::Connected
            )
        );
        let second = world
            .add(EnetMultiplayerPeer::create_client(address, 1, profile, seeded(122)).unwrap());
        assert!(world.run_until(
            |w| w.nodes[second].peer.connection_status() == ConnectionStatus::Disconnected
        ));
        assert_eq!(world.nodes[second].peer.refusal(), Some(RefuseReason::ServerFull));
        assert_eq!(
            world.nodes[second].events(),
            [PeerEvent::ConnectionFailed(Some(RefuseReason::ServerFull))]
        );
        assert_eq!(world.nodes[0].peer.stats().connections_refused, 5);
    }
}

#[test]
fn close_drops_everyone_at_once_without_events() {
    for profile in PROFILES {
        let mut world = World::session(profile, 2, 130);
        let c0 = world.nodes[1].id();
        world.nodes[0].peer.close();
        assert_eq!(world.nodes[0].peer.connection_status(), ConnectionStatus::Disconnected);
        assert!(matches!(world.nodes[0].peer.poll_timeout(Duration::ZERO), Err(PollError::Closed)));
        assert_eq!(world.nodes[0].peer.put_packet(b"x"), Err(PutPacketError::NotConnected));
        assert_eq!(world.nodes[0].peer.local_addr(), None);
        let server_events = world.nodes[0].events().len();
        assert!(world.run_until(|w| {
            w.nodes[1..]
                .iter()
                .all(|c| c.peer.connection_status() == ConnectionStatus::Disconnected)
        }));
        assert_eq!(world.nodes[0].events().len(), server_events, "no events after close");
        for client in &world.nodes[1..] {
            assert!(client.saw_departure(PeerId::SERVER), "{profile}");
            assert_eq!(
                client.statuses,
                [
                    ConnectionStatus::Connecting,
                    ConnectionStatus::Connected,
                    ConnectionStatus::Disconnected
                ]
            );
        }
        // The other clients went with the server; the last event is the server's.
        let events = world.nodes[2].events();
        assert!(
            events.iter().any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == c0)),
            "{profile}"
        );
        assert!(
            matches!(events.last(), Some(PeerEvent::Disconnected(PeerId::SERVER, _))),
            "{profile}: {events:?}"
        );
    }
}

#[test]
fn close_and_a_forced_disconnect_send_what_was_queued_first() {
    // Godot flushes every put_packet, so `put_packet` then `close` delivers
    // there; it does here too.
    for profile in PROFILES {
        let mut world = World::session(profile, 2, 135);
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 + 1).collect();
        let client = &mut world.nodes[1];
        client.send(Target::SERVER, b"bye");
        client.send(Target::SERVER, &big);
        client.peer.set_transfer_mode(TransferMode::Unreliable);
        client.send(Target::SERVER, b"bye, unreliably");
        client.peer.close();
        let kicked = world.nodes[2].id();
        world.nodes[0].send(Target::Peer(kicked), b"kicked");
        world.nodes[0].peer.disconnect_peer(kicked, true).unwrap();
        assert!(world.run_until(|w| {
            w.nodes[0].got(b"bye")
                && w.nodes[0].got(&big)
                && w.nodes[0].got(b"bye, unreliably")
                && w.nodes[2].got(b"kicked")
                && w.nodes[2].peer.connection_status() == ConnectionStatus::Disconnected
        }));

        // The server's last broadcast reaches everyone before it goes.
        let mut world = World::session(profile, 2, 136);
        world.nodes[0].send(Target::Broadcast, b"closing");
        world.nodes[0].peer.close();
        assert!(world.run_until(|w| {
            w.nodes[1..]
                .iter()
                .all(|c| c.peer.connection_status() == ConnectionStatus::Disconnected)
        }));
        for client in &world.nodes[1..] {
            let log = &client.log;
            let words = log.iter().position(|i| {
                matches!(i, volley::multiplayer::Incoming::Packet(p) if p.payload == b"closing")
            });
            let gone = log.iter().position(|i| {
                matches!(
                    i,
                    volley::multiplayer::Incoming::Event(PeerEvent::Disconnected(
                        PeerId::SERVER,
                        _
                    ))
                )
            });
            assert!(words.is_some() && words < gone, "{profile}: {log:?}");
        }
    }
}

#[test]
fn disconnect_peer_graceful_and_forced() {
    for profile in PROFILES {
        let mut world = World::session(profile, 3, 140);
        let (c0, c1) = (world.nodes[1].id(), world.nodes[2].id());
        assert_eq!(
            world.nodes[0].peer.disconnect_peer(id(999), false),
            Err(DisconnectPeerError::UnknownPeer(id(999)))
        );

        // Graceful: an event on the server, and the client learns.
        world.nodes[0].peer.disconnect_peer(c0, false).unwrap();
        assert!(world.run_until(|w| w.nodes[0].saw_departure(c0)
            && w.nodes[1].saw_departure(PeerId::SERVER)
            && w.nodes[3].saw_departure(c0)));
        assert_eq!(world.nodes[1].peer.connection_status(), ConnectionStatus::Disconnected);

        // Forced: no event on the server; the client and the others learn.
        world.nodes[0].peer.disconnect_peer(c1, true).unwrap();
        assert_eq!(
            world.nodes[0].peer.disconnect_peer(c1, true),
            Err(DisconnectPeerError::UnknownPeer(c1))
        );
        assert!(world.run_until(
            |w| w.nodes[2].saw_departure(PeerId::SERVER) && w.nodes[3].saw_departure(c1)
        ));
        fence(&mut world, 0, &[3]);
        assert!(!world.nodes[0].saw_departure(c1), "{profile}: forced is silent");

        // A client forcing its server away closes.
        let c2 = world.nodes[3].id();
        world.nodes[3].peer.disconnect_peer(PeerId::SERVER, true).unwrap();
        assert_eq!(world.nodes[3].peer.local_addr(), None);
        assert_eq!(world.nodes[3].peer.connection_status(), ConnectionStatus::Disconnected);
        assert!(world.run_until(|w| w.nodes[0].saw_departure(c2)));
        assert!(!world.nodes[3].saw_departure(PeerId::SERVER));
    }
}

#[test]
fn a_client_leaving_gracefully_is_announced() {
    for profile in PROFILES {
        let mut world = World::session(profile, 2, 150);
        let c0 = world.nodes[1].id();
        world.nodes[1].peer.disconnect_peer(PeerId::SERVER, false).unwrap();
        assert!(world.run_until(|w| w.nodes[1].saw_departure(PeerId::SERVER)
            && w.nodes[0].saw_departure(c0)
            && w.nodes[2].saw_departure(c0)));
        // The server saw the client close; the other client was told.
        assert!(world.nodes[0].saw(PeerEvent::Disconnected(c0, DepartureReason::Closed)));
        assert!(world.nodes[2].saw(PeerEvent::Disconnected(c0, DepartureReason::Announced)));
        let events = world.nodes[1].events();
        let other = world.nodes[2].id();
        assert_eq!(
            &events[events.len() - 2..],
            [
                // Reached through the server, gone with it.
                PeerEvent::Disconnected(other, DepartureReason::SessionEnded),
                PeerEvent::Disconnected(PeerId::SERVER, DepartureReason::Disconnected),
            ],
            "{profile}"
        );
    }
}

#[test]
fn poll_returns_as_soon_as_a_packet_arrives() {
    let mut world = World::session(WireProfile::Relay, 1, 160);
    world.nodes[1].send(Target::SERVER, b"wake");
    world.nodes[1].peer.poll_timeout(Duration::ZERO).unwrap(); // flushes
    let sender = world.nodes[1].id();
    let started = Instant::now();
    let server = &mut world.nodes[0].peer;
    while server.available_packet_count() == 0 && started.elapsed() < Duration::from_secs(5) {
        server.poll().unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(server.packet_peer(), Some(sender));
    assert_eq!(server.packet_channel(), Some(0));
    assert_eq!(server.packet_mode(), Some(TransferMode::Reliable));
    assert_eq!(server.peek_packet().map(|info| info.len), Some(4));
    let packet = server.next_packet().unwrap();
    assert_eq!(packet.payload, b"wake");
    server.recycle(packet.payload);
    assert_eq!(server.available_packet_count(), 0);
    // Queued items make a poll return at once, whatever the timeout.
    world.nodes[1].send(Target::SERVER, b"more");
    assert!(world.run_until(|w| w.nodes[0].got(b"more")));
}

#[test]
fn poll_waits_about_one_second_when_nothing_happens() {
    let mut server = EnetMultiplayerPeer::create_server(
        local(),
        4,
        1,
        WireProfile::Relay,
        EnetPeerOptions::default(),
    )
    .unwrap();
    let started = Instant::now();
    server.poll().unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_millis(1500),
        "{waited:?}"
    );
    let started = Instant::now();
    server.poll_timeout(Duration::ZERO).unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn a_mesh_of_three_connects_directly_and_reaches_every_target() {
    for profile in PROFILES {
        let mut world = World::default();
        let ids = [id(10), id(20), id(30)];
        for peer_id in ids {
            let mesh =
                EnetMultiplayerPeer::create_mesh(local(), peer_id, 2, profile, Default::default())
                    .unwrap();
            assert_eq!(mesh.connection_status(), ConnectionStatus::Connected);
            assert!(!mesh.is_server());
            assert!(!mesh.is_server_relay_supported());
            world.add(mesh);
        }
        let addresses: Vec<_> = world.nodes.iter().map(|n| n.peer.local_addr().unwrap()).collect();
        for (from, to) in [(0, 1), (0, 2), (1, 2)] {
            world.nodes[from].peer.add_mesh_peer(addresses[to], ids[to]).unwrap();
        }
        assert!(matches!(
            world.nodes[0].peer.add_mesh_peer(addresses[1], ids[1]),
            Err(AddMeshPeerError::DuplicateId(d)) if d == ids[1]
        ));
        assert!(matches!(
            world.nodes[0].peer.add_mesh_peer(addresses[1], ids[0]),
            Err(AddMeshPeerError::DuplicateId(_))
        ));
        assert!(world.run_until(|w| (0..3).all(|i| {
            (0..3).filter(|&j| j != i).all(|j| w.nodes[i].saw(PeerEvent::Connected(ids[j])))
        })));
        world.nodes[0].send(Target::Broadcast, b"all");
        world.nodes[0].send(Target::Peer(ids[1]), b"one");
        world.nodes[0].send(Target::AllExcept(ids[1]), b"but");
        world.nodes[1].send(Target::Broadcast, b"from 20");
        fence(&mut world, 0, &[1, 2]);
        assert_eq!(receivers(&world, b"all"), set(&[1, 2]), "{profile}");
        assert_eq!(receivers(&world, b"one"), set(&[1]));
        assert_eq!(receivers(&world, b"but"), set(&[2]));
        assert!(world.run_until(|w| receivers(w, b"from 20") == set(&[0, 2])));
        for node in &world.nodes {
            for packet in node.packets() {
                let expected = if packet.payload == b"from 20" { ids[1] } else { ids[0] };
                assert_eq!(packet.from, expected);
            }
        }
        // Leaving is seen by the others directly.
        world.nodes[2].peer.disconnect_peer(ids[0], false).unwrap();
        assert!(world.run_until(|w| w.nodes[0].saw_departure(ids[2])
            && w.nodes[2].saw_departure(ids[0])));
    }
}

#[test]
fn mesh_only_api_is_refused_elsewhere() {
    let mut server =
        EnetMultiplayerPeer::create_server(local(), 2, 1, WireProfile::Relay, Default::default())
            .unwrap();
    assert!(matches!(server.add_mesh_peer(local(), id(5)), Err(AddMeshPeerError::NotMesh)));
    let mut mesh = EnetMultiplayerPeer::create_mesh(
        local(),
        id(5),
        1,
        WireProfile::Godot4,
        Default::default(),
    )
    .unwrap();
    mesh.close();
    assert!(matches!(mesh.add_mesh_peer(local(), id(6)), Err(AddMeshPeerError::Closed)));
    server.close();
    assert_eq!(server.role(), Role::Server);
}

#[test]
fn a_node_log_sees_packets_and_events_in_order() {
    // A packet sent just before leaving comes before the leave.
    for profile in PROFILES {
        let mut world = World::session(profile, 2, 170);
        let c0 = world.nodes[1].id();
        world.nodes[1].send(Target::Broadcast, b"last words");
        world.nodes[1].peer.disconnect_peer(PeerId::SERVER, false).unwrap();
        assert!(world.run_until(|w| w.nodes[2].saw_departure(c0)));
        let log = &world.nodes[2].log;
        let position = |pred: &dyn Fn(&volley::multiplayer::Incoming) -> bool| {
            log.iter().position(pred).expect("present")
        };
        let words = position(
            &|i| matches!(i, volley::multiplayer::Incoming::Packet(p) if p.payload == b"last words"),
        );
        let gone = position(
            &|i| matches!(i, volley::multiplayer::Incoming::Event(PeerEvent::Disconnected(id, _)) if *id == c0),
        );
        assert!(words < gone, "{profile}");
    }
}

/// Options whose connections give up after 300 ms without an answer.
fn impatient() -> EnetPeerOptions {
    let mut endpoint = volley::EndpointConfig::default();
    endpoint.timeouts(volley::Timeouts {
        limit: 32,
        minimum: Duration::from_millis(100),
        maximum: Duration::from_millis(300),
    });
    EnetPeerOptions::default().endpoint(endpoint)
}

#[test]
fn a_client_nobody_answers_fails_without_a_reason() {
    let silent = std::net::UdpSocket::bind(local()).unwrap();
    let client = EnetMultiplayerPeer::create_client(
        silent.local_addr().unwrap(),
        1,
        WireProfile::Godot4,
        impatient(),
    )
    .unwrap();
    let mut world = World::default();
    world.add(client);
    assert!(
        world.run_until(|w| w.nodes[0].peer.connection_status() == ConnectionStatus::Disconnected)
    );
    assert_eq!(
        world.nodes[0].statuses,
        [ConnectionStatus::Connecting, ConnectionStatus::Disconnected]
    );
    assert_eq!(world.nodes[0].events(), [PeerEvent::ConnectionFailed(None)]);
    assert_eq!(world.nodes[0].peer.refusal(), None);
}

#[test]
fn a_handshake_abandoned_after_acceptance_frees_its_id_and_slot() {
    let options = impatient();
    let server =
        EnetMultiplayerPeer::create_server(local(), 1, 1, WireProfile::Relay, options).unwrap();
    let address = server.local_addr().unwrap();
    let mut world = World::default();
    world.add(server);
    // A raw client sends its CONNECT and never reads the answer: the server
    // accepts, then its handshake times out without an event.
    let raw = Raw::client();
    raw.host.connect(address, 3, 777).unwrap();
    raw.host.flush().unwrap();
    // The same id, and the only client slot, must become free again.
    world.step();
    let mut attempts = 0;
    let connected = loop {
        attempts += 1;
        let options = seeded(180 + attempts).client_id(id(777)).id_retries(0);
        let client = world.add(
            EnetMultiplayerPeer::create_client(address, 1, WireProfile::Relay, options).unwrap(),
        );
        assert!(world.run_until(
            |w| w.nodes[client].peer.connection_status() != ConnectionStatus::Connecting
        ));
        if world.nodes[client].peer.connection_status() == ConnectionStatus::Connected {
            break client;
        }
        assert!(attempts < 50, "the abandoned handshake kept its id or slot");
    };
    assert_eq!(world.nodes[connected].id(), id(777));
    drop(raw); // kept open until here, so its socket swallowed the answers
}
