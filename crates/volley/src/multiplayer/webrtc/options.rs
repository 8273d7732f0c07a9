//! How a WebRTC multiplayer peer is set up.

use std::net::SocketAddr;

use crate::multiplayer::session::SessionOptions;
use crate::webrtc::{ChannelLayout, EndpointConfig};

/// Settings of a [`WebRtcMultiplayerPeer`](super::WebRtcMultiplayerPeer):
/// its socket and connections ([`EndpointConfig`]), a server's client
/// limit, and the session's options.
///
/// ```
/// use volley::TransferMode;
/// use volley::multiplayer::webrtc::WebRtcPeerOptions;
/// use volley::webrtc::ChannelLayout;
///
/// // Godot's `create_server([TransferMode.UNRELIABLE])`: one custom channel.
/// let layout = ChannelLayout::new(&[TransferMode::Unreliable])?;
/// let options = WebRtcPeerOptions::new("0.0.0.0:7000".parse()?)
///     .advertised_address("203.0.113.5:7000".parse()?)
///     .channels(layout)
///     .max_clients(64);
/// assert_eq!(options.endpoint.link.layout.stream_count(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcPeerOptions {
    /// The socket, the announced address, the connections' layout and limits.
    pub endpoint: EndpointConfig,
    /// A server's most clients. Default 32.
    pub max_clients: usize,
    /// Relay and ids.
    pub session: SessionOptions,
}

impl WebRtcPeerOptions {
    /// A peer on a socket bound to `bind`, Godot's three channels, 32
    /// clients at most.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            endpoint: EndpointConfig::new(bind),
            max_clients: 32,
            session: SessionOptions::default(),
        }
    }

    /// The address to announce in candidates instead of the bound one (see
    /// [`EndpointConfig::advertised_address`]).
    #[must_use]
    pub fn advertised_address(mut self, address: SocketAddr) -> Self {
        self.endpoint.advertised_address = Some(address);
        self
    }

    /// The custom channels both ends configured (Godot's `channels_config`).
    #[must_use]
    pub fn channels(mut self, layout: ChannelLayout) -> Self {
        self.endpoint.link.layout = layout;
        self
    }

    /// A server's most clients.
    #[must_use]
    pub fn max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients;
        self
    }

    /// The session's options (relay, ids).
    #[must_use]
    pub fn session(mut self, session: SessionOptions) -> Self {
        self.session = session;
        self
    }
}
