//! Hourly Sales: revenue, refunds, net, orders, units and customers per
//! hour, verified and unverified revenue apart.

use leptos::prelude::*;

use crate::{
    api::stats::get_hourly_sales,
    components::{
        figures::{Chart, Kpi},
        range::{report, RangeBar},
    },
    stats::{count, money, HourRow, HourlySales, RangeQuery},
};

#[component]
pub fn HourlyPage() -> impl IntoView {
    report("Hourly Sales", get_hourly_sales, |sales, query| {
        view! { <HourlyReport sales query/> }
    })
}

#[component]
fn HourlyReport(sales: HourlySales, query: RangeQuery) -> impl IntoView {
    let cur = sales.period.currency.clone();
    let t = &sales.totals;
    let rows = sales
        .rows
        .iter()
        .map(|row| row_view(row, &cur, false))
        .collect_view();
    let label = format!(
        "Net revenue per hour from {} to {}",
        sales.period.from, sales.period.to
    );
    let empty = sales.rows.is_empty();
    view! {
        <RangeBar path="/hourly" query period=sales.period.clone()/>
        <div class="kpis">
            <Kpi label="Revenue" value=money(t.revenue(), &cur)/>
            <Kpi label="Verified revenue" value=money(t.revenue_verified, &cur) note=Some("reported by the shop's backend".to_owned())/>
            <Kpi label="Unverified revenue" value=money(t.revenue_unverified, &cur) note=Some("reported by browsers only".to_owned())/>
            <Kpi label="Refunds" value=money(t.refunds, &cur)/>
            <Kpi label="Net revenue" value=money(t.net(), &cur)/>
            <Kpi label="Customers" value=count(t.customers)/>
        </div>
        <div class="panel">
            <Chart svg=sales.chart.clone() label/>
        </div>
        {(!empty).then(|| view! {
            <div class="panel scroll">
                <table class="numbers" data-testid="hourly-table">
                    <thead>
                        <tr>
                            <th>"Hour"</th><th class="num">"Revenue"</th><th class="num">"Verified"</th>
                            <th class="num">"Unverified"</th><th class="num">"Refunds"</th><th class="num">"Net"</th>
                            <th class="num">"Orders"</th><th class="num">"Units"</th><th class="num">"Customers"</th>
                            <th class="num">"AOV"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                    <tfoot>{row_view(&sales.totals, &cur, true)}</tfoot>
                </table>
            </div>
        })}
    }
}

fn row_view(row: &HourRow, cur: &str, total: bool) -> impl IntoView {
    let hour = if total {
        "Total".to_owned()
    } else {
        row.hour.clone()
    };
    view! {
        <tr>
            <th scope="row">{hour}</th>
            <td class="num">{money(row.revenue(), cur)}</td>
            <td class="num">{money(row.revenue_verified, cur)}</td>
            <td class="num">{money(row.revenue_unverified, cur)}</td>
            <td class="num">{money(row.refunds, cur)}</td>
            <td class="num">{money(row.net(), cur)}</td>
            <td class="num">{count(row.orders)}</td>
            <td class="num">{count(row.units)}</td>
            <td class="num">{count(row.customers)}</td>
            <td class="num">{row.aov().map_or_else(|| "–".to_owned(), |v| money(v, cur))}</td>
        </tr>
    }
}
