//! `whodid verify`: recompute the whole journal and check every signature.
//!
//! Exit 0 when intact, 1 with a report naming stream, file, record and what
//! is wrong otherwise. Damage whodid recorded (see `docs/journal.md`) is a
//! problem until an operator acknowledges it (`whodid journal
//! acknowledge-damage`); then it is listed with who, when and why. The public key is taken from `--key` (what an auditor
//! should do: bring the key they were given) or else from the data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use whodid_journal::checkpoint::Verifier;
use whodid_journal::damage::utc_text;
use whodid_journal::keys::load_verifier;
use whodid_journal::verify::verify;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,

    /// The journal's public key (verifier key string, or a file holding it). Default: the data directory's keys/journal.pub.
    #[arg(long)]
    key: Option<String>,
}

/// The verifier from `--key` (a vkey string or a file), or the data directory's.
pub(crate) fn verifier_from(
    key: Option<&str>,
    data: Option<&std::path::Path>,
) -> anyhow::Result<Verifier> {
    match key {
        Some(key) => {
            let text = match std::fs::read_to_string(key) {
                Ok(text) => text,
                Err(_) => key.to_owned(),
            };
            Verifier::from_vkey(&text).map_err(|e| anyhow::anyhow!("--key: {e}"))
        }
        None => {
            let data = data.context("--key is required")?;
            let verifier =
                load_verifier(&data.join("keys")).context("reading the journal's public key")?;
            eprintln!("note: using the public key stored in the data directory; pass --key with the key you were given to rule out a replaced key");
            Ok(verifier)
        }
    }
}

pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = verifier_from(args.key.as_deref(), Some(&args.data))?;
    let report = verify(&args.data, &verifier)
        .with_context(|| format!("verifying {}", args.data.display()))?;
    for (stream, s) in &report.streams {
        if s.records.1 == 0 && s.removed_by_retention.is_empty() {
            continue;
        }
        println!(
            "{stream}: records {}..{}, {} checkpoints verified, {} records not yet checkpointed",
            s.records.0, s.records.1, s.checkpoints_verified, s.unsigned_tail
        );
        for (first, end, reason) in &s.removed_by_retention {
            println!("{stream}: records {first}..{end} removed by retention ({reason}), signed record present");
        }
        for damage in &s.damage {
            if let Some(ack) = &damage.ack {
                println!(
                    "{stream}: acknowledged damage (note {}, recorded {}): {}; acknowledged by {} at {}: {}",
                    damage.seq,
                    utc_text(damage.record.time),
                    damage.record,
                    ack.by,
                    utc_text(ack.time),
                    ack.reason
                );
            }
        }
    }
    if report.is_intact() {
        println!("journal intact");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    println!("journal NOT intact: {} problems", report.problems.len());
    Ok(ExitCode::from(1))
}
