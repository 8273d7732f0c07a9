//! Volley's WebRTC link (str0m with Godot's channels) between two in-process
//! ends over the simulated network, in virtual time: the layout, and that
//! partial reliability is real.

#[path = "webrtc/pair.rs"]
mod pair;

use std::collections::BTreeSet;
use std::time::Duration;

use pair::{A, Pair, addr};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley::TransferMode::{self, Reliable, Unreliable, UnreliableOrdered};
use volley::webrtc::{ChannelLayout, LinkConfig, LinkSendError, PartialReliability};
use volley_proto::sim::LinkConfig as PathConfig;

const MODES: [TransferMode; 3] = [Reliable, UnreliableOrdered, Unreliable];

fn message(mode: TransferMode, sequence: u32) -> Vec<u8> {
    let mut bytes = vec![mode as u8];
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.resize(64, 0xA5);
    bytes
}

fn sequence_of(payload: &[u8]) -> u32 {
    assert_eq!(payload.len(), 64, "length intact");
    assert!(payload[5..].iter().all(|&b| b == 0xA5), "filler intact");
    u32::from_le_bytes(payload[1..5].try_into().expect("4 bytes"))
}

#[test]
fn every_channel_and_mode_crosses_in_godots_layout() {
    let layout = ChannelLayout::new(&[Unreliable, Reliable]).expect("layout");
    let config = LinkConfig { layout, ..LinkConfig::default() };
    let mut pair = Pair::connected(&config, &LinkConfig { ice_lite: true, ..config.clone() }, 1);
    let mut expected = Vec::new();
    for channel in 0..=2_u8 {
        for mode in MODES {
            let payload = format!("ch{channel} {mode}").into_bytes();
            pair.a.send(channel, mode, &payload).expect("queued");
            // Custom channels carry their configured mode, whatever was asked.
            let received_mode = match channel {
                0 => mode,
                1 => Unreliable,
                _ => Reliable,
            };
            expected.push((channel, received_mode as u8, payload.clone()));
            pair.b.send(channel, mode, &payload).expect("queued");
        }
    }
    assert_eq!(
        pair.a.send(3, Reliable, b"x"),
        Err(LinkSendError::Channel(
            volley::multiplayer::framing::ChannelError::UserChannelOutOfRange {
                channel: 3,
                max: 2
            }
        ))
    );
    let flushed = pair.flush_a();
    for datagram in &flushed {
        pair.send_raw(datagram);
    }
    assert!(
        pair.run_until(Duration::from_secs(5), |p| p.a_packets.len() == 9
            && p.b_packets.len() == 9)
    );
    for packets in [&pair.a_packets, &pair.b_packets] {
        let mut got: Vec<_> =
            packets.iter().map(|p| (p.channel, p.mode as u8, p.payload.clone())).collect();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want);
    }
}

/// Sends `count` messages from a to b in `mode`, one per flush, and drops the
/// datagrams of a flush with probability `loss` (seeded). Returns the
/// sequences dropped on their first (and, unreliably, only) transmission,
/// and what b received.
fn send_dropping_first_transmissions(
    mode: TransferMode,
    partial: PartialReliability,
    count: u32,
    loss: f64,
    seed: u64,
) -> (BTreeSet<u32>, Vec<u32>) {
    let config = LinkConfig { partial_reliability: partial, ..LinkConfig::default() };
    let mut pair = Pair::connected(&config, &LinkConfig { ice_lite: true, ..config.clone() }, seed);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dropped = BTreeSet::new();
    for sequence in 0..count {
        pair.a.send(0, mode, &message(mode, sequence)).expect("queued");
        let datagrams = pair.flush_a();
        assert!(!datagrams.is_empty(), "a send leaves at the flush");
        assert!(datagrams.iter().all(|d| d.0 == addr(A)));
        if rng.random_bool(loss) {
            dropped.insert(sequence);
        } else {
            for datagram in &datagrams {
                pair.send_raw(datagram);
            }
        }
        // Let acknowledgements (and, for reliable, retransmissions) flow.
        pair.run_for(Duration::from_millis(2));
    }
    pair.run_for(Duration::from_secs(5));
    let received = pair.b_packets.iter().map(|p| {
        assert_eq!(p.mode, mode);
        sequence_of(&p.payload)
    });
    (dropped, received.collect())
}

#[test]
fn a_lost_unreliable_message_is_never_retransmitted() {
    for mode in [Unreliable, UnreliableOrdered] {
        let (dropped, received) =
            send_dropping_first_transmissions(mode, PartialReliability::NoRetransmit, 2000, 0.1, 7);
        let received_set: BTreeSet<u32> = received.iter().copied().collect();
        assert_eq!(received_set.len(), received.len(), "{mode}: no duplicates");
        let resent: Vec<u32> = dropped.intersection(&received_set).copied().collect();
        eprintln!(
            "{mode}: 2000 sent, {} dropped on the path, {} received, {} of the dropped arrived later",
            dropped.len(),
            received.len(),
            resent.len()
        );
        assert!(dropped.len() > 100, "the path dropped some ({})", dropped.len());
        assert_eq!(resent, Vec::<u32>::new(), "{mode}: dropped messages were retransmitted");
        let expected: Vec<u32> = (0..2000).filter(|s| !dropped.contains(s)).collect();
        let mut sorted = received.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "{mode}: every message that crossed arrived");
        if mode == UnreliableOrdered {
            assert!(received.windows(2).all(|w| w[0] < w[1]), "ordered stays ordered");
        }
    }
}

#[test]
fn the_same_drops_on_the_reliable_stream_are_retransmitted() {
    // The control for the test above: the same path and drops, reliable.
    let (dropped, received) =
        send_dropping_first_transmissions(Reliable, PartialReliability::NoRetransmit, 500, 0.1, 7);
    assert!(!dropped.is_empty());
    assert_eq!(received, (0..500).collect::<Vec<u32>>(), "all, once, in order");
}

#[test]
fn under_random_loss_reordering_and_duplication_each_mode_keeps_its_promise() {
    let config = LinkConfig::default();
    let mut pair = Pair::connected(&config, &LinkConfig { ice_lite: true, ..config.clone() }, 11);
    let mut path = PathConfig::default();
    path.loss(0.1)
        .and_then(|p| p.delay(Duration::from_millis(15)))
        .and_then(|p| p.jitter(Duration::from_millis(10)))
        .and_then(|p| p.duplicate(0.02))
        .expect("valid path");
    pair.set_path(path);
    let count = 1500_u32;
    for sequence in 0..count {
        for mode in MODES {
            pair.a.send(0, mode, &message(mode, sequence)).expect("queued");
        }
        pair.run_for(Duration::from_millis(1));
    }
    assert!(pair.run_until(Duration::from_secs(60), |p| {
        p.b_packets.iter().filter(|p| p.mode == Reliable).count() == count as usize
    }));
    pair.run_for(Duration::from_secs(2));
    let of = |mode| -> Vec<u32> {
        pair.b_packets.iter().filter(|p| p.mode == mode).map(|p| sequence_of(&p.payload)).collect()
    };
    assert_eq!(of(Reliable), (0..count).collect::<Vec<_>>(), "reliable: all, once, in order");
    let ordered = of(UnreliableOrdered);
    assert!(ordered.windows(2).all(|w| w[0] < w[1]), "unreliable-ordered never goes back");
    let unordered = of(Unreliable);
    let unique: BTreeSet<u32> = unordered.iter().copied().collect();
    assert_eq!(unique.len(), unordered.len(), "unreliable: no duplicates");
    let out_of_order = unordered.windows(2).filter(|w| w[0] > w[1]).count();
    eprintln!(
        "10% loss, 15±10 ms, 2% duplicated: reliable {count}/{count}, unreliable-ordered {}/{count}, \
         unreliable {}/{count} ({out_of_order} out of order)",
        ordered.len(),
        unordered.len()
    );
    for (mode, got) in [("unreliable-ordered", ordered.len()), ("unreliable", unordered.len())] {
        assert!(got < count as usize, "{mode}: losses stay lost ({got})");
        assert!(got > count as usize / 2, "{mode}: most arrive ({got})");
    }
}

#[test]
fn garbage_from_the_peers_own_address_leaves_the_link_up() {
    let config = LinkConfig::default();
    let mut pair = Pair::connected(&config, &LinkConfig { ice_lite: true, ..config.clone() }, 5);
    let mut rng = SmallRng::seed_from_u64(99);
    let mut injected = 0;
    for round in 0..200_u32 {
        // DTLS records (first byte 20..=63) of every content type with
        // random bodies, random STUN-looking and RTP-looking datagrams.
        let mut bytes: Vec<u8> = (0..rng.random_range(1..1300)).map(|_| rng.random()).collect();
        bytes[0] = match round % 4 {
            0 => 23,
            1 => 22,
            2 => 0,
            _ => 0x80,
        };
        if bytes.len() > 3 && round % 4 < 2 {
            bytes[1] = 0xfe;
            bytes[2] = 0xfd;
        }
        pair.send_raw(&(addr(A), pair::addr(pair::B), bytes));
        injected += 1;
        pair.a.send(0, Reliable, &message(Reliable, round)).expect("still connected");
        for datagram in pair.flush_a() {
            pair.send_raw(&datagram);
        }
        pair.run_for(Duration::from_millis(1));
    }
    assert!(pair.run_until(Duration::from_secs(5), |p| p.b_packets.len() == 200));
    let got: Vec<u32> = pair.b_packets.iter().map(|p| sequence_of(&p.payload)).collect();
    assert_eq!(got, (0..200).collect::<Vec<u32>>());
    assert!(pair.b_closed.is_none() && pair.a_closed.is_none());
    let refused = pair.b.stats().datagrams_refused;
    eprintln!(
        "{injected} garbage datagrams from the peer's address, {refused} refused by the stack"
    );
}
