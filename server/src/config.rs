//! Typed configuration: defaults, then an optional TOML file, then the
//! environment.
//!
//! `STOREPULSE_CONFIG` names the file; variables `STOREPULSE_<SECTION>__<KEY>`
//! override single keys (`STOREPULSE_DATABASE__MAX_CONNECTIONS=20`), and the
//! conventional `DATABASE_URL` overrides `database.url`. The loader takes the
//! environment as an argument so tests feed it without touching the process.

use std::collections::HashMap;

use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    ingest::pipeline::IngestConfig,
    telemetry::{LogConfig, LogFormat},
};

/// Everything the server can be told at startup.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub ingest: IngestConfig,
    pub bootstrap: BootstrapConfig,
    pub accounts: AccountsConfig,
    /// `production` refuses weak secrets and sets `Secure` cookies.
    pub mode: Mode,
    /// With no user yet, create this admin (`STOREPULSE_ADMIN_EMAIL`)…
    pub admin_email: Option<String>,
    /// …with this password (`STOREPULSE_ADMIN_PASSWORD`).
    pub admin_password: Option<SecretString>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plain-HTTP localhost: cookies without `Secure`, a random session
    /// secret per process when none is set.
    #[default]
    Development,
    /// Behind HTTPS: `Secure` `__Host-` cookies, and no start without a
    /// strong session secret.
    Production,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct AccountsConfig {
    /// Key of the session-id HMAC; at least 32 random characters.
    pub session_secret: Option<SecretString>,
    /// A session ends after this long without a request…
    pub session_idle_minutes: u64,
    /// …and this long after sign-in in any case.
    pub session_lifetime_hours: u64,
    /// Sign-in attempts a minute per account and per client address.
    pub login_attempts_per_account: u32,
    pub login_attempts_per_ip: u32,
    /// Passwords hashed at once (each argon2id hash takes 19 MiB and a core
    /// for tens of milliseconds).
    pub hashing_slots: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            session_secret: None,
            // A wall screen left on the Real-Time page over a weekend stays
            // signed in; a forgotten laptop does not stay so for a month.
            session_idle_minutes: 7 * 24 * 60,
            session_lifetime_hours: 30 * 24,
            login_attempts_per_account: 5,
            login_attempts_per_ip: 20,
            hashing_slots: 2,
        }
    }
}

/// What the server creates at startup for development and demos.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BootstrapConfig {
    /// Create the `demo` site (EUR, Europe/Berlin) if it does not exist, and
    /// serve the demo store that reports to it at `/demo`.
    pub demo_site: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// A `postgres://` URL; secret because it may carry a password.
    pub url: SecretString,
    pub max_connections: u32,
    /// How long a request may wait for a pooled connection.
    pub acquire_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// After SIGTERM, how long in-flight work may take before the process exits.
    pub shutdown_grace_ms: u64,
    /// A connection must send a request's headers within this time, and an
    /// idle keep-alive connection is closed after it (slow-loris bound).
    pub header_read_timeout_ms: u64,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {source}")]
    File {
        path: String,
        source: config::ConfigError,
    },
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            // The project-local cluster `cargo xtask dev` starts.
            url: SecretString::from("postgres://postgres@127.0.0.1:54329/storepulse"),
            max_connections: 16,
            acquire_timeout_ms: 3_000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_ms: 10_000,
            header_read_timeout_ms: 10_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info,sqlx=warn".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

impl Config {
    /// Loads the configuration from `env` (pass `std::env::vars()` in production).
    pub fn load(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = env.into_iter().collect();
        let mut builder = config::Config::builder();
        if let Some(path) = env.get("STOREPULSE_CONFIG") {
            let file = config::File::new(path, config::FileFormat::Toml);
            // Fail early on a named but unreadable file rather than run with defaults.
            let probe = config::Config::builder().add_source(file.clone()).build();
            if let Err(source) = probe {
                return Err(ConfigError::File {
                    path: path.clone(),
                    source,
                });
            }
            builder = builder.add_source(file);
        }
        let scoped: HashMap<String, String> = env
            .iter()
            .filter(|(key, _)| {
                key.starts_with("STOREPULSE_") && key.as_str() != "STOREPULSE_CONFIG"
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("STOREPULSE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                // `STOREPULSE_INGEST__TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1`
                .list_separator(",")
                .with_list_parse_key("ingest.trusted_proxies")
                .source(Some(scoped)),
        );
        if let Some(url) = env.get("DATABASE_URL") {
            builder = builder.set_override("database.url", url.as_str())?;
        }
        Ok(builder.build()?.try_deserialize()?)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = Config::load(env(&[])).unwrap();
        assert_eq!(config.database.max_connections, 16);
        assert_eq!(config.log.format, LogFormat::Pretty);
    }

    #[test]
    fn environment_overrides_nested_keys_and_database_url_wins() {
        let config = Config::load(env(&[
            ("STOREPULSE_DATABASE__MAX_CONNECTIONS", "3"),
            ("STOREPULSE_LOG__FORMAT", "json"),
            ("DATABASE_URL", "postgres://u:p@db/x"),
        ]))
        .unwrap();
        assert_eq!(config.database.max_connections, 3);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.database.url.expose_secret(), "postgres://u:p@db/x");
    }

    #[test]
    fn a_named_config_file_that_is_missing_is_an_error() {
        let result = Config::load(env(&[(
            "STOREPULSE_CONFIG",
            "/nonexistent/storepulse.toml",
        )]));
        assert!(matches!(result, Err(ConfigError::File { .. })));
    }

    #[test]
    fn a_config_file_sits_between_defaults_and_environment() {
        let path = std::env::temp_dir().join(format!("storepulse-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[database]\nmax_connections = 7\nacquire_timeout_ms = 9\n",
        )
        .unwrap();
        let config = Config::load(env(&[
            ("STOREPULSE_CONFIG", path.to_str().unwrap()),
            ("STOREPULSE_DATABASE__ACQUIRE_TIMEOUT_MS", "11"),
        ]))
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config.database.max_connections, 7);
        assert_eq!(config.database.acquire_timeout_ms, 11);
    }

    #[test]
    fn mode_admin_and_session_secret_come_from_the_environment() {
        let config = Config::load(env(&[
            ("STOREPULSE_MODE", "production"),
            ("STOREPULSE_ADMIN_EMAIL", "ada@example.com"),
            ("STOREPULSE_ADMIN_PASSWORD", "hunter2hunter2"),
            ("STOREPULSE_ACCOUNTS__SESSION_SECRET", "s3cr3t-value"),
        ]))
        .unwrap();
        assert_eq!(config.mode, Mode::Production);
        assert_eq!(config.admin_email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            config.admin_password.unwrap().expose_secret(),
            "hunter2hunter2"
        );
        assert!(!format!("{:?}", config.accounts).contains("s3cr3t"));
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let config = Config::load(env(&[("DATABASE_URL", "postgres://u:hunter2@db/x")])).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
