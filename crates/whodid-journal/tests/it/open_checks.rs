//! Opening a journal that was changed while whodid was not running: the
//! writer refuses, rather than sign new checkpoints over the change.

use whodid_journal::verify::ProblemKind;
use whodid_journal::{Journal, JournalError};
use whodid_model::Stream;

use crate::common::{build, check, record, segments, small_config};

#[test]
fn a_rewritten_segment_with_a_matching_sidecar_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let victim = segments(dir.path())[1].clone();
    crate::tamper::rewrite_first_frame(&victim, true, |records| {
        records[0].raw = b"{\"forged\":true}".to_vec()
    });
    let err = Journal::open(dir.path(), small_config()).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::CheckpointMismatch {
                stream: Stream::KubeAudit,
                size: 200,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("whodid verify"), "{err}");
}

#[test]
fn records_cut_below_a_signed_checkpoint_stop_the_stream_not_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let last = segments(dir.path()).last().unwrap().clone();
    std::fs::remove_file(&last).unwrap();
    std::fs::remove_file(last.with_extension("leaves")).unwrap();
    let before = crate::damage::snapshot(dir.path());
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    // The stream whose tree is unknown takes nothing; the others go on.
    let err = journal
        .append_wait(Stream::KubeAudit, vec![record(200)])
        .unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    journal
        .append_wait(Stream::AuthLog, vec![record(0)])
        .unwrap();
    journal.close().unwrap();
    // Nothing of the stream was changed or removed; the damage is recorded.
    crate::damage::assert_kept(&before, dir.path());
    let report = check(dir.path());
    assert!(!report.is_intact());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::Damaged),
        "{:?}",
        report.problems
    );
}

#[test]
fn an_edited_latest_checkpoint_is_moved_aside_and_the_previous_one_used() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60);
    let path = dir
        .path()
        .join("journal/kubeaudit/checkpoints/00000000000000000060.note");
    let note = std::fs::read_to_string(&path).unwrap();
    let edited = note.replacen("\n60\n", "\n61\n", 1);
    std::fs::write(&path, &edited).unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal
        .append_wait(Stream::KubeAudit, vec![record(60)])
        .unwrap();
    journal.close().unwrap();
    let kept = crate::damage::find_kept(dir.path(), "00000000000000000060.note");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), edited);
    let report = check(dir.path());
    let text = format!("{:?}", report.problems);
    assert!(
        text.contains("checkpoints/00000000000000000060.note"),
        "{text}"
    );
}

#[test]
fn appends_after_close_and_callbacks_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    journal
        .append_with(Stream::App, vec![record(0), record(1)], move |result| {
            tx.send(result).unwrap();
        })
        .unwrap();
    let receipt = rx.recv().unwrap().unwrap();
    assert_eq!((receipt.first_index, receipt.count), (0, 2));
    let ticket = journal.append(Stream::App, vec![record(2)]).unwrap();
    let receipt = loop {
        if let Some(answer) = ticket.try_wait() {
            break answer.unwrap();
        }
        std::thread::yield_now();
    };
    assert_eq!(receipt.first_index, 2);
    journal.close().unwrap();
    let err = journal.append(Stream::App, vec![record(3)]).unwrap_err();
    assert!(matches!(err, JournalError::Closed), "{err}");
}

#[test]
fn proofs_come_from_the_sidecars_and_survive_a_lost_one() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let all = segments(dir.path());
    let reader = whodid_journal::reader::JournalReader::open(dir.path()).unwrap();
    let v = crate::common::verifier(dir.path());
    let first_of_second: u64 = all[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A lost sidecar: the segment's records are hashed instead.
    std::fs::remove_file(all[1].with_extension("leaves")).unwrap();
    reader
        .prove_inclusion(Stream::KubeAudit, first_of_second, None, &v)
        .unwrap()
        .verify(&v)
        .unwrap();
    // A wrong sidecar gives a proof that does not verify: sidecars are
    // never trusted, only the signed root is.
    let sidecar = all[0].with_extension("leaves");
    let mut bytes = std::fs::read(&sidecar).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&sidecar, bytes).unwrap();
    let proof = reader
        .prove_inclusion(Stream::KubeAudit, 199, None, &v)
        .unwrap();
    assert!(proof.verify(&v).is_err());
    assert_eq!(
        reader.read(Stream::KubeAudit, 150).unwrap().raw,
        record(150).raw
    );
}

#[test]
fn an_active_sidecar_left_short_by_a_crash_is_rebuilt_at_open() {
    // Group commit fsyncs the segment only: after a crash the active
    // segment's sidecar may hold fewer hashes than the segment has records
    // (or be missing). Opening rebuilds it, and proofs over those records
    // verify against checkpoints signed afterwards.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 200);
    let last = segments(dir.path()).pop().unwrap();
    let sidecar = last.with_extension("leaves");
    let whole = std::fs::read(&sidecar).unwrap();
    assert!(
        whole.len() >= 64,
        "the last segment holds at least two records"
    );
    for short in [whole.len() - 32, 0] {
        std::fs::write(&sidecar, &whole[..short]).unwrap();
        let journal = Journal::open(dir.path(), small_config()).unwrap();
        assert_eq!(std::fs::read(&sidecar).unwrap(), whole, "rebuilt at open");
        journal.close().unwrap();
    }
    std::fs::remove_file(&sidecar).unwrap();
    let journal = Journal::open(dir.path(), small_config()).unwrap();
    journal
        .append_wait(Stream::KubeAudit, vec![record(200)])
        .unwrap();
    journal.close().unwrap();
    let reader = whodid_journal::reader::JournalReader::open(dir.path()).unwrap();
    let v = crate::common::verifier(dir.path());
    for index in [199, 200] {
        reader
            .prove_inclusion(Stream::KubeAudit, index, None, &v)
            .unwrap()
            .verify(&v)
            .unwrap();
    }
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
}
