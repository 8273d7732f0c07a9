//! Reading arbitrary ENet payloads in Godot 3's relay framing.

use crate::multiplayer::framing::{
    DropReason, Relay, RelayHeader, RelayHeaderError, SystemMessage, route_from_client,
};
use crate::multiplayer::{PeerId, Target};

/// Decodes `data` as a game packet (the 8-byte relay header and the user's
/// bytes) and as a system message. What decodes must re-encode to the same
/// bytes; the server's relay decision for the header must be consistent
/// with it whoever sends it, with relaying on and off.
pub fn relay_framing(data: &[u8]) {
    match RelayHeader::decode(data) {
        Ok((header, user_bytes)) => {
            let mut again = header.to_bytes().to_vec();
            again.extend_from_slice(user_bytes);
            assert_eq!(again, data, "a game packet re-encodes differently");
            let mut in_place = data.to_vec();
            header.encode_into(&mut in_place).expect("room for the header it came from");
            assert_eq!(in_place, data, "encode_into writes other bytes than it read");
            check_routes(header);
        }
        Err(error @ RelayHeaderError::TooShort { len }) => {
            let _ = error.to_string();
            assert_eq!(len, data.len(), "a short packet misreports its length");
            assert!(len < RelayHeader::LEN, "a full header refused");
        }
    }
    match SystemMessage::decode(data) {
        Ok(message) => {
            let (SystemMessage::PeerAdded(id) | SystemMessage::PeerRemoved(id)) = message;
            assert!(!id.is_server(), "the server announced as a client");
            assert_eq!(message.to_bytes(), data, "a system message re-encodes differently");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// Routes `header` as if sent by the peer it names, and by another one.
fn check_routes(header: RelayHeader) {
    let claimed = header.sender().ok().filter(|id| !id.is_server());
    let other = PeerId::try_from(if header.source == 2 { 3_u32 } else { 2 }).expect("valid id");
    // Every even id counts as a connected client.
    let connected = |client: PeerId| client.get().is_multiple_of(2);
    for sender in claimed.into_iter().chain([other]) {
        for relay_enabled in [true, false] {
            let relay = route_from_client(sender, header, relay_enabled, connected);
            let _ = relay.for_server();
            if header.source != sender.get() {
                assert_eq!(
                    relay,
                    Relay::Drop(DropReason::SpoofedSource { claimed: header.source }),
                    "a spoofed source was routed"
                );
                continue;
            }
            check_route(sender, header, relay_enabled, relay, connected);
        }
    }
}

fn check_route(
    sender: PeerId,
    header: RelayHeader,
    relay_enabled: bool,
    relay: Relay,
    connected: impl Fn(PeerId) -> bool,
) {
    let Ok(target) = header.destination() else {
        assert_eq!(relay, Relay::Drop(DropReason::InvalidTarget(header.target)));
        return;
    };
    assert_eq!(i32::from(target), header.target, "a target re-encodes differently");
    let clients = [sender, PeerId::MAX, PeerId::try_from(2_u32).expect("valid id")];
    match relay {
        Relay::Drop(reason) => {
            let _ = reason.to_string();
            assert!(!relay.for_server(), "a dropped packet reached the server");
        }
        Relay::Forward(client) => assert!(connected(client), "forwarded to a stranger"),
        Relay::ToServer | Relay::Broadcast { .. } => {}
    }
    for client in clients {
        let copied = relay.copies_to(sender, client);
        assert!(relay_enabled || !copied, "a copy to {client} with relaying off");
        if let Relay::Broadcast { .. } = relay {
            assert!(client != sender || !copied, "a broadcast came back to its sender");
        }
        if copied {
            let expected = match target {
                Target::Peer(id) => id == client,
                Target::Broadcast => client != sender,
                Target::AllExcept(id) => client != sender && client != id,
            };
            assert!(expected, "{client} got a copy of a packet for {target}");
        }
    }
    assert_eq!(
        relay.for_server(),
        matches!(target, Target::Peer(PeerId::SERVER))
            || (relay_enabled && matches!(target, Target::Broadcast))
            || (relay_enabled && matches!(target, Target::AllExcept(id) if !id.is_server())),
        "the server's copy of a packet for {target} (relay {relay_enabled})"
    );
}
