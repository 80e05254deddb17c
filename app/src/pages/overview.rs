//! Overview: the figures a store owner opens every morning.

use leptos::prelude::*;

use crate::{
    api::stats::get_overview,
    components::{
        figures::{Chart, Kpi},
        range::{report, RangeBar},
    },
    stats::{average, change, change_pp, count, money, percent, Figure, Overview, Share},
};

#[component]
pub fn OverviewPage() -> impl IntoView {
    report("Overview", get_overview, |overview, query| {
        view! { <OverviewReport overview query/> }
    })
}

#[component]
fn OverviewReport(overview: Overview, query: crate::stats::RangeQuery) -> impl IntoView {
    let cur = overview.period.currency.clone();
    let aov = |revenue: i64, orders: i64| average(revenue, orders).unwrap_or(0);
    let aov_figure = Figure {
        current: aov(overview.revenue.current, overview.orders.current),
        previous: overview
            .revenue
            .previous
            .zip(overview.orders.previous)
            .map(|(r, o)| aov(r, o)),
    };
    // A rate's change is in percentage points.
    let conversion = change_pp(
        (overview.converted.current, overview.sessions.current),
        overview.converted.previous.zip(overview.sessions.previous),
    );
    let before_money = |f: &Figure| f.previous.map(|p| money(p, &cur));
    let before_count = |f: &Figure| f.previous.map(count);
    let bounce_change = change_pp(
        (overview.bounces.current, overview.sessions.current),
        overview.bounces.previous.zip(overview.sessions.previous),
    );
    let bounce_before = overview
        .bounces
        .previous
        .zip(overview.sessions.previous)
        .map(|(b, s)| percent(b, s));
    let before_rate = overview
        .converted
        .previous
        .zip(overview.sessions.previous)
        .map(|(c, s)| percent(c, s));
    let funnel_top = overview.funnel.first().map_or(0, |s| s.sessions);
    let mut before = funnel_top;
    let funnel = overview
        .funnel
        .iter()
        .map(|step| {
            let of_previous = percent(step.sessions, before);
            before = step.sessions;
            view! {
                <tr>
                    <th scope="row">{step.step.clone()}</th>
                    <td class="num">{count(step.sessions)}</td>
                    <td class="num">{of_previous}</td>
                    <td class="num">{percent(step.sessions, funnel_top)}</td>
                </tr>
            }
        })
        .collect_view();
    let no_revenue = overview.revenue_series.iter().all(|b| b.value == 0);
    let series = overview
        .revenue_series
        .iter()
        .map(|b| view! { <tr><td>{b.label.clone()}</td><td class="num">{money(b.value, &cur)}</td></tr> })
        .collect_view();
    let products = overview
        .top_products
        .iter()
        .map(|p| {
            view! {
                <tr>
                    <td>{p.name.clone()}</td>
                    <td class="num">{count(p.views)}</td>
                    <td class="num">{count(p.units)}</td>
                    <td class="num">{money(p.revenue, &cur)}</td>
                </tr>
            }
        })
        .collect_view();
    let chart_label = format!(
        "Revenue from {} to {}",
        overview.period.from, overview.period.to
    );
    view! {
        <RangeBar path="/" query period=overview.period.clone()/>
        <div class="kpis">
            <Kpi label="Revenue" value=money(overview.revenue.current, &cur) change=change(&overview.revenue) before=before_money(&overview.revenue)/>
            <Kpi label="Orders" value=count(overview.orders.current) change=change(&overview.orders) before=before_count(&overview.orders)/>
            <Kpi label="Conversion rate" value=percent(overview.converted.current, overview.sessions.current) change=conversion before=before_rate/>
            <Kpi label="Average order value" value=money(aov_figure.current, &cur) change=change(&aov_figure) before=before_money(&aov_figure)/>
            <Kpi label="Visitors" value=count(overview.visitors.current) change=change(&overview.visitors) before=before_count(&overview.visitors)/>
            <Kpi label="Bounce rate" value=percent(overview.bounces.current, overview.sessions.current) change=bounce_change before=bounce_before note=Some("sessions of one page view".to_owned())/>
            <Kpi label="Engaged sessions" value=count(overview.engaged.current) change=change(&overview.engaged) before=before_count(&overview.engaged) note=Some("10 s or more, 2+ pages, or a purchase".to_owned())/>
            <Kpi label="First-time buyers" value=count(overview.first_time_buyers.current) change=change(&overview.first_time_buyers) before=before_count(&overview.first_time_buyers) note=Some("first order ever in this range".to_owned())/>
        </div>
        <div class="panel">
            <Chart svg=overview.revenue_chart.clone() label=chart_label/>
            {(!no_revenue).then(|| view! {
                <details>
                    <summary>"Revenue table"</summary>
                    <table class="numbers"><thead><tr><th>"Bucket"</th><th class="num">"Revenue"</th></tr></thead><tbody>{series}</tbody></table>
                </details>
            })}
        </div>
        <div class="columns">
            <section class="panel">
                <h2>"Funnel"</h2>
                <table class="numbers" data-testid="funnel">
                    <thead><tr><th>"Step"</th><th class="num">"Sessions"</th><th class="num">"Of previous step"</th><th class="num">"Of all sessions"</th></tr></thead>
                    <tbody>{funnel}</tbody>
                </table>
            </section>
            <section class="panel">
                <h2>"Top products"</h2>
                {if overview.top_products.is_empty() {
                    view! { <p class="empty" data-testid="top-products">"No products sold in this range."</p> }.into_any()
                } else {
                    view! {
                        <table class="numbers" data-testid="top-products">
                            <thead><tr><th>"Product"</th><th class="num">"Views"</th><th class="num">"Units"</th><th class="num">"Revenue"</th></tr></thead>
                            <tbody>{products}</tbody>
                        </table>
                    }.into_any()
                }}
            </section>
            <section class="panel">
                <h2>"Sources"</h2>
                <ShareTable rows=overview.sources.clone() other=overview.other_sources total=overview.sessions.current testid="sources"/>
            </section>
            <section class="panel">
                <h2>"Devices"</h2>
                <ShareTable rows=overview.devices.clone() other=0 total=overview.sessions.current testid="devices"/>
            </section>
        </div>
    }
}

/// Sessions by name, each as a share of all the range's `total` sessions;
/// the `other` sessions (of names not listed) make a last row, "Other".
#[component]
fn ShareTable(rows: Vec<Share>, other: i64, total: i64, testid: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No sessions in this range."</p> }.into_any();
    }
    let other = (other > 0).then(|| Share {
        name: "Other".to_owned(),
        sessions: other,
    });
    let body = rows
        .into_iter()
        .chain(other)
        .map(|r| {
            view! {
                <tr><td>{r.name}</td><td class="num">{count(r.sessions)}</td><td class="num">{percent(r.sessions, total)}</td></tr>
            }
        })
        .collect_view();
    view! {
        <table class="numbers" data-testid=testid>
            <thead><tr><th>"Name"</th><th class="num">"Sessions"</th><th class="num">"Share"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}
