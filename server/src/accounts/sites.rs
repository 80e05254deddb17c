//! The settings pages' port over PostgreSQL: the viewer's sites (create,
//! edit, rotate the signing secret, the tracker snippet) and the viewer's
//! account (password, API tokens). Every call goes through the viewer's
//! memberships: another user's site is "no such site", never "forbidden",
//! so site keys cannot be probed.

use app::{
    accounts::{AccountInfo, AdminError, SiteForm, SiteSettings, SiteSummary, TokenInfo, Viewer},
    ports::Admin,
};
use async_trait::async_trait;
use secrecy::ExposeSecret;

use super::{AccountError, Accounts};
use crate::{
    cli::{check_timezone, minor_units, new_secret},
    ingest::money::Currency,
    store::{
        self, accounts as sql,
        sites::{NewSite, Site, SiteChanges},
    },
};

/// Allowed hosts per site at most.
const MAX_DOMAINS: usize = 50;

pub struct PgAdmin {
    accounts: Accounts,
}

impl PgAdmin {
    pub fn new(accounts: Accounts) -> Self {
        Self { accounts }
    }

    /// The site if the viewer belongs to it.
    async fn member_site(&self, viewer: &Viewer, key: &str) -> Result<Site, AdminError> {
        store::sites::find_for_user(self.accounts.pool(), viewer.user_id, key)
            .await
            .map_err(database)?
            .ok_or_else(AdminError::not_found)
    }
}

fn database(error: sqlx::Error) -> AdminError {
    tracing::warn!(error = %store::describe(&error), "settings query failed");
    AdminError::new(503, "the database is unavailable, try again shortly")
}

fn account(error: AccountError) -> AdminError {
    if let AccountError::Database(error) = error {
        return database(error);
    }
    AdminError::new(error.status(), error.to_string())
}

fn invalid(error: anyhow::Error) -> AdminError {
    AdminError::new(400, error.to_string())
}

/// A site key as trackers send it: lower-case letters, digits, `-`, `_`.
fn check_key(key: &str) -> Result<(), AdminError> {
    let valid = (1..=63).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(AdminError::new(
            400,
            "a site key is 1 to 63 lower-case letters, digits, '-' or '_'",
        ))
    }
}

/// Hosts from a textarea: one per line or comma-separated.
pub fn parse_domains(text: &str) -> Result<Vec<String>, AdminError> {
    let mut domains = Vec::new();
    for host in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|h| !h.is_empty())
    {
        let host = host.trim_end_matches('.').to_lowercase();
        let valid = host.len() <= 253
            && !host.starts_with(['.', '-'])
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !valid {
            return Err(AdminError::new(
                400,
                format!("{host:?} is not a host name like shop.example.com"),
            ));
        }
        if !domains.contains(&host) {
            domains.push(host);
        }
    }
    if domains.len() > MAX_DOMAINS {
        return Err(AdminError::new(
            400,
            format!("at most {MAX_DOMAINS} domains"),
        ));
    }
    Ok(domains)
}

fn check_name(name: &str) -> Result<&str, AdminError> {
    let name = name.trim();
    if (1..=200).contains(&name.chars().count()) {
        Ok(name)
    } else {
        Err(AdminError::new(400, "a name is 1 to 200 characters"))
    }
}

/// Minor units as a plain decimal (`2000` EUR → `20.00`) for a form field.
fn decimal(minor: i64, currency: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(u32::from(exponent));
    format!(
        "{}.{:0width$}",
        minor / scale,
        minor % scale,
        width = usize::from(exponent)
    )
}

#[async_trait]
impl Admin for PgAdmin {
    async fn sites(&self, viewer: &Viewer) -> Result<Vec<SiteSummary>, AdminError> {
        let sites = store::sites::list_for_user(self.accounts.pool(), viewer.user_id)
            .await
            .map_err(database)?;
        Ok(sites
            .into_iter()
            .map(|s| SiteSummary {
                key: s.site_key,
                name: s.name,
                timezone: s.timezone,
                currency: s.currency,
            })
            .collect())
    }

    async fn site(
        &self,
        viewer: &Viewer,
        key: &str,
        origin: &str,
    ) -> Result<SiteSettings, AdminError> {
        let site = self.member_site(viewer, key).await?;
        Ok(SiteSettings {
            snippet: format!(
                r#"<script defer src="{origin}/tracker.js" data-site="{}"></script>"#,
                site.site_key
            ),
            medium_from: decimal(site.price_tier_medium_from, &site.currency),
            high_from: decimal(site.price_tier_high_from, &site.currency),
            signing_secret: site.signing_secret.expose_secret().to_owned(),
            key: site.site_key,
            name: site.name,
            timezone: site.timezone,
            currency: site.currency,
            domains: site.domains,
        })
    }

    async fn create_site(
        &self,
        viewer: &Viewer,
        key: &str,
        form: &SiteForm,
    ) -> Result<(), AdminError> {
        let key = key.trim();
        check_key(key)?;
        let name = check_name(&form.name)?;
        let currency = form.currency.trim().to_uppercase();
        if Currency::parse(&currency).is_none() {
            return Err(AdminError::new(
                400,
                format!("{currency:?} is not an ISO 4217 currency"),
            ));
        }
        check_timezone(form.timezone.trim()).map_err(invalid)?;
        let domains = parse_domains(&form.domains)?;
        let pool = self.accounts.pool();
        if store::sites::find(pool, key)
            .await
            .map_err(database)?
            .is_some()
        {
            return Err(AdminError::new(409, format!("the key {key:?} is taken")));
        }
        let secret = new_secret().map_err(invalid)?;
        let site = store::sites::insert(
            pool,
            &NewSite {
                site_key: key,
                name,
                timezone: form.timezone.trim(),
                currency: &currency,
                domains: &domains,
                signing_secret: &secret,
            },
        )
        .await
        .map_err(database)?;
        sql::grant(pool, viewer.user_id, site.site_id)
            .await
            .map_err(database)?;
        tracing::info!(site = %site.site_key, user = viewer.user_id, "site created");
        Ok(())
    }

    async fn update_site(
        &self,
        viewer: &Viewer,
        key: &str,
        form: &SiteForm,
    ) -> Result<(), AdminError> {
        let site = self.member_site(viewer, key).await?;
        let name = check_name(&form.name)?;
        let code = form.currency.trim().to_uppercase();
        let currency = Currency::parse(&code)
            .ok_or_else(|| AdminError::new(400, format!("{code:?} is not an ISO 4217 currency")))?;
        check_timezone(form.timezone.trim()).map_err(invalid)?;
        let domains = parse_domains(&form.domains)?;
        let tiers = match (&form.medium_from, &form.high_from) {
            (Some(medium), Some(high)) => {
                let medium = minor_units(medium, currency).map_err(invalid)?;
                let high = minor_units(high, currency).map_err(invalid)?;
                if medium > high {
                    return Err(AdminError::new(
                        400,
                        "the medium tier must not start above the high tier",
                    ));
                }
                Some((medium, high))
            }
            (None, None) => None,
            _ => {
                return Err(AdminError::new(
                    400,
                    "send both price tier thresholds, or neither",
                ))
            }
        };
        if code != site.currency && !form.confirm_currency {
            // Reports count orders in the site's currency only: say what a
            // new one hides, and change it only when asked to anyway.
            let (revenue, orders) =
                store::sites::sales_in(self.accounts.pool(), site.site_id, &site.currency)
                    .await
                    .map_err(database)?;
            if orders > 0 {
                return Err(AdminError::new(
                    409,
                    format!(
                        "Changing the currency from {old} to {code} hides {money} of earlier \
                         revenue ({orders} orders in {old}) from every report: reports count \
                         orders in the site's currency only, and nothing is converted. The \
                         orders stay stored and show again if you change back. Tick \"Change \
                         the currency anyway\" to go ahead.",
                        old = site.currency,
                        money = app::stats::money(revenue, &site.currency),
                    ),
                ));
            }
        }
        let changes = SiteChanges {
            name: Some(name),
            timezone: Some(form.timezone.trim()),
            currency: Some(&code),
            domains: Some(&domains),
            price_tiers: tiers,
        };
        store::sites::update(self.accounts.pool(), &site.site_key, &changes)
            .await
            .map_err(database)?
            .ok_or_else(AdminError::not_found)?;
        Ok(())
    }

    async fn rotate_secret(&self, viewer: &Viewer, key: &str) -> Result<(), AdminError> {
        let site = self.member_site(viewer, key).await?;
        let secret = new_secret().map_err(invalid)?;
        store::sites::rotate_secret(self.accounts.pool(), &site.site_key, &secret)
            .await
            .map_err(database)?
            .ok_or_else(AdminError::not_found)?;
        tracing::info!(site = %site.site_key, user = viewer.user_id, "signing secret rotated");
        Ok(())
    }

    async fn account(&self, viewer: &Viewer) -> Result<AccountInfo, AdminError> {
        let tokens = sql::list_tokens(self.accounts.pool(), viewer.user_id)
            .await
            .map_err(database)?;
        let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        Ok(AccountInfo {
            email: viewer.email.clone(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenInfo {
                    id: t.token_id,
                    name: t.name,
                    prefix: t.prefix,
                    created: when(t.created_at),
                    last_used: t.last_used_at.map(when),
                })
                .collect(),
        })
    }

    async fn create_token(&self, viewer: &Viewer, name: &str) -> Result<String, AdminError> {
        self.accounts
            .create_token(viewer, name)
            .await
            .map_err(account)
    }

    async fn revoke_token(&self, viewer: &Viewer, token_id: i64) -> Result<(), AdminError> {
        let revoked = sql::revoke_token(self.accounts.pool(), viewer.user_id, token_id)
            .await
            .map_err(database)?;
        if revoked {
            Ok(())
        } else {
            Err(AdminError::new(404, "no such token"))
        }
    }

    async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<String, AdminError> {
        self.accounts
            .change_password(viewer, current, new)
            .await
            .map(|signed_in| signed_in.set_cookie)
            .map_err(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_come_one_per_line_or_comma_separated() {
        assert_eq!(
            parse_domains("Shop.example.com, www.example.com\n\nshop.example.com.").unwrap(),
            vec!["shop.example.com".to_owned(), "www.example.com".to_owned()]
        );
        assert!(parse_domains("https://shop.example.com").is_err());
        assert!(parse_domains("").unwrap().is_empty());
    }

    #[test]
    fn thresholds_show_as_decimals_of_the_currency() {
        assert_eq!(decimal(2000, "EUR"), "20.00");
        assert_eq!(decimal(5, "USD"), "0.05");
        assert_eq!(decimal(1500, "JPY"), "1500");
    }
}
