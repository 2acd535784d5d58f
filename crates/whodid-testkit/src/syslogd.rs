//! A private rsyslogd on `/dev/log`, writing the auth facilities to files
//! in a temp dir in the formats real nodes have: classic
//! (`RSYSLOG_TraditionalFileFormat`, `Nov 22 18:24:03 host sshd[5172]: …`)
//! and RFC 3339 (`RSYSLOG_FileFormat`, Debian 12's default `auth.log`).
//!
//! syslog(3) in sshd, sudo and PAM always writes to `/dev/log`, so there
//! can be one such daemon per machine: [`Syslog::start`] first takes a
//! machine-wide lock (tests of other threads and processes wait their
//! turn), refuses to run when a syslog daemon that is not ours holds the
//! socket, and removes a stale one of ours (a test killed before its
//! cleanup). Dropping it stops the daemon, removes the socket and
//! releases the lock.

use std::fs::File;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fs2::FileExt;

use crate::programs::{read_lossy, require, run_ok, wait_until, Daemon};

/// The socket syslog(3) writes to.
pub const DEV_LOG: &str = "/dev/log";

/// What marks a daemon as ours in its command line.
const CONFIG_NAME: &str = "whodid-testkit-rsyslog.conf";

/// The machine-wide lock for `/dev/log`.
fn lock_path() -> PathBuf {
    std::env::temp_dir().join("whodid-testkit-dev-log.lock")
}

/// Where the running daemon's pid is kept, to clean up after a killed test.
fn pid_path() -> PathBuf {
    std::env::temp_dir().join("whodid-testkit-rsyslogd.pid")
}

/// A private rsyslogd holding `/dev/log` (and the lock for it).
#[derive(Debug)]
pub struct Syslog {
    daemon: Daemon,
    classic: PathBuf,
    rfc3339: PathBuf,
    stdout: PathBuf,
    _lock: File,
}

impl Syslog {
    /// Takes the lock (waiting for other tests) and starts rsyslogd with
    /// its configuration, work directory and logs in `dir`.
    pub fn start(dir: &Path) -> Syslog {
        let rsyslogd = require("/usr/sbin/rsyslogd", "rsyslog");
        let lock = File::create(lock_path())
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path().display()));
        lock.lock_exclusive()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path().display()));
        clear_dev_log();

        let classic = dir.join("auth.log");
        let rfc3339 = dir.join("auth-rfc3339.log");
        let config = dir.join(CONFIG_NAME);
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", work.display()));
        let text = format!(
            r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Name="{DEV_LOG}" SysSock.RateLimit.Interval="0")
auth,authpriv.* action(type="omfile" file="{classic}" template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.* action(type="omfile" file="{rfc3339}" template="RSYSLOG_FileFormat")
"#,
            work = work.display(),
            classic = classic.display(),
            rfc3339 = rfc3339.display(),
        );
        std::fs::write(&config, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let stdout = dir.join("rsyslogd.out");
        let mut command = Command::new(rsyslogd);
        command
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"));
        let mut daemon = Daemon::spawn("rsyslogd", &mut command, &stdout);
        let _ = std::fs::write(pid_path(), daemon.pid().to_string());
        wait_until(
            "rsyslogd to listen on /dev/log",
            Duration::from_secs(10),
            || daemon.exited().is_some() || dev_log_listening(),
            || read_lossy(&stdout),
        );
        if let Some(status) = daemon.exited() {
            panic!(
                "rsyslogd exited ({status}) at start:\n{}",
                read_lossy(&stdout)
            );
        }
        Syslog {
            daemon,
            classic,
            rfc3339,
            stdout,
            _lock: lock,
        }
    }

    /// The classic-format file (`Mmm dd HH:MM:SS host tag[pid]: msg`).
    pub fn classic(&self) -> &Path {
        &self.classic
    }

    /// The RFC 3339 file (`2026-11-22T18:24:03.054349+00:00 host tag[pid]: msg`).
    pub fn rfc3339(&self) -> &Path {
        &self.rfc3339
    }

    /// Logs a marker line through `/dev/log` (with `logger`, at
    /// `auth.info`) and waits until rsyslogd has written it to both files:
    /// everything sent before it is then on disk.
    pub fn flush(&self, marker: &str) {
        let logger = require("/usr/bin/logger", "bsdutils");
        run_ok(
            "logger",
            Command::new(logger)
                .args(["-p", "auth.info", "-t", "whodid-testkit", "--"])
                .arg(marker),
        );
        wait_until(
            "rsyslogd to write the marker line",
            Duration::from_secs(10),
            || {
                read_lossy(&self.classic).contains(marker)
                    && read_lossy(&self.rfc3339).contains(marker)
            },
            || format!("rsyslogd output:\n{}", read_lossy(&self.stdout)),
        );
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.daemon.kill();
        let _ = std::fs::remove_file(DEV_LOG);
        let _ = std::fs::remove_file(pid_path());
    }
}

/// Whether a daemon receives on `/dev/log`.
fn dev_log_listening() -> bool {
    UnixDatagram::unbound()
        .and_then(|socket| socket.connect(DEV_LOG))
        .is_ok()
}

/// Makes `/dev/log` free for our daemon: removes a stale socket, stops a
/// stale daemon of ours, refuses a foreign one.
fn clear_dev_log() {
    // A socket that is there but not listened on is as good as none.
    if !Path::new(DEV_LOG).try_exists().unwrap_or(true) {
        return;
    }
    if dev_log_listening() {
        let ours = std::fs::read_to_string(pid_path())
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .filter(|pid| {
                read_lossy(Path::new(&format!("/proc/{pid}/cmdline"))).contains(CONFIG_NAME)
            });
        let Some(pid) = ours else {
            panic!(
                "{DEV_LOG} is held by a syslog daemon that is not whodid-testkit's: the sshd \
                 tests need their own (stop that daemon on this throwaway machine, or run the \
                 tests in a container)"
            );
        };
        let _ = Command::new("/bin/kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
        wait_until(
            "a stale whodid-testkit rsyslogd to exit",
            Duration::from_secs(5),
            || !dev_log_listening(),
            String::new,
        );
    }
    let _ = std::fs::remove_file(DEV_LOG);
}
