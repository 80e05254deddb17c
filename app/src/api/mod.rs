//! Data shared by server and browser, and the server functions that fetch it.

pub mod accounts;
pub mod stats;
pub mod status;

/// Sets the HTTP status of the page being rendered on the server. A no-op in
/// the browser, where there is no response to set.
pub fn set_status(status: http::StatusCode) {
    #[cfg(feature = "ssr")]
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}
