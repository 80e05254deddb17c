//! System packages from Debian: PostgreSQL's programs, Chromium for
//! the end-to-end tests and npm. Installed with apt-get when xtask runs as
//! root; otherwise xtask says what to install and stops.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::exec::{find_on_path, is_executable, is_root, run, say};

/// What the system provides.
pub struct System {
    pub pg: PgBin,
    /// Present only when the browser was asked for.
    pub chromium: Option<PathBuf>,
}

/// Finds the system programs `setup` needs, installing the missing packages
/// when root.
pub fn ensure(need_browser: bool) -> Result<System> {
    let mut missing = Vec::new();
    if PgBin::find().is_none() {
        missing.push("postgresql");
    }
    if need_browser && chromium().is_none() {
        missing.push("chromium");
    }
    if find_on_path("npm").is_none() {
        missing.push("npm");
    }
    install(&missing)?;
    let pg = postgres()?;
    let chromium = if need_browser {
        let path = chromium().context("Chromium still missing (is CHROMIUM_PATH right?)")?;
        say(format!("Chromium present ({})", path.display()));
        Some(path)
    } else {
        None
    };
    Ok(System { pg, chromium })
}

/// PostgreSQL's programs, installing the package when missing and root.
pub fn postgres() -> Result<PgBin> {
    if PgBin::find().is_none() {
        install(&["postgresql"])?;
    }
    let pg = PgBin::find().context("PostgreSQL's initdb, pg_ctl or psql still missing")?;
    say(format!("PostgreSQL present ({})", pg.describe()));
    Ok(pg)
}

fn install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        bail!("missing system packages; install them with:\n    sudo apt-get install -y {list}");
    }
    say(format!("installing {list} with apt-get"));
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// PostgreSQL's programs: from `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian keeps the server ones there).
#[derive(Clone)]
pub struct PgBin {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
    pub psql: PathBuf,
}

impl PgBin {
    pub fn find() -> Option<Self> {
        let (initdb, pg_ctl) = match (find_on_path("initdb"), find_on_path("pg_ctl")) {
            (Some(initdb), Some(pg_ctl)) => (initdb, pg_ctl),
            _ => {
                let dir = newest_server_dir()?;
                (dir.join("initdb"), dir.join("pg_ctl"))
            }
        };
        let beside_pg_ctl = pg_ctl.with_file_name("psql");
        let psql = find_on_path("psql")
            .or_else(|| is_executable(&beside_pg_ctl).then_some(beside_pg_ctl))?;
        Some(Self {
            initdb,
            pg_ctl,
            psql,
        })
    }

    pub fn describe(&self) -> String {
        format!("{}, {}", self.pg_ctl.display(), self.psql.display())
    }
}

fn newest_server_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl")))
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// `CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`, if executable.
fn chromium() -> Option<PathBuf> {
    let path =
        std::env::var_os("CHROMIUM_PATH").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    is_executable(&path).then_some(path)
}
