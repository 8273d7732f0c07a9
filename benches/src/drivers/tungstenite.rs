//! tungstenite alone: the WebSocket library Volley's WebSocket transport is
//! built on, used directly the way its documentation describes non-blocking
//! use: `WebSocket`s over mio TCP streams (`TCP_NODELAY`), handshakes
//! resumed from `HandshakeError::Interrupted`, messages read until
//! `WouldBlock`, written with `write` and sent with one `flush` per service.
//! Buffers as Volley's transport sets them (16 KiB reads, 32 KiB write
//! batches), so the two differ only in what Volley adds.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{HandshakeError, Message, WebSocket};
use volley::mio::net::{TcpListener, TcpStream};
use volley::mio::{Events, Interest, Poll, Token};

use super::volley_ws::{tcp_lacks, tcp_room};
use super::{Client, Delivery, DriverError, Feature, Incoming, PeerId, Server, ServerSetup, Wait};

/// tungstenite 0.28, alone.
#[derive(Debug, Clone, Copy)]
pub struct Tungstenite;

const LISTENER: Token = Token(usize::MAX);

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(32 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

impl super::System for Tungstenite {
    fn name(&self) -> &'static str {
        "tungstenite"
    }

    fn version(&self) -> &'static str {
        "tungstenite 0.28"
    }

    fn lacks(&self, feature: Feature) -> Option<&'static str> {
        tcp_lacks(feature)
    }

    fn server(&self, setup: ServerSetup) -> Result<Box<dyn Server>, DriverError> {
        let mut listener = TcpListener::bind(setup.bind)?;
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Box::new(TungsteniteServer {
            listener,
            poll,
            events: Events::with_capacity(1024),
            peers: Vec::new(),
            dirty: Vec::new(),
        }))
    }

    fn client(&self, server: SocketAddr) -> Result<Box<dyn Client>, DriverError> {
        let mut stream = TcpStream::connect(server)?;
        let poll = Poll::new()?;
        poll.registry().register(&mut stream, Token(0), Interest::READABLE | Interest::WRITABLE)?;
        Ok(Box::new(TungsteniteClient {
            url: format!("ws://{server}/"),
            poll,
            events: Events::with_capacity(16),
            state: ClientState::Connecting(Some(stream)),
        }))
    }
}

fn wait_for(wait: Wait) -> Duration {
    match wait {
        Wait::Poll => Duration::ZERO,
        Wait::Block(limit) => limit,
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// Reads every message waiting on `ws`; false once the connection is over.
fn read_all(ws: &mut WebSocket<TcpStream>, on: &mut dyn FnMut(&[u8])) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Binary(data)) => on(&data),
            Ok(Message::Close(_)) => return false,
            Ok(_) => {}
            Err(e) if would_block(&e) => return true,
            Err(_) => return false,
        }
    }
}

/// Writes what `ws` buffered; false once the connection is over.
fn flush(ws: &mut WebSocket<TcpStream>) -> bool {
    match ws.flush() {
        Ok(()) => true,
        Err(e) => would_block(&e),
    }
}

enum Peer {
    Handshaking(MidHandshake<ServerHandshake<TcpStream, NoCallback>>),
    Open(WebSocket<TcpStream>),
}

struct TungsteniteServer {
    listener: TcpListener,
    poll: Poll,
    events: Events,
    peers: Vec<Option<Peer>>,
    /// Peers with messages written since the last flush.
    dirty: Vec<PeerId>,
}

impl TungsteniteServer {
    fn accept_all(&mut self, on: &mut dyn FnMut(Incoming<'_>)) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            stream.set_nodelay(true)?;
            let peer = self.peers.iter().position(Option::is_none).unwrap_or_else(|| {
                self.peers.push(None);
                self.peers.len() - 1
            });
            self.poll.registry().register(
                &mut stream,
                Token(peer),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            let result = tungstenite::accept_with_config(stream, Some(config()));
            self.peers[peer] = self.handshaken(peer, result, on);
        }
    }

    fn handshaken(
        &mut self,
        peer: PeerId,
        result: Result<
            WebSocket<TcpStream>,
            HandshakeError<ServerHandshake<TcpStream, NoCallback>>,
        >,
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Option<Peer> {
        match result {
            Ok(mut ws) => {
                on(Incoming::Connected(peer));
                // The client may have sent already; edge-triggered
                // readiness would not say so again.
                if read_all(&mut ws, &mut |bytes| on(Incoming::Message { peer, bytes })) {
                    Some(Peer::Open(ws))
                } else {
                    on(Incoming::Disconnected(peer));
                    None
                }
            }
            Err(HandshakeError::Interrupted(mid)) => Some(Peer::Handshaking(mid)),
            Err(HandshakeError::Failure(_)) => None,
        }
    }
}

impl Server for TungsteniteServer {
    fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        self.poll.poll(&mut self.events, Some(wait_for(wait)))?;
        let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        for token in tokens {
            if token == LISTENER {
                self.accept_all(on)?;
                continue;
            }
            let peer = token.0;
            let Some(state) = self.peers.get_mut(peer).and_then(Option::take) else { continue };
            self.peers[peer] = match state {
                Peer::Handshaking(mid) => {
                    let result = mid.handshake();
                    self.handshaken(peer, result, on)
                }
                Peer::Open(mut ws) => {
                    let open =
                        read_all(&mut ws, &mut |bytes| on(Incoming::Message { peer, bytes }))
                            && flush(&mut ws);
                    if open {
                        Some(Peer::Open(ws))
                    } else {
                        on(Incoming::Disconnected(peer));
                        None
                    }
                }
            };
        }
        Server::flush(self)
    }

    fn send(&mut self, peer: PeerId, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let Some(Some(Peer::Open(ws))) = self.peers.get_mut(peer) else {
            return Err(DriverError::library(format!("no peer {peer}")));
        };
        match ws.write(Message::Binary(bytes.to_vec().into())) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(DriverError::library(e)),
        }
        self.dirty.push(peer);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        for peer in self.dirty.drain(..) {
            if let Some(Some(Peer::Open(ws))) = self.peers.get_mut(peer) {
                flush(ws);
            }
        }
        Ok(())
    }
}

enum ClientState {
    /// The TCP connect is in flight (`None` only while moving on).
    Connecting(Option<TcpStream>),
    Handshaking(MidHandshake<ClientHandshake<TcpStream>>),
    Open(WebSocket<TcpStream>),
    Closed,
}

struct TungsteniteClient {
    url: String,
    poll: Poll,
    events: Events,
    state: ClientState,
}

impl TungsteniteClient {
    fn handshaken(
        &mut self,
        result: Result<
            (WebSocket<TcpStream>, tungstenite::handshake::client::Response),
            HandshakeError<ClientHandshake<TcpStream>>,
        >,
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Result<(), DriverError> {
        self.state = match result {
            Ok((ws, _)) => {
                on(Incoming::Connected(0));
                ClientState::Open(ws)
            }
            Err(HandshakeError::Interrupted(mid)) => ClientState::Handshaking(mid),
            Err(HandshakeError::Failure(e)) => return Err(DriverError::library(e)),
        };
        Ok(())
    }
}

impl TungsteniteClient {
    /// The socket is ready: connect, upgrade, read as far as it goes.
    fn on_ready(&mut self, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        match std::mem::replace(&mut self.state, ClientState::Closed) {
            ClientState::Connecting(Some(stream)) => {
                if stream.take_error()?.is_some() || stream.peer_addr().is_err() {
                    self.state = ClientState::Connecting(Some(stream));
                    return Ok(());
                }
                stream.set_nodelay(true)?;
                let result = tungstenite::client::client_with_config(
                    self.url.as_str(),
                    stream,
                    Some(config()),
                );
                self.handshaken(result, on)?;
            }
            ClientState::Handshaking(mid) => {
                let result = mid.handshake();
                self.handshaken(result, on)?;
            }
            ClientState::Open(mut ws) => {
                if read_all(&mut ws, &mut |bytes| on(Incoming::Message { peer: 0, bytes }))
                    && flush(&mut ws)
                {
                    self.state = ClientState::Open(ws);
                } else {
                    on(Incoming::Disconnected(0));
                }
            }
            state @ (ClientState::Connecting(None) | ClientState::Closed) => self.state = state,
        }
        Ok(())
    }
}

impl Client for TungsteniteClient {
    fn service(&mut self, wait: Wait, on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), DriverError> {
        self.poll.poll(&mut self.events, Some(wait_for(wait)))?;
        if !self.events.is_empty() {
            self.on_ready(on)?;
        }
        Client::flush(self)
    }

    fn send(&mut self, _delivery: Delivery, bytes: &[u8]) -> Result<(), DriverError> {
        let ClientState::Open(ws) = &mut self.state else {
            return Err(DriverError::library("not connected"));
        };
        match ws.write(Message::Binary(bytes.to_vec().into())) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(DriverError::library(e)),
        }
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        if let ClientState::Open(ws) = &mut self.state {
            flush(ws);
        }
        Ok(())
    }

    fn room(&mut self, len: usize, unconfirmed: u64) -> usize {
        tcp_room(len, unconfirmed)
    }
}
