//! Godot's `WebSocketMultiplayerPeer` (4.x) and `WebSocketServer` /
//! `WebSocketClient` with the multiplayer API on (3.x): the peer, its
//! listener, and the framings of both generations ([`framing`]).
//!
//! Browsers cannot send UDP: every Godot web export and every browser game
//! talks WebSocket. A [`WebSocketMultiplayerPeer`] is a server or a client
//! over WebSocket ([`crate::websocket`], on `tungstenite`), speaking the
//! framing of one Godot generation, chosen at creation like the ENet
//! profiles:
//!
//! - [`WireProfile::Relay`](crate::multiplayer::framing::WireProfile::Relay)
//!   — Godot 3: every message is `[type][from][to][payload]`; the server
//!   assigns ids (`SYS_ID`), announces peers (`SYS_ADD` / `SYS_DEL`),
//!   checks `from` against the connection and relays;
//! - [`WireProfile::Godot4`](crate::multiplayer::framing::WireProfile::Godot4)
//!   — Godot 4: the server sends the client's 4-byte id first; then every
//!   message is one SceneMultiplayer packet, relay and announcements as in
//!   the session core.
//!
//! Channel and transfer mode are not carried: over TCP every packet
//! arrives reliably and in order, and is reported on channel 0 as
//! reliable, as Godot reports it. To serve ENet and WebSocket clients in
//! one session (desktop and browser players together), build a
//! [`ServerSession`](crate::multiplayer::session::ServerSession) with a
//! [`WsListener`] and an [`EnetListener`](crate::multiplayer::enet::EnetListener).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use volley::multiplayer::framing::WireProfile;
//! use volley::multiplayer::session::SessionOptions;
//! use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
//! use volley::multiplayer::{ConnectionStatus, MultiplayerPeer, Target};
//!
//! let listener = WsListener::new("127.0.0.1:0".parse()?);
//! let profile = WireProfile::Godot4;
//! let mut server =
//!     WebSocketMultiplayerPeer::create_server(listener, 32, profile, SessionOptions::default())?;
//! let url = format!("ws://{}/", server.local_addr().expect("listening"));
//! let mut client = WebSocketMultiplayerPeer::create_client(&url, profile, WsClientOptions::default())?;
//!
//! let end = Instant::now() + Duration::from_secs(10);
//! while client.connection_status() != ConnectionStatus::Connected && Instant::now() < end {
//!     server.poll_timeout(Duration::from_millis(5))?;
//!     client.poll_timeout(Duration::from_millis(5))?;
//! }
//! assert!(client.unique_id().get() >= 2, "the server assigned an id");
//! client.set_target_peer(Target::SERVER);
//! client.put_packet(b"hello")?;
//! let mut received = None;
//! while received.is_none() && Instant::now() < end {
//!     client.poll_timeout(Duration::ZERO)?;
//!     server.poll_timeout(Duration::from_millis(5))?;
//!     received = server.next_packet();
//! }
//! let packet = received.expect("delivered on loopback");
//! assert_eq!((packet.from, &packet.payload[..]), (client.unique_id(), &b"hello"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod framing;
mod listener;
mod options;
mod peer;
mod transport;

pub use listener::WsListener;
pub use options::WsClientOptions;
pub use peer::WebSocketMultiplayerPeer;
pub(crate) use transport::WsTransport;
pub use transport::{REFUSAL_CLOSE_BASE, refusal_close_code, refusal_from_close_code};
