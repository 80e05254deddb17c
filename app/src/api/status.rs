//! The server's health as the Status page shows it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Status page reports: can we reach the database, which schema it
/// has, which server build answers, and for how long it has been up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub database: DatabaseState,
    pub server_version: String,
    pub uptime_seconds: u64,
    /// When the server made this report (RFC 3339, UTC, milliseconds).
    pub checked_at: String,
    /// The same instant in `zone`, as a person reads it
    /// (`2026-12-01 16:20:03 CET`).
    #[serde(default)]
    pub checked_at_local: String,
    /// The time zone times are shown in: the site's in the URL, or the
    /// viewer's first site's (UTC without one).
    #[serde(default)]
    pub zone: String,
    /// How far the fold stage is behind ingestion.
    #[serde(default)]
    pub fold: FoldHealth,
    /// What this server's ingestion did in the last hour.
    #[serde(default)]
    pub ingestion: IngestionHealth,
}

/// This server process's ingestion over the last hour (every process
/// behind a load balancer counts its own), and its queue now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestionHealth {
    pub received: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub bots: u64,
    /// Events waiting for a flush now.
    pub queue_depth: i64,
    /// The last failed write of a flush (local time and what failed): it
    /// was retried, or its requests were answered 503.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The fold stage as the server last saw it: stored events wait for it
/// before the reports count them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldHealth {
    /// Age of the oldest stored event not yet in the reports.
    pub lag_ms: u64,
    /// Stored events not yet in the reports.
    pub pending_events: i64,
    /// The last failed fold (RFC 3339 time and what failed), if any.
    pub last_error: Option<String>,
}

/// The database as the server saw it when making a [`StatusReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabaseState {
    /// Reachable, with the newest applied migration's version.
    Reachable { schema_version: i64 },
    /// Not reachable; the reason is safe to show (no credentials in it).
    Unreachable { reason: String },
}

/// Fetches a fresh [`StatusReport`] from the server, with its times in the
/// zone of `site` (a site of the viewer's), or of the viewer's first site.
#[server]
pub async fn get_status(
    #[server(default)] site: Option<String>,
) -> Result<StatusReport, ServerFnError> {
    let source = use_context::<std::sync::Arc<dyn crate::ports::StatusSource>>()
        .ok_or_else(|| ServerFnError::new("status source missing from context"))?;
    let admin = use_context::<std::sync::Arc<dyn crate::ports::Admin>>()
        .ok_or_else(|| ServerFnError::new("admin missing from context"))?;
    // Without the database the report still comes (it says the database
    // is unreachable), in UTC.
    let sites = admin
        .sites(&crate::accounts::viewer()?)
        .await
        .unwrap_or_default();
    let zone = sites
        .iter()
        .find(|s| Some(&s.key) == site.as_ref())
        .or(sites.first())
        .map_or("UTC", |s| s.timezone.as_str());
    Ok(source.status(zone).await)
}

/// Formats seconds as `3d 4h 05m`, `2h 03m 04s` or `42s`.
pub fn format_uptime(seconds: u64) -> String {
    let (days, hours) = (seconds / 86_400, seconds / 3_600 % 24);
    let (minutes, secs) = (seconds / 60 % 60, seconds % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs:02}s"),
        (0, _, _) => format!("{hours}h {minutes:02}m {secs:02}s"),
        _ => format!("{days}d {hours}h {minutes:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_uptime;

    #[test]
    fn uptime_is_shown_in_the_largest_useful_units() {
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(61), "1m 01s");
        assert_eq!(format_uptime(3_600 + 2 * 60 + 3), "1h 02m 03s");
        assert_eq!(
            format_uptime(3 * 86_400 + 4 * 3_600 + 5 * 60 + 6),
            "3d 4h 05m"
        );
    }
}
