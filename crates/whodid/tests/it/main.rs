//! End-to-end tests of the `whodid` binary (one test binary to save link time).

// Tests may panic on unexpected input: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod downtime_gap;
mod ingest_sources;
mod journal_cli;
mod journal_damage;
mod journal_of;
mod kube_log_bad_input;
mod kube_log_rotation;
mod owner_only;
mod policy_apply;
mod policy_check;
mod policy_decide;
mod policy_test;
mod report_shared_accounts;
mod search_cli;
mod search_damage;
mod serve_features;
mod server;
mod startup;
mod util;
mod webhook_auth;
mod webhook_bad_input;
mod webhook_crash;
mod webhook_disk_full;
mod webhook_flood;
mod webhook_http2;
mod webhook_memory;
mod webhook_refusals;
mod webhook_replay;
