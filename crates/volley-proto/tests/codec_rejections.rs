//! Every stateless rejection rule of the codec, each with a crafted datagram.

use volley_proto::wire::{Command, Commands, Datagram, DecodeError, FragmentError};

/// Header without sent time for peer 1, followed by `body`.
fn datagram(body: &[u8]) -> Vec<u8> {
    let mut d = vec![0x00, 0x01];
    d.extend_from_slice(body);
    d
}

fn decode_body(body: &[u8]) -> Result<usize, DecodeError> {
    let bytes = datagram(body);
    let datagram = Datagram::parse(&bytes, false)?;
    Commands::new(datagram.body()).validate()
}

/// A valid CONNECT, to be corrupted field by field.
fn connect() -> Vec<u8> {
    let mut c = vec![0x82, 0xFF, 0x00, 0x01, 0x00, 0x02, 0xFF, 0xFF];
    for v in [1400u32, 65536, 2, 0, 0, 5000, 2, 2] {
        c.extend_from_slice(&v.to_be_bytes());
    }
    c.extend_from_slice(&[0x0a, 0x99, 0x2a, 0x0c]);
    c.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    c
}

/// A SEND_FRAGMENT (reliable when `reliable`) with the given fields and `len` payload bytes.
/// `[count, number, total, offset]` are the fragment's four u32 fields.
fn fragment(reliable: bool, seq: u16, start: u16, fields: [u32; 4], len: u16) -> Vec<u8> {
    let mut f = vec![if reliable { 0x88 } else { 0x0C }, 0x00];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&start.to_be_bytes());
    f.extend_from_slice(&len.to_be_bytes());
    for v in fields {
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend(std::iter::repeat_n(0xAB, usize::from(len)));
    f
}

#[test]
fn valid_samples_are_accepted() {
    // The crafted commands below are corruptions of these.
    assert_eq!(decode_body(&connect()), Ok(1));
    assert_eq!(decode_body(&fragment(true, 11, 10, [3, 1, 1500, 600], 600)), Ok(1));
    assert_eq!(decode_body(&fragment(true, 12, 10, [3, 2, 1500, 1200], 300)), Ok(1));
    assert_eq!(decode_body(&fragment(false, 0, 10, [1, 0, 5, 0], 5)), Ok(1));
}

#[test]
fn datagram_level_rules() {
    let long = vec![0u8; 4097];
    let cases: [(&[u8], bool, DecodeError); 6] = [
        (&[], false, DecodeError::TruncatedHeader { needed: 2, available: 0 }),
        (&[0x00], false, DecodeError::TruncatedHeader { needed: 2, available: 1 }),
        // SENT_TIME flag but no time bytes
        (&[0x80, 0x01, 0x12], false, DecodeError::TruncatedHeader { needed: 4, available: 3 }),
        // checksums on, checksum field cut short
        (&[0x00, 0x01, 0, 0, 0], true, DecodeError::TruncatedHeader { needed: 6, available: 5 }),
        (&[0x00, 0x01], false, DecodeError::Empty),
        (&long, false, DecodeError::Oversized { len: 4097 }),
    ];
    for (bytes, with_checksum, want) in cases {
        assert_eq!(Datagram::parse(bytes, with_checksum).err(), Some(want), "{bytes:02x?}");
    }
}

#[test]
fn command_header_rules() {
    assert_eq!(
        decode_body(&[0x85, 0xFF, 0x00]),
        Err(DecodeError::TruncatedCommandHeader { offset: 0 })
    );
    // A good PING, then three stray bytes: the error names their offset.
    assert_eq!(
        decode_body(&[0x85, 0xFF, 0x00, 0x01, 0x85, 0xFF, 0x00]),
        Err(DecodeError::TruncatedCommandHeader { offset: 4 })
    );
    for number in [0u8, 13, 14, 15] {
        assert_eq!(
            decode_body(&[number, 0xFF, 0, 1, 0, 0, 0, 0]),
            Err(DecodeError::UnknownCommand { number })
        );
    }
    for byte in [0x95u8, 0xA5] {
        assert_eq!(decode_body(&[byte, 0xFF, 0, 1]), Err(DecodeError::ReservedFlags { byte }));
    }
}

#[test]
fn flags_must_fit_the_command_kind() {
    let cases: [&[u8]; 9] = [
        &[0x81, 0x00, 0, 1, 0, 1, 0, 0], // ACKNOWLEDGE with ACK
        &[0x41, 0x00, 0, 1, 0, 1, 0, 0], // ACKNOWLEDGE with UNSEQUENCED
        &[0x06, 0x00, 0, 1, 0, 0],       // SEND_RELIABLE without ACK
        &[0xC6, 0x00, 0, 1, 0, 0],       // SEND_RELIABLE with both
        &[0x87, 0x00, 0, 1, 0, 1, 0, 0], // SEND_UNRELIABLE with ACK
        &[0x09, 0x00, 0, 0, 0, 1, 0, 0], // SEND_UNSEQUENCED without UNSEQUENCED
        &[0x04, 0xFF, 0, 1, 0, 0, 0, 0], // DISCONNECT with neither
        &[0xC4, 0xFF, 0, 1, 0, 0, 0, 0], // DISCONNECT with both
        &[0x05, 0xFF, 0, 1],             // PING without ACK
    ];
    for body in cases {
        assert_eq!(
            decode_body(body),
            Err(DecodeError::InvalidFlags { byte: body[0] }),
            "{body:02x?}"
        );
    }
    assert_eq!(
        decode_body(&[0x44, 0xFF, 0, 1, 0, 0, 0, 7]),
        Ok(1),
        "DISCONNECT|UNSEQUENCED is valid"
    );
}

#[test]
fn channels_must_fit_the_command_kind() {
    assert_eq!(
        decode_body(&[0x85, 0x00, 0, 1]),
        Err(DecodeError::InvalidChannel { number: 5, channel_id: 0 })
    );
    assert_eq!(
        decode_body(&[0x86, 0xFF, 0, 1, 0, 0]),
        Err(DecodeError::InvalidChannel { number: 6, channel_id: 0xFF })
    );
    let mut c = connect();
    c[1] = 3;
    assert_eq!(decode_body(&c), Err(DecodeError::InvalidChannel { number: 2, channel_id: 3 }));
}

#[test]
fn fixed_parts_and_payloads_must_be_complete() {
    let full: [(u8, u8, usize); 11] = [
        (0x01, 0x00, 8),
        (0x82, 0xFF, 48),
        (0x83, 0xFF, 44),
        (0x84, 0xFF, 8),
        (0x86, 0x00, 6),
        (0x07, 0x00, 8),
        (0x88, 0x00, 24),
        (0x49, 0x00, 8),
        (0x8A, 0xFF, 12),
        (0x8B, 0xFF, 16),
        (0x0C, 0x00, 24),
    ];
    for (byte, channel, len) in full {
        let mut body = vec![0u8; len - 1];
        body[0] = byte;
        body[1] = channel;
        assert_eq!(
            decode_body(&body),
            Err(DecodeError::TruncatedCommand { number: byte & 0x0F }),
            "{byte:#x}"
        );
    }
    // SEND_RELIABLE announcing 5 bytes with 4 present
    assert_eq!(
        decode_body(&[0x86, 0x00, 0, 1, 0, 5, 1, 2, 3, 4]),
        Err(DecodeError::TruncatedPayload { declared: 5, available: 4 })
    );
    assert_eq!(
        decode_body(&[0x07, 0x00, 0, 1, 0, 1, 0xFF, 0xFF, 1]),
        Err(DecodeError::TruncatedPayload { declared: 65535, available: 1 })
    );
}

#[test]
fn connect_fields_are_checked() {
    let corrupt = |at: usize, bytes: &[u8]| {
        let mut c = connect();
        c[at..at + bytes.len()].copy_from_slice(bytes);
        decode_body(&c)
    };
    assert_eq!(corrupt(4, &[0x0F, 0xFF]), Err(DecodeError::InvalidPeerId { peer_id: 0x0FFF }));
    assert_eq!(corrupt(4, &[0xFF, 0xFF]), Err(DecodeError::InvalidPeerId { peer_id: 0xFFFF }));
    assert_eq!(corrupt(6, &[4]), Err(DecodeError::InvalidSessionId { session_id: 4 }));
    assert_eq!(corrupt(7, &[0x80]), Err(DecodeError::InvalidSessionId { session_id: 0x80 }));
    assert_eq!(
        corrupt(16, &0u32.to_be_bytes()),
        Err(DecodeError::InvalidChannelCount { count: 0 })
    );
    assert_eq!(
        corrupt(16, &256u32.to_be_bytes()),
        Err(DecodeError::InvalidChannelCount { count: 256 })
    );
    // The same rules hold for VERIFY_CONNECT (CONNECT minus its data field).
    let mut verify = connect();
    verify.truncate(44);
    verify[0] = 0x83;
    verify[16..20].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(decode_body(&verify), Err(DecodeError::InvalidChannelCount { count: 0 }));
}

#[test]
fn fragment_fields_must_describe_one_exact_piece() {
    use FragmentError::*;
    let err = |e| Err(DecodeError::InvalidFragment(e));
    let cases = [
        (fragment(true, 10, 10, [3, 0, 1500, 0], 0), Empty),
        (fragment(true, 10, 10, [0, 0, 1500, 0], 600), BadCount),
        (fragment(true, 10, 10, [1_048_577, 0, 1500, 0], 600), BadCount),
        (fragment(true, 13, 10, [3, 3, 1500, 1800], 600), NumberOutOfRange),
        (fragment(true, 10, 10, [3, 0, 33_554_433, 0], 600), TotalTooLarge),
        // pieces smaller than the smallest MTU makes them
        (fragment(true, 10, 10, [3, 0, 250, 0], 100), TooSmall),
        (fragment(true, 12, 10, [3, 2, 250, 200], 50), TooSmall),
        // non-last fragment: total must leave 1..=size bytes for the last one
        (fragment(true, 10, 10, [3, 0, 1200, 0], 600), TotalMismatch),
        (fragment(true, 10, 10, [3, 0, 1801, 0], 600), TotalMismatch),
        // non-last fragment at the wrong offset
        (fragment(true, 11, 10, [3, 1, 1500, 599], 600), OffsetMismatch),
        // last fragment not ending the packet
        (fragment(true, 12, 10, [3, 2, 1500, 1200], 299), TotalMismatch),
        // last fragment at an offset that is no multiple of its number
        (fragment(true, 12, 10, [3, 2, 1501, 1201], 300), OffsetMismatch),
        // last fragment longer than the others
        (fragment(true, 12, 10, [3, 2, 1900, 1200], 700), OffsetMismatch),
        // only fragment not at offset 0 (its offset + len == total)
        (fragment(true, 10, 10, [1, 0, 10, 5], 5), OffsetMismatch),
        // reliable fragment whose own sequence is not start + number
        (fragment(true, 10, 10, [3, 1, 1500, 600], 600), SequenceMismatch),
        // ...which wraps around 0xFFFF
        (fragment(true, 0xFFFF, 0xFFFF, [3, 1, 1500, 600], 600), SequenceMismatch),
    ];
    for (body, want) in cases {
        assert_eq!(decode_body(&body), err(want), "{want:?}");
    }
    let wrapping = fragment(true, 0, 0xFFFF, [3, 1, 1500, 600], 600);
    assert_eq!(decode_body(&wrapping), Ok(1), "wrapping start");
    let unreliable = fragment(false, 77, 10, [3, 1, 1500, 600], 600);
    assert_eq!(decode_body(&unreliable), Ok(1), "unreliable: no sequence rule");
}

#[test]
fn decoding_stops_at_the_first_bad_command() {
    // PING, then an unknown command, then a PING: the iterator yields the
    // first, then the error, then nothing.
    let body = [0x85, 0xFF, 0, 1, 0x0D, 0xFF, 0, 2, 0x85, 0xFF, 0, 3];
    let mut commands = Commands::new(&body);
    assert!(commands.next().is_some_and(|c| c.is_ok()));
    assert_eq!(commands.next(), Some(Err(DecodeError::UnknownCommand { number: 13 })));
    assert_eq!(commands.next(), None);
    assert!(Command::decode(&body[4..]).is_err());
}

#[test]
fn errors_say_what_was_wrong() {
    let text = DecodeError::InvalidFragment(FragmentError::OffsetMismatch).to_string();
    assert_eq!(text, "invalid fragment: fragment offset does not match its number");
    let text = DecodeError::TruncatedPayload { declared: 5, available: 4 }.to_string();
    assert!(text.contains('5') && text.contains('4'), "{text}");
}
