//! Damage versus torn tails at open: a torn tail that nothing signed covers
//! is cut (its bytes kept in `torn/`); anything else is kept byte-for-byte,
//! recorded in a signed note, and the stream goes on in a new segment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use whodid_journal::damage::{acknowledge, damage_status, DamageKind, LeafSource};
use whodid_journal::datadir::Layout;
use whodid_journal::format::{
    decode_frame_header, FLAG_COMPACTED, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use whodid_journal::reader::JournalReader;
use whodid_journal::segment::Salvage;
use whodid_journal::verify::ProblemKind;
use whodid_journal::Journal;
use whodid_model::Stream;

use crate::common::{build, check, record, segments, small_config, verifier};

/// Every file under `journal/`, by path relative to the data directory.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(at) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &dir.join("journal"), &mut out);
    out
}

/// Nothing of `before` was lost: every segment, checkpoint and retention
/// record is still there byte-for-byte (a segment may have grown), in
/// place or moved to a `damaged/` directory. Sidecars are derived data and
/// may be rebuilt, but a changed one must have been kept aside.
pub(crate) fn assert_kept(before: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path) {
    let after = snapshot(dir);
    for (path, bytes) in before {
        if path
            .extension()
            .is_some_and(|e| e == "compact" || e == "tmp")
        {
            continue; // compaction's temporary files (removed at open)
        }
        let is_segment = path.extension().is_some_and(|e| e == "seg");
        let in_place = after.get(path).is_some_and(|now| {
            now == bytes || (is_segment && now.len() > bytes.len() && now.starts_with(bytes))
        });
        let aside = after.iter().any(|(p, b)| {
            b == bytes
                && p.components()
                    .any(|c| c.as_os_str() == "damaged" || c.as_os_str() == "torn")
        });
        let compacted = after
            .get(path)
            .is_some_and(|now| is_segment && compacted_copy(path, bytes, now));
        let sidecar_rebuilt = path.extension().is_some_and(|e| e == "leaves")
            && after
                .get(path)
                .is_some_and(|now| now.starts_with(bytes) || bytes.starts_with(now));
        assert!(
            in_place || aside || sidecar_rebuilt || compacted,
            "{} was changed or removed",
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

/// The file kept in a `damaged/` directory whose name starts with `name`.
pub(crate) fn find_kept(dir: &Path, name: &str) -> PathBuf {
    snapshot(dir)
        .into_keys()
        .find(|p| {
            p.components().any(|c| c.as_os_str() == "damaged")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(name))
        })
        .map(|p| dir.join(p))
        .unwrap_or_else(|| panic!("no kept copy of {name}"))
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// Byte offsets of the frames of a segment.
fn frame_offsets(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at);
        let header = decode_frame_header(&bytes[at..]).unwrap();
        at += FRAME_HEADER_LEN + header.payload_len as usize;
    }
    out
}

fn first_of(path: &Path) -> u64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn notes(dir: &Path) -> Vec<whodid_journal::damage::DamageStatus> {
    damage_status(&Layout::new(dir), Stream::KubeAudit, &verifier(dir))
        .unwrap()
        .records
}

/// Segments of several group-commit frames, not compacted.
fn config() -> whodid_journal::JournalConfig {
    whodid_journal::JournalConfig {
        compaction_level: None,
        ..small_config()
    }
}

/// A journal of `n` records in frames of ten, several frames per segment.
fn build_framed(dir: &Path, n: u64) {
    let journal = Journal::open(dir, config()).unwrap();
    for i in (0..n).step_by(10) {
        let batch = (i..(i + 10).min(n)).map(record).collect();
        journal.append_wait(Stream::KubeAudit, batch).unwrap();
    }
    journal.close().unwrap();
}

/// Opens, appends one record (which must get index `next`), closes.
fn reopen_and_append(dir: &Path, next: u64) {
    let journal = Journal::open(dir, small_config()).unwrap();
    let receipt = journal
        .append_wait(Stream::KubeAudit, vec![record(next)])
        .unwrap();
    assert_eq!(receipt.first_index, next);
    journal.close().unwrap();
}

#[test]
fn a_torn_tail_that_no_checkpoint_covers_is_cut_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let last = segments(dir.path()).pop().unwrap();
    let whole = std::fs::read(&last).unwrap();
    // Half a frame, as a crash in the middle of a write leaves it.
    let frame = whodid_journal::format::encode_frame(200, 1, &[record(200)]).unwrap();
    let torn = &frame[..frame.len() / 2];
    let mut bytes = whole.clone();
    bytes.extend_from_slice(torn);
    std::fs::write(&last, &bytes).unwrap();
    reopen_and_append(dir.path(), 200);
    assert!(std::fs::read(&last).unwrap().starts_with(&whole));
    let kept = dir.path().join(format!(
        "journal/kubeaudit/torn/{}.{}",
        last.file_name().unwrap().to_string_lossy(),
        whole.len()
    ));
    assert_eq!(std::fs::read(kept).unwrap(), torn);
    assert!(notes(dir.path()).is_empty(), "a torn tail is not damage");
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[test]
fn a_bad_last_frame_that_a_checkpoint_covers_is_kept_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let last = segments(dir.path()).pop().unwrap();
    let offsets = frame_offsets(&last);
    let at = *offsets.last().unwrap() + FRAME_HEADER_LEN + 3;
    flip(&last, at);
    let before = snapshot(dir.path());
    reopen_and_append(dir.path(), 200);
    assert_kept(&before, dir.path());
    assert_eq!(
        std::fs::read(&last).unwrap(),
        before[last.strip_prefix(dir.path()).unwrap()],
        "the damaged segment is never written again"
    );
    let all = segments(dir.path());
    assert_eq!(first_of(all.last().unwrap()), 200, "a new segment at 200");
    let found = notes(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    let note = &found[0].record;
    assert_eq!(note.kind, DamageKind::Segment);
    assert_eq!(note.leaves, LeafSource::Sidecar);
    assert_eq!(note.records.map(|r| r.1), Some(200));
    assert_eq!(note.bytes.0 as usize, *offsets.last().unwrap());
    // Reopening finds the same damage and records it once.
    reopen_and_append(dir.path(), 201);
    assert_eq!(notes(dir.path()).len(), 1);

    let report = check(dir.path());
    let damaged: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Damaged)
        .collect();
    assert_eq!(damaged.len(), 1, "{:?}", report.problems);
    assert_eq!(damaged[0].record, note.records.map(|r| r.0));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    // The checkpoints after the damage still verify (leaf hashes from the
    // sidecar), and proofs of the later records too.
    assert!(report.streams[&Stream::KubeAudit].checkpoints_verified >= 4);
    let reader = JournalReader::open(dir.path()).unwrap();
    let v = verifier(dir.path());
    reader
        .prove_inclusion(Stream::KubeAudit, 201, None, &v)
        .unwrap()
        .verify(&v)
        .unwrap();

    let (_, acknowledged) = acknowledge(
        dir.path(),
        Stream::KubeAudit,
        "alice",
        "bit rot, disk replaced",
    )
    .unwrap()
    .unwrap();
    assert_eq!(acknowledged.len(), 1);
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    let listed = &report.streams[&Stream::KubeAudit].damage;
    assert_eq!(listed.len(), 1);
    let ack = listed[0].ack.as_ref().unwrap();
    assert_eq!(
        (ack.by.as_str(), ack.reason.as_str()),
        ("alice", "bit rot, disk replaced")
    );
    assert!(acknowledge(dir.path(), Stream::KubeAudit, "alice", "again")
        .unwrap()
        .is_none());
}

#[test]
fn a_bad_frame_followed_by_a_valid_one_is_never_cut_even_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    // No signature covers anything now.
    for entry in std::fs::read_dir(dir.path().join("journal/kubeaudit/checkpoints")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let last = segments(dir.path()).pop().unwrap();
    let offsets = frame_offsets(&last);
    assert!(offsets.len() >= 2);
    flip(&last, offsets[0] + FRAME_HEADER_LEN + 1);
    let before = snapshot(dir.path());
    reopen_and_append(dir.path(), 200);
    assert_kept(&before, dir.path());
    let found = notes(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].record.records.map(|r| r.0), Some(first_of(&last)));
}

#[test]
fn a_bad_frame_in_a_sealed_segment_costs_that_frame_only() {
    let dir = tempfile::tempdir().unwrap();
    build_framed(dir.path(), 200);
    let sealed = segments(dir.path())[1].clone();
    let offsets = frame_offsets(&sealed);
    flip(&sealed, offsets[1] + 10);
    let before = snapshot(dir.path());
    reopen_and_append(dir.path(), 200);
    assert_kept(&before, dir.path());
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    let (first, end) = found[0].record.records.unwrap();
    assert_eq!(
        first,
        first_of(&sealed) + 10,
        "the second frame of ten records"
    );
    assert_eq!(end, first + 10);
    // The records after the damaged frame are still there, readable.
    let salvage = Salvage::read(&sealed, first_of(&sealed)).unwrap();
    let after = salvage
        .frames
        .iter()
        .find(|f| f.header.first_index == end)
        .expect("the next frame is intact");
    assert_eq!(salvage.records(after).unwrap()[0].raw, record(end).raw);
}

#[test]
fn a_damaged_segment_header_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let sealed = segments(dir.path())[2].clone();
    flip(&sealed, 13);
    let before = snapshot(dir.path());
    reopen_and_append(dir.path(), 200);
    assert_kept(&before, dir.path());
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.records, None);
    assert_eq!(found[0].record.bytes, (0, 32));
}

#[test]
fn a_changed_sidecar_is_moved_aside_and_rebuilt_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let sealed = segments(dir.path())[1].clone();
    let sidecar = sealed.with_extension("leaves");
    flip(&sidecar, 40);
    let flipped = std::fs::read(&sidecar).unwrap();
    // verify sees it before whodid starts again (proofs would fail).
    let report = check(dir.path());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::SidecarMismatch
                && p.record == Some(first_of(&sealed) + 1)),
        "{:?}",
        report.problems
    );
    reopen_and_append(dir.path(), 200);
    let kept = find_kept(dir.path(), &sidecar.file_name().unwrap().to_string_lossy());
    assert_eq!(std::fs::read(kept).unwrap(), flipped);
    assert_ne!(std::fs::read(&sidecar).unwrap(), flipped);
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.kind, DamageKind::Sidecar);
    let reader = JournalReader::open(dir.path()).unwrap();
    let v = verifier(dir.path());
    reader
        .prove_inclusion(Stream::KubeAudit, first_of(&sealed) + 1, None, &v)
        .unwrap()
        .verify(&v)
        .unwrap();
    let report = check(dir.path());
    assert_eq!(
        report.problems.iter().map(|p| p.kind).collect::<Vec<_>>(),
        vec![ProblemKind::Damaged],
        "{:?}",
        report.problems
    );
}

#[test]
fn a_segment_and_its_sidecar_both_damaged_stop_that_stream_only() {
    let dir = tempfile::tempdir().unwrap();
    build_framed(dir.path(), 200);
    let sealed = segments(dir.path())[1].clone();
    let offsets = frame_offsets(&sealed);
    flip(&sealed, offsets[1] + 10);
    let sidecar = sealed.with_extension("leaves");
    // The sidecar lost the damaged frame's leaf hashes too.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sidecar)
        .unwrap()
        .set_len(32 * 10)
        .unwrap();
    let before = snapshot(dir.path());
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let err = journal
        .append_wait(Stream::KubeAudit, vec![record(200)])
        .unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    journal
        .append_wait(Stream::PgAudit, vec![record(0)])
        .unwrap();
    journal.close().unwrap();
    let after = snapshot(dir.path());
    for (path, bytes) in &before {
        assert_eq!(after.get(path), Some(bytes), "{} unchanged", path.display());
    }
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.leaves, LeafSource::Unknown);
    assert!(found[0].record.detail.contains("stopped"));
}

#[test]
fn a_retention_record_with_a_damaged_signature_is_used_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal
        .apply_retention(BTreeMap::from([(
            Stream::KubeAudit,
            whodid_journal::retention::RetentionPolicy {
                max_segments: Some(3),
                ..Default::default()
            },
        )]))
        .unwrap();
    journal.close().unwrap();
    drop(journal);
    let note = std::fs::read_dir(dir.path().join("journal/kubeaudit/retention"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&note).unwrap().len() as usize;
    flip(&note, len - 5);
    let before = snapshot(dir.path());
    reopen_and_append(dir.path(), 300);
    assert_kept(&before, dir.path());
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.kind, DamageKind::Retention);
}

#[test]
fn a_removed_middle_segment_stops_that_stream_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let all = segments(dir.path());
    std::fs::remove_file(&all[1]).unwrap();
    std::fs::remove_file(all[1].with_extension("leaves")).unwrap();
    let before = snapshot(dir.path());
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let err = journal
        .append_wait(Stream::KubeAudit, vec![record(200)])
        .unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    journal.append_wait(Stream::App, vec![record(0)]).unwrap();
    journal.close().unwrap();
    drop(journal);
    let after = snapshot(dir.path());
    for (path, bytes) in &before {
        assert_eq!(after.get(path), Some(bytes), "{} unchanged", path.display());
    }
    let found = notes(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].record.records,
        Some((first_of(&all[1]), first_of(&all[2])))
    );
    let report = check(dir.path());
    let damaged: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Damaged)
        .collect();
    assert_eq!(damaged.len(), 1, "{:?}", report.problems);
    assert!(
        damaged[0].detail.contains("unknown") && damaged[0].detail.contains("stopped"),
        "{:?}",
        damaged[0]
    );
}

#[test]
fn retention_keeps_a_damaged_segment_until_its_damage_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    build_framed(dir.path(), 200);
    let oldest = segments(dir.path())[0].clone();
    flip(&oldest, frame_offsets(&oldest)[1] + 12);
    let keep_two = || {
        BTreeMap::from([(
            Stream::KubeAudit,
            whodid_journal::retention::RetentionPolicy {
                max_segments: Some(2),
                ..Default::default()
            },
        )])
    };
    let journal = Journal::open(dir.path(), config()).unwrap();
    let outcome = journal.apply_retention(keep_two()).unwrap();
    assert_eq!(outcome[&Stream::KubeAudit].removed, None);
    journal.close().unwrap();
    drop(journal);
    assert!(oldest.try_exists().unwrap(), "the damaged segment is kept");

    acknowledge(dir.path(), Stream::KubeAudit, "alice", "restored elsewhere")
        .unwrap()
        .unwrap();
    let journal = Journal::open(dir.path(), config()).unwrap();
    let outcome = journal.apply_retention(keep_two()).unwrap();
    assert_eq!(outcome[&Stream::KubeAudit].removed.map(|r| r.0), Some(0));
    journal
        .append_wait(Stream::KubeAudit, vec![record(200)])
        .unwrap();
    journal.close().unwrap();
    drop(journal);
    assert!(!oldest.try_exists().unwrap());
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
}
