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

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::Interest;
use mio::Registry;
use mio::event::Event as Readiness;
use volley_proto::{PeerStats, TransferMode};

use crate::multiplayer::PeerId;
use crate::multiplayer::framing::{LinkFraming, RefuseReason};
use crate::multiplayer::session::link::{
    Departure, DownCause, IdClaim, Lane, LinkEvent, LinkId, LinkSendError, Links,
};
use crate::multiplayer::session::transport::{Tokens, Transport};
use crate::webrtc::{
    self, CloseReason, EndpointConfig, EndpointError, IceCandidate, MAX_MESSAGE_SIZE,
    OpenLinkError, RtcEndpoint, SessionDescription, SignalError,
};

/// One WebRTC connection the transport holds for the session.
#[derive(Debug, Clone, Copy)]
struct Slot {
    rtc: webrtc::LinkId,
    /// The remote's id, as the application named it.
    peer: PeerId,
    /// Reported to the core (accepted or dialled).
    in_session: bool,
}

/// An [`RtcEndpoint`] whose links are a session's links; a link's slot is
/// its endpoint slot.
#[derive(Debug)]
pub(crate) struct WebRtcTransport {
    index: u16,
    endpoint: RtcEndpoint,
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
            slots: Vec::new(),
            queue: VecDeque::new(),
            last_refusal: None,
            // Read once at the start, whatever the poll says.
            readable: true,
        })
    }

    pub(crate) fn endpoint(&self) -> &RtcEndpoint {
        &self.endpoint
    }

    /// Opens a connection to the remote `peer`, not yet in the session.
    pub(crate) fn open_link(&mut self, peer: PeerId) -> Result<LinkId, OpenLinkError> {
        let rtc = self.endpoint.open_link(Instant::now())?;
        let index = rtc.slot() as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        self.slots[index] = Some(Slot { rtc, peer, in_session: false });
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
        let index = self.slots.iter().position(|s| s.is_some_and(|s| s.peer == peer))?;
        Some(self.link(index))
    }

    /// The ids of every remote with a connection, joining or connected.
    pub(crate) fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.slots.iter().flatten().map(|slot| slot.peer)
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

    /// The id is the application's: nothing to tell the remote.
    fn accept(&mut self, link: LinkId, _id: PeerId) -> bool {
        self.slot_mut(link).map(|slot| slot.in_session = true).is_some()
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        let known = self.slot(link).is_some();
        self.last_refusal = Some(reason);
        self.discard(link);
        known
    }

    /// WebRTC says goodbye the same way either way (SCTP shutdown, DTLS
    /// close); after queued, a [`LinkEvent::Down`] follows.
    fn disconnect(&mut self, link: LinkId, departure: Departure, _data: u32) -> bool {
        let Some(slot) = self.take(link) else { return false };
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
        registry.register(&mut self.endpoint, tokens.token(0), Interest::READABLE)
    }

    fn on_ready(&mut self, readiness: &Readiness) {
        self.readable |= readiness.is_readable();
    }

    fn pump(&mut self, now: Instant) -> io::Result<()> {
        if std::mem::take(&mut self.readable) {
            self.endpoint.receive(now)?;
        }
        self.endpoint.handle_timeout(now);
        self.take_endpoint_events();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.queue.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.endpoint.next_timeout()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.endpoint.flush();
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
