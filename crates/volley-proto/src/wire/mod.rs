//! The wire codec: ENet 1.3 datagrams, byte for byte.
//!
//! Decoding is zero-copy and strict: every length, count, channel id,
//! fragment field and flag is checked, and a malformed datagram yields a
//! [`DecodeError`] saying what was wrong. Encoding writes into a buffer the
//! caller owns. See `docs/protocol.md` for the format and for where Volley is
//! stricter than the C library.

mod command;
mod datagram;
mod error;
mod header;

pub use command::{
    COMMAND_HEADER_LEN, Command, CommandBody, CommandHeader, ConnectParams, Fragment,
    ThrottleParams,
};
pub use datagram::{Commands, Datagram, DatagramWriter, checksum};
pub use error::{DecodeError, EncodeError, FragmentError};
pub use header::{CHECKSUM_LEN, Header, MAX_HEADER_LEN};
