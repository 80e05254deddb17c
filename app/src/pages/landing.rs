//! Pages (`/pages`; this module is `landing` beside the `pages` module it
//! lives in): where the range's sessions landed and where they left, with how
//! many bounced (one page view), were engaged (GA4's rule: 10 s or more,
//! two page views or more, or a purchase) and bought. Paths only: no host,
//! query or fragment. From the daily session rollup, like every page.

use leptos::prelude::*;

use crate::{
    api::stats::get_pages,
    components::{
        figures::Kpi,
        range::{report, RangeBar},
    },
    stats::{change, change_pp, count, money, percent, Figure, PageRow, PagesReport, RangeQuery},
};

#[component]
pub fn PagesPage() -> impl IntoView {
    report("Pages", get_pages, |pages, query| {
        view! { <PagesView pages query/> }
    })
}

#[component]
fn PagesView(pages: PagesReport, query: RangeQuery) -> impl IntoView {
    let before = pages.previous.as_deref();
    let sessions = Figure {
        current: pages.sessions,
        previous: before.map(|p| p.sessions),
    };
    let engaged = Figure {
        current: pages.engaged,
        previous: before.map(|p| p.engaged),
    };
    let bounce_change = change_pp(
        (pages.bounces, pages.sessions),
        before.map(|p| (p.bounces, p.sessions)),
    );
    let bounce_before = before.map(|p| percent(p.bounces, p.sessions));
    view! {
        <RangeBar path="/pages" query period=pages.period.clone()/>
        <div class="kpis">
            <Kpi label="Sessions" value=count(pages.sessions) change=change(&sessions) before=sessions.previous.map(count)/>
            <Kpi label="Bounce rate" value=percent(pages.bounces, pages.sessions) change=bounce_change before=bounce_before note=Some("sessions of one page view".to_owned())/>
            <Kpi label="Engaged sessions" value=count(pages.engaged) change=change(&engaged) before=engaged.previous.map(count) note=Some("10 s or more, 2+ pages, or a purchase".to_owned())/>
        </div>
        <section class="panel">
            <h2>"Top pages"</h2>
            {if pages.top.is_empty() {
                view! { <p class="empty" data-testid="top-pages">"No page views in this range."</p> }.into_any()
            } else {
                let rows = pages.top.iter().map(|(path, views)| view! {
                    <tr><th scope="row" class="path" title=path.clone()>{path.clone()}</th><td class="num">{count(*views)}</td></tr>
                }).collect_view();
                view! {
                    <table class="numbers" data-testid="top-pages">
                        <thead><tr><th>"Page"</th><th class="num">"Page views"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <div class="columns">
            <section class="panel">
                <h2>"Landing pages"</h2>
                <PageTable rows=pages.landing.clone() testid="landing-pages" empty="No sessions in this range." currency=Some(pages.period.currency.clone())/>
            </section>
            <section class="panel">
                <h2>"Exit pages"</h2>
                <PageTable rows=pages.exit.clone() testid="exit-pages" empty="No sessions in this range." currency=None/>
            </section>
        </div>
        <p class="muted small">"Top pages: page views in the range. Landing and exit pages: by the session's first and last page view, for sessions that started in the range. Visitors: distinct visitors with a session that landed (or left) there. Revenue: the orders of the sessions that landed there. The 50 largest of each."</p>
    }
}

#[component]
fn PageTable(
    rows: Vec<PageRow>,
    testid: &'static str,
    empty: &'static str,
    /// Landing pages: the site currency, for the revenue column.
    currency: Option<String>,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty" data-testid=testid>{empty}</p> }.into_any();
    }
    let body = rows
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <th scope="row" class="path" title=r.path.clone()>{r.path.clone()}</th>
                    <td class="num">{count(r.visitors)}</td>
                    <td class="num">{count(r.sessions)}</td>
                    <td class="num">{percent(r.bounces, r.sessions)}</td>
                    <td class="num">{count(r.engaged)}</td>
                    <td class="num">{percent(r.converted, r.sessions)}</td>
                    {currency.as_ref().map(|cur| view! { <td class="num">{money(r.revenue, cur)}</td> })}
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="numbers" data-testid=testid>
            <thead><tr>
                <th>"Page"</th>
                <th class="num">"Visitors"</th>
                <th class="num">"Sessions"</th><th class="num">"Bounce rate"</th>
                <th class="num">"Engaged"</th><th class="num">"Conversion"</th>
                {currency.is_some().then(|| view! { <th class="num">"Revenue"</th> })}
            </tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}
