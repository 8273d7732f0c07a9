//! ENet's own range coder, linked from the C library (ENet 1.3.17 as built by
//! `enet-sys`), behind Volley's [`Compressor`] trait so tests and benches can
//! drive both implementations the same way.

use std::ffi::c_void;
use std::ptr::NonNull;

use enet_sys::{
    ENetBuffer, enet_range_coder_compress, enet_range_coder_create, enet_range_coder_decompress,
    enet_range_coder_destroy,
};
use volley_proto::compress::{Compressor, DecompressError};

/// An instance of ENet's C range coder (`enet_range_coder_create`).
///
/// ```
/// use volley_bench::enet_c::EnetRangeCoder;
/// use volley_proto::compress::Compressor;
///
/// let mut coder = EnetRangeCoder::new().expect("allocation");
/// let mut packed = [0_u8; 32];
/// assert!(coder.compress(&[7; 32], &mut packed).is_some());
/// ```
pub struct EnetRangeCoder {
    context: NonNull<c_void>,
}

impl EnetRangeCoder {
    /// Allocates a coder; `None` if ENet's allocator fails.
    #[allow(unsafe_code)]
    pub fn new() -> Option<Self> {
        // SAFETY: `enet_range_coder_create` takes no arguments and returns
        // either null or a block owned by the caller until destroyed.
        let context = unsafe { enet_range_coder_create() };
        NonNull::new(context).map(|context| Self { context })
    }
}

// SAFETY: the context is a plain heap block used only through `&mut self`
// and referenced nowhere else, so moving it to another thread is sound.
#[allow(unsafe_code)]
unsafe impl Send for EnetRangeCoder {}

impl Drop for EnetRangeCoder {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the context came from `enet_range_coder_create` and is
        // destroyed exactly once, here.
        unsafe { enet_range_coder_destroy(self.context.as_ptr()) }
    }
}

impl Compressor for EnetRangeCoder {
    /// ENet signals both "empty input" and "does not fit" with 0, mapped to
    /// `None`.
    #[allow(unsafe_code)]
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Option<usize> {
        let buffer = ENetBuffer { data: input.as_ptr().cast_mut().cast(), dataLength: input.len() };
        // SAFETY: the context is live; ENet only reads `input.len()` bytes
        // through the one buffer (it never writes through `data`) and writes
        // at most `output.len()` bytes to `output`.
        let written = unsafe {
            enet_range_coder_compress(
                self.context.as_ptr(),
                &buffer,
                1,
                input.len(),
                output.as_mut_ptr(),
                output.len(),
            )
        };
        (written > 0).then_some(written)
    }

    /// ENet reports every failure as 0 without a reason; this maps it to
    /// [`DecompressError::EmptyInput`] for an empty input and
    /// [`DecompressError::Malformed`] otherwise.
    #[allow(unsafe_code)]
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, DecompressError> {
        // SAFETY: the context is live; ENet reads at most `input.len()` bytes
        // and writes at most `output.len()` bytes.
        let written = unsafe {
            enet_range_coder_decompress(
                self.context.as_ptr(),
                input.as_ptr(),
                input.len(),
                output.as_mut_ptr(),
                output.len(),
            )
        };
        match written {
            0 if input.is_empty() => Err(DecompressError::EmptyInput),
            0 => Err(DecompressError::Malformed),
            written => Ok(written),
        }
    }
}
