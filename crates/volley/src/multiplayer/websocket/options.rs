//! Settings of a WebSocket client peer.

use crate::multiplayer::session::SessionOptions;
use crate::websocket::{ClientTls, WsConfig};

/// Settings of
/// [`WebSocketMultiplayerPeer::create_client`](super::WebSocketMultiplayerPeer::create_client):
/// the connection's limits and timers, TLS for `wss://`, and the session's
/// options (authentication).
///
/// ```
/// use std::time::Duration;
/// use volley::multiplayer::websocket::WsClientOptions;
/// use volley::websocket::WsConfig;
///
/// let options = WsClientOptions::default()
///     .config(WsConfig::default().handshake_timeout(Duration::from_secs(5)));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct WsClientOptions {
    pub(crate) config: WsConfig,
    pub(crate) tls: ClientTls,
    pub(crate) session: SessionOptions,
}

impl WsClientOptions {
    /// The connection's limits and timers.
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// The TLS settings for `wss://` URLs (see
    /// [`tls::client_config_from_ca_pem_file`](crate::websocket::tls::client_config_from_ca_pem_file)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The session's options; a client uses its authentication settings.
    pub fn session(mut self, session: SessionOptions) -> Self {
        self.session = session;
        self
    }
}
