//! The real programs, by their Debian paths, and the plumbing to run them:
//! a missing binary is a panic naming the package to install, a failed
//! command a panic with its output, a started daemon a [`Daemon`] that is
//! stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `path`, or a panic saying that `package` (installed by `scripts/test`)
/// provides it.
pub fn require(path: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(path);
    match path.try_exists() {
        Ok(true) => path,
        Ok(false) => panic!(
            "{} is missing: install the Debian package `{package}` (scripts/test does, as root)",
            path.display()
        ),
        Err(e) => panic!("cannot check for {}: {e}", path.display()),
    }
}

/// Runs `command` to completion and returns its output; panics with the
/// command and its stderr when it cannot start or exits non-zero.
pub fn run_ok(what: &str, command: &mut Command) -> Output {
    let output = run(what, command);
    assert!(
        output.status.success(),
        "{what} failed ({}): {:?}\nstdout: {}\nstderr: {}",
        output.status,
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command` to completion (stdin closed) and returns its output,
/// whatever its exit status; panics only when it cannot start.
pub fn run(what: &str, command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"))
}

/// Polls `ready` every 20 ms until it is true; panics after `timeout`
/// with `what` and the text `context` gives then (a log, usually).
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file's text, or empty when it does not exist yet (lossy UTF-8).
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A background process, killed and reaped when dropped.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Option<Child>,
}

impl Daemon {
    /// Starts `command` (stdin closed, stdout and stderr to `log`).
    pub fn spawn(name: &'static str, command: &mut Command, log: &Path) -> Daemon {
        let out = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("{name}: cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{name}: cannot clone a file handle: {e}"));
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {command:?}: {e}"));
        Daemon {
            name,
            child: Some(child),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `Some(status text)` when it has exited.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for {}: {e}", self.name)),
        }
    }

    /// Waits for it to exit by itself (after a shutdown request), up to
    /// `timeout`, then kills it.
    pub fn wait_or_kill(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pids of the live processes whose parent is `parent` (from /proc).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid …"; comm may hold spaces and parens.
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            // A zombie has finished (and logged) everything.
            (ppid == parent && state != "Z").then_some(pid)
        })
        .collect()
}
