//! Whole datagrams: parsing a received one, assembling one to send.

use std::ops::Range;

use super::header::{CHECKSUM_LEN, MAX_HEADER_LEN};
use super::{Command, DecodeError, EncodeError, Header};

/// A received datagram whose header was parsed; its commands are decoded lazily.
///
/// Zero-copy: payloads of the decoded commands borrow the datagram.
///
/// # Examples
///
/// ```
/// use volley_proto::wire::{CommandBody, Datagram};
///
/// // header: peer 2, SENT_TIME; then PING|ACK on the control channel, sequence 2
/// let bytes = [0x80, 0x02, 0x12, 0x34, 0x85, 0xff, 0x00, 0x02];
/// let datagram = Datagram::parse(&bytes, false)?;
/// assert_eq!(datagram.header().peer_id, 2);
/// assert_eq!(datagram.header().sent_time, Some(0x1234));
/// let command = datagram.commands().next().unwrap()?;
/// assert_eq!(command.body, CommandBody::Ping);
/// # Ok::<(), volley_proto::wire::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    header: Header,
    header_bytes: &'a [u8],
    checksum: Option<[u8; CHECKSUM_LEN]>,
    body: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// Parses the header of `bytes`. `with_checksum` says whether the hosts
    /// use checksums (nothing on the wire says so).
    pub fn parse(bytes: &'a [u8], with_checksum: bool) -> Result<Self, DecodeError> {
        let (header, checksum, header_len) = Header::parse(bytes, with_checksum)?;
        let body = &bytes[header_len..];
        if body.is_empty() {
            return Err(DecodeError::Empty);
        }
        let unchecked_len = header_len - if with_checksum { CHECKSUM_LEN } else { 0 };
        Ok(Self { header, header_bytes: &bytes[..unchecked_len], checksum, body })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The bytes after the header and checksum (still compressed if the header says so).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Checks the stored checksum against `body` (the datagram's own body, or
    /// its decompressed form), with `placeholder` standing in the checksum
    /// field: zeros for unaddressed datagrams, else the connection's connect id.
    ///
    /// Datagrams parsed without checksums always pass.
    pub fn verify_checksum(&self, placeholder: [u8; 4], body: &[u8]) -> Result<(), DecodeError> {
        match self.checksum {
            None => Ok(()),
            Some(stored) if stored == checksum(self.header_bytes, placeholder, body) => Ok(()),
            Some(_) => Err(DecodeError::ChecksumMismatch),
        }
    }

    /// Iterates over the commands of the (uncompressed) body.
    pub fn commands(&self) -> Commands<'a> {
        Commands::new(self.body)
    }
}

/// The CRC-32 of a datagram as the protocol defines it: over the header, the
/// placeholder in the checksum field, and the uncompressed body; big-endian.
pub fn checksum(header: &[u8], placeholder: [u8; 4], body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(&placeholder);
    hasher.update(body);
    hasher.finalize().to_be_bytes()
}

/// Iterator over the commands of a datagram body.
///
/// Yields `Err` once, at the first malformed command, then stops; callers
/// that want all-or-nothing semantics check the whole body first with
/// [`Commands::validate`].
#[derive(Debug, Clone)]
pub struct Commands<'a> {
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Commands<'a> {
    /// Iterates over the commands in `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Self { rest: body, offset: 0, failed: false }
    }

    /// Decodes every command and returns how many there are, or the first error.
    pub fn validate(self) -> Result<usize, DecodeError> {
        let mut count = 0;
        for command in self {
            command?;
            count += 1;
        }
        Ok(count)
    }
}

impl<'a> Iterator for Commands<'a> {
    type Item = Result<Command<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Command::decode(self.rest) {
            Ok((command, len)) => {
                self.rest = &self.rest[len..];
                self.offset += len;
                Some(Ok(command))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(match e {
                    DecodeError::TruncatedCommandHeader { .. } => {
                        DecodeError::TruncatedCommandHeader { offset: self.offset }
                    }
                    other => other,
                }))
            }
        }
    }
}

/// Assembles one datagram in a caller-provided buffer.
///
/// Commands are written after room reserved for the longest header; when the
/// datagram is finished the header is written right in front of the first
/// command, so nothing is moved and the datagram is one contiguous slice of
/// the buffer. The MTU bounds the whole datagram, header and checksum included.
///
/// # Examples
///
/// ```
/// use volley_proto::wire::{Command, CommandBody, CommandHeader, DatagramWriter, Header};
///
/// let mut buf = [0u8; 1400];
/// let mut writer = DatagramWriter::new(&mut buf, 1400, false);
/// let ping = Command {
///     header: CommandHeader {
///         acknowledge: true,
///         unsequenced: false,
///         channel_id: 0xFF,
///         reliable_sequence_number: 2,
///     },
///     body: CommandBody::Ping,
/// };
/// writer.push(&ping)?;
/// let header = Header { peer_id: 2, session_id: 0, compressed: false, sent_time: Some(0x1234) };
/// let range = writer.finish(&header, None);
/// assert_eq!(&buf[range], &[0x80, 0x02, 0x12, 0x34, 0x85, 0xff, 0x00, 0x02]);
/// # Ok::<(), volley_proto::wire::EncodeError>(())
/// ```
#[derive(Debug)]
pub struct DatagramWriter<'b> {
    buf: &'b mut [u8],
    end: usize,
    limit: usize,
    commands: usize,
    with_checksum: bool,
}

impl<'b> DatagramWriter<'b> {
    /// Starts a datagram of at most `mtu` bytes in `buf`.
    ///
    /// The body starts at [`MAX_HEADER_LEN`]; room for a full header (with sent
    /// time, and checksum when `with_checksum`) is counted against the MTU.
    pub fn new(buf: &'b mut [u8], mtu: usize, with_checksum: bool) -> Self {
        let header_room = 4 + if with_checksum { CHECKSUM_LEN } else { 0 };
        let limit = (MAX_HEADER_LEN + mtu.saturating_sub(header_room)).min(buf.len());
        Self { buf, end: MAX_HEADER_LEN.min(limit), limit, commands: 0, with_checksum }
    }

    /// Bytes still free for commands.
    pub fn remaining(&self) -> usize {
        self.limit - self.end
    }

    /// Number of commands written so far.
    pub fn command_count(&self) -> usize {
        self.commands
    }

    /// True when no command was written.
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// Appends a command, or reports that it does not fit.
    pub fn push(&mut self, command: &Command<'_>) -> Result<(), EncodeError> {
        let written = command.encode(&mut self.buf[self.end..self.limit])?;
        self.end += written;
        self.commands += 1;
        Ok(())
    }

    /// The body written so far (for compression).
    pub fn body(&self) -> &[u8] {
        &self.buf[MAX_HEADER_LEN..self.end]
    }

    /// Writes the header (and checksum, computed with `placeholder` in its
    /// field) in front of the body, and returns where the datagram lies in the
    /// buffer.
    ///
    /// `placeholder` is ignored when the writer was made without checksums;
    /// with checksums `None` means four zero bytes.
    pub fn finish(self, header: &Header, placeholder: Option<[u8; 4]>) -> Range<usize> {
        self.finish_with_body(header, placeholder, None)
    }

    /// Like [`finish`](Self::finish), but replaces the body with `compressed`
    /// (its compressed form; `header.compressed` should be set). The checksum
    /// still covers the uncompressed body, as the protocol defines it.
    pub fn finish_compressed(
        self,
        header: &Header,
        placeholder: Option<[u8; 4]>,
        compressed: &[u8],
    ) -> Range<usize> {
        self.finish_with_body(header, placeholder, Some(compressed))
    }

    fn finish_with_body(
        self,
        header: &Header,
        placeholder: Option<[u8; 4]>,
        replacement: Option<&[u8]>,
    ) -> Range<usize> {
        let header_len = header.encoded_len(self.with_checksum);
        let start = MAX_HEADER_LEN - header_len;
        let word_len = header.write(&mut self.buf[start..]);
        if self.with_checksum {
            let sum = checksum(
                &self.buf[start..start + word_len],
                placeholder.unwrap_or([0; 4]),
                &self.buf[MAX_HEADER_LEN..self.end],
            );
            self.buf[start + word_len..MAX_HEADER_LEN].copy_from_slice(&sum);
        }
        match replacement {
            // Only ever shorter than the body it replaces, so it fits.
            Some(body) if body.len() <= self.end - MAX_HEADER_LEN => {
                self.buf[MAX_HEADER_LEN..MAX_HEADER_LEN + body.len()].copy_from_slice(body);
                start..MAX_HEADER_LEN + body.len()
            }
            _ => start..self.end,
        }
    }
}
