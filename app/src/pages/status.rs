//! The Status page: is the server healthy, and which schema does it run?

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::status::{format_uptime, get_status, DatabaseState, StatusReport},
    components::range::use_range_query,
};

/// Shows a fresh [`StatusReport`]; the refresh button fetches a new one
/// (it works once the page is hydrated: without WASM, reload the page).
#[component]
pub fn StatusPage() -> impl IntoView {
    // Times in the zone of the site the navigation came from.
    let site = use_range_query().get_untracked().site;
    view! {
        <Title text="Status"/>
        <StatusPanel site/>
    }
}

/// The report and its refresh button: an island, hydrated on its own.
#[island]
fn StatusPanel(site: Option<String>) -> impl IntoView {
    let refreshes = RwSignal::new(0_u32);
    let report = Resource::new(move || refreshes.get(), move |_| get_status(site.clone()));

    view! {
        <section class="status">
            <div class="page-head">
                <h1>"Status"</h1>
                <button
                    type="button"
                    data-testid="refresh"
                    on:click=move |_| refreshes.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <p>"Checking…"</p> }>
                {move || {
                    report
                        .get()
                        .map(|result| match result {
                            Ok(report) => view! { <StatusTable report/> }.into_any(),
                            Err(error) => {
                                view! {
                                    <p class="error" role="alert">
                                        "Could not fetch the status: " {error.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            <p class="muted" data-testid="refresh-count">
                {move || match refreshes.get() {
                    0 => "Not refreshed since the page loaded.".to_owned(),
                    1 => "Refreshed once on this page.".to_owned(),
                    n => format!("Refreshed {n} times on this page."),
                }}
            </p>
        </section>
    }
}

#[component]
fn StatusTable(report: StatusReport) -> impl IntoView {
    let (db_state, db_detail, schema) = match report.database {
        DatabaseState::Reachable { schema_version } => {
            ("reachable", String::new(), schema_version.to_string())
        }
        DatabaseState::Unreachable { reason } => ("unreachable", reason, "unknown".to_owned()),
    };
    view! {
        <dl class="facts">
            <dt>"Database"</dt>
            <dd>
                <span class=format!("badge badge-{db_state}") data-testid="db-status">{db_state}</span>
                " "
                <span class="muted">{db_detail}</span>
            </dd>
            <dt>"Schema version"</dt>
            <dd data-testid="schema-version">{schema}</dd>
            <dt>"Server version"</dt>
            <dd data-testid="server-version">{report.server_version}</dd>
            <dt>"Uptime"</dt>
            <dd data-testid="uptime">{format_uptime(report.uptime_seconds)}</dd>
            <dt>"Checked at"</dt>
            <dd>
                <time data-testid="checked-at" datetime=report.checked_at>{report.checked_at_local}</time>
                <span class="muted">{format!(" ({})", report.zone)}</span>
            </dd>
            <dt>"Events in the last hour"</dt>
            <dd data-testid="ingestion-last-hour">
                {format!(
                    "{} received: {} accepted, {} duplicates, {} rejected, {} bots",
                    report.ingestion.received,
                    report.ingestion.accepted,
                    report.ingestion.duplicates,
                    report.ingestion.rejected,
                    report.ingestion.bots,
                )}
            </dd>
            <dt>"Events waiting to be stored"</dt>
            <dd data-testid="queue-depth">{report.ingestion.queue_depth.to_string()}</dd>
            <dt>"Last storage error"</dt>
            <dd data-testid="flush-error">
                {report.ingestion.last_error.unwrap_or_else(|| "none".to_owned())}
            </dd>
            <dt>"Reports behind ingestion"</dt>
            <dd data-testid="fold-lag">{format!("{:.1} s", report.fold.lag_ms as f64 / 1000.0)}</dd>
            <dt>"Events waiting for the reports"</dt>
            <dd data-testid="fold-pending">{report.fold.pending_events.to_string()}</dd>
            <dt>"Last fold error"</dt>
            <dd data-testid="fold-error">
                {report.fold.last_error.unwrap_or_else(|| "none".to_owned())}
            </dd>
        </dl>
    }
}
