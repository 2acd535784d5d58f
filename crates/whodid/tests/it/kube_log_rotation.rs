//! The apiserver's log backend rotating every few hundred lines (lumberjack
//! naming, some backups gzipped), while whodid tails it, and while whodid
//! is stopped (SIGTERM) or killed (SIGKILL): nothing lost, nothing doubled.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use whodid_model::Stream;

use crate::server::{ca, records, Server};
use crate::util::read;

struct Writer<'a> {
    dir: &'a Path,
    file: std::fs::File,
    rotations: u32,
    since_rotation: usize,
}

impl Writer<'_> {
    fn new(dir: &Path) -> Writer<'_> {
        Writer {
            dir,
            file: open(dir),
            rotations: 0,
            since_rotation: 0,
        }
    }

    fn write(&mut self, lines: &[Vec<u8>], rotate_every: usize, pause: Duration) {
        for line in lines {
            self.file.write_all(line).unwrap();
            self.file.write_all(b"\n").unwrap();
            self.since_rotation += 1;
            if self.since_rotation == rotate_every {
                self.rotate();
                std::thread::sleep(pause);
            }
        }
        self.file.flush().unwrap();
    }

    /// lumberjack: rename to `audit-<UTC time>.log`, new file; every other
    /// backup gzipped (the plain one removed after).
    fn rotate(&mut self) {
        self.rotations += 1;
        self.since_rotation = 0;
        let backup = self.dir.join(format!(
            "audit-2026-11-22T18-{:02}-{:02}.{:03}.log",
            self.rotations / 60,
            self.rotations % 60,
            self.rotations
        ));
        std::fs::rename(self.dir.join("audit.log"), &backup).unwrap();
        self.file = open(self.dir);
        if self.rotations.is_multiple_of(2) {
            let plain = std::fs::read(&backup).unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&plain).unwrap();
            std::fs::write(backup.with_extension("log.gz"), gz.finish().unwrap()).unwrap();
            std::fs::remove_file(&backup).unwrap();
        }
    }
}

fn open(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("audit.log"))
        .unwrap()
}

#[test]
fn rotation_while_running_stopped_and_killed_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    ca(&data);
    let lines: Vec<Vec<u8>> = read("k8s/capture-audit.log.gz")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let yaml = format!(
        "data: {}\nclusters:\n  - name: prod\n    audit_logs: [{}]\n",
        data.display(),
        logs.join("audit.log").display()
    );
    let mut writer = Writer::new(&logs);
    let stored = |data: &Path| records(data, Stream::KubeAudit).len();

    // Running: rotations every 250 lines.
    let server = Server::start(dir.path(), &yaml);
    writer.write(&lines[..900], 250, Duration::from_millis(150));
    crate::webhook_replay::wait_for(|| stored(&data) >= 900, &server);
    server.stop();
    // Stopped: three more rotations, one compressed.
    writer.write(&lines[900..1700], 250, Duration::ZERO);
    // Running again, then killed while writing and rotating.
    let server = Server::start(dir.path(), &yaml);
    writer.write(&lines[1700..2300], 250, Duration::from_millis(30));
    server.kill9();
    // Killed: more lines and rotations, and a partial last line.
    writer.write(&lines[2300..2946], 200, Duration::ZERO);
    writer.file.write_all(&lines[2946][..100]).unwrap();
    writer.file.flush().unwrap();
    let server = Server::start(dir.path(), &yaml);
    crate::webhook_replay::wait_for(|| stored(&data) >= 2946, &server);
    // The partial line is not stored until it is complete.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(stored(&data), 2946);
    writer.file.write_all(&lines[2946][100..]).unwrap();
    writer.file.write_all(b"\n").unwrap();
    writer.file.flush().unwrap();
    crate::webhook_replay::wait_for(|| stored(&data) >= 2947, &server);
    std::thread::sleep(Duration::from_millis(500));
    server.stop();

    let got = records(&data, Stream::KubeAudit);
    let gaps: Vec<_> = got
        .iter()
        .filter(|(e, _)| e.action == "whodid.gap")
        .collect();
    assert!(
        gaps.is_empty(),
        "no backup was deleted, so no gap: {gaps:?}"
    );
    assert_eq!(got.len(), lines.len(), "every line exactly once");
    let ids: std::collections::BTreeSet<(String, String)> = got
        .iter()
        .map(|(_, raw)| crate::server::identity_of(raw))
        .collect();
    assert_eq!(
        ids.len(),
        lines.len(),
        "no line stored twice (and so none lost)"
    );
    let mut stored_lines: Vec<&Vec<u8>> = got.iter().map(|(_, raw)| raw).collect();
    let mut expected: Vec<&Vec<u8>> = lines.iter().collect();
    stored_lines.sort();
    expected.sort();
    // Redacted events differ from their lines; compare the others exactly.
    let redacted: Vec<&Vec<u8>> = got
        .iter()
        .filter(|(e, _)| !e.redacted.is_empty())
        .map(|(_, r)| r)
        .collect();
    let plain: Vec<&&Vec<u8>> = stored_lines
        .iter()
        .filter(|r| !redacted.contains(r))
        .collect();
    for raw in plain {
        assert!(
            expected.binary_search(raw).is_ok(),
            "a stored record is not a line that was written"
        );
    }
    assert!(writer.rotations >= 10, "{} rotations", writer.rotations);
}
