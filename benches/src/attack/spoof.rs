//! Datagrams from any address of 127.0.0.0/8, without privileges.
//!
//! Linux routes the whole of 127.0.0.0/8 to the loopback device and counts
//! every address in it as local, so a socket bound to `0.0.0.0` may name any
//! of them as the source of a datagram (`IP_PKTINFO`'s `ipi_spec_dst` in
//! `sendmsg`), and the replies to any of them at its port come back to it.
//! One socket thus plays as many spoofed sources as an attack wants, as an
//! ordinary user; no raw socket (and no root) is needed. Every byte it sends
//! and receives is counted, for the amplification figures.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Bytes an attacker's addresses sent and received, in total and, for
/// datagrams of a [`CountingSocket`], per source address.
#[derive(Debug, Default)]
pub struct Tally {
    sent: AtomicU64,
    received: AtomicU64,
    /// Sent and received bytes per attacker IP address.
    by_address: Mutex<HashMap<Ipv4Addr, (u64, u64)>>,
}

impl Tally {
    fn add_for(&self, address: Ipv4Addr, sent: usize, received: usize) {
        if let Ok(mut map) = self.by_address.lock() {
            let entry = map.entry(address).or_default();
            entry.0 += sent as u64;
            entry.1 += received as u64;
        }
    }

    /// The address whose bytes received over bytes sent is highest, with
    /// that ratio (addresses that sent nothing are counted as having sent one byte).
    pub fn worst_address(&self) -> Option<(Ipv4Addr, f64)> {
        let map = self.by_address.lock().ok()?;
        map.iter()
            .map(|(&address, &(sent, received))| (address, received as f64 / sent.max(1) as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Counts `bytes` sent from an attacker address.
    pub fn add_sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts `bytes` received at an attacker address.
    pub fn add_received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes sent from attacker addresses so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes received at attacker addresses so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// Kernel buffers of attacker sockets: large, so that what a server sends
/// back is counted rather than dropped before it is read.
pub(crate) const ATTACKER_BUFFER: usize = 8 << 20;

/// A UDP socket that also counts what arrives for it, from a thread of its
/// own, until it is dropped.
#[derive(Debug)]
pub struct CountingSocket {
    socket: UdpSocket,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl CountingSocket {
    /// Binds `address` (port 0 picks one) and starts counting what arrives.
    pub fn bind(address: SocketAddrV4, tally: Arc<Tally>) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_recv_buffer_size(ATTACKER_BUFFER)?;
        socket.set_send_buffer_size(ATTACKER_BUFFER)?;
        socket.bind(&SocketAddr::V4(address).into())?;
        let socket: UdpSocket = socket.into();
        let reader = socket.try_clone()?;
        reader.set_read_timeout(Some(Duration::from_millis(20)))?;
        set_packet_info(reader.as_raw_fd())?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
            std::thread::Builder::new().name("attack-counter".into()).spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, to)) = receive_with_destination(reader.as_raw_fd(), &mut buf) {
                        tally.add_received(n);
                        tally.add_for(to, 0, n);
                    }
                }
            })?
        };
        Ok(Self { socket, tally, stop, reader: Some(thread) })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        match self.socket.local_addr() {
            Ok(SocketAddr::V4(address)) => address,
            _ => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        }
    }

    /// Sends `bytes` to `to` from the bound address.
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        let sent = self.socket.send_to(bytes, to)?;
        self.tally.add_sent(sent);
        self.tally.add_for(*self.local_addr().ip(), sent, 0);
        Ok(())
    }

    /// Sends `bytes` to `to` with `source` as the source address (any
    /// address of 127.0.0.0/8 when bound to `0.0.0.0`), from the bound port.
    pub fn send_from(&self, source: Ipv4Addr, bytes: &[u8], to: SocketAddrV4) -> io::Result<()> {
        let sent = send_with_source(self.socket.as_raw_fd(), source, bytes, to)?;
        self.tally.add_sent(sent);
        self.tally.add_for(source, sent, 0);
        Ok(())
    }
}

impl Drop for CountingSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Asks for the destination address of every received datagram.
#[allow(unsafe_code)]
fn set_packet_info(fd: std::os::fd::RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the pointer and length describe `on`, alive for the call.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            (&raw const on).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `recvmsg` into `buf`: the length and the address the datagram was sent to.
#[allow(unsafe_code)]
fn receive_with_destination(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, Ipv4Addr)> {
    let mut iovec = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut control = [0u64; 16];
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut message: libc::msghdr = unsafe { mem::zeroed() };
    message.msg_iov = &raw mut iovec;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: `message` points at the local iovec (over `buf`) and control
    // buffer, alive for the call; the kernel writes at most their lengths.
    let received = unsafe { libc::recvmsg(fd, &raw mut message, 0) };
    let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
    let mut destination = Ipv4Addr::UNSPECIFIED;
    // SAFETY: the kernel filled `msg_controllen` bytes of the control
    // buffer with well-formed messages; CMSG_FIRSTHDR/NXTHDR stay inside
    // it, and an IP_PKTINFO message's data is one in_pktinfo.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&raw const message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::IPPROTO_IP && (*header).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<libc::in_pktinfo>());
                destination = Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes());
            }
            header = libc::CMSG_NXTHDR(&raw const message, header);
        }
    }
    Ok((received, destination))
}

/// `sendmsg` with an `IP_PKTINFO` control message naming the source address.
#[allow(unsafe_code)]
fn send_with_source(
    fd: std::os::fd::RawFd,
    source: Ipv4Addr,
    bytes: &[u8],
    to: SocketAddrV4,
) -> io::Result<usize> {
    const INFO_LEN: u32 = mem::size_of::<libc::in_pktinfo>() as u32;
    // SAFETY: all-zero bytes are a valid sockaddr_in and msghdr.
    let mut name: libc::sockaddr_in = unsafe { mem::zeroed() };
    name.sin_family = libc::AF_INET as libc::sa_family_t;
    name.sin_port = to.port().to_be();
    name.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(to.ip().octets()) };
    let mut iovec =
        libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
    // `u64` elements give the buffer the alignment of `cmsghdr`.
    let mut control = [0u64; 8];
    // SAFETY: as above.
    let mut message: libc::msghdr = unsafe { mem::zeroed() };
    message.msg_name = (&raw mut name).cast();
    message.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    message.msg_iov = &raw mut iovec;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE and CMSG_LEN only do arithmetic; the control
    // buffer (64 bytes) holds one in_pktinfo message (32 bytes), so
    // CMSG_FIRSTHDR is non-null and its data area lies inside the buffer;
    // every pointer in `message` refers to a local alive for the call, and
    // sendmsg only reads through them (the payload is not written).
    let sent = unsafe {
        message.msg_controllen = libc::CMSG_SPACE(INFO_LEN) as _;
        let header = libc::CMSG_FIRSTHDR(&raw const message);
        (*header).cmsg_level = libc::IPPROTO_IP;
        (*header).cmsg_type = libc::IP_PKTINFO;
        (*header).cmsg_len = libc::CMSG_LEN(INFO_LEN) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(source.octets()) },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<libc::in_pktinfo>(), info);
        libc::sendmsg(fd, &raw const message, 0)
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_can_come_from_any_loopback_address_and_its_reply_is_counted() {
        let tally = Arc::new(Tally::default());
        let spoofer =
            CountingSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), Arc::clone(&tally))
                .unwrap();
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(target_addr) = target.local_addr().unwrap() else { panic!() };
        let source = Ipv4Addr::new(127, 45, 6, 7);
        spoofer.send_from(source, b"hello", target_addr).unwrap();
        let mut buf = [0u8; 16];
        target.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = target.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, SocketAddr::V4(SocketAddrV4::new(source, spoofer.local_addr().port())));
        target.send_to(b"reply!", from).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while tally.received() < 6 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((tally.sent(), tally.received()), (5, 6));
        assert_eq!(tally.worst_address(), Some((source, 6.0 / 5.0)));
    }
}
