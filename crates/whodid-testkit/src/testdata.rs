//! The repository's `testdata/` files, for tests and benchmarks of every
//! crate: one place that knows where they are and gunzips the `.gz` ones.

use std::io::Read;
use std::path::PathBuf;

/// The path of `testdata/REL`.
pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// The bytes of `testdata/REL`, gunzipped when it ends in `.gz`; panics
/// with the path when it cannot be read.
pub fn read(rel: &str) -> Vec<u8> {
    let file = path(rel);
    let raw = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if !rel.ends_with(".gz") {
        return raw;
    }
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut plain)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    plain
}
