//! Resident memory of a full deduplication window: `cargo run --release
//! -p whodid-ingest --example dedup_memory [KEYS]` prints the process's
//! RSS before and after filling a window of KEYS keys (default 1,000,000)
//! and its peak (VmHWM), so the figure in docs/config.md can be checked.
use std::time::{Duration, Instant};

use whodid_ingest::dedup::{DedupKey, DedupWindow};
use whodid_model::k8s::Stage;

fn status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let keys: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let before = status("VmRSS:");
    let mut window = DedupWindow::new(keys, Duration::from_secs(900));
    let now = Instant::now();
    // Twice the capacity: the second half replaces the first.
    for i in 0..keys * 2 {
        let key = DedupKey::of("c", &format!("{i:036}"), Stage::ResponseComplete);
        window.insert(key, i as u64, now);
    }
    let after = status("VmRSS:");
    let peak = status("VmHWM:");
    println!(
        "keys={} rss_mb={:.1} peak_mb={:.1} bytes_per_key={:.1}",
        window.len(),
        (after - before) as f64 / 1024.0,
        (peak - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / window.len() as f64
    );
}
