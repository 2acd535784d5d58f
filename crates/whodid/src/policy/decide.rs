//! Placeholder until the policy engine lands.
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn run(_policy: &Path, _log: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
