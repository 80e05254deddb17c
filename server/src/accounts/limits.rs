//! Sign-in attempts per account and per client address: token buckets
//! (`governor`) refilled per minute. Every attempt counts, right or wrong,
//! so guessing is slow and hashing cannot be flooded; the same limit
//! applies to addresses with and without an account.
//!
//! Bounded: past [`MAX_KEYS`] buckets, full (idle) ones are dropped.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

const MAX_KEYS: usize = 100_000;

pub struct AttemptLimits {
    accounts: Option<DefaultKeyedRateLimiter<String>>,
    clients: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn per_minute<K: std::hash::Hash + Eq + Clone>(n: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl AttemptLimits {
    /// `per_account` and `per_client` attempts a minute (bursts of as
    /// many); 0 turns a limit off.
    pub fn new(per_account: u32, per_client: u32) -> Self {
        Self {
            accounts: per_minute(per_account),
            clients: per_minute(per_client),
        }
    }

    /// Counts an attempt; `Err(wait)` when either limit is exhausted.
    pub fn check(&self, email: &str, client: IpAddr) -> Result<(), Duration> {
        let now = governor::clock::DefaultClock::default().now();
        if let Some(clients) = &self.clients {
            if clients.len() > MAX_KEYS {
                clients.retain_recent();
            }
            clients
                .check_key(&client)
                .map_err(|n| n.wait_time_from(now))?;
        }
        if let Some(accounts) = &self.accounts {
            if accounts.len() > MAX_KEYS {
                accounts.retain_recent();
            }
            accounts
                .check_key(&email.to_owned())
                .map_err(|n| n.wait_time_from(now))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_limited_across_addresses_and_an_address_across_accounts() {
        let limits = AttemptLimits::new(3, 5);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        for n in 0..3 {
            assert!(limits.check("ada@example.com", ip(n)).is_ok());
        }
        assert!(limits.check("ada@example.com", ip(9)).is_err());
        // Address 10.0.0.20 tries five accounts, then is stopped.
        for n in 0..5 {
            assert!(limits.check(&format!("u{n}@example.com"), ip(20)).is_ok());
        }
        assert!(limits.check("fresh@example.com", ip(20)).is_err());
    }
}
