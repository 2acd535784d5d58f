//! Journal append throughput on ~1.3 KB records from the real kube-apiserver
//! capture: (a) fsync at most every 100 ms, one producer pipelining batches
//! of 256; (b) fsync every batch, 8 concurrent writers each waiting for
//! durability of every batch of 32 (like webhook requests).
//!
//! `bench/journal.sh` runs this beside `dd` (the disk's limit) and `zstd -3`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

/// Records per run of the pipelined case: enough that the final fsync
/// wait (up to 100 ms) does not dominate.
const PIPELINED: usize = 100_000;
/// Records per run of the 8-writer case.
const RECORDS: usize = 20_000;

fn records(count: usize) -> Vec<RecordInput> {
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s/capture-audit.log.gz");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(capture).expect("capture"))
        .read_to_end(&mut plain)
        .expect("gzip");
    let lines: Vec<&[u8]> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    (0..count)
        .map(|i| RecordInput {
            envelope: br#"{"v":1,"stream":"kubeaudit","actor":{"name":"alice@example.com","kind":"person"},"action":"get","outcome":"success"}"#.to_vec(),
            raw: lines[i % lines.len()].to_vec(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pipelined = records(PIPELINED);
    let input = records(RECORDS);
    let bytes: usize = input.iter().map(|r| r.raw.len() + r.envelope.len()).sum();
    let mut group = c.benchmark_group("journal");
    group.sample_size(10);
    eprintln!(
        "bench input: {:.0} bytes/record",
        bytes as f64 / RECORDS as f64
    );
    group.throughput(Throughput::Elements(PIPELINED as u64));

    group.bench_function("fsync_100ms_pipelined", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let journal = Journal::open(
                    dir.path(),
                    JournalConfig {
                        fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
                        ..JournalConfig::default()
                    },
                )
                .expect("open");
                let start = Instant::now();
                let tickets: Vec<_> = pipelined
                    .chunks(256)
                    .map(|chunk| {
                        journal
                            .append(Stream::KubeAudit, chunk.to_vec())
                            .expect("append")
                    })
                    .collect();
                for ticket in tickets {
                    ticket.wait().expect("durable");
                }
                total += start.elapsed();
                journal.close().expect("close");
            }
            total
        })
    });

    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("fsync_every_batch_8_writers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let journal = Arc::new(
                    Journal::open(
                        dir.path(),
                        JournalConfig {
                            fsync: FsyncPolicy::EveryBatch,
                            ..JournalConfig::default()
                        },
                    )
                    .expect("open"),
                );
                let per_writer = RECORDS / 8;
                let start = Instant::now();
                let threads: Vec<_> = (0..8)
                    .map(|w| {
                        let journal = Arc::clone(&journal);
                        let mine: Vec<RecordInput> =
                            input[w * per_writer..(w + 1) * per_writer].to_vec();
                        std::thread::spawn(move || {
                            for chunk in mine.chunks(32) {
                                journal
                                    .append_wait(Stream::KubeAudit, chunk.to_vec())
                                    .expect("durable");
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("writer");
                }
                total += start.elapsed();
                journal.close().expect("close");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
