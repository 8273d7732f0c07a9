//! The relay profile's 8-byte packet header: who sent it, who it is for.

use std::fmt;

use crate::multiplayer::{PeerId, PeerIdError, Target, TargetError};

/// `[source: u32 LE][target: i32 LE]` in front of every relay-profile game
/// packet (ENet channel ≥ 1).
///
/// The fields hold the raw wire values so that a received header can be
/// judged (a spoofed source, an unknown target) rather than rejected at
/// decode time; [`RelayHeader::sender`] and [`RelayHeader::destination`]
/// validate them.
///
/// ```
/// use volley::multiplayer::framing::RelayHeader;
/// use volley::multiplayer::{PeerId, Target};
///
/// let packet = [2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'];
/// let (header, user_bytes) = RelayHeader::decode(&packet)?;
/// assert_eq!(header.sender()?, PeerId::try_from(2_u32)?);
/// assert_eq!(header.destination()?, Target::Broadcast);
/// assert_eq!(user_bytes, b"hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayHeader {
    /// The sending peer's id as written by the sender (a server checks it).
    pub source: u32,
    /// Godot's target integer: 0 all, 1 server, `N` peer `N`, `-N` all but `N`.
    pub target: i32,
}

impl RelayHeader {
    /// Bytes the header occupies at the start of a packet.
    pub const LEN: usize = 8;

    /// The header `source` sends to `target` with.
    pub fn new(source: PeerId, target: Target) -> Self {
        Self { source: source.get(), target: i32::from(target) }
    }

    /// The header as it goes on the wire.
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        bytes[..4].copy_from_slice(&self.source.to_le_bytes());
        bytes[4..].copy_from_slice(&self.target.to_le_bytes());
        bytes
    }

    /// Writes the header into the first 8 bytes of `packet` (a send buffer
    /// with room reserved in front of the user's bytes).
    pub fn encode_into(self, packet: &mut [u8]) -> Result<(), RelayHeaderError> {
        let Some(front) = packet.get_mut(..Self::LEN) else {
            return Err(RelayHeaderError::TooShort { len: packet.len() });
        };
        front.copy_from_slice(&self.to_bytes());
        Ok(())
    }

    /// Splits a received packet into its header and the user's bytes.
    ///
    /// Packets shorter than 8 bytes carry no header and must be dropped.
    pub fn decode(packet: &[u8]) -> Result<(Self, &[u8]), RelayHeaderError> {
        let Some((source, rest)) = packet.split_first_chunk::<4>() else {
            return Err(RelayHeaderError::TooShort { len: packet.len() });
        };
        let Some((target, user_bytes)) = rest.split_first_chunk::<4>() else {
            return Err(RelayHeaderError::TooShort { len: packet.len() });
        };
        let header =
            Self { source: u32::from_le_bytes(*source), target: i32::from_le_bytes(*target) };
        Ok((header, user_bytes))
    }

    /// The source as a peer id. On a client this is the packet's sender; on
    /// a server [`route_from_client`](super::route_from_client) checks it
    /// against the sending connection first.
    pub fn sender(self) -> Result<PeerId, PeerIdError> {
        PeerId::try_from(self.source)
    }

    /// The target as a [`Target`].
    pub fn destination(self) -> Result<Target, TargetError> {
        Target::try_from(self.target)
    }
}

/// A buffer too short to hold a [`RelayHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayHeaderError {
    /// Fewer than 8 bytes: on receipt, drop the packet; on sending, reserve
    /// 8 bytes in front of the payload.
    TooShort {
        /// The buffer's length.
        len: usize,
    },
}

impl fmt::Display for RelayHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(f, "{len} bytes cannot hold the 8-byte relay header")
            }
        }
    }
}

impl std::error::Error for RelayHeaderError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn decode_reads_little_endian_fields_and_keeps_the_rest() {
        let packet = [0x39, 0x30, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3];
        let (header, user) = RelayHeader::decode(&packet).expect("long enough");
        assert_eq!(header, RelayHeader { source: 12345, target: -1 });
        assert_eq!(user, [1, 2, 3]);
        assert_eq!(header.sender(), Ok(id(12345)));
        assert_eq!(header.destination(), Ok(Target::AllExcept(PeerId::SERVER)));
    }

    #[test]
    fn decode_accepts_an_empty_payload() {
        let (header, user) = RelayHeader::decode(&[1, 0, 0, 0, 1, 0, 0, 0]).expect("8 bytes");
        assert_eq!(header, RelayHeader::new(PeerId::SERVER, Target::SERVER));
        assert!(user.is_empty());
    }

    #[test]
    fn decode_rejects_every_length_below_8() {
        let bytes = [0xAB; 8];
        for len in 0..RelayHeader::LEN {
            assert_eq!(RelayHeader::decode(&bytes[..len]), Err(RelayHeaderError::TooShort { len }));
        }
    }

    #[test]
    fn encode_round_trips_through_decode() {
        let headers = [
            RelayHeader::new(id(2), Target::Broadcast),
            RelayHeader::new(PeerId::SERVER, Target::Peer(PeerId::MAX)),
            RelayHeader::new(PeerId::MAX, Target::AllExcept(PeerId::MAX)),
            RelayHeader { source: u32::MAX, target: i32::MIN },
        ];
        for header in headers {
            let bytes = header.to_bytes();
            assert_eq!(RelayHeader::decode(&bytes), Ok((header, &[][..])));
        }
    }

    #[test]
    fn encode_into_writes_only_the_front() {
        let mut packet = [0xEE; 10];
        RelayHeader::new(id(2), Target::SERVER)
            .encode_into(&mut packet)
            .expect("room for the header");
        assert_eq!(packet, [2, 0, 0, 0, 1, 0, 0, 0, 0xEE, 0xEE]);
        let mut short = [0; 7];
        assert_eq!(
            RelayHeader::new(id(2), Target::SERVER).encode_into(&mut short),
            Err(RelayHeaderError::TooShort { len: 7 })
        );
    }

    #[test]
    fn invalid_wire_values_are_reported_not_hidden() {
        let header = RelayHeader { source: 0, target: i32::MIN };
        assert_eq!(header.sender(), Err(PeerIdError::Zero));
        assert_eq!(header.destination(), Err(TargetError(i32::MIN)));
        assert_eq!(
            RelayHeaderError::TooShort { len: 3 }.to_string(),
            "3 bytes cannot hold the 8-byte relay header"
        );
    }
}
