//! Child processes: run them, capture their output and turn failures into
//! errors that name the command. Also keeps xtask alive through Ctrl-C so the
//! clean-up after a child (stopping PostgreSQL) still happens.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The PID of the long-running child (`run`), 0 when there is none.
static CHILD: AtomicU32 = AtomicU32::new(0);

/// Prints a progress line.
pub fn say(message: impl std::fmt::Display) {
    eprintln!("==> {message}");
}

/// Makes Ctrl-C only set a flag in xtask. The terminal sends SIGINT to the
/// whole foreground process group, so the running child still stops; xtask
/// then cleans up instead of dying on the spot.
/// A SIGTERM (e.g. from a supervisor) reaches only xtask, so it is passed on
/// to the running child, which then ends the same way.
pub fn survive_interrupts() -> Result<()> {
    ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let child = CHILD.load(Ordering::SeqCst);
        if child != 0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.to_string()])
                .status();
        }
    })
    .context("could not install the Ctrl-C handler")
}

/// Whether the user pressed Ctrl-C since xtask started.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether a child ended because of Ctrl-C. Also looks at the child's own
/// status: its exit can be seen before the handler thread sets the flag.
pub fn interrupted_child(status: ExitStatus) -> bool {
    const SIGINT: i32 = 2;
    interrupted() || status.signal() == Some(SIGINT) || status.code() == Some(128 + SIGINT)
}

/// Runs `command` with inherited stdio and fails unless it exits with 0.
pub fn run(command: &mut Command) -> Result<()> {
    let status = wait(command)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` with inherited stdio and returns its exit status; the
/// interrupt handler forwards SIGINT/SIGTERM to it meanwhile.
pub fn wait(command: &mut Command) -> Result<ExitStatus> {
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", describe(command)))?;
    CHILD.store(child.id(), Ordering::SeqCst);
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    status.with_context(|| format!("waiting for `{}`", describe(command)))
}

/// Runs `command` and returns its standard output; fails with its standard
/// error unless it exits with 0.
pub fn output(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", describe(command)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(command),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `command` runs and exits with 0; its output is discarded.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether xtask runs as root (`id -u` is 0).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// The first executable called `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file someone may execute.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The command line as a shell user would type it, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}
