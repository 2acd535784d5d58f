//! Loading the policy file named on the command line, for the commands that
//! need a valid policy (`test`, `apply`, `decide`).

use std::path::Path;

use anyhow::Context;
use whodid_model::k8s::Policy;
use whodid_policy::load::load_policy;

/// Loads and validates `path`, printing the loader's warnings to stderr.
/// An invalid policy is an error listing every problem with its line.
pub(crate) fn load_valid_policy(path: &Path) -> anyhow::Result<Policy> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("reading policy {origin}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{origin}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let loaded = load_policy(&text, &origin).map_err(|e| {
        anyhow::anyhow!("invalid policy (run `whodid policy check {origin}`):\n{e}")
    })?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded.policy)
}
