//! What the server adds to an event: device, browser and OS from the
//! User-Agent, bot recognition, referrer host, UTM parameters, price tier,
//! and a visitor id for clients that store none.
//!
//! The client IP is only ever an input to a daily-salted hash here; it is
//! never stored.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{
    event::{Client, Item, Money, Utm},
    money::Currency,
    rejection::{Reason, Rejection},
};

/// Device, browser and OS from a User-Agent, by the `woothee` parser.
pub fn client(user_agent: &str) -> Client {
    static PARSER: OnceLock<woothee::parser::Parser> = OnceLock::new();
    let parser = PARSER.get_or_init(woothee::parser::Parser::new);
    let Some(result) = parser.parse(user_agent) else {
        return Client {
            device: "other",
            browser: "Unknown".to_owned(),
            os: "Unknown".to_owned(),
        };
    };
    // woothee files tablets under "smartphone"; the UA tells them apart.
    let tablet = user_agent.contains("iPad")
        || user_agent.contains("Tablet")
        || (user_agent.contains("Android") && !user_agent.contains("Mobile"));
    let device = match result.category {
        "pc" => "desktop",
        "smartphone" | "mobilephone" if tablet => "tablet",
        "smartphone" | "mobilephone" => "mobile",
        _ => "other",
    };
    Client {
        device,
        browser: result.name.to_owned(),
        os: result.os.to_owned(),
    }
}

/// Why a request was classified as a bot: the label on
/// `storepulse_events_bots_total`.
pub fn bot_reason(user_agent: Option<&str>) -> Option<&'static str> {
    static BOTS: OnceLock<isbot::Bots> = OnceLock::new();
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return Some("no_user_agent");
    };
    if BOTS.get_or_init(isbot::Bots::default).is_bot(ua) {
        return Some("bot_user_agent");
    }
    None
}

/// The host of an http(s) URL, lower-case, without a leading `www.`.
pub fn host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    Some(host.strip_prefix("www.").map(str::to_owned).unwrap_or(host))
}

/// `utm_source`, `utm_medium` and `utm_campaign` from a page URL, each
/// decoded strictly: a value whose percent-decoded bytes are not UTF-8, or
/// that holds a NUL, refuses the event (PostgreSQL `text` takes neither,
/// and a lossy decode would store something the shop never sent).
pub fn utm(url: &str) -> Result<Utm, Rejection> {
    let mut utm = Utm::default();
    let Some(query) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
    else {
        return Ok(utm);
    };
    for pair in query.split('&') {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "utm_source" => &mut utm.source,
            "utm_medium" => &mut utm.medium,
            "utm_campaign" => &mut utm.campaign,
            _ => continue,
        };
        let plus_as_space = raw.replace('+', " ");
        let value = percent_encoding::percent_decode_str(&plus_as_space)
            .decode_utf8()
            .map_err(|_| {
                let detail = format!("url's {key} is not valid UTF-8 once decoded");
                Rejection::new(Reason::InvalidUrl, detail)
            })?;
        if value.contains('\0') {
            let detail = format!("url's {key} contains a NUL byte");
            return Err(Rejection::new(Reason::NulByte, detail));
        }
        let value: String = value.chars().take(100).collect();
        if !value.is_empty() {
            *slot = Some(value);
        }
    }
    Ok(utm)
}

/// `low`, `medium` or `high` by the event's value (or its dearest item), when
/// the amount is in the site's currency; `None` when there is no amount.
pub fn price_tier(
    money: Option<&Money>,
    items: &[Item],
    site_currency: Currency,
    event_currency: Currency,
    (medium_from, high_from): (i64, i64),
) -> Option<&'static str> {
    if event_currency != site_currency {
        return None;
    }
    let amount = money
        .map(|m| m.minor)
        .or_else(|| items.iter().filter_map(|i| i.price).max())?;
    Some(if amount >= high_from {
        "high"
    } else if amount >= medium_from {
        "medium"
    } else {
        "low"
    })
}

/// A visitor id for a client that stores none (cookieless mode): a hash of
/// site, day, IP and User-Agent under the day's salt (`ingest::salts`,
/// shared by every process and deleted after two days). It changes every
/// day (UTC), so nobody can follow a visitor across days, and once the salt
/// is gone the IP cannot be recovered from it.
pub fn derived_visitor(
    secret: &[u8],
    site_id: i32,
    now: DateTime<Utc>,
    ip: &str,
    user_agent: &str,
) -> String {
    let mut hash = Sha256::new();
    hash.update(secret);
    hash.update(site_id.to_be_bytes());
    hash.update(now.format("%Y-%m-%d").to_string());
    hash.update(ip);
    hash.update([0]);
    hash.update(user_agent);
    let digest = hash.finalize();
    format!("h-{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    #[test]
    fn devices_are_told_apart_by_user_agent() {
        assert_eq!(client(IPHONE).device, "mobile");
        assert_eq!(client(IPAD).device, "tablet");
        let desktop = client(DESKTOP);
        assert_eq!(
            (desktop.device, desktop.browser.as_str()),
            ("desktop", "Chrome")
        );
    }

    #[test]
    fn crawlers_and_missing_user_agents_are_bots() {
        assert_eq!(bot_reason(Some(GOOGLEBOT)), Some("bot_user_agent"));
        assert_eq!(bot_reason(None), Some("no_user_agent"));
        assert_eq!(bot_reason(Some(DESKTOP)), None);
    }

    #[test]
    fn cached_verdicts_match_a_fresh_parse_and_the_cache_stays_bounded() {
        let cache = UserAgents::default();
        for _ in 0..2 {
            let judged = cache.judge(Some(IPAD));
            assert_eq!((judged.client, judged.bot), (client(IPAD), None));
            assert_eq!(cache.judge(Some(GOOGLEBOT)).bot, Some("bot_user_agent"));
            assert_eq!(cache.judge(None).bot, Some("no_user_agent"));
        }
        for n in 0..UserAgents::MAX + 5 {
            cache.judge(Some(&format!("{DESKTOP} build/{n}")));
        }
        assert!(cache.seen.lock().unwrap().len() <= UserAgents::MAX);
    }

    #[test]
    fn utm_parameters_and_referrer_host_are_extracted() {
        let utm =
            utm("https://shop.example/?utm_source=news&utm_medium=e+mail&utm_campaign=b%C3%A9")
                .unwrap();
        assert_eq!(utm.source.as_deref(), Some("news"));
        assert_eq!(utm.medium.as_deref(), Some("e mail"));
        assert_eq!(utm.campaign.as_deref(), Some("bé"));
        assert_eq!(
            host("https://www.Google.com/search?q=x").as_deref(),
            Some("google.com")
        );
    }

    #[test]
    fn utm_values_with_a_nul_or_broken_utf8_are_refused() {
        assert!(utm("https://shop.example/?utm_campaign=%00")
            .unwrap_err()
            .detail
            .contains("NUL"));
        assert!(utm("https://shop.example/?utm_source=%C3")
            .unwrap_err()
            .detail
            .contains("UTF-8"));
        // Other parameters are not ours to judge.
        assert!(utm("https://shop.example/?q=%00&x=%FF").is_ok());
    }

    #[test]
    fn derived_visitor_ids_change_daily_and_hide_the_ip() {
        let day1 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let day2 = day1 + chrono::Duration::days(1);
        let a = derived_visitor(b"k", 1, day1, "203.0.113.9", DESKTOP);
        assert_eq!(a, derived_visitor(b"k", 1, day1, "203.0.113.9", DESKTOP));
        assert_ne!(a, derived_visitor(b"k", 1, day2, "203.0.113.9", DESKTOP));
        assert!(!a.contains("203"));
    }
}

/// What a User-Agent says, cached: parsing one (woothee's rules, then the
/// bot patterns) costs far more than the rest of an event, and a store's
/// traffic comes from a few thousand distinct User-Agents. Bounded: past
/// [`UserAgents::MAX`] entries it starts over.
#[derive(Clone, Default)]
pub struct UserAgents {
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Judged>>>,
}

/// A User-Agent's device and bot verdict.
#[derive(Clone)]
pub struct Judged {
    pub client: Client,
    pub bot: Option<&'static str>,
}

impl UserAgents {
    const MAX: usize = 10_000;

    pub fn judge(&self, user_agent: Option<&str>) -> Judged {
        let key = user_agent.unwrap_or_default();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(judged) = seen.get(key) {
            return judged.clone();
        }
        let judged = Judged {
            client: client(key),
            bot: bot_reason(user_agent),
        };
        if seen.len() >= Self::MAX {
            seen.clear();
        }
        seen.insert(key.to_owned(), judged.clone());
        judged
    }
}
