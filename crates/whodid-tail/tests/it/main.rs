//! Integration tests of the tailer on real files in temporary directories:
//! the real kube-apiserver rotation fixtures, lumberjack and logrotate
//! rotation by a writer thread, restarts, truncation, long lines, errors.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Temporary directories, writers and draining a tailer.
mod common;

/// Appending, partial lines, plain lumberjack rotation, resuming.
mod basics;
