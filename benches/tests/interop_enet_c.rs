//! Volley against ENet's C library (1.3.17, built by `enet-sys`) on
//! 127.0.0.1, each side as client and as server: connect data, the three
//! modes on four channels, a 100 KiB packet both ways, checksums
//! (`host->checksum = enet_crc32`) on and off, graceful disconnect started by
//! either side.
//!
//! `cargo test -p volley-bench --features enet-c --test interop_enet_c`
#![cfg(feature = "enet-c")]

mod support;

use std::net::{SocketAddr, SocketAddrV4};

use support::{Closer, ForeignEvent, ForeignHost, Server, Settings};
use volley::TransferMode;
use volley_bench::enet_c_host::{EnetEvent, EnetHost, EnetPeer};

fn enet_host(bind: Option<SocketAddrV4>, peer_limit: usize, settings: Settings) -> EnetHost {
    let mut host = EnetHost::new(bind, peer_limit, usize::from(support::CHANNELS)).expect("host");
    host.set_checksum(settings.checksum);
    if settings.range_coder {
        host.use_range_coder().expect("range coder");
    }
    host
}

impl ForeignHost for EnetHost {
    type Peer = EnetPeer;

    fn server(settings: Settings) -> Self {
        enet_host(Some(SocketAddrV4::new([127, 0, 0, 1].into(), 0)), 8, settings)
    }

    fn client(settings: Settings) -> Self {
        enet_host(None, 1, settings)
    }

    fn local_addr(&self) -> SocketAddr {
        Self::local_addr(self).into()
    }

    fn connect(&mut self, to: SocketAddr, channels: usize, data: u32) -> EnetPeer {
        let SocketAddr::V4(to) = to else { panic!("ENet speaks IPv4: {to}") };
        Self::connect(self, to, channels, data).expect("ENet connect")
    }

    fn send(&mut self, peer: EnetPeer, channel: u8, mode: TransferMode, payload: &[u8]) {
        Self::send(self, peer, channel, mode, payload).expect("ENet send");
    }

    fn disconnect(&mut self, peer: EnetPeer, data: u32) {
        Self::disconnect(self, peer, data).expect("ENet disconnect");
    }

    fn service(&mut self) -> Option<ForeignEvent<EnetPeer>> {
        Some(match Self::service(self).expect("ENet service")? {
            EnetEvent::Connected { peer, data } => ForeignEvent::Connected { peer, data },
            EnetEvent::Disconnected { peer, data } => ForeignEvent::Disconnected { peer, data },
            EnetEvent::Received { peer, channel, mode, payload } => {
                ForeignEvent::Received { peer, channel, mode, payload }
            }
        })
    }
}

#[test]
fn enet_client_to_volley_server_volley_closes() {
    support::run::<EnetHost>(Server::Volley, false, Closer::Volley);
}

#[test]
fn enet_client_to_volley_server_enet_closes() {
    support::run::<EnetHost>(Server::Volley, false, Closer::Foreign);
}

#[test]
fn enet_client_to_volley_server_with_checksums_volley_closes() {
    support::run::<EnetHost>(Server::Volley, true, Closer::Volley);
}

#[test]
fn enet_client_to_volley_server_with_checksums_enet_closes() {
    support::run::<EnetHost>(Server::Volley, true, Closer::Foreign);
}

#[test]
fn volley_client_to_enet_server_volley_closes() {
    support::run::<EnetHost>(Server::Foreign, false, Closer::Volley);
}

#[test]
fn volley_client_to_enet_server_enet_closes() {
    support::run::<EnetHost>(Server::Foreign, false, Closer::Foreign);
}

#[test]
fn volley_client_to_enet_server_with_checksums_volley_closes() {
    support::run::<EnetHost>(Server::Foreign, true, Closer::Volley);
}

#[test]
fn volley_client_to_enet_server_with_checksums_enet_closes() {
    support::run::<EnetHost>(Server::Foreign, true, Closer::Foreign);
}

#[test]
fn checksum_mismatch_prevents_connection_with_enet() {
    support::checksum_mismatch_prevents_connection::<EnetHost>(true);
    support::checksum_mismatch_prevents_connection::<EnetHost>(false);
}

#[test]
fn large_unreliable_packets_cross_both_ways_enet_client() {
    support::large_unreliable_packets_cross::<EnetHost>(Server::Volley);
}

#[test]
fn large_unreliable_packets_cross_both_ways_enet_server() {
    support::large_unreliable_packets_cross::<EnetHost>(Server::Foreign);
}

#[test]
fn enet_client_to_volley_server_over_a_bad_link() {
    support::run_over_bad_link::<EnetHost>(Server::Volley, 1);
}

#[test]
fn volley_client_to_enet_server_over_a_bad_link() {
    support::run_over_bad_link::<EnetHost>(Server::Foreign, 2);
}

/// Both ends compress with ENet's range coder (and checksum the uncompressed
/// datagrams): every mode, every channel and the 100 KiB packet, both ways.
const CODED: Settings = Settings { checksum: true, range_coder: true };

#[test]
fn enet_client_to_volley_server_with_range_coder() {
    support::run_with::<EnetHost>(Server::Volley, CODED, Closer::Foreign);
}

#[test]
fn volley_client_to_enet_server_with_range_coder() {
    support::run_with::<EnetHost>(Server::Foreign, CODED, Closer::Volley);
}

#[test]
fn range_coder_without_checksums_with_enet() {
    let coded = Settings { checksum: false, range_coder: true };
    support::run_with::<EnetHost>(Server::Volley, coded, Closer::Volley);
    support::run_with::<EnetHost>(Server::Foreign, coded, Closer::Foreign);
}
