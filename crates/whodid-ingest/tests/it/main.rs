//! Ingest integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]
