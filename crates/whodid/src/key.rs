//! `whodid key show`: the journal's public key, for auditors.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use whodid_journal::keys::load_verifier;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print the journal's public (verifier) key in the signed-note format.
    Show {
        /// The data directory.
        #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
        data: PathBuf,
    },
}

pub(crate) fn run(command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Show { data } => {
            let verifier = load_verifier(&data.join("keys")).with_context(|| {
                format!(
                    "no journal key in {} (`whodid init --data {0}` creates a data directory)",
                    data.display()
                )
            })?;
            println!("{}", verifier.vkey());
        }
    }
    Ok(ExitCode::SUCCESS)
}
