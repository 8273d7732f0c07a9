//! Headless Chromium for browser tests: a fresh profile per run, loopback
//! WebRTC allowed, nothing reaching beyond 127.0.0.1, its log kept for a
//! failing test's message, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running headless Chromium; dropping it kills it and removes its
/// profile and log.
pub(crate) struct Chromium {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

impl Chromium {
    /// Opens `url` in a new headless Chromium, with `extra` flags after
    /// the usual ones. Panics when Chromium is missing: these tests run only
    /// with the `browser-tests` feature, which `.ci/run` turns on after
    /// installing Debian's `chromium` (`VOLLEY_CHROMIUM` names another
    /// binary).
    pub(crate) fn open(url: &str, extra: &[&str]) -> Self {
        // A profile of its own: Chromium hands a URL to an instance already
        // running on the same profile and exits.
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        let count = OPENED.fetch_add(1, Ordering::Relaxed);
        let unique = format!("volley-chromium-{}-{count}", std::process::id());
        let profile = std::env::temp_dir().join(&unique);
        let log = std::env::temp_dir().join(format!("{unique}.log"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create a Chromium profile directory");
        let stderr = std::fs::File::create(&log).expect("create a Chromium log");
        let binary = std::env::var("VOLLEY_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                // The page's console, for a failing test's message.
                "--enable-logging=stderr",
                "--v=0",
                // WebRTC on 127.0.0.1: gather loopback candidates, and do not
                // hide host addresses behind mDNS names (no multicast).
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                // Never reach out to anything but the test server.
                "--no-proxy-server",
                "--disable-domain-reliability",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (apt-get install chromium): {e}"));
        Self { child, profile, log }
    }

    /// What the browser printed so far (its page's console among it).
    pub(crate) fn console(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(&self.log);
    }
}
