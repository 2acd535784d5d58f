//! `whodid reindex`: throw the index away and rebuild it from the journal,
//! with a progress bar. Refuses while a server writes the index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use whodid_index::{IndexConfig, Indexer};

#[derive(Debug, Args)]
pub(crate) struct ReindexArgs {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,

    /// Indexing threads per day index.
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Memory for indexing, per open day index (MiB).
    #[arg(long, default_value_t = 128)]
    memory_mib: usize,
}

pub(crate) fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} indexing [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} records ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(crate) fn run(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = IndexConfig {
        writer_threads: args.threads.max(1),
        writer_memory_bytes: args.memory_mib.max(16) << 20,
        ..IndexConfig::default()
    };
    let mut indexer = Indexer::open_fresh(&args.data, config)
        .with_context(|| format!("reindexing {}", args.data.display()))?;
    let total = indexer.backlog()?;
    let bar = progress_bar(total);
    let done = indexer.catch_up(&mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })?;
    bar.finish_and_clear();
    let mut unreadable = 0;
    for (stream, ranges) in &indexer.state().unreadable {
        for range in ranges {
            unreadable += range.records();
            eprintln!(
                "whodid: warning: {stream} records {}..{} could not be read from the journal (segment {}, byte {}: {}): not searchable",
                range.first, range.end, range.segment, range.offset, range.reason
            );
        }
    }
    let days = indexer.layout().days()?.len();
    indexer.close()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexed {done} records into {days} day indexes in {secs:.1} s ({:.0} records/s)",
        done as f64 / secs.max(1e-9)
    );
    if unreadable > 0 {
        eprintln!("whodid: {unreadable} records could not be read (see above)");
        return Ok(ExitCode::from(crate::index_args::PARTIAL_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}
