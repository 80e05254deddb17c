//! User Activity: visits, new and returning visitors, top customers, and
//! the devices, browsers and campaigns they came with.

use leptos::prelude::*;

use crate::{
    api::stats::get_users,
    components::{
        figures::Kpi,
        range::{report, RangeBar},
    },
    stats::{average, change, count, duration, money, Figure, RangeQuery, Share, UserActivity},
};

#[component]
pub fn UsersPage() -> impl IntoView {
    report("User Activity", get_users, |users, query| {
        view! { <UsersReport users query/> }
    })
}

#[component]
fn UsersReport(users: UserActivity, query: RangeQuery) -> impl IntoView {
    let cur = users.period.currency.clone();
    // Pages per session with one decimal, from integers.
    let per_session = average(users.pages * 10, users.sessions).map_or_else(
        || "–".to_owned(),
        |tenths| format!("{}.{}", tenths / 10, tenths % 10),
    );
    let length = average(users.seconds, users.sessions).map_or_else(|| "–".to_owned(), duration);
    // With a previous period: each count's change and its value then.
    let before = users.previous.as_deref();
    let kpi = |pick: fn(&UserActivity) -> i64| {
        let figure = Figure {
            current: pick(&users),
            previous: before.map(pick),
        };
        (
            count(figure.current),
            change(&figure),
            figure.previous.map(count),
        )
    };
    let (sessions, sessions_change, sessions_before) = kpi(|u| u.sessions);
    let (new, new_change, new_before) = kpi(|u| u.new_visitors);
    let (returning, returning_change, returning_before) = kpi(|u| u.returning_visitors);
    let customers = users
        .customers
        .iter()
        .map(|c| {
            view! {
                <tr>
                    <th scope="row">{c.customer.clone()}</th>
                    <td class="num">{count(c.orders)}</td>
                    <td class="num">{money(c.spend, &cur)}</td>
                    <td>{c.last_seen.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <RangeBar path="/users" query period=users.period.clone()/>
        <div class="kpis">
            <Kpi label="Sessions" value=sessions change=sessions_change before=sessions_before/>
            <Kpi label="New visitors" value=new change=new_change before=new_before/>
            <Kpi label="Returning visitors" value=returning change=returning_change before=returning_before/>
            <Kpi label="Pages per session" value=per_session/>
            <Kpi label="Session length" value=length note=Some("average, first to last event".to_owned())/>
        </div>
        <section class="panel scroll">
            <h2>"Top customers by spend"</h2>
            {if users.customers.is_empty() {
                view! { <p class="empty">"No customers with orders in this range."</p> }.into_any()
            } else {
                view! {
                    <table class="numbers" data-testid="customers">
                        <thead><tr><th>"Customer"</th><th class="num">"Orders"</th><th class="num">"Spend"</th><th>"Last seen"</th></tr></thead>
                        <tbody>{customers}</tbody>
                    </table>
                }.into_any()
            }}
            <p class="muted small">"Lifetime orders and spend of customers seen in this range."</p>
        </section>
        <div class="columns">
            <ShareList title="Devices" rows=users.devices.clone() testid="user-devices"/>
            <ShareList title="Browsers" rows=users.browsers.clone() testid="user-browsers"/>
            <ShareList title="UTM campaigns" rows=users.campaigns.clone() testid="user-campaigns"/>
        </div>
    }
}

#[component]
fn ShareList(title: &'static str, rows: Vec<Share>, testid: &'static str) -> impl IntoView {
    let body = rows
        .iter()
        .map(|r| view! { <tr><td>{r.name.clone()}</td><td class="num">{count(r.sessions)}</td></tr> })
        .collect_view();
    view! {
        <section class="panel">
            <h2>{title}</h2>
            {if rows.is_empty() {
                view! { <p class="empty">"None in this range."</p> }.into_any()
            } else {
                view! {
                    <table class="numbers" data-testid=testid>
                        <thead><tr><th>"Name"</th><th class="num">"Sessions"</th></tr></thead>
                        <tbody>{body}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
