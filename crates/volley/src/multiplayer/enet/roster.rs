//! Which ENet connection carries which peer id.

use std::collections::HashMap;

use volley_proto::PeerHandle;

use crate::multiplayer::PeerId;

/// Where a direct connection stands, as the multiplayer layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Accepted or dialled; the handshake is not complete.
    Joining,
    /// In the session: packets go to it and come from it.
    Connected,
    /// A graceful disconnect was asked for; it is no longer a target.
    Leaving,
}

/// One direct connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) handle: PeerHandle,
    pub(super) id: PeerId,
    pub(super) stage: Stage,
}

/// The direct connections of a peer, by ENet slot and by id.
///
/// Slots are indexed by [`PeerHandle::index`], so mapping a received event
/// to its id costs one bounds-checked index and a handle comparison; the
/// generation inside the handle rejects an event of a slot's previous
/// occupant.
#[derive(Debug, Default)]
pub(super) struct Roster {
    slots: Vec<Option<Member>>,
    by_id: HashMap<PeerId, u16>,
}

impl Roster {
    /// Adds a connection in the [`Stage::Joining`] stage. The caller has
    /// checked that `id` is free.
    pub(super) fn insert(&mut self, handle: PeerHandle, id: PeerId) {
        let index = usize::from(handle.index());
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        if let Some(old) = self.slots[index].replace(Member { handle, id, stage: Stage::Joining }) {
            self.by_id.remove(&old.id);
        }
        self.by_id.insert(id, handle.index());
    }

    /// The member on `handle`'s slot, if it is that very connection.
    pub(super) fn get(&self, handle: PeerHandle) -> Option<Member> {
        self.slots
            .get(usize::from(handle.index()))
            .copied()
            .flatten()
            .filter(|m| m.handle == handle)
    }

    /// The member with `id`, whatever its stage.
    pub(super) fn by_id(&self, id: PeerId) -> Option<Member> {
        let index = *self.by_id.get(&id)?;
        self.slots.get(usize::from(index)).copied().flatten()
    }

    /// The connected member with `id`: the only kind packets go to.
    pub(super) fn connected(&self, id: PeerId) -> Option<Member> {
        self.by_id(id).filter(|m| m.stage == Stage::Connected)
    }

    /// Whether some connection, in any stage, has `id`.
    pub(super) fn contains_id(&self, id: PeerId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Moves `handle`'s member to `stage`; returns it as it was before.
    pub(super) fn set_stage(&mut self, handle: PeerHandle, stage: Stage) -> Option<Member> {
        let slot = self.slots.get_mut(usize::from(handle.index()))?;
        let member = slot.as_mut().filter(|m| m.handle == handle)?;
        let before = *member;
        member.stage = stage;
        Some(before)
    }

    /// Forgets `handle`'s member and returns it.
    pub(super) fn remove(&mut self, handle: PeerHandle) -> Option<Member> {
        let slot = self.slots.get_mut(usize::from(handle.index()))?;
        let member = slot.take_if(|m| m.handle == handle)?;
        self.by_id.remove(&member.id);
        Some(member)
    }

    /// Forgets every member for which `keep` is false.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Member) -> bool) {
        for slot in &mut self.slots {
            if let Some(member) = slot.take_if(|m| !keep(m)) {
                self.by_id.remove(&member.id);
            }
        }
    }

    /// Every member, in slot order (so fan-outs are deterministic).
    pub(super) fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.slots.iter().filter_map(|slot| *slot)
    }

    /// Connected members, in slot order.
    pub(super) fn connected_members(&self) -> impl Iterator<Item = Member> + '_ {
        self.members().filter(|m| m.stage == Stage::Connected)
    }

    /// How many connections exist, in any stage.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Forgets everyone.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.by_id.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use volley_proto::{Endpoint, EndpointConfig};

    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    /// An endpoint to mint real handles from: slot 0 twice (two
    /// generations), then slot 1.
    fn handles() -> (PeerHandle, PeerHandle, PeerHandle) {
        let mut endpoint = Endpoint::new(EndpointConfig::default()).expect("config");
        let now = Instant::now();
        let address = SocketAddr::from(([127, 0, 0, 1], 9));
        let old = endpoint.connect(now, address, 1, 0).expect("slot");
        endpoint.reset(old).expect("live");
        let new = endpoint.connect(now, address, 1, 0).expect("slot");
        let other = endpoint.connect(now, address, 1, 0).expect("slot");
        assert_eq!(old.index(), new.index());
        (old, new, other)
    }

    #[test]
    fn members_are_found_by_handle_and_by_id() {
        let (_, a, b) = handles();
        let mut roster = Roster::default();
        roster.insert(a, id(7));
        roster.insert(b, id(9));
        assert_eq!(roster.get(a), Some(Member { handle: a, id: id(7), stage: Stage::Joining }));
        assert_eq!(roster.by_id(id(9)).map(|m| m.handle), Some(b));
        assert!(roster.contains_id(id(7)));
        assert_eq!(roster.connected(id(7)), None, "joining is not a target");
        assert_eq!(roster.set_stage(a, Stage::Connected).map(|m| m.stage), Some(Stage::Joining));
        assert_eq!(roster.connected(id(7)).map(|m| m.handle), Some(a));
        let connected: Vec<PeerId> = roster.connected_members().map(|m| m.id).collect();
        assert_eq!(connected, [id(7)]);
        assert_eq!(roster.len(), 2);
        assert_eq!(roster.remove(b).map(|m| m.id), Some(id(9)));
        assert!(!roster.contains_id(id(9)));
        assert_eq!(roster.remove(b), None);
    }

    #[test]
    fn a_stale_handle_of_a_reused_slot_finds_nothing() {
        let (old, new, _) = handles();
        let mut roster = Roster::default();
        roster.insert(new, id(7));
        assert_eq!(roster.get(old), None);
        assert_eq!(roster.set_stage(old, Stage::Connected), None);
        assert_eq!(roster.remove(old), None);
        assert_eq!(roster.len(), 1);
    }

    #[test]
    fn a_new_occupant_of_a_slot_replaces_the_old_one() {
        let (old, new, _) = handles();
        let mut roster = Roster::default();
        roster.insert(old, id(7));
        roster.insert(new, id(8));
        assert!(!roster.contains_id(id(7)));
        assert_eq!(roster.by_id(id(8)).map(|m| m.handle), Some(new));
        assert_eq!(roster.len(), 1);
    }

    #[test]
    fn retain_forgets_by_id_too() {
        let (_, a, b) = handles();
        let mut roster = Roster::default();
        roster.insert(a, id(7));
        roster.insert(b, id(9));
        roster.retain(|m| m.id != id(7));
        assert!(!roster.contains_id(id(7)));
        assert_eq!(roster.members().map(|m| m.id).collect::<Vec<_>>(), [id(9)]);
        roster.clear();
        assert_eq!(roster.len(), 0);
    }
}
