//! Journals made from parsed logs, as ingest would write them: each
//! record's envelope JSON and raw line appended to its stream.

use std::path::Path;

use whodid_journal::{Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthLogConfig, AuthRecord};
use whodid_parse::Batch;

/// Parses an auth log (`reference` gives classic lines their year) with
/// the keys of `keys_yaml`.
pub(crate) fn parse_auth(bytes: &[u8], reference: &str, keys_yaml: &str) -> Batch<AuthRecord> {
    let mut registry = KeyRegistry::new();
    registry.add_yaml(keys_yaml).unwrap();
    let batch = parse_auth_log(
        bytes,
        AuthLogConfig::new(reference.parse().unwrap()),
        registry,
    );
    assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
    batch
}

/// Appends the records of `batch` to the authlog stream of a journal in `dir`.
pub(crate) fn journal_auth(dir: &Path, batch: &Batch<AuthRecord>) {
    let journal = Journal::open(dir, JournalConfig::default()).unwrap();
    let records = batch
        .records
        .iter()
        .map(|p| RecordInput {
            envelope: p.envelope.to_json(),
            raw: p.raw.clone().into_bytes(),
        })
        .collect();
    journal.append_wait(Stream::AuthLog, records).unwrap();
    journal.close().unwrap();
}
