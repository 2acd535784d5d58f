//! `whodid prove inclusion|consistency`: RFC 6962 proofs as JSON, checked
//! against the signed checkpoint before they are printed (rebuilt from the
//! records when a leaf sidecar is wrong), and `whodid verify-proof`, which
//! checks one with only the public key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use whodid_journal::checked_proof;
use whodid_journal::proof_json::{ConsistencyProofJson, InclusionProofJson};
use whodid_journal::reader::JournalReader;
use whodid_model::Stream;

use crate::verify::verifier_from;

#[derive(Debug, Subcommand)]
pub(crate) enum ProveCommand {
    /// Prove that record INDEX of STREAM is in the tree of the latest signed checkpoint.
    Inclusion {
        /// kubeaudit, authlog, pgaudit, app or access.
        stream: Stream,
        /// The record's index.
        index: u64,
        /// Prove against the checkpoint of this tree size instead of the latest.
        #[arg(long)]
        tree_size: Option<u64>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Prove that the tree at OLD_SIZE is a prefix of the tree at NEW_SIZE (both checkpointed).
    Consistency {
        /// The stream.
        stream: Stream,
        /// The older checkpoint's size.
        old_size: u64,
        /// The newer checkpoint's size.
        new_size: u64,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DataArg {
    /// The data directory.
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyProofArgs {
    /// The proof file (JSON from `whodid prove`); `-` reads stdin.
    proof: PathBuf,
    /// The journal's public key: a verifier key string or a file holding it.
    #[arg(long)]
    key: String,
}

pub(crate) fn run(command: ProveCommand) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    match command {
        ProveCommand::Inclusion {
            stream,
            index,
            tree_size,
            data,
        } => {
            let reader = JournalReader::open(&data.data)?;
            let verifier = verifier_from(None, Some(&data.data))?;
            let checked =
                checked_proof::prove_inclusion(&reader, stream, index, tree_size, &verifier)?;
            warn_bad_sidecars(&checked.bad_sidecars);
            serde_json::to_writer_pretty(stdout.lock(), &checked.proof)?;
        }
        ProveCommand::Consistency {
            stream,
            old_size,
            new_size,
            data,
        } => {
            let reader = JournalReader::open(&data.data)?;
            let verifier = verifier_from(None, Some(&data.data))?;
            let checked =
                checked_proof::prove_consistency(&reader, stream, old_size, new_size, &verifier)?;
            warn_bad_sidecars(&checked.bad_sidecars);
            serde_json::to_writer_pretty(stdout.lock(), &checked.proof)?;
        }
    }
    println!();
    Ok(ExitCode::SUCCESS)
}

/// Says which sidecars were bypassed: the proof printed verifies, but the
/// operator should know the sidecar is wrong.
fn warn_bad_sidecars(bad: &[PathBuf]) {
    for path in bad {
        eprintln!(
            "warning: {} disagrees with its segment's records: this proof was built from the records; run `whodid verify` (the next start of whodid moves the sidecar aside and rebuilds it)",
            path.display()
        );
    }
}

pub(crate) fn verify_proof(args: VerifyProofArgs) -> anyhow::Result<ExitCode> {
    let verifier = verifier_from(Some(&args.key), None)?;
    let bytes = crate::input::InputSource::from_arg(&args.proof).read_all()?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).context("the proof is not JSON")?;
    let outcome = if value.get("old_size").is_some() {
        let proof: ConsistencyProofJson =
            serde_json::from_value(value).context("not a consistency proof")?;
        proof.verify(&verifier).map(|(old, new)| {
            format!(
                "consistent: {} at size {} is a prefix of size {}",
                new.origin, old.size, new.size
            )
        })
    } else {
        let proof: InclusionProofJson =
            serde_json::from_value(value).context("not an inclusion proof")?;
        proof.verify(&verifier).map(|cp| {
            format!(
                "included: record {} of {} is in the signed tree of size {}",
                proof.index, cp.origin, cp.size
            )
        })
    };
    match outcome {
        Ok(message) => {
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("proof does NOT verify: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
