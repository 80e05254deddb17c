//! Accounts: sign-in, sessions, CSRF, membership on every route, API
//! tokens, first-start setup and the production secret check.

use serde_json::Value;
use server::config::{Config, Mode};
use server_fn::ServerFn as _;
use sqlx::PgPool;

use crate::helpers::{
    create_site, sign_in, spawn_app, spawn_app_with, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

/// Posts a server function's form-encoded arguments with `client`.
async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("server function");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A client with the given session cookie, sending this server's Origin.
fn browser(app: &TestApp, cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    headers.insert("origin", format!("http://{}", app.addr).parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn origin(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

/// Whether `client` is signed in: the Overview renders instead of
/// redirecting to the sign-in.
async fn signed_in(app: &TestApp, client: &reqwest::Client) -> bool {
    let response = client.get(app.url("/status")).send().await.unwrap();
    match response.status().as_u16() {
        200 => true,
        303 => false,
        other => panic!("unexpected status {other}"),
    }
}

#[sqlx::test(migrations = false)]
async fn sign_in_sets_an_http_only_same_site_cookie(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .anon
        .post(app.url("/login"))
        .header("origin", origin(&app))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", "/hourly?range=7d"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/hourly?range=7d");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("storepulse_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    // Plain-HTTP development server: a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[sqlx::test(migrations = false)]
async fn production_cookies_are_secure_and_host_prefixed(pool: PgPool) {
    let mut config = Config::load(Vec::new()).unwrap();
    config.mode = Mode::Production;
    config.accounts.session_secret = Some(
        "9c1f4e0b7a2d6e83f5c09b1a4d7e2f6038b5c1d9e4a7f2b6c0d3e8a1f5b9c2d7"
            .to_owned()
            .into(),
    );
    // The helper signs in over plain HTTP, where a browser would drop a
    // Secure cookie; reqwest sends it back regardless, which suits a test.
    let app = spawn_app_with(pool, config).await;
    assert!(
        app.cookie.starts_with("__Host-storepulse_session="),
        "{}",
        app.cookie
    );
    let response = app
        .anon
        .post(app.url("/login"))
        .header("origin", origin(&app))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[sqlx::test(migrations = false)]
async fn signing_in_again_replaces_the_session_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = browser(&app, &app.cookie);
    // Signing in from the same browser (sending its cookie) ends the old id.
    let response = first
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let second = response.headers()["set-cookie"].to_str().unwrap();
    let second = second.split(';').next().unwrap().to_owned();
    assert_ne!(second, app.cookie);
    assert!(!signed_in(&app, &first).await, "the old id still works");
    assert!(signed_in(&app, &browser(&app, &second)).await);
}

#[sqlx::test(migrations = false)]
async fn unknown_email_and_wrong_password_get_the_same_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wrong = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, "not the password").await;
    let unknown = sign_in(
        &app.anon,
        &origin(&app),
        "nobody@example.com",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(wrong, Err("/login?failed=credentials&next=%2F".to_owned()));
    assert_eq!(wrong, unknown);
    // Case and spaces in the address do not matter.
    let cookie = sign_in(
        &app.anon,
        &origin(&app),
        " Admin@Example.COM ",
        ADMIN_PASSWORD,
    )
    .await;
    assert!(cookie.is_ok());
}

#[sqlx::test(migrations = false)]
async fn sign_in_attempts_are_limited_per_account_and_per_address(pool: PgPool) {
    let app = spawn_app(pool).await;
    // The helper's own sign-in was the account's first attempt this minute.
    for _ in 0..4 {
        let answer = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, "guess").await;
        assert_eq!(answer, Err("/login?failed=credentials&next=%2F".to_owned()));
    }
    // Now even the right password is turned away, without saying whether it was right.
    let answer = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(answer, Err("/login?failed=limited&next=%2F".to_owned()));
    // The address: 20 a minute across accounts (6 used above).
    let mut limited = 0;
    for n in 0..15 {
        let email = format!("user{n}@example.com");
        if sign_in(&app.anon, &origin(&app), &email, "guess").await
            == Err("/login?failed=limited&next=%2F".to_owned())
        {
            limited += 1;
        }
    }
    assert_eq!(limited, 1, "the 21st attempt from one address is limited");
}

#[sqlx::test(migrations = false)]
async fn signing_out_ends_the_session_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;
    let client = browser(&app, &app.cookie);
    assert!(signed_in(&app, &client).await);
    let response = client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // A copy of the cookie kept elsewhere is worthless now.
    assert!(!signed_in(&app, &client).await);
}

#[sqlx::test(migrations = false)]
async fn changing_the_password_signs_out_every_other_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let other = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    let client = browser(&app, &app.cookie);
    let path = app::api::accounts::ChangePassword::PATH;
    let new = "a brand new passphrase";
    let (status, body) = call(
        &app,
        &client,
        path,
        &[("current", "wrong one!!"), ("new", new), ("confirm", new)],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        signed_in(&app, &browser(&app, &other)).await,
        "a failed change ends nothing"
    );
    let response = client
        .post(app.url(path))
        .form(&[("current", ADMIN_PASSWORD), ("new", new), ("confirm", new)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let fresh = response.headers()["set-cookie"].to_str().unwrap();
    let fresh = fresh.split(';').next().unwrap().to_owned();
    assert!(
        !signed_in(&app, &browser(&app, &other)).await,
        "other session survived"
    );
    assert!(
        !signed_in(&app, &client).await,
        "the old id of this browser survived"
    );
    assert!(signed_in(&app, &browser(&app, &fresh)).await);
    assert!(sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, new)
        .await
        .is_ok());
}

#[sqlx::test(migrations = false)]
async fn without_a_session_pages_redirect_and_apis_answer_401(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    for page in [
        "/",
        "/hourly?range=7d",
        "/realtime",
        "/users",
        "/products",
        "/pages",
        "/status",
        "/sites",
        "/sites/demo",
        "/account",
    ] {
        let response = app.anon.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        let next: String = url::form_urlencoded::byte_serialize(page.as_bytes()).collect();
        assert_eq!(
            response.headers()["location"],
            format!("/login?next={next}")
        );
    }
    for page in ["/login", "/login?failed=credentials"] {
        let response = app.anon.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page} is public");
    }
    // Static files (the tracker above all) are served without a session.
    let response = app.anon.get(app.url("/tracker.js")).send().await.unwrap();
    assert_ne!(response.status(), 303);
    // From the server's own page but without a session: 401 (without the
    // Origin, the cross-site check answers first: 403).
    let (status, _) = call(
        &app,
        &browser(&app, "other=1"),
        app::api::stats::GetOverview::PATH,
        &[],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(&app, &app.anon, app::api::stats::GetOverview::PATH, &[]).await;
    assert_eq!(status, 403);
    let response = app
        .anon
        .get(app.url("/api/v1/sites/demo/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[sqlx::test(migrations = false)]
async fn state_changes_from_other_sites_are_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let rotate = app::api::accounts::RotateSecret::PATH;
    let forged = |origin: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(app.url(rotate))
            .header("cookie", &app.cookie)
            .form(&[("site", "demo"), ("confirm", "rotate")]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    let before = server::store::sites::find(&pool, "demo")
        .await
        .unwrap()
        .unwrap();
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let response = forged(origin).send().await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?}");
    }
    let response = reqwest::Client::new()
        .post(app.url("/logout"))
        .header("cookie", &app.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "forged sign-out");
    let after = server::store::sites::find(&pool, "demo")
        .await
        .unwrap()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        before.signing_secret.expose_secret(),
        after.signing_secret.expose_secret()
    );
    // From the server's own page it works.
    let response = forged(Some(&origin(&app))).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[sqlx::test(migrations = false)]
async fn another_users_site_is_not_found_on_every_route(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // A second user with a site of their own, after the helper's grants.
    crate::helpers::create_foreign_site(&pool, "theirs").await;

    for route in [
        "overview",
        "hourly-sales",
        "products",
        "products.csv",
        "users",
        "pages",
        "sessions",
        "realtime",
        "events/recent",
    ] {
        for site in ["demo", "theirs"] {
            let path = format!("/api/v1/sites/{site}/{route}");
            let status = app
                .client
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, if site == "demo" { 200 } else { 404 }, "{path}");
        }
    }
    use app::api::{accounts as a, stats as s};
    for path in [
        s::GetOverview::PATH,
        s::GetHourlySales::PATH,
        s::GetProducts::PATH,
        s::GetUsers::PATH,
        s::GetLive::PATH,
    ] {
        let (status, body) = call(&app, &app.client, path, &[("query[site]", "theirs")]).await;
        assert_eq!(status, 404, "{path}: {body}");
        let (status, body) = call(&app, &app.client, path, &[("query[site]", "demo")]).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _) = call(
        &app,
        &app.client,
        a::GetSiteSettings::PATH,
        &[("site", "theirs")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        &app.client,
        a::RotateSecret::PATH,
        &[("site", "theirs"), ("confirm", "rotate")],
    )
    .await;
    assert_eq!(status, 404);
    let edit = [
        ("site", "theirs"),
        ("name", "Mine now"),
        ("timezone", "UTC"),
        ("currency", "EUR"),
        ("domains", ""),
        ("medium_from", "1.00"),
        ("high_from", "2.00"),
    ];
    let (status, _) = call(&app, &app.client, a::UpdateSite::PATH, &edit).await;
    assert_eq!(status, 404);
    let (_, sites) = call(&app, &app.client, a::GetSites::PATH, &[]).await;
    assert!(
        sites.contains("demo") && !sites.contains("theirs"),
        "{sites}"
    );
    let page = app
        .client
        .get(app.url("/sites/theirs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let untouched = server::store::sites::find(&pool, "theirs")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.name, "Their shop");
}

#[sqlx::test(migrations = false)]
async fn a_created_site_belongs_to_its_creator_and_shows_its_snippet(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    use app::api::accounts as a;
    let form = [
        ("key", "myshop"),
        ("name", "My <b>shop</b>"),
        ("timezone", "Europe/Berlin"),
        ("currency", "eur"),
    ];
    let (status, body) = call(&app, &app.client, a::CreateSite::PATH, &form).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&app, &app.client, a::CreateSite::PATH, &form).await;
    assert_eq!(status, 409, "{body}");
    let bad = [
        ("key", "My Shop"),
        ("name", "x"),
        ("timezone", "UTC"),
        ("currency", "EUR"),
    ];
    assert_eq!(
        call(&app, &app.client, a::CreateSite::PATH, &bad).await.0,
        400
    );
    let (status, body) = call(
        &app,
        &app.client,
        a::GetSiteSettings::PATH,
        &[("site", "myshop")],
    )
    .await;
    assert_eq!(status, 200);
    let settings: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(settings["currency"], "EUR");
    assert_eq!(
        settings["snippet"],
        format!(
            r#"<script defer src="http://{}/tracker.js" data-site="myshop"></script>"#,
            app.addr
        )
    );
    let edit = [
        ("site", "myshop"),
        ("name", "My shop"),
        ("timezone", "Europe/Berlin"),
        ("currency", "EUR"),
        ("domains", "shop.example.com\nwww.example.com"),
        ("medium_from", "25.00"),
        ("high_from", "150"),
    ];
    assert_eq!(
        call(&app, &app.client, a::UpdateSite::PATH, &edit).await.0,
        200
    );
    let site = server::store::sites::find(&pool, "myshop")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(site.domains, ["shop.example.com", "www.example.com"]);
    assert_eq!(
        (site.price_tier_medium_from, site.price_tier_high_from),
        (2500, 15000)
    );
    // The page shows the name as text.
    let html = app.get_text("/sites/myshop").await;
    assert!(html.contains("My shop"), "{html}");
    assert!(
        html.contains(r#"&lt;script defer src="#),
        "the snippet is text: {html}"
    );
}

#[sqlx::test(migrations = false)]
async fn api_tokens_work_until_revoked(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    use app::api::accounts as a;
    let (status, body) = call(
        &app,
        &app.client,
        a::CreateToken::PATH,
        &[("name", "reporting")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: String = serde_json::from_str(&body).unwrap();
    assert!(token.starts_with("spt_"), "{token}");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        !stored.iter().any(|hash| hash == token.as_bytes()),
        "stored hashed"
    );
    let overview = |token: String| {
        app.anon
            .get(app.url("/api/v1/sites/demo/overview"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(overview(token.clone()).await.unwrap().status(), 200);
    assert_eq!(overview(format!("{token}x")).await.unwrap().status(), 401);
    let (_, body) = call(&app, &app.client, a::GetAccount::PATH, &[]).await;
    let account: Value = serde_json::from_str(&body).unwrap();
    let listed = &account["tokens"][0];
    assert_eq!(listed["name"], "reporting");
    assert!(token.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(listed["last_used"].is_string(), "{listed}");
    let id = listed["id"].to_string();
    assert_eq!(
        call(&app, &app.client, a::RevokeToken::PATH, &[("id", &id)])
            .await
            .0,
        200
    );
    assert_eq!(overview(token).await.unwrap().status(), 401);
    assert_eq!(
        call(&app, &app.client, a::RevokeToken::PATH, &[("id", &id)])
            .await
            .0,
        404
    );
}

#[sqlx::test(migrations = false)]
async fn the_server_refuses_to_start_in_production_with_a_weak_secret(pool: PgPool) {
    use leptos::prelude::LeptosOptions;
    for secret in [
        None,
        Some("short"),
        Some("change-me-change-me-change-me-change-me"),
    ] {
        let mut config = Config::load(Vec::new()).unwrap();
        config.mode = Mode::Production;
        config.accounts.session_secret = secret.map(|s| s.to_owned().into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let leptos = LeptosOptions::builder().output_name("storepulse").build();
        let started =
            server::startup::Application::with_pool(config, leptos, listener, pool.clone()).await;
        let error = format!("{:#}", started.err().expect("refused to start"));
        assert!(error.contains("session_secret"), "{secret:?}: {error}");
    }
}

#[sqlx::test(migrations = false)]
async fn the_first_start_setup_link_works_once(pool: PgPool) {
    server::store::migrate(&pool).await.unwrap();
    create_site(&pool, "demo").await;
    let accounts = server::accounts::Accounts::new(
        pool.clone(),
        &Default::default(),
        Mode::Development,
        Default::default(),
    )
    .await
    .unwrap();
    let path = accounts
        .bootstrap(None)
        .await
        .unwrap()
        .expect("a setup link");
    let token = path.strip_prefix("/setup?token=").unwrap();
    assert!(matches!(
        accounts
            .set_up("not the token", "ada@example.com", "long enough pw")
            .await,
        Err(server::accounts::AccountError::NotFound)
    ));
    let first = accounts
        .set_up(token, "ada@example.com", "long enough pw")
        .await
        .unwrap();
    let sites = server::store::accounts::site_ids(&pool, first.viewer.user_id)
        .await
        .unwrap();
    assert_eq!(sites.len(), 1, "the first user sees every site");
    assert!(matches!(
        accounts
            .set_up(token, "eve@example.com", "long enough pw")
            .await,
        Err(server::accounts::AccountError::NotFound)
    ));
    assert_eq!(
        accounts.bootstrap(None).await.unwrap(),
        None,
        "no link once a user exists"
    );
}

#[sqlx::test(migrations = false)]
async fn a_token_imports_history_into_its_users_sites_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let demo = create_site(&pool, "demo").await;
    use app::api::accounts as a;
    let (_, body) = call(
        &app,
        &app.client,
        a::CreateToken::PATH,
        &[("name", "import")],
    )
    .await;
    let token: String = serde_json::from_str(&body).unwrap();
    let ts = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let line = |id: &str| {
        serde_json::json!({"user_agent": crate::helpers::BROWSER_UA, "event": {
            "id": id, "type": "page_view", "ts": ts, "visitor": "v-9", "session": "s-9",
            "url": "https://shop.example/"}})
        .to_string()
    };
    let ndjson = format!(
        "{}\n{}\n{{\"event\": {{\"type\": \"page_view\"}}}}\n",
        line("h-1"),
        line("h-2")
    );
    let post = |site: &str, token: &str| {
        app.anon
            .post(app.url(&format!("/api/v1/sites/{site}/import")))
            .bearer_auth(token)
            .body(ndjson.clone())
            .send()
    };
    let response = post("demo", &token).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["lines"], 3, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["rejected"]["malformed"], 1, "{report}");
    let again: Value = post("demo", &token).await.unwrap().json().await.unwrap();
    assert_eq!(
        (again["imported"].as_i64(), again["duplicates"].as_i64()),
        (Some(0), Some(2))
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE site_id = $1")
        .bind(demo)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    crate::helpers::create_foreign_site(&pool, "theirs").await;
    assert_eq!(post("theirs", &token).await.unwrap().status(), 404);
    assert_eq!(
        post("demo", "spt_revoked-or-made-up")
            .await
            .unwrap()
            .status(),
        401
    );
}

#[sqlx::test(migrations = false)]
async fn a_session_ends_when_idle_too_long_or_past_its_lifetime(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let idle = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    let old = sign_in(&app.anon, &origin(&app), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    assert!(signed_in(&app, &browser(&app, &idle)).await);
    assert!(signed_in(&app, &browser(&app, &old)).await);
    // The database holds no cookie values, only their HMACs: age the
    // sessions by their creation order instead.
    let ids: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT session_hash FROM login_sessions ORDER BY created_at DESC, last_seen_at DESC LIMIT 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ids.len(), 2);
    // The default idle limit is 7 days; the lifetime 30 days.
    sqlx::query("UPDATE login_sessions SET last_seen_at = now() - interval '8 days' WHERE session_hash = $1")
        .bind(&ids[1])
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE login_sessions SET expires_at = now() - interval '1 second' WHERE session_hash = $1")
        .bind(&ids[0])
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        !signed_in(&app, &browser(&app, &idle)).await,
        "idle session survived"
    );
    assert!(
        !signed_in(&app, &browser(&app, &old)).await,
        "expired session survived"
    );
    assert!(
        signed_in(&app, &app.client).await,
        "the helper's own session is untouched"
    );
}

#[sqlx::test(migrations = false)]
async fn rotating_the_signing_secret_takes_a_second_confirming_click(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let secret = || async {
        use secrecy::ExposeSecret;
        let site = server::store::sites::find(&pool, "demo").await.unwrap();
        site.unwrap().signing_secret.expose_secret().to_owned()
    };
    let before = secret().await;
    // The settings page's button only asks: it is no form that rotates.
    let html = app.get_text("/sites/demo").await;
    let rotate = app::api::accounts::RotateSecret::PATH;
    assert!(html.contains("Rotate the secret"), "{html}");
    assert!(!html.contains(rotate), "one click would rotate: {html}");
    // Following it shows the warning and the confirming form.
    let confirming = app.get_text("/sites/demo?rotate=confirm").await;
    assert_eq!(secret().await, before, "asking rotates nothing");
    assert!(confirming.contains(rotate), "{confirming}");
    assert!(
        confirming.contains(r#"name="confirm" value="rotate""#),
        "{confirming}"
    );
    // The server function refuses a request without the confirmation.
    let (status, body) = call(&app, &app.client, rotate, &[("site", "demo")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(secret().await, before);
    // The confirmed one rotates; a browser without JavaScript is sent back
    // to the settings, which show the new secret.
    let response = browser(&app, &app.cookie)
        .post(app.url(rotate))
        .header("accept", "text/html")
        .form(&[("site", "demo"), ("confirm", "rotate")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/sites/demo");
    let after = secret().await;
    assert_ne!(after, before);
    assert!(app.get_text("/sites/demo").await.contains(&after));
}

#[sqlx::test(migrations = false)]
async fn a_new_currency_that_hides_revenue_needs_a_confirmation(pool: PgPool) {
    use app::api::accounts as a;
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let (status, _) = app
        .post_events(&crate::helpers::envelope(vec![crate::helpers::purchase(
            "cur-1", "T-CUR",
        )]))
        .await;
    assert_eq!(status, 202);
    let mut edit = vec![
        ("site", "demo"),
        ("name", "Test shop"),
        ("timezone", "UTC"),
        ("currency", "EUR"),
        ("domains", ""),
        ("medium_from", "0"),
        ("high_from", "0"),
    ];
    let (status, body) = call(&app, &app.client, a::UpdateSite::PATH, &edit).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("from USD to EUR hides $") && body.contains("(1 orders in USD)"),
        "{body}"
    );
    let site = server::store::sites::find(&pool, "demo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(site.currency, "USD", "nothing changed");
    // Asked to anyway, it changes; the old revenue stays stored.
    edit.push(("confirm_currency", "yes"));
    assert_eq!(
        call(&app, &app.client, a::UpdateSite::PATH, &edit).await.0,
        200
    );
    let site = server::store::sites::find(&pool, "demo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(site.currency, "EUR");
    let (_, orders) = server::store::sites::sales_in(&pool, site.site_id, "USD")
        .await
        .unwrap();
    assert_eq!(orders, 1);
    // The settings page says what a change does before anyone tries.
    let html = app.get_text("/sites/demo").await;
    assert!(
        html.contains("Reports count orders in this currency only"),
        "{html}"
    );
}
