//! The WebSocket multiplayer peer on 127.0.0.1, alone and in one session
//! with ENet clients: ids, joins and leaves, every target kind, relay across
//! transports, refusals, bad input, bounded in time.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley::TransferMode;
use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::{RefuseReason, WireProfile};
use volley::multiplayer::session::{AuthError, ServerSession, SessionOptions};
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
use volley::multiplayer::{
    AuthMessage, ConnectionStatus, Incoming, MultiplayerPeer, Packet, PeerEvent, PeerId, Target,
};
use volley::websocket::WsConfig;

const LIMIT: Duration = Duration::from_secs(15);
const PROFILES: [WireProfile; 2] = [WireProfile::Relay, WireProfile::Godot4];

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// A peer the test drives, and everything it yielded.
struct Node {
    peer: Box<dyn MultiplayerPeer>,
    log: Vec<Incoming>,
    closed: bool,
}

impl Node {
    fn new(peer: impl MultiplayerPeer + 'static) -> Self {
        Self { peer: Box::new(peer), log: Vec::new(), closed: false }
    }

    fn step(&mut self) {
        if self.closed {
            return;
        }
        self.peer.poll_timeout(Duration::from_millis(1)).expect("poll");
        while let Some(item) = self.peer.next_incoming() {
            self.log.push(item);
        }
    }

    fn id(&self) -> PeerId {
        self.peer.unique_id()
    }

    fn saw(&self, event: PeerEvent) -> bool {
        self.log.contains(&Incoming::Event(event))
    }

    /// Whether `id` left, for any reason.
    fn saw_departure(&self, id: PeerId) -> bool {
        self.log
            .iter()
            .any(|e| matches!(e, Incoming::Event(PeerEvent::Disconnected(i, _)) if *i == id))
    }

    fn packets(&self) -> Vec<&Packet> {
        self.log
            .iter()
            .filter_map(|item| match item {
                Incoming::Packet(packet) => Some(packet),
                Incoming::Event(_) => None,
            })
            .collect()
    }

    fn got(&self, payload: &[u8]) -> bool {
        self.packets().iter().any(|p| p.payload == payload)
    }

    fn send(&mut self, target: Target, payload: &[u8]) {
        self.peer.set_target_peer(target);
        self.peer.put_packet(payload).expect("put_packet");
    }

    fn close(&mut self) {
        self.peer.close();
        self.closed = true;
    }
}

/// A server (node 0) and clients (1..).
struct World {
    nodes: Vec<Node>,
}

impl World {
    fn step(&mut self) {
        for node in &mut self.nodes {
            node.step();
        }
    }

    fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = Instant::now() + LIMIT;
        while Instant::now() < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    fn add(&mut self, peer: impl MultiplayerPeer + 'static) -> usize {
        self.nodes.push(Node::new(peer));
        self.nodes.len() - 1
    }

    /// Every client connected and seen by the server, and told of every
    /// other client (both generations announce).
    fn everyone_in(&self) -> bool {
        let (server, clients) = self.nodes.split_first().expect("a server");
        clients.iter().all(|c| {
            c.peer.connection_status() == ConnectionStatus::Connected
                && server.saw(PeerEvent::Connected(c.id()))
                && clients
                    .iter()
                    .filter(|o| o.id() != c.id())
                    .all(|o| c.saw(PeerEvent::Connected(o.id())))
        })
    }

    /// Who got exactly `payload`: node indices.
    fn receivers(&self, payload: &[u8]) -> BTreeSet<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].got(payload)).collect()
    }

    /// A reliable broadcast from `sender`, awaited by every node it reaches
    /// (reliable packets of one sender keep their order through the relay).
    fn fence(&mut self, sender: usize, reached: &[usize]) {
        self.nodes[sender].peer.set_transfer_mode(TransferMode::Reliable);
        self.nodes[sender].send(Target::Broadcast, b"fence");
        assert!(self.run_until(|w| reached.iter().all(|&i| w.nodes[i].got(b"fence"))));
    }
}

fn set(indices: &[usize]) -> BTreeSet<usize> {
    indices.iter().copied().collect()
}

/// A session with an ENet and a WebSocket listener; clients 1 and 3 dial
/// WebSocket, 2 and 4 ENet.
fn mixed_session(profile: WireProfile, seed: u64) -> World {
    let session = ServerSession::builder(profile)
        .max_clients(8)
        .channels(3)
        .options(SessionOptions::default().id_seed(seed))
        .enet(EnetListener::new(local()))
        .websocket(WsListener::new(local()))
        .build()
        .expect("session");
    let enet = session.local_addr(0).expect("enet listener");
    let url = format!("ws://{}/", session.local_addr(1).expect("websocket listener"));
    let mut world = World { nodes: vec![Node::new(session)] };
    for i in 0..4u64 {
        if i % 2 == 0 {
            let client =
                WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default());
            world.add(client.expect("websocket client"));
        } else {
            let options = EnetPeerOptions::default().id_seed(seed + i);
            world.add(
                EnetMultiplayerPeer::create_client(enet, 3, profile, options).expect("enet client"),
            );
        }
    }
    assert!(world.run_until(|w| w.everyone_in()), "the session did not form");
    world
}

#[test]
fn ws_clients_get_server_assigned_ids_in_both_framings() {
    for profile in PROFILES {
        let world = mixed_session(profile, 10);
        let ids: BTreeSet<u32> = world.nodes[1..].iter().map(|n| n.id().get()).collect();
        assert_eq!(ids.len(), 4, "{profile}: distinct ids across transports");
        for client in &world.nodes[1..] {
            assert!(client.id().get() >= 2);
            assert!(!client.peer.is_server());
            assert!(client.peer.is_server_relay_supported());
            assert!(client.saw(PeerEvent::Connected(PeerId::SERVER)));
        }
        assert!(world.nodes[0].peer.is_server());
    }
}

#[test]
fn a_session_relays_every_target_kind_across_transports_in_both_generations() {
    for profile in PROFILES {
        relays_every_target_kind_across_transports(profile);
    }
}

fn relays_every_target_kind_across_transports(profile: WireProfile) {
    let mut world = mixed_session(profile, 20);
    let ids: Vec<PeerId> = world.nodes.iter().map(Node::id).collect();
    // From the server.
    world.nodes[0].send(Target::Broadcast, b"s all");
    world.nodes[0].send(Target::Peer(ids[1]), b"s to ws");
    world.nodes[0].send(Target::Peer(ids[2]), b"s to enet");
    world.nodes[0].send(Target::AllExcept(ids[1]), b"s but ws");
    // From a WebSocket client: to an ENet client, to everyone, all-but an
    // ENet client, all-but the server, the server alone.
    world.nodes[1].send(Target::Peer(ids[2]), b"ws to enet");
    world.nodes[1].send(Target::Peer(ids[3]), b"ws to ws");
    world.nodes[1].send(Target::Broadcast, b"ws all");
    world.nodes[1].send(Target::AllExcept(ids[4]), b"ws but enet");
    world.nodes[1].send(Target::AllExcept(PeerId::SERVER), b"ws clients");
    world.nodes[1].send(Target::SERVER, b"ws to server");
    // From an ENet client, unreliable too: to a WebSocket client.
    world.nodes[2].peer.set_transfer_mode(TransferMode::Unreliable);
    world.nodes[2].send(Target::Peer(ids[1]), b"enet to ws");
    world.nodes[2].peer.set_transfer_mode(TransferMode::Reliable);
    world.nodes[2].send(Target::AllExcept(ids[3]), b"enet but ws");
    world.fence(0, &[1, 2, 3, 4]);
    world.fence(1, &[0, 2, 3, 4]);
    world.fence(2, &[0, 1, 3, 4]);
    assert_eq!(world.receivers(b"s all"), set(&[1, 2, 3, 4]));
    assert_eq!(world.receivers(b"s to ws"), set(&[1]));
    assert_eq!(world.receivers(b"s to enet"), set(&[2]));
    assert_eq!(world.receivers(b"s but ws"), set(&[2, 3, 4]));
    assert_eq!(world.receivers(b"ws to enet"), set(&[2]));
    assert_eq!(world.receivers(b"ws to ws"), set(&[3]));
    assert_eq!(world.receivers(b"ws all"), set(&[0, 2, 3, 4]));
    assert_eq!(world.receivers(b"ws but enet"), set(&[0, 2, 3]));
    assert_eq!(world.receivers(b"ws clients"), set(&[2, 3, 4]));
    assert_eq!(world.receivers(b"ws to server"), set(&[0]));
    assert!(world.receivers(b"enet to ws").is_subset(&set(&[1])), "unreliable: at most there");
    assert_eq!(world.receivers(b"enet but ws"), set(&[0, 1, 4]));
    // Every relayed copy names its original sender; WebSocket copies arrive
    // on channel 0 as reliable, whatever they were sent with.
    for node in &world.nodes {
        for packet in node.packets() {
            let expected = match &packet.payload[..] {
                p if p.starts_with(b"s ") => ids[0],
                p if p.starts_with(b"ws ") => ids[1],
                p if p.starts_with(b"enet ") => ids[2],
                _ => continue,
            };
            assert_eq!(packet.from, expected, "{:?}", String::from_utf8_lossy(&packet.payload));
        }
    }
    let over_ws = world.nodes[1].packets().into_iter().find(|p| p.payload == b"enet but ws");
    let over_ws = over_ws.expect("delivered");
    assert_eq!((over_ws.channel, over_ws.mode), (0, TransferMode::Reliable));
}

#[test]
fn clients_of_either_transport_see_each_other_leave() {
    for profile in PROFILES {
        see_each_other_leave(profile);
    }
}

fn see_each_other_leave(profile: WireProfile) {
    let mut world = mixed_session(profile, 30);
    let ids: Vec<PeerId> = world.nodes.iter().map(Node::id).collect();
    // A WebSocket client closes: the server and the ENet clients hear it.
    world.nodes[1].close();
    assert!(
        world.run_until(|w| { [0, 2, 3, 4].iter().all(|&i| w.nodes[i].saw_departure(ids[1])) })
    );
    // An ENet client leaves gracefully: the WebSocket client hears it.
    world.nodes[2].peer.disconnect_peer(PeerId::SERVER, false).expect("connected");
    assert!(world.run_until(|w| { [0, 3, 4].iter().all(|&i| w.nodes[i].saw_departure(ids[2])) }));
    // The server drops a WebSocket client: it and the others hear it.
    world.nodes[0].peer.disconnect_peer(ids[3], false).expect("connected");
    assert!(world.run_until(|w| {
        w.nodes[3].saw_departure(PeerId::SERVER)
            && w.nodes[3].peer.connection_status() == ConnectionStatus::Disconnected
            && [0, 4].iter().all(|&i| w.nodes[i].saw_departure(ids[3]))
    }));
    // Nobody heard of a peer twice.
    for node in &world.nodes {
        for id in &ids[1..] {
            let joins = node
                .log
                .iter()
                .filter(|e| **e == Incoming::Event(PeerEvent::Connected(*id)))
                .count();
            assert!(joins <= 1, "{id} announced {joins} times");
        }
    }
}

#[test]
fn a_websocket_peer_alone_holds_three_clients_in_both_framings() {
    for profile in PROFILES {
        let listener = WsListener::new(local());
        let options = SessionOptions::default().id_seed(50);
        let server =
            WebSocketMultiplayerPeer::create_server(listener, 8, profile, options).expect("server");
        assert!(server.is_server());
        let url = format!("ws://{}/", server.local_addr().expect("listening"));
        let mut world = World { nodes: vec![Node::new(server)] };
        for _ in 0..3 {
            world.add(
                WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default())
                    .expect("client"),
            );
        }
        assert!(world.run_until(|w| w.everyone_in()), "{profile}");
        let ids: Vec<PeerId> = world.nodes.iter().map(Node::id).collect();
        world.nodes[0].send(Target::AllExcept(ids[2]), b"s but 2");
        world.nodes[1].send(Target::SERVER, b"1 to s");
        world.nodes[1].send(Target::Peer(ids[3]), b"1 to 3");
        world.nodes[3].send(Target::AllExcept(ids[1]), b"3 but 1");
        world.fence(0, &[1, 2, 3]);
        world.fence(1, &[0, 2, 3]);
        world.fence(3, &[0, 1, 2]);
        assert_eq!(world.receivers(b"1 to 3"), set(&[3]));
        assert_eq!(world.receivers(b"3 but 1"), set(&[0, 2]));
        assert_eq!(world.receivers(b"s but 2"), set(&[1, 3]));
        assert_eq!(world.receivers(b"1 to s"), set(&[0]));
        let stats = world.nodes[0].peer.max_packet_size();
        assert_eq!(stats, if profile == WireProfile::Relay { 65_527 } else { 65_536 });
    }
}

/// Polls `peers` until `done` holds; false if it did not within the limit.
fn drive(
    peers: &mut [&mut WebSocketMultiplayerPeer],
    mut done: impl FnMut(&[&mut WebSocketMultiplayerPeer]) -> bool,
) -> bool {
    let end = Instant::now() + LIMIT;
    while Instant::now() < end {
        for peer in peers.iter_mut() {
            if peer.poll_timeout(Duration::from_millis(1)).is_ok() {
                while peer.next_incoming().is_some() {}
            }
        }
        if done(peers) {
            return true;
        }
    }
    false
}

fn status(peer: &WebSocketMultiplayerPeer) -> ConnectionStatus {
    peer.connection_status()
}

#[test]
fn a_full_or_refusing_server_says_why_in_its_close_code() {
    for profile in PROFILES {
        let listener = WsListener::new(local());
        let mut server = WebSocketMultiplayerPeer::create_server(
            listener,
            1,
            profile,
            SessionOptions::default(),
        )
        .expect("server");
        let url = format!("ws://{}/", server.local_addr().expect("listening"));
        let client =
            || WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default());
        let mut first = client().expect("client");
        assert!(
            drive(&mut [&mut server, &mut first], |p| status(p[1]) == ConnectionStatus::Connected)
        );
        let mut second = client().expect("client");
        assert!(drive(&mut [&mut server, &mut second], |p| status(p[1])
            == ConnectionStatus::Disconnected));
        assert_eq!(second.refusal(), Some(RefuseReason::ServerFull), "{profile}");
        server.set_refuse_new_connections(true);
        assert!(server.is_refusing_new_connections());
        let mut third = client().expect("client");
        assert!(drive(&mut [&mut server, &mut third], |p| status(p[1])
            == ConnectionStatus::Disconnected));
        assert_eq!(third.refusal(), Some(RefuseReason::RefusingConnections), "{profile}");
        assert_eq!(server.stats().connections_refused, 2);
        // The one client stays undisturbed.
        assert_eq!(status(&first), ConnectionStatus::Connected);
        let stats = server.websocket_stats().expect("a server");
        assert_eq!(stats.opened, 3);
    }
}

#[test]
fn a_server_that_never_sends_an_id_times_the_client_out() {
    use volley::websocket::{WsEvent, WsServer};
    for profile in PROFILES {
        // A bare WebSocket server: it upgrades, then says nothing.
        let mut silent = WsServer::bind(local(), WsConfig::default()).expect("bind");
        let mut poll = mio::Poll::new().expect("poll");
        silent.register(poll.registry(), mio::Token(0)).expect("register");
        let url = format!("ws://{}/", silent.local_addr());
        let config = WsConfig::default().handshake_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let mut client = WebSocketMultiplayerPeer::create_client(
            &url,
            profile,
            WsClientOptions::default().config(config),
        )
        .expect("client");
        let mut events = mio::Events::with_capacity(16);
        let mut opened = false;
        let end = Instant::now() + LIMIT;
        while status(&client) != ConnectionStatus::Disconnected && Instant::now() < end {
            client.poll_timeout(Duration::from_millis(5)).expect("poll");
            poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
            for event in &events {
                silent.on_ready(event.token(), Instant::now());
            }
            silent.on_timer(Instant::now());
            while let Some((_, event)) = silent.poll_event() {
                opened |= event == WsEvent::Opened;
            }
        }
        assert!(opened, "{profile}: the upgrade itself succeeded");
        assert_eq!(status(&client), ConnectionStatus::Disconnected, "{profile}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(client.refusal(), None);
        assert_eq!(
            client.next_incoming(),
            Some(Incoming::Event(PeerEvent::ConnectionFailed(None))),
            "never connected: only the failure"
        );
        assert_eq!(client.next_incoming(), None);
    }
}

/// `wss://`: the same session over TLS, with the committed test CA.
#[cfg(feature = "tls")]
#[test]
fn a_session_over_wss() {
    use volley::websocket::tls;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/");
    let server_tls =
        tls::server_config_from_pem_files(format!("{dir}server.pem"), format!("{dir}server.key"))
            .expect("server TLS");
    let client_tls = tls::client_config_from_ca_pem_file(format!("{dir}ca.pem")).expect("CA");
    for profile in PROFILES {
        let listener = WsListener::new(local()).tls(server_tls.clone());
        let server = WebSocketMultiplayerPeer::create_server(
            listener,
            8,
            profile,
            SessionOptions::default(),
        )
        .expect("server");
        let url = format!("wss://localhost:{}/", server.local_addr().expect("listening").port());
        let mut world = World { nodes: vec![Node::new(server)] };
        for _ in 0..2 {
            let options = WsClientOptions::default().tls(client_tls.clone());
            world.add(
                WebSocketMultiplayerPeer::create_client(&url, profile, options).expect("client"),
            );
        }
        assert!(world.run_until(World::everyone_in), "{profile}");
        let ids: Vec<PeerId> = world.nodes.iter().map(Node::id).collect();
        world.nodes[1].send(Target::Peer(ids[2]), b"over TLS");
        world.fence(1, &[0, 2]);
        assert_eq!(world.receivers(b"over TLS"), set(&[2]));
    }
}

/// Polls both until `done` holds, collecting what each yielded.
fn drive_auth(
    server: &mut ServerSession,
    client: &mut WebSocketMultiplayerPeer,
    logs: &mut [Vec<Incoming>; 2],
    mut done: impl FnMut(&mut ServerSession, &mut WebSocketMultiplayerPeer, &[Vec<Incoming>; 2]) -> bool,
) -> bool {
    let end = Instant::now() + LIMIT;
    while Instant::now() < end {
        server.poll_timeout(Duration::from_millis(1)).expect("server poll");
        logs[0].extend(std::iter::from_fn(|| server.next_incoming()));
        client.poll_timeout(Duration::from_millis(1)).expect("client poll");
        logs[1].extend(std::iter::from_fn(|| client.next_incoming()));
        if done(server, client, logs) {
            return true;
        }
    }
    false
}

/// SceneMultiplayer's authentication between a session and a WebSocket
/// client: both exchange data, both complete, and only then connect; the
/// calls are typed errors once the peer is admitted or closed.
#[test]
fn a_websocket_client_authenticates_with_a_session() {
    let auth = SessionOptions::default().authentication(true).id_seed(70);
    let mut server = ServerSession::builder(WireProfile::Godot4)
        .options(auth)
        .websocket(WsListener::new(local()))
        .build()
        .expect("session");
    let url = format!("ws://{}/", server.local_addr(0).expect("websocket listener"));
    let options =
        WsClientOptions::default().session(SessionOptions::default().authentication(true));
    let mut client = WebSocketMultiplayerPeer::create_client(&url, WireProfile::Godot4, options)
        .expect("client");
    let mut logs = [Vec::new(), Vec::new()];
    let pending =
        |log: &[Incoming], id| log.contains(&Incoming::Event(PeerEvent::Authenticating(id)));
    assert!(drive_auth(&mut server, &mut client, &mut logs, |_, c, logs| {
        c.unique_id() != PeerId::SERVER
            && pending(&logs[0], c.unique_id())
            && pending(&logs[1], PeerId::SERVER)
    }));
    let id = client.unique_id();
    assert_eq!(client.connection_status(), ConnectionStatus::Connecting);

    client.send_auth(PeerId::SERVER, b"password").expect("pending");
    let mut message = None;
    assert!(drive_auth(&mut server, &mut client, &mut logs, |s, _, _| {
        message = s.next_auth_message();
        message.is_some()
    }));
    assert_eq!(message, Some(AuthMessage { from: id, data: b"password".to_vec() }));
    server.send_auth(id, b"welcome").expect("pending");
    assert!(drive_auth(&mut server, &mut client, &mut logs, |_, c, _| {
        message = c.next_auth_message();
        message.is_some()
    }));
    assert_eq!(message, Some(AuthMessage { from: PeerId::SERVER, data: b"welcome".to_vec() }));

    server.complete_auth(id).expect("pending");
    assert_eq!(server.send_auth(id, b"late"), Err(AuthError::Completed(id)));
    client.complete_auth(PeerId::SERVER).expect("pending");
    assert!(drive_auth(&mut server, &mut client, &mut logs, |_, c, logs| {
        logs[0].contains(&Incoming::Event(PeerEvent::Connected(id)))
            && c.connection_status() == ConnectionStatus::Connected
    }));
    assert_eq!(client.complete_auth(PeerId::SERVER), Err(AuthError::NotPending(PeerId::SERVER)));
    client.close();
    assert_eq!(client.send_auth(PeerId::SERVER, b"x"), Err(AuthError::NotPending(PeerId::SERVER)));
    server.close();
    assert_eq!(server.complete_auth(id), Err(AuthError::NotPending(id)));
}
