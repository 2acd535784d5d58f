//! Appends the real kube-apiserver capture (`testdata/k8s/capture-audit.log.gz`,
//! 2,947 events, ~1.3 KB each), repeated, to a fresh journal and prints the
//! journal's size next to the records' own size; writes the same records,
//! concatenated, to `<out>/records.bin` so `bench/journal.sh` can compare
//! with `zstd -3`.
//!
//! Usage: cargo run --release -p whodid-journal --example journal_size -- <out dir> [repeat]

use std::io::Read;
use std::path::Path;

use whodid_journal::{FsyncPolicy, Journal, JournalConfig, RecordInput};
use whodid_model::Stream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: journal_size <out dir> [repeat]")?;
    let repeat: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
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
    let data = out.join("journal-data");
    let _ = std::fs::remove_dir_all(&data);
    let journal = Journal::open(
        &data,
        JournalConfig {
            fsync: FsyncPolicy::Never,
            ..JournalConfig::default()
        },
    )?;
    let mut concatenated = Vec::new();
    let mut tickets = Vec::new();
    for _ in 0..repeat {
        for chunk in records.chunks(1024) {
            for r in chunk {
                concatenated.extend_from_slice(&(r.envelope.len() as u32).to_le_bytes());
                concatenated.extend_from_slice(&(r.raw.len() as u32).to_le_bytes());
                concatenated.extend_from_slice(&r.envelope);
                concatenated.extend_from_slice(&r.raw);
            }
            tickets.push(journal.append(Stream::KubeAudit, chunk.to_vec())?);
        }
    }
    for ticket in tickets {
        ticket.wait()?;
    }
    journal.close()?;
    std::fs::write(out.join("records.bin"), &concatenated)?;
    let mut segment_bytes = 0u64;
    for entry in std::fs::read_dir(data.join("journal/kubeaudit"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "seg") {
            segment_bytes += std::fs::metadata(&path)?.len();
        }
    }
    println!("records {}", records.len() * repeat);
    println!("record_bytes {}", concatenated.len());
    println!("segment_bytes {segment_bytes}");
    Ok(())
}
