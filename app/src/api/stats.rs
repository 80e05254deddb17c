//! The server functions behind the Overview, Hourly Sales and Product
//! Performance pages: they ask the server's [`crate::ports::StatsSource`]
//! and add the charts (rendered here, on the server, to SVG).

use leptos::prelude::*;

use crate::stats::{HourlySales, Overview, ProductPerformance, RangeQuery};

/// Whether the request is signed in: the Real-Time page asks when its
/// socket keeps failing (the page gate answers 401 when not).
#[server]
pub async fn signed_in() -> Result<(), ServerFnError> {
    crate::accounts::viewer().map(|_| ())
}

#[server]
pub async fn get_overview(#[server(default)] query: RangeQuery) -> Result<Overview, ServerFnError> {
    let mut overview = answer(source()?.overview(&viewer()?, &query).await)?;
    let hourly = overview.period.from == overview.period.to;
    overview.revenue_chart = crate::charts::bars(
        if hourly {
            "Revenue per hour"
        } else {
            "Revenue per day"
        },
        if hourly { "Hour" } else { "Day" },
        &overview.period.currency,
        crate::charts::Unit::money(&overview.period.currency),
        &overview.revenue_series,
    );
    Ok(overview)
}

#[server]
pub async fn get_hourly_sales(
    #[server(default)] query: RangeQuery,
) -> Result<HourlySales, ServerFnError> {
    let mut sales = answer(source()?.hourly_sales(&viewer()?, &query).await)?;
    let daily = !sales.days.is_empty();
    sales.chart = crate::charts::bars(
        if daily {
            "Net revenue per day"
        } else {
            "Net revenue per hour"
        },
        if daily { "Day" } else { "Hour" },
        &sales.period.currency,
        crate::charts::Unit::money(&sales.period.currency),
        &sales.series,
    );
    Ok(sales)
}

#[server]
pub async fn get_products(
    #[server(default)] query: RangeQuery,
) -> Result<ProductPerformance, ServerFnError> {
    answer(source()?.products(&viewer()?, &query).await)
}

#[server]
pub async fn get_pages(
    #[server(default)] query: RangeQuery,
) -> Result<crate::stats::PagesReport, ServerFnError> {
    answer(source()?.pages(&viewer()?, &query).await)
}

#[server]
pub async fn get_users(
    #[server(default)] query: RangeQuery,
) -> Result<crate::stats::UserActivity, ServerFnError> {
    answer(source()?.users(&viewer()?, &query).await)
}

/// The Real-Time page's first snapshot, so it renders with numbers before
/// the socket takes over.
#[server]
pub async fn get_live(
    #[server(default)] query: RangeQuery,
) -> Result<crate::live::LiveSnapshot, ServerFnError> {
    answer(source()?.live(&viewer()?, &query).await)
}

#[cfg(feature = "ssr")]
use crate::accounts::viewer;

#[cfg(feature = "ssr")]
fn source() -> Result<std::sync::Arc<dyn crate::ports::StatsSource>, ServerFnError> {
    use_context::<std::sync::Arc<dyn crate::ports::StatsSource>>()
        .ok_or_else(|| ServerFnError::new("stats source missing from context"))
}

/// Passes the numbers on, or sets the page's status (404 for an unknown
/// site, 400 for a bad range, 503 without a database) and says why.
#[cfg(feature = "ssr")]
fn answer<T>(result: Result<T, crate::stats::StatsError>) -> Result<T, ServerFnError> {
    result.map_err(|error| {
        if let Ok(status) = http::StatusCode::from_u16(error.status()) {
            super::set_status(status);
        }
        ServerFnError::new(error.to_string())
    })
}
