//! Volley's WebRTC: [`volley::webrtc::RtcEndpoint`] (str0m, DTLS and SCTP
//! over Volley's batched UDP socket), Godot's channel layout.
//!
//! The server is an ICE-lite endpoint, a client a full one; each client
//! offers and the server answers through an in-process signalling table
//! (the runner measures the transport; signalling is one round trip before
//! it). Every message goes on user channel 0: reliable on stream 1,
//! sequenced on stream 2, unreliable on stream 3, never retransmitted. A
//! stream is fed the way the ENet drivers are: a batch whenever the bytes
//! the client's channels hold unacknowledged fall below a low mark.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use volley::TransferMode;
use volley::mio::{Events, Interest, Poll, Token};
use volley::webrtc::{
    EndpointConfig, LinkConfig, LinkEvent, LinkId, MAX_MESSAGE_SIZE, RtcEndpoint,
    SessionDescription,
};

use super::{Client, Delivery, DriverError, Feature, Incoming, PeerId, Server, ServerSetup, Wait};

/// Unacknowledged bytes below which the client is fed again.
const LOW_MARK: usize = 64 * 1024;
/// Unacknowledged bytes a feed tops the channels up to.
const HIGH_MARK: usize = 256 * 1024;

/// An offer on its way to a server, and where its answer goes.
type Offer = (SessionDescription, Sender<SessionDescription>);

/// Servers by address: where their clients' offers go.
fn signalling() -> &'static Mutex<HashMap<SocketAddr, Sender<Offer>>> {
    static TABLE: OnceLock<Mutex<HashMap<SocketAddr, Sender<Offer>>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Volley's WebRTC transport.
#[derive(Debug, Clone, Copy)]
pub struct VolleyWebRtc;

impl super::System for VolleyWebRtc {
    fn name(&self) -> &'static str {
        "Volley WebRTC"
    }

    fn version(&self) -> &'static str {
        concat!("volley ", env!("CARGO_PKG_VERSION"), " on str0m 0.24")
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        match feature {
            Feature::ReliableSize(len) | Feature::UnreliableSize(len) if len > MAX_MESSAGE_SIZE => {
                Some("messages above 64 KiB")
            }
            _ => None,
        }
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let mut config = EndpointConfig::new(setup.bind);
        config.link = LinkConfig { ice_lite: true, ..LinkConfig::default() };
        config.max_negotiating = setup.peers.max(1) + 16;
        let endpoint = Endpoint::new(config)?;
        let (offers, incoming) = channel();
        signalling()
            .lock()
            .map_err(DriverError::library)?
            .insert(endpoint.rtc.local_addr(), offers);
        Ok(Box::new(WebRtcServer { endpoint, offers: incoming }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let bind = SocketAddr::new(server.ip(), 0);
        let mut endpoint = Endpoint::new(EndpointConfig::new(bind))?;
        let link = endpoint.rtc.open_link(Instant::now()).map_err(DriverError::library)?;
        let offer = endpoint.rtc.create_offer(link).map_err(DriverError::library)?;
        let (reply, answer) = channel();
        let table = signalling().lock().map_err(DriverError::library)?;
        let server_offers =
            table.get(&server).ok_or_else(|| DriverError::library("no such WebRTC server"))?;
        server_offers.send((offer, reply)).map_err(DriverError::library)?;
        Ok(Box::new(WebRtcClient { endpoint, link, answer: Some(answer) }))
    }
}

fn mode(delivery: Delivery) -> TransferMode {
    match delivery {
        Delivery::Reliable => TransferMode::Reliable,
        Delivery::Unreliable => TransferMode::Unreliable,
        Delivery::Sequenced => TransferMode::UnreliableOrdered,
    }
}

/// An endpoint and the poll it waits on.
struct Endpoint {
    rtc: RtcEndpoint,
    poll: Poll,
    events: Events,
}

impl Endpoint {
    fn new(config: EndpointConfig) -> Result<Self, DriverError> {
        let mut rtc = RtcEndpoint::bind(config).map_err(DriverError::library)?;
        let poll = Poll::new()?;
        poll.registry().register(&mut rtc, Token(0), Interest::READABLE)?;
        Ok(Self { rtc, poll, events: Events::with_capacity(8) })
    }

    /// Sends what is queued, waits as `wait` says (no longer than the
    /// links' next timer), then reads, runs timers and reports events.
    fn service(
        &mut self,
        wait: Wait,
        on: &mut dyn FnMut(LinkId, LinkEvent),
    ) -> Result<(), DriverError> {
        self.rtc.flush();
        if let Wait::Block(limit) = wait {
            let now = Instant::now();
            let timer = self.rtc.next_timeout().map(|at| at.saturating_duration_since(now));
            let timeout = timer.map_or(limit, |t| t.min(limit));
            self.poll.poll(&mut self.events, Some(timeout))?;
        }
        let now = Instant::now();
        self.rtc.receive(now)?;
        self.rtc.handle_timeout(now);
        while let Some((id, event)) = self.rtc.poll_event() {
            on(id, event);
        }
        self.rtc.flush();
        Ok(())
    }
}

fn send(
    endpoint: &mut RtcEndpoint,
    link: LinkId,
    delivery: Delivery,
    bytes: &[u8],
) -> Result<(), DriverError> {
    endpoint.send(link, 0, mode(delivery), bytes).map_err(DriverError::library)
}

struct WebRtcServer {
    endpoint: Endpoint,
    offers: Receiver<Offer>,
}

fn peer_id(link: LinkId) -> PeerId {
    link.slot() as usize
}

impl Server for WebRtcServer {
    fn local_addr(&self) -> SocketAddr {
        self.endpoint.rtc.local_addr()
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        while let Ok((offer, reply)) = self.offers.try_recv() {
            let rtc = &mut self.endpoint.rtc;
            let link = rtc.open_link(Instant::now()).map_err(DriverError::library)?;
            let answer = rtc.set_remote_description(link, &offer).map_err(DriverError::library)?;
            let _ = reply.send(answer.ok_or_else(|| DriverError::library("no answer"))?);
        }
        self.endpoint.service(wait, &mut |link, event| match event {
            LinkEvent::Connected => on(Incoming::Connected(peer_id(link))),
            LinkEvent::Packet(packet) => {
                on(Incoming::Message { peer: peer_id(link), bytes: &packet.payload });
            }
            LinkEvent::Closed(_) => on(Incoming::Disconnected(peer_id(link))),
        })
    }

    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let link = self
            .endpoint
            .rtc
            .link_id(peer as u32)
            .ok_or_else(|| DriverError::library(format!("no peer {peer}")))?;
        send(&mut self.endpoint.rtc, link, delivery, bytes)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.endpoint.rtc.flush();
        Ok(())
    }
}

impl Drop for WebRtcServer {
    fn drop(&mut self) {
        if let Ok(mut table) = signalling().lock() {
            table.remove(&self.endpoint.rtc.local_addr());
        }
    }
}

struct WebRtcClient {
    endpoint: Endpoint,
    link: LinkId,
    /// The server's answer, until it came.
    answer: Option<Receiver<SessionDescription>>,
}

impl Client for WebRtcClient {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        let answered = self.answer.as_ref().map(|a| a.recv_timeout(Duration::from_millis(1)));
        if let Some(Ok(answer)) = answered {
            self.answer = None;
            self.endpoint
                .rtc
                .set_remote_description(self.link, &answer)
                .map_err(DriverError::library)?;
        }
        self.endpoint.service(wait, &mut |_, event| match event {
            LinkEvent::Connected => on(Incoming::Connected(0)),
            LinkEvent::Packet(packet) => on(Incoming::Message { peer: 0, bytes: &packet.payload }),
            LinkEvent::Closed(_) => on(Incoming::Disconnected(0)),
        })
    }

    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        send(&mut self.endpoint.rtc, self.link, delivery, bytes)
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.endpoint.rtc.flush();
        Ok(())
    }

    fn room(&mut self, len: usize, _unconfirmed: u64) -> usize {
        let queued = self.endpoint.rtc.buffered_amount(self.link);
        if queued < LOW_MARK { (HIGH_MARK - queued) / len.max(1) + 1 } else { 0 }
    }
}

impl Drop for WebRtcClient {
    fn drop(&mut self) {
        // Say goodbye at once, so the server frees the link.
        self.endpoint.rtc.close_link(self.link);
        self.endpoint.rtc.flush();
    }
}
