//! [`WsServer`]: a TCP listener and its WebSocket connections, in the
//! caller's poll.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use tungstenite::Bytes;
use tungstenite::protocol::frame::coding::CloseCode;

use super::WsConfig;
use super::connection::{WsConnection, WsEvent};
use super::error::SendError;
use super::stream::Stream;

/// Names one connection of a [`WsServer`]; never reused for a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    index: u32,
    generation: u32,
}

impl ConnectionId {
    /// The connection's slot: a small number, unique among the server's
    /// current connections and reused once a connection is gone (the id as
    /// a whole is never reused).
    pub fn index(self) -> u32 {
        self.index
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws#{}.{}", self.index, self.generation)
    }
}

/// Counters of a [`WsServer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsServerStats {
    /// TCP connections taken into a handshake.
    pub accepted: u64,
    /// TCP connections closed at accept: too many handshakes at once, too
    /// many connections, or refusing new connections.
    pub refused_at_accept: u64,
    /// Handshakes that failed (not a WebSocket upgrade, TLS, subprotocol).
    pub handshakes_failed: u64,
    /// Handshakes that took longer than the handshake timeout.
    pub handshakes_timed_out: u64,
    /// Connections that upgraded.
    pub opened: u64,
    /// Open connections closed for breaking the protocol or the size limit.
    pub closed_for_abuse: u64,
    /// Open connections closed because the peer stopped answering.
    pub closed_for_silence: u64,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    connection: Option<WsConnection>,
    /// Listed in `WsServer::dirty`.
    dirty: bool,
}

/// A WebSocket server on a TCP listener, driven by the caller's mio poll.
///
/// [`register`](Self::register) it with the poll and a base token; it uses
/// that token for the listener and the next
/// [`token_span`](Self::token_span)` - 1` tokens for connections, and
/// [`handles`](Self::handles) tells whether an event is its own. Feed it
/// the events ([`on_ready`](Self::on_ready)), wake it at
/// [`next_deadline`](Self::next_deadline) ([`on_timer`](Self::on_timer)),
/// take what happened with [`poll_event`](Self::poll_event), queue
/// messages with [`send`](Self::send) and write them with
/// [`flush`](Self::flush).
///
/// Bounded as the UDP side is: connections still in their handshake are
/// capped and timed out, open ones are capped, pinged and timed out, each
/// has a bounded outbound queue, and a peer that sends garbage, a bad frame
/// or an oversize message is closed alone.
#[derive(Debug)]
pub struct WsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: WsConfig,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    registry: Option<Registry>,
    base: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
    handshaking: usize,
    connections: usize,
    refusing: bool,
    events: VecDeque<(ConnectionId, WsEvent)>,
    /// Connections with frames to flush or bytes left to read.
    dirty: Vec<ConnectionId>,
    /// The list `flush` walks while `dirty` fills again (kept for its
    /// allocation).
    flushing: Vec<ConnectionId>,
    /// No connection has a deadline before this (it may be early).
    earliest: Option<Instant>,
    stats: WsServerStats,
}

impl WsServer {
    /// A server listening on `bind` (port 0 picks a free port).
    pub fn bind(bind: SocketAddr, config: WsConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            config,
            #[cfg(feature = "tls")]
            tls: None,
            registry: None,
            base: 0,
            slots: Vec::new(),
            free: Vec::new(),
            handshaking: 0,
            connections: 0,
            refusing: false,
            events: VecDeque::new(),
            dirty: Vec::new(),
            flushing: Vec::new(),
            earliest: None,
            stats: WsServerStats::default(),
        })
    }

    /// Serves `wss://`: every connection speaks TLS with `tls` first (see
    /// [`tls::server_config_from_pem_files`](super::tls::server_config_from_pem_files)).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The settings.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// How many tokens from the base the server uses: the listener and one
    /// per connection it may hold.
    pub fn token_span(&self) -> usize {
        1 + self.config.max_connections
    }

    /// Registers the listener with `registry` under `base`; connections get
    /// the tokens after it.
    pub fn register(&mut self, registry: &Registry, base: Token) -> io::Result<()> {
        registry.register(&mut self.listener, base, Interest::READABLE)?;
        self.registry = Some(registry.try_clone()?);
        self.base = base.0;
        Ok(())
    }

    /// Whether an event with `token` is this server's.
    pub fn handles(&self, token: Token) -> bool {
        token.0.wrapping_sub(self.base) < self.token_span()
    }

    /// Whether newcomers are turned away.
    pub fn is_refusing_new_connections(&self) -> bool {
        self.refusing
    }

    /// Turns newcomers away (their TCP connection is closed at accept, as
    /// Godot does) or welcomes them again. Open connections stay.
    pub fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.refusing = refuse;
    }

    /// Counters.
    pub fn stats(&self) -> WsServerStats {
        self.stats
    }

    /// Connections in their handshake.
    pub fn handshaking(&self) -> usize {
        self.handshaking
    }

    /// Connections open or in their handshake.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// The remote address of a connection.
    pub fn peer_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.get(id).map(WsConnection::peer_addr)
    }

    /// The path a connection asked for in its upgrade request (`/` for
    /// `ws://host:port`), once it is open.
    pub fn path(&self, id: ConnectionId) -> Option<&str> {
        self.get(id)?.path()
    }

    /// The next event: a connection opened, a message, a connection closed.
    /// A connection's events come in that order, `Closed` once and last.
    pub fn poll_event(&mut self) -> Option<(ConnectionId, WsEvent)> {
        self.events.pop_front()
    }

    /// When [`on_timer`](Self::on_timer) has work: a handshake or close
    /// deadline, a ping, a dead peer, or bytes left to read now.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.dirty.iter().any(|&id| self.get(id).is_some_and(WsConnection::wants_read)) {
            return Some(now);
        }
        self.earliest
    }

    /// Handles the readiness of `token` (one of [`handles`](Self::handles)).
    pub fn on_ready(&mut self, token: Token, now: Instant) {
        let offset = token.0.wrapping_sub(self.base);
        if offset == 0 {
            self.accept_all(now);
        } else if let Some(index) = offset.checked_sub(1).and_then(|i| u32::try_from(i).ok()) {
            let Some(slot) = self.slots.get(index as usize) else { return };
            let id = ConnectionId { index, generation: slot.generation };
            self.drive(id, now, |connection, now, sink| connection.on_ready(now, sink));
        }
    }

    /// Runs what is due: reads left over, then (when a deadline passed)
    /// every connection's timers.
    pub fn on_timer(&mut self, now: Instant) {
        let leftover: Vec<ConnectionId> = self
            .dirty
            .iter()
            .copied()
            .filter(|&id| self.get(id).is_some_and(WsConnection::wants_read))
            .collect();
        for id in leftover {
            self.drive(id, now, |connection, now, sink| connection.on_ready(now, sink));
        }
        if self.earliest.is_none_or(|earliest| now < earliest) {
            return;
        }
        self.earliest = None;
        for index in 0..self.slots.len() {
            let generation = self.slots[index].generation;
            let id = ConnectionId { index: index as u32, generation };
            self.drive(id, now, |connection, now, sink| connection.on_timer(now, sink));
        }
    }

    /// Queues a binary message for a connection; it leaves at the next
    /// [`flush`](Self::flush), batched with the others.
    pub fn send(&mut self, id: ConnectionId, data: Bytes) -> Result<(), SendError> {
        let connection = self.get_mut(id).ok_or(SendError::NotOpen)?;
        let result = connection.send(data);
        if connection.wants_flush() {
            self.mark_dirty(id);
        }
        result
    }

    /// Writes what every connection has queued, as far as the sockets take it.
    pub fn flush(&mut self) {
        let now = Instant::now();
        std::mem::swap(&mut self.dirty, &mut self.flushing);
        let mut flushing = std::mem::take(&mut self.flushing);
        for &id in &flushing {
            if let Some(slot) = self.slots.get_mut(id.index as usize) {
                slot.dirty = false;
            }
        }
        // What still waits (a full socket, bytes left to read) is listed
        // again by `drive`.
        for &id in &flushing {
            self.drive(id, now, |connection, _, _| connection.flush());
        }
        flushing.clear();
        self.flushing = flushing;
    }

    /// Closes a connection gracefully: what is queued leaves, then a close
    /// frame with `code`; its `Closed` event follows when the peer answers
    /// or the close timeout passes.
    pub fn close(&mut self, id: ConnectionId, code: CloseCode, reason: &'static str) {
        let now = Instant::now();
        self.drive(id, now, |connection, now, _| connection.close(now, code, reason));
    }

    /// Drops a connection at once; its `Closed` event is queued now.
    pub fn abort(&mut self, id: ConnectionId) {
        self.drive(id, Instant::now(), |connection, _, _| connection.abort());
    }

    /// Closes every connection at once and stops listening for events (the
    /// listener stays bound until the server is dropped).
    pub fn shutdown(&mut self) {
        for index in 0..self.slots.len() {
            let id = ConnectionId { index: index as u32, generation: self.slots[index].generation };
            self.abort(id);
        }
        if let Some(registry) = &self.registry {
            let _ = registry.deregister(&mut self.listener);
        }
        self.registry = None;
    }

    fn get(&self, id: ConnectionId) -> Option<&WsConnection> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation).then_some(slot.connection.as_ref()).flatten()
    }

    fn get_mut(&mut self, id: ConnectionId) -> Option<&mut WsConnection> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation).then_some(slot.connection.as_mut()).flatten()
    }

    fn mark_dirty(&mut self, id: ConnectionId) {
        let slot = &mut self.slots[id.index as usize];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Runs `step` on a connection, collects its events, and keeps the
    /// books: counts, deadlines, dirtiness, and the slot once it closed.
    fn drive(
        &mut self,
        id: ConnectionId,
        now: Instant,
        step: impl FnOnce(&mut WsConnection, Instant, &mut dyn FnMut(WsEvent)),
    ) {
        let mut events = std::mem::take(&mut self.events);
        let Some(connection) = self
            .slots
            .get_mut(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .and_then(|slot| slot.connection.as_mut())
        else {
            self.events = events;
            return;
        };
        let was_handshaking = connection.is_handshaking();
        let mut closed = None;
        let mut opened = false;
        step(connection, now, &mut |event| {
            match &event {
                WsEvent::Opened => opened = true,
                WsEvent::Closed(reason) => closed = Some(reason.clone()),
                WsEvent::Message { .. } => {}
            }
            events.push_back((id, event));
        });
        // A step that closes without a sink (abort, close before open).
        if closed.is_none()
            && let Some(reason) = connection.take_closed()
        {
            closed = Some(reason.clone());
            events.push_back((id, WsEvent::Closed(reason)));
        }
        let wants_work = connection.wants_flush() || connection.wants_read();
        let deadline = connection.next_deadline();
        self.events = events;
        if was_handshaking && (opened || closed.is_some()) {
            self.handshaking -= 1;
        }
        if opened {
            self.stats.opened += 1;
        }
        if let Some(reason) = closed {
            self.count_close(was_handshaking && !opened, &reason);
            self.release(id);
            return;
        }
        if wants_work {
            self.mark_dirty(id);
        }
        if let Some(deadline) = deadline {
            self.earliest = Some(self.earliest.map_or(deadline, |e| e.min(deadline)));
        }
    }

    fn count_close(&mut self, during_handshake: bool, reason: &super::CloseReason) {
        use super::CloseReason as R;
        match reason {
            R::HandshakeTimeout => self.stats.handshakes_timed_out += 1,
            _ if during_handshake => self.stats.handshakes_failed += 1,
            R::MessageTooBig | R::InvalidUtf8 | R::ProtocolViolation(_) => {
                self.stats.closed_for_abuse += 1;
            }
            R::PeerTimeout => self.stats.closed_for_silence += 1,
            _ => {}
        }
    }

    fn release(&mut self, id: ConnectionId) {
        let slot = &mut self.slots[id.index as usize];
        slot.connection = None;
        slot.generation = slot.generation.wrapping_add(1);
        if slot.dirty {
            slot.dirty = false;
            self.dirty.retain(|listed| listed.index != id.index);
        }
        self.free.push(id.index);
        self.connections -= 1;
    }

    /// Takes every waiting TCP connection: into a handshake if there is
    /// room, closed at once otherwise.
    fn accept_all(&mut self, now: Instant) {
        loop {
            let (tcp, peer_addr) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or a connection reset in the backlog:
                // try again at the next readiness.
                Err(_) => return,
            };
            let full = self.handshaking >= self.config.max_pending_handshakes
                || self.connections >= self.config.max_connections;
            if full || self.refusing || self.registry.is_none() {
                refuse(&tcp);
                self.stats.refused_at_accept += 1;
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let Some(stream) = self.stream_for(tcp) else {
                self.stats.handshakes_failed += 1;
                continue;
            };
            let mut connection = WsConnection::accept(stream, peer_addr, &self.config, now);
            let index = self.free.pop().unwrap_or_else(|| {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            });
            let token = Token(self.base + 1 + index as usize);
            let registered =
                self.registry.as_ref().map(|registry| connection.register(registry, token));
            if !matches!(registered, Some(Ok(()))) {
                self.free.push(index);
                self.stats.handshakes_failed += 1;
                continue;
            }
            let slot = &mut self.slots[index as usize];
            slot.connection = Some(connection);
            let id = ConnectionId { index, generation: slot.generation };
            self.handshaking += 1;
            self.connections += 1;
            self.stats.accepted += 1;
            // The request may be there already; edge-triggered readiness
            // would not say so again.
            self.drive(id, now, |connection, now, sink| connection.on_ready(now, sink));
        }
    }

    /// The stream of an accepted connection: plain, or TLS when serving
    /// `wss://` (`None` if rustls refuses to start a session).
    #[cfg(feature = "tls")]
    fn stream_for(&self, tcp: TcpStream) -> Option<Stream> {
        match &self.tls {
            Some(tls) => super::tls::TlsStream::server(tcp, std::sync::Arc::clone(tls))
                .ok()
                .map(|tls| Stream::Tls(Box::new(tls))),
            None => Some(Stream::Plain(tcp)),
        }
    }

    /// The stream of an accepted connection.
    #[cfg(not(feature = "tls"))]
    #[allow(clippy::unnecessary_wraps, reason = "the same signature as with TLS")]
    fn stream_for(&self, tcp: TcpStream) -> Option<Stream> {
        Some(Stream::Plain(tcp))
    }
}

/// Closes a TCP connection with a reset: the client learns at once, and
/// the server keeps no TIME_WAIT state for it.
fn refuse(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).set_linger(Some(std::time::Duration::ZERO));
}
