//! Integration tests of the parsers on real sshd/sudo/PAM, PostgreSQL and
//! kube-apiserver output (`testdata/`), one test binary.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Reading testdata and the golden-file helper.
mod common;

/// SSH key → person, session linking.
mod attribution;
/// auth logs: census, formats agreeing, goldens.
mod authlog_fixtures;
/// Truncated, binary, huge and malformed input: diagnostics, never panics.
mod bad_input;
/// Kubernetes events from the real capture to envelopes.
mod kube_envelopes;
/// systemd-logind session lines; sshd's own log file (real sshd -E).
mod logind_and_sshd_e;
/// pgaudit in stderr/csvlog/jsonlog: census, formats agreeing, goldens, filter.
mod pgaudit_fixtures;
/// Arbitrary bytes never panic (proptest).
mod properties;
/// A real pgaudit (PostgreSQL 15 from the test harness).
mod real_pgaudit;
/// A real sshd + sudo + rsyslogd (from the test harness).
mod real_sshd;
/// Redaction of passwords before storage.
mod redaction;
