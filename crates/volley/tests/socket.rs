//! The host socket on the loopback interface: binding, batched round trips,
//! oversize and refused datagrams, GSO runs.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley::socket::{
    BindError, HostSocket, MAX_DATAGRAM_SIZE, RecvBatch, SendBatch, SocketConfig,
};

const WAIT: Duration = Duration::from_secs(2);

/// A host socket with its own poller.
struct Peer {
    socket: HostSocket,
    poll: Poll,
}

impl Peer {
    fn bind(config: &SocketConfig) -> Self {
        let mut socket = HostSocket::bind(config).expect("bind");
        let poll = Poll::new().unwrap();
        poll.registry().register(&mut socket, Token(0), Interest::READABLE).unwrap();
        Self { socket, poll }
    }

    fn v4(gso: bool) -> Self {
        Self::bind(&loopback_v4().segmentation_offload(gso))
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    /// Reads until `want` datagrams have arrived, waiting on the poller (never
    /// spinning) and failing after [`WAIT`].
    fn receive(&mut self, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let deadline = Instant::now() + WAIT;
        let mut batch = RecvBatch::new(32);
        let mut events = Events::with_capacity(4);
        let mut received = Vec::new();
        loop {
            while self.socket.recv_batch(&mut batch).unwrap() > 0 {
                received.extend(batch.iter().map(|(source, payload)| (source, payload.to_vec())));
            }
            if received.len() >= want {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "got {} of {want} datagrams", received.len());
            self.poll.poll(&mut events, Some(left)).unwrap();
        }
    }

    /// Sends everything in `batch`, which loopback always accepts at once.
    fn send_all(&mut self, batch: &mut SendBatch) {
        let queued = batch.len();
        assert_eq!(self.socket.send_batch(batch), queued);
        assert!(batch.is_empty());
    }
}

fn loopback_v4() -> SocketConfig {
    SocketConfig::new("127.0.0.1:0".parse().unwrap())
}

/// A bound `::1` socket, or `None` (with a note) when the machine has no IPv6 loopback.
fn bind_v6(config: &SocketConfig) -> Option<HostSocket> {
    match HostSocket::bind(config) {
        Ok(socket) => Some(socket),
        Err(BindError::AddressNotAvailable(_) | BindError::Io { .. }) => {
            eprintln!("skipped: no IPv6 loopback on this machine");
            None
        }
        Err(error) => panic!("binding {:?}: {error}", config),
    }
}

fn std_socket(address: &str) -> UdpSocket {
    let socket = UdpSocket::bind(address).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket
}

#[test]
fn the_receive_buffer_is_sized_for_a_server_within_the_system_cap() {
    let socket = HostSocket::bind(&loopback_v4()).unwrap();
    let granted = socket.recv_buffer_size().unwrap();
    // Linux doubles what is asked, within twice net.core.rmem_max.
    let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(cap) = cap {
        let expected = (2 * SocketConfig::DEFAULT_RECV_BUFFER_SIZE).min(2 * cap);
        assert!(granted >= expected, "granted {granted}, expected {expected}");
    }
    let small = HostSocket::bind(&loopback_v4().recv_buffer_size(64 * 1024)).unwrap();
    assert!(small.recv_buffer_size().unwrap() <= 2 * 64 * 1024, "what was asked, doubled");
}

#[test]
fn binds_ipv4_loopback() {
    let socket = HostSocket::bind(&loopback_v4()).unwrap();
    assert_eq!(socket.local_addr().ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(socket.local_addr().port(), 0);
}

#[test]
fn binds_ipv6_loopback_and_round_trips() {
    let config = SocketConfig::new("[::1]:0".parse().unwrap());
    let Some(socket) = bind_v6(&config) else {
        return;
    };
    assert_eq!(socket.local_addr().ip(), Ipv6Addr::LOCALHOST);
    drop(socket);

    let mut peer = Peer::bind(&config);
    let mut batch = SendBatch::new(4);
    batch.push(peer.addr(), b"over ipv6").unwrap();
    peer.send_all(&mut batch);
    assert_eq!(peer.receive(1), [(peer.addr(), b"over ipv6".to_vec())]);
}

#[test]
fn dual_stack_talks_to_ipv4_and_ipv6_peers() {
    let config = SocketConfig::new("[::]:0".parse().unwrap()).dual_stack(true);
    if bind_v6(&config).is_none() {
        return;
    }
    let mut host = Peer::bind(&config);
    let port = host.addr().port();
    let v4_peer = std_socket("127.0.0.1:0");
    v4_peer.send_to(b"from v4", ("127.0.0.1", port)).unwrap();
    let v6_peer = std_socket("[::1]:0");
    v6_peer.send_to(b"from v6", ("::1", port)).unwrap();

    let mut received = host.receive(2);
    received.sort();
    // The IPv4 peer shows up under its plain IPv4 address, not ::ffff:127.0.0.1.
    let mut expected = vec![
        (v4_peer.local_addr().unwrap(), b"from v4".to_vec()),
        (v6_peer.local_addr().unwrap(), b"from v6".to_vec()),
    ];
    expected.sort();
    assert_eq!(received, expected);

    // And answering that address reaches it.
    let mut batch = SendBatch::new(4);
    batch.push(v4_peer.local_addr().unwrap(), b"reply").unwrap();
    host.send_all(&mut batch);
    let mut buffer = [0; 16];
    let (len, source) = v4_peer.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"reply");
    assert_eq!(source.port(), port);
}

#[test]
fn ipv6_only_socket_refuses_ipv4_destinations() {
    let config = SocketConfig::new("[::1]:0".parse().unwrap());
    let Some(mut socket) = bind_v6(&config) else {
        return;
    };
    let v4_peer = std_socket("127.0.0.1:0");
    let mut batch = SendBatch::new(4);
    batch.push(v4_peer.local_addr().unwrap(), b"x").unwrap();
    assert_eq!(socket.send_batch(&mut batch), 0);
    assert!(batch.is_empty(), "a refused datagram is dropped, not retried");
    assert_eq!(socket.stats().send_errors, 1);
}

#[test]
fn dual_stack_on_ipv4_address_is_an_error() {
    let error = HostSocket::bind(&loopback_v4().dual_stack(true)).unwrap_err();
    assert!(matches!(error, BindError::DualStackOnIpv4(_)), "{error}");
    assert!(error.to_string().contains("IPv4"));
}

#[test]
fn second_bind_to_a_used_port_fails_without_reuse() {
    let first = HostSocket::bind(&loopback_v4()).unwrap();
    let again = loopback_v4().bind_address(first.local_addr());
    let error = HostSocket::bind(&again).unwrap_err();
    assert!(
        matches!(error, BindError::AddressInUse(address) if address == first.local_addr()),
        "{error}"
    );
}

/// Linux lets two UDP sockets share an address when both set SO_REUSEADDR.
#[cfg(target_os = "linux")]
#[test]
fn second_bind_succeeds_when_both_reuse() {
    let first = HostSocket::bind(&loopback_v4().reuse_address(true)).unwrap();
    let again = loopback_v4().bind_address(first.local_addr()).reuse_address(true);
    assert_eq!(HostSocket::bind(&again).unwrap().local_addr(), first.local_addr());
}

/// 100 datagrams of mixed sizes, including the 4096-byte maximum, in one batch.
fn hundred_datagrams_arrive_intact(gso: bool) {
    let mut sender = Peer::v4(gso);
    let mut receiver = Peer::v4(gso);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut batch = SendBatch::new(128);
    let mut expected = Vec::new();
    for i in 0..100 {
        let len = if i % 10 == 3 { MAX_DATAGRAM_SIZE } else { rng.random_range(1..=1400) };
        let mut payload = vec![0; len];
        rng.fill(&mut payload[..]);
        batch.push(receiver.addr(), &payload).unwrap();
        expected.push((sender.addr(), payload));
    }
    sender.send_all(&mut batch);
    assert_eq!(receiver.receive(100), expected);

    let bytes: u64 = expected.iter().map(|(_, p)| p.len() as u64).sum();
    let sent = sender.socket.stats();
    assert_eq!((sent.datagrams_sent, sent.bytes_sent), (100, bytes));
    let received = receiver.socket.stats();
    assert_eq!((received.datagrams_received, received.bytes_received), (100, bytes));
    assert_eq!(received.oversize_dropped, 0);
}

#[test]
fn hundred_datagrams_arrive_intact_with_sendmmsg() {
    hundred_datagrams_arrive_intact(false);
}

#[test]
fn hundred_datagrams_arrive_intact_with_gso() {
    hundred_datagrams_arrive_intact(true);
}

/// Runs of equal sizes (sent as GSO messages on Linux) still arrive as the
/// separate datagrams they were, to the right peers.
#[test]
fn equal_size_runs_keep_datagram_boundaries() {
    let mut sender = Peer::v4(true);
    let mut first = Peer::v4(true);
    let mut second = Peer::v4(true);
    let mut batch = SendBatch::new(256);
    let mut to_first = Vec::new();
    let mut to_second = Vec::new();
    let mut push = |peer: &Peer, log: &mut Vec<_>, len: usize, fill: u8| {
        let payload = vec![fill; len];
        batch.push(peer.addr(), &payload).unwrap();
        log.push((sender.addr(), payload));
    };
    for i in 0..50 {
        push(&first, &mut to_first, 1200, i);
    }
    for i in 0..20 {
        push(&second, &mut to_second, 64, i);
    }
    push(&second, &mut to_second, 10, 99);
    for i in 0..30 {
        push(&first, &mut to_first, 700, i);
        push(&second, &mut to_second, 700, i);
    }
    sender.send_all(&mut batch);
    #[cfg(target_os = "linux")]
    assert!(sender.socket.uses_segmentation_offload());
    assert_eq!(first.receive(to_first.len()), to_first);
    assert_eq!(second.receive(to_second.len()), to_second);
}

#[test]
fn oversize_datagrams_are_dropped_and_counted() {
    let mut receiver = Peer::v4(true);
    let sender = std_socket("127.0.0.1:0");
    for len in [5000, MAX_DATAGRAM_SIZE + 1, MAX_DATAGRAM_SIZE] {
        sender.send_to(&vec![1; len], receiver.addr()).unwrap();
    }
    sender.send_to(b"next", receiver.addr()).unwrap();
    let source = sender.local_addr().unwrap();
    assert_eq!(
        receiver.receive(2),
        [(source, vec![1; MAX_DATAGRAM_SIZE]), (source, b"next".to_vec())]
    );
    assert_eq!(receiver.socket.stats().oversize_dropped, 2);
}

/// The kernel refuses port 0; those datagrams are dropped and counted, the
/// others still go, and GSO stays on (the fault was the destination).
#[test]
fn refused_datagrams_are_dropped_and_the_rest_sent() {
    let mut sender = Peer::v4(true);
    let mut receiver = Peer::v4(true);
    let nowhere: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut batch = SendBatch::new(16);
    batch.push(receiver.addr(), b"one").unwrap();
    batch.push(nowhere, b"lost").unwrap();
    batch.push(receiver.addr(), b"two").unwrap();
    for _ in 0..5 {
        batch.push(nowhere, &[0; 100]).unwrap();
    }
    batch.push(receiver.addr(), b"three").unwrap();
    assert_eq!(sender.socket.send_batch(&mut batch), 3);
    assert!(batch.is_empty());
    let stats = sender.socket.stats();
    assert_eq!(stats.send_errors, 6);
    assert_eq!(stats.last_send_error, Some(std::io::ErrorKind::InvalidInput));
    #[cfg(target_os = "linux")]
    assert!(sender.socket.uses_segmentation_offload());
    let payloads: Vec<_> = receiver.receive(3).into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads, [&b"one"[..], b"two", b"three"]);
}
