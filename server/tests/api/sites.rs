//! Site administration from the command line: edit and secret rotation.

use secrecy::ExposeSecret;
use server::{
    cli::{self, SiteCommand, SiteEdit},
    ingest::signature,
    store::sites,
};
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, now_ms, purchase, spawn_app, SECRET};

#[sqlx::test(migrations = false)]
async fn a_site_is_edited_field_by_field_and_bad_values_change_nothing(pool: PgPool) {
    server::store::migrate(&pool).await.expect("migrate");
    create_site(&pool, "shop").await;
    let edit = SiteEdit {
        name: Some("Shop EU".into()),
        timezone: Some("Europe/Berlin".into()),
        currency: Some("EUR".into()),
        domains: vec!["shop.example".into(), "shop.test".into()],
        medium_from: Some("25.00".into()),
        high_from: Some("150".into()),
        ..SiteEdit::of("shop")
    };
    cli::site(&pool, SiteCommand::Edit(edit))
        .await
        .expect("edit");
    let site = sites::find(&pool, "shop").await.unwrap().unwrap();
    assert_eq!(
        (
            site.name.as_str(),
            site.timezone.as_str(),
            site.currency.as_str()
        ),
        ("Shop EU", "Europe/Berlin", "EUR")
    );
    assert_eq!(site.domains, ["shop.example", "shop.test"]);
    assert_eq!(
        (site.price_tier_medium_from, site.price_tier_high_from),
        (2_500, 15_000)
    );

    // Only what is given changes; --any-domain clears the list.
    let edit = SiteEdit {
        any_domain: true,
        ..SiteEdit::of("shop")
    };
    cli::site(&pool, SiteCommand::Edit(edit))
        .await
        .expect("edit");
    let after = sites::find(&pool, "shop").await.unwrap().unwrap();
    assert!(after.domains.is_empty());
    assert_eq!(after.name, "Shop EU");

    for bad in [
        SiteEdit {
            timezone: Some("Mars/Olympus".into()),
            ..SiteEdit::of("shop")
        },
        SiteEdit {
            currency: Some("XYZ".into()),
            ..SiteEdit::of("shop")
        },
        SiteEdit {
            medium_from: Some("200.00".into()),
            high_from: Some("100.00".into()),
            ..SiteEdit::of("shop")
        },
        SiteEdit::of("nope"),
    ] {
        assert!(cli::site(&pool, SiteCommand::Edit(bad)).await.is_err());
    }
    let unchanged = sites::find(&pool, "shop").await.unwrap().unwrap();
    assert_eq!(
        (unchanged.timezone.as_str(), unchanged.currency.as_str()),
        ("Europe/Berlin", "EUR")
    );
    assert_eq!(unchanged.price_tier_high_from, 15_000);
}

#[sqlx::test(migrations = false)]
async fn a_rotated_secret_signs_and_the_old_one_no_longer_does(pool: PgPool) {
    server::store::migrate(&pool).await.expect("migrate");
    create_site(&pool, "demo").await;
    cli::site(&pool, SiteCommand::RotateSecret { key: "demo".into() })
        .await
        .expect("rotate");
    let site = sites::find(&pool, "demo").await.unwrap().unwrap();
    let new = site.signing_secret.expose_secret().to_owned();
    assert_ne!(new, SECRET);
    assert!(new.starts_with("sps_") && new.len() == 68, "{new}");

    // A fresh server (no cached site) checks signatures against the new one.
    let app = spawn_app(pool.clone()).await;
    let body = serde_json::to_vec(&envelope(vec![purchase("p-1", "T-1")])).unwrap();
    let sign = |secret: &str| signature::sign(&body, secret.as_bytes(), now_ms() / 1000);
    let (status, _) = app
        .post_raw(
            "application/json",
            body.clone(),
            &[("x-storepulse-signature", sign(SECRET))],
        )
        .await;
    assert_eq!(status, 401, "the old secret is refused");
    let (status, receipt) = app
        .post_raw(
            "application/json",
            body.clone(),
            &[("x-storepulse-signature", sign(&new))],
        )
        .await;
    assert_eq!(status, 202, "{receipt}");
}
