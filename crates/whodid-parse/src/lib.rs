//! Parsers for whodid's audit sources: bytes as the sources write them in,
//! typed records and normalised envelopes out.
//!
//! # Layout
//! - [`authlog`]: sshd, sudo, su and pam_unix from syslog files and the
//!   journal, attributed to people (SSH key → person, sudo → the login it
//!   came from).
//! - [`pgaudit`]: PostgreSQL stderr (with its `log_line_prefix`), csvlog,
//!   jsonlog and syslog output, the pgaudit `AUDIT:` records in them,
//!   password redaction and the keep/drop filter.
//! - [`kube`]: `audit.k8s.io/v1` events to envelopes.
//! - [`syslog`]: the syslog line (classic with year inference, RFC 3339,
//!   RFC 5424) and journal JSON, shared by the first two.
//! - [`parsed`] and [`diagnostic`]: what every parser emits — records with
//!   their position, raw text and envelope; diagnostics with line and byte
//!   offset; counts.
//!
//! Parsers are fed one line at a time (what a tailer has) and call back
//! with each [`parsed::Item`]; multi-line records are buffered until the
//! next record starts. `parse_*` functions do a whole input at once.
//!
//! **Invariant:** no IO and no clock: the caller passes the reference time
//! that gives classic syslog lines their year. A bad line is a diagnostic;
//! nothing panics (fuzzed: `fuzz/fuzz_targets/{authlog,pgaudit}.rs`).
#![warn(missing_docs)]

pub mod authlog;
pub mod diagnostic;
pub mod kube;
pub mod parsed;
pub mod pgaudit;
pub mod syslog;

pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use parsed::{Batch, Item, Parsed, Position, Stats};
