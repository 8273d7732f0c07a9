//! Real Godot 3 peers with Volley: Debian's `godot3-server` (Godot 3.2.3,
//! headless) runs the GDScript files in `tests/godot3/`.
//!
//! - Godot 3 WebSocket clients (`WebSocketClient`, multiplayer API on) and
//!   a Godot 3 ENet client (`NetworkedMultiplayerENet`) in one Volley
//!   session: they see each other, and `send_bytes` reaches each other in
//!   every target kind through the server, across transports.
//! - Volley WebSocket clients against a Godot 3 `WebSocketServer`.
//!
//! Needs `godot3-server` (`apt-get install -y godot3-server`); runs with
//! `cargo test -p volley --features godot3-tests --test godot3`.
#![cfg(feature = "godot3-tests")]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use volley::multiplayer::enet::EnetListener;
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::{ServerSession, SessionOptions};
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
use volley::multiplayer::{
    ConnectionStatus, DepartureReason, Incoming, MultiplayerPeer, Packet, PeerEvent, PeerId, Target,
};

const LIMIT: Duration = Duration::from_secs(90);

/// Godot 3's MultiplayerAPI command byte in front of `send_bytes` data
/// (`NETWORK_COMMAND_RAW`).
const RAW: u8 = 4;

/// A headless Godot 3 running one script; killed when dropped.
struct Godot {
    child: Child,
    log: PathBuf,
    /// Its working directory, where Godot writes its own logs (`logs/`).
    scratch: PathBuf,
}

impl Godot {
    fn run(script: &str, env: &[(&str, String)]) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let count = STARTED.fetch_add(1, Ordering::Relaxed);
        let unique = format!("volley-godot3-{}-{count}", std::process::id());
        let log = std::env::temp_dir().join(format!("{unique}.log"));
        let output = std::fs::File::create(&log).expect("log file");
        // Godot writes logs into its working directory: a scratch one, so
        // the repository stays clean.
        let scratch = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/godot3").join(script);
        let child = Command::new("godot3-server")
            .args(["--no-window", "-s"])
            .arg(&script)
            .current_dir(&scratch)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(output.try_clone().expect("log file"))
            .stderr(output)
            .stdin(Stdio::null())
            .spawn()
            .expect("godot3-server runs (apt-get install -y godot3-server)");
        Self { child, log, scratch }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait")
    }
}

impl Drop for Godot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn outputs(godots: &[Godot]) -> String {
    godots.iter().map(Godot::output).collect::<Vec<_>>().join("\n---\n")
}

fn raw(text: &str) -> Vec<u8> {
    [&[RAW][..], text.as_bytes()].concat()
}

/// A peer and everything it yielded.
struct Node<P: MultiplayerPeer> {
    peer: P,
    log: Vec<Incoming>,
}

impl<P: MultiplayerPeer> Node<P> {
    fn new(peer: P) -> Self {
        Self { peer, log: Vec::new() }
    }

    fn step(&mut self) {
        if self.peer.poll_timeout(Duration::from_millis(2)).is_ok() {
            while let Some(item) = self.peer.next_incoming() {
                self.log.push(item);
            }
        }
    }

    fn joined(&self) -> Vec<PeerId> {
        self.log
            .iter()
            .filter_map(|item| match item {
                Incoming::Event(PeerEvent::Connected(id)) => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn packets(&self) -> impl Iterator<Item = &Packet> {
        self.log.iter().filter_map(|item| match item {
            Incoming::Packet(packet) => Some(packet),
            Incoming::Event(_) => None,
        })
    }

    fn send(&mut self, target: Target, payload: &[u8]) {
        self.peer.set_target_peer(target);
        self.peer.put_packet(payload).expect("put_packet");
    }
}

/// A client's report: its id, the others it knew, every packet it got as
/// "from=text".
#[derive(Debug, PartialEq, Eq)]
struct Report {
    id: u32,
    others: BTreeSet<u32>,
    got: Vec<String>,
}

fn parse_report(payload: &[u8]) -> Option<Report> {
    let text = std::str::from_utf8(payload.strip_prefix(&[RAW])?).ok()?;
    let mut parts = text.strip_prefix("report:")?.splitn(3, '|');
    let id = parts.next()?.parse().ok()?;
    let others = parts.next()?.split(',').filter_map(|s| s.parse().ok()).collect();
    let got = parts.next()?.split(';').map(str::to_owned).collect();
    Some(Report { id, others, got })
}

#[test]
fn godot3_websocket_and_enet_clients_share_a_volley_session() {
    let session = ServerSession::builder(WireProfile::Relay)
        .max_clients(8)
        .options(SessionOptions::default().id_seed(900))
        .enet(EnetListener::new("127.0.0.1:0".parse().expect("address")))
        .websocket(WsListener::new("127.0.0.1:0".parse().expect("address")))
        .build()
        .expect("session");
    let enet = session.local_addr(0).expect("enet");
    let ws = session.local_addr(1).expect("websocket");
    let mut server = Node::new(session);
    let peers = ("VOLLEY_PEERS", "2".to_owned());
    let websocket_client = || {
        let env = [
            ("VOLLEY_TRANSPORT", "websocket".to_owned()),
            ("VOLLEY_URL", format!("ws://{ws}/")),
            peers.clone(),
        ];
        Godot::run("client.gd", &env)
    };
    let mut godots = vec![websocket_client(), websocket_client()];
    godots.push(Godot::run(
        "client.gd",
        &[
            ("VOLLEY_TRANSPORT", "enet".to_owned()),
            ("VOLLEY_HOST", enet.ip().to_string()),
            ("VOLLEY_PORT", enet.port().to_string()),
            peers,
        ],
    ));

    // Everyone in: the server greets each client.
    let end = Instant::now() + LIMIT;
    while server.joined().len() < 3 {
        assert!(Instant::now() < end, "the Godot clients did not join:\n{}", outputs(&godots));
        server.step();
    }
    let ids = server.joined();
    let session = &server.peer;
    let by_listener: Vec<usize> =
        ids.iter().map(|id| session.peer_listener(*id).expect("in")).collect();
    assert_eq!(by_listener.iter().filter(|l| **l == 1).count(), 2, "two over WebSocket");
    for id in &ids {
        server.send(Target::Peer(*id), &raw(&format!("hello:{id}")));
    }

    // Every client reports what it got.
    let mut reports = BTreeMap::new();
    while reports.len() < 3 {
        assert!(Instant::now() < end, "no reports:\n{}", outputs(&godots));
        server.step();
        for packet in server.packets() {
            if let Some(report) = parse_report(&packet.payload) {
                assert_eq!(
                    PeerId::try_from(report.id).ok(),
                    Some(packet.from),
                    "a report from its sender"
                );
                reports.insert(report.id, report);
            }
        }
    }
    let all: BTreeSet<u32> = ids.iter().map(|id| id.get()).collect();
    for (me, report) in &reports {
        let others: BTreeSet<u32> = all.iter().copied().filter(|o| o != me).collect();
        assert_eq!(report.others, others, "{me} knows the other two, whatever their transport");
        // Exactly what every other client sent it, with the right sender,
        // and the server's greeting.
        let mut expected = BTreeSet::from([format!("1=hello:{me}")]);
        for p in &others {
            let lowest_other_of_p = all.iter().copied().filter(|o| o != p).min().expect("two");
            expected.insert(format!("{p}=all:{p}"));
            expected.insert(format!("{p}=to:{p}:{me}"));
            if lowest_other_of_p != *me {
                expected.insert(format!("{p}=but:{p}:{lowest_other_of_p}"));
            }
        }
        let got: BTreeSet<String> = report.got.iter().cloned().collect();
        assert_eq!(got, expected, "what client {me} got");
        assert_eq!(report.got.len(), expected.len(), "nothing twice");
    }
    // The server got each client's broadcast, its own packet and the
    // all-but copy, byte for byte (Godot's RAW byte, then the text).
    for id in &ids {
        let lowest = all.iter().copied().filter(|o| *o != id.get()).min().expect("two");
        for text in [format!("all:{id}"), format!("srv:{id}"), format!("but:{id}:{lowest}")] {
            let packet = server.packets().find(|p| p.payload == raw(&text));
            assert_eq!(packet.map(|p| p.from), Some(*id), "{text}");
        }
    }
    // Goodbye: every client quits cleanly.
    server.send(Target::Broadcast, &raw("bye"));
    while godots.iter_mut().any(|g| g.exited().is_none()) {
        assert!(Instant::now() < end, "the Godot clients did not quit:\n{}", outputs(&godots));
        server.step();
    }
    for godot in &mut godots {
        assert!(godot.exited().is_some_and(|s| s.success()), "{}", godot.output());
    }
}

/// A free TCP port on 127.0.0.1 (for a server that is not ours to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

#[test]
fn volley_websocket_clients_join_a_godot3_websocket_server() {
    let port = free_port();
    let mut godot = Godot::run(
        "server.gd",
        &[("VOLLEY_PORT", port.to_string()), ("VOLLEY_PEERS", "2".to_owned())],
    );
    let end = Instant::now() + LIMIT;
    while !godot.output().contains("VOLLEY listening") {
        assert!(
            Instant::now() < end && godot.exited().is_none(),
            "no Godot server:\n{}",
            godot.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("ws://{}/", SocketAddr::from(([127, 0, 0, 1], port)));
    let client = || {
        let peer = WebSocketMultiplayerPeer::create_client(
            &url,
            WireProfile::Relay,
            WsClientOptions::default(),
        );
        Node::new(peer.expect("client"))
    };
    let mut clients = [client(), client()];
    // Both in, each told of the other by the Godot server (SYS_ADD).
    while !clients
        .iter()
        .all(|c| c.peer.connection_status() == ConnectionStatus::Connected && c.joined().len() == 2)
    {
        assert!(Instant::now() < end, "not connected:\n{}", godot.output());
        clients.iter_mut().for_each(Node::step);
    }
    let ids = [clients[0].peer.unique_id(), clients[1].peer.unique_id()];
    assert_ne!(ids[0], ids[1]);
    for (i, client) in clients.iter().enumerate() {
        assert!(client.joined().contains(&PeerId::SERVER));
        assert!(client.joined().contains(&ids[1 - i]), "told of the other client");
    }
    // Through the Godot server: to it, to the other client, to everyone.
    for i in 0..2 {
        let (me, other) = (ids[i], ids[1 - i]);
        clients[i].send(Target::SERVER, &raw(&format!("srv:{me}")));
        clients[i].send(Target::Peer(other), &raw(&format!("to:{me}:{other}")));
        clients[i].send(Target::Broadcast, &raw(&format!("all:{me}")));
    }
    let wanted = |i: usize| {
        let (me, other) = (ids[i], ids[1 - i]);
        vec![
            (PeerId::SERVER, raw(&format!("hello:{me}"))),
            (PeerId::SERVER, raw(&format!("echo:srv:{me}"))),
            (PeerId::SERVER, raw(&format!("echo:all:{me}"))),
            (other, raw(&format!("to:{other}:{me}"))),
            (other, raw(&format!("all:{other}"))),
        ]
    };
    let has_all = |c: &Node<WebSocketMultiplayerPeer>, i: usize| {
        wanted(i)
            .iter()
            .all(|(from, payload)| c.packets().any(|p| p.from == *from && p.payload == *payload))
    };
    while !(has_all(&clients[0], 0) && has_all(&clients[1], 1)) {
        assert!(Instant::now() < end, "not everything arrived:\n{}", godot.output());
        clients.iter_mut().for_each(Node::step);
    }
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(client.packets().count(), wanted(i).len(), "nothing else, nothing twice");
        for packet in client.packets() {
            assert_eq!((packet.channel, packet.mode), (0, volley::TransferMode::Reliable));
        }
    }
    // Done: the Godot server quits; the clients see it go.
    for client in &mut clients {
        client.send(Target::SERVER, &raw("done"));
    }
    while !clients.iter().all(|c| c.peer.connection_status() == ConnectionStatus::Disconnected) {
        assert!(Instant::now() < end, "the server did not go:\n{}", godot.output());
        clients.iter_mut().for_each(Node::step);
    }
    for (i, client) in clients.iter().enumerate() {
        let other = ids[1 - i];
        assert!(
            client.log.iter().any(
                |e| matches!(e, Incoming::Event(PeerEvent::Disconnected(id, _)) if *id == other)
            ),
            "the other client's departure"
        );
        // Godot's server says goodbye as it quits.
        let server_left = PeerEvent::Disconnected(PeerId::SERVER, DepartureReason::Closed);
        assert!(client.log.contains(&Incoming::Event(server_left)), "{:?}", client.log);
    }
    let output = godot.output();
    for id in ids {
        for text in [format!("{id}=srv:{id}"), format!("{id}=all:{id}"), format!("{id}=done")] {
            assert!(output.contains(&text), "the Godot server got {text}:\n{output}");
        }
    }
}
