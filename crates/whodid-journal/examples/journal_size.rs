//! Appends the real kube-apiserver capture (`testdata/k8s/capture-audit.log.gz`,
//! 2,947 events, ~1.4 KB each), repeated, to fresh journals in group commits
//! of `batch` records (32 by default, like webhook requests), and prints the
//! segments' size as group commit wrote them and after compaction, next to
//! the records' own size. Writes the same records, concatenated, to
//! `<out>/records.bin` so `bench/journal.sh` can compare with `zstd -3`.
//!
//! Usage: cargo run --release -p whodid-journal --example journal_size -- <out dir> [repeat] [batch]

use std::io::Read;
use std::path::Path;

use whodid_journal::format::{decode_segment_header, FLAG_COMPACTED};
use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: journal_size <out dir> [repeat] [batch]")?;
    let repeat: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    let batch: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(32);
    let out = Path::new(&out);
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/k8s/capture-audit.log.gz");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(capture)?).read_to_end(&mut plain)?;
    let records: Vec<RecordInput> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| RecordInput {
            envelope: br#"{"v":1,"stream":"kubeaudit","actor":{"name":"alice@example.com","kind":"person"},"action":"get","outcome":"success"}"#.to_vec(),
            raw: line.to_vec(),
        })
        .collect();
    let mut concatenated = Vec::new();
    for _ in 0..repeat {
        for r in &records {
            concatenated.extend_from_slice(&(r.envelope.len() as u32).to_le_bytes());
            concatenated.extend_from_slice(&(r.raw.len() as u32).to_le_bytes());
            concatenated.extend_from_slice(&r.envelope);
            concatenated.extend_from_slice(&r.raw);
        }
    }
    std::fs::write(out.join("records.bin"), &concatenated)?;
    let group_commit = journal_bytes(&out.join("journal-data"), &records, repeat, batch, None)?;
    let compacted = journal_bytes(&out.join("journal-data"), &records, repeat, batch, Some(5))?;
    println!("records {}", records.len() * repeat);
    println!("record_bytes {}", concatenated.len());
    println!("batch {batch}");
    println!("segment_bytes_group_commit {group_commit}");
    println!("segment_bytes {compacted}");
    Ok(())
}

/// Appends the records in group commits of `batch`, waits until compaction
/// (if on) has rewritten every sealed segment, and sums the segments' sizes.
fn journal_bytes(
    data: &Path,
    records: &[RecordInput],
    repeat: usize,
    batch: usize,
    compaction_level: Option<i32>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let _ = std::fs::remove_dir_all(data);
    let journal = Journal::open(
        data,
        JournalConfig {
            fsync: FsyncPolicy::Never,
            // Small segments, so that 40 MB of records fill several.
            segment_max_bytes: 256 << 10,
            compaction_level,
            ..JournalConfig::default()
        },
    )?;
    for _ in 0..repeat {
        for chunk in records.chunks(batch) {
            journal.append_wait(Stream::KubeAudit, chunk.to_vec())?;
        }
    }
    let stream = data.join("journal/kubeaudit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while compaction_level.is_some() && std::time::Instant::now() < deadline {
        let mut segments: Vec<_> = std::fs::read_dir(&stream)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
        segments.sort();
        segments.pop();
        let mut pending = false;
        for path in &segments {
            let header = decode_segment_header(&std::fs::read(path)?)?;
            pending |= header.flags & FLAG_COMPACTED == 0;
        }
        if !pending {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    journal.close()?;
    let mut segment_bytes = 0u64;
    for entry in std::fs::read_dir(&stream)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "seg") {
            segment_bytes += std::fs::metadata(&path)?.len();
        }
    }
    std::fs::remove_dir_all(data)?;
    Ok(segment_bytes)
}
