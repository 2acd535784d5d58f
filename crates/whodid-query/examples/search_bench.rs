//! The search benchmark's two halves (driven by `bench/search.sh`):
//!
//! `search_bench generate DATA NDJSON EVENTS DAYS` writes EVENTS Kubernetes
//! audit events shaped like the real capture (its events as templates, with
//! users, namespaces, names, source addresses and times varied over DAYS
//! days ending now) through the journal API into DATA, and the same events
//! as NDJSON into NDJSON (what `rg` and `jq` are run on).
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

fn generate(data: &Path, ndjson: &Path, events: u64, days: i64) {
    let templates = templates();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
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
    let mut batch = Vec::with_capacity(4096);
    let mut tickets = std::collections::VecDeque::new();
    let started = Instant::now();
    for n in 0..events {
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
        set(
            &mut event,
            &["auditID"],
            Value::String(format!("{:016x}-{n:012x}", rng.next())),
        );
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
        let envelope = whodid_parse::kube::envelope(&decoded).unwrap();
        out.write_all(&raw).unwrap();
        out.write_all(b"\n").unwrap();
        batch.push(RecordInput {
            envelope: envelope.to_json(),
            raw,
        });
        if batch.len() == 4096 {
            tickets.push_back(
                journal
                    .append(Stream::KubeAudit, std::mem::take(&mut batch))
                    .unwrap(),
            );
            while tickets.len() > 8 {
                tickets.pop_front().unwrap().wait().unwrap();
            }
        }
        if n > 0 && n % 1_000_000 == 0 {
            eprintln!(
                "generated {n} events in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !batch.is_empty() {
        tickets.push_back(journal.append(Stream::KubeAudit, batch).unwrap());
    }
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    journal.close().unwrap();
    out.flush().unwrap();
    eprintln!(
        "generated {events} events over {days} days in {:.1} s",
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
        _ => {
            eprintln!("usage: search_bench generate DATA NDJSON EVENTS DAYS | measure DATA RUNS");
            std::process::exit(2);
        }
    }
}
