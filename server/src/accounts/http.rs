//! The accounts' HTTP edge: sign-in, sign-out and first-start setup as
//! plain form posts (they work without JavaScript and answer with a
//! redirect, so reloading never re-posts), the gates that put a [`Viewer`]
//! on every dashboard request, and the cross-site request check.

use std::net::SocketAddr;

use app::accounts::Viewer;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Form, Router,
};
use serde::Deserialize;

use super::{AccountError, Accounts, SignedIn};
use crate::store;

/// Pages anyone may open: signing in needs no session.
const PUBLIC_PAGES: [&str; 2] = ["/login", "/setup"];

pub fn router<S: Clone + Send + Sync + 'static>(accounts: Accounts) -> Router<S> {
    Router::new()
        .route("/login", post(session_create))
        .route("/logout", post(session_delete))
        .route("/setup", post(setup_create))
        .with_state(accounts)
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a new session (the old one of this browser, if any,
/// ends: the id changes at every sign-in), then on to `next`.
async fn session_create(
    State(accounts): State<Accounts>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let client = accounts.proxies.client_ip(peer.ip(), &headers);
    match accounts.sign_in(&form.email, &form.password, client).await {
        Ok(signed_in) => {
            if let Err(error) = accounts.sign_out(&headers).await {
                tracing::warn!(error = %store::describe(&error), "ending the previous session failed");
            }
            signed_in_at(signed_in, local_path(&form.next))
        }
        Err(error) => {
            let next = urlencode(local_path(&form.next));
            let failed = failure_code(&error);
            Redirect::to(&format!("/login?failed={failed}&next={next}")).into_response()
        }
    }
}

/// `POST /logout`: ends the session in the database and in the browser.
async fn session_delete(State(accounts): State<Accounts>, headers: HeaderMap) -> Response {
    if let Err(error) = accounts.sign_out(&headers).await {
        tracing::warn!(error = %store::describe(&error), "signing out failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable, try again",
        )
            .into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, &accounts.clearing_cookie());
    response
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    email: String,
    password: String,
}

/// `POST /setup`: the first user, with the token the server printed.
async fn setup_create(State(accounts): State<Accounts>, Form(form): Form<SetupForm>) -> Response {
    match accounts
        .set_up(&form.token, &form.email, &form.password)
        .await
    {
        Ok(signed_in) => signed_in_at(signed_in, "/sites"),
        Err(AccountError::NotFound) => (
            StatusCode::NOT_FOUND,
            "this setup link is not valid (any more)",
        )
            .into_response(),
        Err(error) => {
            let token = urlencode(&form.token);
            let message = urlencode(&error.to_string());
            Redirect::to(&format!("/setup?token={token}&failed={message}")).into_response()
        }
    }
}

fn signed_in_at(signed_in: SignedIn, path: &str) -> Response {
    tracing::info!(user = signed_in.viewer.user_id, "signed in");
    let mut response = Redirect::to(path).into_response();
    set_cookie(&mut response, &signed_in.set_cookie);
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    // Never cache a response that sets or clears a session.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The short code the login page turns into its message.
fn failure_code(error: &AccountError) -> &'static str {
    match error {
        AccountError::WrongCredentials | AccountError::Invalid(_) | AccountError::NotFound => {
            "credentials"
        }
        AccountError::Limited(_) => "limited",
        AccountError::Busy | AccountError::Database(_) => "busy",
    }
}

/// `next` if it is a path on this server, else the Overview: a sign-in
/// link must not send anyone elsewhere.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if local {
        next
    } else {
        "/"
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Gate of the dashboard's pages and server functions: puts the signed-in
/// [`Viewer`] on the request. Without one, a page redirects to the sign-in
/// (remembering where it was going) and a server function answers 401.
pub async fn pages_gate(
    State(accounts): State<Accounts>,
    mut request: Request,
    next: Next,
) -> Response {
    match accounts.viewer(request.headers()).await {
        Ok(Some(viewer)) => {
            request.extensions_mut().insert(viewer);
            return next.run(request).await;
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(error = %store::describe(&error), "reading the session failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable, try again",
            )
                .into_response();
        }
    }
    let path = request.uri().path();
    if PUBLIC_PAGES.contains(&path) {
        return next.run(request).await;
    }
    let page =
        matches!(*request.method(), Method::GET | Method::HEAD) && !path.starts_with("/api/");
    if page {
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        return Redirect::to(&format!("/login?next={}", urlencode(target))).into_response();
    }
    (StatusCode::UNAUTHORIZED, "sign in first").into_response()
}

/// Gate of the stats API and the live socket: an API token
/// (`Authorization: Bearer`) or a session cookie, else 401.
pub async fn api_gate(
    State(accounts): State<Accounts>,
    mut request: Request,
    next: Next,
) -> Response {
    let with_token = request.headers().contains_key(header::AUTHORIZATION);
    let viewer = match accounts.bearer(request.headers()).await {
        // A wrong token is a wrong token, whatever cookie rides along.
        Ok(None) if !with_token => {
            // A cookie rides along on cross-site requests; a token never does.
            let safe = matches!(*request.method(), Method::GET | Method::HEAD);
            if !safe && !is_same_origin(request.headers()) {
                return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
            }
            accounts.viewer(request.headers()).await
        }
        found => found,
    };
    match viewer {
        Ok(Some(viewer)) => {
            request.extensions_mut().insert::<Viewer>(viewer);
            next.run(request).await
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "authentication required: an API token (Authorization: Bearer) or a dashboard session"
            })),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(error = %store::describe(&error), "reading the credentials failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable, try again").into_response()
        }
    }
}

/// Refuses state-changing requests that another site's page started: the
/// browser's `Origin` (or, without it, `Referer`) must be this server's
/// own `Host`, and `Sec-Fetch-Site` must not say cross-site. A request
/// naming neither is refused too: every browser since 2020 sends `Origin`
/// on a POST. Safe methods pass.
pub async fn same_origin_only(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if is_same_origin(request.headers()) {
        next.run(request).await
    } else {
        (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
    }
}

/// The value of one cookie from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Whether `source` (an `Origin` or `Referer` value) names the `Host`
/// the request was sent to.
pub fn names_host(source: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(url) = url::Url::parse(source) else {
        return false;
    };
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(port)) => format!("{h}:{port}"),
        (Some(h), None) => h.to_owned(),
        _ => return false,
    };
    authority.eq_ignore_ascii_case(host)
}

pub fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(text(header::HeaderName::from_static("sec-fetch-site")), Some(site) if site == "cross-site" || site == "same-site")
    {
        return false;
    }
    text(header::ORIGIN)
        .filter(|origin| *origin != "null")
        .or_else(|| text(header::REFERER))
        .is_some_and(|source| names_host(source, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_requests_from_this_servers_own_pages_change_state() {
        let host = ("host", "stats.example.com");
        assert!(is_same_origin(&headers(&[
            host,
            ("origin", "https://stats.example.com")
        ])));
        assert!(is_same_origin(&headers(&[
            host,
            ("referer", "https://stats.example.com/sites")
        ])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!is_same_origin(&headers(&[host])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("origin", "https://stats.example.com"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(is_same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
    }

    #[test]
    fn a_sign_in_only_leads_to_a_path_on_this_server() {
        assert_eq!(local_path("/hourly?site=demo"), "/hourly?site=demo");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path(""), "/");
    }
}
