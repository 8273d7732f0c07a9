//! Every datagram captured from the ENet C library decodes, each field equals
//! the independent decode in `shared/vectors/README.md`, and re-encoding gives
//! the same bytes.

mod support;

use std::collections::BTreeMap;

use support::{all_files, hex, load, vectors_dir};
use volley_proto::compress::{Compressor, RangeCoder};
use volley_proto::wire::{Command, CommandBody, Datagram, DatagramWriter, MAX_HEADER_LEN};

/// One `#N DIR len=L header: ...` entry of the README with its `cmd@` lines.
#[derive(Debug)]
struct Expected {
    index: usize,
    direction: String,
    len: usize,
    header: BTreeMap<String, String>,
    flags: String,
    commands: Vec<(usize, String, BTreeMap<String, String>)>,
    decompressed: Option<Vec<u8>>,
}

fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|tok| tok.split_once('='))
        .map(|(k, v)| {
            let v = v.split('(').next().unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Parses the README's decode section of `file`.
fn expected_decodes(file: &str) -> Vec<Expected> {
    let readme = std::fs::read_to_string(vectors_dir().join("README.md")).expect("README");
    let section = readme
        .split("\n### ")
        .find(|s| s.starts_with(file))
        .unwrap_or_else(|| panic!("no README section for {file}"));
    let mut out: Vec<Expected> = Vec::new();
    for line in section.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix('#') {
            let Some((index, rest)) = rest.split_once(' ') else { continue };
            let Ok(index) = index.parse() else { continue };
            let (direction, rest) = rest.split_once(' ').expect("direction");
            let flags = rest
                .split("flags=[")
                .nth(1)
                .and_then(|s| s.split(']').next())
                .expect("flags")
                .to_owned();
            let f = fields(rest);
            out.push(Expected {
                index,
                direction: direction.to_owned(),
                len: f["len"].parse().expect("len"),
                header: f,
                flags,
                commands: Vec::new(),
                decompressed: None,
            });
        } else if let Some(rest) = line.strip_prefix("cmd@") {
            let (offset, rest) = rest.split_once(": ").expect("cmd offset");
            let name = rest.split_whitespace().nth(1).expect("command name").to_owned();
            let entry = out.last_mut().expect("cmd after header");
            entry.commands.push((offset.parse().expect("offset"), name, fields(rest)));
        } else if let Some(rest) = line.strip_prefix("(range-coder decompressed body:") {
            let body = rest.rsplit(": ").next().expect("body").trim_end_matches(')');
            out.last_mut().expect("body after header").decompressed = Some(hex(body));
        }
    }
    out
}

fn number(v: &str) -> u64 {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).expect("hex number"),
        None => v.parse().expect("decimal number"),
    }
}

fn command_name(c: &Command<'_>) -> String {
    let base = match c.body {
        CommandBody::Acknowledge { .. } => "ACKNOWLEDGE",
        CommandBody::Connect { .. } => "CONNECT",
        CommandBody::VerifyConnect(_) => "VERIFY_CONNECT",
        CommandBody::Disconnect { .. } => "DISCONNECT",
        CommandBody::Ping => "PING",
        CommandBody::SendReliable { .. } => "SEND_RELIABLE",
        CommandBody::SendUnreliable { .. } => "SEND_UNRELIABLE",
        CommandBody::SendFragment(_) => "SEND_FRAGMENT",
        CommandBody::SendUnsequenced { .. } => "SEND_UNSEQUENCED",
        CommandBody::BandwidthLimit { .. } => "BANDWIDTH_LIMIT",
        CommandBody::ThrottleConfigure(_) => "THROTTLE_CONFIGURE",
        CommandBody::SendUnreliableFragment(_) => "SEND_UNRELIABLE_FRAGMENT",
    };
    let mut name = base.to_owned();
    if c.header.acknowledge {
        name.push_str("|ACK");
    }
    if c.header.unsequenced {
        name.push_str("|UNSEQ");
    }
    name
}

/// The decoded command as the README's key/value pairs (numbers as u64).
fn decoded_fields(c: &Command<'_>) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    m.insert("channel", u64::from(c.header.channel_id));
    m.insert("reliableSeq", u64::from(c.header.reliable_sequence_number));
    let params = match c.body {
        CommandBody::Connect { params, data } => {
            m.insert("data", u64::from(data));
            Some(params)
        }
        CommandBody::VerifyConnect(params) => Some(params),
        _ => None,
    };
    if let Some(p) = params {
        m.insert("outgoingPeerID", u64::from(p.outgoing_peer_id));
        m.insert("incomingSessionID", u64::from(p.incoming_session_id));
        m.insert("outgoingSessionID", u64::from(p.outgoing_session_id));
        m.insert("mtu", u64::from(p.mtu));
        m.insert("windowSize", u64::from(p.window_size));
        m.insert("channelCount", u64::from(p.channel_count));
        m.insert("incomingBandwidth", u64::from(p.incoming_bandwidth));
        m.insert("outgoingBandwidth", u64::from(p.outgoing_bandwidth));
        m.insert("packetThrottleInterval", u64::from(p.throttle.interval));
        m.insert("packetThrottleAcceleration", u64::from(p.throttle.acceleration));
        m.insert("packetThrottleDeceleration", u64::from(p.throttle.deceleration));
    }
    match c.body {
        CommandBody::Acknowledge { received_reliable_sequence_number, received_sent_time } => {
            m.insert("receivedReliableSeq", u64::from(received_reliable_sequence_number));
            m.insert("receivedSentTime", u64::from(received_sent_time));
        }
        CommandBody::Disconnect { data } => {
            m.insert("data", u64::from(data));
        }
        CommandBody::SendUnreliable { unreliable_sequence_number, .. } => {
            m.insert("unreliableSeq", u64::from(unreliable_sequence_number));
        }
        CommandBody::SendUnsequenced { unsequenced_group, .. } => {
            m.insert("unsequencedGroup", u64::from(unsequenced_group));
        }
        CommandBody::SendFragment(f) | CommandBody::SendUnreliableFragment(f) => {
            m.insert("startSequenceNumber", u64::from(f.start_sequence_number));
            m.insert("fragmentCount", u64::from(f.fragment_count));
            m.insert("fragmentNumber", u64::from(f.fragment_number));
            m.insert("totalLength", u64::from(f.total_length));
            m.insert("fragmentOffset", u64::from(f.fragment_offset));
        }
        CommandBody::BandwidthLimit { incoming_bandwidth, outgoing_bandwidth } => {
            m.insert("incomingBandwidth", u64::from(incoming_bandwidth));
            m.insert("outgoingBandwidth", u64::from(outgoing_bandwidth));
        }
        CommandBody::ThrottleConfigure(t) => {
            m.insert("packetThrottleInterval", u64::from(t.interval));
            m.insert("packetThrottleAcceleration", u64::from(t.acceleration));
            m.insert("packetThrottleDeceleration", u64::from(t.deceleration));
        }
        _ => {}
    }
    if let Some(p) = c.body.payload() {
        m.insert("dataLength", p.len() as u64);
    }
    m
}

fn assert_payload(expected: &str, actual: &[u8], ctx: &str) {
    let hex_of = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match expected.split_once("...") {
        Some((head, tail)) => {
            assert!(actual.len() > 24, "{ctx}: shortened payload must be long");
            assert_eq!(hex_of(&actual[..8]), head, "{ctx}: payload head");
            assert_eq!(hex_of(&actual[actual.len() - 4..]), tail, "{ctx}: payload tail");
        }
        None => assert_eq!(hex_of(actual), expected, "{ctx}: payload"),
    }
}

/// Checks one body's commands against the README's lines.
fn check_commands(body: &[u8], expected: &Expected, ctx: &str) {
    let mut offset = 0;
    let mut decoded = 0;
    for (i, command) in volley_proto::wire::Commands::new(body).enumerate() {
        let command = command.unwrap_or_else(|e| panic!("{ctx}: command {i}: {e}"));
        let (want_offset, want_name, want) = &expected.commands[i];
        let ctx = format!("{ctx} cmd@{want_offset}");
        assert_eq!(offset, *want_offset, "{ctx}: offset");
        assert_eq!(&command_name(&command), want_name, "{ctx}: name");
        assert_eq!(number(&want["channel"]), u64::from(command.header.channel_id));
        let got = decoded_fields(&command);
        for (key, value) in want {
            match key.as_str() {
                "payload" => assert_payload(value, command.body.payload().expect("payload"), &ctx),
                "connectID" => {
                    let id = match command.body {
                        CommandBody::Connect { params, .. }
                        | CommandBody::VerifyConnect(params) => params.connect_id,
                        _ => panic!("{ctx}: connectID on a non-connect command"),
                    };
                    assert_eq!(id.to_vec(), hex(value), "{ctx}: connectID");
                }
                _ => {
                    let actual = got
                        .get(key.as_str())
                        .unwrap_or_else(|| panic!("{ctx}: decoder has no field {key}"));
                    assert_eq!(*actual, number(value), "{ctx}: field {key}");
                }
            }
        }
        // Every field the decoder knows is stated in the README, so none escaped the check.
        for key in got.keys() {
            assert!(want.contains_key(*key), "{ctx}: README lacks {key}");
        }
        offset += command.encoded_len();
        decoded += 1;
    }
    assert_eq!(decoded, expected.commands.len(), "{ctx}: command count");
    assert_eq!(offset, body.len(), "{ctx}: commands cover the body");
}

/// The connect id of the scenario's latest CONNECT before datagram `upto`.
fn connect_id_before(datagrams: &[volley_proto::wire::Datagram<'_>], upto: usize) -> [u8; 4] {
    datagrams[..=upto]
        .iter()
        .rev()
        .find_map(|d| match d.commands().next()?.ok()?.body {
            CommandBody::Connect { params, .. } => Some(params.connect_id),
            _ => None,
        })
        .expect("a CONNECT earlier in the scenario")
}

#[test]
fn every_vector_decodes_as_the_readme_says_and_reencodes_identically() {
    let files = all_files();
    assert_eq!(files.len(), 15, "all scenario files are present: {files:?}");
    let mut datagram_count = 0;
    for file in &files {
        let with_checksum = file.contains("_crc");
        let captured = load(file);
        let expected = expected_decodes(file);
        assert_eq!(captured.len(), expected.len(), "{file}: datagram count");
        let parsed: Vec<Datagram<'_>> = captured
            .iter()
            .map(|c| Datagram::parse(&c.bytes, with_checksum).expect("header parses"))
            .collect();
        for (i, (cap, exp)) in captured.iter().zip(&expected).enumerate() {
            let ctx = format!("{file} #{}", exp.index);
            let datagram = &parsed[i];
            let header = datagram.header();
            assert_eq!(cap.direction, exp.direction, "{ctx}: direction");
            assert_eq!(cap.bytes.len(), exp.len, "{ctx}: length");
            assert_eq!(u64::from(header.peer_id), number(&exp.header["peerID"]), "{ctx}: peer");
            assert_eq!(u64::from(header.session_id), number(&exp.header["session"]), "{ctx}");
            assert_eq!(header.sent_time.is_some(), exp.flags.contains("SENT_TIME"), "{ctx}");
            assert_eq!(header.compressed, exp.flags.contains("COMPRESSED"), "{ctx}");
            if let Some(t) = header.sent_time {
                assert_eq!(u64::from(t), number(&exp.header["sentTime"]), "{ctx}: sentTime");
            }
            let placeholder = if header.is_unaddressed() {
                [0; 4]
            } else if with_checksum {
                connect_id_before(&parsed, i)
            } else {
                [0; 4]
            };
            if header.compressed {
                check_compressed(datagram, exp, &cap.bytes, &ctx);
                datagram_count += 1;
                continue;
            }
            datagram.verify_checksum(placeholder, datagram.body()).expect("checksum matches");
            if with_checksum {
                assert_eq!(
                    hex(&exp.header["checksum"]),
                    cap.bytes[header.encoded_len(false)..][..4]
                );
            }
            check_commands(datagram.body(), exp, &ctx);
            // Re-encode the same commands under the same header.
            let mut buf = [0u8; 4096 + MAX_HEADER_LEN];
            let mut writer = DatagramWriter::new(&mut buf, 4096, with_checksum);
            for command in datagram.commands() {
                writer.push(&command.expect("decoded above")).expect("fits");
            }
            let range = writer.finish(header, Some(placeholder));
            assert_eq!(&buf[range], &cap.bytes[..], "{ctx}: re-encoding differs");
            datagram_count += 1;
        }
    }
    assert_eq!(datagram_count, 104, "re-encoded datagrams");
}

/// A range-coded datagram: its body decodes to the README's bytes and
/// commands, and compressing the re-encoded commands gives the captured bytes.
fn check_compressed(datagram: &Datagram<'_>, exp: &Expected, captured: &[u8], ctx: &str) {
    let mut coder = RangeCoder::new();
    let mut body = [0u8; 4096];
    let len = coder.decompress(datagram.body(), &mut body).expect("decompresses");
    let body = &body[..len];
    assert_eq!(Some(body), exp.decompressed.as_deref(), "{ctx}: decompressed body");
    check_commands(body, exp, ctx);
    let mut buf = [0u8; 4096 + MAX_HEADER_LEN];
    let mut writer = DatagramWriter::new(&mut buf, 4096, false);
    for command in volley_proto::wire::Commands::new(body) {
        writer.push(&command.expect("decoded above")).expect("fits");
    }
    let mut packed = [0u8; 4096];
    let packed_len = coder.compress(writer.body(), &mut packed).expect("compresses");
    let range = writer.finish_compressed(datagram.header(), None, &packed[..packed_len]);
    assert_eq!(&buf[range], captured, "{ctx}: re-encoding differs");
}

#[test]
fn connect_carries_the_documented_handshake_parameters() {
    let captured = load("handshake.txt");
    let datagram = Datagram::parse(&captured[0].bytes, false).unwrap();
    let command = datagram.commands().next().unwrap().unwrap();
    let CommandBody::Connect { params, data } = command.body else {
        panic!("first datagram is a CONNECT");
    };
    assert_eq!(data, 0x1122_3344);
    assert_eq!((params.mtu, params.window_size, params.channel_count), (1400, 65536, 2));
    assert_eq!(params.throttle.interval, 5000);
}
