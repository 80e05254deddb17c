//! `cargo xtask test`: everything CI checks, in order, stopping at the first
//! failure. Steps that need a database get a fresh one on the local `test`
//! PostgreSQL (or on the server in `DATABASE_URL`), which is stopped again
//! however the run ends. Prints each step's time at the end.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::commands::setup;
use crate::database::Database;
use crate::exec::{self, describe, interrupted, say};
use crate::pg::Purpose;

/// The release server and the Playwright suite's environment.
const END_TO_END_ENV: &[(&str, &str)] = &[
    ("LEPTOS_SITE_ADDR", "127.0.0.1:3100"),
    ("STOREPULSE_BASE_URL", "http://127.0.0.1:3100"),
    ("STOREPULSE_BOOTSTRAP__DEMO_SITE", "true"),
    // The admin the Playwright suite signs in as (it reads these too).
    ("STOREPULSE_ADMIN_EMAIL", "admin@example.com"),
    ("STOREPULSE_ADMIN_PASSWORD", "e2e-admin-password"),
];

/// The steps, in order: each is one `cargo` command line.
const STEPS: &[Step] = &[
    Step::cargo("fmt", "fmt --all -- --check"),
    Step::cargo(
        "clippy server+xtask",
        "clippy -p server -p xtask --all-targets -- -D warnings",
    ),
    Step::cargo(
        "clippy app ssr",
        "clippy -p app --features ssr -- -D warnings",
    ),
    Step::cargo(
        "clippy app hydrate",
        "clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings",
    ),
    // The fuzz target is its own workspace (sanitizer builds stay out of
    // ours), so nothing else compiles it: checked here, it cannot rot
    // unnoticed again (it once missed a field `Context` had gained).
    Step::cargo(
        "check fuzz target",
        "check --manifest-path server/fuzz/Cargo.toml --bins",
    ),
    // Its own step: `cargo leptos end-to-end` has been seen to exit 0 when
    // its release build failed to compile; `cargo leptos build` does not.
    // The same environment as the next step, so that one builds nothing.
    Step::cargo("release build", "leptos build --release").with_env(END_TO_END_ENV),
    // On other ports than `cargo xtask dev`, so both can run at once.
    Step::cargo("end-to-end", "leptos end-to-end --release")
        .with_database("storepulse_e2e")
        .with_env(END_TO_END_ENV),
    // After the release build: the crash tests kill and restart that binary.
    // `#[sqlx::test]` creates its own database per test from this one's URL.
    Step::cargo("tests", "test --workspace --features app/ssr").with_database("storepulse_test"),
];

struct Step {
    name: &'static str,
    /// Arguments to `cargo`, separated by spaces.
    cargo: &'static str,
    /// Recreated empty before the step and handed to it as `DATABASE_URL`.
    database: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
}

impl Step {
    const fn cargo(name: &'static str, cargo: &'static str) -> Self {
        Self {
            name,
            cargo,
            database: None,
            env: &[],
        }
    }

    const fn with_database(self, database: &'static str) -> Self {
        Self {
            database: Some(database),
            ..self
        }
    }

    const fn with_env(self, env: &'static [(&'static str, &'static str)]) -> Self {
        Self { env, ..self }
    }
}

struct Timing {
    step: &'static str,
    passed: bool,
    elapsed: Duration,
}

struct Failure {
    step: &'static str,
    error: anyhow::Error,
}

pub fn run(repo: &Path) -> Result<ExitCode> {
    let mut timings = Vec::new();
    let outcome = run_steps(repo, &mut timings);
    print_timings(&timings);
    match outcome {
        Ok(()) => {
            println!("xtask test: all steps passed");
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure { step, error }) => {
            eprintln!("error: {error:#}");
            println!("xtask test: FAILED at step {step}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs set-up and the steps; the database guard lives here, so PostgreSQL
/// is stopped before the summary is printed.
fn run_steps(repo: &Path, timings: &mut Vec<Timing>) -> Result<(), Failure> {
    let ready = timed("setup", timings, || setup(repo, true))?;
    let path = ready.tools.path().map_err(|error| Failure {
        step: "setup",
        error,
    })?;
    let mut database: Option<Database> = None;
    for step in STEPS {
        timed(step.name, timings, || {
            let mut cargo = Command::new("cargo");
            cargo
                .args(step.cargo.split_whitespace())
                .current_dir(repo)
                .env("PATH", &path)
                .envs(step.env.iter().copied());
            if let Some(chromium) = &ready.system.chromium {
                cargo.env("CHROMIUM_PATH", chromium);
            }
            if let Some(name) = step.database {
                if database.is_none() {
                    let pg = ready.system.pg.clone();
                    database = Some(Database::from_env_or_local(repo, Purpose::Test, pg)?);
                }
                let database = database.as_ref().expect("opened above");
                let server = database.server();
                server.recreate_database(name)?;
                cargo.env("DATABASE_URL", server.url(name));
                if let Some(restart) = database.restart_command() {
                    cargo.env("STOREPULSE_PG_RESTART", restart);
                }
                cargo.env("STOREPULSE_SERVER_BIN", release_server(repo));
            }
            say(describe(&cargo));
            exec::run(&mut cargo)
        })?;
    }
    Ok(())
}

/// The server binary `cargo leptos end-to-end --release` built.
fn release_server(repo: &Path) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    repo.join(target).join("release").join("server")
}

/// Runs `action` as step `step`, recording its time and outcome. Ctrl-C
/// fails the step even if its command happened to exit cleanly.
fn timed<T>(
    step: &'static str,
    timings: &mut Vec<Timing>,
    action: impl FnOnce() -> Result<T>,
) -> Result<T, Failure> {
    let start = Instant::now();
    let result = action().and_then(|value| {
        if interrupted() {
            Err(anyhow!("interrupted"))
        } else {
            Ok(value)
        }
    });
    timings.push(Timing {
        step,
        passed: result.is_ok(),
        elapsed: start.elapsed(),
    });
    result.map_err(|error| Failure { step, error })
}

fn print_timings(timings: &[Timing]) {
    let names = std::iter::once("setup").chain(STEPS.iter().map(|step| step.name));
    let width = names.clone().map(str::len).max().unwrap_or(0);
    println!("\n{:width$}  {:7}  {:>8}", "step", "result", "time");
    for name in names {
        let timing = timings.iter().find(|timing| timing.step == name);
        let (result, time) = match timing {
            Some(Timing {
                passed: true,
                elapsed,
                ..
            }) => ("ok", format!("{:.1}s", elapsed.as_secs_f64())),
            Some(Timing { elapsed, .. }) => ("FAILED", format!("{:.1}s", elapsed.as_secs_f64())),
            None => ("not run", String::new()),
        };
        println!("{name:width$}  {result:7}  {time:>8}");
    }
}
