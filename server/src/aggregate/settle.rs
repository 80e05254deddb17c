//! Getting a batch stored although one of its events is poison or the
//! database is away: every event ends with an [`Outcome`], in bounded time.
//!
//! A flush that fails on a data error (the database refused something the
//! batch holds, which would fail the same way on every retry) is bisected:
//! each half is flushed on its own, down to the one event to blame, which
//! is stored as a dead letter with the reason while the rest commit. A flush
//! that fails on the database's state (a lost connection, a restart, a
//! deadlock) is retried with backoff, but only while its requests still
//! wait for it and at most [`MAX_TRIES`] times; then the events not yet
//! stored are `Unavailable`, the requests are answered 503, and the clients'
//! retries are deduplicated by event id. Events of a site being rebuilt
//! are left out of the flush and wait for the rebuild outside the flush
//! slot ([`Slot`]), so the other sites' events of the same batch go on.
//! Nothing holds a flush slot forever.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    ingest::{event::Event, rejection::Rejection},
    store::flush::{flush, DeadLetter, FlushError, Outcome, Sink},
};

/// Tries of one batch against a failing database, at most.
pub const MAX_TRIES: u32 = 8;

/// How often events of a site being rebuilt look again.
const REBUILD_POLL: Duration = Duration::from_millis(100);

/// The flush slot a batch holds, if any: given back while its events wait
/// for a rebuild, so other batches can flush meanwhile.
pub struct Slot {
    semaphore: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    pub fn new(semaphore: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            semaphore,
            permit: Some(permit),
        }
    }

    async fn pause(&mut self, wait: Duration) {
        self.permit = None;
        tokio::time::sleep(wait).await;
        self.permit = self.semaphore.clone().acquire_owned().await.ok();
    }
}

/// What became of a batch: each event's outcome, in input order, and the
/// last database error if the batch ran out of tries.
pub struct Settled {
    pub outcomes: Vec<Outcome>,
    pub gave_up: Option<FlushError>,
    /// Failed tries on the way (each a `storepulse_db_errors_total`).
    pub failures: u32,
    /// What the last failed try said, retried or not.
    pub last_failure: Option<String>,
}

/// Stores `events` and `dead`, retrying while `deadline` has not passed.
/// `progress` hears the outcomes known so far after every round that
/// leaves some events waiting for a rebuild.
pub async fn settle(
    pool: &PgPool,
    events: &[&Event],
    dead: &[&DeadLetter],
    sink: &Sink,
    deadline: Instant,
    mut slot: Option<&mut Slot>,
    progress: &mut (dyn FnMut(&[Option<Outcome>]) + Send),
) -> Settled {
    let mut run = Run {
        pool,
        events,
        sink,
        outcomes: vec![None; events.len()],
        dead_stored: dead.is_empty(),
    };
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0;
    let mut last_failure = None;
    let gave_up = loop {
        let pending: Vec<usize> = (0..events.len())
            .filter(|&i| run.outcomes[i].is_none())
            .collect();
        let letters = if run.dead_stored { &[][..] } else { dead };
        match run.bisect(&pending, letters).await {
            Ok(()) if run.outcomes.iter().all(Option::is_some) => break None,
            // The rest belongs to sites being rebuilt.
            Ok(()) if Instant::now() + REBUILD_POLL >= deadline => break None,
            Ok(()) => {
                progress(&run.outcomes);
                match slot.as_deref_mut() {
                    Some(slot) => slot.pause(REBUILD_POLL).await,
                    None => tokio::time::sleep(REBUILD_POLL).await,
                }
            }
            Err(error) => {
                failures += 1;
                last_failure = Some(error.to_string());
                if failures >= MAX_TRIES || Instant::now() + backoff >= deadline {
                    tracing::error!(%error, events = pending.len(), "flush failed; giving up, its requests are answered 503");
                    break Some(error);
                }
                tracing::warn!(%error, events = pending.len(), retry_in = ?backoff, "flush failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    Settled {
        outcomes: run
            .outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Unavailable))
            .collect(),
        gave_up,
        failures,
        last_failure,
    }
}

struct Run<'a> {
    pool: &'a PgPool,
    events: &'a [&'a Event],
    sink: &'a Sink,
    /// `None`: not stored yet.
    outcomes: Vec<Option<Outcome>>,
    dead_stored: bool,
}

impl Run<'_> {
    /// Flushes the events at `indexes` with `dead`; on a data error, halves
    /// until the event to blame is alone. `Err` only for errors worth a retry.
    async fn bisect(&mut self, indexes: &[usize], dead: &[&DeadLetter]) -> Result<(), FlushError> {
        if indexes.is_empty() && dead.is_empty() {
            return Ok(());
        }
        let batch: Vec<&Event> = indexes.iter().map(|&i| self.events[i]).collect();
        let error = match flush(self.pool, &batch, dead, self.sink).await {
            Ok(outcomes) => {
                for (&i, outcome) in indexes.iter().zip(outcomes) {
                    self.outcomes[i] = Some(outcome);
                }
                self.dead_stored |= !dead.is_empty();
                return Ok(());
            }
            Err(error) => error,
        };
        if let FlushError::Busy(sites) = &error {
            // Leave the rebuilt sites' events for a later round.
            let free: Vec<usize> = indexes
                .iter()
                .copied()
                .filter(|&i| !sites.contains(&self.events[i].site_id))
                .collect();
            return Box::pin(self.bisect(&free, dead)).await;
        }
        let Some(rejection) = error.data_rejection() else {
            return Err(error);
        };
        if !dead.is_empty() {
            // The events alone first, then the dead letters alone: one
            // cannot be blamed for the other.
            Box::pin(self.bisect(indexes, &[])).await?;
            self.store_letters(dead, &rejection).await?;
            self.dead_stored = true;
            return Ok(());
        }
        match indexes {
            [] => Ok(()),
            [one] => {
                let event = self.events[*one];
                tracing::warn!(event = %event.id, site = event.site_id, reason = %rejection, "event refused by the database; kept as a dead letter");
                let letter = dead_letter_of(event, &rejection);
                self.store_letters(&[&letter], &rejection).await?;
                self.outcomes[*one] = Some(Outcome::Rejected(rejection));
                Ok(())
            }
            _ => {
                let (left, right) = indexes.split_at(indexes.len() / 2);
                Box::pin(self.bisect(left, &[])).await?;
                Box::pin(self.bisect(right, &[])).await
            }
        }
    }

    /// Stores dead letters on their own. Letters the database refuses too
    /// (their text is sanitised, so this should not happen) are logged and
    /// dropped: there is nothing left to keep them in.
    async fn store_letters(&self, dead: &[&DeadLetter], why: &Rejection) -> Result<(), FlushError> {
        match flush(self.pool, &[], dead, self.sink).await {
            Ok(_) => Ok(()),
            Err(error) if error.data_rejection().is_some() => {
                tracing::error!(%error, letters = dead.len(), first_reason = %why, "dead letters refused by the database; dropped");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// The dead letter of an event the database refused: the event as parsed
/// (its raw text is not kept past parsing), with the reason.
fn dead_letter_of(event: &Event, rejection: &Rejection) -> DeadLetter {
    let payload = serde_json::json!({
        "id": event.id,
        "type": event.kind.as_str(),
        "ts": event.occurred_at.timestamp_millis(),
        "visitor": event.visitor_id,
        "session": event.session_id,
        "user_id": event.user_id,
        "url": event.url,
        "currency": event.money.map(|m| m.currency.code().to_owned()),
        "value_minor": event.money.map(|m| m.minor),
        "tax_minor": event.tax,
        "shipping_minor": event.shipping,
        "coupon": event.coupon,
        "transaction_id": event.transaction_id,
        "items": event.items,
    });
    DeadLetter {
        site_id: Some(event.site_id),
        received_at: event.received_at,
        reason: rejection.to_string(),
        payload: payload.to_string(),
    }
}
