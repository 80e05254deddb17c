//! Databases on a PostgreSQL server, reached through `psql`: connection URLs,
//! creating and recreating databases, and the guard that gives commands a
//! server for their duration (the one in `DATABASE_URL`, or a project-local
//! cluster that it stops again however the command ends).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::exec::{output, run, say};
use crate::pg::{Cluster, Purpose};
use crate::system::PgBin;

/// A PostgreSQL server and the `psql` that talks to it.
#[derive(Clone)]
pub struct Server {
    url: String,
    psql: PathBuf,
}

impl Server {
    /// `url` names any database on the server; only its server part is kept.
    pub fn new(url: &str, psql: PathBuf) -> Self {
        Self {
            url: url.to_owned(),
            psql,
        }
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        with_database(&self.url, database)
    }

    /// Creates `database` unless it exists; keeps its data otherwise.
    pub fn ensure_database(&self, database: &str) -> Result<()> {
        let query = format!("SELECT 1 FROM pg_database WHERE datname = '{database}'");
        if output(self.psql().args(["-tA", "-c", &query]))?.trim() != "1" {
            say(format!("creating database {database}"));
            run(self
                .psql()
                .arg("-c")
                .arg(format!("CREATE DATABASE \"{database}\"")))?;
        }
        Ok(())
    }

    /// Drops `database` (closing its connections) and creates it empty.
    pub fn recreate_database(&self, database: &str) -> Result<()> {
        say(format!("recreating database {database}"));
        run(self
            .psql()
            .arg("-c")
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ))
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{database}\"")))
    }

    /// Runs `sql` in `database`; its rows unaligned, `|` between columns.
    pub fn query(&self, database: &str, sql: &str) -> Result<String> {
        let mut psql = self.psql();
        // The last `-d` wins: this database rather than the maintenance one.
        psql.args(["-tA", "-d"])
            .arg(self.url(database))
            .args(["-c", sql]);
        output(&mut psql)
    }

    /// `psql` connected to the maintenance database, quiet, stopping at the
    /// first error and ignoring the user's `~/.psqlrc`.
    fn psql(&self) -> Command {
        let mut psql = Command::new(&self.psql);
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url("postgres"))
            .env("PGOPTIONS", "-c client_min_messages=warning");
        psql
    }
}

/// Replaces the database name (the URL's path) and keeps any `?query`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, ""), |(base, query)| (base, query));
    let authority = base.find("://").map_or(0, |scheme_end| scheme_end + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |slash| authority + slash);
    let separator = if query.is_empty() { "" } else { "?" };
    format!("{}/{database}{separator}{query}", &base[..path])
}

/// The server a command uses while it runs. A cluster started here is stopped
/// on drop: on success, on error and after Ctrl-C alike.
pub struct Database {
    server: Server,
    started: Option<Cluster>,
    restart: Option<String>,
}

impl Database {
    /// The server in `DATABASE_URL` if set, else the project-local cluster.
    pub fn from_env_or_local(repo: &Path, purpose: Purpose, bin: PgBin) -> Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(url) => {
                say("using the PostgreSQL server in DATABASE_URL");
                Ok(Self {
                    server: Server::new(&url, bin.psql),
                    started: None,
                    restart: None,
                })
            }
            Err(_) => Self::local(repo, purpose, bin),
        }
    }

    /// The project-local cluster, started unless it already runs (then it is
    /// left running afterwards too).
    pub fn local(repo: &Path, purpose: Purpose, bin: PgBin) -> Result<Self> {
        let cluster = Cluster::new(repo, purpose, bin)?;
        let started = cluster.start()?;
        Ok(Self {
            server: cluster.server(),
            restart: Some(cluster.restart_command()),
            started: started.then_some(cluster),
        })
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// How to restart the server, when it is a local cluster.
    pub fn restart_command(&self) -> Option<&str> {
        self.restart.as_deref()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(cluster) = &self.started {
            if let Err(error) = cluster.stop() {
                eprintln!("warning: {error:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        let url = with_database(
            "postgres://postgres@127.0.0.1:54330/postgres",
            "storepulse_e2e",
        );
        assert_eq!(url, "postgres://postgres@127.0.0.1:54330/storepulse_e2e");
    }

    #[test]
    fn database_name_is_added_when_the_url_has_none() {
        assert_eq!(
            with_database("postgres://u:p@db:5432", "x"),
            "postgres://u:p@db:5432/x"
        );
    }

    #[test]
    fn query_parameters_survive() {
        let url = with_database("postgres://u@db/app?sslmode=require", "x");
        assert_eq!(url, "postgres://u@db/x?sslmode=require");
    }
}
