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
