//! Many WebRTC links on one UDP socket: the socket, the demultiplexer, the
//! caps on negotiations, and the counters of what was dropped.
//!
//! An [`RtcEndpoint`] owns a [`HostSocket`] (batched receives and sends)
//! and every [`RtcLink`] that uses it. A received datagram goes to the link
//! that owns its source address; a STUN message from a new address goes to
//! the link whose ICE credentials it carries. Anything else — a datagram
//! that is not STUN, DTLS or RTP, one from an address no link knows, one
//! from an address the socket could never reach (a non-loopback source on
//! a loopback socket) — is dropped and counted in [`EndpointStats`],
//! without touching any link.
//!
//! The endpoint is a [`mio::event::Source`]: register it with the poll
//! that runs the rest of the session and call
//! [`receive`](RtcEndpoint::receive) on readable events,
//! [`handle_timeout`](RtcEndpoint::handle_timeout) when
//! [`next_timeout`](RtcEndpoint::next_timeout) is due, and
//! [`flush`](RtcEndpoint::flush) after sending.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use str0m::Input;
use str0m::config::DtlsCert;
use str0m::net::{Protocol, Receive};
use volley_proto::TransferMode;

use super::link::{LinkConfig, LinkEvent, LinkSendError, LinkState, RtcLink};
use super::signal::{IceCandidate, Reach, SessionDescription, SignalError};
use crate::socket::{BindError, HostSocket, RecvBatch, SendBatch, SocketConfig};

/// How an [`RtcEndpoint`] binds and what its links look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The socket.
    pub socket: SocketConfig,
    /// The address to announce as the host candidate instead of the bound
    /// one, for a server behind a 1:1 NAT or a port forward: its public
    /// address and port. `None` announces the bound address (right on a LAN
    /// and on 127.0.0.1). An unspecified bound address (`0.0.0.0`) needs it.
    pub advertised_address: Option<SocketAddr>,
    /// Every link's configuration.
    pub link: LinkConfig,
    /// Most links negotiating at once; [`RtcEndpoint::open_link`] refuses
    /// more. Default 64.
    pub max_negotiating: usize,
}

impl EndpointConfig {
    /// An endpoint bound to `bind`, with default links.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            socket: SocketConfig::new(bind),
            advertised_address: None,
            link: LinkConfig::default(),
            max_negotiating: 64,
        }
    }
}

/// Names one link of an [`RtcEndpoint`]; stale once the link is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId {
    index: u32,
    generation: u32,
}

impl LinkId {
    /// The slot number: small, and reused once the link is gone.
    pub fn slot(self) -> u32 {
        self.index
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link {}.{}", self.index, self.generation)
    }
}

/// Why [`RtcEndpoint::open_link`] opened nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenLinkError {
    /// [`EndpointConfig::max_negotiating`] links are negotiating already.
    TooManyNegotiating {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for OpenLinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyNegotiating { max } => {
                write!(f, "{max} WebRTC connections are negotiating already")
            }
        }
    }
}

impl std::error::Error for OpenLinkError {}

/// Why an [`RtcEndpoint`] could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum EndpointError {
    /// The socket could not be opened or bound.
    Bind(BindError),
    /// The bound address is unspecified (`0.0.0.0`, `::`) and no
    /// [`EndpointConfig::advertised_address`] names a reachable one.
    NoCandidateAddress(SocketAddr),
    /// The crypto backend could not make a DTLS certificate.
    Certificate,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "cannot bind the WebRTC socket: {e}"),
            Self::NoCandidateAddress(addr) => {
                write!(f, "{addr} is not an address a browser can reach; set an advertised address")
            }
            Self::Certificate => f.write_str("cannot make a DTLS certificate"),
        }
    }
}

impl std::error::Error for EndpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            _ => None,
        }
    }
}

/// What an [`RtcEndpoint`] dropped, and why. Live links are never
/// disturbed by any of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams neither STUN nor DTLS nor RTP/RTCP.
    pub undecodable: u64,
    /// Datagrams from a source the socket could not reach (a non-loopback
    /// source on a loopback socket, another address family).
    pub unreachable_source: u64,
    /// Datagrams no link claimed: non-STUN from an unknown address, STUN
    /// with credentials no link has.
    pub unmatched: u64,
    /// Datagrams a link took but its WebRTC stack refused (bad DTLS
    /// records, stray STUN), summed over links that are gone too.
    pub refused_by_link: u64,
    /// Links refused at [`RtcEndpoint::open_link`] for the negotiation cap.
    pub negotiations_refused: u64,
    /// Links that did not connect in time.
    pub negotiations_timed_out: u64,
}

/// Sources a link is known by, at most: its nominated pair plus a few
/// that ICE tried; older ones are forgotten (a STUN check finds them again).
const MAX_SOURCES_PER_LINK: usize = 4;

#[derive(Debug)]
struct Slot {
    generation: u32,
    link: Option<Box<RtcLink>>,
    sources: Vec<SocketAddr>,
}

/// Many [`RtcLink`]s on one UDP socket; see the [module docs](crate::webrtc).
pub struct RtcEndpoint {
    socket: HostSocket,
    config: EndpointConfig,
    /// The host candidate's address: advertised, or the bound one.
    candidate: SocketAddr,
    reach: Reach,
    cert: DtlsCert,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_source: HashMap<SocketAddr, LinkId>,
    events: VecDeque<(LinkId, LinkEvent)>,
    incoming: RecvBatch,
    outgoing: SendBatch,
    stats: EndpointStats,
}

impl fmt::Debug for RtcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtcEndpoint")
            .field("local_addr", &self.socket.local_addr())
            .field("candidate", &self.candidate)
            .field("links", &self.link_count())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl RtcEndpoint {
    /// Binds the socket and makes the DTLS certificate all links share.
    ///
    /// # Errors
    ///
    /// An [`EndpointError`].
    pub fn bind(config: EndpointConfig) -> Result<Self, EndpointError> {
        let socket = HostSocket::bind(&config.socket).map_err(EndpointError::Bind)?;
        let local = socket.local_addr();
        let candidate = config.advertised_address.unwrap_or(local);
        if candidate.ip().is_unspecified() || candidate.port() == 0 {
            return Err(EndpointError::NoCandidateAddress(candidate));
        }
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .ok_or(EndpointError::Certificate)?;
        Ok(Self {
            // Sources are judged by the announced address's scope: a
            // loopback server hears loopback clients only, a public one
            // everybody of its family.
            reach: Reach::of([candidate]),
            socket,
            config,
            candidate,
            cert,
            slots: Vec::new(),
            free: Vec::new(),
            by_source: HashMap::new(),
            events: VecDeque::new(),
            incoming: RecvBatch::default(),
            outgoing: SendBatch::default(),
            stats: EndpointStats::default(),
        })
    }

    /// The socket's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    /// How the endpoint was set up.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The address announced in host candidates.
    pub fn candidate_addr(&self) -> SocketAddr {
        self.candidate
    }

    /// What was dropped so far.
    pub fn stats(&self) -> EndpointStats {
        let mut stats = self.stats;
        stats.refused_by_link +=
            self.live_links().map(|l| l.stats().datagrams_refused).sum::<u64>();
        stats
    }

    /// The socket's own totals.
    pub fn socket_stats(&self) -> crate::socket::SocketStats {
        self.socket.stats()
    }

    /// How many links exist (negotiating or connected).
    pub fn link_count(&self) -> usize {
        self.live_links().count()
    }

    /// How many links are negotiating.
    pub fn negotiating_count(&self) -> usize {
        self.live_links().filter(|l| l.state() == LinkState::Negotiating).count()
    }

    fn live_links(&self) -> impl Iterator<Item = &RtcLink> {
        self.slots.iter().filter_map(|slot| slot.link.as_deref())
    }

    /// Creates a link, negotiating until it connects or its time runs out.
    ///
    /// # Errors
    ///
    /// [`OpenLinkError::TooManyNegotiating`] at the cap.
    pub fn open_link(&mut self, now: Instant) -> Result<LinkId, OpenLinkError> {
        if self.negotiating_count() >= self.config.max_negotiating {
            self.stats.negotiations_refused += 1;
            return Err(OpenLinkError::TooManyNegotiating { max: self.config.max_negotiating });
        }
        let link = RtcLink::new(&self.config.link, Some(self.cert.clone()), &[self.candidate], now);
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot { generation: 0, link: None, sources: Vec::new() });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 links")
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.link = Some(Box::new(link));
        Ok(LinkId { index, generation: slot.generation })
    }

    /// The id of the link in `slot`, while one is there.
    pub fn link_id(&self, slot: u32) -> Option<LinkId> {
        let entry = self.slots.get(slot as usize)?;
        entry.link.as_ref()?;
        Some(LinkId { index: slot, generation: entry.generation })
    }

    /// The link `id`, while it exists.
    pub fn link(&self, id: LinkId) -> Option<&RtcLink> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.link.as_deref()
    }

    /// The address link `id` last heard from (its nominated path, once ICE
    /// has one).
    pub fn remote_addr(&self, id: LinkId) -> Option<SocketAddr> {
        self.link(id)?;
        self.slots[id.index as usize].sources.last().copied()
    }

    /// Runs `f` on link `id` with a transmit function that feeds the socket.
    fn with_link<T>(
        &mut self,
        id: LinkId,
        f: impl FnOnce(&mut RtcLink, &mut dyn FnMut(SocketAddr, SocketAddr, &[u8])) -> T,
    ) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let link = slot.link.as_deref_mut()?;
        let (socket, outgoing) = (&mut self.socket, &mut self.outgoing);
        let result = f(link, &mut |_, to, bytes| queue(socket, outgoing, to, bytes));
        self.collect(id);
        Some(result)
    }

    /// Starts negotiating from this end: the offer to signal.
    ///
    /// # Errors
    ///
    /// As [`RtcLink::create_offer`]; [`SignalError::NotNegotiating`] for a
    /// link that is gone.
    pub fn create_offer(&mut self, id: LinkId) -> Result<SessionDescription, SignalError> {
        self.with_link(id, |link, out| link.create_offer(out))
            .unwrap_or(Err(SignalError::NotNegotiating))
    }

    /// Takes the other end's description; an offer returns the answer.
    ///
    /// # Errors
    ///
    /// As [`RtcLink::set_remote_description`]; [`SignalError::NotNegotiating`]
    /// for a link that is gone.
    pub fn set_remote_description(
        &mut self,
        id: LinkId,
        description: &SessionDescription,
    ) -> Result<Option<SessionDescription>, SignalError> {
        self.with_link(id, |link, out| link.set_remote_description(description, out))
            .unwrap_or(Err(SignalError::NotNegotiating))
    }

    /// Adds a trickled remote candidate.
    ///
    /// # Errors
    ///
    /// As [`RtcLink::add_remote_candidate`]; [`SignalError::NotNegotiating`]
    /// for a link that is gone.
    pub fn add_remote_candidate(
        &mut self,
        id: LinkId,
        candidate: &IceCandidate,
    ) -> Result<(), SignalError> {
        self.with_link(id, |link, _| link.add_remote_candidate(candidate))
            .unwrap_or(Err(SignalError::NotNegotiating))
    }

    /// The local candidates of link `id`, to signal.
    pub fn local_candidates(&self, id: LinkId) -> Vec<IceCandidate> {
        self.link(id).map(|link| link.local_candidates().collect()).unwrap_or_default()
    }

    /// Queues a message on link `id`; it leaves at the next
    /// [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// As [`RtcLink::send`]; [`LinkSendError::NotConnected`] for a link
    /// that is gone.
    pub fn send(
        &mut self,
        id: LinkId,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), LinkSendError> {
        let slot = self.slots.get_mut(id.index as usize).ok_or(LinkSendError::NotConnected)?;
        match slot.link.as_deref_mut() {
            Some(link) if slot.generation == id.generation => link.send(channel, mode, payload),
            _ => Err(LinkSendError::NotConnected),
        }
    }

    /// Bytes queued on link `id` and not yet acknowledged; 0 for a link
    /// that is gone.
    pub fn buffered_amount(&mut self, id: LinkId) -> usize {
        self.with_link(id, |link, _| link.buffered_amount()).unwrap_or(0)
    }

    /// Closes link `id` (a goodbye goes out to the other end); no event
    /// follows. Does nothing for a link that is gone.
    pub fn close_link(&mut self, id: LinkId) {
        if self.with_link(id, |link, out| link.close(out)).is_some() {
            self.remove(id);
        }
    }

    /// Reads every waiting datagram and hands each to its link.
    ///
    /// # Errors
    ///
    /// A receive error other than would-block.
    pub fn receive(&mut self, now: Instant) -> io::Result<()> {
        while self.socket.recv_batch(&mut self.incoming)? > 0 {
            for index in 0..self.incoming.len() {
                let Some((source, bytes)) = self.incoming.get(index) else { break };
                let routed = route(
                    &mut self.slots,
                    &mut self.by_source,
                    &mut self.stats,
                    self.reach,
                    self.candidate,
                    now,
                    source,
                    bytes,
                    &mut |to, payload| queue(&mut self.socket, &mut self.outgoing, to, payload),
                );
                if let Some(id) = routed {
                    self.collect(id);
                }
            }
            if !self.incoming.filled() {
                break;
            }
        }
        Ok(())
    }

    /// Runs every link's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            let Some(link) = slot.link.as_deref_mut() else { continue };
            if link.next_timeout().is_some_and(|at| at <= now) {
                let (socket, outgoing) = (&mut self.socket, &mut self.outgoing);
                link.handle_timeout(now, &mut |_, to, bytes| queue(socket, outgoing, to, bytes));
                let id = LinkId { index: index as u32, generation: slot.generation };
                self.collect(id);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.live_links().filter_map(RtcLink::next_timeout).min()
    }

    /// Transmits what the links have queued, and sends the batch.
    pub fn flush(&mut self) {
        for slot in &mut self.slots {
            if let Some(link) = slot.link.as_deref_mut() {
                let (socket, outgoing) = (&mut self.socket, &mut self.outgoing);
                link.flush(&mut |_, to, bytes| queue(socket, outgoing, to, bytes));
            }
        }
        self.socket.send_batch(&mut self.outgoing);
    }

    /// Whether datagrams wait for the socket to become writable.
    pub fn has_unsent(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Takes the oldest event of any link. A [`LinkEvent::Closed`] is the
    /// link's last; its id is stale afterwards.
    pub fn poll_event(&mut self) -> Option<(LinkId, LinkEvent)> {
        self.events.pop_front()
    }

    /// Moves link `id`'s events to the endpoint's queue; a closed link is
    /// removed.
    fn collect(&mut self, id: LinkId) {
        let Some(link) = self.slots[id.index as usize].link.as_deref_mut() else { return };
        let mut closed = false;
        while let Some(event) = link.poll_event() {
            if let LinkEvent::Closed(reason) = event {
                closed = true;
                if reason == super::CloseReason::NegotiationTimeout {
                    self.stats.negotiations_timed_out += 1;
                }
            }
            self.events.push_back((id, event));
        }
        if closed || matches!(link.state(), LinkState::Closed(_)) {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: LinkId) {
        let slot = &mut self.slots[id.index as usize];
        if let Some(link) = slot.link.take() {
            self.stats.refused_by_link += link.stats().datagrams_refused;
            for source in slot.sources.drain(..) {
                self.by_source.remove(&source);
            }
            self.free.push(id.index);
        }
    }
}

/// Queues a datagram, sending the batch first when it is full.
fn queue(socket: &mut HostSocket, outgoing: &mut SendBatch, to: SocketAddr, bytes: &[u8]) {
    if outgoing.len() == outgoing.capacity() {
        socket.send_batch(outgoing);
    }
    // Still full (the socket would block) or oversize: dropped, as UDP
    // may; SCTP and ICE resend what matters.
    let _ = outgoing.push(to, bytes);
}

/// Finds the link a datagram belongs to and feeds it; returns the link.
#[allow(clippy::too_many_arguments)]
fn route(
    slots: &mut [Slot],
    by_source: &mut HashMap<SocketAddr, LinkId>,
    stats: &mut EndpointStats,
    reach: Reach,
    destination: SocketAddr,
    now: Instant,
    source: SocketAddr,
    bytes: &[u8],
    transmit: &mut dyn FnMut(SocketAddr, &[u8]),
) -> Option<LinkId> {
    if !reach.reaches(source) {
        stats.unreachable_source += 1;
        return None;
    }
    let Ok(receive) = Receive::new(Protocol::Udp, source, destination, bytes) else {
        stats.undecodable += 1;
        return None;
    };
    let input = Input::Receive(now, receive);
    let known = by_source.get(&source).copied().filter(|id| {
        let slot = &slots[id.index as usize];
        slot.generation == id.generation && slot.link.as_ref().is_some_and(|l| l.accepts(&input))
    });
    let id = known.or_else(|| {
        slots.iter().enumerate().find_map(|(index, slot)| {
            let link = slot.link.as_ref()?;
            link.accepts(&input)
                .then_some(LinkId { index: index as u32, generation: slot.generation })
        })
    });
    let Some(id) = id else {
        stats.unmatched += 1;
        return None;
    };
    let slot = &mut slots[id.index as usize];
    let link = slot.link.as_deref_mut()?;
    let Input::Receive(now, receive) = input else { return None };
    link.handle_receive(now, receive, &mut |_, to, payload| transmit(to, payload));
    if known.is_none() && !slot.sources.contains(&source) {
        if slot.sources.len() == MAX_SOURCES_PER_LINK {
            let forgotten = slot.sources.remove(0);
            by_source.remove(&forgotten);
        }
        slot.sources.push(source);
        by_source.insert(source, id);
    }
    Some(id)
}

impl Source for RtcEndpoint {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.socket.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.socket.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.socket.deregister(registry)
    }
}
