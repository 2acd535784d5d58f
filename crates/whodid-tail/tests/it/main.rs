//! Integration tests of the tailer on real files in temporary directories:
//! the real kube-apiserver rotation fixtures, lumberjack and logrotate
//! rotation by a writer thread, restarts, truncation, long lines, errors.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Temporary directories, writers and draining a tailer.
mod common;

/// Long lines, corrupt gzip, a directory at the path, bounded memory.
mod bad_input;
/// Appending, partial lines, plain lumberjack rotation, resuming.
mod basics;
/// The real kube-apiserver rotation replayed.
mod fixtures;
/// logrotate numbering, delaycompress, dateext, copytruncate.
mod logrotate;
/// Random write/rotate/compress/delete/restart schedules (proptest).
mod properties;
/// A log directory rotated step by step, and a checker of what was read.
mod scenario;
/// A writer thread rotating while a restarting reader tails.
mod writer;
