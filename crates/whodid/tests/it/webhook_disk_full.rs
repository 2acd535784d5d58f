//! A full disk under a running `whodid serve`: the webhook answers 503 with
//! `Retry-After` (never 200, no hang, no crash) while the journal cannot
//! make events durable, answers 200 again once space returns, and every
//! batch answered 200 is stored exactly once.
//!
//! The data directory is a small tmpfs mounted by the test, so it needs
//! root (CAP_SYS_ADMIN), as the tests have here and in CI; without it the
//! test fails saying so.

use std::collections::BTreeMap;

use whodid_model::Stream;
use whodid_server::client::Answer;
use whodid_testkit::tmpfs::{fill, Tmpfs};

use crate::server::{identity_of, records, runtime, Prod, Server};
use crate::util::{text, whodid};
use crate::webhook_replay::{items, webhook_bodies};

/// The events of a body, by (auditID, stage).
fn identities(body: &[u8]) -> Vec<(String, String)> {
    items(body).iter().map(|i| identity_of(i)).collect()
}

/// 503 with `Retry-After`, and a body that `says` why.
fn assert_refused_for_space(answer: &Answer, server: &Server, what: &str, says: &str) {
    assert_eq!(
        answer.status,
        503,
        "{what}: {}\n{}",
        text(&answer.body),
        server.log()
    );
    assert_eq!(
        answer.retry_after.as_deref(),
        Some("10"),
        "{what}: 503 with Retry-After"
    );
    assert!(
        text(&answer.body).contains(says),
        "{what}: {}",
        text(&answer.body)
    );
}

fn assert_stored(answer: &Answer, server: &Server, what: &str) -> serde_json::Value {
    assert_eq!(
        answer.status,
        200,
        "{what}: {}\n{}",
        text(&answer.body),
        server.log()
    );
    serde_json::from_slice(&answer.body).unwrap()
}

#[test]
fn a_full_disk_answers_503_and_recovers_when_space_returns_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(&dir.path().join("fs"), 48);
    let data = tmpfs.path().join("data");
    let filler = tmpfs.path().join("filler");
    let prod = Prod::new(&data);
    let bodies: Vec<Vec<u8>> = webhook_bodies().into_iter().map(|(_, b)| b).collect();
    let rt = runtime();
    // Acknowledged event → times stored (checked at the end).
    let mut acked: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut ack = |body: &[u8]| {
        for key in identities(body) {
            acked.entry(key).or_insert(0);
        }
    };

    // No reserve: the writes themselves fail with ENOSPC.
    let settings = "journal:\n  fsync: batch\n  min_free_bytes: 0\n";
    let server = prod.serve(dir.path(), settings, "");
    // Full before the stream's first segment exists.
    fill(&filler);
    let answer = prod.post(&rt, &server, bodies[0].clone());
    let full = "No space left on device";
    assert_refused_for_space(&answer, &server, "first batch, disk full", full);
    let metrics = text(&prod.get(&rt, &server, "/metrics").body);
    assert!(
        metrics
            .contains(r#"whodid_requests_rejected_total{cluster="prod",reason="storage_full"} 1"#),
        "{metrics}"
    );
    // Space again: the same batch, as the apiserver retries it.
    std::fs::remove_file(&filler).unwrap();
    let stored = assert_stored(
        &prod.post(&rt, &server, bodies[0].clone()),
        &server,
        "first batch, space again",
    );
    assert_eq!(stored["deduplicated"], 0, "the refused batch was not kept");
    ack(&bodies[0]);
    assert_stored(
        &prod.post(&rt, &server, bodies[1].clone()),
        &server,
        "second batch",
    );
    ack(&bodies[1]);

    // Full with a segment open: refused, and the segment is not harmed.
    fill(&filler);
    for body in &bodies[2..4] {
        let answer = prod.post(&rt, &server, body.clone());
        assert_refused_for_space(&answer, &server, "disk full", full);
    }
    std::fs::remove_file(&filler).unwrap();
    for body in &bodies[2..4] {
        let stored = assert_stored(&prod.post(&rt, &server, body.clone()), &server, "retry");
        assert_eq!(stored["deduplicated"], 0);
        ack(body);
    }
    let again = assert_stored(
        &prod.post(&rt, &server, bodies[1].clone()),
        &server,
        "a retry of a stored batch",
    );
    assert_eq!(again["accepted"], 0, "stored once: {again}");
    server.stop();

    // With a reserve: refused while free space is below it, and the
    // checkpoint at shutdown still has room.
    let settings = "journal:\n  fsync: batch\n  min_free_bytes: 16777216\n";
    let server = prod.serve(dir.path(), settings, "");
    fill(&filler);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - (8 << 20)).unwrap();
    drop(file);
    let answer = prod.post(&rt, &server, bodies[4].clone());
    assert_refused_for_space(
        &answer,
        &server,
        "below the reserve",
        "below the reserve of 16777216 bytes",
    );
    server.stop();
    std::fs::remove_file(&filler).unwrap();
    let server = prod.serve(dir.path(), settings, "");
    assert_stored(
        &prod.post(&rt, &server, bodies[4].clone()),
        &server,
        "above the reserve again",
    );
    ack(&bodies[4]);
    server.stop();

    for (_, raw) in records(&data, Stream::KubeAudit) {
        let key = identity_of(&raw);
        let count = acked
            .get_mut(&key)
            .unwrap_or_else(|| panic!("stored but never acknowledged: {key:?}"));
        *count += 1;
    }
    let wrong: Vec<_> = acked.iter().filter(|(_, &n)| n != 1).collect();
    assert!(wrong.is_empty(), "not stored exactly once: {wrong:?}");
    let verify = whodid(&["verify", "--data", data.to_str().unwrap()], b"");
    assert!(
        verify.status.success(),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
}
