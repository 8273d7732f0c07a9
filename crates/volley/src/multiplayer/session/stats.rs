//! Counters of what the multiplayer layer did with packets it did not
//! simply deliver.

/// Counters of a session (an
/// [`EnetMultiplayerPeer`](crate::multiplayer::EnetMultiplayerPeer) or a
/// [`ServerSession`](super::ServerSession)): what it relayed, refused and
/// dropped. The engine's own counters (datagrams,
/// RTT, loss) are in [`PeerStats`](crate::PeerStats), per peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MultiplayerStats {
    /// Copies a server forwarded from one client to another.
    pub packets_relayed: u64,
    /// Copies of a broadcast or relayed packet a connection could not take:
    /// a channel it did not negotiate, or a full outgoing queue.
    pub copies_failed: u64,
    /// Packets whose relay header named another source than the connection
    /// they came on (a client pretending to be someone else).
    pub dropped_spoofed: u64,
    /// Packets a server could not route: an unknown or invalid target, or
    /// a target other than the server with relay off.
    pub dropped_unroutable: u64,
    /// Packets that broke the framing: shorter than the relay header, an
    /// invalid source id, a malformed system message (Godot 3) or SYS
    /// packet (Godot 4), or announcements sent by anyone but a server.
    /// Never a reason to disconnect, as in Godot.
    pub dropped_malformed: u64,
    /// Packets from a peer not in the session: still authenticating (Godot
    /// 4 accepts only `07 00 …` from a pending peer), or turned away
    /// before it got in.
    pub dropped_pending: u64,
    /// Packets that were not `send_bytes` packets, received with
    /// [`SessionOptions::raw_packets`](super::SessionOptions::raw_packets)
    /// on: a Godot game's remote calls, spawns and syncs, which a RAW
    /// application has no use for.
    pub dropped_not_raw: u64,
    /// Packets a client received, through the server, from a peer the server
    /// had already announced as gone.
    pub dropped_departed: u64,
    /// Connections this peer refused with a reason (see
    /// [`RefuseReason`](crate::multiplayer::framing::RefuseReason)).
    pub connections_refused: u64,
}
