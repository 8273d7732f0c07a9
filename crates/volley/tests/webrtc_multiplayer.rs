//! The WebRTC MultiplayerPeer, Volley to Volley on 127.0.0.1, bounded in
//! time: server, client and mesh modes with several peers, every target
//! kind, the add_peer rules, and leaving.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use volley::TransferMode::{self, Reliable, Unreliable, UnreliableOrdered};
use volley::multiplayer::framing::RefuseReason;
use volley::multiplayer::webrtc::{AddPeerError, WebRtcMultiplayerPeer, WebRtcPeerOptions};
use volley::multiplayer::{
    ConnectionStatus, Incoming, MultiplayerPeer, PeerEvent, PeerId, PollError, Target,
};
use volley::webrtc::ChannelLayout;

const MODES: [TransferMode; 3] = [Reliable, UnreliableOrdered, Unreliable];

fn id(raw: u32) -> PeerId {
    PeerId::try_from(raw).expect("valid id")
}

fn options() -> WebRtcPeerOptions {
    let layout = ChannelLayout::new(&[Reliable, Unreliable]).expect("layout");
    WebRtcPeerOptions::new("127.0.0.1:0".parse().unwrap()).channels(layout)
}

/// A peer and everything it received.
struct Node {
    peer: WebRtcMultiplayerPeer,
    got: Vec<Incoming>,
}

impl Node {
    fn new(peer: WebRtcMultiplayerPeer) -> Self {
        Self { peer, got: Vec::new() }
    }

    fn packets(&self) -> Vec<(u32, u8, TransferMode, Vec<u8>)> {
        self.got
            .iter()
            .filter_map(|i| match i {
                Incoming::Packet(p) => Some((p.from.get(), p.channel, p.mode, p.payload.clone())),
                Incoming::Event(_) => None,
            })
            .collect()
    }

    fn got_payload(&self, payload: &[u8]) -> bool {
        self.packets().iter().any(|p| p.3 == payload)
    }

    fn events(&self) -> Vec<PeerEvent> {
        self.got
            .iter()
            .filter_map(|i| match i {
                Incoming::Event(e) => Some(*e),
                Incoming::Packet(_) => None,
            })
            .collect()
    }

    fn send(&mut self, target: Target, channel: u8, mode: TransferMode, payload: &[u8]) {
        self.peer.set_target_peer(target);
        self.peer.set_transfer_channel(channel);
        self.peer.set_transfer_mode(mode);
        self.peer.put_packet(payload).expect("queued");
    }
}

fn pump(nodes: &mut [Node]) {
    for node in nodes.iter_mut() {
        match node.peer.poll_timeout(Duration::from_millis(1)) {
            Ok(()) | Err(PollError::Closed) => {}
            Err(e) => panic!("poll: {e}"),
        }
        while let Some(incoming) = node.peer.next_incoming() {
            node.got.push(incoming);
        }
    }
}

fn run_until(nodes: &mut [Node], mut done: impl FnMut(&[Node]) -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if done(nodes) {
            return true;
        }
        pump(nodes);
    }
    done(nodes)
}

/// Connects `nodes[a]` (as `a_id` to b) and `nodes[b]` (as `b_id` to a):
/// a offers, b answers.
fn signal(nodes: &mut [Node], a: usize, a_id: PeerId, b: usize, b_id: PeerId) {
    nodes[a].peer.add_peer(b_id).expect("a adds b");
    nodes[b].peer.add_peer(a_id).expect("b adds a");
    let offer = nodes[a].peer.create_offer(b_id).expect("offer");
    let answer = nodes[b].peer.set_remote_description(a_id, &offer).expect("answer").expect("sdp");
    nodes[a].peer.set_remote_description(b_id, &answer).expect("answer taken");
}

/// A server and `clients` clients with ids 2, 3, …, all connected.
fn star(clients: u32) -> Vec<Node> {
    let mut nodes =
        vec![Node::new(WebRtcMultiplayerPeer::create_server(options()).expect("server"))];
    for i in 0..clients {
        let client = WebRtcMultiplayerPeer::create_client(id(2 + i), options()).expect("client");
        assert_eq!(client.connection_status(), ConnectionStatus::Connecting);
        nodes.push(Node::new(client));
        let index = nodes.len() - 1;
        signal(&mut nodes, index, id(2 + i), 0, PeerId::SERVER);
    }
    assert!(run_until(&mut nodes, |n| {
        n[1..].iter().all(|c| c.peer.connection_status() == ConnectionStatus::Connected)
            && n[0].events().len() == clients as usize
    }));
    nodes
}

#[test]
fn a_server_and_three_clients_exchange_on_every_channel_and_mode() {
    let mut nodes = star(3);
    let joined: BTreeSet<u32> = nodes[0]
        .events()
        .into_iter()
        .map(|e| match e {
            PeerEvent::Connected(peer) => peer.get(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(joined, (2..5).collect());
    for client in &nodes[1..] {
        assert_eq!(client.events()[0], PeerEvent::Connected(PeerId::SERVER));
        assert!(client.peer.is_server_relay_supported());
    }
    // Every client sends to the server on every channel and mode.
    for (c, node) in nodes.iter_mut().enumerate().skip(1) {
        for channel in 0..3 {
            for mode in MODES {
                let payload = format!("from {c} ch{channel} {mode}").into_bytes();
                node.send(Target::SERVER, channel, mode, &payload);
            }
        }
    }
    assert!(run_until(&mut nodes, |n| n[0].packets().len() == 27));
    for (from, channel, mode, payload) in nodes[0].packets() {
        let text = String::from_utf8(payload).expect("text");
        let sent_mode = text.rsplit(' ').next().expect("mode").to_owned();
        assert_eq!(text, format!("from {} ch{channel} {sent_mode}", from - 1));
        // Custom channels deliver in their configured mode.
        match channel {
            0 => assert_eq!(mode.to_string(), sent_mode),
            1 => assert_eq!(mode, Reliable),
            _ => assert_eq!(mode, Unreliable),
        }
    }
    // The server's targets: everyone, everyone but one, one.
    nodes[0].send(Target::Broadcast, 0, Reliable, b"to all");
    nodes[0].send(Target::AllExcept(id(3)), 0, Reliable, b"not 3");
    nodes[0].send(Target::Peer(id(4)), 0, Reliable, b"only 4");
    assert!(run_until(&mut nodes, |n| n[1..].iter().all(|c| c.got_payload(b"to all"))
        && n[1].got_payload(b"not 3")
        && n[3].got_payload(b"not 3")
        && n[3].got_payload(b"only 4")));
    pump(&mut nodes);
    assert!(!nodes[2].got_payload(b"not 3"));
    assert!(!nodes[1].got_payload(b"only 4") && !nodes[2].got_payload(b"only 4"));
    for client in &nodes[1..] {
        assert!(client.packets().iter().all(|p| p.0 == 1), "everything came from the server");
    }
}

#[test]
fn add_peer_follows_godots_rules() {
    let mut server =
        WebRtcMultiplayerPeer::create_server(options().max_clients(1)).expect("server");
    assert_eq!(server.add_peer(PeerId::SERVER), Err(AddPeerError::ServerIsOne));
    server.add_peer(id(5)).expect("first client");
    assert_eq!(server.add_peer(id(5)), Err(AddPeerError::DuplicateId(id(5))));
    assert_eq!(server.add_peer(id(6)), Err(AddPeerError::Refused(Some(RefuseReason::ServerFull))));
    assert!(server.has_peer(id(5)) && !server.has_peer(id(6)));
    server.remove_peer(id(5)).expect("remove a negotiating peer");
    server.poll_timeout(Duration::ZERO).expect("poll");
    assert!(!server.has_peer(id(5)));
    server.set_refuse_new_connections(true);
    assert_eq!(
        server.add_peer(id(7)),
        Err(AddPeerError::Refused(Some(RefuseReason::RefusingConnections)))
    );
    let mut client = WebRtcMultiplayerPeer::create_client(id(9), options()).expect("client");
    assert_eq!(client.add_peer(id(3)), Err(AddPeerError::ClientAddsServerOnly(id(3))));
    client.add_peer(PeerId::SERVER).expect("the server");
    assert!(WebRtcMultiplayerPeer::create_client(PeerId::SERVER, options()).is_err());
}

#[test]
fn a_mesh_of_four_reaches_every_target_directly() {
    let mut nodes: Vec<Node> = (1..=4)
        .map(|i| {
            Node::new(WebRtcMultiplayerPeer::create_mesh(id(10 + i), options()).expect("mesh"))
        })
        .collect();
    for a in 0..4 {
        for b in a + 1..4 {
            signal(&mut nodes, a, id(11 + a as u32), b, id(11 + b as u32));
        }
    }
    assert!(run_until(&mut nodes, |n| n.iter().all(|node| node.events().len() == 3)));
    for node in &nodes {
        assert!(!node.peer.is_server_relay_supported());
        assert_eq!(node.peer.connection_status(), ConnectionStatus::Connected);
    }
    nodes[0].send(Target::Broadcast, 0, Unreliable, b"all");
    nodes[1].send(Target::AllExcept(id(13)), 2, Reliable, b"but 13");
    nodes[2].send(Target::Peer(id(14)), 1, UnreliableOrdered, b"to 14");
    assert!(run_until(&mut nodes, |n| {
        (1..4).all(|i| n[i].got_payload(b"all"))
            && n[0].got_payload(b"but 13")
            && n[3].got_payload(b"but 13")
            && n[3].got_payload(b"to 14")
    }));
    pump(&mut nodes);
    assert!(!nodes[2].got_payload(b"but 13"));
    let to_14: Vec<_> = nodes[3].packets().into_iter().filter(|p| p.3 == b"to 14").collect();
    assert_eq!(to_14, [(13, 1, Reliable, b"to 14".to_vec())], "sender, custom channel 1");
    // Leaving: 11 removes 12; both see the other go.
    nodes[0].peer.remove_peer(id(12)).expect("remove");
    assert!(run_until(&mut nodes, |n| {
        n[0].events().iter().any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id(12)))
            && n[1]
                .events()
                .iter()
                .any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id(11)))
    }));
}

#[test]
fn a_client_that_closes_leaves_the_server_and_the_server_closing_ends_the_clients() {
    let mut nodes = star(2);
    nodes[1].peer.close();
    assert!(run_until(&mut nodes, |n| n[0]
        .events()
        .iter()
        .any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id(2)))));
    nodes[0].peer.close();
    assert!(run_until(&mut nodes, |n| {
        n[2].peer.connection_status() == ConnectionStatus::Disconnected
    }));
    assert!(
        nodes[2]
            .events()
            .iter()
            .any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == PeerId::SERVER))
    );
}

#[test]
fn clients_see_each_other_and_reach_every_target_through_the_servers_relay() {
    let mut nodes = star(3);
    // Announcements: every client hears of the two others.
    assert!(run_until(&mut nodes, |n| {
        n[1..].iter().all(|c| {
            c.events()
                .iter()
                .filter(|e| matches!(e, PeerEvent::Connected(id) if !id.is_server()))
                .count()
                == 2
        })
    }));
    nodes[1].send(Target::Broadcast, 0, Reliable, b"2 to all");
    nodes[2].send(Target::AllExcept(id(2)), 1, Reliable, b"3 to all but 2");
    nodes[3].send(Target::Peer(id(2)), 2, Unreliable, b"4 to 2");
    assert!(run_until(&mut nodes, |n| {
        n[0].got_payload(b"2 to all")
            && n[2].got_payload(b"2 to all")
            && n[3].got_payload(b"2 to all")
            && n[0].got_payload(b"3 to all but 2")
            && n[3].got_payload(b"3 to all but 2")
            && n[1].got_payload(b"4 to 2")
    }));
    pump(&mut nodes);
    assert!(!nodes[1].got_payload(b"2 to all"), "not back to the sender");
    assert!(!nodes[1].got_payload(b"3 to all but 2"));
    assert!(!nodes[0].got_payload(b"4 to 2") && !nodes[2].got_payload(b"4 to 2"));
    // Relayed packets name their original sender and keep channel and mode.
    let at_2: Vec<_> = nodes[1].packets().into_iter().filter(|p| p.3 == b"4 to 2").collect();
    assert_eq!(at_2, [(4, 2, Unreliable, b"4 to 2".to_vec())]);
    let at_4: Vec<_> =
        nodes[3].packets().into_iter().filter(|p| p.3 == b"3 to all but 2").collect();
    assert_eq!(at_4, [(3, 1, Reliable, b"3 to all but 2".to_vec())]);
    assert!(nodes[0].peer.stats().packets_relayed >= 4);
    // A client leaving is announced to the others.
    nodes[3].peer.close();
    assert!(run_until(&mut nodes, |n| {
        n[1].events().iter().any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id(4)))
            && n[2]
                .events()
                .iter()
                .any(|e| matches!(e, PeerEvent::Disconnected(i, _) if *i == id(4)))
    }));
}
