//! Parsers for the audit sources beside the Kubernetes API.
//!
//! - [`syslog`]: the syslog line itself, in the three formats real nodes
//!   write (classic `Nov 22 18:24:03 host tag[pid]:`, RFC 3339 high
//!   precision — Debian 12's default — and RFC 5424), and journald's JSON
//!   export, into one [`syslog::SyslogRecord`];
//! - [`authlog`]: what sshd, sudo, su and pam_unix said, as typed
//!   [`authlog::AuthEvent`]s; lines that are not audit-relevant are skipped,
//!   not errors.
//! - [`pgaudit`]: PostgreSQL stderr (with `log_line_prefix`), csvlog and
//!   jsonlog, and the pgaudit records inside them.
//!
//! **Invariant:** no IO and no clock: the caller passes the reference time
//! used to infer the year of classic syslog lines. A bad line is an error
//! value naming what was wrong; nothing panics.
#![warn(missing_docs)]

pub mod authlog;
pub mod pgaudit;
pub mod syslog;
