//! Per-client rate limit on ingestion: a token bucket per IP (IPv6 per /64,
//! the smallest block a client usually gets), by `governor`. Past the limit
//! a request is answered 429 with `Retry-After` before its body is read.
//!
//! Bounded: when more than [`MAX_CLIENTS`] buckets exist, idle ones (full
//! buckets, which carry no information) are dropped.
//!
//! Who the client is: the TCP peer, unless the peer is a configured trusted
//! proxy; then the rightmost `X-Forwarded-For` hop that is not a trusted
//! proxy (hops left of it could be written by the client itself).

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::HeaderMap;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

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

/// Open WebSockets per client IP, at most `max` each. The map only holds
/// clients with an open socket, so it is bounded by the sockets themselves.
#[derive(Clone, Debug)]
pub struct SocketCounter {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open socket's place; giving it up (drop) frees it.
#[derive(Debug)]
pub struct SocketSlot {
    counter: SocketCounter,
    ip: IpAddr,
}

impl SocketCounter {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for another socket of `ip`, or `None` when it has `max`.
    pub fn open(&self, ip: IpAddr) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            counter: self.clone(),
            ip,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
}

impl TrustedProxies {
    /// Parses CIDR blocks or single addresses (`10.0.0.0/8`, `127.0.0.1`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("trusted proxy {entry:?} is not an address or CIDR block"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nets: nets.into() })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for rate limits and cookieless visitors.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Every header line, in order, then each line's hops right to left.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // Garbage where an address should be: stop at what we know.
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
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

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy_and_from_the_right() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Straight from the internet: the header is the client's own words.
        let direct = forwarded(&["198.51.100.9"]);
        assert_eq!(
            proxies.client_ip(ip("203.0.113.5"), &direct),
            ip("203.0.113.5")
        );
        // Through our proxy: the rightmost hop it did not add itself.
        let spoofed = forwarded(&["1.2.3.4, 203.0.113.5"]);
        assert_eq!(
            proxies.client_ip(ip("10.1.1.1"), &spoofed),
            ip("203.0.113.5")
        );
        // Two trusted hops, over two header lines.
        let chain = forwarded(&["1.2.3.4, 203.0.113.5", "10.2.2.2"]);
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &chain),
            ip("203.0.113.5")
        );
        // Garbage stops the walk at the last address we could read.
        let garbage = forwarded(&["203.0.113.5, nonsense"]);
        assert_eq!(proxies.client_ip(ip("10.1.1.1"), &garbage), ip("10.1.1.1"));
        assert_eq!(
            proxies.client_ip(ip("10.1.1.1"), &HeaderMap::new()),
            ip("10.1.1.1")
        );
        assert!(TrustedProxies::parse(&["not-an-ip".into()]).is_err());
    }

    #[test]
    fn sockets_per_client_are_capped_and_freed_on_close() {
        let counter = SocketCounter::new(2);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let first = counter.open(ip).expect("first");
        let _second = counter.open(ip).expect("second");
        assert!(counter.open(ip).is_none());
        assert!(counter.open("203.0.113.10".parse().unwrap()).is_some());
        drop(first);
        assert!(counter.open(ip).is_some());
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        let limiter = ClientLimiter::new(0, 0);
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        assert!((0..10_000).all(|_| limiter.check(client).is_ok()));
    }
}
