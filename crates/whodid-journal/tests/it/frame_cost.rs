//! What bounding frames costs in compression, on the real capture
//! (`testdata/k8s/capture-audit.log.gz`: 2,947 kube-apiserver events).
//! Not a check, a measurement quoted in `docs/journal.md`:
//! `cargo test -p whodid-journal --test it frame_cost -- --ignored --nocapture`.

use std::io::Read;

use whodid_journal::format::{encode_frame_at_level, RecordInput};

fn capture() -> Vec<RecordInput> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/k8s/capture-audit.log.gz"
    );
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut plain)
        .unwrap();
    plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| RecordInput {
            envelope: b"{\"v\":1}".to_vec(),
            raw: line.to_vec(),
        })
        .collect()
}

/// Compressed bytes of `records` in frames of at most `max_records`
/// records or `max_bytes` uncompressed bytes, at zstd `level`.
fn framed(records: &[RecordInput], max_records: usize, max_bytes: usize, level: i32) -> usize {
    let mut total = 0;
    let mut group: Vec<RecordInput> = Vec::new();
    let mut bytes = 0;
    for record in records {
        bytes += 8 + record.envelope.len() + record.raw.len();
        group.push(record.clone());
        if group.len() >= max_records || bytes >= max_bytes {
            total += encode_frame_at_level(0, 0, &group, level).unwrap().len();
            group.clear();
            bytes = 0;
        }
    }
    if !group.is_empty() {
        total += encode_frame_at_level(0, 0, &group, level).unwrap().len();
    }
    total
}

#[test]
#[ignore = "a measurement, not a check"]
fn frame_cost() {
    let records = capture();
    let plain: usize = records
        .iter()
        .map(|r| 8 + r.envelope.len() + r.raw.len())
        .sum();
    println!("{} records, {plain} bytes uncompressed", records.len());
    let base = framed(&records, 4096, 4 << 20, 5);
    for (max_records, max_bytes) in [
        (4096, 4 << 20),
        (1024, 1 << 20),
        (512, 512 << 10),
        (256, 256 << 10),
        (128, 128 << 10),
        (64, 64 << 10),
    ] {
        let bytes = framed(&records, max_records, max_bytes, 5);
        println!(
            "frames of <= {max_records} records / {} KiB: {bytes} bytes at zstd 5 ({:+.1}% vs 4096/4 MiB)",
            max_bytes >> 10,
            (bytes as f64 / base as f64 - 1.0) * 100.0
        );
    }
    for level in [9, 15] {
        let bytes = framed(&records, 256, 256 << 10, level);
        println!(
            "frames of <= 256 records / 256 KiB: {bytes} bytes at zstd {level} ({:+.1}% vs 4096/4 MiB at 5)",
            (bytes as f64 / base as f64 - 1.0) * 100.0
        );
    }
}
