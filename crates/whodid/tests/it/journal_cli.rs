//! `whodid serve`, `verify`, `prove`, `verify-proof`, `key show` on a real
//! data directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

use crate::util::{text, whodid};

fn journal_with_records(dir: &std::path::Path, n: u64) {
    let config = JournalConfig {
        fsync: FsyncPolicy::EveryBatch,
        segment_max_bytes: 2048,
        checkpoint_every_records: 40,
        ..JournalConfig::default()
    };
    let journal = Journal::open(dir, config).unwrap();
    for i in 0..n {
        let record = RecordInput {
            envelope: format!("{{\"i\":{i}}}").into_bytes(),
            raw: format!("{{\"auditID\":\"a-{i}\"}}").into_bytes(),
        };
        journal
            .append_wait(Stream::KubeAudit, vec![record])
            .unwrap();
    }
    journal.close().unwrap();
}

#[test]
fn verify_prove_and_verify_proof_with_only_the_key() {
    let dir = tempfile::tempdir().unwrap();
    journal_with_records(dir.path(), 130);
    let data = dir.path().to_str().unwrap();
    let out = whodid(&["verify", "--data", data], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("journal intact"));

    let key = whodid(&["key", "show", "--data", data], b"");
    let vkey = text(&key.stdout).trim().to_owned();
    assert!(vkey.starts_with("whodid-journal+"), "{vkey}");

    let proof = whodid(
        &["prove", "inclusion", "kubeaudit", "77", "--data", data],
        b"",
    );
    assert!(proof.status.success(), "{}", text(&proof.stderr));
    let checked = whodid(&["verify-proof", "-", "--key", &vkey], &proof.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
    assert!(text(&checked.stdout).contains("included: record 77"));

    // A proof for a changed record does not verify.
    let forged = text(&proof.stdout).replace("a-77", "a-78");
    let checked = whodid(&["verify-proof", "-", "--key", &vkey], forged.as_bytes());
    assert_eq!(checked.status.code(), Some(1));

    let consistency = whodid(
        &[
            "prove",
            "consistency",
            "kubeaudit",
            "40",
            "130",
            "--data",
            data,
        ],
        b"",
    );
    assert!(
        consistency.status.success(),
        "{}",
        text(&consistency.stderr)
    );
    let checked = whodid(&["verify-proof", "-", "--key", &vkey], &consistency.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));

    // Another key does not accept these proofs.
    let other = tempfile::tempdir().unwrap();
    journal_with_records(other.path(), 1);
    let other_key = text(
        &whodid(
            &["key", "show", "--data", other.path().to_str().unwrap()],
            b"",
        )
        .stdout,
    );
    let checked = whodid(
        &["verify-proof", "-", "--key", other_key.trim()],
        &proof.stdout,
    );
    assert_eq!(checked.status.code(), Some(1));
}

#[test]
fn verify_reports_tampering_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    journal_with_records(dir.path(), 130);
    let checkpoints = dir.path().join("journal/kubeaudit/checkpoints");
    let first = checkpoints.join("00000000000000000040.note");
    let edited = std::fs::read_to_string(&first)
        .unwrap()
        .replacen("\n40\n", "\n41\n", 1);
    std::fs::write(&first, edited).unwrap();
    let out = whodid(&["verify", "--data", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("PROBLEM: stream kubeaudit") && stdout.contains("bad signature"),
        "{stdout}"
    );
}

#[test]
fn serve_creates_the_key_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_whodid"))
        .args(["serve", "--init", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut printed_key = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        if let Some(key) = line.split("auditors): ").nth(1) {
            printed_key = key.trim().to_owned();
            break;
        }
    }
    assert!(!printed_key.is_empty());
    // A second server on the same directory is refused.
    let second = whodid(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(second.status.code(), Some(2));
    assert!(
        text(&second.stderr).contains("in use by another process"),
        "{}",
        text(&second.stderr)
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(status.expect("serve exits on SIGTERM").success());
    let shown = whodid(&["key", "show", "--data", data.to_str().unwrap()], b"");
    assert_eq!(text(&shown.stdout).trim(), printed_key);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("keys/journal.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_flipped_sidecar_byte_fails_verify_and_prove_still_prints_a_proof_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    journal_with_records(dir.path(), 130);
    let data = dir.path().to_str().unwrap();
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("journal/kubeaudit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "leaves"))
        .collect();
    segments.sort();
    let sidecar = &segments[0];
    let mut bytes = std::fs::read(sidecar).unwrap();
    bytes[33] ^= 1; // the second record's leaf hash
    std::fs::write(sidecar, &bytes).unwrap();

    let out = whodid(&["verify", "--data", data], b"");
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("sidecar mismatch") && report.contains("record 1:"),
        "{report}"
    );

    let key = whodid(&["key", "show", "--data", data], b"");
    let vkey = text(&key.stdout).trim().to_owned();
    // Record 0's audit path starts with record 1's leaf hash.
    let proof = whodid(
        &["prove", "inclusion", "kubeaudit", "0", "--data", data],
        b"",
    );
    assert!(proof.status.success(), "{}", text(&proof.stderr));
    assert!(
        text(&proof.stderr).contains("disagrees with its segment's records"),
        "{}",
        text(&proof.stderr)
    );
    let checked = whodid(&["verify-proof", "-", "--key", &vkey], &proof.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
    let consistency = whodid(
        &[
            "prove",
            "consistency",
            "kubeaudit",
            "40",
            "130",
            "--data",
            data,
        ],
        b"",
    );
    assert!(
        consistency.status.success(),
        "{}",
        text(&consistency.stderr)
    );
    let checked = whodid(&["verify-proof", "-", "--key", &vkey], &consistency.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
    // prove reads only: the sidecar is as it was (the writer rebuilds it).
    assert_eq!(std::fs::read(sidecar).unwrap(), bytes);
}
