//! A UDP relay on 127.0.0.1 between a browser and a server, which can drop
//! and reorder datagrams (seeded), so a test shows what a lossy path does
//! to a real browser's WebRTC traffic. The browser talks to the relay's
//! front address; each browser address gets an upstream socket of its own
//! towards the server, so the server sees one stable address per browser
//! socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What the relay did, shared with the test.
#[derive(Default)]
pub(crate) struct RelayCounters {
    /// Datagrams dropped on their way to the browser.
    pub(crate) dropped_down: AtomicU64,
    /// Datagrams dropped on their way to the server.
    pub(crate) dropped_up: AtomicU64,
    /// Datagrams held back behind the next one to the browser.
    pub(crate) reordered_down: AtomicU64,
}

/// A running relay; stops when dropped.
pub(crate) struct Relay {
    front: SocketAddr,
    /// While set, datagrams are dropped and reordered.
    pub(crate) lossy: Arc<AtomicBool>,
    pub(crate) counters: Arc<RelayCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    front_socket: Option<UdpSocket>,
}

const FRONT: Token = Token(0);

impl Relay {
    /// Binds the front socket (the address to announce to the browser).
    pub(crate) fn bind() -> Self {
        let front_socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).expect("relay socket");
        Self {
            front: front_socket.local_addr().expect("bound"),
            lossy: Arc::new(AtomicBool::new(false)),
            counters: Arc::new(RelayCounters::default()),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            front_socket: Some(front_socket),
        }
    }

    pub(crate) fn front(&self) -> SocketAddr {
        self.front
    }

    /// Starts relaying to `server`, dropping `loss` of the datagrams in each
    /// direction and holding back `reorder` of those to the browser, while
    /// lossy.
    pub(crate) fn start(&mut self, server: SocketAddr, loss: f64, reorder: f64, seed: u64) {
        let mut front = self.front_socket.take().expect("started once");
        let (lossy, counters, stop) =
            (self.lossy.clone(), self.counters.clone(), self.stop.clone());
        self.thread = Some(thread::spawn(move || {
            let mut poll = Poll::new().expect("poll");
            poll.registry().register(&mut front, FRONT, Interest::READABLE).expect("register");
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut upstream: Vec<(SocketAddr, UdpSocket)> = Vec::new();
            let mut by_browser: HashMap<SocketAddr, usize> = HashMap::new();
            // A datagram held back, and how many more must pass it.
            let mut held: Option<(SocketAddr, Vec<u8>, u32)> = None;
            let mut events = Events::with_capacity(16);
            let mut buf = vec![0; 65536];
            let end = Instant::now() + Duration::from_secs(300);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                poll.poll(&mut events, Some(Duration::from_millis(20))).expect("poll");
                let lossy_now = lossy.load(Ordering::Relaxed);
                // Browser -> server.
                while let Ok((len, from)) = front.recv_from(&mut buf) {
                    let index = *by_browser.entry(from).or_insert_with(|| {
                        let mut socket =
                            UdpSocket::bind("127.0.0.1:0".parse().unwrap()).expect("up");
                        let token = Token(upstream.len() + 1);
                        poll.registry()
                            .register(&mut socket, token, Interest::READABLE)
                            .expect("reg");
                        upstream.push((from, socket));
                        upstream.len() - 1
                    });
                    if lossy_now && rng.random_bool(loss) {
                        counters.dropped_up.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let _ = upstream[index].1.send_to(&buf[..len], server);
                }
                // Server -> browser.
                for (browser, socket) in &upstream {
                    while let Ok((len, _)) = socket.recv_from(&mut buf) {
                        if lossy_now && rng.random_bool(loss) {
                            counters.dropped_down.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if lossy_now && held.is_none() && rng.random_bool(reorder) {
                            counters.reordered_down.fetch_add(1, Ordering::Relaxed);
                            held = Some((*browser, buf[..len].to_vec(), 3));
                            continue;
                        }
                        let _ = front.send_to(&buf[..len], *browser);
                        if let Some((_, _, passes)) = held.as_mut() {
                            *passes -= 1;
                        }
                        if let Some((to, bytes, _)) = held.take_if(|h| h.2 == 0) {
                            let _ = front.send_to(&bytes, to);
                        }
                    }
                }
                if let Some((to, bytes, _)) = held.take_if(|_| !lossy_now) {
                    let _ = front.send_to(&bytes, to);
                }
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
