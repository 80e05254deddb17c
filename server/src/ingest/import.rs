//! History import (`server import`): past events from an NDJSON file,
//! through the same validation, dedupe and aggregation as live ingestion,
//! with their original timestamps.
//!
//! An administrative operation: it runs with the server's own database
//! credentials, never on the public beacon path. Each line is either
//! `{"user_agent": "...", "event": {...}}` (what `simulate --out` writes) or
//! a bare event. Events keep their `ts` (no clock-skew correction: there is
//! no `sent_at` to correct against) and may be as old as the import window.
//! Batches are stored by [`settle`] like live ones, so event ids and order
//! transaction ids make a re-run count nothing twice.

use std::{collections::BTreeMap, io::BufRead};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    enrich::{self, Judged, UserAgents},
    event::Event,
    money::Currency,
    parse::{parse_event, Context, Limits},
    refund,
    rejection::{Reason, Rejection},
};
use crate::{
    aggregate::settle::settle,
    store::{
        flush::{DeadLetter, Outcome},
        sites::Site,
    },
};

/// How an import treats its file.
#[derive(Clone, Debug)]
pub struct Options {
    /// Purchases and refunds come from the shop's backend (an order export):
    /// store them verified, as a signed live report would be.
    pub verified: bool,
    /// Events per flush transaction.
    pub batch: usize,
    pub limits: Limits,
    /// Where the counted events go (`ingest.folding`): the fold log, folded
    /// after each batch, or the rollups in the batch's own transaction.
    pub folding: crate::store::flush::Folding,
}

impl Options {
    /// Live limits, except the age window: history is old by definition.
    pub fn new(limits: &Limits, max_age_days: i64) -> Self {
        Self {
            verified: false,
            batch: 1_000,
            limits: Limits {
                max_age_ms: max_age_days.saturating_mul(24 * 60 * 60 * 1000),
                ..limits.clone()
            },
            folding: crate::store::flush::Folding::Deferred,
        }
    }
}

/// What an import did, so far or in the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub lines: u64,
    pub imported: u64,
    pub duplicates: u64,
    /// Lines whose User-Agent is a bot's: not stored, as live.
    pub bots: u64,
    /// Rejected events by reason (each also a dead letter).
    pub rejected: BTreeMap<&'static str, u64>,
}

impl Report {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    user_agent: Option<String>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
}

/// Imports every line of `input` into `site`; `progress` hears the report
/// after each committed batch. A database error stops the import: what was
/// committed stays, and a re-run skips it as duplicates.
pub async fn import(
    pool: &sqlx::PgPool,
    site: &Site,
    input: impl BufRead,
    options: &Options,
    progress: &mut (dyn FnMut(&Report) + Send),
) -> anyhow::Result<Report> {
    let user_agents = UserAgents::default();
    let site_currency = Currency::parse(&site.currency)
        .ok_or_else(|| anyhow::anyhow!("site currency {:?} is not ISO 4217", site.currency))?;
    let mut report = Report::default();
    let mut events: Vec<Event> = Vec::with_capacity(options.batch);
    let mut dead: Vec<DeadLetter> = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|e| anyhow::anyhow!("reading line {}: {e}", number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        report.lines += 1;
        let received_at = crate::ingest::event::now_as_stored();
        let mut reject = |report: &mut Report, rejection: Rejection| {
            *report
                .rejected
                .entry(rejection.reason.as_str())
                .or_default() += 1;
            dead.push(DeadLetter {
                site_id: Some(site.site_id),
                received_at,
                reason: rejection.to_string(),
                payload: line.clone(),
            });
        };
        let (user_agent, raw) = match serde_json::from_str::<Line<'_>>(&line) {
            Ok(Line {
                user_agent,
                event: Some(raw),
            }) => (user_agent, raw),
            Ok(Line { event: None, .. }) => match serde_json::from_str::<&RawValue>(&line) {
                Ok(raw) => (None, raw),
                Err(e) => {
                    reject(
                        &mut report,
                        Rejection::new(Reason::Malformed, e.to_string()),
                    );
                    continue;
                }
            },
            Err(e) => {
                reject(
                    &mut report,
                    Rejection::new(Reason::Malformed, e.to_string()),
                );
                continue;
            }
        };
        // Exports often carry no User-Agent; unlike a live request, that
        // alone does not make a line a bot's.
        let judged = match user_agent.as_deref() {
            Some(user_agent) => user_agents.judge(Some(user_agent)),
            None => Judged {
                client: enrich::client(""),
                bot: None,
            },
        };
        if judged.bot.is_some() {
            report.bots += 1;
            continue;
        }
        // No request, no IP: an event without visitor or user id cannot be
        // given a cookieless visitor, so it is refused rather than invented.
        // (A block of its own: nothing of it may live across the commit's
        // await, so the import can run in a request handler.)
        let parsed = {
            let anonymous = std::cell::Cell::new(false);
            let derived_visitor = || {
                anonymous.set(true);
                String::new()
            };
            let cx = Context {
                site_id: site.site_id,
                site_currency,
                tiers: (site.price_tier_medium_from, site.price_tier_high_from),
                received_at,
                sent_at: None,
                client: &judged.client,
                derived_visitor: &derived_visitor,
                verified: options.verified,
                limits: &options.limits,
                domains: &site.domains,
            };
            match parse_event(raw, &cx) {
                Ok(_) if anonymous.get() => Err(Rejection::new(
                    Reason::MissingField,
                    "an imported event needs visitor or user_id",
                )),
                parsed => parsed,
            }
        };
        // A refund without prices takes them from its order: stored, or
        // earlier in this batch.
        let parsed = match parsed {
            Ok(mut event) if refund::needs_order(&event) => {
                let verdicts =
                    refund::price_refunds(pool, std::slice::from_mut(&mut event), &events).await?;
                match verdicts.into_iter().next().flatten() {
                    Some(rejection) => Err(rejection),
                    None => Ok(event),
                }
            }
            parsed => parsed,
        };
        match parsed {
            Ok(event) => events.push(event),
            Err(rejection) => reject(&mut report, rejection),
        }
        if events.len() + dead.len() >= options.batch {
            commit(pool, options.folding, &mut events, &mut dead, &mut report).await?;
            progress(&report);
        }
    }
    commit(pool, options.folding, &mut events, &mut dead, &mut report).await?;
    progress(&report);
    Ok(report)
}

async fn commit(
    pool: &sqlx::PgPool,
    folding: crate::store::flush::Folding,
    events: &mut Vec<Event>,
    dead: &mut Vec<DeadLetter>,
    report: &mut Report,
) -> anyhow::Result<()> {
    if events.is_empty() && dead.is_empty() {
        return Ok(());
    }
    let refs: Vec<&Event> = events.iter().collect();
    let dead_refs: Vec<&DeadLetter> = dead.iter().collect();
    // No memory of folded members between batches: imports are rare. The
    // same settling as live ingestion: an event the database refuses
    // becomes a dead letter; a database that keeps failing stops the import
    // (run it again: what was stored is deduplicated). A rebuild of the
    // site is waited for, up to ten minutes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let settled = settle(
        pool,
        &refs,
        &dead_refs,
        &crate::store::flush::Sink {
            folding,
            ..Default::default()
        },
        deadline,
        None,
        &mut |_| {},
    )
    .await;
    if let Some(error) = settled.gave_up {
        anyhow::bail!("storing a batch: {error}");
    }
    // The same fold stage as live ingestion, run here batch by batch so
    // the log stays small and the reports are complete when this returns.
    let mut sites: Vec<i32> = events.iter().map(|e| e.site_id).collect();
    sites.sort_unstable();
    sites.dedup();
    if folding == crate::store::flush::Folding::Inline {
        sites.clear();
    }
    for site in sites {
        crate::aggregate::stage::drain_site(pool, site)
            .await
            .map_err(|error| anyhow::anyhow!("folding a batch: {error}"))?;
    }
    for outcome in settled.outcomes {
        match outcome {
            Outcome::Accepted => report.imported += 1,
            Outcome::Duplicate => report.duplicates += 1,
            // Its dead letter is stored already.
            Outcome::Rejected(rejection) => {
                *report
                    .rejected
                    .entry(rejection.reason.as_str())
                    .or_default() += 1;
            }
            Outcome::Unavailable => anyhow::bail!("storing a batch: the database is unavailable"),
        }
    }
    events.clear();
    dead.clear();
    Ok(())
}
