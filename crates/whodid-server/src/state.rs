//! What every request handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use whodid_ingest::kube::body::ParseLimits;
use whodid_ingest::kube::prepare::KubeSource;
use whodid_ingest::kube::store::KubeStore;
use whodid_ingest::IngestMetrics;
use whodid_journal::Journal;

use crate::auth::Authenticator;
use crate::cpu_pool::CpuPool;

/// Limits that keep memory bounded and slow clients from holding resources.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger bodies get 413 (also after gzip decompression).
    pub max_body_bytes: usize,
    /// Bytes of request bodies held at once across all requests; beyond
    /// it, a request waits up to `queue_wait`, then gets 429.
    pub max_inflight_bytes: usize,
    /// How long a request may wait for room.
    pub queue_wait: Duration,
    /// The whole request (headers) must arrive within this.
    pub header_timeout: Duration,
    /// The body must arrive within this (a slow-loris client gets 408).
    pub body_timeout: Duration,
    /// TLS handshakes must finish within this; a connection must then
    /// start its first request within `header_timeout`.
    pub handshake_timeout: Duration,
    /// Items of one `EventList` (the apiserver sends at most
    /// `--audit-webhook-batch-max-size`, default 400); more get 413.
    pub max_batch_items: usize,
    /// Nesting depth of one event; deeper gets 400.
    pub max_json_depth: usize,
    /// JSON values (objects, arrays, keys, strings, numbers, literals) of
    /// one event; more get 413. Bounds what decoding one event in full costs.
    pub max_event_values: usize,
    /// Connections open at once (handshakes included); lowered at start to
    /// the descriptor limit (`RLIMIT_NOFILE`) less `reserved_fds`. Beyond
    /// it, new connections wait in the listen queue.
    pub max_connections: usize,
    /// TLS handshakes in progress at once (within `max_connections`).
    pub max_handshakes: usize,
    /// Descriptors kept for the journal, the index, file sources and
    /// checkpoints: never used for connections.
    pub reserved_fds: usize,
}

impl Limits {
    /// What one webhook body may make once parsed.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_items: self.max_batch_items,
            max_depth: self.max_json_depth,
            max_item_values: self.max_event_values,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        let parse = ParseLimits::default();
        Limits {
            max_body_bytes: 64 << 20,
            max_inflight_bytes: 256 << 20,
            queue_wait: Duration::from_secs(2),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_batch_items: parse.max_items,
            max_json_depth: parse.max_depth,
            max_event_values: parse.max_item_values,
            max_connections: 1024,
            max_handshakes: 128,
            reserved_fds: 256,
        }
    }
}

/// One configured cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Policy, redaction and name.
    pub source: Arc<KubeSource>,
    /// A gap record is written when the cluster is silent longer than this.
    pub silence_limit: Option<Duration>,
}

/// When each cluster was last heard from, and whether its silence was reported.
#[derive(Debug, Default)]
pub struct LastSeen {
    /// cluster → (last batch, silence reported since, wall-clock time of last batch)
    pub clusters: HashMap<String, (Instant, Option<jiff::Timestamp>, jiff::Timestamp)>,
}

/// The state shared by handlers.
#[derive(Debug)]
pub struct ServerState {
    /// The journal.
    pub journal: Arc<Journal>,
    /// The Kubernetes store (deduplication).
    pub store: Arc<KubeStore>,
    /// Configured clusters by name.
    pub clusters: HashMap<String, Cluster>,
    /// Credentials → clusters.
    pub auth: Authenticator,
    /// Limits.
    pub limits: Limits,
    /// Ingest metrics.
    pub metrics: Arc<IngestMetrics>,
    /// The registry served on `/metrics`.
    pub registry: Arc<Registry>,
    /// Request-body bytes in flight, in KiB permits.
    pub inflight: Arc<Semaphore>,
    /// Last contact per cluster.
    pub last_seen: Mutex<LastSeen>,
    /// Where request bodies are parsed, prepared and hashed.
    pub cpu: CpuPool,
}

impl ServerState {
    /// Permits for `bytes` of body.
    pub fn permits_for(bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
    }

    /// The semaphore for `limits`.
    pub fn inflight_for(limits: &Limits) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(
            Self::permits_for(limits.max_inflight_bytes) as usize
        ))
    }
}
