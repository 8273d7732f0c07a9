//! A host of ENet's C library (ENet 1.3.17 as built by `enet-sys`) behind a
//! small safe API, so tests and benches can put the reference implementation
//! opposite Volley on real sockets.
//!
//! Transfer modes map to ENet's packet flags the way Volley's wire mapping
//! does: [`TransferMode::Reliable`] is `ENET_PACKET_FLAG_RELIABLE`,
//! [`TransferMode::Unreliable`] is `ENET_PACKET_FLAG_UNSEQUENCED` and
//! [`TransferMode::UnreliableOrdered`] is no flag (sequenced unreliable).

use std::fmt;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::time::Duration;

use enet_sys::{
    _ENetEventType_ENET_EVENT_TYPE_CONNECT as EVENT_CONNECT,
    _ENetEventType_ENET_EVENT_TYPE_DISCONNECT as EVENT_DISCONNECT,
    _ENetEventType_ENET_EVENT_TYPE_RECEIVE as EVENT_RECEIVE,
    _ENetPacketFlag_ENET_PACKET_FLAG_RELIABLE as FLAG_RELIABLE,
    _ENetPacketFlag_ENET_PACKET_FLAG_UNSEQUENCED as FLAG_UNSEQUENCED,
    _ENetSocketOption_ENET_SOCKOPT_RCVBUF, ENetAddress, ENetEvent, ENetHost, ENetList, ENetPeer,
    enet_crc32, enet_host_compress_with_range_coder, enet_host_connect, enet_host_create,
    enet_host_destroy, enet_host_flush, enet_host_service, enet_initialize, enet_packet_create,
    enet_packet_destroy, enet_peer_disconnect, enet_peer_send, enet_socket_set_option,
};
use volley_proto::TransferMode;

/// A peer slot of an [`EnetHost`] (its index in ENet's peer array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnetPeer(usize);

impl EnetPeer {
    /// The slot with this index (checked against the host when used).
    pub fn from_index(index: usize) -> Self {
        Self(index)
    }

    /// The slot's index in ENet's peer array.
    pub fn index(self) -> usize {
        self.0
    }
}

/// An event of an [`EnetHost`], its packet's bytes as `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnetEventOf<P> {
    /// A connection is established (`ENET_EVENT_TYPE_CONNECT`).
    Connected {
        /// The peer.
        peer: EnetPeer,
        /// The remote's connect data on a server; 0 on the connecting side.
        data: u32,
    },
    /// A connection ended (`ENET_EVENT_TYPE_DISCONNECT`).
    Disconnected {
        /// The peer.
        peer: EnetPeer,
        /// The remote's disconnect data, or 0.
        data: u32,
    },
    /// A packet arrived (`ENET_EVENT_TYPE_RECEIVE`).
    Received {
        /// The sender.
        peer: EnetPeer,
        /// The channel it came on.
        channel: u8,
        /// The mode its flags say it was sent in.
        mode: TransferMode,
        /// The bytes.
        payload: P,
    },
}

/// What [`EnetHost::service`] reports, with the packet copied out of ENet.
pub type EnetEvent = EnetEventOf<Vec<u8>>;

/// An event of [`EnetHost::service_with`], the packet lent by ENet until
/// the callback returns.
pub type EnetEventRef<'a> = EnetEventOf<&'a [u8]>;

/// What went wrong in an [`EnetHost`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnetError {
    /// `enet_initialize` failed.
    Initialize,
    /// `enet_host_create` failed (socket, bind or allocation).
    Create,
    /// `enet_host_connect` found no free peer slot.
    NoPeerSlot,
    /// The peer index is outside the host's peer array.
    UnknownPeer(EnetPeer),
    /// `enet_packet_create` failed to allocate.
    PacketAllocation,
    /// `enet_peer_send` refused the packet (peer not connected, bad channel, too large).
    Send,
    /// `enet_host_service` reported a socket failure.
    Service,
    /// `enet_host_compress_with_range_coder` failed to allocate the coder.
    Compressor,
}

impl fmt::Display for EnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initialize => f.write_str("enet_initialize failed"),
            Self::Create => f.write_str("enet_host_create failed"),
            Self::NoPeerSlot => f.write_str("no free ENet peer slot"),
            Self::UnknownPeer(peer) => write!(f, "no ENet peer slot {}", peer.0),
            Self::PacketAllocation => f.write_str("enet_packet_create failed"),
            Self::Send => f.write_str("enet_peer_send refused the packet"),
            Self::Service => f.write_str("enet_host_service failed"),
            Self::Compressor => f.write_str("enet_host_compress_with_range_coder failed"),
        }
    }
}

impl std::error::Error for EnetError {}

/// An `ENetHost` from the C library, destroyed on drop.
///
/// Not `Send`: ENet hosts are single-threaded.
///
/// ```
/// use volley_bench::enet_c_host::EnetHost;
///
/// let server = EnetHost::new(Some("127.0.0.1:0".parse().unwrap()), 8, 4)?;
/// assert_ne!(server.local_addr().port(), 0);
/// # Ok::<(), volley_bench::enet_c_host::EnetError>(())
/// ```
pub struct EnetHost {
    host: NonNull<ENetHost>,
}

impl fmt::Debug for EnetHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnetHost").field("local_addr", &self.local_addr()).finish_non_exhaustive()
    }
}

impl EnetHost {
    /// Creates a host with `peer_limit` peer slots and at most
    /// `channel_limit` channels per connection, bound to `bind` (a server) or
    /// to an ephemeral port (`None`, a client).
    #[allow(unsafe_code)]
    pub fn new(
        bind: Option<SocketAddrV4>,
        peer_limit: usize,
        channel_limit: usize,
    ) -> Result<Self, EnetError> {
        initialize()?;
        let address = bind.map(to_enet);
        let address_ptr = address.as_ref().map_or(ptr::null(), ptr::from_ref);
        // SAFETY: `address_ptr` is null or points to a live ENetAddress for
        // the duration of the call; ENet returns null or a host owned by the
        // caller until `enet_host_destroy`.
        let host = unsafe { enet_host_create(address_ptr, peer_limit, channel_limit, 0, 0) };
        NonNull::new(host).map(|host| Self { host }).ok_or(EnetError::Create)
    }

    /// The address the host's socket is bound to (port 0 for a client
    /// created without an address, as ENet does not look it up).
    #[allow(unsafe_code)]
    pub fn local_addr(&self) -> SocketAddrV4 {
        // SAFETY: the host is live; `address` is plain data ENet sets at creation.
        from_enet(unsafe { self.host.as_ref() }.address)
    }

    /// The host's socket (`host->socket`), to wait on.
    #[allow(unsafe_code)]
    pub fn socket_fd(&self) -> std::os::fd::RawFd {
        // SAFETY: the host is live; `socket` is plain data ENet sets at creation.
        unsafe { self.host.as_ref() }.socket
    }

    /// Asks the kernel for a receive buffer of `bytes` on the host's socket
    /// (`enet_socket_set_option(ENET_SOCKOPT_RCVBUF)`; ENet's own is 256 KiB).
    #[allow(unsafe_code)]
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<(), EnetError> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        // SAFETY: the host is live and its socket open for its lifetime;
        // the call only passes the option to setsockopt.
        let result = unsafe {
            enet_socket_set_option(
                self.host.as_ref().socket,
                _ENetSocketOption_ENET_SOCKOPT_RCVBUF,
                bytes,
            )
        };
        if result == 0 { Ok(()) } else { Err(EnetError::Create) }
    }

    /// Turns CRC-32 checksums on or off (`host->checksum = enet_crc32`);
    /// both ends of a connection must agree.
    #[allow(unsafe_code)]
    pub fn set_checksum(&mut self, enabled: bool) {
        // SAFETY: the host is live and only used from this thread; ENet
        // documents `checksum` as the field users set to enable checksums,
        // and `enet_crc32` has exactly the callback's signature.
        unsafe { self.host.as_mut().checksum = enabled.then_some(enet_crc32) };
    }

    /// Compresses datagrams with ENet's built-in range coder
    /// (`enet_host_compress_with_range_coder`); both ends must agree.
    #[allow(unsafe_code)]
    pub fn use_range_coder(&mut self) -> Result<(), EnetError> {
        // SAFETY: the host is live and only used from this thread; the call
        // installs ENet's own compressor on it.
        let status = unsafe { enet_host_compress_with_range_coder(self.host.as_ptr()) };
        if status == 0 { Ok(()) } else { Err(EnetError::Compressor) }
    }

    /// Starts connecting to `address` with `channels` channels; `data`
    /// reaches the remote in its connect event.
    #[allow(unsafe_code)]
    pub fn connect(
        &mut self,
        address: SocketAddrV4,
        channels: usize,
        data: u32,
    ) -> Result<EnetPeer, EnetError> {
        let address = to_enet(address);
        // SAFETY: the host is live and `address` outlives the call; ENet
        // returns null or a pointer into the host's peer array.
        let peer = unsafe { enet_host_connect(self.host.as_ptr(), &address, channels, data) };
        if peer.is_null() {
            return Err(EnetError::NoPeerSlot);
        }
        Ok(self.peer_of(peer))
    }

    /// Queues `payload` to `peer` on `channel` in `mode` (a copy is made).
    #[allow(unsafe_code)]
    pub fn send(
        &mut self,
        peer: EnetPeer,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), EnetError> {
        let peer = self.peer_ptr(peer)?;
        // SAFETY: ENet copies `payload.len()` bytes from a live slice into a
        // packet it allocates (no NO_ALLOCATE flag); null means out of memory.
        let packet =
            unsafe { enet_packet_create(payload.as_ptr().cast(), payload.len(), flags_of(mode)) };
        if packet.is_null() {
            return Err(EnetError::PacketAllocation);
        }
        // SAFETY: `peer` points into this live host's peer array and
        // `packet` is the fresh packet from above.
        if unsafe { enet_peer_send(peer, channel, packet) } < 0 {
            // SAFETY: on failure ENet took no reference to the packet, which
            // is still ours to free; a referenced packet is ENet's to free.
            unsafe {
                if (*packet).referenceCount == 0 {
                    enet_packet_destroy(packet);
                }
            }
            return Err(EnetError::Send);
        }
        Ok(())
    }

    /// Graceful disconnect (`enet_peer_disconnect`): a
    /// [`EnetEvent::Disconnected`] follows the remote's acknowledgement.
    #[allow(unsafe_code)]
    pub fn disconnect(&mut self, peer: EnetPeer, data: u32) -> Result<(), EnetError> {
        let peer = self.peer_ptr(peer)?;
        // SAFETY: `peer` points into this live host's peer array.
        unsafe { enet_peer_disconnect(peer, data) };
        Ok(())
    }

    /// The peer's smoothed round-trip time as ENet measures it.
    #[allow(unsafe_code)]
    pub fn round_trip_time(&self, peer: EnetPeer) -> Result<Duration, EnetError> {
        let peer = self.peer_ptr(peer)?;
        // SAFETY: `peer` points into this live host's peer array; reading a
        // plain field.
        let millis = unsafe { (*peer).roundTripTime };
        Ok(Duration::from_millis(millis.into()))
    }

    /// The remote address of `peer`'s slot (`peer->address`).
    #[allow(unsafe_code)]
    pub fn peer_address(&self, peer: EnetPeer) -> Result<SocketAddrV4, EnetError> {
        let peer = self.peer_ptr(peer)?;
        // SAFETY: `peer` points into this live host's peer array; reading a
        // plain field.
        Ok(from_enet(unsafe { (*peer).address }))
    }

    /// Sends everything queued now (`enet_host_flush`).
    #[allow(unsafe_code)]
    pub fn flush(&mut self) {
        // SAFETY: the host is live and only used from this thread.
        unsafe { enet_host_flush(self.host.as_ptr()) };
    }

    /// One pass of `enet_host_service` with a zero timeout: receives, runs
    /// timers, sends, and returns the next event if there is one.
    pub fn service(&mut self) -> Result<Option<EnetEvent>, EnetError> {
        self.service_with(Duration::ZERO, |event| match event {
            EnetEventRef::Connected { peer, data } => EnetEvent::Connected { peer, data },
            EnetEventRef::Disconnected { peer, data } => EnetEvent::Disconnected { peer, data },
            EnetEventRef::Received { peer, channel, mode, payload } => {
                EnetEvent::Received { peer, channel, mode, payload: payload.to_vec() }
            }
        })
    }

    /// One `enet_host_service` call that sleeps in the OS up to `timeout`
    /// (whole milliseconds, rounded up) for an event, then hands it to `on`
    /// with the packet borrowed, not copied; returns what `on` returned, or
    /// `None` if no event came.
    #[allow(unsafe_code)]
    pub fn service_with<R>(
        &mut self,
        timeout: Duration,
        on: impl FnOnce(EnetEventRef<'_>) -> R,
    ) -> Result<Option<R>, EnetError> {
        let millis = u32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        let mut event = MaybeUninit::<ENetEvent>::zeroed();
        // SAFETY: the host is live; ENet fills `event` when it returns > 0.
        let status = unsafe { enet_host_service(self.host.as_ptr(), event.as_mut_ptr(), millis) };
        if status < 0 {
            return Err(EnetError::Service);
        }
        if status == 0 {
            return Ok(None);
        }
        // SAFETY: status > 0, so ENet wrote a complete event.
        let event = unsafe { event.assume_init() };
        // Every event ENet reports carries its peer.
        let peer = self.peer_of(event.peer);
        Ok(match event.type_ {
            EVENT_CONNECT => Some(on(EnetEventRef::Connected { peer, data: event.data })),
            EVENT_DISCONNECT => Some(on(EnetEventRef::Disconnected { peer, data: event.data })),
            EVENT_RECEIVE => {
                // SAFETY: a receive event hands the caller a live packet
                // whose `data` holds `dataLength` bytes; it is lent to `on`,
                // then destroyed exactly once.
                unsafe {
                    let packet = &*event.packet;
                    let payload = if packet.dataLength == 0 {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(packet.data, packet.dataLength)
                    };
                    let mode = mode_of(packet.flags);
                    let result = on(EnetEventRef::Received {
                        peer,
                        channel: event.channelID,
                        mode,
                        payload,
                    });
                    enet_packet_destroy(event.packet);
                    Some(result)
                }
            }
            _ => None,
        })
    }

    /// Whether packets queued to `peer` still wait to be sent (ENet's
    /// outgoing queues are not empty); in flight does not count.
    #[allow(unsafe_code)]
    pub fn has_unsent(&self, peer: EnetPeer) -> Result<bool, EnetError> {
        let peer = self.peer_ptr(peer)?;
        // SAFETY: `peer` points into this live host's peer array; an ENet
        // list is empty when its sentinel's `next` points at the sentinel,
        // and only the addresses are compared.
        unsafe {
            let empty =
                |list: *const ENetList| ptr::eq((*list).sentinel.next, &raw const (*list).sentinel);
            Ok(!empty(&raw const (*peer).outgoingCommands)
                || !empty(&raw const (*peer).outgoingSendReliableCommands))
        }
    }

    /// The peer slot `peer` points to.
    #[allow(unsafe_code)]
    fn peer_of(&self, peer: *mut ENetPeer) -> EnetPeer {
        // SAFETY: ENet only hands out pointers into the host's peer array,
        // so both belong to the same allocation and `peer` is not below its start.
        EnetPeer(unsafe { peer.offset_from_unsigned(self.host.as_ref().peers) })
    }

    /// A pointer to the slot of `peer`, checked against the array's length.
    #[allow(unsafe_code)]
    fn peer_ptr(&self, peer: EnetPeer) -> Result<*mut ENetPeer, EnetError> {
        // SAFETY: the host is live; `peers` holds `peerCount` slots and the
        // index is checked before the pointer is formed.
        unsafe {
            let host = self.host.as_ref();
            if peer.0 >= host.peerCount {
                return Err(EnetError::UnknownPeer(peer));
            }
            Ok(host.peers.add(peer.0))
        }
    }
}

impl Drop for EnetHost {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the host came from `enet_host_create` and is destroyed
        // exactly once, here; ENet frees its peers and queued packets.
        unsafe { enet_host_destroy(self.host.as_ptr()) }
    }
}

/// `enet_initialize` once per process (on Unix it only checks the platform).
#[allow(unsafe_code)]
fn initialize() -> Result<(), EnetError> {
    static INITIALIZED: OnceLock<bool> = OnceLock::new();
    // SAFETY: `enet_initialize` takes no arguments; `OnceLock` runs it once.
    let ok = *INITIALIZED.get_or_init(|| unsafe { enet_initialize() } == 0);
    if ok { Ok(()) } else { Err(EnetError::Initialize) }
}

fn flags_of(mode: TransferMode) -> u32 {
    match mode {
        TransferMode::Reliable => FLAG_RELIABLE,
        TransferMode::Unreliable => FLAG_UNSEQUENCED,
        TransferMode::UnreliableOrdered => 0,
    }
}

/// A received packet's mode from its flags. Unreliable fragments
/// (`ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT`) are sequenced, hence ordered.
fn mode_of(flags: u32) -> TransferMode {
    if flags & FLAG_RELIABLE != 0 {
        TransferMode::Reliable
    } else if flags & FLAG_UNSEQUENCED != 0 {
        TransferMode::Unreliable
    } else {
        TransferMode::UnreliableOrdered
    }
}

/// ENet keeps the IPv4 address in network byte order and the port in host order.
fn to_enet(address: SocketAddrV4) -> ENetAddress {
    ENetAddress { host: u32::from_ne_bytes(address.ip().octets()), port: address.port() }
}

fn from_enet(address: ENetAddress) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(address.host.to_ne_bytes()), address.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_enet_flags_and_back() {
        for mode in
            [TransferMode::Reliable, TransferMode::Unreliable, TransferMode::UnreliableOrdered]
        {
            assert_eq!(mode_of(flags_of(mode)), mode);
        }
        assert_eq!(flags_of(TransferMode::Reliable), 1);
        assert_eq!(flags_of(TransferMode::Unreliable), 2);
        assert_eq!(flags_of(TransferMode::UnreliableOrdered), 0);
    }

    #[test]
    fn addresses_keep_their_byte_order() {
        let address: SocketAddrV4 = "127.0.0.1:7777".parse().unwrap();
        let enet = to_enet(address);
        assert_eq!(enet.host.to_ne_bytes(), [127, 0, 0, 1]);
        assert_eq!(from_enet(enet), address);
    }

    #[test]
    fn an_unknown_peer_is_an_error() {
        let mut host = EnetHost::new(None, 1, 1).unwrap();
        let peer = EnetPeer(1);
        assert_eq!(host.disconnect(peer, 0), Err(EnetError::UnknownPeer(peer)));
    }
}
