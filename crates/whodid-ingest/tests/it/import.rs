//! Imports and file sources: every line once, bad lines reported with their
//! line number, over-long lines skipped without being held, positions
//! resumed from the journal when the saved one is behind.

use std::sync::Arc;

use whodid_ingest::import::{import, ImportReport};
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::line_source::LineParser;
use whodid_ingest::positions::{resume_position, PositionStore, SavedPosition};
use whodid_ingest::sink::Sink;
use whodid_journal::reader::JournalReader;
use whodid_journal::{Journal, JournalConfig, RecordInput};
use whodid_model::{Origin, Stream};

use crate::fixtures::capture_lines;
use crate::store::store_for;

/// `input` imported as `whodid ingest` imports a file (lines of at most 1 MiB).
pub(crate) fn import_bytes(input: &[u8], parser: &mut LineParser, sink: &Sink) -> ImportReport {
    let mut report = ImportReport::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(import(
        std::path::Path::new("audit.log"),
        input,
        parser,
        sink,
        1 << 20,
        &mut report,
        &mut |_| {},
    ))
    .unwrap();
    report
}

#[test]
fn kube_import_with_garbage_and_a_huge_line() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path(), JournalConfig::default()).unwrap());
    let store = Arc::new(store_for(&journal));
    let lines = capture_lines();
    let mut input = Vec::new();
    for (i, line) in lines.iter().take(300).enumerate() {
        input.extend_from_slice(line);
        input.push(b'\n');
        if i == 100 {
            input.extend_from_slice(b"{\"truncated\": \n");
            input.extend(std::iter::repeat_n(b'x', 5 << 20));
            input.push(b'\n');
            input.extend_from_slice(&[0xff, 0x00, 0x13, b'\n']);
        }
    }
    let sink = Sink::Kube {
        store,
        cluster: "prod".into(),
    };
    let mut parser = LineParser::Kube(Box::new(KubeSource {
        cluster: "prod".into(),
        policy: None,
        redaction: None,
    }));
    let report = import_bytes(&input, &mut parser, &sink);
    assert_eq!(report.lines, 303);
    assert_eq!(report.diagnostics.len(), 1, "the 5 MB line");
    assert_eq!(report.diagnostics[0].1.position.line, 103);
    // 300 events + 2 unreadable lines kept as invalid records.
    assert_eq!(report.stored.records, 302);
    // Importing again stores nothing new.
    let again = import_bytes(&input, &mut parser, &sink);
    assert_eq!(again.stored.deduplicated, 300);
    journal.close().unwrap();
}

#[test]
fn resume_takes_the_newest_of_saved_and_journaled_positions() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalConfig::default()).unwrap();
    let positions = PositionStore::new(dir.path());
    let record = |n: u64, source: &str| {
        let line = capture_lines()[0].clone();
        let summary = whodid_parse::kube::EventSummary::from_json(&line).unwrap();
        let mut envelope = whodid_parse::kube::summary_envelope(&summary).unwrap();
        envelope.origin = Some(Origin {
            source: source.into(),
            after: serde_json::json!({"n": n}),
        });
        RecordInput {
            envelope: envelope.to_json(),
            raw: b"{}".to_vec(),
        }
    };
    journal
        .append_wait(Stream::KubeAudit, vec![record(1, "a")])
        .unwrap();
    positions
        .save(&SavedPosition {
            version: 1,
            source: "a".into(),
            position: serde_json::json!({"n": 1}),
            journal_end: 1,
        })
        .unwrap();
    // Stored, but the process died before saving the position.
    journal
        .append_wait(Stream::KubeAudit, vec![record(2, "a"), record(7, "b")])
        .unwrap();
    journal.close().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let at = resume_position(&positions, &reader, Stream::KubeAudit, "a").unwrap();
    assert_eq!(at, Some(serde_json::json!({"n": 2})));
    let at = resume_position(&positions, &reader, Stream::KubeAudit, "b").unwrap();
    assert_eq!(at, Some(serde_json::json!({"n": 7})));
    assert_eq!(
        resume_position(&positions, &reader, Stream::KubeAudit, "c").unwrap(),
        None
    );
}
