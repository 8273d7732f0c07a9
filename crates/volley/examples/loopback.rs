//! Loopback demo: a server and a client in one process on 127.0.0.1, showing
//! the three transfer modes with figures.
//!
//! ```sh
//! cargo run --release -p volley --example loopback            # a few seconds per phase
//! cargo run --release -p volley --example loopback -- --quick # CI-sized
//! ```
//!
//! The server runs in its own thread: it counts what arrives per mode and
//! echoes the ping channel. The client sends each phase's messages in
//! batches, as a game would per frame, and the host aggregates them into
//! datagrams.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use volley::{Event, Host, HostConfig, PeerHandle, TransferMode};

/// Channel on which the server echoes (for round trips).
const ECHO: u8 = 3;

/// What the server has received, per mode.
#[derive(Default)]
struct Counters {
    reliable: AtomicU64,
    unreliable_ordered: AtomicU64,
    unreliable: AtomicU64,
    bytes: AtomicU64,
}

fn serve(mut host: Host, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match host.service(Duration::from_millis(50)) {
            Ok(Some(Event::Received { peer, channel, mode, payload })) => {
                if channel == ECHO {
                    let _ = host.send(peer, ECHO, mode, &payload);
                    let _ = host.flush();
                } else {
                    let counter = match mode {
                        TransferMode::Reliable => &counters.reliable,
                        TransferMode::UnreliableOrdered => &counters.unreliable_ordered,
                        TransferMode::Unreliable => &counters.unreliable,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    counters.bytes.fetch_add(payload.len() as u64, Ordering::Relaxed);
                }
                host.recycle(payload);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("server: {e}");
                return;
            }
        }
    }
}

/// Sends `count` messages of `size` bytes in `mode`, `batch` per service
/// round, and waits until the server counted them (or `patience` passed).
/// Returns (elapsed, received).
fn phase(
    client: &mut Host,
    server: PeerHandle,
    counters: &Counters,
    mode: TransferMode,
    size: usize,
    count: u64,
    patience: Duration,
) -> (Duration, u64) {
    let counter = match mode {
        TransferMode::Reliable => &counters.reliable,
        TransferMode::UnreliableOrdered => &counters.unreliable_ordered,
        TransferMode::Unreliable => &counters.unreliable,
    };
    let before = counter.load(Ordering::Relaxed);
    let message = vec![0xA5u8; size];
    let batch = 64;
    let start = Instant::now();
    let mut sent = 0;
    let mut last_dot = start;
    while sent < count {
        let n = batch.min(count - sent);
        for _ in 0..n {
            if client.send(server, 0, mode, &message).is_err() {
                break;
            }
            sent += 1;
        }
        let _ = client.service(Duration::ZERO);
        // Unreliable data is not held back by acknowledgements: pace it by
        // the receiver so the demo measures delivery, not socket overflow.
        while mode != TransferMode::Reliable
            && sent - (counter.load(Ordering::Relaxed) - before) > 4096
        {
            if client.service(Duration::from_micros(200)).is_err() || start.elapsed() > patience {
                break;
            }
        }
        if last_dot.elapsed() > Duration::from_millis(500) {
            // Progress goes to stderr so the table stays clean.
            eprint!(".");
            let _ = std::io::stderr().flush();
            last_dot = Instant::now();
        }
    }
    let deadline = start + patience;
    while counter.load(Ordering::Relaxed) - before < count && Instant::now() < deadline {
        let _ = client.service(Duration::from_millis(1));
        if mode != TransferMode::Reliable
            && client.peer_stats(server).is_some_and(|s| s.reliable_in_flight == 0)
        {
            // Unreliable: give stragglers a moment, then count what came.
            let settle = Instant::now() + Duration::from_millis(100);
            while Instant::now() < settle {
                let _ = client.service(Duration::from_millis(1));
            }
            break;
        }
    }
    (start.elapsed(), counter.load(Ordering::Relaxed) - before)
}

fn round_trips(client: &mut Host, server: PeerHandle, count: usize) -> Vec<Duration> {
    let mut rtts = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        let _ =
            client.send(server, ECHO, TransferMode::Reliable, &(i as u32).to_le_bytes().repeat(8));
        let _ = client.flush();
        loop {
            match client.service(Duration::from_millis(100)) {
                Ok(Some(Event::Received { channel: ECHO, payload, .. })) => {
                    client.recycle(payload);
                    break;
                }
                Ok(_) if start.elapsed() > Duration::from_secs(2) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        rtts.push(start.elapsed());
    }
    rtts.sort();
    rtts
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 1 } else { 10 };
    let mut server_config = HostConfig::server("127.0.0.1:0".parse()?);
    server_config.endpoint().channel_limit(4);
    let server_host = Host::new(server_config)?;
    let server_addr = server_host.local_addr();
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let server_thread = {
        let (counters, stop) = (counters.clone(), stop.clone());
        thread::spawn(move || serve(server_host, counters, stop))
    };

    let mut client = Host::new(HostConfig::client())?;
    let server = client.connect(server_addr, 4, 0)?;
    let connected_by = Instant::now() + Duration::from_secs(5);
    loop {
        match client.service(Duration::from_millis(100))? {
            Some(Event::Connected { .. }) => break,
            _ if Instant::now() > connected_by => return Err("could not connect".into()),
            _ => {}
        }
    }
    println!(
        "Volley loopback demo: client and server on {server_addr}, {} run",
        if quick { "quick" } else { "full" }
    );
    println!(
        "{:<34} {:>10} {:>14} {:>12} {:>10}",
        "phase", "messages", "messages/s", "MB/s", "delivered"
    );
    let phases = [
        ("reliable 64 B", TransferMode::Reliable, 64, 50_000 * scale),
        ("reliable 1200 B", TransferMode::Reliable, 1200, 10_000 * scale),
        ("reliable 100 KiB (fragmented)", TransferMode::Reliable, 100 * 1024, 20 * scale),
        ("unreliable-ordered 64 B", TransferMode::UnreliableOrdered, 64, 50_000 * scale),
        ("unreliable (unsequenced) 64 B", TransferMode::Unreliable, 64, 50_000 * scale),
    ];
    let mut ok = true;
    for (name, mode, size, count) in phases {
        let (elapsed, got) =
            phase(&mut client, server, &counters, mode, size, count, Duration::from_secs(30));
        let secs = elapsed.as_secs_f64();
        let rate = got as f64 / secs;
        let delivered = 100.0 * got as f64 / count as f64;
        println!(
            "{name:<34} {count:>10} {rate:>14.0} {:>12.1} {delivered:>9.1}%",
            rate * size as f64 / 1e6
        );
        if mode == TransferMode::Reliable && got != count {
            ok = false;
        }
    }
    let rtts = round_trips(&mut client, server, 200 * scale as usize);
    let median = rtts[rtts.len() / 2];
    let p99 = rtts[rtts.len() * 99 / 100];
    println!(
        "round trip, 32 B reliable echo ({} samples): median {median:?}, p99 {p99:?}",
        rtts.len()
    );
    if let Some(stats) = client.peer_stats(server) {
        println!(
            "client stats: rtt {:?}, {} commands sent, {} resent, {} bytes sent",
            stats.rtt, stats.packets_sent, stats.packets_lost, stats.bytes_sent
        );
    }
    client.disconnect(server, 0)?;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if let Some(Event::Disconnected { .. }) = client.service(Duration::from_millis(50))? {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = server_thread.join();
    if ok {
        println!("all reliable messages arrived");
        Ok(())
    } else {
        Err("reliable messages were lost".into())
    }
}
