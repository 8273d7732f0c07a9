//! The one wait of a multi-transport session: a mio poll every transport
//! registers its sources with.

use std::io;
use std::time::Duration;

use mio::{Events, Poll, Registry};

use super::transport::TransportSet;

/// A mio poll and its event buffer.
#[derive(Debug)]
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self { poll: Poll::new()?, events: Events::with_capacity(256) })
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Sleeps until a source is ready or `timeout` passes, then tells each
    /// ready source's transport.
    pub(crate) fn wait(
        &mut self,
        timeout: Duration,
        transports: &mut TransportSet,
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for readiness in &self.events {
            transports.on_ready(readiness);
        }
        Ok(())
    }
}
