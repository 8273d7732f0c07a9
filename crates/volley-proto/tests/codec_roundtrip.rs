//! Seeded random commands of every kind encode, then decode to the same value.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use volley_proto::constants::MIN_FRAGMENT_SIZE;
use volley_proto::wire::{
    Command, CommandBody, CommandHeader, Commands, ConnectParams, Datagram, DatagramWriter,
    Fragment, Header, ThrottleParams,
};

const CASES: u64 = 20_000;

fn connect_params(rng: &mut SmallRng) -> ConnectParams {
    let session =
        |rng: &mut SmallRng| if rng.random_bool(0.2) { 0xFF } else { rng.random_range(0..4) };
    ConnectParams {
        outgoing_peer_id: rng.random_range(0..0x0FFF),
        incoming_session_id: session(rng),
        outgoing_session_id: session(rng),
        mtu: rng.random(),
        window_size: rng.random(),
        channel_count: rng.random_range(1..=255),
        incoming_bandwidth: rng.random(),
        outgoing_bandwidth: rng.random(),
        throttle: throttle(rng),
        connect_id: rng.random(),
    }
}

fn throttle(rng: &mut SmallRng) -> ThrottleParams {
    ThrottleParams {
        interval: rng.random(),
        acceleration: rng.random(),
        deceleration: rng.random(),
    }
}

/// A valid fragment: equal-size pieces of at least the minimum size, the
/// last one possibly shorter.
fn fragment<'a>(rng: &mut SmallRng, pool: &'a [u8]) -> Fragment<'a> {
    let max = pool.len().min(1400) as u32;
    let (count, size) = if max < MIN_FRAGMENT_SIZE || rng.random_bool(0.1) {
        (1, rng.random_range(1..=max))
    } else {
        (rng.random_range(2..=2000), rng.random_range(MIN_FRAGMENT_SIZE..=max))
    };
    let last_len = rng.random_range(1..=size);
    let total = (count - 1) * size + last_len;
    let number = rng.random_range(0..count);
    let len = if number + 1 == count { last_len } else { size };
    Fragment {
        start_sequence_number: rng.random(),
        fragment_count: count,
        fragment_number: number,
        total_length: total,
        fragment_offset: number * size,
        data: &pool[..len as usize],
    }
}

fn random_command<'a>(rng: &mut SmallRng, pool: &'a [u8]) -> Command<'a> {
    let data = &pool[..rng.random_range(0..=pool.len().min(1200))];
    let control = |seq, acknowledge| CommandHeader {
        acknowledge,
        unsequenced: !acknowledge,
        channel_id: 0xFF,
        reliable_sequence_number: seq,
    };
    let channel: u8 = rng.random_range(0..0xFF);
    let data_header = |seq, acknowledge, unsequenced| CommandHeader {
        acknowledge,
        unsequenced,
        channel_id: channel,
        reliable_sequence_number: seq,
    };
    let seq: u16 = rng.random();
    match rng.random_range(0..12) {
        0 => Command {
            header: CommandHeader {
                acknowledge: false,
                unsequenced: false,
                channel_id: rng.random(),
                reliable_sequence_number: seq,
            },
            body: CommandBody::Acknowledge {
                received_reliable_sequence_number: seq,
                received_sent_time: rng.random(),
            },
        },
        1 => Command {
            header: control(seq, true),
            body: CommandBody::Connect { params: connect_params(rng), data: rng.random() },
        },
        2 => Command {
            header: control(seq, true),
            body: CommandBody::VerifyConnect(connect_params(rng)),
        },
        3 => Command {
            header: control(seq, rng.random()),
            body: CommandBody::Disconnect { data: rng.random() },
        },
        4 => Command { header: control(seq, true), body: CommandBody::Ping },
        5 => Command {
            header: data_header(seq, true, false),
            body: CommandBody::SendReliable { data },
        },
        6 => Command {
            header: data_header(seq, false, false),
            body: CommandBody::SendUnreliable { unreliable_sequence_number: rng.random(), data },
        },
        7 => {
            let f = fragment(rng, pool);
            let seq = f.start_sequence_number.wrapping_add(f.fragment_number as u16);
            Command { header: data_header(seq, true, false), body: CommandBody::SendFragment(f) }
        }
        8 => Command {
            header: data_header(0, false, true),
            body: CommandBody::SendUnsequenced { unsequenced_group: rng.random(), data },
        },
        9 => Command {
            header: control(seq, true),
            body: CommandBody::BandwidthLimit {
                incoming_bandwidth: rng.random(),
                outgoing_bandwidth: rng.random(),
            },
        },
        10 => Command {
            header: control(seq, true),
            body: CommandBody::ThrottleConfigure(throttle(rng)),
        },
        _ => Command {
            header: data_header(seq, false, false),
            body: CommandBody::SendUnreliableFragment(fragment(rng, pool)),
        },
    }
}

#[test]
fn single_commands_round_trip() {
    let mut rng = SmallRng::seed_from_u64(0x766f_6c6c);
    let pool: Vec<u8> = (0..2048).map(|_| rng.random()).collect();
    let mut buf = [0u8; 4096];
    let mut seen = [false; 12];
    for case in 0..CASES {
        let command = random_command(&mut rng, &pool);
        let len = command.encode(&mut buf).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(len, command.encoded_len());
        let (decoded, decoded_len) =
            Command::decode(&buf[..len]).unwrap_or_else(|e| panic!("case {case} {command:?}: {e}"));
        assert_eq!(decoded, command, "case {case}");
        assert_eq!(decoded_len, len);
        // A byte short never decodes.
        assert!(Command::decode(&buf[..len - 1]).is_err(), "case {case}: truncation accepted");
        seen[usize::from(buf[0] & 0x0F) - 1] = true;
    }
    assert!(seen.iter().all(|s| *s), "every command kind was generated");
}

#[test]
fn datagrams_of_many_commands_round_trip() {
    let mut rng = SmallRng::seed_from_u64(7);
    let pool: Vec<u8> = (0..2048).map(|_| rng.random()).collect();
    let mut buf = [0u8; 4200];
    for case in 0..CASES / 4 {
        let with_checksum = rng.random_bool(0.5);
        let mtu = rng.random_range(576..=4096);
        let mut writer = DatagramWriter::new(&mut buf, mtu, with_checksum);
        let mut sent = Vec::new();
        for _ in 0..rng.random_range(1..40) {
            let max_payload = rng.random_range(1..300);
            let command = random_command(&mut rng, &pool[..max_payload]);
            if writer.push(&command).is_ok() {
                sent.push(command);
            }
        }
        if writer.is_empty() {
            continue;
        }
        let header = Header {
            peer_id: rng.random_range(0..=0x0FFF),
            session_id: rng.random_range(0..4),
            compressed: false,
            sent_time: rng.random::<bool>().then(|| rng.random()),
        };
        let placeholder: [u8; 4] = rng.random();
        let range = writer.finish(&header, Some(placeholder));
        assert!(range.len() <= mtu, "case {case}: datagram exceeds MTU");
        let bytes = &buf[range];
        let datagram = Datagram::parse(bytes, with_checksum).expect("header");
        assert_eq!(*datagram.header(), header);
        datagram.verify_checksum(placeholder, datagram.body()).expect("checksum");
        let decoded: Vec<Command<'_>> =
            datagram.commands().collect::<Result<_, _>>().expect("commands decode");
        assert_eq!(decoded, sent, "case {case}");
        assert_eq!(Commands::new(datagram.body()).validate(), Ok(sent.len()));
    }
}
