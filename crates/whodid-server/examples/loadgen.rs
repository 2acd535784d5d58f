//! Load generator for `bench/ingest.sh`: many concurrent HTTPS connections
//! posting `EventList` batches of real events (auditIDs made unique per
//! batch, so nothing is deduplicated) like the apiserver's webhook backend,
//! and the figures: events/s sustained, batch latency p50/p99.
//!
//! Two ways to drive the server:
//! - closed loop (RATE 0, the default): every connection posts its next batch
//!   as soon as the last was answered; this finds the server's ceiling, and
//!   the latency there is mostly time spent queued behind the other
//!   connections' batches.
//! - open loop (RATE > 0): every connection is one apiserver sending RATE
//!   batches a second on a fixed schedule (the webhook backend's default
//!   throttle is 10 QPS), staggered across connections. Latency is measured
//!   from the time a batch was *due*, so a server that falls behind is
//!   charged for the wait (no coordinated omission).
//!
//! Usage: loadgen ADDR CA CERT KEY CLUSTER EVENTS_FILE CONNECTIONS SECONDS [BATCH] [RATE]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use whodid_server::client::{ClientConfig, WebhookClient};

struct Template {
    before: String,
    after: String,
}

fn templates(path: &str) -> Vec<Template> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = if text.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(text.as_slice()),
            &mut out,
        )
        .unwrap_or_default();
        out
    } else {
        text
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            // Webhook items carry no kind/apiVersion.
            let line = line.replacen(r#""kind":"Event","apiVersion":"audit.k8s.io/v1","#, "", 1);
            let at = line.find(r#""auditID":""#)? + r#""auditID":""#.len();
            let end = at + line[at..].find('"')?;
            Some(Template {
                before: line[..at].to_owned(),
                after: line[end..].to_owned(),
            })
        })
        .collect()
}

fn body(templates: &[Template], batch: u64, size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size * 1400);
    out.push_str(r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#);
    for i in 0..size {
        let t = &templates[(batch as usize * 131 + i) % templates.len()];
        if i > 0 {
            out.push(',');
        }
        out.push_str(&t.before);
        out.push_str(&format!("load-{batch:012}-{i:04}"));
        out.push_str(&t.after);
    }
    out.push_str("]}");
    out.into_bytes()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 9 {
        eprintln!(
            "usage: loadgen ADDR CA CERT KEY CLUSTER EVENTS_FILE CONNECTIONS SECONDS [BATCH] [RATE]"
        );
        std::process::exit(2);
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (addr, ca, cert, key, cluster) = (
        args[1].clone(),
        read(&args[2]),
        read(&args[3]),
        read(&args[4]),
        args[5].clone(),
    );
    let templates = Arc::new(templates(&args[6]));
    let connections: usize = args[7].parse().unwrap_or(16);
    let seconds: u64 = args[8].parse().unwrap_or(30);
    let batch: usize = args.get(9).and_then(|s| s.parse().ok()).unwrap_or(400);
    let rate: f64 = args.get(10).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let period = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let config = ClientConfig::new(&ca, Some((&cert, &key))).unwrap_or_else(|e| panic!("{e}"));
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let latencies = runtime.block_on(async {
        let mut tasks = Vec::new();
        for connection in 0..connections {
            let (config, addr, cluster) = (config.clone(), addr.clone(), cluster.clone());
            let (templates, next, errors) = (
                Arc::clone(&templates),
                Arc::clone(&next),
                Arc::clone(&errors),
            );
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut client = WebhookClient::connect(&config, &addr, "localhost", None)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let path = format!("/k8s-audit/{cluster}");
                // Open loop: connection i's first batch is due i/CONNECTIONS
                // of a period after the start, then one every period.
                let mut due = period
                    .map(|p| Instant::now() + p.mul_f64(connection as f64 / connections as f64));
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let body = body(&templates, n, batch);
                    let sent = match (due, period) {
                        (Some(at), Some(p)) => {
                            tokio::time::sleep_until(at.into()).await;
                            due = Some(at + p);
                            at
                        }
                        _ => Instant::now(),
                    };
                    match client.post(&path, body.into(), &[]).await {
                        Ok(answer) if answer.status == 200 => latencies.push(sent.elapsed()),
                        Ok(_) | Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            if let Ok(c) =
                                WebhookClient::connect(&config, &addr, "localhost", None).await
                            {
                                client = c;
                            }
                        }
                    }
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap_or_default());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let batches = latencies.len();
    println!(
        "batches={batches} events={} seconds={elapsed:.1} events_per_s={:.0} p50_ms={:.1} p99_ms={:.1} p999_ms={:.1} max_ms={:.1} errors={}",
        batches * batch,
        (batches * batch) as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        errors.load(Ordering::Relaxed)
    );
}
