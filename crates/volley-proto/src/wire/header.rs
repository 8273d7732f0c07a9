//! The protocol header at the start of every datagram.

use super::DecodeError;
use crate::constants::{MAX_DATAGRAM_SIZE, NO_PEER_ID, SESSION_ID_MASK};

const PEER_ID_MASK: u16 = 0x0FFF;
const SESSION_SHIFT: u16 = 12;
const FLAG_COMPRESSED: u16 = 0x4000;
const FLAG_SENT_TIME: u16 = 0x8000;

/// Bytes of the checksum field, when the hosts use checksums.
pub const CHECKSUM_LEN: usize = 4;
/// The longest header: peer id word, sent time and checksum.
pub const MAX_HEADER_LEN: usize = 2 + 2 + CHECKSUM_LEN;

/// The header of a datagram.
///
/// On the wire: a big-endian `u16` holding the receiver's peer slot (12 bits),
/// the sender's session id (2 bits), a COMPRESSED flag and a SENT_TIME flag;
/// then the 16-bit sent time when that flag is set; then the checksum when the
/// hosts are configured to use one (nothing on the wire says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The receiver's peer slot, or [`NO_PEER_ID`] when the sender does not know it yet.
    pub peer_id: u16,
    /// The sender's outgoing session id (0-3).
    pub session_id: u8,
    /// The body after the header is compressed.
    pub compressed: bool,
    /// Low 16 bits of the sender's millisecond clock; present iff the datagram
    /// carries a command that must be acknowledged.
    pub sent_time: Option<u16>,
}

impl Header {
    /// Length of this header on the wire, with or without the checksum field.
    pub fn encoded_len(&self, with_checksum: bool) -> usize {
        2 + if self.sent_time.is_some() { 2 } else { 0 }
            + if with_checksum { CHECKSUM_LEN } else { 0 }
    }

    /// The first 16-bit word: peer id, session and flags.
    pub fn peer_word(&self) -> u16 {
        let mut word = (self.peer_id & PEER_ID_MASK)
            | (u16::from(self.session_id & SESSION_ID_MASK) << SESSION_SHIFT);
        if self.compressed {
            word |= FLAG_COMPRESSED;
        }
        if self.sent_time.is_some() {
            word |= FLAG_SENT_TIME;
        }
        word
    }

    /// Writes the header (without the checksum field) into the start of `out`,
    /// returning the bytes written (2 or 4).
    ///
    /// `out` must hold at least [`Self::encoded_len`]`(false)` bytes.
    pub fn write(&self, out: &mut [u8]) -> usize {
        out[..2].copy_from_slice(&self.peer_word().to_be_bytes());
        match self.sent_time {
            Some(t) => {
                out[2..4].copy_from_slice(&t.to_be_bytes());
                4
            }
            None => 2,
        }
    }

    /// Parses the header at the start of `datagram`.
    ///
    /// Returns the header, the stored checksum (when `with_checksum`) and the
    /// header length. Rejects datagrams shorter than their own header and
    /// datagrams larger than [`MAX_DATAGRAM_SIZE`].
    pub fn parse(
        datagram: &[u8],
        with_checksum: bool,
    ) -> Result<(Self, Option<[u8; CHECKSUM_LEN]>, usize), DecodeError> {
        if datagram.len() > MAX_DATAGRAM_SIZE {
            return Err(DecodeError::Oversized { len: datagram.len() });
        }
        let Some(&[hi, lo]) = datagram.first_chunk::<2>() else {
            return Err(DecodeError::TruncatedHeader { needed: 2, available: datagram.len() });
        };
        let word = u16::from_be_bytes([hi, lo]);
        let has_time = word & FLAG_SENT_TIME != 0;
        let needed =
            2 + if has_time { 2 } else { 0 } + if with_checksum { CHECKSUM_LEN } else { 0 };
        if datagram.len() < needed {
            return Err(DecodeError::TruncatedHeader { needed, available: datagram.len() });
        }
        let sent_time = has_time.then(|| u16::from_be_bytes([datagram[2], datagram[3]]));
        let checksum = with_checksum.then(|| {
            let at = needed - CHECKSUM_LEN;
            [datagram[at], datagram[at + 1], datagram[at + 2], datagram[at + 3]]
        });
        let header = Self {
            peer_id: word & PEER_ID_MASK,
            session_id: ((word >> SESSION_SHIFT) as u8) & SESSION_ID_MASK,
            compressed: word & FLAG_COMPRESSED != 0,
            sent_time,
        };
        Ok((header, checksum, needed))
    }

    /// True when the sender did not know the receiver's slot (only CONNECT may follow).
    pub fn is_unaddressed(&self) -> bool {
        self.peer_id == NO_PEER_ID
    }
}
