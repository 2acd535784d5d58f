//! `whodid journal acknowledge-damage`: an operator's signed statement that
//! they know about the damage whodid recorded in a stream.
//!
//! `whodid verify` reports recorded damage (exit 1) until it is
//! acknowledged; afterwards it lists it with who, when and why. The
//! acknowledgement is a note signed with the journal key, beside the damage
//! notes, so it is itself part of the record. It may run beside `whodid
//! serve`: notes are created with a hard link and never overwrite one another.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use whodid_journal::damage::acknowledge;
use whodid_model::Stream;

#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
    /// Acknowledge the damage recorded in a stream (a signed note: who, when, why); `verify` then lists it instead of failing.
    AcknowledgeDamage(AcknowledgeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AcknowledgeArgs {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,

    /// kubeaudit, authlog, pgaudit, app or access.
    #[arg(long)]
    stream: Stream,

    /// Why (what was done about it: restored from backup, disk replaced, …).
    #[arg(long)]
    reason: String,

    /// Who acknowledges. Default: the user running the command ($USER).
    #[arg(long)]
    by: Option<String>,
}

pub(crate) fn run(command: JournalCommand) -> anyhow::Result<ExitCode> {
    match command {
        JournalCommand::AcknowledgeDamage(args) => acknowledge_damage(args),
    }
}

fn acknowledge_damage(args: AcknowledgeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.reason.trim().is_empty(), "--reason must say why");
    let by = match args.by {
        Some(by) => by,
        None => std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown user".to_owned()),
    };
    let done = acknowledge(&args.data, args.stream, &by, &args.reason)
        .with_context(|| format!("acknowledging damage in {}", args.data.display()))?;
    match done {
        None => println!("stream {}: no unacknowledged damage", args.stream),
        Some((seq, records)) => {
            for status in &records {
                println!("acknowledged (note {}): {}", status.seq, status.record);
            }
            println!(
                "stream {}: {} damage record(s) acknowledged by {by} in signed note {seq}",
                args.stream,
                records.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
