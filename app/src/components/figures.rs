//! Headline figures and tables of numbers, shared by the report pages.

use leptos::prelude::*;

/// A headline figure with its change against the previous period, and
/// the previous value itself (`before`).
#[component]
pub fn Kpi(
    label: &'static str,
    value: String,
    #[prop(default = None)] change: Option<String>,
    #[prop(default = None)] before: Option<String>,
    #[prop(default = None)] note: Option<String>,
) -> impl IntoView {
    let class = match change.as_deref() {
        Some(c) if c.starts_with('+') || c == "new" => "change up",
        Some(c) if c.starts_with('−') => "change down",
        _ => "change",
    };
    view! {
        <div class="kpi" data-testid=format!("kpi-{}", label.to_lowercase().replace(' ', "-"))>
            <span class="kpi-label">{label}</span>
            <span class="kpi-value">{value}</span>
            {change.map(|c| {
                let against = before.map_or_else(|| " vs previous".to_owned(), |b| format!(" vs {b}"));
                view! { <span class=class data-testid="kpi-change">{format!("{c}{against}")}</span> }
            })}
            {note.map(|n| view! { <span class="muted small">{n}</span> })}
        </div>
    }
}

/// A chart rendered on the server (its wide and narrow SVG) in a figure
/// with a caption for screen readers, or `empty` in words when there is
/// nothing to draw.
#[component]
pub fn Chart(
    svg: String,
    label: String,
    #[prop(default = "No sales in this range yet.")] empty: &'static str,
) -> impl IntoView {
    if svg.is_empty() {
        return view! { <p class="empty">{empty}</p> }.into_any();
    }
    view! { <figure class="chart" role="img" aria-label=label inner_html=svg></figure> }.into_any()
}
