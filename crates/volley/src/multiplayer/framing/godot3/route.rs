//! The relay-profile server's decision for a game packet from a client.

use std::fmt;

use super::RelayHeader;
use crate::multiplayer::{PeerId, Target};

/// What a relay-profile server does with a game packet from a client.
///
/// Forwarded copies are the original bytes (header unchanged) on the same
/// ENet channel with the same transfer mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relay {
    /// For the server only.
    ToServer,
    /// A copy for this client only; the server does not deliver it.
    Forward(PeerId),
    /// A copy for every connected client except the sender and `except`,
    /// and for the server itself if `include_server`.
    Broadcast {
        /// Whether the server delivers the packet to itself too.
        include_server: bool,
        /// A client that gets no copy besides the sender.
        except: Option<PeerId>,
    },
    /// Nobody gets it. Count it; a [`DropReason::SpoofedSource`] points at a
    /// misbehaving client.
    Drop(DropReason),
}

impl Relay {
    /// Whether the server delivers the packet to itself.
    pub const fn for_server(self) -> bool {
        matches!(self, Self::ToServer | Self::Broadcast { include_server: true, .. })
    }

    /// Whether connected client `client` gets a copy of a packet `sender`
    /// sent. Call it for each client to fan out without collecting a list.
    pub fn copies_to(self, sender: PeerId, client: PeerId) -> bool {
        match self {
            Self::Forward(target) => client == target,
            Self::Broadcast { except, .. } => client != sender && except != Some(client),
            Self::ToServer | Self::Drop(_) => false,
        }
    }
}

/// Why a relay-profile server dropped a client's packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The header's source is not the id bound to the sending connection.
    SpoofedSource {
        /// The source the header claimed.
        claimed: u32,
    },
    /// Relay is switched off and the target is not the server.
    RelayDisabled,
    /// The target is a client that is not connected.
    UnknownTarget(PeerId),
    /// The target integer names no peer (`i32::MIN`).
    InvalidTarget(i32),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SpoofedSource { claimed } => {
                write!(f, "source {claimed} does not match the sending connection")
            }
            Self::RelayDisabled => {
                f.write_str("relay is disabled and the target is not the server")
            }
            Self::UnknownTarget(id) => write!(f, "target peer {id} is not connected"),
            Self::InvalidTarget(raw) => write!(f, "target {raw} names no peer"),
        }
    }
}

/// Decides what a relay-profile server does with a game packet, following
/// Godot 3's rules.
///
/// - `sender`: the id bound to the ENet connection the packet came on.
/// - `header`: the packet's decoded [`RelayHeader`].
/// - `relay_enabled`: whether clients may reach each other through the
///   server; when off, only target 1 is accepted.
/// - `is_connected_client`: whether an id is a connected client; asked at
///   most once, and only for a single-peer target.
///
/// | target | result |
/// |---|---|
/// | any, source ≠ `sender` | `Drop(SpoofedSource)` |
/// | `i32::MIN` | `Drop(InvalidTarget)` |
/// | 1 | `ToServer` |
/// | anything else, relay off | `Drop(RelayDisabled)` |
/// | 0 | server + every other client |
/// | −1 | every other client, not the server |
/// | −N | server + every client but the sender and N |
/// | N > 1 | `Forward(N)`, or `Drop(UnknownTarget)` if N is not connected |
///
/// ```
/// use volley::multiplayer::PeerId;
/// use volley::multiplayer::framing::{Relay, RelayHeader, route_from_client};
///
/// let sender = PeerId::try_from(2_u32)?;
/// let (header, _) = RelayHeader::decode(&[2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'])?;
/// let relay = route_from_client(sender, header, true, |_| true);
/// assert_eq!(relay, Relay::Broadcast { include_server: true, except: None });
/// assert!(relay.copies_to(sender, PeerId::try_from(3_u32)?));
/// assert!(!relay.copies_to(sender, sender));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn route_from_client(
    sender: PeerId,
    header: RelayHeader,
    relay_enabled: bool,
    is_connected_client: impl FnOnce(PeerId) -> bool,
) -> Relay {
    if header.source != sender.get() {
        return Relay::Drop(DropReason::SpoofedSource { claimed: header.source });
    }
    let Ok(target) = header.destination() else {
        return Relay::Drop(DropReason::InvalidTarget(header.target));
    };
    match target {
        Target::Peer(PeerId::SERVER) => Relay::ToServer,
        _ if !relay_enabled => Relay::Drop(DropReason::RelayDisabled),
        Target::Broadcast => Relay::Broadcast { include_server: true, except: None },
        Target::AllExcept(PeerId::SERVER) => {
            Relay::Broadcast { include_server: false, except: None }
        }
        Target::AllExcept(excluded) => {
            Relay::Broadcast { include_server: true, except: Some(excluded) }
        }
        Target::Peer(client) if is_connected_client(client) => Relay::Forward(client),
        Target::Peer(client) => Relay::Drop(DropReason::UnknownTarget(client)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    /// Clients 2, 3 and 4 are connected.
    fn connected(client: PeerId) -> bool {
        (2..=4).contains(&client.get())
    }

    fn route(sender: u32, source: u32, target: i32, relay: bool) -> Relay {
        route_from_client(id(sender), RelayHeader { source, target }, relay, connected)
    }

    /// Which of the server (1) and clients 2..=4 receive the packet.
    fn receivers(sender: u32, target: i32) -> Vec<u32> {
        let relay = route(sender, sender, target, true);
        let server = relay.for_server().then_some(1);
        let clients = (2..=4).filter(|&c| relay.copies_to(id(sender), id(c)));
        server.into_iter().chain(clients).collect()
    }

    #[test]
    fn target_1_is_for_the_server_only_even_without_relay() {
        for relay in [true, false] {
            assert_eq!(route(2, 2, 1, relay), Relay::ToServer);
        }
        assert_eq!(receivers(2, 1), [1]);
    }

    #[test]
    fn target_0_reaches_the_server_and_every_other_client() {
        assert_eq!(route(2, 2, 0, true), Relay::Broadcast { include_server: true, except: None });
        assert_eq!(receivers(2, 0), [1, 3, 4]);
    }

    #[test]
    fn target_minus_1_reaches_every_other_client_but_not_the_server() {
        assert_eq!(route(2, 2, -1, true), Relay::Broadcast { include_server: false, except: None });
        assert_eq!(receivers(2, -1), [3, 4]);
    }

    #[test]
    fn target_minus_n_skips_the_sender_and_n() {
        assert_eq!(
            route(2, 2, -3, true),
            Relay::Broadcast { include_server: true, except: Some(id(3)) }
        );
        assert_eq!(receivers(2, -3), [1, 4]);
        // Excluding oneself is the same as target 0.
        assert_eq!(receivers(2, -2), [1, 3, 4]);
        // Excluding an unknown id excludes nobody else.
        assert_eq!(receivers(2, -99), [1, 3, 4]);
    }

    #[test]
    fn target_n_is_forwarded_to_that_client_only() {
        assert_eq!(route(2, 2, 4, true), Relay::Forward(id(4)));
        assert_eq!(receivers(2, 4), [4]);
    }

    #[test]
    fn unknown_target_is_dropped() {
        assert_eq!(route(2, 2, 99, true), Relay::Drop(DropReason::UnknownTarget(id(99))));
        assert_eq!(receivers(2, 99), [] as [u32; 0]);
    }

    #[test]
    fn spoofed_source_is_dropped_whatever_the_target() {
        for target in [0, 1, 3, -1, -3, i32::MIN] {
            let relay = route(2, 3, target, true);
            assert_eq!(relay, Relay::Drop(DropReason::SpoofedSource { claimed: 3 }));
            assert!(!relay.for_server());
            assert!(!relay.copies_to(id(2), id(4)));
        }
        assert_eq!(route(2, 0, 1, true), Relay::Drop(DropReason::SpoofedSource { claimed: 0 }));
    }

    #[test]
    fn relay_disabled_accepts_only_target_1() {
        for target in [0, 3, 99, -1, -3] {
            assert_eq!(
                route(2, 2, target, false),
                Relay::Drop(DropReason::RelayDisabled),
                "{target}"
            );
        }
    }

    #[test]
    fn i32_min_target_is_dropped() {
        assert_eq!(route(2, 2, i32::MIN, true), Relay::Drop(DropReason::InvalidTarget(i32::MIN)));
    }

    #[test]
    fn membership_is_asked_only_for_single_peer_targets() {
        for target in [0, 1, -1, -3] {
            let relay = route_from_client(id(2), RelayHeader { source: 2, target }, true, |_| {
                panic!("asked about membership for target {target}")
            });
            assert!(!matches!(relay, Relay::Drop(_)), "{target}");
        }
    }

    #[test]
    fn drop_reasons_explain_themselves() {
        assert_eq!(
            DropReason::SpoofedSource { claimed: 3 }.to_string(),
            "source 3 does not match the sending connection"
        );
        assert_eq!(
            DropReason::RelayDisabled.to_string(),
            "relay is disabled and the target is not the server"
        );
        assert_eq!(DropReason::UnknownTarget(id(9)).to_string(), "target peer 9 is not connected");
        assert_eq!(
            DropReason::InvalidTarget(i32::MIN).to_string(),
            "target -2147483648 names no peer"
        );
    }
}
