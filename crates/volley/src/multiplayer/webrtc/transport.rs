//! WebRTC as a session transport: one [`RtcEndpoint`], its links as the
//! session's links.
//!
//! Ids are the application's (Godot's `add_peer(connection, id)`), so a
//! link enters the session when the application adds it: on a server as a
//! [`JoinRequest`](LinkEvent::JoinRequest) with a
//! [chosen](IdClaim::Chosen) id, which the core admits or refuses at once;
//! on a client or mesh peer as a dialled link. It is
//! [`Up`](LinkEvent::Up) once every data channel is open, and every lane
//! maps onto Godot's channel layout.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::Registry;
use mio::event::Event as Readiness;
use mio::{Interest, Token};
use volley_proto::{PeerStats, TransferMode};

use crate::multiplayer::PeerId;
use crate::multiplayer::framing::{LinkFraming, RefuseReason};
use crate::multiplayer::session::link::{
    Departure, DownCause, IdClaim, Lane, LinkEvent, LinkId, LinkSendError, Links,
};
use crate::multiplayer::session::transport::{Tokens, Transport};
use crate::webrtc::signalling::SignalMessage;
use crate::webrtc::{
    self, CloseReason, EndpointConfig, EndpointError, IceCandidate, MAX_MESSAGE_SIZE,
    OpenLinkError, RtcEndpoint, SessionDescription, SignalError,
};
use crate::websocket::{CloseCode, ConnectionId, WsEvent, WsServer};

/// One WebRTC connection the transport holds for the session.
#[derive(Debug, Clone, Copy)]
struct Slot {
    rtc: webrtc::LinkId,
    /// The remote's id: as the application named it, or as the session
    /// assigned it to a connection of the signalling path.
    peer: Option<PeerId>,
    /// Reported to the core (accepted or dialled).
    in_session: bool,
    /// The signalling connection negotiating it, on the built-in path.
    signal: Option<ConnectionId>,
}

/// The built-in signalling path: a WebSocket server whose connections each
/// negotiate one WebRTC connection in JSON ([`SignalMessage`]).
#[derive(Debug)]
struct Signalling {
    server: WsServer,
    /// The link each open signalling connection negotiates.
    links: HashMap<ConnectionId, LinkId>,
    /// The first token of the server's span.
    base: Option<Token>,
    /// Signalling messages refused (not JSON, not a message, or refused by
    /// the connection they were for).
    refused: u64,
}

/// An [`RtcEndpoint`] whose links are a session's links; a link's slot is
/// its endpoint slot.
#[derive(Debug)]
pub(crate) struct WebRtcTransport {
    index: u16,
    endpoint: RtcEndpoint,
    signalling: Option<Signalling>,
    slots: Vec<Option<Slot>>,
    queue: VecDeque<LinkEvent>,
    /// Why the core last turned a link away.
    last_refusal: Option<RefuseReason>,
    /// The endpoint said it is readable since the last pump.
    readable: bool,
}

impl WebRtcTransport {
    /// An endpoint bound as `config` says, as transport `index`.
    pub(crate) fn open(index: u16, config: EndpointConfig) -> Result<Self, EndpointError> {
        Ok(Self {
            index,
            endpoint: RtcEndpoint::bind(config)?,
            signalling: None,
            slots: Vec::new(),
            queue: VecDeque::new(),
            last_refusal: None,
            // Read once at the start, whatever the poll says.
            readable: true,
        })
    }

    /// A server's listener: the endpoint, and the signalling path on
    /// `signalling` if given.
    pub(crate) fn listen(
        index: u16,
        config: EndpointConfig,
        signalling: Option<WsServer>,
    ) -> Result<Self, EndpointError> {
        let mut transport = Self::open(index, config)?;
        transport.signalling = signalling.map(|server| Signalling {
            server,
            links: HashMap::new(),
            base: None,
            refused: 0,
        });
        Ok(transport)
    }

    pub(crate) fn endpoint(&self) -> &RtcEndpoint {
        &self.endpoint
    }

    /// The signalling path's address, when it has one.
    pub(crate) fn signalling_addr(&self) -> Option<SocketAddr> {
        self.signalling.as_ref().map(|s| s.server.local_addr())
    }

    /// Signalling messages refused so far.
    pub(crate) fn signalling_refused(&self) -> u64 {
        self.signalling.as_ref().map_or(0, |s| s.refused)
    }

    /// Opens a connection to the remote `peer`, not yet in the session.
    pub(crate) fn open_link(&mut self, peer: PeerId) -> Result<LinkId, OpenLinkError> {
        let rtc = self.endpoint.open_link(Instant::now())?;
        let index = rtc.slot() as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        self.slots[index] = Some(Slot { rtc, peer: Some(peer), in_session: false, signal: None });
        Ok(self.link(index))
    }

    /// The join request the core answers for a server's new link.
    pub(crate) fn join_request(link: LinkId, peer: PeerId) -> LinkEvent {
        LinkEvent::JoinRequest { link, claim: IdClaim::Chosen(peer), objection: None }
    }

    /// Why the core last turned a link away, taken.
    pub(crate) fn take_refusal(&mut self) -> Option<RefuseReason> {
        self.last_refusal.take()
    }

    /// Whether the core holds `link` (accepted or dialled).
    pub(crate) fn in_session(&self, link: LinkId) -> bool {
        self.slot(link).is_some_and(|slot| slot.in_session)
    }

    /// Marks a link the core now holds (dialled by a client or mesh peer).
    pub(crate) fn enter_session(&mut self, link: LinkId) {
        if let Some(slot) = self.slot_mut(link) {
            slot.in_session = true;
        }
    }

    /// Closes a link the core never held (refused, or given up before it
    /// was added); no event follows.
    pub(crate) fn discard(&mut self, link: LinkId) {
        if let Some(slot) = self.take(link) {
            self.endpoint.close_link(slot.rtc);
        }
    }

    /// The link of the remote `peer`, joining or connected.
    pub(crate) fn link_of_peer(&self, peer: PeerId) -> Option<LinkId> {
        let index = self.slots.iter().position(|s| s.is_some_and(|s| s.peer == Some(peer)))?;
        Some(self.link(index))
    }

    /// The ids of every remote with a connection, joining or connected.
    pub(crate) fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.slots.iter().flatten().filter_map(|slot| slot.peer)
    }

    /// The endpoint link under `link`.
    pub(crate) fn rtc(&self, link: LinkId) -> Option<webrtc::LinkId> {
        self.slot(link).map(|slot| slot.rtc)
    }

    pub(crate) fn create_offer(&mut self, link: LinkId) -> Result<SessionDescription, SignalError> {
        let rtc = self.rtc(link).ok_or(SignalError::NotNegotiating)?;
        let offer = self.endpoint.create_offer(rtc);
        self.take_endpoint_events();
        offer
    }

    pub(crate) fn set_remote_description(
        &mut self,
        link: LinkId,
        description: &SessionDescription,
    ) -> Result<Option<SessionDescription>, SignalError> {
        let rtc = self.rtc(link).ok_or(SignalError::NotNegotiating)?;
        let answer = self.endpoint.set_remote_description(rtc, description);
        self.take_endpoint_events();
        answer
    }

    pub(crate) fn add_remote_candidate(
        &mut self,
        link: LinkId,
        candidate: &IceCandidate,
    ) -> Result<(), SignalError> {
        let rtc = self.rtc(link).ok_or(SignalError::NotNegotiating)?;
        self.endpoint.add_remote_candidate(rtc, candidate)
    }

    pub(crate) fn local_candidates(&self, link: LinkId) -> Vec<IceCandidate> {
        self.rtc(link).map(|rtc| self.endpoint.local_candidates(rtc)).unwrap_or_default()
    }

    /// Serves the signalling path: new connections become join requests,
    /// their messages negotiate their links.
    fn pump_signalling(&mut self, now: Instant) {
        let Some(signalling) = self.signalling.as_mut() else { return };
        signalling.server.on_timer(now);
        while let Some((connection, event)) =
            self.signalling.as_mut().and_then(|s| s.server.poll_event())
        {
            match event {
                WsEvent::Opened => self.on_signalling_opened(connection),
                WsEvent::Message { data, .. } => self.on_signal(connection, &data),
                WsEvent::Closed(_) => {
                    let link = self.signalling.as_mut().and_then(|s| s.links.remove(&connection));
                    if let Some(link) = link {
                        self.on_signalling_closed(link);
                    }
                }
            }
        }
        self.take_endpoint_events();
    }

    /// A browser opened the signalling path: a link for it, which the
    /// session names (or refuses) at once.
    fn on_signalling_opened(&mut self, connection: ConnectionId) {
        let rtc = match self.endpoint.open_link(Instant::now()) {
            Ok(rtc) => rtc,
            Err(error) => {
                self.signal(connection, &SignalMessage::Error(error.to_string()));
                self.end_signalling(Some(connection), CloseCode::Again, "busy");
                return;
            }
        };
        let index = rtc.slot() as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        self.slots[index] =
            Some(Slot { rtc, peer: None, in_session: false, signal: Some(connection) });
        let link = self.link(index);
        if let Some(signalling) = self.signalling.as_mut() {
            signalling.links.insert(connection, link);
        }
        let claim = IdClaim::Assign;
        self.queue.push_back(LinkEvent::JoinRequest { link, claim, objection: None });
    }

    /// One signalling message from `connection`.
    fn on_signal(&mut self, connection: ConnectionId, data: &[u8]) {
        let link = self.signalling.as_ref().and_then(|s| s.links.get(&connection).copied());
        let Some(link) = link.filter(|&link| self.in_session(link)) else {
            self.refuse_signal(connection, "no connection is negotiating here".to_owned());
            return;
        };
        let message = match SignalMessage::parse_bytes(data) {
            Ok(message) => message,
            Err(error) => return self.refuse_signal(connection, error.to_string()),
        };
        match message {
            SignalMessage::Description(description) => {
                match self.set_remote_description(link, &description) {
                    Ok(Some(answer)) => {
                        self.signal(connection, &SignalMessage::Description(answer));
                    }
                    Ok(None) => {}
                    Err(error) => self.refuse_signal(connection, error.to_string()),
                }
            }
            SignalMessage::Candidate(candidate) => {
                // Browsers trickle every candidate they have; the ones this
                // side cannot reach are counted by the link, not answered.
                match self.add_remote_candidate(link, &candidate) {
                    Ok(()) | Err(SignalError::UnreachableCandidate(_)) => {}
                    Err(SignalError::BadCandidate(_)) if candidate.candidate.contains(".local") => {
                    }
                    Err(error) => self.refuse_signal(connection, error.to_string()),
                }
            }
            SignalMessage::Bye => {
                self.disconnect(link, Departure::AfterQueued, 0);
            }
            SignalMessage::EndOfCandidates | SignalMessage::Error(_) => {}
            SignalMessage::Welcome { .. } => {
                self.refuse_signal(
                    connection,
                    "welcome goes from Volley to the browser".to_owned(),
                );
            }
        }
    }

    /// The signalling connection of `link` closed: a link still negotiating
    /// has lost its way to finish and goes; a connected one stays.
    fn on_signalling_closed(&mut self, link: LinkId) {
        let Some(slot) = self.slot_mut(link) else { return };
        slot.signal = None;
        let rtc = slot.rtc;
        let negotiating =
            self.endpoint.link(rtc).is_none_or(|l| l.state() == webrtc::LinkState::Negotiating);
        if negotiating {
            self.disconnect(link, Departure::AfterQueued, 0);
        }
    }

    fn refuse_signal(&mut self, connection: ConnectionId, message: String) {
        if let Some(signalling) = self.signalling.as_mut() {
            signalling.refused += 1;
        }
        self.signal(connection, &SignalMessage::Error(message));
    }

    /// Sends a signalling message (UTF-8 JSON in a binary frame).
    fn signal(&mut self, connection: ConnectionId, message: &SignalMessage) {
        if let Some(signalling) = self.signalling.as_mut() {
            // A connection that is gone or over its queue has nobody to tell.
            let _ = signalling.server.send(connection, message.to_json().into_bytes().into());
        }
    }

    fn end_signalling(
        &mut self,
        connection: Option<ConnectionId>,
        code: CloseCode,
        why: &'static str,
    ) {
        let (Some(connection), Some(signalling)) = (connection, self.signalling.as_mut()) else {
            return;
        };
        signalling.links.remove(&connection);
        signalling.server.close(connection, code, why);
    }

    fn link(&self, index: usize) -> LinkId {
        LinkId { transport: self.index, slot: u32::try_from(index).unwrap_or(u32::MAX) }
    }

    fn slot(&self, link: LinkId) -> Option<Slot> {
        if link.transport != self.index {
            return None;
        }
        self.slots.get(usize::try_from(link.slot).ok()?).copied().flatten()
    }

    fn slot_mut(&mut self, link: LinkId) -> Option<&mut Slot> {
        if link.transport != self.index {
            return None;
        }
        self.slots.get_mut(usize::try_from(link.slot).ok()?)?.as_mut()
    }

    fn take(&mut self, link: LinkId) -> Option<Slot> {
        if link.transport != self.index {
            return None;
        }
        self.slots.get_mut(usize::try_from(link.slot).ok()?)?.take()
    }

    /// Translates the endpoint's events into link events, queued.
    fn take_endpoint_events(&mut self) {
        while let Some((rtc, event)) = self.endpoint.poll_event() {
            let index = rtc.slot() as usize;
            let Some(slot) = self.slots.get(index).copied().flatten() else { continue };
            if slot.rtc != rtc {
                continue;
            }
            let link = self.link(index);
            match event {
                webrtc::LinkEvent::Connected if slot.in_session => {
                    self.queue.push_back(LinkEvent::Up { link, assigned_id: None });
                }
                webrtc::LinkEvent::Packet(packet) if slot.in_session => {
                    let lane = Lane::User { channel: packet.channel, mode: packet.mode };
                    self.queue.push_back(LinkEvent::Received {
                        link,
                        lane,
                        payload: packet.payload,
                    });
                }
                webrtc::LinkEvent::Closed(reason) => {
                    self.slots[index] = None;
                    self.end_signalling(slot.signal, CloseCode::Normal, "closed");
                    if slot.in_session {
                        let cause = match reason {
                            CloseReason::Local => DownCause::Local,
                            CloseReason::Remote | CloseReason::ChannelClosed => {
                                DownCause::Remote(0)
                            }
                            _ => DownCause::TimedOut,
                        };
                        self.queue.push_back(LinkEvent::Down { link, cause });
                    }
                }
                _ => {}
            }
        }
    }
}

impl Links for WebRtcTransport {
    /// Godot 4's SceneMultiplayer bytes, bare: WebRTC is Godot 4 only.
    fn framing(&self, _link: LinkId) -> LinkFraming {
        LinkFraming::Scene
    }

    fn send(&mut self, link: LinkId, lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError> {
        let rtc = self.rtc(link).ok_or(LinkSendError::Gone)?;
        let (channel, mode) = match lane {
            Lane::User { channel, mode } => (channel, mode),
            Lane::System => (0, TransferMode::Reliable),
        };
        self.endpoint.send(rtc, channel, mode, bytes).map_err(|error| match error {
            webrtc::LinkSendError::QueueFull => LinkSendError::QueueFull,
            webrtc::LinkSendError::Channel(_) => LinkSendError::Channel {
                highest: self.endpoint.link(rtc).map(|l| l.layout().max_user_channel()),
            },
            webrtc::LinkSendError::TooLarge { len } => {
                LinkSendError::TooLarge { len, max: MAX_MESSAGE_SIZE }
            }
            _ => LinkSendError::Gone,
        })
    }

    /// Takes the link in as `id`; a link of the signalling path is told
    /// its id (the application named the others').
    fn accept(&mut self, link: LinkId, id: PeerId) -> bool {
        let Some(slot) = self.slot_mut(link) else { return false };
        slot.in_session = true;
        slot.peer = Some(id);
        if let Some(connection) = slot.signal {
            let channels = self.endpoint.config().link.layout.custom_channels().to_vec();
            self.signal(connection, &SignalMessage::Welcome { id: id.get(), channels });
        }
        true
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        let Some(slot) = self.slot(link) else { return false };
        self.last_refusal = Some(reason);
        if let Some(connection) = slot.signal {
            self.signal(connection, &SignalMessage::Error(reason.to_string()));
            self.end_signalling(Some(connection), CloseCode::Again, "refused");
        }
        self.discard(link);
        true
    }

    /// WebRTC says goodbye the same way either way (SCTP shutdown, DTLS
    /// close); after queued, a [`LinkEvent::Down`] follows.
    fn disconnect(&mut self, link: LinkId, departure: Departure, _data: u32) -> bool {
        let Some(slot) = self.take(link) else { return false };
        self.end_signalling(slot.signal, CloseCode::Normal, "disconnected");
        self.endpoint.flush();
        self.endpoint.close_link(slot.rtc);
        if departure == Departure::AfterQueued && slot.in_session {
            self.queue.push_back(LinkEvent::Down { link, cause: DownCause::Local });
        }
        true
    }

    /// Ids are the application's; there is nothing to redial.
    fn redial(&mut self, _link: LinkId, _id: PeerId) -> Option<LinkId> {
        None
    }

    /// Received messages are str0m's allocations: nothing to pool.
    fn recycle(&mut self, _transport: u16, buffer: Vec<u8>) {
        drop(buffer);
    }
}

impl Transport for WebRtcTransport {
    fn max_frame_size(&self) -> usize {
        MAX_MESSAGE_SIZE
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.endpoint.local_addr())
    }

    fn link_address(&self, link: LinkId) -> Option<SocketAddr> {
        self.endpoint.remote_addr(self.rtc(link)?)
    }

    /// WebRTC connections keep no ENet statistics.
    fn link_stats(&self, _link: LinkId) -> Option<PeerStats> {
        None
    }

    fn register(&mut self, registry: &Registry, tokens: Tokens) -> io::Result<()> {
        registry.register(&mut self.endpoint, tokens.token(0), Interest::READABLE)?;
        if let Some(signalling) = self.signalling.as_mut() {
            let base = tokens.token(1);
            signalling.server.register(registry, base)?;
            signalling.base = Some(base);
        }
        Ok(())
    }

    fn on_ready(&mut self, readiness: &Readiness) {
        let token = readiness.token();
        match self.signalling.as_mut() {
            Some(signalling) if signalling.base.is_some() && signalling.server.handles(token) => {
                signalling.server.on_ready(token, Instant::now());
            }
            _ => self.readable |= readiness.is_readable(),
        }
    }

    fn pump(&mut self, now: Instant) -> io::Result<()> {
        if std::mem::take(&mut self.readable) {
            self.endpoint.receive(now)?;
        }
        self.endpoint.handle_timeout(now);
        self.take_endpoint_events();
        self.pump_signalling(now);
        Ok(())
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.queue.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let signalling =
            self.signalling.as_ref().and_then(|s| s.server.next_deadline(Instant::now()));
        [self.endpoint.next_timeout(), signalling].into_iter().flatten().min()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.endpoint.flush();
        if let Some(signalling) = self.signalling.as_mut() {
            signalling.server.flush();
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
