//! The legitimate client an attack must not hurt: a Volley client on a
//! thread of its own that sends a numbered 64-byte reliable message at a
//! steady pace and times each echo.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use volley::socket::SocketConfig;
use volley::{Event, Host, HostConfig, TransferMode};

/// Bytes of each message (its number in the first eight).
const MESSAGE_LEN: usize = 64;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// After the last message, how long echoes may still take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client saw.
#[derive(Debug, Clone, Default)]
pub struct LegitReport {
    /// Messages sent.
    pub sent: u64,
    /// Messages echoed back, in order, once each.
    pub echoed: u64,
    /// Echoes that came out of order or twice (never on a sound engine).
    pub misordered: u64,
    /// The session lived to the end (no disconnect, no failure).
    pub survived: bool,
    /// Why it did not, if it did not.
    pub failure: Option<String>,
    /// Each echo's send time and round trip.
    pub round_trips: Vec<(Instant, Duration)>,
}

impl LegitReport {
    /// Messages that never came back.
    pub fn lost(&self) -> u64 {
        self.sent - self.echoed
    }
}

/// A running legitimate client.
#[derive(Debug)]
pub struct LegitClient {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<LegitReport>>,
}

impl LegitClient {
    /// Connects to `server` and starts sending a message every `interval`;
    /// returns once connected.
    pub fn start(server: SocketAddr, interval: Duration) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, connected) = mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("legit-client".into())
                .spawn(move || run(server, interval, &stop, &ready))?
        };
        match connected.recv() {
            Ok(Ok(())) => Ok(Self { stop, thread: Some(thread) }),
            Ok(Err(why)) => {
                let _ = thread.join();
                Err(io::Error::other(why))
            }
            Err(_) => Err(io::Error::other("the client thread ended")),
        }
    }

    /// Stops sending, waits for the last echoes, disconnects, and reports.
    pub fn finish(mut self) -> LegitReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_else(|| LegitReport {
            failure: Some("the client thread panicked".into()),
            ..LegitReport::default()
        })
    }
}

impl Drop for LegitClient {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn client_host() -> Result<Host, String> {
    let mut config = HostConfig::client();
    config.socket(SocketConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))));
    Host::new(config).map_err(|e| e.to_string())
}

fn run(
    server: SocketAddr,
    interval: Duration,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), String>>,
) -> LegitReport {
    let mut report = LegitReport::default();
    let (mut host, peer) = match connect(server) {
        Ok(connected) => connected,
        Err(why) => {
            let _ = ready.send(Err(why));
            return report;
        }
    };
    let _ = ready.send(Ok(()));
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut next_send = Instant::now();
    let mut stopped_at: Option<Instant> = None;
    report.survived = true;
    loop {
        let now = Instant::now();
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(now);
        }
        match stopped_at {
            None if now >= next_send => {
                let mut message = [0u8; MESSAGE_LEN];
                message[..8].copy_from_slice(&report.sent.to_le_bytes());
                if let Err(e) = host.send(peer, 0, TransferMode::Reliable, &message) {
                    report.survived = false;
                    report.failure = Some(format!("send failed: {e}"));
                    break;
                }
                sent_at.push(now);
                report.sent += 1;
                next_send += interval;
                if next_send < now {
                    next_send = now + interval;
                }
            }
            Some(at) if report.echoed == report.sent || now.duration_since(at) > DRAIN_TIMEOUT => {
                break;
            }
            _ => {}
        }
        let wait =
            next_send.saturating_duration_since(Instant::now()).min(Duration::from_millis(5));
        match host.service(wait) {
            Ok(Some(Event::Received { payload, .. })) => {
                let number = payload
                    .get(..8)
                    .map_or(u64::MAX, |b| u64::from_le_bytes(b.try_into().unwrap_or([0xFF; 8])));
                if number == report.echoed && (number as usize) < sent_at.len() {
                    let at = sent_at[number as usize];
                    report.round_trips.push((at, at.elapsed()));
                    report.echoed += 1;
                } else {
                    report.misordered += 1;
                }
                host.recycle(payload);
            }
            Ok(Some(Event::Disconnected { reason, .. })) => {
                report.survived = false;
                report.failure = Some(format!("disconnected: {reason}"));
                return report;
            }
            Ok(_) => {}
            Err(e) => {
                report.survived = false;
                report.failure = Some(format!("service failed: {e}"));
                return report;
            }
        }
    }
    let _ = host.disconnect_now(peer, 0);
    let _ = host.flush();
    report
}

/// A fresh client connects to `server`; returns the host and its peer.
fn connect(server: SocketAddr) -> Result<(Host, volley::PeerHandle), String> {
    let mut host = client_host()?;
    let peer = host.connect(server, 1, 0).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    while Instant::now() < deadline {
        match host.service(Duration::from_millis(10)).map_err(|e| e.to_string())? {
            Some(Event::Connected { .. }) => return Ok((host, peer)),
            Some(Event::Disconnected { reason, .. }) => return Err(format!("refused: {reason}")),
            _ => {}
        }
    }
    Err(format!("no connection within {CONNECT_TIMEOUT:?}"))
}

/// A fresh client tries to connect to `server`: how long it took, or why it failed.
pub fn connect_once(server: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let (host, peer) = connect(server)?;
    let took = started.elapsed();
    let _ = host.disconnect_now(peer, 0);
    let _ = host.flush();
    Ok(took)
}
