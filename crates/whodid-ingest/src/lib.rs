//! Ingest: audit events from their sources into the journal, acknowledged
//! only once durable.
//!
//! Every source ends here. Kubernetes events (webhook batches and log-file
//! lines) are [`kube::prepare`]d — identity, the cluster's policy, secret
//! [`kube::redact`]ion with a keyed hash, envelope — and stored by
//! [`kube::store::KubeStore`], which deduplicates on (cluster, auditID,
//! stage) and answers only once the journal has made them durable. Auth logs
//! and PostgreSQL logs go through the same [`line_source::LineParser`]
//! interface. File sources resume exactly where they stopped
//! ([`positions`]); what was lost before whodid could read it becomes a
//! [`gap`] record. [`metrics`] counts all of it.
//!
//! **Invariant:** nothing is reported stored before the journal says it is
//! durable. **Invariant:** secret values are replaced before any byte
//! reaches the journal, unless redaction is switched off for the source.
#![warn(missing_docs)]

pub mod dedup;
pub mod gap;
pub mod import;
pub mod kube;
pub mod line_source;
pub mod metrics;
pub mod positions;
mod read_ahead;
pub mod redaction_key;
pub mod sink;
pub mod tail_source;

pub use metrics::IngestMetrics;
