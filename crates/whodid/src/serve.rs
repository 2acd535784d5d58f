//! `whodid serve`: the all-in-one server on the embedded default.
//!
//! Today it opens (or creates) the data directory — marker, lock, signing
//! key, every stream's journal with crash recovery — signs checkpoints on
//! schedule, applies retention, and on SIGINT/SIGTERM makes everything
//! durable and signs final checkpoints. Ingest endpoints attach to this
//! journal (see the Kubernetes ingest issue).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use whodid_journal::retention::RetentionPolicy;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;

use crate::journal_args::JournalArgs;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    journal: JournalArgs,

    /// Remove segments whose newest record is older than this (e.g. `90d`, `400d`); like --audit-log-maxage.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_age: Option<Duration>,

    /// Keep each stream under this many bytes (a number of bytes, e.g. 53687091200 for 50 GiB); like --audit-log-maxsize.
    #[arg(long)]
    max_size: Option<u64>,

    /// Keep at most this many segments per stream; like --audit-log-maxbackup.
    #[arg(long)]
    max_segments: Option<usize>,

    /// How often retention runs.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    retention_interval: Duration,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config: JournalConfig = args.journal.config()?;
    let data = args.journal.data.clone();
    let journal = Journal::open(&data, config)
        .with_context(|| format!("opening data directory {}", data.display()))?;
    eprintln!("whodid: serving data directory {}", display(&data));
    eprintln!(
        "whodid: journal public key (give it to auditors): {}",
        journal.verifier().vkey()
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let policy = RetentionPolicy {
        max_age: args.max_age,
        max_bytes: args.max_size,
        max_segments: args.max_segments,
    };
    let retention_on = policy != RetentionPolicy::default();
    let mut last_retention = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if retention_on && last_retention.elapsed() >= args.retention_interval {
            last_retention = Instant::now();
            let policies: BTreeMap<Stream, RetentionPolicy> =
                Stream::ALL.into_iter().map(|s| (s, policy)).collect();
            match journal.apply_retention(policies) {
                Ok(outcomes) => {
                    for (stream, outcome) in outcomes {
                        if let Some((first, end)) = outcome.removed {
                            tracing::info!(stream = %stream, first, end, "retention removed records");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
    }
    eprintln!("whodid: shutting down: syncing and signing final checkpoints");
    journal.close().context("closing the journal")?;
    Ok(ExitCode::SUCCESS)
}

fn display(path: &PathBuf) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.clone())
        .display()
        .to_string()
}
