//! The foundation: health, migrations, the Status server function and the
//! page shell's status codes.

use app::api::status::{DatabaseState, StatusReport};
use server_fn::ServerFn as _;
use sqlx::{postgres::PgPoolOptions, PgPool};

use crate::helpers::spawn_app;

#[sqlx::test(migrations = false)]
async fn healthz_is_ok_when_the_database_answers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "reachable");
}

#[sqlx::test(migrations = false)]
async fn healthz_is_503_and_says_why_when_the_database_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    pool.close().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
    assert!(body["reason"].is_string());
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database(pool: PgPool) {
    let tables_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables_before, 0, "the test database starts empty");

    spawn_app(pool.clone()).await;

    let newest = server::store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();
    assert_eq!(server::store::schema_version(&pool).await.unwrap(), newest);
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sites, 0);
}

#[sqlx::test(migrations = false)]
async fn status_server_function_reports_the_schema_version(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    crate::helpers::create_site(&pool, "demo").await;
    let events = vec![
        crate::helpers::page_view("st-1"),
        crate::helpers::page_view("st-2"),
    ];
    let body = crate::helpers::envelope(events);
    assert_eq!(app.post_events(&body).await.0, 202);
    assert_eq!(
        app.post_events(&body).await.0,
        202,
        "the same again: duplicates"
    );
    let response = app
        .client
        .post(app.url(app::api::status::GetStatus::PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: StatusReport = response.json().await.unwrap();
    let newest = server::store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();
    assert_eq!(
        report.database,
        DatabaseState::Reachable {
            schema_version: newest
        }
    );
    assert_eq!(report.server_version, env!("CARGO_PKG_VERSION"));
    let i = &report.ingestion;
    assert_eq!(
        (i.received, i.accepted, i.duplicates, i.rejected, i.bots),
        (4, 2, 2, 0, 0),
        "the last hour's ingestion"
    );
    assert_eq!(i.queue_depth, 0);
}

#[sqlx::test(migrations = false)]
async fn status_page_is_rendered_with_real_data_in_the_first_html(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/status")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"aria-label="Main""#),
        "navigation is server-rendered"
    );
    let db_status = html
        .split(r#"data-testid="db-status""#)
        .nth(1)
        .expect("the database status is in the first HTML");
    assert!(
        db_status.starts_with(r#" class="badge badge-reachable">reachable<"#),
        "{db_status}"
    );
}

#[sqlx::test(migrations = false)]
async fn report_pages_need_a_site_and_unknown_paths_answer_404(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for path in ["/", "/hourly", "/products", "/realtime", "/users"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} without any site");
        let html = response.text().await.unwrap();
        assert!(html.contains("no site yet"), "{path}: {html}");
    }
    crate::helpers::create_site(&pool, "demo").await;
    for path in ["/", "/hourly", "/products", "/realtime", "/users"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} with a site");
    }
    let response = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[sqlx::test(migrations = false)]
async fn a_pool_that_cannot_connect_fails_startup_with_a_clear_error(_pool: PgPool) {
    let unreachable = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://nobody@127.0.0.1:9/none")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leptos = leptos::prelude::LeptosOptions::builder()
        .output_name("storepulse")
        .build();
    let config = server::config::Config::load(Vec::new()).unwrap();
    let error = server::startup::Application::with_pool(config, leptos, listener, unreachable)
        .await
        .err()
        .expect("startup must fail without a database");
    assert!(format!("{error:#}").contains("migrations"), "{error:#}");
}

#[sqlx::test(migrations = false)]
async fn pages_are_compressed_and_tiny_ingestion_answers_are_not(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    crate::helpers::create_site(&pool, "demo").await;
    let page = app
        .client
        .get(app.url("/status"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let body = crate::helpers::envelope(vec![crate::helpers::page_view("z-1")]);
    let answer = app
        .client
        .post(app.url("/api/events"))
        .header("accept-encoding", "gzip")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    assert!(!answer.headers().contains_key("content-encoding"));
}

/// What a hydrated page sends when its URL has no query string at all.
#[sqlx::test(migrations = false)]
async fn report_server_functions_take_an_empty_range(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    crate::helpers::create_site(&pool, "demo").await;
    for path in [
        app::api::stats::GetOverview::PATH,
        app::api::stats::GetHourlySales::PATH,
        app::api::stats::GetProducts::PATH,
        app::api::stats::GetUsers::PATH,
        app::api::stats::GetLive::PATH,
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(r#""site":"demo""#), "{path}: {body}");
    }
}

#[sqlx::test(migrations = false)]
async fn dashboard_pages_forbid_framing_and_sniffing(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in ["/status", "/no/such/page"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("strict-origin-when-cross-origin"),
            "{path}"
        );
        let policy = header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn page_scripts_run_only_with_the_responses_nonce(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let response = app.client.get(app.url("/status")).send().await.unwrap();
        let policy = response
            .headers()
            .get("content-security-policy")
            .expect("a policy")
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("script-src has a nonce")
            .to_owned();
        assert!(nonce.len() >= 16, "{nonce}");
        let script_src = policy
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .expect("script-src");
        assert!(!script_src.contains("unsafe-inline"), "{script_src}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        // Every inline script of the page carries it.
        let scripts = body.matches("<script").count();
        let nonced = body.matches(&format!("nonce=\"{nonce}\"")).count();
        assert!(
            scripts > 0 && nonced >= scripts,
            "{scripts} scripts, {nonced} nonced"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");
}

#[sqlx::test(migrations = false)]
async fn a_trailing_slash_redirects_to_the_canonical_path_with_its_query(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    crate::helpers::create_site(&pool, "demo").await;
    let signed_in = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(reqwest::header::COOKIE, app.cookie.parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    for (asked, canonical) in [
        ("/hourly/", "/hourly"),
        ("/hourly/?site=demo&range=7d", "/hourly?site=demo&range=7d"),
        ("/sites/demo/", "/sites/demo"),
        ("/products//?q=mug", "/products?q=mug"),
    ] {
        for client in [&signed_in, &app.anon] {
            let response = client.get(app.url(asked)).send().await.unwrap();
            assert!(
                matches!(response.status().as_u16(), 301 | 308),
                "{asked}: {}",
                response.status()
            );
            assert_eq!(response.headers()["location"], canonical, "{asked}");
        }
    }
    // The canonical page itself is served to the signed-in user.
    let response = signed_in
        .get(app.url("/hourly?site=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Never a redirect to another host.
    let response = signed_in
        .get(app.url("//evil.example/"))
        .send()
        .await
        .unwrap();
    let location = response.headers().get("location");
    assert!(
        location.is_none_or(|l| !l.to_str().unwrap().starts_with("//")),
        "{location:?}"
    );
}
