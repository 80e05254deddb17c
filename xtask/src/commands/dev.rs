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
const ADMIN_EMAIL: &str = "admin@example.com";

/// The development admin's password: made once at random (never a
/// built-in default) and kept beside the build, so it stays the same
/// from one `dev` to the next.
fn admin_password(repo: &Path) -> Result<String> {
    let path = repo.join("target/dev-admin-password");
    if let Ok(saved) = std::fs::read_to_string(&path) {
        if saved.trim().len() >= 16 {
            return Ok(saved.trim().to_owned());
        }
    }
    let mut bytes = [0_u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(repo.join("target"))?;
    std::fs::write(&path, &password)?;
    Ok(password)
}

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
    let password = admin_password(repo)?;
    say(format!(
        "cargo leptos watch, serving http://{site} (Ctrl-C stops it)"
    ));
    say(format!(
        "sign in at http://{site}/login as {ADMIN_EMAIL} with the password {password} \
         (kept in target/dev-admin-password)"
    ));
    let mut watch = Command::new("cargo");
    watch
        .args(["leptos", "watch"])
        .current_dir(repo)
        .env("PATH", ready.tools.path()?)
        .env("DATABASE_URL", &url)
        .env("LEPTOS_SITE_ADDR", &site)
        // Creates the `demo` site on first start (its signing secret is
        // logged) and (re)sets the admin, a member of it.
        .env("STOREPULSE_BOOTSTRAP__DEMO_SITE", "true")
        .env("STOREPULSE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("STOREPULSE_ADMIN_PASSWORD", &password);
    let status = wait(&mut watch)?;
    // Ctrl-C is the normal way to leave `dev`.
    if !status.success() && !interrupted_child(status) {
        bail!("`cargo leptos watch` failed ({status})");
    }
    Ok(ExitCode::SUCCESS)
}
