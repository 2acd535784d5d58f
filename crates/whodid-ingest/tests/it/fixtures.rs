//! Reading the repository's test data.

use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// A test data file, gunzipped when it ends in `.gz`.
pub(crate) fn read(rel: &str) -> Vec<u8> {
    let raw = std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// The capture's log lines.
pub(crate) fn capture_lines() -> Vec<Vec<u8>> {
    read("k8s/capture-audit.log.gz")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub(crate) fn policy(name: &str) -> whodid_policy::evaluate::Evaluator {
    let text = String::from_utf8(read(&format!("k8s/policies/{name}.yaml"))).unwrap();
    let loaded = whodid_policy::load::load_policy(&text, name).unwrap();
    whodid_policy::evaluate::Evaluator::new(&loaded.policy)
}
