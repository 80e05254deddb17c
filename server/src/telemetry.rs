//! Structured logs with `tracing`: human-readable for development, JSON lines
//! for production log shippers.

use serde::Deserialize;
use tracing_subscriber::{fmt, EnvFilter};

/// How the server logs (defaults in `config.rs`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// An `EnvFilter` directive, e.g. `info` or `server=debug,tower_http=info`.
    pub filter: String,
    /// `pretty` or `json`.
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the
/// configured filter, as operators expect.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.filter.as_str()));
    let builder = fmt().with_env_filter(filter);
    let result = match config.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second init (tests start several servers in one process) is harmless.
    let _ = result;
}
