//! Dashboard benchmark: fills a site with millions of raw events (generated
//! inside PostgreSQL with `generate_series`, then rolled up with the same
//! GROUP BYs the drift check recomputes), starts the server in this process
//! on 127.0.0.1, and times every report page and stats-API route. Prints
//! one table of p50/p99 per route and the hydrate WASM size.
//!
//! `DATABASE_URL=… cargo run --release -p server --bin dashbench -- --events 10000000`
//! A site that already holds the events is reused, so reruns only measure.
//! `--json FILE` also writes the table there, for `cargo xtask bench`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use leptos::prelude::LeptosOptions;
use server::{config::Config, startup::Application, store};
use sqlx::PgPool;

#[derive(Parser)]
#[command(about = "Time the dashboard's pages and stats API over millions of stored events")]
struct Args {
    /// Raw events the benchmark site holds.
    #[arg(long, default_value_t = 10_000_000)]
    events: i64,
    /// Timed requests per route (after 3 untimed ones).
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Days the events are spread over, ending now.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// The site to fill (created if missing).
    #[arg(long, default_value = "bench")]
    site: String,
    /// Also write the results to this file as one JSON object.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Events generated per statement (progress is printed after each).
const CHUNK: i64 = 1_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(std::env::vars()).context("configuration")?;
    let pool = store::connect(&config.database)?;
    store::migrate(&pool).await?;
    let site_id = fill(&pool, &args).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let leptos = LeptosOptions::builder()
        .output_name("storepulse")
        .site_addr(addr)
        .build();
    // A member of the site, with a fresh password each run.
    let accounts = server::accounts::Accounts::new(
        pool.clone(),
        &config.accounts,
        config.mode,
        Default::default(),
    )
    .await?;
    let password = format!(
        "bench-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    accounts
        .add_user("bench@example.com", &password, &[site_id])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Application::with_pool(config, leptos, listener, pool.clone()).await?;
    tokio::spawn(app.run_until(std::future::pending()));
    let cookie =
        server::loopback::sign_in(&format!("http://{addr}"), "bench@example.com", &password)
            .await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse()?);
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let q = format!(
        "site={}&range={}",
        args.site,
        if args.days > 7 { "30d" } else { "7d" }
    );
    let site = &args.site;
    let routes = [
        format!("/?{q}"),
        format!("/hourly?{q}"),
        format!("/products?{q}"),
        format!("/realtime?site={site}"),
        format!("/users?{q}"),
        format!("/pages?{q}"),
        format!("/?site={site}&range=today"),
        format!("/api/v1/sites/{site}/overview?{q}&compare=previous"),
        format!("/api/v1/sites/{site}/hourly-sales?{q}"),
        format!("/api/v1/sites/{site}/products?{q}"),
        format!("/api/v1/sites/{site}/users?{q}"),
        format!("/api/v1/sites/{site}/sessions?{q}"),
        format!("/api/v1/sites/{site}/pages?{q}&compare=previous"),
        format!("/api/v1/sites/{site}/realtime"),
        format!("/api/v1/sites/{site}/events/recent"),
    ];
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE site_id = $1")
        .bind(site_id)
        .fetch_one(&pool)
        .await?;
    println!(
        "\n{stored} raw events in site {site:?}; {} timed requests per route, one at a time\n",
        args.requests
    );
    println!("| route | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|");
    let mut summary = Vec::with_capacity(routes.len());
    for route in &routes {
        let url = format!("http://{addr}{route}");
        let mut times = Vec::with_capacity(args.requests);
        for i in 0..args.requests + 3 {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            let status = response.status();
            response.bytes().await?;
            anyhow::ensure!(status.is_success(), "{route} answered {status}");
            if i >= 3 {
                times.push(started.elapsed());
            }
        }
        times.sort();
        let at = |p: f64| {
            ms(times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1])
        };
        println!(
            "| `{route}` | {:.1} | {:.1} | {:.1} |",
            at(0.50),
            at(0.99),
            at(1.0)
        );
        summary.push(serde_json::json!({
            "route": route,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
        }));
    }
    wasm_size();
    if let Some(path) = &args.json {
        let summary = serde_json::json!({
            "site": site,
            "events": stored,
            "requests": args.requests,
            "routes": summary,
        });
        std::fs::write(path, format!("{summary:#}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The site's id, after generating events and rollups unless it has them.
async fn fill(pool: &PgPool, args: &Args) -> anyhow::Result<i32> {
    let site = match store::sites::find(pool, &args.site).await? {
        Some(site) => site,
        None => server::cli::add_site(pool, &args.site, SHAPE, "Europe/Berlin", "EUR", &[]).await?,
    };
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE site_id = $1")
        .bind(site.site_id)
        .fetch_one(pool)
        .await?;
    if have >= args.events && site.name == SHAPE {
        return Ok(site.site_id);
    }
    println!(
        "clearing site {:?} and generating {} events over {} days",
        args.site, args.events, args.days
    );
    for table in CLEAR {
        sqlx::query(table).bind(site.site_id).execute(pool).await?;
    }
    let started = Instant::now();
    let mut from = 0;
    while from < args.events {
        let to = (from + CHUNK).min(args.events);
        sqlx::query(GENERATE)
            .bind(site.site_id)
            .bind(from)
            .bind(to - 1)
            .bind(args.events)
            .bind(args.days)
            .execute(pool)
            .await?;
        from = to;
        println!("  {from} events ({:.0} s)", started.elapsed().as_secs_f64());
    }
    for (table, sql) in ROLLUPS {
        let t = Instant::now();
        let rows = sqlx::query(sql)
            .bind(site.site_id)
            .execute(pool)
            .await?
            .rows_affected();
        println!(
            "  {table}: {rows} rows ({:.0} s)",
            t.elapsed().as_secs_f64()
        );
    }
    sqlx::query("UPDATE sites SET name = $2 WHERE site_id = $1")
        .bind(site.site_id)
        .bind(SHAPE)
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(site.site_id)
}

/// The benchmark site's name, naming the shape of its generated events: a
/// site filled by an earlier generator (another name) is filled again.
const SHAPE: &str =
    "Benchmark shop: visitors return every 6 days, quarter-hour rollups, hour credits";

/// Every table the fill writes: the day tables too, which no trigger
/// clears any more.
const CLEAR: [&str; 19] = [
    "DELETE FROM events WHERE site_id = $1",
    "DELETE FROM orders WHERE site_id = $1",
    "DELETE FROM hourly_sales WHERE site_id = $1",
    "DELETE FROM hourly_customers WHERE site_id = $1",
    "DELETE FROM product_performance WHERE site_id = $1",
    "DELETE FROM user_activity WHERE site_id = $1",
    "DELETE FROM customer_activity WHERE site_id = $1",
    "DELETE FROM real_time_metrics WHERE site_id = $1",
    "DELETE FROM sessions WHERE site_id = $1",
    "DELETE FROM dead_letters WHERE site_id = $1",
    "DELETE FROM session_days WHERE site_id = $1",
    "DELETE FROM product_days WHERE site_id = $1",
    "DELETE FROM member_days WHERE site_id = $1",
    "DELETE FROM member_steps WHERE site_id = $1",
    "DELETE FROM member_day_totals WHERE site_id = $1",
    "DELETE FROM customer_days WHERE site_id = $1",
    "DELETE FROM page_days WHERE site_id = $1",
    "DELETE FROM page_visitor_days WHERE site_id = $1",
    "DELETE FROM landing_revenue_days WHERE site_id = $1",
];

/// Events `$2..=$3` of `$4`, evenly over the last `$5` days: 8 events per
/// session, 20 per visit of a visitor; `$4 / 100` visitors, each back every
/// `$4 / 5` events (every 6 days of 30), so ranges have returning visitors
/// and the distinct counts something to do; half page views, then product views, carts,
/// removals, checkouts, purchases (2%) and searches; one of 50 products.
const GENERATE: &str = "\
INSERT INTO events (site_id, event_id, event_type, occurred_at, received_at, visitor_id, session_id, \
    source, url, referrer_host, utm_source, currency, value_minor, transaction_id, search_term, items, \
    device, browser, os) \
SELECT $1, 'b-' || g, t.kind, t.at, t.at, 'v-' || ((g / 20) % greatest($4 / 100, 1)), 's-' || (g / 8), \
    CASE WHEN g % 10 = 0 THEN 'app' ELSE 'web' END, \
    'https://bench.example/p/' || (g % 50), \
    CASE (g / 8) % 4 WHEN 0 THEN 'google.com' WHEN 1 THEN 'instagram.com' ELSE NULL END, \
    CASE WHEN (g / 8) % 7 = 0 THEN 'newsletter' END, \
    CASE WHEN t.kind IN ('view_item', 'add_to_cart', 'remove_from_cart', 'begin_checkout', 'purchase') THEN 'EUR' END, \
    CASE WHEN t.kind = 'purchase' THEN 1000 + (g % 50) * 100 END, \
    CASE WHEN t.kind = 'purchase' THEN 'T-' || g END, \
    CASE WHEN t.kind = 'search' THEN 'term ' || (g % 30) END, \
    CASE WHEN t.kind IN ('view_item', 'add_to_cart', 'remove_from_cart', 'begin_checkout', 'purchase') \
         THEN jsonb_build_array(jsonb_build_object('item_id', 'SKU-' || (g % 50), 'item_name', 'Product ' || (g % 50), \
              'item_category', 'Category ' || (g % 5), 'item_brand', 'Brand', 'price_minor', 1000 + (g % 50) * 100, \
              'quantity', 1)) \
         ELSE '[]'::jsonb END, \
    CASE (g / 20) % 3 WHEN 0 THEN 'mobile' WHEN 1 THEN 'desktop' ELSE 'tablet' END, 'Chrome', 'Linux' \
FROM generate_series($2::int8, $3::int8) g, \
LATERAL (SELECT now() - make_interval(secs => ($4 - g)::float8 / $4 * $5 * 86400) AS at, \
    CASE WHEN g % 100 < 50 THEN 'page_view' WHEN g % 100 < 78 THEN 'view_item' \
         WHEN g % 100 < 88 THEN 'add_to_cart' WHEN g % 100 < 92 THEN 'remove_from_cart' \
         WHEN g % 100 < 96 THEN 'begin_checkout' WHEN g % 100 < 98 THEN 'purchase' ELSE 'search' END AS kind) t";

/// Rollups recomputed from the generated events (the drift check's GROUP
/// BYs), so the tables have the sizes live ingestion would give them.
const ROLLUPS: [(&str, &str); 19] = [
    (
        "orders",
        "INSERT INTO orders (site_id, transaction_id, event_id, hour, currency, value_minor, verified, visitor_id) \
         SELECT site_id, transaction_id, event_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ 'epoch'), currency, value_minor, false, visitor_id \
         FROM events WHERE site_id = $1 AND event_type = 'purchase'",
    ),
    (
        "hourly_sales",
        "INSERT INTO hourly_sales (site_id, hour, currency, revenue_unverified, orders_unverified, units, customers) \
         SELECT site_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ 'epoch'), currency, sum(value_minor), count(*), count(*), \
                count(DISTINCT visitor_id) \
         FROM events WHERE site_id = $1 AND event_type = 'purchase' GROUP BY 1, 2, 3",
    ),
    (
        "hourly_customers",
        "INSERT INTO hourly_customers (site_id, hour, currency, customer) \
         SELECT DISTINCT site_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ 'epoch'), currency, visitor_id \
         FROM events WHERE site_id = $1 AND event_type = 'purchase'",
    ),
    (
        "product_performance",
        "INSERT INTO product_performance (site_id, hour, item_id, currency, item_name, item_category, item_brand, \
            views, add_to_carts, removals, checkouts, purchases, units, revenue) \
         SELECT site_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ 'epoch'), items->0->>'item_id', 'EUR', max(items->0->>'item_name'), \
                max(items->0->>'item_category'), 'Brand', \
                count(*) FILTER (WHERE event_type = 'view_item'), count(*) FILTER (WHERE event_type = 'add_to_cart'), \
                count(*) FILTER (WHERE event_type = 'remove_from_cart'), \
                count(*) FILTER (WHERE event_type = 'begin_checkout'), count(*) FILTER (WHERE event_type = 'purchase'), \
                count(*) FILTER (WHERE event_type = 'purchase'), \
                coalesce(sum(value_minor) FILTER (WHERE event_type = 'purchase'), 0) \
         FROM events WHERE site_id = $1 AND items <> '[]'::jsonb GROUP BY 1, 2, 3",
    ),
    (
        "user_activity",
        "INSERT INTO user_activity (site_id, visitor_id, first_seen, last_seen, sessions, events, orders, spend) \
         SELECT site_id, visitor_id, min(occurred_at), max(occurred_at), count(DISTINCT session_id), count(*), \
                count(*) FILTER (WHERE event_type = 'purchase'), \
                coalesce(sum(value_minor) FILTER (WHERE event_type = 'purchase'), 0) \
         FROM events WHERE site_id = $1 GROUP BY 1, 2",
    ),
    (
        "customer_activity",
        "INSERT INTO customer_activity SELECT * FROM customer_activity_recomputed($1)",
    ),
    (
        "real_time_metrics",
        "INSERT INTO real_time_metrics (site_id, minute, event_type, source, events) \
         SELECT site_id, date_trunc('minute', occurred_at), event_type, source, count(*) \
         FROM events WHERE site_id = $1 GROUP BY 1, 2, 3, 4",
    ),
    (
        "sessions",
        "INSERT INTO sessions (site_id, session_id, visitor_id, started_at, last_seen, events, pages, \
            first_page_at, last_page_at, entry_url, exit_url, referrer_host, utm_source, source, device, browser, os, \
            product_views, add_to_carts, checkouts, purchases) \
         SELECT site_id, session_id, min(visitor_id), min(occurred_at), max(occurred_at), count(*), \
                count(*) FILTER (WHERE event_type = 'page_view'), \
                min(occurred_at) FILTER (WHERE event_type = 'page_view'), \
                max(occurred_at) FILTER (WHERE event_type = 'page_view'), min(url), max(url), \
                min(referrer_host), min(utm_source), min(source), min(device), min(browser), min(os), \
                count(*) FILTER (WHERE event_type = 'view_item'), count(*) FILTER (WHERE event_type = 'add_to_cart'), \
                count(*) FILTER (WHERE event_type = 'begin_checkout'), count(*) FILTER (WHERE event_type = 'purchase') \
         FROM events WHERE site_id = $1 GROUP BY 1, 2",
    ),
    // After hourly_customers: it folds visitors from events, customers from there.
    (
        "session_days",
        "INSERT INTO session_days SELECT * FROM session_days_recomputed($1)",
    ),
    (
        "product_days",
        "INSERT INTO product_days SELECT * FROM product_days_recomputed($1)",
    ),
    (
        "member_days",
        "INSERT INTO member_days (site_id, member_set, member, days) \
         SELECT * FROM member_days_recomputed($1)",
    ),
    // After orders and sessions: each session's orders, and those per
    // landing page and day.
    (
        "session revenue",
        "UPDATE sessions s SET revenue = r.revenue FROM session_revenue_recomputed($1) r \
          WHERE s.site_id = $1 AND s.session_id = r.session_id",
    ),
    (
        "landing_revenue_days",
        "INSERT INTO landing_revenue_days SELECT * FROM landing_revenue_days_recomputed($1)",
    ),
    // After sessions, before the steps (the landing sets' come from it).
    (
        "page_visitor_days",
        "INSERT INTO page_visitor_days SELECT * FROM page_visitor_days_recomputed($1)",
    ),
    (
        "member_steps",
        "INSERT INTO member_steps SELECT * FROM member_steps_of($1)",
    ),
    (
        "member_day_totals",
        "INSERT INTO member_day_totals \
         SELECT site_id, member_set, day, sum(members), \
                coalesce(sum(members) FILTER (WHERE prev_day = '-infinity'), 0) \
           FROM member_steps WHERE site_id = $1 GROUP BY 1, 2, 3",
    ),
    (
        "customer_days",
        "INSERT INTO customer_days SELECT * FROM customer_days_of($1)",
    ),
    (
        "page_days",
        "INSERT INTO page_days (site_id, day, path, views) \
         SELECT e.site_id, (e.occurred_at AT TIME ZONE s.timezone)::date, url_path(e.url), count(*) \
           FROM events e JOIN sites s ON s.site_id = e.site_id \
          WHERE e.site_id = $1 AND e.event_type = 'page_view' AND e.url IS NOT NULL \
          GROUP BY 1, 2, 3",
    ),
    // Customers per quarter as the credits a live flush gives.
    (
        "hour_customers",
        "UPDATE hourly_sales h SET customers = coalesce(k.n, 0) \
           FROM hourly_sales h0 LEFT JOIN ( \
                SELECT currency, hour, count(*) AS n FROM ( \
                  SELECT c.currency, min(c.hour) AS hour \
                    FROM hourly_customers c JOIN sites s ON s.site_id = c.site_id \
                   WHERE c.site_id = $1 \
                   GROUP BY c.currency, c.customer, \
                            date_trunc('hour', c.hour AT TIME ZONE s.timezone)) f \
                 GROUP BY 1, 2) k ON k.currency = h0.currency AND k.hour = h0.hour \
          WHERE h.site_id = $1 AND h0.site_id = h.site_id AND h0.hour = h.hour \
            AND h0.currency = h.currency",
    ),
];

/// The hydrate bundle's size, raw and gzip -9, if a release build exists.
fn wasm_size() {
    let path = std::path::Path::new("target/site/pkg/storepulse.wasm");
    let Ok(raw) = std::fs::metadata(path).map(|m| m.len()) else {
        println!(
            "\n(no {} here: run `cargo leptos build --release` for the WASM size)",
            path.display()
        );
        return;
    };
    let gzip = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c {} | wc -c", path.display()))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    println!(
        "\nhydrate WASM: {raw} bytes raw, {} bytes gzip -9",
        gzip.map_or_else(|| "?".to_owned(), |g| g.to_string())
    );
}
