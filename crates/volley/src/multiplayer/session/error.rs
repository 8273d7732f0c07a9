//! Why a session could not be created.

use std::fmt;
use std::io;

use crate::HostError;
use crate::multiplayer::PeerId;

/// Why a session ([`EnetMultiplayerPeer`](crate::multiplayer::EnetMultiplayerPeer)
/// or [`ServerSession`](super::ServerSession)) could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// The user channel count is 0 or more than the wire profile carries
    /// (253 for relay, 254 for godot4). Channel 0 always exists, so ask for
    /// at least 1.
    Channels {
        /// The count asked for.
        channels: u8,
        /// The largest count the profile allows.
        max: u8,
    },
    /// `max_clients` is 0 or above 4095, ENet's peer limit.
    MaxClients(usize),
    /// The host could not be created (socket, configuration) or could not
    /// start connecting.
    Host(HostError),
    /// A [`ServerSession`](super::ServerSession) was built without a
    /// listener: add one.
    NoListeners,
    /// A [`ServerSession`](super::ServerSession) takes at most 255
    /// listeners.
    TooManyListeners,
    /// A SceneMultiplayer option ([`SessionOptions::raw_packets`](super::SessionOptions::raw_packets)
    /// or [`authentication`](super::SessionOptions::authentication)) was
    /// set for the relay profile: Godot 3 has neither.
    Godot4Only(&'static str),
    /// The poll instance that waits on the session's listeners could not
    /// be made, or a listener could not be registered with it.
    Io(io::Error),
    /// A WebSocket client could not start connecting (a bad URL, a host
    /// that does not resolve, `wss://` without TLS).
    Dial(crate::websocket::DialError),
    /// A WebRTC listener's UDP socket could not be bound, or it has no
    /// address to announce.
    WebRtc(crate::webrtc::EndpointError),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Channels { channels, max } => {
                write!(f, "{channels} user channels asked for; the profile allows 1 to {max}")
            }
            Self::MaxClients(n) => write!(f, "max_clients {n} is not in 1..=4095"),
            Self::Host(e) => write!(f, "cannot create the host: {e}"),
            Self::NoListeners => f.write_str("a server session needs at least one listener"),
            Self::TooManyListeners => f.write_str("a server session takes at most 255 listeners"),
            Self::Godot4Only(option) => {
                write!(f, "{option} is Godot 4's: it needs the godot4 profile")
            }
            Self::Io(e) => write!(f, "cannot poll the listeners: {e}"),
            Self::Dial(e) => write!(f, "cannot connect: {e}"),
            Self::WebRtc(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Host(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Dial(e) => Some(e),
            Self::WebRtc(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HostError> for CreateError {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

impl From<crate::websocket::DialError> for CreateError {
    fn from(e: crate::websocket::DialError) -> Self {
        Self::Dial(e)
    }
}

impl From<crate::webrtc::EndpointError> for CreateError {
    fn from(e: crate::webrtc::EndpointError) -> Self {
        Self::WebRtc(e)
    }
}

impl From<io::Error> for CreateError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why `send_auth` or `complete_auth` did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The session has no authentication
    /// ([`SessionOptions::authentication`](super::SessionOptions::authentication)).
    Disabled,
    /// The peer is not authenticating: unknown, already admitted, or gone.
    NotPending(PeerId),
    /// This side already completed authentication with the peer; nothing
    /// more may be sent.
    Completed(PeerId),
    /// Authentication data must not be empty: the empty message means
    /// "completed".
    EmptyData,
    /// The peer's link did not take the message (its queue is full).
    NotSent(PeerId),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("authentication is not enabled"),
            Self::NotPending(id) => write!(f, "peer {id} is not authenticating"),
            Self::Completed(id) => write!(f, "authentication with peer {id} is already completed"),
            Self::EmptyData => f.write_str("authentication data must not be empty"),
            Self::NotSent(id) => write!(f, "the authentication message to peer {id} was not sent"),
        }
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            CreateError::Channels { channels: 0, max: 253 }.to_string(),
            "0 user channels asked for; the profile allows 1 to 253"
        );
        assert_eq!(CreateError::MaxClients(0).to_string(), "max_clients 0 is not in 1..=4095");
        let host = CreateError::from(HostError::Io(io::Error::other("boom")));
        assert_eq!(host.to_string(), "cannot create the host: socket error: boom");
        assert!(host.source().is_some());
        assert!(CreateError::MaxClients(0).source().is_none());
        assert_eq!(
            CreateError::NoListeners.to_string(),
            "a server session needs at least one listener"
        );
        assert_eq!(
            CreateError::Godot4Only("authentication").to_string(),
            "authentication is Godot 4's: it needs the godot4 profile"
        );
        let id = PeerId::SERVER;
        assert_eq!(AuthError::Disabled.to_string(), "authentication is not enabled");
        assert_eq!(AuthError::NotPending(id).to_string(), "peer 1 is not authenticating");
        assert_eq!(
            AuthError::Completed(id).to_string(),
            "authentication with peer 1 is already completed"
        );
        assert_eq!(AuthError::EmptyData.to_string(), "authentication data must not be empty");
        assert_eq!(
            AuthError::NotSent(id).to_string(),
            "the authentication message to peer 1 was not sent"
        );
        let io = CreateError::from(io::Error::other("no epoll"));
        assert_eq!(io.to_string(), "cannot poll the listeners: no epoll");
        assert!(io.source().is_some());
    }
}
