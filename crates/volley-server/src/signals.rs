//! The signals the server answers, as flags its loop checks.
//!
//! `signal-hook` installs the handlers: std has no signal API, and a
//! hand-written `sigaction` handler would need `unsafe` code whose
//! async-signal-safety this small, widely used crate already gets right.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
#[cfg(unix)]
use signal_hook::consts::{SIGUSR1, SIGUSR2};
use signal_hook::flag;

/// What arrived since the loop last looked.
#[derive(Debug)]
pub(crate) struct Signals {
    terminate: Arc<AtomicBool>,
    stats: Arc<AtomicBool>,
    toggle_refusing: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers: SIGINT and SIGTERM ask for a clean shutdown
    /// (a second one exits at once), SIGUSR1 for a stats line per client,
    /// SIGUSR2 toggles refusing new connections (these two only on Unix;
    /// elsewhere `--stats-interval` gives the stats).
    pub(crate) fn install() -> io::Result<Self> {
        let terminate = Arc::new(AtomicBool::new(false));
        for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
            // Registered first, so it sees the flag as the previous signal
            // left it: set means a shutdown is already under way.
            flag::register_conditional_shutdown(signal, status, Arc::clone(&terminate))?;
            flag::register(signal, Arc::clone(&terminate))?;
        }
        let stats = Arc::new(AtomicBool::new(false));
        let toggle_refusing = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        {
            flag::register(SIGUSR1, Arc::clone(&stats))?;
            flag::register(SIGUSR2, Arc::clone(&toggle_refusing))?;
        }
        Ok(Self { terminate, stats, toggle_refusing })
    }

    /// Whether a shutdown was asked for.
    pub(crate) fn terminate(&self) -> bool {
        self.terminate.load(Ordering::Relaxed)
    }

    /// Whether stats were asked for since the last call.
    pub(crate) fn take_stats(&self) -> bool {
        self.stats.swap(false, Ordering::Relaxed)
    }

    /// Whether refusing was toggled since the last call.
    pub(crate) fn take_toggle_refusing(&self) -> bool {
        self.toggle_refusing.swap(false, Ordering::Relaxed)
    }
}
