//! What every test file needs: reading `testdata/` (gunzipping `.gz`), and
//! the golden-file check (`WHODID_BLESS=1` rewrites the expected files).

use serde_json::json;
use whodid_parse::{Batch, Diagnostic, Parsed};

pub(crate) use whodid_testkit::testdata::{path as testdata_path, read as testdata};

pub(crate) fn testdata_text(rel: &str) -> String {
    String::from_utf8(testdata(rel)).unwrap()
}

/// One golden line per record (with its envelope; the raw text only when
/// it was redacted, else it is the input line) and per diagnostic.
pub(crate) fn golden_lines<R: serde::Serialize>(batch: &Batch<R>) -> Vec<String> {
    let mut items: Vec<(u64, String)> = batch
        .records
        .iter()
        .map(|p: &Parsed<R>| {
            let mut value = json!({
                "line": p.position.line,
                "record": p.record,
                "envelope": serde_json::from_slice::<serde_json::Value>(&p.envelope.to_json()).unwrap(),
            });
            if !p.envelope.redacted.is_empty() {
                value["raw"] = p.raw.clone().into();
            }
            (p.position.offset, value.to_string())
        })
        .collect();
    items.extend(batch.diagnostics.iter().map(|d: &Diagnostic| {
        (
            d.position.offset,
            json!({"line": d.position.line, "offset": d.position.offset, "diagnostic": d.kind.to_string()}).to_string(),
        )
    }));
    items.sort_by_key(|(offset, _)| *offset);
    items.into_iter().map(|(_, line)| line).collect()
}

/// Compares with `testdata/<rel>`; `WHODID_BLESS=1` rewrites it instead.
pub(crate) fn check_golden(rel: &str, lines: &[String]) {
    let path = testdata_path(rel);
    let actual = lines.join("\n") + "\n";
    if std::env::var_os("WHODID_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{rel}: {e} (run with WHODID_BLESS=1 to create it)"));
    if expected == actual {
        return;
    }
    let first_difference = expected
        .lines()
        .zip(actual.lines())
        .position(|(e, a)| e != a)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    panic!(
        "{rel} differs at line {} (WHODID_BLESS=1 rewrites it; review the diff):\n  expected: {}\n  actual:   {}",
        first_difference + 1,
        expected.lines().nth(first_difference).unwrap_or("<end>"),
        actual.lines().nth(first_difference).unwrap_or("<end>"),
    );
}

/// The typed records of a batch, in order.
pub(crate) fn records_of<R: Clone>(batch: &Batch<R>) -> Vec<R> {
    batch.records.iter().map(|p| p.record.clone()).collect()
}
