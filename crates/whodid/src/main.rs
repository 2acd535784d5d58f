//! The `whodid` command line: one binary for the server and every tool.
//!
//! `main` parses arguments with clap, sets up tracing, runs one command and
//! turns its outcome into an exit code. Each command lives in its own module
//! and returns `anyhow::Result<ExitCode>`; library crates below return typed
//! errors, and this is the only place where they become text for a person.

mod config;
mod damage_cmd;
mod data_dir;
mod downtime;
mod ingest;
mod init;
mod input;
mod journal_args;
mod k8s;
mod key;
mod output;
mod policy;
mod prove;
mod report;
mod serve;
mod serve_inputs;
mod sources;
mod token;
mod verify;
// Search (issue 5).
mod index_args;
mod reindex;
mod search;
mod who;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// who did what, when, and where: the audit-log system of a regulated
/// Kubernetes platform.
///
/// whodid collects audit events (Kubernetes API requests, SSH access,
/// database access, application events), keeps them tamper-evident, and
/// answers questions about them.
#[derive(Debug, Parser)]
#[command(
    name = "whodid",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Log filter for whodid's own diagnostics (tracing EnvFilter syntax), e.g. `info` or `whodid_journal=debug`.
    #[arg(long, global = true, env = "WHODID_LOG", default_value = "warn")]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory (journal, signing key, TLS CA, an `admin` query-API token); an existing one is left as it is.
    Init(init::InitArgs),
    /// Run the all-in-one server on the embedded default: Kubernetes webhook over TLS, file tailers, journal (tamper-evident, signed), retention, /metrics.
    Serve(serve::ServeArgs),
    /// Import old log files into a data directory (kubeaudit, authlog, pgaudit), with a progress bar.
    Ingest(ingest::IngestArgs),
    /// Connect Kubernetes clusters: the apiserver's webhook configuration.
    #[command(subcommand)]
    K8s(k8s::K8sCommand),
    /// Recompute the journal and check every checkpoint signature; exit 1 and name what is wrong if anything is.
    Verify(verify::VerifyArgs),
    /// Print RFC 6962 inclusion or consistency proofs as JSON.
    #[command(subcommand)]
    Prove(prove::ProveCommand),
    /// Check a proof from `whodid prove` with only the public key: no data directory needed.
    VerifyProof(prove::VerifyProofArgs),
    /// The journal's signing key.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Bearer tokens of the query API and `/metrics` (stored only as SHA-256 hashes).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Journal maintenance: acknowledge recorded damage.
    #[command(subcommand)]
    Journal(damage_cmd::JournalCommand),
    /// Work with kube-apiserver audit policies (audit.k8s.io/v1 Policy): check, test on a captured log, apply, decide.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Search every stream with the query language (field:value, "phrases", wild*cards, ranges, and/or/not).
    Search(search::SearchArgs),
    /// Everything a person did, newest first, across every stream (impersonation and shared accounts marked).
    Who(who::WhoArgs),
    /// Rebuild the search index from the journal (refused while whodid serve writes it).
    Reindex(reindex::ReindexArgs),
    /// Evidence reports from the journal (`shared-accounts`: who used which group account, with which key, and what they ran).
    #[command(subcommand)]
    Report(report::ReportCommand),
}

fn main() -> ExitCode {
    // Before any file is created and any thread started: whatever whodid
    // writes (journal, index, keys, TLS material) is its owner's only,
    // whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    init_tracing(&cli.log_level);
    let outcome = match cli.command {
        Command::Init(args) => init::run(args),
        Command::Token(command) => token::run(command),
        Command::Policy(command) => policy::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::K8s(command) => k8s::run(command),
        Command::Verify(args) => verify::run(args),
        Command::Prove(command) => prove::run(command),
        Command::VerifyProof(args) => prove::verify_proof(args),
        Command::Key(command) => key::run(command),
        Command::Journal(command) => damage_cmd::run(command),
        Command::Search(args) => search::run(args),
        Command::Who(args) => who::run(args),
        Command::Reindex(args) => reindex::run(args),
        Command::Report(command) => report::run(command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("whodid: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// A closed pipe (`whodid … | head`) is a normal way to stop reading, not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
