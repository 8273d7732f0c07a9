//! Links coming and going: admission (capacity, ids), handshakes completing,
//! departures, a client's retries, and the server's announcements.

use super::link::{DownCause, IdClaim, LinkEvent, LinkId, Links};
use super::roster::{Member, Stage};
use super::{Core, MAX_DEPARTED, Role};
use crate::multiplayer::framing::RefuseReason;
use crate::multiplayer::{
    ConnectionStatus, DepartureReason, PeerEvent, PeerId, generate_unique_id,
};

/// How many fresh ids a server draws for a link it assigns one to before
/// calling itself full. With at most a few thousand of 2^31 ids taken, the
/// first draw is free but for odds of about one in a million.
const ASSIGN_ATTEMPTS: usize = 16;

/// A join or leave, as every framing announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announcement {
    Added(PeerId),
    Removed(PeerId),
}

impl Core {
    /// Takes one event from a transport.
    pub(crate) fn handle(&mut self, links: &mut dyn Links, event: LinkEvent) {
        match event {
            LinkEvent::JoinRequest { link, claim, objection } => {
                self.on_join_request(links, link, claim, objection);
            }
            LinkEvent::Up { link, assigned_id } => self.on_up(links, link, assigned_id),
            LinkEvent::Down { link, cause } => self.on_down(links, link, cause),
            LinkEvent::Received { link, lane, payload } => {
                self.on_received(links, link, lane, payload);
            }
            LinkEvent::Malformed { .. } => self.stats.dropped_malformed += 1,
        }
    }

    /// The id a newcomer may join with, or why it may not.
    fn admit(
        &mut self,
        claim: IdClaim,
        objection: Option<RefuseReason>,
    ) -> Result<PeerId, RefuseReason> {
        if self.role == Role::Client || self.refuse_new_connections {
            return Err(RefuseReason::RefusingConnections);
        }
        if self.role == Role::Server && self.roster.len() >= self.max_clients {
            return Err(RefuseReason::ServerFull);
        }
        if let Some(objection) = objection {
            return Err(objection);
        }
        let id = match claim {
            IdClaim::Offered(raw) => PeerId::try_from(raw).map_err(|_| RefuseReason::InvalidId)?,
            IdClaim::Chosen(id) => id,
            IdClaim::Assign => return self.fresh_id().ok_or(RefuseReason::ServerFull),
        };
        // Only the server is 1; mesh ids are the application's choice.
        if self.role == Role::Server && id.is_server() {
            return Err(RefuseReason::InvalidId);
        }
        if self.id_taken(id) {
            return Err(RefuseReason::DuplicateId);
        }
        Ok(id)
    }

    /// A random client id nobody in the session has.
    fn fresh_id(&mut self) -> Option<PeerId> {
        for _ in 0..ASSIGN_ATTEMPTS {
            let id = generate_unique_id(&mut self.rng);
            if !self.id_taken(id) {
                return Some(id);
            }
        }
        None
    }

    fn on_join_request(
        &mut self,
        links: &mut dyn Links,
        link: LinkId,
        claim: IdClaim,
        objection: Option<RefuseReason>,
    ) {
        if self.roster.get(link).is_some() {
            // A transport reuses a slot only once its link went down; one
            // that did not say so loses the old member now, with its events.
            self.on_down(links, link, DownCause::TimedOut);
        }
        match self.admit(claim, objection) {
            Ok(id) => {
                if links.accept(link, id) {
                    self.roster.insert(link, id);
                }
            }
            Err(reason) => {
                // Refusing fails only for a request that is already gone.
                if links.refuse(link, reason) {
                    self.stats.connections_refused += 1;
                }
            }
        }
    }

    fn on_up(&mut self, links: &mut dyn Links, link: LinkId, assigned_id: Option<PeerId>) {
        let Some(member) = self.roster.get(link).filter(|m| m.stage == Stage::Joining) else {
            return;
        };
        if let (Role::Client, Some(id)) = (self.role, assigned_id) {
            self.unique_id = id;
        }
        if self.authenticates() {
            self.start_auth(member);
        } else {
            self.admit_member(links, member);
        }
    }

    /// Lets a member in: events, status, announcements.
    pub(super) fn admit_member(&mut self, links: &mut dyn Links, member: Member) {
        self.roster.update(member.link, |m| {
            m.stage = Stage::Connected;
            m.admitted = true;
        });
        match self.role {
            Role::Client => {
                self.set_status(ConnectionStatus::Connected);
                self.emit(PeerEvent::Connected(PeerId::SERVER));
            }
            Role::Server => {
                self.emit(PeerEvent::Connected(member.id));
                if self.announces() {
                    self.announce_join(links, member);
                }
            }
            Role::Mesh => self.emit(PeerEvent::Connected(member.id)),
        }
    }

    fn on_down(&mut self, links: &mut dyn Links, link: LinkId, cause: DownCause) {
        let Some(member) = self.roster.remove(link) else { return };
        if member.stage == Stage::Joining {
            if let DownCause::Refused(code) = cause {
                self.refusal = RefuseReason::from_code(code);
            }
            if self.role == Role::Client && !self.retry_with_new_id(links, link) {
                self.connection_failed();
            }
            return;
        }
        if !member.admitted {
            // Up, but gone before authentication completed.
            if let Some(reason) = cause.refusal() {
                self.refusal = Some(reason);
            }
            self.emit(PeerEvent::AuthenticationFailed(member.id));
            if self.role == Role::Client {
                self.connection_failed();
            }
            return;
        }
        match self.role {
            Role::Client => self.end_client_session(cause.departure()),
            Role::Server | Role::Mesh => {
                self.emit(PeerEvent::Disconnected(member.id, cause.departure()));
                if self.announces() {
                    self.announce_leave(links, member.id);
                }
            }
        }
    }

    /// After a refusal, dials again with a fresh id if the reason calls for
    /// it and retries are left. Returns whether a new attempt started.
    fn retry_with_new_id(&mut self, links: &mut dyn Links, refused: LinkId) -> bool {
        let Some(client) = self.client.as_mut() else { return false };
        let retry = self.refusal.is_some_and(RefuseReason::retry_with_new_id);
        if !retry || client.retries_left == 0 {
            return false;
        }
        client.retries_left -= 1;
        let id = generate_unique_id(&mut self.rng);
        let Some(link) = links.redial(refused, id) else { return false };
        self.unique_id = id;
        self.refusal = None;
        self.roster.insert(link, PeerId::SERVER);
        true
    }

    /// A client's attempt ended without it getting in.
    fn connection_failed(&mut self) {
        self.emit(PeerEvent::ConnectionFailed(self.refusal));
        self.set_status(ConnectionStatus::Disconnected);
    }

    /// The server is gone, for `reason`: the others reached through it are
    /// gone too.
    fn end_client_session(&mut self, reason: DepartureReason) {
        if let Some(client) = self.client.as_mut() {
            let mut gone: Vec<PeerId> = client.relayed.drain().collect();
            client.departed.clear();
            gone.sort_unstable();
            for id in gone {
                self.emit(PeerEvent::Disconnected(id, DepartureReason::SessionEnded));
            }
        }
        self.emit(PeerEvent::Disconnected(PeerId::SERVER, reason));
        self.set_status(ConnectionStatus::Disconnected);
    }

    /// Tells the newcomer about every other client, and them about it.
    fn announce_join(&mut self, links: &mut dyn Links, newcomer: Member) {
        for other in self.roster.connected_members().filter(|m| m.id != newcomer.id) {
            let told_newcomer = announce(links, newcomer.link, Announcement::Added(other.id));
            let told_other = announce(links, other.link, Announcement::Added(newcomer.id));
            self.stats.copies_failed += u64::from(!told_newcomer) + u64::from(!told_other);
        }
    }

    /// Tells every remaining client that `gone` left.
    pub(super) fn announce_leave(&mut self, links: &mut dyn Links, gone: PeerId) {
        for member in self.roster.connected_members() {
            let sent = announce(links, member.link, Announcement::Removed(gone));
            self.stats.copies_failed += u64::from(!sent);
        }
    }

    /// A client learning of another client from the server.
    pub(super) fn on_announcement(&mut self, announcement: Announcement) {
        let own_id = self.unique_id;
        let Some(client) = self.client.as_mut() else { return };
        match announcement {
            Announcement::Added(id) => {
                client.departed.remove(&id);
                if id != own_id && client.relayed.insert(id) {
                    self.emit(PeerEvent::Connected(id));
                }
            }
            Announcement::Removed(id) => {
                if client.departed.len() >= MAX_DEPARTED {
                    client.departed.clear();
                }
                client.departed.insert(id);
                if client.relayed.remove(&id) {
                    self.emit(PeerEvent::Disconnected(id, DepartureReason::Announced));
                }
            }
        }
    }

    /// Whether a client may target `id` through the server: the server, or
    /// a client it announced.
    pub(super) fn knows(&self, id: PeerId) -> bool {
        id.is_server() || self.client.as_ref().is_some_and(|c| c.relayed.contains(&id))
    }

    /// The original sender of a packet a client received through its
    /// server, or `None` (counted) if it must be dropped.
    pub(super) fn relayed_source(&mut self, source: Option<PeerId>) -> Option<PeerId> {
        let source = match source {
            Some(source) if source != self.unique_id => source,
            _ => {
                self.stats.dropped_malformed += 1;
                return None;
            }
        };
        let client = self.client.as_mut()?;
        if source.is_server() || client.relayed.contains(&source) {
            return Some(source);
        }
        if client.departed.contains(&source) {
            self.stats.dropped_departed += 1;
            return None;
        }
        // The announcement travels on another lane, so under loss a packet
        // can overtake it: announce the peer now, so its packets never come
        // before its Connected.
        client.relayed.insert(source);
        self.emit(PeerEvent::Connected(source));
        Some(source)
    }
}

/// Sends an announcement in `link`'s framing; returns whether it was queued.
fn announce(links: &mut dyn Links, link: LinkId, announcement: Announcement) -> bool {
    let framing = links.framing(link);
    let (lane, bytes) = super::codec::announcement(framing, announcement);
    links.send(link, lane, &bytes).is_ok()
}
