//! WebSocket as a session transport: a [`WsServer`]'s connections, or one
//! [`WsClient`], as links.
//!
//! A server's connection asks to join once its upgrade is done (the server
//! assigns ids, so it claims none); accepting it sends Godot's id message
//! (Godot 4: the 4-byte id; Godot 3: `SYS_ID` then `SYS_ADD(1)`) and brings
//! the link up. A client's link comes up when that id message arrives. A
//! WebSocket has one lane: every message is reported on user channel 0,
//! reliable, whatever it was sent with, as Godot reports it.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::Registry;
use mio::event::Event as Readiness;
use volley_proto::PeerStats;

use super::framing::godot3::{Godot3Message, Godot3System};
use super::framing::godot4;
use crate::multiplayer::PeerId;
use crate::multiplayer::framing::{LinkFraming, RefuseReason, WireProfile};
use crate::multiplayer::session::link::{
    Departure, DownCause, IdClaim, Lane, LinkEvent, LinkId, LinkSendError, Links,
};
use crate::multiplayer::session::transport::{Tokens, Transport};
use crate::websocket::{
    Bytes, CloseCode, CloseReason, ConnectionId, SendError, WsClient, WsEvent, WsServer,
    WsServerStats,
};

/// Close codes a Volley server refuses or drops a client with: this base
/// plus the low byte of the [`RefuseReason`] code (4001 invalid id, 4002
/// duplicate, 4003 refusing, 4004 full, 4005 too few channels, 4006
/// authentication failed), in the range RFC 6455 leaves to applications.
pub const REFUSAL_CLOSE_BASE: u16 = 4000;

/// Payload buffers kept for reuse at most.
const POOL_LIMIT: usize = 256;

/// The close code a refusal is sent with.
pub fn refusal_close_code(reason: RefuseReason) -> u16 {
    REFUSAL_CLOSE_BASE + (reason.code() & 0xFF) as u16
}

/// The refusal a close code names, if it names one.
pub fn refusal_from_close_code(code: u16) -> Option<RefuseReason> {
    let low = code.checked_sub(REFUSAL_CLOSE_BASE).filter(|low| *low <= 0xFF)?;
    RefuseReason::from_code(RefuseReason::CODE_FLAG | u32::from(low))
}

fn refusal_text(reason: RefuseReason) -> &'static str {
    match reason {
        RefuseReason::InvalidId => "invalid id",
        RefuseReason::DuplicateId => "duplicate id",
        RefuseReason::RefusingConnections => "refusing new connections",
        RefuseReason::ServerFull => "server full",
        RefuseReason::TooFewChannels => "too few channels",
        RefuseReason::AuthenticationFailed => "authentication failed",
    }
}

/// Where a server's link stands, as the transport must remember it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Upgraded; the session was asked whether it may join.
    Asking,
    /// Accepted: its id went out, messages flow.
    Up,
    /// Closing gracefully at the session's request; `Down` follows.
    Leaving,
    /// Refused or dropped by the session: it hears nothing more of it.
    Dropped,
}

#[derive(Debug, Clone, Copy)]
struct ServerLink {
    connection: ConnectionId,
    stage: Stage,
}

/// Where a client's one link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStage {
    /// Connecting and upgrading, then waiting for the id.
    Joining,
    /// Godot 3: `SYS_ID` arrived; `SYS_ADD(1)` completes the join.
    Identified(PeerId),
    /// Up.
    Up,
    /// Closed gracefully at the session's request; `Down` follows.
    Leaving,
    /// Dropped by the session, or down.
    Gone,
}

#[derive(Debug)]
enum Side {
    Server { server: WsServer, links: Vec<Option<ServerLink>> },
    Client { client: WsClient, stage: ClientStage, deadline: Instant },
}

/// A WebSocket server or client whose connections are a session's links.
#[derive(Debug)]
pub(crate) struct WsTransport {
    index: u16,
    profile: WireProfile,
    framing: LinkFraming,
    side: Side,
    max_message: usize,
    queue: VecDeque<LinkEvent>,
    pool: Vec<Vec<u8>>,
    /// The last message sent, shared by the next send of the same bytes (a
    /// broadcast), so its copies cost no allocation each.
    last_sent: Bytes,
}

impl WsTransport {
    fn new(index: u16, profile: WireProfile, side: Side, max_message: usize) -> Self {
        let framing = match profile {
            WireProfile::Relay => LinkFraming::WsGodot3,
            WireProfile::Godot4 => LinkFraming::Scene,
        };
        Self {
            index,
            profile,
            framing,
            side,
            max_message,
            queue: VecDeque::new(),
            pool: Vec::new(),
            last_sent: Bytes::new(),
        }
    }

    /// A server's listener.
    pub(crate) fn server(index: u16, server: WsServer, profile: WireProfile) -> Self {
        let max_message = server.config().get_max_message_size();
        Self::new(index, profile, Side::Server { server, links: Vec::new() }, max_message)
    }

    /// A client's connection (dialled, not registered yet); its one link
    /// has slot 0.
    pub(crate) fn client(
        index: u16,
        client: WsClient,
        profile: WireProfile,
        max_message: usize,
        deadline: Instant,
    ) -> Self {
        let side = Side::Client { client, stage: ClientStage::Joining, deadline };
        Self::new(index, profile, side, max_message)
    }

    /// The client's link.
    pub(crate) fn client_link(&self) -> LinkId {
        self.link(0)
    }

    /// The server's transport counters (`None` on a client).
    pub(crate) fn server_stats(&self) -> Option<WsServerStats> {
        match &self.side {
            Side::Server { server, .. } => Some(server.stats()),
            Side::Client { .. } => None,
        }
    }

    fn link(&self, slot: u32) -> LinkId {
        LinkId { transport: self.index, slot }
    }

    /// A pooled buffer holding `data`.
    fn buffer(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buffer = self.pool.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(data);
        buffer
    }

    /// `bytes` as a message, sharing the last one's allocation when equal.
    fn message(&mut self, bytes: &[u8]) -> Bytes {
        if self.last_sent[..] != *bytes {
            self.last_sent = Bytes::copy_from_slice(bytes);
        }
        self.last_sent.clone()
    }

    /// Translates a server's events into link events.
    fn take_server_events(&mut self) {
        loop {
            let Side::Server { server, .. } = &mut self.side else { return };
            let Some((connection, event)) = server.poll_event() else { return };
            let link = self.link(connection.index());
            match event {
                WsEvent::Opened => {
                    self.set_server_link(connection, Some(Stage::Asking));
                    let claim = IdClaim::Assign;
                    self.queue.push_back(LinkEvent::JoinRequest { link, claim, objection: None });
                }
                WsEvent::Message { data, .. } => {
                    // Every message goes to the session, text or binary, as
                    // Godot takes them. (Another kind of message on the same
                    // endpoint, say signalling, would be told apart here.)
                    if self.server_stage(connection).is_some_and(|s| s != Stage::Dropped) {
                        let payload = self.buffer(&data);
                        let lane = Lane::RELIABLE_0;
                        self.queue.push_back(LinkEvent::Received { link, lane, payload });
                    }
                }
                WsEvent::Closed(reason) => {
                    let stage = self.server_stage(connection);
                    self.set_server_link(connection, None);
                    if stage.is_none_or(|s| s == Stage::Dropped) {
                        continue;
                    }
                    if abusive(&reason) {
                        self.queue.push_back(LinkEvent::Malformed { link });
                    }
                    let cause = if stage == Some(Stage::Leaving) {
                        DownCause::Local
                    } else {
                        down_cause(&reason)
                    };
                    self.queue.push_back(LinkEvent::Down { link, cause });
                }
            }
        }
    }

    fn server_stage(&self, connection: ConnectionId) -> Option<Stage> {
        let Side::Server { links, .. } = &self.side else { return None };
        let link = links.get(connection.index() as usize).copied().flatten()?;
        (link.connection == connection).then_some(link.stage)
    }

    fn set_server_link(&mut self, connection: ConnectionId, stage: Option<Stage>) {
        let Side::Server { links, .. } = &mut self.side else { return };
        let index = connection.index() as usize;
        if links.len() <= index {
            links.resize(index + 1, None);
        }
        links[index] = stage.map(|stage| ServerLink { connection, stage });
    }

    /// The connection behind a server link the session may still use.
    fn server_connection(&self, link: LinkId) -> Option<ConnectionId> {
        let Side::Server { links, .. } = &self.side else { return None };
        if link.transport != self.index {
            return None;
        }
        let entry = links.get(link.slot as usize).copied().flatten()?;
        (entry.stage != Stage::Dropped).then_some(entry.connection)
    }

    /// Translates a client's events into link events.
    fn take_client_events(&mut self, now: Instant) {
        let link = self.client_link();
        loop {
            let Side::Client { client, stage, deadline } = &mut self.side else { return };
            if matches!(stage, ClientStage::Joining | ClientStage::Identified(_))
                && now >= *deadline
            {
                // The server never sent an id in time (Godot's handshake
                // timeout covers the wait for it).
                client.abort();
                while client.poll_event().is_some() {}
                *stage = ClientStage::Gone;
                self.queue.push_back(LinkEvent::Down { link, cause: DownCause::TimedOut });
                return;
            }
            let Some(event) = client.poll_event() else { return };
            match event {
                WsEvent::Opened => {}
                WsEvent::Message { data, .. } => match *stage {
                    ClientStage::Up => {
                        let payload = self.buffer(&data);
                        let lane = Lane::RELIABLE_0;
                        self.queue.push_back(LinkEvent::Received { link, lane, payload });
                    }
                    ClientStage::Joining | ClientStage::Identified(_) => {
                        match join_step(self.profile, *stage, &data) {
                            Some(JoinStep::Up(id)) => {
                                *stage = ClientStage::Up;
                                let assigned_id = Some(id);
                                self.queue.push_back(LinkEvent::Up { link, assigned_id });
                            }
                            Some(JoinStep::Identified(id)) => *stage = ClientStage::Identified(id),
                            None => {
                                // Not what a Godot server sends first: give up,
                                // as Godot's client does.
                                client.abort();
                                self.queue.push_back(LinkEvent::Malformed { link });
                            }
                        }
                    }
                    ClientStage::Leaving | ClientStage::Gone => {}
                },
                WsEvent::Closed(reason) => {
                    let before = std::mem::replace(stage, ClientStage::Gone);
                    let cause = match before {
                        ClientStage::Gone => continue,
                        ClientStage::Leaving => DownCause::Local,
                        ClientStage::Joining | ClientStage::Identified(_) => match &reason {
                            CloseReason::Remote { code, .. } => refusal_from_close_code(*code)
                                .map_or(DownCause::Remote(0), |r| DownCause::Refused(r.code())),
                            _ => DownCause::TimedOut,
                        },
                        ClientStage::Up => down_cause(&reason),
                    };
                    self.queue.push_back(LinkEvent::Down { link, cause });
                }
            }
        }
    }
}

/// A joining client's step on a message from its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinStep {
    /// Godot 3's `SYS_ID`: the id is known; `SYS_ADD(1)` must follow.
    Identified(PeerId),
    /// The join is complete, with this id.
    Up(PeerId),
}

/// What `message` does to a client joining in `stage`; `None` if it is not
/// what a Godot server sends there.
fn join_step(profile: WireProfile, stage: ClientStage, message: &[u8]) -> Option<JoinStep> {
    match (profile, stage) {
        (WireProfile::Godot4, ClientStage::Joining) => {
            godot4::decode_id_message(message).ok().map(JoinStep::Up)
        }
        (WireProfile::Relay, ClientStage::Joining) => match Godot3Message::decode(message) {
            Ok(Godot3Message::System(Godot3System::AssignId(id))) => Some(JoinStep::Identified(id)),
            _ => None,
        },
        (WireProfile::Relay, ClientStage::Identified(id)) => match Godot3Message::decode(message) {
            Ok(Godot3Message::System(Godot3System::PeerAdded(PeerId::SERVER))) => {
                Some(JoinStep::Up(id))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a connection was closed for what its peer sent.
fn abusive(reason: &CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::MessageTooBig | CloseReason::InvalidUtf8 | CloseReason::ProtocolViolation(_)
    )
}

/// How a link that was up went down: a refusal close code (a failed
/// authentication) travels on as its refusal code.
fn down_cause(reason: &CloseReason) -> DownCause {
    match reason {
        CloseReason::Remote { code, .. } => {
            DownCause::Remote(refusal_from_close_code(*code).map_or(0, RefuseReason::code))
        }
        CloseReason::Local => DownCause::Local,
        _ => DownCause::TimedOut,
    }
}

fn link_send_error(error: SendError) -> LinkSendError {
    match error {
        SendError::QueueFull => LinkSendError::QueueFull,
        SendError::TooLarge { len, max } => LinkSendError::TooLarge { len, max },
        _ => LinkSendError::Gone,
    }
}

impl Links for WsTransport {
    fn framing(&self, _link: LinkId) -> LinkFraming {
        self.framing
    }

    fn send(&mut self, link: LinkId, _lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError> {
        if bytes.len() > self.max_message {
            return Err(LinkSendError::TooLarge { len: bytes.len(), max: self.max_message });
        }
        match &self.side {
            Side::Server { .. } => {
                let connection = self.server_connection(link).ok_or(LinkSendError::Gone)?;
                let message = self.message(bytes);
                let Side::Server { server, .. } = &mut self.side else { unreachable!() };
                server.send(connection, message).map_err(link_send_error)
            }
            Side::Client { stage, .. } => {
                if *stage != ClientStage::Up || link != self.client_link() {
                    return Err(LinkSendError::Gone);
                }
                let message = self.message(bytes);
                let Side::Client { client, .. } = &mut self.side else { unreachable!() };
                client.send(message).map_err(link_send_error)
            }
        }
    }

    fn accept(&mut self, link: LinkId, id: PeerId) -> bool {
        let Some(connection) = self.server_connection(link) else { return false };
        let Side::Server { server, .. } = &mut self.side else { return false };
        let sent = match self.profile {
            WireProfile::Godot4 => {
                server.send(connection, Bytes::copy_from_slice(&godot4::id_message(id)))
            }
            WireProfile::Relay => server
                .send(connection, Bytes::copy_from_slice(&Godot3System::AssignId(id).to_bytes()))
                .and_then(|()| {
                    let added = Godot3System::PeerAdded(PeerId::SERVER).to_bytes();
                    server.send(connection, Bytes::copy_from_slice(&added))
                }),
        };
        if sent.is_err() {
            return false;
        }
        self.set_server_link(connection, Some(Stage::Up));
        self.queue.push_back(LinkEvent::Up { link, assigned_id: None });
        true
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        let Some(connection) = self.server_connection(link) else { return false };
        self.set_server_link(connection, Some(Stage::Dropped));
        let Side::Server { server, .. } = &mut self.side else { return false };
        let code = CloseCode::from(refusal_close_code(reason));
        server.close(connection, code, refusal_text(reason));
        true
    }

    /// Either way what is queued leaves first, then a close frame: code
    /// 1000, or the refusal `data` names (a failed authentication: 4006).
    /// After [`Departure::Now`] the session hears nothing more of the link.
    fn disconnect(&mut self, link: LinkId, departure: Departure, data: u32) -> bool {
        let stage = match departure {
            Departure::AfterQueued | Departure::Graceful => Stage::Leaving,
            Departure::Now => Stage::Dropped,
        };
        let (code, text) = match RefuseReason::from_code(data) {
            Some(reason) => (CloseCode::from(refusal_close_code(reason)), refusal_text(reason)),
            None => (CloseCode::Normal, ""),
        };
        match &mut self.side {
            Side::Server { .. } => {
                let Some(connection) = self.server_connection(link) else { return false };
                self.set_server_link(connection, Some(stage));
                let Side::Server { server, .. } = &mut self.side else { return false };
                server.close(connection, code, text);
                true
            }
            Side::Client { client, stage: client_stage, .. } => {
                if matches!(client_stage, ClientStage::Gone | ClientStage::Leaving) {
                    return false;
                }
                *client_stage = match departure {
                    Departure::AfterQueued | Departure::Graceful => ClientStage::Leaving,
                    Departure::Now => ClientStage::Gone,
                };
                client.close(Instant::now(), code, text);
                true
            }
        }
    }

    /// Ids are the server's to assign: nothing to dial again with.
    fn redial(&mut self, _link: LinkId, _id: PeerId) -> Option<LinkId> {
        None
    }

    fn recycle(&mut self, _transport: u16, buffer: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT {
            self.pool.push(buffer);
        }
    }
}

impl Transport for WsTransport {
    /// The largest message, less the one byte Godot 3's WebSocket header has
    /// beyond the relay header the session counts.
    fn max_frame_size(&self) -> usize {
        match self.framing {
            LinkFraming::WsGodot3 => self.max_message - 1,
            _ => self.max_message,
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        match &self.side {
            Side::Server { server, .. } => Some(server.local_addr()),
            Side::Client { client, .. } => client.local_addr(),
        }
    }

    fn link_address(&self, link: LinkId) -> Option<SocketAddr> {
        match &self.side {
            Side::Server { server, .. } => server.peer_addr(self.server_connection(link)?),
            Side::Client { client, .. } => Some(client.peer_addr()),
        }
    }

    /// TCP keeps no statistics Volley can report.
    fn link_stats(&self, _link: LinkId) -> Option<PeerStats> {
        None
    }

    fn register(&mut self, registry: &Registry, tokens: Tokens) -> io::Result<()> {
        match &mut self.side {
            Side::Server { server, .. } => server.register(registry, tokens.token(0)),
            Side::Client { client, .. } => client.register(registry, tokens.token(0)),
        }
    }

    fn on_ready(&mut self, readiness: &Readiness) {
        let now = Instant::now();
        match &mut self.side {
            Side::Server { server, .. } => server.on_ready(readiness.token(), now),
            Side::Client { client, .. } => client.on_ready(now),
        }
    }

    fn pump(&mut self, now: Instant) -> io::Result<()> {
        match &mut self.side {
            Side::Server { server, .. } => {
                server.on_timer(now);
                self.take_server_events();
            }
            Side::Client { client, .. } => {
                client.on_timer(now);
                self.take_client_events(now);
            }
        }
        Ok(())
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.queue.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        if !self.queue.is_empty() {
            return Some(now);
        }
        match &self.side {
            Side::Server { server, .. } => server.next_deadline(now),
            Side::Client { client, stage, deadline } => {
                let joining = matches!(stage, ClientStage::Joining | ClientStage::Identified(_));
                let own = joining.then_some(*deadline);
                match (client.next_deadline(now), own) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.side {
            Side::Server { server, .. } => server.flush(),
            Side::Client { client, .. } => client.flush(),
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_travel_in_application_close_codes() {
        let reasons = [
            RefuseReason::InvalidId,
            RefuseReason::DuplicateId,
            RefuseReason::RefusingConnections,
            RefuseReason::ServerFull,
            RefuseReason::TooFewChannels,
            RefuseReason::AuthenticationFailed,
        ];
        for (reason, code) in reasons.into_iter().zip(4001..) {
            assert_eq!(refusal_close_code(reason), code);
            assert_eq!(refusal_from_close_code(code), Some(reason));
        }
        for code in [1000, 1001, 3999, 4000, 4007, 4999, u16::MAX] {
            assert_eq!(refusal_from_close_code(code), None, "{code}");
        }
    }

    #[test]
    fn a_joining_client_follows_each_generation_s_id_sequence() {
        let id = PeerId::try_from(0x2B_u32).expect("valid");
        let assign = Godot3System::AssignId(id).to_bytes();
        let server_added = Godot3System::PeerAdded(PeerId::SERVER).to_bytes();
        let (g3, g4) = (WireProfile::Relay, WireProfile::Godot4);
        let (joining, identified) = (ClientStage::Joining, ClientStage::Identified(id));
        assert_eq!(join_step(g3, joining, &assign), Some(JoinStep::Identified(id)));
        assert_eq!(join_step(g3, identified, &server_added), Some(JoinStep::Up(id)));
        assert_eq!(join_step(g3, joining, &server_added), None);
        assert_eq!(join_step(g3, identified, &assign), None);
        assert_eq!(join_step(g4, joining, &[0x2B, 0, 0, 0]), Some(JoinStep::Up(id)));
        assert_eq!(join_step(g4, joining, &[1, 0, 0, 0]), None);
        assert_eq!(join_step(g4, joining, &assign), None);
        assert_eq!(join_step(g4, ClientStage::Up, &[0x2B, 0, 0, 0]), None);
    }
}
