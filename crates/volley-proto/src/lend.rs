//! Lending receive: payloads handed to the application straight out of the
//! caller's receive buffer, with no copy and no buffer to give back.
//!
//! [`Endpoint::handle_datagram`] copies every payload into a pooled buffer,
//! because its events outlive the datagram. A [`Lend`] scope instead keeps
//! the datagrams it was given borrowed until its events are taken: a message
//! that fits in one datagram and can be delivered the moment it arrives (the
//! common case: in order, not fragmented, not compressed) is only a range of
//! one of them. Messages that must wait (out of order, fragmented) are
//! copied as before, and lent from the endpoint's buffer, which goes back to
//! its pool by itself. Events left untaken when the scope ends are copied
//! into owned buffers for [`Endpoint::poll_event`].

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Instant;

use crate::channel::{delivered_charge, lent_charge};
use crate::endpoint::Endpoint;
use crate::error::{PeerError, SendError};
use crate::event::{Event, LentEvent};
use crate::mode::TransferMode;
use crate::peer::PeerHandle;

/// Most datagrams one [`Lend`] keeps borrowed; further ones are handled as
/// [`Endpoint::handle_datagram`] does (payloads copied). As many as one
/// receive system call of the host reads by default; a scope is made per
/// receive, so its table is kept small (it is zeroed each time).
pub const MAX_LENT_DATAGRAMS: usize = 32;

/// How a queued event holds its payload.
#[derive(Debug)]
pub(crate) enum Payload {
    /// A buffer of the endpoint's pool.
    Owned(Vec<u8>),
    /// `len` bytes at `start` of the `datagram`-th datagram of the live [`Lend`].
    Lent { datagram: u8, start: u32, len: u32 },
}

impl Payload {
    /// What it is charged as waiting data until taken.
    pub(crate) fn charge(&self) -> usize {
        match self {
            Self::Owned(bytes) => delivered_charge(bytes),
            Self::Lent { len, .. } => lent_charge(*len as usize),
        }
    }
}

/// The datagram being handled inside a [`Lend`]: which one, and where its
/// bytes lie, so that a command's data can be recorded as a range of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LendSource {
    pub(crate) datagram: u8,
    /// Address of its first byte (compared, never dereferenced).
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl LendSource {
    /// `data` as a lent payload, if it lies inside this datagram (a
    /// decompressed body, say, does not).
    pub(crate) fn payload(&self, data: &[u8]) -> Option<Payload> {
        let offset = (data.as_ptr() as usize).checked_sub(self.start)?;
        (offset + data.len() <= self.len).then_some(Payload::Lent {
            datagram: self.datagram,
            start: offset as u32,
            len: data.len() as u32,
        })
    }
}

/// A receive scope that lends payloads out of the datagrams it is given.
///
/// Made by [`Endpoint::lend`]. Hand it received datagrams with
/// [`handle_datagram`](Self::handle_datagram) (they stay borrowed for the
/// scope's life), then take the events with
/// [`next_event`](Self::next_event): each comes with an [`Outbox`] to answer
/// through while its payload is still borrowed. Events not taken when the
/// scope ends are copied and wait for [`Endpoint::poll_event`].
///
/// # Examples
///
/// A server echoing what arrives, without copying it out of the datagram:
///
/// ```
/// use std::time::Instant;
/// use volley_proto::{Endpoint, EndpointConfig, Event, TransferMode, TRANSMIT_BUFFER_SIZE};
///
/// let now = Instant::now();
/// let (server_addr, client_addr) =
///     ("127.0.0.1:7000".parse().unwrap(), "127.0.0.1:7001".parse().unwrap());
/// let mut server = Endpoint::new(EndpointConfig::default())?;
/// let mut client = Endpoint::new(EndpointConfig::default())?;
/// let peer = client.connect(now, server_addr, 1, 0)?;
/// let mut buf = vec![0u8; TRANSMIT_BUFFER_SIZE];
/// for _ in 0..4 {
///     while let Some(t) = client.poll_transmit(now, &mut buf) {
///         server.handle_datagram(now, client_addr, &buf[t.range]);
///     }
///     while let Some(t) = server.poll_transmit(now, &mut buf) {
///         client.handle_datagram(now, server_addr, &buf[t.range]);
///     }
/// }
/// while server.poll_event().is_some() {} // Connected
/// client.send(peer, 0, TransferMode::Reliable, b"hello")?;
///
/// // The received datagram stays where it is; the payload is a slice of it.
/// let t = client.poll_transmit(now, &mut buf).expect("a datagram");
/// let datagram = &buf[t.range];
/// let mut lend = server.lend();
/// lend.handle_datagram(now, client_addr, datagram);
/// while let Some((event, mut outbox)) = lend.next_event() {
///     if let Event::Received { peer, channel, mode, payload } = event {
///         assert_eq!(payload, b"hello");
///         outbox.send(peer, channel, mode, payload)?; // the echo
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lend<'e, 'd> {
    endpoint: &'e mut Endpoint,
    datagrams: [Option<&'d [u8]>; MAX_LENT_DATAGRAMS],
    count: usize,
    /// The owned payload of the event taken last, given back at the next.
    current: Option<Vec<u8>>,
}

impl std::fmt::Debug for Lend<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lend").field("datagrams", &self.count).finish_non_exhaustive()
    }
}

impl<'e, 'd> Lend<'e, 'd> {
    #[inline]
    pub(crate) fn new(endpoint: &'e mut Endpoint) -> Self {
        Self { endpoint, datagrams: [None; MAX_LENT_DATAGRAMS], count: 0, current: None }
    }

    /// Processes one received datagram as
    /// [`Endpoint::handle_datagram`] does, keeping it borrowed so that the
    /// payloads it delivers at once are lent, not copied (after
    /// [`MAX_LENT_DATAGRAMS`] datagrams, payloads are copied).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &'d [u8]) {
        let Some(slot) = self.datagrams.get_mut(self.count) else {
            self.endpoint.handle_datagram(now, from, bytes);
            return;
        };
        *slot = Some(bytes);
        let source = LendSource {
            datagram: self.count as u8,
            start: bytes.as_ptr() as usize,
            len: bytes.len(),
        };
        self.count += 1;
        self.endpoint.handle_datagram_lending(now, from, bytes, source);
    }

    /// The next event, with an [`Outbox`] to send, disconnect or inspect
    /// peers through while its payload is borrowed. Events come out in the
    /// order [`Endpoint::poll_event`] would give them, those queued before
    /// the scope first.
    pub fn next_event(&mut self) -> Option<(LentEvent<'_>, Outbox<'_>)> {
        let Self { endpoint, datagrams, current, .. } = self;
        if let Some(buffer) = current.take() {
            endpoint.recycle(buffer);
        }
        let event = endpoint.take_event()?;
        let event = match event {
            Event::Received { peer, channel, mode, payload } => {
                let payload: &[u8] = match payload {
                    Payload::Owned(buffer) => current.insert(buffer),
                    Payload::Lent { datagram, start, len } => {
                        let (start, len) = (start as usize, len as usize);
                        datagrams
                            .get(usize::from(datagram))
                            .copied()
                            .flatten()
                            .and_then(|bytes| bytes.get(start..start + len))
                            .unwrap_or_default()
                    }
                };
                Event::Received { peer, channel, mode, payload }
            }
            // No payload in the other variants.
            other => other.map_payload(|_| &[][..]),
        };
        Some((event, Outbox { endpoint }))
    }
}

impl Drop for Lend<'_, '_> {
    fn drop(&mut self) {
        if let Some(buffer) = self.current.take() {
            self.endpoint.recycle(buffer);
        }
        let datagrams = &self.datagrams;
        self.endpoint.own_lent_payloads(|datagram, range| {
            datagrams
                .get(usize::from(datagram))
                .copied()
                .flatten()
                .and_then(|bytes| bytes.get(range))
        });
    }
}

/// What can be done to the endpoint while a [`Lend`]'s event is borrowed:
/// send, disconnect, accept or refuse, and read the endpoint
/// (`Deref<Target = Endpoint>`).
#[derive(Debug)]
pub struct Outbox<'a> {
    endpoint: &'a mut Endpoint,
}

impl Deref for Outbox<'_> {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        self.endpoint
    }
}

impl Outbox<'_> {
    /// [`Endpoint::send`].
    pub fn send(
        &mut self,
        peer: PeerHandle,
        channel: u8,
        mode: TransferMode,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.endpoint.send(peer, channel, mode, payload)
    }

    /// [`Endpoint::broadcast`].
    pub fn broadcast(&mut self, channel: u8, mode: TransferMode, payload: &[u8]) -> usize {
        self.endpoint.broadcast(channel, mode, payload)
    }

    /// [`Endpoint::disconnect`].
    pub fn disconnect(
        &mut self,
        now: Instant,
        peer: PeerHandle,
        data: u32,
    ) -> Result<(), PeerError> {
        self.endpoint.disconnect(now, peer, data)
    }

    /// [`Endpoint::disconnect_later`].
    pub fn disconnect_later(
        &mut self,
        now: Instant,
        peer: PeerHandle,
        data: u32,
    ) -> Result<(), PeerError> {
        self.endpoint.disconnect_later(now, peer, data)
    }

    /// [`Endpoint::disconnect_now`].
    pub fn disconnect_now(&mut self, peer: PeerHandle, data: u32) -> Result<(), PeerError> {
        self.endpoint.disconnect_now(peer, data)
    }

    /// [`Endpoint::reset`].
    pub fn reset(&mut self, peer: PeerHandle) -> Result<(), PeerError> {
        self.endpoint.reset(peer)
    }

    /// [`Endpoint::accept`].
    pub fn accept(&mut self, peer: PeerHandle) -> Result<(), PeerError> {
        self.endpoint.accept(peer)
    }

    /// [`Endpoint::refuse`].
    pub fn refuse(&mut self, peer: PeerHandle, reason: u32) -> Result<(), PeerError> {
        self.endpoint.refuse(peer, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointConfig;
    use crate::endpoint::TRANSMIT_BUFFER_SIZE;

    const SERVER: &str = "127.0.0.1:7000";
    const CLIENT: &str = "127.0.0.1:7001";

    struct Pair {
        client: Endpoint,
        server: Endpoint,
        peer: PeerHandle,
        now: Instant,
    }

    fn pair() -> Pair {
        let now = Instant::now();
        let mut server = Endpoint::with_seed(EndpointConfig::default(), 1).unwrap();
        let mut client = Endpoint::with_seed(EndpointConfig::default(), 2).unwrap();
        let peer = client.connect(now, SERVER.parse().unwrap(), 2, 0).unwrap();
        let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
        for _ in 0..4 {
            while let Some(t) = client.poll_transmit(now, &mut buf) {
                server.handle_datagram(now, CLIENT.parse().unwrap(), &buf[t.range]);
            }
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                client.handle_datagram(now, SERVER.parse().unwrap(), &buf[t.range]);
            }
        }
        assert!(matches!(server.poll_event(), Some(Event::Connected { .. })));
        assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
        Pair { client, server, peer, now }
    }

    /// The client's datagrams for what it has queued, one buffer each.
    fn datagrams(p: &mut Pair) -> Vec<Vec<u8>> {
        let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
        std::iter::from_fn(|| {
            p.client.poll_transmit(p.now, &mut buf).map(|t| buf[t.range].to_vec())
        })
        .collect()
    }

    fn inside(payload: &[u8], datagram: &[u8]) -> bool {
        let range = datagram.as_ptr_range();
        range.contains(&payload.as_ptr()) && payload.as_ptr_range().end <= range.end
    }

    #[test]
    fn in_order_payloads_are_slices_of_their_datagram() {
        let mut p = pair();
        for (mode, text) in [
            (TransferMode::Reliable, &b"reliable"[..]),
            (TransferMode::UnreliableOrdered, b"sequenced"),
            (TransferMode::Unreliable, b"unsequenced"),
        ] {
            p.client.send(p.peer, 1, mode, text).unwrap();
        }
        let sent = datagrams(&mut p);
        assert_eq!(sent.len(), 1);
        let mut lend = p.server.lend();
        lend.handle_datagram(p.now, CLIENT.parse().unwrap(), &sent[0]);
        let mut got = Vec::new();
        while let Some((event, _)) = lend.next_event() {
            let Event::Received { payload, mode, channel, .. } = event else { panic!() };
            assert!(inside(payload, &sent[0]), "{mode:?} was copied");
            got.push((mode, channel, payload.to_vec()));
        }
        assert_eq!(
            got,
            [
                (TransferMode::Reliable, 1, b"reliable".to_vec()),
                (TransferMode::UnreliableOrdered, 1, b"sequenced".to_vec()),
                (TransferMode::Unreliable, 1, b"unsequenced".to_vec()),
            ]
        );
        drop(lend);
        assert_eq!(p.server.waiting_data(), 0);
    }

    #[test]
    fn waiting_and_fragmented_packets_are_lent_from_owned_buffers_in_order() {
        let mut p = pair();
        p.client.send(p.peer, 0, TransferMode::Reliable, b"first").unwrap();
        let first = datagrams(&mut p);
        let big = vec![7u8; 3000];
        p.client.send(p.peer, 0, TransferMode::Reliable, &big).unwrap();
        p.client.send(p.peer, 0, TransferMode::Reliable, b"last").unwrap();
        let rest = datagrams(&mut p);
        assert!(rest.len() >= 3);
        let mut lend = p.server.lend();
        // Everything after the first arrives first: it must wait, copied.
        for datagram in &rest {
            lend.handle_datagram(p.now, CLIENT.parse().unwrap(), datagram);
        }
        assert!(lend.next_event().is_none());
        lend.handle_datagram(p.now, CLIENT.parse().unwrap(), &first[0]);
        let mut got = Vec::new();
        while let Some((event, _)) = lend.next_event() {
            let Event::Received { payload, .. } = event else { panic!() };
            got.push(payload.to_vec());
        }
        assert_eq!(got, [b"first".to_vec(), big, b"last".to_vec()]);
    }

    #[test]
    fn events_not_taken_are_copied_when_the_scope_ends() {
        let mut p = pair();
        p.client.send(p.peer, 0, TransferMode::Reliable, b"one").unwrap();
        p.client.send(p.peer, 0, TransferMode::Unreliable, b"two").unwrap();
        let sent = datagrams(&mut p);
        let mut received = sent.clone();
        {
            let mut lend = p.server.lend();
            lend.handle_datagram(p.now, CLIENT.parse().unwrap(), &received[0]);
            let (event, _) = lend.next_event().unwrap();
            assert!(matches!(event, Event::Received { payload: b"one", .. }));
        }
        received[0].fill(0); // the receive buffer is reused
        match p.server.poll_event() {
            Some(Event::Received { payload, .. }) => assert_eq!(payload, b"two"),
            other => panic!("{other:?}"),
        }
        assert!(p.server.poll_event().is_none());
        assert_eq!(p.server.waiting_data(), 0);
    }

    #[test]
    fn events_queued_before_the_scope_come_first_and_the_outbox_answers() {
        let mut p = pair();
        p.client.send(p.peer, 0, TransferMode::Reliable, b"early").unwrap();
        let early = datagrams(&mut p);
        p.server.handle_datagram(p.now, CLIENT.parse().unwrap(), &early[0]);
        p.client.send(p.peer, 0, TransferMode::Reliable, b"late").unwrap();
        let late = datagrams(&mut p);
        let mut lend = p.server.lend();
        lend.handle_datagram(p.now, CLIENT.parse().unwrap(), &late[0]);
        let mut got = Vec::new();
        while let Some((event, mut outbox)) = lend.next_event() {
            let Event::Received { peer, payload, .. } = event else { panic!() };
            outbox.send(peer, 0, TransferMode::Reliable, payload).unwrap();
            assert!(outbox.peer_state(peer).is_some());
            got.push(payload.to_vec());
        }
        assert_eq!(got, [b"early".to_vec(), b"late".to_vec()]);
        drop(lend);
        let mut buf = vec![0; TRANSMIT_BUFFER_SIZE];
        while let Some(t) = p.server.poll_transmit(p.now, &mut buf) {
            p.client.handle_datagram(p.now, SERVER.parse().unwrap(), &buf[t.range]);
        }
        let echoes: Vec<_> = std::iter::from_fn(|| p.client.poll_event()).collect();
        assert_eq!(echoes.len(), 2, "{echoes:?}");
    }

    #[test]
    fn past_the_limit_datagrams_are_handled_with_copies() {
        let mut p = pair();
        let mut all = Vec::new();
        for i in 0..MAX_LENT_DATAGRAMS + 2 {
            p.client.send(p.peer, 0, TransferMode::Unreliable, &[i as u8; 4]).unwrap();
            all.extend(datagrams(&mut p));
        }
        let mut lend = p.server.lend();
        for datagram in &all {
            lend.handle_datagram(p.now, CLIENT.parse().unwrap(), datagram);
        }
        let mut count = 0;
        while let Some((event, _)) = lend.next_event() {
            let Event::Received { payload, .. } = event else { panic!() };
            assert_eq!(payload, [count as u8; 4]);
            assert_eq!(inside(payload, &all[count]), count < MAX_LENT_DATAGRAMS);
            count += 1;
        }
        assert_eq!(count, MAX_LENT_DATAGRAMS + 2);
    }
}
