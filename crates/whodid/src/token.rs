//! `whodid token`: bearer tokens of the query API and `/metrics`.
//!
//! Only a token's SHA-256 is ever stored (`NAME sha256:HEX` lines in
//! `DATA/keys/api-tokens`, or the file `index.api_tokens` names): `create`
//! makes a token, stores its hash and prints the token once; `hash` prints
//! the stored form of a token read from standard input, for files managed
//! elsewhere. A running server reads the file at start.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use whodid_server::api_auth::{hash_token, ApiTokens};

use crate::init::DataChoice;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token for NAME: its hash goes into the token file, the token to standard output (shown only now).
    Create {
        /// Who the token is for (letters, digits, '-', '_', '.', '@').
        name: String,
        #[command(flatten)]
        choice: DataChoice,
        /// The token file (default: the configuration's `index.api_tokens`, else DATA/keys/api-tokens).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print the stored form (`sha256:HEX`) of the token on standard input, for a `NAME sha256:HEX` line.
    Hash,
}

pub(crate) fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { name, choice, file } => {
            let path = match file {
                Some(file) => file,
                None => {
                    let config = choice.config()?;
                    if config.index.api_tokens.is_none() {
                        crate::data_dir::ready(&config.data, false)?;
                    }
                    config.api_tokens_path()
                }
            };
            let token = ApiTokens::create(&path, &name)?;
            eprintln!(
                "whodid: token for {name} on standard output: shown only now; {} keeps only its SHA-256 (a running server reads it at its next start)",
                path.display()
            );
            println!("{token}");
        }
        TokenCommand::Hash => {
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .context("reading the token from standard input")?;
            let token = token.trim();
            if token.len() < 16 {
                anyhow::bail!("a token needs at least 16 characters");
            }
            println!("{}", hash_token(token));
        }
    }
    Ok(ExitCode::SUCCESS)
}
