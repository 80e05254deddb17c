//! The pinned build tools, kept outside the clone (they take ~25 minutes to
//! build once): cargo-leptos, the wasm-bindgen CLI that must match the
//! `wasm-bindgen` crate exactly, and binaryen's wasm-opt from npm (Debian's is
//! too old). See /work/shared/toolchain.md for why each pin exists.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::exec::{output, run, say};

const CARGO_LEPTOS: &str = "0.3.11";
/// cargo-leptos's lockfile holds 0.14.2, which needs a newer Rust than ours.
const CARGO_UTIL_SCHEMAS: &str = "0.14.1";
const WASM_BINDGEN: &str = "0.2.130";
const BINARYEN: &str = "132.0.0";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The tools directory: `STOREPULSE_TOOLS_DIR`, or
/// `$HOME/.cache/storepulse/tools`.
pub struct Tools {
    dir: PathBuf,
}

impl Tools {
    pub fn locate() -> Result<Self> {
        let dir = match std::env::var_os("STOREPULSE_TOOLS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => home()?.join(".cache/storepulse/tools"),
        };
        Ok(Self { dir })
    }

    /// `PATH` for children: the tools first, so cargo-leptos finds them
    /// instead of trying to download its own.
    pub fn path(&self) -> Result<OsString> {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let dirs = [self.bin_dir(), self.npm_bin_dir()];
        std::env::join_paths(dirs.into_iter().chain(std::env::split_paths(&inherited)))
            .context("a tools directory path contains `:`")
    }

    /// Installs whatever is missing; skips what is present.
    pub fn install(&self, repo: &Path) -> Result<()> {
        wasm_target(repo)?;
        self.cargo_leptos()?;
        self.wasm_bindgen()?;
        self.binaryen()
    }

    fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    fn npm_bin_dir(&self) -> PathBuf {
        self.dir.join("npm/node_modules/.bin")
    }

    /// Built from the published source with one dependency pinned down (see
    /// [`CARGO_UTIL_SCHEMAS`]) and without its self-downloading of tools.
    fn cargo_leptos(&self) -> Result<()> {
        if reports_version(&self.bin_dir().join("cargo-leptos"), CARGO_LEPTOS) {
            say(format!("cargo-leptos {CARGO_LEPTOS} present"));
            return Ok(());
        }
        say(format!(
            "installing cargo-leptos {CARGO_LEPTOS} (one-time, ~20 min)"
        ));
        // Kept until the install succeeds, so a retry resumes the compile.
        let build = self.dir.join("build");
        let source = build.join(format!("cargo-leptos-{CARGO_LEPTOS}"));
        if !source.join("Cargo.toml").exists() {
            fs::create_dir_all(&build)
                .with_context(|| format!("could not create {}", build.display()))?;
            // `cargo info` leaves the published `.crate` in the registry cache.
            let spec = format!("cargo-leptos@{CARGO_LEPTOS}");
            output(cargo().args(["info", &spec]).current_dir(&build))?;
            let archive = registry_crate(&format!("cargo-leptos-{CARGO_LEPTOS}.crate"))?;
            run(Command::new("tar")
                .arg("xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&build))?;
        }
        let pin = [
            "update",
            "-p",
            "cargo-util-schemas",
            "--precise",
            CARGO_UTIL_SCHEMAS,
        ];
        run(cargo().args(pin).current_dir(&source))?;
        let install = [
            "install",
            "--path",
            ".",
            "--locked",
            "--force",
            "--features",
            "no_downloads",
        ];
        run(cargo()
            .args(install)
            .arg("--root")
            .arg(&self.dir)
            .current_dir(&source))?;
        fs::remove_dir_all(&build).with_context(|| format!("could not remove {}", build.display()))
    }

    /// Without `--locked`: its lockfile wants a webpki-roots release the
    /// registry no longer serves.
    fn wasm_bindgen(&self) -> Result<()> {
        if reports_version(&self.bin_dir().join("wasm-bindgen"), WASM_BINDGEN) {
            say(format!("wasm-bindgen {WASM_BINDGEN} present"));
            return Ok(());
        }
        say(format!(
            "installing wasm-bindgen-cli {WASM_BINDGEN} (one-time, ~5 min)"
        ));
        let install = [
            "install",
            "wasm-bindgen-cli",
            "--force",
            "--version",
            WASM_BINDGEN,
        ];
        run(cargo().args(install).arg("--root").arg(&self.dir))
    }

    fn binaryen(&self) -> Result<()> {
        if self.npm_bin_dir().join("wasm-opt").exists() {
            say(format!("wasm-opt (binaryen {BINARYEN}) present"));
            return Ok(());
        }
        say(format!("installing binaryen {BINARYEN} from npm"));
        let prefix = self.dir.join("npm");
        let package = format!("binaryen@{BINARYEN}");
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(prefix)
            .arg(package))
    }
}

/// In `end2end/`: Playwright from the lockfile, without its browser download
/// (the tests use the system Chromium).
pub fn end2end_packages(repo: &Path) -> Result<()> {
    npm_packages(&repo.join("end2end"))
}

/// Builds `public/tracker.js` from `tracker/src/` (esbuild, from npm), which
/// cargo-leptos then copies into the site like every other static file.
pub fn tracker(repo: &Path) -> Result<()> {
    let dir = repo.join("tracker");
    npm_packages(&dir)?;
    say("building public/tracker.js");
    run(Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(dir))
}

/// `npm ci` in `dir` unless its `node_modules` matches the lockfile (npm
/// writes the hidden lockfile last, so an interrupted install is redone).
fn npm_packages(dir: &Path) -> Result<()> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let modified = |path: PathBuf| fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (_, None) => bail!("{name}/package-lock.json is missing"),
        (Some(installed), Some(locked)) if installed >= locked => {
            say(format!("{name} npm packages present"));
            return Ok(());
        }
        _ => {}
    }
    say(format!("npm ci in {name}/"));
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

fn wasm_target(repo: &Path) -> Result<()> {
    let installed = output(
        Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(repo),
    )?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        say(format!("rust target {WASM_TARGET} present"));
        return Ok(());
    }
    say(format!("adding rust target {WASM_TARGET}"));
    run(Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(repo))
}

/// `cargo` for installing tools: without our `CARGO_TARGET_DIR`, so each tool
/// builds in its own directory and never locks or bloats the project's.
fn cargo() -> Command {
    let mut cargo = Command::new("cargo");
    cargo.env_remove("CARGO_TARGET_DIR");
    cargo
}

/// Whether `<exe> --version` runs and mentions `version`.
fn reports_version(exe: &Path, version: &str) -> bool {
    output(Command::new(exe).arg("--version")).is_ok_and(|text| text.contains(version))
}

/// Finds `file` in `$CARGO_HOME/registry/cache/<any registry>/`.
fn registry_crate(file: &str) -> Result<PathBuf> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => home()?.join(".cargo"),
    };
    let cache = cargo_home.join("registry/cache");
    let registries =
        fs::read_dir(&cache).with_context(|| format!("could not read {}", cache.display()))?;
    let found = registries
        .filter_map(|entry| Some(entry.ok()?.path().join(file)))
        .find(|path| path.is_file());
    match found {
        Some(path) => Ok(path),
        None => bail!("`cargo info` left no {file} under {}", cache.display()),
    }
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}
