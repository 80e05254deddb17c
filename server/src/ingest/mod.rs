//! Ingestion: from the wire to validated, enriched events.
//!
//! `parse` turns an envelope's raw events into [`event::Event`]s or
//! [`rejection::Rejection`]s; `enrich` adds what the server knows;
//! `refund` prices refunds that name items without prices from their order;
//! `signature` verifies the shop backend's HMAC; `salts` keeps the daily
//! salts cookieless visitor ids are hashed under; `http` and `ws` are the two
//! edges that receive envelopes and wait for the group commit; `import`
//! feeds history files through the same parse and flush.

pub mod enrich;
pub mod event;
pub mod http;
pub mod import;
pub mod import_api;
pub mod limit;
pub mod money;
pub mod parse;
pub mod pipeline;
pub mod refund;
pub mod rejection;
pub mod salts;
pub mod signature;
pub mod sites;
pub mod ws;
