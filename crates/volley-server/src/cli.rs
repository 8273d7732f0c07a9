//! The command line, and the optional config file that supplies the same
//! settings.
//!
//! A config file holds one `name = value` per line, named as the long flags
//! are (`godot = 4`, `enet = 0.0.0.0:7777`, `compress = true`); `#` starts a
//! comment. Its lines become flags placed before the command line's, so the
//! command line wins and both are checked by the same parser.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use volley::multiplayer::framing::WireProfile;

/// Settings of a run, as the flags give them.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "volley-server",
    version,
    about = "A dedicated server for Godot games: clients join a relay session over ENet (UDP) and WebSocket.",
    long_about = "A dedicated server for Godot games. Godot 3 or Godot 4 clients join one \
                  relay session over ENet (UDP) and WebSocket (TCP, for browsers): they see \
                  each other join and leave and reach each other through the server. It runs no game logic: packets addressed to \
                  the server itself (peer 1) are counted and dropped.\n\n\
                  Signals: SIGINT or SIGTERM shut down cleanly (clients are told, queued data \
                  goes first; a second SIGINT exits at once), SIGUSR1 logs a stats line per \
                  client, SIGUSR2 toggles refusing new connections.",
    args_override_self = true,
    after_help = "Example: volley-server --godot 4 --enet 0.0.0.0:7777 --max-clients 16"
)]
pub(crate) struct Args {
    /// Godot generation of the clients: 3 (NetworkedMultiplayerENet) or 4
    /// (ENetMultiplayerPeer with SceneMultiplayer).
    #[arg(long, value_name = "3|4")]
    pub(crate) godot: Generation,

    /// UDP address to serve ENet on, such as `0.0.0.0:7777`, or `[::]:7777` for
    /// IPv6 and IPv4 clients alike.
    #[arg(long, value_name = "ADDR", required_unless_present = "websocket")]
    pub(crate) enet: Option<SocketAddr>,

    /// TCP address to serve WebSocket on (browsers and Godot's
    /// WebSocketMultiplayerPeer), such as 0.0.0.0:8080; clients of both
    /// transports share the one session.
    #[arg(long, value_name = "ADDR")]
    pub(crate) websocket: Option<SocketAddr>,

    /// Serve wss:// with this PEM certificate chain (leaf first); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "websocket"])]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Most clients at once; newcomers beyond are refused at the handshake.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=4095))]
    pub(crate) max_clients: u16,

    /// Compress datagrams with ENet's range coder. Clients must do the same
    /// (Godot 3.4+ does by default; Godot 4: `host.compress(ENetConnection.COMPRESS_RANGE_CODER)`).
    #[arg(long)]
    pub(crate) compress: bool,

    /// CRC32 checksums on every datagram (ENet's `enet_crc32`). Clients
    /// must do the same; Godot's do not.
    #[arg(long)]
    pub(crate) checksum: bool,

    /// User channels the session carries (default: all the generation
    /// allows; a client that opens fewer gets fewer).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    pub(crate) channels: Option<u8>,

    /// Clients reach only the server, not each other (Godot's
    /// `server_relay = false`); joins and leaves are not announced.
    #[arg(long)]
    pub(crate) no_relay: bool,

    /// Start refusing new connections (toggle with SIGUSR2).
    #[arg(long)]
    pub(crate) refuse_new_connections: bool,

    /// Log a stats line per client every SECS seconds (0: only on SIGUSR1).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub(crate) stats_interval: u64,

    /// On shutdown, how long clients get to acknowledge their disconnect
    /// before the rest are dropped at once.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = seconds)]
    pub(crate) shutdown_grace: Duration,

    /// What to log: a level (error, warn, info, debug, trace) or
    /// comma-separated target=level pairs. VOLLEY_LOG sets it too.
    #[arg(long, value_name = "FILTER", env = "VOLLEY_LOG", default_value = DEFAULT_LOG)]
    pub(crate) log: String,

    /// Read settings from FILE: `name = value` lines named as the long
    /// flags; flags on the command line win.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The server's own lines, the engine's connection lifecycle (with the
/// reasons clients leave or are refused), and its rate-limited drop reports.
pub(crate) const DEFAULT_LOG: &str =
    "info,volley_proto::connection=debug,volley_proto::drops=debug";

/// The Godot generation the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Generation {
    /// Godot 3.x `NetworkedMultiplayerENet`.
    #[value(name = "3")]
    Godot3,
    /// Godot 4.x `ENetMultiplayerPeer` under `SceneMultiplayer`.
    #[value(name = "4")]
    Godot4,
}

impl Generation {
    /// The wire framing of this generation.
    pub(crate) fn profile(self) -> WireProfile {
        match self {
            Self::Godot3 => WireProfile::Relay,
            Self::Godot4 => WireProfile::Godot4,
        }
    }
}

impl Args {
    /// The stats interval, if any.
    pub(crate) fn stats_every(&self) -> Option<Duration> {
        (self.stats_interval > 0).then(|| Duration::from_secs(self.stats_interval))
    }
}

/// A duration in seconds, such as `2` or `0.5`.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{text}` is not a number of seconds"))
}

/// Parses the command line `args` (program name first), reading the config
/// file it names first. Errors are clap's, ready to print and exit with.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Args, clap::Error> {
    let Some(path) = config_path(&args) else { return Args::try_parse_from(args) };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        clap::Error::raw(
            clap::error::ErrorKind::Io,
            format!("cannot read the config file {}: {e}\n", path.display()),
        )
    })?;
    let from_file = file_flags(&path, &text)?;
    let mut merged = Vec::with_capacity(args.len() + from_file.len());
    let mut args = args.into_iter();
    merged.extend(args.next());
    merged.extend(from_file);
    merged.extend(args);
    Args::try_parse_from(merged)
}

/// The `--config` value of a command line, if any.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            return None;
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
    }
    None
}

/// The flags a config file stands for.
fn file_flags(path: &Path, text: &str) -> Result<Vec<OsString>, clap::Error> {
    let mut flags = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("{}:{}: {why}: `{line}`\n", path.display(), number + 1),
            )
        };
        let (name, value) = line.split_once('=').ok_or_else(|| bad("expected `name = value`"))?;
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() || name.starts_with('-') || name == "config" {
            return Err(bad("not a setting name"));
        }
        let flag = format!("--{name}");
        match value {
            "true" => flags.push(flag.into()),
            "false" => {}
            _ => {
                flags.push(flag.into());
                flags.push(value.into());
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::{Generation, file_flags, parse};
    use std::path::Path;

    fn args(line: &str) -> Vec<std::ffi::OsString> {
        line.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn the_documented_command_line_parses() {
        let parsed = parse(args(
            "volley-server --godot 4 --enet 0.0.0.0:7777 --max-clients 8 --compress --checksum",
        ))
        .expect("valid");
        assert_eq!(parsed.godot, Generation::Godot4);
        assert_eq!(parsed.enet, Some("0.0.0.0:7777".parse().unwrap()));
        assert_eq!(parsed.websocket, None);
        assert_eq!(parsed.max_clients, 8);
        assert!(parsed.compress && parsed.checksum && !parsed.no_relay);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (line, words) in [
            ("volley-server --godot 5 --enet 127.0.0.1:1", "--godot"),
            ("volley-server --godot 3 --enet 127.0.0.1", "--enet"),
            ("volley-server --godot 3", "--enet"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --tls-cert c.pem", "--tls-key"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --tls-cert c --tls-key k", "--websocket"),
            ("volley-server --enet 127.0.0.1:1", "--godot"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --max-clients 0", "--max-clients"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --max-clients 5000", "--max-clients"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --bogus", "--bogus"),
            ("volley-server --godot 3 --enet 127.0.0.1:1 --shutdown-grace=-1", "--shutdown-grace"),
        ] {
            let error = parse(args(line)).expect_err(line).to_string();
            assert!(error.contains(words), "{line}: {error}");
        }
    }

    #[test]
    fn a_config_file_stands_for_flags_and_the_command_line_wins() {
        let text = "# a server\ngodot = 3\nenet = 127.0.0.1:7000  # local\ncompress = true\nchecksum = false\nmax-clients = 4\n";
        let flags = file_flags(Path::new("s.conf"), text).expect("valid");
        assert_eq!(flags, args("--godot 3 --enet 127.0.0.1:7000 --compress --max-clients 4"));
        assert!(
            file_flags(Path::new("s.conf"), "godot 3")
                .unwrap_err()
                .to_string()
                .contains("s.conf:1")
        );

        let dir = std::env::temp_dir().join(format!("volley-server-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("server.conf");
        std::fs::write(&path, text).expect("written");
        let line = format!("volley-server --config {} --max-clients 9", path.display());
        let parsed = parse(args(&line)).expect("valid");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(parsed.godot, Generation::Godot3);
        assert_eq!(parsed.max_clients, 9);
        assert!(parsed.compress);
    }
}
