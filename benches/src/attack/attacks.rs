//! The attacks themselves. Each runs from the calling thread until its
//! count of datagrams is spent or its deadline passes, whichever comes
//! first, and leaves behind what it used (sockets, sessions) so that what
//! the server still sends them afterwards is counted too.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, RngCore};
use volley_proto::constants::{CONTROL_CHANNEL, MIN_FRAGMENT_SIZE, NO_PEER_ID};
use volley_proto::wire::{
    Command, CommandBody, CommandHeader, ConnectParams, DatagramWriter, Fragment, Header,
    MAX_HEADER_LEN, ThrottleParams,
};

use super::legit;
use super::raw::{Acks, RawPeer};
use super::server::{PeerNews, ServerLog};
use super::spoof::{CountingSocket, Tally};

/// How big an attack is.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Longest an attack runs.
    pub window: Duration,
    /// Garbage datagrams.
    pub garbage: usize,
    /// Mutated datagrams.
    pub mutations: usize,
    /// Distinct source addresses of the connect flood.
    pub flood_sources: u32,
    /// CONNECTs of the flood.
    pub flood_connects: usize,
    /// Datagrams with spoofed sessions.
    pub spoofed: usize,
    /// Peers opening fragment groups.
    pub bombers: usize,
    /// Datagrams of fragment groups, all bombers together.
    pub bomb_datagrams: usize,
    /// Peers that never acknowledge.
    pub silent_peers: usize,
    /// How long never-acknowledging peers keep pinging at most, waiting
    /// for the server to end their sessions.
    pub silent_limit: Duration,
    /// After an attack from spoofed addresses, how long what the server
    /// still sends them (resends) is counted.
    pub linger: Duration,
}

impl Scale {
    /// The full suite.
    pub const FULL: Self = Self {
        window: Duration::from_secs(10),
        garbage: 400_000,
        mutations: 200_000,
        flood_sources: 1_000_000,
        flood_connects: 2_000_000,
        spoofed: 300_000,
        bombers: 10,
        bomb_datagrams: 300_000,
        silent_peers: 4,
        silent_limit: Duration::from_secs(40),
        linger: Duration::from_secs(14),
    };

    /// The short version the tests run.
    pub const QUICK: Self = Self {
        window: Duration::from_secs(2),
        garbage: 40_000,
        mutations: 20_000,
        flood_sources: 200_000,
        flood_connects: 200_000,
        spoofed: 30_000,
        bombers: 4,
        bomb_datagrams: 30_000,
        silent_peers: 2,
        silent_limit: Duration::from_secs(20),
        linger: Duration::from_secs(3),
    };
}

/// What an attack needs to know.
pub(crate) struct Context {
    pub(crate) server: SocketAddrV4,
    pub(crate) deadline: Instant,
    pub(crate) scale: Scale,
    pub(crate) rng: SmallRng,
    pub(crate) log: ServerLog,
}

impl Context {
    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
}

/// What an attack left behind, still counting what the server sends to it.
#[derive(Debug, Default)]
pub(crate) struct Aftermath {
    /// Bytes sent from and received at attacker addresses.
    pub(crate) tally: Arc<Tally>,
    /// The attacker addresses never proved they receive what the server
    /// sends them (spoofed), so the 3× rule applies.
    pub(crate) unproven: bool,
    /// Sessions the attack opened, which the server should end by itself.
    pub(crate) sessions: Vec<RawPeer>,
    /// Sockets still counting.
    pub(crate) sockets: Vec<CountingSocket>,
    /// Addresses that must never become connected peers.
    pub(crate) must_not_connect: Vec<SocketAddr>,
    /// A fresh client's attempt to connect in the middle of the attack.
    pub(crate) late_connect: Option<Result<Duration, String>>,
}

impl Aftermath {
    fn new(unproven: bool) -> Self {
        Self { unproven, ..Self::default() }
    }

    /// Reads (and counts) what arrived for the attack's sessions, without
    /// answering.
    pub(crate) fn drain(&mut self) {
        for peer in &mut self.sessions {
            let _ = peer.pump(Acks::None);
        }
    }

    /// Addresses of the attack's sessions.
    pub(crate) fn session_addresses(&self) -> Vec<SocketAddr> {
        self.sessions.iter().filter_map(RawPeer::local_addr).collect()
    }
}

fn any_port() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
}

/// Address `index` of the part of 127.0.0.0/8 from `127.block.0.1` on
/// that only this attack uses (an address a /16, 65 534 of them, before
/// the next attack's block).
fn source(block: u8, index: u32) -> Ipv4Addr {
    let per_block = 65_534;
    let block = u32::from(block) + index / per_block;
    Ipv4Addr::from((127 << 24) + (block << 16) + index % per_block + 1)
}

fn command(ack: bool, channel: u8, seq: u16, body: CommandBody<'_>) -> Command<'_> {
    let unsequenced = matches!(body, CommandBody::SendUnsequenced { .. })
        || matches!(body, CommandBody::Disconnect { .. }) && !ack;
    Command {
        header: CommandHeader {
            acknowledge: ack,
            unsequenced,
            channel_id: channel,
            reliable_sequence_number: seq,
        },
        body,
    }
}

/// One datagram of `commands` with `header`, as bytes.
fn datagram(header: Header, commands: &[Command<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096 + MAX_HEADER_LEN];
    let mut writer = DatagramWriter::new(&mut buf, 4096, false);
    for c in commands {
        if writer.push(c).is_err() {
            break;
        }
    }
    let range = writer.finish(&header, None);
    buf[range].to_vec()
}

fn connect_command(connect_id: [u8; 4]) -> Command<'static> {
    command(
        true,
        CONTROL_CHANNEL,
        1,
        CommandBody::Connect {
            params: ConnectParams {
                outgoing_peer_id: 0,
                incoming_session_id: 0xFF,
                outgoing_session_id: 0xFF,
                mtu: 1392,
                window_size: 65536,
                channel_count: 2,
                incoming_bandwidth: 0,
                outgoing_bandwidth: 0,
                throttle: ThrottleParams { interval: 5000, acceleration: 2, deceleration: 2 },
                connect_id,
            },
            data: 0,
        },
    )
}

fn unaddressed(sent_time: u16) -> Header {
    Header { peer_id: NO_PEER_ID, session_id: 0, compressed: false, sent_time: Some(sent_time) }
}

/// Random bytes from 1 500 spoofed sources; half of them open with a
/// header naming one of the first slots and a command byte.
pub(crate) fn garbage(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(true);
    let socket = CountingSocket::bind(any_port(), Arc::clone(&after.tally))?;
    let mut buf = [0u8; 1400];
    for i in 0..cx.scale.garbage {
        if !cx.running() {
            break;
        }
        let len = cx.rng.random_range(0..=buf.len());
        cx.rng.fill_bytes(&mut buf[..len]);
        if len >= 5 && cx.rng.random_bool(0.5) {
            let slot: u16 =
                if cx.rng.random_bool(0.2) { NO_PEER_ID } else { cx.rng.random_range(0..16) };
            let word = 0x8000 | (cx.rng.random_range(0..4u16) << 12) | slot;
            buf[..2].copy_from_slice(&word.to_be_bytes());
            buf[4] = 0x80 | cx.rng.random_range(1..=12u8);
        }
        socket.send_from(source(10, i as u32 % 1500), &buf[..len], cx.server)?;
    }
    after.sockets.push(socket);
    Ok(after)
}

/// A datagram of every kind a client sends, built with the codec: the
/// seeds of [`mutations`] when the captured vectors are not at hand.
fn built_datagrams() -> Vec<Vec<u8>> {
    let header = Header { peer_id: 0, session_id: 0, compressed: false, sent_time: Some(0x1234) };
    let big = [0x5Au8; 1000];
    let piece = [0xA5u8; 600];
    let fragment = |number: u32| Fragment {
        start_sequence_number: 3,
        fragment_count: 2,
        fragment_number: number,
        total_length: 1200,
        fragment_offset: number * 600,
        data: &piece,
    };
    let ack = |seq| CommandBody::Acknowledge {
        received_reliable_sequence_number: seq,
        received_sent_time: 0x1200,
    };
    let sets: Vec<Vec<Command<'_>>> = vec![
        vec![
            command(false, CONTROL_CHANNEL, 1, ack(1)),
            command(true, CONTROL_CHANNEL, 2, CommandBody::Ping),
        ],
        vec![command(true, 0, 1, CommandBody::SendReliable { data: b"hello" })],
        vec![command(true, 1, 1, CommandBody::SendReliable { data: &big })],
        vec![command(
            false,
            0,
            1,
            CommandBody::SendUnreliable { unreliable_sequence_number: 1, data: b"u" },
        )],
        vec![command(
            false,
            0,
            0,
            CommandBody::SendUnsequenced { unsequenced_group: 1, data: b"x" },
        )],
        vec![command(true, 0, 3, CommandBody::SendFragment(fragment(0)))],
        vec![command(true, 0, 4, CommandBody::SendFragment(fragment(1)))],
        vec![command(false, 1, 0, CommandBody::SendUnreliableFragment(fragment(0)))],
        vec![command(
            true,
            CONTROL_CHANNEL,
            3,
            CommandBody::BandwidthLimit { incoming_bandwidth: 1, outgoing_bandwidth: 1 },
        )],
        vec![command(
            true,
            CONTROL_CHANNEL,
            4,
            CommandBody::ThrottleConfigure(ThrottleParams {
                interval: 1,
                acceleration: 32,
                deceleration: 32,
            }),
        )],
        vec![command(true, CONTROL_CHANNEL, 5, CommandBody::Disconnect { data: 7 })],
        vec![
            command(false, 0, 2, ack(2)),
            command(true, 0, 2, CommandBody::SendReliable { data: b"two" }),
            command(true, 0, 3, CommandBody::SendReliable { data: b"three" }),
            command(
                false,
                0,
                3,
                CommandBody::SendUnreliable { unreliable_sequence_number: 1, data: b"u" },
            ),
        ],
        vec![connect_command([1, 2, 3, 4])],
    ];
    sets.iter().map(|set| datagram(header, set)).collect()
}

/// The client-to-server datagrams captured from ENet's C library, if the
/// shared vectors are next to the checkout.
fn captured_datagrams() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        for line in text.lines() {
            let Some(hex) = line.strip_prefix("C>S ") else { continue };
            let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            out.extend(bytes);
        }
    }
    out
}

/// Mutates a datagram in place: flips, overwrites, cuts, extends or
/// repeats bytes.
fn mutate(d: &mut Vec<u8>, rng: &mut SmallRng) {
    for _ in 0..rng.random_range(1..=4) {
        if d.is_empty() {
            d.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..d.len());
        match rng.random_range(0..6) {
            0 => d[at] ^= 1 << rng.random_range(0..8),
            1 => d[at] = rng.random(),
            2 => d.truncate(at),
            3 => {
                let extra = rng.random_range(1..64);
                d.extend((0..extra).map(|_| rng.random::<u8>()));
            }
            4 => {
                let end = rng.random_range(at..=d.len());
                let copy = d[at..end].to_vec();
                d.extend_from_slice(&copy);
            }
            _ => {
                // A length or count field: set a byte to an extreme.
                d[at] = if rng.random() { 0xFF } else { 0 };
            }
        }
    }
}

/// Mutations of real datagrams (the captured ENet vectors and one of every
/// kind built here), sent in live sessions of the attacker's own, renewed
/// as they die.
pub(crate) fn mutations(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(false);
    let mut seeds = captured_datagrams();
    seeds.extend(built_datagrams());
    let mut peers: Vec<RawPeer> = Vec::new();
    let mut next_address = 0u32;
    let mut open = |rng: &mut SmallRng, after: &Aftermath| {
        next_address += 1;
        RawPeer::connect(
            source(60, next_address),
            cx.server.into(),
            4,
            Arc::clone(&after.tally),
            rng,
        )
    };
    for _ in 0..4 {
        peers.push(open(&mut cx.rng, &after)?);
    }
    for i in 0..cx.scale.mutations {
        if !cx.running() {
            break;
        }
        if i > 0 && i % 2_000 == 0 {
            // A mutated DISCONNECT may have ended a session: replace the oldest.
            let mut old = peers.remove(0);
            let _ = old.disconnect();
            after.sessions.push(old);
            if let Ok(peer) = open(&mut cx.rng, &after) {
                peers.push(peer);
            }
            if peers.is_empty() {
                break;
            }
        }
        let mut d = seeds[cx.rng.random_range(0..seeds.len())].clone();
        mutate(&mut d, &mut cx.rng);
        let count = peers.len();
        let peer = &mut peers[i % count];
        if d.len() >= 2 && cx.rng.random_bool(0.9) {
            // Into the attacker's own session, keeping the header flags.
            let word = peer.header_bytes();
            d[0] = (d[0] & 0xC0) | (word[0] & 0x3F);
            d[1] = word[1];
        }
        peer.send_bytes(&d)?;
        if i % 64 == 0 {
            for p in &mut peers {
                let _ = p.pump(Acks::All);
            }
        }
    }
    after.sessions.extend(peers);
    Ok(after)
}

/// CONNECTs from many spoofed sources, as fast as one thread sends them; a
/// fresh client tries to connect a third of the way in.
pub(crate) fn connect_flood(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(true);
    let socket = CountingSocket::bind(any_port(), Arc::clone(&after.tally))?;
    let server = cx.server;
    let start = Instant::now();
    let late_at = start + cx.deadline.saturating_duration_since(start) / 3;
    let mut late = None;
    for i in 0..cx.scale.flood_connects {
        if !cx.running() {
            break;
        }
        if late.is_none() && Instant::now() >= late_at {
            late = Some(std::thread::spawn(move || legit::connect_once(server.into())));
        }
        let connect_id: [u8; 4] = cx.rng.random();
        let bytes = datagram(unaddressed(i as u16), &[connect_command(connect_id)]);
        socket.send_from(source(100, i as u32 % cx.scale.flood_sources), &bytes, server)?;
    }
    if late.is_none() {
        late = Some(std::thread::spawn(move || legit::connect_once(server.into())));
    }
    after.late_connect = late.map(|t| t.join().unwrap_or_else(|_| Err("panicked".into())));
    after.sockets.push(socket);
    Ok(after)
}

/// Datagrams naming the first slots under every session id, from the
/// legitimate client's IP on another port and from other addresses:
/// reliable data, disconnects, pings, acknowledgements.
pub(crate) fn spoofed_sessions(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(true);
    let socket = CountingSocket::bind(any_port(), Arc::clone(&after.tally))?;
    for i in 0..cx.scale.spoofed {
        if !cx.running() {
            break;
        }
        let from =
            if cx.rng.random_bool(0.5) { Ipv4Addr::LOCALHOST } else { source(30, i as u32 % 5000) };
        let header = Header {
            peer_id: cx.rng.random_range(0..8),
            session_id: cx.rng.random_range(0..4),
            compressed: false,
            sent_time: Some(cx.rng.random()),
        };
        let seq: u16 = cx.rng.random();
        let body = match cx.rng.random_range(0..6) {
            0 => CommandBody::SendReliable { data: b"spoofed" },
            1 => CommandBody::Disconnect { data: 0 },
            2 => CommandBody::Ping,
            3 => CommandBody::Acknowledge {
                received_reliable_sequence_number: seq,
                received_sent_time: cx.rng.random(),
            },
            4 => CommandBody::SendUnsequenced { unsequenced_group: seq, data: b"spoofed" },
            _ => CommandBody::BandwidthLimit { incoming_bandwidth: 1, outgoing_bandwidth: 1 },
        };
        let (ack, channel) = match body {
            CommandBody::SendReliable { .. } => (true, 0),
            CommandBody::SendUnsequenced { .. } => (false, 0),
            CommandBody::Acknowledge { .. } => (false, 0),
            _ => (true, CONTROL_CHANNEL),
        };
        let bytes = datagram(header, &[command(ack, channel, seq, body)]);
        socket.send_from(from, &bytes, cx.server)?;
    }
    after.sockets.push(socket);
    Ok(after)
}

/// Fragment groups that never complete, from connected peers that
/// acknowledge everything (so they stay alive): 1-byte last pieces of
/// unreliable packets announcing 32 MiB, and 1-byte last pieces of
/// 2-fragment reliable packets, as many as fit each datagram.
pub(crate) fn fragment_bomb(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(false);
    let mut peers = Vec::new();
    for k in 0..cx.scale.bombers {
        peers.push(RawPeer::connect(
            source(50, k as u32),
            cx.server.into(),
            255,
            Arc::clone(&after.tally),
            &mut cx.rng,
        )?);
    }
    let size = MIN_FRAGMENT_SIZE;
    let large_count = (32 * 1024 * 1024 - 1) / size + 1;
    let mut channel = vec![0u8; peers.len()];
    let mut reliable_groups = vec![0u32; peers.len()];
    let byte = [0xB0u8; 1];
    for i in 0..cx.scale.bomb_datagrams {
        if !cx.running() {
            break;
        }
        let k = i % peers.len();
        let peer = &mut peers[k];
        let channels = peer.channels() as u8;
        let mut commands = Vec::with_capacity(56);
        for j in 0..50 {
            let c = channel[k];
            if (i + j) % 2 == 0 {
                let group = peer.next_unreliable(c);
                let number = large_count - 1;
                commands.push(command(
                    false,
                    c,
                    peer.current_reliable(c),
                    CommandBody::SendUnreliableFragment(Fragment {
                        start_sequence_number: group,
                        fragment_count: large_count,
                        fragment_number: number,
                        total_length: number * size + 1,
                        fragment_offset: number * size,
                        data: &byte,
                    }),
                ));
                if group == u16::MAX {
                    channel[k] = (c + 1) % channels;
                }
            } else {
                // Two sequence numbers a group, within 7 of the 16 windows.
                let start = peer.next_reliable(c);
                let seq = peer.next_reliable(c);
                commands.push(command(
                    true,
                    c,
                    seq,
                    CommandBody::SendFragment(Fragment {
                        start_sequence_number: start,
                        fragment_count: 2,
                        fragment_number: 1,
                        total_length: size + 1,
                        fragment_offset: size,
                        data: &byte,
                    }),
                ));
                reliable_groups[k] += 1;
                if reliable_groups[k] % 14_000 == 0 {
                    channel[k] = (c + 1) % channels;
                }
            }
        }
        peer.send(&commands)?;
        if i % 32 == 0 {
            for p in &mut peers {
                let _ = p.pump(Acks::All);
            }
        }
    }
    after.sessions = peers;
    Ok(after)
}

/// Connected peers that send 16 KiB reliable messages, which the echo
/// server answers, for the first quarter of the attack window (at most two
/// seconds), then only pings every 100 ms, and acknowledge nothing after
/// the handshake: they keep pinging until the server ends their sessions
/// or [`Scale::silent_limit`] passes.
pub(crate) fn never_acknowledging(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(false);
    let mut peers = Vec::new();
    for k in 0..cx.scale.silent_peers {
        peers.push(RawPeer::connect(
            source(40, k as u32),
            cx.server.into(),
            1,
            Arc::clone(&after.tally),
            &mut cx.rng,
        )?);
    }
    let message = vec![0x4Eu8; 16 * 1024];
    let piece = 1364;
    let count = message.len().div_ceil(piece) as u32;
    let start = Instant::now();
    let data_until = start + (cx.scale.window / 4).min(Duration::from_secs(2));
    let limit = start + cx.scale.silent_limit;
    let mut next = start;
    loop {
        let now = Instant::now();
        let ended = |peer: &RawPeer| {
            peer.local_addr().is_some_and(|a| cx.log.when(PeerNews::Disconnected(a)).is_some())
        };
        if now >= limit || peers.iter().all(ended) {
            break;
        }
        if now >= next {
            let data = now < data_until;
            next += Duration::from_millis(if data { 10 } else { 100 });
            for peer in &mut peers {
                let ping = peer.ping();
                peer.send(&[ping])?;
                if !data {
                    continue;
                }
                let start = peer.next_reliable(0);
                for number in 0..count {
                    let seq = if number == 0 { start } else { peer.next_reliable(0) };
                    let offset = number as usize * piece;
                    let data = &message[offset..(offset + piece).min(message.len())];
                    peer.send(&[command(
                        true,
                        0,
                        seq,
                        CommandBody::SendFragment(Fragment {
                            start_sequence_number: start,
                            fragment_count: count,
                            fragment_number: number,
                            total_length: message.len() as u32,
                            fragment_offset: offset as u32,
                            data,
                        }),
                    )])?;
                }
            }
        }
        for peer in &mut peers {
            let _ = peer.pump(Acks::None);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    after.sessions = peers;
    Ok(after)
}

/// An off-path attacker spoofing a victim's address: a CONNECT, then
/// datagrams for the first slots under every session id that acknowledge
/// the VERIFY_CONNECT it never saw (sent time guessed as 0) and carry a
/// ping and a 1000-byte reliable message, then spoofed pings every 100 ms.
/// The victim only counts what reaches it.
pub(crate) fn forged_handshake(mut cx: Context) -> io::Result<Aftermath> {
    let mut after = Aftermath::new(true);
    let victim = CountingSocket::bind(
        SocketAddrV4::new(Ipv4Addr::new(127, 0, 70, 1), 0),
        Arc::clone(&after.tally),
    )?;
    let server: SocketAddr = cx.server.into();
    let connect_id: [u8; 4] = cx.rng.random();
    victim.send_to(&datagram(unaddressed(0), &[connect_command(connect_id)]), server)?;
    std::thread::sleep(Duration::from_millis(20));
    let payload = [0x46u8; 1000];
    let guesses = |seq: u16| {
        (0..4u16).flat_map(move |slot| (0..4u8).map(move |session| (slot, session, seq)))
    };
    for (slot, session, _) in guesses(0) {
        let header =
            Header { peer_id: slot, session_id: session, compressed: false, sent_time: Some(0) };
        let ack = CommandBody::Acknowledge {
            received_reliable_sequence_number: 1,
            received_sent_time: 0,
        };
        let bytes = datagram(
            header,
            &[
                command(false, CONTROL_CHANNEL, 1, ack),
                command(true, CONTROL_CHANNEL, 2, CommandBody::Ping),
                command(true, 0, 1, CommandBody::SendReliable { data: &payload }),
            ],
        );
        victim.send_to(&bytes, server)?;
    }
    let mut seq = 3u16;
    while cx.running() {
        std::thread::sleep(Duration::from_millis(100));
        for (slot, session, seq) in guesses(seq) {
            let header = Header {
                peer_id: slot,
                session_id: session,
                compressed: false,
                sent_time: Some(cx.rng.random()),
            };
            victim.send_to(
                &datagram(header, &[command(true, CONTROL_CHANNEL, seq, CommandBody::Ping)]),
                server,
            )?;
        }
        seq = seq.wrapping_add(1);
    }
    after.must_not_connect.push(SocketAddr::V4(victim.local_addr()));
    after.sockets.push(victim);
    Ok(after)
}
