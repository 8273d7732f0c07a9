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

#[test]
fn connect_floods_are_bounded_by_half_open_limits() {
    let mut config = EndpointConfig::default();
    config.peer_limit(64).max_half_open(8, 4);
    let mut server = Endpoint::with_seed(config, 3).unwrap();
    let now = Instant::now();
    let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
    let connect = |id: u8| {
        let mut d = vec![0x8F, 0xFF, 0x12, 0x34, 0x82, 0xFF, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF];
        for v in [1392u32, 65536, 1, 0, 0, 5000, 2, 2] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&[id, 0, 0, 0, 0, 0, 0, 0]);
        d
    };
    let mut replies = 0;
    let mut biggest_reply = 0;
    for i in 0..100u8 {
        let from: SocketAddr = format!("10.1.0.{}:{}", i % 4, 1000 + u16::from(i)).parse().unwrap();
        let request = connect(i);
        server.handle_datagram(now, from, &request);
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            replies += 1;
            biggest_reply = biggest_reply.max(t.range.len());
            assert!(t.range.len() <= request.len(), "no reply larger than its request");
        }
    }
    assert_eq!(replies, 8, "total half-open limit");
    assert!(biggest_reply > 0);
    assert_eq!(server.stats().connects_ignored, 92);
}
