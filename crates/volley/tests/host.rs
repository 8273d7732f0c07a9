//! Hosts on real sockets (127.0.0.1 only), bounded in time.

use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use volley::socket::BindError;
use volley::{DisconnectReason, Event, Host, HostConfig, HostError, PeerHandle, TransferMode};
use volley_proto::{ConnectError, SendError};

const STEP: Duration = Duration::from_millis(5);

fn server() -> Host {
    let mut config = HostConfig::server("127.0.0.1:0".parse().unwrap());
    config.endpoint().channel_limit(8);
    Host::new(config).expect("server")
}

/// Services both hosts until `done` or 10 s.
fn pump(a: &mut Host, b: &mut Host, mut done: impl FnMut(&Event, bool) -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Some(e) = a.service(STEP).unwrap()
            && done(&e, true)
        {
            return true;
        }
        if let Some(e) = b.service(STEP).unwrap()
            && done(&e, false)
        {
            return true;
        }
    }
    false
}

fn connected_pair() -> (Host, Host, PeerHandle, PeerHandle) {
    let mut s = server();
    let mut c = Host::new(HostConfig::client()).unwrap();
    let to_server = c.connect(s.local_addr(), 4, 99).unwrap();
    let mut to_client = None;
    let mut client_up = false;
    assert!(pump(&mut s, &mut c, |e, on_server| {
        match e {
            Event::Connected { peer, data } if on_server => {
                assert_eq!(*data, 99);
                to_client = Some(*peer);
            }
            Event::Connected { .. } => client_up = true,
            _ => {}
        }
        to_client.is_some() && client_up
    }));
    (s, c, to_server, to_client.unwrap())
}

#[test]
fn all_modes_on_several_channels_and_a_fragmented_packet_cross_loopback() {
    let (mut s, mut c, to_server, _) = connected_pair();
    let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
    for channel in 0..4u8 {
        for i in 0..50u8 {
            c.send(to_server, channel, TransferMode::Reliable, &[channel, i, 0]).unwrap();
            c.send(to_server, channel, TransferMode::UnreliableOrdered, &[channel, i, 1]).unwrap();
            c.send(to_server, channel, TransferMode::Unreliable, &[channel, i, 2]).unwrap();
        }
    }
    c.send(to_server, 1, TransferMode::Reliable, &big).unwrap();
    let mut reliable = [0u8; 4];
    let mut other = 0;
    let mut big_seen = false;
    assert!(pump(&mut s, &mut c, |e, on_server| {
        if let (true, Event::Received { channel, mode, payload, .. }) = (on_server, e) {
            if payload.len() == big.len() {
                assert!(*payload == big);
                big_seen = true;
            } else {
                assert_eq!(payload[0], *channel);
                match mode {
                    TransferMode::Reliable => {
                        assert_eq!(payload[1], reliable[*channel as usize], "in order");
                        reliable[*channel as usize] += 1;
                    }
                    _ => other += 1,
                }
            }
        }
        big_seen && reliable == [50; 4]
    }));
    // Loopback loses nothing: the unreliable ones came too.
    assert!(other > 300, "{other}");
}

#[test]
fn graceful_disconnect_both_ways() {
    let (mut s, mut c, to_server, to_client) = connected_pair();
    c.disconnect(to_server, 5).unwrap();
    let (mut local, mut remote) = (false, false);
    assert!(pump(&mut s, &mut c, |e, on_server| {
        match e {
            Event::Disconnected { peer, reason: DisconnectReason::Remote, data: 5 }
                if on_server =>
            {
                assert_eq!(*peer, to_client);
                remote = true;
            }
            Event::Disconnected { reason: DisconnectReason::Local, .. } if !on_server => {
                local = true
            }
            _ => {}
        }
        local && remote
    }));
    let (mut s2, mut c2, _, to_client) = connected_pair();
    s2.disconnect(to_client, 6).unwrap();
    assert!(pump(&mut s2, &mut c2, |e, on_server| {
        matches!(e, Event::Disconnected { data: 6, reason: DisconnectReason::Remote, .. } if !on_server)
    }));
}

#[test]
fn service_waits_for_its_timeout_without_spinning_and_returns_early_on_events() {
    let mut s = server();
    let start = Instant::now();
    assert!(s.service(Duration::from_millis(300)).unwrap().is_none());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(800),
        "{waited:?}"
    );
    // A client connecting from another thread: the server's long wait ends
    // as soon as the connection is up.
    let server_addr = s.local_addr();
    let client = thread::spawn(move || {
        let mut c = Host::new(HostConfig::client()).unwrap();
        c.connect(server_addr, 1, 0).unwrap();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            c.service(Duration::from_millis(10)).unwrap();
        }
    });
    let start = Instant::now();
    let got = s.service(Duration::from_secs(5)).unwrap();
    let waited = start.elapsed();
    assert!(matches!(got, Some(Event::Connected { .. })), "{got:?}");
    assert!(waited < Duration::from_secs(1), "returned on the event: {waited:?}");
    client.join().unwrap();
}

#[test]
fn a_send_from_another_thread_wakes_a_sleeping_service() {
    let (mut s, mut c, to_server, to_client) = connected_pair();
    // No keep-alive ping either way may end the client's sleep: only the
    // waker can.
    c.set_ping_interval(to_server, Duration::from_secs(30)).unwrap();
    s.set_ping_interval(to_client, Duration::from_secs(30)).unwrap();
    let settle = Instant::now() + Duration::from_millis(200);
    while Instant::now() < settle {
        s.service(STEP).unwrap();
        c.service(STEP).unwrap();
    }
    let handle = c.handle();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        handle.send(to_server, 0, TransferMode::Reliable, b"wake").unwrap();
    });
    let client = thread::spawn(move || {
        let start = Instant::now();
        // A 10 s sleep: the send above must cut it short to be delivered in time.
        while start.elapsed() < Duration::from_secs(3) {
            c.service(Duration::from_secs(10)).unwrap();
        }
        c
    });
    let end = Instant::now() + Duration::from_secs(3);
    let mut got = false;
    while !got && Instant::now() < end {
        got = matches!(s.service(STEP).unwrap(), Some(Event::Received { payload, .. }) if payload == b"wake");
    }
    sender.join().unwrap();
    assert!(got, "the sleeping client was not woken to send");
    drop(client.join().unwrap());
}

#[test]
fn other_threads_send_while_one_services() {
    let (mut s, mut c, to_server, _) = connected_pair();
    const THREADS: u8 = 4;
    const EACH: u32 = 500;
    let server_thread = thread::spawn(move || {
        let mut counts = [0u32; THREADS as usize];
        let end = Instant::now() + Duration::from_secs(20);
        while counts.iter().sum::<u32>() < u32::from(THREADS) * EACH && Instant::now() < end {
            if let Some(Event::Received { channel, payload, .. }) =
                s.service(Duration::from_millis(50)).unwrap()
            {
                let n = u32::from_le_bytes(payload[..4].try_into().unwrap());
                assert_eq!(n, counts[channel as usize], "in order per channel");
                counts[channel as usize] += 1;
            }
        }
        counts
    });
    // The client's network thread services; game threads send through handles.
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = c.handle();
            thread::spawn(move || {
                for n in 0..EACH {
                    handle
                        .send(to_server, t % 4, TransferMode::Reliable, &n.to_le_bytes())
                        .unwrap();
                    if n % 50 == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    let done = Instant::now() + Duration::from_secs(20);
    while !server_thread.is_finished() && Instant::now() < done {
        c.service(Duration::from_millis(20)).unwrap();
    }
    for s in senders {
        s.join().unwrap();
    }
    let counts = server_thread.join().unwrap();
    assert_eq!(counts, [EACH; THREADS as usize]);
}

#[test]
fn errors_are_typed() {
    let s = server();
    let taken = HostConfig::server(s.local_addr());
    assert!(matches!(Host::new(taken), Err(HostError::Bind(BindError::AddressInUse(_)))));
    let (mut s, c, to_server, _) = connected_pair();
    assert!(matches!(
        c.send(to_server, 9, TransferMode::Reliable, b"x"),
        Err(HostError::Send(SendError::ChannelOutOfRange { channel: 9, channel_count: 4 }))
    ));
    let huge = vec![0u8; 33 * 1024 * 1024];
    assert!(matches!(
        c.send(to_server, 0, TransferMode::Reliable, &huge),
        Err(HostError::Send(SendError::PacketTooLarge { .. }))
    ));
    assert!(matches!(
        c.connect(s.local_addr(), 1, 0),
        Err(HostError::Connect(ConnectError::NoFreeSlot))
    ));
    c.disconnect_now(to_server, 0).unwrap();
    assert!(matches!(
        c.send(to_server, 0, TransferMode::Reliable, b"x"),
        Err(HostError::Send(SendError::UnknownPeer))
    ));
    let err = c.disconnect(to_server, 0).unwrap_err();
    assert_eq!(err.to_string(), "peer call failed: unknown peer");
    let _ = s.service(Duration::ZERO);
}

#[test]
fn garbage_on_the_socket_never_disturbs_live_peers() {
    let (mut s, mut c, to_server, _) = connected_pair();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0x1234_5678u32;
    for i in 0..2000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = (seed % 600) as usize;
        let mut junk: Vec<u8> = (0..len).map(|k| (seed >> (k % 24)) as u8).collect();
        if i % 3 == 0 && junk.len() >= 2 {
            junk[0] = 0x00; // aim at peer slot 0
            junk[1] = 0x00;
        }
        attacker.send_to(&junk, s.local_addr()).unwrap();
    }
    for n in 0..100u32 {
        c.send(to_server, 0, TransferMode::Reliable, &n.to_le_bytes()).unwrap();
    }
    let mut next = 0;
    assert!(pump(&mut s, &mut c, |e, on_server| {
        if let (true, Event::Received { payload, .. }) = (on_server, e) {
            assert_eq!(u32::from_le_bytes(payload[..4].try_into().unwrap()), next);
            next += 1;
        }
        next == 100
    }));
    let stats = s.endpoint_stats();
    // The kernel drops part of the burst when the socket buffer fills; all
    // that reached the engine was dropped and counted.
    assert!(stats.dropped_malformed + stats.dropped_unknown_peer > 100, "{stats:?}");
}

#[test]
fn two_hosts_share_one_external_poll() {
    use volley::mio::{Events, Poll, Token};

    let mut poll = Poll::new().unwrap();
    let mut servers = [server(), server()];
    for (i, host) in servers.iter_mut().enumerate() {
        host.register(poll.registry(), Token(i)).unwrap();
    }
    assert!(matches!(servers[0].service(STEP), Err(HostError::ExternallyPolled)));
    let mut config = HostConfig::client();
    config.endpoint().peer_limit(2);
    let mut client = Host::new(config).unwrap();
    let links = [
        client.connect(servers[0].local_addr(), 2, 10).unwrap(),
        client.connect(servers[1].local_addr(), 2, 20).unwrap(),
    ];
    let mut events = Events::with_capacity(8);
    let mut echoed = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while echoed.len() < 2 && Instant::now() < end {
        // The client: connect, then send each server its own greeting.
        while let Some(event) = client.service(Duration::ZERO).unwrap() {
            match event {
                Event::Connected { peer, .. } => {
                    let index = links.iter().position(|l| *l == peer).unwrap();
                    client.send(peer, 0, TransferMode::Reliable, &[index as u8]).unwrap();
                }
                Event::Received { payload, .. } => echoed.push(payload[0]),
                _ => {}
            }
        }
        client.flush().unwrap();
        // The servers: one wait for both, then service whichever is ready.
        let now = Instant::now();
        let wake = servers.iter().filter_map(Host::next_deadline).min();
        let wait = wake.map_or(STEP, |at| at.saturating_duration_since(now).min(STEP));
        poll.poll(&mut events, Some(wait)).unwrap();
        for (i, host) in servers.iter_mut().enumerate() {
            while let Some(event) = host.service(Duration::ZERO).unwrap() {
                if let Event::Received { peer, payload, .. } = event {
                    assert_eq!(usize::from(payload[0]), i, "each server hears its own greeting");
                    host.send(peer, 0, TransferMode::Reliable, &[payload[0] + 10]).unwrap();
                }
            }
            host.flush().unwrap();
        }
    }
    echoed.sort_unstable();
    assert_eq!(echoed, [10, 11]);
    assert!(servers.iter().all(|s| s.next_deadline().is_some()), "connected hosts keep timers");
}
