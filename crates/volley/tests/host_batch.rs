//! `Host::service_batch`, the lending receive path, on real sockets
//! (127.0.0.1 only), bounded in time.

use std::time::{Duration, Instant};

use volley::{Event, Host, HostConfig, PeerHandle, TransferMode};

fn connected(clients: usize) -> (Host, Vec<(Host, PeerHandle)>) {
    let mut config = HostConfig::server("127.0.0.1:0".parse().unwrap());
    config.endpoint().channel_limit(2);
    let mut server = Host::new(config).expect("server");
    let mut hosts: Vec<(Host, PeerHandle)> = (0..clients)
        .map(|_| {
            let client = Host::new(HostConfig::client()).expect("client");
            let peer = client.connect(server.local_addr(), 2, 0).expect("connect");
            (client, peer)
        })
        .collect();
    let (mut up, mut accepted) = (0, 0);
    let end = Instant::now() + Duration::from_secs(10);
    while (up < clients || accepted < clients) && Instant::now() < end {
        server
            .service_batch(Duration::from_millis(1), |event, _| {
                accepted += usize::from(matches!(event, Event::Connected { .. }));
            })
            .unwrap();
        for (client, _) in &mut hosts {
            while let Some(event) = client.service(Duration::ZERO).unwrap() {
                up += usize::from(matches!(event, Event::Connected { .. }));
            }
        }
    }
    assert_eq!((up, accepted), (clients, clients), "handshakes");
    (server, hosts)
}

#[test]
fn every_message_is_lent_once_in_order_and_echoes_go_through_the_outbox() {
    let (mut server, mut clients) = connected(1);
    let (client, to_server) = &mut clients[0];
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected = Vec::new();
    for i in 0..500u32 {
        let message = if i % 100 == 50 { big.clone() } else { i.to_le_bytes().to_vec() };
        client.send(*to_server, 0, TransferMode::Reliable, &message).unwrap();
        expected.push(message);
    }
    client.flush().unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut echoes = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while (got.len() < expected.len() || echoes < expected.len()) && Instant::now() < end {
        server
            .service_batch(Duration::from_millis(1), |event, outbox| {
                if let Event::Received { peer, channel, mode, payload } = event {
                    got.push(payload.to_vec());
                    outbox.send(peer, channel, mode, payload).unwrap();
                }
            })
            .unwrap();
        while let Some(event) = client.service(Duration::ZERO).unwrap() {
            if let Event::Received { payload, .. } = event {
                assert_eq!(payload, expected[echoes]);
                echoes += 1;
                client.recycle(payload);
            }
        }
    }
    assert!(got == expected, "{} of {} in order", got.len(), expected.len());
    assert_eq!(echoes, expected.len());
}

#[test]
fn a_tick_answers_each_peer_with_one_datagram_carrying_acks_and_answer() {
    let (mut server, mut clients) = connected(3);
    let tick = |server: &mut Host, clients: &mut Vec<(Host, PeerHandle)>| {
        for (client, to_server) in clients.iter_mut() {
            for i in 0..10u8 {
                client.send(*to_server, 0, TransferMode::Reliable, &[i; 64]).unwrap();
            }
            client.flush().unwrap();
        }
        let before = server.endpoint_stats().datagrams_sent;
        let mut heard = Vec::new();
        let mut messages = 0;
        let events = server
            .service_batch(Duration::ZERO, |event, _| {
                if let Event::Received { peer, .. } = event {
                    messages += 1;
                    if !heard.contains(&peer) {
                        heard.push(peer);
                    }
                }
            })
            .unwrap();
        assert_eq!((events, messages), (30, 30));
        for &peer in &heard {
            server.send(peer, 1, TransferMode::Unreliable, b"state").unwrap();
        }
        server.flush().unwrap();
        let sent = server.endpoint_stats().datagrams_sent - before;
        for (client, _) in clients.iter_mut() {
            let mut state = 0;
            while let Some(event) = client.service(Duration::ZERO).unwrap() {
                if let Event::Received { payload, .. } = event {
                    assert_eq!(payload, b"state");
                    state += 1;
                }
            }
            assert_eq!(state, 1);
        }
        (heard.len(), sent)
    };
    // The first tick may still carry handshake leftovers; the next ones not.
    tick(&mut server, &mut clients);
    for _ in 0..3 {
        assert_eq!(tick(&mut server, &mut clients), (3, 3), "one datagram per peer per tick");
    }
}

#[test]
fn a_blocking_batch_waits_for_its_timeout_and_returns_early_on_a_datagram() {
    let (mut server, mut clients) = connected(1);
    let started = Instant::now();
    let events = server.service_batch(Duration::from_millis(50), |_, _| {}).unwrap();
    assert_eq!(events, 0);
    assert!(started.elapsed() >= Duration::from_millis(50));

    let (client, to_server) = &mut clients[0];
    client.send(*to_server, 0, TransferMode::Reliable, b"wake").unwrap();
    client.flush().unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && started.elapsed() < Duration::from_secs(5) {
        server
            .service_batch(Duration::from_secs(5), |event, _| {
                if let Event::Received { payload, .. } = event {
                    got.push(payload.to_vec());
                }
            })
            .unwrap();
    }
    assert_eq!(got, [b"wake".to_vec()]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn hosts_sharing_a_port_each_serve_the_clients_the_kernel_gives_them() {
    use volley::socket::SocketConfig;
    let bind = |address| {
        let mut config = HostConfig::server(address);
        config.socket(SocketConfig::new(address).reuse_port(true));
        Host::new(config).expect("server")
    };
    let mut first = bind("127.0.0.1:0".parse().unwrap());
    let mut second = bind(first.local_addr());
    assert_eq!(first.local_addr(), second.local_addr());
    let mut clients: Vec<(Host, PeerHandle)> = (0..32)
        .map(|_| {
            let client = Host::new(HostConfig::client()).expect("client");
            let peer = client.connect(first.local_addr(), 1, 0).expect("connect");
            (client, peer)
        })
        .collect();
    let (mut served, mut up) = ([0usize; 2], 0);
    let mut received = [0usize; 2];
    let end = Instant::now() + Duration::from_secs(10);
    while (up < clients.len() || received.iter().sum::<usize>() < clients.len())
        && Instant::now() < end
    {
        for (i, server) in [&mut first, &mut second].into_iter().enumerate() {
            server
                .service_batch(Duration::ZERO, |event, _| match event {
                    Event::Connected { .. } => served[i] += 1,
                    Event::Received { .. } => received[i] += 1,
                    _ => {}
                })
                .unwrap();
        }
        for (client, to_server) in &mut clients {
            while let Some(event) = client.service(Duration::from_millis(1)).unwrap() {
                if matches!(event, Event::Connected { .. }) {
                    up += 1;
                    client.send(*to_server, 0, TransferMode::Reliable, b"hello").unwrap();
                }
            }
        }
    }
    // Every client has one host, which got its message; the kernel's hash
    // of 32 source ports picks one host for all once in 2^31 runs.
    assert_eq!(up, clients.len());
    assert_eq!(served[0] + served[1], clients.len(), "{served:?}");
    assert_eq!(received, served, "each client's message reached its own host");
    assert!(served[0] > 0 && served[1] > 0, "{served:?}");
}
