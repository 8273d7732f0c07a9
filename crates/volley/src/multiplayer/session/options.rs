//! Settings of a session that do not depend on its transports.

use std::time::Duration;

/// How a session behaves above its transports: relay, Godot 4's raw bytes
/// and authentication, ids.
///
/// An [`EnetMultiplayerPeer`](crate::multiplayer::EnetMultiplayerPeer) takes
/// these through [`EnetPeerOptions`](crate::multiplayer::enet::EnetPeerOptions)
/// (which forwards the same setters); a [`ServerSession`](super::ServerSession)
/// through [`ServerSessionBuilder::options`](super::ServerSessionBuilder::options).
///
/// ```
/// use volley::multiplayer::session::SessionOptions;
///
/// let options = SessionOptions::default().server_relay(false).id_seed(7);
/// assert!(!options.get_server_relay());
/// let godot4 = SessionOptions::default().raw_packets(true).authentication(true);
/// assert!(godot4.get_raw_packets() && godot4.get_authentication());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    pub(crate) server_relay: bool,
    pub(crate) raw_packets: bool,
    pub(crate) authentication: bool,
    pub(crate) auth_timeout: Duration,
    pub(crate) id_seed: Option<u64>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            server_relay: true,
            raw_packets: false,
            authentication: false,
            auth_timeout: Self::DEFAULT_AUTH_TIMEOUT,
            id_seed: None,
        }
    }
}

impl SessionOptions {
    /// How long a peer may take to authenticate, unless set otherwise:
    /// 3 s, Godot's `auth_timeout`.
    pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(3);

    /// Whether a server forwards packets between clients and announces
    /// joins and leaves to them. Default `true`. When off, clients can only
    /// reach the server (target 1), as with Godot's `server_relay = false`.
    ///
    /// In the godot4 profile this is SceneMultiplayer's `server_relay`, on
    /// both ends: a server speaks the SYS relay and announcements, and a
    /// client wraps packets for other clients in a relay to the server and
    /// learns the other clients from the server's announcements. Godot
    /// clients have it on by default too.
    #[must_use]
    pub fn server_relay(mut self, enabled: bool) -> Self {
        self.server_relay = enabled;
        self
    }

    /// Godot 4's `send_bytes` / `peer_packet` as plain bytes (godot4 profile
    /// only). Default `false`.
    ///
    /// Godot 4 frames `send_bytes(data)` as `[03][data]` (SceneMultiplayer's
    /// RAW command). With this on, [`put_packet`](crate::multiplayer::MultiplayerPeer::put_packet)
    /// adds the `03` and received packets come out without it, so the
    /// application exchanges exactly the bytes Godot's `send_bytes` and
    /// `peer_packet` see; packets that are not RAW (the remote calls,
    /// spawns and syncs of a Godot game) are dropped and counted
    /// ([`MultiplayerStats::dropped_not_raw`](super::MultiplayerStats::dropped_not_raw)),
    /// though a server still relays them between clients untouched.
    ///
    /// With it off, the application sees every SceneMultiplayer packet that
    /// is not SYS, byte for byte: `03 …` for `send_bytes`, `00 …` for an
    /// RPC, `04`–`06` for spawns, despawns and syncs, `01`/`02` for the path
    /// cache, and what it sends goes as it is (it must then not begin with
    /// a SYS byte).
    #[must_use]
    pub fn raw_packets(mut self, enabled: bool) -> Self {
        self.raw_packets = enabled;
        self
    }

    /// SceneMultiplayer's authentication (godot4 profile only): the
    /// counterpart of setting an `auth_callback` in Godot. Default `false`.
    ///
    /// When on, a peer whose transport connected is *authenticating*
    /// ([`PeerEvent::Authenticating`](crate::multiplayer::PeerEvent::Authenticating)):
    /// only authentication data flows with it, and the application reads it
    /// with `next_auth_message`, answers with `send_auth` and ends its side
    /// with `complete_auth` (methods of the peer). It is admitted — joined,
    /// announced, relayed — once both sides completed, or dropped after
    /// [`auth_timeout`](Self::auth_timeout). Both ends must agree, as in
    /// Godot: a Godot client with an `auth_callback` waits for the server's
    /// completion, and one without never sends its own. When off, no
    /// authentication byte is ever sent.
    #[must_use]
    pub fn authentication(mut self, enabled: bool) -> Self {
        self.authentication = enabled;
        self
    }

    /// How long a peer may take to authenticate before it is disconnected
    /// ([`PeerEvent::AuthenticationFailed`](crate::multiplayer::PeerEvent::AuthenticationFailed)).
    /// Default [`DEFAULT_AUTH_TIMEOUT`](Self::DEFAULT_AUTH_TIMEOUT);
    /// `Duration::ZERO` waits forever, as Godot's 0.
    #[must_use]
    pub fn auth_timeout(mut self, timeout: Duration) -> Self {
        self.auth_timeout = timeout;
        self
    }

    /// Seeds the generator ids are drawn from (a client's own ids, and the
    /// ids a server assigns), so a test gets the same ids on every run.
    /// Default: seeded by the operating system.
    #[must_use]
    pub fn id_seed(mut self, seed: u64) -> Self {
        self.id_seed = Some(seed);
        self
    }

    /// Whether server relay is on.
    pub fn get_server_relay(&self) -> bool {
        self.server_relay
    }

    /// Whether RAW packets are added and stripped.
    pub fn get_raw_packets(&self) -> bool {
        self.raw_packets
    }

    /// Whether peers authenticate.
    pub fn get_authentication(&self) -> bool {
        self.authentication
    }

    /// The authentication timeout.
    pub fn get_auth_timeout(&self) -> Duration {
        self.auth_timeout
    }
}
