//! Running the real `whodid` binary on the repository's test data.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's `testdata` directory.
pub(crate) fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// Runs `whodid ARGS` with `stdin` as standard input.
pub(crate) fn whodid(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_whodid"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("whodid starts");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().expect("whodid runs");
    writer.join().expect("stdin writer");
    output
}

/// `whodid init --data DATA`: creates the data directory (journal, key,
/// CA) and returns the `admin` token of the query API and `/metrics` (empty
/// when DATA already had a token file). Tests that start `whodid serve`
/// or `whodid ingest` on a new directory call this first, or pass `--init`.
pub(crate) fn init_data(data: &Path) -> String {
    let out = whodid(&["init", "--data", data.to_str().unwrap()], b"");
    assert!(out.status.success(), "whodid init: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// Reads a test data file, gunzipped when it ends in `.gz`.
pub(crate) fn read(rel: &str) -> Vec<u8> {
    let path = testdata(rel);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        plain
    } else {
        raw
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `body` gzip-compressed, as a sender may offer it.
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}
