//! A real OpenSSH server for tests: `/usr/sbin/sshd` on a free 127.0.0.1
//! port, with its own host key and configuration in a temp dir,
//! `LogLevel VERBOSE` and PAM, logging through the private rsyslogd of
//! [`crate::syslogd`] (or, with [`SshdConfig::log_file`], to its own file
//! with `sshd -E`, as some nodes run it; PAM and sudo still use syslog).
//!
//! A shared account (`ubuntu`) accepts the keys of several people
//! (generated per test, `eve@example.com` and `mallory@example.com` by
//! default) from an `authorized_keys` file whose comments name them, and a
//! sudoers drop-in lets it run [`SUDO_ALLOWED`] and refuses [`SUDO_DENIED`].
//! [`Sshd::ssh`] logs in with the real `ssh` client; [`Sshd::settle`]
//! waits until every connection has ended and its lines are on disk.

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::accounts::{set_mode, Account, SudoersDropIn};
use crate::ports::{accepts, free_port};
use crate::programs::{children_of, read_lossy, require, run, run_ok, wait_until, Daemon};
use crate::syslogd::Syslog;

/// Commands the shared account may run as root without a password.
pub const SUDO_ALLOWED: [&str; 2] = ["/usr/bin/id", "/usr/bin/cat /etc/hostname"];

/// A command the shared account is refused (`command not allowed`).
pub const SUDO_DENIED: &str = "/usr/bin/cat /etc/shadow";

/// The name of the account that does not exist, for invalid-user attempts.
pub const INVALID_USER: &str = "nosuchuser";

/// What to start.
#[derive(Debug, Clone)]
pub struct SshdConfig {
    /// The shared account logged into.
    pub account: String,
    /// The people whose keys it accepts (key comments); the first gets an
    /// ED25519 key, the second ECDSA, then alternating.
    pub persons: Vec<String>,
    /// sshd writes its own lines to a file (`sshd -E FILE`) instead of
    /// syslog.
    pub log_file: bool,
}

impl Default for SshdConfig {
    fn default() -> SshdConfig {
        SshdConfig {
            account: "ubuntu".to_owned(),
            persons: vec![
                "eve@example.com".to_owned(),
                "mallory@example.com".to_owned(),
            ],
            log_file: false,
        }
    }
}

/// A key pair made with `ssh-keygen` for one person.
#[derive(Debug, Clone)]
pub struct SshKey {
    /// Who it belongs to (its comment).
    pub person: String,
    /// The private key file.
    pub private: PathBuf,
    /// The `authorized_keys` line (`ssh-ed25519 AAAA… eve@example.com`).
    pub public_line: String,
    /// `SHA256:…`, as `ssh-keygen -l` (and sshd) print it.
    pub fingerprint: String,
    /// The type as sshd logs it (`ED25519`, `ECDSA`).
    pub key_type: String,
}

/// What an `ssh` client run printed.
#[derive(Debug, Clone)]
pub struct SshOutput {
    /// Exit code (255: ssh itself failed, e.g. permission denied).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A running sshd (and its rsyslogd), stopped when dropped.
#[derive(Debug)]
pub struct Sshd {
    // Dropped in this order: sshd, the machine-wide things (while the
    // lock is still held), rsyslogd and the lock, then the temp dir.
    daemon: Daemon,
    _sudoers: SudoersDropIn,
    _account: Account,
    syslog: Syslog,
    port: u16,
    account: String,
    keys: Vec<SshKey>,
    unknown: SshKey,
    authorized_keys: PathBuf,
    log_file: Option<PathBuf>,
    stdout: PathBuf,
    markers: Cell<u32>,
    dir: TempDir,
}

impl Sshd {
    /// Starts sshd with the default configuration (`ubuntu`, Eve and
    /// Mallory, logging to syslog).
    pub fn start() -> Sshd {
        Sshd::with_config(SshdConfig::default())
    }

    /// Starts sshd as configured. Needs root (sshd, useradd, sudoers).
    pub fn with_config(config: SshdConfig) -> Sshd {
        let sshd = require("/usr/sbin/sshd", "openssh-server");
        require("/usr/bin/ssh", "openssh-client");
        require("/usr/bin/sudo", "sudo");
        let dir = tempfile::Builder::new()
            .prefix("whodid-sshd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        // sshd reads authorized_keys as the account: it must get in.
        set_mode(dir.path(), 0o755);
        let syslog = Syslog::start(dir.path());
        let account = Account::ensure(&config.account);
        let sudoers = SudoersDropIn::install(
            "whodid-testkit",
            &format!(
                "{} ALL=(root) NOPASSWD: {}, !{}\n",
                config.account,
                SUDO_ALLOWED.join(", "),
                SUDO_DENIED
            ),
        );
        let keys: Vec<SshKey> = config
            .persons
            .iter()
            .enumerate()
            .map(|(i, person)| {
                let kind = if i % 2 == 0 { "ed25519" } else { "ecdsa" };
                keygen(dir.path(), &format!("user{i}"), kind, person)
            })
            .collect();
        let unknown = keygen(dir.path(), "unknown", "ed25519", "trudy@example.com");
        let keys_dir = dir.path().join("authorized_keys");
        std::fs::create_dir(&keys_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", keys_dir.display()));
        set_mode(&keys_dir, 0o755);
        let authorized_keys = keys_dir.join(&config.account);
        let lines: String = keys
            .iter()
            .map(|k| format!("{}\n", k.public_line))
            .collect();
        std::fs::write(&authorized_keys, lines)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", authorized_keys.display()));
        set_mode(&authorized_keys, 0o644);
        let host_key = keygen(dir.path(), "host", "ed25519", "host").private;
        // sshd's privilege separation directory (the package's init script makes it).
        std::fs::create_dir_all("/run/sshd")
            .unwrap_or_else(|e| panic!("cannot create /run/sshd: {e}"));
        set_mode(Path::new("/run/sshd"), 0o755);

        let log_file = config.log_file.then(|| dir.path().join("sshd-E.log"));
        let stdout = dir.path().join("sshd.out");
        let mut attempt = 0;
        let (daemon, port) = loop {
            attempt += 1;
            let port = free_port();
            let config_path = dir.path().join("sshd_config");
            std::fs::write(
                &config_path,
                sshd_config(port, &host_key, dir.path(), &keys_dir),
            )
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
            let mut command = Command::new(&sshd);
            command.arg("-D").arg("-f").arg(&config_path);
            if let Some(file) = &log_file {
                command.arg("-E").arg(file);
            }
            let mut daemon = Daemon::spawn("sshd", &mut command, &stdout);
            wait_until(
                "sshd to accept connections",
                Duration::from_secs(10),
                || daemon.exited().is_some() || accepts(port),
                || read_lossy(&stdout),
            );
            match daemon.exited() {
                None => break (daemon, port),
                Some(status) if attempt < 5 => {
                    let _ = status;
                    continue;
                }
                Some(status) => panic!(
                    "sshd exited ({status}) at start:\n{}{}",
                    read_lossy(&stdout),
                    log_file.as_deref().map(read_lossy).unwrap_or_default()
                ),
            }
        };
        Sshd {
            daemon,
            syslog,
            _sudoers: sudoers,
            _account: account,
            port,
            account: config.account,
            keys,
            unknown,
            authorized_keys,
            log_file,
            stdout,
            markers: Cell::new(0),
            dir,
        }
    }

    /// The port sshd listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The keys the shared account accepts, in configuration order.
    pub fn keys(&self) -> &[SshKey] {
        &self.keys
    }

    /// The key of `person`; panics when there is none.
    pub fn key(&self, person: &str) -> &SshKey {
        self.keys
            .iter()
            .find(|k| k.person == person)
            .unwrap_or_else(|| panic!("no key for {person}"))
    }

    /// A key that is in no `authorized_keys` and no registry
    /// (`trudy@example.com`).
    pub fn unknown_key(&self) -> &SshKey {
        &self.unknown
    }

    /// The shared account's `authorized_keys` file (comments = people).
    pub fn authorized_keys(&self) -> &Path {
        &self.authorized_keys
    }

    /// A key registry in whodid's `keys.yaml` shape for the accepted keys.
    pub fn keys_yaml(&self) -> String {
        let mut yaml = String::from("keys:\n");
        for key in &self.keys {
            let _ = write!(
                yaml,
                "  \"{}\":\n    email: {}\n    type: {}\n    account: {}\n",
                key.fingerprint, key.person, key.key_type, self.account
            );
        }
        yaml
    }

    /// Runs `command` as `user` on this sshd with `key` (the real `ssh`
    /// client: batch mode, only this key, no known_hosts). `tty` forces a
    /// terminal (`ssh -tt`), as an interactive login has.
    pub fn ssh(&self, key: &SshKey, user: &str, command: &str, tty: bool) -> SshOutput {
        let mut ssh = Command::new("/usr/bin/ssh");
        ssh.env_remove("SSH_AUTH_SOCK")
            .args(["-F", "/dev/null", "-i"])
            .arg(&key.private)
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
            ]);
        if tty {
            ssh.arg("-tt");
        }
        ssh.arg(format!("{user}@127.0.0.1")).arg(command);
        let output = run("ssh", &mut ssh);
        SshOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Waits until every connection has ended (sshd has no child process
    /// left) and everything logged so far is in the log files.
    pub fn settle(&self) {
        let listener = self.daemon.pid();
        wait_until(
            "sshd's connections to end",
            Duration::from_secs(20),
            || children_of(listener).is_empty(),
            || format!("children of sshd {listener}: {:?}", children_of(listener)),
        );
        let n = self.markers.get() + 1;
        self.markers.set(n);
        self.syslog.flush(&format!(
            "whodid-testkit settle {n} {}",
            self.dir.path().display()
        ));
    }

    /// The classic-format auth log (`Nov 22 18:24:03 host sshd[5172]: …`).
    pub fn auth_log(&self) -> &Path {
        self.syslog.classic()
    }

    /// The RFC 3339 auth log (Debian 12's default format).
    pub fn auth_log_rfc3339(&self) -> &Path {
        self.syslog.rfc3339()
    }

    /// sshd's own log file (`sshd -E`), when configured.
    pub fn sshd_log_file(&self) -> Option<&Path> {
        self.log_file.as_deref()
    }

    /// The temp dir holding configuration, keys and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What sshd printed on stdout/stderr (startup errors).
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }
}

/// This machine's host name as syslog writes it (up to the first dot).
pub fn hostname() -> String {
    let name = read_lossy(Path::new("/proc/sys/kernel/hostname"));
    name.trim().split('.').next().unwrap_or_default().to_owned()
}

fn sshd_config(port: u16, host_key: &Path, dir: &Path, keys_dir: &Path) -> String {
    format!(
        "# whodid-testkit: a test sshd on loopback
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid}
LogLevel VERBOSE
SyslogFacility AUTH
UsePAM yes
# authorized_keys live in the world-traversable temp dir under /tmp.
StrictModes no
AuthorizedKeysFile {keys}/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
MaxAuthTries 4
",
        host_key = host_key.display(),
        pid = dir.join("sshd.pid").display(),
        keys = keys_dir.display(),
    )
}

/// `ssh-keygen -t KIND` into `dir/NAME`, with its fingerprint.
fn keygen(dir: &Path, name: &str, kind: &str, comment: &str) -> SshKey {
    let keygen = require("/usr/bin/ssh-keygen", "openssh-client");
    let private = dir.join(name);
    run_ok(
        "ssh-keygen",
        Command::new(&keygen)
            .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
            .arg(&private),
    );
    let public_path = dir.join(format!("{name}.pub"));
    let public_line = std::fs::read_to_string(&public_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", public_path.display()))
        .trim()
        .to_owned();
    // "256 SHA256:… comment (ED25519)"
    let listed = run_ok(
        "ssh-keygen -l",
        Command::new(&keygen).arg("-lf").arg(&public_path),
    );
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let mut words = listed.split_whitespace();
    let fingerprint = words.nth(1).unwrap_or_default().to_owned();
    let key_type = listed
        .trim()
        .rsplit_once('(')
        .map(|(_, t)| t.trim_end_matches(')').to_owned())
        .unwrap_or_default();
    assert!(
        fingerprint.starts_with("SHA256:") && !key_type.is_empty(),
        "unexpected ssh-keygen -l output: {listed}"
    );
    SshKey {
        person: comment.to_owned(),
        private,
        public_line,
        fingerprint,
        key_type,
    }
}
