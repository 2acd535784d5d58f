//! Real programs for whodid's tests: a real `sshd` (with `sudo`, PAM and a
//! private `rsyslogd` writing an `auth.log`), and a real PostgreSQL 15 with
//! pgaudit writing stderr, csvlog and jsonlog.
//!
//! The parsers are checked against what these programs actually log, not
//! against text someone wrote by hand. Every harness:
//! - binds 127.0.0.1 only, on a port it picks ([`ports::free_port`]);
//! - keeps its configuration, keys, data and logs in its own temp dir;
//! - uses the Debian packages' binaries by absolute path, and panics with
//!   the package `scripts/test` installs when one is missing
//!   ([`programs::require`]);
//! - stops its processes and removes what it put outside its temp dir when
//!   dropped.
//!
//! sshd and sudo log through syslog(3) to `/dev/log`, one socket per
//! machine: [`Sshd`] runs a private rsyslogd on it, and harnesses that need
//! it take a machine-wide lock so tests of several processes (and threads)
//! take turns ([`syslogd`]). PostgreSQL needs no shared resource.
//!
//! Dev-only: used as a dev-dependency; it panics (with what went wrong and
//! what to install) instead of returning errors, as a test should fail.

pub mod accounts;
pub mod ports;
pub mod postgres;
pub mod programs;
pub mod sshd;
pub mod syslogd;
pub mod testdata;
pub mod tmpfs;
pub mod workloads;

pub use postgres::{PgLog, Postgres, PostgresConfig};
pub use sshd::{SshKey, SshOutput, Sshd, SshdConfig};
pub use tmpfs::Tmpfs;
