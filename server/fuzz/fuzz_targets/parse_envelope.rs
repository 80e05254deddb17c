//! Arbitrary bytes through the whole ingestion parser: envelope, then every
//! event, with money, items, props, URLs and times. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::ingest::{
    enrich,
    money::Currency,
    parse::{parse_envelope, parse_event, Context, Limits},
};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let limits = Limits::default();
    let Ok(envelope) = parse_envelope(body, &limits) else { return };
    let client = enrich::client(body);
    // Some inputs meet a site restricted to its own domain.
    let domains = if data.len() % 3 == 0 {
        vec!["shop.example".to_owned()]
    } else {
        Vec::new()
    };
    let Some(currency) = Currency::parse("EUR") else { return };
    let cx = Context {
        site_id: 1,
        site_currency: currency,
        tiers: (2_000, 10_000),
        received_at: chrono::Utc::now(),
        sent_at: envelope.sent_at,
        client: &client,
        derived_visitor: &|| "h-fuzz".to_owned(),
        verified: data.len() % 2 == 0,
        limits: &limits,
        domains: &domains,
    };
    for raw in &envelope.events {
        let _ = parse_event(raw, &cx);
    }
});
