//! Building data directories through the real journal API: the real
//! fixtures (Kubernetes capture, auth.log, pgaudit) and generated events.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use whodid_index::{IndexConfig, Indexer};
use whodid_journal::{Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthLogConfig};
use whodid_parse::pgaudit::{parse_pg_log, PgLogConfig, PgLogFormat};
use whodid_query::{SearchService, ServiceConfig, TimeRange};

pub(crate) use whodid_testkit::testdata::read as testdata;

/// The records of the real fixtures, per stream, in file order.
pub(crate) fn fixture_records() -> Vec<(Stream, RecordInput)> {
    let mut out = Vec::new();
    let capture = testdata("k8s/capture-audit.log.gz");
    whodid_model::k8s::read_log(
        &capture,
        |event| {
            let envelope = whodid_parse::kube::envelope(&event.event).unwrap();
            out.push((
                Stream::KubeAudit,
                RecordInput {
                    envelope: envelope.to_json(),
                    raw: event.raw.to_vec(),
                },
            ));
        },
        |error| panic!("capture: {error}"),
    );
    let mut registry = KeyRegistry::new();
    registry
        .add_yaml(std::str::from_utf8(&testdata("ssh/keys.yaml")).unwrap())
        .unwrap();
    let auth = parse_auth_log(
        &testdata("ssh/auth.log"),
        AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry,
    );
    for parsed in auth.records {
        out.push((
            Stream::AuthLog,
            RecordInput {
                envelope: parsed.envelope.to_json(),
                raw: parsed.raw.into_bytes(),
            },
        ));
    }
    let pg = parse_pg_log(
        &testdata("pgaudit/postgresql.log"),
        &PgLogConfig::new(PgLogFormat::Stderr),
        "2026-11-23T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    for parsed in pg.records {
        out.push((
            Stream::PgAudit,
            RecordInput {
                envelope: parsed.envelope.to_json(),
                raw: parsed.raw.into_bytes(),
            },
        ));
    }
    out
}

/// Appends records to a new journal in `dir`, in batches per stream.
pub(crate) fn write_journal(dir: &Path, records: Vec<(Stream, RecordInput)>) {
    let journal = Journal::open(dir, JournalConfig::default()).unwrap();
    let mut batch: Vec<RecordInput> = Vec::new();
    let mut current = None;
    for (stream, record) in records {
        if current != Some(stream) || batch.len() >= 512 {
            if let Some(s) = current {
                journal.append_wait(s, std::mem::take(&mut batch)).unwrap();
            }
            current = Some(stream);
        }
        batch.push(record);
    }
    if let Some(s) = current {
        journal.append_wait(s, batch).unwrap();
    }
    journal.close().unwrap();
}

/// Indexes everything the journal in `dir` holds.
pub(crate) fn index_all(dir: &Path) {
    let mut indexer = Indexer::open(dir, IndexConfig::default()).unwrap();
    indexer.catch_up(&mut |_| {}).unwrap();
    indexer.close().unwrap();
}

/// A data directory with the real fixtures, journaled and indexed once per test run.
pub(crate) fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        write_journal(&dir, fixture_records());
        index_all(&dir);
        (tmp, dir)
    })
    .1
}

pub(crate) fn fixture_service() -> SearchService {
    SearchService::new(fixture_dir(), ServiceConfig::default())
}

/// Every time there is.
pub(crate) const ALL_TIME: TimeRange = TimeRange {
    from: 0,
    to: 4_102_444_800_000_000,
};
