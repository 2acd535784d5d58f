//! Integration tests of the index: derived from a real journal, followed
//! with bounded lag beside a writer, rebuilt when lost or corrupt, trimmed
//! after a crash between commits, following retention, and storing alike
//! records side by side.
#![allow(clippy::unwrap_used)]

mod common;
mod follower;
mod placement;
mod pruned;
mod repair;
mod retention;
mod storage;
