//! What can go wrong creating a WebRTC multiplayer peer or adding to it.

use std::fmt;
use std::io;

use crate::multiplayer::PeerId;
use crate::multiplayer::framing::RefuseReason;
use crate::webrtc::{EndpointError, OpenLinkError};

/// Why a [`WebRtcMultiplayerPeer`](super::WebRtcMultiplayerPeer) could not
/// be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebRtcCreateError {
    /// The socket could not be bound, or no address can be announced.
    Endpoint(EndpointError),
    /// The poll that waits on the socket could not be made.
    Io(io::Error),
    /// `max_clients` is 0 or above 4095.
    MaxClients(usize),
    /// A client's id cannot be 1, the server's.
    InvalidId(PeerId),
}

impl fmt::Display for WebRtcCreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Endpoint(e) => e.fmt(f),
            Self::Io(e) => write!(f, "cannot poll the WebRTC socket: {e}"),
            Self::MaxClients(n) => write!(f, "max_clients {n} is not in 1..=4095"),
            Self::InvalidId(id) => write!(f, "a client cannot have id {id}"),
        }
    }
}

impl std::error::Error for WebRtcCreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Endpoint(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EndpointError> for WebRtcCreateError {
    fn from(e: EndpointError) -> Self {
        Self::Endpoint(e)
    }
}

impl From<io::Error> for WebRtcCreateError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why [`WebRtcMultiplayerPeer::add_peer`](super::WebRtcMultiplayerPeer::add_peer)
/// added nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddPeerError {
    /// A client connects to the server only, id 1.
    ClientAddsServerOnly(PeerId),
    /// A server cannot add id 1, its own.
    ServerIsOne,
    /// A connection with this id exists, or it is this peer's own.
    DuplicateId(PeerId),
    /// The session turned it away (full, refusing new connections); the
    /// reason, if one applies.
    Refused(Option<RefuseReason>),
    /// Too many connections are negotiating already.
    Negotiating(OpenLinkError),
    /// The peer was closed.
    Closed,
}

impl fmt::Display for AddPeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientAddsServerOnly(id) => {
                write!(f, "a client adds only the server (1), not {id}")
            }
            Self::ServerIsOne => f.write_str("a server cannot add id 1, its own"),
            Self::DuplicateId(id) => write!(f, "peer {id} is already added"),
            Self::Refused(Some(reason)) => write!(f, "the session refused the peer: {reason}"),
            Self::Refused(None) => f.write_str("the session refused the peer"),
            Self::Negotiating(e) => e.fmt(f),
            Self::Closed => f.write_str("the peer is closed"),
        }
    }
}

impl std::error::Error for AddPeerError {}

impl From<OpenLinkError> for AddPeerError {
    fn from(e: OpenLinkError) -> Self {
        Self::Negotiating(e)
    }
}
