//! What the endpoint tells its caller.

use std::fmt;
use std::net::SocketAddr;

use crate::TransferMode;
use crate::peer::PeerHandle;

/// Something that happened on the endpoint, taken with
/// [`Endpoint::poll_event`](crate::Endpoint::poll_event). Events of one peer
/// come out in the order they happened.
///
/// `P` is how a received payload is held: an owned buffer (the default), or
/// a slice lent out of the receive buffer ([`LentEvent`], from
/// [`Lend::next_event`](crate::Lend::next_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<P = Vec<u8>> {
    /// A remote asks to connect; only with
    /// [`EndpointConfig::manual_accept`](crate::EndpointConfig::manual_accept).
    /// Answer with [`Endpoint::accept`](crate::Endpoint::accept) or
    /// [`Endpoint::refuse`](crate::Endpoint::refuse).
    ConnectRequest {
        /// The half-open peer.
        peer: PeerHandle,
        /// Where the request came from.
        address: SocketAddr,
        /// The `data` of the remote's CONNECT.
        data: u32,
        /// Channels the remote asked for.
        channel_count: usize,
    },
    /// A connection is established.
    Connected {
        /// The peer.
        peer: PeerHandle,
        /// The remote's connect `data` on a server; 0 on the connecting side.
        data: u32,
    },
    /// A connection ended (or an attempt failed); the handle is now dead.
    Disconnected {
        /// The peer.
        peer: PeerHandle,
        /// Why.
        reason: DisconnectReason,
        /// The remote's disconnect `data`, or 0.
        data: u32,
    },
    /// A packet arrived.
    Received {
        /// The sender.
        peer: PeerHandle,
        /// The channel it came on.
        channel: u8,
        /// The mode of the commands that carried it: as sent, except that a
        /// packet too large for one datagram sent [`TransferMode::Unreliable`]
        /// travels as sequenced unreliable fragments (`UnreliableOrdered`),
        /// and that the 65 536th unreliable-ordered packet in a row travels reliably.
        mode: TransferMode,
        /// The bytes. An owned buffer goes back with
        /// [`Endpoint::recycle`](crate::Endpoint::recycle) to avoid allocations.
        payload: P,
    },
}

/// An event whose payload is borrowed: from the datagram it arrived in when
/// it fitted in one and could be delivered at once, otherwise from a buffer
/// the endpoint takes back by itself. See [`Lend`](crate::Lend).
pub type LentEvent<'a> = Event<&'a [u8]>;

impl<P> Event<P> {
    /// The same event with its payload (if any) turned into another form.
    ///
    /// ```
    /// use volley_proto::{Event, LentEvent};
    ///
    /// /// Keeps a lent event past its receive scope.
    /// fn keep(event: LentEvent<'_>) -> Event {
    ///     event.map_payload(<[u8]>::to_vec)
    /// }
    /// # let _ = keep;
    /// ```
    pub fn map_payload<Q>(self, f: impl FnOnce(P) -> Q) -> Event<Q> {
        match self {
            Self::ConnectRequest { peer, address, data, channel_count } => {
                Event::ConnectRequest { peer, address, data, channel_count }
            }
            Self::Connected { peer, data } => Event::Connected { peer, data },
            Self::Disconnected { peer, reason, data } => Event::Disconnected { peer, reason, data },
            Self::Received { peer, channel, mode, payload } => {
                Event::Received { peer, channel, mode, payload: f(payload) }
            }
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The remote disconnected.
    Remote,
    /// The remote fell silent (or never answered a connect), or a
    /// [`Event::ConnectRequest`] was not answered in time.
    Timeout,
    /// The remote refused the connection attempt.
    Refused,
    /// This side's graceful disconnect completed.
    Local,
    /// This side dropped the peer to protect the others: it was over its
    /// memory budget while holding fragment groups no sender leaves
    /// incomplete.
    Evicted,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Remote => "disconnected by the remote",
            Self::Timeout => "timed out",
            Self::Refused => "connection refused",
            Self::Local => "disconnected locally",
            Self::Evicted => "dropped for abusing its budget",
        })
    }
}
