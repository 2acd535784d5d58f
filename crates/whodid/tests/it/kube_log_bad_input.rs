//! Bad input in a tailed log file: a 50 MB line, garbage, the file replaced
//! by a directory. A clear log line or gap record; the rest stored.

use std::io::Write;
use std::time::Duration;

use whodid_model::Stream;

use crate::server::{ca, records, Server};
use crate::webhook_replay::wait_for;

#[test]
fn huge_lines_garbage_and_a_directory_do_not_stop_the_tailer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    ca(&data);
    let lines = crate::util::read("k8s/capture-audit.log.gz");
    let lines: Vec<&[u8]> = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let path = logs.join("audit.log");
    let mut file = std::fs::File::create(&path).unwrap();
    for line in &lines[..100] {
        file.write_all(line).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.write_all(&vec![b'{'; 50 << 20]).unwrap();
    file.write_all(b"\n\x00\xff garbage\n").unwrap();
    for line in &lines[100..200] {
        file.write_all(line).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.sync_all().unwrap();
    let server = Server::start(
        dir.path(),
        &format!(
            "data: {}\nclusters:\n  - name: prod\n    audit_logs: [{}]\n",
            data.display(),
            path.display()
        ),
    );
    let events = |d: &std::path::Path| {
        records(d, Stream::KubeAudit)
            .iter()
            .filter(|(e, _)| e.action != "whodid.gap" && e.action != "whodid.invalid")
            .count()
    };
    wait_for(|| events(&data) >= 200, &server);
    // The log replaced by a directory: reported, and tailing goes on once it is a file again.
    std::fs::rename(&path, logs.join("audit-2026-11-22T18-00-00.000.log")).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_dir(&path).unwrap();
    let mut file = std::fs::File::create(&path).unwrap();
    for line in &lines[200..300] {
        file.write_all(line).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.sync_all().unwrap();
    wait_for(|| events(&data) >= 300, &server);
    let log = server.log();
    server.stop();
    assert!(
        log.contains("not a regular file") || log.contains("cannot read"),
        "the directory was reported:\n{log}"
    );
    let stored = records(&data, Stream::KubeAudit);
    let gaps: Vec<serde_json::Value> = stored
        .iter()
        .filter(|(e, _)| e.action == "whodid.gap")
        .map(|(_, raw)| serde_json::from_slice(raw).unwrap())
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["reason"], "line-too-long");
    assert_eq!(gaps[0]["lostBytes"], 50 << 20);
    let invalid = stored
        .iter()
        .filter(|(e, _)| e.action == "whodid.invalid")
        .count();
    assert_eq!(invalid, 1, "the garbage line is kept as an invalid record");
    assert_eq!(events(&data), 300);
}
