//! Gap records: losses that happened before whodid, written into the stream
//! so that a reviewer sees the hole instead of assuming there was none.
//!
//! A gap is recorded when a tailer finds a rotated file deleted before it
//! was read to the end, or a file truncated under it; when a sender stops
//! mid-batch; when a cluster is silent for longer than configured (and
//! again when it speaks again, with the silence's extent); when whodid
//! itself was not running for longer than a sender retries (one record per
//! cluster, with the extent, written as `serve` starts). A gap record is
//! an ordinary record of its stream: envelope action `whodid.gap`, raw
//! bytes a small JSON document (`kind: Gap`, `apiVersion: whodid.io/v1`)
//! with what is known.

use jiff::Timestamp;
use serde::Serialize;
use whodid_journal::RecordInput;
use whodid_model::{Actor, ActorKind, Envelope, Outcome, Stream, ENVELOPE_VERSION};

/// The envelope action of gap records.
pub const GAP_ACTION: &str = "whodid.gap";

/// Why data is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapReason {
    /// A rotated file was deleted before it was read to the end (or
    /// backups may have been rotated and deleted unseen: `lostBytes` absent).
    RotatedFileDeleted,
    /// A file was truncated in place with bytes not yet read.
    Truncated,
    /// The position to resume from names a file that is nowhere to be found.
    ResumeFileMissing,
    /// A sender stopped in the middle of a batch.
    SenderStoppedMidBatch,
    /// A cluster sent nothing for longer than its configured silence limit.
    Silent,
    /// A reported silence ended: the record gives its extent.
    SilenceEnded,
    /// A line too long to keep was skipped.
    LineTooLong,
    /// A file cannot be decoded from some point on (corrupt or cut gzip).
    Unreadable,
    /// whodid itself was not running (stopped, killed or crashed) for
    /// longer than the sender retries: `from` is when it was last known
    /// alive, `to` when it started again.
    WhodidNotRunning,
}

/// What is known about one gap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// Why.
    pub reason: GapReason,
    /// The configured source (cluster, file source).
    pub source: String,
    /// The file concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The start of the missing period, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// Its end, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// Bytes known to be lost, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_bytes: Option<u64>,
    /// Free text for the reviewer.
    pub detail: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GapDocument<'a> {
    kind: &'static str,
    api_version: &'static str,
    detected: Timestamp,
    #[serde(flatten)]
    gap: &'a Gap,
}

impl Gap {
    /// The record of this gap in `stream`, detected at `now`.
    pub fn record(&self, stream: Stream, cluster: &str, host: &str, now: Timestamp) -> RecordInput {
        let document = GapDocument {
            kind: "Gap",
            api_version: "whodid.io/v1",
            detected: now,
            gap: self,
        };
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            stream,
            time: self.from.unwrap_or(now),
            actor: Actor {
                name: "whodid".to_owned(),
                kind: ActorKind::Service,
                identified_by: "whodid".to_owned(),
                ..Actor::default()
            },
            action: GAP_ACTION.to_owned(),
            target: self.file.clone().unwrap_or_else(|| self.source.clone()),
            namespace: String::new(),
            cluster: cluster.to_owned(),
            host: host.to_owned(),
            source: String::new(),
            outcome: Outcome::Failure,
            redacted: Vec::new(),
            origin: None,
        };
        RecordInput {
            envelope: envelope.to_json(),
            raw: serde_json::to_vec(&document).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_record_says_what_is_known() {
        let gap = Gap {
            reason: GapReason::RotatedFileDeleted,
            source: "kube-log".into(),
            file: Some("/var/log/audit-2026-11-22T18-29-42.284.log".into()),
            from: None,
            to: None,
            lost_bytes: Some(1234),
            detail: "deleted before it was read to the end".into(),
        };
        let now: Timestamp = "2026-11-22T18:30:00Z".parse().unwrap();
        let record = gap.record(Stream::KubeAudit, "prod", "", now);
        let doc: serde_json::Value = serde_json::from_slice(&record.raw).unwrap();
        assert_eq!(doc["kind"], "Gap");
        assert_eq!(doc["reason"], "rotated-file-deleted");
        assert_eq!(doc["lostBytes"], 1234);
        let envelope = Envelope::from_json(&record.envelope).unwrap();
        assert_eq!(envelope.action, GAP_ACTION);
        assert_eq!(envelope.cluster, "prod");
        assert_eq!(envelope.time, now);
    }
}
