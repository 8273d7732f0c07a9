//! One datagram per system call, for platforms without `recvmmsg`/`sendmmsg`.
//!
//! Same contracts as the Linux versions, so [`super::HostSocket`] and the
//! batches need not know which one runs. Compiled on Linux too, for its tests.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;

use super::recv::SLOT_LEN;
use super::send::Transmission;

/// Windows' `WSAEMSGSIZE`: the datagram did not fit the buffer and was cut.
#[cfg(windows)]
const WSAEMSGSIZE: i32 = 10040;

/// Reads datagrams one by one, datagram `i` into slot `i`, until the slots are
/// full or the socket would block; calls `on_datagram(slot, len, source)` for
/// each and returns how many slots were used.
pub(super) fn receive(
    socket: &UdpSocket,
    slots: &mut [u8],
    mut on_datagram: impl FnMut(usize, usize, SocketAddr),
) -> io::Result<usize> {
    let mut used = 0;
    while let Some(slot) = slots.get_mut(used * SLOT_LEN..(used + 1) * SLOT_LEN) {
        match socket.recv_from(slot) {
            Ok((len, source)) => {
                on_datagram(used, len, source);
                used += 1;
            }
            #[cfg(windows)]
            Err(error) if error.raw_os_error() == Some(WSAEMSGSIZE) => {
                // Windows reports a truncated datagram as an error, without its
                // source; a length past the slot marks it as oversize, and an
                // oversize datagram's source is never looked at.
                on_datagram(used, SLOT_LEN + 1, SocketAddr::from(([0, 0, 0, 0], 0)));
                used += 1;
            }
            // Windows reports an ICMP "port unreachable" for an earlier send
            // as a reset on the next receive; it says nothing about this read,
            // and the slot is still free for the next datagram.
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
            Err(error) if used > 0 && error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => return Err(error),
        }
    }
    Ok(used)
}

/// Sends `transmissions` one datagram per call; returns how many went out (at
/// least one), or the error of the first. A later failure stops the loop and
/// shows up again when the caller retries from that datagram.
///
/// Never given GSO runs: [`super::HostSocket`] only enables GSO on Linux.
pub(super) fn transmit(
    socket: &UdpSocket,
    transmissions: &[Transmission],
    payloads: &[u8],
    to_kernel: impl Fn(SocketAddr) -> SocketAddr,
) -> io::Result<usize> {
    for (sent, transmission) in transmissions.iter().enumerate() {
        let bytes = &payloads[transmission.start..transmission.start + transmission.len];
        if let Err(error) = socket.send_to(bytes, to_kernel(transmission.destination)) {
            return if sent == 0 { Err(error) } else { Ok(sent) };
        }
    }
    Ok(transmissions.len())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mio::{Events, Interest, Poll, Token};

    use super::*;
    use crate::socket::send::GsoSupport;
    use crate::socket::{MAX_DATAGRAM_SIZE, RecvBatch, SendBatch, SocketStats};

    fn loopback() -> UdpSocket {
        UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap()
    }

    /// Sends through the one-by-one path and reads back through it, oversize included.
    #[test]
    fn one_by_one_round_trip_drops_oversize() {
        let sender = loopback();
        let mut receiver = loopback();
        let destination = receiver.local_addr().unwrap();
        let mut poll = Poll::new().unwrap();
        poll.registry().register(&mut receiver, Token(0), Interest::READABLE).unwrap();

        sender.send_to(&[9; MAX_DATAGRAM_SIZE + 1], destination).unwrap();
        let mut outgoing = SendBatch::new(8);
        for len in [1, 700, MAX_DATAGRAM_SIZE] {
            outgoing.push(destination, &vec![len as u8; len]).unwrap();
        }
        let mut gso = GsoSupport::OFF;
        let mut send_stats = SocketStats::default();
        let sent = outgoing.flush(&mut gso, &mut send_stats, |transmissions, payloads| {
            transmit(&sender, transmissions, payloads, |address| address)
        });
        assert_eq!(sent, 3);

        let mut incoming = RecvBatch::new(2);
        let mut stats = SocketStats::default();
        let mut received = Vec::new();
        let mut events = Events::with_capacity(4);
        while received.len() < 3 {
            poll.poll(&mut events, Some(Duration::from_secs(2))).unwrap();
            assert!(!events.is_empty(), "timed out");
            // Edge-triggered: read until the socket would block.
            loop {
                let read = incoming
                    .fill(&mut stats, |slots, on_datagram| receive(&receiver, slots, on_datagram));
                match read {
                    Ok(read) => assert!(read > 0),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => panic!("receive failed: {error}"),
                }
                received.extend(incoming.iter().map(|(source, payload)| {
                    assert_eq!(source, sender.local_addr().unwrap());
                    payload.len()
                }));
            }
        }
        assert_eq!(received, [1, 700, MAX_DATAGRAM_SIZE]);
        assert_eq!(stats.oversize_dropped, 1);
    }
}
