//! One WebRTC connection: a str0m [`Rtc`] with Godot's data channels,
//! driven sans-IO.
//!
//! An [`RtcLink`] never touches a socket or the clock. The caller feeds it
//! datagrams ([`handle_receive`](RtcLink::handle_receive)) and time
//! ([`handle_timeout`](RtcLink::handle_timeout)), and every call that can
//! produce datagrams takes a `transmit(source, destination, bytes)`
//! function. Between calls the link says when it next needs time
//! ([`next_timeout`](RtcLink::next_timeout)) and queues [`LinkEvent`]s.
//!
//! The link counts as connected, as Godot's peer does, once ICE and DTLS
//! are up **and** every data channel of its [`ChannelLayout`] is open; a
//! channel closing afterwards ends it. Negotiation is bounded in time:
//! a link not connected within [`LinkConfig::negotiation_timeout`] closes
//! with [`CloseReason::NegotiationTimeout`].

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpPendingOffer;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::config::DtlsCert;
use str0m::net::Receive;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use volley_proto::TransferMode;

use super::layout::{ChannelLayout, PartialReliability};
use super::signal::{
    IceCandidate, Reach, SdpKind, SessionDescription, SignalError, check_remote_sdp,
    parse_candidate,
};
use crate::multiplayer::framing::ChannelError;

/// Largest message a link sends: the message size every WebRTC stack must
/// accept when the other side advertises none (RFC 8841's default), so a
/// send never fails at the far end for its size.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Packets that arrive on an open channel before the link counts as
/// connected are held, up to this many, and delivered right after
/// [`LinkEvent::Connected`]; more are dropped and counted.
const MAX_EARLY_PACKETS: usize = 256;

/// How a link negotiates and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The data channels; both ends must agree.
    pub layout: ChannelLayout,
    /// What "unreliable" means for what this end sends.
    pub partial_reliability: PartialReliability,
    /// Answer as an ICE-lite agent: never send connectivity checks, only
    /// answer them. Right for a server with a public or LAN address that
    /// browsers reach directly: it then sends nothing to an address that
    /// has not first sent to it.
    pub ice_lite: bool,
    /// How long a connection may take from its creation to every channel
    /// open. Default 10 s.
    pub negotiation_timeout: Duration,
    /// Most remote candidates one connection takes (in its description and
    /// trickled). Default 16.
    pub max_remote_candidates: usize,
    /// Bytes the link may hold queued for sending across its channels
    /// before a send fails with [`LinkSendError::QueueFull`]. Default 1 MiB.
    pub max_buffered_bytes: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            layout: ChannelLayout::default(),
            partial_reliability: PartialReliability::default(),
            ice_lite: false,
            negotiation_timeout: Duration::from_secs(10),
            max_remote_candidates: 16,
            max_buffered_bytes: 1024 * 1024,
        }
    }
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Descriptions, candidates, ICE, DTLS, SCTP: not every channel open yet.
    Negotiating,
    /// Every channel is open; packets flow.
    Connected,
    /// Over, for this reason.
    Closed(CloseReason),
}

/// Why a link closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`RtcLink::close`] was called.
    Local,
    /// Not connected within [`LinkConfig::negotiation_timeout`].
    NegotiationTimeout,
    /// ICE lost the path: no candidate pair worked, or consent expired.
    IceDisconnected,
    /// One of the layout's data channels closed.
    ChannelClosed,
    /// The remote end closed the connection.
    Remote,
    /// The WebRTC stack failed (a DTLS handshake failure, say).
    Failed,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Local => "closed locally",
            Self::NegotiationTimeout => "negotiation timed out",
            Self::IceDisconnected => "ICE disconnected",
            Self::ChannelClosed => "a data channel closed",
            Self::Remote => "closed by the remote end",
            Self::Failed => "the WebRTC stack failed",
        })
    }
}

/// A packet received on a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkPacket {
    /// The user channel (0 for the three reserved streams).
    pub channel: u8,
    /// The transfer mode of the stream it came on.
    pub mode: TransferMode,
    /// The message, as sent.
    pub payload: Vec<u8>,
}

/// Something that happened on a link, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkEvent {
    /// Every channel is open.
    Connected,
    /// A message arrived.
    Packet(LinkPacket),
    /// The link is over; nothing follows.
    Closed(CloseReason),
}

/// Why [`RtcLink::send`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkSendError {
    /// The link is not connected (yet, or any more).
    NotConnected,
    /// The layout has no such user channel.
    Channel(ChannelError),
    /// Longer than [`MAX_MESSAGE_SIZE`].
    TooLarge {
        /// The message's length.
        len: usize,
    },
    /// [`LinkConfig::max_buffered_bytes`] are queued already.
    QueueFull,
}

impl fmt::Display for LinkSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => f.write_str("the WebRTC link is not connected"),
            Self::Channel(e) => e.fmt(f),
            Self::TooLarge { len } => {
                write!(f, "a {len}-byte message is over the {MAX_MESSAGE_SIZE}-byte limit")
            }
            Self::QueueFull => f.write_str("the WebRTC link's send buffer is full"),
        }
    }
}

impl std::error::Error for LinkSendError {}

/// Running totals of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams handed to the WebRTC stack.
    pub datagrams_received: u64,
    /// Of those, the ones it refused (bad DTLS records, stray STUN): dropped.
    pub datagrams_refused: u64,
    /// Datagrams the stack produced.
    pub datagrams_sent: u64,
    /// Messages received on the layout's channels.
    pub messages_received: u64,
    /// Messages received on streams outside the layout: dropped.
    pub messages_off_layout: u64,
    /// Messages received before the link counted as connected, over the
    /// hold limit: dropped.
    pub early_messages_dropped: u64,
    /// Remote candidates ignored because they did not parse or were unreachable.
    pub candidates_ignored: u64,
}

/// Which end of the offer/answer exchange a link is at.
#[derive(Debug)]
enum Negotiation {
    /// Nothing exchanged yet.
    Fresh,
    /// This end offered and waits for the answer.
    Offered(SdpPendingOffer),
    /// Both descriptions are in place.
    Described,
}

/// One WebRTC connection in Godot's layout; see the [module docs](crate::webrtc).
pub struct RtcLink {
    rtc: Rtc,
    layout: ChannelLayout,
    partial: PartialReliability,
    /// str0m's channel per stream, index = stream id - 1; filled when the
    /// channels are created (at the offer or the answer).
    channels: Vec<ChannelId>,
    open: Vec<bool>,
    transport_up: bool,
    state: LinkState,
    negotiation: Negotiation,
    negotiation_deadline: Instant,
    next_timeout: Instant,
    reach: Reach,
    local_candidates: Vec<Candidate>,
    remote_candidates: usize,
    max_remote_candidates: usize,
    events: VecDeque<LinkEvent>,
    early: VecDeque<LinkPacket>,
    stats: LinkStats,
}

impl fmt::Debug for RtcLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtcLink")
            .field("state", &self.state)
            .field("open", &self.open)
            .field("transport_up", &self.transport_up)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl RtcLink {
    /// A new connection with host candidates on `local_addrs` (the bound
    /// addresses of the socket(s) that will carry it) and DTLS certificate
    /// `cert` (`None` generates one; sharing one across links saves the
    /// key generation).
    pub fn new(
        config: &LinkConfig,
        cert: Option<DtlsCert>,
        local_addrs: &[SocketAddr],
        now: Instant,
    ) -> Self {
        let mut builder = RtcConfig::new()
            .set_ice_lite(config.ice_lite)
            .set_sctp_max_buffered_amount(config.max_buffered_bytes.max(MAX_MESSAGE_SIZE));
        if let Some(cert) = cert {
            builder = builder.set_dtls_cert(cert);
        }
        let mut rtc = builder.build(now);
        let mut local_candidates = Vec::with_capacity(local_addrs.len());
        for &addr in local_addrs {
            if let Ok(candidate) = Candidate::host(addr, "udp")
                && let Some(added) = rtc.add_local_candidate(candidate)
            {
                local_candidates.push(added.clone());
            }
        }
        let streams = config.layout.stream_count();
        Self {
            rtc,
            layout: config.layout.clone(),
            partial: config.partial_reliability,
            channels: Vec::with_capacity(streams),
            open: vec![false; streams],
            transport_up: false,
            state: LinkState::Negotiating,
            negotiation: Negotiation::Fresh,
            negotiation_deadline: now + config.negotiation_timeout,
            next_timeout: now,
            reach: Reach::of(local_addrs.iter().copied()),
            local_candidates,
            remote_candidates: 0,
            max_remote_candidates: config.max_remote_candidates,
            events: VecDeque::new(),
            early: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    /// Where the link stands.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The channel layout.
    pub fn layout(&self) -> &ChannelLayout {
        &self.layout
    }

    /// Running totals.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The local host candidates, to signal to the other end (they are in
    /// the descriptions this link makes as well).
    pub fn local_candidates(&self) -> impl Iterator<Item = IceCandidate> + '_ {
        self.local_candidates.iter().map(|c| IceCandidate::new(c.to_sdp_string()))
    }

    /// Starts the negotiation from this end: creates the data channels and
    /// returns the offer to send.
    ///
    /// # Errors
    ///
    /// [`SignalError::UnexpectedDescription`] once a negotiation has begun.
    pub fn create_offer(
        &mut self,
        transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) -> Result<SessionDescription, SignalError> {
        if !matches!(self.negotiation, Negotiation::Fresh) || self.state != LinkState::Negotiating {
            return Err(SignalError::UnexpectedDescription { received: SdpKind::Offer });
        }
        let mut change = self.rtc.sdp_api();
        let ids: Vec<ChannelId> = self
            .layout
            .channel_configs(self.partial)
            .into_iter()
            .map(|config| change.add_channel_with_config(config))
            .collect();
        let (offer, pending) =
            change.apply().ok_or_else(|| SignalError::BadSdp("nothing to offer".to_owned()))?;
        self.channels = ids;
        self.negotiation = Negotiation::Offered(pending);
        self.drain(transmit);
        Ok(SessionDescription { kind: SdpKind::Offer, sdp: offer.to_sdp_string() })
    }

    /// Takes the other end's description: an offer returns the answer to
    /// send back, an answer completes this end's offer.
    ///
    /// # Errors
    ///
    /// A [`SignalError`] for a description that is too long, does not
    /// parse, lacks the data-channel section, or does not fit the state of
    /// the negotiation. A description refused before it reaches the WebRTC
    /// stack changes nothing; one the stack refuses after parsing it ends
    /// the link ([`CloseReason::Failed`]), as its state is then half set.
    pub fn set_remote_description(
        &mut self,
        description: &SessionDescription,
        transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) -> Result<Option<SessionDescription>, SignalError> {
        let unexpected = SignalError::UnexpectedDescription { received: description.kind };
        if self.state != LinkState::Negotiating {
            return Err(unexpected);
        }
        let checked = check_remote_sdp(&description.sdp, self.reach)?;
        self.stats.candidates_ignored += checked.ignored_candidates as u64;
        let candidates = self.remote_candidates + checked.candidates;
        if candidates > self.max_remote_candidates {
            return Err(SignalError::TooManyCandidates { max: self.max_remote_candidates });
        }
        let bad_sdp = |e: &dyn fmt::Display| SignalError::BadSdp(e.to_string());
        let answer = match (description.kind, &self.negotiation) {
            (SdpKind::Offer, Negotiation::Fresh) => {
                let offer = SdpOffer::from_sdp_string(&checked.sdp).map_err(|e| bad_sdp(&e))?;
                // The channels exist before SCTP starts, so a stream the
                // remote opens first finds its configuration waiting.
                let mut direct = self.rtc.direct_api();
                let ids: Vec<ChannelId> = self
                    .layout
                    .channel_configs(self.partial)
                    .into_iter()
                    .map(|config| direct.create_data_channel(config))
                    .collect();
                self.channels = ids;
                self.negotiation = Negotiation::Described;
                match self.rtc.sdp_api().accept_offer(offer) {
                    Ok(answer) => Some(SessionDescription {
                        kind: SdpKind::Answer,
                        sdp: answer.to_sdp_string(),
                    }),
                    Err(e) => return Err(self.refused(bad_sdp(&e))),
                }
            }
            (SdpKind::Answer, Negotiation::Offered(_)) => {
                let answer = SdpAnswer::from_sdp_string(&checked.sdp).map_err(|e| bad_sdp(&e))?;
                let Negotiation::Offered(pending) =
                    std::mem::replace(&mut self.negotiation, Negotiation::Described)
                else {
                    unreachable!("matched Offered above")
                };
                if let Err(e) = self.rtc.sdp_api().accept_answer(pending, answer) {
                    return Err(self.refused(bad_sdp(&e)));
                }
                None
            }
            _ => return Err(unexpected),
        };
        self.remote_candidates = candidates;
        self.drain(transmit);
        Ok(answer)
    }

    /// Adds a candidate trickled by the other end.
    ///
    /// # Errors
    ///
    /// A [`SignalError`] for a candidate that is too long, does not parse,
    /// cannot be reached from the local candidates, or is one too many, or
    /// when the link is closed. A refused candidate changes nothing.
    pub fn add_remote_candidate(&mut self, candidate: &IceCandidate) -> Result<(), SignalError> {
        if matches!(self.state, LinkState::Closed(_)) {
            return Err(SignalError::NotNegotiating);
        }
        let parsed = parse_candidate(&candidate.candidate, self.reach).inspect_err(|_| {
            self.stats.candidates_ignored += 1;
        })?;
        if self.remote_candidates >= self.max_remote_candidates {
            return Err(SignalError::TooManyCandidates { max: self.max_remote_candidates });
        }
        self.remote_candidates += 1;
        self.rtc.add_remote_candidate(parsed);
        Ok(())
    }

    /// Whether a received datagram belongs to this link: STUN for its ICE
    /// credentials, or anything from an address ICE has validated.
    pub fn accepts(&self, input: &Input<'_>) -> bool {
        !matches!(self.state, LinkState::Closed(_)) && self.rtc.accepts(input)
    }

    /// Feeds one received datagram (already classified by str0m) at `now`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        receive: Receive<'_>,
        transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        if matches!(self.state, LinkState::Closed(_)) {
            return;
        }
        self.stats.datagrams_received += 1;
        if self.rtc.handle_input(Input::Receive(now, receive)).is_err() {
            // A record that fails to decrypt, a STUN message for another
            // session: refused by the stack, the connection goes on.
            self.stats.datagrams_refused += 1;
        }
        self.drain(transmit);
        self.check_deadline(now);
    }

    /// Lets time pass: retransmissions, ICE checks and keep-alives, the
    /// negotiation deadline.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        if matches!(self.state, LinkState::Closed(_)) {
            return;
        }
        if self.rtc.handle_input(Input::Timeout(now)).is_err() {
            self.close_with(CloseReason::Failed);
            return;
        }
        self.drain(transmit);
        self.check_deadline(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            LinkState::Closed(_) => None,
            LinkState::Negotiating => Some(self.next_timeout.min(self.negotiation_deadline)),
            LinkState::Connected => Some(self.next_timeout),
        }
    }

    /// Queues `payload` on the stream of `channel` and `mode`. It leaves at
    /// the next [`flush`](Self::flush) (or any other call that transmits),
    /// so messages queued together share datagrams.
    ///
    /// # Errors
    ///
    /// A [`LinkSendError`]; nothing was queued.
    pub fn send(
        &mut self,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), LinkSendError> {
        if self.state != LinkState::Connected {
            return Err(LinkSendError::NotConnected);
        }
        if payload.len() > MAX_MESSAGE_SIZE {
            return Err(LinkSendError::TooLarge { len: payload.len() });
        }
        let stream = self.layout.send_stream(channel, mode).map_err(LinkSendError::Channel)?;
        let id = self.channels[usize::from(stream) - 1];
        let mut channel = self.rtc.channel(id).ok_or(LinkSendError::NotConnected)?;
        match channel.write(true, payload) {
            Ok(true) => Ok(()),
            Ok(false) => Err(LinkSendError::QueueFull),
            Err(_) => Err(LinkSendError::NotConnected),
        }
    }

    /// Bytes queued on the link's channels and not yet acknowledged (or
    /// abandoned): what [`send`](Self::send) may still fill up to
    /// [`LinkConfig::max_buffered_bytes`].
    pub fn buffered_amount(&mut self) -> usize {
        let mut total = 0;
        for index in 0..self.channels.len() {
            if let Some(mut channel) = self.rtc.channel(self.channels[index]) {
                total += channel.buffered_amount();
            }
        }
        total
    }

    /// Transmits what [`send`](Self::send) queued.
    pub fn flush(&mut self, transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8])) {
        if !matches!(self.state, LinkState::Closed(_)) {
            self.drain(transmit);
        }
    }

    /// Closes the connection: SCTP and DTLS say goodbye to the other end,
    /// then the link is [`LinkState::Closed`] with [`CloseReason::Local`]
    /// (no [`LinkEvent::Closed`] is queued for a local close).
    pub fn close(&mut self, transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8])) {
        if matches!(self.state, LinkState::Closed(_)) {
            return;
        }
        if self.rtc.close().is_ok() {
            self.drain(transmit);
        }
        self.rtc.disconnect();
        self.state = LinkState::Closed(CloseReason::Local);
        self.early.clear();
    }

    /// Takes the oldest queued event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn check_deadline(&mut self, now: Instant) {
        if self.state == LinkState::Negotiating && now >= self.negotiation_deadline {
            self.close_with(CloseReason::NegotiationTimeout);
        }
    }

    /// Drains str0m's output until it names its next timeout (its contract
    /// after every change), handling events on the way.
    fn drain(&mut self, transmit: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8])) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.next_timeout = at;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    self.stats.datagrams_sent += 1;
                    transmit(t.source, t.destination, &t.contents);
                }
                Ok(Output::Event(event)) => self.on_event(event),
                Err(_) => {
                    self.close_with(CloseReason::Failed);
                    return;
                }
            }
        }
        if !self.rtc.is_alive() && !matches!(self.state, LinkState::Closed(_)) {
            self.close_with(CloseReason::Remote);
        }
    }

    fn on_event(&mut self, event: Event) {
        if matches!(self.state, LinkState::Closed(_)) {
            return;
        }
        match event {
            Event::Connected => {
                self.transport_up = true;
                self.check_connected();
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.close_with(CloseReason::IceDisconnected);
            }
            Event::ChannelOpen(id, _) => {
                if let Some(index) = self.index_of(id) {
                    self.open[index] = true;
                    self.check_connected();
                }
            }
            Event::ChannelData(data) => {
                let stream = self.index_of(data.id).and_then(|i| u16::try_from(i + 1).ok());
                let Some((channel, mode)) = stream.and_then(|s| self.layout.receive(s)) else {
                    self.stats.messages_off_layout += 1;
                    return;
                };
                self.stats.messages_received += 1;
                let packet = LinkPacket { channel, mode, payload: data.data };
                if self.state == LinkState::Connected {
                    self.events.push_back(LinkEvent::Packet(packet));
                } else if self.early.len() < MAX_EARLY_PACKETS {
                    self.early.push_back(packet);
                } else {
                    self.stats.early_messages_dropped += 1;
                }
            }
            Event::ChannelClose(id) if self.index_of(id).is_some() => {
                self.close_with(CloseReason::ChannelClosed);
            }
            _ => {}
        }
    }

    fn index_of(&self, id: ChannelId) -> Option<usize> {
        self.channels.iter().position(|&c| c == id)
    }

    fn check_connected(&mut self) {
        if self.state == LinkState::Negotiating
            && self.transport_up
            && self.open.iter().all(|&open| open)
        {
            self.state = LinkState::Connected;
            self.events.push_back(LinkEvent::Connected);
            self.events.extend(self.early.drain(..).map(LinkEvent::Packet));
        }
    }

    /// Ends the link after the stack refused a description; returns `error`.
    fn refused(&mut self, error: SignalError) -> SignalError {
        self.close_with(CloseReason::Failed);
        error
    }

    fn close_with(&mut self, reason: CloseReason) {
        if matches!(self.state, LinkState::Closed(_)) {
            return;
        }
        self.rtc.disconnect();
        self.state = LinkState::Closed(reason);
        self.early.clear();
        self.events.push_back(LinkEvent::Closed(reason));
    }
}
