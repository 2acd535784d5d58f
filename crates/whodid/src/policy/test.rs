//! Placeholder until the policy engine lands.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::OutputFormat;

pub(crate) fn run(
    _policy: &Path,
    _logs: &[PathBuf],
    _output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
