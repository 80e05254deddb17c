//! The page for every path the dashboard does not know.

use leptos::prelude::*;
use leptos_meta::Title;

/// A real 404: the status code and a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    crate::api::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <Title text="Not found"/>
        <section class="placeholder" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address."</p>
            <p><a href="/">"Back to the overview"</a></p>
        </section>
    }
}
