//! [`Host`]: the protocol engine on a real UDP socket, serviced with mio.
//!
//! One thread calls [`Host::service`]; any number of threads may send,
//! connect and disconnect at the same time through cloned [`HostHandle`]s.
//! The engine sits behind a `parking_lot` mutex, and a `mio::Waker` wakes a
//! servicing thread when another thread queued something, so nothing waits
//! for the next timeout to go out.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::Mutex;
use volley_proto::{
    ConfigError, ConnectError, Endpoint, EndpointConfig, Event, PeerError, PeerHandle, PeerState,
    PeerStats, SendError, TRANSMIT_BUFFER_SIZE, Timeouts, TransferMode,
};

use crate::socket::{BindError, HostSocket, RecvBatch, SendBatch, SocketConfig};
use crate::trace;

mod batch;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// Most datagrams one pump reads (ENet's figure): under a flood the socket
/// never runs dry, and what was read must reach the application (and its
/// answers the wire) before reading on, or a legitimate peer's message
/// waits behind the whole of the receive buffer.
const MAX_RECEIVE_PER_PUMP: usize = 256;

/// Settings of a [`Host`]: its socket and its protocol endpoint.
///
/// # Examples
///
/// ```
/// use volley::HostConfig;
///
/// let mut config = HostConfig::server("127.0.0.1:0".parse().unwrap());
/// config.endpoint().peer_limit(64).channel_limit(4);
/// ```
#[derive(Debug, Clone)]
pub struct HostConfig {
    socket: SocketConfig,
    endpoint: EndpointConfig,
}

impl HostConfig {
    /// A host accepting connections on `bind`.
    pub fn server(bind: SocketAddr) -> Self {
        Self { socket: SocketConfig::new(bind), endpoint: EndpointConfig::default() }
    }

    /// A host that only connects out, on an ephemeral IPv4 port
    /// (use [`Self::socket`] to bind elsewhere, e.g. `[::]:0` for IPv6).
    pub fn client() -> Self {
        let mut endpoint = EndpointConfig::default();
        endpoint.peer_limit(1);
        Self { socket: SocketConfig::new(SocketAddr::from(([0, 0, 0, 0], 0))), endpoint }
    }

    /// Replaces the socket settings (buffers, dual-stack, reuse, GSO).
    pub fn socket(&mut self, socket: SocketConfig) -> &mut Self {
        self.socket = socket;
        self
    }

    /// The protocol settings (peers, channels, MTU, bandwidth, checksum, ...).
    pub fn endpoint(&mut self) -> &mut EndpointConfig {
        &mut self.endpoint
    }
}

/// What went wrong in a [`Host`] call.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// The socket could not be opened or bound.
    Bind(BindError),
    /// The protocol configuration is invalid.
    Config(ConfigError),
    /// The operating system failed a socket or poll call.
    Io(io::Error),
    /// A connection could not be started (bad channel count, host full).
    Connect(ConnectError),
    /// A packet could not be queued (unknown peer, channel, size, full queue).
    Send(SendError),
    /// A per-peer call named a dead peer or does not fit its state.
    Peer(PeerError),
    /// [`Host::service`] was asked to wait on a host whose socket is
    /// registered with an external poll ([`Host::register`]): wait on that
    /// poll, then call `service(Duration::ZERO)`.
    ExternallyPolled,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "bind failed: {e}"),
            Self::Config(e) => write!(f, "invalid configuration: {e}"),
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::Peer(e) => write!(f, "peer call failed: {e}"),
            Self::ExternallyPolled => {
                f.write_str("the host is driven by an external poll: service it without waiting")
            }
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            Self::Config(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Connect(e) => Some(e),
            Self::Send(e) => Some(e),
            Self::Peer(e) => Some(e),
            Self::ExternallyPolled => None,
        }
    }
}

macro_rules! from_error {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for HostError {
            fn from(e: $ty) -> Self {
                Self::$variant(e)
            }
        }
    )*};
}
from_error!(
    Bind(BindError),
    Config(ConfigError),
    Io(io::Error),
    Connect(ConnectError),
    Send(SendError),
    Peer(PeerError)
);

/// The engine and its socket, shared by the servicing thread and handles.
struct Core {
    endpoint: Endpoint,
    socket: HostSocket,
    recv: RecvBatch,
    send: SendBatch,
    tx: Vec<u8>,
    /// The last receive stopped at [`MAX_RECEIVE_PER_PUMP`], not at an
    /// empty socket: the edge-triggered poll will not report what waits.
    unread: bool,
    /// The last flush left datagrams the socket would not take; a writable
    /// event, not a timer, says when to try again.
    backlogged: bool,
    drop_log: trace::SocketDropLog,
}

impl Core {
    /// Reads every waiting datagram into the engine; returns how many.
    ///
    /// A batch that comes back with free slots means the socket had nothing
    /// more, so reading stops there instead of asking once more to hear
    /// "would block" (on these machines each system call is microseconds).
    fn receive(&mut self, now: Instant) -> io::Result<usize> {
        let mut datagrams = 0;
        self.unread = false;
        loop {
            if self.socket.recv_batch(&mut self.recv)? == 0 {
                break;
            }
            for (from, bytes) in self.recv.iter() {
                self.endpoint.handle_datagram(now, from, bytes);
                datagrams += 1;
            }
            if !self.recv.filled() {
                break;
            }
            if datagrams >= MAX_RECEIVE_PER_PUMP {
                self.unread = true;
                break;
            }
        }
        Ok(datagrams)
    }

    /// Moves the engine's datagrams to the socket, many per system call.
    /// Returns false when the socket is full and datagrams wait for a
    /// writable event.
    fn flush(&mut self, now: Instant) -> bool {
        loop {
            if self.send.len() == self.send.capacity() {
                self.socket.send_batch(&mut self.send);
                if !self.send.is_empty() {
                    self.backlogged = true;
                    return false;
                }
            }
            let Some(t) = self.endpoint.poll_transmit(now, &mut self.tx) else { break };
            // The engine never builds a datagram over the socket's maximum.
            let _ = self.send.push(t.destination, &self.tx[t.range]);
        }
        self.socket.send_batch(&mut self.send);
        self.backlogged = !self.send.is_empty();
        !self.backlogged
    }

    /// Everything due at `now`: what was queued goes out, the socket is
    /// read, timers run.
    ///
    /// When what was read produced events, the acknowledgements it queued
    /// stay until the application took those events: whatever it answers
    /// then shares their datagrams (at its next service or flush), instead
    /// of following in datagrams of their own.
    ///
    /// With `skip_receive`, the socket is not read: the caller knows the last
    /// receive read it empty and is about to sleep on the poll instance,
    /// which reports anything that arrived since.
    fn pump(&mut self, now: Instant, skip_receive: bool) -> io::Result<Pumped> {
        self.flush(now);
        let received = if skip_receive && !self.unread { 0 } else { self.receive(now)? };
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.drop_log.check(&self.socket.stats(), now);
        match self.endpoint.poll_event() {
            // More than one datagram is a stream: its sender's window waits
            // on the acknowledgements, which go at once.
            Some(event) => {
                if received > 1 {
                    self.flush(now);
                }
                Ok(Pumped::Event(event))
            }
            None => Ok(Pumped::Idle { drained: self.flush(now) }),
        }
    }
}

/// What a [`Core::pump`] ended with.
enum Pumped {
    /// The first event for the application.
    Event(Event),
    /// No event; `drained` is false when the socket was full and datagrams
    /// wait for a writable event.
    Idle { drained: bool },
}

/// A thread-safe handle to a [`Host`]: send, connect and disconnect from any
/// thread while another services the host.
#[derive(Clone)]
pub struct HostHandle {
    core: Arc<Mutex<Core>>,
    /// Made by the servicing thread before it first sleeps.
    waker: Arc<OnceLock<Waker>>,
    /// Something was queued since the servicing thread last pumped.
    wake_pending: Arc<AtomicBool>,
    /// The servicing thread is (about to be) asleep in `poll`.
    sleeping: Arc<AtomicBool>,
    local_addr: SocketAddr,
}

impl fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostHandle").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl HostHandle {
    /// Runs `f` on the engine, then makes sure a servicing thread sends what it queued.
    fn with<T>(&self, f: impl FnOnce(&mut Endpoint) -> T) -> T {
        let result = f(&mut self.core.lock().endpoint);
        // Only a thread asleep in `service` needs the waker (a system call);
        // one about to sleep sees the flag first, and one busy servicing
        // sends at its next pump. Sequentially consistent on both sides:
        // either this load sees `sleeping`, or `service` sees the flag.
        if !self.wake_pending.swap(true, Ordering::SeqCst) && self.sleeping.load(Ordering::SeqCst) {
            // A failed wake only delays sending until the next timer.
            if let Some(waker) = self.waker.get() {
                let _ = waker.wake();
            }
        }
        result
    }

    /// The address the host's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts connecting to `address` with `channels` channels; `data`
    /// reaches the remote in its connect event.
    pub fn connect(
        &self,
        address: SocketAddr,
        channels: usize,
        data: u32,
    ) -> Result<PeerHandle, HostError> {
        Ok(self.with(|e| e.connect(Instant::now(), address, channels, data))?)
    }

    /// Queues `payload` to `peer` on `channel` in `mode`. Packets are
    /// aggregated into datagrams when the host services or flushes.
    pub fn send(
        &self,
        peer: PeerHandle,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), HostError> {
        Ok(self.with(|e| e.send(peer, channel, mode, payload))?)
    }

    /// Queues `payload` to every connected peer; returns how many took it.
    pub fn broadcast(&self, channel: u8, mode: TransferMode, payload: &[u8]) -> usize {
        self.with(|e| e.broadcast(channel, mode, payload))
    }

    /// Sends everything queued now, without waiting for the next service.
    pub fn flush(&self) -> Result<(), HostError> {
        let mut core = self.core.lock();
        core.flush(Instant::now());
        Ok(())
    }

    /// Graceful disconnect: [`Event::Disconnected`] follows the remote's acknowledgement.
    pub fn disconnect(&self, peer: PeerHandle, data: u32) -> Result<(), HostError> {
        Ok(self.with(|e| e.disconnect(Instant::now(), peer, data))?)
    }

    /// Disconnects once everything queued to `peer` was delivered.
    pub fn disconnect_later(&self, peer: PeerHandle, data: u32) -> Result<(), HostError> {
        Ok(self.with(|e| e.disconnect_later(Instant::now(), peer, data))?)
    }

    /// Drops `peer` at once with one unacknowledged DISCONNECT; no local event.
    pub fn disconnect_now(&self, peer: PeerHandle, data: u32) -> Result<(), HostError> {
        Ok(self.with(|e| e.disconnect_now(peer, data))?)
    }

    /// Forgets `peer` without telling it; no local event.
    pub fn reset(&self, peer: PeerHandle) -> Result<(), HostError> {
        Ok(self.with(|e| e.reset(peer))?)
    }

    /// Sets `peer`'s timeouts.
    pub fn set_timeouts(&self, peer: PeerHandle, timeouts: Timeouts) -> Result<(), HostError> {
        Ok(self.with(|e| e.set_timeouts(peer, timeouts))?)
    }

    /// Sets `peer`'s keep-alive ping interval.
    pub fn set_ping_interval(&self, peer: PeerHandle, interval: Duration) -> Result<(), HostError> {
        Ok(self.with(|e| e.set_ping_interval(peer, interval))?)
    }

    /// Changes `peer`'s unreliable throttle parameters on both ends.
    pub fn configure_throttle(
        &self,
        peer: PeerHandle,
        interval: Duration,
        acceleration: u32,
        deceleration: u32,
    ) -> Result<(), HostError> {
        Ok(self.with(|e| e.configure_throttle(peer, interval, acceleration, deceleration))?)
    }

    /// Changes the host's bandwidth limits in bytes/s (0 = unlimited).
    pub fn set_bandwidth_limit(&self, incoming: u32, outgoing: u32) {
        self.with(|e| e.set_bandwidth_limit(incoming, outgoing));
    }

    /// Accepts a connection announced by [`Event::ConnectRequest`].
    pub fn accept(&self, peer: PeerHandle) -> Result<(), HostError> {
        Ok(self.with(|e| e.accept(peer))?)
    }

    /// Refuses a connection announced by [`Event::ConnectRequest`] with `reason`.
    pub fn refuse(&self, peer: PeerHandle, reason: u32) -> Result<(), HostError> {
        Ok(self.with(|e| e.refuse(peer, reason))?)
    }

    /// The peer's connection state, `None` once it is gone.
    pub fn peer_state(&self, peer: PeerHandle) -> Option<PeerState> {
        self.core.lock().endpoint.peer_state(peer)
    }

    /// The peer's remote address.
    pub fn peer_address(&self, peer: PeerHandle) -> Option<SocketAddr> {
        self.core.lock().endpoint.peer_address(peer)
    }

    /// The peer's statistics (RTT, packets, loss, throttle, ...).
    pub fn peer_stats(&self, peer: PeerHandle) -> Option<PeerStats> {
        self.core.lock().endpoint.peer_stats(peer)
    }

    /// Bytes queued to the peer or in flight and not yet acknowledged: how
    /// far ahead of the network the application is. Feeding a stream when
    /// this falls low keeps the queue short without starving the socket.
    pub fn peer_queued_bytes(&self, peer: PeerHandle) -> Option<usize> {
        self.core.lock().endpoint.peer_queued_bytes(peer)
    }

    /// The peer's channel count.
    pub fn peer_channel_count(&self, peer: PeerHandle) -> Option<usize> {
        self.core.lock().endpoint.peer_channel_count(peer)
    }

    /// Connected peers.
    pub fn connected_peers(&self) -> Vec<PeerHandle> {
        self.core.lock().endpoint.connected_peers().collect()
    }

    /// Counters of the engine (datagrams, drops by reason).
    pub fn endpoint_stats(&self) -> volley_proto::EndpointStats {
        self.core.lock().endpoint.stats()
    }

    /// The socket's receive buffer as the kernel granted it (see
    /// [`SocketConfig::DEFAULT_RECV_BUFFER_SIZE`] for raising the system's cap).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.core.lock().socket.recv_buffer_size()
    }

    /// Gives a received payload buffer back for reuse.
    pub fn recycle(&self, payload: Vec<u8>) {
        self.core.lock().endpoint.recycle(payload);
    }
}

/// An ENet-compatible host on a UDP socket.
///
/// Commands are the methods of its [`HostHandle`] (the host dereferences to
/// it; [`Host::handle`] gives a clone for other threads); events come from
/// [`Host::service`], which waits on the socket and the protocol's next
/// deadline and never spins.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use volley::{Event, Host, HostConfig, TransferMode};
///
/// let mut server = Host::new(HostConfig::server("127.0.0.1:7777".parse()?))?;
/// loop {
///     match server.service(Duration::from_millis(100))? {
///         Some(Event::Received { peer, channel, mode, payload }) => {
///             server.send(peer, channel, mode, &payload)?; // echo
///             server.recycle(payload);
///         }
///         Some(other) => println!("{other:?}"),
///         None => {}
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Host {
    handle: HostHandle,
    /// Made the first time `service` sleeps: a host that is only polled
    /// (or dropped soon) never pays for the poll instance and the waker.
    sleeper: Option<Sleeper>,
    /// The socket is registered with a caller's poll ([`Host::register`]):
    /// `service` never sleeps on its own.
    external: bool,
}

/// What a sleeping `service` waits on.
struct Sleeper {
    poll: Poll,
    events: Events,
    /// The socket is registered for writability too: only while datagrams
    /// wait for room. Loopback and most links turn a socket writable again
    /// after nearly every send, so an edge-triggered writable interest kept
    /// all the time wakes the sleep (and a pointless receive) once per send.
    writable: bool,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").field("local_addr", &self.handle.local_addr).finish_non_exhaustive()
    }
}

/// The host's UDP socket, for an outside event loop that waits on many
/// sockets at once: readable means [`Host::service`] (or
/// [`Host::service_batch`]) with `Duration::ZERO` has input. Leave reading
/// and writing to the host.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use volley::{Host, HostConfig};
///
/// let host = Host::new(HostConfig::client())?;
/// assert!(host.as_raw_fd() >= 0);
/// # Ok::<(), volley::HostError>(())
/// ```
#[cfg(unix)]
impl std::os::fd::AsRawFd for Host {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.handle.core.lock().socket.as_raw_fd()
    }
}

impl std::ops::Deref for Host {
    type Target = HostHandle;

    fn deref(&self) -> &HostHandle {
        &self.handle
    }
}

impl Host {
    /// Opens the socket and creates the engine.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let endpoint = Endpoint::new(config.endpoint)?;
        let socket = HostSocket::bind(&config.socket)?;
        let local_addr = socket.local_addr();
        let core = Core {
            endpoint,
            socket,
            recv: RecvBatch::default(),
            send: SendBatch::default(),
            tx: vec![0; TRANSMIT_BUFFER_SIZE],
            unread: false,
            backlogged: false,
            drop_log: trace::SocketDropLog::default(),
        };
        trace::host!(%local_addr, "host socket open");
        let handle = HostHandle {
            core: Arc::new(Mutex::new(core)),
            waker: Arc::new(OnceLock::new()),
            wake_pending: Arc::new(AtomicBool::new(false)),
            sleeping: Arc::new(AtomicBool::new(false)),
            local_addr,
        };
        Ok(Self { handle, sleeper: None, external: false })
    }

    /// The poll instance with the socket and the waker registered, made
    /// once, before the first sleep.
    fn sleeper(&mut self) -> io::Result<&mut Sleeper> {
        let sleeper = match self.sleeper.take() {
            Some(sleeper) => sleeper,
            None => {
                let poll = Poll::new()?;
                let interest = Interest::READABLE;
                poll.registry().register(&mut self.handle.core.lock().socket, SOCKET, interest)?;
                let waker = Waker::new(poll.registry(), WAKER)?;
                // Set before `sleeping` can be: a sender that sees `sleeping`
                // finds the waker.
                let _ = self.handle.waker.set(waker);
                Sleeper { poll, events: Events::with_capacity(16), writable: false }
            }
        };
        Ok(self.sleeper.insert(sleeper))
    }

    /// A handle for other threads.
    pub fn handle(&self) -> HostHandle {
        self.handle.clone()
    }

    /// Services the host: receives, runs timers, sends, and returns the next
    /// event, waiting up to `timeout` for one (`Duration::ZERO` never waits).
    ///
    /// It sleeps in the operating system until a datagram arrives, another
    /// thread queues something, or the protocol's next deadline comes, and
    /// returns `Ok(None)` once `timeout` passed with no event.
    ///
    /// A host whose socket was handed to an external poll with
    /// [`register`](Self::register) only takes `Duration::ZERO`; any other
    /// timeout is [`HostError::ExternallyPolled`].
    pub fn service(&mut self, timeout: Duration) -> Result<Option<Event>, HostError> {
        if self.external && !timeout.is_zero() {
            return Err(HostError::ExternallyPolled);
        }
        // Events already decoded go out first, without touching the socket:
        // one datagram can carry dozens of messages, and a receive and a
        // send per event would cost more than the events themselves. As in
        // ENet, I/O resumes once they are taken.
        if let Some(event) = self.handle.core.lock().endpoint.poll_event() {
            return Ok(Some(event));
        }
        let deadline = Instant::now() + timeout;
        // A service that will sleep skips a receive the last one showed to be
        // pointless: every receive reads the socket empty, a poll instance
        // exists only once an earlier service pumped (and so received), and
        // its edge-triggered registration wakes the sleep for anything that
        // arrived since. A busy-polling caller has no such wake-up and
        // always reads.
        let mut skip_receive = !timeout.is_zero() && self.sleeper.is_some();
        loop {
            self.handle.wake_pending.store(false, Ordering::SeqCst);
            let now = Instant::now();
            let (wake_at, drained, unread) = {
                let mut core = self.handle.core.lock();
                let drained = match core.pump(now, skip_receive)? {
                    Pumped::Event(event) => return Ok(Some(event)),
                    Pumped::Idle { drained } => drained,
                };
                let wake_at = if core.unread {
                    // More waits in the socket: read it before any sleep.
                    now
                } else {
                    // With the socket full, the writable event wakes us; do
                    // not spin on an engine that is ready to send.
                    match core.endpoint.poll_timeout() {
                        Some(t) if t > now || drained => t.min(deadline),
                        _ => deadline,
                    }
                };
                (wake_at, drained, core.unread)
            };
            if now >= deadline {
                // Nothing came unless the socket was read empty: an
                // externally polled host is woken only by what arrives next.
                if skip_receive || unread {
                    // No sleep after all: read before saying nothing came.
                    skip_receive = false;
                    continue;
                }
                return Ok(None);
            }
            if self.sleep(wake_at.saturating_duration_since(now), !drained)? {
                skip_receive = false;
            }
        }
    }

    /// Sleeps in the poll instance for up to `wait`, until the socket turns
    /// readable (or, with `writable`, writable: datagrams wait for room) or
    /// another thread queues something. Returns false without sleeping when
    /// something was queued since the last pump.
    fn sleep(&mut self, wait: Duration, writable: bool) -> Result<bool, HostError> {
        self.sleeper()?;
        if let Some(sleeper) = &mut self.sleeper
            && sleeper.writable != writable
        {
            let interest =
                if writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let registry = sleeper.poll.registry();
            registry.reregister(&mut self.handle.core.lock().socket, SOCKET, interest)?;
            sleeper.writable = writable;
        }
        self.handle.sleeping.store(true, Ordering::SeqCst);
        if self.handle.wake_pending.load(Ordering::SeqCst) {
            // Queued after the pump: send it before sleeping.
            self.handle.sleeping.store(false, Ordering::SeqCst);
            return Ok(false);
        }
        let polled = match &mut self.sleeper {
            Some(sleeper) => sleeper.poll.poll(&mut sleeper.events, Some(wait)),
            None => Ok(()),
        };
        self.handle.sleeping.store(false, Ordering::SeqCst);
        match polled {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Hands the socket to an external mio poll, so that one thread can wait
    /// on this host together with other hosts or sockets.
    ///
    /// The socket is registered with `registry` under `token`, readable and
    /// writable, edge-triggered. From then on the caller drives the host:
    ///
    /// 1. wait on its own poll until [`next_deadline`](Self::next_deadline)
    ///    (no deadline: until an event for `token` or something else wakes it);
    /// 2. call [`service`](Self::service)`(Duration::ZERO)` and take events
    ///    until it returns `None` (each call that does I/O reads the socket
    ///    empty, so no edge is missed), and [`next_event`](Self::next_event);
    /// 3. [`flush`](HostHandle::flush) what the events made the application
    ///    send, and wait again.
    ///
    /// `service` no longer sleeps on the host's own poll: a non-zero timeout
    /// is [`HostError::ExternallyPolled`]. Sends from other threads through a
    /// [`HostHandle`] do not wake the caller's poll; they leave at the next
    /// service or flush.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mio::{Events, Poll, Token};
    /// use volley::{Host, HostConfig};
    ///
    /// let mut host = Host::new(HostConfig::server("127.0.0.1:0".parse()?))?;
    /// let mut poll = Poll::new()?;
    /// host.register(poll.registry(), Token(7))?;
    /// let mut events = Events::with_capacity(16);
    /// for _ in 0..3 {
    ///     let now = Instant::now();
    ///     let wait = host.next_deadline().map_or(Duration::from_millis(10), |at| {
    ///         at.saturating_duration_since(now).min(Duration::from_millis(10))
    ///     });
    ///     poll.poll(&mut events, Some(wait))?;
    ///     while let Some(event) = host.service(Duration::ZERO)? {
    ///         println!("{event:?}");
    ///     }
    ///     host.flush()?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&mut self, registry: &Registry, token: Token) -> Result<(), HostError> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        let mut core = self.handle.core.lock();
        if let Some(sleeper) = self.sleeper.take() {
            sleeper.poll.registry().deregister(&mut core.socket)?;
        }
        registry.register(&mut core.socket, token, interest)?;
        self.external = true;
        Ok(())
    }

    /// When the host next needs a [`service`](Self::service): a resend,
    /// timeout or ping timer, or now if datagrams are waiting to be sent.
    /// `None` when no timer runs, or while the socket is full and its
    /// writable event is what to wait for.
    pub fn next_deadline(&self) -> Option<Instant> {
        let core = self.handle.core.lock();
        if core.unread {
            // The socket was not read empty: no edge will say so.
            return Some(Instant::now());
        }
        if core.backlogged { None } else { core.endpoint.poll_timeout() }
    }

    /// Takes the next event the engine already holds, without touching the
    /// socket or the timers.
    ///
    /// One [`service`](Self::service) call may receive a whole batch of
    /// datagrams; draining their events with this method before the next
    /// `service` lets the replies they cause leave together, in the next
    /// flush, instead of one `service` (and one flush) per event.
    pub fn next_event(&mut self) -> Option<Event> {
        self.handle.core.lock().endpoint.poll_event()
    }
}
