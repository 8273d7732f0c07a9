//! One WebSocket connection on a non-blocking TCP stream, driven by the
//! caller's poll: the TCP dial, the HTTP upgrade (resumed where it would
//! block), messages both ways, pings, and a close that ends in one
//! [`CloseReason`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::client::{ClientHandshake, Request};
use tungstenite::handshake::server::ServerHandshake;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use super::WsConfig;
use super::error::{CloseReason, SendError};
use super::stream::Stream;
use super::upgrade::Upgrade;

/// How much one [`WsConnection::on_ready`] call reads before letting other
/// connections have their turn; the rest waits for the next poll (which
/// then does not sleep: see [`WsConnection::wants_read`]).
const READ_BUDGET: usize = 1 << 20;

type ServerMid = MidHandshake<ServerHandshake<Stream, Upgrade>>;
type ClientMid = MidHandshake<ClientHandshake<Stream>>;

/// What happens on a WebSocket connection, in order: `Opened` once the
/// upgrade is done, messages, then `Closed` once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The upgrade is done: messages may flow.
    Opened,
    /// A whole message arrived (binary, or text when `text`).
    Message {
        /// The message's bytes.
        data: Bytes,
        /// Whether it came in a text frame (valid UTF-8, checked).
        text: bool,
    },
    /// The connection is over; nothing follows.
    Closed(CloseReason),
}

enum Phase {
    /// A client's TCP connect is in flight.
    Dialing(Stream, Box<Request>),
    /// A server's upgrade: reading the request, writing the response.
    ServerHandshake(ServerMid),
    /// A client's upgrade: writing the request, reading the response.
    ClientHandshake(ClientMid),
    /// Messages flow.
    Open(WebSocket<Stream>),
    /// Our close frame is queued behind the last messages; waiting for them
    /// to leave and for the peer's close frame.
    Closing(WebSocket<Stream>),
    /// Over; the socket is gone.
    Closed,
}

impl fmt::Debug for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dialing(..) => "Dialing",
            Self::ServerHandshake(_) => "ServerHandshake",
            Self::ClientHandshake(_) => "ClientHandshake",
            Self::Open(_) => "Open",
            Self::Closing(_) => "Closing",
            Self::Closed => "Closed",
        })
    }
}

/// One WebSocket connection, server or client side.
///
/// The owner registers it with its poll ([`register`](Self::register)),
/// calls [`on_ready`](Self::on_ready) when its token is ready and
/// [`on_timer`](Self::on_timer) from time to time, and calls
/// [`flush`](Self::flush) after queueing messages with
/// [`send`](Self::send). Events go to the sink the owner passes; the last
/// one is always [`WsEvent::Closed`], once.
#[derive(Debug)]
pub(crate) struct WsConnection {
    phase: Phase,
    config: WsConfig,
    peer_addr: SocketAddr,
    /// When the handshake or the graceful close must be over.
    deadline: Option<Instant>,
    /// When the last byte came from the peer (or the connection opened).
    last_heard: Instant,
    /// A ping is out and unanswered.
    pinged: bool,
    /// Frames sit in tungstenite's buffer or the socket refused bytes.
    unflushed: bool,
    /// The last read stopped on the budget, not on `WouldBlock`.
    read_more: bool,
    /// The request path of a server-side connection, once read.
    path: Option<Arc<OnceLock<String>>>,
    /// Why it ended, until the owner hears it.
    ending: Option<CloseReason>,
}

impl WsConnection {
    /// The server side of an accepted TCP connection: the upgrade starts
    /// now and must end by `now + handshake_timeout`.
    pub(crate) fn accept(
        stream: Stream,
        peer_addr: SocketAddr,
        config: &WsConfig,
        now: Instant,
    ) -> Self {
        let upgrade = Upgrade::new(config.subprotocols.clone(), config.handshake_headers.clone());
        let path = upgrade.path();
        let mid = ServerHandshake::start(stream, upgrade, Some(config.socket_config()));
        let mut connection = Self::new(Phase::ServerHandshake(mid), peer_addr, config, now);
        connection.path = Some(path);
        connection
    }

    /// The client side: `stream` is connecting to `peer_addr`; the upgrade
    /// with `request` follows once it is connected. All of it must end by
    /// `now + handshake_timeout`.
    pub(crate) fn dial(
        stream: Stream,
        peer_addr: SocketAddr,
        request: Request,
        config: &WsConfig,
        now: Instant,
    ) -> Self {
        Self::new(Phase::Dialing(stream, Box::new(request)), peer_addr, config, now)
    }

    fn new(phase: Phase, peer_addr: SocketAddr, config: &WsConfig, now: Instant) -> Self {
        Self {
            phase,
            config: config.clone(),
            peer_addr,
            deadline: Some(now + config.handshake_timeout),
            last_heard: now,
            pinged: false,
            unflushed: false,
            read_more: false,
            path: None,
            ending: None,
        }
    }

    /// Registers the socket with `registry` under `token`, for both
    /// directions, edge-triggered.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let tcp = self.stream_mut().ok_or(io::ErrorKind::NotConnected)?.tcp_mut();
        registry.register(tcp, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// The remote address.
    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The path the client asked for in its upgrade request (server side,
    /// once open).
    pub(crate) fn path(&self) -> Option<&str> {
        self.path.as_ref()?.get().map(String::as_str)
    }

    /// Whether messages can be sent.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(
            self.phase,
            Phase::Dialing(..) | Phase::ServerHandshake(_) | Phase::ClientHandshake(_)
        )
    }

    /// Whether it is over (its `Closed` event was given out).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether the last read left bytes behind: call
    /// [`on_ready`](Self::on_ready) again without waiting for the poll.
    pub(crate) fn wants_read(&self) -> bool {
        self.read_more
    }

    /// Whether [`flush`](Self::flush) has work to do.
    pub(crate) fn wants_flush(&self) -> bool {
        self.unflushed
    }

    /// The next instant [`on_timer`](Self::on_timer) has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open(_) => {
                let ping = (!self.pinged).then(|| self.last_heard + self.config.ping_interval);
                let dead = self.last_heard + self.config.peer_timeout;
                Some(ping.map_or(dead, |ping| ping.min(dead)))
            }
            Phase::Closed => None,
            _ => self.deadline,
        }
    }

    /// The local address of the socket (`None` once closed).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        let stream = match &self.phase {
            Phase::Dialing(stream, _) => stream,
            Phase::ServerHandshake(mid) => mid.get_ref().get_ref(),
            Phase::ClientHandshake(mid) => mid.get_ref().get_ref(),
            Phase::Open(ws) | Phase::Closing(ws) => ws.get_ref(),
            Phase::Closed => return None,
        };
        stream.tcp().local_addr().ok()
    }

    fn stream_mut(&mut self) -> Option<&mut Stream> {
        match &mut self.phase {
            Phase::Dialing(stream, _) => Some(stream),
            Phase::ServerHandshake(mid) => Some(mid.get_mut().get_mut()),
            Phase::ClientHandshake(mid) => Some(mid.get_mut().get_mut()),
            Phase::Open(ws) | Phase::Closing(ws) => Some(ws.get_mut()),
            Phase::Closed => None,
        }
    }

    /// Queues a binary message; it leaves at the next [`flush`](Self::flush)
    /// (or earlier, once a batch is full).
    pub(crate) fn send(&mut self, data: Bytes) -> Result<(), SendError> {
        let len = data.len();
        if len > self.config.max_message_size {
            return Err(SendError::TooLarge { len, max: self.config.max_message_size });
        }
        let Phase::Open(ws) = &mut self.phase else { return Err(SendError::NotOpen) };
        match ws.write(Message::Binary(data)) {
            Ok(()) => {
                self.unflushed = true;
                Ok(())
            }
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                // Queued; the socket takes it when writable.
                self.unflushed = true;
                Ok(())
            }
            Err(WsError::WriteBufferFull(_)) => Err(SendError::QueueFull),
            Err(e) => {
                self.fail(reason_of(&e));
                Err(SendError::NotOpen)
            }
        }
    }

    /// Writes what is queued, as far as the socket takes it.
    pub(crate) fn flush(&mut self) {
        let result = match &mut self.phase {
            Phase::Open(ws) | Phase::Closing(ws) => ws.flush(),
            _ => return,
        };
        match result {
            Ok(()) => self.unflushed = false,
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(WsError::ConnectionClosed) => self.finish(),
            Err(e) => self.fail(reason_of(&e)),
        }
    }

    /// Starts a graceful close: queued messages leave first, then a close
    /// frame with `code`; the connection ends when the peer answers or after
    /// the close timeout. The `Closed` event carries [`CloseReason::Local`].
    pub(crate) fn close(&mut self, now: Instant, code: CloseCode, reason: &'static str) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Open(mut ws) => {
                let frame = CloseFrame { code, reason: reason.into() };
                match ws.close(Some(frame)) {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        self.ending.get_or_insert(CloseReason::Local);
                        return;
                    }
                }
                self.phase = Phase::Closing(ws);
                self.unflushed = true;
                self.deadline = Some(now + self.config.close_timeout);
                self.ending.get_or_insert(CloseReason::Local);
            }
            Phase::Closing(ws) => self.phase = Phase::Closing(ws),
            Phase::Closed => self.phase = Phase::Closed,
            // Not open yet: nothing to say goodbye with.
            _ => {
                self.ending.get_or_insert(CloseReason::Local);
            }
        }
    }

    /// Ends the connection at once: the socket closes, queued messages are
    /// dropped. The `Closed` event (with [`CloseReason::Local`]) comes from
    /// the next [`on_ready`](Self::on_ready) or [`on_timer`](Self::on_timer)
    /// call, or [`take_closed`](Self::take_closed).
    pub(crate) fn abort(&mut self) {
        self.phase = Phase::Closed;
        self.ending.get_or_insert(CloseReason::Local);
    }

    /// If the connection ended and has not said so yet, its reason (once).
    pub(crate) fn take_closed(&mut self) -> Option<CloseReason> {
        if !matches!(self.phase, Phase::Closed) {
            return None;
        }
        self.ending.take()
    }

    /// The peer broke a rule: say why in a close frame if the socket takes
    /// it now, and end without waiting.
    fn fail(&mut self, reason: CloseReason) {
        if let (Phase::Open(ws), Some(code)) = (&mut self.phase, reason.close_code()) {
            let frame = CloseFrame { code, reason: reason.short_text().into() };
            let _ = ws.close(Some(frame));
        }
        self.phase = Phase::Closed;
        self.ending.get_or_insert(reason);
    }

    /// Ends after the close handshake (or the graceful close) completed.
    fn finish(&mut self) {
        self.phase = Phase::Closed;
        self.ending.get_or_insert(CloseReason::Local);
    }

    /// The socket is ready (either way): dial, upgrade, read, write as far
    /// as possible.
    pub(crate) fn on_ready(&mut self, now: Instant, sink: &mut dyn FnMut(WsEvent)) {
        self.read_more = false;
        loop {
            match std::mem::replace(&mut self.phase, Phase::Closed) {
                Phase::Dialing(stream, request) => match dial_result(stream.tcp()) {
                    Ok(true) => {
                        match ClientHandshake::start(
                            stream,
                            *request,
                            Some(self.config.socket_config()),
                        ) {
                            Ok(mid) => self.phase = Phase::ClientHandshake(mid),
                            Err(e) => self.fail(CloseReason::HandshakeFailed(e.to_string())),
                        }
                        continue;
                    }
                    Ok(false) => self.phase = Phase::Dialing(stream, request),
                    Err(e) => self.fail(CloseReason::ConnectFailed(e.kind())),
                },
                Phase::ServerHandshake(mid) => match mid.handshake() {
                    Ok(ws) => {
                        self.opened(now, ws, sink);
                        continue;
                    }
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.phase = Phase::ServerHandshake(mid)
                    }
                    Err(HandshakeError::Failure(e)) => self.fail(handshake_reason(&e)),
                },
                Phase::ClientHandshake(mid) => match mid.handshake() {
                    Ok((ws, _response)) => {
                        self.opened(now, ws, sink);
                        continue;
                    }
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.phase = Phase::ClientHandshake(mid)
                    }
                    Err(HandshakeError::Failure(e)) => self.fail(handshake_reason(&e)),
                },
                Phase::Open(ws) => {
                    self.phase = Phase::Open(ws);
                    self.read(now, sink);
                    if self.unflushed {
                        self.flush();
                    }
                }
                Phase::Closing(ws) => {
                    self.phase = Phase::Closing(ws);
                    self.drain_closing();
                }
                Phase::Closed => {}
            }
            break;
        }
        if let Some(reason) = self.take_closed() {
            sink(WsEvent::Closed(reason));
        }
    }

    fn opened(&mut self, now: Instant, ws: WebSocket<Stream>, sink: &mut dyn FnMut(WsEvent)) {
        self.phase = Phase::Open(ws);
        self.deadline = None;
        self.last_heard = now;
        sink(WsEvent::Opened);
    }

    /// Reads messages until the socket is empty or the budget is spent.
    fn read(&mut self, now: Instant, sink: &mut dyn FnMut(WsEvent)) {
        let mut budget = READ_BUDGET;
        while let Phase::Open(ws) = &mut self.phase {
            if budget == 0 {
                self.read_more = true;
                return;
            }
            match ws.read() {
                Ok(message) => {
                    self.last_heard = now;
                    self.pinged = false;
                    budget = budget.saturating_sub(message.len().max(1));
                    match message {
                        Message::Binary(data) => sink(WsEvent::Message { data, text: false }),
                        Message::Text(text) => {
                            sink(WsEvent::Message { data: text.into(), text: true });
                        }
                        Message::Close(frame) => {
                            // tungstenite queued the reply; send it and go.
                            let _ = ws.flush();
                            let (code, reason) = frame.map_or((1005, String::new()), |f| {
                                (u16::from(f.code), f.reason.as_str().to_owned())
                            });
                            self.phase = Phase::Closed;
                            self.ending.get_or_insert(CloseReason::Remote { code, reason });
                        }
                        // tungstenite queued the pong; it leaves with the next flush.
                        Message::Ping(_) => self.unflushed = true,
                        Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.fail(reason_of(&e));
                    return;
                }
            }
        }
    }

    /// While closing: flush, and read until the peer's close frame (data
    /// that still arrives is dropped) or the end of the stream.
    fn drain_closing(&mut self) {
        let Phase::Closing(ws) = &mut self.phase else { return };
        loop {
            match ws.read() {
                Ok(Message::Close(_)) => {
                    let _ = ws.flush();
                    self.finish();
                    return;
                }
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.finish();
                    return;
                }
            }
        }
        self.flush();
    }

    /// Time passed: handshake and close deadlines, pings, dead peers.
    pub(crate) fn on_timer(&mut self, now: Instant, sink: &mut dyn FnMut(WsEvent)) {
        match &mut self.phase {
            Phase::Closed => {}
            Phase::Open(ws) => {
                if now >= self.last_heard + self.config.peer_timeout {
                    self.fail(CloseReason::PeerTimeout);
                } else if !self.pinged && now >= self.last_heard + self.config.ping_interval {
                    self.pinged = true;
                    match ws.write(Message::Ping(Bytes::new())) {
                        Ok(()) => self.flush(),
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.unflushed = true;
                        }
                        // A full outbound buffer: the peer is not reading; it
                        // will time out if it is gone.
                        Err(WsError::WriteBufferFull(_)) => {}
                        Err(e) => self.fail(reason_of(&e)),
                    }
                }
            }
            Phase::Closing(_) => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.finish();
                }
            }
            _ => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.fail(CloseReason::HandshakeTimeout);
                }
            }
        }
        if let Some(reason) = self.take_closed() {
            sink(WsEvent::Closed(reason));
        }
    }
}

/// Whether a non-blocking connect finished (`Ok(true)`), is still in
/// flight (`Ok(false)`), or failed.
fn dial_result(tcp: &TcpStream) -> io::Result<bool> {
    if let Some(e) = tcp.take_error()? {
        return Err(e);
    }
    match tcp.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// The close reason for a failed upgrade.
fn handshake_reason(e: &WsError) -> CloseReason {
    match e {
        WsError::Io(io) => CloseReason::ConnectionLost(io.kind()),
        e => CloseReason::HandshakeFailed(e.to_string()),
    }
}

/// The close reason for an error on an open connection.
fn reason_of(e: &WsError) -> CloseReason {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => CloseReason::Local,
        WsError::Io(io) => CloseReason::ConnectionLost(io.kind()),
        WsError::Capacity(_) => CloseReason::MessageTooBig,
        WsError::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            CloseReason::ConnectionLost(io::ErrorKind::UnexpectedEof)
        }
        WsError::Utf8(_) => CloseReason::InvalidUtf8,
        e => CloseReason::ProtocolViolation(e.to_string()),
    }
}
