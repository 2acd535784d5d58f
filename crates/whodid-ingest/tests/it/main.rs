//! Ingest integration tests: preparation against the apiserver's own
//! decisions, redaction on the real capture, the deduplicating store under
//! concurrency and failure, file imports, Secrets in every shape the
//! apiserver writes them.

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod downgrade;
mod fixtures;
mod import;
mod parallel;
mod prepare;
mod secret_shapes;
mod store;
mod store_failure;
