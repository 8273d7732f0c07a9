//! Volley answers the captured ENet 1.3.17 handshake byte for byte (but for
//! the sent time, the clock plus a random offset), and its own CONNECT has
//! ENet's layout.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::load;
use volley_proto::{Endpoint, EndpointConfig, Event, TRANSMIT_BUFFER_SIZE};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// ENet 1.3.17's host settings in the capture: MTU 1400, 8 slots, 4 channels.
fn enet_like_server() -> Endpoint {
    let mut config = EndpointConfig::default();
    config.mtu(1400).peer_limit(8).channel_limit(4);
    Endpoint::with_seed(config, 1).unwrap()
}

#[test]
fn a_volley_server_answers_the_captured_connect_as_enet_does() {
    let captured = load("handshake.txt");
    let (connect, verify, ack_and_ping, server_ack) =
        (&captured[0].bytes, &captured[1].bytes, &captured[2].bytes, &captured[3].bytes);
    let mut server = enet_like_server();
    let now = Instant::now();
    let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
    // The capture's client got server slot 1: occupy slot 0 first, as its program did.
    let mut dummy = connect.clone();
    dummy[44] ^= 0xFF; // another connect id
    server.handle_datagram(now, addr("127.0.0.1:9"), &dummy);
    while server.poll_transmit(now, &mut buf).is_some() {}
    let client = addr("127.0.0.1:40081");
    server.handle_datagram(now, client, connect);
    let t = server.poll_transmit(now, &mut buf).expect("VERIFY_CONNECT");
    assert_eq!(t.destination, client);
    let ours = &buf[t.range];
    assert_eq!(ours.len(), verify.len());
    assert_eq!(ours[..2], verify[..2], "header: client slot 2, session 0, SENT_TIME");
    assert_eq!(ours[4..], verify[4..], "VERIFY_CONNECT identical after the sent time");
    let sent_time = [ours[2], ours[3]];
    // The captured ACK echoes the capture's sent time: no proof that this
    // client receives us, so no connection.
    server.handle_datagram(now + Duration::from_millis(1), client, ack_and_ping);
    assert!(server.poll_event().is_none());
    // The client's ACK echoing our sent time, as ENet does, with its PING,
    // completes the connection; the PING is acked.
    let mut ack_and_ping = ack_and_ping.clone();
    ack_and_ping[10..12].copy_from_slice(&sent_time);
    server.handle_datagram(now + Duration::from_millis(1), client, &ack_and_ping);
    match server.poll_event() {
        Some(Event::Connected { data: 0x1122_3344, .. }) => {}
        other => panic!("expected the connect event with the capture's data, got {other:?}"),
    }
    let t =
        server.poll_transmit(now + Duration::from_millis(1), &mut buf).expect("ACK of the PING");
    assert_eq!(&buf[t.range], &server_ack[..], "ACK identical, echo included");
}

#[test]
fn a_volley_client_connect_has_enets_layout() {
    let captured = load("handshake.txt");
    let enet_connect = &captured[0].bytes;
    let mut config = EndpointConfig::default();
    config.mtu(1400);
    let mut client = Endpoint::with_seed(config, 2).unwrap();
    let now = Instant::now();
    client.connect(now, addr("127.0.0.1:40080"), 2, 0x1122_3344).unwrap();
    let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
    let t = client.poll_transmit(now, &mut buf).expect("CONNECT");
    let ours = &buf[t.range];
    assert_eq!(ours.len(), enet_connect.len());
    // Equal but for the sent time (2..4), our slot (8..10: 0 vs ENet's 2) and
    // the random connect id (44..48).
    for (i, (a, b)) in ours.iter().zip(enet_connect.iter()).enumerate() {
        if !(2..4).contains(&i) && !(8..10).contains(&i) && !(44..48).contains(&i) {
            assert_eq!(a, b, "byte {i}");
        }
    }
}
