//! The search benchmark's two halves (driven by `bench/search.sh`):
//!
//! `search_bench generate DATA NDJSON EVENTS DAYS` writes EVENTS Kubernetes
//! audit events shaped like the real capture (its events as templates, with
//! users, namespaces, names, source addresses and times varied over DAYS
//! days ending now) through the journal API into DATA, and the same events
//! as NDJSON into NDJSON (what `rg` and `jq` are run on), on as many
//! threads as there are cores.
//!
//! `search_bench space DATA` prints the index's bytes by part and field.
//!
//! `search_bench measure DATA RUNS` times, through `SearchService` (the code
//! behind `whodid search|who` and the HTTP API): a person's timeline (first
//! page of 100), a three-term query over the last 24 h, the top 10 users over
//! 7 days; and prints p50/p99 in milliseconds as `name p50 p99 hits` lines.
#![allow(clippy::unwrap_used)]

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_query::{
    AggregateKind, AggregateRequest, SearchRequest, SearchService, ServiceConfig, TimeRange,
};

/// Users of the generated platform: people do most requests, like the capture.
const PEOPLE: usize = 200;
const SERVICES: usize = 40;
const NAMESPACES: usize = 60;

fn person(i: usize) -> String {
    format!("user{i:03}@example.com")
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn templates() -> Vec<Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s/capture-audit.log.gz");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut plain)
        .unwrap();
    let mut out = Vec::new();
    whodid_model::k8s::read_log(
        &plain,
        |e| out.push(serde_json::from_slice(e.raw).unwrap()),
        |e| panic!("capture: {e}"),
    );
    out
}

fn set(value: &mut Value, path: &[&str], new: Value) {
    let mut node = value;
    for key in &path[..path.len() - 1] {
        match node.get_mut(*key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(obj) = node.as_object_mut() {
        if obj.contains_key(path[path.len() - 1]) {
            obj.insert(path[path.len() - 1].to_owned(), new);
        }
    }
}

/// Events per batch: one journal append, and the unit handed to a generator thread.
const BATCH: u64 = 4096;

/// One generated event: its bytes as received and its envelope.
struct Generated {
    raw: Vec<u8>,
    envelope: Vec<u8>,
}

/// Events `[first, first + count)` of the data set. Each batch has its own
/// seed, so the data set is the same whatever the number of threads.
fn make_batch(
    templates: &[Value],
    first: u64,
    count: u64,
    start: i64,
    step: i64,
) -> Vec<Generated> {
    let mut rng =
        Rng(0x9e37_79b9_7f4a_7c15 ^ (first / BATCH + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let mut out = Vec::with_capacity(count as usize);
    for n in first..first + count {
        let mut event = templates[rng.below(templates.len())].clone();
        let who = rng.below(100);
        let (user, groups): (String, Vec<&str>) = if who < 70 {
            // People: a few are much busier than others (like alice in the capture).
            let i = (rng.below(PEOPLE) * rng.below(PEOPLE)) / PEOPLE;
            (person(i), vec!["devs", "system:authenticated"])
        } else if who < 90 {
            (
                format!(
                    "system:serviceaccount:ns{:02}:sa{}",
                    rng.below(NAMESPACES),
                    rng.below(SERVICES)
                ),
                vec!["system:serviceaccounts", "system:authenticated"],
            )
        } else {
            (
                "system:apiserver".to_owned(),
                vec!["system:masters", "system:authenticated"],
            )
        };
        set(&mut event, &["user", "username"], Value::String(user));
        set(
            &mut event,
            &["user", "groups"],
            groups.into_iter().map(Value::from).collect(),
        );
        let ns = format!("team-{:02}", rng.below(NAMESPACES));
        set(&mut event, &["objectRef", "namespace"], Value::String(ns));
        if event.pointer("/objectRef/name").is_some() {
            set(
                &mut event,
                &["objectRef", "name"],
                Value::String(format!("obj-{}", rng.below(5000))),
            );
        }
        let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(256), rng.below(256));
        set(
            &mut event,
            &["sourceIPs"],
            Value::Array(vec![Value::String(ip)]),
        );
        // A random (version 4) UUID, as the apiserver's.
        let (hi, lo) = (rng.next(), rng.next());
        let audit_id = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xfff,
            0x8000 | (lo >> 48) & 0x3fff,
            lo & 0xffff_ffff_ffff
        );
        set(&mut event, &["auditID"], Value::String(audit_id));
        let t = start + n as i64 * step;
        let stamp = jiff::Timestamp::from_microsecond(t).unwrap().to_string();
        set(
            &mut event,
            &["requestReceivedTimestamp"],
            Value::String(stamp.clone()),
        );
        set(&mut event, &["stageTimestamp"], Value::String(stamp));
        let raw = serde_json::to_vec(&event).unwrap();
        let decoded = whodid_model::k8s::decode_event(&raw).unwrap();
        let envelope = whodid_parse::kube::envelope(&decoded).unwrap().to_json();
        out.push(Generated { raw, envelope });
    }
    out
}

fn generate(data: &Path, ndjson: &Path, events: u64, days: i64) {
    let templates = templates();
    let end = jiff::Timestamp::now().as_microsecond();
    let start = end - days * 86_400_000_000;
    let step = ((end - start) / events.max(1) as i64).max(1);
    let journal = Journal::open(
        data,
        JournalConfig {
            fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(500)),
            ..JournalConfig::default()
        },
    )
    .unwrap();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(ndjson).unwrap());
    let mut tickets = std::collections::VecDeque::new();
    let started = Instant::now();
    let batches = events.div_ceil(BATCH);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let (send, receive) =
        std::sync::mpsc::sync_channel::<(u64, Vec<Generated>)>(2 * threads as usize);
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let send = send.clone();
            let templates = &templates;
            scope.spawn(move || {
                for b in (worker..batches).step_by(threads as usize) {
                    let first = b * BATCH;
                    let batch =
                        make_batch(templates, first, BATCH.min(events - first), start, step);
                    if send.send((b, batch)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(send);
        // Batches arrive out of order; the journal and the NDJSON take them in order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        for (b, batch) in receive {
            waiting.insert(b, batch);
            while let Some(batch) = waiting.remove(&next) {
                let mut records = Vec::with_capacity(batch.len());
                for g in batch {
                    out.write_all(&g.raw).unwrap();
                    out.write_all(b"\n").unwrap();
                    records.push(RecordInput {
                        envelope: g.envelope,
                        raw: g.raw,
                    });
                }
                tickets.push_back(journal.append(Stream::KubeAudit, records).unwrap());
                while tickets.len() > 8 {
                    tickets.pop_front().unwrap().wait().unwrap();
                }
                next += 1;
                let done = next * BATCH;
                if done.is_multiple_of(1_048_576) {
                    eprintln!(
                        "generated {done} events in {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    });
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    journal.close().unwrap();
    out.flush().unwrap();
    eprintln!(
        "generated {events} events over {days} days in {:.1} s ({threads} threads)",
        started.elapsed().as_secs_f64()
    );
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn time_runs(runs: usize, mut f: impl FnMut(usize) -> u64) -> (f64, f64, u64) {
    for i in 0..5 {
        f(i);
    }
    let mut ms = Vec::with_capacity(runs);
    let mut hits = 0;
    for i in 0..runs {
        let started = Instant::now();
        hits = f(i);
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = percentiles(ms);
    (p50, p99, hits)
}

fn measure(data: &Path, runs: usize) {
    let service = SearchService::new(data, ServiceConfig::default());
    let now = jiff::Timestamp::now().as_microsecond() + 1;
    let range = |days: i64| TimeRange {
        from: now - days * 86_400_000_000,
        to: now,
    };
    // Ten people among the busier half, in turn.
    let people: Vec<String> = (0..10).map(|i| person(5 + i * 3)).collect();
    let (p50, p99, hits) = time_runs(runs, |i| {
        let page = service
            .who(
                &people[i % people.len()],
                "",
                &SearchRequest {
                    query: String::new(),
                    range: range(36_500),
                    limit: 100,
                    cursor: None,
                    count: false,
                },
            )
            .unwrap();
        page.hits.len() as u64
    });
    println!("timeline_first_page_100 {p50:.3} {p99:.3} {hits}");
    let (p50, p99, hits) = time_runs(runs, |i| {
        let page = service
            .who(
                &people[i % people.len()],
                "",
                &SearchRequest {
                    query: String::new(),
                    range: range(36_500),
                    limit: 100,
                    cursor: None,
                    count: true,
                },
            )
            .unwrap();
        page.matched.unwrap_or(0)
    });
    println!("timeline_first_page_100_with_total {p50:.3} {p99:.3} {hits}");
    let (p50, p99, hits) = time_runs(runs, |i| {
        let query = format!(
            "user.username:\"{}\" and verb:get and objectRef.resource:configmaps",
            people[i % people.len()]
        );
        let page = service
            .search(&SearchRequest {
                query,
                range: range(1),
                limit: 100,
                cursor: None,
                count: true,
            })
            .unwrap();
        page.matched.unwrap_or(0)
    });
    println!("three_terms_24h {p50:.3} {p99:.3} {hits}");
    let (p50, p99, hits) = time_runs(runs.min(50), |_| {
        let agg = service
            .aggregate(&AggregateRequest {
                query: String::new(),
                range: range(7),
                kind: AggregateKind::Terms {
                    field: "user.username".into(),
                    size: 10,
                },
            })
            .unwrap();
        agg.matched
    });
    println!("top10_users_7d {p50:.3} {p99:.3} {hits}");
}

/// Bytes on disk of every day index, by part and by field (tantivy's own accounting).
fn space(data: &Path) {
    use std::collections::BTreeMap;
    let set = whodid_index::IndexSet::open(data);
    let selection = set
        .select(&Stream::ALL, i64::MIN / 2, i64::MAX / 2)
        .unwrap();
    let mut parts: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |key: String, n: u64| *parts.entry(key).or_default() += n;
    for day in &selection.days {
        let usage = day.searcher.space_usage().unwrap();
        for segment in usage.segments() {
            add("store".into(), segment.store().total().get_bytes());
            add("deletes".into(), segment.deletes().get_bytes());
            for (part, fields) in [
                ("termdict", segment.termdict()),
                ("postings", segment.postings()),
                ("positions", segment.positions()),
                ("columns", segment.fast_fields()),
                ("fieldnorms", segment.fieldnorms()),
            ] {
                add(part.into(), fields.total().get_bytes());
                for field in fields.fields() {
                    add(
                        format!("{part}.{}", field.field_name()),
                        field.total().get_bytes(),
                    );
                }
            }
        }
    }
    for (key, bytes) in parts.iter().filter(|(_, b)| **b > 0) {
        println!("{key} {bytes}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") if args.len() == 6 => generate(
            Path::new(&args[2]),
            Path::new(&args[3]),
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        ),
        Some("measure") if args.len() == 4 => {
            measure(Path::new(&args[2]), args[3].parse().unwrap())
        }
        Some("space") if args.len() == 3 => space(Path::new(&args[2])),
        _ => {
            eprintln!(
                "usage: search_bench generate DATA NDJSON EVENTS DAYS | measure DATA RUNS | space DATA"
            );
            std::process::exit(2);
        }
    }
}
