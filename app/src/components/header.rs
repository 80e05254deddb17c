//! The product header with the main navigation.

use leptos::prelude::*;
use leptos_router::components::A;

/// The dashboard's sections, in navigation order: (path, label).
pub const SECTIONS: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/hourly", "Hourly Sales"),
    ("/products", "Products"),
    ("/realtime", "Real-Time"),
    ("/users", "Users"),
    ("/status", "Status"),
];

/// The header: product name and the main navigation. `aria-current` marks the
/// section being shown.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                "Storepulse"
            </a>
            <nav aria-label="Main">
                <ul>
                    {SECTIONS
                        .iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=*href exact=true>{*label}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
        </header>
    }
}
