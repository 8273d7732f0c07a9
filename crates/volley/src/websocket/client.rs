//! [`WsClient`]: one outgoing WebSocket connection, in the caller's poll.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Registry, Token};
use tungstenite::Bytes;
use tungstenite::client::{IntoClientRequest, uri_mode};
use tungstenite::handshake::client::Request;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::Mode;

use super::WsConfig;
use super::connection::{WsConnection, WsEvent};
use super::error::SendError;
use super::stream::Stream;

/// Why [`WsClient::dial`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum DialError {
    /// Not a `ws://` or `wss://` URL with a host.
    InvalidUrl(String),
    /// The host name did not resolve (or resolved to nothing).
    Resolve(io::Error),
    /// The TCP connect could not start.
    Connect(io::Error),
    /// A `wss://` URL needs TLS: build with the `tls` feature and pass a
    /// client configuration.
    TlsUnavailable,
    /// rustls refused the server name or the configuration.
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid WebSocket URL: {why}"),
            Self::Resolve(e) => write!(f, "cannot resolve the host: {e}"),
            Self::Connect(e) => write!(f, "cannot start connecting: {e}"),
            Self::TlsUnavailable => {
                f.write_str("wss:// needs the `tls` feature and a TLS client configuration")
            }
            #[cfg(feature = "tls")]
            Self::Tls(e) => write!(f, "cannot start TLS: {e}"),
        }
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve(e) | Self::Connect(e) => Some(e),
            #[cfg(feature = "tls")]
            Self::Tls(e) => Some(e),
            _ => None,
        }
    }
}

/// The TLS settings of a `wss://` client: `None` for `ws://` only.
#[cfg(feature = "tls")]
pub type ClientTls = Option<std::sync::Arc<rustls::ClientConfig>>;
/// The TLS settings of a `wss://` client (always `None` without the `tls`
/// feature).
#[cfg(not(feature = "tls"))]
pub type ClientTls = Option<std::convert::Infallible>;

/// One WebSocket connection to a server, driven by the caller's mio poll.
///
/// [`dial`](Self::dial) starts the TCP connect; [`register`](Self::register)
/// it with the poll; feed it readiness ([`on_ready`](Self::on_ready)) and
/// time ([`on_timer`](Self::on_timer) at
/// [`next_deadline`](Self::next_deadline)); take events with
/// [`poll_event`](Self::poll_event): [`WsEvent::Opened`] once upgraded, then
/// messages, then [`WsEvent::Closed`] once.
#[derive(Debug)]
pub struct WsClient {
    connection: WsConnection,
    events: VecDeque<WsEvent>,
}

impl WsClient {
    /// Starts connecting to `url` (`ws://host:port/path`, or `wss://` with
    /// `tls`). The host is resolved here, blocking (an IP address resolves
    /// at once); the rest happens in the poll and must end within the
    /// handshake timeout.
    pub fn dial(
        url: &str,
        config: &WsConfig,
        tls: ClientTls,
        now: Instant,
    ) -> Result<Self, DialError> {
        let mut request =
            url.into_client_request().map_err(|e| DialError::InvalidUrl(e.to_string()))?;
        if !config.subprotocols.is_empty() {
            let offer = HeaderValue::from_str(&config.subprotocols.join(", "))
                .map_err(|e| DialError::InvalidUrl(e.to_string()))?;
            request.headers_mut().insert("Sec-WebSocket-Protocol", offer);
        }
        super::upgrade::add_headers(request.headers_mut(), &config.handshake_headers)
            .map_err(|()| DialError::InvalidUrl("an invalid handshake header".into()))?;
        let mode = uri_mode(request.uri()).map_err(|e| DialError::InvalidUrl(e.to_string()))?;
        let host = request.uri().host().ok_or_else(|| DialError::InvalidUrl("no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = request.uri().port_u16().unwrap_or(match mode {
            Mode::Plain => 80,
            Mode::Tls => 443,
        });
        let address = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(DialError::Resolve)?
            .next()
            .ok_or_else(|| DialError::Resolve(io::ErrorKind::NotFound.into()))?;
        let tcp = TcpStream::connect(address).map_err(DialError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream = stream_for(tcp, mode, host, tls)?;
        Ok(Self::start(stream, address, request, config, now))
    }

    fn start(
        stream: Stream,
        address: SocketAddr,
        request: Request,
        config: &WsConfig,
        now: Instant,
    ) -> Self {
        Self {
            connection: WsConnection::dial(stream, address, request, config, now),
            events: VecDeque::new(),
        }
    }

    /// Registers the socket with `registry` under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.connection.register(registry, token)
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.connection.peer_addr()
    }

    /// The local address of the socket (`None` once closed).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.connection.local_addr()
    }

    /// Whether the upgrade is done and messages may be sent.
    pub fn is_open(&self) -> bool {
        self.connection.is_open()
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// Handles the socket's readiness.
    pub fn on_ready(&mut self, now: Instant) {
        let events = &mut self.events;
        self.connection.on_ready(now, &mut |event| events.push_back(event));
    }

    /// Runs what is due: bytes left to read, the handshake deadline, pings,
    /// the peer timeout, the close deadline.
    pub fn on_timer(&mut self, now: Instant) {
        if self.connection.wants_read() {
            self.on_ready(now);
        }
        let events = &mut self.events;
        self.connection.on_timer(now, &mut |event| events.push_back(event));
    }

    /// When [`on_timer`](Self::on_timer) has work.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.connection.wants_read() {
            return Some(now);
        }
        self.connection.next_deadline()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        if let Some(reason) = self.connection.take_closed() {
            self.events.push_back(WsEvent::Closed(reason));
        }
        self.events.pop_front()
    }

    /// Queues a binary message; it leaves at the next [`flush`](Self::flush).
    pub fn send(&mut self, data: Bytes) -> Result<(), SendError> {
        self.connection.send(data)
    }

    /// Writes what is queued, as far as the socket takes it.
    pub fn flush(&mut self) {
        self.connection.flush();
    }

    /// Closes gracefully: queued messages leave, then a close frame with
    /// `code`; `Closed` follows when the server answers or the close timeout
    /// passes.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &'static str) {
        self.connection.close(now, code, reason);
    }

    /// Drops the connection at once.
    pub fn abort(&mut self) {
        self.connection.abort();
    }
}

#[cfg(feature = "tls")]
fn stream_for(
    tcp: TcpStream,
    mode: Mode,
    host: String,
    tls: ClientTls,
) -> Result<Stream, DialError> {
    match (mode, tls) {
        (Mode::Plain, _) => Ok(Stream::Plain(tcp)),
        (Mode::Tls, None) => Err(DialError::TlsUnavailable),
        (Mode::Tls, Some(config)) => {
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| DialError::InvalidUrl(e.to_string()))?;
            let stream =
                super::tls::TlsStream::client(tcp, config, name).map_err(DialError::Tls)?;
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

#[cfg(not(feature = "tls"))]
fn stream_for(
    tcp: TcpStream,
    mode: Mode,
    _host: String,
    _tls: ClientTls,
) -> Result<Stream, DialError> {
    match mode {
        Mode::Plain => Ok(Stream::Plain(tcp)),
        Mode::Tls => Err(DialError::TlsUnavailable),
    }
}
