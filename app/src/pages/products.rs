//! Product Performance: per product and per category, sortable, searchable
//! and filterable through the URL (so it works without JavaScript and every
//! view is a link), with a CSV download of the same rows.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    api::stats::get_products,
    components::range::{report, RangeBar},
    stats::{count, encode, money, percent, ProductPerformance, ProductRow, RangeQuery},
};

/// Sortable columns: (key, heading).
const COLUMNS: &[(&str, &str)] = &[
    ("name", "Product"),
    ("impressions", "Impressions"),
    ("views", "Views"),
    ("add_to_carts", "Add to cart"),
    ("removals", "Removals"),
    ("checkouts", "Checkouts"),
    ("purchases", "Purchases"),
    ("units", "Units"),
    ("revenue", "Revenue"),
    ("conversion", "View → purchase"),
    ("refunds", "Refunds"),
    ("refund_rate", "Refund rate"),
];

/// The table's own view settings from the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableView {
    pub sort: String,
    pub descending: bool,
    pub search: String,
    pub category: String,
}

/// Filters and sorts `rows` as the URL asks.
pub fn arrange(rows: &[ProductRow], view: &TableView) -> Vec<ProductRow> {
    let needle = view.search.to_lowercase();
    let mut rows: Vec<ProductRow> = rows
        .iter()
        .filter(|r| {
            needle.is_empty()
                || r.name.to_lowercase().contains(&needle)
                || r.item_id.to_lowercase().contains(&needle)
        })
        .filter(|r| view.category.is_empty() || r.category == view.category)
        .cloned()
        .collect();
    let conversion = |r: &ProductRow| {
        if r.views == 0 {
            0
        } else {
            r.purchases * 1_000_000 / r.views
        }
    };
    // Refunds per purchase (an order with the product), as the column shows.
    let refund_rate = |r: &ProductRow| {
        if r.purchases == 0 {
            0
        } else {
            r.refunds * 1_000_000 / r.purchases
        }
    };
    rows.sort_by(|a, b| {
        let order = match view.sort.as_str() {
            "name" => a.name.cmp(&b.name),
            "impressions" => a.impressions.cmp(&b.impressions),
            "views" => a.views.cmp(&b.views),
            "add_to_carts" => a.add_to_carts.cmp(&b.add_to_carts),
            "removals" => a.removals.cmp(&b.removals),
            "checkouts" => a.checkouts.cmp(&b.checkouts),
            "purchases" => a.purchases.cmp(&b.purchases),
            "units" => a.units.cmp(&b.units),
            "conversion" => conversion(a).cmp(&conversion(b)),
            "refunds" => a.refunds.cmp(&b.refunds),
            "refund_rate" => refund_rate(a).cmp(&refund_rate(b)),
            _ => a.revenue.cmp(&b.revenue),
        };
        let order = if view.descending {
            order.reverse()
        } else {
            order
        };
        order.then_with(|| a.item_id.cmp(&b.item_id))
    });
    rows
}

#[component]
pub fn ProductsPage() -> impl IntoView {
    let params = use_query_map();
    let table = Memo::new(move |_| {
        params.with(|p| TableView {
            sort: p.get("sort").unwrap_or_else(|| "revenue".to_owned()),
            descending: p.get("dir").as_deref() != Some("asc"),
            search: p.get("q").unwrap_or_default(),
            category: p.get("category").unwrap_or_default(),
        })
    });
    report(
        "Product Performance",
        get_products,
        move |products, query| {
            view! { <ProductsReport products query table=table.get()/> }
        },
    )
}

#[component]
fn ProductsReport(
    products: ProductPerformance,
    query: RangeQuery,
    table: TableView,
) -> impl IntoView {
    let cur = products.period.currency.clone();
    let rows = arrange(&products.rows, &table);
    // With a previous period: each product's revenue then, and the change.
    let before: Option<std::collections::HashMap<String, i64>> =
        products.previous.as_ref().map(|p| {
            p.rows
                .iter()
                .map(|r| (r.item_id.clone(), r.revenue))
                .collect()
        });
    let comparing = before.is_some();
    let extra = |pairs: &[(&str, &str)]| {
        let mut q = query.to_query();
        for (key, value) in pairs {
            if !value.is_empty() {
                q.push(if q.is_empty() { '?' } else { '&' });
                q.push_str(&format!("{key}={}", encode(value)));
            }
        }
        q
    };
    let headings = COLUMNS
        .iter()
        .map(|(key, heading)| {
            let active = table.sort == *key;
            let dir = if active && table.descending {
                "asc"
            } else {
                "desc"
            };
            let href = format!(
                "/products{}",
                extra(&[
                    ("sort", key),
                    ("dir", dir),
                    ("q", &table.search),
                    ("category", &table.category)
                ])
            );
            let sort = match (active, table.descending) {
                (true, true) => "descending",
                (true, false) => "ascending",
                _ => "none",
            };
            let class = if *key == "name" { "" } else { "num" };
            view! { <th class=class aria-sort=sort><a href=href>{*heading}</a></th> }
        })
        .collect_view();
    let no_rows = rows.is_empty();
    let no_categories = products.categories.is_empty();
    let searched = !table.search.is_empty() || !table.category.is_empty();
    let body = rows
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <th scope="row">{r.name.clone()} <span class="muted small">{format!(" {}", r.item_id)}</span></th>
                    <td class="num">{count(r.impressions)}</td>
                    <td class="num">{count(r.views)}</td>
                    <td class="num">{count(r.add_to_carts)}</td>
                    <td class="num">{count(r.removals)}</td>
                    <td class="num">{count(r.checkouts)}</td>
                    <td class="num">{count(r.purchases)}</td>
                    <td class="num">{count(r.units)}</td>
                    <td class="num">{money(r.revenue, &cur)}</td>
                    <td class="num">{percent(r.purchases, r.views)}</td>
                    <td class="num">{count(r.refunds)}</td>
                    <td class="num">{percent(r.refunds, r.purchases)}</td>
                    {before.as_ref().map(|before| {
                        let figure = crate::stats::Figure {
                            current: r.revenue,
                            previous: Some(before.get(&r.item_id).copied().unwrap_or(0)),
                        };
                        view! {
                            <td class="num">{money(figure.previous.unwrap_or(0), &cur)}</td>
                            <td class="num">{crate::stats::change(&figure)}</td>
                        }
                    })}
                </tr>
            }
        })
        .collect_view();
    let categories = products
        .categories
        .iter()
        .map(|c| {
            view! {
                <tr>
                    <th scope="row">{c.category.clone()}</th>
                    <td class="num">{count(c.impressions)}</td>
                    <td class="num">{count(c.views)}</td>
                    <td class="num">{count(c.add_to_carts)}</td>
                    <td class="num">{count(c.purchases)}</td>
                    <td class="num">{count(c.units)}</td>
                    <td class="num">{money(c.revenue, &cur)}</td>
                    <td class="num">{percent(c.purchases, c.views)}</td>
                </tr>
            }
        })
        .collect_view();
    let options = products
        .categories
        .iter()
        .map(|c| {
            let selected = c.category == table.category;
            view! { <option value=c.category.clone() selected=selected>{c.category.clone()}</option> }
        })
        .collect_view();
    let csv = format!(
        "/api/v1/sites/{}/products.csv{}",
        products.period.site,
        RangeQuery {
            site: None,
            ..query.clone()
        }
        .to_query()
    );
    let shown = format!("{} of {} products", rows.len(), products.rows.len());
    view! {
        <RangeBar path="/products" query=query.clone() period=products.period.clone()/>
        <form method="get" action="/products" class="filters" role="search">
            {query.site.clone().map(|s| view! { <input type="hidden" name="site" value=s /> })}
            {query.range.clone().map(|s| view! { <input type="hidden" name="range" value=s /> })}
            {query.from.clone().map(|s| view! { <input type="hidden" name="from" value=s /> })}
            {query.to.clone().map(|s| view! { <input type="hidden" name="to" value=s /> })}
            <label>"Search " <input type="search" name="q" value=table.search.clone() /></label>
            <label>"Category " <select name="category"><option value="">"All"</option>{options}</select></label>
            <button type="submit">"Filter"</button>
            <a href=csv download="products.csv">"Download CSV"</a>
        </form>
        <p class="muted">{shown}</p>
        <div class="panel scroll">
            {if no_rows {
                let why = if searched {
                    "No product matches this search in this range."
                } else {
                    "No product was seen, carted or bought in this range."
                };
                view! { <p class="empty" data-testid="products-table">{why}</p> }.into_any()
            } else {
                view! {
                    <table class="numbers" data-testid="products-table">
                        <thead><tr>{headings}{comparing.then(|| view! {
                            <th class="num">"Revenue before"</th><th class="num">"Change"</th>
                        })}</tr></thead>
                        <tbody>{body}</tbody>
                    </table>
                }.into_any()
            }}
        </div>
        <section class="panel scroll">
            <h2>"Categories"</h2>
            {if no_categories {
                view! { <p class="empty" data-testid="categories-table">"No categories in this range."</p> }.into_any()
            } else {
                view! {
                    <table class="numbers" data-testid="categories-table">
                        <thead><tr><th>"Category"</th><th class="num">"Impressions"</th><th class="num">"Views"</th><th class="num">"Add to cart"</th><th class="num">"Purchases"</th><th class="num">"Units"</th><th class="num">"Revenue"</th><th class="num">"View → purchase"</th></tr></thead>
                        <tbody>{categories}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, views: i64, purchases: i64, revenue: i64) -> ProductRow {
        ProductRow {
            item_id: id.into(),
            name: format!("Product {id}"),
            category: if id < "C" {
                "Books".into()
            } else {
                "Sports".into()
            },
            views,
            purchases,
            revenue,
            ..ProductRow::default()
        }
    }

    #[test]
    fn rows_are_filtered_then_sorted_with_a_stable_tie_break() {
        let rows = vec![
            row("A", 10, 1, 500),
            row("B", 5, 5, 500),
            row("C", 1, 0, 900),
        ];
        let view = TableView {
            sort: "revenue".into(),
            descending: true,
            search: String::new(),
            category: String::new(),
        };
        let ids: Vec<_> = arrange(&rows, &view)
            .into_iter()
            .map(|r| r.item_id)
            .collect();
        assert_eq!(ids, ["C", "A", "B"]);
        let by_conversion = TableView {
            sort: "conversion".into(),
            ..view.clone()
        };
        assert_eq!(arrange(&rows, &by_conversion)[0].item_id, "B");
        let books = TableView {
            category: "Books".into(),
            ..view.clone()
        };
        assert_eq!(arrange(&rows, &books).len(), 2);
        let search = TableView {
            search: "product c".into(),
            ..view
        };
        assert_eq!(arrange(&rows, &search).len(), 1);
    }
}
