//! What the user chooses about the host's UDP socket, and why binding it can fail.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Settings of the host's UDP socket.
///
/// ```
/// use volley::socket::SocketConfig;
///
/// let config = SocketConfig::new("[::]:7777".parse().unwrap())
///     .dual_stack(true)
///     .recv_buffer_size(1 << 20);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    pub(super) bind_address: SocketAddr,
    pub(super) dual_stack: bool,
    pub(super) send_buffer_size: usize,
    pub(super) recv_buffer_size: usize,
    pub(super) reuse_address: bool,
    pub(super) reuse_port: bool,
    pub(super) segmentation_offload: bool,
}

impl SocketConfig {
    /// Kernel send buffer unless set otherwise; the same 256 KiB ENet asks for.
    pub const DEFAULT_BUFFER_SIZE: usize = 256 * 1024;

    /// Kernel receive buffer unless set otherwise: 1 MiB, sized for a
    /// server, whose socket takes the bursts of every peer (and of floods)
    /// while the host is busy; four times what ENet asks. Linux doubles it,
    /// within twice `net.core.rmem_max` (often 208 KiB, which leaves 416 KiB),
    /// unless the process may override the limit. Raise it to let servers
    /// have their buffer:
    ///
    /// ```sh
    /// sysctl -w net.core.rmem_max=2097152   # and in /etc/sysctl.conf to keep it
    /// ```
    ///
    /// [`HostSocket::recv_buffer_size`](super::HostSocket::recv_buffer_size)
    /// says what the kernel granted. Memory is used only while datagrams
    /// wait in it. Much larger buffers absorb longer bursts but, under a
    /// flood the host cannot keep up with, every datagram waits behind all
    /// of them: latency grows with the buffer.
    pub const DEFAULT_RECV_BUFFER_SIZE: usize = 1024 * 1024;

    /// Defaults, bound to `bind_address` (port 0 picks a free port).
    pub fn new(bind_address: SocketAddr) -> Self {
        Self {
            bind_address,
            dual_stack: false,
            send_buffer_size: Self::DEFAULT_BUFFER_SIZE,
            recv_buffer_size: Self::DEFAULT_RECV_BUFFER_SIZE,
            reuse_address: false,
            reuse_port: false,
            segmentation_offload: true,
        }
    }

    /// The local address to bind.
    #[must_use]
    pub fn bind_address(mut self, address: SocketAddr) -> Self {
        self.bind_address = address;
        self
    }

    /// Whether an IPv6 socket also talks to IPv4 peers (as `::ffff:a.b.c.d`).
    /// Default `false`: the socket is IPv6-only.
    ///
    /// Only meaningful for an IPv6 bind address; asking for it with an IPv4
    /// one makes binding fail with [`BindError::DualStackOnIpv4`].
    #[must_use]
    pub fn dual_stack(mut self, enabled: bool) -> Self {
        self.dual_stack = enabled;
        self
    }

    /// Kernel send buffer (`SO_SNDBUF`) in bytes. Linux doubles the value and
    /// caps it at `net.core.wmem_max`.
    #[must_use]
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.send_buffer_size = bytes;
        self
    }

    /// Kernel receive buffer (`SO_RCVBUF`) in bytes (default
    /// [`Self::DEFAULT_RECV_BUFFER_SIZE`]). Linux doubles the value and caps
    /// it at twice `net.core.rmem_max`.
    #[must_use]
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = bytes;
        self
    }

    /// Whether to set `SO_REUSEADDR`, letting another socket that also sets it
    /// bind the same address. Default `false`.
    #[must_use]
    pub fn reuse_address(mut self, enabled: bool) -> Self {
        self.reuse_address = enabled;
        self
    }

    /// Whether to set `SO_REUSEPORT` (Unix), letting several sockets that all
    /// set it bind the same address and port. Default `false`.
    ///
    /// This is how one server uses several cores: one [`Host`](crate::Host)
    /// per core, each on its own thread and socket, all bound to the game's
    /// port. On Linux the kernel hands each datagram to one of them by a
    /// hash of its source address and port, so every client always reaches
    /// the same host, which owns its connection (`docs/architecture.md`,
    /// "Many cores"). Ignored where the system has no such option.
    ///
    /// ```
    /// use volley::socket::SocketConfig;
    /// use volley::{Host, HostConfig};
    ///
    /// let first = SocketConfig::new("127.0.0.1:0".parse()?).reuse_port(true);
    /// let mut config = HostConfig::server("127.0.0.1:0".parse()?);
    /// let one = Host::new(config.socket(first).clone())?;
    /// let same_port = SocketConfig::new(one.local_addr()).reuse_port(true);
    /// let two = Host::new(config.socket(same_port).clone())?;
    /// assert_eq!(one.local_addr(), two.local_addr());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.reuse_port = enabled;
        self
    }

    /// Whether to send runs of equal-size datagrams to one peer as a single
    /// UDP GSO message (Linux 4.18+; ignored elsewhere). Default `true`.
    ///
    /// The kernel then walks its UDP/IP stack once per run instead of once
    /// per datagram; if it refuses a run, the socket resends the datagrams one
    /// by one and stops using GSO for that size.
    #[must_use]
    pub fn segmentation_offload(mut self, enabled: bool) -> Self {
        self.segmentation_offload = enabled;
        self
    }

    /// Creates, configures and binds the non-blocking socket; returns it with
    /// the address it got.
    pub(super) fn open(&self) -> Result<(Socket, SocketAddr), BindError> {
        let address = self.bind_address;
        if self.dual_stack && address.is_ipv4() {
            return Err(BindError::DualStackOnIpv4(address));
        }
        let io = |operation| move |source| BindError::Io { operation, source };
        let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))
            .map_err(io("creating the socket"))?;
        if address.is_ipv6() {
            // Set explicitly: the system default (net.ipv6.bindv6only) varies.
            socket.set_only_v6(!self.dual_stack).map_err(io("setting IPV6_V6ONLY"))?;
        }
        // Off by default: a client host (one per connection) saves the call.
        if self.reuse_address {
            socket.set_reuse_address(true).map_err(io("setting SO_REUSEADDR"))?;
        }
        #[cfg(unix)]
        if self.reuse_port {
            socket.set_reuse_port(true).map_err(io("setting SO_REUSEPORT"))?;
        }
        socket.set_send_buffer_size(self.send_buffer_size).map_err(io("setting SO_SNDBUF"))?;
        socket.set_recv_buffer_size(self.recv_buffer_size).map_err(io("setting SO_RCVBUF"))?;
        socket.set_nonblocking(true).map_err(io("making the socket non-blocking"))?;
        socket.bind(&address.into()).map_err(|source| BindError::from_bind(address, source))?;
        let bound = socket
            .local_addr()
            .and_then(|bound| {
                bound.as_socket().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address")
                })
            })
            .map_err(io("reading the bound address"))?;
        Ok((socket, bound))
    }
}

impl Default for SocketConfig {
    /// Any IPv4 interface, a free port.
    fn default() -> Self {
        Self::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    }
}

/// Why the host's socket could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum BindError {
    /// Another socket already has this address (and not both set
    /// [`SocketConfig::reuse_address`]).
    AddressInUse(SocketAddr),
    /// The address is not one of this machine's (for example `::1` on a host
    /// without IPv6 loopback).
    AddressNotAvailable(SocketAddr),
    /// The system refused, typically for a privileged port.
    PermissionDenied(SocketAddr),
    /// [`SocketConfig::dual_stack`] was asked for with an IPv4 bind address.
    DualStackOnIpv4(SocketAddr),
    /// Any other system error, with the step that failed.
    Io {
        /// What was being done, such as "setting SO_RCVBUF".
        operation: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

impl BindError {
    fn from_bind(address: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::AddrInUse => Self::AddressInUse(address),
            io::ErrorKind::AddrNotAvailable => Self::AddressNotAvailable(address),
            io::ErrorKind::PermissionDenied => Self::PermissionDenied(address),
            _ => Self::Io { operation: "binding", source },
        }
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddressInUse(address) => write!(f, "address {address} is already in use"),
            Self::AddressNotAvailable(address) => {
                write!(f, "address {address} is not available on this machine")
            }
            Self::PermissionDenied(address) => {
                write!(f, "permission denied to bind {address}")
            }
            Self::DualStackOnIpv4(address) => {
                write!(f, "dual-stack needs an IPv6 bind address, but {address} is IPv4")
            }
            Self::Io { operation, source } => write!(f, "{operation} failed: {source}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
