//! The Real-Time page's reads: the last minutes from `real_time_metrics` and
//! `sessions`, today's sales from `hourly_sales`, and the newest rows of
//! `events` (one backward scan of `events_site_time`, at most 50 rows).

use app::live::{FeedItem, LiveSnapshot, MinuteRow, FEED_LEN};
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use super::{
    sites::Site,
    stats::{self, Window},
};

/// Takes one snapshot of `site` at `now` (`seq` is the caller's).
pub async fn snapshot(
    pool: &PgPool,
    site: &Site,
    now: DateTime<Utc>,
) -> Result<LiveSnapshot, sqlx::Error> {
    let tz: Tz = site.timezone.parse().unwrap_or(Tz::UTC);
    let id = site.site_id;
    // Every visitor with an event in the last 5 minutes: a session's last
    // event is its `last_seen`; events without a session (the shop's signed
    // backend reports) come from their own partial index.
    let visitors: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM (",
        "  SELECT visitor_id FROM sessions WHERE site_id = $1 AND last_seen >= $2",
        "  UNION",
        "  SELECT visitor_id FROM events",
        "   WHERE site_id = $1 AND occurred_at >= $2 AND session_id IS NULL) v",
    ))
    .bind(id)
    .bind(now - Duration::minutes(5))
    .fetch_one(pool)
    .await?;
    let (active_carts, checking_out, purchased): (i64, i64, i64) = sqlx::query_as(concat!(
        "SELECT count(*) FILTER (WHERE add_to_carts > 0 AND checkouts = 0 AND purchases = 0),",
        "       count(*) FILTER (WHERE checkouts > 0 AND purchases = 0),",
        "       count(*) FILTER (WHERE purchases > 0)",
        "  FROM sessions WHERE site_id = $1 AND last_seen >= $2",
    ))
    .bind(id)
    .bind(now - Duration::minutes(10))
    .fetch_one(pool)
    .await?;
    let local_today = now.with_timezone(&tz).date_naive();
    let (revenue_today, orders_today) = stats::sales(
        pool,
        Window {
            site_id: id,
            currency: &site.currency,
            start: crate::dashboard::range::midnight(local_today, tz),
            end: now + Duration::hours(1),
        },
    )
    .await?;
    let this_minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let first_minute = this_minute - Duration::minutes(59);
    let per_minute: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(concat!(
        "SELECT minute, source, sum(events)::int8 FROM real_time_metrics",
        " WHERE site_id = $1 AND minute >= $2 GROUP BY minute, source",
    ))
    .bind(id)
    .bind(first_minute)
    .fetch_all(pool)
    .await?;
    let minutes = (0..60)
        .map(|i| {
            let minute = first_minute + Duration::minutes(i);
            let mut row = MinuteRow {
                minute: minute.with_timezone(&tz).format("%H:%M").to_string(),
                ..MinuteRow::default()
            };
            for (_, source, events) in per_minute.iter().filter(|(at, ..)| *at == minute) {
                match source.as_str() {
                    "app" => row.app += events,
                    "server" => row.server += events,
                    _ => row.web += events,
                }
            }
            row
        })
        .collect();
    let by_type: Vec<(String, i64)> = sqlx::query_as(concat!(
        "SELECT event_type, sum(events)::int8 FROM real_time_metrics",
        " WHERE site_id = $1 AND minute >= $2 GROUP BY 1 ORDER BY 2 DESC, 1",
    ))
    .bind(id)
    .bind(first_minute)
    .fetch_all(pool)
    .await?;
    type Row = (
        DateTime<Utc>,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT occurred_at, event_type, source, search_term, items->0->>'item_name', url,",
        "       value_minor, currency::text",
        "  FROM events WHERE site_id = $1 ORDER BY occurred_at DESC LIMIT $2",
    ))
    .bind(id)
    .bind(FEED_LEN as i64)
    .fetch_all(pool)
    .await?;
    let feed = rows
        .into_iter()
        .map(
            |(at, kind, source, search, item, url, value, currency)| FeedItem {
                at: at.with_timezone(&tz).format("%H:%M:%S").to_string(),
                subject: search
                    .or(item)
                    .or_else(|| url.as_deref().map(path_of))
                    .unwrap_or_default(),
                value: value.filter(|_| currency.as_deref() == Some(site.currency.as_str())),
                kind,
                source,
            },
        )
        .collect();
    Ok(LiveSnapshot {
        seq: 0,
        site: site.site_key.clone(),
        currency: site.currency.clone(),
        taken_at: now.with_timezone(&tz).format("%H:%M:%S").to_string(),
        visitors,
        active_carts,
        checking_out,
        purchased,
        revenue_today,
        orders_today,
        minutes,
        by_type,
        feed,
        chart: String::new(),
    })
}

/// `https://shop.example/p/mug?x=1` → `/p/mug`: the feed has little room.
fn path_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.path().to_owned())
}
