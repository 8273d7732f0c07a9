//! Sending from a session: the profile's framing, then one send per link
//! the target covers (or one to the server, which routes).

use super::codec;
use super::link::{Lane, LinkSendError, Links};
use super::roster::Member;
use super::{Core, Role};
use crate::multiplayer::framing::scene::{self, ScenePacket};
use crate::multiplayer::framing::{ChannelError, LinkFraming, RelayHeader, WireProfile};
use crate::multiplayer::{ConnectionStatus, PeerId, PutPacketError, Target};

impl Core {
    /// Sends `payload` from this peer to the current target.
    pub(crate) fn put(
        &mut self,
        links: &mut dyn Links,
        payload: &[u8],
    ) -> Result<(), PutPacketError> {
        if self.status != ConnectionStatus::Connected {
            return Err(PutPacketError::NotConnected);
        }
        if payload.len() > self.max_packet_size {
            return Err(PutPacketError::PayloadTooLarge {
                len: payload.len(),
                max: self.max_packet_size,
            });
        }
        let channel = self.transfer_channel;
        if channel >= self.channels {
            return Err(
                ChannelError::UserChannelOutOfRange { channel, max: self.channels - 1 }.into()
            );
        }
        let lane = Lane::User { channel, mode: self.transfer_mode };
        match self.profile {
            WireProfile::Relay => self.put_godot3(links, lane, payload),
            WireProfile::Godot4 => self.put_scene(links, lane, payload),
        }
    }

    fn put_godot3(
        &mut self,
        links: &mut dyn Links,
        lane: Lane,
        payload: &[u8],
    ) -> Result<(), PutPacketError> {
        let header = RelayHeader::new(self.unique_id, self.target);
        if self.role != Role::Client {
            return self.put_direct(links, lane, Outgoing::Godot3(header, payload));
        }
        // Everything goes to the server, which routes by the header's target.
        if let Target::Peer(id) = self.target
            && !self.knows(id)
        {
            return Err(PutPacketError::UnknownTarget(id));
        }
        let server = self.roster.connected(PeerId::SERVER).ok_or(PutPacketError::NotConnected)?;
        let mut frame = std::mem::take(&mut self.frame);
        codec::encode_godot3(links.framing(server.link), &mut frame, header, payload);
        let result = self.send_one(links, server, lane, &frame);
        self.frame = frame;
        result
    }

    /// Godot 4: SceneMultiplayer packets, RAW-framed if asked; a relaying
    /// client wraps what is not for the server in a relay to it.
    fn put_scene(
        &mut self,
        links: &mut dyn Links,
        lane: Lane,
        payload: &[u8],
    ) -> Result<(), PutPacketError> {
        let Some(&first) = payload.first() else {
            return Err(PutPacketError::EmptyPayload);
        };
        if !self.raw && ScenePacket::is_sys(first) {
            return Err(PutPacketError::ReservedCommand(first));
        }
        if !(self.role == Role::Client && self.relay) {
            return self.put_direct(links, lane, Outgoing::Scene { raw: self.raw, payload });
        }
        let destination = match self.target {
            Target::Peer(id) if id.is_server() => None,
            Target::Peer(id) if !self.knows(id) => return Err(PutPacketError::UnknownTarget(id)),
            target => Some(i32::from(target)),
        };
        let server = self.roster.connected(PeerId::SERVER).ok_or(PutPacketError::NotConnected)?;
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        if let Some(destination) = destination {
            frame.extend_from_slice(&scene::relay_header(destination));
        }
        if self.raw {
            frame.push(scene::RAW);
        }
        frame.extend_from_slice(payload);
        let result = self.send_one(links, server, lane, &frame);
        self.frame = frame;
        result
    }

    /// Servers, mesh peers and godot4 clients without relay: one send per
    /// link the target covers, in each link's framing (built once per run of links of one
    /// framing).
    fn put_direct(
        &mut self,
        links: &mut dyn Links,
        lane: Lane,
        outgoing: Outgoing<'_>,
    ) -> Result<(), PutPacketError> {
        let mut frame = std::mem::take(&mut self.frame);
        let result = self.put_direct_with(links, lane, outgoing, &mut frame);
        self.frame = frame;
        result
    }

    fn put_direct_with(
        &mut self,
        links: &mut dyn Links,
        lane: Lane,
        outgoing: Outgoing<'_>,
        frame: &mut Vec<u8>,
    ) -> Result<(), PutPacketError> {
        let except = match self.target {
            Target::Peer(id) => {
                let member = self.roster.connected(id).ok_or(PutPacketError::UnknownTarget(id))?;
                let bytes = outgoing.framed(links.framing(member.link), frame, &mut None);
                return self.send_one(links, member, lane, bytes);
            }
            Target::Broadcast => None,
            Target::AllExcept(id) => Some(id),
        };
        let mut framed_for = None;
        for member in self.roster.connected_members() {
            if Some(member.id) == except {
                continue;
            }
            let bytes = outgoing.framed(links.framing(member.link), frame, &mut framed_for);
            // A broadcast reaches whoever can take it; the rest are counted.
            if links.send(member.link, lane, bytes).is_err() {
                self.stats.copies_failed += 1;
            }
        }
        Ok(())
    }

    fn send_one(
        &self,
        links: &mut dyn Links,
        to: Member,
        lane: Lane,
        bytes: &[u8],
    ) -> Result<(), PutPacketError> {
        links.send(to.link, lane, bytes).map_err(|error| match error {
            LinkSendError::QueueFull => PutPacketError::QueueFull(to.id),
            // The remote negotiated fewer channels than this peer has.
            LinkSendError::Channel { highest } => ChannelError::UserChannelOutOfRange {
                channel: self.transfer_channel,
                max: highest.unwrap_or(0),
            }
            .into(),
            LinkSendError::TooLarge { len, max } => PutPacketError::PayloadTooLarge { len, max },
            LinkSendError::Gone => PutPacketError::UnknownTarget(to.id),
        })
    }
}

/// A packet of this peer's, before framing.
#[derive(Debug, Clone, Copy)]
enum Outgoing<'a> {
    /// Godot 4: the same bytes on every link, behind RAW's `03` if `raw`.
    Scene {
        /// Whether `03` goes in front.
        raw: bool,
        /// The application's bytes.
        payload: &'a [u8],
    },
    /// Godot 3: the user's bytes behind `header`, in each link's framing.
    Godot3(RelayHeader, &'a [u8]),
}

impl<'a> Outgoing<'a> {
    /// The bytes for a link of `framing`, framed into `frame` unless
    /// `framed_for` says it already holds them.
    fn framed<'f>(
        self,
        framing: LinkFraming,
        frame: &'f mut Vec<u8>,
        framed_for: &mut Option<LinkFraming>,
    ) -> &'f [u8]
    where
        'a: 'f,
    {
        match self {
            Self::Scene { raw: false, payload } => payload,
            Self::Scene { raw: true, payload } => {
                if framed_for.is_none() {
                    frame.clear();
                    frame.push(scene::RAW);
                    frame.extend_from_slice(payload);
                    *framed_for = Some(framing);
                }
                frame
            }
            Self::Godot3(header, user) => {
                if *framed_for != Some(framing) {
                    codec::encode_godot3(framing, frame, header, user);
                    *framed_for = Some(framing);
                }
                frame
            }
        }
    }
}
