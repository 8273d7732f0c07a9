//! Linux system calls that move many datagrams per call: `recvmmsg`, and
//! `sendmmsg` whose messages may carry a `UDP_SEGMENT` (GSO) control message.
//!
//! Every header array lives on the stack and is rebuilt for each call, so the
//! batches stay plain `Send` data and no pointer outlives the call it is for.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use socket2::SockAddr;

use super::recv::{MAX_RECV_BATCH, SLOT_LEN};
use super::send::{MAX_TRANSMISSIONS, Transmission};

/// Control buffer for one `UDP_SEGMENT` message; `u64` elements give it the
/// alignment of `cmsghdr`.
type GsoControl = [u64; 4];

/// `CMSG_SPACE(sizeof(u16))`: the bytes one `UDP_SEGMENT` control message takes.
#[allow(unsafe_code)]
const GSO_CONTROL_LEN: usize = {
    // SAFETY: CMSG_SPACE only does arithmetic on its argument.
    unsafe { libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as usize }
};

const _: () = assert!(GSO_CONTROL_LEN <= mem::size_of::<GsoControl>());

/// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18+).
///
/// Setting the socket's default segment size to 0 changes nothing but fails
/// on kernels without UDP GSO, which would otherwise silently send a whole
/// run as one datagram.
#[allow(unsafe_code)]
pub(super) fn supports_gso(fd: RawFd) -> bool {
    let off: libc::c_int = 0;
    // SAFETY: the pointer and length describe `off`, alive for the call.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&raw const off).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    result == 0
}

/// Reads up to `slots.len() / SLOT_LEN` datagrams with one `recvmmsg`,
/// datagram `i` into slot `i`; calls `on_datagram(slot, len, source)` for each
/// and returns how many there were.
#[allow(unsafe_code)]
pub(super) fn receive(
    fd: RawFd,
    slots: &mut [u8],
    mut on_datagram: impl FnMut(usize, usize, SocketAddr),
) -> io::Result<usize> {
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; MAX_RECV_BATCH];
    let mut iovecs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_RECV_BATCH];
    let mut headers = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_RECV_BATCH];
    let mut count = 0;
    for (slot, (buffer, (name, (iovec, header)))) in slots
        .chunks_exact_mut(SLOT_LEN)
        .zip(names.iter_mut().zip(iovecs.iter_mut().zip(headers.iter_mut())))
        .enumerate()
    {
        let iovec = iovec
            .write(libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() });
        // SAFETY: all-zero bytes are a valid mmsghdr (null pointers, zero lengths).
        let mut message: libc::mmsghdr = unsafe { mem::zeroed() };
        message.msg_hdr.msg_name = name.as_mut_ptr().cast();
        message.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        message.msg_hdr.msg_iov = iovec;
        message.msg_hdr.msg_iovlen = 1;
        header.write(message);
        count = slot + 1;
    }
    // SAFETY: the first `count` headers are initialised and point at live
    // stack names/iovecs and at distinct `SLOT_LEN`-byte slots of `slots`,
    // all of which outlive the call; a null timeout means "no timeout".
    let received = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr().cast(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
    for (slot, (header, name)) in headers.iter().zip(&names).take(received).enumerate() {
        // SAFETY: the header was initialised above and the kernel filled in
        // msg_len and msg_namelen for each of the `received` messages.
        let header = unsafe { header.assume_init_ref() };
        // SAFETY: the kernel wrote `msg_namelen` bytes of address into `name`.
        let source = unsafe { decode_source(name, header.msg_hdr.msg_namelen) };
        // A UDP socket only reports IPv4 or IPv6 sources; anything else could not be answered.
        if let Some(source) = source {
            on_datagram(slot, header.msg_len as usize, source);
        }
    }
    Ok(received)
}

/// The socket address in `name`.
///
/// # Safety
///
/// The first `len` bytes of `name` must be initialised.
#[allow(unsafe_code)]
unsafe fn decode_source(
    name: &MaybeUninit<libc::sockaddr_storage>,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    let name = name.as_ptr();
    if len < mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: the family field lies within the first `len` initialised bytes.
    let family = libc::c_int::from(unsafe { (*name).ss_family });
    match family {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is large and aligned enough for every
            // address type, and the family and length say it holds a whole sockaddr_in.
            let v4 = unsafe { name.cast::<libc::sockaddr_in>().read() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a whole sockaddr_in6.
            let v6 = unsafe { name.cast::<libc::sockaddr_in6>().read() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(
                SocketAddrV6::new(
                    ip,
                    u16::from_be(v6.sin6_port),
                    u32::from_be(v6.sin6_flowinfo),
                    v6.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

/// Sends `transmissions` (at most [`MAX_TRANSMISSIONS`]) with one `sendmmsg`;
/// a transmission of several datagrams goes as one GSO message. Destinations
/// are converted by `to_kernel` for the socket's family.
///
/// Returns how many messages the kernel accepted (at least one), or the error
/// of the first one.
#[allow(unsafe_code)]
pub(super) fn transmit(
    fd: RawFd,
    transmissions: &[Transmission],
    payloads: &[u8],
    to_kernel: impl Fn(SocketAddr) -> SocketAddr,
) -> io::Result<usize> {
    let mut addresses = [const { MaybeUninit::<SockAddr>::uninit() }; MAX_TRANSMISSIONS];
    let mut iovecs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_TRANSMISSIONS];
    let mut controls = [const { MaybeUninit::<GsoControl>::uninit() }; MAX_TRANSMISSIONS];
    let mut headers = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_TRANSMISSIONS];
    let count = transmissions.len().min(MAX_TRANSMISSIONS);
    for (transmission, (address, (iovec, (control, header)))) in transmissions.iter().zip(
        addresses
            .iter_mut()
            .zip(iovecs.iter_mut().zip(controls.iter_mut().zip(headers.iter_mut()))),
    ) {
        let address = address.write(SockAddr::from(to_kernel(transmission.destination)));
        let bytes = &payloads[transmission.start..transmission.start + transmission.len];
        let iovec = iovec.write(libc::iovec {
            // sendmsg only reads through iov_base; the type is shared with recvmsg.
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        });
        // SAFETY: all-zero bytes are a valid mmsghdr (null pointers, zero lengths).
        let mut message: libc::mmsghdr = unsafe { mem::zeroed() };
        message.msg_hdr.msg_name = address.as_ptr().cast_mut().cast();
        message.msg_hdr.msg_namelen = address.len();
        message.msg_hdr.msg_iov = iovec;
        message.msg_hdr.msg_iovlen = 1;
        if transmission.datagrams > 1 {
            let control = control.write([0; 4]);
            message.msg_hdr.msg_control = control.as_mut_ptr().cast();
            message.msg_hdr.msg_controllen = GSO_CONTROL_LEN as _;
            // SAFETY: msg_control points at GSO_CONTROL_LEN zeroed, cmsghdr-aligned
            // bytes, enough for one header and a u16 (checked at compile time), so
            // CMSG_FIRSTHDR is non-null and CMSG_DATA has room for the segment size.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&raw const message.msg_hdr);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
                // Segment sizes are at most MAX_DATAGRAM_SIZE, so they fit a u16.
                libc::CMSG_DATA(cmsg)
                    .cast::<u16>()
                    .write_unaligned(transmission.segment_size as u16);
            }
        }
        header.write(message);
    }
    // SAFETY: the first `count` headers are initialised and point at stack
    // addresses, iovecs and control buffers and at `payloads`, all alive for the call.
    let sent = unsafe {
        libc::sendmmsg(fd, headers.as_mut_ptr().cast(), count as libc::c_uint, libc::MSG_DONTWAIT)
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}
