//! The stats API (`/api/v1/sites/{site}/…`) against events sent through the
//! real ingestion endpoint: exact money as decimal strings, the funnel, the
//! hourly rows, products, CSV, comparison and the error answers.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, now_ms, purchase, spawn_app, TestApp};

fn event(id: &str, kind: &str, session: &str, extra: Value) -> Value {
    let mut event = json!({
        "id": id, "type": kind, "ts": now_ms(), "visitor": format!("v-{session}"),
        "session": session, "url": "https://shop.example/"
    });
    if let (Some(map), Value::Object(extra)) = (event.as_object_mut(), extra) {
        map.extend(extra);
    }
    event
}

/// Two sessions: one views, carts and buys two mugs (25.98, then 5.00
/// refunded); one only views a product.
async fn seed(app: &TestApp) {
    let mug = json!([{"item_id": "SKU-17", "item_name": "Blue mug", "item_category": "Kitchen",
                      "price": 12.99, "quantity": 2}]);
    // The purchase belongs to the first visit's visitor (the helper's
    // default visitor would be a third one).
    let mut bought = purchase("e-5", "T-1");
    bought["visitor"] = json!("v-s-1");
    let events = vec![
        event(
            "e-1",
            "page_view",
            "s-1",
            json!({"url": "https://shop.example/?utm_source=news"}),
        ),
        event(
            "e-2",
            "view_item",
            "s-1",
            json!({"items": mug, "currency": "USD", "value": 25.98}),
        ),
        event(
            "e-3",
            "add_to_cart",
            "s-1",
            json!({"items": mug, "currency": "USD", "value": 25.98}),
        ),
        event(
            "e-4",
            "begin_checkout",
            "s-1",
            json!({"items": mug, "currency": "USD", "value": 25.98}),
        ),
        // Stamped after the visit's first page view (the helper stamped it
        // when it was made): a purchase a millisecond earlier would be the
        // session's first touch, and the session would lose its source.
        {
            bought["ts"] = json!(now_ms());
            bought
        },
        event(
            "e-6",
            "refund",
            "s-1",
            json!({"transaction_id": "T-1", "currency": "USD", "value": 5}),
        ),
        event(
            "e-7",
            "page_view",
            "s-2",
            json!({"referrer": "https://www.google.com/"}),
        ),
        event(
            "e-8",
            "view_item",
            "s-2",
            json!({"items": mug, "currency": "USD", "value": 25.98}),
        ),
    ];
    let (status, body) = app.post_events(&envelope(events)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 8, "{body}");
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[sqlx::test(migrations = false)]
async fn overview_counts_money_sessions_and_the_funnel_exactly(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    let (status, body) = get(&app, "/api/v1/sites/demo/overview?range=today").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["revenue"]["current"],
        json!({"amount": "25.98", "currency": "USD"})
    );
    assert_eq!(body["revenue"]["previous"], Value::Null);
    assert_eq!(body["orders"]["current"], 1);
    assert_eq!(body["visitors"]["current"], 2);
    assert_eq!(body["sessions"]["current"], 2);
    assert_eq!(body["converted_sessions"]["current"], 1);
    let funnel: Vec<i64> = body["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessions"].as_i64().unwrap())
        .collect();
    assert_eq!(funnel, [2, 2, 1, 1, 1]);
    assert_eq!(body["top_products"][0]["revenue"]["amount"], "25.98");
    assert_eq!(body["top_products"][0]["views"], 2);
    assert_eq!(
        body["sources"],
        json!([{"name": "google.com", "sessions": 1}, {"name": "news", "sessions": 1}])
    );
    assert_eq!(body["period"]["site"], "demo");
    assert_eq!(body["period"]["currency"], "USD");

    let (_, compared) = get(
        &app,
        "/api/v1/sites/demo/overview?range=today&compare=previous",
    )
    .await;
    assert_eq!(compared["orders"], json!({"current": 1, "previous": 0}));
    assert_eq!(
        compared["first_time_buyers"],
        json!({"current": 1, "previous": 0})
    );
    let (_, yesterday) = get(&app, "/api/v1/sites/demo/overview?range=yesterday").await;
    assert_eq!(
        yesterday["orders"]["current"], 0,
        "today's order is not yesterday's"
    );
}

#[sqlx::test(migrations = false)]
async fn hourly_sales_keep_refunds_and_net_apart(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    let (status, body) = get(&app, "/api/v1/sites/demo/hourly-sales?range=7d").await;
    assert_eq!(status, 200, "{body}");
    let hours = body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 1);
    let totals = &body["totals"];
    assert_eq!(totals["revenue"]["amount"], "25.98");
    assert_eq!(totals["revenue_unverified"]["amount"], "25.98");
    assert_eq!(totals["revenue_verified"]["amount"], "0.00");
    assert_eq!(totals["refunds"]["amount"], "5.00");
    assert_eq!(totals["net_revenue"]["amount"], "20.98");
    assert_eq!(totals["orders"], 1);
    assert_eq!(totals["units"], 2);
    assert_eq!(totals["customers"], 1);
    assert_eq!(totals["average_order_value"]["amount"], "25.98");
    assert_eq!(
        (&totals["refund_count"], &totals["refund_rate"]),
        (&json!(1), &json!(1.0))
    );
    // Seven days are more than the page shows hour by hour: every day has
    // a row, zeros included, that sums its hours; customers are the day's
    // distinct ones.
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 7, "{body}");
    let today = body["period"]["to"].as_str().unwrap();
    assert_eq!(days[6]["hour"], today);
    assert_eq!(days[6]["net_revenue"]["amount"], "20.98");
    assert_eq!(days[6]["customers"], 1);
    assert_eq!(days[6]["orders"], 1);
    for day in &days[..6] {
        assert_eq!(day["revenue"]["amount"], "0.00", "{day}");
        assert_eq!((&day["orders"], &day["customers"]), (&json!(0), &json!(0)));
    }
    let (_, short) = get(&app, "/api/v1/sites/demo/hourly-sales?range=today").await;
    assert_eq!(short["days"], json!([]), "a day goes hour by hour");
    assert_eq!(short["hours"], body["hours"]);
    // The page: a row per day, each day a link to its own hours.
    let html = app.get_text("/hourly?site=demo&range=7d").await;
    let link = format!("/hourly?site=demo&amp;range=custom&amp;from={today}&amp;to={today}");
    assert!(html.contains(&link), "{link} in the page");
    assert_eq!(
        table_rows(&html, "hourly-table").len(),
        7 + 1,
        "days and the total"
    );
}

#[sqlx::test(migrations = false)]
async fn products_and_their_csv_show_the_same_numbers(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    let (status, body) = get(&app, "/api/v1/sites/demo/products").await;
    assert_eq!(status, 200, "{body}");
    let mug = &body["products"][0];
    assert_eq!(
        (
            &mug["item_id"],
            &mug["views"],
            &mug["add_to_carts"],
            &mug["checkouts"],
            &mug["purchases"],
            &mug["units"]
        ),
        (
            &json!("SKU-17"),
            &json!(2),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(2)
        )
    );
    assert_eq!(body["categories"][0]["category"], "Kitchen");
    let csv = app.get_text("/api/v1/sites/demo/products.csv").await;
    assert!(
        csv.contains("SKU-17,Blue mug,Kitchen,2,1,0,1,1,2,25.98,USD,0\r\n"),
        "{csv}"
    );
    // The seed's refund names no item (money only): no product refund.
    assert_eq!(
        (&mug["refunds"], &mug["refund_rate"]),
        (&json!(0), &json!(0.0))
    );
    // One naming the mug: one refund of one order with it.
    let refund = event(
        "e-r2",
        "refund",
        "s-1",
        json!({"transaction_id": "T-1", "currency": "USD", "value": 12.99,
               "items": [{"item_id": "SKU-17", "item_name": "Blue mug", "item_category": "Kitchen",
                          "price": 12.99, "quantity": 1}]}),
    );
    let (status, answer) = app.post_events(&envelope(vec![refund])).await;
    assert_eq!((status, &answer["accepted"]), (202, &json!(1)), "{answer}");
    let (_, body) = get(&app, "/api/v1/sites/demo/products").await;
    let mug = &body["products"][0];
    assert_eq!(
        (&mug["refunds"], &mug["refund_rate"], &mug["units"]),
        (&json!(1), &json!(1.0), &json!(1))
    );
    assert!(server::store::drift::rollup_drift(&pool)
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrations = false)]
async fn unknown_sites_and_bad_ranges_are_refused_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let (status, body) = get(&app, "/api/v1/sites/nope/overview").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no site \"nope\""))
    );
    for query in [
        "range=forever",
        "range=custom&from=2026-01-02&to=2026-01-01",
        "range=custom&from=x&to=y",
    ] {
        let (status, body) = get(&app, &format!("/api/v1/sites/demo/hourly-sales?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("bad range"),
            "{body}"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn a_visit_is_attributed_to_its_touch_even_when_events_share_an_instant(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let ts = now_ms();
    let at = |id: &str, session: &str, extra: Value| {
        let mut e = event(id, "view_item", session, extra);
        e["ts"] = json!(ts);
        e
    };
    // Events of one batch share the instant (time = received_at - (sent_at -
    // ts)); in one flush, in either order.
    let referred = json!({"referrer": "https://news.example/"});
    let batch = vec![
        at("a-1", "s-a", json!({})),
        at("a-2", "s-a", referred.clone()),
    ];
    let reversed = vec![at("b-2", "s-b", referred), at("b-1", "s-b", json!({}))];
    for events in [batch, reversed] {
        let body = json!({"site": "demo", "sent_at": ts, "events": events});
        assert_eq!(app.post_events(&body).await.0, 202);
    }
    let (_, body) = get(&app, "/api/v1/sites/demo/overview?range=today").await;
    assert_eq!(
        body["sources"],
        json!([{"name": "news.example", "sessions": 2}]),
        "{body}"
    );
}

#[sqlx::test(migrations = false)]
async fn users_sessions_realtime_and_recent_events_answer_from_the_same_data(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;

    let (status, users) = get(&app, "/api/v1/sites/demo/users?range=today").await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(
        (users["sessions"].as_i64(), users["page_views"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(users["new_visitors"], 2);
    assert_eq!(users["returning_visitors"], 0);
    assert_eq!(
        users["top_customers"],
        json!([{"customer": "cust-1", "orders": 1, "spend": {"amount": "25.98", "currency": "USD"},
                "last_seen": users["top_customers"][0]["last_seen"]}])
    );
    assert_eq!(
        users["devices"],
        json!([{"name": "desktop", "sessions": 2}])
    );

    let (status, sessions) = get(&app, "/api/v1/sites/demo/sessions?range=today").await;
    assert_eq!(status, 200, "{sessions}");
    let rows = sessions["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let first = rows.iter().find(|s| s["session_id"] == "s-1").expect("s-1");
    assert_eq!(
        (first["pages"].as_i64(), first["purchases"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["utm_source"], "news");

    let (status, live) = get(&app, "/api/v1/sites/demo/realtime").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["orders_today"], 1);
    assert_eq!(live["revenue_today"]["amount"], "25.98");
    assert_eq!(live["visitors_last_5_minutes"], 2);
    assert_eq!(live["purchased"], 1);
    let per_minute: i64 = live["events_per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["web"].as_i64().unwrap())
        .sum();
    assert_eq!(per_minute, 8);

    let (status, recent) = get(&app, "/api/v1/sites/demo/events/recent").await;
    assert_eq!(status, 200, "{recent}");
    assert_eq!(recent["events"].as_array().map(Vec::len), Some(8));
    let refund = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "refund")
        .expect("the refund");
    assert_eq!(refund["value"]["amount"], "5.00");
}

/// Distinct visitors (new and returning) and customers of every range of
/// local days equal `count(DISTINCT …)` over the raw events, whatever order
/// each visitor's days arrive in, in a zone half an hour off UTC's hours and
/// again after the site moves to another zone.
#[sqlx::test(migrations = false)]
async fn distinct_visitors_and_customers_of_every_range_equal_a_recount(pool: PgPool) {
    use chrono::{Duration, NaiveDate, Utc};
    use server::store::{sites, stats};

    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    let zone = |tz: &'static str| sites::SiteChanges {
        timezone: Some(tz),
        ..Default::default()
    };
    sites::update(&pool, "demo", &zone("Asia/Kolkata"))
        .await
        .unwrap()
        .unwrap();
    // 14 visitors, each active at a few pseudo-random instants of the last
    // 6 days and 20 hours; every third event of a visitor is a purchase.
    let now = Utc::now();
    let mut state = 0x2545_f491_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut events = Vec::new();
    for visitor in 0..14 {
        for k in 0..1 + next(6) {
            let at = now - Duration::minutes(5 + next(6 * 24 * 60 + 20 * 60) as i64);
            let id = format!("d-{visitor}-{k}");
            let mut e = if k % 3 == 2 {
                purchase(&id, &format!("T-{visitor}-{k}"))
            } else {
                json!({"id": id, "type": "page_view", "url": "https://shop.example/"})
            };
            e["ts"] = json!(at.timestamp_millis());
            e["visitor"] = json!(format!("v-{visitor}"));
            e["session"] = json!(format!("s-{visitor}-{k}"));
            if visitor % 2 == 0 {
                e["user_id"] = json!(format!("u-{visitor}"));
            } else if let Some(map) = e.as_object_mut() {
                map.remove("user_id");
            }
            events.push(e);
        }
    }
    // Shuffled, in batches of five: later days often come first.
    for i in (1..events.len()).rev() {
        events.swap(i, next(i as u64 + 1) as usize);
    }
    for batch in events.chunks(5) {
        let (status, answer) = app.post_events(&envelope(batch.to_vec())).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["rejected"], json!([]), "{answer}");
    }
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");

    let recount = |tz: &'static str, a: NaiveDate, b: NaiveDate| {
        let pool = pool.clone();
        async move {
            // Customers count by the local day of their order's report
            // bucket, the UTC quarter hour (in a half-hour zone a UTC hour
            // can straddle local midnight).
            sqlx::query_as::<_, (i64, i64, i64)>(
                "WITH v AS (SELECT visitor_id, min((occurred_at AT TIME ZONE $1)::date) AS first \
                              FROM events GROUP BY 1) \
                 SELECT count(DISTINCT e.visitor_id) FILTER (WHERE e.day BETWEEN $2 AND $3), \
                        count(DISTINCT e.visitor_id) FILTER (WHERE e.day BETWEEN $2 AND $3 \
                                                               AND v.first >= $2), \
                        count(DISTINCT coalesce(e.user_id, e.visitor_id)) \
                          FILTER (WHERE e.event_type = 'purchase' AND e.hour_day BETWEEN $2 AND $3) \
                   FROM (SELECT *, (occurred_at AT TIME ZONE $1)::date AS day, \
                                (date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00Z') AT TIME ZONE $1)::date AS hour_day \
                           FROM events) e JOIN v USING (visitor_id)",
            )
            .bind(tz)
            .bind(a)
            .bind(b)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    for tz in ["Asia/Kolkata", "America/New_York"] {
        if tz != "Asia/Kolkata" {
            sites::update(&pool, "demo", &zone(tz))
                .await
                .unwrap()
                .unwrap();
            // Page views again, at instants already counted: the server
            // remembers those visits as folded, and the refold must have
            // kept their days.
            let again: Vec<_> = events
                .iter()
                .filter(|e| e["type"] == "page_view")
                .take(10)
                .map(|e| {
                    let mut e = e.clone();
                    e["id"] = json!(format!("again-{}", e["id"].as_str().unwrap()));
                    e
                })
                .collect();
            let (status, answer) = app.post_events(&envelope(again)).await;
            assert_eq!((status, &answer["accepted"]), (202, &json!(10)), "{answer}");
            let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
            assert!(drift.is_empty(), "{drift:?}");
        }
        let today = now
            .with_timezone(&tz.parse::<chrono_tz::Tz>().unwrap())
            .date_naive();
        let days: Vec<NaiveDate> = (0..9).rev().map(|d| today - Duration::days(d)).collect();
        let mut nonzero = 0;
        for (i, &a) in days.iter().enumerate() {
            for &b in &days[i..] {
                let w = stats::Window {
                    site_id,
                    currency: "USD",
                    start: now,
                    end: now,
                };
                let (new, returning) =
                    stats::new_and_returning(&pool, w, stats::Days::whole_days(a, b))
                        .await
                        .unwrap();
                let customers = stats::customers(&pool, w, stats::Days::whole_days(a, b))
                    .await
                    .unwrap();
                let (visitors, new_expected, customers_expected) = recount(tz, a, b).await;
                assert_eq!(
                    (new + returning, new, customers),
                    (visitors, new_expected, customers_expected),
                    "{tz} {a}..={b}"
                );
                // First-time buyers: customers whose first order's bucket
                // day is in the range.
                let firsts: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM (SELECT coalesce(user_id, visitor_id) AS c, \
                            min((date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00Z') \
                                 AT TIME ZONE $1)::date) AS first \
                       FROM events WHERE event_type = 'purchase' GROUP BY 1) f \
                      WHERE first BETWEEN $2 AND $3",
                )
                .bind(tz)
                .bind(a)
                .bind(b)
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!(
                    stats::first_time_customers(&pool, w, stats::Days::whole_days(a, b))
                        .await
                        .unwrap(),
                    firsts,
                    "{tz} {a}..={b} first-time buyers"
                );
                if a == b {
                    // The Hourly page's day rows read a day's customers apart.
                    let per_day = stats::customers_per_day(&pool, w, stats::Days::whole_days(a, a))
                        .await
                        .unwrap();
                    assert_eq!(
                        per_day.first().map_or(0, |d| d.1),
                        customers_expected,
                        "{tz} {a}"
                    );
                }
                nonzero += i64::from(returning > 0);
            }
        }
        // The data has returning visitors for the check to be about.
        assert!(nonzero > 0, "{tz}: no range with a returning visitor");
    }
}

/// The rows of the table `data-testid=testid` in `html`, each a list of
/// its cells' text.
fn table_rows(html: &str, testid: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!(r#"data-testid="{testid}""#))
        .unwrap_or_else(|| panic!("no table {testid}: {html}"));
    let table = &html[start..start + html[start..].find("</table>").expect("</table>")];
    let body = &table[table.find("<tbody").expect("<tbody")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let mut text = String::new();
                    let mut in_tag = true; // the rest of `<td…>`
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text
                })
                .collect()
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn source_shares_are_of_all_sessions_with_the_unlisted_ones_as_other(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // 21 sessions from 13 sources: one with 9, twelve with 1 each. Ten
    // sources are listed; the other three sessions are "Other".
    let mut events = Vec::new();
    for n in 0..21 {
        let source = if n < 9 {
            "big".to_owned()
        } else {
            format!("small-{n:02}")
        };
        let url = format!("https://shop.example/?utm_source={source}");
        events.push(event(
            &format!("e-{n}"),
            "page_view",
            &format!("s-{n}"),
            json!({ "url": url }),
        ));
    }
    let (status, body) = app.post_events(&envelope(events)).await;
    assert_eq!(
        (status, body["accepted"].as_i64()),
        (202, Some(21)),
        "{body}"
    );

    // The recount: every session of the range by source, from `sessions`.
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(utm_source, referrer_host, 'Direct'), count(*) FROM sessions \
          GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let total: i64 = counted.iter().map(|(_, n)| n).sum();
    assert_eq!((total, counted.len()), (21, 13));
    let share = |n: i64| format!("{:.1}%", n as f64 * 100.0 / total as f64);
    let mut expected: Vec<Vec<String>> = counted[..10]
        .iter()
        .map(|(name, n)| vec![name.clone(), n.to_string(), share(*n)])
        .collect();
    let other: i64 = counted[10..].iter().map(|(_, n)| n).sum();
    expected.push(vec!["Other".to_owned(), other.to_string(), share(other)]);

    let html = app.get_text("/?site=demo&range=today").await;
    assert_eq!(table_rows(&html, "sources"), expected);
    // Devices list every session too: their shares add up to all of them.
    assert_eq!(
        table_rows(&html, "devices"),
        [vec![
            "desktop".to_owned(),
            "21".to_owned(),
            "100.0%".to_owned()
        ]]
    );

    let (_, body) = get(&app, "/api/v1/sites/demo/overview?range=today").await;
    assert_eq!(body["sources"].as_array().map(Vec::len), Some(10), "{body}");
    assert_eq!(body["other_sources"], other, "{body}");
}

#[sqlx::test(migrations = false)]
async fn real_time_visitors_include_a_visitor_seen_only_by_the_shops_backend(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    // A phone order: the backend's signed report, no browser, no session.
    let backend = json!({
        "id": "b-1", "type": "purchase", "ts": now_ms(), "source": "server",
        "visitor": "v-phone", "user_id": "cust-phone", "transaction_id": "T-phone",
        "currency": "USD", "value": 40
    });
    let (status, receipt) = app.post_signed(&envelope(vec![backend])).await;
    assert_eq!((status, receipt["accepted"].as_u64()), (202, Some(1)));
    let (_, live) = get(&app, "/api/v1/sites/demo/realtime").await;
    let recomputed: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT visitor_id) FROM events WHERE occurred_at >= now() - interval '5 minutes'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recomputed, 3);
    assert_eq!(live["visitors_last_5_minutes"], recomputed, "{live}");
}

#[sqlx::test(migrations = false)]
async fn a_half_hour_zone_gets_its_own_local_hours_and_days(pool: PgPool) {
    use chrono::{Days, NaiveTime, TimeZone};
    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    sqlx::query("UPDATE sites SET timezone = 'Asia/Kolkata'")
        .execute(&pool)
        .await
        .unwrap();
    let kolkata = chrono_tz::Asia::Kolkata;
    let day = chrono::Utc::now().with_timezone(&kolkata).date_naive() - Days::new(2);
    let at = |day: chrono::NaiveDate, hh: u32, mm: u32| {
        let local = day.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap());
        kolkata
            .from_local_datetime(&local)
            .unwrap()
            .timestamp_millis()
    };
    let order = |id: &str, ts: i64, value: &str| {
        let mut event = purchase(id, &format!("T-{id}"));
        event["ts"] = json!(ts);
        event["value"] = json!(value);
        event["user_id"] = json!(format!("cust-{id}"));
        event
    };
    let events = vec![
        // 23:50 the day before: not this day.
        order("k-0", at(day - Days::new(1), 23, 50), "7.00"),
        // 00:10 local is 18:40 UTC the day before: this day's first hour.
        order("k-1", at(day, 0, 10), "100.00"),
        order("k-2", at(day, 10, 20), "20.00"),
        order("k-3", at(day, 10, 40), "25.50"),
        // k-2's buyer again at 10:55 local: another UTC hour (05:25), the
        // same local hour, one customer.
        {
            let mut again = order("k-4", at(day, 10, 55), "0.01");
            again["user_id"] = json!("cust-k-2");
            again
        },
    ];
    let body = json!({ "site": "demo", "events": events });
    let (status, receipt) = app.post_events(&body).await;
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (202, Some(5)),
        "{receipt}"
    );

    let query = format!("range=custom&from={day}&to={day}");
    let (status, body) = get(&app, &format!("/api/v1/sites/demo/hourly-sales?{query}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totals"]["revenue"]["amount"], "145.51", "{body}");
    assert_eq!(body["totals"]["orders"], 4);
    let hours: Vec<(String, i64, i64)> = body["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hour"].as_str().unwrap().to_owned(),
                h["orders"].as_i64().unwrap(),
                h["customers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hours,
        [
            (format!("{day} 00:00"), 1, 1),
            (format!("{day} 10:00"), 3, 2)
        ]
    );
    // A ranged rebuild of 10:00–10:30 local (04:30–05:00 UTC) would cut the
    // local hour in two (the 10:20 order's quarter holds its buyer's
    // credit, the 10:55 one of the same buyer does not): the rebuild grows
    // it to the whole local day, and the numbers stay.
    let cut = kolkata
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap()))
        .unwrap()
        .with_timezone(&chrono::Utc);
    let target = server::store::rebuild::Target {
        site_id,
        currency: server::ingest::money::Currency::parse("USD").unwrap(),
    };
    server::store::rebuild::rebuild(
        &pool,
        &target,
        Some((cut, cut + chrono::Duration::minutes(30))),
        &mut |_| {},
    )
    .await
    .expect("ranged rebuild");
    let (_, again) = get(&app, &format!("/api/v1/sites/demo/hourly-sales?{query}")).await;
    assert_eq!(again["hours"], body["hours"], "{again}");
    let (_, overview) = get(&app, &format!("/api/v1/sites/demo/overview?{query}")).await;
    assert_eq!(
        overview["revenue"]["current"]["amount"], "145.51",
        "{overview}"
    );
    assert!(server::store::drift::rollup_drift(&pool)
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrations = false)]
async fn a_product_only_viewed_is_not_a_top_product(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let viewed = event(
        "v-only",
        "view_item",
        "s-9",
        json!({"items": [{"item_id": "SKU-9", "item_name": "Lamp", "price": 30, "quantity": 1}],
               "currency": "USD", "value": 30}),
    );
    let (status, _) = app.post_events(&envelope(vec![viewed])).await;
    assert_eq!(status, 202);
    let (_, body) = get(&app, "/api/v1/sites/demo/overview?range=today").await;
    assert_eq!(body["top_products"], json!([]), "{body}");
    let (_, products) = get(&app, "/api/v1/sites/demo/products?range=today").await;
    assert_eq!(
        products["products"][0]["views"], 1,
        "still on Products: {products}"
    );
    let page = app.get_text("/?site=demo&range=today").await;
    assert!(page.contains("No products sold in this range."));
}

#[sqlx::test(migrations = false)]
async fn compare_gives_every_route_the_previous_period_in_the_same_shape(pool: PgPool) {
    use chrono::{Duration, Utc};
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    // One order a day ago: yesterday's, not today's.
    let mut before = purchase("old-1", "T-OLD");
    before["ts"] = json!((Utc::now() - Duration::days(1)).timestamp_millis());
    before["session"] = json!("s-old");
    before["value"] = json!(12.99);
    before["items"] = json!([{"item_id": "SKU-17", "item_name": "Blue mug", "item_category": "Kitchen",
                              "price": 12.99, "quantity": 1}]);
    let (status, body) = app.post_events(&envelope(vec![before])).await;
    assert_eq!((status, &body["accepted"]), (202, &json!(1)), "{body}");

    let (_, hourly) = get(
        &app,
        "/api/v1/sites/demo/hourly-sales?range=today&compare=previous",
    )
    .await;
    assert_eq!(hourly["totals"]["revenue"]["amount"], "25.98");
    let previous = &hourly["previous"];
    assert_eq!(previous["totals"]["revenue"]["amount"], "12.99", "{hourly}");
    assert_eq!(previous["totals"]["orders"], 1);
    assert_eq!(previous["hours"].as_array().map(Vec::len), Some(1));
    assert!(previous.get("period").is_none(), "the period names both");
    let (_, products) = get(
        &app,
        "/api/v1/sites/demo/products?range=today&compare=previous",
    )
    .await;
    assert_eq!(
        products["previous"]["products"][0]["revenue"]["amount"], "12.99",
        "{products}"
    );
    assert_eq!(products["previous"]["products"][0]["units"], 1);
    let (_, users) = get(
        &app,
        "/api/v1/sites/demo/users?range=today&compare=previous",
    )
    .await;
    assert_eq!(
        (&users["sessions"], &users["previous"]["sessions"]),
        (&json!(2), &json!(1)),
        "{users}"
    );
    let (_, overview) = get(
        &app,
        "/api/v1/sites/demo/overview?range=today&compare=previous",
    )
    .await;
    assert_eq!(overview["revenue"]["previous"]["amount"], "12.99");
    assert_eq!(
        overview["previous"]["revenue"]["current"]["amount"], "12.99",
        "{overview}"
    );
    let (_, sessions) = get(
        &app,
        "/api/v1/sites/demo/sessions?range=today&compare=previous",
    )
    .await;
    assert_eq!(
        sessions["previous"]["sessions"].as_array().map(Vec::len),
        Some(1),
        "{sessions}"
    );
    // Without compare, no previous.
    let (_, plain) = get(&app, "/api/v1/sites/demo/hourly-sales?range=today").await;
    assert!(plain.get("previous").is_none());
    // The same weekday a week back: yesterday's order is not in it.
    let (_, week) = get(
        &app,
        "/api/v1/sites/demo/hourly-sales?range=today&compare=week",
    )
    .await;
    let today = week["period"]["to"].as_str().unwrap();
    let back = (chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap() - Duration::days(7))
        .to_string();
    assert_eq!(week["period"]["previous"], json!([back, back]), "{week}");
    assert_eq!(week["previous"]["totals"]["orders"], 0);

    // The pages show the previous value beside the change.
    let html = app
        .get_text("/hourly?site=demo&range=today&compare=previous")
        .await;
    assert!(
        html.contains("+100.0% vs $12.99"),
        "revenue change on Hourly"
    );
    let html = app
        .get_text("/products?site=demo&range=today&compare=previous")
        .await;
    assert!(html.contains("Revenue before"), "products compare");
    let html = app
        .get_text("/?site=demo&range=today&compare=previous")
        .await;
    assert!(
        html.contains(" pp vs "),
        "the conversion rate changes in points"
    );
}

#[sqlx::test(migrations = false)]
async fn pages_report_landing_and_exit_pages_with_bounces_and_engagement(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    seed(&app).await;
    // A third visit: two pages, so not a bounce, and engaged.
    let mut events = Vec::new();
    for (i, url) in [
        "https://shop.example/p/lamp?ref=x",
        "https://shop.example/cart",
    ]
    .iter()
    .enumerate()
    {
        let mut e = event(
            &format!("pg-{i}"),
            "page_view",
            "s-3",
            json!({ "url": url }),
        );
        e["ts"] = json!(now_ms() + i as i64);
        events.push(e);
    }
    let (status, body) = app.post_events(&envelope(events)).await;
    assert_eq!(status, 202, "{body}");

    let (status, pages) = get(&app, "/api/v1/sites/demo/pages?range=today").await;
    assert_eq!(status, 200, "{pages}");
    // Recounted from the sessions: landing and exit paths, one page view
    // (a bounce), engaged (10 s, two pages or a purchase), bought.
    let recount = |column: &'static str| {
        let pool = pool.clone();
        async move {
            // `column` is one of two names written here, never input.
            let rows: Vec<(String, i64, i64, i64, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT url_path({column}), count(*), count(*) FILTER (WHERE pages = 1), \
                        count(*) FILTER (WHERE last_seen - started_at >= interval '10 seconds' \
                                           OR pages >= 2 OR purchases > 0), \
                        count(*) FILTER (WHERE purchases > 0) \
                   FROM sessions WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.into_iter()
                .map(|(path, sessions, bounces, engaged, converted)| {
                    json!({"path": path, "sessions": sessions, "bounces": bounces,
                           "engaged_sessions": engaged, "converted_sessions": converted})
                })
                .collect::<Vec<_>>()
        }
    };
    let shown = |key: &str| {
        pages[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                json!({"path": p["path"], "sessions": p["sessions"], "bounces": p["bounces"],
                       "engaged_sessions": p["engaged_sessions"],
                       "converted_sessions": p["converted_sessions"]})
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shown("landing_pages"), recount("entry_url").await);
    assert_eq!(shown("exit_pages"), recount("exit_url").await);
    assert!(
        shown("landing_pages")
            .iter()
            .any(|p| p["path"] == "/p/lamp"),
        "{pages}"
    );
    assert!(shown("exit_pages").iter().any(|p| p["path"] == "/cart"));
    // Revenue per landing page, recounted from the purchase events of the
    // sessions that landed there.
    let revenue: Vec<(String, i64)> = sqlx::query_as(
        "SELECT url_path(s.entry_url), sum(e.value_minor)::int8 \
           FROM events e JOIN sessions s USING (site_id, session_id) \
          WHERE e.event_type = 'purchase' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(revenue, [("/".to_owned(), 2598)]);
    for row in pages["landing_pages"].as_array().unwrap() {
        let minor = revenue
            .iter()
            .find(|(path, _)| row["path"] == path.as_str())
            .map_or(0, |(_, minor)| *minor);
        assert_eq!(
            row["revenue"],
            json!({"amount": format!("{}.{:02}", minor / 100, minor % 100), "currency": "USD"}),
            "{row}"
        );
    }
    assert!(pages["exit_pages"][0].get("revenue").is_none());
    let (sessions, bounces, engaged): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE pages = 1), \
                count(*) FILTER (WHERE last_seen - started_at >= interval '10 seconds' \
                                   OR pages >= 2 OR purchases > 0) FROM sessions",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (
            &pages["sessions"],
            &pages["bounces"],
            &pages["engaged_sessions"]
        ),
        (&json!(sessions), &json!(bounces), &json!(engaged))
    );
    assert_eq!((sessions, bounces), (3, 2), "two one-page visits of three");
    // Top pages: page views by path, recounted from the raw events.
    let top: Vec<(String, i64)> = sqlx::query_as(
        "SELECT url_path(url), count(*) FROM events WHERE event_type = 'page_view' \
          GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let shown_top: Vec<(String, i64)> = pages["top_pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["page_views"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown_top, top);
    assert!(top.iter().any(|(path, n)| path == "/cart" && *n == 1));
    let (_, overview) = get(&app, "/api/v1/sites/demo/overview?range=today").await;
    assert_eq!(overview["bounces"]["current"], json!(bounces));
    assert_eq!(overview["engaged_sessions"]["current"], json!(engaged));
    // The page: both tables, and the header links to it.
    let html = app.get_text("/pages?site=demo&range=today").await;
    assert_eq!(
        table_rows(&html, "landing-pages").len(),
        shown("landing_pages").len()
    );
    assert!(
        html.contains(r#"href="/pages?site=demo&amp;range=today""#),
        "nav"
    );
}

/// `until=HH:MM` ends a range's last day at that local time, on every
/// route, and a comparison of a range that runs until now goes as far into
/// its previous period: each figure equals a recomputation from the raw
/// events before the cut.
#[sqlx::test(migrations = false)]
async fn a_comparison_until_now_stops_the_previous_period_at_the_same_time(pool: PgPool) {
    use chrono::{Duration, NaiveTime, Utc};
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // The site's zone is UTC. Day `d` is yesterday, `d - 1` the day before.
    let d = (Utc::now() - Duration::days(1)).date_naive();
    let at = |days_back: i64, hh: u32| {
        (d - Duration::days(days_back))
            .and_time(NaiveTime::from_hms_opt(hh, 0, 0).unwrap())
            .and_utc()
            .timestamp_millis()
    };
    let mug = |quantity: i64| {
        json!([{"item_id": "SKU-17", "item_name": "Blue mug", "item_category": "Kitchen",
                "price": 10, "quantity": quantity}])
    };
    let ev = |id: &str, kind: &str, visitor: &str, session: &str, ts: i64, extra: Value| {
        let mut e = event(id, kind, session, extra);
        e["visitor"] = json!(visitor);
        e["ts"] = json!(ts);
        e
    };
    let bought = |id: &str, visitor: &str, session: &str, ts: i64, n: i64| {
        ev(
            id,
            "purchase",
            visitor,
            session,
            ts + 1,
            json!({"transaction_id": format!("T-{id}"), "currency": "USD", "value": 10 * n,
                   "items": mug(n)}),
        )
    };
    let events = vec![
        // Three days back: v-c's first visit.
        ev(
            "c-0",
            "page_view",
            "v-c",
            "s-c0",
            at(3, 10),
            json!({"url": "https://shop.example/c"}),
        ),
        // The day before `d`: v-b.
        ev(
            "z-1",
            "page_view",
            "v-b",
            "s-z",
            at(1, 10),
            json!({"url": "https://shop.example/z"}),
        ),
        // On `d` before noon: v-a views, buys one; v-c comes back.
        ev(
            "a-1",
            "page_view",
            "v-a",
            "s-a",
            at(0, 8),
            json!({"url": "https://shop.example/a"}),
        ),
        ev(
            "a-2",
            "view_item",
            "v-a",
            "s-a",
            at(0, 8) + 1,
            json!({"items": mug(1)}),
        ),
        bought("a-3", "v-a", "s-a", at(0, 8) + 1, 1),
        ev(
            "c-1",
            "page_view",
            "v-c",
            "s-c1",
            at(0, 9),
            json!({"url": "https://shop.example/a"}),
        ),
        // On `d` after noon: v-b buys two, v-a comes back.
        ev(
            "b-1",
            "page_view",
            "v-b",
            "s-b",
            at(0, 14),
            json!({"url": "https://shop.example/b"}),
        ),
        bought("b-2", "v-b", "s-b", at(0, 14), 2),
        ev(
            "a-9",
            "page_view",
            "v-a",
            "s-a9",
            at(0, 15),
            json!({"url": "https://shop.example/b"}),
        ),
    ];
    let (status, body) = app.post_events(&envelope(events)).await;
    assert_eq!((status, &body["accepted"]), (202, &json!(9)), "{body}");

    let range = format!("range=custom&from={}&to={d}", d - Duration::days(1));
    let cut = d
        .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap())
        .and_utc();
    let start = (d - Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    // The recomputation: the raw events of the range before the cut.
    let raw = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(start)
                .bind(cut)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let visitors = raw("SELECT count(DISTINCT visitor_id) FROM events \
                        WHERE occurred_at >= $1 AND occurred_at < $2")
    .await;
    let sessions = raw("SELECT count(DISTINCT session_id) FROM events \
                        WHERE occurred_at >= $1 AND occurred_at < $2")
    .await;
    let revenue = raw("SELECT coalesce(sum(value_minor), 0)::int8 FROM events \
                       WHERE event_type = 'purchase' AND occurred_at >= $1 AND occurred_at < $2")
    .await;
    assert_eq!((visitors, sessions, revenue), (3, 3, 1000));

    let (status, cut_short) = get(
        &app,
        &format!("/api/v1/sites/demo/overview?{range}&until=12:00"),
    )
    .await;
    assert_eq!(status, 200, "{cut_short}");
    assert_eq!(cut_short["period"]["until"], "12:00");
    assert_eq!(
        cut_short["revenue"]["current"]["amount"], "10.00",
        "{cut_short}"
    );
    assert_eq!(cut_short["orders"]["current"], 1);
    assert_eq!(cut_short["visitors"]["current"], visitors);
    assert_eq!(cut_short["sessions"]["current"], sessions);
    assert_eq!(cut_short["converted_sessions"]["current"], 1);
    assert_eq!(cut_short["first_time_buyers"]["current"], 1);
    let (_, whole) = get(&app, &format!("/api/v1/sites/demo/overview?{range}")).await;
    assert_eq!(whole["revenue"]["current"]["amount"], "30.00", "{whole}");
    assert_eq!(
        (&whole["visitors"]["current"], &whole["sessions"]["current"]),
        (&json!(3), &json!(5))
    );

    // v-b and v-a are new in the range, v-c (first seen three days back)
    // returns; the cut day's sessions, pages and products likewise.
    let (_, users) = get(
        &app,
        &format!("/api/v1/sites/demo/users?{range}&until=12:00"),
    )
    .await;
    assert_eq!(
        (
            &users["new_visitors"],
            &users["returning_visitors"],
            &users["sessions"]
        ),
        (&json!(2), &json!(1), &json!(3)),
        "{users}"
    );
    let (_, pages) = get(
        &app,
        &format!("/api/v1/sites/demo/pages?{range}&until=12:00"),
    )
    .await;
    let paths = |list: &Value| -> Vec<(String, i64)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let n = p["sessions"].as_i64().or(p["page_views"].as_i64()).unwrap();
                (p["path"].as_str().unwrap().to_owned(), n)
            })
            .collect()
    };
    assert_eq!(
        paths(&pages["top_pages"]),
        [("/a".to_owned(), 2), ("/z".to_owned(), 1)],
        "{pages}"
    );
    assert_eq!(
        paths(&pages["landing_pages"]),
        [("/a".to_owned(), 2), ("/z".to_owned(), 1)]
    );
    let (_, products) = get(
        &app,
        &format!("/api/v1/sites/demo/products?{range}&until=12:00"),
    )
    .await;
    assert_eq!(
        (
            &products["products"][0]["units"],
            &products["products"][0]["views"]
        ),
        (&json!(1), &json!(1)),
        "{products}"
    );
    let (_, hourly) = get(
        &app,
        &format!("/api/v1/sites/demo/hourly-sales?{range}&until=12:00"),
    )
    .await;
    assert_eq!(
        (&hourly["totals"]["orders"], &hourly["totals"]["customers"]),
        (&json!(1), &json!(1)),
        "{hourly}"
    );

    // Today compared: yesterday only until the quarter hour now ends in.
    let (_, today) = get(
        &app,
        "/api/v1/sites/demo/overview?range=today&compare=previous",
    )
    .await;
    let until = &today["period"]["previous_until"];
    let now = Utc::now();
    if now.time() < NaiveTime::from_hms_opt(23, 45, 0).unwrap() {
        let time = NaiveTime::parse_from_str(until.as_str().unwrap(), "%H:%M").unwrap();
        assert!(time > now.time() - Duration::seconds(5), "{until} at {now}");
        assert!(
            time <= now.time() + Duration::minutes(16),
            "{until} at {now}"
        );
        assert_eq!(chrono::Timelike::minute(&time) % 15, 0);
    }
    let (status, bad) = get(
        &app,
        &format!("/api/v1/sites/demo/overview?{range}&until=25:00"),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = get(
        &app,
        &format!("/api/v1/sites/demo/overview?{range}&until=11:50"),
    )
    .await;
    assert_eq!(status, 400, "off the quarter hour");
    // A past range cut by `until` is compared until the same time: the
    // day before `d` until noon has v-b's 10:00 visit, nothing else.
    let (_, past) = get(
        &app,
        &format!(
            "/api/v1/sites/demo/overview?range=custom&from={d}&to={d}&until=12:00&compare=previous"
        ),
    )
    .await;
    assert_eq!(past["period"]["previous_until"], "12:00", "{past}");
    assert_eq!(
        (&past["sessions"]["current"], &past["sessions"]["previous"]),
        (&json!(2), &json!(1)),
        "{past}"
    );
}

/// Visitors per landing and exit page over any range, whole or cut by `until`,
/// equal a recount from the raw events: a visitor who lands on a page
/// twice counts once, one who lands on it on several days once per range,
/// and a late page view that moves a session's first page moves its
/// visitor to the new landing page. So does revenue per landing page: a
/// late page view moves a session's orders to its new landing page, and a
/// signed report that verifies an order at another amount moves its
/// session's revenue to that amount. A range rebuild leaves them as they
/// were, and `rollups check` finds the counts, steps and sums exact.
#[sqlx::test(migrations = false)]
async fn page_visitors_and_landing_revenue_of_every_range_equal_a_recount(pool: PgPool) {
    use chrono::{Duration, NaiveDate, NaiveTime, Utc};
    use server::store::{
        self,
        rebuild::{self, Target},
    };

    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    let now = Utc::now();
    let mut state = 0x9e37_79b9_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let paths = ["/", "/p/mug", "/p/lamp", "/sale"];
    let view = |id: String, visitor: String, session: String, path: &str, at: i64| {
        json!({"id": id, "type": "page_view", "visitor": visitor, "session": session,
               "url": format!("https://shop.example{path}?ref=t"), "ts": at})
    };
    // 12 visitors with 1–4 sessions each over the last 6 days, each of 1–3
    // page views a minute apart; every third session also gets a page view
    // from a minute before it started, sent after everything else.
    let (mut events, mut late) = (Vec::new(), Vec::new());
    for visitor in 0..12 {
        for k in 0..1 + next(4) {
            let start = now - Duration::minutes(30 + next(6 * 24 * 60) as i64);
            let (v, s) = (format!("v-{visitor}"), format!("s-{visitor}-{k}"));
            for p in 0..1 + next(3) {
                let at = (start + Duration::minutes(p as i64)).timestamp_millis();
                let path = paths[next(4) as usize];
                events.push(view(
                    format!("l-{visitor}-{k}-{p}"),
                    v.clone(),
                    s.clone(),
                    path,
                    at,
                ));
            }
            // Every other session buys, a little after its page views.
            if (visitor + k) % 2 == 0 {
                let at = (start + Duration::minutes(4)).timestamp_millis();
                events.push(json!({"id": format!("b-{visitor}-{k}"), "type": "purchase",
                    "visitor": v.clone(), "session": s.clone(), "ts": at, "currency": "USD",
                    "value": 10 + visitor * 3 + k, "transaction_id": format!("T-{visitor}-{k}")}));
            }
            if (visitor + k) % 3 == 0 {
                let at = (start - Duration::minutes(1)).timestamp_millis();
                let path = paths[next(4) as usize];
                late.push(view(
                    format!("l-{visitor}-{k}-late"),
                    v.clone(),
                    s.clone(),
                    path,
                    at,
                ));
            }
        }
    }
    // One visitor lands on /sale twice within the hour: one visitor, two
    // sessions.
    for k in 0..2 {
        let at = (now - Duration::minutes(20 - 5 * k)).timestamp_millis();
        events.push(view(
            format!("t-{k}"),
            "v-twice".into(),
            format!("s-twice-{k}"),
            "/sale",
            at,
        ));
    }
    for i in (1..events.len()).rev() {
        events.swap(i, next(i as u64 + 1) as usize);
    }
    for batch in events.chunks(5).chain(late.chunks(3)) {
        let (status, answer) = app.post_events(&envelope(batch.to_vec())).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["rejected"], json!([]), "{answer}");
    }
    // The shop's backend confirms two orders at other amounts, without a
    // session of its own: the orders stay their sessions'.
    let signed: Vec<Value> = ["T-0-0", "T-2-0"]
        .iter()
        .map(|t| {
            json!({"id": format!("signed-{t}"), "type": "purchase", "visitor": "backend",
                   "ts": now_ms(), "currency": "USD", "value": 99.5, "transaction_id": t})
        })
        .collect();
    let (status, answer) = app.post_signed(&envelope(signed)).await;
    assert_eq!(status, 202, "{answer}");
    let verified: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE verified AND value_minor = 9950")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(verified, 2, "both orders verified at the signed amount");
    let drift = store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");

    // The recount: each session's first (landing) or last (exit) page view
    // and start, from the raw events (the site's zone is UTC), and for
    // landing pages the amounts of its purchases (the stored purchase row
    // of an order carries its amount now).
    let recount = |from: chrono::DateTime<Utc>, until: chrono::DateTime<Utc>, exit: bool| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, i64, i64, i64)>(
                "WITH s AS (SELECT session_id, min(visitor_id) AS visitor, min(occurred_at) AS started, \
                                   (array_agg(url_path(url) ORDER BY occurred_at) \
                                      FILTER (WHERE event_type = 'page_view'))[1] AS landing, \
                                   (array_agg(url_path(url) ORDER BY occurred_at DESC) \
                                      FILTER (WHERE event_type = 'page_view'))[1] AS exit, \
                                   coalesce(sum(value_minor) FILTER (WHERE event_type = 'purchase'), 0) \
                                     AS revenue \
                              FROM events WHERE session_id IS NOT NULL GROUP BY 1) \
                 SELECT CASE WHEN $3 THEN exit ELSE landing END, count(DISTINCT visitor), count(*), \
                        CASE WHEN $3 THEN 0 ELSE sum(revenue) END::int8 FROM s \
                  WHERE started >= $1 AND started < $2 GROUP BY 1 ORDER BY 1",
            )
            .bind(from)
            .bind(until)
            .bind(exit)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    // What the API shows in `landing_pages` or `exit_pages` (no revenue: 0).
    let shown = |pages: &Value, key: &str| {
        let mut rows: Vec<(String, i64, i64, i64)> = pages[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let minor = p["revenue"]["amount"]
                    .as_str()
                    .map_or(0, |amount| amount.replace('.', "").parse::<i64>().unwrap());
                (
                    p["path"].as_str().unwrap().to_owned(),
                    p["visitors"].as_i64().unwrap(),
                    p["sessions"].as_i64().unwrap(),
                    minor,
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let midnight = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();
    let today = now.date_naive();
    let noon = (today - Duration::days(2))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let check = |label: &'static str| {
        let app = &app;
        let recount = &recount;
        let shown = &shown;
        async move {
            let cases = [
                (
                    "range=today".to_owned(),
                    midnight(today),
                    now + Duration::hours(1),
                ),
                (
                    "range=yesterday".to_owned(),
                    midnight(today - Duration::days(1)),
                    midnight(today),
                ),
                (
                    "range=7d".to_owned(),
                    midnight(today - Duration::days(6)),
                    now + Duration::hours(1),
                ),
                (
                    // Three whole days and a fourth until noon.
                    format!(
                        "range=custom&from={}&to={}&until=12:00",
                        today - Duration::days(5),
                        today - Duration::days(2)
                    ),
                    midnight(today - Duration::days(5)),
                    noon,
                ),
            ];
            let mut twice = false;
            for (query, from, until) in cases {
                let (status, pages) = get(app, &format!("/api/v1/sites/demo/pages?{query}")).await;
                assert_eq!(status, 200, "{pages}");
                let want = recount(from, until, false).await;
                assert_eq!(shown(&pages, "landing_pages"), want, "{label}: {query}");
                assert_eq!(
                    shown(&pages, "exit_pages"),
                    recount(from, until, true).await,
                    "{label}: exit pages, {query}"
                );
                twice |= want.iter().any(|(_, v, s, _)| v < s);
            }
            assert!(twice, "{label}: some page had more sessions than visitors");
        }
    };
    check("live").await;
    // The late page views moved landing pages: some session's stored entry
    // is a late one.
    let moved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN events e \
           ON e.site_id = s.site_id AND e.session_id = s.session_id \
          WHERE e.event_id LIKE '%-late' AND e.occurred_at = s.first_page_at",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(moved > 0, "no late page view became a landing page");
    let moved_revenue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN events e \
           ON e.site_id = s.site_id AND e.session_id = s.session_id \
          WHERE e.event_id LIKE '%-late' AND e.occurred_at = s.first_page_at AND s.revenue <> '{}'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(moved_revenue > 0, "no late landing page carried revenue");

    // A rebuild of the last three days takes the rebuilt sessions' counts
    // out and folds them again: nothing changes.
    let target = Target {
        site_id,
        currency: server::ingest::money::Currency::parse("USD").unwrap(),
    };
    rebuild::rebuild(
        &pool,
        &target,
        Some((now - Duration::days(3), now + Duration::hours(1))),
        &mut |_| {},
    )
    .await
    .expect("range rebuild");
    let drift = store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "after the rebuild: {drift:?}");
    check("rebuilt").await;
}
