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
        /// A user (email) who may see the site (repeatable; see `server user add`).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Change a site's name, time zone, currency, domains or price tiers.
    Edit(SiteEdit),
    /// Replace a site's signing secret and print the new one. Requests
    /// signed with the old one are refused within 5 seconds (the site cache).
    RotateSecret { key: String },
    /// List sites.
    List,
}

#[derive(Args, Default)]
pub struct SiteEdit {
    pub key: String,
    #[arg(long)]
    pub name: Option<String>,
    /// IANA time zone for hours and days in reports.
    #[arg(long)]
    pub timezone: Option<String>,
    /// ISO 4217 reporting currency (rollups keep each event's currency;
    /// reports show the rows in the site currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Replace the allowed hosts with these (repeatable).
    #[arg(long = "domain", conflicts_with = "any_domain")]
    pub domains: Vec<String>,
    /// Allow events from any host again.
    #[arg(long)]
    pub any_domain: bool,
    /// Medium price tier from this amount, e.g. 20.00 (site currency).
    #[arg(long, requires = "high_from")]
    pub medium_from: Option<String>,
    /// High price tier from this amount, e.g. 100.00.
    #[arg(long, requires = "medium_from")]
    pub high_from: Option<String>,
}

impl SiteEdit {
    /// An edit of `key` that changes nothing yet.
    pub fn of(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            ..Self::default()
        }
    }
}

/// A site's time zone must be one reports can use.
pub fn check_timezone(timezone: &str) -> anyhow::Result<()> {
    timezone
        .parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| anyhow::anyhow!("{timezone:?} is not an IANA time zone, e.g. Europe/Berlin"))
}

/// An amount like `20.00` in minor units of `currency`.
pub fn minor_units(amount: &str, currency: Currency) -> anyhow::Result<i64> {
    let raw = serde_json::value::RawValue::from_string(amount.trim().to_owned())
        .map_err(|_| anyhow::anyhow!("{amount:?} is not a decimal amount"))?;
    crate::ingest::money::parse_minor(&raw, currency)
        .map_err(|_| anyhow::anyhow!("{amount:?} is not a positive decimal amount"))
}

/// A fresh random signing secret.
pub fn new_secret() -> anyhow::Result<String> {
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).context("reading OS randomness")?;
    Ok(format!("sps_{}", hex::encode(secret)))
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
    check_timezone(timezone)?;
    let signing_secret = new_secret()?;
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
    crate::store::accounts::grant_everyone(pool, site.site_id).await?;
    // Never the secret itself: logs travel further than a settings page.
    tracing::info!(
        site = %site.site_key,
        "created the demo site (its signing secret: Settings → the site, or `server site rotate-secret demo`)"
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
            members,
        } => {
            let mut users = Vec::with_capacity(members.len());
            for email in &members {
                let email = crate::accounts::normalize_email(email).unwrap_or_default();
                let user = store::accounts::find_user(pool, &email)
                    .await?
                    .with_context(|| format!("no user {email:?} (see `server user add`)"))?;
                users.push(user.user_id);
            }
            if let Some(site) = store::sites::find(pool, &key).await? {
                anyhow::ensure!(if_missing, "site {key:?} already exists");
                println!("site {:?} exists ({})", site.site_key, site.name);
                return Ok(());
            }
            let site = add_site(pool, &key, &name, &timezone, &currency, &domains).await?;
            for user_id in users {
                store::accounts::grant(pool, user_id, site.site_id).await?;
            }
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
        SiteCommand::Edit(SiteEdit {
            key,
            name,
            timezone,
            currency,
            domains,
            any_domain,
            medium_from,
            high_from,
        }) => {
            let site = store::sites::find(pool, &key)
                .await?
                .with_context(|| format!("no site {key:?} (see `server site list`)"))?;
            if let Some(timezone) = &timezone {
                check_timezone(timezone)?;
            }
            let code = currency.as_deref().unwrap_or(&site.currency);
            let money = Currency::parse(code)
                .with_context(|| format!("{code:?} is not an ISO 4217 currency"))?;
            let price_tiers = match (&medium_from, &high_from) {
                (Some(medium), Some(high)) => {
                    let tiers = (minor_units(medium, money)?, minor_units(high, money)?);
                    anyhow::ensure!(
                        tiers.0 <= tiers.1,
                        "--medium-from must not exceed --high-from"
                    );
                    Some(tiers)
                }
                _ => None,
            };
            let no_domains: Vec<String> = Vec::new();
            let changes = store::sites::SiteChanges {
                name: name.as_deref(),
                timezone: timezone.as_deref(),
                currency: currency.as_deref(),
                domains: if any_domain {
                    Some(&no_domains)
                } else if domains.is_empty() {
                    None
                } else {
                    Some(&domains)
                },
                price_tiers,
            };
            let site = store::sites::update(pool, &key, &changes)
                .await
                .context("updating the site")?
                .with_context(|| format!("no site {key:?}"))?;
            println!(
                "site {:?}: {}, {}, {}, domains [{}], price tiers from {} and {} (minor units)",
                site.site_key,
                site.name,
                site.currency,
                site.timezone,
                site.domains.join(", "),
                site.price_tier_medium_from,
                site.price_tier_high_from
            );
            Ok(())
        }
        SiteCommand::RotateSecret { key } => {
            let site = store::sites::rotate_secret(pool, &key, &new_secret()?)
                .await?
                .with_context(|| format!("no site {key:?} (see `server site list`)"))?;
            println!(
                "new signing secret of {:?} (the old one stops working within 5 s): {}",
                site.site_key,
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

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user, or set the password of an existing one, and make
    /// them a member of sites. The password is read from
    /// `STOREPULSE_PASSWORD` or, without it, from the first line of stdin.
    Add {
        email: String,
        /// A site the user may see (repeatable).
        #[arg(long = "site")]
        sites: Vec<String>,
    },
}

pub async fn user(
    pool: &PgPool,
    config: &crate::config::Config,
    command: UserCommand,
) -> anyhow::Result<()> {
    store::migrate(pool).await.context("applying migrations")?;
    let UserCommand::Add { email, sites } = command;
    let mut site_ids = Vec::new();
    for key in &sites {
        let site = store::sites::find(pool, key)
            .await?
            .with_context(|| format!("no site {key:?} (see `server site list`)"))?;
        site_ids.push(site.site_id);
    }
    let password = match std::env::var("STOREPULSE_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let accounts = crate::accounts::Accounts::new(
        pool.clone(),
        &config.accounts,
        config.mode,
        crate::ingest::limit::TrustedProxies::default(),
    )
    .await?;
    let user_id = accounts
        .add_user(&email, &password, &site_ids)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("user {user_id} ({email}) may see: {}", sites.join(", "));
    Ok(())
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
