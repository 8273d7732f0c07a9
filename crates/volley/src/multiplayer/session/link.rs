//! Links: what the session core knows of one connected remote, whatever
//! transport carries it, and what it asks of the transports.
//!
//! A link is one remote of one transport (an ENet peer, a WebSocket
//! connection, a WebRTC peer connection). The core names it with a
//! [`LinkId`], learns of it through [`LinkEvent`]s, and acts on it through
//! [`Links`]; it never sees a socket or a transport handle.

use volley_proto::TransferMode;

use crate::multiplayer::framing::{LinkFraming, RefuseReason};
use crate::multiplayer::{DepartureReason, PeerId};

/// One link of a session: the transport it belongs to (its position in the
/// session) and a slot the transport chose.
///
/// A transport keeps a slot for one link from its [`LinkEvent::JoinRequest`]
/// (or its dialling) until its [`LinkEvent::Down`] or until the core
/// refuses or drops it; only then may the slot carry another link. Slots
/// are small numbers (the core indexes a table with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LinkId {
    /// The transport's position in the session (0 for a single transport).
    pub(crate) transport: u16,
    /// The transport's slot for this link.
    pub(crate) slot: u32,
}

/// How a packet travels on a link: a user channel and transfer mode, or the
/// framing's own system lane (ENet channel 0 in Godot 3).
///
/// Transports map lanes onto what they have (ENet channels, WebRTC data
/// channels; a WebSocket has one lane) and report received packets with
/// the lane they arrived on, so that a relayed copy leaves on the lane its
/// original came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// Game traffic of user channel `channel`, sent with `mode`.
    User {
        /// The user channel.
        channel: u8,
        /// The transfer mode.
        mode: TransferMode,
    },
    /// The framing's system messages, reliable (Godot 3 over ENet only).
    System,
}

impl Lane {
    /// User channel 0, reliable: where Godot 4's SYS messages travel.
    pub(crate) const RELIABLE_0: Self = Self::User { channel: 0, mode: TransferMode::Reliable };
}

/// How a remote asking to join names itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdClaim {
    /// The remote offers an id the server checks (ENet: CONNECT `data`).
    Offered(u32),
    /// The server assigns one (WebSocket: Godot sends it to the client).
    Assign,
    /// The application chose it (WebRTC signalling, `add_peer(conn, id)`).
    Chosen(PeerId),
}

/// Why a link went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DownCause {
    /// The remote turned the connection attempt away, with its data (a
    /// [`RefuseReason`] code from a Volley server).
    Refused(u32),
    /// The remote closed, with its data (Godot 3: its id; Godot 4: 0; a
    /// Volley server that failed an authentication: a refusal code).
    Remote(u32),
    /// The remote fell silent, never answered, or vanished mid-handshake.
    TimedOut,
    /// This side's graceful disconnect completed.
    Local,
}

impl DownCause {
    /// The reason a departure reports.
    pub(crate) fn departure(self) -> DepartureReason {
        match self {
            // A refusal after admission is a remote's close with a code.
            Self::Refused(_) | Self::Remote(_) => DepartureReason::Closed,
            Self::TimedOut => DepartureReason::TimedOut,
            Self::Local => DepartureReason::Disconnected,
        }
    }

    /// The refusal a Volley server gave, if the cause carries one.
    pub(crate) fn refusal(self) -> Option<RefuseReason> {
        match self {
            Self::Refused(code) | Self::Remote(code) => RefuseReason::from_code(code),
            Self::TimedOut | Self::Local => None,
        }
    }
}

/// What a transport reports about its links, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// A remote asks to join (servers and mesh peers). The core answers at
    /// once with [`Links::accept`] or [`Links::refuse`].
    JoinRequest {
        /// The new link.
        link: LinkId,
        /// How it names itself.
        claim: IdClaim,
        /// The transport's own reason to refuse it (ENet: too few
        /// channels), weighed after the session's capacity and before ids.
        objection: Option<RefuseReason>,
    },
    /// A link finished its handshake: packets may flow.
    Up {
        /// The link.
        link: LinkId,
        /// On a client, the id the server assigned during the handshake
        /// (WebSocket); `None` where the client chose its own.
        assigned_id: Option<PeerId>,
    },
    /// A link is gone, and its slot free.
    Down {
        /// The link.
        link: LinkId,
        /// Why.
        cause: DownCause,
    },
    /// Bytes arrived on a link.
    Received {
        /// The link.
        link: LinkId,
        /// The lane they came on.
        lane: Lane,
        /// The bytes; the core hands the buffer back with
        /// [`Links::recycle`] or to the application.
        payload: Vec<u8>,
    },
    /// Something arrived on a link that the transport could not even put
    /// on a lane; the core counts it as malformed.
    Malformed {
        /// The link.
        link: LinkId,
    },
}

/// How the core ends a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// Once everything queued to it was delivered; a
    /// [`LinkEvent::Down`] follows.
    AfterQueued,
    /// Now, but acknowledged; a [`LinkEvent::Down`] follows.
    Graceful,
    /// At once: what is queued is flushed first, then one unacknowledged
    /// goodbye; the slot is free on return and no event follows.
    Now,
}

/// Why a link did not take a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkSendError {
    /// Its outgoing queue is full: the remote is not keeping up.
    QueueFull,
    /// It does not carry this user channel; `highest` is the highest it
    /// does.
    Channel {
        /// The link's highest user channel.
        highest: Option<u8>,
    },
    /// Larger than the link carries.
    TooLarge {
        /// The packet's length.
        len: usize,
        /// The largest packet the link takes.
        max: usize,
    },
    /// The link is gone.
    Gone,
}

/// What the session core asks of the links it holds: one transport's, or
/// every transport's of a multi-transport session.
///
/// Every method names a link the transport reported and the core has not
/// seen go down; an unknown link is not an error the core can act on, so
/// transports answer it with failure (`false`, [`LinkSendError::Gone`]).
pub(crate) trait Links {
    /// How `link` frames packets.
    fn framing(&self, link: LinkId) -> LinkFraming;

    /// Queues `bytes` to `link` on `lane`.
    fn send(&mut self, link: LinkId, lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError>;

    /// Lets a link that asked to join in, as `id`; false if it is gone.
    fn accept(&mut self, link: LinkId, id: PeerId) -> bool;

    /// Turns a link that asked to join away with `reason`, and frees its
    /// slot; false if it was already gone.
    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool;

    /// Ends `link`, sending `data` with the goodbye where the transport
    /// carries one; false if it was already gone.
    fn disconnect(&mut self, link: LinkId, departure: Departure, data: u32) -> bool;

    /// Dials the remote of `link`, which refused it, again with `id`; the
    /// new link, or `None` if this transport does not offer ids.
    fn redial(&mut self, link: LinkId, id: PeerId) -> Option<LinkId>;

    /// Takes back a payload buffer of `transport` for reuse.
    fn recycle(&mut self, transport: u16, buffer: Vec<u8>);
}
