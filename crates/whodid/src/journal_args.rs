//! Journal options shared by the commands that open a data directory.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use whodid_journal::{FsyncPolicy, JournalConfig};

#[derive(Debug, Args)]
pub(crate) struct JournalArgs {
    /// The data directory (made by `whodid init`, or by `--init`).
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    pub(crate) data: PathBuf,

    /// When records are forced to disk: `batch` (group commit: one fsync at a time, each covering everything written while the previous ran), `interval:100ms` (at most that often), or `never`.
    #[arg(long, default_value = "batch")]
    fsync: String,

    /// Sign a checkpoint after this many new records per stream.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_records: u64,

    /// …or after this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
}

impl JournalArgs {
    pub(crate) fn config(&self) -> anyhow::Result<JournalConfig> {
        let fsync = match self.fsync.as_str() {
            "batch" => FsyncPolicy::EveryBatch,
            "never" => FsyncPolicy::Never,
            other => match other.strip_prefix("interval:") {
                Some(d) => FsyncPolicy::Interval(
                    humantime::parse_duration(d)
                        .map_err(|e| anyhow::anyhow!("--fsync {other:?}: {e}"))?,
                ),
                None => {
                    anyhow::bail!("--fsync {other:?}: expected batch, interval:<duration> or never")
                }
            },
        };
        Ok(JournalConfig {
            fsync,
            checkpoint_every_records: self.checkpoint_records,
            checkpoint_every: self.checkpoint_interval,
            ..JournalConfig::default()
        })
    }
}
