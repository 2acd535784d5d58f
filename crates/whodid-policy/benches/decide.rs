//! Decisions per second on the kube-up production policy over the real
//! capture (2,947 events), warm: (a) evaluation only, attributes prebuilt;
//! (b) from each event's JSON bytes through the fast `EventSummary` path;
//! (c) full `Event` decode, attributes, evaluation.
//!
//! `bench/policy.sh` runs this and prints the ratios against the Go
//! reference figures of the kube-apiserver's own policy code.

use std::io::Read;
use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use whodid_model::k8s::decode_event;
use whodid_model::k8s::EventSummary;
use whodid_policy::attributes::RequestAttributes;
use whodid_policy::evaluate::Evaluator;
use whodid_policy::load::load_policy;

fn testdata(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/k8s")
        .join(rel);
    let raw = std::fs::read(&path).expect("testdata present");
    if rel.ends_with(".gz") {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut plain)
            .expect("gzip");
        plain
    } else {
        raw
    }
}

fn bench(c: &mut Criterion) {
    let policy_text =
        String::from_utf8(testdata("policies/01-kube-up-gce-production.yaml")).expect("utf-8");
    let policy = load_policy(&policy_text, "kube-up").expect("valid").policy;
    let evaluator = Evaluator::new(&policy);
    let capture = testdata("capture-audit.log.gz");
    let lines: Vec<&[u8]> = capture
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let events: Vec<_> = lines
        .iter()
        .map(|l| decode_event(l).expect("event"))
        .collect();
    let attributes: Vec<RequestAttributes<'_>> =
        events.iter().map(RequestAttributes::from_event).collect();

    let mut group = c.benchmark_group("kube-up");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("evaluate", |b| {
        b.iter(|| {
            for attrs in &attributes {
                black_box(evaluator.decide(black_box(attrs)));
            }
        })
    });
    group.bench_function("json_summary_evaluate", |b| {
        b.iter(|| {
            for line in &lines {
                let summary = EventSummary::from_json(black_box(line)).expect("summary");
                black_box(evaluator.decide(&RequestAttributes::from_summary(&summary)));
            }
        })
    });
    group.bench_function("json_full_evaluate", |b| {
        b.iter(|| {
            for line in &lines {
                let event = decode_event(black_box(line)).expect("event");
                black_box(evaluator.decide(&RequestAttributes::from_event(&event)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
