//! A live session with one WebSocket and one ENet client exchanging
//! without pause, for tests that abuse the session around it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::WireProfile;
use volley::multiplayer::session::{ServerSession, SessionOptions};
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
use volley::multiplayer::{ConnectionStatus, Incoming, MultiplayerPeer, PeerEvent, Target};
use volley::websocket::WsConfig;

pub(crate) const LIMIT: Duration = Duration::from_secs(30);

/// A session with an ENet listener (0) and a WebSocket listener (1), one
/// live client of each, connected.
pub(crate) struct Live {
    pub(crate) server: ServerSession,
    pub(crate) ws: WebSocketMultiplayerPeer,
    pub(crate) enet: EnetMultiplayerPeer,
    profile: WireProfile,
    round: u32,
    /// Packets delivered: WebSocket client -> server -> ENet client.
    pub(crate) exchanged: u32,
    /// The WebSocket client was told of the ENet client.
    introduced: bool,
}

impl Live {
    pub(crate) fn new(profile: WireProfile, config: WsConfig) -> Self {
        let server = ServerSession::builder(profile)
            .max_clients(16)
            .options(SessionOptions::default().id_seed(1000))
            .enet(EnetListener::new("127.0.0.1:0".parse().expect("address")))
            .websocket(WsListener::new("127.0.0.1:0".parse().expect("address")).config(config))
            .build()
            .expect("session");
        let url = format!("ws://{}/", server.local_addr(1).expect("websocket"));
        let enet_address = server.local_addr(0).expect("enet");
        let ws = WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default())
            .expect("websocket client");
        let options = EnetPeerOptions::default().id_seed(1001);
        let enet = EnetMultiplayerPeer::create_client(enet_address, 1, profile, options)
            .expect("enet client");
        let mut live =
            Self { server, ws, enet, profile, round: 0, exchanged: 0, introduced: false };
        let end = Instant::now() + LIMIT;
        while !(live.introduced && live.enet.connection_status() == ConnectionStatus::Connected) {
            assert!(Instant::now() < end, "the live clients did not connect");
            live.step();
        }
        live
    }

    pub(crate) fn ws_url(&self) -> SocketAddr {
        self.server.local_addr(1).expect("websocket")
    }

    /// One round of the live exchange: the WebSocket client sends a
    /// numbered packet to the ENet client through the server; the round
    /// completes when it arrives.
    pub(crate) fn step(&mut self) {
        for peer in [&mut self.server as &mut dyn MultiplayerPeer, &mut self.ws, &mut self.enet] {
            peer.poll_timeout(Duration::from_millis(1)).expect("poll");
        }
        while let Some(item) = self.server.next_incoming() {
            if let Incoming::Packet(packet) = item {
                self.server.recycle(packet.payload);
            }
        }
        while let Some(item) = self.ws.next_incoming() {
            let enet = Incoming::Event(PeerEvent::Connected(self.enet.unique_id()));
            self.introduced |= item == enet;
        }
        while let Some(item) = self.enet.next_incoming() {
            if let Incoming::Packet(packet) = item {
                assert_eq!(packet.from, self.ws.unique_id(), "relayed from the WebSocket client");
                assert_eq!(packet.payload, self.payload(self.exchanged), "in order, intact");
                self.exchanged += 1;
            }
        }
        if self.introduced && self.round == self.exchanged {
            let payload = self.payload(self.round);
            self.ws.set_target_peer(Target::Peer(self.enet.unique_id()));
            self.ws.put_packet(&payload).expect("the live client sends");
            self.round += 1;
        }
    }

    fn payload(&self, round: u32) -> Vec<u8> {
        let mut payload = vec![3u8];
        payload.extend_from_slice(&round.to_le_bytes());
        payload
    }

    pub(crate) fn run_until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let end = Instant::now() + LIMIT;
        while !done(self) {
            assert!(Instant::now() < end, "{what}: timed out");
            self.step();
        }
    }

    /// Runs until `count` more live round trips completed.
    pub(crate) fn exchange(&mut self, count: u32) {
        let target = self.exchanged + count;
        self.run_until("the live exchange", |l| l.exchanged >= target);
    }

    /// Both live clients are still in, and the server still has them.
    pub(crate) fn assert_undisturbed(&self) {
        assert_eq!(self.ws.connection_status(), ConnectionStatus::Connected, "{}", self.profile);
        assert_eq!(self.enet.connection_status(), ConnectionStatus::Connected, "{}", self.profile);
        for id in [self.ws.unique_id(), self.enet.unique_id()] {
            assert!(self.server.peer_address(id).is_some(), "{}: {id} still in", self.profile);
        }
    }
}
