//! Two WebRTC links in one process over Volley's simulated network, in
//! virtual time: deterministic for a given seed.

use std::net::SocketAddr;
use std::time::Duration;

use volley::webrtc::{LinkConfig, LinkEvent, LinkPacket, LinkState, RtcLink};
use volley_proto::sim::{LinkConfig as PathConfig, Network, VirtualClock};

pub(crate) const A: &str = "127.0.0.1:10001";
pub(crate) const B: &str = "127.0.0.1:10002";

pub(crate) fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

/// A datagram a link produced: source, destination, bytes.
pub(crate) type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

/// Links `a` (the offerer) and `b` (the answerer) and the network between.
pub(crate) struct Pair {
    pub(crate) a: RtcLink,
    pub(crate) b: RtcLink,
    pub(crate) net: Network,
    pub(crate) clock: VirtualClock,
    pub(crate) a_packets: Vec<LinkPacket>,
    pub(crate) b_packets: Vec<LinkPacket>,
    pub(crate) a_closed: Option<LinkEvent>,
    pub(crate) b_closed: Option<LinkEvent>,
    outbox: Vec<Datagram>,
}

impl Pair {
    /// Negotiates `a` ↔ `b` (descriptions exchanged directly) and runs until
    /// both are connected over a perfect path.
    pub(crate) fn connected(a_config: &LinkConfig, b_config: &LinkConfig, seed: u64) -> Self {
        let clock = VirtualClock::new();
        let now = clock.now();
        let mut pair = Self {
            a: RtcLink::new(a_config, None, &[addr(A)], now),
            b: RtcLink::new(b_config, None, &[addr(B)], now),
            net: Network::new(seed),
            clock,
            a_packets: Vec::new(),
            b_packets: Vec::new(),
            a_closed: None,
            b_closed: None,
            outbox: Vec::new(),
        };
        let outbox = &mut pair.outbox;
        let mut out = |s: SocketAddr, d: SocketAddr, p: &[u8]| outbox.push((s, d, p.to_vec()));
        let offer = pair.a.create_offer(&mut out).expect("offer");
        let answer = pair.b.set_remote_description(&offer, &mut out).expect("answer").expect("sdp");
        pair.a.set_remote_description(&answer, &mut out).expect("answer accepted");
        pair.forward_outbox();
        let connected = pair.run_until(Duration::from_secs(10), |p| {
            p.a.state() == LinkState::Connected && p.b.state() == LinkState::Connected
        });
        assert!(connected, "links did not connect: {:?} / {:?}", pair.a, pair.b);
        pair
    }

    /// Sets both directions of the path.
    pub(crate) fn set_path(&mut self, config: PathConfig) {
        self.net.set_link(addr(A), addr(B), config);
        self.net.set_link(addr(B), addr(A), config);
    }

    /// Flushes `a` and returns what it transmitted, without sending it.
    pub(crate) fn flush_a(&mut self) -> Vec<Datagram> {
        let outbox = &mut self.outbox;
        self.a.flush(&mut |s, d, p| outbox.push((s, d, p.to_vec())));
        std::mem::take(&mut self.outbox)
    }

    /// Puts a datagram on the network.
    pub(crate) fn send_raw(&mut self, datagram: &Datagram) {
        let now = self.clock.now();
        let _ = self.net.send(now, datagram.0, datagram.1, &datagram.2);
    }

    fn forward_outbox(&mut self) {
        let now = self.clock.now();
        for (s, d, p) in self.outbox.drain(..) {
            let _ = self.net.send(now, s, d, &p);
        }
    }

    /// One step: deliver what is due, run due timers, collect events, then
    /// move the clock to the next thing that happens (at most 10 ms on).
    pub(crate) fn step(&mut self) {
        let now = self.clock.now();
        let (a, b, outbox) = (&mut self.a, &mut self.b, &mut self.outbox);
        let mut out = |s: SocketAddr, d: SocketAddr, p: &[u8]| outbox.push((s, d, p.to_vec()));
        self.net.deliver_due(now, |delivery, bytes| {
            let link = if delivery.to == addr(A) { &mut *a } else { &mut *b };
            let Ok(receive) = str0m::net::Receive::new(
                str0m::net::Protocol::Udp,
                delivery.from,
                delivery.to,
                bytes,
            ) else {
                return;
            };
            let input = str0m::Input::Receive(now, receive);
            if link.accepts(&input) {
                let str0m::Input::Receive(_, receive) = input else { unreachable!() };
                link.handle_receive(now, receive, &mut out);
            }
        });
        for link in [&mut *a, &mut *b] {
            if link.next_timeout().is_some_and(|at| at <= now) {
                link.handle_timeout(now, &mut out);
            }
        }
        self.forward_outbox();
        self.collect();
        let next = [self.a.next_timeout(), self.b.next_timeout(), self.net.next_delivery()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_millis(10))
            .clamp(now + Duration::from_micros(100), now + Duration::from_millis(10));
        self.clock.advance_to(next).expect("forward");
    }

    fn collect(&mut self) {
        for (link, packets, closed) in [
            (&mut self.a, &mut self.a_packets, &mut self.a_closed),
            (&mut self.b, &mut self.b_packets, &mut self.b_closed),
        ] {
            while let Some(event) = link.poll_event() {
                match event {
                    LinkEvent::Packet(packet) => packets.push(packet),
                    LinkEvent::Connected => {}
                    closed_event => *closed = Some(closed_event),
                }
            }
        }
    }

    /// Steps until `done` holds or `limit` of virtual time passes.
    pub(crate) fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> bool {
        let end = self.clock.now() + limit;
        while self.clock.now() < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Steps for `duration` of virtual time.
    pub(crate) fn run_for(&mut self, duration: Duration) {
        self.run_until(duration, |_| false);
    }
}
