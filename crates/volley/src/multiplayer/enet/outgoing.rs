//! Sending from a session: the profile's framing, then one send per
//! connection the target covers (or one to the server, which routes).

use volley_proto::{SendError, TransferMode};

use super::Role;
use super::roster::Member;
use super::session::Session;
use crate::multiplayer::framing::{ChannelError, RelayHeader, WireProfile};
use crate::multiplayer::{ConnectionStatus, PeerId, PutPacketError, Target};
use crate::{Host, HostError};

impl Session {
    /// Sends `payload` from this peer to the current target.
    pub(super) fn put(&mut self, host: &Host, payload: &[u8]) -> Result<(), PutPacketError> {
        if self.status != ConnectionStatus::Connected {
            return Err(PutPacketError::NotConnected);
        }
        if payload.len() > self.max_packet_size {
            return Err(PutPacketError::PayloadTooLarge {
                len: payload.len(),
                max: self.max_packet_size,
            });
        }
        let user_channel = self.transfer_channel;
        if user_channel >= self.channels {
            return Err(ChannelError::UserChannelOutOfRange {
                channel: user_channel,
                max: self.channels - 1,
            }
            .into());
        }
        let mode = self.transfer_mode;
        let enet_channel = self.profile.enet_channel(user_channel, mode)?;
        let mut frame = std::mem::take(&mut self.frame);
        let bytes = match self.profile {
            WireProfile::Relay => {
                frame.clear();
                frame.extend_from_slice(&RelayHeader::new(self.unique_id, self.target).to_bytes());
                frame.extend_from_slice(payload);
                &frame[..]
            }
            WireProfile::Godot4 => payload,
        };
        let result = if self.role == Role::Client && self.profile == WireProfile::Relay {
            self.put_through_server(host, enet_channel, mode, bytes)
        } else {
            self.put_direct(host, enet_channel, mode, bytes)
        };
        self.frame = frame;
        result
    }

    /// A relay-profile client: everything goes to the server, which routes
    /// by the header's target.
    fn put_through_server(
        &mut self,
        host: &Host,
        enet_channel: u8,
        mode: TransferMode,
        bytes: &[u8],
    ) -> Result<(), PutPacketError> {
        if let Target::Peer(id) = self.target {
            let known = self.client.as_ref().is_some_and(|c| c.relayed.contains(&id));
            if !(id.is_server() || known) {
                return Err(PutPacketError::UnknownTarget(id));
            }
        }
        let server = self.roster.connected(PeerId::SERVER).ok_or(PutPacketError::NotConnected)?;
        self.send_one(host, server, enet_channel, mode, bytes)
    }

    /// Servers, mesh peers and godot4 clients: one send per direct
    /// connection the target covers.
    fn put_direct(
        &mut self,
        host: &Host,
        enet_channel: u8,
        mode: TransferMode,
        bytes: &[u8],
    ) -> Result<(), PutPacketError> {
        let except = match self.target {
            Target::Peer(id) => {
                let member = self.roster.connected(id).ok_or(PutPacketError::UnknownTarget(id))?;
                return self.send_one(host, member, enet_channel, mode, bytes);
            }
            Target::Broadcast => None,
            Target::AllExcept(id) => Some(id),
        };
        for member in self.roster.connected_members() {
            if Some(member.id) == except {
                continue;
            }
            // A broadcast reaches whoever can take it; the rest are counted.
            if host.send(member.handle, enet_channel, mode, bytes).is_err() {
                self.stats.copies_failed += 1;
            }
        }
        Ok(())
    }

    fn send_one(
        &self,
        host: &Host,
        to: Member,
        enet_channel: u8,
        mode: TransferMode,
        bytes: &[u8],
    ) -> Result<(), PutPacketError> {
        match host.send(to.handle, enet_channel, mode, bytes) {
            Ok(()) => Ok(()),
            Err(HostError::Send(SendError::QueueFull { .. })) => {
                Err(PutPacketError::QueueFull(to.id))
            }
            Err(HostError::Send(SendError::ChannelOutOfRange { channel_count, .. })) => {
                // The remote negotiated fewer channels than this peer has.
                let count = u8::try_from(channel_count).unwrap_or(u8::MAX);
                let max = self.profile.highest_user_channel(count).unwrap_or(0);
                Err(ChannelError::UserChannelOutOfRange { channel: self.transfer_channel, max }
                    .into())
            }
            Err(HostError::Send(SendError::PacketTooLarge { len, max })) => {
                Err(PutPacketError::PayloadTooLarge { len, max })
            }
            Err(_) => Err(PutPacketError::UnknownTarget(to.id)),
        }
    }
}
