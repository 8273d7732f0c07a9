//! Which link carries which peer id, and where each stands.

use std::collections::HashMap;

use super::link::LinkId;
use crate::multiplayer::PeerId;

/// Where a link stands, as the session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Accepted or dialled; the transport's handshake is not complete.
    Joining,
    /// Up, but still authenticating: only authentication flows.
    Authenticating,
    /// In the session: packets go to it and come from it.
    Connected,
    /// A disconnect was asked for; it is no longer a target.
    Leaving,
}

/// One link of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) link: LinkId,
    pub(crate) id: PeerId,
    pub(crate) stage: Stage,
    /// It reached [`Stage::Connected`] once: its leaving is a disconnect,
    /// not a failed authentication.
    pub(crate) admitted: bool,
    /// This side completed authentication with it.
    pub(crate) auth_local_done: bool,
    /// It said it completed authentication.
    pub(crate) auth_remote_done: bool,
    /// Distinguishes it from an earlier member of the same link and id, for
    /// timers that outlive their member.
    pub(crate) serial: u64,
}

/// The links of a session, by link and by id.
///
/// Links are indexed by transport and slot, so mapping a received packet to
/// its member costs two bounds-checked indexes.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    slots: Vec<Vec<Option<Member>>>,
    by_id: HashMap<PeerId, LinkId>,
    serial: u64,
}

impl Roster {
    /// Adds a link in the [`Stage::Joining`] stage. The caller has checked
    /// that `id` is free; a member still on the slot is replaced.
    pub(crate) fn insert(&mut self, link: LinkId, id: PeerId) {
        let transport = usize::from(link.transport);
        if self.slots.len() <= transport {
            self.slots.resize_with(transport + 1, Vec::new);
        }
        let slots = &mut self.slots[transport];
        let index = slot_index(link);
        if slots.len() <= index {
            slots.resize(index + 1, None);
        }
        self.serial += 1;
        let member = Member {
            link,
            id,
            stage: Stage::Joining,
            admitted: false,
            auth_local_done: false,
            auth_remote_done: false,
            serial: self.serial,
        };
        if let Some(old) = slots[index].replace(member) {
            self.by_id.remove(&old.id);
        }
        self.by_id.insert(id, link);
    }

    fn slot(&self, link: LinkId) -> Option<&Option<Member>> {
        self.slots.get(usize::from(link.transport))?.get(slot_index(link))
    }

    fn slot_mut(&mut self, link: LinkId) -> Option<&mut Option<Member>> {
        self.slots.get_mut(usize::from(link.transport))?.get_mut(slot_index(link))
    }

    /// The member on `link`.
    pub(crate) fn get(&self, link: LinkId) -> Option<Member> {
        *self.slot(link)?
    }

    /// The member with `id`, whatever its stage.
    pub(crate) fn by_id(&self, id: PeerId) -> Option<Member> {
        self.get(*self.by_id.get(&id)?)
    }

    /// The connected member with `id`: the only kind packets go to.
    pub(crate) fn connected(&self, id: PeerId) -> Option<Member> {
        self.by_id(id).filter(|m| m.stage == Stage::Connected)
    }

    /// Whether some link, in any stage, has `id`.
    pub(crate) fn contains_id(&self, id: PeerId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Changes `link`'s member with `change`; returns it as it was before.
    pub(crate) fn update(
        &mut self,
        link: LinkId,
        change: impl FnOnce(&mut Member),
    ) -> Option<Member> {
        let member = self.slot_mut(link)?.as_mut()?;
        let before = *member;
        change(member);
        Some(before)
    }

    /// Moves `link`'s member to `stage`; returns it as it was before.
    pub(crate) fn set_stage(&mut self, link: LinkId, stage: Stage) -> Option<Member> {
        self.update(link, |member| member.stage = stage)
    }

    /// Forgets `link`'s member and returns it.
    pub(crate) fn remove(&mut self, link: LinkId) -> Option<Member> {
        let member = self.slot_mut(link)?.take()?;
        self.by_id.remove(&member.id);
        Some(member)
    }

    /// Every member, by transport and slot (so fan-outs are deterministic).
    pub(crate) fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.slots.iter().flatten().filter_map(|slot| *slot)
    }

    /// Connected members, by transport and slot.
    pub(crate) fn connected_members(&self) -> impl Iterator<Item = Member> + '_ {
        self.members().filter(|m| m.stage == Stage::Connected)
    }

    /// How many links exist, in any stage.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Forgets everyone.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.by_id.clear();
    }
}

fn slot_index(link: LinkId) -> usize {
    // A slot is a u32; every platform Volley runs on has 32-bit usize or more.
    usize::try_from(link.slot).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    fn link(transport: u16, slot: u32) -> LinkId {
        LinkId { transport, slot }
    }

    #[test]
    fn members_are_found_by_link_and_by_id() {
        let (a, b) = (link(0, 3), link(1, 0));
        let mut roster = Roster::default();
        roster.insert(a, id(7));
        roster.insert(b, id(9));
        let member = roster.get(a).expect("present");
        assert_eq!((member.link, member.id, member.stage), (a, id(7), Stage::Joining));
        assert!(!member.admitted);
        assert_eq!(roster.by_id(id(9)).map(|m| m.link), Some(b));
        assert!(roster.contains_id(id(7)));
        assert_eq!(roster.connected(id(7)), None, "joining is not a target");
        assert_eq!(roster.set_stage(a, Stage::Connected).map(|m| m.stage), Some(Stage::Joining));
        assert_eq!(roster.connected(id(7)).map(|m| m.link), Some(a));
        let connected: Vec<PeerId> = roster.connected_members().map(|m| m.id).collect();
        assert_eq!(connected, [id(7)]);
        assert_eq!(roster.len(), 2);
        assert_eq!(roster.remove(b).map(|m| m.id), Some(id(9)));
        assert!(!roster.contains_id(id(9)));
        assert_eq!(roster.remove(b), None);
        assert_eq!(roster.get(link(5, 0)), None, "unknown transport");
        assert_eq!(roster.get(link(0, 999)), None, "unknown slot");
    }

    #[test]
    fn a_new_member_of_a_slot_replaces_the_old_one() {
        let mut roster = Roster::default();
        roster.insert(link(0, 1), id(7));
        let first = roster.get(link(0, 1)).expect("present").serial;
        roster.insert(link(0, 1), id(8));
        assert!(!roster.contains_id(id(7)));
        let second = roster.by_id(id(8)).expect("present");
        assert_eq!(second.link, link(0, 1));
        assert_ne!(second.serial, first);
        assert_eq!(roster.len(), 1);
    }

    #[test]
    fn members_iterate_by_transport_then_slot() {
        let mut roster = Roster::default();
        roster.insert(link(1, 0), id(4));
        roster.insert(link(0, 2), id(3));
        roster.insert(link(0, 0), id(2));
        let order: Vec<PeerId> = roster.members().map(|m| m.id).collect();
        assert_eq!(order, [id(2), id(3), id(4)]);
        roster.update(link(0, 2), |m| m.auth_remote_done = true);
        assert!(roster.by_id(id(3)).is_some_and(|m| m.auth_remote_done));
        roster.clear();
        assert_eq!(roster.len(), 0);
        assert_eq!(roster.members().count(), 0);
    }
}
