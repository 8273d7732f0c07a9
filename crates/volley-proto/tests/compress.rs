//! The range coder against ENet: captured datagrams, golden outputs of the C
//! library, seeded round trips and garbage input.

use std::fs;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley_proto::compress::{Compressor, DecompressError, RangeCoder};

const VECTORS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/compressed_rangecoder.txt");

/// Header flag: the body is compressed.
const FLAG_COMPRESSED: u16 = 0x4000;
/// Header flag: a 2-byte sentTime follows the peer ID word.
const FLAG_SENT_TIME: u16 = 0x8000;

/// Decompressed bodies of the COMPRESSED datagrams, in file order, as decoded
/// in the vectors' README.
const EXPECTED_BODIES: [&str; 3] = [
    "82ff00010002ffff00000578000100000000000200000000000000000000138800000002000000020999dffd11223344",
    "83ff00010001000000000578000100000000000200000000000000000000138800000002000000020999dffd",
    concat!(
        "8600000100c8",
        "4141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141",
        "4141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141",
        "4141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141",
        "4141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141",
    ),
];

/// Largest body ENet hands to the coder: one full-size packet buffer.
const MAX_BODY: usize = 4096;

fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Bodies (after header and optional sentTime) of the captured datagrams
/// that carry the COMPRESSED flag.
fn captured_compressed_bodies() -> Vec<Vec<u8>> {
    let text = fs::read_to_string(VECTORS).expect("shared vectors are checked out beside the repo");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (_direction, hex) = line.split_once(' ').expect("direction and hex");
            from_hex(hex.trim())
        })
        .filter_map(|datagram| {
            let flags = u16::from_be_bytes([datagram[0], datagram[1]]);
            if flags & FLAG_COMPRESSED == 0 {
                return None;
            }
            let header_len = if flags & FLAG_SENT_TIME != 0 { 4 } else { 2 };
            Some(datagram[header_len..].to_vec())
        })
        .collect()
}

#[test]
fn captured_datagrams_decompress_to_the_readme_bodies() {
    let captured = captured_compressed_bodies();
    assert_eq!(captured.len(), EXPECTED_BODIES.len());
    let mut coder = RangeCoder::new();
    for (compressed, expected) in captured.iter().zip(EXPECTED_BODIES) {
        let expected = from_hex(expected);
        let mut body = vec![0; MAX_BODY];
        let len = coder.decompress(compressed, &mut body).expect("valid stream");
        assert_eq!(body[..len], expected);
    }
}

#[test]
fn compressing_the_readme_bodies_gives_the_captured_bytes() {
    let captured = captured_compressed_bodies();
    assert_eq!(captured.len(), EXPECTED_BODIES.len());
    let mut coder = RangeCoder::new();
    for (compressed, expected) in captured.iter().zip(EXPECTED_BODIES) {
        let body = from_hex(expected);
        // The same output limit ENet uses: the uncompressed size.
        let mut out = vec![0; body.len()];
        let len = coder.compress(&body, &mut out).expect("these bodies shrink");
        assert_eq!(out[..len], compressed[..]);
    }
}

/// Portable deterministic bytes (xorshift64*), so golden values do not depend
/// on `rand`'s platform-specific generators.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

/// 4096 bytes of entity records: slowly drifting little-endian positions.
fn golden_snapshots() -> Vec<u8> {
    let mut rng = Xorshift(0x0123_4567_89ab_cdef);
    let mut body = Vec::with_capacity(4096);
    let mut position = [1000_i32, 50, -2000];
    while body.len() < 4096 {
        body.extend_from_slice(&[0x86, 0x00, rng.byte(), rng.byte(), 0x00, 0x12]);
        body.extend_from_slice(&u16::from(rng.byte() % 32).to_le_bytes());
        for axis in &mut position {
            *axis += i32::from(rng.byte() % 7) - 3;
            body.extend_from_slice(&axis.to_le_bytes());
        }
        body.extend_from_slice(&[rng.byte() & 0x0c, 100 - rng.byte() % 8, 0, 0]);
    }
    body.truncate(4096);
    body
}

/// 4096 uniformly random bytes: the symbol pool fills and restarts.
fn golden_noise() -> Vec<u8> {
    let mut rng = Xorshift(0xfeed_f00d_dead_beef);
    (0..4096).map(|_| rng.byte()).collect()
}

/// 4096 bytes of long runs over three values: counts hit their rescale limits.
fn golden_runs() -> Vec<u8> {
    let mut rng = Xorshift(0x0bad_cafe_0bad_cafe);
    let mut body = Vec::with_capacity(4096);
    while body.len() < 4096 {
        let run = 1 + usize::from(rng.byte()) * 2;
        body.extend(std::iter::repeat_n(rng.byte() % 3, run));
    }
    body.truncate(4096);
    body
}

/// Output length and CRC-32 of ENet 1.3.17's `enet_range_coder_compress` on
/// the golden inputs (4096 bytes each, output limit 20000).
#[test]
fn long_bodies_match_enet_golden_outputs() {
    let cases = [
        (golden_snapshots(), 1735, 0x9d2d_ba95),
        (golden_noise(), 4408, 0xb7f9_a976),
        (golden_runs(), 38, 0x140e_aeda),
    ];
    let mut coder = RangeCoder::new();
    for (body, expected_len, expected_crc) in cases {
        let mut out = vec![0; 20_000];
        let len = coder.compress(&body, &mut out).expect("fits");
        assert_eq!(len, expected_len);
        assert_eq!(crc32fast::hash(&out[..len]), expected_crc);

        let mut restored = vec![0; body.len()];
        assert_eq!(coder.decompress(&out[..len], &mut restored), Ok(body.len()));
        assert_eq!(restored, body);
    }
}

/// A game-like body: SEND_RELIABLE commands carrying entity snapshots.
fn game_body(rng: &mut SmallRng, len: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(len + 64);
    let mut sequence: u16 = rng.random();
    let mut position =
        [rng.random_range(-100.0..100.0_f32), 1.5, rng.random_range(-100.0..100.0_f32)];
    while body.len() < len {
        let entities = rng.random_range(1..=3_u16);
        sequence = sequence.wrapping_add(1);
        body.extend_from_slice(&[0x86, rng.random_range(0..2)]);
        body.extend_from_slice(&sequence.to_be_bytes());
        body.extend_from_slice(&(entities * 16).to_be_bytes());
        for _ in 0..entities {
            body.extend_from_slice(&rng.random_range(0..32_u16).to_le_bytes());
            for axis in &mut position {
                *axis += rng.random_range(-0.25..0.25_f32);
                body.extend_from_slice(&axis.to_le_bytes());
            }
            body.push(rng.random_range(0..4_u8));
            body.push(100 - rng.random_range(0..5_u8));
        }
    }
    body.truncate(len);
    body
}

fn random_body(rng: &mut SmallRng, len: usize) -> Vec<u8> {
    let mut body = vec![0; len];
    rng.fill(&mut body[..]);
    body
}

/// Compresses into a generous buffer and checks the round trip, then checks
/// the output limit: exactly enough succeeds with the same bytes, one byte
/// less fails, and nothing past the limit is touched.
fn assert_round_trip(coder: &mut RangeCoder, body: &[u8]) {
    const SENTINEL: u8 = 0xa5;
    let mut out = vec![0; body.len() * 2 + 64];
    let len = coder.compress(body, &mut out).expect("fits in twice the size");
    let mut restored = vec![0; body.len()];
    assert_eq!(coder.decompress(&out[..len], &mut restored), Ok(body.len()));
    assert_eq!(restored, body);

    let mut exact = vec![SENTINEL; len + 16];
    assert_eq!(coder.compress(body, &mut exact[..len]), Some(len));
    assert_eq!(exact[..len], out[..len]);
    assert!(exact[len..].iter().all(|&byte| byte == SENTINEL));

    let mut short = vec![SENTINEL; len + 16];
    assert_eq!(coder.compress(body, &mut short[..len - 1]), None);
    assert!(short[len - 1..].iter().all(|&byte| byte == SENTINEL));

    // One byte too little room to decompress into is an error, not a cut.
    let mut cramped = vec![0; body.len() - 1];
    assert_eq!(coder.decompress(&out[..len], &mut cramped), Err(DecompressError::OutputOverflow));
}

#[test]
fn random_bodies_round_trip() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0001);
    let mut coder = RangeCoder::new();
    for _ in 0..2000 {
        let len = rng.random_range(1..=400);
        assert_round_trip(&mut coder, &random_body(&mut rng, len));
    }
    for len in [1, 2, 3, 4, 1372, 1400, MAX_BODY - 1, MAX_BODY] {
        assert_round_trip(&mut coder, &random_body(&mut rng, len));
    }
}

#[test]
fn game_like_bodies_round_trip() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0002);
    let mut coder = RangeCoder::new();
    for _ in 0..2000 {
        let len = rng.random_range(1..=MAX_BODY);
        assert_round_trip(&mut coder, &game_body(&mut rng, len));
    }
}

#[test]
fn game_like_bodies_shrink() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0003);
    let mut coder = RangeCoder::new();
    let body = game_body(&mut rng, 1372);
    // The engine's call: output no larger than the input.
    let mut out = vec![0; body.len()];
    let len = coder.compress(&body, &mut out).expect("snapshots compress");
    assert!(len < body.len() * 9 / 10, "{len} of {}", body.len());
}

#[test]
fn incompressible_bodies_do_not_fit_the_engines_limit() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0004);
    let mut coder = RangeCoder::new();
    for len in [16, 200, 1372, MAX_BODY] {
        let body = random_body(&mut rng, len);
        let mut out = vec![0; len];
        assert_eq!(coder.compress(&body, &mut out), None);
    }
}

#[test]
fn empty_buffers_are_rejected() {
    let mut coder = RangeCoder::new();
    assert_eq!(coder.compress(&[], &mut [0; 16]), None);
    assert_eq!(coder.compress(&[1, 2, 3], &mut []), None);
    assert_eq!(coder.decompress(&[], &mut [0; 16]), Err(DecompressError::EmptyInput));
    assert_eq!(coder.decompress(&[0x41], &mut []), Err(DecompressError::OutputOverflow));
}

#[test]
fn garbage_never_panics_hangs_or_overruns() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0005);
    let mut coder = RangeCoder::new();
    let mut outcomes = [0_usize; 2];
    for _ in 0..20_000 {
        let len = rng.random_range(1..=96);
        let input = random_body(&mut rng, len);
        let limit = if rng.random_ratio(1, 4) { rng.random_range(0..=64) } else { MAX_BODY };
        let mut out = vec![0; limit];
        match coder.decompress(&input, &mut out) {
            Ok(written) => {
                assert!((1..=limit).contains(&written));
                outcomes[0] += 1;
            }
            Err(_) => outcomes[1] += 1,
        }
    }
    // Both paths must actually be exercised.
    assert!(outcomes.iter().all(|&count| count > 1000), "{outcomes:?}");

    // Extreme patterns: all zeros decode as one long run, all ones as the
    // highest codes.
    for byte in [0x00, 0xff] {
        for len in [1, 4, 5, 1400] {
            let mut out = vec![0; MAX_BODY];
            if let Ok(written) = coder.decompress(&vec![byte; len], &mut out) {
                assert!(written <= MAX_BODY);
            }
        }
    }
}

#[test]
fn a_corrupted_byte_never_breaks_the_coder() {
    let mut rng = SmallRng::seed_from_u64(0xc0de_0006);
    let mut coder = RangeCoder::new();
    for _ in 0..2000 {
        let len = rng.random_range(1..=1400);
        let body = game_body(&mut rng, len);
        let mut out = vec![0; body.len() * 2 + 64];
        let len = coder.compress(&body, &mut out).expect("fits");
        out[rng.random_range(0..len)] ^= 1 << rng.random_range(0..8);
        let mut restored = vec![0; MAX_BODY];
        if let Ok(written) = coder.decompress(&out[..len], &mut restored) {
            assert!(written <= MAX_BODY);
        }
        // The coder keeps no state between calls: a clean stream still works.
        assert_round_trip(&mut coder, &body);
    }
}
