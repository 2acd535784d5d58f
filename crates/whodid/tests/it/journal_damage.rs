//! One damaged or truncated file of every journal kind — segment header, a
//! middle frame, the last frame, a compacted frame, sidecar, checkpoint,
//! retention record — then the real `whodid serve` and `whodid ingest`:
//! nothing a checkpoint covers is removed, the damaged file is kept
//! byte-for-byte, ingest goes on, and `verify` names the damage (stream,
//! file, records) until `whodid journal acknowledge-damage`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use whodid_journal::format::{
    decode_frame_header, decode_segment_header, RecordInput, FLAG_COMPACTED, FRAME_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use whodid_journal::reader::JournalReader;
use whodid_journal::retention::RetentionPolicy;
use whodid_journal::segment::Salvage;
use whodid_journal::{Journal, JournalConfig};
use whodid_model::Stream;

use crate::server::Server;
use crate::util::{testdata, text, whodid};

const AUTH_LOG: &str = "ssh/auth.log";

/// Real authlog records: `whodid ingest` of the sshd fixture.
fn real_records() -> Vec<RecordInput> {
    let dir = tempfile::tempdir().unwrap();
    let log = testdata(AUTH_LOG);
    let out = whodid(
        &[
            "ingest",
            "--init",
            "--stream",
            "authlog",
            "--data",
            dir.path().to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reader = JournalReader::open(dir.path()).unwrap();
    reader
        .iter_from(Stream::AuthLog, 0)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            RecordInput {
                envelope: r.envelope,
                raw: r.raw,
            }
        })
        .collect()
}

fn segments(data: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(data.join("journal/authlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    found.sort();
    found
}

fn compacted(path: &Path) -> bool {
    decode_segment_header(&std::fs::read(path).unwrap())
        .is_ok_and(|h| h.flags & FLAG_COMPACTED != 0)
}

/// An authlog stream of several small segments, the oldest removed by
/// retention, sealed segments compacted and not, checkpoints.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let records = real_records();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = JournalConfig {
        segment_max_bytes: 6 << 10,
        checkpoint_every_records: 50,
        compaction_level: Some(5),
        ..JournalConfig::default()
    };
    let mut n = 0;
    let mut fill = |journal: &Journal, segments_wanted: usize| {
        while segments(&data).len() < segments_wanted {
            let batch: Vec<RecordInput> = (0..7)
                .map(|i| records[(n + i) % records.len()].clone())
                .collect();
            n += batch.len();
            journal.append_wait(Stream::AuthLog, batch).unwrap();
        }
    };
    let journal = Journal::open(&data, config.clone()).unwrap();
    fill(&journal, 4);
    // Compaction works in the background: wait for every sealed segment.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = segments(&data);
        if all[..all.len() - 1].iter().all(|p| compacted(p)) {
            break;
        }
        assert!(Instant::now() < deadline, "compaction did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    journal.checkpoint().unwrap();
    journal
        .apply_retention(BTreeMap::from([(
            Stream::AuthLog,
            RetentionPolicy {
                max_segments: Some(3),
                ..RetentionPolicy::default()
            },
        )]))
        .unwrap();
    journal.close().unwrap();
    drop(journal);
    // Two more sealed segments, not compacted.
    let plain = JournalConfig {
        compaction_level: None,
        ..config
    };
    let journal = Journal::open(&data, plain).unwrap();
    fill(&journal, 5);
    journal.close().unwrap();
    drop(journal);
    (dir, data)
}

/// Every file under `journal/` by path relative to the data directory.
fn snapshot(data: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![data.join("journal")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path
                .extension()
                .is_some_and(|e| e == "compact" || e == "tmp")
            {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(data).unwrap().to_owned(), bytes);
            }
        }
    }
    out
}

/// Nothing of `before` is lost: each segment, checkpoint, retention
/// record is there as it was (a segment may have grown) or kept in a
/// `damaged/` or `torn/` directory; a sidecar may have been rebuilt.
fn assert_kept(before: &BTreeMap<PathBuf, Vec<u8>>, data: &Path, when: &str) {
    let after = snapshot(data);
    for (path, bytes) in before {
        let grown = |now: &Vec<u8>| {
            now == bytes || (path.extension().is_some_and(|e| e == "seg") && now.starts_with(bytes))
        };
        let aside = || {
            after
                .iter()
                .any(|(p, b)| b == bytes && p.iter().any(|c| c == "damaged" || c == "torn"))
        };
        let rebuilt = path.extension().is_some_and(|e| e == "leaves") && after.contains_key(path);
        let compacted = || {
            after
                .get(path)
                .is_some_and(|now| compacted_copy(path, bytes, now))
        };
        assert!(
            after.get(path).is_some_and(grown) || aside() || rebuilt || compacted(),
            "{when}: {} was changed or removed",
            path.display()
        );
    }
}

/// True when `now` is `before` rewritten by compaction: whole, flagged
/// compacted, the same records.
fn compacted_copy(path: &Path, before: &[u8], now: &[u8]) -> bool {
    let Some(first) = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    let records = |bytes: &[u8]| {
        let salvage = Salvage::scan(bytes.to_vec(), first);
        let all: Vec<_> = salvage
            .frames
            .iter()
            .flat_map(|f| salvage.records(f).unwrap_or_default())
            .map(|r| (r.index, r.envelope, r.raw))
            .collect();
        (salvage.is_whole(), salvage.flags, all)
    };
    let (whole_before, _, old) = records(before);
    let (whole_now, flags, new) = records(now);
    whole_before && whole_now && flags.is_some_and(|f| f & FLAG_COMPACTED != 0) && old == new
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path, len: usize) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len as u64)
        .unwrap();
}

fn frame_offsets(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at);
        at += FRAME_HEADER_LEN + decode_frame_header(&bytes[at..]).unwrap().payload_len as usize;
    }
    out
}

fn latest(dir: &Path) -> PathBuf {
    let mut notes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "note"))
        .collect();
    notes.sort();
    notes.pop().unwrap()
}

/// Damages one file of a fresh fixture with `damage`, then runs serve,
/// ingest, verify, acknowledge, verify. `names` must appear in verify's
/// report of the damage.
fn case(damage: impl FnOnce(&Path) -> PathBuf, names: &[&str]) {
    let (dir, data) = fixture();
    let signed = JournalReader::open(&data)
        .unwrap()
        .latest_checkpoint_size(Stream::AuthLog)
        .unwrap();
    let damaged = damage(&data);
    let damaged_bytes = std::fs::read(&damaged).unwrap();
    let before = snapshot(&data);

    let yaml = format!("data: {}\nindex:\n  enabled: false\n", data.display());
    let server = Server::start(dir.path(), &yaml);
    server.stop();
    assert_kept(&before, &data, "after serve");

    let log = testdata(AUTH_LOG);
    let out = whodid(
        &[
            "ingest",
            "--stream",
            "authlog",
            "--data",
            data.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "ingest: {}", text(&out.stderr));
    assert_kept(&before, &data, "after ingest");
    let kept = snapshot(&data)
        .into_iter()
        .any(|(_, bytes)| bytes == damaged_bytes);
    assert!(kept, "the damaged file is kept byte-for-byte");
    let end = JournalReader::open(&data)
        .unwrap()
        .latest_checkpoint_size(Stream::AuthLog)
        .unwrap();
    assert!(
        end > signed,
        "new events stored and signed ({signed} → {end})"
    );

    let data_arg = data.to_str().unwrap();
    let out = whodid(&["verify", "--data", data_arg], b"");
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    for name in names {
        assert!(report.contains(name), "verify names {name}:\n{report}");
    }
    assert!(report.contains("PROBLEM: stream authlog"), "{report}");

    let out = whodid(
        &[
            "journal",
            "acknowledge-damage",
            "--data",
            data_arg,
            "--stream",
            "authlog",
            "--reason",
            "disk replaced",
            "--by",
            "alice",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = whodid(&["verify", "--data", data_arg], b"");
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("acknowledged damage")
            && report.contains("by alice")
            && report.contains("disk replaced"),
        "{report}"
    );
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The oldest sealed segment that is compacted, and one that is not.
fn sealed(data: &Path, want_compacted: bool) -> PathBuf {
    let all = segments(data);
    all[..all.len() - 1]
        .iter()
        .find(|p| compacted(p) == want_compacted && frame_offsets(p).len() >= 2)
        .or_else(|| {
            all[..all.len() - 1]
                .iter()
                .find(|p| compacted(p) == want_compacted)
        })
        .cloned()
        .expect("such a segment")
}

#[test]
fn segment_header_flipped() {
    let mut file = String::new();
    case(
        |data| {
            let path = sealed(data, true);
            flip(&path, 13);
            file = name(&path);
            path
        },
        &["segment header damaged"],
    );
    assert!(!file.is_empty());
}

#[test]
fn segment_header_truncated() {
    case(
        |data| {
            let path = sealed(data, true);
            truncate(&path, 20);
            path
        },
        &["unreadable"],
    );
}

#[test]
fn middle_frame_flipped() {
    case(
        |data| {
            let path = sealed(data, false);
            let offsets = frame_offsets(&path);
            flip(&path, offsets[1] + FRAME_HEADER_LEN + 2);
            path
        },
        &["unreadable", "records"],
    );
}

#[test]
fn middle_frame_truncated() {
    case(
        |data| {
            let path = sealed(data, false);
            let offsets = frame_offsets(&path);
            truncate(&path, offsets[1] + 40);
            path
        },
        &["unreadable"],
    );
}

#[test]
fn last_frame_flipped() {
    case(
        |data| {
            let path = segments(data).pop().unwrap();
            let offsets = frame_offsets(&path);
            flip(&path, *offsets.last().unwrap() + FRAME_HEADER_LEN + 5);
            path
        },
        &["unreadable", "records"],
    );
}

#[test]
fn last_frame_truncated() {
    case(
        |data| {
            let path = segments(data).pop().unwrap();
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len - 10);
            path
        },
        &["unreadable"],
    );
}

#[test]
fn compacted_frame_flipped() {
    case(
        |data| {
            let path = sealed(data, true);
            let offsets = frame_offsets(&path);
            flip(&path, offsets[0] + FRAME_HEADER_LEN + 100);
            path
        },
        &["unreadable", "records"],
    );
}

#[test]
fn compacted_frame_truncated() {
    case(
        |data| {
            let path = sealed(data, true);
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len / 2);
            path
        },
        &["unreadable"],
    );
}

#[test]
fn sidecar_flipped() {
    case(
        |data| {
            let path = sealed(data, true).with_extension("leaves");
            flip(&path, 70);
            path
        },
        &["sidecar", ".leaves"],
    );
}

#[test]
fn sidecar_truncated() {
    case(
        |data| {
            let path = sealed(data, false).with_extension("leaves");
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len - 96);
            path
        },
        &["sidecar", ".leaves"],
    );
}

#[test]
fn checkpoint_flipped() {
    case(
        |data| {
            let path = latest(&data.join("journal/authlog/checkpoints"));
            flip(&path, 20);
            path
        },
        &["checkpoint", "checkpoints/"],
    );
}

#[test]
fn checkpoint_truncated() {
    case(
        |data| {
            let path = latest(&data.join("journal/authlog/checkpoints"));
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len / 2);
            path
        },
        &["checkpoint", "checkpoints/"],
    );
}

#[test]
fn retention_record_flipped() {
    case(
        |data| {
            let path = latest(&data.join("journal/authlog/retention"));
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            flip(&path, len - 8);
            path
        },
        &["retention", "retention/"],
    );
}

#[test]
fn retention_record_truncated() {
    case(
        |data| {
            let path = latest(&data.join("journal/authlog/retention"));
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len - 30);
            path
        },
        &["retention", "retention/"],
    );
}
