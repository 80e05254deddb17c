//! The flush: the acknowledgement's one transaction.
//!
//! Raw events go in with `ON CONFLICT DO NOTHING`; only the rows that were
//! really new, and only the first report of each order, are counted. The
//! counted events, with the fate decided for each, are appended to the
//! fold log (`fold_pending`, one row per site) for the fold stage
//! (`aggregate::stage`), which keeps the rollups; with `ingest.folding =
//! "inline"` they are folded into the rollups right here instead
//! (ingestion v1). Everything happens in one transaction, so a crash at any
//! point leaves either all of a batch or none of it, and the caller
//! acknowledges requests only after `commit` returned. The deferred path
//! writes only rows keyed by the batch's own events (events, orders, dead
//! letters, its own log rows) and fires no trigger, so acknowledgements
//! never wait on each other's rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{PgPool, Postgres, Transaction};

use super::rollups;
use crate::{
    aggregate::fold::{bucket_of, fold, Fate, MemberKey, Overflow},
    ingest::{
        event::{Event, EventType},
        rejection::{Reason, Rejection},
    },
};

/// The member keys (`Deltas::members`) this process's committed flushes
/// folded into `member_days`, so later flushes skip them: most events come
/// from a visit already counted that quarter hour, and each skipped key
/// saves the fold an index probe. Safe because a committed key stays
/// represented for good: time-zone refolds and rollup rebuilds recompute
/// `member_days` from the events and `hourly_customers` rows the key came
/// with. Two generations of at most [`GENERATION`] keys bound the memory;
/// a forgotten key is only folded again, which changes nothing.
#[derive(Clone, Default)]
pub struct FoldedMembers(Arc<Mutex<Generations>>);

#[derive(Default)]
struct Generations {
    current: HashSet<MemberKey>,
    previous: HashSet<MemberKey>,
}

/// Keys per generation (a few MB at most).
const GENERATION: usize = 32_768;

impl FoldedMembers {
    /// Drops the keys a committed flush already folded.
    pub fn retain_new(&self, keys: &mut BTreeSet<MemberKey>) {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|k| !known.current.contains(k) && !known.previous.contains(k));
    }

    /// Records the keys of a committed flush.
    pub fn remember(&self, keys: BTreeSet<MemberKey>) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if known.current.len() >= GENERATION {
                known.previous = std::mem::take(&mut known.current);
            }
            known.current.insert(key);
        }
    }
}

/// What became of one event in a flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    /// The database would not take it (`aggregate::settle` found it out by
    /// bisection); kept as a dead letter.
    Rejected(Rejection),
    /// Not stored: the database failed until the request stopped waiting.
    Unavailable,
}

/// Why a flush did not commit.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    #[error(transparent)]
    Overflow(#[from] Overflow),
    /// These sites are being rebuilt: their events must wait for it.
    #[error("sites {0:?} are being rebuilt")]
    Busy(Vec<i32>),
}

impl FlushError {
    /// The rejection to give the one event to blame, when the failure lies
    /// in what the flush held (a data error, which repeats however often
    /// the same batch is tried); `None` when it lies in the database's
    /// state or the connection (worth a retry).
    pub fn data_rejection(&self) -> Option<Rejection> {
        let overflow = || Rejection::new(Reason::SumOverflow, Overflow.to_string());
        match self {
            Self::Overflow(_) => Some(overflow()),
            Self::Storage(sqlx::Error::Database(db)) => {
                let code = db.code()?;
                // 22: data exception (22003: numeric value out of range),
                // 23: integrity constraint, 54: program limit (a row too
                // large to index). Serialization failures, deadlocks,
                // shutdowns and resource errors are the database's state.
                match code.get(..2)? {
                    _ if code == "22003" => Some(overflow()),
                    "22" | "23" | "54" => Some(Rejection::new(
                        Reason::Unstorable,
                        format!("the database refused the event (SQLSTATE {code})"),
                    )),
                    _ => None,
                }
            }
            Self::Storage(_) | Self::Busy(_) => None,
        }
    }
}

impl From<FlushError> for sqlx::Error {
    /// For callers that report database errors only (a rebuild, the
    /// check): a fold's overflow or a busy site becomes a protocol error
    /// with its message.
    fn from(error: FlushError) -> Self {
        match error {
            FlushError::Storage(error) => error,
            other => sqlx::Error::Protocol(other.to_string()),
        }
    }
}

/// A rejected event, stored with its raw payload.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub site_id: Option<i32>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
    pub payload: String,
}

/// Stores `events` and `dead` letters and either logs the counted events
/// for the fold stage or applies their rollup deltas ([`Folding`]), all in
/// one transaction. Returns each event's outcome, in input order.
pub async fn flush(
    pool: &PgPool,
    events: &[&Event],
    dead: &[&DeadLetter],
    sink: &Sink,
) -> Result<Vec<Outcome>, FlushError> {
    let mut outcomes = vec![Outcome::Duplicate; events.len()];
    let mut tx = pool.begin().await?;
    let mut sites: Vec<i32> = events.iter().map(|e| e.site_id).collect();
    sites.sort_unstable();
    sites.dedup();
    if !sites.is_empty() {
        let busy = super::rebuild::busy_sites(&mut tx, &sites).await?;
        if !busy.is_empty() {
            return Err(FlushError::Busy(busy));
        }
    }

    // Same id twice in one batch: the first occurrence stands for both.
    let mut seen = HashSet::new();
    let mut unique: Vec<usize> = (0..events.len())
        .filter(|&i| seen.insert((events[i].site_id, events[i].id.as_str())))
        .collect();
    unique.sort_by(|&a, &b| {
        (events[a].site_id, &events[a].id).cmp(&(events[b].site_id, &events[b].id))
    });
    let stored = rollups::insert_events(&mut tx, unique.iter().map(|&i| events[i])).await?;
    let new: Vec<usize> = unique
        .into_iter()
        .filter(|&i| stored.contains(&(events[i].site_id, events[i].id.clone())))
        .collect();

    let (fates, confirmations) = decide_orders(&mut tx, events, &new).await?;
    let counted: Vec<(&Event, Fate)> = new
        .iter()
        .filter_map(|&i| {
            fates
                .get(&i)
                .copied()
                .unwrap_or(Some(Fate::Plain))
                .map(|fate| (i, fate))
        })
        .map(|(i, fate)| {
            outcomes[i] = Outcome::Accepted;
            (confirmations.get(&i).unwrap_or(events[i]), fate)
        })
        .collect();
    match sink.folding {
        Folding::Deferred => {
            append_log(&mut tx, &counted).await?;
            rollups::insert_dead_letters(&mut tx, dead).await?;
            tx.commit().await?;
        }
        Folding::Inline => {
            // One writer per site, as in the fold stage: the sessions are
            // read, merged and written back whole.
            sqlx::query(
                "SELECT pg_advisory_xact_lock($1, s) FROM UNNEST($2::int[]) AS s ORDER BY s",
            )
            .bind(crate::aggregate::stage::FOLD_LOCK)
            .bind(&sites)
            .execute(&mut *tx)
            .await?;
            let mut deltas = fold(counted)?;
            sink.members.retain_new(&mut deltas.members);
            rollups::apply(&mut tx, &deltas).await?;
            rollups::insert_dead_letters(&mut tx, dead).await?;
            tx.commit().await?;
            sink.members.remember(deltas.members);
        }
    }
    Ok(outcomes)
}

/// Where a flush's counted events go, with the inline path's memory of
/// folded members.
#[derive(Clone, Default)]
pub struct Sink {
    pub folding: Folding,
    pub members: FoldedMembers,
}

/// Where a flush's counted events go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Folding {
    /// Into the fold log, one row per site, for the fold stage
    /// (`aggregate::stage`): the acknowledgement writes only rows of its
    /// own events.
    #[default]
    Deferred,
    /// Into the rollups, inside the acknowledging transaction (ingestion
    /// v1, kept for comparison in `cargo xtask bench`).
    Inline,
}

/// Appends the counted events, one `fold_pending` row per site.
async fn append_log(
    tx: &mut Transaction<'_, Postgres>,
    counted: &[(&Event, Fate)],
) -> Result<(), sqlx::Error> {
    let mut by_site: std::collections::BTreeMap<i32, Vec<(&Event, Fate)>> = Default::default();
    for &(event, fate) in counted {
        by_site
            .entry(event.site_id)
            .or_default()
            .push((event, fate));
    }
    if by_site.is_empty() {
        return Ok(());
    }
    let sites: Vec<i32> = by_site.keys().copied().collect();
    let sizes: Vec<i32> = by_site
        .values()
        .map(|v| i32::try_from(v.len()).unwrap_or(i32::MAX))
        .collect();
    let bodies: Vec<Vec<u8>> = by_site
        .into_values()
        .map(crate::aggregate::log::encode)
        .collect();
    sqlx::query(
        "INSERT INTO fold_pending (site_id, events, body) \
         SELECT * FROM UNNEST($1::int[], $2::int[], $3::bytea[])",
    )
    .bind(sites)
    .bind(sizes)
    .bind(bodies)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Each new purchase's and refund's [`Fate`] (`None` marks a purchase whose
/// order was already counted: it is removed again from `events` and
/// answered as a duplicate), and the signed confirmations of orders a
/// browser reported first, as the fold takes them: with the first report's
/// visitor and `user_id`. Those are removed from `events` too, once the
/// first report's row took their amount: one purchase row per order.
async fn decide_orders(
    tx: &mut Transaction<'_, Postgres>,
    events: &[&Event],
    new: &[usize],
) -> Result<(HashMap<usize, Option<Fate>>, HashMap<usize, Event>), sqlx::Error> {
    let mut fates = HashMap::new();
    let purchases: Vec<usize> = new
        .iter()
        .copied()
        .filter(|&i| events[i].kind == EventType::Purchase)
        .collect();
    let first_reports = rollups::insert_orders(tx, purchases.iter().map(|&i| events[i])).await?;
    let mut repeated = Vec::new();
    for &i in &purchases {
        if first_reports.contains(&(events[i].site_id, events[i].id.clone())) {
            fates.insert(i, Some(Fate::NewOrder));
        } else {
            repeated.push(i);
        }
    }
    // Only repeated reports (a signed one may verify its order) and
    // refunds (dated by their order's hour) read orders; a first report
    // just wrote its own.
    let refunds = new
        .iter()
        .copied()
        .filter(|&i| events[i].kind == EventType::Refund);
    let mut orders = rollups::lock_orders(
        tx,
        repeated.iter().copied().chain(refunds).map(|i| events[i]),
    )
    .await?;
    let mut verified_now = Vec::new();
    let mut confirmations = HashMap::new();
    let mut duplicates = Vec::new();
    for &i in &repeated {
        let event = events[i];
        let key = (
            event.site_id,
            event.transaction_id.clone().unwrap_or_default(),
        );
        match orders.get_mut(&key) {
            Some(order) if !order.verified && event.verified => {
                fates.insert(
                    i,
                    Some(Fate::Verifies {
                        hour: order.hour,
                        currency: order.currency,
                        old_minor: order.value_minor,
                        old_tax: order.tax_minor,
                        old_shipping: order.shipping_minor,
                    }),
                );
                order.verified = true;
                verified_now.push(event);
                let mut confirmation = event.clone();
                confirmation.visitor_id.clone_from(&order.visitor_id);
                confirmation.user_id.clone_from(&order.user_id);
                confirmations.insert(i, confirmation);
            }
            _ => {
                fates.insert(i, None);
                duplicates.push(event);
            }
        }
    }
    rollups::verify_orders(tx, &verified_now).await?;
    duplicates.extend(verified_now);
    rollups::delete_events(tx, &duplicates).await?;
    for &i in new {
        let event = events[i];
        if event.kind != EventType::Refund {
            continue;
        }
        let key = (
            event.site_id,
            event.transaction_id.clone().unwrap_or_default(),
        );
        let hour = orders
            .get(&key)
            .map_or_else(|| bucket_of(event.occurred_at), |o| o.hour);
        fates.insert(i, Some(Fate::RefundOf { hour }));
    }
    Ok((fates, confirmations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> MemberKey {
        (
            1,
            "visitors".to_owned(),
            format!("v-{n}"),
            chrono::DateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn folded_members_are_skipped_and_the_memory_is_bounded() {
        let folded = FoldedMembers::default();
        folded.remember((0..3).map(key).collect());
        let mut keys: BTreeSet<MemberKey> = (0..5).map(key).collect();
        folded.retain_new(&mut keys);
        assert_eq!(keys, (3..5).map(key).collect());
        // Two full generations later the first keys are forgotten.
        folded.remember((3..2 * GENERATION + 3).map(key).collect());
        let known = folded.0.lock().unwrap();
        assert!(known.current.len() <= GENERATION && known.previous.len() <= GENERATION);
        drop(known);
        let mut first: BTreeSet<MemberKey> = (0..3).map(key).collect();
        folded.retain_new(&mut first);
        assert_eq!(first.len(), 3);
    }
}
