//! Options shared by `whodid search` and `whodid who`: data directory, time
//! range, output, paging; and opening the index, brought up to date first
//! when no server is writing it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use whodid_index::lock::IndexLock;
use whodid_index::{IndexConfig, IndexLayout, Indexer};
use whodid_query::hit::{cells, csv_line, Hit, COLUMNS};
use whodid_query::{Page, SearchError, SearchService, ServiceConfig, TimeRange, UnreadableRecords};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum ResultFormat {
    /// A readable table.
    #[default]
    Table,
    /// One JSON document per page (hits with envelope and raw event, counts, cursor).
    Json,
    /// One hit per line, every page up to --limit.
    Ndjson,
    /// CSV with a header, every page up to --limit.
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct SearchCommon {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    pub(crate) data: PathBuf,

    /// Search this far back from now (15m, 24h, 7d).
    #[arg(long, conflicts_with = "from")]
    pub(crate) since: Option<String>,

    /// Start of the range (RFC 3339, inclusive).
    #[arg(long)]
    pub(crate) from: Option<String>,

    /// End of the range (RFC 3339, exclusive; default now).
    #[arg(long)]
    pub(crate) to: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub(crate) output: ResultFormat,

    /// Hits per page (table, json; at most 1000), or in all (ndjson, csv).
    #[arg(long)]
    pub(crate) limit: Option<usize>,

    /// Continue after this cursor (printed after a full page).
    #[arg(long)]
    pub(crate) cursor: Option<String>,

    /// Stop searching after this long and say so.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) budget: Duration,
}

impl SearchCommon {
    pub(crate) fn range(&self, default_since: &str) -> anyhow::Result<TimeRange> {
        TimeRange::resolve(
            self.since.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            jiff::Timestamp::now(),
            default_since,
        )
        .map_err(|e| anyhow::anyhow!("--{e}"))
    }

    pub(crate) fn service(&self) -> anyhow::Result<SearchService> {
        catch_up_if_free(&self.data)?;
        Ok(SearchService::new(
            &self.data,
            ServiceConfig {
                budget: self.budget,
                ..ServiceConfig::default()
            },
        ))
    }
}

/// Brings the index up to date unless another process (a running `whodid
/// serve`) writes it; then that process keeps it fed and we only read.
pub(crate) fn catch_up_if_free(data: &Path) -> anyhow::Result<()> {
    let layout = IndexLayout::new(data);
    if IndexLock::is_held(&layout.lock_file()) {
        tracing::debug!("index writer is running elsewhere: reading only");
        return Ok(());
    }
    let mut indexer = match Indexer::open(data, IndexConfig::default()) {
        Ok(indexer) => indexer,
        // Lost a race with a starting server: it indexes, we read.
        Err(whodid_index::IndexError::Locked { .. }) => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("opening the index of {}", data.display()))
        }
    };
    for repair in indexer.repairs() {
        eprintln!("note: {repair:?}");
    }
    let backlog = indexer.backlog()?;
    let bar = (backlog >= 50_000).then(|| crate::reindex::progress_bar(backlog));
    indexer.catch_up(&mut |p| {
        if let Some(bar) = &bar {
            bar.set_position(p.done);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    indexer.close()?;
    Ok(())
}

/// A search error for a person: query errors with a caret under the column.
pub(crate) fn explain(error: SearchError, query: &str) -> anyhow::Error {
    match error {
        SearchError::Query(q) => anyhow::anyhow!("invalid query:\n{}", q.render(query)),
        SearchError::Parameter { parameter, message } => {
            anyhow::anyhow!("--{parameter}: {message}")
        }
        other => anyhow::Error::new(other),
    }
}

/// The exit status of `search` and `who` when the answer is complete.
/// When part of the journal could not be read (damaged records, named on
/// stderr) the answer is from everything else and the status is
/// [`PARTIAL_EXIT`], so that scripts notice; errors are 2.
pub(crate) const PARTIAL_EXIT: u8 = 3;

/// Success, or [`PARTIAL_EXIT`] when records could not be read.
pub(crate) fn exit_code(unreadable: &[UnreadableRecords]) -> ExitCode {
    if unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(PARTIAL_EXIT)
    }
}

/// Says on stderr which journal records the answer could not include.
pub(crate) fn warn_unreadable(unreadable: &[UnreadableRecords]) {
    for range in unreadable {
        eprintln!(
            "whodid: warning: {range}; the answer is from the rest (exit status {PARTIAL_EXIT})"
        );
    }
}

/// Prints results: pages are fetched by `fetch(cursor, limit)`. Returns the
/// exit status ([`exit_code`]).
pub(crate) fn print_results(
    common: &SearchCommon,
    with_mark: bool,
    fetch: &mut dyn FnMut(Option<String>, usize, bool) -> Result<Page, SearchError>,
    query: &str,
) -> anyhow::Result<ExitCode> {
    let mut unreadable = Vec::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match common.output {
        ResultFormat::Table | ResultFormat::Json => {
            let limit = common.limit.unwrap_or(100);
            let page = fetch(common.cursor.clone(), limit, true).map_err(|e| explain(e, query))?;
            if common.output == ResultFormat::Json {
                serde_json::to_writer_pretty(&mut out, &page)?;
                writeln!(out)?;
            } else {
                write_table(&mut out, &page.hits, with_mark)?;
                out.flush()?;
                footer(&page);
            }
            unreadable = page.unreadable_records;
        }
        ResultFormat::Ndjson | ResultFormat::Csv => {
            let mut left = common.limit.unwrap_or(usize::MAX);
            let mut cursor = common.cursor.clone();
            if common.output == ResultFormat::Csv {
                out.write_all(csv_line(&COLUMNS).as_bytes())?;
            }
            while left > 0 {
                let page =
                    fetch(cursor.take(), left.min(1000), false).map_err(|e| explain(e, query))?;
                for hit in &page.hits {
                    if common.output == ResultFormat::Csv {
                        out.write_all(csv_line(&cells(hit)).as_bytes())?;
                    } else {
                        serde_json::to_writer(&mut out, hit)?;
                        out.write_all(b"\n")?;
                    }
                }
                left = left.saturating_sub(page.hits.len());
                if unreadable.is_empty() {
                    unreadable = page.unreadable_records.clone();
                }
                if page.budget_exceeded {
                    eprintln!("whodid: the time budget ran out: the export is incomplete (raise --budget or narrow the range)");
                }
                match page.next_cursor {
                    Some(next) if !page.hits.is_empty() => cursor = Some(next),
                    _ => break,
                }
            }
        }
    }
    out.flush()?;
    warn_unreadable(&unreadable);
    Ok(exit_code(&unreadable))
}

fn footer(page: &Page) {
    let shown = page.hits.len();
    let total = page
        .matched
        .map(|m| format!("{shown} of {m} matches"))
        .unwrap_or_else(|| format!("{shown} matches"));
    eprintln!(
        "{total} from {} to {} ({:.1} ms)",
        page.from, page.to, page.took_ms
    );
    if page.budget_exceeded {
        eprintln!(
            "the time budget ran out: results are incomplete (raise --budget or narrow the range)"
        );
    }
    for name in &page.unreadable {
        eprintln!("warning: day index not readable: {name}");
    }
    if let Some(cursor) = &page.next_cursor {
        eprintln!("next page: --cursor {cursor}");
    }
}

const TABLE: [(&str, usize, usize); 8] = [
    ("TIME", 0, 24),
    ("STREAM", 1, 9),
    ("ACTOR", 3, 34),
    ("ACTION", 5, 16),
    ("TARGET", 6, 40),
    ("NAMESPACE", 7, 16),
    ("OUTCOME", 8, 8),
    ("MARK", 10, 40),
];

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

fn write_table(out: &mut dyn Write, hits: &[Hit], with_mark: bool) -> std::io::Result<()> {
    let columns: Vec<_> = TABLE
        .iter()
        .filter(|(name, _, _)| with_mark || *name != "MARK")
        .collect();
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|hit| {
            let cells = cells(hit);
            columns
                .iter()
                .map(|(_, i, width)| clip(&cells[*i], *width))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(c, (name, _, _))| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(
        out,
        "{}",
        line(columns.iter().map(|(n, _, _)| (*n).to_owned()).collect())
    )?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}
