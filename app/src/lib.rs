//! The Storepulse dashboard: everything that renders on both sides of the wire.
//!
//! Pages, components, the data types they share with the server, and the
//! server functions that fetch them. The `ssr` feature adds what only the
//! server may compile (the [`ports`] the server implements); the `hydrate`
//! feature adds the WASM entry point. The crate boundary is the
//! browser/server boundary: nothing here touches the database directly.

pub mod accounts;
pub mod api;
#[cfg(feature = "ssr")]
pub mod charts;
pub mod components;
pub mod live;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;
mod shell;
pub mod stats;

pub use shell::{shell, App};

/// The WASM entry point: hydrates the islands, the only interactive parts
/// of the server-rendered pages (the Real-Time feed, the Status refresh,
/// the settings forms). Everything else stays plain HTML, so the bundle
/// carries no page that needs no code.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
