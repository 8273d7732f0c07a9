//! The relay session and its loop: clients joining and leaving, stats on
//! demand, refusing on demand, and the clean shutdown.

use std::collections::BTreeMap;
use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use volley::HostError;
use volley::multiplayer::enet::EnetListener;
use volley::multiplayer::session::{CreateError, ServerSession, SessionOptions};
use volley::multiplayer::websocket::WsListener;
use volley::multiplayer::{Incoming, MultiplayerPeer, PeerEvent, PeerId, PollError};
use volley::socket::BindError;
use volley::websocket::tls::server_config_from_pem_files;
use volley_proto::EndpointConfig;

use crate::cli::{Args, Generation};
use crate::signals::Signals;

/// The longest the loop sleeps before looking at the signal flags.
const TICK: Duration = Duration::from_millis(100);

/// How often refusals are reported at most (a connect flood is refused
/// handshake by handshake).
const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Why the server could not run.
#[derive(Debug)]
pub(crate) enum ServerError {
    /// The session could not start (a port in use, say).
    Start {
        /// The WebSocket (TCP) address asked for.
        websocket: Option<SocketAddr>,
        /// What went wrong.
        error: CreateError,
    },
    /// The certificate or key for wss:// could not be loaded.
    Tls(String),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
    /// The sockets failed while serving.
    Poll(PollError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start { error: CreateError::Host(HostError::Bind(bind)), .. } => {
                let (address, why) = match bind {
                    BindError::AddressInUse(a) => {
                        (a, "the port is already in use (another server running?)")
                    }
                    BindError::AddressNotAvailable(a) => (a, "no such address on this machine"),
                    BindError::PermissionDenied(a) => {
                        (a, "permission denied (ports below 1024 need privileges)")
                    }
                    other => return write!(f, "cannot listen on UDP: {other}"),
                };
                write!(f, "cannot listen on UDP {address}: {why}")
            }
            Self::Start { websocket: Some(address), error: CreateError::Io(e), .. } => {
                let why = match e.kind() {
                    ErrorKind::AddrInUse => "the port is already in use (another server running?)",
                    ErrorKind::AddrNotAvailable => "no such address on this machine",
                    ErrorKind::PermissionDenied => {
                        "permission denied (ports below 1024 need privileges)"
                    }
                    _ => return write!(f, "cannot listen on TCP {address} or poll: {e}"),
                };
                write!(f, "cannot listen on TCP {address}: {why}")
            }
            Self::Start { error, .. } => write!(f, "cannot start the session: {error}"),
            Self::Tls(e) => write!(f, "cannot serve wss://: {e}"),
            Self::Signals(e) => write!(f, "cannot install the signal handlers: {e}"),
            Self::Poll(e) => write!(f, "serving failed: {e}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// A connected client as the server remembers it.
#[derive(Debug, Clone, Copy)]
struct Client {
    address: Option<SocketAddr>,
    joined: Instant,
}

/// The running server.
struct Server {
    session: ServerSession,
    clients: BTreeMap<PeerId, Client>,
    /// Packets addressed to the server itself, which runs no game logic.
    packets_to_server: u64,
    refusals_reported: u64,
    refusals_reported_at: Option<Instant>,
    max_clients: usize,
}

/// Opens the session `args` describe and serves until a shutdown signal.
pub(crate) fn run(args: &Args) -> Result<(), ServerError> {
    let mut server = Server::start(args)?;
    let signals = Signals::install().map_err(ServerError::Signals)?;
    let mut next_stats = args.stats_every().map(|every| Instant::now() + every);
    while !signals.terminate() {
        server.session.poll_timeout(TICK).map_err(ServerError::Poll)?;
        server.take_incoming();
        server.report_refusals(Instant::now());
        let due = next_stats.is_some_and(|at| Instant::now() >= at);
        if signals.take_stats() || due {
            server.log_stats();
            next_stats = args.stats_every().map(|every| Instant::now() + every);
        }
        if signals.take_toggle_refusing() {
            let refusing = !server.session.is_refusing_new_connections();
            server.session.set_refuse_new_connections(refusing);
            info!(refusing, "refusing new connections: {}", if refusing { "on" } else { "off" });
        }
    }
    server.shut_down(args.shutdown_grace)
}

impl Server {
    fn start(args: &Args) -> Result<Self, ServerError> {
        let profile = args.godot.profile();
        let channels = args.channels.unwrap_or_else(|| profile.max_user_channel() + 1);
        let mut endpoint = EndpointConfig::default();
        endpoint.checksum(args.checksum).range_coder(args.compress);
        let mut builder = ServerSession::builder(profile)
            .max_clients(usize::from(args.max_clients))
            .channels(channels)
            .options(SessionOptions::default().server_relay(!args.no_relay));
        if let Some(enet) = args.enet {
            builder = builder.enet(EnetListener::new(enet).endpoint(endpoint));
        }
        if let Some(websocket) = args.websocket {
            let mut listener = WsListener::new(websocket);
            if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
                let tls = server_config_from_pem_files(cert, key)
                    .map_err(|e| ServerError::Tls(e.to_string()))?;
                listener = listener.tls(tls);
            }
            builder = builder.websocket(listener);
        }
        let session = builder
            .build()
            .map_err(|error| ServerError::Start { websocket: args.websocket, error })?;
        let mut server = Self {
            session,
            clients: BTreeMap::new(),
            packets_to_server: 0,
            refusals_reported: 0,
            refusals_reported_at: None,
            max_clients: usize::from(args.max_clients),
        };
        if args.refuse_new_connections {
            server.session.set_refuse_new_connections(true);
        }
        // Listeners are numbered in the order they were added.
        let enet = args.enet.and_then(|_| server.session.local_addr(0));
        let websocket = args
            .websocket
            .and_then(|_| server.session.local_addr(usize::from(args.enet.is_some())));
        let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
        info!(
            godot = match args.godot {
                Generation::Godot3 => 3,
                Generation::Godot4 => 4,
            },
            enet = enet.map(tracing::field::display),
            websocket = websocket.map(|a| tracing::field::display(format!("{scheme}://{a}/"))),
            max_clients = args.max_clients,
            channels,
            relay = !args.no_relay,
            compress = args.compress,
            checksum = args.checksum,
            refusing = args.refuse_new_connections,
            "listening"
        );
        Ok(server)
    }

    /// Handles what the session delivered: joins, departures, and packets
    /// for the server (dropped: it runs no game logic).
    fn take_incoming(&mut self) {
        while let Some(incoming) = self.session.next_incoming() {
            match incoming {
                Incoming::Packet(packet) => {
                    self.packets_to_server += 1;
                    self.session.recycle(packet.payload);
                }
                Incoming::Event(PeerEvent::Connected(peer)) => {
                    let address = self.session.peer_address(peer);
                    self.clients.insert(peer, Client { address, joined: Instant::now() });
                    info!(
                        %peer,
                        address = address.map(tracing::field::display),
                        clients = self.clients.len(),
                        "client joined"
                    );
                }
                Incoming::Event(PeerEvent::Disconnected(peer, reason)) => {
                    let client = self.clients.remove(&peer);
                    info!(
                        %peer,
                        %reason,
                        address = client.and_then(|c| c.address).map(tracing::field::display),
                        stayed_s = client.map(|c| c.joined.elapsed().as_secs()),
                        clients = self.clients.len(),
                        "client left"
                    );
                }
                Incoming::Event(other) => tracing::debug!(event = ?other, "session event"),
            }
        }
    }

    /// Says how many connections the session refused since the last report
    /// (at most once per [`REFUSAL_REPORT_INTERVAL`]).
    fn report_refusals(&mut self, now: Instant) {
        let refused = self.session.stats().connections_refused;
        let recent = self
            .refusals_reported_at
            .is_some_and(|at| now.saturating_duration_since(at) < REFUSAL_REPORT_INTERVAL);
        if refused > self.refusals_reported && !recent {
            info!(
                refused = refused - self.refusals_reported,
                total = refused,
                full = self.clients.len() >= self.max_clients,
                refusing = self.session.is_refusing_new_connections(),
                "refused connections (server full, refusing, or a bad or duplicate id)"
            );
            self.refusals_reported = refused;
            self.refusals_reported_at = Some(now);
        }
    }

    /// One line per client (round trip, loss, traffic), then one for the
    /// session.
    fn log_stats(&self) {
        for (peer, client) in &self.clients {
            let address = client.address.map(tracing::field::display);
            match self.session.peer_stats(*peer) {
                Some(s) => info!(
                    target: "volley_server::stats",
                    %peer,
                    address,
                    rtt_ms = s.rtt.as_secs_f64() * 1e3,
                    rtt_variance_ms = s.rtt_variance.as_secs_f64() * 1e3,
                    loss_percent = f64::from(s.packet_loss) * 100.0 / 65536.0,
                    packets_sent = s.packets_sent,
                    packets_received = s.packets_received,
                    bytes_sent = s.bytes_sent,
                    bytes_received = s.bytes_received,
                    packets_lost = s.packets_lost,
                    reliable_in_flight = s.reliable_in_flight,
                    connected_s = client.joined.elapsed().as_secs(),
                    "client"
                ),
                None => {
                    info!(target: "volley_server::stats", %peer, address, "client (no engine stats)")
                }
            }
        }
        let s = self.session.stats();
        info!(
            target: "volley_server::stats",
            clients = self.clients.len(),
            refusing = self.session.is_refusing_new_connections(),
            relayed = s.packets_relayed,
            copies_failed = s.copies_failed,
            refused = s.connections_refused,
            dropped_spoofed = s.dropped_spoofed,
            dropped_unroutable = s.dropped_unroutable,
            dropped_malformed = s.dropped_malformed,
            to_server = self.packets_to_server,
            "session"
        );
    }

    /// Tells every client, lets what they were sent go first, waits up to
    /// `grace` for their acknowledgements, then drops the rest at once.
    fn shut_down(mut self, grace: Duration) -> Result<(), ServerError> {
        let told = self.clients.len();
        info!(clients = told, grace_s = grace.as_secs_f64(), "shutting down: telling clients");
        self.session.set_refuse_new_connections(true);
        let peers: Vec<PeerId> = self.clients.keys().copied().collect();
        for peer in peers {
            // Queued packets leave first, then a reliable DISCONNECT. A
            // client already gone needs no word.
            if self.session.disconnect_peer(peer, false).is_err() {
                self.clients.remove(&peer);
            }
        }
        let deadline = Instant::now() + grace;
        while !self.clients.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = deadline.saturating_duration_since(now).min(TICK);
            if let Err(e) = self.session.poll_timeout(wait) {
                warn!(error = %e, "polling while shutting down");
                break;
            }
            self.take_incoming();
        }
        let unacknowledged = self.clients.len();
        // What is still queued leaves, and every remaining client gets an
        // immediate DISCONNECT.
        self.session.close();
        info!(told, unacknowledged, "stopped");
        Ok(())
    }
}
