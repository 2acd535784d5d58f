//! `whodid report …`: evidence documents built from the journal.
//!
//! `shared-accounts` answers the question an ISO 27001 assessment of
//! group-account usage asks (A.9.2.1 / 5.16, A.12.4.3 / 8.15): who used
//! which shared account, when, with which key, from where, and what they
//! did as root. It reads the `authlog` stream only; the records' envelopes
//! already name the person behind each login (key → person at ingest), and
//! the raw lines give the commands.

mod collect;
mod events;
mod render;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use whodid_journal::reader::{Entry, JournalReader};
use whodid_model::{Envelope, Stream};

use crate::index_args::PARTIAL_EXIT;
use collect::SharedAccountReport;
use window::Window;

#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// Who used which shared account (e.g. `ubuntu`), when, with which key, from where, and the sudo commands of each login; unknown keys flagged.
    SharedAccounts(SharedAccountsArgs),
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Readable tables.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// CSV, one row per login or attempt (for spreadsheets).
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct SharedAccountsArgs {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,

    /// Only records of this last stretch of time (`30d`, `12h`); default: everything.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with_all = ["from", "to"])]
    since: Option<std::time::Duration>,

    /// Only records at or after this time (RFC 3339, e.g. `2026-11-01T00:00:00Z`).
    #[arg(long)]
    from: Option<jiff::Timestamp>,

    /// Only records before this time (RFC 3339).
    #[arg(long)]
    to: Option<jiff::Timestamp>,

    /// Also count this account as shared (repeatable). Without it, an
    /// account is shared when two or more people logged in to it, or one
    /// whose name (or e-mail local part) is not the account.
    #[arg(long = "account", value_name = "ACCOUNT")]
    accounts: Vec<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: ReportFormat,
}

pub(crate) fn run(command: ReportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReportCommand::SharedAccounts(args) => shared_accounts(args),
    }
}

fn shared_accounts(args: SharedAccountsArgs) -> anyhow::Result<ExitCode> {
    let window = Window::new(args.since, args.from, args.to)?;
    let reader = JournalReader::open(&args.data)
        .with_context(|| format!("opening the journal in {}", args.data.display()))?;
    let (first, end) = reader
        .bounds(Stream::AuthLog)
        .context("reading the authlog stream's bounds")?;
    let mut report = SharedAccountReport::new(window, args.accounts);
    let mut unreadable = Vec::new();
    let mut records = reader
        .iter_from(Stream::AuthLog, first)
        .context("reading the authlog stream")?;
    while let Some(entry) = records.next_entry() {
        let stored = match entry.context("reading the authlog stream")? {
            Entry::Record(stored) => stored,
            Entry::Damaged(damage) => {
                // The report is from the rest, and says what it lacks.
                eprintln!("whodid: warning: {damage}; the report is from the rest (exit status {PARTIAL_EXIT})");
                unreadable.push(damage.to_string());
                continue;
            }
        };
        let envelope = Envelope::from_json(&stored.envelope).with_context(|| {
            format!("authlog record {}: the envelope is not valid", stored.index)
        })?;
        report.add(
            stored.index,
            &envelope,
            &String::from_utf8_lossy(&stored.raw),
        );
    }
    let mut report = report.finish((first, end));
    report.unreadable_records = unreadable;
    let mut out = std::io::stdout().lock();
    match args.output {
        ReportFormat::Table => render::table(&report, &mut out)?,
        ReportFormat::Json => render::json(&report, &mut out)?,
        ReportFormat::Csv => render::csv(&report, &mut out)?,
    }
    Ok(if report.unreadable_records.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(PARTIAL_EXIT)
    })
}
