//! Headless Chromium against Volley's WebRTC on 127.0.0.1 (feature
//! `browser-tests`; `.ci/run` installs Debian's `chromium` and turns it on):
//! first a bare link, then a browser in a session next to an ENet client.
#![cfg(feature = "browser-tests")]

#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/http.rs"]
mod http;
#[path = "browser/relay.rs"]
mod relay;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use volley::socket::{HostSocket, RecvBatch, SendBatch, SocketConfig};
use volley::webrtc::{LinkConfig, LinkEvent, RtcLink, SdpKind, SessionDescription};

/// The first proof: a browser's RTCPeerConnection with Godot's three
/// negotiated channels connects to one `RtcLink` driven by a plain socket
/// loop, and each channel carries a message both ways.
#[test]
fn chromium_opens_godots_channels_to_an_rtc_link() {
    let (http_addr, requests) = http::serve(include_str!("browser/webrtc_proof.html"));
    let mut socket =
        HostSocket::bind(&SocketConfig::new("127.0.0.1:0".parse().unwrap())).expect("bind");
    let local = socket.local_addr();
    let mut poll = Poll::new().expect("poll");
    poll.registry().register(&mut socket, Token(0), Interest::READABLE).expect("register");
    let _browser = chromium::Chromium::open(&format!("http://{http_addr}/"));

    let config = LinkConfig { ice_lite: true, ..LinkConfig::default() };
    let mut link: Option<RtcLink> = None;
    let mut result = None;
    let (mut incoming, mut outgoing) = (RecvBatch::default(), SendBatch::default());
    let mut events = Events::with_capacity(8);
    let end = Instant::now() + Duration::from_secs(60);
    while result.is_none() {
        assert!(Instant::now() < end, "no result from the page in time");
        while let Ok(request) = requests.try_recv() {
            let reply = match request.path.as_str() {
                "/offer" => {
                    let mut created = RtcLink::new(&config, None, &[local], Instant::now());
                    let offer = SessionDescription { kind: SdpKind::Offer, sdp: request.body };
                    let mut out = |_: SocketAddr, to: SocketAddr, bytes: &[u8]| {
                        outgoing.push(to, bytes).expect("room in the batch");
                    };
                    let answer = created
                        .set_remote_description(&offer, &mut out)
                        .expect("the browser's offer is accepted")
                        .expect("an offer gets an answer");
                    link = Some(created);
                    answer.sdp
                }
                "/log" => {
                    eprintln!("page: {}", request.body);
                    String::new()
                }
                _ => {
                    result = Some(request.body);
                    String::new()
                }
            };
            let _ = request.reply.send(reply);
        }
        poll.poll(&mut events, Some(Duration::from_millis(5))).expect("poll");
        let now = Instant::now();
        let mut out = |_: SocketAddr, to: SocketAddr, bytes: &[u8]| {
            outgoing.push(to, bytes).expect("room in the batch");
        };
        while socket.recv_batch(&mut incoming).expect("receive") > 0 {
            for (source, bytes) in incoming.iter() {
                let Some(link) = link.as_mut() else { continue };
                let Ok(receive) =
                    str0m::net::Receive::new(str0m::net::Protocol::Udp, source, local, bytes)
                else {
                    continue;
                };
                let input = str0m::Input::Receive(now, receive);
                if link.accepts(&input) {
                    let str0m::Input::Receive(_, receive) = input else { unreachable!() };
                    link.handle_receive(now, receive, &mut out);
                }
            }
        }
        if let Some(link) = link.as_mut() {
            link.handle_timeout(now, &mut out);
            while let Some(event) = link.poll_event() {
                eprintln!("link: {event:?}");
                if let LinkEvent::Packet(packet) = event {
                    let mut echo = b"echo: ".to_vec();
                    echo.extend_from_slice(&packet.payload);
                    link.send(packet.channel, packet.mode, &echo).expect("echo queued");
                }
            }
            link.flush(&mut out);
        }
        socket.send_batch(&mut outgoing);
    }
    let result = result.unwrap();
    eprintln!("page result: {result}");
    assert_eq!(
        result,
        r#"{"echoes":["echo: hello reliable","echo: hello ordered","echo: hello unreliable"],"labels":["reliable","ordered","unreliable"]}"#
    );
}

/// The whole path: a browser joins a Godot 4 session over Volley's
/// WebSocket signalling and WebRTC, next to a Volley ENet client, through a
/// relay that drops 20% of datagrams each way and holds back 10% of those
/// to the browser once everyone is in.
#[test]
fn a_browser_joins_a_session_over_webrtc_next_to_an_enet_client() {
    use std::collections::BTreeSet;
    use volley::TransferMode::{Reliable, Unreliable, UnreliableOrdered};
    use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
    use volley::multiplayer::framing::WireProfile;
    use volley::multiplayer::session::{ServerSession, SessionOptions};
    use volley::multiplayer::webrtc::WebRtcListener;
    use volley::multiplayer::websocket::WsListener;
    use volley::multiplayer::{Incoming, MultiplayerPeer, Packet, PeerEvent, Target};
    use volley::webrtc::ChannelLayout;

    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut relay = relay::Relay::bind();
    let listener = WebRtcListener::new(local)
        .advertised_address(relay.front())
        .channels(ChannelLayout::new(&[Unreliable]).expect("layout"))
        .signalling(WsListener::new(local));
    let mut server = ServerSession::builder(WireProfile::Godot4)
        .max_clients(8)
        .channels(2)
        .options(SessionOptions::default().id_seed(7))
        .enet(EnetListener::new(local))
        .webrtc(listener)
        .build()
        .expect("session");
    let signalling = server.webrtc_signalling_addr(1).expect("signalling path");
    relay.start(server.local_addr(1).expect("udp"), 0.2, 0.1, 42);
    let mut client = EnetMultiplayerPeer::create_client(
        server.local_addr(0).expect("enet"),
        2,
        WireProfile::Godot4,
        EnetPeerOptions::default(),
    )
    .expect("enet client");
    let page = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/webrtc_session.html");
    let _browser =
        chromium::Chromium::open(&format!("file://{}?ws=ws://{signalling}/", page.display()));

    let (mut at_server, mut at_client) = (Vec::<Incoming>::new(), Vec::<Incoming>::new());
    fn step(
        server: &mut ServerSession,
        client: &mut EnetMultiplayerPeer,
        at_server: &mut Vec<Incoming>,
        at_client: &mut Vec<Incoming>,
    ) {
        server.poll_timeout(Duration::from_millis(1)).expect("server poll");
        client.poll_timeout(Duration::from_millis(1)).expect("client poll");
        at_server.extend(std::iter::from_fn(|| server.next_incoming()));
        at_client.extend(std::iter::from_fn(|| client.next_incoming()));
    }
    let end = Instant::now() + Duration::from_secs(90);
    let enet_id = client.unique_id();
    // Everyone in: the server saw the browser join, the client heard of it.
    let browser_id = loop {
        assert!(Instant::now() < end, "the browser did not join");
        step(&mut server, &mut client, &mut at_server, &mut at_client);
        let joined = at_server.iter().find_map(|i| match i {
            Incoming::Event(PeerEvent::Connected(id)) if *id != enet_id => Some(*id),
            _ => None,
        });
        if let Some(id) = joined
            && at_client.contains(&Incoming::Event(PeerEvent::Connected(id)))
        {
            break id;
        }
    };
    relay.lossy.store(true, std::sync::atomic::Ordering::Relaxed);
    let raw = |text: String| [&[3_u8][..], text.as_bytes()].concat();
    client.set_target_peer(Target::Peer(browser_id));
    let plan: Vec<(volley::TransferMode, u32)> =
        vec![(Reliable, 20), (UnreliableOrdered, 200), (Unreliable, 200)];
    for i in 0..200 {
        for &(mode, count) in &plan {
            if i < count {
                client.set_transfer_mode(mode);
                client.put_packet(&raw(format!("e2b {mode} {i}"))).expect("queued");
            }
        }
        // One of each per poll: few messages per datagram, so the path's
        // losses and reorderings fall on single messages.
        step(&mut server, &mut client, &mut at_server, &mut at_client);
    }
    client.set_transfer_mode(Reliable);
    client.put_packet(&raw("e2b done".to_owned())).expect("queued");
    let is_report = |p: &Packet| p.payload.starts_with(b"\x03report ");
    let packets = |log: &[Incoming]| -> Vec<Packet> {
        log.iter()
            .filter_map(|i| match i {
                Incoming::Packet(p) => Some(p.clone()),
                Incoming::Event(_) => None,
            })
            .collect()
    };
    while !packets(&at_server).iter().any(is_report) {
        assert!(Instant::now() < end, "no report from the browser");
        step(&mut server, &mut client, &mut at_server, &mut at_client);
    }
    let server_packets = packets(&at_server);
    let client_packets = packets(&at_client);

    // The browser's RAW packets to the ENet client, relayed: every byte,
    // the sender, the mode of the channel they came on.
    for packet in &client_packets {
        assert_eq!(packet.from, browser_id);
    }
    let b2e = |label: &str, mode| -> Vec<Vec<u8>> {
        client_packets
            .iter()
            .filter(|p| p.payload.starts_with(format!("\x03b2e {label} ").as_bytes()))
            .map(|p| {
                assert_eq!((p.channel, p.mode), (0, mode), "{label}");
                p.payload.clone()
            })
            .collect()
    };
    let reliable = b2e("reliable", Reliable);
    assert_eq!(reliable, (0..3).map(|i| raw(format!("b2e reliable {i}"))).collect::<Vec<_>>());
    for (label, mode) in [("ordered", UnreliableOrdered), ("unreliable", Unreliable)] {
        for payload in b2e(label, mode) {
            let i: u32 =
                String::from_utf8_lossy(&payload[1..]).rsplit(' ').next().unwrap().parse().unwrap();
            assert!(i < 3 && payload == raw(format!("b2e {label} {i}")));
        }
    }

    // What the browser sent the server: its unreliable channel (maxRetransmits
    // 0) lost messages for good; the channel written as Godot's web export
    // writes it (`maxPacketLifetime`, unknown to browsers) lost none.
    let b2s = |prefix: &str, channel: u8| -> Vec<u32> {
        server_packets
            .iter()
            .filter(|p| p.from == browser_id && p.payload.starts_with(prefix.as_bytes()))
            .map(|p| {
                assert_eq!((p.channel, p.mode), (channel, Unreliable), "{prefix}");
                String::from_utf8_lossy(&p.payload[prefix.len()..]).parse().unwrap()
            })
            .collect()
    };
    let unreliable = b2s("\x03b2s unreliable ", 0);
    let godot_style = b2s("\x03b2s custom ", 1);
    let unique: BTreeSet<u32> = unreliable.iter().copied().collect();
    assert_eq!(unique.len(), unreliable.len(), "no duplicates");
    let mut godot_sorted = godot_style.clone();
    godot_sorted.sort_unstable();
    assert_eq!(godot_sorted, (0..200).collect::<Vec<u32>>(), "Godot's channel is reliable");
    assert!(unreliable.len() < 200 && unreliable.len() > 100, "{}", unreliable.len());

    // The browser's report of what reached it.
    let report = server_packets.iter().find(|p| is_report(p)).expect("report");
    let report: serde_json::Value =
        serde_json::from_slice(&report.payload[b"\x03report ".len()..]).expect("JSON report");
    assert_eq!(report["id"], browser_id.get());
    assert_eq!(report["other"], enet_id.get());
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let relayed = |text: String| {
        let mut bytes = vec![7, 3];
        bytes.extend_from_slice(&(enet_id.get() as i32).to_le_bytes());
        bytes.extend(raw(text));
        hex(&bytes)
    };
    let received = |label: &str| -> Vec<String> {
        report["received"][label]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let mut want: Vec<String> = (0..20).map(|i| relayed(format!("e2b reliable {i}"))).collect();
    want.push(relayed("e2b done".to_owned()));
    assert_eq!(received("reliable"), want, "reliable: every byte, in order");
    let sequence_of = |label: &str, mode: volley::TransferMode| -> Vec<u32> {
        received(label)
            .iter()
            .map(|h| {
                let i = (0..200).find(|i| *h == relayed(format!("e2b {mode} {i}")));
                i.unwrap_or_else(|| panic!("{label}: unexpected bytes {h}"))
            })
            .collect()
    };
    let ordered = sequence_of("ordered", UnreliableOrdered);
    assert!(ordered.windows(2).all(|w| w[0] < w[1]), "ordered never goes back: {ordered:?}");
    let unordered = sequence_of("unreliable", Unreliable);
    let out_of_order = unordered.windows(2).filter(|w| w[0] > w[1]).count();
    let unique: BTreeSet<u32> = unordered.iter().copied().collect();
    assert_eq!(unique.len(), unordered.len(), "no duplicates");
    assert!(unordered.len() < 200, "lost messages stay lost");
    assert!(out_of_order > 0, "the unreliable channel delivers out of order");
    let info = &report["channelInfo"];
    assert_eq!(info["unreliable"]["maxRetransmits"], 0);
    assert_eq!(info["unreliable"]["ordered"], false);
    assert!(info["4"]["maxRetransmits"].is_null() && info["4"]["maxPacketLifeTime"].is_null());
    let counters = &relay.counters;
    eprintln!(
        "browser {browser_id}, ENet client {enet_id}; relay dropped {} down / {} up, held {} back; \
         browser -> server: unreliable {}/200, Godot-style {}/200; \
         server -> browser: ordered {}/200, unreliable {}/200 ({out_of_order} out of order); \
         browser channel 4: {}",
        counters.dropped_down.load(std::sync::atomic::Ordering::Relaxed),
        counters.dropped_up.load(std::sync::atomic::Ordering::Relaxed),
        counters.reordered_down.load(std::sync::atomic::Ordering::Relaxed),
        unreliable.len(),
        godot_style.len(),
        ordered.len(),
        unordered.len(),
        info["4"],
    );
}
