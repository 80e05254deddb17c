//! One module per `cargo xtask` command, plus the set-up they all start with.

pub mod bench;
pub mod db;
pub mod dev;
mod profile;
pub mod test;

use std::path::Path;

use anyhow::Result;

use crate::system::{self, System};
use crate::tools::{self, Tools};

/// What `setup` leaves ready for the other commands.
pub struct Ready {
    pub tools: Tools,
    pub system: System,
}

/// Installs what is missing, skipping what is present. System packages come
/// first: without root they stop xtask before any long compile starts.
/// `need_browser` adds Chromium and the end-to-end npm packages. The
/// tracker is built here too: every command after set-up serves it.
pub fn setup(repo: &Path, need_browser: bool) -> Result<Ready> {
    let system = system::ensure(need_browser)?;
    let tools = Tools::locate()?;
    tools.install(repo)?;
    tools::tracker(repo)?;
    if need_browser {
        tools::end2end_packages(repo)?;
    }
    Ok(Ready { tools, system })
}
