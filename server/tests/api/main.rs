//! Integration tests: the real server on port 0 against a fresh PostgreSQL
//! database per test (`#[sqlx::test]`), spoken to over real HTTP.

mod abuse;
mod accounts;
mod customers;
mod demo;
mod fold;
mod ga4;
mod helpers;
mod history;
mod ingest;
mod live;
mod overload;
mod poison;
mod shell;
mod sites;
mod stats;
mod websocket;
