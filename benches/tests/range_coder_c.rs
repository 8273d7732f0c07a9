//! Volley's range coder against ENet's C implementation: identical bytes in
//! both directions, on every kind of body, and identical verdicts on garbage.
#![cfg(feature = "enet-c")]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley_bench::enet_c::EnetRangeCoder;
use volley_bench::payloads::{game_datagram, random_body, text_body};
use volley_proto::compress::{Compressor, RangeCoder};

/// Largest body ENet hands to the coder: one full-size packet buffer.
const MAX_BODY: usize = 4096;

struct Pair {
    volley: RangeCoder,
    enet: EnetRangeCoder,
}

impl Pair {
    fn new() -> Self {
        Self {
            volley: RangeCoder::new(),
            enet: EnetRangeCoder::new().expect("ENet allocates its coder"),
        }
    }

    /// Compresses `body` with both into `limit`-byte outputs; asserts equal
    /// results and that each side decodes the other's bytes.
    fn check(&mut self, body: &[u8], limit: usize) {
        let mut volley_out = vec![0; limit];
        let mut enet_out = vec![0; limit];
        let volley_len = self.volley.compress(body, &mut volley_out);
        let enet_len = self.enet.compress(body, &mut enet_out);
        assert_eq!(volley_len, enet_len, "compressed length of {body:02x?}");
        let Some(len) = volley_len else { return };
        assert_eq!(volley_out[..len], enet_out[..len], "compressed bytes of {body:02x?}");

        let mut restored = vec![0; body.len()];
        let restored_len = self.volley.decompress(&enet_out[..len], &mut restored);
        assert_eq!(restored_len, Ok(body.len()));
        assert_eq!(restored, body);

        restored.fill(0);
        let restored_len = self.enet.decompress(&volley_out[..len], &mut restored);
        assert_eq!(restored_len, Ok(body.len()));
        assert_eq!(restored, body);
    }

    /// Both must accept or reject `input` alike, and agree on the bytes.
    fn check_garbage(&mut self, input: &[u8], limit: usize) {
        let mut volley_out = vec![0; limit];
        let mut enet_out = vec![0; limit];
        let volley_result = self.volley.decompress(input, &mut volley_out);
        let enet_result = self.enet.decompress(input, &mut enet_out);
        assert_eq!(volley_result.ok(), enet_result.ok(), "verdict on {input:02x?}");
        if let Ok(len) = volley_result {
            assert_eq!(volley_out[..len], enet_out[..len], "decoding of {input:02x?}");
        }
    }
}

fn generous(len: usize) -> usize {
    len * 2 + 64
}

#[test]
fn random_bodies_match_enet() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0001);
    let mut pair = Pair::new();
    for _ in 0..1500 {
        let len = rng.random_range(1..=300);
        let body = random_body(&mut rng, len);
        pair.check(&body, len);
        pair.check(&body, generous(len));
    }
    for len in [1, 2, 3, 4, 5, 1372, 1400, 4095, MAX_BODY] {
        let body = random_body(&mut rng, len);
        pair.check(&body, generous(len));
    }
}

#[test]
fn game_like_bodies_match_enet() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0002);
    let mut pair = Pair::new();
    for _ in 0..1500 {
        let len = rng.random_range(8..=MAX_BODY);
        let body = game_datagram(&mut rng, len);
        pair.check(&body, len);
        pair.check(&body, generous(len));
    }
}

#[test]
fn text_and_skewed_bodies_match_enet() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0003);
    let mut pair = Pair::new();
    for _ in 0..1000 {
        let len = rng.random_range(1..=MAX_BODY);
        let body = text_body(&mut rng, len);
        pair.check(&body, len);
    }
    // Few distinct bytes and long runs drive counts to their rescale limits.
    for _ in 0..1000 {
        let len = rng.random_range(1..=MAX_BODY);
        let alphabet = rng.random_range(1..=4_u8);
        let mut body = Vec::with_capacity(len);
        while body.len() < len {
            let run = rng.random_range(1..=600).min(len - body.len());
            let byte = rng.random_range(0..alphabet) * 61;
            body.extend(std::iter::repeat_n(byte, run));
        }
        pair.check(&body, len);
        pair.check(&body, generous(len));
    }
}

#[test]
fn every_output_limit_matches_enet() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0004);
    let mut pair = Pair::new();
    let body = game_datagram(&mut rng, 300);
    for limit in 0..=generous(body.len()) {
        pair.check(&body, limit);
    }
}

#[test]
fn garbage_gets_the_same_verdict_as_enet() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0005);
    let mut pair = Pair::new();
    for _ in 0..3000 {
        let len = rng.random_range(0..=64);
        let input = random_body(&mut rng, len);
        pair.check_garbage(&input, MAX_BODY);
        pair.check_garbage(&input, rng.random_range(0..=32));
    }
    for _ in 0..200 {
        let len = rng.random_range(64..=1400);
        let input = random_body(&mut rng, len);
        pair.check_garbage(&input, MAX_BODY);
    }
}
