//! Ingest's Prometheus metrics: what arrived, what was kept, what was not
//! and why, per cluster or file source; batch latency; what the journal has
//! not yet made durable.
//!
//! One [`IngestMetrics`] is registered once and shared by every source; the
//! server serves the registry as Prometheus text on `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use whodid_journal::SyncStats;

/// A cluster (webhook and kube log sources).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    /// The cluster's name.
    pub cluster: String,
}

/// A rejected request or event, with why.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    /// The cluster, or `""` when the credential named none.
    pub cluster: String,
    /// Why: `unauthenticated`, `forbidden`, `malformed`, `too_large`, `overloaded`, `storage_full`, `journal`, `timeout`.
    pub reason: String,
}

/// A configured file source.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// The source's name.
    pub source: String,
}

fn histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Every ingest metric.
#[derive(Debug)]
pub struct IngestMetrics {
    /// Events received (before policy and deduplication).
    pub received: Family<ClusterLabel, Counter>,
    /// Events made durable in the journal.
    pub accepted: Family<ClusterLabel, Counter>,
    /// Events already stored (a sender's retry).
    pub deduplicated: Family<ClusterLabel, Counter>,
    /// Events the cluster's policy does not record.
    pub dropped_by_policy: Family<ClusterLabel, Counter>,
    /// Events with secret values replaced.
    pub redacted: Family<ClusterLabel, Counter>,
    /// Items that are not audit events (stored as invalid records).
    pub invalid: Family<ClusterLabel, Counter>,
    /// Requests refused, by reason (the sender retries them).
    pub rejected: Family<RejectLabel, Counter>,
    /// Events in refused requests.
    pub rejected_events: Family<RejectLabel, Counter>,
    /// Seconds from a batch's arrival to its answer.
    pub batch_seconds: Family<ClusterLabel, Histogram, fn() -> Histogram>,
    /// Events accepted but not yet durable.
    pub journal_pending: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Lines read by file sources.
    pub lines: Family<SourceLabel, Counter>,
    /// Bytes read by file sources.
    pub bytes: Family<SourceLabel, Counter>,
    /// Records a file source stored.
    pub records: Family<SourceLabel, Counter>,
    /// Lines a file source could not parse (reported with file and line).
    pub diagnostics: Family<SourceLabel, Counter>,
    /// Gap records written (data lost before whodid could read it).
    pub gaps: Family<SourceLabel, Counter>,
    /// Seconds between the newest line a file source read and now.
    pub source_lag_seconds: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    /// The journal's fsync rounds.
    pub journal_fsyncs: Counter,
    /// Seconds the journal spent in fsync.
    pub journal_fsync_seconds: Counter<f64, AtomicU64>,
    /// The longest fsync round.
    pub journal_fsync_longest_seconds: Gauge<f64, AtomicU64>,
    /// The longest a written record waited for the fsync that made it durable.
    pub journal_durable_wait_longest_seconds: Gauge<f64, AtomicU64>,
    /// (cluster, auditID, stage) keys the deduplication window holds.
    pub dedup_keys: Gauge,
    /// How far back the deduplication window reaches.
    pub dedup_span_seconds: Gauge<f64, AtomicU64>,
    /// Two scrapes at once must not both add the same fsyncs.
    journal_observe: std::sync::Mutex<()>,
}

impl IngestMetrics {
    /// New metrics, registered in `registry` under `whodid_`.
    pub fn register(registry: &mut Registry) -> IngestMetrics {
        let m = IngestMetrics {
            received: Family::default(),
            accepted: Family::default(),
            deduplicated: Family::default(),
            dropped_by_policy: Family::default(),
            redacted: Family::default(),
            invalid: Family::default(),
            rejected: Family::default(),
            rejected_events: Family::default(),
            batch_seconds: Family::new_with_constructor(histogram),
            journal_pending: Gauge::default(),
            lines: Family::default(),
            bytes: Family::default(),
            records: Family::default(),
            diagnostics: Family::default(),
            gaps: Family::default(),
            source_lag_seconds: Family::default(),
            journal_fsyncs: Counter::default(),
            journal_fsync_seconds: Counter::default(),
            journal_fsync_longest_seconds: Gauge::default(),
            journal_durable_wait_longest_seconds: Gauge::default(),
            journal_observe: std::sync::Mutex::default(),
            dedup_keys: Gauge::default(),
            dedup_span_seconds: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("whodid");
        r.register(
            "events_received",
            "Audit events received, before policy and deduplication",
            m.received.clone(),
        );
        r.register(
            "events_accepted",
            "Audit events made durable in the journal",
            m.accepted.clone(),
        );
        r.register(
            "events_deduplicated",
            "Audit events already stored (retries), not stored again",
            m.deduplicated.clone(),
        );
        r.register(
            "events_dropped_by_policy",
            "Audit events the cluster's audit policy does not record",
            m.dropped_by_policy.clone(),
        );
        r.register(
            "events_redacted",
            "Audit events whose secret values were replaced by keyed hashes",
            m.redacted.clone(),
        );
        r.register(
            "events_invalid",
            "Items that are not audit events, stored as invalid records",
            m.invalid.clone(),
        );
        r.register(
            "requests_rejected",
            "Requests refused (the sender retries), by reason",
            m.rejected.clone(),
        );
        r.register(
            "events_rejected",
            "Events in refused requests, by reason",
            m.rejected_events.clone(),
        );
        r.register(
            "batch_duration_seconds",
            "Time from a batch's arrival to its answer",
            m.batch_seconds.clone(),
        );
        r.register(
            "journal_pending_events",
            "Events accepted but not yet durable in the journal",
            m.journal_pending.clone(),
        );
        r.register(
            "source_lines",
            "Lines read by file sources",
            m.lines.clone(),
        );
        r.register(
            "source_bytes",
            "Bytes read by file sources",
            m.bytes.clone(),
        );
        r.register(
            "source_records",
            "Records stored by file sources",
            m.records.clone(),
        );
        r.register(
            "source_diagnostics",
            "Lines file sources could not parse",
            m.diagnostics.clone(),
        );
        r.register(
            "gaps",
            "Gap records written: data lost before whodid could read it",
            m.gaps.clone(),
        );
        r.register(
            "source_lag_seconds",
            "Seconds since the newest line a file source read",
            m.source_lag_seconds.clone(),
        );
        r.register(
            "journal_fsyncs",
            "fsync rounds of the journal's writer",
            m.journal_fsyncs.clone(),
        );
        r.register(
            "journal_fsync_seconds",
            "Seconds the journal's writer spent in fsync",
            m.journal_fsync_seconds.clone(),
        );
        r.register(
            "journal_fsync_longest_seconds",
            "The longest fsync round since start",
            m.journal_fsync_longest_seconds.clone(),
        );
        r.register(
            "journal_durable_wait_longest_seconds",
            "The longest a written record waited for the fsync that made it durable, since start",
            m.journal_durable_wait_longest_seconds.clone(),
        );
        r.register(
            "dedup_window_keys",
            "Event keys the deduplication window remembers",
            m.dedup_keys.clone(),
        );
        r.register(
            "dedup_window_span_seconds",
            "How far back the deduplication window reaches: a retry later than this is stored again",
            m.dedup_span_seconds.clone(),
        );
        m
    }

    /// Brings the journal's fsync figures up to date (before a scrape).
    pub fn observe_journal(&self, stats: SyncStats) {
        let _one_at_a_time = self
            .journal_observe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.journal_fsyncs
            .inc_by(stats.fsyncs.saturating_sub(self.journal_fsyncs.get()));
        let spent = stats.fsync_seconds - self.journal_fsync_seconds.get();
        if spent > 0.0 {
            self.journal_fsync_seconds.inc_by(spent);
        }
        self.journal_fsync_longest_seconds
            .set(stats.longest_fsync_seconds);
        self.journal_durable_wait_longest_seconds
            .set(stats.longest_wait_seconds);
    }

    /// Metrics registered nowhere (tools and tests).
    pub fn unregistered() -> IngestMetrics {
        IngestMetrics::register(&mut Registry::default())
    }

    /// The label of a cluster.
    pub fn cluster(cluster: &str) -> ClusterLabel {
        ClusterLabel {
            cluster: cluster.to_owned(),
        }
    }
}
