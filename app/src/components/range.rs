//! The range bar every report page starts with: site, presets, a custom
//! range and the comparison toggle. Plain links and a GET form, so it works
//! before (and without) hydration, and every view is a shareable URL.

use std::future::Future;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{de::DeserializeOwned, Serialize};

use crate::stats::{Period, RangeQuery, PRESETS};

/// The range in the current URL.
pub fn use_range_query() -> Memo<RangeQuery> {
    let params = use_query_map();
    Memo::new(move |_| {
        params.with(|p| RangeQuery {
            site: p.get("site"),
            range: p.get("range"),
            from: p.get("from"),
            to: p.get("to"),
            compare: p.get("compare"),
            until: p.get("until"),
        })
    })
}

/// `path` with the current range changed by `change`.
fn link(path: &str, query: &RangeQuery, change: impl FnOnce(&mut RangeQuery)) -> String {
    let mut query = query.clone();
    change(&mut query);
    format!("{path}{}", query.to_query())
}

#[component]
pub fn RangeBar(path: &'static str, query: RangeQuery, period: Period) -> impl IntoView {
    let presets = PRESETS
        .iter()
        .map(|(key, label)| {
            let href = link(path, &query, |q| {
                q.range = Some((*key).to_owned());
                q.from = None;
                q.to = None;
                q.until = None;
            });
            let current = (period.range == *key).then_some("page");
            view! { <a href=href aria-current=current class="chip">{*label}</a> }
        })
        .collect_view();
    let comparing = query.compares();
    let toggle = |mode: &'static str| {
        link(path, &query, |q| {
            q.compare = (q.comparison() != Some(mode)).then(|| mode.to_owned());
        })
    };
    let (previous_href, week_href) = (toggle("previous"), toggle("week"));
    let previous_label = match query.comparison() {
        Some("previous") => "Stop comparing",
        _ => "Compare with previous period",
    };
    let week_label = match query.comparison() {
        Some("week") => "Stop comparing",
        _ => "Compare with the same weekdays before",
    };
    let compared = period.previous.clone().map(|(from, to)| {
        let span = if from == to { from } else { format!("{from} – {to}") };
        // Like with like: a period that runs until now is set against its
        // previous period until the same time.
        let until = period
            .previous_until
            .as_ref()
            .map(|t| format!(" until {t}"))
            .unwrap_or_default();
        view! { <span class="muted small" data-testid="compared-with">{format!("against {span}{until}")}</span> }
    });
    let sites = (period.sites.len() > 1).then(|| {
        let options = period
            .sites
            .iter()
            .map(|(key, name)| {
                let selected = *key == period.site;
                view! { <option value=key.clone() selected=selected>{name.clone()}</option> }
            })
            .collect_view();
        view! {
            <label>"Site " <select name="site">{options}</select></label>
        }
    });
    let span = if period.from == period.to {
        period.from.clone()
    } else {
        format!("{} – {}", period.from, period.to)
    };
    let span = match &period.until {
        Some(until) => format!("{span} until {until}"),
        None => span,
    };
    view! {
        <div class="range-bar">
            <p class="range-site">
                <strong>{period.site_name.clone()}</strong>
                <span class="muted">{format!(" · {span} · {} · {}", period.timezone, period.currency)}</span>
            </p>
            <nav aria-label="Range" class="chips">{presets}</nav>
            <form method="get" action=path class="custom-range">
                {sites}
                <input type="hidden" name="range" value="custom" />
                <label>"From " <input type="date" name="from" value=period.from.clone() required /></label>
                <label>"To " <input type="date" name="to" value=period.to.clone() required /></label>
                {comparing.then(|| view! { <input type="hidden" name="compare" value=query.comparison().unwrap_or("previous") /> })}
                <button type="submit">"Apply"</button>
            </form>
            <a href=previous_href class="compare-toggle">{previous_label}</a>
            <a href=week_href class="compare-toggle">{week_label}</a>
            {compared}
        </div>
    }
}

/// The frame of every report page: its title, the numbers for the range in
/// the URL (fetched during server rendering, refetched when the URL
/// changes), and `show` for them, or why they could not be had.
pub fn report<T, Fut, V>(
    title: &'static str,
    fetch: impl Fn(RangeQuery) -> Fut + Send + Sync + 'static,
    show: impl Fn(T, RangeQuery) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
    V: IntoView + 'static,
{
    let query = use_range_query();
    let data = Resource::new(move || query.get(), fetch);
    view! {
        <Title text=title/>
        <section class="report">
            <h1>{title}</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    data.get()
                        .map(|result| match result {
                            Ok(numbers) => show(numbers, query.get_untracked()).into_any(),
                            Err(error) => view! { <StatsFailure error/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

/// What a page shows when its numbers could not be had.
#[component]
pub fn StatsFailure(error: ServerFnError) -> impl IntoView {
    let message = match error {
        ServerFnError::ServerError(message) => message,
        other => other.to_string(),
    };
    view! { <p class="error" role="alert">{message}</p> }
}
