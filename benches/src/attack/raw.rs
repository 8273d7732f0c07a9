//! A peer driven by hand, command by command, for attacks that need a real
//! session (fragment bombs, never-acknowledging peers, mutated datagrams):
//! it completes the handshake like any ENet client, then sends whatever it
//! is told and acknowledges what it receives only if asked to.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use volley_proto::constants::{CONTROL_CHANNEL, DEFAULT_MTU, NO_PEER_ID};
use volley_proto::wire::{
    Command, CommandBody, CommandHeader, ConnectParams, Datagram, DatagramWriter, Header,
    MAX_HEADER_LEN, ThrottleParams,
};

use super::spoof::{ATTACKER_BUFFER, Tally};

/// How long a handshake may take before the attacker gives up on it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// CONNECT resend interval while no VERIFY_CONNECT came.
const CONNECT_RESEND: Duration = Duration::from_millis(200);

/// The throttle parameters every ENet client sends.
const THROTTLE: ThrottleParams =
    ThrottleParams { interval: 5000, acceleration: 2, deceleration: 2 };

/// What a [`RawPeer`] does with the reliable commands it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Acknowledge each one, as a live client does.
    All,
    /// Read and count them, acknowledge nothing.
    None,
}

/// An ENet session driven command by command.
#[derive(Debug)]
pub struct RawPeer {
    socket: UdpSocket,
    server: SocketAddr,
    /// The server's slot for this session (the peer id of our headers).
    pub slot: u16,
    /// The session id our headers carry.
    pub session: u8,
    epoch: Instant,
    control_seq: u16,
    reliable_seq: Vec<u16>,
    unreliable_seq: Vec<u16>,
    tally: Arc<Tally>,
    buf: Vec<u8>,
    pending_acks: Vec<(u8, u16, u16)>,
}

impl RawPeer {
    /// Binds `ip` and completes a handshake with `server` for `channels`
    /// channels, acknowledging the VERIFY_CONNECT as an ENet client does.
    pub fn connect(
        ip: Ipv4Addr,
        server: SocketAddr,
        channels: u8,
        tally: Arc<Tally>,
        rng: &mut impl Rng,
    ) -> io::Result<Self> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        socket.set_recv_buffer_size(ATTACKER_BUFFER)?;
        socket.bind(&SocketAddr::from((ip, 0)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(10)))?;
        let mut peer = Self {
            socket,
            server,
            slot: NO_PEER_ID,
            session: 0,
            epoch: Instant::now(),
            control_seq: 1,
            reliable_seq: vec![0; usize::from(channels)],
            unreliable_seq: vec![0; usize::from(channels)],
            tally,
            buf: vec![0; 4096 + MAX_HEADER_LEN],
            pending_acks: Vec::new(),
        };
        let connect_id: [u8; 4] = rng.random();
        let connect = Command {
            header: CommandHeader {
                acknowledge: true,
                unsequenced: false,
                channel_id: CONTROL_CHANNEL,
                reliable_sequence_number: 1,
            },
            body: CommandBody::Connect {
                params: ConnectParams {
                    outgoing_peer_id: 0,
                    incoming_session_id: 0xFF,
                    outgoing_session_id: 0xFF,
                    mtu: DEFAULT_MTU,
                    window_size: 65536,
                    channel_count: u32::from(channels),
                    incoming_bandwidth: 0,
                    outgoing_bandwidth: 0,
                    throttle: THROTTLE,
                    connect_id,
                },
                data: 0,
            },
        };
        let started = Instant::now();
        let mut last_connect: Option<Instant> = None;
        loop {
            if started.elapsed() > HANDSHAKE_TIMEOUT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no VERIFY_CONNECT"));
            }
            if last_connect.is_none_or(|at| at.elapsed() >= CONNECT_RESEND) {
                peer.send_header(NO_PEER_ID, 0, &[connect])?;
                last_connect = Some(Instant::now());
            }
            let Ok(n) = peer.socket.recv(&mut peer.buf) else { continue };
            peer.tally.add_received(n);
            let Ok(datagram) = Datagram::parse(&peer.buf[..n], false) else { continue };
            let sent_time = datagram.header().sent_time.unwrap_or(0);
            let verify = datagram.commands().flatten().find_map(|c| match c.body {
                CommandBody::VerifyConnect(params) if params.connect_id == connect_id => {
                    Some((c.header.reliable_sequence_number, params))
                }
                _ => None,
            });
            if let Some((seq, params)) = verify {
                peer.slot = params.outgoing_peer_id;
                peer.session = params.outgoing_session_id & 3;
                peer.reliable_seq.truncate(params.channel_count as usize);
                peer.unreliable_seq.truncate(params.channel_count as usize);
                peer.pending_acks.push((CONTROL_CHANNEL, seq, sent_time));
                peer.flush_acks()?;
                return Ok(peer);
            }
        }
    }

    /// Channels of the session.
    pub fn channels(&self) -> usize {
        self.reliable_seq.len()
    }

    /// Milliseconds since the peer started, as the low 16 bits ENet sends.
    fn sent_time(&self) -> u16 {
        self.epoch.elapsed().as_millis() as u16
    }

    /// The next control-channel sequence number.
    pub fn next_control(&mut self) -> u16 {
        self.control_seq = self.control_seq.wrapping_add(1);
        self.control_seq
    }

    /// The next reliable sequence number on `channel`.
    pub fn next_reliable(&mut self, channel: u8) -> u16 {
        let seq = &mut self.reliable_seq[usize::from(channel)];
        *seq = seq.wrapping_add(1);
        self.unreliable_seq[usize::from(channel)] = 0;
        *seq
    }

    /// The current reliable sequence number on `channel` (what unreliable
    /// commands carry).
    pub fn current_reliable(&self, channel: u8) -> u16 {
        self.reliable_seq[usize::from(channel)]
    }

    /// The next unreliable sequence number on `channel`.
    pub fn next_unreliable(&mut self, channel: u8) -> u16 {
        let seq = &mut self.unreliable_seq[usize::from(channel)];
        *seq = seq.wrapping_add(1);
        *seq
    }

    /// A PING command with the next control sequence number.
    pub fn ping(&mut self) -> Command<'static> {
        Command {
            header: CommandHeader {
                acknowledge: true,
                unsequenced: false,
                channel_id: CONTROL_CHANNEL,
                reliable_sequence_number: self.next_control(),
            },
            body: CommandBody::Ping,
        }
    }

    /// Sends `commands` in one datagram of this session (with a sent time).
    pub fn send(&mut self, commands: &[Command<'_>]) -> io::Result<()> {
        self.send_header(self.slot, self.session, commands)
    }

    fn send_header(
        &mut self,
        peer_id: u16,
        session: u8,
        commands: &[Command<'_>],
    ) -> io::Result<()> {
        let mut writer = DatagramWriter::new(&mut self.buf, 4096, false);
        for command in commands {
            writer.push(command).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let header = Header {
            peer_id,
            session_id: if peer_id == NO_PEER_ID { 0 } else { session },
            compressed: false,
            sent_time: Some(self.epoch.elapsed().as_millis() as u16),
        };
        let range = writer.finish(&header, None);
        let sent = self.socket.send_to(&self.buf[range], self.server)?;
        self.tally.add_sent(sent);
        Ok(())
    }

    /// Sends raw bytes from the peer's address.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let sent = self.socket.send_to(bytes, self.server)?;
        self.tally.add_sent(sent);
        Ok(())
    }

    /// The header bytes (peer word and sent time) this session's datagrams open with.
    pub fn header_bytes(&self) -> [u8; 4] {
        let header = Header {
            peer_id: self.slot,
            session_id: self.session,
            compressed: false,
            sent_time: Some(self.sent_time()),
        };
        let mut out = [0u8; 4];
        header.write(&mut out);
        out
    }

    /// Reads everything waiting, counting it; with [`Acks::All`],
    /// acknowledges every reliable command in it. Returns datagrams read.
    pub fn pump(&mut self, acks: Acks) -> io::Result<usize> {
        self.socket.set_nonblocking(true)?;
        let mut read = 0;
        loop {
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    read += 1;
                    self.tally.add_received(n);
                    if acks == Acks::None {
                        continue;
                    }
                    let Ok(datagram) = Datagram::parse(&self.buf[..n], false) else { continue };
                    let sent_time = datagram.header().sent_time.unwrap_or(0);
                    for command in datagram.commands().flatten() {
                        if command.header.acknowledge {
                            self.pending_acks.push((
                                command.header.channel_id,
                                command.header.reliable_sequence_number,
                                sent_time,
                            ));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                Err(e) => {
                    self.socket.set_nonblocking(false)?;
                    return Err(e);
                }
            }
        }
        self.socket.set_nonblocking(false)?;
        self.flush_acks()?;
        Ok(read)
    }

    fn flush_acks(&mut self) -> io::Result<()> {
        let acks = std::mem::take(&mut self.pending_acks);
        for chunk in acks.chunks(100) {
            let commands: Vec<Command<'_>> = chunk
                .iter()
                .map(|&(channel, seq, sent_time)| Command {
                    header: CommandHeader {
                        acknowledge: false,
                        unsequenced: false,
                        channel_id: channel,
                        reliable_sequence_number: seq,
                    },
                    body: CommandBody::Acknowledge {
                        received_reliable_sequence_number: seq,
                        received_sent_time: sent_time,
                    },
                })
                .collect();
            self.send(&commands)?;
        }
        self.pending_acks = acks;
        self.pending_acks.clear();
        Ok(())
    }

    /// Ends the session at once (an unsequenced DISCONNECT).
    pub fn disconnect(&mut self) -> io::Result<()> {
        let seq = self.next_control();
        self.send(&[Command {
            header: CommandHeader {
                acknowledge: false,
                unsequenced: true,
                channel_id: CONTROL_CHANNEL,
                reliable_sequence_number: seq,
            },
            body: CommandBody::Disconnect { data: 0 },
        }])
    }

    /// The peer's own address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }
}
