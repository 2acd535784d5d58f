//! The kube-apiserver's real rotated audit logs (testdata/k8s/rotation/),
//! replayed: written into a directory the way the log backend did it
//! (lumberjack renames with the real names), with and without compression,
//! while a tailer reads and restarts.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use whodid_tail::{RotationNaming, StartAt, TailEvent, TailSpec, Tailer};

use crate::common::{append, drain, drain_with, persisted, scratch, texts};

/// The fixture files in rotation order: (name the apiserver gave it, content).
fn fixture() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s/rotation");
    [
        "audit-2026-11-22T18-29-44.518.log",
        "audit-2026-11-22T18-29-47.001.log",
        "audit.log",
    ]
    .iter()
    .map(|name| {
        let path = dir.join(format!("{name}.gz"));
        let mut data = Vec::new();
        MultiGzDecoder::new(
            File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .read_to_end(&mut data)
        .unwrap();
        (name.to_string(), data)
    })
    .collect()
}

fn lines_of(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect()
}

fn gzip(from: &Path) -> PathBuf {
    let mut data = Vec::new();
    File::open(from).unwrap().read_to_end(&mut data).unwrap();
    let mut to = from.as_os_str().to_owned();
    to.push(".gz");
    let to = PathBuf::from(to);
    let mut enc = GzEncoder::new(File::create(&to).unwrap(), Compression::default());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    fs::remove_file(from).unwrap();
    to
}

#[test]
fn fixture_is_what_the_apiserver_recorded() {
    let files = fixture();
    let counts: Vec<(usize, usize)> = files
        .iter()
        .map(|(_, d)| (d.len(), lines_of(d).len()))
        .collect();
    // files.txt: 1047075 bytes 469 lines, 1044879 bytes 468 lines, 169365 bytes 119 lines.
    assert_eq!(counts, [(1_047_075, 469), (1_044_879, 468), (169_365, 119)]);
}

/// Writes the real events into `audit.log` in pieces, rotating with the
/// real backup names (optionally compressing each backup), with a tailer
/// reading between pieces and restarting from its persisted position.
fn replay(compress: bool) {
    let files = fixture();
    let expected: Vec<String> = files.iter().flat_map(|(_, d)| lines_of(d)).collect();
    let dir = scratch();
    let path = dir.path().join("audit.log");
    File::create(&path).unwrap();
    let spec = TailSpec::new(&path)
        .with_naming(RotationNaming::Lumberjack)
        .with_max_line_bytes(64 << 20);
    let mut tailer = Tailer::new(spec.clone(), None);
    let mut got = Vec::new();
    let mut step = 0;
    for (i, (name, data)) in files.iter().enumerate() {
        // Each file in 7 pieces cut mid-line.
        let piece = data.len() / 7 + 1;
        for chunk in data.chunks(piece) {
            append(&path, chunk);
            step += 1;
            let events = drain_with(&mut tailer, 100_000)
                .unwrap_or_else(|e| panic!("step {step}: {e} {tailer:?}"));
            got.extend(texts(&events));
            if step % 3 == 0 {
                let pos = persisted(&tailer);
                tailer = Tailer::new(spec.clone(), pos);
            }
        }
        if i + 1 < files.len() {
            let backup = dir.path().join(name);
            fs::rename(&path, &backup).unwrap();
            File::create(&path).unwrap();
            if compress {
                // Rotated and compressed before the tailer looks again.
                gzip(&backup);
            }
            if i == 0 {
                // A restart across the rotation, from the position.
                let pos = persisted(&tailer);
                tailer = Tailer::new(spec.clone(), pos);
            }
        }
    }
    got.extend(texts(&drain(&mut tailer).unwrap()));
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "lines differ from the fixture");
}

#[test]
fn replays_real_rotation_plain() {
    replay(false);
}

#[test]
fn replays_real_rotation_compressed() {
    replay(true);
}

#[test]
fn reads_a_real_rotated_directory_oldest_first() {
    let files = fixture();
    let dir = scratch();
    for (i, (name, data)) in files.iter().enumerate() {
        let path = dir.path().join(name);
        fs::write(&path, data).unwrap();
        if i == 0 {
            gzip(&path);
        }
    }
    let path = dir.path().join("audit.log");
    let spec = TailSpec::new(&path).with_start(StartAt::OldestBackup);
    let mut tailer = Tailer::new(spec, None);
    let events = drain(&mut tailer).unwrap();
    let expected: Vec<String> = files.iter().flat_map(|(_, d)| lines_of(d)).collect();
    assert!(texts(&events) == expected);
    let per_file: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match e {
            TailEvent::Line { file, line, .. } => {
                Some((file.file_name()?.to_str()?.to_string(), *line))
            }
            _ => None,
        })
        .filter(|(_, line)| *line == 1)
        .collect();
    assert_eq!(
        per_file.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        [
            "audit-2026-11-22T18-29-44.518.log.gz",
            "audit-2026-11-22T18-29-47.001.log",
            "audit.log"
        ]
    );
    // Fresh start at the active file only reads audit.log.
    let mut tailer = Tailer::new(TailSpec::new(&path), None);
    assert_eq!(texts(&drain(&mut tailer).unwrap()).len(), 119);
}
