//! Access to the real kube-apiserver fixtures in `testdata/k8s`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The repository's `testdata/k8s` directory.
pub(crate) fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s")
}

/// Reads a file, gunzipping it when its name ends in `.gz`.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    if path.extension().is_some_and(|ext| ext == "gz") {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        plain
    } else {
        raw
    }
}

/// Every policy file with its name (stem), including the lenient invalid one
/// (the apiserver loads it with a warning).
pub(crate) fn policies() -> Vec<(String, PathBuf)> {
    let dir = k8s_dir().join("policies");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();
    found.sort();
    assert!(found.len() >= 10, "policies missing from {}", dir.display());
    found
}
