//! Opening a data directory from the command line: never by accident.
//!
//! A data directory is created only when asked (`whodid init`, or
//! `--init` on `serve` and `ingest`): a new directory means a new signing
//! key, and a relative path that resolved somewhere unexpected must not
//! silently start a second journal. Whatever is found is made its owner's
//! only (directories 0700, files 0600), and any loosening found is logged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use whodid_journal::datadir;
use whodid_journal::JournalError;

/// Whether [`ready`] found the directory or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// It was already whodid's.
    Existing,
    /// It was missing or empty and `init` made it.
    Created,
}

/// Checks that `data` is a whodid data directory, creating it when `init`
/// is set and it is missing or empty; then tightens modes.
pub(crate) fn ready(data: &Path, init: bool) -> anyhow::Result<Found> {
    let shown = shown(data);
    let found = match datadir::prepare(data, false) {
        Ok(()) => Found::Existing,
        Err(JournalError::NotADataDir { .. }) if is_missing_or_empty(data) => {
            if !init {
                anyhow::bail!(
                    "{shown} is not a whodid data directory yet ({}); whodid creates one only when asked, \
                     so that a path resolved somewhere unexpected never starts a second journal with a new key: \
                     run `whodid init --data {shown}` once (or add `--init` to this command)",
                    if data.try_exists().unwrap_or(false) { "it is empty" } else { "it does not exist" },
                );
            }
            datadir::prepare(data, true)
                .with_context(|| format!("creating data directory {shown}"))?;
            Found::Created
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("data directory {shown}"))),
    };
    let loosened = tighten(data).with_context(|| format!("restricting modes in {shown}"))?;
    // A directory made just now (an empty one given to `--init` included)
    // had nothing in it to expose: tightening it is not news.
    if found == Found::Existing && !loosened.is_empty() {
        let first: Vec<String> = loosened
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        tracing::warn!(data = %shown, entries = loosened.len(), first = ?first, "files or directories of the data directory were readable by group or others: now its owner's only");
        eprintln!(
            "whodid: warning: {} files or directories in {shown} were readable by group or others: made owner-only (0600/0700); first: {}",
            loosened.len(),
            first.join(", ")
        );
        let keys: Vec<&PathBuf> = loosened
            .iter()
            .filter(|p| {
                p.is_file()
                    && (p.starts_with(data.join("keys"))
                        || p.extension().is_some_and(|e| e == "key"))
            })
            .collect();
        if !keys.is_empty() {
            tracing::error!(keys = ?keys, "key files were readable by group or others: consider them exposed");
            eprintln!(
                "whodid: ERROR: key files were readable by group or others, consider them exposed: {}",
                keys.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(found)
}

fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The path as a person should see it: absolute.
pub(crate) fn shown(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// Removes group and other permissions from everything under `root` (not
/// following symbolic links, except a linked `index` directory, which is
/// part of the data). Returns the entries that were changed.
pub(crate) fn tighten(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut pending = vec![root.to_owned()];
    let index = root.join("index");
    if std::fs::symlink_metadata(&index).is_ok_and(|m| m.file_type().is_symlink()) {
        pending.push(std::fs::canonicalize(&index)?);
    }
    while let Some(path) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Removed meanwhile (a compaction's temporary file): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7700))?;
            changed.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_modes_are_tightened_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("journal/kubeaudit")).unwrap();
        std::fs::write(root.join("journal/kubeaudit/x.seg"), b"x").unwrap();
        for (path, mode) in [
            (root.clone(), 0o755),
            (root.join("journal"), 0o750),
            (root.join("journal/kubeaudit"), 0o700),
            (root.join("journal/kubeaudit/x.seg"), 0o644),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        assert_eq!(tighten(&root).unwrap().len(), 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("journal/kubeaudit/x.seg")), 0o600);
        assert!(tighten(&root).unwrap().is_empty());
    }
}
