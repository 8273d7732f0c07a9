//! Transports: what a kind of link (ENet, WebSocket, WebRTC) implements to
//! join a session, and the set of them one session holds.
//!
//! A transport owns its sockets and its links' handles. It reports what
//! happens as [`LinkEvent`]s and does what the core asks through [`Links`].
//! In a multi-transport session ([`ServerSession`](super::ServerSession))
//! every transport registers its sockets with the session's one mio poll,
//! and the session pumps each in turn; see `docs/architecture.md`.

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event as Readiness;
use mio::{Registry, Token};
use volley_proto::PeerStats;

use super::link::{Departure, Lane, LinkEvent, LinkId, LinkSendError, Links};
use crate::multiplayer::PeerId;
use crate::multiplayer::framing::{LinkFraming, RefuseReason};

/// Bits of a mio token a transport numbers its own sources with; the bits
/// above name the transport.
const LOCAL_TOKEN_BITS: u32 = usize::BITS - 8;

/// The tokens of one transport in the session's poll: up to 2^24 sources on
/// 32-bit platforms, 2^56 on 64-bit, for each of up to 255 transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokens {
    transport: u16,
}

impl Tokens {
    pub(crate) fn new(transport: u16) -> Self {
        Self { transport }
    }

    /// The token of the transport's source number `local`.
    pub(crate) fn token(self, local: usize) -> Token {
        Token((usize::from(self.transport) << LOCAL_TOKEN_BITS) | local)
    }

    /// The source number of `token`, if it is one of this transport's.
    #[cfg_attr(not(test), expect(dead_code, reason = "for transports with a source per link"))]
    pub(crate) fn local(self, token: Token) -> Option<usize> {
        (Self::transport_of(token) == usize::from(self.transport))
            .then_some(token.0 & ((1 << LOCAL_TOKEN_BITS) - 1))
    }

    fn transport_of(token: Token) -> usize {
        token.0 >> LOCAL_TOKEN_BITS
    }
}

/// One transport of a session: a set of links of one kind, and the I/O
/// under them. The [`Links`] methods act on its links; these drive it.
///
/// `Any` lets a driver reach its own transport's kind-specific methods
/// (WebRTC signalling, say) inside a [`TransportSet`].
pub(crate) trait Transport: Links + fmt::Debug + Any {
    /// The largest packet one of its links carries, framing included.
    fn max_frame_size(&self) -> usize;

    /// The address it listens on.
    fn local_addr(&self) -> Option<SocketAddr>;

    /// The remote address of one of its links.
    fn link_address(&self, link: LinkId) -> Option<SocketAddr>;

    /// The engine statistics of one of its links, where it keeps them.
    fn link_stats(&self, link: LinkId) -> Option<PeerStats>;

    /// Registers its sources with the session's poll, numbered with
    /// `tokens` (keep a [`Registry::try_clone`] to register more later).
    fn register(&mut self, registry: &Registry, tokens: Tokens) -> io::Result<()>;

    /// One of its sources is ready (the event's token is one of its own).
    fn on_ready(&mut self, readiness: &Readiness);

    /// Does its I/O without blocking: reads what arrived, runs its timers,
    /// sends what is due. Events become available to
    /// [`poll_event`](Self::poll_event).
    fn pump(&mut self, now: Instant) -> io::Result<()>;

    /// The next event about its links.
    fn poll_event(&mut self) -> Option<LinkEvent>;

    /// When it next needs a [`pump`](Self::pump) even if nothing is ready.
    fn next_deadline(&self) -> Option<Instant>;

    /// Sends what the session queued since the last pump.
    fn flush(&mut self) -> io::Result<()>;

    /// The transport itself, for a driver that reaches for what only its
    /// kind has (a WebSocket listener's connection counters).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The transports of one session, in the order they were added; a link's
/// [`LinkId::transport`] is its transport's position here.
#[derive(Debug, Default)]
pub(crate) struct TransportSet {
    transports: Vec<Box<dyn Transport>>,
}

impl TransportSet {
    pub(crate) fn push(&mut self, transport: Box<dyn Transport>) {
        self.transports.push(transport);
    }

    pub(crate) fn len(&self) -> usize {
        self.transports.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&dyn Transport> {
        self.transports.get(index).map(|t| &**t)
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut (dyn Transport + 'static)> {
        self.transports.get_mut(index).map(|t| &mut **t)
    }

    /// Transport `index` as its concrete kind `T`, if it is one.
    pub(crate) fn get_mut_as<T: Transport>(&mut self, index: usize) -> Option<&mut T> {
        let transport: &mut dyn Any = self.transports.get_mut(index)?.as_mut();
        transport.downcast_mut()
    }

    /// Transport `index` as its concrete kind `T`, if it is one.
    pub(crate) fn get_as<T: Transport>(&self, index: usize) -> Option<&T> {
        let transport: &dyn Any = self.transports.get(index)?.as_ref();
        transport.downcast_ref()
    }

    fn of(&mut self, link: LinkId) -> Option<&mut (dyn Transport + 'static)> {
        self.get_mut(usize::from(link.transport))
    }

    /// Hands a readiness event to the transport its token belongs to.
    pub(crate) fn on_ready(&mut self, readiness: &Readiness) {
        if let Some(transport) = self.transports.get_mut(Tokens::transport_of(readiness.token())) {
            transport.on_ready(readiness);
        }
    }

    /// The earliest deadline of any transport.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.transports.iter().filter_map(|t| t.next_deadline()).min()
    }

    /// Flushes every transport; the first error is returned after all tried.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for transport in &mut self.transports {
            let flushed = transport.flush();
            if result.is_ok() {
                result = flushed;
            }
        }
        result
    }

    /// The smallest largest packet of any transport.
    pub(crate) fn max_frame_size(&self) -> usize {
        self.transports.iter().map(|t| t.max_frame_size()).min().unwrap_or(0)
    }
}

impl Links for TransportSet {
    fn framing(&self, link: LinkId) -> LinkFraming {
        // The core only names links a transport reported.
        self.get(usize::from(link.transport)).map_or(LinkFraming::Scene, |t| t.framing(link))
    }

    fn send(&mut self, link: LinkId, lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError> {
        self.of(link).ok_or(LinkSendError::Gone)?.send(link, lane, bytes)
    }

    fn accept(&mut self, link: LinkId, id: PeerId) -> bool {
        self.of(link).is_some_and(|t| t.accept(link, id))
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        self.of(link).is_some_and(|t| t.refuse(link, reason))
    }

    fn disconnect(&mut self, link: LinkId, departure: Departure, data: u32) -> bool {
        self.of(link).is_some_and(|t| t.disconnect(link, departure, data))
    }

    fn redial(&mut self, link: LinkId, id: PeerId) -> Option<LinkId> {
        self.of(link)?.redial(link, id)
    }

    fn recycle(&mut self, transport: u16, buffer: Vec<u8>) {
        if let Some(owner) = self.get_mut(usize::from(transport)) {
            owner.recycle(transport, buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_transport() {
        let (a, b) = (Tokens::new(0), Tokens::new(3));
        assert_eq!(a.token(0), Token(0));
        assert_eq!(a.local(a.token(42)), Some(42));
        assert_eq!(b.local(b.token(42)), Some(42));
        assert_eq!(a.local(b.token(42)), None);
        assert_eq!(b.local(a.token(42)), None);
        assert_eq!(Tokens::transport_of(b.token(7)), 3);
    }
}
