//! Garbage, truncated, replayed and spoofed datagrams are dropped and
//! counted; they never crash the endpoint and never disturb a live peer.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use support::sim::{CLIENT, SERVER, addr};
use volley_proto::{
    Endpoint, EndpointConfig, Event, PeerHandle, TRANSMIT_BUFFER_SIZE, TransferMode,
};

struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    buf: Vec<u8>,
    /// Every datagram the client sent, in order.
    recorded: Vec<Vec<u8>>,
    received: Vec<Vec<u8>>,
}

impl Pair {
    fn new(checksum: bool) -> Self {
        let mut config = EndpointConfig::default();
        config.checksum(checksum);
        Self {
            now: Instant::now(),
            client: Endpoint::with_seed(config.clone(), 1).unwrap(),
            server: Endpoint::with_seed(config, 2).unwrap(),
            buf: vec![0; TRANSMIT_BUFFER_SIZE],
            recorded: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Carries datagrams both ways for `rounds` milliseconds.
    fn run(&mut self, rounds: u32) {
        for _ in 0..rounds {
            self.now += Duration::from_millis(1);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                self.recorded.push(self.buf[t.range.clone()].to_vec());
                self.server.handle_datagram(self.now, addr(CLIENT), &self.buf[t.range]);
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                self.client.handle_datagram(self.now, addr(SERVER), &self.buf[t.range]);
            }
            while let Some(e) = self.server.poll_event() {
                match e {
                    Event::Received { payload, .. } => self.received.push(payload),
                    Event::Connected { .. } => {}
                    other => panic!("server saw {other:?}"),
                }
            }
        }
    }

    fn inject(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.server.handle_datagram(self.now, from, bytes);
    }
}

fn connected(checksum: bool) -> (Pair, PeerHandle) {
    let mut p = Pair::new(checksum);
    let now = p.now;
    let to_server = p.client.connect(now, addr(SERVER), 2, 0).unwrap();
    p.run(50);
    assert!(matches!(p.client.poll_event(), Some(Event::Connected { .. })));
    (p, to_server)
}

fn send_messages(p: &mut Pair, to_server: PeerHandle, range: std::ops::Range<u32>) {
    for i in range {
        p.client.send(to_server, (i % 2) as u8, TransferMode::Reliable, &i.to_le_bytes()).unwrap();
        if i % 10 == 0 {
            p.run(2);
        }
    }
    p.run(100);
}

fn attack(checksum: bool, seed: u64) {
    let (mut p, to_server) = connected(checksum);
    send_messages(&mut p, to_server, 0..100);
    let before = p.server.stats();
    let recorded = std::mem::take(&mut p.recorded);
    let mut rng = SmallRng::seed_from_u64(seed);
    let stranger: SocketAddr = "10.9.9.9:7001".parse().unwrap();
    // Garbage from the client's own address and from strangers.
    for _ in 0..5_000 {
        let len = rng.random_range(0..1500);
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let from = if rng.random() { addr(CLIENT) } else { stranger };
        p.inject(from, &junk);
    }
    for d in &recorded {
        // Every truncation.
        for cut in 0..d.len() {
            p.inject(addr(CLIENT), &d[..cut]);
        }
        // Replays, from the right and a wrong address.
        p.inject(addr(CLIENT), d);
        p.inject(stranger, d);
        // Wrong session bits, wrong peer slot.
        let mut spoofed = d.clone();
        spoofed[0] ^= 0x10;
        p.inject(addr(CLIENT), &spoofed);
        let mut other_slot = d.clone();
        other_slot[1] ^= 0x01;
        p.inject(addr(CLIENT), &other_slot);
        // One flipped bit anywhere.
        let mut flipped = d.clone();
        let at = rng.random_range(0..flipped.len());
        flipped[at] ^= 1 << rng.random_range(0..8);
        p.inject(addr(CLIENT), &flipped);
    }
    let after = p.server.stats();
    let dropped = |s: volley_proto::EndpointStats| {
        s.dropped_malformed + s.dropped_checksum + s.dropped_unknown_peer + s.dropped_out_of_state
    };
    assert!(dropped(after) - dropped(before) > 5_000, "{after:?}");
    // The connection carries on undisturbed: 200 messages, in order, once.
    send_messages(&mut p, to_server, 100..200);
    let got: Vec<u32> =
        p.received.iter().map(|m| u32::from_le_bytes(m[..4].try_into().unwrap())).collect();
    let mut per_channel: [Vec<u32>; 2] = Default::default();
    for i in got {
        per_channel[(i % 2) as usize].push(i);
    }
    assert_eq!(per_channel[0], (0..200).step_by(2).collect::<Vec<_>>(), "seed {seed}");
    assert_eq!(per_channel[1], (1..200).step_by(2).collect::<Vec<_>>(), "seed {seed}");
    assert!(p.client.poll_event().is_none(), "no disconnect on the client");
}

#[test]
fn hostile_datagrams_never_disturb_a_live_peer() {
    for seed in 0..5 {
        attack(false, seed);
    }
}

#[test]
fn hostile_datagrams_never_disturb_a_live_peer_with_checksums() {
    for seed in 0..5 {
        attack(true, seed);
    }
}

#[test]
fn a_spoofed_verify_connect_does_not_kill_a_connection_attempt() {
    let mut p = Pair::new(false);
    let now = p.now;
    let attempt = p.client.connect(now, addr(SERVER), 1, 0).unwrap();
    // A VERIFY_CONNECT with a wrong connect id and a DISCONNECT without the
    // refusal proof, both from the server's address to the client's slot 0.
    let mut verify = vec![0x80, 0x00, 0x12, 0x34, 0x83, 0xFF, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00];
    for v in [1392u32, 65536, 1, 0, 0, 5000, 2, 2] {
        verify.extend_from_slice(&v.to_be_bytes());
    }
    verify.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
    p.client.handle_datagram(now, addr(SERVER), &verify);
    p.client.handle_datagram(now, addr(SERVER), &[0x00, 0x00, 0x44, 0xFF, 0x00, 0x01, 0, 0, 0, 9]);
    assert!(p.client.poll_event().is_none());
    assert_eq!(p.client.peer_state(attempt), Some(volley_proto::PeerState::Connecting));
    p.run(50);
    assert!(
        matches!(p.client.poll_event(), Some(Event::Connected { .. })),
        "the real answer still connects"
    );
}

/// A CONNECT datagram as ENet sends it, with connect id `id`.
fn connect_datagram(id: u32) -> Vec<u8> {
    let mut d = vec![0x8F, 0xFF, 0x12, 0x34, 0x82, 0xFF, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF];
    for v in [1392u32, 65536, 1, 0, 0, 5000, 2, 2] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]);
    d
}

#[test]
fn connect_floods_are_answered_with_no_more_than_they_sent_and_bounded_per_address() {
    let mut config = EndpointConfig::default();
    config.peer_limit(64).max_half_open(8, 4);
    let mut server = Endpoint::with_seed(config, 3).unwrap();
    let now = Instant::now();
    let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
    let mut replies = 0;
    for i in 0..100u32 {
        let from: SocketAddr = format!("10.1.{}.1:{}", i, 1000 + i).parse().unwrap();
        let request = connect_datagram(i);
        server.handle_datagram(now, from, &request);
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            replies += 1;
            assert_eq!(t.destination, from);
            assert!(t.range.len() < request.len(), "no reply larger than its request");
        }
    }
    // A full table makes room: every CONNECT is answered, once.
    assert_eq!(replies, 100);
    assert_eq!(server.stats().half_open_evicted, 100 - 8);
    // One address may hold only four attempts at a time.
    for i in 100..110u32 {
        server.handle_datagram(now, "10.2.0.1:1000".parse().unwrap(), &connect_datagram(i));
    }
    assert_eq!(server.stats().connects_ignored, 6);
    while server.poll_transmit(now, &mut buf).is_some() {}
    // Nothing is resent on a timer to addresses that never answered.
    for ms in 1..=6_000 {
        let later = now + Duration::from_millis(ms);
        server.handle_timeout(later);
        assert!(server.poll_transmit(later, &mut buf).is_none(), "resent at {ms} ms");
    }
}

/// A client connects while a flood of CONNECTs from `flood` spoofed
/// addresses fills the half-open table many times over.
#[test]
fn a_client_connects_during_a_connect_flood() {
    let mut config = EndpointConfig::default();
    config.peer_limit(8);
    let mut server = Endpoint::with_seed(config, 4).unwrap();
    let mut client = Endpoint::with_seed(EndpointConfig::default(), 5).unwrap();
    let mut now = Instant::now();
    let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
    let mut flood = 0u32;
    let mut spoof = |server: &mut Endpoint, now: Instant, count: u32| {
        for _ in 0..count {
            let from: SocketAddr =
                format!("10.{}.{}.{}:7", 100 + flood / 65_536, flood / 256 % 256, flood % 256)
                    .parse()
                    .unwrap();
            server.handle_datagram(now, from, &connect_datagram(flood));
            flood += 1;
        }
    };
    // The table is full before the client starts.
    spoof(&mut server, now, 5000);
    let peer = client.connect(now, addr(SERVER), 1, 0).unwrap();
    for _ in 0..200 {
        now += Duration::from_millis(1);
        // A thousand more spoofed CONNECTs each millisecond.
        spoof(&mut server, now, 1000);
        client.handle_timeout(now);
        server.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            server.handle_datagram(now, addr(CLIENT), &buf[t.range]);
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if t.destination == addr(CLIENT) {
                client.handle_datagram(now, addr(SERVER), &buf[t.range]);
            }
        }
        if client.peer_state(peer) == Some(volley_proto::PeerState::Connected)
            && server.connected_peers().count() == 1
        {
            break;
        }
    }
    assert_eq!(client.peer_state(peer), Some(volley_proto::PeerState::Connected));
    let on_server: Vec<_> = server.connected_peers().collect();
    assert_eq!(on_server.len(), 1, "only the client that proved its address");
    assert_eq!(server.peer_address(on_server[0]), Some(addr(CLIENT)));
    assert!(server.stats().half_open_evicted > 0);
}

/// An off-path attacker spoofs a victim's address: it never sees the
/// VERIFY_CONNECT, so it guesses the slot, the session and the sent time
/// to acknowledge, and pings.
#[test]
fn a_blind_handshake_from_a_spoofed_address_never_connects_nor_amplifies() {
    let mut server = Endpoint::with_seed(EndpointConfig::default(), 6).unwrap();
    let victim: SocketAddr = "10.9.0.1:7001".parse().unwrap();
    let now = Instant::now();
    let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
    let (mut received, mut sent) = (0, 0);
    let mut pump = |server: &mut Endpoint, at: Instant, sent: &mut usize| {
        server.handle_timeout(at);
        while let Some(t) = server.poll_transmit(at, &mut buf) {
            assert_eq!(t.destination, victim);
            *sent += t.range.len();
        }
    };
    let connect = connect_datagram(7);
    server.handle_datagram(now, victim, &connect);
    received += connect.len();
    pump(&mut server, now, &mut sent);
    // Every slot it could be, every session, the sent times a clock started
    // at the server's first datagram would give, acknowledged with a ping.
    for guess in 0..2000u16 {
        let at = now + Duration::from_millis(u64::from(guess % 50));
        let (slot, session) = (guess % 4, (guess / 4 % 4) as u8);
        let mut d = vec![0x80 | (session << 4) | (slot >> 8) as u8, slot as u8];
        d.extend_from_slice(&(guess / 16).to_be_bytes());
        d.extend_from_slice(&[0x01, 0xFF, 0x00, 0x01, 0x00, 0x01]);
        d.extend_from_slice(&(guess / 16 + 1).to_be_bytes());
        d.extend_from_slice(&[0x85, 0xFF, 0x00, 0x02]);
        server.handle_datagram(at, victim, &d);
        received += d.len();
        pump(&mut server, at, &mut sent);
    }
    for ms in (0..30_000).step_by(100) {
        pump(&mut server, now + Duration::from_millis(ms), &mut sent);
    }
    while let Some(e) = server.poll_event() {
        assert!(!matches!(e, Event::Connected { .. }), "the victim was connected");
    }
    assert_eq!(server.connected_peers().count(), 0);
    assert!(sent <= 3 * received, "{sent} bytes sent to the victim for {received}");
    assert!(server.stats().handshake_proofs_failed > 0);
}

/// With manual accept the application holds a handle for each request,
/// naming the slot the connection will take: no two live requests may name
/// the same slot, even under a flood that evicts them.
#[test]
fn manual_accept_requests_name_distinct_slots_under_a_flood() {
    let mut config = EndpointConfig::default();
    config.peer_limit(8).manual_accept(true);
    let mut server = Endpoint::with_seed(config, 7).unwrap();
    let mut client = Endpoint::with_seed(EndpointConfig::default(), 8).unwrap();
    let mut now = Instant::now();
    let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
    let mut live = std::collections::HashMap::new();
    let mut flood = 0u32;
    let peer = client.connect(now, addr(SERVER), 1, 0).unwrap();
    for _ in 0..300 {
        now += Duration::from_millis(1);
        // Three spoofed CONNECTs a millisecond: more than the free slots
        // within a handshake's time, so requests are evicted all along.
        for _ in 0..3 {
            let from: SocketAddr =
                format!("10.7.{}.{}:7", flood / 256 % 256, flood % 256).parse().unwrap();
            server.handle_datagram(now, from, &connect_datagram(flood));
            flood += 1;
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            server.handle_datagram(now, addr(CLIENT), &buf[t.range]);
        }
        // The application accepts every request, as a game server does.
        while let Some(event) = server.poll_event() {
            match event {
                Event::ConnectRequest { peer, .. } => {
                    assert!(
                        live.insert(peer.index(), peer).is_none(),
                        "two live requests name slot {}",
                        peer.index()
                    );
                    server.accept(peer).unwrap();
                }
                Event::Disconnected { peer, .. } => {
                    assert_eq!(live.remove(&peer.index()), Some(peer));
                }
                Event::Connected { peer, .. } => {
                    assert_eq!(live.get(&peer.index()), Some(&peer), "the request's handle");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if t.destination == addr(CLIENT) {
                client.handle_datagram(now, addr(SERVER), &buf[t.range]);
            }
        }
    }
    assert_eq!(client.peer_state(peer), Some(volley_proto::PeerState::Connected));
    assert!(server.stats().half_open_evicted > 0);
}
