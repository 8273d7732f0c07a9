//! A network namespace whose loopback drops a share of all datagrams, for
//! the loss scenario: `ip netns add`, loopback up, and an nftables rule
//! `meta l4proto udp numgen random mod 100 < N drop` on the input hook, so
//! both directions lose and the sender never sees an error (a drop on the
//! output hook fails `sendto` with EPERM instead). Threads join it with
//! `setns(2)`; it is deleted on drop. Needs root (CAP_SYS_ADMIN and
//! CAP_NET_ADMIN).

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Why the lossy namespace could not be made or joined.
#[derive(Debug)]
pub struct NamespaceError(String);

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NamespaceError {}

/// A network namespace with a lossy loopback; deleted on drop.
#[derive(Debug)]
pub struct LossyNamespace {
    name: String,
    handle: File,
}

impl LossyNamespace {
    /// Creates the namespace, dropping `percent` % of datagrams sent in it.
    pub fn create(percent: u8) -> Result<Self, NamespaceError> {
        let name = format!("volley-bench-{}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        let namespace = Self::open(name)?;
        let name = namespace.name.as_str();
        run("ip", &["-n", name, "link", "set", "lo", "up"])?;
        run("ip", &["netns", "exec", name, "nft", "add", "table", "inet", "loss"])?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                name,
                "nft",
                "add",
                "chain",
                "inet",
                "loss",
                "in",
                "{ type filter hook input priority 0 ; }",
            ],
        )?;
        let limit = percent.to_string();
        run(
            "ip",
            &[
                "netns", "exec", name, "nft", "add", "rule", "inet", "loss", "in", "meta",
                "l4proto", "udp", "numgen", "random", "mod", "100", "<", &limit, "drop",
            ],
        )?;
        Ok(namespace)
    }

    fn open(name: String) -> Result<Self, NamespaceError> {
        match File::open(format!("/var/run/netns/{name}")) {
            Ok(handle) => Ok(Self { name, handle }),
            Err(e) => {
                let _ = run("ip", &["netns", "del", &name]);
                Err(NamespaceError(format!("cannot open namespace {name}: {e}")))
            }
        }
    }

    /// Moves the calling thread into the namespace: sockets it opens from
    /// now on live there. Only for threads that end with their scenario.
    pub fn enter(&self) -> Result<(), NamespaceError> {
        if set_namespace(self.handle.as_raw_fd()) {
            Ok(())
        } else {
            Err(NamespaceError(format!("setns: {}", std::io::Error::last_os_error())))
        }
    }
}

impl Drop for LossyNamespace {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

#[allow(unsafe_code)]
fn set_namespace(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: `fd` is an open namespace file kept alive by the caller;
    // setns only changes the calling thread's network namespace.
    unsafe { libc::setns(fd, libc::CLONE_NEWNET) == 0 }
}

fn run(program: &str, args: &[&str]) -> Result<(), NamespaceError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| NamespaceError(format!("{program}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NamespaceError(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
