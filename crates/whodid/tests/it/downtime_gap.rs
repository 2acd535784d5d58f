//! whodid's own downtime is a gap: stopped (SIGTERM) or killed (kill -9)
//! for longer than `downtime.gap_after`, the next `serve` stores a gap
//! record per cluster whose range covers the outage; a restart within the
//! budget stores none.

use std::time::Duration;

use jiff::Timestamp;
use whodid_model::Stream;

use crate::server::{records, Prod};

/// The `whodid-not-running` gap records of `data`: (cluster, from, to).
fn downtime_gaps(data: &std::path::Path) -> Vec<(String, Timestamp, Timestamp)> {
    records(data, Stream::KubeAudit)
        .into_iter()
        .filter(|(e, _)| e.action == "whodid.gap")
        .filter_map(|(e, raw)| {
            let gap: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            (gap["reason"] == "whodid-not-running").then(|| {
                assert_eq!(gap["source"], format!("webhook:{}", e.cluster));
                let detail = gap["detail"].as_str().unwrap();
                assert!(detail.contains("whodid was not running from"), "{detail}");
                assert!(detail.contains("may have dropped events"), "{detail}");
                (
                    e.cluster,
                    gap["from"].as_str().unwrap().parse().unwrap(),
                    gap["to"].as_str().unwrap().parse().unwrap(),
                )
            })
        })
        .collect()
}

/// Sleeps past the configured budget of one second.
fn past_the_budget() {
    std::thread::sleep(Duration::from_millis(1500));
}

#[test]
fn a_stop_or_a_kill_longer_than_the_budget_is_a_gap_per_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let settings = "downtime: {gap_after: 1s, heartbeat: 100ms}\n";
    let start = || prod.serve(dir.path(), settings, "");
    // A first start on a new directory: nothing to report.
    let server = start();
    assert!(downtime_gaps_while_running(&server).is_empty());
    let before_stop = Timestamp::now();
    server.stop();
    let stopped = Timestamp::now();
    past_the_budget();
    let restarted = Timestamp::now();
    let server = start();
    let up = Timestamp::now();
    // The heartbeat runs every 100 ms: let some be written.
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    let killed = Timestamp::now();
    past_the_budget();
    let restarted_again = Timestamp::now();
    let server = start();
    let up_again = Timestamp::now();
    server.stop();

    let gaps = downtime_gaps(&prod.data);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    let (cluster, from, to) = &gaps[0];
    assert_eq!(cluster, "prod");
    // The clean stop: from the stop to the restart.
    assert!(
        before_stop <= *from && *from <= stopped,
        "{from} not in [{before_stop}, {stopped}]"
    );
    assert!(
        restarted <= *to && *to <= up,
        "{to} not in [{restarted}, {up}]"
    );
    // The kill: from the last heartbeat (while it ran, so no later than
    // the kill), to the restart.
    let (_, from, to) = &gaps[1];
    assert!(
        restarted <= *from && *from <= killed,
        "{from} not in [{restarted}, {killed}]"
    );
    assert!(
        restarted_again <= *to && *to <= up_again,
        "{to} not in [{restarted_again}, {up_again}]"
    );
}

/// Gap records stored so far cannot be read while the server holds the
/// journal open for writing; a new directory has none to read.
fn downtime_gaps_while_running(server: &crate::server::Server) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|l| l.starts_with("whodid: was not running"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_cluster_gets_the_gap_and_a_quick_restart_stores_none() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let quick = "downtime: {gap_after: 1h, heartbeat: 100ms}\n";
    let server = prod.serve(dir.path(), quick, "");
    server.stop();
    let server = prod.serve(dir.path(), quick, "");
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    let server = prod.serve(dir.path(), quick, "");
    server.stop();
    assert!(downtime_gaps(&prod.data).is_empty());

    // Two clusters, a budget of one second: one gap each, same range.
    past_the_budget();
    let two = "downtime: {gap_after: 1s, heartbeat: 100ms}\nclusters:\n  - name: staging\n";
    let server = crate::server::Server::start(
        dir.path(),
        &format!("data: {}\n{two}  - name: prod\n", prod.data.display()),
    );
    assert_eq!(
        downtime_gaps_while_running(&server).len(),
        1,
        "{}",
        server.log()
    );
    server.stop();
    let gaps = downtime_gaps(&prod.data);
    let clusters: Vec<&str> = gaps.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(clusters, ["staging", "prod"], "{gaps:?}");
    assert_eq!((gaps[0].1, gaps[0].2), (gaps[1].1, gaps[1].2));
}

#[test]
fn without_a_heartbeat_the_newest_record_is_when_whodid_was_last_alive() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Prod::new(&dir.path().join("data"));
    let settings = "downtime: {gap_after: 1s, heartbeat: 100ms}\n";
    let server = prod.serve(dir.path(), settings, "");
    let rt = crate::server::runtime();
    let answer = prod.post(
        &rt,
        &server,
        crate::util::read("k8s/webhook/batch-00011.json"),
    );
    assert_eq!(answer.status, 200);
    let posted = Timestamp::now();
    server.stop();
    // As a data directory of a version without heartbeats.
    std::fs::remove_file(prod.data.join("heartbeat")).unwrap();
    past_the_budget();
    let server = prod.serve(dir.path(), settings, "");
    server.stop();
    let gaps = downtime_gaps(&prod.data);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].1 <= posted, "{gaps:?}");
    let stored = records(&prod.data, Stream::KubeAudit);
    let gap = stored
        .iter()
        .rev()
        .find(|(e, _)| e.action == "whodid.gap")
        .unwrap();
    assert!(String::from_utf8_lossy(&gap.1).contains("newest record"));
}
