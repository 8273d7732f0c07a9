//! Godot's `MultiplayerPeer`, in Rust.
//!
//! A [`MultiplayerPeer`] is one end of a multiplayer session: it has an id
//! (the server is always 1), sends packets to a [`Target`] with the current
//! transfer channel and mode, and yields what arrives — packets and peer
//! connect / disconnect events — as one ordered stream of [`Incoming`]
//! items. The trait carries everything Godot's `MultiplayerPeer` class has,
//! under Rust names; `docs/godot-mapping.md` lists every correspondence.
//!
//! - [`EnetMultiplayerPeer`] is the networked peer: server, client or mesh
//!   over ENet-compatible connections, in Godot 3's or Godot 4's framing
//!   (Godot's `NetworkedMultiplayerENet` / `ENetMultiplayerPeer`); see
//!   [`enet`].
//! - [`ServerSession`] is a server on several listeners at once, one id
//!   space and one poll; [`session`] is the transport-neutral core both
//!   share.
//! - [`OfflinePeer`] is the peer of a game with no network (Godot's
//!   `OfflineMultiplayerPeer`).
//! - [`framing`] holds the wire formats the peers speak.
//! - The trait is open: implement it for your own transport, as Godot's
//!   `MultiplayerPeerExtension` allows.
//!
//! ```
//! use std::time::Duration;
//! use volley::multiplayer::{Incoming, MultiplayerPeer, OfflinePeer, PeerEvent};
//!
//! let mut peer: Box<dyn MultiplayerPeer> = Box::new(OfflinePeer::new());
//! peer.poll_timeout(Duration::ZERO)?; // once per frame in a game loop
//! while let Some(incoming) = peer.next_incoming() {
//!     match incoming {
//!         Incoming::Packet(packet) => {
//!             println!("{} bytes from {}", packet.payload.len(), packet.from);
//!             peer.recycle(packet.payload);
//!         }
//!         Incoming::Event(PeerEvent::Connected(id)) => println!("{id} joined"),
//!         Incoming::Event(PeerEvent::Disconnected(id, _)) => println!("{id} left"),
//!         Incoming::Event(_) => {}
//!     }
//! }
//! # Ok::<(), volley::multiplayer::PollError>(())
//! ```

pub mod enet;
pub mod framing;
mod offline;
mod peer_id;
pub mod session;
pub mod webrtc;
pub mod websocket;

use std::fmt;
use std::io;
use std::time::Duration;

use volley_proto::TransferMode;

pub use enet::EnetMultiplayerPeer;
use framing::ChannelError;
pub use offline::OfflinePeer;
pub use peer_id::{PeerId, PeerIdError, Target, TargetError, generate_unique_id};
pub use session::{AuthMessage, ServerSession};

/// How long [`MultiplayerPeer::poll`] waits for something to happen.
pub const DEFAULT_POLL_WAIT: Duration = Duration::from_secs(1);

/// Where a peer's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    /// No session: never started, closed, refused or lost.
    Disconnected,
    /// A client waiting for the server to accept it.
    Connecting,
    /// In a session: a running server, or a client the server accepted.
    Connected,
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
        })
    }
}

/// A peer joining or leaving the session (Godot's `peer_connected` and
/// `peer_disconnected` signals), and a client's connection failing.
///
/// A client sees `Connected(PeerId::SERVER)` once the server accepts it
/// (Godot's `connected_to_server`), and then `Disconnected(PeerId::SERVER)`
/// when the session ends (Godot's `server_disconnected`: only after
/// `Connected`). A client that never got in sees
/// [`ConnectionFailed`](Self::ConnectionFailed) instead (Godot's
/// `connection_failed`). With server relay a client also sees the other
/// clients come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerEvent {
    /// This peer can now be sent to.
    Connected(PeerId),
    /// This peer is gone, for this reason; sending to it fails from now on.
    Disconnected(PeerId, DepartureReason),
    /// This peer's transport connected and it now authenticates (Godot 4's
    /// `peer_authenticating`; only with
    /// [`SessionOptions::authentication`](session::SessionOptions::authentication)):
    /// read its messages with `next_auth_message`, answer with `send_auth`,
    /// finish with `complete_auth`. `Connected` follows once both sides
    /// completed.
    Authenticating(PeerId),
    /// This peer left, was dropped or timed out while authenticating (Godot
    /// 4's `peer_authentication_failed`); no `Connected` or `Disconnected`
    /// is emitted for it.
    AuthenticationFailed(PeerId),
    /// A client's attempt to join ended without it getting in (Godot's
    /// `connection_failed`): refused, unanswered, or its authentication
    /// failed. The status is `Disconnected`. It carries the refusal reason
    /// a Volley server gave ([`RefuseReason`](framing::RefuseReason)), or
    /// `None` after a timeout or a refusal with an unknown code. Refusals a
    /// client retries with a fresh id (an invalid or duplicate id) are not
    /// failures; only the last one is.
    ConnectionFailed(Option<framing::RefuseReason>),
}

/// Why a peer left the session, as far as this side knows (Godot's
/// `peer_disconnected` signal carries no reason; Volley's event does).
///
/// ```
/// use volley::multiplayer::{DepartureReason, Incoming, PeerEvent};
///
/// fn describe(incoming: &Incoming) -> Option<String> {
///     match incoming {
///         Incoming::Event(PeerEvent::Disconnected(id, DepartureReason::TimedOut)) => {
///             Some(format!("{id} timed out"))
///         }
///         Incoming::Event(PeerEvent::Disconnected(id, reason)) => Some(format!("{id} left: {reason}")),
///         _ => None,
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DepartureReason {
    /// The remote closed its connection (ENet DISCONNECT, WebSocket close,
    /// WebRTC close).
    Closed,
    /// The remote fell silent: its transport gave up on it.
    TimedOut,
    /// This side ended it: `disconnect_peer`, `close`, or the session
    /// dropping a peer.
    Disconnected,
    /// A client learnt from the server that another client left: the
    /// announcement carries no reason.
    Announced,
    /// A client's connection to the server ended, and with it the other
    /// clients it reached through the server.
    SessionEnded,
}

impl fmt::Display for DepartureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed by the remote",
            Self::TimedOut => "timed out",
            Self::Disconnected => "disconnected by this side",
            Self::Announced => "announced by the server",
            Self::SessionEnded => "the session with the server ended",
        })
    }
}

/// A received packet, owned by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// The peer that sent it (for a relayed packet, the original sender).
    pub from: PeerId,
    /// The user channel it was sent on.
    pub channel: u8,
    /// The transfer mode it was sent with.
    pub mode: TransferMode,
    /// The user's bytes. Hand the buffer back with
    /// [`MultiplayerPeer::recycle`] once read, so it can be reused.
    pub payload: Vec<u8>,
}

impl Packet {
    /// The packet's description without its bytes.
    pub fn info(&self) -> PacketInfo {
        PacketInfo {
            from: self.from,
            channel: self.channel,
            mode: self.mode,
            len: self.payload.len(),
        }
    }
}

/// What is known about a queued packet before taking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// The peer that sent it.
    pub from: PeerId,
    /// The user channel it was sent on.
    pub channel: u8,
    /// The transfer mode it was sent with.
    pub mode: TransferMode,
    /// Length of the payload in bytes.
    pub len: usize,
}

/// One item of a peer's incoming stream: packets and events in the order
/// they happened.
///
/// Keeping both in one stream means a packet a peer sent just before it
/// left is seen before its `Disconnected`, and nothing from a peer is seen
/// before its `Connected`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Incoming {
    /// A packet arrived.
    Packet(Packet),
    /// A peer joined or left.
    Event(PeerEvent),
}

/// One end of a multiplayer session, with Godot's `MultiplayerPeer`
/// semantics.
///
/// # Sending
///
/// [`put_packet`](Self::put_packet) sends to the target chosen with
/// [`set_target_peer`](Self::set_target_peer) (default: everyone), on
/// [`transfer_channel`](Self::transfer_channel) (default 0) with
/// [`transfer_mode`](Self::transfer_mode) (default reliable). These settings
/// stay until changed, as Godot's properties do.
///
/// # Receiving
///
/// [`poll_timeout`](Self::poll_timeout) does the network work; then
/// [`next_incoming`](Self::next_incoming) yields packets and peer events in
/// the order they happened. [`next_packet`](Self::next_packet) is the
/// packet-only view for code that does not care about events, like a Godot
/// loop over `get_packet` that connects no signals.
///
/// Packets are handed over as owned [`Packet`]s rather than borrowed from
/// the peer (Godot's `get_packet` buffer is "gone after the next
/// `get_packet`"). A borrowed packet would lock the peer while it is read:
/// replying with `put_packet`, or reading two packets side by side, would
/// not compile. Owning costs nothing extra: the receive path has to produce
/// a contiguous buffer per packet anyway (datagram buffers are reused,
/// fragments are reassembled), and moving that buffer out is free. To keep
/// a steady state free of allocation, give the buffer back with
/// [`recycle`](Self::recycle); an implementation that pools buffers reuses
/// it for a later packet.
///
/// # Implementing
///
/// Required methods are the ones that need the implementation's state;
/// the rest are derived from them and may be overridden. The trait is
/// dyn-compatible, so a game can swap peers at run time
/// (`Box<dyn MultiplayerPeer>`), as Godot swaps `multiplayer_peer`.
pub trait MultiplayerPeer {
    /// The user channel [`put_packet`](Self::put_packet) sends on. Default 0.
    fn transfer_channel(&self) -> u8;

    /// Sets the user channel for later sends. Channels are ordered
    /// independently of one another; channel 0 always exists, and an
    /// unavailable channel makes `put_packet` fail.
    fn set_transfer_channel(&mut self, channel: u8);

    /// The transfer mode [`put_packet`](Self::put_packet) sends with.
    /// Default [`TransferMode::Reliable`].
    fn transfer_mode(&self) -> TransferMode;

    /// Sets the transfer mode for later sends.
    fn set_transfer_mode(&mut self, mode: TransferMode);

    /// Sets who later sends go to. Default [`Target::Broadcast`].
    fn set_target_peer(&mut self, target: Target);

    /// Whether a server turns new clients away. Default `false`.
    fn is_refusing_new_connections(&self) -> bool;

    /// Makes a server turn new clients away (or welcome them again).
    /// Clients already connected stay.
    fn set_refuse_new_connections(&mut self, refuse: bool);

    /// This peer's own id: [`PeerId::SERVER`] on a server.
    ///
    /// A client's id can change while it is
    /// [`Connecting`](ConnectionStatus::Connecting) (an ENet client whose
    /// id the server refused retries with a fresh one; a WebSocket client
    /// learns the id the server assigned). Read it once
    /// [`PeerEvent::Connected`]`(PeerId::SERVER)` arrived; nothing is ever
    /// sent or emitted under an id that was given up.
    fn unique_id(&self) -> PeerId;

    /// Whether this peer is the session's server (its id is 1).
    fn is_server(&self) -> bool {
        self.unique_id().is_server()
    }

    /// Where the session stands.
    fn connection_status(&self) -> ConnectionStatus;

    /// Whether clients can reach one another through the server, so that
    /// the layer above may target any peer. Default `false`, as in Godot.
    fn is_server_relay_supported(&self) -> bool {
        false
    }

    /// A fresh random client id (2..=`i32::MAX`) from the thread's RNG; see
    /// [`generate_unique_id`] to choose the RNG.
    fn generate_unique_id(&self) -> PeerId {
        generate_unique_id(&mut rand::rng())
    }

    /// Sends `payload` to the current target, on the current channel with
    /// the current mode.
    ///
    /// The packet is queued, not flushed: Volley sends at the next poll, so
    /// packets put in one frame share datagrams.
    fn put_packet(&mut self, payload: &[u8]) -> Result<(), PutPacketError>;

    /// The largest payload [`put_packet`](Self::put_packet) accepts, in bytes.
    fn max_packet_size(&self) -> usize;

    /// Does the network work: receives, sends what is queued, runs timers.
    ///
    /// Waits until something arrives or `timeout` passes, whichever is
    /// first, and returns at once if incoming items are already queued.
    /// Use `Duration::ZERO` in a game loop that polls once per frame.
    fn poll_timeout(&mut self, timeout: Duration) -> Result<(), PollError>;

    /// [`poll_timeout`](Self::poll_timeout) with [`DEFAULT_POLL_WAIT`] (one
    /// second), for a loop that has nothing to do but serve the network.
    fn poll(&mut self) -> Result<(), PollError> {
        self.poll_timeout(DEFAULT_POLL_WAIT)
    }

    /// Takes the oldest incoming item, packet or event.
    fn next_incoming(&mut self) -> Option<Incoming>;

    /// Describes the packet [`next_packet`](Self::next_packet) would return,
    /// without taking it.
    fn peek_packet(&self) -> Option<PacketInfo>;

    /// How many packets are queued (events not counted).
    fn available_packet_count(&self) -> usize;

    /// Takes the oldest queued packet. Events queued before it are taken
    /// and discarded: use [`next_incoming`](Self::next_incoming) to see them.
    fn next_packet(&mut self) -> Option<Packet> {
        loop {
            match self.next_incoming()? {
                Incoming::Packet(packet) => return Some(packet),
                Incoming::Event(_) => {}
            }
        }
    }

    /// The sender of the packet [`next_packet`](Self::next_packet) would return.
    fn packet_peer(&self) -> Option<PeerId> {
        self.peek_packet().map(|info| info.from)
    }

    /// The user channel of the packet [`next_packet`](Self::next_packet)
    /// would return.
    fn packet_channel(&self) -> Option<u8> {
        self.peek_packet().map(|info| info.channel)
    }

    /// The transfer mode of the packet [`next_packet`](Self::next_packet)
    /// would return.
    fn packet_mode(&self) -> Option<TransferMode> {
        self.peek_packet().map(|info| info.mode)
    }

    /// Gives back a payload buffer from a [`Packet`] so that a later packet
    /// can reuse its allocation. The default drops it.
    fn recycle(&mut self, payload: Vec<u8>) {
        drop(payload);
    }

    /// Ends one peer's connection. Without `force`, gracefully: queued
    /// packets are delivered first and a [`PeerEvent::Disconnected`] follows
    /// once the peer is gone. With `force`, at once: what was queued goes
    /// out first (sent once, as Godot, which flushes every `put_packet`,
    /// would have sent it; not resent if lost), the peer is dropped, and no
    /// event is emitted for it (as in Godot).
    fn disconnect_peer(&mut self, peer: PeerId, force: bool) -> Result<(), DisconnectPeerError>;

    /// Ends the session: what was put before goes out first (sent once, as
    /// Godot, which flushes every `put_packet`, would have sent it), then
    /// every connection is closed and queued incoming packets are
    /// discarded. Afterwards the status is
    /// [`ConnectionStatus::Disconnected`], except for [`OfflinePeer`], which
    /// has no session to end.
    fn close(&mut self);
}

/// Why [`MultiplayerPeer::put_packet`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutPacketError {
    /// The peer is an [`OfflinePeer`]: there is nobody to send to. Set up a
    /// networked peer first (code that runs both offline and online may
    /// treat this as "sent to no one").
    Offline,
    /// The session is not [`ConnectionStatus::Connected`]; wait for the
    /// server to accept this client, or start a new session.
    NotConnected,
    /// The payload is larger than [`MultiplayerPeer::max_packet_size`];
    /// split it.
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },
    /// The transfer channel is not available on this connection; use a
    /// lower one or connect with more channels.
    Channel(ChannelError),
    /// The target names a peer that is not connected (or, from a client, one
    /// it cannot reach); pick a target from the connected peers.
    UnknownTarget(PeerId),
    /// The connection to this peer has as much queued and unacknowledged
    /// data as allowed: it is not keeping up. Poll, so acknowledgements free
    /// room, and send again (or drop the peer).
    QueueFull(PeerId),
    /// The godot4 profile carries SceneMultiplayer packets, and an empty
    /// one is none (Godot drops it; its `send_bytes` refuses empty data).
    EmptyPayload,
    /// In the godot4 profile, a payload whose first byte is
    /// SceneMultiplayer's SYS command, `0x07`: the session's own
    /// announcements, relays and authentication begin so, and every peer
    /// would read it as one. Send with
    /// [`SessionOptions::raw_packets`](session::SessionOptions::raw_packets)
    /// on, or pick another first byte.
    ReservedCommand(u8),
}

impl fmt::Display for PutPacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline => f.write_str("cannot send: the peer is offline"),
            Self::NotConnected => f.write_str("cannot send: not connected"),
            Self::PayloadTooLarge { len, max } => {
                write!(f, "cannot send {len} bytes: at most {max} fit in a packet")
            }
            Self::Channel(e) => write!(f, "cannot send: {e}"),
            Self::UnknownTarget(id) => write!(f, "cannot send: peer {id} is not connected"),
            Self::QueueFull(id) => write!(f, "cannot send: the queue to peer {id} is full"),
            Self::EmptyPayload => f.write_str("cannot send an empty packet in the godot4 profile"),
            Self::ReservedCommand(byte) => {
                write!(f, "cannot send: first byte {byte:#04x} is SceneMultiplayer's SYS command")
            }
        }
    }
}

impl std::error::Error for PutPacketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Channel(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ChannelError> for PutPacketError {
    fn from(e: ChannelError) -> Self {
        Self::Channel(e)
    }
}

/// Why [`MultiplayerPeer::poll_timeout`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PollError {
    /// The peer was closed; start a new session to continue.
    Closed,
    /// The socket failed; the session cannot continue.
    Io(io::Error),
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("cannot poll: the peer is closed"),
            Self::Io(e) => write!(f, "socket error while polling: {e}"),
        }
    }
}

impl std::error::Error for PollError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Closed => None,
        }
    }
}

impl From<io::Error> for PollError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why [`MultiplayerPeer::disconnect_peer`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectPeerError {
    /// No connected peer has this id (it may have left already).
    UnknownPeer(PeerId),
}

impl fmt::Display for DisconnectPeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPeer(id) => write!(f, "cannot disconnect peer {id}: not connected"),
        }
    }
}

impl std::error::Error for DisconnectPeerError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::error::Error;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    fn packet(from: u32, payload: &[u8]) -> Incoming {
        Incoming::Packet(Packet {
            from: id(from),
            channel: 3,
            mode: TransferMode::Unreliable,
            payload: payload.to_vec(),
        })
    }

    /// A user-written peer with a scripted incoming queue: only the
    /// required methods, to exercise the provided ones.
    #[derive(Default)]
    struct ScriptedPeer {
        queue: VecDeque<Incoming>,
        last_poll_timeout: Option<Duration>,
        recycled: Vec<Vec<u8>>,
    }

    impl MultiplayerPeer for ScriptedPeer {
        fn transfer_channel(&self) -> u8 {
            0
        }
        fn set_transfer_channel(&mut self, _channel: u8) {}
        fn transfer_mode(&self) -> TransferMode {
            TransferMode::Reliable
        }
        fn set_transfer_mode(&mut self, _mode: TransferMode) {}
        fn set_target_peer(&mut self, _target: Target) {}
        fn is_refusing_new_connections(&self) -> bool {
            false
        }
        fn set_refuse_new_connections(&mut self, _refuse: bool) {}
        fn unique_id(&self) -> PeerId {
            id(77)
        }
        fn connection_status(&self) -> ConnectionStatus {
            ConnectionStatus::Connected
        }
        fn put_packet(&mut self, _payload: &[u8]) -> Result<(), PutPacketError> {
            Err(PutPacketError::NotConnected)
        }
        fn max_packet_size(&self) -> usize {
            0
        }
        fn poll_timeout(&mut self, timeout: Duration) -> Result<(), PollError> {
            self.last_poll_timeout = Some(timeout);
            Ok(())
        }
        fn next_incoming(&mut self) -> Option<Incoming> {
            self.queue.pop_front()
        }
        fn peek_packet(&self) -> Option<PacketInfo> {
            self.queue.iter().find_map(|item| match item {
                Incoming::Packet(packet) => Some(packet.info()),
                Incoming::Event(_) => None,
            })
        }
        fn available_packet_count(&self) -> usize {
            let packets = self.queue.iter().filter(|i| matches!(i, Incoming::Packet(_)));
            packets.count()
        }
        fn recycle(&mut self, payload: Vec<u8>) {
            self.recycled.push(payload);
        }
        fn disconnect_peer(
            &mut self,
            peer: PeerId,
            _force: bool,
        ) -> Result<(), DisconnectPeerError> {
            Err(DisconnectPeerError::UnknownPeer(peer))
        }
        fn close(&mut self) {}
    }

    #[test]
    fn poll_waits_one_second_by_default() {
        let mut peer = ScriptedPeer::default();
        peer.poll().expect("scripted poll succeeds");
        assert_eq!(peer.last_poll_timeout, Some(Duration::from_secs(1)));
        assert_eq!(DEFAULT_POLL_WAIT, Duration::from_secs(1));
    }

    #[test]
    fn derived_identity_defaults() {
        let peer = ScriptedPeer::default();
        assert!(!peer.is_server(), "id 77 is a client");
        assert!(!peer.is_server_relay_supported());
        let fresh = peer.generate_unique_id();
        assert!(fresh.get() >= 2, "{fresh}");
    }

    #[test]
    fn next_incoming_keeps_packets_and_events_in_order() {
        let script = [
            Incoming::Event(PeerEvent::Connected(id(5))),
            packet(5, b"last words"),
            Incoming::Event(PeerEvent::Disconnected(id(5), DepartureReason::TimedOut)),
        ];
        let mut peer = ScriptedPeer { queue: script.clone().into(), ..Default::default() };
        let taken: Vec<Incoming> = std::iter::from_fn(|| peer.next_incoming()).collect();
        assert_eq!(taken, script);
    }

    #[test]
    fn packet_accessors_describe_the_next_packet_past_events() {
        let mut peer = ScriptedPeer {
            queue: [Incoming::Event(PeerEvent::Connected(id(5))), packet(5, b"abc")].into(),
            ..Default::default()
        };
        assert_eq!(peer.available_packet_count(), 1);
        assert_eq!(peer.packet_peer(), Some(id(5)));
        assert_eq!(peer.packet_channel(), Some(3));
        assert_eq!(peer.packet_mode(), Some(TransferMode::Unreliable));
        let taken = peer.next_packet().expect("one packet queued");
        assert_eq!(
            taken.info(),
            PacketInfo { from: id(5), channel: 3, mode: TransferMode::Unreliable, len: 3 }
        );
        assert_eq!(peer.next_incoming(), None, "the passed event was discarded");
        assert_eq!(peer.packet_peer(), None);
        assert_eq!(peer.packet_channel(), None);
        assert_eq!(peer.packet_mode(), None);
        assert_eq!(peer.next_packet(), None);
    }

    #[test]
    fn next_packet_stops_at_the_packet_and_keeps_later_events() {
        let mut peer = ScriptedPeer {
            queue: [
                packet(2, b"a"),
                Incoming::Event(PeerEvent::Disconnected(id(2), DepartureReason::Closed)),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(peer.next_packet().map(|p| p.payload), Some(b"a".to_vec()));
        assert_eq!(
            peer.next_incoming(),
            Some(Incoming::Event(PeerEvent::Disconnected(id(2), DepartureReason::Closed)))
        );
    }

    #[test]
    fn recycled_buffers_reach_the_implementation() {
        let mut peer = ScriptedPeer { queue: [packet(2, b"xyz")].into(), ..Default::default() };
        let taken = peer.next_packet().expect("queued");
        peer.recycle(taken.payload);
        assert_eq!(peer.recycled, [b"xyz".to_vec()]);
    }

    #[test]
    fn trait_objects_work() {
        let mut peers: Vec<Box<dyn MultiplayerPeer>> =
            vec![Box::new(ScriptedPeer::default()), Box::new(OfflinePeer::new())];
        let ids: Vec<u32> = peers.iter().map(|p| p.unique_id().get()).collect();
        assert_eq!(ids, [77, 1]);
        for peer in &mut peers {
            peer.recycle(Vec::with_capacity(16));
            assert_eq!(peer.next_packet(), None);
        }
    }

    #[test]
    fn connection_status_displays() {
        assert_eq!(ConnectionStatus::Disconnected.to_string(), "disconnected");
        assert_eq!(ConnectionStatus::Connecting.to_string(), "connecting");
        assert_eq!(ConnectionStatus::Connected.to_string(), "connected");
    }

    #[test]
    fn put_packet_errors_explain_themselves() {
        assert_eq!(PutPacketError::Offline.to_string(), "cannot send: the peer is offline");
        assert_eq!(PutPacketError::NotConnected.to_string(), "cannot send: not connected");
        assert_eq!(
            PutPacketError::PayloadTooLarge { len: 9, max: 4 }.to_string(),
            "cannot send 9 bytes: at most 4 fit in a packet"
        );
        assert_eq!(
            PutPacketError::UnknownTarget(id(8)).to_string(),
            "cannot send: peer 8 is not connected"
        );
        assert_eq!(
            PutPacketError::QueueFull(id(8)).to_string(),
            "cannot send: the queue to peer 8 is full"
        );
        assert_eq!(
            PutPacketError::EmptyPayload.to_string(),
            "cannot send an empty packet in the godot4 profile"
        );
        assert_eq!(
            PutPacketError::ReservedCommand(0x07).to_string(),
            "cannot send: first byte 0x07 is SceneMultiplayer's SYS command"
        );
        let channel = ChannelError::UserChannelOutOfRange { channel: 9, max: 3 };
        let error = PutPacketError::from(channel);
        assert_eq!(error, PutPacketError::Channel(channel));
        assert_eq!(error.to_string(), "cannot send: user channel 9 is out of range (highest is 3)");
        assert!(error.source().is_some());
        assert!(PutPacketError::Offline.source().is_none());
    }

    #[test]
    fn poll_and_disconnect_errors_explain_themselves() {
        assert_eq!(PollError::Closed.to_string(), "cannot poll: the peer is closed");
        let io = PollError::from(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(io.to_string(), "socket error while polling: reset");
        assert!(io.source().is_some());
        assert!(PollError::Closed.source().is_none());
        assert_eq!(
            DisconnectPeerError::UnknownPeer(id(4)).to_string(),
            "cannot disconnect peer 4: not connected"
        );
    }
}
