//! `cargo xtask <command>`: the project's developer commands, written in Rust
//! so they run the same on every machine without a shell-script zoo. `setup`
//! installs the pinned toolchain pieces once, `dev` runs the app with live
//! reload, `test` runs what CI runs, `bench` prints the benchmark table, `db`
//! manages a local PostgreSQL.

mod commands;
mod database;
mod exec;
mod pg;
mod system;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup                          install what the other commands need (idempotent)
  dev                            cargo leptos watch against a local PostgreSQL
  test                           fmt, clippy, tests and end-to-end tests, as CI runs them
  bench [--events N] [--seconds S] [--requests R]
                                 release build against a local PostgreSQL: one table of
                                 ingest, freshness, dashboard and size figures, beside a
                                 trivial axum ceiling (defaults 10000000 events, 10 s, 10)
  db start|stop|url [dev|test|bench]
                                 manage a local PostgreSQL cluster by hand (default: dev)

environment:
  STOREPULSE_TOOLS_DIR   where tools are installed (default ~/.cache/storepulse/tools)
  STOREPULSE_PG_PORT     port of the local PostgreSQL (default dev 54329, test 54330, bench 54331)
  DATABASE_URL           use this server instead of a local PostgreSQL (dev, test, bench)
  CHROMIUM_PATH          Chromium for the end-to-end tests (default /usr/bin/chromium)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[&str]) -> Result<ExitCode> {
    let repo = repo_root();
    match args {
        ["setup"] => commands::setup(&repo, true).map(|_| ExitCode::SUCCESS),
        ["dev"] => {
            exec::survive_interrupts()?;
            commands::dev::run(&repo)
        }
        ["test"] => {
            exec::survive_interrupts()?;
            commands::test::run(&repo)
        }
        ["bench", options @ ..] => {
            exec::survive_interrupts()?;
            commands::bench::run(&repo, options)
        }
        ["db", action] => commands::db::run(&repo, action, "dev"),
        ["db", action, cluster] => commands::db::run(&repo, action, cluster),
        [] | ["help" | "-h" | "--help"] => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprint!("{USAGE}");
            bail!("unknown command line: {}", args.join(" "))
        }
    }
}

/// The workspace root: the parent of this crate's directory. `cargo run`
/// says where that is at run time; the compile-time path is only a fallback,
/// because a target directory shared by two clones may hold a binary built
/// from the other one.
fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}
