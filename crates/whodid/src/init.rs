//! `whodid init`: the one explicit way to make a data directory (besides
//! `--init` on `serve` and `ingest`).
//!
//! A new data directory means a new signing key, so whodid never makes one
//! as a side effect of a path that resolved somewhere unexpected. `init`
//! creates the directory (owner-only), the journal and its signing key, the
//! TLS CA, and one `admin` token of the query API, printed once on standard
//! output (only its hash is kept). On a directory that is already whodid's
//! it creates only what is missing and changes nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use whodid_journal::{Journal, JournalConfig, JournalError};
use whodid_server::api_auth::ApiTokens;
use whodid_server::pki::LocalCa;

use crate::config::Config;
use crate::data_dir::{self, Found};

/// Which data directory: `--data`, else the configuration's `data`.
#[derive(Debug, Args)]
pub(crate) struct DataChoice {
    /// The configuration file of `whodid serve` (its `data` and `index.api_tokens`).
    #[arg(long, short = 'c', env = "WHODID_CONFIG")]
    config: Option<PathBuf>,

    /// The data directory (overrides the file's `data`; default ./whodid-data).
    #[arg(long, env = "WHODID_DATA")]
    data: Option<PathBuf>,
}

impl DataChoice {
    /// The configuration with `--data` applied.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(data) = &self.data {
            config.data.clone_from(data);
        }
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    choice: DataChoice,
}

pub(crate) fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let config = args.choice.config()?;
    let data = &config.data;
    let shown = data_dir::shown(data);
    let found = data_dir::ready(data, true)?;
    match Journal::open(data, JournalConfig::default()) {
        Ok(journal) => journal.close().context("closing the journal")?,
        // `whodid serve` has it open: it is whodid's and has its key.
        Err(JournalError::Locked { .. }) if found == Found::Existing => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("data directory {shown}"))),
    }
    LocalCa::load_or_create(&data.join("tls")).context("the data directory's CA")?;
    let verifier = whodid_journal::keys::load_verifier(&data.join("keys"))?;
    eprintln!(
        "whodid: {shown}: {}",
        match found {
            Found::Created => "data directory created (journal, signing key, TLS CA)",
            Found::Existing => "already a whodid data directory: kept as it is",
        }
    );
    eprintln!(
        "whodid: journal public key (give it to auditors): {}",
        verifier.vkey()
    );
    let tokens = config.api_tokens_path();
    let exists = tokens
        .try_exists()
        .with_context(|| format!("index.api_tokens: {}", tokens.display()))?;
    if exists {
        eprintln!(
            "whodid: query API tokens are in {} (`whodid token create NAME` adds one)",
            tokens.display()
        );
    } else {
        let token = ApiTokens::create(&tokens, "admin")?;
        eprintln!(
            "whodid: query API token `admin` on standard output: shown only now, {} keeps only its SHA-256",
            tokens.display()
        );
        println!("{token}");
    }
    Ok(ExitCode::SUCCESS)
}
