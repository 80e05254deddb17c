//! The server functions behind the Sites, site settings and Account pages.
//! Each one takes the viewer from the request (the server's gate put it
//! there) and asks the server's [`crate::ports::Admin`], which checks the
//! viewer's membership of the site on every call.

// Server functions take one argument per form field (`update_site` has
// eight); the client function the macro generates cannot carry an
// item-level allow.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::accounts::{AccountInfo, SiteSettings, SiteSummary};

#[server]
pub async fn get_sites() -> Result<Vec<SiteSummary>, ServerFnError> {
    answer(admin()?.sites(&viewer()?).await)
}

#[server]
pub async fn get_site_settings(site: String) -> Result<SiteSettings, ServerFnError> {
    let origin = crate::accounts::request_origin();
    answer(admin()?.site(&viewer()?, &site, &origin).await)
}

/// Creates a site (the viewer becomes its member); the answer is the path
/// of its settings, where a form without JavaScript is redirected.
#[server]
pub async fn create_site(
    key: String,
    name: String,
    timezone: String,
    currency: String,
) -> Result<String, ServerFnError> {
    let form = crate::accounts::SiteForm {
        name,
        timezone,
        currency,
        ..crate::accounts::SiteForm::default()
    };
    answer(admin()?.create_site(&viewer()?, &key, &form).await)?;
    let path = format!("/sites/{}", key.trim());
    leptos_axum::redirect(&path);
    Ok(path)
}

#[server]
pub async fn update_site(
    site: String,
    name: String,
    timezone: String,
    currency: String,
    domains: String,
    #[server(default)] medium_from: Option<String>,
    #[server(default)] high_from: Option<String>,
    #[server(default)] confirm_currency: Option<String>,
) -> Result<(), ServerFnError> {
    let form = crate::accounts::SiteForm {
        name,
        timezone,
        currency,
        domains,
        medium_from,
        high_from,
        confirm_currency: confirm_currency.as_deref() == Some("yes"),
    };
    answer(admin()?.update_site(&viewer()?, &site, &form).await)
}

/// What the settings page's confirming button sends as `confirm`.
pub const CONFIRM_ROTATE: &str = "rotate";

/// A new signing secret. Requests signed with the old one stop verifying,
/// which breaks the shop's backend until it has the new one, so this takes
/// `confirm` = [`CONFIRM_ROTATE`] (the second, confirming button) and
/// refuses a request without it (400). The answer is the settings' path,
/// where a form without JavaScript is redirected.
#[server]
pub async fn rotate_secret(site: String, confirm: Option<String>) -> Result<String, ServerFnError> {
    if confirm.as_deref() != Some(CONFIRM_ROTATE) {
        super::set_status(http::StatusCode::BAD_REQUEST);
        return Err(ServerFnError::new(
            "confirm the rotation first: the shop's backend needs the new secret",
        ));
    }
    answer(admin()?.rotate_secret(&viewer()?, &site).await)?;
    let path = format!("/sites/{site}");
    leptos_axum::redirect(&path);
    Ok(path)
}

#[server]
pub async fn get_account() -> Result<AccountInfo, ServerFnError> {
    answer(admin()?.account(&viewer()?).await)
}

/// A new API token: the answer is the only time it is shown.
#[server]
pub async fn create_token(name: String) -> Result<String, ServerFnError> {
    answer(admin()?.create_token(&viewer()?, &name).await)
}

#[server]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    answer(admin()?.revoke_token(&viewer()?, id).await)
}

/// Changes the password: every other browser is signed out, this one gets
/// a new session cookie.
#[server]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), ServerFnError> {
    if new != confirm {
        super::set_status(http::StatusCode::BAD_REQUEST);
        return Err(ServerFnError::new("the new passwords differ"));
    }
    let cookie = answer(admin()?.change_password(&viewer()?, &current, &new).await)?;
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
    Ok(())
}

#[cfg(feature = "ssr")]
use crate::accounts::viewer;

#[cfg(feature = "ssr")]
fn admin() -> Result<std::sync::Arc<dyn crate::ports::Admin>, ServerFnError> {
    use_context::<std::sync::Arc<dyn crate::ports::Admin>>()
        .ok_or_else(|| ServerFnError::new("admin port missing from context"))
}

/// Passes the answer on, or sets the status and says why.
#[cfg(feature = "ssr")]
fn answer<T>(result: Result<T, crate::accounts::AdminError>) -> Result<T, ServerFnError> {
    result.map_err(|error| {
        if let Ok(status) = http::StatusCode::from_u16(error.status) {
            super::set_status(status);
        }
        ServerFnError::new(error.message)
    })
}
