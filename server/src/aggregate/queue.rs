//! The bounded hand-off from request handlers to the one flusher task.
//!
//! Handlers [`Queue::submit`] a parsed batch and wait for its outcome; the
//! flusher takes everything queued at once (the batch grows with load, with
//! no timer when idle), stores it in one transaction, and only then answers.
//! The bound is in events: a batch that does not fit is refused at once
//! (the caller answers 503), never left to wait without limit. If the
//! database fails, the flusher keeps the batch and retries with backoff;
//! nothing acknowledged is lost and, by the dedupe keys, nothing is counted
//! twice when clients retry meanwhile.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;
use tokio::{
    sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};

use crate::{
    ingest::event::Event,
    metrics::Metrics,
    store::flush::{flush, DeadLetter, FoldedMembers, Outcome},
};

/// One request's share of a flush.
struct Job {
    events: Vec<Event>,
    dead: Vec<DeadLetter>,
    reply: oneshot::Sender<Vec<Outcome>>,
    _permits: OwnedSemaphorePermit,
}

/// The queue is full: the caller should answer 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("ingestion queue is full")]
pub struct Full;

#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// Bounds of the queue and the flush.
#[derive(Clone, Copy, Debug)]
pub struct QueueConfig {
    /// Events that may wait for a flush at once.
    pub capacity: usize,
    /// Events one flush transaction takes at most.
    pub max_flush_events: usize,
    /// Flush transactions in flight at once.
    pub flushers: usize,
}

impl Queue {
    /// Starts the flusher. It ends once every `Queue` clone is dropped and
    /// the queue is drained, so awaiting the handle after the server stopped
    /// accepting flushes everything that was queued.
    pub fn start(
        pool: PgPool,
        config: QueueConfig,
        metrics: Arc<Metrics>,
    ) -> (Self, JoinHandle<()>) {
        let (jobs, receiver) = mpsc::channel(config.capacity.max(1));
        let flusher = tokio::spawn(run_flusher(pool, receiver, config, metrics.clone()));
        let queue = Self {
            jobs,
            permits: Arc::new(Semaphore::new(config.capacity.max(1))),
            metrics,
        };
        (queue, flusher)
    }

    /// Queues a batch; the receiver yields each event's outcome after commit.
    pub fn submit(
        &self,
        events: Vec<Event>,
        dead: Vec<DeadLetter>,
    ) -> Result<oneshot::Receiver<Vec<Outcome>>, Full> {
        let weight = u32::try_from(events.len().max(1)).map_err(|_| Full)?;
        let permits = self
            .permits
            .clone()
            .try_acquire_many_owned(weight)
            .map_err(|_| Full)?;
        let (reply, receiver) = oneshot::channel();
        let queued = events.len() as i64;
        self.jobs
            .try_send(Job {
                events,
                dead,
                reply,
                _permits: permits,
            })
            .map_err(|_| Full)?;
        self.metrics.queue_depth.inc_by(queued);
        Ok(receiver)
    }
}

async fn run_flusher(
    pool: PgPool,
    mut receiver: mpsc::Receiver<Job>,
    config: QueueConfig,
    metrics: Arc<Metrics>,
) {
    // Several flushes may be in flight: while one waits for its commit to
    // reach the disk, the next is already inserting. Locks are taken in
    // key order in every flush, so they cannot deadlock each other.
    let flushers = u32::try_from(config.flushers.max(1)).unwrap_or(1);
    let in_flight = Arc::new(Semaphore::new(flushers as usize));
    let folded = FoldedMembers::default();
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        let mut size = jobs[0].events.len();
        while size < config.max_flush_events {
            match receiver.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (pool, metrics, folded) = (pool.clone(), metrics.clone(), folded.clone());
        tokio::spawn(async move {
            let outcomes = flush_with_retry(&pool, &jobs, &metrics, &folded).await;
            metrics.queue_depth.dec_by(size as i64);
            let mut outcomes = outcomes.into_iter();
            for job in jobs {
                let mine: Vec<Outcome> = outcomes.by_ref().take(job.events.len()).collect();
                // The requester may have given up (timeout); its events are stored anyway.
                let _ = job.reply.send(mine);
            }
            drop(permit);
        });
    }
    // Every sender is gone: wait for the flushes still in flight.
    let _ = in_flight.acquire_many(flushers).await;
}

/// Flushes until it succeeds, backing off from 50 ms to 2 s between tries.
async fn flush_with_retry(
    pool: &PgPool,
    jobs: &[Job],
    metrics: &Metrics,
    folded: &FoldedMembers,
) -> Vec<Outcome> {
    let events: Vec<&Event> = jobs.iter().flat_map(|j| j.events.iter()).collect();
    let dead: Vec<&DeadLetter> = jobs.iter().flat_map(|j| j.dead.iter()).collect();
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        match flush(pool, &events, &dead, folded).await {
            Ok(outcomes) => {
                metrics
                    .flush_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics.flush_events.observe(events.len() as f64);
                let accepted = outcomes.iter().filter(|o| **o == Outcome::Accepted).count() as u64;
                metrics.accepted.inc_by(accepted);
                metrics.duplicates.inc_by(outcomes.len() as u64 - accepted);
                return outcomes;
            }
            Err(error) => {
                metrics.db_errors.inc();
                tracing::error!(%error, events = events.len(), retry_in = ?backoff, "flush failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
