//! Limits and timers of WebSocket connections.

use std::sync::Arc;
use std::time::Duration;

use tungstenite::protocol::WebSocketConfig;

/// Limits and timers shared by every connection of a WebSocket server or
/// client.
///
/// The defaults follow Godot where Godot has a figure (64 KiB messages, a
/// 3 s handshake) and are strict where it has none: a bounded outbound
/// queue, a cap on connections still in their handshake, and pings that
/// find a dead TCP peer in seconds rather than at the kernel's pace.
///
/// ```
/// use std::time::Duration;
/// use volley::websocket::WsConfig;
///
/// let config = WsConfig::default()
///     .max_message_size(16 * 1024)
///     .handshake_timeout(Duration::from_secs(5))
///     .max_pending_handshakes(64);
/// assert_eq!(config.get_max_message_size(), 16 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_outbound_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_pending_handshakes: usize,
    pub(crate) max_connections: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) peer_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) read_buffer_size: usize,
    pub(crate) write_batch_size: usize,
    pub(crate) subprotocols: Arc<[String]>,
    pub(crate) handshake_headers: Arc<[(String, String)]>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_outbound_bytes: 1 << 20,
            handshake_timeout: Duration::from_secs(3),
            max_pending_handshakes: 256,
            max_connections: 4096,
            ping_interval: Duration::from_millis(2500),
            peer_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(1),
            read_buffer_size: 16 * 1024,
            write_batch_size: 32 * 1024,
            subprotocols: Arc::new([]),
            handshake_headers: Arc::new([]),
        }
    }
}

impl WsConfig {
    /// The default largest message, in bytes, either way: 64 KiB, Godot's
    /// figure (Godot 3's `max_in_buffer_kb`, Godot 4's `inbound_buffer_size`).
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 16;

    /// The largest message accepted from a peer, and the largest one sent.
    /// A peer sending a bigger one is closed with code 1009 ("message too
    /// big"), as Godot does; sending a bigger one is refused. Default 64 KiB.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Bytes a connection may hold that the kernel has not taken yet; a send
    /// beyond that fails with
    /// [`SendError::QueueFull`](super::SendError::QueueFull) until the peer
    /// reads. Default 1 MiB, raised to twice the largest message if smaller.
    #[must_use]
    pub fn max_outbound_bytes(mut self, bytes: usize) -> Self {
        self.max_outbound_bytes = bytes;
        self
    }

    /// How long a connection may take from the TCP accept (or dial) to the
    /// end of the HTTP upgrade, TLS included. Default 3 s, as Godot 4.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The most connections a server keeps in their handshake at once; TCP
    /// connections arriving beyond that are closed at accept and counted.
    /// Default 256 (about 2 MiB of handshake buffers).
    #[must_use]
    pub fn max_pending_handshakes(mut self, count: usize) -> Self {
        self.max_pending_handshakes = count;
        self
    }

    /// The most connections a server holds at once, open or in their
    /// handshake; TCP connections arriving beyond that are closed at accept
    /// and counted. Default 4096.
    #[must_use]
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count;
        self
    }

    /// After this long without a byte from a peer, a ping asks it for one.
    /// Default 2.5 s. Browsers, Godot and tungstenite answer pings by
    /// themselves.
    #[must_use]
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// After this long without a byte from a peer (pings unanswered), the
    /// connection is dead and closed. Default 10 s.
    #[must_use]
    pub fn peer_timeout(mut self, timeout: Duration) -> Self {
        self.peer_timeout = timeout;
        self
    }

    /// How long a graceful close waits for queued messages to leave and for
    /// the peer's close frame before dropping the TCP connection. Default 1 s.
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Bytes read from the socket per system call, and the receive buffer
    /// each open connection keeps. Default 16 KiB.
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Outgoing frames are gathered until this many bytes (or the end of a
    /// poll) and written with one system call. Default 32 KiB.
    #[must_use]
    pub fn write_batch_size(mut self, bytes: usize) -> Self {
        self.write_batch_size = bytes;
        self
    }

    /// The subprotocols (`Sec-WebSocket-Protocol`) spoken, as Godot's
    /// `supported_protocols`; default none, as Godot. A client offers them
    /// all; a server picks the first the client offers that is in this list,
    /// and refuses the upgrade (HTTP 400) when none is, or when a list is set
    /// and the client offers nothing (Godot's rule).
    #[must_use]
    pub fn subprotocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Extra HTTP headers sent in the upgrade, as Godot's
    /// `handshake_headers`: a client adds them to its request, a server to
    /// its response. Names and values must be valid HTTP; an invalid one
    /// fails the upgrade. Default none.
    #[must_use]
    pub fn handshake_headers<N: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        self.handshake_headers =
            headers.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        self
    }

    /// See [`handshake_headers`](Self::handshake_headers).
    pub fn get_handshake_headers(&self) -> &[(String, String)] {
        &self.handshake_headers
    }

    /// See [`subprotocols`](Self::subprotocols).
    pub fn get_subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// See [`max_message_size`](Self::max_message_size).
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// See [`max_outbound_bytes`](Self::max_outbound_bytes), after raising
    /// it to hold two of the largest messages.
    pub fn get_max_outbound_bytes(&self) -> usize {
        self.max_outbound_bytes.max(self.framed_max_message() * 2)
    }

    /// See [`handshake_timeout`](Self::handshake_timeout).
    pub fn get_handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// See [`max_pending_handshakes`](Self::max_pending_handshakes).
    pub fn get_max_pending_handshakes(&self) -> usize {
        self.max_pending_handshakes
    }

    /// See [`max_connections`](Self::max_connections).
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// See [`ping_interval`](Self::ping_interval).
    pub fn get_ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// See [`peer_timeout`](Self::peer_timeout).
    pub fn get_peer_timeout(&self) -> Duration {
        self.peer_timeout
    }

    /// See [`close_timeout`](Self::close_timeout).
    pub fn get_close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// The largest message plus the largest frame header (14 bytes).
    fn framed_max_message(&self) -> usize {
        self.max_message_size.saturating_add(14)
    }

    /// tungstenite's settings for an open connection: inbound messages and
    /// frames capped at the largest message, frames batched up to
    /// `write_batch_size`, the outbound buffer capped.
    pub(crate) fn socket_config(&self) -> WebSocketConfig {
        let max_outbound = self.get_max_outbound_bytes();
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size.max(1024))
            // tungstenite requires the cap to exceed the batch size.
            .write_buffer_size(self.write_batch_size.min(max_outbound - 1))
            .max_write_buffer_size(max_outbound)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_godot() {
        let config = WsConfig::default();
        assert_eq!(config.get_max_message_size(), 65_536);
        assert_eq!(config.get_handshake_timeout(), Duration::from_secs(3));
        assert_eq!(config.get_max_outbound_bytes(), 1 << 20);
        assert!(config.get_ping_interval() < config.get_peer_timeout());
    }

    #[test]
    fn the_outbound_cap_holds_two_of_the_largest_messages() {
        let config = WsConfig::default().max_outbound_bytes(10).max_message_size(1000);
        assert_eq!(config.get_max_outbound_bytes(), 2028);
        let socket = config.socket_config();
        assert_eq!(socket.max_write_buffer_size, 2028);
        assert!(socket.write_buffer_size < socket.max_write_buffer_size);
        assert_eq!(socket.max_message_size, Some(1000));
        assert_eq!(socket.max_frame_size, Some(1000));
    }
}
