//! WebSocket connections on `tungstenite`, in the caller's mio poll.
//!
//! Browsers cannot send UDP; they speak WebSocket. This module is the
//! transport under Volley's WebSocket multiplayer peer: a [`WsServer`]
//! (a TCP listener and its connections) and a [`WsClient`] (one outgoing
//! connection), both non-blocking and driven by one `mio::Poll` that may
//! serve UDP sockets too. tungstenite does the HTTP upgrade and the
//! framing; an upgrade that would block is resumed when the socket is
//! ready again. With the `tls` feature, [`tls`] adds `wss://` with rustls.
//!
//! Messages go out as binary frames; text frames are accepted in (checked
//! to be UTF-8, as RFC 6455 asks) and reported as such. Everything is
//! bounded ([`WsConfig`]): message size, outbound queue, handshake time and
//! the number of handshakes at once; pings find dead peers; a peer that
//! breaks the protocol or sends an oversize message is closed alone.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mio::{Events, Poll, Token};
//! use volley::websocket::{WsClient, WsConfig, WsEvent, WsServer};
//!
//! let mut poll = Poll::new()?;
//! let config = WsConfig::default();
//! let mut server = WsServer::bind("127.0.0.1:0".parse()?, config.clone())?;
//! server.register(poll.registry(), Token(100))?;
//! let url = format!("ws://{}/", server.local_addr());
//! let mut client = WsClient::dial(&url, &config, None, Instant::now())?;
//! client.register(poll.registry(), Token(1))?;
//!
//! let mut events = Events::with_capacity(64);
//! let mut sent = false;
//! let end = Instant::now() + Duration::from_secs(10);
//! let received = loop {
//!     assert!(Instant::now() < end, "loopback exchange timed out");
//!     poll.poll(&mut events, Some(Duration::from_millis(10)))?;
//!     let now = Instant::now();
//!     for event in &events {
//!         if server.handles(event.token()) {
//!             server.on_ready(event.token(), now);
//!         } else {
//!             client.on_ready(now);
//!         }
//!     }
//!     while let Some(event) = client.poll_event() {
//!         if event == WsEvent::Opened && !sent {
//!             client.send(b"hello"[..].into())?;
//!             client.flush();
//!             sent = true;
//!         }
//!     }
//!     if let Some((_, WsEvent::Message { data, .. })) = server.poll_event() {
//!         break data;
//!     }
//! };
//! assert_eq!(&received[..], b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod config;
mod connection;
mod error;
mod server;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
mod upgrade;

pub use client::{ClientTls, DialError, WsClient};
pub use config::WsConfig;
pub use connection::WsEvent;
pub use error::{CloseReason, SendError};
pub use server::{ConnectionId, WsServer, WsServerStats};
pub use tungstenite::Bytes;
pub use tungstenite::protocol::frame::coding::CloseCode;
