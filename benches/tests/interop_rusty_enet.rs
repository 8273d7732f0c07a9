//! Volley against rusty_enet 0.4 (ENet 1.3 transpiled to Rust) on
//! 127.0.0.1, each side as client and as server: connect data, the three
//! modes on four channels, a 100 KiB packet both ways, checksums on and off,
//! graceful disconnect started by either side.

mod support;

use std::net::{SocketAddr, UdpSocket};

use rusty_enet::{Event, Host, HostSettings, Packet, PeerID, crc32};
use support::{Closer, ForeignEvent, ForeignHost, Server, Settings};
use volley::TransferMode;

struct RustyEnet(Host<UdpSocket>);

impl RustyEnet {
    fn new(peer_limit: usize, settings: Settings) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let settings = HostSettings {
            peer_limit,
            checksum: settings.checksum.then(|| Box::new(crc32) as Box<dyn Fn(&[&[u8]]) -> u32>),
            compressor: settings.range_coder.then(|| {
                Box::new(rusty_enet::RangeCoder::new()) as Box<dyn rusty_enet::Compressor>
            }),
            ..HostSettings::default()
        };
        Self(Host::new(socket, settings).expect("rusty_enet host"))
    }
}

impl ForeignHost for RustyEnet {
    type Peer = PeerID;

    fn server(settings: Settings) -> Self {
        Self::new(8, settings)
    }

    fn client(settings: Settings) -> Self {
        Self::new(1, settings)
    }

    fn local_addr(&self) -> SocketAddr {
        self.0.socket().local_addr().expect("local address")
    }

    fn connect(&mut self, to: SocketAddr, channels: usize, data: u32) -> PeerID {
        self.0.connect(to, channels, data).expect("peer slot").id()
    }

    fn send(&mut self, peer: PeerID, channel: u8, mode: TransferMode, payload: &[u8]) {
        let packet = match mode {
            TransferMode::Reliable => Packet::reliable(payload),
            TransferMode::UnreliableOrdered => Packet::unreliable(payload),
            TransferMode::Unreliable => Packet::unreliable_unsequenced(payload),
        };
        self.0.peer_mut(peer).send(channel, &packet).expect("rusty_enet send");
    }

    fn disconnect(&mut self, peer: PeerID, data: u32) {
        self.0.peer_mut(peer).disconnect(data);
    }

    fn service(&mut self) -> Option<ForeignEvent<PeerID>> {
        let event = self.0.service().expect("rusty_enet service")?;
        Some(match event {
            Event::Connect { peer, data } => ForeignEvent::Connected { peer: peer.id(), data },
            Event::Disconnect { peer, data } => {
                ForeignEvent::Disconnected { peer: peer.id(), data }
            }
            Event::Receive { peer, channel_id, packet } => ForeignEvent::Received {
                peer: peer.id(),
                channel: channel_id,
                mode: received_mode(&packet),
                payload: packet.data().to_vec(),
            },
        })
    }
}

/// The mode a received packet's ENet flags name. `Packet::kind` cannot tell
/// (in 0.4.1 it ORs the flags with `!ENET_PACKET_FLAG_SENT`, so every packet
/// reads as reliable), and the flags are public only through `Debug`.
fn received_mode(packet: &Packet) -> TransferMode {
    let debug = format!("{packet:?}");
    let flags: u32 = debug
        .split_once("flags: ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no flags in {debug}"));
    match flags {
        _ if flags & 1 != 0 => TransferMode::Reliable, // ENET_PACKET_FLAG_RELIABLE
        _ if flags & 2 != 0 => TransferMode::Unreliable, // ENET_PACKET_FLAG_UNSEQUENCED
        _ => TransferMode::UnreliableOrdered,
    }
}

#[test]
fn rusty_enet_client_to_volley_server_volley_closes() {
    support::run::<RustyEnet>(Server::Volley, false, Closer::Volley);
}

#[test]
fn rusty_enet_client_to_volley_server_rusty_enet_closes() {
    support::run::<RustyEnet>(Server::Volley, false, Closer::Foreign);
}

#[test]
fn rusty_enet_client_to_volley_server_with_checksums_volley_closes() {
    support::run::<RustyEnet>(Server::Volley, true, Closer::Volley);
}

#[test]
fn rusty_enet_client_to_volley_server_with_checksums_rusty_enet_closes() {
    support::run::<RustyEnet>(Server::Volley, true, Closer::Foreign);
}

#[test]
fn volley_client_to_rusty_enet_server_volley_closes() {
    support::run::<RustyEnet>(Server::Foreign, false, Closer::Volley);
}

#[test]
fn volley_client_to_rusty_enet_server_rusty_enet_closes() {
    support::run::<RustyEnet>(Server::Foreign, false, Closer::Foreign);
}

#[test]
fn volley_client_to_rusty_enet_server_with_checksums_volley_closes() {
    support::run::<RustyEnet>(Server::Foreign, true, Closer::Volley);
}

#[test]
fn volley_client_to_rusty_enet_server_with_checksums_rusty_enet_closes() {
    support::run::<RustyEnet>(Server::Foreign, true, Closer::Foreign);
}

#[test]
fn checksum_mismatch_prevents_connection_with_rusty_enet() {
    support::checksum_mismatch_prevents_connection::<RustyEnet>(true);
    support::checksum_mismatch_prevents_connection::<RustyEnet>(false);
}

#[test]
fn large_unreliable_packets_cross_both_ways_rusty_enet_client() {
    support::large_unreliable_packets_cross::<RustyEnet>(Server::Volley);
}

#[test]
fn large_unreliable_packets_cross_both_ways_rusty_enet_server() {
    support::large_unreliable_packets_cross::<RustyEnet>(Server::Foreign);
}

#[test]
fn rusty_enet_client_to_volley_server_over_a_bad_link() {
    support::run_over_bad_link::<RustyEnet>(Server::Volley, 1);
}

#[test]
fn volley_client_to_rusty_enet_server_over_a_bad_link() {
    support::run_over_bad_link::<RustyEnet>(Server::Foreign, 2);
}

#[test]
fn range_coder_with_rusty_enet_both_ways() {
    let coded = Settings { checksum: true, range_coder: true };
    support::run_with::<RustyEnet>(Server::Volley, coded, Closer::Foreign);
    support::run_with::<RustyEnet>(Server::Foreign, coded, Closer::Volley);
}
