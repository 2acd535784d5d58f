//! `whodid search`, `who` and `reindex` on a data directory holding the real
//! Kubernetes capture and SSH log, written through the journal API.

use std::path::Path;

use whodid_index::{Follower, IndexConfig};
use whodid_journal::{Journal, JournalConfig, RecordInput};
use whodid_model::Stream;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{parse_auth_log, AuthLogConfig};

use crate::util::{read, text, whodid};

/// A data directory with the capture (kubeaudit) and auth.log (authlog).
fn data_dir() -> tempfile::TempDir {
    data_dir_with(JournalConfig::default(), usize::MAX)
}

/// [`data_dir`] with a journal configuration, the capture appended
/// `per_append` records at a time.
pub(crate) fn data_dir_with(config: JournalConfig, per_append: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let journal = Journal::open(tmp.path(), config).unwrap();
    let capture = read("k8s/capture-audit.log.gz");
    let mut kube = Vec::new();
    whodid_model::k8s::read_log(
        &capture,
        |e| {
            let envelope = whodid_parse::kube::envelope(&e.event).unwrap();
            kube.push(RecordInput {
                envelope: envelope.to_json(),
                raw: e.raw.to_vec(),
            });
        },
        |e| panic!("{e}"),
    );
    for batch in kube.chunks(per_append) {
        journal
            .append_wait(Stream::KubeAudit, batch.to_vec())
            .unwrap();
    }
    let mut registry = KeyRegistry::new();
    registry.add_yaml(&text(&read("ssh/keys.yaml"))).unwrap();
    let auth = parse_auth_log(
        &read("ssh/auth.log"),
        AuthLogConfig::new("2026-11-23T00:00:00Z".parse().unwrap()),
        registry,
    );
    let records = auth
        .records
        .into_iter()
        .map(|p| RecordInput {
            envelope: p.envelope.to_json(),
            raw: p.raw.into_bytes(),
        })
        .collect();
    journal.append_wait(Stream::AuthLog, records).unwrap();
    journal.close().unwrap();
    tmp
}

pub(crate) fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    let data = dir.to_str().unwrap();
    all.extend(["--data", data]);
    let output = whodid(&all, b"");
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn search_prints_a_table_and_counts() {
    let dir = data_dir();
    let (code, out, err) = run(
        dir.path(),
        &[
            "search",
            "responseStatus.code:403 and stage:ResponseComplete",
            "--since",
            "100000d",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{out}");
    assert_eq!(lines.len(), 66, "{out}");
    assert!(lines[1..].iter().all(|l| l.contains("denied")), "{out}");
    assert!(err.contains("65 of 65 matches"), "{err}");
}

#[test]
fn search_outputs_json_ndjson_and_csv() {
    let dir = data_dir();
    let (code, out, err) = run(
        dir.path(),
        &[
            "search",
            "verb:create and objectRef.resource:clusterrolebindings",
            "--since",
            "100000d",
            "-o",
            "json",
            "--limit",
            "5",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["hits"].as_array().unwrap().len(), 5);
    assert!(page["next_cursor"].is_string());
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next, _) = run(
        dir.path(),
        &[
            "search",
            "verb:create and objectRef.resource:clusterrolebindings",
            "--since",
            "100000d",
            "-o",
            "json",
            "--limit",
            "5",
            "--cursor",
            &cursor,
        ],
    );
    let next: serde_json::Value = serde_json::from_str(&next).unwrap();
    assert_ne!(next["hits"][0]["seq"], page["hits"][0]["seq"]);

    let (code, out, _) = run(
        dir.path(),
        &[
            "search", "", "--since", "100000d", "-o", "ndjson", "--limit", "1500",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1500);
    for line in out.lines().take(3) {
        let hit: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(hit["envelope"]["actor"].is_object());
    }
    let (code, out, _) = run(
        dir.path(),
        &[
            "search",
            "stream:authlog",
            "--since",
            "100000d",
            "-o",
            "csv",
        ],
    );
    assert_eq!(code, 0);
    let mut rows = out.lines();
    assert_eq!(
        rows.next(),
        Some("time,stream,seq,actor,via,action,target,namespace,outcome,source,mark")
    );
    assert!(rows.count() > 100);
}

#[test]
fn bad_queries_and_ranges_are_explained() {
    let dir = data_dir();
    let (code, _, err) = run(
        dir.path(),
        &["search", "verb:get and (user.username:bob", "--since", "1d"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("^ column 14: '(' is never closed"), "{err}");
    let (code, _, err) = run(
        dir.path(),
        &[
            "search",
            "verb:get",
            "--from",
            "2026-11-23T00:00:00Z",
            "--to",
            "2026-11-22T00:00:00Z",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--to") && err.contains("reversed"), "{err}");
    let (code, _, err) = run(dir.path(), &["search", "verb:get", "--limit", "100000"]);
    assert_eq!(code, 2);
    assert!(err.contains("--limit"), "{err}");
    let (code, out, _) = run(dir.path(), &["search", "--fields"]);
    assert_eq!(code, 0);
    assert!(out.contains("user.username") && out.contains("annotations"));
}

#[test]
fn who_marks_shared_accounts_and_impersonation() {
    let dir = data_dir();
    let (code, out, err) = run(dir.path(), &["who", "eve@example.com"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().contains("MARK"));
    assert_eq!(
        out.lines()
            .skip(1)
            .filter(|l| l.contains("as account ubuntu"))
            .count(),
        18,
        "{out}"
    );
    let (_, out, _) = run(
        dir.path(),
        &[
            "who",
            "alice@example.com",
            "--limit",
            "1000",
            "-q",
            "stream:kubeaudit",
        ],
    );
    assert!(out.contains("impersonated by bob@example.com"), "{out}");
    assert!(!out.contains("authlog"));
}

#[test]
fn reindex_rebuilds_and_refuses_beside_a_writer() {
    let dir = data_dir();
    let (code, out, err) = run(dir.path(), &["reindex"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("indexed "), "{out}");
    let authlog = read_count(dir.path());
    assert_eq!(
        out.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        2947 + authlog
    );
    // A running server's follower holds the writer: reindex refuses, search still reads.
    let follower = Follower::spawn(dir.path(), IndexConfig::default()).unwrap();
    let (code, _, err) = run(dir.path(), &["reindex"]);
    assert_eq!(code, 2);
    assert!(err.contains("being written by another process"), "{err}");
    let (code, out, err) = run(dir.path(), &["search", "verb:delete", "--since", "100000d"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() > 1);
    follower.shutdown().unwrap();
}

fn read_count(dir: &Path) -> u64 {
    let reader = whodid_journal::reader::JournalReader::open(dir).unwrap();
    reader.bounds(Stream::AuthLog).unwrap().1
}

#[test]
fn search_aggregates_top_values_distinct_and_histograms() {
    let dir = data_dir();
    let (code, out, err) = run(
        dir.path(),
        &[
            "search",
            "stage:ResponseComplete",
            "--since",
            "100000d",
            "--top",
            "user.username",
            "--size",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // stats.md: system:apiserver 596, alice 326 of 1,426 ResponseComplete events.
    assert_eq!(
        rows,
        [
            vec!["system:apiserver", "596"],
            vec!["alice@example.com", "326"],
            vec!["(other)", "504"]
        ]
    );
    assert!(err.contains("1426 matching records"), "{err}");
    let (_, out, _) = run(
        dir.path(),
        &[
            "search",
            "stream:kubeaudit",
            "--since",
            "100000d",
            "--distinct",
            "verb",
        ],
    );
    assert!(out.contains("different values"), "{out}");
    let (code, out, err) = run(
        dir.path(),
        &[
            "search",
            "",
            "--from",
            "2026-11-22T00:00:00Z",
            "--to",
            "2026-11-23T00:00:00Z",
            "--histogram",
            "1h",
            "-o",
            "csv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 25);
    let total: u64 = out
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        total > 2947,
        "kubeaudit and authlog events of the capture day: {total}"
    );
}

#[test]
fn too_expensive_queries_are_refused_with_a_message() {
    let dir = data_dir();
    let wildcards = (0..17)
        .map(|i| format!("*x{i}*"))
        .collect::<Vec<_>>()
        .join(" or ");
    let cases = [
        // tantivy's "Compiled regex exceeds size limit of 1000 states" before.
        (format!("*{}*", "é".repeat(250)), "automaton"),
        (vec!["ab"; 40].join("*"), "`*`"),
        (wildcards, "wildcard values"),
    ];
    for (query, word) in cases {
        let (code, out, err) = run(dir.path(), &["search", &query, "--since", "100000d"]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("too expensive") && err.contains(word), "{err}");
        assert!(!err.contains("RegexQueryError"), "{err}");
        let (code, _, err) = run(dir.path(), &["who", "alice@example.com", "-q", &query]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("too expensive"), "{err}");
    }
}
