//! Hourly Sales: revenue, refunds, tax, shipping, net, orders, units and
//! customers per hour, verified and unverified revenue apart. Net revenue
//! leaves refunds, tax and shipping out (`HourRow::net`).

use leptos::prelude::*;

use crate::{
    api::stats::get_hourly_sales,
    components::{
        figures::{Chart, Kpi},
        range::{report, RangeBar},
    },
    stats::{change, change_pp, count, money, Figure, HourRow, HourlySales, RangeQuery},
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
    // With a previous period: each figure's change and its value then.
    let before = sales.previous.as_ref().map(|p| p.totals.clone());
    let kpi = |pick: fn(&HourRow) -> i64, as_money: bool| {
        let figure = Figure {
            current: pick(t),
            previous: before.as_ref().map(pick),
        };
        let show = |n: i64| if as_money { money(n, &cur) } else { count(n) };
        (
            show(figure.current),
            change(&figure),
            figure.previous.map(show),
        )
    };
    let (revenue, revenue_change, revenue_before) = kpi(HourRow::revenue, true);
    let (verified, verified_change, verified_before) = kpi(|r| r.revenue_verified, true);
    let (unverified, unverified_change, unverified_before) = kpi(|r| r.revenue_unverified, true);
    let (refunds, refunds_change, refunds_before) = kpi(|r| r.refunds, true);
    let (tax, tax_change, tax_before) = kpi(|r| r.tax, true);
    let (shipping, shipping_change, shipping_before) = kpi(|r| r.shipping, true);
    let (net, net_change, net_before) = kpi(HourRow::net, true);
    let (customers, customers_change, customers_before) = kpi(|r| r.customers, false);
    let refund_rate_change = change_pp(
        (t.refund_count, t.orders),
        before.as_ref().map(|b| (b.refund_count, b.orders)),
    );
    let refund_rate_before = before.as_ref().map(HourRow::refund_rate);
    let refund_note = Some(format!(
        "{} refunds of {} orders",
        count(t.refund_count),
        count(t.orders)
    ));
    let daily = !sales.days.is_empty();
    // A long range goes by day; each day links to its own hours.
    let rows = if daily {
        let link = |day: &str| {
            RangeQuery {
                range: Some("custom".to_owned()),
                from: Some(day.to_owned()),
                to: Some(day.to_owned()),
                until: None,
                ..query.clone()
            }
            .to_query()
        };
        rows_html(&sales.days, &cur, Some(&link))
    } else {
        rows_html(&sales.rows, &cur, None)
    };
    let label = format!(
        "Net revenue per {} from {} to {}",
        if daily { "day" } else { "hour" },
        sales.period.from,
        sales.period.to
    );
    let empty = sales.rows.is_empty();
    let first = if daily { "Day" } else { "Hour" };
    view! {
        <RangeBar path="/hourly" query period=sales.period.clone()/>
        <div class="kpis">
            <Kpi label="Revenue" value=revenue change=revenue_change before=revenue_before/>
            <Kpi label="Verified revenue" value=verified change=verified_change before=verified_before note=Some("reported by the shop's backend".to_owned())/>
            <Kpi label="Unverified revenue" value=unverified change=unverified_change before=unverified_before note=Some("reported by browsers only".to_owned())/>
            <Kpi label="Refunds" value=refunds change=refunds_change before=refunds_before/>
            <Kpi label="Refund rate" value=t.refund_rate() change=refund_rate_change before=refund_rate_before note=refund_note/>
            <Kpi label="Tax" value=tax change=tax_change before=tax_before note=Some("less refunded tax".to_owned())/>
            <Kpi label="Shipping" value=shipping change=shipping_change before=shipping_before note=Some("less refunded shipping".to_owned())/>
            <Kpi label="Net revenue" value=net change=net_change before=net_before note=Some("without refunds, tax and shipping".to_owned())/>
            <Kpi label="Customers" value=customers change=customers_change before=customers_before/>
        </div>
        <div class="panel">
            <Chart svg=sales.chart.clone() label/>
        </div>
        {(!empty).then(|| view! {
            <div class="panel scroll">
                <table class="numbers" data-testid="hourly-table">
                    <thead>
                        <tr>
                            <th>{first}</th><th class="num">"Revenue"</th><th class="num">"Verified"</th>
                            <th class="num">"Unverified"</th><th class="num">"Refunds"</th><th class="num">"Refund count"</th><th class="num">"Tax"</th>
                            <th class="num">"Shipping"</th><th class="num">"Net"</th>
                            <th class="num">"Orders"</th><th class="num">"Units"</th><th class="num">"Customers"</th>
                            <th class="num">"AOV"</th>
                        </tr>
                    </thead>
                    <tbody inner_html=rows></tbody>
                    <tfoot>{total_view(&sales.totals, &cur)}</tfoot>
                </table>
            </div>
        })}
    }
}

/// The cells of a row after its label, as text.
fn cells(row: &HourRow, cur: &str) -> [String; 12] {
    [
        money(row.revenue(), cur),
        money(row.revenue_verified, cur),
        money(row.revenue_unverified, cur),
        money(row.refunds, cur),
        count(row.refund_count),
        money(row.tax, cur),
        money(row.shipping, cur),
        money(row.net(), cur),
        count(row.orders),
        count(row.units),
        count(row.customers),
        row.aov().map_or_else(|| "–".to_owned(), |v| money(v, cur)),
    ]
}

/// The table body as one HTML string. As a view per cell, the 7,200 cells
/// of a 30-day range were most of the page's server time (12 of 17 ms);
/// as a string they take well under a millisecond. Every cell is an hour
/// label or a number formatted here, and is escaped all the same. With
/// `link`, each row's label links to the query it gives (a day's hours).
fn rows_html(rows: &[HourRow], cur: &str, link: Option<&dyn Fn(&str) -> String>) -> String {
    let mut html = String::with_capacity(rows.len() * 340);
    for row in rows {
        html.push_str("<tr><th scope=\"row\">");
        match link {
            Some(link) => {
                html.push_str("<a href=\"/hourly");
                escape_into(&mut html, &link(&row.hour));
                html.push_str("\">");
                escape_into(&mut html, &row.hour);
                html.push_str("</a>");
            }
            None => escape_into(&mut html, &row.hour),
        }
        html.push_str("</th>");
        for cell in cells(row, cur) {
            html.push_str("<td class=\"num\">");
            escape_into(&mut html, &cell);
            html.push_str("</td>");
        }
        html.push_str("</tr>");
    }
    html
}

/// Appends `text` with the characters HTML gives meaning to escaped.
fn escape_into(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}

/// The totals row.
fn total_view(totals: &HourRow, cur: &str) -> impl IntoView {
    let cells = cells(totals, cur)
        .into_iter()
        .map(|cell| view! { <td class="num">{cell}</td> })
        .collect_view();
    view! { <tr><th scope="row">"Total"</th>{cells}</tr> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_string_has_every_cell_escaped() {
        let row = HourRow {
            hour: "2026-11-23 14:00 <b>&".to_owned(),
            revenue_verified: 1_000,
            revenue_unverified: 299,
            refunds: 100,
            orders: 2,
            units: 3,
            customers: 1,
            tax: 207,
            shipping: 50,
            refund_count: 1,
        };
        assert_eq!(
            rows_html(&[row], "EUR", None),
            "<tr><th scope=\"row\">2026-11-23 14:00 &lt;b&gt;&amp;</th>\
             <td class=\"num\">€12.99</td><td class=\"num\">€10.00</td>\
             <td class=\"num\">€2.99</td><td class=\"num\">€1.00</td><td class=\"num\">1</td>\
             <td class=\"num\">€2.07</td><td class=\"num\">€0.50</td>\
             <td class=\"num\">€9.42</td><td class=\"num\">2</td><td class=\"num\">3</td>\
             <td class=\"num\">1</td><td class=\"num\">€6.50</td></tr>"
        );
    }
}
