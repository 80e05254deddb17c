//! The stats API: the dashboard's numbers as JSON under
//! `/api/v1/sites/{site}/…`, with the pages' range parameters. Money is a
//! decimal string with its currency (`{"amount": "12.99", "currency":
//! "EUR"}`), never a float. Callers authenticate with an API token
//! (`Authorization: Bearer spt_…`) or a dashboard session cookie; a site
//! they do not belong to answers 404, like one that does not exist.

use std::sync::Arc;

use app::{
    accounts::Viewer,
    ports::StatsSource,
    stats::{Figure, HourRow, ProductRow, RangeQuery, StatsError},
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ingest::money::Currency;

/// The query string every route takes (the site is in the path).
#[derive(Debug, Default, Deserialize)]
pub struct RangeParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    compare: Option<String>,
    until: Option<String>,
}

impl RangeParams {
    fn for_site(self, site: String) -> RangeQuery {
        RangeQuery {
            site: Some(site),
            range: self.range,
            from: self.from,
            to: self.to,
            compare: self.compare,
            until: self.until,
        }
    }
}

type Stats = Arc<dyn StatsSource>;

pub fn router<S: Clone + Send + Sync + 'static>(stats: Stats) -> Router<S> {
    Router::new()
        .route("/api/v1/sites/{site}/overview", get(overview_show))
        .route("/api/v1/sites/{site}/hourly-sales", get(hourly_sales_show))
        .route("/api/v1/sites/{site}/products", get(products_show))
        .route("/api/v1/sites/{site}/products.csv", get(products_csv))
        .route("/api/v1/sites/{site}/users", get(users_show))
        .route("/api/v1/sites/{site}/pages", get(pages_show))
        .route("/api/v1/sites/{site}/sessions", get(sessions_index))
        .route("/api/v1/sites/{site}/realtime", get(realtime_show))
        .route(
            "/api/v1/sites/{site}/events/recent",
            get(recent_events_index),
        )
        .with_state(stats)
}

async fn overview_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    let overview = match stats.overview(&viewer, &params.for_site(site)).await {
        Ok(overview) => overview,
        Err(error) => return failure(&error),
    };
    let cur = overview.period.currency.clone();
    let figure = |f: &Figure, money: bool| {
        let show = |n: i64| if money { amount(n, &cur) } else { json!(n) };
        json!({ "current": show(f.current), "previous": f.previous.map(show) })
    };
    let numbers = |o: &app::stats::Overview| {
        json!({
            "revenue": figure(&o.revenue, true),
            "orders": figure(&o.orders, false),
            "visitors": figure(&o.visitors, false),
            "sessions": figure(&o.sessions, false),
            "converted_sessions": figure(&o.converted, false),
            "first_time_buyers": figure(&o.first_time_buyers, false),
            "bounces": figure(&o.bounces, false),
            "engaged_sessions": figure(&o.engaged, false),
            "funnel": o.funnel,
            "top_products": o.top_products.iter().map(|p| product(p, &cur)).collect::<Vec<_>>(),
            "sources": o.sources,
            "other_sources": o.other_sources,
            "devices": o.devices,
            "revenue_series": o.revenue_series.iter()
                .map(|b| json!({ "bucket": b.label, "revenue": amount(b.value, &cur) }))
                .collect::<Vec<_>>(),
        })
    };
    compared(
        &overview.period,
        numbers(&overview),
        overview.previous.as_deref().map(numbers),
    )
}

async fn hourly_sales_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    match stats.hourly_sales(&viewer, &params.for_site(site)).await {
        Ok(sales) => {
            let cur = sales.period.currency.clone();
            let numbers = |s: &app::stats::HourlySales| {
                json!({
                    "hours": s.rows.iter().map(|r| hour(r, &cur)).collect::<Vec<_>>(),
                    "days": s.days.iter().map(|r| hour(r, &cur)).collect::<Vec<_>>(),
                    "totals": hour(&s.totals, &cur),
                })
            };
            compared(
                &sales.period,
                numbers(&sales),
                sales.previous.as_deref().map(numbers),
            )
        }
        Err(error) => failure(&error),
    }
}

async fn products_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    match stats.products(&viewer, &params.for_site(site)).await {
        Ok(products) => {
            let cur = products.period.currency.clone();
            let numbers = |p: &app::stats::ProductPerformance| {
                json!({
                    "products": p.rows.iter().map(|r| product(r, &cur)).collect::<Vec<_>>(),
                    "categories": p.categories.iter().map(|r| product(r, &cur)).collect::<Vec<_>>(),
                })
            };
            compared(
                &products.period,
                numbers(&products),
                products.previous.as_deref().map(numbers),
            )
        }
        Err(error) => failure(&error),
    }
}

async fn users_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    let users = match stats.users(&viewer, &params.for_site(site)).await {
        Ok(users) => users,
        Err(error) => return failure(&error),
    };
    let cur = users.period.currency.clone();
    let numbers = |u: &app::stats::UserActivity| {
        json!({
            "sessions": u.sessions,
            "page_views": u.pages,
            "session_seconds_total": u.seconds,
            "new_visitors": u.new_visitors,
            "returning_visitors": u.returning_visitors,
            "top_customers": u.customers.iter().map(|c| json!({
                "customer": c.customer, "orders": c.orders,
                "spend": amount(c.spend, &cur), "last_seen": c.last_seen,
            })).collect::<Vec<_>>(),
            "devices": u.devices,
            "browsers": u.browsers,
            "utm_campaigns": u.campaigns,
        })
    };
    compared(
        &users.period,
        numbers(&users),
        users.previous.as_deref().map(numbers),
    )
}

async fn pages_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    let report = match stats.pages(&viewer, &params.for_site(site)).await {
        Ok(report) => report,
        Err(error) => return failure(&error),
    };
    let rate = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
    let cur = report.period.currency.clone();
    let row = |p: &app::stats::PageRow| {
        json!({
            "path": p.path, "sessions": p.sessions, "bounces": p.bounces,
            "bounce_rate": rate(p.bounces, p.sessions), "engaged_sessions": p.engaged,
            "converted_sessions": p.converted, "conversion_rate": rate(p.converted, p.sessions),
            "visitors": p.visitors,
        })
    };
    let landing = |p: &app::stats::PageRow| {
        let mut value = row(p);
        value["revenue"] = amount(p.revenue, &cur);
        value
    };
    let numbers = |r: &app::stats::PagesReport| {
        json!({
            "sessions": r.sessions,
            "bounces": r.bounces,
            "bounce_rate": rate(r.bounces, r.sessions),
            "engaged_sessions": r.engaged,
            "top_pages": r.top.iter()
                .map(|(path, views)| json!({ "path": path, "page_views": views }))
                .collect::<Vec<_>>(),
            "landing_pages": r.landing.iter().map(landing).collect::<Vec<_>>(),
            "exit_pages": r.exit.iter().map(row).collect::<Vec<_>>(),
        })
    };
    compared(
        &report.period,
        numbers(&report),
        report.previous.as_deref().map(numbers),
    )
}

/// Sessions listed at most (newest first).
const MAX_SESSIONS: i64 = 100;

async fn sessions_index(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    match stats
        .sessions(&viewer, &params.for_site(site), MAX_SESSIONS)
        .await
    {
        Ok((period, sessions)) => {
            let mut body = json!({ "period": period, "sessions": sessions });
            if let Some(query) = RangeQuery::previous_of(&period) {
                match stats.sessions(&viewer, &query, MAX_SESSIONS).await {
                    Ok((_, before)) => body["previous"] = json!({ "sessions": before }),
                    Err(error) => return failure(&error),
                }
            }
            Json(body).into_response()
        }
        Err(error) => failure(&error),
    }
}

async fn realtime_show(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
) -> Response {
    let query = RangeParams::default().for_site(site);
    match stats.live(&viewer, &query).await {
        Ok(live) => {
            let cur = live.currency.clone();
            Json(json!({
                "site": live.site,
                "taken_at": live.taken_at,
                "visitors_last_5_minutes": live.visitors,
                "active_carts": live.active_carts,
                "checking_out": live.checking_out,
                "purchased": live.purchased,
                "revenue_today": amount(live.revenue_today, &cur),
                "orders_today": live.orders_today,
                "events_per_minute": live.minutes,
                "events_by_type": live.by_type,
            }))
            .into_response()
        }
        Err(error) => failure(&error),
    }
}

async fn recent_events_index(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
) -> Response {
    let query = RangeParams::default().for_site(site);
    match stats.live(&viewer, &query).await {
        Ok(live) => {
            let cur = live.currency.clone();
            let events: Vec<Value> = live
                .feed
                .iter()
                .map(|e| {
                    json!({
                        "at": e.at, "type": e.kind, "source": e.source, "subject": e.subject,
                        "value": e.value.map(|v| amount(v, &cur)),
                    })
                })
                .collect();
            Json(json!({ "site": live.site, "events": events })).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// The product table as CSV, for spreadsheets. Product names come from the
/// public internet: cells that a spreadsheet would run as a formula are
/// prefixed with `'`.
async fn products_csv(
    State(stats): State<Stats>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<RangeParams>,
) -> Response {
    let products = match stats.products(&viewer, &params.for_site(site)).await {
        Ok(products) => products,
        Err(error) => return failure(&error),
    };
    let cur = &products.period.currency;
    let mut out = String::from(
        "item_id,name,category,views,add_to_carts,removals,checkouts,purchases,units,revenue,currency,impressions\r\n",
    );
    for p in &products.rows {
        let cells = [
            csv_cell(&p.item_id),
            csv_cell(&p.name),
            csv_cell(&p.category),
            p.views.to_string(),
            p.add_to_carts.to_string(),
            p.removals.to_string(),
            p.checkouts.to_string(),
            p.purchases.to_string(),
            p.units.to_string(),
            amount(p.revenue, cur)["amount"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            cur.clone(),
            // Last, so the columns before it keep their places.
            p.impressions.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    let disposition = format!(
        "attachment; filename=\"products-{}-{}-{}.csv\"",
        products
            .period
            .site
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        products.period.from,
        products.period.to
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response()
}

/// One CSV cell: quoted when needed, formula triggers defused.
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn hour(row: &HourRow, cur: &str) -> Value {
    json!({
        "hour": row.hour,
        "revenue": amount(row.revenue(), cur),
        "revenue_verified": amount(row.revenue_verified, cur),
        "revenue_unverified": amount(row.revenue_unverified, cur),
        "refunds": amount(row.refunds, cur),
        "refund_count": row.refund_count,
        "refund_rate": (row.orders > 0).then(|| row.refund_count as f64 / row.orders as f64),
        "tax": amount(row.tax, cur),
        "shipping": amount(row.shipping, cur),
        "net_revenue": amount(row.net(), cur),
        "orders": row.orders,
        "units": row.units,
        "customers": row.customers,
        "average_order_value": row.aov().map(|v| amount(v, cur)),
    })
}

/// A report's answer: its numbers, its period, and with a comparison the
/// previous period's numbers in the same shape (`previous`).
fn compared(period: &app::stats::Period, mut numbers: Value, previous: Option<Value>) -> Response {
    numbers["period"] = json!(period);
    if let Some(previous) = previous {
        numbers["previous"] = previous;
    }
    Json(numbers).into_response()
}

fn product(row: &ProductRow, cur: &str) -> Value {
    json!({
        "item_id": row.item_id,
        "name": row.name,
        "category": row.category,
        "views": row.views,
        "impressions": row.impressions,
        "add_to_carts": row.add_to_carts,
        "removals": row.removals,
        "checkouts": row.checkouts,
        "purchases": row.purchases,
        "units": row.units,
        "revenue": amount(row.revenue, cur),
        "refunds": row.refunds,
        "refund_rate": (row.purchases > 0).then(|| row.refunds as f64 / row.purchases as f64),
    })
}

/// `{"amount": "12.99", "currency": "EUR"}` from minor units, exactly.
pub fn amount(minor: i64, currency: &str) -> Value {
    let exponent = Currency::parse(currency).map_or(2, |c| u32::from(c.exponent()));
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10_u64.pow(exponent);
    let text = if exponent == 0 {
        format!("{sign}{abs}")
    } else {
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
    };
    json!({ "amount": text, "currency": currency })
}

fn failure(error: &StatsError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimal_strings_in_the_currencys_unit() {
        assert_eq!(
            amount(1_299, "EUR"),
            json!({"amount": "12.99", "currency": "EUR"})
        );
        assert_eq!(amount(-5, "USD")["amount"], "-0.05");
        assert_eq!(amount(1_234, "JPY")["amount"], "1234");
        assert_eq!(amount(1_234_567, "BHD")["amount"], "1234.567");
    }

    #[test]
    fn csv_cells_defuse_formulas_and_quote_separators() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
        assert_eq!(csv_cell("Mug, blue"), "\"Mug, blue\"");
        assert_eq!(csv_cell("Mug"), "Mug");
    }
}
