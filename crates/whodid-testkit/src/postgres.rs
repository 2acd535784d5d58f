//! A real PostgreSQL 15 with pgaudit for tests: `initdb` in a temp dir (as
//! the `postgres` system user: initdb refuses root), pgaudit preloaded,
//! the logging collector writing the same records as stderr (with a
//! `log_line_prefix`), csvlog and jsonlog, listening on a free 127.0.0.1
//! port with its unix socket in the temp dir. [`Postgres::psql`] runs SQL
//! as a role over TCP; [`Postgres::stop`] shuts the server down (fast), so
//! that every record is in the log files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use crate::accounts::{passwd, PasswdEntry};
use crate::ports::free_port;
use crate::programs::{read_lossy, require, run, run_ok, wait_until, Daemon};

/// The server programs' directory of the Debian package `postgresql-15`.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// How the server logs and what pgaudit records.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `log_line_prefix` (stderr).
    pub log_line_prefix: String,
    /// `pgaudit.log`: the session audit classes.
    pub pgaudit_log: String,
    /// More `postgresql.conf` lines.
    pub extra: Vec<String>,
}

impl Default for PostgresConfig {
    fn default() -> PostgresConfig {
        PostgresConfig {
            log_line_prefix: "%m [%p] %q%u@%d ".to_owned(),
            pgaudit_log: "write, ddl, role, function, misc_set".to_owned(),
            extra: Vec::new(),
        }
    }
}

/// One of the server's log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgLog {
    /// `postgresql.log` (stderr destination, with `log_line_prefix`).
    Stderr,
    /// `postgresql.csv`.
    Csvlog,
    /// `postgresql.json`.
    Jsonlog,
}

impl PgLog {
    /// All three.
    pub const ALL: [PgLog; 3] = [PgLog::Stderr, PgLog::Csvlog, PgLog::Jsonlog];

    fn file_name(self) -> &'static str {
        match self {
            PgLog::Stderr => "postgresql.log",
            PgLog::Csvlog => "postgresql.csv",
            PgLog::Jsonlog => "postgresql.json",
        }
    }
}

/// A running PostgreSQL server, stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    daemon: Option<Daemon>,
    owner: PasswdEntry,
    port: u16,
    config: PostgresConfig,
    data: PathBuf,
    logs: PathBuf,
    stdout: PathBuf,
    dir: TempDir,
}

impl Postgres {
    /// Starts a server with the default configuration.
    pub fn start() -> Postgres {
        Postgres::with_config(PostgresConfig::default())
    }

    /// Starts a server as configured (needs root, to act as `postgres`).
    pub fn with_config(config: PostgresConfig) -> Postgres {
        let initdb = require(&format!("{BIN}/initdb"), "postgresql-15");
        let postgres = require(&format!("{BIN}/postgres"), "postgresql-15");
        require(&format!("{BIN}/psql"), "postgresql-15");
        require(
            "/usr/lib/postgresql/15/lib/pgaudit.so",
            "postgresql-15-pgaudit",
        );
        let owner = passwd("postgres").unwrap_or_else(|| {
            panic!("no `postgres` system user: install postgresql-15 (scripts/test does)")
        });
        let dir = tempfile::Builder::new()
            .prefix("whodid-postgres-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        std::os::unix::fs::chown(dir.path(), Some(owner.uid), Some(owner.gid))
            .unwrap_or_else(|e| panic!("cannot chown {} to postgres: {e}", dir.path().display()));
        let data = dir.path().join("data");
        let logs = dir.path().join("log");
        let stdout = dir.path().join("postgres.out");
        run_ok(
            "initdb",
            as_user(&mut Command::new(initdb), &owner, dir.path())
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "-N",
                ]),
        );
        let mut server = Postgres {
            daemon: None,
            owner,
            port: 0,
            config,
            data,
            logs,
            stdout,
            dir,
        };
        for attempt in 1..=5 {
            server.port = free_port();
            let conf = server.data.join("postgresql.auto.conf");
            std::fs::write(&conf, server.settings())
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
            let mut command = Command::new(&postgres);
            as_user(&mut command, &server.owner, server.dir.path())
                .arg("-D")
                .arg(&server.data);
            let mut daemon = Daemon::spawn("postgres", &mut command, &server.stdout);
            let (port, socket_dir) = (server.port, server.dir.path().to_path_buf());
            wait_until(
                "postgres to accept connections",
                Duration::from_secs(30),
                || daemon.exited().is_some() || ready(&socket_dir, port),
                || server.diagnostics(),
            );
            match daemon.exited() {
                None => {
                    server.daemon = Some(daemon);
                    return server;
                }
                Some(_) if attempt < 5 => continue,
                Some(status) => panic!(
                    "postgres exited ({status}) at start:\n{}",
                    server.diagnostics()
                ),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// The TCP port (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The configured `log_line_prefix`.
    pub fn log_line_prefix(&self) -> &str {
        &self.config.log_line_prefix
    }

    /// Runs `statements` in one session as `role` on database `postgres`,
    /// over TCP, with `application_name` = `application`; returns psql's
    /// output whatever happened (the caller checks).
    pub fn psql(&self, role: &str, application: &str, statements: &[&str]) -> Output {
        let mut command = Command::new(format!("{BIN}/psql"));
        command
            .env("PGAPPNAME", application)
            .env("PGCONNECT_TIMEOUT", "10")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", role, "-d", "postgres"]);
        for statement in statements {
            command.arg("-c").arg(statement);
        }
        run("psql", &mut command)
    }

    /// Like [`Postgres::psql`], panicking when psql fails; returns stdout.
    pub fn psql_ok(&self, role: &str, application: &str, statements: &[&str]) -> String {
        let output = self.psql(role, application, statements);
        assert!(
            output.status.success(),
            "psql as {role} failed: {statements:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Shuts the server down (fast: sessions end, logs are flushed) and
    /// waits for it. Idempotent; dropping does it too.
    pub fn stop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        let pg_ctl = format!("{BIN}/pg_ctl");
        let _ = run(
            "pg_ctl stop",
            as_user(&mut Command::new(pg_ctl), &self.owner, self.dir.path())
                .arg("-D")
                .arg(&self.data)
                .args(["stop", "-m", "fast", "-w", "-t", "30"]),
        );
        daemon.wait_or_kill(Duration::from_secs(10));
    }

    /// The path of one log file.
    pub fn log_path(&self, log: PgLog) -> PathBuf {
        self.logs.join(log.file_name())
    }

    /// The bytes of one log file (empty when not written yet).
    pub fn log_bytes(&self, log: PgLog) -> Vec<u8> {
        std::fs::read(self.log_path(log)).unwrap_or_default()
    }

    /// The temp dir (data directory, socket, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn settings(&self) -> String {
        let mut lines = vec![
            "listen_addresses = '127.0.0.1'".to_owned(),
            format!("port = {}", self.port),
            format!("unix_socket_directories = '{}'", self.dir.path().display()),
            "shared_preload_libraries = 'pgaudit'".to_owned(),
            "logging_collector = on".to_owned(),
            "log_destination = 'stderr,csvlog,jsonlog'".to_owned(),
            format!("log_directory = '{}'", self.logs.display()),
            "log_filename = 'postgresql.log'".to_owned(),
            "log_rotation_age = 0".to_owned(),
            "log_rotation_size = 0".to_owned(),
            format!(
                "log_line_prefix = '{}'",
                self.config.log_line_prefix.replace('\'', "''")
            ),
            "log_timezone = 'UTC'".to_owned(),
            "lc_messages = 'C'".to_owned(),
            "log_connections = on".to_owned(),
            "log_disconnections = on".to_owned(),
            format!("pgaudit.log = '{}'", self.config.pgaudit_log),
            "pgaudit.log_relation = on".to_owned(),
            "pgaudit.log_parameter = on".to_owned(),
            "pgaudit.role = 'auditor'".to_owned(),
            // A test server: no durability needed, start and stop fast.
            "fsync = off".to_owned(),
            "shared_buffers = '16MB'".to_owned(),
        ];
        lines.extend(self.config.extra.iter().cloned());
        lines.join("\n") + "\n"
    }

    fn diagnostics(&self) -> String {
        format!(
            "{}{}",
            read_lossy(&self.stdout),
            read_lossy(&self.log_path(PgLog::Stderr))
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `command` run as `user` with HOME in `home`.
fn as_user<'a>(command: &'a mut Command, user: &PasswdEntry, home: &Path) -> &'a mut Command {
    use std::os::unix::process::CommandExt;
    command
        .uid(user.uid)
        .gid(user.gid)
        .env("HOME", home)
        .current_dir(home)
}

/// Whether the server accepts connections (`pg_isready` on its socket).
fn ready(socket_dir: &Path, port: u16) -> bool {
    Command::new(format!("{BIN}/pg_isready"))
        .arg("-q")
        .arg("-h")
        .arg(socket_dir)
        .arg("-p")
        .arg(port.to_string())
        .stdin(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
