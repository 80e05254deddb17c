//! Who is signed in, and the settings pages' data: shared by the server
//! functions and the pages that show them.

use serde::{Deserialize, Serialize};

/// The signed-in user of a request. The server's gate resolves the session
/// cookie (or an API token) and puts this in the request's extensions;
/// every server function and API route reads it from there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
}

/// A site in the viewer's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSummary {
    pub key: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
}

/// Everything the site settings page shows and edits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSettings {
    pub key: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
    /// Hosts allowed to send page events; empty means any.
    pub domains: Vec<String>,
    /// Price tier thresholds as decimal amounts in the site currency.
    pub medium_from: String,
    pub high_from: String,
    pub signing_secret: String,
    /// The `<script>` tag to paste into the shop's pages.
    pub snippet: String,
}

/// What the site forms send (create uses key, name, time zone, currency).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteForm {
    pub name: String,
    pub timezone: String,
    pub currency: String,
    /// One host per line or comma-separated.
    pub domains: String,
    /// Price tier thresholds (decimal amounts): kept when not sent. No
    /// report reads the tiers yet, so the settings form does not offer
    /// them; `server site edit --price-tiers` and this field still set them.
    #[serde(default)]
    pub medium_from: Option<String>,
    #[serde(default)]
    pub high_from: Option<String>,
    /// The viewer ticked "change the currency anyway": without it a new
    /// currency is refused while the reports hold revenue in the old one.
    #[serde(default)]
    pub confirm_currency: bool,
}

/// An API token as its list shows it: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: Option<String>,
}

/// The account page: who you are and your tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub email: String,
    pub tokens: Vec<TokenInfo>,
}

/// Why an account or settings action failed: the status to answer and the
/// message to show (never an internal one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminError {
    pub status: u16,
    pub message: String,
}

impl AdminError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(404, "no such site")
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The viewer of the request being handled (server only). Without one the
/// response is 401: the gate lets no such request reach a page, so this is
/// the second lock on the door.
#[cfg(feature = "ssr")]
pub fn viewer() -> Result<Viewer, leptos::prelude::ServerFnError> {
    use leptos::prelude::{use_context, ServerFnError};
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Viewer>().cloned())
        .ok_or_else(|| {
            crate::api::set_status(http::StatusCode::UNAUTHORIZED);
            ServerFnError::new("sign in first")
        })
}

/// The origin the browser used (`https://stats.example.com`), for links
/// and snippets (server only).
#[cfg(feature = "ssr")]
pub fn request_origin() -> String {
    let parts = leptos::prelude::use_context::<http::request::Parts>();
    let header = |name: &str| {
        parts
            .as_ref()
            .and_then(|p| p.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let host = header("host").unwrap_or_else(|| "localhost".to_owned());
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".to_owned());
    format!("{scheme}://{host}")
}
