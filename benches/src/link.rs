//! Two endpoints joined by a perfect in-process link, driven in virtual time.
//!
//! No network model, no sockets, no real clock: datagrams go straight from
//! one endpoint's [`poll_transmit`](Endpoint::poll_transmit) into the other's
//! [`handle_datagram`](Endpoint::handle_datagram), so what is measured is the
//! engine's own work on both sides. The client sends, the server receives,
//! checks and recycles every payload, and its acknowledgements flow back.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use volley_proto::{
    Endpoint, EndpointConfig, Event, PeerHandle, SendError, TRANSMIT_BUFFER_SIZE, TransferMode,
};

/// Virtual time that passes in one [`Link::round`].
pub const ROUND: Duration = Duration::from_millis(1);

/// Rounds without any delivery after which a transfer is declared stuck.
const STALL_ROUNDS: u32 = 10_000;

/// Bytes of each message that carry its sequence stamp.
pub const STAMP_LEN: usize = 8;

/// Why a [`Link`] stopped: the engine misbehaved.
#[derive(Debug)]
pub enum LinkError {
    /// The handshake did not complete.
    Handshake,
    /// The engine refused a send.
    Send(SendError),
    /// A message arrived out of order, resized, or in the wrong mode.
    Mismatch {
        /// The stamp the server expected next.
        expected: u64,
        /// The stamp it got.
        got: u64,
        /// The length it got.
        len: usize,
        /// The mode it got.
        mode: TransferMode,
    },
    /// Nothing was delivered for many rounds while messages were outstanding.
    Stalled {
        /// Messages delivered of the batch.
        delivered: u64,
        /// Messages in the batch.
        sent: u64,
    },
    /// An event other than a delivery (a disconnection, say).
    Unexpected(Event),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake => f.write_str("the handshake did not complete"),
            Self::Send(e) => write!(f, "send refused: {e}"),
            Self::Mismatch { expected, got, len, mode } => {
                write!(f, "expected message {expected}, got {got} ({len} bytes, {mode})")
            }
            Self::Stalled { delivered, sent } => {
                write!(f, "stalled after delivering {delivered} of {sent} messages")
            }
            Self::Unexpected(e) => write!(f, "unexpected event {e:?}"),
        }
    }
}

impl std::error::Error for LinkError {}

impl From<SendError> for LinkError {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// A connected client and server over a perfect link.
///
/// # Examples
///
/// ```
/// use volley_bench::link::Link;
/// use volley_proto::TransferMode;
///
/// let mut link = Link::connected()?;
/// link.transfer(TransferMode::Reliable, 64, 100)?;
/// assert_eq!(link.delivered(), 100);
/// # Ok::<(), volley_bench::link::LinkError>(())
/// ```
pub struct Link {
    client: Endpoint,
    server: Endpoint,
    to_server: PeerHandle,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    now: Instant,
    buf: Vec<u8>,
    /// The message bytes sent (its stamp rewritten per message).
    message: Vec<u8>,
    sent: u64,
    delivered: u64,
    /// Which mode and length the messages in flight were sent with.
    expected: (TransferMode, usize),
    /// The server takes its messages through a [`volley_proto::Lend`].
    lend: bool,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("sent", &self.sent)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A client (one peer slot) and a server with default configurations,
    /// connected with one channel.
    pub fn connected() -> Result<Self, LinkError> {
        let mut client = EndpointConfig::default();
        client.peer_limit(1);
        Self::with_configs(client, EndpointConfig::default())
    }

    /// A client and a server with the given configurations, connected with one channel.
    pub fn with_configs(client: EndpointConfig, server: EndpointConfig) -> Result<Self, LinkError> {
        let mut client = Endpoint::with_seed(client, 1).map_err(|_| LinkError::Handshake)?;
        let server = Endpoint::with_seed(server, 2).map_err(|_| LinkError::Handshake)?;
        let server_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 7000));
        let client_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 7001));
        let now = Instant::now();
        let to_server = client.connect(now, server_addr, 1, 0).map_err(|_| LinkError::Handshake)?;
        let mut link = Self {
            client,
            server,
            to_server,
            client_addr,
            server_addr,
            now,
            buf: vec![0; TRANSMIT_BUFFER_SIZE],
            message: Vec::new(),
            sent: 0,
            delivered: 0,
            expected: (TransferMode::Reliable, 0),
            lend: false,
        };
        let (mut client_up, mut server_up) = (false, false);
        for _ in 0..100 {
            link.exchange()?;
            while let Some(event) = link.client.poll_event() {
                client_up |= matches!(event, Event::Connected { .. });
            }
            while let Some(event) = link.server.poll_event() {
                server_up |= matches!(event, Event::Connected { .. });
            }
            link.advance();
            if client_up && server_up {
                return Ok(link);
            }
        }
        Err(LinkError::Handshake)
    }

    /// Whether the server takes its messages lent out of each datagram
    /// ([`volley_proto::Lend`]) instead of as owned, copied buffers.
    pub fn set_lending(&mut self, lend: bool) {
        self.lend = lend;
    }

    /// Messages the server received and checked so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The client endpoint (to read its statistics).
    pub fn client(&self) -> &Endpoint {
        &self.client
    }

    /// The client's handle of the server.
    pub fn server_peer(&self) -> PeerHandle {
        self.to_server
    }

    /// Sends `count` messages of `len` bytes (at least [`STAMP_LEN`]) in
    /// `mode`, then runs rounds until the server received every one of them
    /// in order and the client holds nothing more to send or to be acknowledged.
    pub fn transfer(
        &mut self,
        mode: TransferMode,
        len: usize,
        count: u64,
    ) -> Result<(), LinkError> {
        let len = len.max(STAMP_LEN);
        if self.message.len() < len {
            self.message.resize(len, 0xA5);
        }
        self.expected = (mode, len);
        let start = self.delivered;
        for _ in 0..count {
            self.message[..STAMP_LEN].copy_from_slice(&self.sent.to_le_bytes());
            self.client.send(self.to_server, 0, mode, &self.message[..len])?;
            self.sent += 1;
        }
        let mut idle_rounds = 0;
        while self.delivered - start < count
            || self.client.peer_queued_bytes(self.to_server) != Some(0)
        {
            let before = self.delivered;
            self.round()?;
            idle_rounds = if self.delivered == before { idle_rounds + 1 } else { 0 };
            if idle_rounds > STALL_ROUNDS {
                return Err(LinkError::Stalled { delivered: self.delivered - start, sent: count });
            }
        }
        Ok(())
    }

    /// Runs rounds for `duration` of virtual time with nothing new to send
    /// (keep-alive pings, periodic throttles).
    pub fn idle(&mut self, duration: Duration) -> Result<(), LinkError> {
        let end = self.now + duration;
        while self.now < end {
            self.round()?;
        }
        Ok(())
    }

    /// One round: client datagrams to the server, server events checked,
    /// server datagrams (acknowledgements) to the client; then [`ROUND`]
    /// of virtual time passes and due timers run.
    pub fn round(&mut self) -> Result<(), LinkError> {
        self.exchange()?;
        while let Some(event) = self.server.poll_event() {
            let Event::Received { payload, mode, .. } = event else {
                return Err(LinkError::Unexpected(event));
            };
            check(&mut self.delivered, self.expected, &payload, mode)?;
            self.server.recycle(payload);
        }
        if let Some(event) = self.client.poll_event() {
            return Err(LinkError::Unexpected(event));
        }
        self.advance();
        Ok(())
    }

    /// Carries every datagram due: the client's to the server, then the
    /// server's back. When lending, the server's messages are checked as
    /// each datagram arrives (its buffer is reused for the next).
    fn exchange(&mut self) -> Result<(), LinkError> {
        while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
            if !self.lend {
                self.server.handle_datagram(self.now, self.client_addr, &self.buf[t.range]);
                continue;
            }
            let mut lend = self.server.lend();
            lend.handle_datagram(self.now, self.client_addr, &self.buf[t.range]);
            while let Some((event, _)) = lend.next_event() {
                let Event::Received { payload, mode, .. } = event else {
                    return Err(LinkError::Unexpected(event.map_payload(<[u8]>::to_vec)));
                };
                check(&mut self.delivered, self.expected, payload, mode)?;
            }
        }
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            self.client.handle_datagram(self.now, self.server_addr, &self.buf[t.range]);
        }
        Ok(())
    }

    fn advance(&mut self) {
        self.now += ROUND;
        for endpoint in [&mut self.client, &mut self.server] {
            if endpoint.poll_timeout().is_some_and(|t| t <= self.now) {
                endpoint.handle_timeout(self.now);
            }
        }
    }
}

/// A delivered payload is the next message (`delivered` counts them), whole,
/// in the mode sent (`expected`: mode and length).
fn check(
    delivered: &mut u64,
    expected: (TransferMode, usize),
    payload: &[u8],
    mode: TransferMode,
) -> Result<(), LinkError> {
    let (sent_mode, len) = expected;
    let got = payload
        .get(..STAMP_LEN)
        .and_then(|s| s.try_into().ok())
        .map_or(u64::MAX, u64::from_le_bytes);
    // As in ENet, after 65 535 unreliable-ordered packets with no reliable
    // one the next goes reliably, and unsequenced packets too large for
    // one datagram go as (sequenced) unreliable fragments.
    let mode_ok = mode == sent_mode
        || matches!(
            (sent_mode, mode),
            (TransferMode::UnreliableOrdered, TransferMode::Reliable)
                | (TransferMode::Unreliable, TransferMode::UnreliableOrdered)
        );
    if got != *delivered || payload.len() != len || !mode_ok {
        return Err(LinkError::Mismatch { expected: *delivered, got, len: payload.len(), mode });
    }
    *delivered += 1;
    Ok(())
}
