//! Why a session could not be created.

use std::fmt;
use std::io;

use crate::HostError;

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
    /// The poll instance that waits on the session's listeners could not
    /// be made, or a listener could not be registered with it.
    Io(io::Error),
    /// A WebSocket client could not start connecting (a bad URL, a host
    /// that does not resolve, `wss://` without TLS).
    Dial(crate::websocket::DialError),
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
            Self::Io(e) => write!(f, "cannot poll the listeners: {e}"),
            Self::Dial(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Host(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Dial(e) => Some(e),
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

impl From<io::Error> for CreateError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

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
        let io = CreateError::from(io::Error::other("no epoll"));
        assert_eq!(io.to_string(), "cannot poll the listeners: no epoll");
        assert!(io.source().is_some());
    }
}
