//! Headless Chromium against Volley's WebRTC links on 127.0.0.1 (feature
//! `browser-tests`; `.ci/run` installs Debian's `chromium` and turns it on).
#![cfg(feature = "browser-tests")]

#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/http.rs"]
mod http;

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
