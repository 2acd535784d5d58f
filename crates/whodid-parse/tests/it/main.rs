//! Integration tests of the parsers on real sshd/sudo/PAM output.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attribution;
mod authlog_fixtures;
mod pgaudit_fixtures;
