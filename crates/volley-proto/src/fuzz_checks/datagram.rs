//! Decoding arbitrary datagrams.

use crate::constants::MAX_DATAGRAM_SIZE;
use crate::wire::{Command, Datagram, DatagramWriter, MAX_HEADER_LEN};

/// Decodes `data` as a datagram without checksum. Whatever decodes completely
/// must re-encode to exactly the same bytes (Volley's encoding is canonical).
pub fn decode_datagram(data: &[u8]) {
    let Ok(datagram) = Datagram::parse(data, false) else { return };
    reencode_matches(&datagram, data, false, [0; 4]);
}

/// Treats the first four bytes of `data` as the connection's connect id and
/// the rest as a datagram with a checksum. A datagram whose checksum verifies
/// and whose commands decode must re-encode, checksum included, to itself.
pub fn decode_with_checksum(data: &[u8]) {
    let Some((connect_id, bytes)) = data.split_first_chunk::<4>() else { return };
    let Ok(datagram) = Datagram::parse(bytes, true) else { return };
    let placeholder = if datagram.header().is_unaddressed() { [0; 4] } else { *connect_id };
    if datagram.verify_checksum(placeholder, datagram.body()).is_err() {
        return;
    }
    reencode_matches(&datagram, bytes, true, placeholder);
}

fn reencode_matches(
    datagram: &Datagram<'_>,
    original: &[u8],
    checksum: bool,
    placeholder: [u8; 4],
) {
    let Ok(commands) = datagram.commands().collect::<Result<Vec<Command<'_>>, _>>() else {
        return;
    };
    let mut buf = [0u8; MAX_DATAGRAM_SIZE + MAX_HEADER_LEN];
    let mut writer = DatagramWriter::new(&mut buf, MAX_DATAGRAM_SIZE + MAX_HEADER_LEN, checksum);
    for command in &commands {
        writer.push(command).expect("a decoded command re-encodes into a datagram as large");
    }
    let range = writer.finish(datagram.header(), Some(placeholder));
    assert_eq!(&buf[range], original, "re-encoding differs from the decoded datagram");
}
