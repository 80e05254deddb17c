//! Administrative commands of the `server` binary (sites, until accounts
//! exist).

use anyhow::Context as _;
use clap::Subcommand;
use sqlx::PgPool;

use std::{io::Write as _, time::Instant};

use chrono::{Days, NaiveDate};
use clap::Args;

use crate::{
    dashboard::range::midnight,
    ingest::{import, money::Currency, parse::Limits},
    store::{
        self,
        rebuild::{self, Target},
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

#[derive(Args)]
pub struct ImportArgs {
    /// NDJSON file: one `{"user_agent", "event"}` object or bare event per line.
    pub file: std::path::PathBuf,
    /// The site key to import into.
    #[arg(long)]
    pub site: String,
    /// The file is the shop's own order export: store purchases and refunds
    /// as verified, like signed live reports.
    #[arg(long)]
    pub verified: bool,
    /// Oldest event accepted, in days before now.
    #[arg(long, default_value_t = 3 * 366)]
    pub max_age_days: i64,
    /// Events per transaction.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
}

/// `server import`: streams the file through validation, dedupe and the
/// rollups, printing progress and a final report.
pub async fn import(pool: &PgPool, limits: &Limits, args: ImportArgs) -> anyhow::Result<()> {
    store::migrate(pool).await.context("applying migrations")?;
    let site = store::sites::find(pool, &args.site)
        .await?
        .with_context(|| format!("no site {:?} (see `server site list`)", args.site))?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut options = import::Options::new(limits, args.max_age_days);
    options.verified = args.verified;
    options.batch = args.batch.max(1);
    let started = Instant::now();
    let report = import::import(
        pool,
        &site,
        std::io::BufReader::new(file),
        &options,
        &mut |r| {
            let rate = r.lines as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r{} lines: {} imported, {} duplicates, {} rejected, {} bots ({rate:.0} lines/s)   ",
                r.lines,
                r.imported,
                r.duplicates,
                r.rejected_total(),
                r.bots
            );
            let _ = std::io::stderr().flush();
        },
    )
    .await?;
    eprintln!();
    println!(
        "imported into {:?} in {:.1} s:",
        site.site_key,
        started.elapsed().as_secs_f64()
    );
    println!("  lines       {}", report.lines);
    println!("  imported    {}", report.imported);
    println!("  duplicates  {}", report.duplicates);
    println!("  bots        {}", report.bots);
    println!("  rejected    {}", report.rejected_total());
    for (reason, count) in &report.rejected {
        println!("    {reason:<18} {count}");
    }
    if report.rejected_total() > 0 {
        println!("  (rejected lines are in dead_letters with their reasons)");
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum RollupsCommand {
    /// Compare every rollup with a recomputation from the raw events.
    Check,
    /// Replace a site's rollups with a refold of its raw events.
    Rebuild {
        #[arg(long)]
        site: String,
        /// First day (YYYY-MM-DD, site time zone); with --to. Omit both
        /// to rebuild everything.
        #[arg(long, requires = "to")]
        from: Option<NaiveDate>,
        /// Last day, inclusive.
        #[arg(long, requires = "from")]
        to: Option<NaiveDate>,
    },
}

pub async fn rollups(pool: &PgPool, command: RollupsCommand) -> anyhow::Result<()> {
    store::migrate(pool).await.context("applying migrations")?;
    match command {
        RollupsCommand::Check => {
            let drift = store::drift::rollup_drift(pool).await?;
            if drift.is_empty() {
                println!("rollups equal a recomputation from the raw events");
                return Ok(());
            }
            for (table, rows) in &drift {
                println!("{table}: {rows} rows differ");
            }
            anyhow::bail!("rollups differ from the raw events: run `server rollups rebuild`")
        }
        RollupsCommand::Rebuild { site, from, to } => {
            let site = store::sites::find(pool, &site)
                .await?
                .with_context(|| format!("no site {site:?} (see `server site list`)"))?;
            let tz: chrono_tz::Tz = site
                .timezone
                .parse()
                .map_err(|_| anyhow::anyhow!("site time zone {:?} is unknown", site.timezone))?;
            let range = match (from, to) {
                (Some(from), Some(to)) => {
                    anyhow::ensure!(from <= to, "--from must not be after --to");
                    let after = to.checked_add_days(Days::new(1)).context("--to too late")?;
                    Some((midnight(from, tz), midnight(after, tz)))
                }
                _ => None,
            };
            let target = Target {
                site_id: site.site_id,
                currency: Currency::parse(&site.currency)
                    .with_context(|| format!("site currency {:?}", site.currency))?,
            };
            let started = Instant::now();
            let rebuilt = rebuild::rebuild(pool, &target, range, &mut |n| {
                eprint!("\r{n} events refolded   ");
                let _ = std::io::stderr().flush();
            })
            .await?;
            eprintln!();
            println!(
                "rebuilt {:?} in {:.1} s: {} events into hourly rollups, {} into sessions and visitors ({} visitors)",
                site.site_key,
                started.elapsed().as_secs_f64(),
                rebuilt.hour_events,
                rebuilt.visitor_events,
                rebuilt.visitors
            );
            Ok(())
        }
    }
}
