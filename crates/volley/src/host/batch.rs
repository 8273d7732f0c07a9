//! [`Host::service_batch`]: the lending receive path. Everything waiting is
//! read under one lock, and each event is handed to the caller with its
//! payload borrowed from the receive buffer (a message that fitted in one
//! datagram is never copied) and an [`Outbox`] to answer through.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use volley_proto::{LentEvent, Outbox};

use super::{Core, Host, HostError};

/// Most datagrams one [`Host::service_batch`] reads, so that a flood cannot
/// keep it from returning; what is left waits for the next call.
pub(super) const MAX_DATAGRAMS_PER_BATCH: usize = 4096;

impl Core {
    /// Reads every waiting datagram (up to [`MAX_DATAGRAMS_PER_BATCH`]),
    /// one receive batch at a time, lending each batch's events to
    /// `on_event` before the buffer is reused; then runs the timers and
    /// hands out what they produced. Returns the number of events.
    ///
    /// Nothing is sent: what the datagrams and `on_event` queued
    /// (acknowledgements, replies) leaves together at the next flush.
    fn receive_lent(
        &mut self,
        now: Instant,
        skip_receive: bool,
        on_event: &mut dyn FnMut(LentEvent<'_>, &mut Outbox<'_>),
    ) -> io::Result<usize> {
        let mut events = 0;
        let mut datagrams = 0;
        loop {
            let read = if skip_receive || datagrams >= MAX_DATAGRAMS_PER_BATCH {
                0
            } else {
                self.socket.recv_batch(&mut self.recv)?
            };
            datagrams += read;
            if read == 0 && !self.endpoint.has_events() {
                break;
            }
            let Self { endpoint, recv, .. } = self;
            let mut lend = endpoint.lend();
            for (from, bytes) in recv.iter().take(read) {
                lend.handle_datagram(now, from, bytes);
            }
            while let Some((event, mut outbox)) = lend.next_event() {
                on_event(event, &mut outbox);
                events += 1;
            }
            drop(lend);
            if read == 0 || !self.recv.filled() {
                break;
            }
        }
        // Stopped by the cap, not by an empty socket: the edge-triggered
        // poll will not report what waits, so the next service reads first.
        self.unread = datagrams >= MAX_DATAGRAMS_PER_BATCH && self.recv.filled();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.drop_log.check(&self.socket.stats(), now);
        if self.endpoint.has_events() {
            let mut lend = self.endpoint.lend();
            while let Some((event, mut outbox)) = lend.next_event() {
                on_event(event, &mut outbox);
                events += 1;
            }
        }
        Ok(events)
    }
}

impl Host {
    /// Services the host and lends every event it brings to `on_event`,
    /// under one lock: the zero-copy counterpart of
    /// [`service`](Self::service) and [`next_event`](Self::next_event).
    ///
    /// It sends what is queued, then reads *everything* waiting on the
    /// socket (up to 4096 datagrams), waiting up to `timeout` for the first
    /// datagram or event (`Duration::ZERO` never waits). Each event is
    /// handed over with its payload borrowed: from the receive buffer when
    /// the message fitted in one datagram and was deliverable at once,
    /// otherwise from a buffer the host takes back by itself; there is
    /// nothing to [`recycle`](super::HostHandle::recycle). Answer through the
    /// [`Outbox`] (send, broadcast, disconnect, accept, refuse, and reading
    /// the engine): the host's lock is held during `on_event`, so calling
    /// a [`HostHandle`] there, even a clone, would deadlock.
    ///
    /// Acknowledgements of what was read, and whatever `on_event` or the
    /// caller queues afterwards, leave together at the next `service`,
    /// `service_batch` or [`flush`](super::HostHandle::flush): a server that reads
    /// a tick's input, answers every peer and then flushes sends each peer
    /// one datagram per tick with the acknowledgements and the answer.
    ///
    /// Returns the number of events handed over. A host whose socket was
    /// handed to an external poll with [`register`](Self::register) only
    /// takes `Duration::ZERO`; any other timeout is
    /// [`HostError::ExternallyPolled`].
    ///
    /// # Examples
    ///
    /// A tick of a game server: take everything that arrived, answer, flush.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use volley::{Event, Host, HostConfig, TransferMode};
    ///
    /// let mut server = Host::new(HostConfig::server("127.0.0.1:7777".parse()?))?;
    /// loop {
    ///     server.service_batch(Duration::ZERO, |event, outbox| {
    ///         if let Event::Received { peer, channel, payload, .. } = event {
    ///             // `payload` is a slice of the receive buffer.
    ///             let _ = outbox.send(peer, channel, TransferMode::Unreliable, payload);
    ///         }
    ///     })?;
    ///     server.flush()?;
    ///     std::thread::sleep(Duration::from_millis(16));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`HostHandle`]: super::HostHandle
    /// [`HostHandle::recycle`]: super::HostHandle::recycle
    /// [`HostHandle::flush`]: super::HostHandle::flush
    pub fn service_batch<F>(
        &mut self,
        timeout: Duration,
        mut on_event: F,
    ) -> Result<usize, HostError>
    where
        F: FnMut(LentEvent<'_>, &mut Outbox<'_>),
    {
        if self.external && !timeout.is_zero() {
            return Err(HostError::ExternallyPolled);
        }
        let mut now = Instant::now();
        let deadline = now + timeout;
        // As in `service`: about to sleep after a receive that read the
        // socket empty, the edge-triggered registration reports anything
        // that arrived since, so a first receive would only hear "nothing".
        let mut skip_receive =
            !timeout.is_zero() && self.sleeper.is_some() && !self.handle.core.lock().recv.filled();
        loop {
            self.handle.wake_pending.store(false, Ordering::SeqCst);
            let (wake_at, drained) = {
                let mut core = self.handle.core.lock();
                core.flush(now);
                let events = core.receive_lent(now, skip_receive, &mut on_event)?;
                if events > 0 {
                    return Ok(events);
                }
                // Nothing for the caller: what the timers queued goes now.
                let drained = core.flush(now);
                let wake_at = match core.endpoint.poll_timeout() {
                    Some(t) if t > now || drained => t.min(deadline),
                    _ => deadline,
                };
                (wake_at, drained)
            };
            if now >= deadline {
                if skip_receive {
                    skip_receive = false;
                    continue;
                }
                return Ok(0);
            }
            if self.sleep(wake_at.saturating_duration_since(now), !drained)? {
                skip_receive = false;
            }
            now = Instant::now();
        }
    }
}
