//! The CRC-32 checksum exactly as the C library computes it.

mod support;

use support::load;
use volley_proto::wire::{CommandBody, Datagram, DecodeError};

/// The checksum placeholder for a captured datagram: zero when unaddressed,
/// else the connect id of the scenario's CONNECT.
fn placeholder(datagram: &Datagram<'_>, connect_id: [u8; 4]) -> [u8; 4] {
    if datagram.header().is_unaddressed() { [0; 4] } else { connect_id }
}

fn connect_id(bytes: &[u8]) -> [u8; 4] {
    let datagram = Datagram::parse(bytes, true).expect("CONNECT datagram");
    match datagram.commands().next() {
        Some(Ok(c)) => match c.body {
            CommandBody::Connect { params, .. } => params.connect_id,
            other => panic!("first datagram is not a CONNECT: {other:?}"),
        },
        other => panic!("first datagram has no command: {other:?}"),
    }
}

fn verify(bytes: &[u8], id: [u8; 4]) -> Result<(), DecodeError> {
    let datagram = Datagram::parse(bytes, true)?;
    datagram.verify_checksum(placeholder(&datagram, id), datagram.body())
}

#[test]
fn captured_checksums_verify() {
    for file in ["handshake_crc.txt", "reliable_crc.txt"] {
        let captured = load(file);
        let id = connect_id(&captured[0].bytes);
        for (i, c) in captured.iter().enumerate() {
            verify(&c.bytes, id).unwrap_or_else(|e| panic!("{file} #{}: {e}", i + 1));
        }
    }
}

#[test]
fn flipping_any_byte_fails_the_check() {
    let mut checked = 0;
    for file in ["handshake_crc.txt", "reliable_crc.txt"] {
        let captured = load(file);
        let id = connect_id(&captured[0].bytes);
        for c in &captured {
            for at in 0..c.bytes.len() {
                for mask in [0x01, 0x80, 0xFF] {
                    let mut bytes = c.bytes.clone();
                    bytes[at] ^= mask;
                    assert!(verify(&bytes, id).is_err(), "{file}: byte {at} ^ {mask:#x} accepted");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500);
}

#[test]
fn a_wrong_placeholder_fails_the_check() {
    let captured = load("reliable_crc.txt");
    let id = connect_id(&captured[0].bytes);
    let addressed = &captured[1].bytes;
    assert!(verify(addressed, id).is_ok());
    assert_eq!(verify(addressed, [0; 4]), Err(DecodeError::ChecksumMismatch));
}

#[test]
fn checksum_is_crc32_ieee_big_endian() {
    // Check value of CRC-32/ISO-HDLC for "123456789" is 0xCBF43926.
    let sum = volley_proto::wire::checksum(b"1234", *b"5678", b"9");
    assert_eq!(sum, 0xCBF4_3926u32.to_be_bytes());
}
