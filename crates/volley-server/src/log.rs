//! Log lines on standard error, through `tracing`.

use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;

/// Sends every event `filter` lets through to standard error, one line
/// each. `filter` is a level or `target=level` pairs, as `--log` takes.
pub(crate) fn init(filter: &str) -> Result<(), String> {
    let targets =
        Targets::from_str(filter).map_err(|e| format!("invalid --log filter `{filter}`: {e}"))?;
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    let subscriber = tracing_subscriber::registry().with(targets).with(lines);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())
}
