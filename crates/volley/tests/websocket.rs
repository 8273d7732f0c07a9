//! The WebSocket transport on real TCP sockets (127.0.0.1 only), bounded in
//! time: messages both ways, limits, bad input, timers, TLS.

#[path = "support/raw_ws.rs"]
mod raw_ws;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use raw_ws::{read_to_end, upgrade};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;
use volley::websocket::{
    CloseReason, ConnectionId, SendError, WsClient, WsConfig, WsEvent, WsServer,
};

const SERVER: Token = Token(1 << 20);
const LIMIT: Duration = Duration::from_secs(20);

/// A server and some clients in one poll, and everything they reported.
struct Net {
    poll: Poll,
    events: Events,
    server: WsServer,
    config: WsConfig,
    clients: Vec<WsClient>,
    server_log: Vec<(ConnectionId, WsEvent)>,
    client_logs: Vec<Vec<WsEvent>>,
}

impl Net {
    fn new(config: WsConfig) -> Self {
        let poll = Poll::new().expect("poll");
        let mut server = WsServer::bind(local(), config.clone()).expect("bind");
        server.register(poll.registry(), SERVER).expect("register");
        Self::with_server(poll, server, config)
    }

    fn with_server(poll: Poll, server: WsServer, config: WsConfig) -> Self {
        Self {
            poll,
            events: Events::with_capacity(256),
            server,
            config,
            clients: Vec::new(),
            server_log: Vec::new(),
            client_logs: Vec::new(),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.server.local_addr())
    }

    /// Dials the server; returns the client's index.
    fn dial(&mut self) -> usize {
        let url = self.url();
        self.dial_url(&url, None)
    }

    fn dial_url(&mut self, url: &str, tls: volley::websocket::ClientTls) -> usize {
        let mut client = WsClient::dial(url, &self.config, tls, Instant::now()).expect("dial");
        client.register(self.poll.registry(), Token(self.clients.len())).expect("register");
        self.clients.push(client);
        self.client_logs.push(Vec::new());
        self.clients.len() - 1
    }

    /// One round: poll (at most `wait`), readiness, timers, events, flush.
    fn turn(&mut self, wait: Duration) {
        let now = Instant::now();
        let mut deadline = self.server.next_deadline(now);
        for client in &self.clients {
            deadline = earliest(deadline, client.next_deadline(now));
        }
        let wait = deadline.map_or(wait, |d| d.saturating_duration_since(now).min(wait));
        self.poll.poll(&mut self.events, Some(wait)).expect("poll");
        let now = Instant::now();
        for event in &self.events {
            if self.server.handles(event.token()) {
                self.server.on_ready(event.token(), now);
            } else if let Some(client) = self.clients.get_mut(event.token().0) {
                client.on_ready(now);
            }
        }
        self.server.on_timer(now);
        for (client, log) in self.clients.iter_mut().zip(&mut self.client_logs) {
            client.on_timer(now);
            while let Some(event) = client.poll_event() {
                log.push(event);
            }
            client.flush();
        }
        while let Some(event) = self.server.poll_event() {
            self.server_log.push(event);
        }
        self.server.flush();
    }

    fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = Instant::now() + LIMIT;
        while !done(self) {
            if Instant::now() > end {
                return false;
            }
            self.turn(Duration::from_millis(20));
        }
        true
    }

    /// Runs for `span`, whatever happens.
    fn run_for(&mut self, span: Duration) {
        let end = Instant::now() + span;
        while Instant::now() < end {
            self.turn(Duration::from_millis(10));
        }
    }

    /// Upgrades a plain socket by hand on another thread while the server
    /// runs (see [`upgraded_socket`]).
    fn upgrade_raw(&mut self) -> TcpStream {
        let address = self.server.local_addr();
        let peer = thread::spawn(move || upgrade(address));
        assert!(self.run_until(|_| peer.is_finished()));
        peer.join().expect("upgrade")
    }

    fn opened(&self) -> Vec<ConnectionId> {
        self.server_log.iter().filter(|(_, e)| *e == WsEvent::Opened).map(|(id, _)| *id).collect()
    }

    fn closed(&self, id: ConnectionId) -> Option<&CloseReason> {
        self.server_log.iter().find_map(|(c, e)| match e {
            WsEvent::Closed(reason) if *c == id => Some(reason),
            _ => None,
        })
    }

    fn server_messages(&self, id: ConnectionId) -> Vec<&[u8]> {
        self.server_log
            .iter()
            .filter_map(|(c, e)| match e {
                WsEvent::Message { data, .. } if *c == id => Some(&data[..]),
                _ => None,
            })
            .collect()
    }

    fn client_messages(&self, client: usize) -> Vec<&[u8]> {
        self.client_logs[client]
            .iter()
            .filter_map(|e| match e {
                WsEvent::Message { data, .. } => Some(&data[..]),
                _ => None,
            })
            .collect()
    }

    fn client_closed(&self, client: usize) -> Option<&CloseReason> {
        self.client_logs[client].iter().find_map(|e| match e {
            WsEvent::Closed(reason) => Some(reason),
            _ => None,
        })
    }

    /// Dials `count` clients and runs until the server opened them all;
    /// returns their server-side ids in dial order.
    fn connect(&mut self, count: usize) -> Vec<ConnectionId> {
        let first = self.clients.len();
        for _ in 0..count {
            self.dial();
        }
        assert!(self.run_until(|net| {
            net.clients[first..].iter().all(WsClient::is_open)
                && net.opened().len() >= first + count
        }));
        // The server-side id of each new client, matched by address.
        self.clients[first..]
            .iter()
            .map(|client| {
                let address = client.local_addr();
                let opened = self.opened();
                let id = opened.into_iter().find(|&id| self.server.peer_addr(id) == address);
                id.expect("every client opened on the server")
            })
            .collect()
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A message with its index and a length that varies, so a mixed-up,
/// truncated or merged message shows.
fn numbered(i: usize) -> Vec<u8> {
    let len = 4 + (i * 7919) % 1500;
    let mut bytes = vec![(i % 251) as u8; len];
    bytes[..4].copy_from_slice(&(i as u32).to_le_bytes());
    bytes
}

/// A blocking tungstenite client on a plain socket, for tests that need a
/// peer Volley would never be.
fn raw_client(address: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).expect("timeout");
    let (ws, _) = tungstenite::client(format!("ws://{address}/raw"), stream).expect("upgrade");
    ws
}

#[test]
fn messages_flow_both_ways_in_order() {
    let mut net = Net::new(WsConfig::default());
    net.connect(3);
    let ids = net.opened();
    for (c, client) in net.clients.iter_mut().enumerate() {
        for i in 0..500 {
            client.send(numbered(c * 1000 + i).into()).expect("queued");
        }
    }
    assert!(net.run_until(|net| ids.iter().all(|&id| net.server_messages(id).len() == 500)));
    // Each connection's messages arrive whole and in order; the server
    // echoes them back on the connection they came from.
    let mut by_client = Vec::new();
    for &id in &ids {
        let first = net.server_messages(id)[0][..4].to_vec();
        let c = u32::from_le_bytes(first.try_into().expect("4 bytes")) as usize / 1000;
        let expected: Vec<Vec<u8>> = (0..500).map(|i| numbered(c * 1000 + i)).collect();
        assert_eq!(net.server_messages(id), expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        by_client.push((c, id));
    }
    for &(_, id) in &by_client {
        let echoes: Vec<Vec<u8>> = net.server_messages(id).iter().map(|m| m.to_vec()).collect();
        for echo in echoes {
            net.server.send(id, echo.into()).expect("queued");
        }
    }
    assert!(net.run_until(|net| (0..3).all(|c| net.client_messages(c).len() == 500)));
    for (c, _) in by_client {
        let expected: Vec<Vec<u8>> = (0..500).map(|i| numbered(c * 1000 + i)).collect();
        assert_eq!(net.client_messages(c), expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(
            !net.client_logs[c].iter().any(|e| matches!(e, WsEvent::Message { text: true, .. }))
        );
    }
    assert_eq!(net.server.stats().opened, 3);
    assert_eq!(net.server.connections(), 3);
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(net.server.path(ids[0]), Some("/"));
}

#[test]
fn text_frames_are_accepted_and_marked() {
    let mut net = Net::new(WsConfig::default());
    let address = net.server.local_addr();
    let peer = thread::spawn(move || {
        let mut ws = raw_client(address);
        ws.send(Message::text("héllo")).expect("send");
        ws.send(Message::binary(vec![0xFF, 0x00])).expect("send");
        // Wait for the server's word before leaving.
        loop {
            if let Message::Binary(data) = ws.read().expect("read") {
                return data;
            }
        }
    });
    assert!(net.run_until(|net| {
        net.server_log.iter().filter(|(_, e)| matches!(e, WsEvent::Message { .. })).count() == 2
    }));
    let id = net.opened()[0];
    assert_eq!(net.server.path(id), Some("/raw"));
    let messages: Vec<(Vec<u8>, bool)> = net
        .server_log
        .iter()
        .filter_map(|(_, e)| match e {
            WsEvent::Message { data, text } => Some((data.to_vec(), *text)),
            _ => None,
        })
        .collect();
    assert_eq!(messages, [("héllo".as_bytes().to_vec(), true), (vec![0xFF, 0x00], false)]);
    net.server.send(id, b"done"[..].into()).expect("queued");
    net.turn(Duration::ZERO);
    assert_eq!(&peer.join().expect("peer")[..], b"done");
}

#[test]
fn an_oversize_message_closes_that_peer_only() {
    let config = WsConfig::default().max_message_size(1000);
    let mut net = Net::new(config);
    let live = net.connect(1)[0];
    // Volley refuses to send an oversize message itself.
    assert_eq!(
        net.clients[0].send(vec![0; 1001].into()),
        Err(SendError::TooLarge { len: 1001, max: 1000 })
    );
    let address = net.server.local_addr();
    let abuser = thread::spawn(move || {
        let mut ws = raw_client(address);
        ws.send(Message::binary(vec![7; 1000])).expect("at the limit");
        ws.send(Message::binary(vec![7; 1001])).expect("sent");
        loop {
            match ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    });
    assert!(net.run_until(|net| {
        net.server_log.iter().any(|(id, e)| *id != live && matches!(e, WsEvent::Closed(_)))
    }));
    assert_eq!(abuser.join().expect("abuser"), Some(CloseCode::Size));
    let abuser_id = net.opened().into_iter().find(|&id| id != live).expect("abuser opened");
    assert_eq!(net.server_messages(abuser_id), [&[7u8; 1000][..]]);
    assert_eq!(net.closed(abuser_id), Some(&CloseReason::MessageTooBig));
    assert_eq!(net.server.stats().closed_for_abuse, 1);
    // The other peer goes on.
    net.clients[0].send(b"still here"[..].into()).expect("queued");
    assert!(net.run_until(|net| net.server_messages(live) == [b"still here"]));
    assert_eq!(net.closed(live), None);
}

#[test]
fn garbage_before_the_upgrade_fails_the_handshake() {
    let mut net = Net::new(WsConfig::default());
    let live = net.connect(1)[0];
    let address = net.server.local_addr();
    let garbage: [&[u8]; 4] = [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage that looks like TLS\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nand junk after the request",
    ];
    let peers = thread::spawn(move || {
        garbage
            .iter()
            .map(|bytes| {
                let mut stream = TcpStream::connect(address).expect("connect");
                stream.set_read_timeout(Some(LIMIT)).expect("timeout");
                stream.write_all(bytes).expect("write");
                let answer = read_to_end(&mut stream);
                !answer.starts_with(b"HTTP/1.1 101")
            })
            .collect::<Vec<bool>>()
    });
    assert!(net.run_until(|net| net.server.stats().handshakes_failed == 4));
    assert_eq!(peers.join().expect("peers"), [true; 4], "no garbage was upgraded");
    assert_eq!(net.server.stats().opened, 1);
    assert_eq!(net.server.handshaking(), 0);
    net.clients[0].send(b"undisturbed"[..].into()).expect("queued");
    assert!(net.run_until(|net| net.server_messages(live) == [b"undisturbed"]));
}

#[test]
fn garbage_after_the_upgrade_closes_that_peer_with_a_protocol_error() {
    let mut net = Net::new(WsConfig::default());
    let live = net.connect(1)[0];
    let address = net.server.local_addr();
    let cases: [&[u8]; 3] = [
        // An unmasked binary frame from a client.
        &[0x82, 0x02, b'h', b'i'],
        // A reserved opcode, masked.
        &[0x83, 0x80, 1, 2, 3, 4],
        // A text frame that is not UTF-8, masked with zeros.
        &[0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28],
    ];
    let peers = thread::spawn(move || {
        cases
            .iter()
            .map(|bytes| {
                let mut stream = upgrade(address);
                stream.write_all(bytes).expect("write");
                read_to_end(&mut stream)
            })
            .collect::<Vec<Vec<u8>>>()
    });
    assert!(net.run_until(|net| net.server.stats().closed_for_abuse == 3), "{:?}", net.server_log);
    let answers = peers.join().expect("peers");
    // Each got a close frame: 1002 (protocol error) or 1007 (invalid data).
    let codes: Vec<u16> = answers
        .iter()
        .map(|a| {
            assert_eq!(a[0], 0x88, "a close frame first: {a:?}");
            u16::from_be_bytes([a[2], a[3]])
        })
        .collect();
    assert_eq!(codes, [1002, 1002, 1007]);
    let reasons: Vec<&CloseReason> =
        net.opened().into_iter().filter(|&id| id != live).filter_map(|id| net.closed(id)).collect();
    assert!(
        matches!(
            reasons[..],
            [
                CloseReason::ProtocolViolation(_),
                CloseReason::ProtocolViolation(_),
                CloseReason::InvalidUtf8
            ]
        ),
        "{reasons:?}"
    );
    net.clients[0].send(b"undisturbed"[..].into()).expect("queued");
    assert!(net.run_until(|net| net.server_messages(live) == [b"undisturbed"]));
}

#[test]
fn a_silent_handshake_times_out() {
    let config = WsConfig::default().handshake_timeout(Duration::from_millis(300));
    let mut net = Net::new(config);
    let address = net.server.local_addr();
    let silent = thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.set_read_timeout(Some(LIMIT)).expect("timeout");
        // Half a request, then nothing.
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("write");
        let started = Instant::now();
        let answer = read_to_end(&mut stream);
        (answer, started.elapsed())
    });
    assert!(net.run_until(|net| net.server.stats().handshakes_timed_out == 1));
    let (answer, waited) = silent.join().expect("silent peer");
    assert!(answer.is_empty(), "nothing is answered to a half request");
    assert!(waited < Duration::from_secs(5), "closed after the timeout, not left open: {waited:?}");
    assert_eq!(net.server.connections(), 0);
}

#[test]
fn handshakes_beyond_the_cap_are_closed_at_accept() {
    let config = WsConfig::default().max_pending_handshakes(4);
    let mut net = Net::new(config);
    let live = net.connect(1)[0];
    let address = net.server.local_addr();
    let silent: Vec<TcpStream> =
        (0..10).map(|_| TcpStream::connect(address).expect("connect")).collect();
    assert!(net.run_until(|net| net.server.stats().refused_at_accept == 6));
    assert_eq!(net.server.handshaking(), 4);
    net.clients[0].send(b"undisturbed"[..].into()).expect("queued");
    assert!(net.run_until(|net| net.server_messages(live) == [b"undisturbed"]));
    drop(silent);
    assert!(net.run_until(|net| net.server.handshaking() == 0));
}

#[test]
fn refusing_new_connections_closes_them_at_accept() {
    let mut net = Net::new(WsConfig::default());
    let live = net.connect(1)[0];
    net.server.set_refuse_new_connections(true);
    assert!(net.server.is_refusing_new_connections());
    let refused = net.dial();
    assert!(net.run_until(|net| net.client_closed(refused).is_some()));
    assert!(!net.client_logs[refused].contains(&WsEvent::Opened));
    assert_eq!(net.server.stats().refused_at_accept, 1);
    assert_eq!(net.closed(live), None);
    net.server.set_refuse_new_connections(false);
    let welcome = net.dial();
    assert!(net.run_until(|net| net.clients[welcome].is_open()));
}

#[test]
fn a_dead_peer_is_found_by_pings_and_a_live_one_stays() {
    let config = WsConfig::default()
        .ping_interval(Duration::from_millis(100))
        .peer_timeout(Duration::from_millis(500));
    let mut net = Net::new(config);
    let live = net.connect(1)[0];
    // Upgraded, then never reads nor answers again.
    let dead = net.upgrade_raw();
    assert!(net.run_until(|net| net.server.stats().closed_for_silence == 1));
    let dead_id = net.opened().into_iter().find(|&id| id != live).expect("opened");
    assert_eq!(net.closed(dead_id), Some(&CloseReason::PeerTimeout));
    // The idle Volley client answers pings (and pings the server): both
    // stay open well past the timeout.
    net.run_for(Duration::from_millis(1200));
    assert_eq!(net.closed(live), None);
    assert_eq!(net.client_closed(0), None);
    drop(dead);
}

#[test]
fn a_peer_that_does_not_read_fills_its_queue() {
    let config = WsConfig::default().max_outbound_bytes(64 * 1024);
    let mut net = Net::new(config);
    let stuck = net.upgrade_raw();
    assert!(net.run_until(|net| !net.opened().is_empty()));
    let id = net.opened()[0];
    let message = vec![1u8; 1024];
    let mut sent = 0usize;
    let full = loop {
        match net.server.send(id, message.clone().into()) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        if sent.is_multiple_of(64) {
            net.turn(Duration::ZERO);
        }
        assert!(sent < 1 << 20, "the queue never filled");
    };
    assert_eq!(full, SendError::QueueFull);
    // What is queued is bounded: the kernel's socket buffers plus the cap.
    assert!(sent > 0);
    drop(stuck);
}

#[test]
fn a_graceful_close_delivers_queued_messages_first() {
    let mut net = Net::new(WsConfig::default());
    let id = net.connect(1)[0];
    for i in 0..100 {
        net.server.send(id, numbered(i).into()).expect("queued");
    }
    net.server.close(id, CloseCode::Normal, "bye");
    assert!(net.run_until(|net| net.client_closed(0).is_some() && net.closed(id).is_some()));
    let expected: Vec<Vec<u8>> = (0..100).map(numbered).collect();
    assert_eq!(net.client_messages(0), expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(
        net.client_closed(0),
        Some(&CloseReason::Remote { code: 1000, reason: "bye".into() })
    );
    assert_eq!(net.closed(id), Some(&CloseReason::Local));
    assert_eq!(net.server.send(id, b"late"[..].into()), Err(SendError::NotOpen));
}

#[test]
fn a_client_closing_is_heard_by_the_server() {
    let mut net = Net::new(WsConfig::default());
    let id = net.connect(1)[0];
    net.clients[0].send(b"last words"[..].into()).expect("queued");
    net.clients[0].close(Instant::now(), CloseCode::Away, "leaving");
    assert!(net.run_until(|net| net.closed(id).is_some() && net.client_closed(0).is_some()));
    assert_eq!(net.server_messages(id), [b"last words"]);
    assert_eq!(net.closed(id), Some(&CloseReason::Remote { code: 1001, reason: "leaving".into() }));
    assert_eq!(net.server.connections(), 0);
}

#[test]
fn an_aborted_connection_is_lost_to_the_other_side() {
    let mut net = Net::new(WsConfig::default());
    let id = net.connect(1)[0];
    net.server.abort(id);
    assert!(net.run_until(|net| net.client_closed(0).is_some()));
    assert!(matches!(net.client_closed(0), Some(CloseReason::ConnectionLost(_))));
    assert_eq!(net.closed(id), Some(&CloseReason::Local));
}

#[test]
fn dialling_a_closed_port_fails() {
    let address = std::net::TcpListener::bind(local()).expect("bind").local_addr().expect("addr");
    let mut net = Net::new(WsConfig::default());
    let client = net.dial_url(&format!("ws://{address}/"), None);
    assert!(net.run_until(|net| net.client_closed(client).is_some()));
    assert!(
        matches!(net.client_closed(client), Some(CloseReason::ConnectFailed(_))),
        "{:?}",
        net.client_closed(client)
    );
}

#[test]
fn bad_urls_are_typed_errors() {
    let config = WsConfig::default();
    for url in ["http://127.0.0.1:1/", "not a url", "ws:///nohost"] {
        assert!(
            matches!(
                WsClient::dial(url, &config, None, Instant::now()),
                Err(volley::websocket::DialError::InvalidUrl(_))
            ),
            "{url}"
        );
    }
    #[cfg(not(feature = "tls"))]
    assert!(matches!(
        WsClient::dial("wss://127.0.0.1:1/", &config, None, Instant::now()),
        Err(volley::websocket::DialError::TlsUnavailable)
    ));
}

#[test]
fn subprotocols_are_chosen_or_the_upgrade_is_refused() {
    let server_config = WsConfig::default().subprotocols(["godot", "chat"]);
    let mut net = Net::new(server_config);
    net.config = WsConfig::default().subprotocols(["chat"]);
    let agreeing = net.dial();
    net.config = WsConfig::default().subprotocols(["other"]);
    let disagreeing = net.dial();
    net.config = WsConfig::default();
    let silent = net.dial();
    assert!(net.run_until(|net| {
        net.clients[agreeing].is_open()
            && net.client_closed(disagreeing).is_some()
            && net.client_closed(silent).is_some()
    }));
    for client in [disagreeing, silent] {
        assert!(matches!(net.client_closed(client), Some(CloseReason::HandshakeFailed(_))));
    }
    assert_eq!(net.server.stats().handshakes_failed, 2);
}

#[cfg(feature = "tls")]
#[test]
fn wss_carries_messages_both_ways() {
    use volley::websocket::tls;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/");
    let server_tls =
        tls::server_config_from_pem_files(format!("{dir}server.pem"), format!("{dir}server.key"))
            .expect("server TLS");
    let client_tls =
        tls::client_config_from_ca_pem_file(format!("{dir}ca.pem")).expect("client TLS");
    let poll = Poll::new().expect("poll");
    let config = WsConfig::default();
    let mut server = WsServer::bind(local(), config.clone()).expect("bind").with_tls(server_tls);
    server.register(poll.registry(), SERVER).expect("register");
    let mut net = Net::with_server(poll, server, config);
    let port = net.server.local_addr().port();
    let client = net.dial_url(&format!("wss://localhost:{port}/"), Some(client_tls.clone()));
    assert!(net.run_until(|net| net.clients[client].is_open() && !net.opened().is_empty()));
    let id = net.opened()[0];
    let big: Vec<u8> = (0..60_000).map(|i| (i % 253) as u8).collect();
    net.clients[client].send(big.clone().into()).expect("queued");
    net.server.send(id, b"over TLS"[..].into()).expect("queued");
    assert!(net.run_until(
        |net| net.server_messages(id).len() == 1 && net.client_messages(client).len() == 1
    ));
    assert_eq!(net.server_messages(id), [&big[..]]);
    assert_eq!(net.client_messages(client), [b"over TLS"]);
    // A plain client against the TLS server fails its handshake; so does a
    // TLS client that does not trust the certificate's name.
    let plain = net.dial_url(&format!("ws://127.0.0.1:{port}/"), None);
    let wrong_name = net.dial_url(&format!("wss://127.0.0.2:{port}/"), Some(client_tls));
    assert!(net.run_until(
        |net| net.client_closed(plain).is_some() && net.client_closed(wrong_name).is_some()
    ));
    assert_eq!(net.closed(id), None);
}

#[cfg(feature = "tls")]
#[test]
fn tls_configuration_errors_are_typed() {
    use volley::websocket::tls::{self, TlsConfigError};
    assert!(matches!(
        tls::server_config_from_pem(b"", b""),
        Err(TlsConfigError::Pem(_) | TlsConfigError::NoCertificates)
    ));
    assert!(matches!(
        tls::client_config_from_ca_pem(b"no pem here"),
        Err(TlsConfigError::NoCertificates)
    ));
    assert!(matches!(
        tls::server_config_from_pem_files("/nonexistent.pem", "/nonexistent.key"),
        Err(TlsConfigError::Pem(_))
    ));
}

#[test]
fn handshake_headers_travel_both_ways() {
    let config = WsConfig::default().handshake_headers([("X-Server", "volley")]);
    let mut net = Net::new(config);
    let address = net.server.local_addr();
    let peer = thread::spawn(move || {
        let stream = TcpStream::connect(address).expect("connect");
        let (_, response) =
            tungstenite::client(format!("ws://{address}/"), stream).expect("upgrade");
        response.headers().get("x-server").map(|v| v.as_bytes().to_vec())
    });
    assert!(net.run_until(|_| peer.is_finished()));
    assert_eq!(peer.join().expect("peer").as_deref(), Some(&b"volley"[..]));
    // A client's headers go in its request.
    let listener = std::net::TcpListener::bind(local()).expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("address"));
    let config = WsConfig::default().handshake_headers([("X-Game", "chess")]);
    let mut client = WsClient::dial(&url, &config, None, Instant::now()).expect("dial");
    let (mut accepted, _) = listener.accept().expect("accept");
    accepted.set_read_timeout(Some(LIMIT)).expect("timeout");
    let end = Instant::now() + LIMIT;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.ends_with(b"\r\n\r\n") {
        assert!(Instant::now() < end);
        client.on_ready(Instant::now());
        accepted.set_nonblocking(true).expect("nonblocking");
        if let Ok(n) = accepted.read(&mut buf) {
            request.extend_from_slice(&buf[..n]);
        }
        thread::sleep(Duration::from_millis(5));
    }
    let request = String::from_utf8_lossy(&request).to_lowercase();
    assert!(request.contains("x-game: chess"), "{request}");
    let bad = WsConfig::default().handshake_headers([("Bad Name", "x")]);
    assert!(WsClient::dial(&url, &bad, None, Instant::now()).is_err());
}
