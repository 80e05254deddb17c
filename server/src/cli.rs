//! Administrative commands of the `server` binary (sites, until accounts
//! exist).

use anyhow::Context as _;
use clap::Subcommand;
use sqlx::PgPool;

use crate::{
    ingest::money::Currency,
    store::{
        self,
        sites::{NewSite, Site},
    },
};
use secrecy::ExposeSecret;

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Create a site and print its signing secret.
    Add {
        /// The public key trackers send, e.g. `demo`.
        key: String,
        #[arg(long)]
        name: String,
        /// IANA time zone for hours and days in reports.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// ISO 4217 reporting currency.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// A host allowed to send page events (repeatable; none means any).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Succeed without changes when the site already exists.
        #[arg(long)]
        if_missing: bool,
    },
    /// List sites.
    List,
}

/// Creates a site with a fresh random signing secret.
pub async fn add_site(
    pool: &PgPool,
    key: &str,
    name: &str,
    timezone: &str,
    currency: &str,
    domains: &[String],
) -> anyhow::Result<Site> {
    anyhow::ensure!(
        Currency::parse(currency).is_some(),
        "{currency:?} is not an ISO 4217 currency"
    );
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).context("reading OS randomness")?;
    let signing_secret = format!("sps_{}", hex::encode(secret));
    let new = NewSite {
        site_key: key,
        name,
        timezone,
        currency,
        domains,
        signing_secret: &signing_secret,
    };
    store::sites::insert(pool, &new)
        .await
        .context("creating the site")
}

/// Creates the `demo` site unless it exists (`bootstrap.demo_site`, which
/// `cargo xtask dev` and the end-to-end tests switch on).
pub async fn ensure_demo_site(pool: &PgPool) -> anyhow::Result<()> {
    if store::sites::find(pool, "demo").await?.is_some() {
        return Ok(());
    }
    let site = add_site(pool, "demo", "Demo store", "Europe/Berlin", "EUR", &[]).await?;
    tracing::info!(
        site = %site.site_key,
        signing_secret = %site.signing_secret.expose_secret(),
        "created the demo site"
    );
    Ok(())
}

pub async fn site(pool: &PgPool, command: SiteCommand) -> anyhow::Result<()> {
    store::migrate(pool).await.context("applying migrations")?;
    match command {
        SiteCommand::Add {
            key,
            name,
            timezone,
            currency,
            domains,
            if_missing,
        } => {
            if let Some(site) = store::sites::find(pool, &key).await? {
                anyhow::ensure!(if_missing, "site {key:?} already exists");
                println!("site {:?} exists ({})", site.site_key, site.name);
                return Ok(());
            }
            let site = add_site(pool, &key, &name, &timezone, &currency, &domains).await?;
            println!(
                "created site {:?} ({}, {}, {})",
                site.site_key, site.name, site.currency, site.timezone
            );
            println!(
                "signing secret (keep it on your shop's backend): {}",
                site.signing_secret.expose_secret()
            );
            Ok(())
        }
        SiteCommand::List => {
            for site in store::sites::list(pool).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    site.site_key,
                    site.name,
                    site.currency,
                    site.timezone,
                    site.domains.join(",")
                );
            }
            Ok(())
        }
    }
}
