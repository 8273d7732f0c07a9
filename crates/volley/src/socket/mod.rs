//! The host's UDP socket: moves datagrams between the kernel and the engine,
//! many per system call.
//!
//! A [`HostSocket`] is a non-blocking [`mio`] source. Register it with a
//! [`mio::Registry`]; readiness is edge-triggered, so on a readable event call
//! [`HostSocket::recv_batch`] until it returns `Ok(0)`, and on a writable event
//! call [`HostSocket::send_batch`] again if datagrams were left over.
//!
//! On Linux one receive is one `recvmmsg` and one send is one `sendmmsg`, in
//! which runs of equal-size datagrams to the same peer travel as single UDP GSO
//! messages. Other systems use one `recv_from`/`send_to` per datagram.
//!
//! ```
//! use std::time::Duration;
//! use mio::{Events, Interest, Poll, Token};
//! use volley::socket::{HostSocket, RecvBatch, SendBatch, SocketConfig};
//!
//! let mut socket = HostSocket::bind(&SocketConfig::new("127.0.0.1:0".parse()?))?;
//! let mut poll = Poll::new()?;
//! poll.registry().register(&mut socket, Token(0), Interest::READABLE)?;
//!
//! let mut outgoing = SendBatch::default();
//! outgoing.push(socket.local_addr(), b"ping")?;
//! socket.send_batch(&mut outgoing);
//!
//! let mut incoming = RecvBatch::default();
//! let mut events = Events::with_capacity(8);
//! while incoming.is_empty() {
//!     poll.poll(&mut events, Some(Duration::from_secs(1)))?;
//!     socket.recv_batch(&mut incoming)?;
//! }
//! assert_eq!(incoming.get(0), Some((socket.local_addr(), &b"ping"[..])));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(any(not(target_os = "linux"), test))]
mod portable;
mod recv;
mod send;

use std::io;
use std::net::SocketAddr;

use mio::event::Source;
use mio::{Interest, Registry, Token};

pub use config::{BindError, SocketConfig};
pub use recv::{MAX_RECV_BATCH, RecvBatch};
pub use send::{SendBatch, SendBatchError};

use send::{GsoSupport, Transmission};

/// Largest datagram the socket sends or accepts: ENet's largest MTU and the
/// size of its receive buffer. Longer incoming datagrams are dropped and
/// counted in [`SocketStats::oversize_dropped`].
pub const MAX_DATAGRAM_SIZE: usize = 4096;

/// Running totals of what a [`HostSocket`] moved and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Datagrams the kernel accepted for sending.
    pub datagrams_sent: u64,
    /// Payload bytes of those datagrams.
    pub bytes_sent: u64,
    /// Datagrams received and handed over in a [`RecvBatch`].
    pub datagrams_received: u64,
    /// Payload bytes of those datagrams.
    pub bytes_received: u64,
    /// Received datagrams longer than [`MAX_DATAGRAM_SIZE`], dropped.
    pub oversize_dropped: u64,
    /// Datagrams the kernel refused to send (bad or unreachable destination,
    /// say), dropped.
    pub send_errors: u64,
    /// The kind of the latest such refusal.
    pub last_send_error: Option<io::ErrorKind>,
}

/// A bound, non-blocking UDP socket that sends and receives in batches.
#[derive(Debug)]
pub struct HostSocket {
    socket: mio::net::UdpSocket,
    local_addr: SocketAddr,
    gso: GsoSupport,
    stats: SocketStats,
}

impl HostSocket {
    /// Opens and binds a socket as `config` says.
    ///
    /// # Errors
    ///
    /// A [`BindError`] saying what went wrong.
    pub fn bind(config: &SocketConfig) -> Result<Self, BindError> {
        let (socket, local_addr) = config.open()?;
        let socket = mio::net::UdpSocket::from_std(socket.into());
        Ok(Self {
            gso: Self::gso_support(config, &socket),
            socket,
            local_addr,
            stats: SocketStats::default(),
        })
    }

    #[cfg(target_os = "linux")]
    fn gso_support(config: &SocketConfig, socket: &mio::net::UdpSocket) -> GsoSupport {
        use std::os::fd::AsRawFd;
        use std::sync::OnceLock;
        // The kernel's answer holds for the whole process (per family):
        // asked once, not once per socket (a client host is a socket).
        static SUPPORTED: [OnceLock<bool>; 2] = [OnceLock::new(), OnceLock::new()];
        let family = &SUPPORTED[usize::from(config.bind_address.is_ipv6())];
        if config.segmentation_offload
            && *family.get_or_init(|| linux::supports_gso(socket.as_raw_fd()))
        {
            GsoSupport::FULL
        } else {
            GsoSupport::OFF
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn gso_support(_config: &SocketConfig, _socket: &mio::net::UdpSocket) -> GsoSupport {
        GsoSupport::OFF
    }

    /// The address the socket is bound to (with the actual port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The receive buffer the kernel granted, in bytes (Linux reports twice
    /// what was asked, as it counts its bookkeeping); less than asked means
    /// the system's limit (`net.core.rmem_max` on Linux) capped it.
    ///
    /// # Errors
    ///
    /// The error of the `getsockopt` call.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        socket2::SockRef::from(&self.socket).recv_buffer_size()
    }

    /// What the socket has moved and dropped so far.
    pub fn stats(&self) -> SocketStats {
        self.stats
    }

    /// Whether sends currently use UDP GSO for runs of equal-size datagrams.
    pub fn uses_segmentation_offload(&self) -> bool {
        self.gso.is_enabled()
    }

    /// Replaces the contents of `batch` with waiting datagrams and returns how
    /// many it now holds; `Ok(0)` means none are waiting (the socket would
    /// block) and the next readable event will say when more arrive.
    ///
    /// Datagrams longer than [`MAX_DATAGRAM_SIZE`] are dropped and counted,
    /// never delivered truncated.
    ///
    /// # Errors
    ///
    /// Errors of the receive system call other than would-block and interrupt.
    pub fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            match Self::receive(&self.socket, batch, &mut self.stats) {
                // Every datagram read was oversize and dropped: read on, since
                // returning 0 would tell the caller the socket is drained.
                Ok(read) if read > 0 && batch.is_empty() => {}
                Ok(_) => return Ok(batch.len()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends queued datagrams until `batch` is empty or the socket's buffer is
    /// full, and returns how many the kernel accepted.
    ///
    /// What could not be sent stays in `batch`, in order; call again on the
    /// next writable event. A datagram the kernel refuses outright (for
    /// example an unreachable or invalid destination) is dropped and counted in
    /// [`SocketStats::send_errors`] rather than holding up the rest: UDP is best
    /// effort, and the engine's reliability layer resends what matters.
    pub fn send_batch(&mut self, batch: &mut SendBatch) -> usize {
        let socket = &self.socket;
        let local_is_ipv6 = self.local_addr.is_ipv6();
        let to_kernel = move |destination| kernel_destination(destination, local_is_ipv6);
        batch.flush(&mut self.gso, &mut self.stats, |transmissions, payloads| {
            Self::transmit(socket, transmissions, payloads, to_kernel)
        })
    }

    /// One receive system call into `batch`; returns how many datagrams it read.
    #[cfg(target_os = "linux")]
    fn receive(
        socket: &mio::net::UdpSocket,
        batch: &mut RecvBatch,
        stats: &mut SocketStats,
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // try_io keeps mio's readiness bookkeeping right around a raw system call.
        socket.try_io(|| {
            batch.fill(stats, |slots, on_datagram| {
                linux::receive(socket.as_raw_fd(), slots, on_datagram)
            })
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn receive(
        socket: &mio::net::UdpSocket,
        batch: &mut RecvBatch,
        stats: &mut SocketStats,
    ) -> io::Result<usize> {
        batch.fill(stats, |slots, on_datagram| portable::receive(socket, slots, on_datagram))
    }

    #[cfg(target_os = "linux")]
    fn transmit(
        socket: &mio::net::UdpSocket,
        transmissions: &[Transmission],
        payloads: &[u8],
        to_kernel: impl Fn(SocketAddr) -> SocketAddr,
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        socket.try_io(|| linux::transmit(socket.as_raw_fd(), transmissions, payloads, &to_kernel))
    }

    #[cfg(not(target_os = "linux"))]
    fn transmit(
        socket: &mio::net::UdpSocket,
        transmissions: &[Transmission],
        payloads: &[u8],
        to_kernel: impl Fn(SocketAddr) -> SocketAddr,
    ) -> io::Result<usize> {
        portable::transmit(socket, transmissions, payloads, to_kernel)
    }
}

/// The address to give the kernel for `destination`: an IPv6 socket (even a
/// dual-stack one) only takes IPv6 addresses, so an IPv4 peer becomes `::ffff:a.b.c.d`.
fn kernel_destination(destination: SocketAddr, local_is_ipv6: bool) -> SocketAddr {
    match destination {
        SocketAddr::V4(v4) if local_is_ipv6 => {
            SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
        }
        _ => destination,
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for HostSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }
}

impl Source for HostSocket {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.socket.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.socket.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.socket.deregister(registry)
    }
}
