//! Prometheus metrics, one registry per server instance (no globals, so
//! tests running several servers in one process see their own numbers).
//!
//! The conservation law holds once the queue is drained:
//! `received = accepted + duplicates + rejected + bots`, where `rejected`
//! includes whole batches refused for an unknown site or overload.

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

/// What an ingested event became, for the last hour's tallies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tally {
    Received = 0,
    Accepted = 1,
    Duplicate = 2,
    Rejected = 3,
    Bot = 4,
}

/// The last hour's ingestion counts, a slot per minute (60 slots: the
/// memory is fixed; a slot is cleared when its minute comes round again).
#[derive(Debug)]
struct LastHour {
    /// (minute since the epoch, counts by [`Tally`]).
    slots: [(i64, [u64; 5]); 60],
}

impl Default for LastHour {
    fn default() -> Self {
        Self {
            slots: [(i64::MIN, [0; 5]); 60],
        }
    }
}

impl LastHour {
    fn add(&mut self, minute: i64, tally: Tally, n: u64) {
        let slot = &mut self.slots[minute.rem_euclid(60) as usize];
        if slot.0 != minute {
            *slot = (minute, [0; 5]);
        }
        slot.1[tally as usize] += n;
    }

    fn sum(&self, minute: i64) -> [u64; 5] {
        let mut sum = [0; 5];
        for (at, counts) in &self.slots {
            if *at <= minute && minute.saturating_sub(*at) < 60 {
                for (total, n) in sum.iter_mut().zip(counts) {
                    *total += n;
                }
            }
        }
        sum
    }
}

fn this_minute() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(60)
}

/// Every number the server exports.
pub struct Metrics {
    last_hour: std::sync::Mutex<LastHour>,
    /// The last failed flush write: when, and what failed (for Status).
    last_flush_error: std::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, String)>>,
    registry: Registry,
    pub received: Counter,
    pub accepted: Counter,
    pub duplicates: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub bots: Family<ReasonLabel, Counter>,
    /// Requests refused as a whole, by HTTP status.
    pub refused_requests: Family<StatusLabel, Counter>,
    pub flush_seconds: Histogram,
    pub flush_events: Histogram,
    pub queue_depth: Gauge,
    pub db_errors: Counter,
    /// Age of the oldest committed, unfolded event (the fold stage's lag).
    pub fold_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Committed events waiting for the fold stage.
    pub fold_pending: Gauge,
    pub fold_seconds: Histogram,
    pub fold_events: Histogram,
    /// Events the fold stage folded (each exactly once).
    pub folded: Counter,
    /// Fold transactions that failed (retried).
    pub fold_errors: Counter,
    /// Acknowledged events the rollups could not hold (a sum would leave
    /// bigint): moved from `events` to `dead_letters` by the fold stage.
    pub fold_quarantined: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("storepulse");
        let metrics = Self {
            last_hour: std::sync::Mutex::default(),
            last_flush_error: std::sync::Mutex::default(),
            received: Counter::default(),
            accepted: Counter::default(),
            duplicates: Counter::default(),
            rejected: Family::default(),
            bots: Family::default(),
            refused_requests: Family::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            flush_events: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            queue_depth: Gauge::default(),
            db_errors: Counter::default(),
            fold_lag_seconds: Gauge::default(),
            fold_pending: Gauge::default(),
            fold_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            fold_events: Histogram::new(exponential_buckets(1.0, 2.0, 18)),
            folded: Counter::default(),
            fold_errors: Counter::default(),
            fold_quarantined: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_received",
            "Events received in accepted envelopes",
            metrics.received.clone(),
        );
        registry.register(
            "events_accepted",
            "Events stored and counted",
            metrics.accepted.clone(),
        );
        registry.register(
            "events_duplicates",
            "Events already stored (retries, replays)",
            metrics.duplicates.clone(),
        );
        registry.register(
            "events_rejected",
            "Events refused, by reason",
            metrics.rejected.clone(),
        );
        registry.register(
            "events_bots",
            "Events from bots, by reason (not stored)",
            metrics.bots.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests refused as a whole, by status",
            metrics.refused_requests.clone(),
        );
        registry.register(
            "flush_duration_seconds",
            "Duration of one flush transaction",
            metrics.flush_seconds.clone(),
        );
        registry.register(
            "flush_batch_events",
            "Events in one flush",
            metrics.flush_events.clone(),
        );
        registry.register(
            "queue_depth_events",
            "Events waiting for the next flush",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "db_errors",
            "Failed flush transactions",
            metrics.db_errors.clone(),
        );
        registry.register(
            "fold_lag_seconds",
            "Age of the oldest committed event not yet folded into the rollups",
            metrics.fold_lag_seconds.clone(),
        );
        registry.register(
            "fold_pending_events",
            "Committed events waiting for the fold stage",
            metrics.fold_pending.clone(),
        );
        registry.register(
            "fold_duration_seconds",
            "Duration of one fold transaction",
            metrics.fold_seconds.clone(),
        );
        registry.register(
            "fold_window_events",
            "Events in one fold transaction",
            metrics.fold_events.clone(),
        );
        registry.register(
            "folded_events",
            "Events folded into the rollups",
            metrics.folded.clone(),
        );
        registry.register(
            "fold_errors",
            "Failed fold transactions (retried)",
            metrics.fold_errors.clone(),
        );
        registry.register(
            "fold_quarantined_events",
            "Acknowledged events the rollups could not hold, moved to dead letters",
            metrics.fold_quarantined.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts `n` events as `tally` in the last hour's minutes.
    pub fn tally(&self, tally: Tally, n: u64) {
        if n == 0 {
            return;
        }
        let mut last = self
            .last_hour
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        last.add(this_minute(), tally, n);
    }

    /// The last hour's counts by [`Tally`] (received, accepted,
    /// duplicates, rejected, bots).
    pub fn last_hour(&self) -> [u64; 5] {
        self.last_hour
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sum(this_minute())
    }

    /// Remembers a failed flush write for the Status page.
    pub fn flush_failed(&self, error: String) {
        *self
            .last_flush_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((chrono::Utc::now(), error));
    }

    /// The last failed flush write, if this process had one.
    pub fn last_flush_error(&self) -> Option<(chrono::DateTime<chrono::Utc>, String)> {
        self.last_flush_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn receive(&self, events: u64) {
        self.received.inc_by(events);
        self.tally(Tally::Received, events);
    }

    pub fn reject(&self, reason: &str, events: u64) {
        self.tally(Tally::Rejected, events);
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc_by(events);
    }

    pub fn bot(&self, reason: &str, events: u64) {
        self.tally(Tally::Bot, events);
        self.bots
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc_by(events);
    }

    pub fn refuse(&self, status: u16) {
        self.refused_requests
            .get_or_create(&StatusLabel { status })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_hour_forgets_older_minutes_in_fixed_memory() {
        let mut last = LastHour::default();
        last.add(1_000, Tally::Accepted, 3);
        last.add(1_030, Tally::Rejected, 1);
        last.add(1_059, Tally::Accepted, 2);
        assert_eq!(last.sum(1_059), [0, 5, 0, 1, 0]);
        // Minute 1,000 is an hour old at 1,060, and its slot is reused.
        assert_eq!(last.sum(1_060), [0, 2, 0, 1, 0]);
        last.add(1_060, Tally::Bot, 4);
        assert_eq!(last.sum(1_060), [0, 2, 0, 1, 4]);
        assert_eq!(last.sum(1_200), [0; 5]);
    }
}
