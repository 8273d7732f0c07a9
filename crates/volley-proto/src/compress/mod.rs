//! Optional compression of datagram bodies.
//!
//! A [`Compressor`] transforms everything after the protocol header (and
//! checksum) of a datagram. The sender sets the header's COMPRESSED flag only
//! when the transformed body came out strictly smaller; the receiver undoes the
//! transform for flagged datagrams. Nothing on the wire says *which*
//! compressor was used, so both ends must be configured alike.
//!
//! [`RangeCoder`] is the one compressor Volley ships: it produces exactly the
//! bytes of ENet's built-in range coder, so Volley and ENet hosts that both
//! enable it interoperate.

use std::error::Error;
use std::fmt;

mod range_coder;

pub use range_coder::RangeCoder;

/// A transform of datagram bodies. Both ends must be configured with the same one: nothing on the wire negotiates it.
///
/// # Example
///
/// ```
/// use volley_proto::compress::{Compressor, RangeCoder};
///
/// let mut coder = RangeCoder::new();
/// let body = [0x86_u8; 64];
/// let mut packed = [0_u8; 64];
/// let packed_len = coder.compress(&body, &mut packed).expect("repetitive data shrinks");
/// assert!(packed_len < body.len());
///
/// let mut unpacked = [0_u8; 64];
/// let unpacked_len = coder.decompress(&packed[..packed_len], &mut unpacked)?;
/// assert_eq!(&unpacked[..unpacked_len], &body[..]);
/// # Ok::<(), volley_proto::compress::DecompressError>(())
/// ```
pub trait Compressor: Send {
    /// Compresses `input` into `output`. Returns the compressed length, or `None` if it does not fit in `output`
    /// (the caller then sends the datagram uncompressed). Must never write past `output`.
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Option<usize>;

    /// Decompresses `input` into `output`, never writing past it; typed error on malformed input or overflow.
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, DecompressError>;
}

/// Why a compressed body could not be decompressed.
///
/// ENet reports every one of these as a zero length and drops the datagram;
/// a receiver should do the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecompressError {
    /// The compressed body has no bytes at all.
    EmptyInput,
    /// The stream ends before yielding a single byte; no compressor emits that.
    EmptyOutput,
    /// The decompressed body is longer than the output buffer.
    OutputOverflow,
    /// The stream selects a symbol its model cannot contain, so it was not
    /// produced by this compressor (or was damaged in transit).
    Malformed,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyInput => "compressed body is empty",
            Self::EmptyOutput => "compressed body decodes to no bytes",
            Self::OutputOverflow => "decompressed body does not fit in the output buffer",
            Self::Malformed => "compressed body is malformed",
        })
    }
}

impl Error for DecompressError {}
