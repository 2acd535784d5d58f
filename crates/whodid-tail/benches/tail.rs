//! Tailer throughput in MB/s reading a large file of real kube-apiserver
//! audit lines (the capture of `testdata/k8s/capture-audit.log.gz`
//! repeated to 256 MiB): from the start to caught up, lines handed out as
//! events, plain active file and a gzip backup.
//!
//! `bench/tail.sh` builds the file, runs this on it (`WHODID_TAIL_BENCH_FILE`)
//! and prints it beside `cat FILE > /dev/null` and `wc -l FILE` on the same
//! file, the floor of reading it. Without the variable the bench builds
//! the file itself in a temporary directory.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use whodid_tail::{StartAt, TailSpec, Tailer};

/// The input is the capture repeated to at least this many bytes.
const TARGET_BYTES: u64 = 256 << 20;

fn capture() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s/capture-audit.log.gz");
    let raw = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut plain)
        .expect("gzip fixture");
    plain
}

/// `dir/audit.log`, the capture repeated to [`TARGET_BYTES`].
fn build(dir: &Path) -> PathBuf {
    let path = dir.join("audit.log");
    let once = capture();
    let mut out = BufWriter::new(File::create(&path).expect("create bench input"));
    let mut written = 0;
    while written < TARGET_BYTES {
        out.write_all(&once).expect("write bench input");
        written += once.len() as u64;
    }
    out.flush().expect("write bench input");
    path
}

/// Reads everything from the start; returns the number of events.
fn tail_all(spec: &TailSpec) -> usize {
    let mut tailer = Tailer::new(spec.clone(), None);
    let mut out = Vec::with_capacity(16 * 1024);
    let mut events = 0;
    loop {
        out.clear();
        let outcome = tailer.poll(8 << 20, &mut out).expect("poll");
        events += black_box(out.len());
        if outcome.caught_up {
            return events;
        }
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = match std::env::var_os("WHODID_TAIL_BENCH_FILE") {
        Some(file) => PathBuf::from(file),
        None => build(tmp.path()),
    };
    let len = fs::metadata(&path).expect("bench input").len();
    let mut group = c.benchmark_group("tail");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(15));

    let spec = TailSpec::new(&path).with_max_line_bytes(64 << 20);
    group.bench_function("kube_audit_plain", |b| b.iter(|| tail_all(&spec)));

    // The same content as a gzip backup beside an empty active file.
    let gz_dir = tmp.path().join("gz");
    fs::create_dir_all(&gz_dir).expect("gz dir");
    let mut input = File::open(&path).expect("bench input");
    let backup = gz_dir.join("audit-2026-11-22T18-29-44.518.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        BufWriter::new(File::create(&backup).expect("gz backup")),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut input, &mut enc).expect("compress");
    enc.finish().expect("compress").flush().expect("compress");
    File::create(gz_dir.join("audit.log")).expect("active file");
    let gz_spec = TailSpec::new(gz_dir.join("audit.log"))
        .with_max_line_bytes(64 << 20)
        .with_start(StartAt::OldestBackup);
    group.bench_function("kube_audit_gz_backup", |b| b.iter(|| tail_all(&gz_spec)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
