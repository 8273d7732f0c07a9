//! Volley's WebRTC endpoint on real sockets (127.0.0.1 only), bounded in
//! time: links between endpoints, the negotiation cap and deadline, typed
//! signalling errors, and garbage that is dropped and counted while live
//! links carry on.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use volley::TransferMode::{self, Reliable, Unreliable, UnreliableOrdered};
use volley::webrtc::{
    CloseReason, EndpointConfig, LinkEvent, LinkId, LinkPacket, OpenLinkError, RtcEndpoint,
    SdpKind, SessionDescription, SignalError,
};

const MODES: [TransferMode; 3] = [Reliable, UnreliableOrdered, Unreliable];

/// Endpoints on one poll, served together.
struct Net {
    poll: Poll,
    events: Events,
    nodes: Vec<RtcEndpoint>,
    log: Vec<(usize, LinkId, LinkEvent)>,
}

impl Net {
    fn new(configs: Vec<EndpointConfig>) -> Self {
        let poll = Poll::new().expect("poll");
        let mut nodes = Vec::new();
        for (index, config) in configs.into_iter().enumerate() {
            let mut node = RtcEndpoint::bind(config).expect("bind");
            poll.registry()
                .register(&mut node, Token(index), Interest::READABLE)
                .expect("register");
            nodes.push(node);
        }
        Self { poll, events: Events::with_capacity(16), nodes, log: Vec::new() }
    }

    fn pump(&mut self) {
        let now = Instant::now();
        let wait = self
            .nodes
            .iter()
            .filter_map(RtcEndpoint::next_timeout)
            .min()
            .map_or(Duration::from_millis(5), |at| at.saturating_duration_since(now))
            .min(Duration::from_millis(5));
        self.poll.poll(&mut self.events, Some(wait)).expect("poll");
        let now = Instant::now();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            node.receive(now).expect("receive");
            node.handle_timeout(now);
            node.flush();
            while let Some((id, event)) = node.poll_event() {
                self.log.push((index, id, event));
            }
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if done(self) {
                return true;
            }
            self.pump();
        }
        done(self)
    }

    fn connected(&self, node: usize, id: LinkId) -> bool {
        self.log.iter().any(|(n, i, e)| *n == node && *i == id && *e == LinkEvent::Connected)
    }

    fn packets(&self, node: usize, id: LinkId) -> Vec<&LinkPacket> {
        self.log
            .iter()
            .filter_map(|(n, i, e)| match e {
                LinkEvent::Packet(p) if *n == node && *i == id => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Offer from `client`, answer from `server`, candidates both ways.
    fn negotiate(&mut self, client: usize, server: usize) -> (LinkId, LinkId) {
        let now = Instant::now();
        let c = self.nodes[client].open_link(now).expect("client link");
        let s = self.nodes[server].open_link(now).expect("server link");
        let offer = self.nodes[client].create_offer(c).expect("offer");
        let answer = self.nodes[server].set_remote_description(s, &offer).expect("answer");
        self.nodes[client].set_remote_description(c, &answer.expect("sdp")).expect("accepted");
        (c, s)
    }
}

fn local() -> EndpointConfig {
    EndpointConfig::new("127.0.0.1:0".parse().unwrap())
}

fn server() -> EndpointConfig {
    let mut config = local();
    config.link.ice_lite = true;
    config
}

#[test]
fn two_endpoints_connect_and_carry_every_mode() {
    let mut net = Net::new(vec![server(), local()]);
    let (c, s) = net.negotiate(1, 0);
    assert!(net.run_until(Duration::from_secs(10), |n| n.connected(0, s) && n.connected(1, c)));
    for mode in MODES {
        for i in 0..50_u32 {
            let payload = [mode as u8, i as u8];
            net.nodes[1].send(c, 0, mode, &payload).expect("client sends");
            net.nodes[0].send(s, 0, mode, &payload).expect("server sends");
        }
    }
    net.nodes[0].flush();
    net.nodes[1].flush();
    assert!(net.run_until(Duration::from_secs(10), |n| {
        n.packets(0, s).len() == 150 && n.packets(1, c).len() == 150
    }));
    for (node, id) in [(0, s), (1, c)] {
        let reliable: Vec<u8> = net
            .packets(node, id)
            .iter()
            .filter(|p| p.mode == Reliable)
            .map(|p| p.payload[1])
            .collect();
        assert_eq!(reliable, (0..50).collect::<Vec<u8>>());
    }
    // Closing one end ends the other.
    net.nodes[1].close_link(c);
    assert!(net.run_until(Duration::from_secs(10), |n| {
        n.log
            .iter()
            .any(|(node, id, e)| *node == 0 && *id == s && matches!(e, LinkEvent::Closed(_)))
    }));
    assert_eq!(net.nodes[0].link_count(), 0);
    assert_eq!(net.nodes[1].link_count(), 0);
}

#[test]
fn negotiations_are_capped_in_number_and_time() {
    let mut config = server();
    config.max_negotiating = 2;
    config.link.negotiation_timeout = Duration::from_millis(300);
    let mut net = Net::new(vec![config]);
    let now = Instant::now();
    let first = net.nodes[0].open_link(now).expect("first");
    let _second = net.nodes[0].open_link(now).expect("second");
    assert_eq!(net.nodes[0].open_link(now), Err(OpenLinkError::TooManyNegotiating { max: 2 }));
    assert_eq!(net.nodes[0].stats().negotiations_refused, 1);
    assert!(net.run_until(Duration::from_secs(5), |n| n.nodes[0].link_count() == 0));
    let timed_out =
        net.log.iter().filter(|(_, _, e)| *e == LinkEvent::Closed(CloseReason::NegotiationTimeout));
    assert_eq!(timed_out.count(), 2);
    assert_eq!(net.nodes[0].stats().negotiations_timed_out, 2);
    assert!(net.nodes[0].link(first).is_none(), "the id went stale");
    let reused = net.nodes[0].open_link(Instant::now()).expect("room again");
    assert_ne!(reused, first, "a reused slot gets a new generation");
}

#[test]
fn bad_descriptions_and_candidates_get_typed_errors() {
    let mut net = Net::new(vec![server()]);
    let id = net.nodes[0].open_link(Instant::now()).expect("link");
    let endpoint = &mut net.nodes[0];
    let bad = |sdp: &str| SessionDescription { kind: SdpKind::Offer, sdp: sdp.to_owned() };
    assert_eq!(endpoint.set_remote_description(id, &bad("hello")), Err(SignalError::NoDataChannel));
    let garbled = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nbroken\r\n";
    assert!(matches!(
        endpoint.set_remote_description(id, &bad(garbled)),
        Err(SignalError::BadSdp(_))
    ));
    let answer = SessionDescription { kind: SdpKind::Answer, sdp: garbled.to_owned() };
    assert_eq!(
        endpoint.set_remote_description(id, &answer),
        Err(SignalError::UnexpectedDescription { received: SdpKind::Answer })
    );
    let candidate = |text: &str| volley::webrtc::IceCandidate::new(text.to_owned());
    assert!(matches!(
        endpoint.add_remote_candidate(id, &candidate("candidate:x")),
        Err(SignalError::BadCandidate(_))
    ));
    assert!(matches!(
        endpoint.add_remote_candidate(
            id,
            &candidate("candidate:1 1 udp 2113937151 192.0.2.9 4000 typ host")
        ),
        Err(SignalError::UnreachableCandidate(_))
    ));
    for port in 0..16 {
        let line = format!("candidate:1 1 udp 2113937151 127.0.0.1 {} typ host", 4000 + port);
        endpoint.add_remote_candidate(id, &candidate(&line)).expect("within the cap");
    }
    assert_eq!(
        endpoint.add_remote_candidate(
            id,
            &candidate("candidate:1 1 udp 2113937151 127.0.0.1 5000 typ host")
        ),
        Err(SignalError::TooManyCandidates { max: 16 })
    );
}

/// Datagrams an attacker on 127.0.0.1 might send: empty, random, truncated
/// STUN, STUN for credentials nobody has, DTLS-looking records, RTP-looking
/// packets, and an oversized datagram.
fn garbage() -> Vec<Vec<u8>> {
    let mut stun_unknown = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun_unknown.extend_from_slice(&[7; 12]);
    stun_unknown.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun_unknown.extend_from_slice(b"nope:who");
    let mut dtls = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 40];
    dtls.extend_from_slice(&[0x5a; 40]);
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
    rtp.extend_from_slice(&[1; 100]);
    let mut seed = 0x1234_5678_u32;
    let mut random = |len: usize| {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut out = vec![vec![], vec![0], stun_unknown[..10].to_vec(), stun_unknown, dtls, rtp];
    for len in [1, 20, 100, 1200] {
        out.push(random(len));
    }
    out.push(vec![0x17; 5000]);
    out
}

#[test]
fn garbage_is_dropped_and_counted_and_live_links_carry_on() {
    let mut net = Net::new(vec![server(), local()]);
    let (c, s) = net.negotiate(1, 0);
    assert!(net.run_until(Duration::from_secs(10), |n| n.connected(0, s) && n.connected(1, c)));
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("attacker socket");
    let target: SocketAddr = net.nodes[0].local_addr();
    let garbage = garbage();
    for round in 0..20_u8 {
        for datagram in &garbage {
            let _ = attacker.send_to(datagram, target);
        }
        net.nodes[1].send(c, 0, Reliable, &[round]).expect("still connected");
        net.nodes[1].flush();
        net.pump();
    }
    assert!(net.run_until(Duration::from_secs(10), |n| n.packets(0, s).len() == 20));
    let rounds: Vec<u8> = net.packets(0, s).iter().map(|p| p.payload[0]).collect();
    assert_eq!(rounds, (0..20).collect::<Vec<u8>>());
    let stats = net.nodes[0].stats();
    let dropped = stats.undecodable + stats.unmatched;
    let oversize = net.nodes[0].socket_stats().oversize_dropped;
    eprintln!("garbage: {stats:?}, oversize {oversize}");
    assert_eq!(dropped + oversize, 20 * garbage.len() as u64, "every garbage datagram counted");
    assert_eq!(oversize, 20);
    assert!(stats.undecodable > 0 && stats.unmatched > 0, "{stats:?}");
    assert_eq!(net.nodes[0].link_count(), 1, "the live link is still there");
}
