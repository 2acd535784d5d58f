//! The index follower's own CPU work per record, on one core: a journal
//! record (envelope and raw event) turned into a tantivy document — the
//! catalogue's values found in the envelope and the event, the record's
//! shape, the stored bytes. Records are the capture's events at the level
//! they were captured (bodies included: the most a record costs), each with
//! the envelope ingest builds for it.
//!
//! `cargo bench -p whodid-index --bench document`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use whodid_index::schema::IndexSchema;
use whodid_model::k8s::EventSummary;
use whodid_model::Stream;
use whodid_testkit::testdata;

fn document(c: &mut Criterion) {
    let log = testdata::read("k8s/capture-audit.log.gz");
    let records: Vec<(Vec<u8>, &[u8])> = log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let summary = EventSummary::from_json(line).expect("event");
            let envelope = whodid_parse::kube::summary_envelope(&summary).expect("envelope");
            (envelope.to_json(), line)
        })
        .collect();
    let schema = IndexSchema::build();
    let mut group = c.benchmark_group("index_document");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function(format!("capture {} records", records.len()), |b| {
        b.iter(|| {
            for (seq, (envelope, raw)) in records.iter().enumerate() {
                let prepared = whodid_index::document::prepare(
                    &schema,
                    Stream::KubeAudit,
                    seq as u64,
                    envelope,
                    raw,
                );
                black_box(prepared.expect("document"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, document);
criterion_main!(benches);
