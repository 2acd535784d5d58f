//! Which day indexes were last found whole, so that opening the index reads
//! a day's files again only when they changed.
//!
//! A flipped byte or a cut-off file in a day index does not stop tantivy
//! from opening it; searches then fail or miss documents. Every file of a
//! segment ends with a checksum, so [`Checked::count`] validates them, but
//! reading every file of every day on each `whodid search` would cost as
//! much as the index is large. `DATA/index/checked.json` keeps, per day
//! index, a stamp of its files (names, lengths, modification times) as of
//! the last validation that passed; a day whose stamp still matches is not
//! read again. The file is a cache: lost or unreadable, everything is
//! validated once more.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::day_writer::open_existing;
use crate::layout::IndexLayout;
use crate::schema::IndexSchema;

/// The stamps of the day indexes found whole.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    stamps: BTreeMap<String, u64>,
    changed: bool,
}

fn file(layout: &IndexLayout) -> PathBuf {
    layout.root().join("checked.json")
}

/// The names, lengths and modification times of a directory's files.
fn stamp(dir: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let meta = entry
            .metadata()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        files.push((entry.file_name(), meta.len(), modified));
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    Ok(hasher.finish())
}

impl Checked {
    /// The stamps of `layout`'s index (none when the file is missing or bad).
    pub(crate) fn load(layout: &IndexLayout) -> Checked {
        let stamps = std::fs::read(file(layout))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Checked {
            stamps,
            changed: false,
        }
    }

    /// The live documents of the day index at `path`, or why it is not
    /// whole (it does not open, a file fails its checksum or is missing).
    pub(crate) fn count(&mut self, path: &Path, schema: &IndexSchema) -> Result<u64, String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let index = open_existing(path, schema).map_err(|e| e.to_string())?;
        let now = stamp(path)?;
        if self.stamps.get(&name) != Some(&now) {
            if self.stamps.remove(&name).is_some() {
                self.changed = true;
            }
            let bad = index
                .validate_checksum()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if !bad.is_empty() {
                let mut names: Vec<String> = bad.iter().map(|p| p.display().to_string()).collect();
                names.sort();
                return Err(format!("files fail their checksum: {}", names.join(", ")));
            }
            self.stamps.insert(name, now);
            self.changed = true;
        }
        let reader = index
            .reader()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(reader.searcher().num_docs())
    }

    /// Writes the stamps back when they changed (a failure only costs a
    /// validation next time).
    pub(crate) fn save(&mut self, layout: &IndexLayout) {
        if !self.changed {
            return;
        }
        self.stamps
            .retain(|name, _| layout.root().join(name).is_dir());
        let path = file(layout);
        let tmp = path.with_extension("json.tmp");
        let written = serde_json::to_vec(&self.stamps)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(error) = written {
            tracing::debug!(%error, "index: could not keep which day indexes were checked");
        }
        self.changed = false;
    }
}
