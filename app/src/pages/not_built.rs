//! The honest placeholder for sections that do not exist yet.

use leptos::prelude::*;
use leptos_meta::Title;

/// Says plainly that a section is not built yet and answers `501 Not
/// Implemented`, so no monitor or crawler mistakes it for a working page.
#[component]
pub fn NotBuilt(page: &'static str) -> impl IntoView {
    crate::api::set_status(http::StatusCode::NOT_IMPLEMENTED);
    view! {
        <Title text=page/>
        <section class="placeholder" data-testid="not-built">
            <h1>{page}</h1>
            <p>
                "This page is not built yet. It will show real numbers from your store; "
                "until then it shows nothing rather than made-up figures."
            </p>
            <p><a href="/status">"See the server status"</a></p>
        </section>
    }
}
