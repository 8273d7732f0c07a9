//! A real browser in a Volley session: headless Chromium loads
//! `tests/browser/session.html`, whose script speaks Godot's WebSocket
//! framing, while a Volley ENet client is in the same session. The browser
//! and the ENet client exchange packets in every target kind through the
//! server and see each other join and leave; the browser reports every
//! message it received, and this test checks each byte against the
//! reference layout (`godot-scene-and-web.md` §2), built here by hand.
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`); runs with
//! `cargo test -p volley --features browser-tests --test browser`.
#![cfg(feature = "browser-tests")]

#[path = "browser/chromium.rs"]
mod chromium;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chromium::Chromium;
use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::{ServerSession, SessionOptions};
use volley::multiplayer::websocket::WsListener;
use volley::multiplayer::{
    ConnectionStatus, Incoming, MultiplayerPeer, Packet, PeerEvent, PeerId, Target,
};

const LIMIT: Duration = Duration::from_secs(60);

fn page(ws: SocketAddr, framing: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/session.html");
    format!("file://{}?ws=ws://{ws}/&framing={framing}", path.display())
}

/// A peer and everything it yielded.
struct Node<P: MultiplayerPeer> {
    peer: P,
    log: Vec<Incoming>,
}

impl<P: MultiplayerPeer> Node<P> {
    fn step(&mut self) {
        self.peer.poll_timeout(Duration::from_millis(1)).expect("poll");
        while let Some(item) = self.peer.next_incoming() {
            self.log.push(item);
        }
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

    fn packets(&self) -> impl Iterator<Item = &Packet> {
        self.log.iter().filter_map(|item| match item {
            Incoming::Packet(packet) => Some(packet),
            Incoming::Event(_) => None,
        })
    }

    fn packet(&self, payload: &[u8]) -> Option<&Packet> {
        self.packets().find(|p| p.payload == payload)
    }

    fn send(&mut self, target: Target, payload: &[u8]) {
        self.peer.set_target_peer(target);
        self.peer.put_packet(payload).expect("put_packet");
    }
}

/// The server session, the ENet client, and the browser.
struct Scene {
    server: Node<ServerSession>,
    enet: Node<EnetMultiplayerPeer>,
    browser: Chromium,
    profile: WireProfile,
}

impl Scene {
    /// The session test page, speaking `profile`'s framing.
    fn new(profile: WireProfile, seed: u64) -> Self {
        let framing = if profile == WireProfile::Relay { "godot3" } else { "godot4" };
        let listener = WsListener::new("127.0.0.1:0".parse().expect("address"));
        Self::with_page(profile, seed, listener, &[], |ws| page(ws, framing))
    }

    /// A session, its ENet client connected, and a browser showing the page
    /// `page` names for the session's WebSocket address.
    fn with_page(
        profile: WireProfile,
        seed: u64,
        listener: WsListener,
        browser_flags: &[&str],
        page: impl FnOnce(SocketAddr) -> String,
    ) -> Self {
        let session = ServerSession::builder(profile)
            .max_clients(8)
            .options(SessionOptions::default().id_seed(seed))
            .enet(EnetListener::new("127.0.0.1:0".parse().expect("address")))
            .websocket(listener)
            .build()
            .expect("session");
        let enet_address = session.local_addr(0).expect("enet");
        let ws_address = session.local_addr(1).expect("websocket");
        let options = EnetPeerOptions::default().id_seed(seed + 1);
        let client = EnetMultiplayerPeer::create_client(enet_address, 1, profile, options);
        let mut server = Node { peer: session, log: Vec::new() };
        let mut enet = Node { peer: client.expect("enet client"), log: Vec::new() };
        let end = Instant::now() + LIMIT;
        while enet.peer.connection_status() != ConnectionStatus::Connected {
            assert!(Instant::now() < end, "the ENet client did not connect");
            server.step();
            enet.step();
        }
        let browser = Chromium::open(&page(ws_address), browser_flags);
        Self { server, enet, browser, profile }
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let end = Instant::now() + LIMIT;
        while !done(self) {
            assert!(
                Instant::now() < end,
                "{what}: timed out; browser said:\n{}",
                self.browser.console()
            );
            self.server.step();
            self.enet.step();
        }
    }

    /// The browser's id: the client the server has that is not the ENet one.
    fn browser_id(&self) -> Option<PeerId> {
        let enet = self.enet.peer.unique_id();
        self.server.log.iter().find_map(|item| match item {
            Incoming::Event(PeerEvent::Connected(id)) if *id != enet => Some(*id),
            _ => None,
        })
    }

    /// Sends an order to the browser, as the game's own packet; returns the
    /// bytes of that packet, as the browser will log it.
    fn order(&mut self, browser: PeerId, json: &str) -> Vec<u8> {
        let payload = match self.profile {
            WireProfile::Godot4 => [&[3u8][..], json.as_bytes()].concat(),
            _ => json.as_bytes().to_vec(),
        };
        self.server.send(Target::Peer(browser), &payload);
        match self.profile {
            WireProfile::Godot4 => payload,
            _ => godot3(0, 1, i32::from(browser), &payload),
        }
    }

    /// Asks the browser for its report and waits for it.
    fn report(&mut self, browser: PeerId, logged: &mut Vec<Vec<u8>>) -> Report {
        logged.push(self.order(browser, r#"{"cmd":"report"}"#));
        let prefix: &[u8] =
            if self.profile == WireProfile::Godot4 { b"\x03{\"id\"" } else { b"{\"id\"" };
        let count = self.reports();
        self.run_until("report", |s| s.reports() > count);
        let packet = self.server.packets().filter(|p| p.payload.starts_with(prefix)).nth(count);
        let packet = packet.expect("a report");
        assert_eq!(packet.from, browser);
        let json = &packet.payload[prefix.len() - 5..];
        Report::parse(std::str::from_utf8(json).expect("UTF-8 report"))
    }

    fn reports(&self) -> usize {
        let prefix: &[u8] =
            if self.profile == WireProfile::Godot4 { b"\x03{\"id\"" } else { b"{\"id\"" };
        self.server.packets().filter(|p| p.payload.starts_with(prefix)).count()
    }
}

/// The browser's report: its id, the peers it knows, every message it got
/// (hex), and whatever it found wrong.
#[derive(Debug)]
struct Report {
    id: i64,
    peers: Vec<i64>,
    log: Vec<String>,
    errors: Vec<String>,
}

impl Report {
    /// Reads the page's fixed JSON shape (numbers and plain strings only).
    fn parse(json: &str) -> Self {
        let field = |name: &str| -> &str {
            let start = json.find(&format!("\"{name}\":")).expect(name) + name.len() + 3;
            let rest = &json[start..];
            let end = if rest.starts_with('[') {
                rest.find(']').expect("]") + 1
            } else {
                rest.find([',', '}']).expect("end")
            };
            &rest[..end]
        };
        let list = |text: &str| -> Vec<String> {
            let inner = text.trim_start_matches('[').trim_end_matches(']');
            inner
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_matches('"').to_owned())
                .collect()
        };
        Self {
            id: field("id").parse().expect("id"),
            peers: list(field("peers")).iter().map(|p| p.parse().expect("peer")).collect(),
            log: list(field("log")),
            errors: list(field("errors")),
        }
    }
}

/// A Godot 3 WebSocket message, laid out by hand from the reference:
/// `[type u8][from i32 LE][to i32 LE][payload]`.
fn godot3(kind: u8, from: i32, to: i32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&from.to_le_bytes());
    bytes.extend_from_slice(&to.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn send_order(to: i32, payload: &[u8]) -> String {
    format!(r#"{{"cmd":"send","to":{to},"hex":"{}"}}"#, hex(payload))
}

#[test]
fn a_browser_and_an_enet_client_share_a_godot3_session() {
    let mut scene = Scene::new(WireProfile::Relay, 700);
    let e = scene.enet.peer.unique_id();
    scene.run_until("the browser joins", |s| {
        s.browser_id().is_some_and(|b| s.enet.saw(PeerEvent::Connected(b)))
    });
    let b = scene.browser_id().expect("joined");
    let (bi, ei) = (i32::from(b), i32::from(e));
    // The join, byte for byte: SYS_ID(b), SYS_ADD(1), SYS_ADD(e).
    let mut logged = vec![
        godot3(3, 1, 0, &bi.to_le_bytes()),
        godot3(1, 1, 0, &1i32.to_le_bytes()),
        godot3(1, 1, 0, &ei.to_le_bytes()),
    ];

    // The ENet client to the browser, every kind; the broadcast last, so
    // that once the server has it, everything before was relayed.
    scene.enet.send(Target::Peer(b), b"e to b");
    scene.enet.send(Target::AllExcept(PeerId::SERVER), b"e to clients");
    scene.enet.send(Target::AllExcept(b), b"e but b");
    scene.enet.send(Target::Broadcast, b"e to all");
    scene.run_until("the ENet client's packets", |s| s.server.packet(b"e to all").is_some());
    // Relayed copies keep their header: the ENet client's id and target.
    logged.push(godot3(0, ei, bi, b"e to b"));
    logged.push(godot3(0, ei, -1, b"e to clients"));
    logged.push(godot3(0, ei, 0, b"e to all"));

    // The browser to the ENet client and the server, every kind.
    for (to, payload) in [
        (ei, &b"b to e"[..]),
        (-1, b"b to clients"),
        (-ei, b"b but e"),
        (1, b"b to server"),
        (0, b"b to all"),
    ] {
        let json = send_order(to, payload);
        logged.push(scene.order(b, &json));
    }
    scene.run_until("the browser's packets", |s| {
        s.server.packet(b"b to all").is_some() && s.enet.packet(b"b to all").is_some()
    });
    for payload in [&b"b to e"[..], b"b to clients", b"b to all"] {
        let packet = scene.enet.packet(payload).expect("the ENet client got it");
        assert_eq!(packet.from, b, "relayed with the browser as sender");
    }
    assert!(scene.enet.packet(b"b but e").is_none());
    for payload in [&b"b but e"[..], b"b to server", b"b to all"] {
        assert_eq!(scene.server.packet(payload).map(|p| p.from), Some(b));
    }
    assert!(
        scene.server.packet(b"b to e").is_none() && scene.server.packet(b"b to clients").is_none()
    );

    // The server's own packets, every kind.
    scene.server.send(Target::Peer(b), b"s to b");
    scene.server.send(Target::Broadcast, b"s to all");
    scene.server.send(Target::AllExcept(e), b"s but e");
    scene.server.send(Target::AllExcept(b), b"s but b");
    logged.push(godot3(0, 1, bi, b"s to b"));
    logged.push(godot3(0, 1, 0, b"s to all"));
    logged.push(godot3(0, 1, -ei, b"s but e"));

    let report = scene.report(b, &mut logged);
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!((report.id, report.peers.clone()), (i64::from(bi), vec![i64::from(ei)]));
    let expected: Vec<String> = logged.iter().map(|m| hex(m)).collect();
    assert_eq!(report.log, expected, "every message the browser received, byte for byte");

    // The ENet client leaves: the browser is told (SYS_DEL).
    scene.enet.peer.disconnect_peer(PeerId::SERVER, false).expect("connected");
    scene.run_until("the ENet client leaves", |s| s.server.saw_departure(e));
    logged.push(godot3(2, 1, 0, &ei.to_le_bytes()));
    let report = scene.report(b, &mut logged);
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.peers, Vec::<i64>::new());
    assert_eq!(report.log, logged.iter().map(|m| hex(m)).collect::<Vec<_>>());

    // The browser leaves: the server hears it.
    scene.order(b, r#"{"cmd":"close"}"#);
    scene.run_until("the browser leaves", |s| s.server.saw_departure(b));
}

/// A SceneMultiplayer packet the way the reference lays it out.
fn scene_sys(sub: u8, id: i32, inner: &[u8]) -> Vec<u8> {
    let mut bytes = vec![7, sub];
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(inner);
    bytes
}

/// `send_bytes(data)` as Godot 4 frames it: `[03][data]`.
fn raw(data: &[u8]) -> Vec<u8> {
    [&[3u8][..], data].concat()
}

#[test]
fn a_browser_and_an_enet_client_share_a_godot4_session() {
    let mut scene = Scene::new(WireProfile::Godot4, 800);
    let e = scene.enet.peer.unique_id();
    scene.run_until("the browser joins", |s| {
        s.browser_id().is_some_and(|b| s.enet.saw(PeerEvent::Connected(b)))
    });
    let b = scene.browser_id().expect("joined");
    let (bi, ei) = (i32::from(b), i32::from(e));
    // §2.3: the id first, then ADD_PEER for the client already there.
    let mut logged = vec![bi.to_le_bytes().to_vec(), scene_sys(1, ei, &[])];

    // The ENet client to the browser (its relays), every kind.
    scene.enet.send(Target::Peer(b), &raw(b"e to b"));
    scene.enet.send(Target::AllExcept(PeerId::SERVER), &raw(b"e to clients"));
    scene.enet.send(Target::AllExcept(b), &raw(b"e but b"));
    scene.enet.send(Target::Broadcast, &raw(b"e to all"));
    scene.run_until("the ENet client's packets", |s| s.server.packet(&raw(b"e to all")).is_some());
    // The server rewrote each RELAY's destination to the source.
    logged.push(scene_sys(3, ei, &raw(b"e to b")));
    logged.push(scene_sys(3, ei, &raw(b"e to clients")));
    logged.push(scene_sys(3, ei, &raw(b"e to all")));
    // It consumed the copies for "all" and "all but b", not "clients".
    assert_eq!(scene.server.packet(&raw(b"e but b")).map(|p| p.from), Some(e));
    assert!(scene.server.packet(&raw(b"e to clients")).is_none());

    // The browser to the ENet client and the server, every kind, and one
    // text frame (Godot accepts them).
    for (to, payload) in [
        (ei, raw(b"b to e")),
        (-1, raw(b"b to clients")),
        (-ei, raw(b"b but e")),
        (1, raw(b"b to server")),
        (0, raw(b"b to all")),
    ] {
        let json = send_order(to, &payload);
        logged.push(scene.order(b, &json));
    }
    let text =
        format!(r#"{{"cmd":"send","to":1,"hex":"{}","text":true}}"#, hex(&raw(b"b as text")));
    logged.push(scene.order(b, &text));
    scene.run_until("the browser's packets", |s| {
        s.server.packet(&raw(b"b as text")).is_some() && s.enet.packet(&raw(b"b to all")).is_some()
    });
    for payload in [raw(b"b to e"), raw(b"b to clients"), raw(b"b to all")] {
        let packet = scene.enet.packet(&payload).expect("the ENet client got it");
        assert_eq!(packet.from, b, "relayed with the browser as sender");
    }
    assert!(scene.enet.packet(&raw(b"b but e")).is_none());
    for payload in [raw(b"b but e"), raw(b"b to server"), raw(b"b to all"), raw(b"b as text")] {
        assert_eq!(scene.server.packet(&payload).map(|p| p.from), Some(b));
    }
    for payload in [raw(b"b to e"), raw(b"b to clients")] {
        assert!(scene.server.packet(&payload).is_none());
    }

    // The server's own packets go bare: a client sees them from 1.
    scene.server.send(Target::Peer(b), &raw(b"s to b"));
    scene.server.send(Target::Broadcast, &raw(b"s to all"));
    scene.server.send(Target::AllExcept(e), &raw(b"s but e"));
    scene.server.send(Target::AllExcept(b), &raw(b"s but b"));
    logged.extend([raw(b"s to b"), raw(b"s to all"), raw(b"s but e")]);

    let report = scene.report(b, &mut logged);
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!((report.id, report.peers.clone()), (i64::from(bi), vec![i64::from(ei)]));
    let expected: Vec<String> = logged.iter().map(|m| hex(m)).collect();
    assert_eq!(report.log, expected, "every message the browser received, byte for byte");

    // The ENet client leaves: DEL_PEER reaches the browser.
    scene.enet.peer.disconnect_peer(PeerId::SERVER, false).expect("connected");
    scene.run_until("the ENet client leaves", |s| s.server.saw_departure(e));
    logged.push(scene_sys(2, ei, &[]));
    let report = scene.report(b, &mut logged);
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.peers, Vec::<i64>::new());
    assert_eq!(report.log, logged.iter().map(|m| hex(m)).collect::<Vec<_>>());

    scene.order(b, r#"{"cmd":"close"}"#);
    scene.run_until("the browser leaves", |s| s.server.saw_departure(b));
}

/// The chat example's page (`examples/chat.html`) joins a chat session and
/// says hello; an ENet client in the room reads it.
#[test]
fn the_chat_page_talks_to_enet_clients() {
    let listener = WsListener::new("127.0.0.1:0".parse().expect("address"));
    let mut scene = Scene::with_page(WireProfile::Relay, 900, listener, &[], |ws| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/chat.html");
        format!("file://{}?ws=ws://{ws}/&name=web&say=hello", path.display())
    });
    scene.run_until("the page says hello", |s| s.enet.packet(b"web: hello").is_some());
    let b = scene.browser_id().expect("joined");
    assert_eq!(scene.enet.packet(b"web: hello").map(|p| p.from), Some(b));
    assert_eq!(scene.server.packet(b"web: hello").map(|p| p.from), Some(b));
}

/// `wss://`, as a page served over https needs: the browser joins a Godot 4
/// session through TLS (Chromium told to accept the test certificate).
#[cfg(feature = "tls")]
#[test]
fn a_browser_joins_over_wss() {
    use volley::websocket::tls;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/");
    let server_tls =
        tls::server_config_from_pem_files(format!("{dir}server.pem"), format!("{dir}server.key"))
            .expect("server TLS");
    let listener = WsListener::new("127.0.0.1:0".parse().expect("address")).tls(server_tls);
    let flags = ["--ignore-certificate-errors"];
    let mut scene = Scene::with_page(WireProfile::Godot4, 1000, listener, &flags, |ws| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/session.html");
        format!("file://{}?ws=wss://localhost:{}/&framing=godot4", path.display(), ws.port())
    });
    let e = scene.enet.peer.unique_id();
    scene.run_until("the browser joins over TLS", |s| {
        s.browser_id().is_some_and(|b| s.enet.saw(PeerEvent::Connected(b)))
    });
    let b = scene.browser_id().expect("joined");
    let mut logged = vec![i32::from(b).to_le_bytes().to_vec(), scene_sys(1, i32::from(e), &[])];
    scene.enet.send(Target::Peer(b), &raw(b"over TLS"));
    scene.run_until("relayed", |s| s.server.peer.stats().packets_relayed > 0);
    logged.push(scene_sys(3, i32::from(e), &raw(b"over TLS")));
    let report = scene.report(b, &mut logged);
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.log, logged.iter().map(|m| hex(m)).collect::<Vec<_>>());
}
