//! The real `volley-server` binary, end to end on 127.0.0.1: Volley clients
//! of both Godot generations join, see each other and talk through it;
//! stats on SIGUSR1; a clean stop on SIGTERM that tells every client; bad
//! flags and a port in use refused with a clear message.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use volley::multiplayer::enet::{EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions};
use volley::multiplayer::{ConnectionStatus, Incoming, MultiplayerPeer, PeerEvent, PeerId, Target};
use volley::websocket::tls::client_config_from_ca_pem_file;
use volley_proto::EndpointConfig;

/// Far more than any step takes; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running server and the lines it logs.
struct Server {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_volley-server"))
            .args(args)
            .env_remove("VOLLEY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Waits for a line containing every one of `words`; returns it.
    fn expect_line(&mut self, words: &[&str]) -> String {
        if let Some(line) = self.seen.iter().find(|l| words.iter().all(|w| l.contains(w))) {
            return line.clone();
        }
        let end = Instant::now() + PATIENCE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if words.iter().all(|w| line.contains(w)) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    panic!("no line with {words:?}; the server said:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// The ENet address from the "listening" line.
    fn address(&mut self) -> SocketAddr {
        self.listening("enet=").parse().expect("an address")
    }

    /// The value of `field` (such as `enet=`) in the "listening" line.
    fn listening(&mut self, field: &str) -> String {
        let line = self.expect_line(&["listening"]);
        let value = line.split(field).nth(1).and_then(|rest| rest.split_whitespace().next());
        value.unwrap_or_else(|| panic!("no {field} in {line}")).to_owned()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the server to exit; its exit code.
    fn wait(&mut self) -> i32 {
        let end = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                // Whatever it logged on the way out.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "the server did not exit:\n{}", self.seen.join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(
    server: SocketAddr,
    profile: WireProfile,
    options: EnetPeerOptions,
) -> EnetMultiplayerPeer {
    EnetMultiplayerPeer::create_client(server, 1, profile, options).expect("client created")
}

/// Polls `clients` until `done` holds, collecting what each receives.
fn poll_until(
    clients: &mut [&mut dyn MultiplayerPeer],
    received: &mut [Vec<Incoming>],
    mut done: impl FnMut(&[&mut dyn MultiplayerPeer], &[Vec<Incoming>]) -> bool,
) {
    let end = Instant::now() + PATIENCE;
    while !done(clients, received) {
        assert!(Instant::now() < end, "timed out; received: {received:?}");
        for (client, inbox) in clients.iter_mut().zip(received.iter_mut()) {
            client.poll_timeout(Duration::from_millis(5)).expect("poll");
            while let Some(incoming) = client.next_incoming() {
                inbox.push(incoming);
            }
        }
    }
}

fn joined(inbox: &[Incoming], id: PeerId) -> bool {
    inbox.contains(&Incoming::Event(PeerEvent::Connected(id)))
}

/// Two clients join, see each other, and one sends to the other through
/// the server; stats on demand; a clean stop that tells both.
fn relay_session(godot: &str, profile: WireProfile, extra: &[&str], options: EnetPeerOptions) {
    // The relay's decisions too, at trace level.
    let log = "info,volley_proto::connection=debug,volley::relay=trace";
    let mut args =
        vec!["--godot", godot, "--enet", "127.0.0.1:0", "--shutdown-grace", "5", "--log", log];
    args.extend_from_slice(extra);
    let mut server = Server::start(&args);
    let address = server.address();
    let mut a = client(address, profile, options.clone());
    let mut b = client(address, profile, options);
    let mut received = [Vec::new(), Vec::new()];
    poll_until(&mut [&mut a as &mut dyn MultiplayerPeer, &mut b], &mut received, |c, r| {
        c.iter().all(|c| c.connection_status() == ConnectionStatus::Connected)
            && joined(&r[0], c[1].unique_id())
            && joined(&r[1], c[0].unique_id())
    });
    let (a_id, b_id) = (a.unique_id(), b.unique_id());
    server.expect_line(&["client joined", &format!("peer={a_id}")]);
    server.expect_line(&["client joined", &format!("peer={b_id}")]);
    server.expect_line(&["client joined", "clients=2"]);

    // A to B, relayed by the server.
    a.set_target_peer(Target::Peer(b_id));
    a.put_packet(b"hello through the server").expect("queued");
    poll_until(&mut [&mut a as &mut dyn MultiplayerPeer, &mut b], &mut received, |_, r| {
        r[1].iter().any(|i| matches!(i, Incoming::Packet(p) if p.from == a_id && p.payload == b"hello through the server"))
    });

    let decision = if profile == WireProfile::Relay { "relay decision" } else { "relay request" };
    server.expect_line(&["volley::relay", decision, &format!("from={a_id}")]);

    // A stats line per client on SIGUSR1, and one for the session.
    server.signal("USR1");
    server.expect_line(&["volley_server::stats", &format!("peer={a_id}"), "rtt_ms="]);
    server.expect_line(&["volley_server::stats", &format!("peer={b_id}"), "bytes_received="]);
    server.expect_line(&["volley_server::stats", "session", "clients=2", "relayed=1"]);

    // SIGTERM: both clients are told, the server exits cleanly.
    server.signal("TERM");
    poll_until(&mut [&mut a as &mut dyn MultiplayerPeer, &mut b], &mut received, |c, _| {
        c.iter().all(|c| c.connection_status() == ConnectionStatus::Disconnected)
    });
    assert_eq!(server.wait(), 0, "{}", server.seen.join("\n"));
    server.expect_line(&["shutting down", "clients=2"]);
    server.expect_line(&["stopped", "told=2", "unacknowledged=0"]);
    // The engine's lifecycle lines come through the library's tracing.
    server.expect_line(&["volley_proto::connection", "connect request"]);
    server.expect_line(&["volley_proto::connection", "disconnected", "disconnected locally"]);
}

#[test]
fn godot3_clients_join_relay_and_are_told_on_shutdown() {
    relay_session("3", WireProfile::Relay, &[], EnetPeerOptions::default());
}

#[test]
fn godot4_clients_join_relay_and_are_told_on_shutdown() {
    relay_session("4", WireProfile::Godot4, &[], EnetPeerOptions::default());
}

#[test]
fn compression_and_checksums_when_both_ends_agree() {
    let mut endpoint = EndpointConfig::default();
    endpoint.checksum(true).range_coder(true);
    let options = EnetPeerOptions::default().endpoint(endpoint);
    relay_session("4", WireProfile::Godot4, &["--compress", "--checksum"], options);
}

#[test]
fn a_full_server_refuses_and_says_so() {
    let mut server =
        Server::start(&["--godot", "3", "--enet", "127.0.0.1:0", "--max-clients", "1"]);
    let address = server.address();
    let mut first = client(address, WireProfile::Relay, EnetPeerOptions::default());
    let mut second = client(address, WireProfile::Relay, EnetPeerOptions::default());
    let mut received = [Vec::new(), Vec::new()];
    poll_until(
        &mut [&mut first as &mut dyn MultiplayerPeer, &mut second],
        &mut received,
        |c, r| {
            c[0].connection_status() == ConnectionStatus::Connected
                && r[1].iter().any(|i| matches!(i, Incoming::Event(PeerEvent::ConnectionFailed(_))))
        },
    );
    server.expect_line(&["refused connections", "full=true"]);
    // A departure is logged with its reason.
    let first_id = first.unique_id();
    first.disconnect_peer(PeerId::SERVER, false).expect("connected");
    poll_until(
        &mut [&mut first as &mut dyn MultiplayerPeer, &mut second],
        &mut received,
        |c, _| c[0].connection_status() == ConnectionStatus::Disconnected,
    );
    server.expect_line(&[
        "client left",
        &format!("peer={first_id}"),
        "reason=closed by the remote",
    ]);
    server.signal("INT");
    assert_eq!(server.wait(), 0);
}

/// An ENet client and a WebSocket client (as a browser would be) in one
/// session: they see each other and talk through the server.
fn mixed_session(godot: &str, profile: WireProfile, tls: bool) {
    let tls_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../volley/tests/data/tls");
    let (cert, key) = (format!("{tls_dir}/server.pem"), format!("{tls_dir}/server.key"));
    let mut args = vec!["--godot", godot, "--enet", "127.0.0.1:0", "--websocket", "127.0.0.1:0"];
    if tls {
        args.extend(["--tls-cert", &cert, "--tls-key", &key]);
    }
    let mut server = Server::start(&args);
    let enet_address = server.address();
    let url = server.listening("websocket=");
    assert!(url.starts_with(if tls { "wss://" } else { "ws://" }), "{url}");
    // The test certificate is for "localhost".
    let url = url.replace("127.0.0.1", "localhost");
    let mut options = WsClientOptions::default();
    if tls {
        let ca = client_config_from_ca_pem_file(format!("{tls_dir}/ca.pem")).expect("test CA");
        options = options.tls(ca);
    }
    let mut web = WebSocketMultiplayerPeer::create_client(&url, profile, options).expect("dials");
    let mut desktop = client(enet_address, profile, EnetPeerOptions::default());
    let mut received = [Vec::new(), Vec::new()];
    poll_until(&mut [&mut web as &mut dyn MultiplayerPeer, &mut desktop], &mut received, |c, r| {
        joined(&r[0], c[1].unique_id()) && joined(&r[1], c[0].unique_id())
    });
    let (web_id, desktop_id) = (web.unique_id(), desktop.unique_id());
    web.set_target_peer(Target::Peer(desktop_id));
    web.put_packet(b"from the browser").expect("queued");
    desktop.set_target_peer(Target::Broadcast);
    desktop.put_packet(b"from the desktop").expect("queued");
    poll_until(&mut [&mut web as &mut dyn MultiplayerPeer, &mut desktop], &mut received, |_, r| {
        let got = |inbox: &[Incoming], from, bytes: &[u8]| {
            inbox
                .iter()
                .any(|i| matches!(i, Incoming::Packet(p) if p.from == from && p.payload == bytes))
        };
        got(&r[1], web_id, b"from the browser") && got(&r[0], desktop_id, b"from the desktop")
    });
    server.signal("TERM");
    poll_until(&mut [&mut web as &mut dyn MultiplayerPeer, &mut desktop], &mut received, |c, _| {
        c.iter().all(|c| c.connection_status() == ConnectionStatus::Disconnected)
    });
    assert_eq!(server.wait(), 0);
    server.expect_line(&["stopped", "told=2"]);
}

#[test]
fn godot3_websocket_and_enet_clients_share_a_session() {
    mixed_session("3", WireProfile::Relay, false);
}

#[test]
fn godot4_websocket_over_tls_and_enet_clients_share_a_session() {
    mixed_session("4", WireProfile::Godot4, true);
}

#[test]
fn bad_flags_are_refused_with_a_clear_message() {
    for (args, says) in [
        (&["--godot", "5", "--enet", "127.0.0.1:7777"][..], "invalid value '5' for '--godot"),
        (&["--godot", "3"][..], "--enet <ADDR>"),
        (&["--godot", "3", "--enet", "localhost"][..], "invalid value 'localhost' for '--enet"),
        (&["--godot", "3", "--enet", "127.0.0.1:0", "--max-clients", "0"][..], "--max-clients"),
        (
            &["--godot", "3", "--enet", "127.0.0.1:0", "--log", "volley=loud"][..],
            "invalid --log filter",
        ),
        (&["--config", "/nonexistent/volley.conf"][..], "cannot read the config file"),
    ] {
        refused(args, 2, says);
    }
}

/// Runs the server with `args`; checks that it exits with `code` and says
/// `says` on standard error.
fn refused(args: &[&str], code: i32, says: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_volley-server"))
        .args(args)
        .env_remove("VOLLEY_LOG")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
}

#[test]
fn a_port_in_use_is_refused_with_a_clear_message() {
    let udp = UdpSocket::bind("127.0.0.1:0").expect("a port");
    let udp = udp.local_addr().expect("bound").to_string();
    let says = format!("cannot listen on UDP {udp}: the port is already in use");
    refused(&["--godot", "4", "--enet", &udp], 1, &says);

    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let tcp = tcp.local_addr().expect("bound").to_string();
    let says = format!("cannot listen on TCP {tcp}: the port is already in use");
    refused(&["--godot", "3", "--enet", "127.0.0.1:0", "--websocket", &tcp], 1, &says);
}

#[test]
fn help_describes_the_flags() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_volley-server")).arg("--help").output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for flag in ["--godot <3|4>", "--enet <ADDR>", "--max-clients <N>", "--compress", "--checksum"]
    {
        assert!(stdout.contains(flag), "{flag} missing from\n{stdout}");
    }
}
