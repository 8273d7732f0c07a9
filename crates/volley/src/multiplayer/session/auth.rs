//! Godot 4's authentication: pending peers that exchange only `07 00 …`
//! until both sides completed, and a timeout that drops them.

use std::time::Instant;

use super::link::{Departure, Lane, LinkId, Links};
use super::roster::{Member, Stage};
use super::{AuthError, Core};
use crate::multiplayer::framing::{RefuseReason, scene};
use crate::multiplayer::{PeerEvent, PeerId};

/// Authentication data a pending peer sent (Godot's
/// `auth_callback(id, data)`), taken with `next_auth_message`.
///
/// Hand `data` back with [`recycle`](crate::multiplayer::MultiplayerPeer::recycle)
/// once read, as a packet's payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthMessage {
    /// The authenticating peer.
    pub from: PeerId,
    /// Its bytes (never empty: an empty message means it completed).
    pub data: Vec<u8>,
}

impl Core {
    /// Whether peers authenticate in this session.
    pub(super) fn authenticates(&self) -> bool {
        self.auth_timeout.is_some()
    }

    /// A member whose transport came up starts authenticating.
    pub(super) fn start_auth(&mut self, member: Member) {
        self.roster.set_stage(member.link, Stage::Authenticating);
        if let Some(timeout) = self.auth_timeout.filter(|t| !t.is_zero()) {
            let deadline = Instant::now() + timeout;
            self.auth_deadlines.push_back((deadline, member.link, member.serial));
        }
        self.emit(PeerEvent::Authenticating(member.id));
    }

    /// `07 00` from a pending member: it completed its side.
    pub(super) fn on_remote_auth_done(&mut self, links: &mut dyn Links, member: Member) {
        self.roster.update(member.link, |m| m.auth_remote_done = true);
        if member.auth_local_done {
            self.admit_member(links, member);
        }
    }

    /// `07 00 data` from a pending member: for the application.
    pub(super) fn queue_auth_message(&mut self, member: Member, mut payload: Vec<u8>) {
        payload.drain(..scene::AUTH_DONE.len());
        self.lend(member.link.transport);
        self.auth_inbox.push_back(AuthMessage { from: member.id, data: payload });
        self.progress = true;
    }

    /// The next authentication message for the application.
    pub(crate) fn next_auth_message(&mut self) -> Option<AuthMessage> {
        self.auth_inbox.pop_front()
    }

    fn pending(&self, peer: PeerId) -> Result<Member, AuthError> {
        if !self.authenticates() {
            return Err(AuthError::Disabled);
        }
        let member = self.roster.by_id(peer).filter(|m| m.stage == Stage::Authenticating);
        let member = member.ok_or(AuthError::NotPending(peer))?;
        if member.auth_local_done {
            return Err(AuthError::Completed(peer));
        }
        Ok(member)
    }

    /// Sends authentication data to a pending peer (Godot's `send_auth`).
    pub(crate) fn send_auth(
        &mut self,
        links: &mut dyn Links,
        peer: PeerId,
        data: &[u8],
    ) -> Result<(), AuthError> {
        let member = self.pending(peer)?;
        if data.is_empty() {
            return Err(AuthError::EmptyData);
        }
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.extend_from_slice(&scene::AUTH_DONE);
        frame.extend_from_slice(data);
        let sent = links.send(member.link, Lane::RELIABLE_0, &frame);
        self.frame = frame;
        sent.map_err(|_| AuthError::NotSent(peer))
    }

    /// Completes this side's authentication of a pending peer (Godot's
    /// `complete_auth`); it is admitted once it completed too.
    pub(crate) fn complete_auth(
        &mut self,
        links: &mut dyn Links,
        peer: PeerId,
    ) -> Result<(), AuthError> {
        let member = self.pending(peer)?;
        links
            .send(member.link, Lane::RELIABLE_0, &scene::AUTH_DONE)
            .map_err(|_| AuthError::NotSent(peer))?;
        let before = self.roster.update(member.link, |m| m.auth_local_done = true);
        if before.is_some_and(|m| m.auth_remote_done) {
            self.admit_member(links, member);
        }
        Ok(())
    }

    /// When the earliest authentication times out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.auth_deadlines.front().map(|(deadline, ..)| *deadline)
    }

    /// Drops the members whose authentication timed out by `now`: their
    /// links are disconnected (with the `AuthenticationFailed` refusal code)
    /// and `AuthenticationFailed` follows when they are down.
    pub(crate) fn run_timers(&mut self, links: &mut dyn Links, now: Instant) {
        while let Some(&(deadline, link, serial)) = self.auth_deadlines.front() {
            if deadline > now {
                break;
            }
            self.auth_deadlines.pop_front();
            let still_pending = self
                .roster
                .get(link)
                .is_some_and(|m| m.serial == serial && m.stage == Stage::Authenticating);
            if still_pending {
                self.fail_auth(links, link);
            }
        }
    }

    fn fail_auth(&mut self, links: &mut dyn Links, link: LinkId) {
        let code = RefuseReason::AuthenticationFailed.code();
        if links.disconnect(link, Departure::Graceful, code) {
            self.roster.set_stage(link, Stage::Leaving);
        }
    }
}
