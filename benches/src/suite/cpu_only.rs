//! Scenario 6: CPU-only figures, no sockets. The engine alone is the
//! library's client and server joined in memory (for Volley, the
//! [`Link`](crate::link::Link) of the engine bench, 1000-message batches);
//! the codec alone decodes and encodes a full datagram of 64-byte reliable
//! commands (as the codec bench's `full_mtu_64B_reliable`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use volley_proto::wire::{
    Command, CommandBody, CommandHeader, Datagram, DatagramWriter, Header, MAX_HEADER_LEN,
};

use crate::drivers::System;

/// MTU of the codec datagrams (Volley's and ENet's default).
const MTU: usize = 1392;
/// Payload of each command in the codec datagram.
const COMMAND_PAYLOAD: [u8; 64] = [0x5A; 64];

/// Reliable messages of `len` bytes per second through `system`'s engine
/// alone, in batches of `batch`, for about `duration`. `Ok(None)` if the
/// engine cannot run without its socket (with the reason).
pub(crate) fn engine_rate(
    system: &dyn System,
    len: usize,
    batch: u64,
    duration: Duration,
) -> Result<Result<f64, String>, &'static str> {
    let mut pair = system.engine_pair()?;
    Ok((|| {
        // One batch to warm up.
        pair.transfer(len, batch).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut messages = 0_u64;
        while start.elapsed() < duration {
            pair.transfer(len, batch).map_err(|e| e.to_string())?;
            messages += batch;
        }
        Ok(messages as f64 / start.elapsed().as_secs_f64())
    })())
}

fn full_datagram_commands() -> Vec<Command<'static>> {
    let per_command = 6 + COMMAND_PAYLOAD.len();
    (0..(MTU - 4) / per_command)
        .map(|i| Command {
            header: CommandHeader {
                acknowledge: true,
                unsequenced: false,
                channel_id: 0,
                reliable_sequence_number: u16::try_from(i + 1).unwrap_or(u16::MAX),
            },
            body: CommandBody::SendReliable { data: &COMMAND_PAYLOAD },
        })
        .collect()
}

fn header() -> Header {
    Header { peer_id: 1, session_id: 0, compressed: false, sent_time: Some(0x1234) }
}

/// Commands decoded per second from a full datagram of 64-byte reliable
/// commands, for about `duration`.
pub(crate) fn decode_rate(duration: Duration) -> Result<f64, String> {
    let commands = full_datagram_commands();
    let mut buf = vec![0_u8; MTU + MAX_HEADER_LEN];
    let mut writer = DatagramWriter::new(&mut buf, MTU, false);
    for command in &commands {
        writer.push(command).map_err(|e| format!("encode: {e:?}"))?;
    }
    let range = writer.finish(&header(), None);
    let bytes = buf[range].to_vec();
    let start = Instant::now();
    let mut decoded = 0_u64;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            let datagram =
                Datagram::parse(black_box(&bytes), false).map_err(|e| format!("{e:?}"))?;
            for command in datagram.commands() {
                let command = command.map_err(|e| format!("{e:?}"))?;
                black_box(command.body.payload());
                decoded += 1;
            }
        }
    }
    Ok(decoded as f64 / start.elapsed().as_secs_f64())
}

/// Commands encoded per second into full datagrams of 64-byte reliable
/// commands, for about `duration`.
pub(crate) fn encode_rate(duration: Duration) -> Result<f64, String> {
    let commands = full_datagram_commands();
    let mut buf = vec![0_u8; MTU + MAX_HEADER_LEN];
    let header = header();
    let start = Instant::now();
    let mut encoded = 0_u64;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            let mut writer = DatagramWriter::new(&mut buf, MTU, false);
            for command in black_box(&commands) {
                writer.push(command).map_err(|e| format!("encode: {e:?}"))?;
            }
            black_box(writer.finish(&header, None));
            encoded += commands.len() as u64;
        }
    }
    Ok(encoded as f64 / start.elapsed().as_secs_f64())
}
