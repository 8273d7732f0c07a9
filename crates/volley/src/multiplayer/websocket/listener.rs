//! A TCP listener speaking WebSocket, for a server session.

use std::net::SocketAddr;

use crate::websocket::{WsConfig, WsServer};

/// A TCP socket speaking WebSocket (`ws://`, or `wss://` with the `tls`
/// feature), for
/// [`ServerSessionBuilder::websocket`](crate::multiplayer::session::ServerSessionBuilder::websocket)
/// and
/// [`WebSocketMultiplayerPeer::create_server`](super::WebSocketMultiplayerPeer::create_server).
///
/// ```
/// use std::time::Duration;
/// use volley::multiplayer::websocket::WsListener;
/// use volley::websocket::WsConfig;
///
/// let listener = WsListener::new("0.0.0.0:8080".parse()?)
///     .config(WsConfig::default().handshake_timeout(Duration::from_secs(5)));
/// # let _ = listener;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WsListener {
    pub(crate) bind: SocketAddr,
    pub(crate) config: WsConfig,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl WsListener {
    /// A listener on `bind` with the default limits ([`WsConfig`]).
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            config: WsConfig::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The connections' limits and timers.
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves `wss://` with `tls` (see
    /// [`tls::server_config_from_pem_files`](crate::websocket::tls::server_config_from_pem_files)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Binds the socket.
    pub(crate) fn open(&self) -> std::io::Result<WsServer> {
        let server = WsServer::bind(self.bind, self.config.clone())?;
        #[cfg(feature = "tls")]
        let server = match &self.tls {
            Some(tls) => server.with_tls(std::sync::Arc::clone(tls)),
            None => server,
        };
        Ok(server)
    }
}
