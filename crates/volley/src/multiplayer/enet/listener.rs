//! A UDP listener of a multi-transport server session.

use std::net::SocketAddr;

use volley_proto::EndpointConfig;

/// A UDP socket speaking ENet, for
/// [`ServerSessionBuilder::enet`](crate::multiplayer::session::ServerSessionBuilder::enet).
///
/// The session sets the peer limit (its `max_clients` plus room to refuse
/// newcomers), the channel limit (from its channel count and profile) and
/// manual accepting; everything else comes from [`endpoint`](Self::endpoint).
///
/// ```
/// use volley::multiplayer::enet::EnetListener;
///
/// // IPv4 and IPv6 on one port, as two sockets: the IPv6 one takes IPv6 only.
/// let v4 = EnetListener::new("0.0.0.0:7777".parse()?);
/// let v6 = EnetListener::new("[::]:7777".parse()?).dual_stack(false);
/// # let _ = (v4, v6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct EnetListener {
    pub(crate) bind: SocketAddr,
    pub(crate) endpoint: EndpointConfig,
    pub(crate) dual_stack: bool,
}

impl EnetListener {
    /// A listener on `bind` with the engine's default settings. An IPv6
    /// `bind` is dual-stack (IPv4 clients reach it too) unless
    /// [`dual_stack`](Self::dual_stack) says otherwise.
    pub fn new(bind: SocketAddr) -> Self {
        Self { bind, endpoint: EndpointConfig::default(), dual_stack: bind.is_ipv6() }
    }

    /// The engine settings: MTU, timeouts, bandwidth, checksum, packet and
    /// queue limits.
    pub fn endpoint(mut self, endpoint: EndpointConfig) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Whether datagrams are compressed with ENet's range coder (both ends
    /// must agree); see [`EndpointConfig::range_coder`].
    pub fn range_coder(mut self, enabled: bool) -> Self {
        self.endpoint.range_coder(enabled);
        self
    }

    /// Whether an IPv6 socket also takes IPv4 clients. Turn it off to bind
    /// IPv4 and IPv6 listeners to the same port side by side.
    pub fn dual_stack(mut self, enabled: bool) -> Self {
        self.dual_stack = enabled;
        self
    }
}
