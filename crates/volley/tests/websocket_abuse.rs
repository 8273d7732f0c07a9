//! Bad input against a live session with WebSocket and ENet clients, on
//! 127.0.0.1: garbage before and after the upgrade, oversize frames,
//! spoofed and malformed Godot messages, handshakes that never finish. The
//! live clients keep exchanging throughout.

#[path = "websocket_abuse/live.rs"]
mod live;
#[path = "support/raw_ws.rs"]
mod raw_ws;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use live::{LIMIT, Live};
use raw_ws::{read_to_end, upgrade};
use volley::multiplayer::MultiplayerPeer;
use volley::multiplayer::framing::WireProfile;
use volley::websocket::WsConfig;

/// A masked binary frame (mask 0: the bytes as they are) holding `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x82];
    match payload.len() {
        len @ 0..=125 => bytes.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(payload);
    bytes
}

/// The first close frame's code in what a server sent, if any.
fn close_code(bytes: &[u8]) -> Option<u16> {
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let (opcode, len) = (bytes[at] & 0x0F, usize::from(bytes[at + 1] & 0x7F));
        let (header, len) = match len {
            126 => (4, usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]))),
            127 => return None,
            len => (2, len),
        };
        if opcode == 8 && len >= 2 {
            return Some(u16::from_be_bytes([bytes[at + header], bytes[at + header + 1]]));
        }
        at += header + len;
    }
    None
}

/// Runs the live session while `abuse` runs on another thread; returns
/// what the abuse returned.
fn while_abused<T: Send + 'static>(
    live: &mut Live,
    abuse: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> T {
    let address = live.ws_url();
    let abuser = thread::spawn(move || abuse(address));
    live.run_until("the abuse", |_| abuser.is_finished());
    abuser.join().expect("abuser")
}

#[test]
fn garbage_and_oversize_frames_close_only_their_sender() {
    for profile in [WireProfile::Relay, WireProfile::Godot4] {
        let mut live = Live::new(profile, WsConfig::default());
        live.exchange(5);
        let answers = while_abused(&mut live, |address| {
            let mut answers = Vec::new();
            // Garbage instead of a request, and junk after a valid one.
            for bytes in [&b"\x00\x01\x02garbage\r\n\r\n"[..], b"GET / HTTP/1.1\r\n\r\n"] {
                let mut stream = TcpStream::connect(address).expect("connect");
                stream.set_read_timeout(Some(LIMIT)).expect("timeout");
                stream.write_all(bytes).expect("write");
                answers.push(read_to_end(&mut stream));
            }
            // After the upgrade: an unmasked frame, a reserved opcode, an
            // oversize message (64 KiB + 1), a frame claiming 2^62 bytes.
            let oversize = frame(&vec![3u8; 65_537]);
            let mut huge = vec![0x82, 0xFF];
            huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
            huge.extend_from_slice(&[0, 0, 0, 0]);
            for bytes in [vec![0x82, 0x02, 3, 3], vec![0x83, 0x80, 0, 0, 0, 0], oversize, huge] {
                let mut stream = upgrade(address);
                // Past the id message(s) the server sends first.
                let _ = stream.write_all(&bytes);
                answers.push(read_to_end(&mut stream));
            }
            answers
        });
        assert!(
            !answers[0].starts_with(b"HTTP/1.1 101") && !answers[1].starts_with(b"HTTP/1.1 101")
        );
        let codes: Vec<Option<u16>> = answers[2..].iter().map(|a| close_code(a)).collect();
        assert_eq!(codes, [Some(1002), Some(1002), Some(1009), Some(1009)], "{profile}");
        let stats = live.server.websocket_stats(1).expect("a WebSocket listener");
        assert_eq!(stats.handshakes_failed, 2, "{profile}");
        assert_eq!(stats.closed_for_abuse, 4, "{profile}");
        // The abusers that got in joined and left like any client; the live
        // pair went on.
        live.exchange(5);
        live.assert_undisturbed();
        assert_eq!(live.server.stats().dropped_malformed, 4, "{profile}: counted as malformed");
    }
}

#[test]
fn spoofed_and_malformed_godot3_messages_are_dropped_and_counted() {
    let mut live = Live::new(WireProfile::Relay, WsConfig::default());
    let enet_id = live.enet.unique_id();
    live.exchange(3);
    let before = live.server.stats();
    let dropped = while_abused(&mut live, move |address| {
        let mut stream = upgrade(address);
        // SYS_ID, SYS_ADD(1), SYS_ADD(live ws), SYS_ADD(live enet): 4 x 13.
        let mut id_bytes = [0u8; 13];
        stream.read_exact(&mut id_bytes[..2]).expect("frame header");
        stream.read_exact(&mut id_bytes).expect("SYS_ID");
        let me = i32::from_le_bytes([id_bytes[9], id_bytes[10], id_bytes[11], id_bytes[12]]);
        let to_enet = i32::from(enet_id);
        let godot3 = |kind: u8, from: i32, to: i32, payload: &[u8]| {
            let mut bytes = vec![kind];
            bytes.extend_from_slice(&from.to_le_bytes());
            bytes.extend_from_slice(&to.to_le_bytes());
            bytes.extend_from_slice(payload);
            frame(&bytes)
        };
        // A spoofed sender, a system message from a client, unknown type,
        // an unknown target, then one honest packet to the server.
        for bytes in [
            godot3(0, to_enet, 1, b"spoofed"),
            godot3(1, 1, 0, &to_enet.to_le_bytes()),
            godot3(9, me, 1, b"unknown type"),
            godot3(0, me, 0x7FFF_FFF0, b"nobody"),
            frame(&[0, 1, 2]),
            godot3(0, me, 1, b"honest"),
        ] {
            stream.write_all(&bytes).expect("write");
        }
        stream
    });
    live.run_until("the drops", |l| {
        let now = l.server.stats();
        now.dropped_spoofed > before.dropped_spoofed
            && now.dropped_malformed >= before.dropped_malformed + 3
            && now.dropped_unroutable > before.dropped_unroutable
    });
    let after = live.server.stats();
    assert_eq!(after.dropped_spoofed - before.dropped_spoofed, 1);
    assert_eq!(
        after.dropped_malformed - before.dropped_malformed,
        3,
        "system, unknown type, short"
    );
    assert_eq!(after.dropped_unroutable - before.dropped_unroutable, 1);
    // Godot drops and logs, it does not disconnect: the sender stays.
    assert_eq!(live.server.websocket_stats(1).expect("websocket").closed_for_abuse, 0);
    live.exchange(3);
    live.assert_undisturbed();
    drop(dropped);
}

#[test]
fn malformed_godot4_sys_packets_are_dropped_and_counted() {
    let mut live = Live::new(WireProfile::Godot4, WsConfig::default());
    live.exchange(3);
    let before = live.server.stats();
    let stream = while_abused(&mut live, |address| {
        let mut stream = upgrade(address);
        let mut id = [0u8; 6];
        stream.read_exact(&mut id).expect("the id message");
        assert_eq!(&id[..2], &[0x82, 4], "one binary frame of 4 bytes");
        // SYS shorter than 6 bytes, an unknown SYS command, a RELAY with
        // nothing inside, ADD_PEER from a client.
        for bytes in
            [&[7u8, 1, 0][..], &[7, 9, 0, 0, 0, 0], &[7, 3, 0, 0, 0, 0], &[7, 1, 2, 0, 0, 0]]
        {
            stream.write_all(&frame(bytes)).expect("write");
        }
        stream
    });
    live.run_until("the malformed packets", |l| {
        l.server.stats().dropped_malformed >= before.dropped_malformed + 4
    });
    assert_eq!(live.server.websocket_stats(1).expect("websocket").closed_for_abuse, 0);
    live.exchange(3);
    live.assert_undisturbed();
    drop(stream);
}

#[test]
fn handshakes_that_never_finish_time_out() {
    let config = WsConfig::default().handshake_timeout(Duration::from_millis(400));
    let mut live = Live::new(WireProfile::Godot4, config);
    live.exchange(3);
    let streams = while_abused(&mut live, |address| {
        // Nothing at all, and half a request.
        let silent = TcpStream::connect(address).expect("connect");
        let mut half = TcpStream::connect(address).expect("connect");
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("write");
        vec![silent, half]
    });
    live.run_until("the timeouts", |l| {
        l.server.websocket_stats(1).is_some_and(|s| s.handshakes_timed_out == 2)
    });
    for mut stream in streams {
        stream.set_read_timeout(Some(LIMIT)).expect("timeout");
        assert!(read_to_end(&mut stream).is_empty(), "closed without an answer");
    }
    live.exchange(3);
    live.assert_undisturbed();
    let stats = live.server.websocket_stats(1).expect("websocket");
    assert_eq!(stats.opened, 1, "only the live client ever upgraded");
}
