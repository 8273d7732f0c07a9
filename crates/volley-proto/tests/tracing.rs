//! The `tracing` feature: the events of a connection's life, and dropped
//! input counted and summarised instead of one line per datagram.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::sim::{CLIENT, SERVER, addr, connect, pair};
use volley_proto::sim::{Harness, LinkConfig};
use volley_proto::{EndpointConfig, Event};

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("utf-8").lines().map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `body` with a debug-level subscriber writing into the result.
fn capture(body: impl FnOnce()) -> Vec<String> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, body);
    captured.lines()
}

fn default_pair() -> Harness {
    pair(3, EndpointConfig::default(), EndpointConfig::default(), LinkConfig::default())
}

fn find<'a>(lines: &'a [String], words: &[&str]) -> &'a str {
    lines
        .iter()
        .find(|line| words.iter().all(|w| line.contains(w)))
        .unwrap_or_else(|| panic!("no line with {words:?} in\n{}", lines.join("\n")))
}

#[test]
fn a_connection_and_its_disconnect_are_logged_on_both_sides() {
    let lines = capture(|| {
        let mut h = default_pair();
        let (server_peer, _) = connect(&mut h, 2);
        let now = h.now();
        h.node(1).endpoint.disconnect(now, server_peer, 9).expect("connected");
        assert!(h.run_until(Duration::from_secs(5), |h| {
            h.node(0).events.iter().any(|e| matches!(e, Event::Disconnected { .. }))
        }));
    });
    let client = addr(CLIENT).to_string();
    let server = addr(SERVER).to_string();
    // Client: connecting, connected; server: request, verify-connect, connected.
    find(&lines, &["DEBUG", "volley_proto::connection", "connecting", &server, "channel_count=2"]);
    find(&lines, &["connect request", &client, "data=43981"]);
    find(&lines, &["verify-connect sent", &client]);
    find(&lines, &["connection: connected", &server]);
    find(&lines, &["connection: connected", &client, "data=43981"]);
    // Both sides see the end, with the reason and the data.
    find(&lines, &["disconnected", &client, "disconnected by the remote", "data=9"]);
    find(&lines, &["disconnected", &server, "disconnected locally"]);
}

#[test]
fn a_timeout_is_logged_with_its_reason() {
    let lines = capture(|| {
        let mut h = default_pair();
        connect(&mut h, 1);
        h.network().cut(addr(SERVER), addr(CLIENT), true);
        assert!(h.run_until(Duration::from_secs(60), |h| {
            h.node(0).events.iter().any(|e| matches!(e, Event::Disconnected { .. }))
        }));
    });
    find(&lines, &["disconnected", &addr(CLIENT).to_string(), "timed out"]);
}

#[test]
fn a_flood_of_bad_datagrams_gives_a_first_line_and_summaries() {
    let lines = capture(|| {
        let mut h = default_pair();
        connect(&mut h, 1);
        let attacker = addr("10.0.0.66:4000");
        // 10 000 malformed datagrams over 3.5 s of virtual time.
        for i in 0..10_000u32 {
            let now = h.now() + Duration::from_micros(u64::from(i) * 350);
            h.node(0).endpoint.handle_datagram(now, attacker, &[0xFF, 0x01, 0x02]);
        }
        let stats = h.node(0).endpoint.stats();
        assert_eq!(stats.dropped_malformed + stats.dropped_unknown_peer, 10_000);
    });
    let drops: Vec<&String> = lines.iter().filter(|l| l.contains("volley_proto::drops")).collect();
    // One line for the first drop, with its source, then one summary per
    // second of the flood: never one per datagram.
    assert!(drops[0].contains("10.0.0.66:4000"), "{drops:?}");
    assert!((3..=5).contains(&drops.len()), "{drops:#?}");
    let summarised: u64 = drops
        .iter()
        .filter_map(|l| l.split("dropped=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert!(summarised > 8_000 && summarised < 10_000, "{summarised} in {drops:#?}");
}

#[test]
fn a_refusal_is_logged_on_both_sides() {
    let lines = capture(|| {
        let mut server = EndpointConfig::default();
        server.manual_accept(true);
        let mut h = pair(4, server, EndpointConfig::default(), LinkConfig::default());
        let now = h.now();
        h.node(1).endpoint.connect(now, addr(SERVER), 1, 0).expect("a free slot");
        assert!(h.run_until(Duration::from_secs(1), |h| !h.node(0).events.is_empty()));
        let Some(Event::ConnectRequest { peer, .. }) = h.node(0).events.pop_front() else {
            panic!("a connect request");
        };
        h.node(0).endpoint.refuse(peer, 3).expect("awaiting accept");
        assert!(h.run_until(Duration::from_secs(1), |h| !h.node(1).events.is_empty()));
    });
    find(&lines, &["connection refused", &addr(CLIENT).to_string(), "reason=3"]);
    find(&lines, &["disconnected", &addr(SERVER).to_string(), "refused", "data=3"]);
}
