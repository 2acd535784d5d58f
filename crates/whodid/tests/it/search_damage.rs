//! One damaged journal frame does not break search: `whodid search` and
//! `whodid who` on a data directory (not served) whose kubeaudit stream has
//! a flipped byte in the middle of a sealed segment answer with every intact
//! record, name the unreadable range (stderr, JSON, exit status 3), leave
//! other streams' answers unchanged, and keep the index they have.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use whodid_index::{IndexLayout, IndexState};
use whodid_journal::reader::{Entry, JournalReader};
use whodid_journal::segment::ScannedSegment;
use whodid_journal::JournalConfig;
use whodid_model::Stream;

use crate::search_cli::{data_dir_with, run};

/// The capture (kubeaudit, in frames of 40 records and segments of about
/// 32 KiB, left as group commit wrote them) and auth.log (authlog).
fn segmented_data_dir() -> tempfile::TempDir {
    let config = JournalConfig {
        segment_max_bytes: 32 << 10,
        compaction_level: None,
        ..JournalConfig::default()
    };
    data_dir_with(config, 40)
}

/// The (stream, seq) of every hit of an NDJSON export.
fn hits(ndjson: &str) -> BTreeSet<(String, u64)> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["stream"].as_str().unwrap().to_owned(),
                v["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Flips one payload byte of the middle frame of a sealed kubeaudit segment
/// in the middle of the stream; the records that frame held.
fn damage_a_middle_frame(dir: &Path) -> (PathBuf, u64, u64) {
    let reader = JournalReader::open(dir).unwrap();
    let segments = reader.segments(Stream::KubeAudit).unwrap();
    assert!(segments.len() >= 4, "{segments:?}");
    let (_, path) = &segments[segments.len() / 2];
    let scanned = ScannedSegment::read(path).unwrap().unwrap();
    assert!(scanned.stop.is_none());
    let frame = scanned.frames[scanned.frames.len() / 2];
    let mut bytes = std::fs::read(path).unwrap();
    bytes[frame.offset + 32 + (frame.end - frame.offset - 32) / 2] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
    let first = frame.header.first_index;
    (path.clone(), first, first + u64::from(frame.header.count))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `DATA/index` with its length and modification time
/// (not the writer lock, nor the cache of day indexes found whole, which
/// the first open after indexing writes).
fn index_files(dir: &Path) -> BTreeSet<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = BTreeSet::new();
    let mut todo = vec![IndexLayout::new(dir).root().to_owned()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            } else if entry.file_name() != "LOCK" && entry.file_name() != "checked.json" {
                out.insert((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

const EVERYTHING: [&str; 6] = ["search", "", "--since", "100000d", "-o", "ndjson"];

#[test]
fn search_and_who_answer_from_what_is_intact_and_name_the_rest() {
    let damaged = segmented_data_dir();
    let intact = tempfile::tempdir().unwrap();
    copy_dir(damaged.path(), intact.path());
    let (segment, first, end) = damage_a_middle_frame(damaged.path());

    // The reader names the damage and reads on after it.
    let reader = JournalReader::open(damaged.path()).unwrap();
    let mut iter = reader.iter_from(Stream::KubeAudit, 0).unwrap();
    let mut read_back = Vec::new();
    let mut found = Vec::new();
    while let Some(entry) = iter.next_entry() {
        match entry.unwrap() {
            Entry::Record(r) => read_back.push(r.index),
            Entry::Damaged(d) => found.push(d),
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].first, found[0].end), (first, end));
    assert_eq!(found[0].segment, segment);
    assert_eq!(read_back.len() as u64, 2947 - (end - first));

    let (code, all_intact, err) = run(intact.path(), &EVERYTHING);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(damaged.path(), &EVERYTHING);
    assert_eq!(code, 3, "{err}");
    let lost: BTreeSet<(String, u64)> = (first..end).map(|i| ("kubeaudit".into(), i)).collect();
    let expected: BTreeSet<_> = hits(&all_intact).difference(&lost).cloned().collect();
    assert_eq!(hits(&out), expected);
    let named = format!("kubeaudit records {first}..{end}");
    assert!(err.contains(&named), "{err}");
    let segment_name = segment.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(segment_name), "{err}");

    // JSON names it too.
    let (code, out, _) = run(
        damaged.path(),
        &["search", "verb:get", "--since", "100000d", "-o", "json"],
    );
    assert_eq!(code, 3);
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ranges = page["unreadable_records"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "{page}");
    assert_eq!(ranges[0]["stream"], "kubeaudit");
    assert_eq!(ranges[0]["first"], first);
    assert_eq!(ranges[0]["end"], end);
    assert_eq!(ranges[0]["segment"], segment_name);

    // who: every intact record of the person, the range named.
    let who = |dir: &Path| run(dir, &["who", "alice@example.com", "-o", "ndjson"]);
    let (code, want, _) = who(intact.path());
    assert_eq!(code, 0);
    let (code, got, err) = who(damaged.path());
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&named), "{err}");
    let want: BTreeSet<_> = hits(&want).difference(&lost).cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(hits(&got), want);

    // Another stream: the same answer, no warning, exit 0.
    let authlog = [
        "search",
        "stream:authlog",
        "--since",
        "100000d",
        "-o",
        "ndjson",
    ];
    let (_, want, _) = run(intact.path(), &authlog);
    let (code, got, err) = run(damaged.path(), &authlog);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(!hits(&want).is_empty());
    assert_eq!(got, want);

    // The range is kept with the index state, and the index is kept: later
    // searches change no index file and give the same answer.
    let state = IndexState::load(&IndexLayout::new(damaged.path()).state_file()).unwrap();
    let kept = state.unreadable(Stream::KubeAudit);
    assert_eq!((kept.len(), kept[0].first, kept[0].end), (1, first, end));
    let before = index_files(damaged.path());
    let (code, again, err) = run(damaged.path(), &EVERYTHING);
    assert_eq!(code, 3, "{err}");
    assert!(!err.contains("Rebuilt"), "{err}");
    assert_eq!(hits(&again), expected);
    assert_eq!(index_files(damaged.path()), before);
}

#[test]
fn damage_found_after_indexing_keeps_the_index() {
    // Indexed while intact, then damaged: the index is not thrown away and
    // still answers with every record (its documents hold them).
    let dir = segmented_data_dir();
    let (code, before, err) = run(dir.path(), &EVERYTHING);
    assert_eq!(code, 0, "{err}");
    let files = index_files(dir.path());
    damage_a_middle_frame(dir.path());
    let (code, after, err) = run(dir.path(), &EVERYTHING);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Rebuilt"), "{err}");
    assert_eq!(hits(&after), hits(&before));
    assert_eq!(index_files(dir.path()), files);
}

/// `whodid serve` on a kubeaudit stream with a damaged frame starts (the
/// deduplication window and resume positions read past the damage), takes
/// new events, keeps the damaged segment byte for byte, and `verify` still
/// names it.
#[test]
fn serve_starts_on_a_damaged_kubeaudit_stream_and_stores_new_events() {
    let damaged = segmented_data_dir();
    let (segment, _, _) = damage_a_middle_frame(damaged.path());
    let kept = std::fs::read(&segment).unwrap();
    let end_before = JournalReader::open(damaged.path())
        .unwrap()
        .bounds(Stream::KubeAudit)
        .unwrap()
        .1;

    let dir = tempfile::tempdir().unwrap();
    let prod = crate::server::Prod::new(damaged.path());
    let server = prod.serve(dir.path(), "", "");
    let rt = crate::server::runtime();
    let answer = prod.post(
        &rt,
        &server,
        crate::util::read("k8s/webhook/batch-00011.json"),
    );
    assert_eq!(answer.status, 200, "{}", server.log());
    server.stop();

    assert_eq!(
        std::fs::read(&segment).unwrap(),
        kept,
        "the damaged segment is kept"
    );
    let end_after = JournalReader::open(damaged.path())
        .unwrap()
        .bounds(Stream::KubeAudit)
        .unwrap()
        .1;
    assert!(end_after > end_before, "{end_before} → {end_after}");
    let out = crate::util::whodid(&["verify", "--data", damaged.path().to_str().unwrap()], b"");
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        crate::util::text(&out.stdout),
        crate::util::text(&out.stderr)
    );
    let name = segment.file_name().unwrap().to_str().unwrap();
    assert!(said.contains(name), "verify does not name {name}:\n{said}");
}
