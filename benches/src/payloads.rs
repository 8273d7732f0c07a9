//! Datagram bodies shaped like real game traffic, for compression tests and
//! benches.

use rand::Rng;

/// SEND_RELIABLE with the ACKNOWLEDGE flag, as ENet sends it.
const SEND_RELIABLE_ACK: u8 = 0x86;
/// Command header (4 bytes) plus the data length (2 bytes).
const SEND_RELIABLE_HEADER: usize = 6;

/// A datagram body of exactly `len` bytes: SEND_RELIABLE commands on one
/// channel, each carrying a snapshot of a few entities (id, position as
/// `f32`s drifting slowly, velocity as `i16`s, state flags, health).
///
/// ```
/// use rand::{SeedableRng, rngs::SmallRng};
/// let body = volley_bench::payloads::game_datagram(&mut SmallRng::seed_from_u64(1), 1372);
/// assert_eq!(body.len(), 1372);
/// ```
pub fn game_datagram(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(len);
    let mut sequence: u16 = rng.random();
    let mut position = [
        rng.random_range(-500.0..500.0_f32),
        rng.random_range(0.0..50.0_f32),
        rng.random_range(-500.0..500.0_f32),
    ];
    while body.len() < len {
        let entities = rng.random_range(1..=4_usize);
        let mut payload = Vec::with_capacity(entities * 22);
        for _ in 0..entities {
            payload.extend_from_slice(&rng.random_range(0..64_u16).to_le_bytes());
            for axis in &mut position {
                *axis += rng.random_range(-0.5..0.5_f32);
                payload.extend_from_slice(&axis.to_le_bytes());
            }
            for _ in 0..3 {
                payload.extend_from_slice(&rng.random_range(-300..300_i16).to_le_bytes());
            }
            payload.push(rng.random_range(0..4_u8) << 2);
            payload.push(100 - rng.random_range(0..10_u8));
        }
        sequence = sequence.wrapping_add(1);
        let room = (len - body.len()).saturating_sub(SEND_RELIABLE_HEADER);
        let payload_len = payload.len().min(room);
        if payload_len == 0 {
            // Too little room for another command: pad like a trailing
            // fragment would.
            body.resize(len, 0);
            break;
        }
        body.extend_from_slice(&[SEND_RELIABLE_ACK, 0]);
        body.extend_from_slice(&sequence.to_be_bytes());
        body.extend_from_slice(&(payload_len as u16).to_be_bytes());
        body.extend_from_slice(&payload[..payload_len]);
    }
    body
}

/// `len` bytes of chat-like ASCII text.
///
/// ```
/// use rand::{SeedableRng, rngs::SmallRng};
/// let text = volley_bench::payloads::text_body(&mut SmallRng::seed_from_u64(1), 200);
/// assert!(text.is_ascii());
/// ```
pub fn text_body(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "player", "joined", "the", "game", "ready", "team", "red", "blue", "score", "round",
        "wins", "gg", "map", "vote", "next", "spawn",
    ];
    let mut text = Vec::with_capacity(len + 8);
    while text.len() < len {
        text.extend_from_slice(WORDS[rng.random_range(0..WORDS.len())].as_bytes());
        text.push(if rng.random_ratio(1, 8) { b'\n' } else { b' ' });
    }
    text.truncate(len);
    text
}

/// `len` uniformly random bytes: incompressible.
///
/// ```
/// use rand::{SeedableRng, rngs::SmallRng};
/// assert_eq!(volley_bench::payloads::random_body(&mut SmallRng::seed_from_u64(1), 64).len(), 64);
/// ```
pub fn random_body(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut body = vec![0; len];
    rng.fill(&mut body[..]);
    body
}
