//! Why a WebSocket connection ended, and why a message was not queued.

use std::fmt;
use std::io;

use tungstenite::protocol::frame::coding::CloseCode;

/// Why a WebSocket connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// This side closed it.
    Local,
    /// The peer sent a close frame with this code (1005 when it gave none)
    /// and reason.
    Remote {
        /// The close code (1000 normal, 1001 going away, ...).
        code: u16,
        /// The peer's reason text, possibly empty.
        reason: String,
    },
    /// The TCP connection failed or ended without a close frame.
    ConnectionLost(io::ErrorKind),
    /// A client's TCP connect failed (refused, unreachable).
    ConnectFailed(io::ErrorKind),
    /// The upgrade failed: not a WebSocket request or response, a refused
    /// subprotocol, a TLS failure, or an HTTP error status.
    HandshakeFailed(String),
    /// The upgrade took longer than the handshake timeout.
    HandshakeTimeout,
    /// Nothing came from the peer for the peer timeout, pings included.
    PeerTimeout,
    /// The peer sent a message or frame over the size limit (closed with
    /// code 1009).
    MessageTooBig,
    /// The peer sent a text frame that is not UTF-8 (closed with code 1007).
    InvalidUtf8,
    /// The peer broke RFC 6455 (an unmasked client frame, a reserved
    /// opcode, a fragmented control frame, ...; closed with code 1002).
    ProtocolViolation(String),
}

impl CloseReason {
    /// The close code sent to a peer that caused this, if one is sent.
    pub(crate) fn close_code(&self) -> Option<CloseCode> {
        match self {
            Self::MessageTooBig => Some(CloseCode::Size),
            Self::InvalidUtf8 => Some(CloseCode::Invalid),
            Self::ProtocolViolation(_) => Some(CloseCode::Protocol),
            Self::PeerTimeout => Some(CloseCode::Away),
            _ => None,
        }
    }

    /// The reason text sent with [`close_code`](Self::close_code).
    pub(crate) fn short_text(&self) -> &'static str {
        match self {
            Self::MessageTooBig => "message too big",
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::ProtocolViolation(_) => "protocol violation",
            Self::PeerTimeout => "timed out",
            _ => "",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("closed by this side"),
            Self::Remote { code, reason } if reason.is_empty() => {
                write!(f, "closed by the peer (code {code})")
            }
            Self::Remote { code, reason } => {
                write!(f, "closed by the peer (code {code}: {reason})")
            }
            Self::ConnectionLost(kind) => write!(f, "connection lost: {kind}"),
            Self::ConnectFailed(kind) => write!(f, "cannot connect: {kind}"),
            Self::HandshakeFailed(why) => write!(f, "WebSocket upgrade failed: {why}"),
            Self::HandshakeTimeout => f.write_str("WebSocket upgrade timed out"),
            Self::PeerTimeout => f.write_str("the peer stopped answering"),
            Self::MessageTooBig => f.write_str("the peer sent a message over the size limit"),
            Self::InvalidUtf8 => f.write_str("the peer sent a text frame that is not UTF-8"),
            Self::ProtocolViolation(why) => {
                write!(f, "the peer broke the WebSocket protocol: {why}")
            }
        }
    }
}

/// Why a message was not queued on a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is not open (still upgrading, closing or closed).
    NotOpen,
    /// The message is over the size limit.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The largest message allowed.
        max: usize,
    },
    /// The connection holds as many outbound bytes as allowed: the peer is
    /// not reading fast enough. Poll and send again later, or drop the peer.
    QueueFull,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOpen => f.write_str("the WebSocket connection is not open"),
            Self::TooLarge { len, max } => {
                write!(f, "a {len}-byte message is over the {max}-byte limit")
            }
            Self::QueueFull => f.write_str("the WebSocket connection's outbound queue is full"),
        }
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_explain_themselves() {
        assert_eq!(CloseReason::Local.to_string(), "closed by this side");
        assert_eq!(
            CloseReason::Remote { code: 1000, reason: String::new() }.to_string(),
            "closed by the peer (code 1000)"
        );
        assert_eq!(
            CloseReason::Remote { code: 4000, reason: "bye".into() }.to_string(),
            "closed by the peer (code 4000: bye)"
        );
        assert_eq!(CloseReason::MessageTooBig.close_code(), Some(CloseCode::Size));
        assert_eq!(CloseReason::InvalidUtf8.close_code(), Some(CloseCode::Invalid));
        assert_eq!(CloseReason::HandshakeTimeout.close_code(), None);
        assert_eq!(
            SendError::TooLarge { len: 9, max: 4 }.to_string(),
            "a 9-byte message is over the 4-byte limit"
        );
    }
}
