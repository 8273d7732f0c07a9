//! Memory budgets under abuse: fragment groups that never complete, peers
//! that fill the host's budget, and what it costs the honest peer (nothing).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley_proto::wire::{Command, CommandBody, CommandHeader, DatagramWriter, Fragment, Header};
use volley_proto::{
    DisconnectReason, Endpoint, EndpointConfig, Event, PeerHandle, TRANSMIT_BUFFER_SIZE,
    TransferMode,
};

const SERVER: &str = "10.0.0.1:7000";

fn addr(n: usize) -> SocketAddr {
    format!("10.0.1.{}:7001", n + 1).parse().unwrap()
}

/// A server and clients joined in memory, on a virtual clock.
struct World {
    now: Instant,
    server: Endpoint,
    clients: Vec<Endpoint>,
    /// The server's handle of each client, and each client's of the server.
    on_server: Vec<PeerHandle>,
    to_server: Vec<PeerHandle>,
    /// The first two bytes of each client's datagrams (its slot and session).
    peer_word: Vec<[u8; 2]>,
    /// Whether the server's application reads its events.
    server_reads: bool,
    /// Payloads the server received, per client.
    received: Vec<Vec<Vec<u8>>>,
    server_events: Vec<Event>,
    buf: Vec<u8>,
}

impl World {
    fn new(server: EndpointConfig, clients: usize) -> Self {
        let mut world = Self {
            now: Instant::now(),
            server: Endpoint::with_seed(server, 1).unwrap(),
            clients: Vec::new(),
            on_server: Vec::new(),
            to_server: Vec::new(),
            peer_word: Vec::new(),
            server_reads: true,
            received: vec![Vec::new(); clients],
            server_events: Vec::new(),
            buf: vec![0; TRANSMIT_BUFFER_SIZE],
        };
        for n in 0..clients {
            let mut client = Endpoint::with_seed(EndpointConfig::default(), 10 + n as u64).unwrap();
            let peer = client.connect(world.now, SERVER.parse().unwrap(), 4, n as u32).unwrap();
            world.clients.push(client);
            world.to_server.push(peer);
        }
        world.run(Duration::from_millis(100));
        for e in std::mem::take(&mut world.server_events) {
            if let Event::Connected { peer, data } = e {
                assert_eq!(data as usize, world.on_server.len(), "connected in order");
                world.on_server.push(peer);
            }
        }
        assert_eq!(world.on_server.len(), clients);
        // Learn each client's peer word from a datagram it sends.
        for n in 0..clients {
            world.clients[n].send(world.to_server[n], 0, TransferMode::Reliable, b"hi").unwrap();
            let t = world.clients[n].poll_transmit(world.now, &mut world.buf).unwrap();
            world.peer_word.push([world.buf[t.range.start], world.buf[t.range.start + 1]]);
            let bytes = world.buf[t.range].to_vec();
            world.server.handle_datagram(world.now, addr(n), &bytes);
        }
        world.run(Duration::from_millis(50));
        world
    }

    /// Carries datagrams both ways, a millisecond a round, for `time`.
    fn run(&mut self, time: Duration) {
        let end = self.now + time;
        while self.now < end {
            self.now += Duration::from_millis(1);
            self.server.handle_timeout(self.now);
            for (n, client) in self.clients.iter_mut().enumerate() {
                client.handle_timeout(self.now);
                while let Some(t) = client.poll_transmit(self.now, &mut self.buf) {
                    self.server.handle_datagram(self.now, addr(n), &self.buf[t.range]);
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                if let Some(n) = (0..self.clients.len()).find(|&n| addr(n) == t.destination) {
                    self.clients[n].handle_datagram(
                        self.now,
                        SERVER.parse().unwrap(),
                        &self.buf[t.range],
                    );
                }
            }
            while self.server_reads {
                let Some(event) = self.server.poll_event() else { break };
                match event {
                    Event::Received { peer, payload, .. } => {
                        if let Some(n) = self.on_server.iter().position(|&p| p == peer) {
                            self.received[n].push(payload);
                        }
                    }
                    other => self.server_events.push(other),
                }
            }
            for client in &mut self.clients {
                while client.poll_event().is_some() {}
            }
        }
    }

    /// Client `n` sends `commands` in one datagram of its session, as if
    /// its own endpoint had (the attacker drives its side by hand).
    fn inject(&mut self, n: usize, commands: &[Command<'_>]) {
        let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
        let mut writer = DatagramWriter::new(&mut buf, 4096, false);
        for c in commands {
            writer.push(c).unwrap();
        }
        let word = u16::from_be_bytes(self.peer_word[n]);
        let header = Header {
            peer_id: word & 0x0FFF,
            session_id: ((word >> 12) & 3) as u8,
            compressed: false,
            sent_time: Some(self.now.elapsed().as_millis() as u16),
        };
        let range = writer.finish(&header, None);
        self.server.handle_datagram(self.now, addr(n), &buf[range]);
    }
}

/// Lone 1-byte last pieces of fragment groups on channel 1, `count` pairs:
/// a reliable one of a 2-fragment packet (starting at `reliable_base`),
/// then an unreliable one announcing a 32 MiB packet.
fn bomb(world: &mut World, n: usize, count: u16, reliable_base: u16) {
    let byte = [0xB0u8];
    let size = 544;
    let large = (32 * 1024 * 1024 - 1) / size + 1;
    let header = |acknowledge, reliable_sequence_number| CommandHeader {
        acknowledge,
        unsequenced: false,
        channel_id: 1,
        reliable_sequence_number,
    };
    for batch in 0..count / 25 {
        let mut commands = Vec::new();
        for i in 0..25 {
            let k = batch * 25 + i;
            let start = reliable_base + 2 * k;
            commands.push(Command {
                header: header(true, start + 1),
                body: CommandBody::SendFragment(Fragment {
                    start_sequence_number: start,
                    fragment_count: 2,
                    fragment_number: 1,
                    total_length: size + 1,
                    fragment_offset: size,
                    data: &byte,
                }),
            });
            commands.push(Command {
                header: header(false, 0),
                body: CommandBody::SendUnreliableFragment(Fragment {
                    start_sequence_number: k + 1,
                    fragment_count: large,
                    fragment_number: large - 1,
                    total_length: (large - 1) * size + 1,
                    fragment_offset: (large - 1) * size,
                    data: &byte,
                }),
            });
        }
        world.inject(n, &commands);
    }
}

/// The honest client 0 sends `count` reliable messages; all must arrive, in order.
fn honest_exchange(world: &mut World, count: u32) {
    let before = world.received[0].len();
    for i in 0..count {
        world.clients[0]
            .send(world.to_server[0], 0, TransferMode::Reliable, &i.to_le_bytes())
            .unwrap();
        world.run(Duration::from_millis(2));
    }
    world.run(Duration::from_millis(200));
    let got: Vec<u32> = world.received[0][before..]
        .iter()
        .map(|m| u32::from_le_bytes(m[..4].try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..count).collect::<Vec<_>>(), "every message, in order, once");
}

#[test]
fn a_fragment_bomb_costs_only_its_senders_a_bounded_amount() {
    let mut config = EndpointConfig::default();
    config.peer_limit(16);
    let mut world = World::new(config, 5);
    let baseline = world.server.waiting_data();
    for n in 1..5 {
        bomb(&mut world, n, 5000, 1);
    }
    // Each attacker holds at most its 256 groups, each with only its piece's
    // buffer (a lone last piece takes no packet buffer).
    let bound = 4 * 256 * (4096 + 3 * 64);
    let held = world.server.waiting_data() - baseline;
    assert!(held <= bound, "{held} bytes held for 4 attackers, bound {bound}");
    let stats = world.server.stats();
    assert!(stats.fragment_groups_shed > 0 && stats.dropped_waiting_data > 0, "{stats:?}");
    honest_exchange(&mut world, 200);
    // The attackers leave: every byte they held goes back.
    for n in 1..5 {
        world.server.reset(world.on_server[n]).unwrap();
    }
    assert_eq!(world.server.waiting_data(), baseline);
}

#[test]
fn a_peer_that_keeps_groups_no_sender_leaves_incomplete_is_evicted() {
    let mut world = World::new(EndpointConfig::default(), 2);
    // 256 reliable groups that never complete fill attacker 1's budget.
    bomb(&mut world, 1, 256, 1);
    world.run(Duration::from_secs(1));
    bomb(&mut world, 1, 50, 600);
    assert!(world.server_events.is_empty(), "refused, not evicted: they are young");
    // The attacker stays alive (its endpoint acknowledges everything) past
    // the timeout maximum, then sends more.
    world.run(Duration::from_secs(31));
    bomb(&mut world, 1, 50, 700);
    world.run(Duration::from_millis(1));
    assert_eq!(
        world.server_events,
        vec![Event::Disconnected {
            peer: world.on_server[1],
            reason: DisconnectReason::Evicted,
            data: 0
        }]
    );
    assert_eq!(world.server.stats().peers_evicted, 1);
    honest_exchange(&mut world, 50);
}

#[test]
fn peers_that_fill_the_host_budget_block_each_other_not_the_others() {
    // 8 slots and a 1 MiB host budget: a fair share of 128 KiB each. Four
    // peers send 8 KiB packets the application does not read (say it is
    // busy with them); the fifth, honest, still gets through.
    let mut config = EndpointConfig::default();
    config.peer_limit(8).max_host_waiting_data(1 << 20).max_waiting_data(512 * 1024);
    let mut world = World::new(config, 5);
    world.server_reads = false;
    let big = vec![0x42u8; 8 * 1024];
    for _ in 0..100 {
        for n in 1..5 {
            let _ = world.clients[n].send(world.to_server[n], 0, TransferMode::Reliable, &big);
        }
        world.run(Duration::from_millis(5));
    }
    let full = world.server.waiting_data();
    assert!(full >= 1 << 20, "the host budget is full: {full}");
    assert!(full <= (1 << 20) + 8 * 128 * 1024, "and bounded: {full}");
    assert!(world.server.stats().dropped_waiting_data > 0);
    // The honest peer sends while the budget stays full (nothing is read).
    for i in 0..100u32 {
        world.clients[0]
            .send(world.to_server[0], 0, TransferMode::Reliable, &i.to_le_bytes())
            .unwrap();
        world.run(Duration::from_millis(2));
    }
    world.run(Duration::from_millis(300));
    let honest = world.on_server[0];
    let mut got = Vec::new();
    while let Some(event) = world.server.poll_event() {
        if let Event::Received { peer, payload, .. } = event
            && peer == honest
            && payload.len() == 4
        {
            got.push(u32::from_le_bytes(payload[..4].try_into().unwrap()));
        }
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>(), "admitted within its fair share, in order");
}
