//! Per-client rate limit on ingestion: a token bucket per IP (IPv6 per /64,
//! the smallest block a client usually gets), by `governor`. Past the limit
//! a request is answered 429 with `Retry-After` before its body is read.
//!
//! Bounded: when more than [`MAX_CLIENTS`] buckets exist, idle ones (full
//! buckets, which carry no information) are dropped.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

const MAX_CLIENTS: usize = 100_000;

#[derive(Clone)]
pub struct ClientLimiter {
    buckets: Option<Arc<DefaultKeyedRateLimiter<u128>>>,
}

impl ClientLimiter {
    /// `per_second` requests per client with bursts of `burst`; 0 turns the
    /// limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let buckets = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self { buckets }
    }

    /// `Err(wait)` when the client must slow down.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        if buckets.len() > MAX_CLIENTS {
            buckets.retain_recent();
        }
        buckets.check_key(&client_key(ip)).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

/// IPv4 addresses as they are; IPv6 by /64.
fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) & !((1_u128 << 64) - 1) | (1 << 127),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_burst_is_told_to_wait_and_others_are_not() {
        let limiter = ClientLimiter::new(1, 2);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(limiter.check(client).is_ok());
        assert!(limiter.check(client).is_ok());
        let wait = limiter
            .check(client)
            .expect_err("third request in a burst of 2");
        assert!(wait <= Duration::from_secs(1));
        assert!(limiter.check("203.0.113.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let limiter = ClientLimiter::new(1, 1);
        assert!(limiter.check("2001:db8::1".parse().unwrap()).is_ok());
        assert!(limiter.check("2001:db8::2".parse().unwrap()).is_err());
        assert!(limiter.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        let limiter = ClientLimiter::new(0, 0);
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        assert!((0..10_000).all(|_| limiter.check(client).is_ok()));
    }
}
