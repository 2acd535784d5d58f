//! The webhook's CPU work per batch, on one core: a body of 400 real
//! events (the apiserver's default maximum batch) split into its items,
//! each through the kube-up production policy and redaction, and the kept
//! records hashed for the journal — what `whodid serve` runs on its CPU
//! pool for every POST. Events are the capture's, in order, in bodies of
//! 400 (the last one shorter), as `bench/ingest.sh`'s load generator sends.
//!
//! `cargo bench -p whodid-ingest --bench prepare`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use whodid_ingest::kube::body::split_event_list;
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::kube::store::HashedBatch;
use whodid_ingest::redaction_key::RedactionKey;
use whodid_testkit::testdata;

/// The capture's events as `EventList` bodies of at most 400.
fn bodies() -> Vec<Vec<u8>> {
    let log = testdata::read("k8s/capture-audit.log.gz");
    let lines: Vec<&[u8]> = log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .chunks(400)
        .map(|chunk| {
            let mut body =
                br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#
                    .to_vec();
            for (i, line) in chunk.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line);
            }
            body.extend_from_slice(b"]}");
            body
        })
        .collect()
}

fn source() -> KubeSource {
    let text = String::from_utf8(testdata::read(
        "k8s/policies/01-kube-up-gce-production.yaml",
    ))
    .expect("utf-8 policy");
    let loaded = whodid_policy::load::load_policy(&text, "kube-up").expect("policy");
    KubeSource {
        cluster: "bench".to_owned(),
        policy: Some(whodid_policy::evaluate::Evaluator::new(&loaded.policy)),
        redaction: Some(RedactionKey::from_bytes([7; 32])),
    }
}

fn prepare(c: &mut Criterion) {
    let bodies = bodies();
    let source = source();
    let events: usize = bodies
        .iter()
        .map(|b| split_event_list(b).map_or(0, |items| items.len()))
        .sum();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("webhook_prepare");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function(format!("capture {events} events {bytes} bytes"), |b| {
        b.iter(|| {
            for body in &bodies {
                let items = split_event_list(black_box(body)).expect("EventList");
                let prepared = items.into_iter().map(|item| source.prepare(item)).collect();
                black_box(HashedBatch::new(prepared, 1));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, prepare);
criterion_main!(benches);
