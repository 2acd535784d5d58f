//! `whodid policy …`: the audit policy engine on the command line.
//!
//! Each subcommand is one file: `check` (validate + lint), `test` (simulate
//! on a captured log), `apply` (stream filter), `decide` (one decision per
//! event, to compare with the apiserver's own).

mod apply;
mod check;
mod decide;
pub(crate) mod load;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::output::OutputFormat;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a policy as strictly as the kube-apiserver does, and lint it for the mistakes real policies make.
    ///
    /// Exit status: 0 when the policy is valid (lint findings do not change it), 1 when it is invalid.
    Check {
        /// The policy file (YAML or JSON, audit.k8s.io/v1 Policy).
        policy: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Simulate a policy on captured audit events: what it keeps, what it costs, what it would lose.
    ///
    /// LOG files are the log backend's JSON lines or the webhook backend's EventList bodies, plain or gzip; `-` reads stdin.
    Test {
        /// The policy file.
        policy: PathBuf,
        /// Captured logs, captured at a level at least as detailed as the policy's (RequestResponse is best).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Filter events on stdin through a policy: print the events this policy would have produced, in the same format.
    Apply {
        /// The policy file.
        policy: PathBuf,
    },
    /// Print the policy's decision for every event of a log, one JSON line each:
    /// {"auditID","stage","level","omitStages","omitManagedFields"}.
    Decide {
        /// The policy file.
        policy: PathBuf,
        /// A captured log (JSON lines or EventList, plain or gzip); `-` reads stdin.
        log: PathBuf,
    },
}

pub(crate) fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { policy, output } => check::run(&policy, output),
        PolicyCommand::Test {
            policy,
            logs,
            output,
        } => test::run(&policy, &logs, output),
        PolicyCommand::Apply { policy } => apply::run(&policy),
        PolicyCommand::Decide { policy, log } => decide::run(&policy, &log),
    }
}
