//! Integration tests of the journal (one test binary to save link time).

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod common;
mod compaction;
mod crash;
mod damage;
mod disk_full;
mod follow;
mod frame_cost;
mod open_checks;
mod proofs;
mod retention;
mod roundtrip;
mod tamper;
