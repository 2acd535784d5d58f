//! Damaged index files: a flipped byte in, or a cut-off copy of, every kind
//! of file under `DATA/index` (tantivy's files of a day index, the state,
//! the writer lock, the checked-days cache). Once the index is opened again
//! (as `whodid search` and `whodid serve` do) every query gives the answers
//! it gave before the damage, and a damaged day index is rebuilt alone, not
//! its whole stream.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use whodid_index::{IndexConfig, IndexLayout, Indexer, Repair};
use whodid_model::Stream;
use whodid_query::{AggregateKind, AggregateRequest, SearchRequest, SearchService, ServiceConfig};

use crate::data::{fixture_dir, ALL_TIME};

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

/// What the queries answer: every hit (stream, seq) of a few searches, a
/// timeline, and an aggregation.
fn answers(dir: &Path) -> Vec<String> {
    let service = SearchService::new(dir, ServiceConfig::default());
    let mut out = Vec::new();
    for query in [
        "",
        "verb:get",
        "stream:authlog",
        "*admin*",
        "responseStatus.code >= 400",
    ] {
        let mut cursor = None;
        let mut seqs = Vec::new();
        loop {
            let page = service
                .search(&SearchRequest {
                    query: query.to_owned(),
                    range: ALL_TIME,
                    limit: 1000,
                    cursor: cursor.take(),
                    count: true,
                })
                .unwrap();
            assert!(page.unreadable.is_empty(), "{:?}", page.unreadable);
            seqs.extend(page.hits.iter().map(|h| format!("{}/{}", h.stream, h.seq)));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out.push(format!("{query}: {} {}", seqs.len(), seqs.join(",")));
    }
    let who = service
        .who(
            "alice@example.com",
            "",
            &SearchRequest {
                query: String::new(),
                range: ALL_TIME,
                limit: 1000,
                cursor: None,
                count: true,
            },
        )
        .unwrap();
    out.push(format!(
        "who: {:?}",
        who.hits
            .iter()
            .map(|h| (&h.stream, h.seq, &h.mark))
            .collect::<Vec<_>>()
    ));
    let top = service
        .aggregate(&AggregateRequest {
            query: String::new(),
            range: ALL_TIME,
            kind: AggregateKind::Terms {
                field: "verb".into(),
                size: 20,
            },
        })
        .unwrap();
    out.push(format!("top: {} {:?}", top.matched, top.buckets));
    out
}

/// One file of each kind under `DATA/index`: tantivy's by extension (one
/// day index of kubeaudit), and the files of the index root.
fn one_of_each_kind(dir: &Path) -> BTreeMap<String, PathBuf> {
    let layout = IndexLayout::new(dir);
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(layout.root()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            kinds.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                path,
            );
        }
    }
    let (stream, day) = layout
        .days()
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == Stream::KubeAudit)
        .unwrap();
    for entry in std::fs::read_dir(layout.day_dir(stream, day)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let kind = match name.rsplit_once('.') {
            Some((stem, ext)) if stem.len() == 32 => format!("segment .{ext}"),
            _ => name,
        };
        if std::fs::metadata(&path).unwrap().len() > 0 {
            kinds.entry(kind).or_insert(path);
        }
    }
    kinds
}

fn reopen(dir: &Path) -> Vec<Repair> {
    let mut indexer = Indexer::open(dir, IndexConfig::default()).unwrap();
    let repairs = indexer.repairs().to_vec();
    indexer.catch_up(&mut |_| {}).unwrap();
    indexer.close().unwrap();
    repairs
}

#[test]
fn every_index_file_flipped_or_cut_gives_the_same_answers() {
    let pristine = fixture_dir();
    // The fixture's state and checked-days cache are written by the first open.
    let base = tempfile::tempdir().unwrap();
    let base_dir = base.path().join("data");
    copy_dir(pristine, &base_dir);
    reopen(&base_dir);
    let want = answers(&base_dir);
    let kinds = one_of_each_kind(&base_dir);
    for required in [
        "state.json",
        "checked.json",
        "meta.json",
        "segment .store",
        "segment .term",
        "segment .idx",
        "segment .fast",
    ] {
        assert!(kinds.contains_key(required), "{required}: {kinds:?}");
    }
    for (kind, path) in &kinds {
        let relative = path.strip_prefix(&base_dir).unwrap();
        for how in ["flip", "cut"] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("data");
            copy_dir(&base_dir, &dir);
            let target = dir.join(relative);
            let mut bytes = std::fs::read(&target).unwrap();
            if how == "flip" {
                let at = bytes.len() / 2;
                bytes[at] ^= 0x10;
            } else {
                bytes.truncate(bytes.len() / 2);
            }
            std::fs::write(&target, &bytes).unwrap();
            let repairs = reopen(&dir);
            assert!(
                !repairs.iter().any(|r| matches!(r, Repair::Rebuilt { .. })),
                "{how} {kind}: a whole stream rebuilt: {repairs:?}"
            );
            assert_eq!(answers(&dir), want, "{how} {kind}: {repairs:?}");
        }
    }
}
