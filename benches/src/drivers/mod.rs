//! One driver per compared library, all behind the same three traits, so
//! that each scenario of the side-by-side runner is written once.
//!
//! A [`System`] makes servers and clients. A [`Server`] and a [`Client`] are
//! serviced by the runner's loops; what arrives is reported through a
//! callback as [`Incoming`] events. Each driver uses its library the way the
//! library's own documentation intends, with the settings that gave it its
//! best figures; its module says how.

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::RawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

#[cfg(feature = "enet-c")]
pub mod enet_c;
pub mod laminar;
pub mod raw_udp;
pub mod renet;
pub mod rusty_enet;
pub mod tungstenite;
pub mod volley;
pub mod volley_webrtc;
pub mod volley_ws;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Reliable and ordered on one channel.
    Reliable,
    /// Unreliable and unsequenced (may be lost, duplicated or reordered).
    Unreliable,
    /// Unreliable and sequenced: may be lost, never delivered after a newer one.
    Sequenced,
}

/// How long a `service` call may wait for something to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Do what is due and return at once (busy polling).
    Poll,
    /// Sleep in the operating system until a datagram arrives or the
    /// duration passed, then do what is due.
    Block(Duration),
}

/// A peer as a server sees it: a small index the driver chooses.
pub type PeerId = usize;

/// What a `service` call reports.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A connection completed (on a server: the new peer).
    Connected(PeerId),
    /// A message arrived, whole.
    Message {
        /// The sender (always 0 on a client).
        peer: PeerId,
        /// The message bytes, valid for the duration of the callback.
        bytes: &'a [u8],
    },
    /// A connection ended.
    Disconnected(PeerId),
}

/// Something a scenario needs that a library may not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Retransmission: reliable delivery over a lossy path.
    Retransmission,
    /// A blocking wait on the socket (wake on arrival, no fixed tick).
    BlockingWait,
    /// A connection handshake.
    Handshake,
    /// Reliable messages of at least this many bytes.
    ReliableSize(usize),
    /// Unreliable messages of at least this many bytes.
    UnreliableSize(usize),
    /// Unreliable sequenced delivery (late messages dropped).
    Sequenced,
    /// A server holding this many clients at once.
    Clients(usize),
    /// Several servers on one port (`SO_REUSEPORT`), each its own host.
    SharedPort,
}

/// Why a driver call failed.
#[derive(Debug)]
pub enum DriverError {
    /// A socket or system call failed.
    Io(std::io::Error),
    /// The library refused or failed an operation; the text says which.
    Library(String),
}

impl DriverError {
    /// A library failure described by `what`.
    pub fn library(what: impl fmt::Display) -> Self {
        Self::Library(what.to_string())
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::Library(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Library(_) => None,
        }
    }
}

impl From<std::io::Error> for DriverError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// How a server is set up.
#[derive(Debug, Clone, Copy)]
pub struct ServerSetup {
    /// Address to bind (port 0 picks one).
    pub bind: SocketAddr,
    /// How many clients it must hold at once.
    pub peers: usize,
    /// Kernel receive buffer to ask for on the server's socket, in bytes
    /// ([`SOCKET_BUFFER`] unless a scenario needs one tick's input to fit);
    /// libraries that open their socket themselves keep their own.
    pub receive_buffer: usize,
    /// Set `SO_REUSEPORT`, so that several servers bind the same port
    /// (for systems that can, see [`Feature::SharedPort`]).
    pub reuse_port: bool,
}

impl ServerSetup {
    /// A server for `peers` clients on `bind`, with [`SOCKET_BUFFER`].
    pub fn new(bind: SocketAddr, peers: usize) -> Self {
        Self { bind, peers, receive_buffer: SOCKET_BUFFER, reuse_port: false }
    }
}

/// A compared library: makes servers and clients.
///
/// A `System` is shared by the runner's threads; servers and clients are
/// made and used on one thread each.
pub trait System: Sync {
    /// Short name for tables ("Volley", "ENet C", ...).
    fn name(&self) -> &'static str;

    /// The library and version compared ("enet 1.3.17", ...).
    fn version(&self) -> &'static str;

    /// `None` if the library offers `feature`; otherwise why not.
    fn lacks(&self, feature: Feature) -> Option<&'static str>;

    /// A server bound as `setup` says.
    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError>;

    /// A client that starts connecting to `server` at once; it reports
    /// [`Incoming::Connected`] once it may send.
    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError>;

    /// The library's protocol engine alone: a connected client and server
    /// joined in memory, with no sockets. `Err` says why the library cannot
    /// run without its own socket.
    fn engine_pair(&self) -> Result<Box<dyn EnginePair>, &'static str> {
        Err("engine bound to its socket")
    }
}

/// A client and a server engine joined in memory (no sockets, no system calls).
pub trait EnginePair {
    /// Sends `count` reliable messages of `len` bytes (at least 8) and runs
    /// both engines until every one is delivered, in order, and acknowledged.
    fn transfer(&mut self, len: usize, count: u64) -> Result<(), DriverError>;
}

/// The server end, serviced by one thread.
pub trait Server {
    /// Where clients reach it.
    fn local_addr(&self) -> SocketAddr;

    /// Receives, runs timers and sends what is due, reporting what arrived.
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError>;

    /// Queues `bytes` to `peer`; it goes out at the next service or flush.
    fn send(&mut self, peer: PeerId, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError>;

    /// Sends what is queued now.
    fn flush(&mut self) -> Result<(), DriverError>;
}

/// The client end, serviced by one thread. Dropping it disconnects.
pub trait Client {
    /// Receives, runs timers and sends what is due, reporting what arrived.
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError>;

    /// Queues `bytes` to the server; it goes out at the next service or flush.
    fn send(&mut self, delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError>;

    /// Sends what is queued now.
    fn flush(&mut self) -> Result<(), DriverError>;

    /// The client's socket, for a loop that services it when it turns
    /// readable; `None` if the library hides it.
    fn socket_fd(&self) -> Option<RawFd> {
        None
    }

    /// How many more reliable messages of `len` bytes the library should be
    /// given now: its own flow control, as its documentation suggests
    /// feeding it. `unconfirmed` is how many messages sent so far the
    /// server has not yet counted, for libraries that expose nothing of
    /// their queues.
    fn room(&mut self, len: usize, unconfirmed: u64) -> usize;
}

/// Kernel send and receive buffer asked for each socket a driver opens
/// itself: what ENet C and Volley ask for.
pub const SOCKET_BUFFER: usize = 256 * 1024;

/// A UDP socket bound to `address` with [`SOCKET_BUFFER`] to send and
/// `receive_buffer` bytes to receive.
pub(crate) fn bind_udp(
    address: SocketAddr,
    receive_buffer: usize,
) -> Result<UdpSocket, DriverError> {
    bind_server(&ServerSetup { receive_buffer, ..ServerSetup::new(address, 1) })
}

/// A UDP socket bound as `setup` says (address, receive buffer, port
/// sharing), with [`SOCKET_BUFFER`] to send.
pub(crate) fn bind_server(setup: &ServerSetup) -> Result<UdpSocket, DriverError> {
    let address = setup.bind;
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    socket.set_recv_buffer_size(setup.receive_buffer)?;
    if setup.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// The wildcard address, any port, of `server`'s family.
pub(crate) fn any_port_for(server: SocketAddr) -> SocketAddr {
    if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0_u16; 8], 0))
    }
}

/// Sleeps until `fd` is readable or `timeout` passed (level-triggered, so a
/// socket with datagrams already waiting returns at once).
pub(crate) fn wait_readable(fd: RawFd, timeout: Duration) -> std::io::Result<()> {
    let mut entry = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let millis =
        libc::c_int::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
    poll_one(&mut entry, millis)
}

#[allow(unsafe_code)]
fn poll_one(entry: &mut libc::pollfd, millis: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `entry` is one valid, exclusively borrowed `pollfd` and the
    // count passed is 1.
    let result = unsafe { libc::poll(entry, 1, millis) };
    if result < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    Ok(())
}

/// Every system this build can compare, Volley first.
pub fn all() -> Vec<&'static dyn System> {
    vec![
        &volley::Volley,
        &volley_webrtc::VolleyWebRtc,
        &volley_ws::VolleyWs,
        #[cfg(feature = "enet-c")]
        &enet_c::EnetC,
        &rusty_enet::RustyEnet,
        &laminar::Laminar,
        &renet::Renet,
        &raw_udp::RawUdp,
        &tungstenite::Tungstenite,
    ]
}
