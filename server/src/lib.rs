//! Storepulse server: the axum binary's library half.
//!
//! An event's journey through this crate follows the folders in order:
//! `ingest` (wire payload to validated event), `aggregate` (batch to rollup
//! deltas), `store` (SQL), `live` (push to dashboards). `config`, `startup`,
//! `routes` and `error` are the frame around them; `dashboard` answers
//! the dashboard's pages and the stats API from the rollups; `demo` is the
//! demo storefront. The binary (`main.rs`)
//! only parses the command line and calls into here, so integration tests
//! can start the same server on port 0.

pub mod accounts;
pub mod aggregate;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod ingest;
pub mod live;
pub mod loopback;
pub mod metrics;
pub mod routes;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
