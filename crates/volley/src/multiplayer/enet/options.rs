//! Settings of an [`EnetMultiplayerPeer`](super::EnetMultiplayerPeer) beyond
//! its role, channels and wire profile.

use volley_proto::EndpointConfig;

use crate::multiplayer::PeerId;
use crate::multiplayer::session::SessionOptions;

/// Optional settings of an [`EnetMultiplayerPeer`](super::EnetMultiplayerPeer).
///
/// The defaults suit most games: server relay on, a random client id, a few
/// automatic retries when a server refuses the id, and the engine's default
/// MTU, timeouts and limits.
///
/// ```
/// use std::time::Duration;
/// use volley::multiplayer::PeerId;
/// use volley::multiplayer::enet::EnetPeerOptions;
/// use volley::{EndpointConfig, Timeouts};
///
/// let mut endpoint = EndpointConfig::default();
/// endpoint.timeouts(Timeouts {
///     limit: 32,
///     minimum: Duration::from_secs(2),
///     maximum: Duration::from_secs(10),
/// });
/// let options = EnetPeerOptions::default()
///     .endpoint(endpoint)
///     .client_id(PeerId::try_from(1234_u32)?)
///     .id_retries(2);
/// assert_eq!(options.get_id_retries(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EnetPeerOptions {
    pub(super) endpoint: EndpointConfig,
    pub(super) session: SessionOptions,
    pub(super) client_id: Option<PeerId>,
    pub(super) id_retries: u32,
}

impl Default for EnetPeerOptions {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            session: SessionOptions::default(),
            client_id: None,
            id_retries: Self::DEFAULT_ID_RETRIES,
        }
    }
}

impl EnetPeerOptions {
    /// How many times a client picks a fresh id after the server refused
    /// one as invalid or duplicate, unless set otherwise. A random 31-bit id
    /// collides with a handful of others so rarely that one retry nearly
    /// always suffices.
    pub const DEFAULT_ID_RETRIES: u32 = 4;

    /// The engine settings: MTU, timeouts, bandwidth, checksum, packet and
    /// queue limits. The peer sets the peer limit (servers: `max_clients`
    /// plus room to refuse newcomers; clients: 1), the channel limit (from
    /// its channel count and profile) and manual accepting itself; a mesh
    /// peer keeps the peer limit given here as its most peers.
    #[must_use]
    pub fn endpoint(mut self, endpoint: EndpointConfig) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Whether datagrams are compressed with ENet's range coder, as Godot
    /// 3.4 and later do by default (both ends must agree). Shorthand for
    /// [`EndpointConfig::range_coder`] on the endpoint settings.
    #[must_use]
    pub fn range_coder(mut self, enabled: bool) -> Self {
        self.endpoint.range_coder(enabled);
        self
    }

    /// The session settings ([`SessionOptions`]) at once; the setters below
    /// change them one by one.
    #[must_use]
    pub fn session(mut self, session: SessionOptions) -> Self {
        self.session = session;
        self
    }

    /// Whether a server forwards packets between clients and announces
    /// joins and leaves, and (godot4) whether a client relays through the
    /// server. Default `true`; see [`SessionOptions::server_relay`].
    #[must_use]
    pub fn server_relay(mut self, enabled: bool) -> Self {
        self.session = self.session.server_relay(enabled);
        self
    }

    /// Godot 4's `send_bytes` as plain bytes; see
    /// [`SessionOptions::raw_packets`].
    #[must_use]
    pub fn raw_packets(mut self, enabled: bool) -> Self {
        self.session = self.session.raw_packets(enabled);
        self
    }

    /// Godot 4's authentication; see [`SessionOptions::authentication`].
    #[must_use]
    pub fn authentication(mut self, enabled: bool) -> Self {
        self.session = self.session.authentication(enabled);
        self
    }

    /// How long authentication may take; see
    /// [`SessionOptions::auth_timeout`].
    #[must_use]
    pub fn auth_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.session = self.session.auth_timeout(timeout);
        self
    }

    /// The id a client offers first, instead of a random one. A refused
    /// id is still replaced by a random one, so this is a request, not a
    /// guarantee: read [`unique_id`](crate::multiplayer::MultiplayerPeer::unique_id)
    /// once connected (it may change while connecting; nothing is emitted
    /// under a refused id).
    #[must_use]
    pub fn client_id(mut self, id: PeerId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// How many times a client retries with a fresh id after the server
    /// refused its id as invalid or duplicate. Default
    /// [`DEFAULT_ID_RETRIES`](Self::DEFAULT_ID_RETRIES); 0 gives up at the
    /// first refusal.
    #[must_use]
    pub fn id_retries(mut self, retries: u32) -> Self {
        self.id_retries = retries;
        self
    }

    /// Seeds the generator a client draws its ids from, so a test gets the
    /// same ids on every run. Default: seeded by the operating system.
    #[must_use]
    pub fn id_seed(mut self, seed: u64) -> Self {
        self.session = self.session.id_seed(seed);
        self
    }

    /// The configured number of id retries.
    pub fn get_id_retries(&self) -> u32 {
        self.id_retries
    }

    /// Whether server relay is on.
    pub fn get_server_relay(&self) -> bool {
        self.session.get_server_relay()
    }
}
