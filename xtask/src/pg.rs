//! Project-local PostgreSQL clusters: one per purpose (`dev`, `test`,
//! `bench`) under `<repo>/target/pg/`, so developers need no system database
//! service and no password. Works as root too: initdb and postgres refuse to
//! run as root, so then the cluster belongs to the `postgres` user and every
//! initdb/pg_ctl call goes through `runuser`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::database::Server;
use crate::exec::{is_root, run, say, succeeds};
use crate::system::PgBin;

/// What a cluster is for; each has its own data directory and port.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Dev,
    Test,
    /// `cargo xtask bench`: its own cluster, so the millions of events it
    /// keeps between runs never meet `cargo xtask test`'s recreated databases.
    Bench,
}

impl Purpose {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "dev" => Ok(Self::Dev),
            "test" => Ok(Self::Test),
            "bench" => Ok(Self::Bench),
            other => bail!("unknown cluster `{other}`: expected `dev`, `test` or `bench`"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Bench => "bench",
        }
    }

    /// The database developers point `DATABASE_URL` at.
    pub fn database(self) -> &'static str {
        match self {
            Self::Dev => "storepulse",
            Self::Test => "storepulse_test",
            Self::Bench => "storepulse_bench",
        }
    }

    /// The URL of [`Self::database`] on this purpose's cluster.
    pub fn url(self) -> Result<String> {
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port()?,
            self.database()
        ))
    }

    /// The port, unless `STOREPULSE_PG_PORT` says otherwise. Not 5432, so a
    /// system PostgreSQL can keep running beside it.
    fn port(self) -> Result<u16> {
        if let Ok(port) = std::env::var("STOREPULSE_PG_PORT") {
            return port
                .parse()
                .with_context(|| format!("STOREPULSE_PG_PORT={port} is not a port number"));
        }
        Ok(match self {
            Self::Dev => 54329,
            Self::Test => 54330,
            Self::Bench => 54331,
        })
    }
}

/// One cluster: data in `<repo>/target/pg/<name>`, log in `<repo>/target/pg/<name>.log`.
pub struct Cluster {
    purpose: Purpose,
    dir: PathBuf,
    port: u16,
    bin: PgBin,
    as_postgres: bool,
}

impl Cluster {
    /// Always under the repository's own `target/`, whatever
    /// `CARGO_TARGET_DIR` says: the data belongs to this checkout.
    pub fn new(repo: &Path, purpose: Purpose, bin: PgBin) -> Result<Self> {
        Ok(Self {
            purpose,
            dir: repo.join("target").join("pg").join(purpose.name()),
            port: purpose.port()?,
            bin,
            as_postgres: is_root(),
        })
    }

    pub fn server(&self) -> Server {
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        Server::new(&url, self.bin.psql.clone())
    }

    pub fn is_running(&self) -> bool {
        self.dir.join("PG_VERSION").exists() && succeeds(self.pg_ctl().arg("status"))
    }

    /// Initialises the cluster if needed and starts it unless it already
    /// runs. Returns whether this call started it.
    pub fn start(&self) -> Result<bool> {
        self.prepare()?;
        if self.is_running() {
            say(format!(
                "PostgreSQL `{}` already running on port {}",
                self.purpose.name(),
                self.port
            ));
            return Ok(false);
        }
        say(format!(
            "starting PostgreSQL `{}` on port {}",
            self.purpose.name(),
            self.port
        ));
        let options = format!(
            // pg_stat_statements: where `cargo xtask bench` sees the time go.
            "-c listen_addresses=127.0.0.1 -p {} -k '{}' -c fsync=on \
             -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
            self.port,
            self.dir.display()
        );
        let log = self.log_file();
        let mut start = self.pg_ctl();
        start
            .arg("-l")
            .arg(&log)
            .args(["-w", "-o", &options, "start"])
            .stdout(Stdio::null());
        if let Err(error) = run(&mut start) {
            bail!(
                "{error:#}\nthe end of {}:\n{}",
                log.display(),
                tail(&log, 10)
            );
        }
        Ok(true)
    }

    pub fn stop(&self) -> Result<()> {
        say(format!("stopping PostgreSQL `{}`", self.purpose.name()));
        run(self
            .pg_ctl()
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null()))
    }

    /// A shell command that restarts this cluster (the crash tests run it to
    /// restart the database under load).
    pub fn restart_command(&self) -> String {
        let owner = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "cd '{}' && {owner}'{}' -D '{}' -m fast -w restart >/dev/null",
            self.pg_root().display(),
            self.bin.pg_ctl.display(),
            self.dir.display()
        )
    }

    fn log_file(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// Creates the data directory with `initdb` unless it exists. As root,
    /// hands `target/pg` to the `postgres` user and makes sure that user can
    /// reach it.
    fn prepare(&self) -> Result<()> {
        let pg_root = self.pg_root();
        fs::create_dir_all(pg_root)
            .with_context(|| format!("could not create {}", pg_root.display()))?;
        if self.as_postgres {
            for dir in pg_root.ancestors().skip(1) {
                allow_traversal(dir)?;
            }
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg_root))?;
        }
        if !self.dir.join("PG_VERSION").exists() {
            say(format!(
                "initialising PostgreSQL `{}` in {}",
                self.purpose.name(),
                self.dir.display()
            ));
            let mut initdb = self.as_owner(&self.bin.initdb);
            initdb
                .arg("-D")
                .arg(&self.dir)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ])
                .stdout(Stdio::null());
            run(&mut initdb)?;
        }
        Ok(())
    }

    fn pg_root(&self) -> &Path {
        self.dir
            .parent()
            .expect("the data directory lives under target/pg")
    }

    /// `pg_ctl -D <dir>`, ready for more arguments.
    fn pg_ctl(&self) -> Command {
        let mut command = self.as_owner(&self.bin.pg_ctl);
        command.arg("-D").arg(&self.dir);
        command
    }

    /// Runs `program` as the owner of the data directory, from a directory
    /// that owner can enter (the programs resolve paths against it).
    fn as_owner(&self, program: &Path) -> Command {
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.current_dir(self.pg_root());
        command
    }
}

/// Adds `o+x` to `dir` if it lacks it, so the `postgres` user can pass through.
fn allow_traversal(dir: &Path) -> Result<()> {
    let mut permissions = fs::metadata(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .permissions();
    if permissions.mode() & 0o001 == 0 {
        say(format!(
            "chmod o+x {} (the postgres user must reach target/pg)",
            dir.display()
        ));
        permissions.set_mode(permissions.mode() | 0o001);
        fs::set_permissions(dir, permissions)
            .with_context(|| format!("could not chmod {}", dir.display()))?;
    }
    Ok(())
}

/// The last `lines` lines of a log file, or a note that it is unreadable.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(could not read it: {error})"),
    }
}
