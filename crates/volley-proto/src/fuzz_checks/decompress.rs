//! Range coder decompression of arbitrary bytes.

use crate::compress::{Compressor, RangeCoder};

/// Output room, as much as an ENet host offers a compressed datagram.
const OUTPUT_SIZE: usize = 4096;

/// Decompresses `data` as a compressed datagram body, then compresses the
/// first 4096 bytes of `data` as a plain body and round trips it.
///
/// Panics when decompression reports more bytes than the output holds, when a
/// compressed body exceeds the engine's limit (the input's size) or comes
/// back different, or when a body that fits does not compress the same with
/// exactly enough room.
///
/// ```
/// volley_proto::fuzz_checks::decompress(b"\x86\x00\x00\x01 any bytes");
/// ```
pub fn decompress(data: &[u8]) {
    let mut coder = RangeCoder::new();
    let mut output = vec![0; OUTPUT_SIZE];
    if let Ok(written) = coder.decompress(data, &mut output) {
        assert!((1..=OUTPUT_SIZE).contains(&written), "decompressed {written} bytes");
    }

    let body = &data[..data.len().min(OUTPUT_SIZE)];
    if body.is_empty() {
        return;
    }
    // The engine's call: worth it only if it fits in the body's own size.
    let mut packed = vec![0; body.len()];
    let Some(packed_len) = coder.compress(body, &mut packed) else {
        return;
    };
    assert!(packed_len <= body.len(), "compressed to {packed_len} bytes");
    let restored_len =
        coder.decompress(&packed[..packed_len], &mut output).expect("own output decompresses");
    assert_eq!(output[..restored_len], *body, "round trip");

    let mut exact = vec![0; packed_len];
    assert_eq!(coder.compress(body, &mut exact), Some(packed_len));
    assert_eq!(exact, packed[..packed_len]);
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn holds_on_random_and_repetitive_inputs() {
        let mut rng = SmallRng::seed_from_u64(0xf022);
        for _ in 0..500 {
            let len = rng.random_range(0..=600);
            let mut data = vec![0; len];
            rng.fill(&mut data[..]);
            decompress(&data);
            // Few distinct bytes: compresses, so the round trip runs.
            data.iter_mut().for_each(|byte| *byte &= 0x03);
            decompress(&data);
        }
        decompress(&[0xaa; OUTPUT_SIZE + 100]);
    }
}
