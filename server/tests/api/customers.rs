//! Top customers (User Activity, `GET /api/v1/sites/{site}/users`): a
//! customer is the purchase's `user_id`, else its visitor id, on however
//! many devices; listed when seen in the range (an event of those local
//! days carries its id); equal to a recomputation from the raw events for
//! every range, after a time-zone change and after rollup rebuilds.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use server::{
    ingest::{money::Currency, signature},
    store::{
        drift,
        rebuild::{self, Target},
        sites,
    },
};
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, spawn_app, TestApp, SECRET};

/// (customer, orders, spend, last seen) as the API lists them.
type Row = (String, i64, String, String);

fn page_view(id: &str, visitor: &str, user: Option<&str>, at: DateTime<Utc>) -> Value {
    let mut event = json!({
        "id": id, "type": "page_view", "ts": at.timestamp_millis(), "visitor": visitor,
        "session": format!("s-{id}"), "url": "https://shop.example/"
    });
    if let Some(user) = user {
        event["user_id"] = json!(user);
    }
    event
}

fn purchase(id: &str, visitor: &str, user: Option<&str>, value: &str, at: DateTime<Utc>) -> Value {
    let mut event = page_view(id, visitor, user, at);
    event["type"] = json!("purchase");
    event["transaction_id"] = json!(format!("T-{id}"));
    event["currency"] = json!("USD");
    // A decimal token, as a shop sends it: the parser never sees a float.
    event["value"] = serde_json::from_str(value).expect("a JSON number");
    event
}

async fn send(app: &TestApp, events: Vec<Value>) {
    for batch in events.chunks(5) {
        let (status, answer) = app.post_events(&envelope(batch.to_vec())).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["rejected"], json!([]), "{answer}");
        assert_eq!(answer["accepted"], batch.len(), "{answer}");
    }
}

/// The top customers the API lists for the local days `from..=to`.
async fn top(app: &TestApp, from: NaiveDate, to: NaiveDate) -> Vec<Row> {
    let path = format!("/api/v1/sites/demo/users?range=custom&from={from}&to={to}");
    let response = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let body: Value = response.json().await.unwrap();
    body["top_customers"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|c| {
            assert_eq!(c["spend"]["currency"], "USD", "{c}");
            (
                c["customer"].as_str().unwrap().to_owned(),
                c["orders"].as_i64().unwrap(),
                c["spend"]["amount"].as_str().unwrap().to_owned(),
                c["last_seen"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Top customers recomputed from `events` alone, by the README's rules:
/// an order is its one purchase row (a signed confirmation leaves the first
/// report's row, with the signed amount), its customer the row's
/// `user_id`, else its visitor id; spend is the orders in the site's
/// currency (USD here); a customer is seen on a local day when an event of
/// that day carries its id, as `user_id` or as visitor id, and was last
/// seen at the latest such event.
const RECOUNT: &str = "\
WITH bought AS (
    SELECT coalesce(user_id, visitor_id) AS customer, count(*) AS orders,
           coalesce(sum(value_minor) FILTER (WHERE currency = 'USD'), 0)::int8 AS spend
      FROM events WHERE event_type = 'purchase' GROUP BY 1),
carried AS (
    SELECT v.id AS customer, e.occurred_at
      FROM events e, LATERAL (VALUES (e.user_id), (e.visitor_id)) AS v(id)
     WHERE v.id IS NOT NULL)
SELECT b.customer, b.orders, b.spend,
       to_char(max(c.occurred_at) AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI')
  FROM bought b JOIN carried c USING (customer)
 GROUP BY 1, 2, 3
HAVING bool_or((c.occurred_at AT TIME ZONE $1)::date BETWEEN $2 AND $3)
 ORDER BY 3 DESC, 1 LIMIT 10";

async fn recount(pool: &PgPool, tz: &str, from: NaiveDate, to: NaiveDate) -> Vec<Row> {
    let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(RECOUNT)
        .bind(tz)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await
        .unwrap();
    rows.into_iter()
        .map(|(customer, orders, spend, last)| {
            (
                customer,
                orders,
                format!("{}.{:02}", spend / 100, spend % 100),
                last,
            )
        })
        .collect()
}

async fn assert_no_drift(pool: &PgPool) {
    let drift = drift::rollup_drift(pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
}

fn names(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.0.as_str()).collect()
}

/// The same `user_id` on a phone and a laptop is one customer with the
/// orders and spend of both, and it outranks customers each device alone
/// would rank below.
#[sqlx::test(migrations = false)]
async fn a_customer_on_two_devices_is_one_customer(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let at = |minutes: i64| Utc::now() - Duration::minutes(minutes);
    let mut events = vec![
        purchase("p-1", "v-phone", Some("cust-7"), "100.00", at(50)),
        purchase("p-2", "v-phone", Some("cust-7"), "39.00", at(40)),
        purchase("l-1", "v-laptop", Some("cust-7"), "50.00", at(30)),
        purchase("l-2", "v-laptop", Some("cust-7"), "41.89", at(20)),
    ];
    // Ten customers between one device's spend (139.00) and both (230.89).
    for n in 0..10 {
        let visitor = format!("v-{n}");
        let user = format!("other-{n}");
        let user = (n % 2 == 0).then_some(user.as_str());
        let value = format!("{}.00", 150 + n);
        events.push(purchase(&format!("o-{n}"), &visitor, user, &value, at(60)));
    }
    send(&app, events).await;
    assert_no_drift(&pool).await;

    let today = Utc::now().date_naive();
    let listed = top(&app, today - Duration::days(1), today).await;
    assert_eq!(listed.len(), 10, "{listed:?}");
    assert_eq!(
        (listed[0].0.as_str(), listed[0].1, listed[0].2.as_str()),
        ("cust-7", 4, "230.89"),
        "{listed:?}"
    );
    assert_eq!(listed[1..].iter().filter(|r| r.0 == "cust-7").count(), 0);
    assert_eq!(
        listed,
        recount(&pool, "UTC", today - Duration::days(1), today).await
    );

    // The User Activity page shows the same first row.
    let html = app.get_text("/users?site=demo&range=7d").await;
    let table = &html[html.find(r#"data-testid="customers""#).expect("the table")..];
    let body = &table[table.find("<tbody").expect("<tbody")..];
    let first_row = &body[..body.find("</tr>").expect("a row")];
    for cell in ["cust-7", ">4<", "230.89"] {
        assert!(first_row.contains(cell), "{cell} not in {first_row}");
    }
}

/// A customer seen only on the local days D-2 and D+1 (in Asia/Kolkata,
/// where D+1's first minutes are still day D in UTC) is not listed for
/// D-1, for D or for D-1..D, and is for D-2, D+1 and D-2..D+1.
#[sqlx::test(migrations = false)]
async fn top_customers_are_those_seen_on_the_ranges_local_days(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let zone = sites::SiteChanges {
        timezone: Some("Asia/Kolkata"),
        ..Default::default()
    };
    sites::update(&pool, "demo", &zone).await.unwrap().unwrap();
    let tz: Tz = "Asia/Kolkata".parse().unwrap();
    let local = |day: NaiveDate, h: u32, m: u32| {
        tz.from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    let d = Utc::now().with_timezone(&tz).date_naive() - Duration::days(2);
    let day = |offset: i64| d + Duration::days(offset);
    send(
        &app,
        vec![
            purchase(
                "a-1",
                "v-9",
                Some("cust-9"),
                "500.00",
                local(day(-2), 23, 50),
            ),
            page_view("a-2", "v-9", Some("cust-9"), local(day(1), 0, 10)),
            purchase("b-1", "v-8", Some("cust-8"), "20.00", local(day(-1), 12, 0)),
        ],
    )
    .await;
    assert_no_drift(&pool).await;

    for (from, to, expected) in [
        (-1, -1, vec!["cust-8"]),
        (0, 0, vec![]),
        (-1, 0, vec!["cust-8"]),
        (-2, -2, vec!["cust-9"]),
        (1, 1, vec!["cust-9"]),
        (-2, 1, vec!["cust-9", "cust-8"]),
    ] {
        let listed = top(&app, day(from), day(to)).await;
        assert_eq!(names(&listed), expected, "D{from:+}..=D{to:+}");
        assert_eq!(
            listed,
            recount(&pool, "Asia/Kolkata", day(from), day(to)).await,
            "D{from:+}..=D{to:+}"
        );
    }
    let listed = top(&app, day(-2), day(1)).await;
    assert_eq!(
        listed[0],
        (
            "cust-9".to_owned(),
            1,
            "500.00".to_owned(),
            format!("{} 00:10", day(1))
        )
    );
}

/// Shoppers on one or two devices, signed in on some events only, buying
/// now and then (a few orders in another currency, some without `user_id`
/// after signing in, some confirmed by the shop's backend at another
/// amount), sent out of order: every range of the last 9 local
/// days lists what the recount lists, in two zones, and again after a
/// whole and a ranged rollup rebuild.
#[sqlx::test(migrations = false)]
async fn top_customers_of_every_range_equal_a_recount_from_raw_events(pool: PgPool) {
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
    let now = Utc::now();
    let mut state = 0x9e37_79b9_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let values = ["12.50", "30.00", "99.99", "45.10", "30.00"];
    let mut events = Vec::new();
    for person in 0..18 {
        let user = format!("u-{person}");
        for k in 0..1 + next(7) {
            let at = now - Duration::minutes(5 + next(6 * 24 * 60 + 20 * 60) as i64);
            let device = if person % 2 == 0 { next(2) } else { 0 };
            let visitor = format!("v-{person}-{device}");
            let signed_in = person % 3 != 0 && next(4) != 0;
            let user = signed_in.then_some(user.as_str());
            let id = format!("c-{person}-{k}");
            let event = if k % 3 == 2 {
                let mut e = purchase(&id, &visitor, user, values[next(5) as usize], at);
                if next(6) == 0 {
                    e["currency"] = json!("EUR");
                }
                e
            } else {
                page_view(&id, &visitor, user, at)
            };
            events.push(event);
        }
    }
    // Bought on the phone days ago, back on the laptop in the last hour:
    // the ranged rebuild below must take the phone's events too.
    events.push(purchase(
        "t-1",
        "v-travel-phone",
        Some("u-travel"),
        "64.00",
        now - Duration::days(3),
    ));
    events.push(page_view(
        "t-2",
        "v-travel-laptop",
        Some("u-travel"),
        now - Duration::minutes(30),
    ));
    for i in (1..events.len()).rev() {
        events.swap(i, next(i as u64 + 1) as usize);
    }
    // The shop's backend confirms every third order at its own amount,
    // without the shopper's ids: the order stays its first report's
    // customer, at the signed amount.
    let confirmations: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "purchase")
        .step_by(3)
        .map(|e| {
            let mut signed = e.clone();
            signed["id"] = json!(format!("{}-signed", e["id"].as_str().unwrap()));
            signed["source"] = json!("server");
            signed["visitor"] = json!("shop-backend");
            signed["value"] = json!(77.7);
            if let Some(map) = signed.as_object_mut() {
                map.remove("user_id");
                map.remove("session");
            }
            signed
        })
        .collect();
    assert!(
        confirmations.len() > 3,
        "{} confirmations",
        confirmations.len()
    );
    send(&app, events).await;
    let body = serde_json::to_vec(&envelope(confirmations.clone())).unwrap();
    let signature = signature::sign(&body, SECRET.as_bytes(), Utc::now().timestamp());
    let (status, answer) = app
        .post_raw(
            "application/json",
            body,
            &[("x-storepulse-signature", signature)],
        )
        .await;
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (202, Some(confirmations.len() as u64)),
        "{answer}"
    );
    assert_no_drift(&pool).await;

    let check = |tz: &'static str| {
        let (app, pool) = (&app, &pool);
        async move {
            let today = Utc::now()
                .with_timezone(&tz.parse::<Tz>().unwrap())
                .date_naive();
            let days: Vec<NaiveDate> = (0..9).rev().map(|d| today - Duration::days(d)).collect();
            let (mut cut, mut partial) = (0, 0);
            for (i, &from) in days.iter().enumerate() {
                for &to in &days[i..] {
                    let listed = top(app, from, to).await;
                    assert_eq!(
                        listed,
                        recount(pool, tz, from, to).await,
                        "{tz} {from}..={to}"
                    );
                    cut += usize::from(listed.len() == 10);
                    partial += usize::from((1..10).contains(&listed.len()));
                }
            }
            // The data is about something: some ranges fill the list and
            // cut it at ten, others list only a few.
            assert!(
                cut > 0 && partial > 0,
                "{tz}: {cut} full, {partial} partial"
            );
        }
    };
    check("Asia/Kolkata").await;
    sites::update(&pool, "demo", &zone("America/New_York"))
        .await
        .unwrap()
        .unwrap();
    assert_no_drift(&pool).await;
    check("America/New_York").await;

    let target = Target {
        site_id,
        currency: Currency::parse("USD").unwrap(),
    };
    let rows = |pool: PgPool| async move {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT to_jsonb(c)::text FROM customer_activity c ORDER BY customer",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        rows
    };
    let live = rows(pool.clone()).await;
    sqlx::query("UPDATE customer_activity SET orders = orders + 1, spend = spend * 2")
        .execute(&pool)
        .await
        .unwrap();
    rebuild::rebuild(&pool, &target, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(rows(pool.clone()).await, live, "whole rebuild");
    // The last day: its customers' rows again, from all their events.
    sqlx::query("UPDATE customer_activity SET orders = orders + 1, spend = spend * 2")
        .execute(&pool)
        .await
        .unwrap();
    let range = (now - Duration::days(1), now + Duration::hours(1));
    rebuild::rebuild(&pool, &target, Some(range), &mut |_| {})
        .await
        .unwrap();
    // Rebuilt: the customers whose id an event of the range (widened to
    // whole local days) carries. Undo the damage of the others by hand.
    macro_rules! in_scope {
        () => {
            "customer IN (SELECT v.id FROM events e, LATERAL (VALUES (e.user_id), (e.visitor_id)) v(id) \
              WHERE v.id IS NOT NULL AND e.occurred_at >= \
                    date_trunc('day', $1::timestamptz AT TIME ZONE 'America/New_York') \
                    AT TIME ZONE 'America/New_York')"
        };
    }
    let (inside, outside): (i64, i64) = sqlx::query_as(concat!(
        "SELECT count(*) FILTER (WHERE ",
        in_scope!(),
        "), count(*) FILTER (WHERE NOT ",
        in_scope!(),
        ") FROM customer_activity WHERE orders > 0"
    ))
    .bind(range.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        inside > 0 && outside > 0,
        "{inside} in the range, {outside} not"
    );
    sqlx::query(concat!(
        "UPDATE customer_activity SET orders = orders - 1, spend = spend / 2 WHERE NOT ",
        in_scope!()
    ))
    .bind(range.0)
    .execute(&pool)
    .await
    .unwrap();
    // The rebuild read their damaged orders where a rebuilt visitor's
    // events name them (a day goes in for a customer with orders): the
    // hand repair recomputes their customer days too.
    for sql in [
        "DELETE FROM customer_days WHERE site_id = $1",
        "INSERT INTO customer_days SELECT * FROM customer_days_of($1)",
    ] {
        sqlx::query(sql).bind(site_id).execute(&pool).await.unwrap();
    }
    assert_eq!(rows(pool.clone()).await, live, "ranged rebuild");
    assert_no_drift(&pool).await;
    check("America/New_York").await;
}
