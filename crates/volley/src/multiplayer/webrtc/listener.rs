//! A WebRTC listener for a server session: the UDP endpoint browsers'
//! connections run on, and the WebSocket signalling path they join by.

use std::net::SocketAddr;

use crate::multiplayer::websocket::WsListener;
use crate::webrtc::{ChannelLayout, EndpointConfig};

/// WebRTC for
/// [`ServerSessionBuilder::webrtc`](crate::multiplayer::session::ServerSessionBuilder::webrtc):
/// a UDP socket for the connections and, with
/// [`signalling`](Self::signalling), Volley's built-in signalling path, a
/// WebSocket server where each connection negotiates one browser's WebRTC
/// connection in JSON ([`signalling`](crate::webrtc::signalling)) and the
/// session assigns its id.
///
/// ```
/// use volley::TransferMode;
/// use volley::multiplayer::webrtc::WebRtcListener;
/// use volley::multiplayer::websocket::WsListener;
/// use volley::webrtc::ChannelLayout;
///
/// // Godot 4 clients with one custom unreliable channel; a public server
/// // behind a 1:1 NAT announces its public address.
/// let listener = WebRtcListener::new("0.0.0.0:7000".parse()?)
///     .advertised_address("203.0.113.5:7000".parse()?)
///     .channels(ChannelLayout::new(&[TransferMode::Unreliable])?)
///     .signalling(WsListener::new("0.0.0.0:7001".parse()?));
/// # let _ = listener;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WebRtcListener {
    pub(crate) endpoint: EndpointConfig,
    pub(crate) signalling: Option<WsListener>,
}

impl WebRtcListener {
    /// A UDP socket on `bind`, Godot's three channels, no signalling path.
    /// The server answers as an ICE-lite agent.
    pub fn new(bind: SocketAddr) -> Self {
        let mut endpoint = EndpointConfig::new(bind);
        endpoint.link.ice_lite = true;
        Self { endpoint, signalling: None }
    }

    /// Announce `address` in candidates instead of the bound one (see
    /// [`EndpointConfig::advertised_address`]).
    pub fn advertised_address(mut self, address: SocketAddr) -> Self {
        self.endpoint.advertised_address = Some(address);
        self
    }

    /// The custom channels the game's clients create (Godot's
    /// `channels_config`); the session's user channels past 0 should match.
    pub fn channels(mut self, layout: ChannelLayout) -> Self {
        self.endpoint.link.layout = layout;
        self
    }

    /// The whole endpoint configuration (limits, partial reliability).
    /// ICE-lite stays on: a server listener never sends checks.
    pub fn endpoint(mut self, mut config: EndpointConfig) -> Self {
        config.link.ice_lite = true;
        self.endpoint = config;
        self
    }

    /// Serve the built-in signalling path on this WebSocket listener.
    pub fn signalling(mut self, listener: WsListener) -> Self {
        self.signalling = Some(listener);
        self
    }
}
