//! The indexed answer equals a brute-force filter over the journal: for
//! generated queries (every operator, wildcards, ranges, exists, bare
//! terms, `not`, nesting) over a generated data set, the set of matching
//! records (paged through cursors) and aggregations are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};
use whodid_journal::reader::JournalReader;
use whodid_journal::RecordInput;
use whodid_model::{Actor, ActorKind, Envelope, Outcome, Stream, ENVELOPE_VERSION};
use whodid_query::eval::RecordView;
use whodid_query::parser::parse;
use whodid_query::{
    AggregateKind, AggregateRequest, SearchRequest, SearchService, ServiceConfig, TimeRange,
};

use crate::data::{index_all, write_journal};

const USERS: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "system:serviceaccount:ci:deployer",
    "system:apiserver",
    "",
];
const VERBS: &[&str] = &["get", "list", "create", "delete", "patch", "watch"];
const RESOURCES: &[&str] = &[
    "pods",
    "secrets",
    "configmaps",
    "clusterrolebindings",
    "deployments",
];
const SUBRESOURCES: &[&str] = &["", "", "", "exec", "log", "status"];
const NAMESPACES: &[&str] = &["team-a", "team-b", "kube-system", ""];
const CODES: &[i64] = &[200, 200, 201, 403, 404, 500, 0];
const AGENTS: &[&str] = &["kubectl/v1.36.2 (linux/amd64)", "curl/8.5.0", "whodid test"];
const GROUPS: &[&str] = &["devs", "qa", "system:authenticated", "system:masters"];
const HOSTS: &[&str] = &["node-1", "node-2"];
/// 2026-11-20T00:00:00Z, and three days from there.
const START: i64 = 1_795_132_800_000_000;
const SPAN: i64 = 3 * 86_400_000_000;

struct Rng(u64);

impl Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        &items[(self.0 % items.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn stamp(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .unwrap()
        .to_string()
}

fn kube_event(rng: &mut Rng, n: u64) -> RecordInput {
    let time = START + rng.below(SPAN as u64) as i64;
    let user = *rng.pick(USERS);
    let code = *rng.pick(CODES);
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": format!("id-{n}"),
        "stage": if code == 0 { "RequestReceived" } else { "ResponseComplete" },
        "requestURI": format!("/api/v1/x/{n}"),
        "verb": rng.pick(VERBS),
        "user": {"username": user, "groups": [rng.pick(GROUPS), rng.pick(GROUPS)]},
        "sourceIPs": [format!("10.0.0.{}", rng.below(4))],
        "userAgent": rng.pick(AGENTS),
        "objectRef": {"resource": rng.pick(RESOURCES), "namespace": rng.pick(NAMESPACES), "name": format!("obj-{}", rng.below(5)), "apiVersion": "v1"},
        "requestReceivedTimestamp": stamp(time),
        "stageTimestamp": stamp(time),
    });
    let sub = *rng.pick(SUBRESOURCES);
    if !sub.is_empty() {
        event["objectRef"]["subresource"] = sub.into();
    }
    if code != 0 {
        event["responseStatus"] = json!({"metadata": {}, "code": code});
        event["annotations"] = json!({
            "authorization.k8s.io/decision": if code == 403 { "forbid" } else { "allow" },
            "authorization.k8s.io/reason": if rng.below(2) == 0 { "RBAC: allowed by ClusterRoleBinding" } else { "" },
        });
    }
    if rng.below(8) == 0 {
        event["impersonatedUser"] = json!({"username": rng.pick(&USERS[..3]), "groups": ["devs"]});
    }
    if rng.below(5) == 0 {
        event["sourceIPs"] = json!(["10.0.0.9", "192.168.1.1"]);
    }
    let raw = serde_json::to_vec(&event).unwrap();
    let envelope =
        whodid_parse::kube::envelope(&whodid_model::k8s::decode_event(&raw).unwrap()).unwrap();
    RecordInput {
        envelope: envelope.to_json(),
        raw,
    }
}

fn ssh_record(rng: &mut Rng) -> RecordInput {
    let time = START + rng.below(SPAN as u64) as i64;
    let person = *rng.pick(&[
        "eve@example.com",
        "alice@example.com",
        "mallory@example.com",
    ]);
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        stream: Stream::AuthLog,
        time: jiff::Timestamp::from_microsecond(time).unwrap(),
        actor: Actor {
            name: person.into(),
            kind: ActorKind::Person,
            groups: vec![],
            identified_by: "ssh-key SHA256:abc".into(),
            via: rng.pick(&["ubuntu", "", "alice"]).to_string(),
        },
        action: rng.pick(&["ssh.login", "ssh.logout", "sudo"]).to_string(),
        target: rng.pick(&["ubuntu", "root"]).to_string(),
        namespace: String::new(),
        cluster: String::new(),
        host: rng.pick(HOSTS).to_string(),
        source: "10.0.0.7".into(),
        outcome: *rng.pick(&[Outcome::Success, Outcome::Denied, Outcome::Failure]),
        redacted: vec![],
        origin: None,
    };
    RecordInput {
        envelope: envelope.to_json(),
        raw: format!("Nov 20 10:00:00 node-1 sshd[1]: Accepted publickey for ubuntu ({person})")
            .into_bytes(),
    }
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    records: Vec<(Stream, u64, RecordView)>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut input: Vec<(Stream, RecordInput)> = (0..2500)
            .map(|n| (Stream::KubeAudit, kube_event(&mut rng, n)))
            .collect();
        input.extend((0..400).map(|_| (Stream::AuthLog, ssh_record(&mut rng))));
        write_journal(&dir, input);
        index_all(&dir);
        let reader = JournalReader::open(&dir).unwrap();
        let mut records = Vec::new();
        for stream in [Stream::KubeAudit, Stream::AuthLog] {
            for record in reader.iter_from(stream, 0).unwrap() {
                let record = record.unwrap();
                let view = RecordView::decode(stream, &record.envelope, &record.raw).unwrap();
                records.push((stream, record.index, view));
            }
        }
        assert_eq!(records.len(), 2900);
        World {
            _tmp: tmp,
            dir,
            records,
        }
    })
}

fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A keyword field and values worth asking for (present and absent ones).
fn keyword_term() -> impl Strategy<Value = String> {
    let fields: Vec<(&'static str, Vec<&'static str>)> = vec![
        (
            "user.username",
            USERS
                .iter()
                .copied()
                .filter(|u| !u.is_empty())
                .chain(["dave@example.com"])
                .collect(),
        ),
        (
            "actor",
            vec![
                "alice@example.com",
                "eve@example.com",
                "bob@example.com",
                "system:apiserver",
            ],
        ),
        (
            "actor.via",
            vec!["ubuntu", "alice@example.com", "carol@example.com"],
        ),
        ("verb", VERBS.to_vec()),
        ("action", vec!["get", "ssh.login", "sudo", "delete"]),
        ("objectRef.resource", RESOURCES.to_vec()),
        ("objectRef.subresource", vec!["exec", "log", "status"]),
        (
            "objectRef.namespace",
            vec!["team-a", "team-b", "kube-system"],
        ),
        ("namespace", vec!["team-a", "kube-system"]),
        ("objectRef.name", vec!["obj-1", "obj-3"]),
        ("user.groups", GROUPS.to_vec()),
        ("sourceIPs", vec!["10.0.0.1", "192.168.1.1", "10.0.0.9"]),
        ("userAgent", AGENTS.to_vec()),
        ("stage", vec!["RequestReceived", "ResponseComplete"]),
        ("outcome", vec!["success", "denied", "failure", "unknown"]),
        ("host", HOSTS.to_vec()),
        ("stream", vec!["kubeaudit", "authlog", "pgaudit"]),
        ("target", vec!["ubuntu", "pods/obj-1", "secrets/obj-2"]),
        (
            "impersonatedUser.username",
            vec!["alice@example.com", "carol@example.com"],
        ),
        (
            "annotations.authorization.k8s.io/decision",
            vec!["allow", "forbid"],
        ),
        (
            "annotations.authorization.k8s.io/reason",
            vec!["RBAC: allowed by ClusterRoleBinding"],
        ),
        ("actor.kind", vec!["person", "service", "unknown"]),
    ];
    (0..fields.len(), 0usize..8, 0usize..6).prop_map(move |(f, v, shape)| {
        let (field, values) = &fields[f];
        let value = values[v % values.len()];
        let other = values[(v + 1) % values.len()];
        let cut = value
            .char_indices()
            .nth(value.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        match shape {
            0 => format!("{field}:{}", quoted(value)),
            1 => format!("{field}:({} or {})", quoted(value), quoted(other)),
            2 => format!("{field}:*"),
            3 => format!(
                "{field}:{}*",
                value[..cut]
                    .replace(' ', "\\ ")
                    .replace(':', "\\:")
                    .replace('(', "\\(")
                    .replace(')', "\\)")
            ),
            4 => format!(
                "{field}:*{}",
                value[cut..]
                    .replace(' ', "\\ ")
                    .replace('(', "\\(")
                    .replace(')', "\\)")
            ),
            _ => format!("not {field}:{}", quoted(value)),
        }
    })
}

fn other_term() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec![">=", ">", "<", "<="]),
            prop::sample::select(vec![200i64, 201, 403, 404, 500])
        )
            .prop_map(|(op, n)| format!("responseStatus.code {op} {n}")),
        prop::sample::select(vec![200i64, 403, 418])
            .prop_map(|n| format!("responseStatus.code:{n}")),
        Just("responseStatus.code:*".to_owned()),
        (prop::sample::select(vec![">=", "<"]), 0i64..SPAN)
            .prop_map(|(op, at)| format!("time {op} {}", stamp(START + at))),
        prop::sample::select(vec![
            "alice@example.com",
            "\"whodid test\"",
            "forbid",
            "node-*",
            "*@example.com",
            "nothing-like-this"
        ])
        .prop_map(str::to_owned),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![3 => keyword_term(), 1 => other_term()];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn indexed(
    service: &SearchService,
    query: &str,
    range: TimeRange,
) -> (BTreeSet<(String, u64)>, u64) {
    let mut out = BTreeSet::new();
    let mut cursor = None;
    let mut first_total = None;
    loop {
        let page = service
            .search(&SearchRequest {
                query: query.to_owned(),
                range,
                limit: 700,
                cursor,
                count: true,
            })
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(!page.budget_exceeded);
        first_total.get_or_insert(page.matched.unwrap());
        for hit in page.hits {
            assert!(out.insert((hit.stream, hit.seq)), "{query}: a hit twice");
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    (out, first_total.unwrap_or(0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn indexed_answers_equal_brute_force(
        query in query(),
        a in 0i64..SPAN,
        len in 1i64..SPAN,
        field in prop::sample::select(vec!["verb", "user.username", "stream", "responseStatus.code", "actor.groups", "sourceIPs"]),
    ) {
        let world = world();
        let service = SearchService::new(&world.dir, ServiceConfig::default());
        let range = TimeRange { from: START + a - SPAN / 4, to: START + a - SPAN / 4 + len + SPAN / 2 };
        let expr = parse(&query).unwrap_or_else(|e| panic!("{}", e.render(&query)));
        let expected: BTreeSet<(String, u64)> = world
            .records
            .iter()
            .filter(|(_, _, r)| r.time_micros >= range.from && r.time_micros < range.to && r.matches(&expr))
            .map(|(s, seq, _)| (s.as_str().to_owned(), *seq))
            .collect();
        let (got, total) = indexed(&service, &query, range);
        prop_assert_eq!(total as usize, expected.len(), "count of {}", query);
        prop_assert_eq!(&got, &expected, "hits of {}", query);

        // The same records aggregated: top values and distinct count of a field.
        let matching: Vec<&RecordView> = world
            .records
            .iter()
            .filter(|(s, seq, _)| expected.contains(&(s.as_str().to_owned(), *seq)))
            .map(|(_, _, r)| r)
            .collect();
        {
            let field_ref = whodid_index::catalogue::lookup(field).unwrap();
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for r in &matching {
                let values: BTreeSet<String> = r.values(&field_ref).into_iter().collect();
                for v in values {
                    *counts.entry(v).or_default() += 1;
                }
            }
            let terms = service.aggregate(&AggregateRequest {
                query: query.clone(),
                range,
                kind: AggregateKind::Terms { field: field.into(), size: 100 },
            }).unwrap();
            let got: BTreeMap<String, u64> = terms.buckets.iter().map(|b| (b.key.clone(), b.count)).collect();
            prop_assert_eq!(&got, &counts, "terms of {} under {}", field, query);
            prop_assert_eq!(terms.matched as usize, expected.len());
            let distinct = service.aggregate(&AggregateRequest {
                query: query.clone(),
                range,
                kind: AggregateKind::Distinct { field: field.into() },
            }).unwrap();
            prop_assert_eq!(distinct.distinct, Some(counts.len() as u64));
        }
    }
}

/// Time comparisons run on the time column (there are no time terms): a
/// range of one microsecond finds exactly the records of that microsecond.
#[test]
fn exact_times_find_their_records() {
    let world = world();
    let service = SearchService::new(&world.dir, ServiceConfig::default());
    let range = TimeRange {
        from: START - SPAN,
        to: START + 2 * SPAN,
    };
    for (_, _, record) in world.records.iter().step_by(97).take(8) {
        for query in [
            format!("time <= {} and time >= {0}", stamp(record.time_micros)),
            format!(
                "time < {} and time >= {}",
                stamp(record.time_micros + 1),
                stamp(record.time_micros)
            ),
        ] {
            let expr = parse(&query).unwrap_or_else(|e| panic!("{}", e.render(&query)));
            let expected: BTreeSet<(String, u64)> = world
                .records
                .iter()
                .filter(|(_, _, r)| r.matches(&expr))
                .map(|(s, seq, _)| (s.as_str().to_owned(), *seq))
                .collect();
            assert!(!expected.is_empty(), "{query}");
            assert_eq!(indexed(&service, &query, range).0, expected, "{query}");
        }
    }
}

#[test]
fn histogram_buckets_add_up() {
    let world = world();
    let service = SearchService::new(&world.dir, ServiceConfig::default());
    let range = TimeRange {
        from: START,
        to: START + SPAN,
    };
    let agg = service
        .aggregate(&AggregateRequest {
            query: "verb:get or stream:authlog".into(),
            range,
            kind: AggregateKind::Histogram {
                interval_micros: 3_600_000_000,
            },
        })
        .unwrap();
    assert_eq!(agg.buckets.len(), 72);
    let expr = parse("verb:get or stream:authlog").unwrap();
    for (i, bucket) in agg.buckets.iter().enumerate() {
        let from = START + i as i64 * 3_600_000_000;
        let expected = world
            .records
            .iter()
            .filter(|(_, _, r)| {
                r.time_micros >= from && r.time_micros < from + 3_600_000_000 && r.matches(&expr)
            })
            .count() as u64;
        assert_eq!(bucket.count, expected, "bucket {}", bucket.key);
        assert_eq!(bucket.key, stamp(from));
    }
    assert_eq!(
        agg.buckets.iter().map(|b| b.count).sum::<u64>(),
        agg.matched
    );
}

#[test]
fn the_data_set_has_what_the_queries_ask_about() {
    // Guards the generator: a vocabulary nobody matches would make the property trivial.
    let world = world();
    let count = |q: &str| {
        let e = parse(q).unwrap();
        world
            .records
            .iter()
            .filter(|(_, _, r)| r.matches(&e))
            .count()
    };
    for q in [
        "impersonatedUser.username:*",
        "objectRef.subresource:exec",
        "responseStatus.code:403",
        "sourceIPs:\"192.168.1.1\"",
        "actor.via:ubuntu",
        "not responseStatus.code:*",
        "annotations.authorization.k8s.io/decision:forbid",
    ] {
        assert!(count(q) > 20, "{q}: {}", count(q));
    }
    let _: &Value = &world.records[0].2.envelope;
}
