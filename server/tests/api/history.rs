//! History import and rollup rebuild: a 100k-event NDJSON import equals
//! sending the same events live, a re-import counts nothing twice, and
//! rebuilding the rollups from raw events reproduces what live ingestion
//! built (signed orders, refunds and retried requests included).

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use server::{
    config::Config,
    demo::catalog::{self, Catalog},
    ingest::{import, signature},
    simulate::{self, Behaviour, Session},
    store::{
        self,
        rebuild::{self, Target},
    },
};
use sqlx::PgPool;

use crate::helpers::{create_site, spawn_app_with, TestApp, SECRET};

/// Every rollup row of a site, without the site id, in a stable order.
macro_rules! rows_of {
    ($table:literal) => {
        concat!(
            "SELECT (to_jsonb(t) - 'site_id')::text FROM ",
            $table,
            " t WHERE site_id = $1 ORDER BY 1"
        )
    };
}

const TABLES: [(&str, &str); 16] = [
    ("hourly_sales", rows_of!("hourly_sales")),
    ("hourly_customers", rows_of!("hourly_customers")),
    ("product_performance", rows_of!("product_performance")),
    ("real_time_metrics", rows_of!("real_time_metrics")),
    ("user_activity", rows_of!("user_activity")),
    ("customer_activity", rows_of!("customer_activity")),
    ("customer_days", rows_of!("customer_days")),
    ("sessions", rows_of!("sessions")),
    (
        "landing_revenue_days",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM landing_revenue_days t \
         WHERE site_id = $1 AND revenue <> 0 ORDER BY 1",
    ),
    (
        "page_visitor_days",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM page_visitor_days t \
         WHERE site_id = $1 AND sessions <> 0 ORDER BY 1",
    ),
    // The day tables, which the fold's upserts move: rows that hold
    // something (moves can leave zeros behind), days without `fresh`.
    (
        "session_days",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM session_days t \
         WHERE site_id = $1 AND (sessions, product_views, carts, checkouts, purchases, pages, micros, \
               bounces, engaged) <> (0, 0, 0, 0, 0, 0, 0, 0, 0) ORDER BY 1",
    ),
    (
        "product_days",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM product_days t \
         WHERE site_id = $1 AND (views, add_to_carts, removals, checkouts, purchases, units, revenue, \
               impressions) <> (0, 0, 0, 0, 0, 0, 0, 0) ORDER BY 1",
    ),
    (
        "page_days",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM page_days t \
         WHERE site_id = $1 AND views <> 0 ORDER BY 1",
    ),
    (
        "member_days",
        "SELECT concat_ws(' ', member_set, member, days) FROM member_days \
         WHERE site_id = $1 ORDER BY 1",
    ),
    (
        "member_steps",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM member_steps t \
         WHERE site_id = $1 AND members <> 0 ORDER BY 1",
    ),
    (
        "member_day_totals",
        "SELECT (to_jsonb(t) - 'site_id')::text FROM member_day_totals t \
         WHERE site_id = $1 AND (members, firsts) <> (0, 0) ORDER BY 1",
    ),
];

type Snapshot = Vec<(&'static str, Vec<String>)>;

async fn rollups(pool: &PgPool, site_id: i32) -> Snapshot {
    let mut snapshot = Vec::new();
    for (table, sql) in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .bind(site_id)
            .fetch_all(pool)
            .await
            .expect("read rollup");
        snapshot.push((table, rows));
    }
    snapshot
}

/// Asserts two snapshots are equal table by table, naming the first
/// differing row rather than printing thousands.
fn assert_same(left: &Snapshot, right: &Snapshot, what: &str) {
    for ((table, a), (_, b)) in left.iter().zip(right) {
        assert!(!a.is_empty(), "{what}: {table} is empty, nothing compared");
        let differs = a.iter().zip(b).find(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && differs.is_none(),
            "{what}: {table} differs ({} vs {} rows), first: {differs:?}",
            a.len(),
            b.len()
        );
    }
}

fn unlimited() -> Config {
    Config::load(vec![(
        "STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND".to_owned(),
        "0".to_owned(),
    )])
    .expect("config")
}

/// Simulated sessions over the last two days with at least `events` events.
fn sessions(events: usize) -> Vec<Session> {
    let catalog = Catalog::generate(catalog::SEED);
    let behaviour = Behaviour {
        refund: 0.3,
        ..Behaviour::default()
    };
    let now = Utc::now();
    let (mut out, mut count, mut n) = (Vec::new(), 0, 0);
    while count < events {
        let start = now - Duration::hours(48) + Duration::seconds(n as i64 * 5 % (47 * 3600));
        let session = simulate::session(&catalog, &behaviour, 7, n, start);
        count += session.events.len();
        out.push(session);
        n += 1;
    }
    out
}

/// Refunds that are due by now, each as a server event.
fn due_refunds(sessions: &[Session]) -> Vec<Value> {
    let now = Utc::now().timestamp_millis();
    sessions
        .iter()
        .filter_map(|s| s.refund.clone())
        .filter(|r| r["ts"].as_i64().is_some_and(|ts| ts <= now))
        .collect()
}

/// Posts `events` as envelopes of at most 100 (no `sent_at`: the events'
/// own times stand, as in an import), optionally signed.
async fn post(app: &TestApp, site: &str, user_agent: &str, events: &[Value], signed: bool) {
    for chunk in events.chunks(100) {
        let body = json!({"site": site, "events": chunk}).to_string();
        let mut request = app
            .client
            .post(app.url("/api/events"))
            .header("content-type", "application/json")
            .header("user-agent", user_agent);
        if signed {
            let now = Utc::now().timestamp();
            let header = signature::sign(body.as_bytes(), SECRET.as_bytes(), now);
            request = request.header("x-storepulse-signature", header);
        }
        let response = request.body(body).send().await.expect("post");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
    }
    app.folded().await;
}

/// Sends every session live: browser events per User-Agent, then (once all
/// orders exist) the refunds, as the shop's backend would.
async fn send_live(app: &TestApp, site: &str, sessions: &[Session], refunds: &[Value]) {
    for (_, user_agent, _) in simulate::DEVICES {
        let events: Vec<Value> = sessions
            .iter()
            .filter(|s| s.user_agent == *user_agent)
            .flat_map(|s| s.events.clone())
            .collect();
        post(app, site, user_agent, &events, false).await;
    }
    post(app, site, "shop-backend/1.0", refunds, false).await;
}

#[sqlx::test(migrations = false)]
async fn an_import_equals_sending_the_same_events_live_and_a_reimport_counts_nothing_twice(
    pool: PgPool,
) {
    let app = spawn_app_with(pool.clone(), unlimited()).await;
    let live_site = create_site(&pool, "live").await;
    let imported_site = create_site(&pool, "imported").await;
    let sessions = sessions(100_000);
    let refunds = due_refunds(&sessions);
    assert!(refunds.len() > 10, "{} refunds", refunds.len());

    // The file `simulate --out` writes: sessions in order, refunds after.
    let mut file = Vec::new();
    for s in &sessions {
        for event in &s.events {
            file.push(json!({"user_agent": s.user_agent, "event": event}).to_string());
        }
    }
    for refund in &refunds {
        file.push(json!({"user_agent": "shop-backend/1.0", "event": refund}).to_string());
    }
    // A line that is not JSON and an event of no known type: reported, kept
    // as dead letters, and no reason to lose the lines around them.
    file.insert(10, "{not json".to_owned());
    let bad_type = json!({"id": "bad-type", "type": "Purchase!", "visitor": "v", "ts": 0});
    file.insert(20, json!({"event": bad_type}).to_string());
    let text = file.join("\n");
    let lines = file.len() as u64;
    assert!(lines >= 100_000, "{lines} lines");

    send_live(&app, "live", &sessions, &refunds).await;

    let site = store::sites::find(&pool, "imported")
        .await
        .unwrap()
        .expect("site");
    let options = import::Options::new(&Default::default(), 30);
    let mut reports = 0;
    let report = import::import(&pool, &site, text.as_bytes(), &options, &mut |_| {
        reports += 1;
    })
    .await
    .expect("import");
    assert_eq!(report.lines, lines);
    assert_eq!(report.imported, lines - 2);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.bots, 0, "a line without User-Agent is no bot here");
    assert_eq!(report.rejected.get("malformed"), Some(&1));
    assert_eq!(report.rejected.get("invalid_type"), Some(&1));
    assert!(reports > 50, "progress after every batch: {reports}");
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE site_id = $1")
        .bind(imported_site)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 2);

    let count = |site_id: i32| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE site_id = $1")
                .bind(site_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(imported_site).await, count(live_site).await);
    let live = rollups(&pool, live_site).await;
    let imported = rollups(&pool, imported_site).await;
    assert_same(&live, &imported, "import vs live");

    let again = import::import(&pool, &site, text.as_bytes(), &options, &mut |_| {})
        .await
        .expect("re-import");
    assert_eq!((again.imported, again.duplicates), (0, lines - 2));
    assert_same(
        &live,
        &rollups(&pool, imported_site).await,
        "after re-import",
    );
}

#[sqlx::test(migrations = false)]
async fn rebuilding_the_rollups_reproduces_what_live_ingestion_built(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), unlimited()).await;
    let site_id = create_site(&pool, "shop").await;
    let sessions = sessions(10_000);
    send_live(&app, "shop", &sessions, &due_refunds(&sessions)).await;
    // The shop's backend confirms every order with a signed report (the
    // browser's counts once, now verified) and retries a few requests.
    let confirmations: Vec<Value> = sessions
        .iter()
        .filter_map(simulate::server_purchase)
        .collect();
    assert!(confirmations.len() > 20, "{} orders", confirmations.len());
    post(&app, "shop", "shop-backend/1.0", &confirmations, true).await;
    post(&app, "shop", "shop-backend/1.0", &confirmations[..20], true).await;
    let live = rollups(&pool, site_id).await;
    let verified: i64 = sqlx::query_scalar(
        "SELECT sum(orders_verified)::int8 FROM hourly_sales WHERE site_id = $1",
    )
    .bind(site_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(verified, confirmations.len() as i64);

    // Damage the rollups the way a bug would; the rebuild must undo it.
    for damage in [
        "UPDATE hourly_sales SET revenue_verified = revenue_verified + 1 WHERE site_id = $1",
        "DELETE FROM sessions WHERE site_id = $1 AND session_id IN \
         (SELECT session_id FROM sessions WHERE site_id = $1 LIMIT 10)",
        "UPDATE user_activity SET events = events * 2 WHERE site_id = $1",
        "DELETE FROM real_time_metrics WHERE site_id = $1 AND event_type = 'page_view'",
    ] {
        sqlx::query(damage)
            .bind(site_id)
            .execute(&pool)
            .await
            .unwrap();
    }
    assert_ne!(rollups(&pool, site_id).await, live, "the damage shows");

    let target = Target {
        site_id,
        currency: server::ingest::money::Currency::parse("USD").unwrap(),
    };
    let mut heard = 0;
    let rebuilt = rebuild::rebuild(&pool, &target, None, &mut |n| heard = n)
        .await
        .expect("rebuild");
    assert!(rebuilt.hour_events > 10_000 && heard == rebuilt.hour_events);
    assert_same(&live, &rollups(&pool, site_id).await, "full rebuild");

    // A range: yesterday's hours and the visitors seen then.
    let yesterday = Utc::now() - Duration::hours(30);
    sqlx::query("UPDATE hourly_sales SET units = units + 5 WHERE site_id = $1 AND hour > $2")
        .bind(site_id)
        .bind(yesterday)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE sessions SET pages = 0 WHERE site_id = $1 AND started_at BETWEEN $2 AND $3",
    )
    .bind(site_id)
    .bind(yesterday)
    .bind(yesterday + Duration::hours(6))
    .execute(&pool)
    .await
    .unwrap();
    // The day tables of those days too: the range's local days are
    // replaced whole.
    for sql in [
        "UPDATE session_days t SET sessions = sessions + 3 FROM sites s \
         WHERE s.site_id = $1 AND t.site_id = $1 AND t.day >= ($2 AT TIME ZONE s.timezone)::date",
        "UPDATE product_days t SET units = units + 2 FROM sites s \
         WHERE s.site_id = $1 AND t.site_id = $1 AND t.day >= ($2 AT TIME ZONE s.timezone)::date",
    ] {
        sqlx::query(sql)
            .bind(site_id)
            .bind(yesterday - Duration::hours(1))
            .execute(&pool)
            .await
            .unwrap();
    }
    let ranged = rebuild::rebuild(
        &pool,
        &target,
        Some((
            yesterday - Duration::hours(1),
            Utc::now() + Duration::hours(1),
        )),
        &mut |_| {},
    )
    .await
    .expect("range rebuild");
    assert!(ranged.hour_events < rebuilt.hour_events && ranged.visitors > 0);
    assert_same(&live, &rollups(&pool, site_id).await, "range rebuild");
}

/// A database as ingestion v1 left it (schema of migrations 0001–0014, the
/// rollups kept inside each flush) moves over to the fold stage: the later
/// migrations carry it across, `rollups check` is clean before and after,
/// and new events fold on top of it.
#[sqlx::test(migrations = false)]
async fn a_database_from_before_the_fold_stage_moves_over_unchanged(pool: PgPool) {
    // The schema as v1 left it: the migrations up to 0014, from a copy.
    let dir = std::env::temp_dir().join(format!(
        "storepulse-v1-migrations-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for entry in std::fs::read_dir(&here).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0015" {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let v1_version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v1_version, 14);
    // Today's fold writes what later migrations add: two `session_days`
    // columns (0021: bounces, engaged sessions), `page_days` (0022) and
    // the products' refunds (0023), the landing and exit pages' visitor
    // counts (0026) and the sessions' and landing pages' revenue (0027).
    // They stand here from the start; those migrations (`IF NOT EXISTS`)
    // fill them again by SQL, and the rows must come out the same.
    for sql in [
        "ALTER TABLE session_days ADD COLUMN bounces BIGINT NOT NULL DEFAULT 0, \
                                 ADD COLUMN engaged BIGINT NOT NULL DEFAULT 0",
        "CREATE TABLE page_days (site_id INTEGER NOT NULL, day DATE NOT NULL, \
                                 path TEXT COLLATE \"C\" NOT NULL, views BIGINT NOT NULL, \
                                 PRIMARY KEY (site_id, day, path))",
        "ALTER TABLE product_performance ADD COLUMN refunds BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE product_days ADD COLUMN refunds BIGINT NOT NULL DEFAULT 0",
        "CREATE TABLE page_visitor_days (site_id INTEGER NOT NULL, visitor TEXT COLLATE \"C\" NOT NULL, \
                                 dim \"char\" NOT NULL, path TEXT COLLATE \"C\" NOT NULL, day DATE NOT NULL, \
                                 sessions BIGINT NOT NULL, PRIMARY KEY (site_id, visitor, dim, path, day))",
        "ALTER TABLE sessions ADD COLUMN revenue JSONB NOT NULL DEFAULT '{}'",
        "CREATE TABLE landing_revenue_days (site_id INTEGER NOT NULL, day DATE NOT NULL, \
                                 currency TEXT COLLATE \"C\" NOT NULL, path TEXT COLLATE \"C\" NOT NULL, \
                                 revenue BIGINT NOT NULL, PRIMARY KEY (site_id, day, currency, path))",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    create_site(&pool, "v1").await;

    // v1's data: every rollup written in the flush's own transaction. The
    // fold's upserts now write `session_days` and `product_days` rows that
    // v1's triggers (still in this schema) wrote: with triggers off for
    // these connections, each row is written once, as v1 wrote it.
    let v1 = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|connection, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                connection
                    .execute("SET session_replication_role = replica")
                    .await
                    .map(|_| ())
            })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let history = sessions(5_000);
    let mut file = Vec::new();
    for s in &history {
        for event in &s.events {
            file.push(json!({"user_agent": s.user_agent, "event": event}).to_string());
        }
    }
    for refund in due_refunds(&history) {
        file.push(json!({"user_agent": "shop-backend/1.0", "event": refund}).to_string());
    }
    let site = store::sites::find(&pool, "v1")
        .await
        .unwrap()
        .expect("site");
    let mut options = import::Options::new(&Default::default(), 30);
    options.folding = store::flush::Folding::Inline;
    let report = import::import(
        &v1,
        &site,
        file.join("\n").as_bytes(),
        &options,
        &mut |_| {},
    )
    .await
    .expect("v1 import");
    assert!(report.imported > 4_000, "{report:?}");
    v1.close().await;
    let before = rollups(&pool, site.site_id).await;
    let drift = |pool: PgPool| async move { store::drift::rollup_drift(&pool).await.unwrap() };

    // Every later migration, as a server's start runs them.
    store::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate 0015 and on");
    assert!(
        drift(pool.clone()).await.is_empty(),
        "check after the upgrade"
    );
    assert_same(&before, &rollups(&pool, site.site_id).await, "the upgrade");

    // And the fold stage goes on from there: new events of the same
    // visitors fold onto the moved rows.
    let more = sessions(200);
    let mut file = Vec::new();
    for s in &more {
        for event in &s.events {
            let mut event = event.clone();
            event["id"] = json!(format!(
                "after-{}",
                event["id"].as_str().unwrap_or_default()
            ));
            file.push(json!({"user_agent": s.user_agent, "event": event}).to_string());
        }
    }
    let options = import::Options::new(&Default::default(), 30);
    let report = import::import(
        &pool,
        &site,
        file.join("\n").as_bytes(),
        &options,
        &mut |_| {},
    )
    .await
    .expect("import after the upgrade");
    assert!(report.imported > 100, "{report:?}");
    assert!(
        drift(pool.clone()).await.is_empty(),
        "check after folding more"
    );
}
