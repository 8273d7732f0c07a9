//! The accepting side of the handshake, on top of the half-open table
//! ([`crate::half_open`]): answering a CONNECT, the proof that gives the
//! connection a peer slot, and what the application's calls do to a
//! connection that is still half-open.

use std::net::SocketAddr;

use rand::Rng;

use super::{Endpoint, refusal_proof, sanitize_throttle, send_window, window_from_bandwidth};
use crate::constants::{
    CONTROL_CHANNEL, MAX_MTU, MAX_WINDOW_SIZE, MIN_MTU, MIN_WINDOW_SIZE, SESSION_ID_MASK,
    UNUSED_SESSION_ID,
};
use crate::error::PeerError;
use crate::event::{DisconnectReason, Event};
use crate::half_open::{Entry, Proof};
use crate::peer::{PeerHandle, PeerState};
use crate::time::duration_ms;
use crate::trace;
use crate::wire::{CommandBody, Commands, ConnectParams, Datagram, Header};

/// What a datagram for a half-open connection led to.
pub(super) enum HalfOpenOutcome {
    /// Nothing more to do.
    Done,
    /// The proof came: the connection has `slot`, and the datagram is to be
    /// handled there, then `replay` (a datagram that came before the proof).
    Proven { slot: usize, replay: Option<Vec<u8>> },
}

impl Endpoint {
    /// A fresh generation for a handle, unique among slots and half-open
    /// connections.
    pub(super) fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.serial
    }

    /// A CONNECT of `wire_len` bytes from `from`.
    pub(super) fn handle_connect(
        &mut self,
        now: u32,
        from: SocketAddr,
        params: ConnectParams,
        data: u32,
        wire_len: usize,
    ) {
        if let Some(index) = self.half_open.find(from, params.connect_id) {
            // The same CONNECT again: our answer was lost, or is still awaited.
            self.half_open.note_received(index, wire_len);
            self.half_open.queue_verify(index);
            return;
        }
        let config = &self.config;
        if self.occupied >= self.peers.len()
            || self.half_open.count_from(from.ip()) >= config.max_half_open_per_address
            || self.connections_from(from) >= config.duplicate_peers
        {
            self.stats.connects_ignored += 1;
            return;
        }
        // With manual accept the application holds a handle naming the
        // slot from the request on, so no two attempts may name the same one:
        // there are as many attempts as free slots (instead of the table's
        // size), the oldest still making room.
        let exclusive = self.config.manual_accept;
        if self.half_open.len() >= self.config.max_half_open {
            self.evict_oldest_half_open();
        }
        let mut slot = self.tentative_slot(exclusive);
        if slot.is_none() && exclusive {
            self.evict_oldest_half_open();
            slot = self.tentative_slot(exclusive);
        }
        let Some(slot) = slot else {
            self.stats.connects_ignored += 1;
            return;
        };
        // Session ids differ from the slot's previous ones so stale datagrams fail.
        let pick = |proposed: u8, previous: u8| {
            let base = if proposed == UNUSED_SESSION_ID { previous } else { proposed };
            let mut id = base.wrapping_add(1) & SESSION_ID_MASK;
            if id == previous {
                id = id.wrapping_add(1) & SESSION_ID_MASK;
            }
            id
        };
        let previous = &self.peers[slot];
        let outgoing_session = pick(params.incoming_session_id, previous.outgoing_session_id);
        let incoming_session = pick(params.outgoing_session_id, previous.incoming_session_id);
        let config = &self.config;
        let channels = (params.channel_count as usize).min(config.channel_limit);
        let offered = if config.incoming_bandwidth == 0 {
            MAX_WINDOW_SIZE
        } else {
            window_from_bandwidth(config.incoming_bandwidth)
        };
        let verify = ConnectParams {
            outgoing_peer_id: slot as u16,
            incoming_session_id: outgoing_session,
            outgoing_session_id: incoming_session,
            mtu: params.mtu.clamp(MIN_MTU, MAX_MTU).min(config.mtu),
            window_size: offered.min(params.window_size).clamp(MIN_WINDOW_SIZE, MAX_WINDOW_SIZE),
            channel_count: channels as u32,
            incoming_bandwidth: config.incoming_bandwidth,
            outgoing_bandwidth: config.outgoing_bandwidth,
            throttle: params.throttle,
            connect_id: params.connect_id,
        };
        let lifetime = duration_ms(config.timeouts.minimum);
        let manual = config.manual_accept;
        let serial = self.next_serial();
        let offset: u16 = self.rng.random();
        let mut entry =
            Entry::new(serial, from, slot as u16, params, data, verify, offset, now, lifetime);
        entry.accepted = !manual;
        entry.exclusive = exclusive;
        let index = self.half_open.insert(entry);
        self.half_open.note_received(index, wire_len);
        let peer = PeerHandle { index: slot as u16, generation: serial };
        trace::lifecycle!(%peer, address = %from, data, channels, "connect request");
        if manual {
            self.events.push_back(Event::ConnectRequest {
                peer,
                address: from,
                data,
                channel_count: channels,
            });
        } else {
            trace::lifecycle!(%peer, address = %from, "verify-connect sent");
            self.half_open.queue_verify(index);
        }
    }

    /// A flood cannot pin the table: the oldest attempt makes room.
    fn evict_oldest_half_open(&mut self) {
        if let Some(oldest) = self.half_open.oldest() {
            self.stats.half_open_evicted += 1;
            self.drop_half_open(oldest, DisconnectReason::Evicted, 0);
        }
    }

    /// Live connections and half-open ones from `from`'s IP address (the
    /// slots are only counted when the limit could be reached).
    fn connections_from(&self, from: SocketAddr) -> usize {
        let half_open = self.half_open.count_from(from.ip());
        if self.config.duplicate_peers >= self.peers.len() {
            return half_open;
        }
        let live = self
            .peers
            .iter()
            .filter(|p| p.state != PeerState::Disconnected && p.address.ip() == from.ip())
            .count();
        live + half_open
    }

    /// A free slot to name in a VERIFY_CONNECT, taken in turn, so that
    /// attempts in progress at once name different slots while enough are
    /// free; `exclusive`: one no other exclusive attempt names.
    fn tentative_slot(&mut self, exclusive: bool) -> Option<usize> {
        let (slots, cursor) = (self.peers.len(), self.half_open.cursor);
        let slot = (0..slots).map(|step| (cursor + step) % slots).find(|&i| {
            self.peers[i].state == PeerState::Disconnected
                && !(exclusive && self.half_open.is_named(i as u16))
        })?;
        self.half_open.cursor = slot + 1;
        Some(slot)
    }

    /// A datagram from a half-open connection's address, to its slot and
    /// session: the proof, the remote giving up, or data showing it has our
    /// VERIFY_CONNECT but its acknowledgement was lost.
    pub(super) fn handle_half_open(
        &mut self,
        index: u32,
        now: u32,
        datagram: &Datagram<'_>,
        body: &[u8],
        raw: &[u8],
    ) -> HalfOpenOutcome {
        self.half_open.note_received(index, raw.len());
        let Some(entry) = self.half_open.get(index) else { return HalfOpenOutcome::Done };
        if datagram.verify_checksum(entry.connect.connect_id, body).is_err() {
            self.stats.dropped_checksum += 1;
            return HalfOpenOutcome::Done;
        }
        let sent_time = datagram.header().sent_time;
        let (mut echo, mut disconnect) = (None, None);
        for command in Commands::new(body) {
            let Ok(command) = command else {
                self.stats.dropped_malformed += 1;
                return HalfOpenOutcome::Done;
            };
            if command.header.acknowledge && sent_time.is_none() {
                self.stats.dropped_malformed += 1;
                return HalfOpenOutcome::Done;
            }
            match command.body {
                CommandBody::Acknowledge {
                    received_reliable_sequence_number: 1,
                    received_sent_time,
                } if command.header.channel_id == CONTROL_CHANNEL => {
                    echo = Some(received_sent_time);
                }
                CommandBody::Disconnect { data } => disconnect = Some(data),
                _ => {}
            }
        }
        if let Some(data) = disconnect {
            // The remote gave up.
            self.drop_half_open(index, DisconnectReason::Remote, data);
            return HalfOpenOutcome::Done;
        }
        let Some(echo) = echo else {
            // It sends what only a remote that has our VERIFY_CONNECT sends:
            // its acknowledgement was lost. Answer again and keep this
            // datagram for after the proof.
            self.half_open.stash(index, raw);
            self.half_open.queue_verify(index);
            return HalfOpenOutcome::Done;
        };
        match self.half_open.check_proof(index, echo, now) {
            Proof::Valid(rtt) => self.complete_handshake(index, now, rtt),
            Proof::Miss => {
                self.stats.handshake_proofs_failed += 1;
                HalfOpenOutcome::Done
            }
            Proof::Exhausted => {
                // Someone keeps guessing: the attempt goes.
                self.stats.handshake_proofs_failed += 1;
                self.drop_half_open(index, DisconnectReason::Evicted, 0);
                HalfOpenOutcome::Done
            }
        }
    }

    /// The remote proved it receives us: the connection takes its slot.
    fn complete_handshake(&mut self, index: u32, now: u32, rtt: u32) -> HalfOpenOutcome {
        let Some(entry) = self.half_open.remove(index) else { return HalfOpenOutcome::Done };
        let handle = PeerHandle { index: entry.slot, generation: entry.serial };
        let slot = usize::from(entry.slot);
        if self.peers[slot].state != PeerState::Disconnected {
            // Another connection took the slot this one was promised (only
            // when many attempts overlap): it has to connect again.
            self.stats.handshake_collisions += 1;
            self.abort_half_open(&entry, 0);
            if self.config.manual_accept {
                self.events.push_back(Event::Disconnected {
                    peer: handle,
                    reason: DisconnectReason::Evicted,
                    data: 0,
                });
            }
            return HalfOpenOutcome::Done;
        }
        let channels = entry.verify.channel_count as usize;
        self.init_slot(slot, entry.address, channels);
        let local_outgoing = self.config.outgoing_bandwidth;
        let p = &mut self.peers[slot];
        p.generation = entry.serial;
        p.state = PeerState::Connected;
        p.connect_id = entry.connect.connect_id;
        p.outgoing_peer_id = entry.connect.outgoing_peer_id;
        p.connect_data = entry.data;
        p.remote_incoming_bandwidth = entry.connect.incoming_bandwidth;
        p.remote_outgoing_bandwidth = entry.connect.outgoing_bandwidth;
        p.throttle.params = sanitize_throttle(entry.connect.throttle);
        p.outgoing_session_id = entry.outgoing_session();
        p.incoming_session_id = entry.incoming_session();
        p.mtu = entry.verify.mtu;
        p.window_size = send_window(local_outgoing, entry.connect.incoming_bandwidth);
        // The VERIFY_CONNECT was control command 1.
        p.control_seq = 1;
        p.sent_time_offset = entry.sent_time_offset;
        let interval = p.throttle.params.interval.max(1);
        p.rtt.update(rtt, now, interval);
        p.last_receive_time = now.max(1);
        self.occupied += 1;
        self.recalculate_bandwidth = true;
        trace::lifecycle!(peer = %handle, address = %entry.address, data = entry.data, "connected");
        self.events.push_back(Event::Connected { peer: handle, data: entry.data });
        self.mark_ready(slot);
        HalfOpenOutcome::Proven { slot, replay: entry.stash }
    }

    /// Removes a half-open connection; the application hears of it if it
    /// saw the request (manual accept).
    pub(super) fn drop_half_open(&mut self, index: u32, reason: DisconnectReason, data: u32) {
        let Some(entry) = self.half_open.remove(index) else { return };
        trace::lifecycle!(address = %entry.address, %reason, "half-open connection ended");
        if self.config.manual_accept {
            let peer = PeerHandle { index: entry.slot, generation: entry.serial };
            self.events.push_back(Event::Disconnected { peer, reason, data });
        }
    }

    /// One unsequenced DISCONNECT to a half-open connection's remote, with
    /// the refusal proof a connecting Volley client checks.
    fn abort_half_open(&mut self, entry: &Entry, data: u32) {
        let header = Header {
            peer_id: entry.connect.outgoing_peer_id,
            session_id: entry.outgoing_session() & SESSION_ID_MASK,
            compressed: false,
            sent_time: Some(refusal_proof(entry.connect.connect_id)),
        };
        self.push_direct_disconnect(entry.address, header, entry.connect.connect_id, 2, data);
    }

    /// The half-open connection `handle` names, if it is one.
    pub(super) fn half_open_index(&self, handle: PeerHandle) -> Option<u32> {
        self.half_open
            .by_serial(handle.generation)
            .filter(|&i| self.half_open.get(i).is_some_and(|e| e.slot == handle.index))
    }

    /// [`Endpoint::accept`] of a half-open connection.
    pub(super) fn accept_half_open(&mut self, index: u32) -> Result<(), PeerError> {
        let entry = self.half_open.get_mut(index).ok_or(PeerError::UnknownPeer)?;
        if entry.accepted {
            return Err(PeerError::WrongState);
        }
        entry.accepted = true;
        trace::lifecycle!(
            peer = %PeerHandle { index: entry.slot, generation: entry.serial },
            address = %entry.address,
            "verify-connect sent"
        );
        self.half_open.queue_verify(index);
        Ok(())
    }

    /// [`Endpoint::refuse`] of a half-open connection.
    pub(super) fn refuse_half_open(&mut self, index: u32, reason: u32) -> Result<(), PeerError> {
        let entry = self.half_open.get(index).ok_or(PeerError::UnknownPeer)?;
        if entry.accepted {
            return Err(PeerError::WrongState);
        }
        trace::lifecycle!(
            peer = %PeerHandle { index: entry.slot, generation: entry.serial },
            address = %entry.address,
            reason,
            "connection refused"
        );
        self.close_half_open(index, Some(reason));
        Ok(())
    }

    /// Ends a half-open connection without an event: with a DISCONNECT
    /// carrying `data` (the refusal proof makes a Volley client report
    /// `Refused`), or silently.
    pub(super) fn close_half_open(&mut self, index: u32, data: Option<u32>) {
        if let Some(entry) = self.half_open.remove(index)
            && let Some(data) = data
        {
            self.abort_half_open(&entry, data);
        }
    }

    /// The state a half-open connection reports.
    pub(super) fn half_open_state(&self, index: u32) -> Option<PeerState> {
        let entry = self.half_open.get(index)?;
        Some(if entry.accepted {
            PeerState::AcknowledgingConnect
        } else {
            PeerState::AwaitingAccept
        })
    }

    /// Half-open connections whose time is up.
    pub(super) fn expire_half_open(&mut self, now: u32) {
        while let Some(index) = self.half_open.pop_expired(now) {
            self.drop_half_open(index, DisconnectReason::Timeout, 0);
        }
    }
}
