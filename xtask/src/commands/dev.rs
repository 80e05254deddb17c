//! `cargo xtask dev`: the app under `cargo leptos watch` (rebuild and reload
//! on every edit) against the local `dev` PostgreSQL, or against
//! `DATABASE_URL` when that is set.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Result};

use crate::commands::setup;
use crate::database::Database;
use crate::exec::{interrupted_child, say, wait};
use crate::pg::Purpose;

const SITE_ADDR: &str = "127.0.0.1:3000";

pub fn run(repo: &Path) -> Result<ExitCode> {
    let ready = setup(repo, false)?;
    // Held until the end: dropping it stops the PostgreSQL started here.
    let (url, _database) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            say("using DATABASE_URL; no local PostgreSQL started");
            (url, None)
        }
        Err(_) => {
            let database = Database::local(repo, Purpose::Dev, ready.system.pg)?;
            let name = Purpose::Dev.database();
            database.server().ensure_database(name)?;
            (database.server().url(name), Some(database))
        }
    };
    let site = std::env::var("LEPTOS_SITE_ADDR").unwrap_or_else(|_| SITE_ADDR.to_owned());
    say(format!(
        "cargo leptos watch, serving http://{site} (Ctrl-C stops it)"
    ));
    let mut watch = Command::new("cargo");
    watch
        .args(["leptos", "watch"])
        .current_dir(repo)
        .env("PATH", ready.tools.path()?)
        .env("DATABASE_URL", &url)
        .env("LEPTOS_SITE_ADDR", &site)
        // Creates the `demo` site on first start; its signing secret is logged.
        .env("STOREPULSE_BOOTSTRAP__DEMO_SITE", "true");
    let status = wait(&mut watch)?;
    // Ctrl-C is the normal way to leave `dev`.
    if !status.success() && !interrupted_child(status) {
        bail!("`cargo leptos watch` failed ({status})");
    }
    Ok(ExitCode::SUCCESS)
}
