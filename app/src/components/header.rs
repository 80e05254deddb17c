//! The product header with the main navigation.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_location};

use super::range::use_range_query;

/// The dashboard's sections, in navigation order: (path, label).
pub const SECTIONS: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/hourly", "Hourly Sales"),
    ("/products", "Products"),
    ("/pages", "Pages"),
    ("/realtime", "Real-Time"),
    ("/users", "Users"),
    ("/status", "Status"),
];

/// Pages shown to visitors who are not signed in: no navigation there.
const SIGNED_OUT_PAGES: [&str; 2] = ["/login", "/setup"];

/// The header: product name, the main navigation and the account menu.
/// `aria-current` marks the section being shown. The sections' links keep
/// the site, range and comparison of the page they are on, so moving
/// between reports keeps looking at the same store and days.
#[component]
pub fn Header() -> impl IntoView {
    let location = use_location();
    let query = use_range_query();
    let signed_in = move || !SIGNED_OUT_PAGES.contains(&location.pathname.get().as_str());
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                "Storepulse"
            </a>
            <Show when=signed_in>
            <nav aria-label="Main">
                <ul>
                    {SECTIONS
                        .iter()
                        .map(|(path, label)| {
                            let href = move || format!("{path}{}", query.get().to_query());
                            view! {
                                <li>
                                    <A href=href exact=true>{*label}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <nav aria-label="Account" class="account-menu">
                <A href="/sites">"Sites"</A>
                <A href="/account">"Account"</A>
                <form method="post" action="/logout">
                    <button type="submit" class="link" data-testid="sign-out">"Sign out"</button>
                </form>
            </nav>
            </Show>
        </header>
    }
}
