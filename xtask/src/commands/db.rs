//! `cargo xtask db start|stop|url [dev|test]`: a local PostgreSQL by hand, for
//! running `cargo test` or the server directly:
//! `export DATABASE_URL=$(cargo xtask db start test)`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::exec::say;
use crate::pg::{Cluster, Purpose};
use crate::system;
use crate::system::PgBin;

pub fn run(repo: &Path, action: &str, cluster: &str) -> Result<ExitCode> {
    let purpose = Purpose::parse(cluster)?;
    match action {
        // Only the URL on stdout, so `$(cargo xtask db …)` captures it.
        "url" => println!("{}", purpose.url()?),
        "start" => {
            let cluster = Cluster::new(repo, purpose, system::postgres()?)?;
            cluster.start()?;
            cluster.server().ensure_database(purpose.database())?;
            say(format!(
                "stop it with `cargo xtask db stop {}`",
                purpose.name()
            ));
            println!("{}", purpose.url()?);
        }
        "stop" => {
            let pg = PgBin::find().context("PostgreSQL is not installed, so nothing runs")?;
            let cluster = Cluster::new(repo, purpose, pg)?;
            if cluster.is_running() {
                cluster.stop()?;
            } else {
                say(format!("PostgreSQL `{}` is not running", purpose.name()));
            }
        }
        other => bail!("unknown db action `{other}`: expected start, stop or url"),
    }
    Ok(ExitCode::SUCCESS)
}
