//! A damaged frame in the middle of a stream's journal: the index holds
//! every other record, and the HTTP answers say which records could not be
//! read, only for the streams a query can match.

use std::path::PathBuf;

use serde_json::Value;
use whodid_journal::reader::JournalReader;
use whodid_journal::segment::ScannedSegment;
use whodid_model::Stream;
use whodid_query::{SearchService, ServiceConfig};

use crate::data::{fixture_records, index_all, write_journal};
use crate::http_api::{check, get_from, serve, spec};

/// The fixtures with one payload byte flipped in the middle frame of the
/// kubeaudit segment (the active one: valid frames follow), then indexed;
/// and the records that frame held.
fn damaged_dir() -> (tempfile::TempDir, PathBuf, u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    write_journal(&dir, fixture_records());
    let reader = JournalReader::open(&dir).unwrap();
    let (_, path) = reader.segments(Stream::KubeAudit).unwrap().pop().unwrap();
    let scanned = ScannedSegment::read(&path).unwrap().unwrap();
    assert!(scanned.frames.len() >= 3);
    let frame = scanned.frames[scanned.frames.len() / 2];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[frame.end - 10] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    index_all(&dir);
    let first = frame.header.first_index;
    (tmp, dir, first, first + u64::from(frame.header.count))
}

#[test]
fn answers_name_the_unreadable_records_of_the_streams_searched() {
    let (_tmp, dir, first, end) = damaged_dir();
    let addr = serve(SearchService::new(&dir, ServiceConfig::default()));
    let spec = spec();
    let (status, _, body) = get_from(addr, "/search?q=verb%3Aget&since=100000d&limit=5");
    assert_eq!(status, 200);
    let page: Value = serde_json::from_slice(&body).unwrap();
    check(&spec, &spec["components"]["schemas"]["Page"], &page, "page");
    let ranges = page["unreadable_records"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "{page}");
    assert_eq!(ranges[0]["stream"], "kubeaudit");
    assert_eq!(
        (ranges[0]["first"].as_u64(), ranges[0]["end"].as_u64()),
        (Some(first), Some(end))
    );
    assert!(
        ranges[0]["reason"].as_str().unwrap().contains("checksum"),
        "{page}"
    );
    // Every other kubeaudit record is there.
    let (_, _, body) = get_from(addr, "/search?q=stream%3Akubeaudit&since=100000d&limit=1");
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["matched"].as_u64().unwrap(), 2947 - (end - first));
    // Another stream: nothing to say.
    let (_, _, body) = get_from(addr, "/search?q=stream%3Aauthlog&since=100000d&limit=5");
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert!(page.get("unreadable_records").is_none(), "{page}");
    assert!(!page["hits"].as_array().unwrap().is_empty());
    // Aggregations and exports say it too.
    let (_, _, body) = get_from(addr, "/aggregate?field=verb&since=100000d");
    let agg: Value = serde_json::from_slice(&body).unwrap();
    check(
        &spec,
        &spec["components"]["schemas"]["Aggregation"],
        &agg,
        "agg",
    );
    assert_eq!(agg["unreadable_records"][0]["first"].as_u64(), Some(first));
    let (_, _, body) = get_from(addr, "/who/alice%40example.com?format=ndjson");
    let text = String::from_utf8(body).unwrap();
    let end_line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    check(
        &spec,
        &spec["components"]["schemas"]["ExportEnd"],
        &end_line,
        "end",
    );
    assert!(end_line["export"].get("cut").is_none(), "{end_line}");
    assert_eq!(
        end_line["export"]["unreadable_records"][0]["end"].as_u64(),
        Some(end)
    );
}
