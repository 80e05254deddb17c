//! The dashboard's numbers: resolves a page's range against the site and
//! fills the shared `app::stats` types from the rollups (`store::stats`).
//! The pages reach it through the `StatsSource` port; the stats API
//! (`api`) calls the same code, so both always show the same numbers.

pub mod api;
pub mod range;

use std::sync::Arc;

use app::{
    accounts::Viewer,
    live::LiveSnapshot,
    ports::StatsSource,
    stats::{
        Bucket, Figure, HourRow, HourlySales, Overview, PagesReport, Period, ProductPerformance,
        RangeQuery, SessionRow, StatsError, UserActivity,
    },
};
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use self::range::Span;
use crate::store::{
    self,
    sites::Site,
    stats::{self as sql, Window},
};

/// Rows of the product table at most (the catalog of a small shop; the API
/// and the CSV say when there are more).
pub const MAX_PRODUCTS: i64 = 1_000;
const TOP_PRODUCTS: i64 = 5;
const TOP_SOURCES: usize = 10;
const TOP_CUSTOMERS: i64 = 10;
const TOP_PAGES: i64 = 50;

/// The port's implementation over PostgreSQL.
#[derive(Clone)]
pub struct PgStats {
    pool: PgPool,
}

impl PgStats {
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self { pool })
    }

    /// The site asked for, or the viewer's first one; only sites the
    /// viewer belongs to exist here.
    async fn site(
        &self,
        viewer: &Viewer,
        key: Option<&String>,
    ) -> Result<(Site, Vec<Site>), StatsError> {
        let sites = store::sites::list_for_user(&self.pool, viewer.user_id)
            .await
            .map_err(unavailable)?;
        let site = match key {
            Some(key) => sites
                .iter()
                .find(|s| &s.site_key == key)
                .ok_or_else(|| StatsError::UnknownSite(key.clone()))?,
            None => sites.first().ok_or(StatsError::NoSites)?,
        }
        .clone();
        Ok((site, sites))
    }

    /// The site asked for (or the first one), its zone, and the resolved
    /// span with the previous one when comparing.
    async fn scope(&self, viewer: &Viewer, query: &RangeQuery) -> Result<Scope, StatsError> {
        let (site, sites) = self.site(viewer, query.site.as_ref()).await?;
        let tz: Tz = site.timezone.parse().unwrap_or(Tz::UTC);
        let now = Utc::now();
        let today = now.with_timezone(&tz).date_naive();
        let bad = |e: range::RangeError| StatsError::BadRange(e.to_string());
        let mut span = range::resolve(
            query.range.as_deref(),
            query.from.as_deref(),
            query.to.as_deref(),
            tz,
            today,
        )
        .map_err(bad)?;
        let until = match query.until.as_deref() {
            Some(value) => {
                let time = range::parse_until(value).map_err(bad)?;
                span = span.until(time, tz);
                Some(time.format("%H:%M").to_string())
            }
            None => None,
        };
        let previous = match query.comparison() {
            Some("week") => Some(span.weeks_before(tz)),
            Some(_) => Some(span.previous(tz)),
            None => None,
        };
        // Like with like: a range that runs until now is compared up to
        // the same point of its previous period (a range cut by `until`
        // that runs until now has its cut ahead: the quarter hour now ends
        // in comes first); a range in the past cut by `until` is compared
        // until the same time.
        let mut previous_until = None;
        let previous = previous.map(|before| match span.elapsed_in(&before, now, tz) {
            Some((day, time)) => {
                previous_until = time.map(|t| t.format("%H:%M").to_string());
                before.through(day, tz)
            }
            None => {
                previous_until.clone_from(&until);
                before
            }
        });
        let period = Period {
            site: site.site_key.clone(),
            site_name: site.name.clone(),
            timezone: site.timezone.clone(),
            currency: site.currency.clone(),
            range: span.range.to_owned(),
            from: span.from.to_string(),
            to: span.to.to_string(),
            until,
            previous: previous
                .as_ref()
                .map(|p| (p.from.to_string(), p.to.to_string())),
            previous_until,
            sites: sites
                .iter()
                .map(|s| (s.site_key.clone(), s.name.clone()))
                .collect(),
        };
        Ok(Scope {
            site,
            tz,
            span,
            period,
        })
    }
}

struct Scope {
    site: Site,
    tz: Tz,
    span: Span,
    /// The range as the pages show it; `period.previous` names the days
    /// a comparison reads (the same report, through `previous_of`).
    period: Period,
}

impl Scope {
    fn window(&self) -> Window<'_> {
        Window {
            site_id: self.site.site_id,
            currency: &self.site.currency,
            start: self.span.start,
            end: self.span.stop(),
        }
    }

    /// The local days the day-keyed rollups are read for.
    fn days(&self) -> sql::Days {
        sql::Days {
            first: self.span.from,
            last: self.span.to,
            cut: self
                .span
                .cut
                .map(|cut| (range::midnight(self.span.to, self.tz), cut)),
        }
    }
}

/// Every hour of the day (or day of the range) in order, with zero where the
/// rollups had nothing: a chart's gaps are news too.
pub fn fill(span: &Span, tz: Tz, hourly: bool, found: Vec<Bucket>) -> Vec<Bucket> {
    let mut labels: Vec<String> = Vec::new();
    // Up to now: the hours and days still to come are not zeros.
    let now = chrono::Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    if hourly {
        let mut at = span.start;
        while at < span.stop().min(now) {
            let label = at.with_timezone(&tz).format("%Y-%m-%d %H:00").to_string();
            // The hour a clock goes back in appears twice; the rollup query
            // already merged it under one label.
            if labels.last() != Some(&label) {
                labels.push(label);
            }
            at += chrono::Duration::hours(1);
        }
    } else {
        labels.extend(
            span.from
                .iter_days()
                .take_while(|d| *d <= span.to && *d <= today)
                .map(|d| d.to_string()),
        );
    }
    let mut found = found.into_iter().peekable();
    labels
        .into_iter()
        .map(|label| {
            let value = match found.peek() {
                Some(b) if b.label == label => found.next().map_or(0, |b| b.value),
                _ => 0,
            };
            Bucket { label, value }
        })
        .collect()
}

/// Every day of `span` with its hours' sums (a day without sales is a row
/// of zeros) and its distinct customers from `customers` (per day).
fn by_day(span: &Span, hours: &[HourRow], customers: &[(NaiveDate, i64)]) -> Vec<HourRow> {
    let mut days: Vec<HourRow> = span
        .from
        .iter_days()
        .take_while(|d| *d <= span.to)
        .map(|d| HourRow {
            hour: d.to_string(),
            ..HourRow::default()
        })
        .collect();
    for row in hours {
        let date = row.hour.get(..10).unwrap_or_default();
        if let Some(day) = days.iter_mut().find(|d| d.hour == date) {
            day.add(row);
        }
    }
    for (date, n) in customers {
        let date = date.to_string();
        if let Some(day) = days.iter_mut().find(|d| d.hour == date) {
            day.customers = *n;
        }
    }
    days
}

fn unavailable(error: sqlx::Error) -> StatsError {
    tracing::warn!(error = %store::describe(&error), "dashboard query failed");
    StatsError::Unavailable
}

#[async_trait]
impl StatsSource for PgStats {
    async fn overview(&self, viewer: &Viewer, query: &RangeQuery) -> Result<Overview, StatsError> {
        let scope = self.scope(viewer, query).await?;
        let pool = &self.pool;
        let w = scope.window();
        let hourly = scope.span.days() == 1;
        // The previous period is the same report for its days, as on every
        // page; it runs beside this one's reads, each on its own connection.
        let previous = async {
            match RangeQuery::previous_of(&scope.period) {
                Some(q) => self.overview(viewer, &q).await.map(|p| Some(Box::new(p))),
                None => Ok(None),
            }
        };
        let current = async {
            tokio::try_join!(
                sql::sales(pool, w),
                sql::session_summary(pool, w, scope.days(), TOP_SOURCES),
                sql::new_and_returning(pool, w, scope.days()),
                sql::products(pool, w, scope.days(), false, TOP_PRODUCTS),
                sql::revenue_by(pool, w, &scope.site.timezone, hourly),
                sql::first_time_customers(pool, w, scope.days()),
            )
            .map_err(unavailable)
        };
        let (((revenue, orders), summary, visitors, top_products, revenue_by, firsts), previous) =
            tokio::try_join!(current, previous)?;
        let figure = |current: i64, pick: fn(&Overview) -> i64| Figure {
            current,
            previous: previous.as_deref().map(pick),
        };
        let sessions = summary.counts;
        Ok(Overview {
            revenue: figure(revenue, |p| p.revenue.current),
            orders: figure(orders, |p| p.orders.current),
            visitors: figure(visitors.0 + visitors.1, |p| p.visitors.current),
            sessions: figure(sessions.sessions, |p| p.sessions.current),
            converted: figure(sessions.purchases, |p| p.converted.current),
            bounces: figure(summary.bounces, |p| p.bounces.current),
            engaged: figure(summary.engaged, |p| p.engaged.current),
            first_time_buyers: figure(firsts, |p| p.first_time_buyers.current),
            funnel: sessions.funnel(),
            // Top products are products that sold: one only viewed, with no
            // units and no revenue, is not a top product.
            top_products: top_products
                .into_iter()
                .filter(|p| p.units != 0 || p.revenue != 0)
                .collect(),
            sources: summary.sources,
            other_sources: summary.other_sources,
            devices: summary.devices,
            revenue_series: fill(&scope.span, scope.tz, hourly, revenue_by),
            revenue_chart: String::new(),
            period: scope.period,
            previous,
        })
    }

    async fn hourly_sales(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
    ) -> Result<HourlySales, StatsError> {
        let scope = self.scope(viewer, query).await?;
        let w = scope.window();
        let rows = sql::hours(&self.pool, w, &scope.site.timezone)
            .await
            .map_err(unavailable)?;
        let mut totals = rows.iter().fold(HourRow::default(), |mut t, r| {
            t.add(r);
            t
        });
        let days = scope.days();
        let (customers, per_day) = tokio::try_join!(
            sql::customers(&self.pool, w, days),
            sql::customers_per_day(&self.pool, w, days),
        )
        .map_err(unavailable)?;
        totals.customers = customers;
        let hourly = scope.span.days() <= app::stats::HOURLY_DAYS;
        let day_rows = if hourly {
            Vec::new()
        } else {
            by_day(&scope.span, &rows, &per_day)
        };
        let found: Vec<Bucket> = if hourly {
            rows.iter()
                .map(|r| Bucket {
                    label: r.hour.clone(),
                    value: r.net(),
                })
                .collect()
        } else {
            day_rows
                .iter()
                .map(|r| Bucket {
                    label: r.hour.clone(),
                    value: r.net(),
                })
                .collect()
        };
        let previous = match RangeQuery::previous_of(&scope.period) {
            Some(q) => Some(Box::new(self.hourly_sales(viewer, &q).await?)),
            None => None,
        };
        Ok(HourlySales {
            series: fill(&scope.span, scope.tz, hourly, found),
            period: scope.period,
            rows,
            days: day_rows,
            totals,
            chart: String::new(),
            previous,
        })
    }

    async fn pages(&self, viewer: &Viewer, query: &RangeQuery) -> Result<PagesReport, StatsError> {
        let scope = self.scope(viewer, query).await?;
        let (pool, w) = (&self.pool, scope.window());
        let days = scope.days();
        // A cut day's sessions, read once for every table of the page.
        let cut = sql::cut_sessions(pool, w, days)
            .await
            .map_err(unavailable)?;
        let (summary, mut landing, mut exit, top, revenue) = tokio::try_join!(
            sql::session_summary_of(pool, w, days, TOP_SOURCES, &cut),
            sql::pages(pool, w, days, 'l', TOP_PAGES, &cut),
            sql::pages(pool, w, days, 'x', TOP_PAGES, &cut),
            sql::top_pages(pool, w, days, TOP_PAGES),
            sql::landing_revenue(pool, w, days, &cut),
        )
        .map_err(unavailable)?;
        let paths = |rows: &[app::stats::PageRow]| -> Vec<String> {
            rows.iter().map(|row| row.path.clone()).collect()
        };
        let (landing_paths, exit_paths) = (paths(&landing), paths(&exit));
        let (landing_visitors, exit_visitors) = tokio::try_join!(
            sql::page_visitors(pool, w, days, 'l', &landing_paths, &cut),
            sql::page_visitors(pool, w, days, 'x', &exit_paths, &cut),
        )
        .map_err(unavailable)?;
        for row in &mut landing {
            row.revenue = revenue.get(&row.path).copied().unwrap_or(0);
            row.visitors = landing_visitors.get(&row.path).copied().unwrap_or(0);
        }
        for row in &mut exit {
            row.visitors = exit_visitors.get(&row.path).copied().unwrap_or(0);
        }
        let previous = match RangeQuery::previous_of(&scope.period) {
            Some(q) => Some(Box::new(self.pages(viewer, &q).await?)),
            None => None,
        };
        Ok(PagesReport {
            period: scope.period,
            sessions: summary.counts.sessions,
            bounces: summary.bounces,
            engaged: summary.engaged,
            landing,
            exit,
            top,
            previous,
        })
    }

    async fn users(&self, viewer: &Viewer, query: &RangeQuery) -> Result<UserActivity, StatsError> {
        let scope = self.scope(viewer, query).await?;
        let (pool, w) = (&self.pool, scope.window());
        let (summary, (new_visitors, returning_visitors), customers) = tokio::try_join!(
            sql::session_summary(pool, w, scope.days(), TOP_SOURCES),
            sql::new_and_returning(pool, w, scope.days()),
            sql::top_customers(pool, w, scope.days(), &scope.site.timezone, TOP_CUSTOMERS),
        )
        .map_err(unavailable)?;
        let previous = match RangeQuery::previous_of(&scope.period) {
            Some(q) => Some(Box::new(self.users(viewer, &q).await?)),
            None => None,
        };
        Ok(UserActivity {
            previous,
            sessions: summary.counts.sessions,
            pages: summary.pages,
            seconds: summary.seconds,
            new_visitors,
            returning_visitors,
            customers,
            devices: summary.devices,
            browsers: summary.browsers,
            campaigns: summary.campaigns,
            period: scope.period,
        })
    }

    async fn sessions(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
        limit: i64,
    ) -> Result<(Period, Vec<SessionRow>), StatsError> {
        let scope = self.scope(viewer, query).await?;
        let rows = sql::session_list(&self.pool, scope.window(), &scope.site.timezone, limit)
            .await
            .map_err(unavailable)?;
        Ok((scope.period, rows))
    }

    async fn live(&self, viewer: &Viewer, query: &RangeQuery) -> Result<LiveSnapshot, StatsError> {
        let (site, _) = self.site(viewer, query.site.as_ref()).await?;
        let mut snapshot = store::live::snapshot(&self.pool, &site, Utc::now())
            .await
            .map_err(unavailable)?;
        snapshot.chart = crate::live::chart(&snapshot);
        Ok(snapshot)
    }

    async fn products(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
    ) -> Result<ProductPerformance, StatsError> {
        let scope = self.scope(viewer, query).await?;
        let (pool, w) = (&self.pool, scope.window());
        let days = scope.days();
        let (rows, categories) = tokio::try_join!(
            sql::products(pool, w, days, false, MAX_PRODUCTS),
            sql::products(pool, w, days, true, MAX_PRODUCTS),
        )
        .map_err(unavailable)?;
        let previous = match RangeQuery::previous_of(&scope.period) {
            Some(q) => Some(Box::new(self.products(viewer, &q).await?)),
            None => None,
        };
        Ok(ProductPerformance {
            rows,
            categories,
            period: scope.period,
            previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn every_day_of_the_range_gets_a_bucket() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let span = range::resolve(Some("7d"), None, None, tz, today).expect("span");
        let found = vec![Bucket {
            label: "2026-11-20".into(),
            value: 500,
        }];
        let filled = fill(&span, tz, false, found);
        assert_eq!(filled.len(), 7);
        assert_eq!(filled[0].label, "2026-11-17");
        assert_eq!(
            filled[3],
            Bucket {
                label: "2026-11-20".into(),
                value: 500
            }
        );
        assert_eq!(filled.iter().map(|b| b.value).sum::<i64>(), 500);
    }

    #[test]
    fn a_day_has_its_hours_even_when_the_clock_changes() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let hours = |from: &str| {
            let span =
                range::resolve(Some("custom"), Some(from), Some(from), tz, today).expect("span");
            fill(&span, tz, true, Vec::new())
        };
        assert_eq!(hours("2026-11-23").len(), 24);
        assert_eq!(hours("2026-03-29").len(), 23);
        assert_eq!(
            hours("2026-10-25").len(),
            24,
            "the repeated hour is one bucket"
        );
        assert_eq!(hours("2026-11-23")[14].label, "2026-11-23 14:00");
    }
}
