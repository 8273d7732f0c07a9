//! Settings of a session that do not depend on its transports.

/// How a session behaves above its transports: relay, ids.
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
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    pub(crate) server_relay: bool,
    pub(crate) id_seed: Option<u64>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { server_relay: true, id_seed: None }
    }
}

impl SessionOptions {
    /// Whether a server forwards packets between clients and announces
    /// joins and leaves to them. Default `true`. When off, clients can only
    /// reach the server (target 1), as with Godot's `server_relay = false`.
    #[must_use]
    pub fn server_relay(mut self, enabled: bool) -> Self {
        self.server_relay = enabled;
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
}
