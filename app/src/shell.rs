//! The document shell and the router: the frame every page lives in.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::components::header::Header;
use crate::pages::{
    account::AccountPage,
    hourly::HourlyPage,
    landing::PagesPage,
    login::{LoginPage, SetupPage},
    not_found::NotFound,
    overview::OverviewPage,
    products::ProductsPage,
    realtime::RealtimePage,
    sites::{SiteSettingsPage, SitesPage},
    status::StatusPage,
    users::UsersPage,
};

/// The full HTML document the server streams for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Scripts only from this server, or inline with this response's nonce
/// (Leptos puts it on the hydration scripts and the serialized resources):
/// an injected `<script>` or `onerror=` handler does not run. WASM may be
/// compiled; styles may be inline (chart bars and SVG carry style
/// attributes). The routes' `security_headers` keeps a policy that is set.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use http::{header, HeaderValue};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The application: header, navigation and the routed page.
///
/// Every route renders in `SsrMode::Async`, so the first HTML already holds
/// the real numbers and the right status code, and reading works without
/// JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/storepulse.css"/>
        <Title formatter=|page: String| format!("{page} · Storepulse")/>
        <HydrationMark/>
        <Router>
            <Header/>
            <main id="content">
                <Routes fallback=NotFound>
                    <Route path=path!("") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=path!("/hourly") view=HourlyPage ssr=SsrMode::Async/>
                    <Route path=path!("/products") view=ProductsPage ssr=SsrMode::Async/>
                    <Route path=path!("/pages") view=PagesPage ssr=SsrMode::Async/>
                    <Route path=path!("/realtime") view=RealtimePage ssr=SsrMode::Async/>
                    <Route path=path!("/users") view=UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/status") view=StatusPage ssr=SsrMode::Async/>
                    <Route path=path!("/sites") view=SitesPage ssr=SsrMode::Async/>
                    <Route path=path!("/sites/:key") view=SiteSettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// Sets `data-hydrated="true"` on `<body>` once the WASM has taken over.
///
/// An island of its own on every page: its effect runs only in the browser,
/// after the islands hydrated, so the attribute is a reliable signal for
/// end-to-end tests that clicks will now be handled.
#[island]
fn HydrationMark() -> impl IntoView {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
