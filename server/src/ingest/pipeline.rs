//! One envelope's way through ingestion, shared by the HTTP and WebSocket
//! edges: parse the envelope, find the site, check the signature, judge each
//! event (pricing refunds without prices from their orders), queue the good
//! ones with the dead letters, wait for the commit.

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::PgPool;

use super::{
    enrich::{self, UserAgents},
    limit::{ClientLimiter, SocketCounter, TrustedProxies},
    parse::{parse_envelope, parse_event, Context, EnvelopeError, Limits},
    refund,
    rejection::Rejection,
    signature,
    sites::SiteCache,
};
use crate::{
    aggregate::queue::Queue,
    ingest::money::Currency,
    metrics::Metrics,
    store::flush::{DeadLetter, Folding, Outcome},
};

/// Ingestion settings beyond the per-event [`Limits`].
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// A request must send its whole body within this time (else 408).
    pub body_read_timeout_ms: u64,
    pub queue_capacity: usize,
    pub max_flush_events: usize,
    /// Flush transactions in flight at once (each holds a connection).
    pub flushers: usize,
    /// How long a request may take once its body is read (site lookup,
    /// queue, commit) before it is answered 503.
    pub commit_timeout_ms: u64,
    /// Events pending this long with no flush finishing: `/healthz` 503.
    pub stall_after_ms: u64,
    pub signature_tolerance_secs: i64,
    /// Seconds a client is told to wait after a 503.
    pub retry_after_secs: u64,
    /// Requests (or WebSocket messages) per second and client IP; 0 is off.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names
    /// the client; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Open ingestion WebSockets per client IP; past it, 429.
    pub ws_max_per_ip: usize,
    /// A socket silent this long is pinged; silent as long again, closed.
    pub ws_idle_secs: u64,
    /// `deferred` (the default): the acknowledgement stores the events and
    /// the fold stage keeps the rollups; `inline`: the acknowledgement
    /// keeps them in its own transaction (ingestion v1).
    pub folding: Folding,
    /// Time between the starts of two folds (the fold window)…
    pub fold_interval_ms: u64,
    /// …and under load: once a pass folded at least `fold_busy_events`,
    /// the next waits this long, so each session and visitor row is
    /// upserted once for more events (lag for throughput).
    pub fold_busy_interval_ms: u64,
    pub fold_busy_events: u64,
    /// Events one fold transaction takes at most.
    pub fold_window_events: i64,
    /// Ingestion answers 503 while the oldest unfolded event is older than
    /// this…
    pub fold_max_lag_ms: u64,
    /// …or more events than this wait for the fold.
    pub fold_max_pending_events: i64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_body_bytes: 64 * 1024,
            body_read_timeout_ms: 10_000,
            queue_capacity: 50_000,
            max_flush_events: 5_000,
            flushers: 2,
            commit_timeout_ms: 10_000,
            stall_after_ms: 5_000,
            signature_tolerance_secs: 300,
            retry_after_secs: 2,
            rate_limit_per_second: 1_000,
            rate_limit_burst: 2_000,
            trusted_proxies: Vec::new(),
            ws_max_per_ip: 32,
            ws_idle_secs: 60,
            folding: Folding::Deferred,
            fold_interval_ms: 250,
            fold_busy_interval_ms: 1_000,
            fold_busy_events: 1_000,
            fold_window_events: 50_000,
            fold_max_lag_ms: 10_000,
            fold_max_pending_events: 1_000_000,
        }
    }
}

/// What one envelope came with, besides its body.
pub struct Submission<'a> {
    pub body: &'a [u8],
    pub signature: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub ip: IpAddr,
    /// The site the connection was opened for (a WebSocket's `?site=`):
    /// an envelope naming another is refused whole (`site_mismatch`).
    pub site: Option<&'a str>,
}

/// The answer for an envelope that was judged event by event.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedEvent>,
    pub bots: usize,
    #[serde(skip)]
    pub seq: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RejectedEvent {
    pub index: usize,
    pub reason: String,
}

/// Why a whole envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    BadEnvelope(String),
    #[error("{0}")]
    TooManyEvents(String),
    #[error("unknown site")]
    UnknownSite,
    #[error("{0}")]
    BadSignature(signature::SignatureError),
    #[error("server is overloaded, retry later")]
    Overloaded,
    #[error("storage is unavailable, retry later")]
    Unavailable,
}

/// Everything ingestion needs; cheap to clone into handlers.
#[derive(Clone)]
pub struct Ingestor {
    pub config: Arc<IngestConfig>,
    pub sites: SiteCache,
    /// For the orders refunds without prices are priced from.
    pub pool: PgPool,
    pub queue: Queue,
    pub metrics: Arc<Metrics>,
    pub limiter: ClientLimiter,
    pub proxies: TrustedProxies,
    pub sockets: SocketCounter,
    pub user_agents: UserAgents,
    /// The daily salts of cookieless visitor hashes, shared by every
    /// process through the database.
    pub salts: super::salts::Salts,
    /// Turns true when the server drains: long-lived sockets close.
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// Tells the Real-Time push that a site has new events.
    pub nudges: crate::live::Nudges,
}

impl Ingestor {
    /// Judges and stores one envelope; returns once its events are durable,
    /// or with [`Refusal::Unavailable`] once `commit_timeout_ms` has passed
    /// since the envelope arrived, whatever it was waiting for.
    pub async fn ingest(&self, submission: Submission<'_>) -> Result<Receipt, Refusal> {
        let received_at = crate::ingest::event::now_as_stored();
        let deadline = Instant::now() + Duration::from_millis(self.config.commit_timeout_ms);
        let limits = &self.config.limits;
        let body = std::str::from_utf8(submission.body)
            .map_err(|_| Refusal::BadEnvelope("body is not valid UTF-8".to_owned()))?;
        let envelope = parse_envelope(body, limits).map_err(|error| match error {
            EnvelopeError::NotAnEnvelope(_) => Refusal::BadEnvelope(error.to_string()),
            EnvelopeError::TooManyEvents(..) => Refusal::TooManyEvents(error.to_string()),
        })?;
        let count = envelope.events.len() as u64;
        if let Some(expected) = submission.site {
            if envelope.site != expected {
                let refusal = Refusal::BadEnvelope(format!(
                    "the envelope names site {:?}, this socket is for {expected:?}",
                    envelope.site
                ));
                return Err(self.refuse_events(refusal, "site_mismatch", count));
            }
        }
        let lookup = tokio::time::timeout_at(deadline.into(), self.sites.get(&envelope.site));
        let site = match lookup.await {
            Ok(Ok(Some(site))) => site,
            Ok(Ok(None)) => {
                return Err(self.refuse_events(Refusal::UnknownSite, "unknown_site", count))
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "site lookup failed");
                return Err(self.refuse_events(Refusal::Unavailable, "unavailable", count));
            }
            Err(_) => return Err(self.refuse_events(Refusal::Unavailable, "unavailable", count)),
        };
        let verified = match submission.signature {
            None => false,
            Some(header) => {
                let secret = site.signing_secret.expose_secret().as_bytes();
                let now = received_at.timestamp();
                signature::verify(
                    header,
                    submission.body,
                    secret,
                    now,
                    self.config.signature_tolerance_secs,
                )
                .map_err(|e| {
                    self.refuse_events(Refusal::BadSignature(e), "bad_signature", count)
                })?;
                true
            }
        };
        self.metrics.receive(count);
        let mut receipt = Receipt {
            seq: envelope.seq,
            ..Receipt::default()
        };
        let judged = self.user_agents.judge(submission.user_agent);
        if let (false, Some(reason)) = (verified, judged.bot) {
            self.metrics.bot(reason, count);
            receipt.bots = envelope.events.len();
            return Ok(receipt);
        }
        let user_agent = submission.user_agent.unwrap_or_default();
        let client = judged.client;
        // Today's salt, for events without a visitor id (asked of the
        // database once a day and process).
        let salt = match self.salts.for_day(received_at.date_naive(), deadline).await {
            Ok(salt) => salt,
            Err(error) => {
                tracing::warn!(%error, "reading the visitor salt failed");
                self.metrics.reject("unavailable", count);
                return Err(Refusal::Unavailable);
            }
        };
        // Each stored event's index in the envelope.
        let mut indexes = Vec::new();
        // A block, so the non-Send hashing state is gone before the await.
        let (mut events, mut dead) = {
            // Hashed at most once per request, and only when an event lacks a
            // visitor id (cookieless tracking).
            let derived = std::cell::OnceCell::new();
            let derived_visitor = || {
                derived
                    .get_or_init(|| {
                        let ip = submission.ip.to_string();
                        enrich::derived_visitor(&*salt, site.site_id, received_at, &ip, user_agent)
                    })
                    .clone()
            };
            let cx = Context {
                site_id: site.site_id,
                site_currency: Currency::parse(&site.currency)
                    .unwrap_or_else(|| Currency::parse("USD").expect("USD")),
                tiers: (site.price_tier_medium_from, site.price_tier_high_from),
                received_at,
                sent_at: envelope.sent_at,
                client: &client,
                derived_visitor: &derived_visitor,
                verified,
                limits,
                domains: &site.domains,
            };
            let mut events = Vec::with_capacity(envelope.events.len());
            let mut dead = Vec::new();
            for (index, raw) in envelope.events.iter().enumerate() {
                match parse_event(raw, &cx) {
                    Ok(event) => {
                        events.push(event);
                        indexes.push(index);
                    }
                    Err(rejection) => {
                        let (letter, rejected) =
                            self.refusal(site.site_id, received_at, index, raw, &rejection);
                        dead.push(letter);
                        receipt.rejected.push(rejected);
                    }
                }
            }
            (events, dead)
        };
        // Refunds that name items without prices are priced from their
        // order (one read, for such requests only); one that cannot be is
        // refused like any invalid event.
        if events.iter().any(refund::needs_order) {
            let priced = tokio::time::timeout_at(
                deadline.into(),
                refund::price_refunds(&self.pool, &mut events, &[]),
            )
            .await;
            let verdicts = match priced {
                Ok(Ok(verdicts)) => verdicts,
                failed => {
                    if let Ok(Err(error)) = failed {
                        tracing::warn!(%error, "reading the orders of refunds failed");
                    }
                    self.metrics.reject("unavailable", events.len() as u64);
                    return Err(Refusal::Unavailable);
                }
            };
            let mut kept = (Vec::with_capacity(events.len()), Vec::new());
            for ((event, index), verdict) in events.into_iter().zip(indexes).zip(verdicts) {
                match verdict {
                    None => {
                        kept.0.push(event);
                        kept.1.push(index);
                    }
                    Some(rejection) => {
                        let raw = envelope.events[index];
                        let (letter, rejected) =
                            self.refusal(site.site_id, received_at, index, raw, &rejection);
                        dead.push(letter);
                        receipt.rejected.push(rejected);
                    }
                }
            }
            (events, indexes) = kept;
        }
        let queued = events.len() as u64;
        let waiting = self.queue.submit(events, dead, deadline).map_err(|_| {
            self.metrics.reject("overloaded", queued);
            Refusal::Overloaded
        })?;
        // On timeout the batch may still be stored (its flush is under
        // way); the client retries with the same ids and the dedupe keys
        // absorb the repeat.
        let outcomes = match tokio::time::timeout_at(deadline.into(), waiting).await {
            Ok(Ok(outcomes)) => outcomes,
            _ => return Err(Refusal::Unavailable),
        };
        for (index, outcome) in indexes.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Accepted => receipt.accepted += 1,
                Outcome::Duplicate => receipt.duplicates += 1,
                Outcome::Rejected(rejection) => receipt.rejected.push(RejectedEvent {
                    index,
                    reason: rejection.to_string(),
                }),
                // Some of the batch may be stored: the client's retry
                // finds those as duplicates.
                Outcome::Unavailable => return Err(Refusal::Unavailable),
            }
        }
        receipt.rejected.sort_by_key(|r| r.index);
        if receipt.accepted > 0 {
            self.nudges.nudge(site.site_id);
        }
        Ok(receipt)
    }

    /// Counts one refused event and makes its dead letter and its line of
    /// the answer.
    fn refusal(
        &self,
        site_id: i32,
        received_at: chrono::DateTime<Utc>,
        index: usize,
        raw: &RawValue,
        rejection: &Rejection,
    ) -> (DeadLetter, RejectedEvent) {
        self.metrics.reject(rejection.reason.as_str(), 1);
        let letter = DeadLetter {
            site_id: Some(site_id),
            received_at,
            reason: rejection.to_string(),
            payload: raw.get().to_owned(),
        };
        let rejected = RejectedEvent {
            index,
            reason: rejection.to_string(),
        };
        (letter, rejected)
    }

    /// Counts a whole refused envelope's events as received and rejected, so
    /// the conservation law holds.
    fn refuse_events(&self, refusal: Refusal, reason: &str, events: u64) -> Refusal {
        self.metrics.receive(events);
        self.metrics.reject(reason, events);
        refusal
    }
}
