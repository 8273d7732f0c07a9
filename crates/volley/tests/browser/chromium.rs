//! Headless Chromium for browser tests: a fresh profile per run, loopback
//! WebRTC allowed, nothing reaching beyond 127.0.0.1, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running headless Chromium; dropping it kills it and removes its profile.
pub(crate) struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Chromium {
    /// Opens `url` in a new headless Chromium. Panics when Chromium is
    /// missing: these tests run only with the `browser-tests` feature, which
    /// `.ci/run` turns on after installing Debian's `chromium`.
    pub(crate) fn open(url: &str) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "volley-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&profile).expect("create a Chromium profile directory");
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
                // WebRTC on 127.0.0.1: gather loopback candidates, and do not
                // hide host addresses behind mDNS names (no multicast).
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                // Never reach out to anything but the test server.
                "--no-proxy-server",
                "--disable-domain-reliability",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (apt-get install chromium): {e}"));
        Self { child, profile }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
