//! Thousands of idle TCP connections against the WebSocket listener of a
//! live session: the cap on handshakes at once and the handshake timeout
//! keep memory bounded, and the live clients keep exchanging. Alone in its
//! test binary, so the resident memory it prints is its own.

#[path = "websocket_abuse/live.rs"]
mod live;

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use live::Live;
use volley::multiplayer::framing::WireProfile;
use volley::websocket::WsConfig;

/// This process's resident memory, in KiB (Linux).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Lets this process hold as many sockets as the hard limit allows.
#[cfg(target_os = "linux")]
fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    #[allow(unsafe_code)]
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    limit.rlim_cur
}

#[cfg(target_os = "linux")]
#[test]
fn thousands_of_idle_tcp_connections_leave_the_session_undisturbed() {
    const IDLE: usize = 3000;
    let files = raise_file_limit();
    // Each idle connection costs this process two descriptors (both ends).
    let idle = IDLE.min(usize::try_from(files).unwrap_or(0).saturating_sub(200) / 2);
    let config = WsConfig::default().handshake_timeout(Duration::from_millis(1000));
    let mut live = Live::new(WireProfile::Godot4, config);
    live.exchange(10);
    let before = resident_kib().unwrap_or(0);
    let address = live.ws_url();
    let opener = thread::spawn(move || {
        let mut streams = Vec::with_capacity(idle);
        for _ in 0..idle {
            match TcpStream::connect(address) {
                Ok(stream) => streams.push(stream),
                Err(e) => panic!("connect {}: {e}", streams.len()),
            }
        }
        streams
    });
    let mut peak = before;
    let started = live.exchanged;
    live.run_until("the idle connections", |l| {
        l.server.websocket_stats(1).is_some_and(|s| s.accepted + s.refused_at_accept > idle as u64)
    });
    let streams = opener.join().expect("opener");
    peak = peak.max(resident_kib().unwrap_or(0));
    let during = live.exchanged - started;
    // Every idle connection was either refused at accept (beyond the cap of
    // handshakes at once) or timed out; none upgraded.
    live.run_until("the handshake timeouts", |l| {
        l.server
            .websocket_stats(1)
            .is_some_and(|s| s.handshakes_timed_out + s.refused_at_accept >= idle as u64)
    });
    peak = peak.max(resident_kib().unwrap_or(0));
    live.exchange(10);
    live.assert_undisturbed();
    let stats = live.server.websocket_stats(1).expect("websocket");
    let after = resident_kib().unwrap_or(0);
    eprintln!(
        "{idle} idle TCP connections: {} refused at accept, {} timed out in their handshake \
         (at most {} at once); resident memory {before} KiB before, {peak} KiB at the peak, \
         {after} KiB after; {during} live round trips completed meanwhile",
        stats.refused_at_accept,
        stats.handshakes_timed_out,
        WsConfig::default().get_max_pending_handshakes(),
    );
    assert_eq!(stats.opened, 1, "only the live client upgraded");
    assert!(stats.refused_at_accept > 0, "the cap held");
    // Bounded: the cap's handshake buffers (~9 KiB each), not one per
    // connection. A generous bound; the figure is printed above.
    assert!(peak.saturating_sub(before) < 16 * 1024, "{before} -> {peak} KiB");
    drop(streams);
}
