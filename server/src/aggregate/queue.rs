//! The bounded hand-off from request handlers to the one flusher task.
//!
//! Handlers [`Queue::submit`] a parsed batch and wait for its outcome; the
//! flusher takes everything queued at once (the batch grows with load, with
//! no timer when idle), stores it in one transaction, and only then answers.
//! The bound is in events: a batch that does not fit is refused at once
//! (the caller answers 503), never left to wait without limit. How each
//! batch gets stored despite poison events and a failing database is
//! [`super::settle`]'s part: bounded retries, then 503; nothing acknowledged
//! is lost and, by the dedupe keys, nothing is counted twice when clients
//! retry. [`Health`] tells `/healthz` when flushes fail or stop draining.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use sqlx::PgPool;
use tokio::{
    sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};

use super::{
    settle::{settle, Slot},
    stage::Lag,
};
use crate::{
    ingest::event::Event,
    metrics::Metrics,
    store::flush::{DeadLetter, Folding, Outcome, Sink},
};

/// One request's share of a flush.
struct Job {
    events: Vec<Event>,
    dead: Vec<DeadLetter>,
    reply: oneshot::Sender<Vec<Outcome>>,
    /// When the request stops waiting: retries past it help no one.
    deadline: Instant,
    _permits: OwnedSemaphorePermit,
}

/// Whether flushes commit and the queue drains, for `/healthz`: a server
/// whose database answers pings but whose flushes fail, or hang, must not
/// keep getting traffic from a load balancer.
#[derive(Debug)]
pub struct Health {
    /// The last flush gave up and none has committed since; reported while
    /// events wait.
    failing: AtomicBool,
    /// Events queued or in a flush.
    pending: AtomicI64,
    /// The last time a flush finished, or work arrived at an idle queue.
    progress: Mutex<Instant>,
    /// Work pending this long without progress is a stall.
    stall_after: Duration,
}

/// What [`Health::check`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// Flushes fail (the database refuses or drops them).
    Failing,
    /// Events wait and no flush has finished for the stall bound.
    Stalled,
}

impl Health {
    fn new(stall_after: Duration) -> Self {
        Self {
            failing: AtomicBool::new(false),
            pending: AtomicI64::new(0),
            progress: Mutex::new(Instant::now()),
            stall_after,
        }
    }

    pub fn check(&self) -> Option<Trouble> {
        // Only while events wait: an idle process that last failed is not
        // kept out of rotation (no traffic would ever clear the flag).
        let waiting = self.pending.load(Ordering::Relaxed) > 0;
        if waiting && self.failing.load(Ordering::Relaxed) {
            return Some(Trouble::Failing);
        }
        let since = *self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        (waiting && since.elapsed() > self.stall_after).then_some(Trouble::Stalled)
    }

    pub(super) fn tried(&self, committed: bool) {
        self.failing.store(!committed, Ordering::Relaxed);
    }

    fn queued(&self, events: i64) {
        if self.pending.fetch_add(events, Ordering::Relaxed) == 0 {
            self.mark_progress();
        }
    }

    fn finished(&self, events: i64) {
        self.pending.fetch_sub(events, Ordering::Relaxed);
        self.mark_progress();
    }

    fn mark_progress(&self) {
        *self.progress.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
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
    health: Arc<Health>,
    /// The fold stage's lag: past its bound, new batches are refused.
    fold: Option<Arc<Lag>>,
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
    /// Events pending this long with no flush finishing: `/healthz` 503.
    pub stall_after: Duration,
    /// Whether flushes log for the fold stage or fold inline.
    pub folding: Folding,
}

impl Queue {
    /// Starts the flusher. It ends once every `Queue` clone is dropped and
    /// the queue is drained, so awaiting the handle after the server stopped
    /// accepting flushes everything that was queued.
    pub fn start(
        pool: PgPool,
        config: QueueConfig,
        metrics: Arc<Metrics>,
        fold: Option<Arc<Lag>>,
    ) -> (Self, JoinHandle<()>) {
        let (jobs, receiver) = mpsc::channel(config.capacity.max(1));
        let health = Arc::new(Health::new(config.stall_after));
        let flusher = tokio::spawn(run_flusher(
            pool,
            receiver,
            config,
            metrics.clone(),
            health.clone(),
        ));
        let queue = Self {
            jobs,
            permits: Arc::new(Semaphore::new(config.capacity.max(1))),
            metrics,
            health,
            fold,
        };
        (queue, flusher)
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Queues a batch whose request waits until `deadline`; the receiver
    /// yields each event's outcome after commit.
    pub fn submit(
        &self,
        events: Vec<Event>,
        dead: Vec<DeadLetter>,
        deadline: Instant,
    ) -> Result<oneshot::Receiver<Vec<Outcome>>, Full> {
        // The fold stage is behind its bound: more events would only grow
        // the log; the client retries after `Retry-After`.
        if self.fold.as_deref().is_some_and(Lag::behind) {
            return Err(Full);
        }
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
                deadline,
                _permits: permits,
            })
            .map_err(|_| Full)?;
        self.metrics.queue_depth.inc_by(queued);
        self.health.queued(queued);
        Ok(receiver)
    }
}

async fn run_flusher(
    pool: PgPool,
    mut receiver: mpsc::Receiver<Job>,
    config: QueueConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) {
    // Several flushes may be in flight: while one waits for its commit to
    // reach the disk, the next is already inserting. A flush gathers its
    // jobs once it has a slot: everything that queued while every slot was
    // busy goes into the one transaction that starts next, so under load
    // flushes grow and commits (each a WAL flush) do not multiply.
    let flushers = u32::try_from(config.flushers.max(1)).unwrap_or(1);
    let in_flight = Arc::new(Semaphore::new(flushers as usize));
    let sink = Sink {
        folding: config.folding,
        members: Default::default(),
    };
    while let Some(first) = receiver.recv().await {
        // Not held while idle: a flush waiting out a rebuild gives its
        // slot back and takes one again (`Slot`).
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
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
        let (pool, metrics, sink) = (pool.clone(), metrics.clone(), sink.clone());
        let health = health.clone();
        let mut slot = Slot::new(in_flight.clone(), permit);
        tokio::spawn(async move {
            let (jobs, mut replies): (Vec<Batch>, Replies) = jobs
                .into_iter()
                .map(|job| {
                    let reply = job.reply;
                    let batch = Batch {
                        events: job.events,
                        dead: job.dead,
                        deadline: job.deadline,
                        _permits: job._permits,
                    };
                    (batch, Some(reply))
                })
                .unzip();
            let outcomes = store(
                &pool,
                &jobs,
                &metrics,
                &sink,
                &health,
                &mut slot,
                &mut replies,
            )
            .await;
            metrics.queue_depth.dec_by(size as i64);
            health.finished(size as i64);
            answer(
                &jobs,
                &mut replies,
                &outcomes.into_iter().map(Some).collect::<Vec<_>>(),
            );
            drop(slot);
        });
    }
    // Every sender is gone: wait for the flushes still in flight.
    let _ = in_flight.acquire_many(flushers).await;
}

/// A job once its reply is taken apart: what the flush stores.
struct Batch {
    events: Vec<Event>,
    dead: Vec<DeadLetter>,
    deadline: Instant,
    _permits: OwnedSemaphorePermit,
}

/// Each job's reply, until it is sent.
type Replies = Vec<Option<oneshot::Sender<Vec<Outcome>>>>;

/// Answers every job whose events all have an outcome: a job need not wait
/// for the rest of its flush (events of a site being rebuilt).
fn answer(jobs: &[Batch], replies: &mut Replies, outcomes: &[Option<Outcome>]) {
    let mut start = 0;
    for (job, reply) in jobs.iter().zip(replies.iter_mut()) {
        let mine = &outcomes[start..start + job.events.len()];
        start += job.events.len();
        if mine.iter().all(Option::is_some) {
            if let Some(reply) = reply.take() {
                // The requester may have given up (timeout); its events are stored anyway.
                let _ = reply.send(mine.iter().flatten().cloned().collect());
            }
        }
    }
}

/// Stores the jobs' events and dead letters, answering jobs as they are
/// done; counts every outcome.
async fn store(
    pool: &PgPool,
    jobs: &[Batch],
    metrics: &Metrics,
    sink: &Sink,
    health: &Health,
    slot: &mut Slot,
    replies: &mut Replies,
) -> Vec<Outcome> {
    let events: Vec<&Event> = jobs.iter().flat_map(|j| j.events.iter()).collect();
    let dead: Vec<&DeadLetter> = jobs.iter().flat_map(|j| j.dead.iter()).collect();
    let deadline = jobs
        .iter()
        .map(|j| j.deadline)
        .max()
        .unwrap_or_else(Instant::now);
    let started = Instant::now();
    let mut progress = |outcomes: &[Option<Outcome>]| {
        // Waiting for a rebuild is progress, not a stall.
        health.mark_progress();
        answer(jobs, replies, outcomes);
    };
    let settled = settle(
        pool,
        &events,
        &dead,
        sink,
        deadline,
        Some(slot),
        &mut progress,
    )
    .await;
    metrics.db_errors.inc_by(u64::from(settled.failures));
    if let Some(error) = &settled.last_failure {
        metrics.flush_failed(error.clone());
    }
    health.tried(settled.gave_up.is_none());
    metrics
        .flush_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.flush_events.observe(events.len() as f64);
    let (mut accepted, mut duplicates) = (0, 0);
    for outcome in &settled.outcomes {
        match outcome {
            Outcome::Accepted => accepted += 1,
            Outcome::Duplicate => duplicates += 1,
            Outcome::Rejected(rejection) => metrics.reject(rejection.reason.as_str(), 1),
            Outcome::Unavailable => metrics.reject("unavailable", 1),
        }
    }
    // Once a flush, not once an event: the last hour's tallies take a lock.
    metrics.accepted.inc_by(accepted);
    metrics.tally(crate::metrics::Tally::Accepted, accepted);
    metrics.duplicates.inc_by(duplicates);
    metrics.tally(crate::metrics::Tally::Duplicate, duplicates);
    settled.outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_flush_is_trouble_only_while_events_wait() {
        let health = Health::new(Duration::from_secs(60));
        health.queued(3);
        health.tried(false);
        assert_eq!(health.check(), Some(Trouble::Failing));
        // The batch gave up and was answered: nothing waits, and a load
        // balancer may send traffic again (which alone can clear the flag).
        health.finished(3);
        assert_eq!(health.check(), None);
        health.queued(1);
        assert_eq!(health.check(), Some(Trouble::Failing));
        health.tried(true);
        assert_eq!(health.check(), None);
    }

    #[test]
    fn waiting_events_without_progress_are_a_stall() {
        let health = Health::new(Duration::ZERO);
        assert_eq!(health.check(), None, "idle is healthy");
        health.queued(1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(health.check(), Some(Trouble::Stalled));
    }
}
