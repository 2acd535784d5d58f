//! One Kubernetes audit event on its way in: identity, policy, redaction,
//! envelope.
//!
//! [`KubeSource`] holds what one cluster's events go through; `prepare`
//! turns the bytes of one event into what the journal stores, or says why it
//! stores nothing. The event is read as an [`EventSummary`] (bodies skipped)
//! and decoded in full only when the policy downgrades it or it may hold a
//! secret; otherwise its bytes are stored exactly as received.

use whodid_journal::RecordInput;
use whodid_model::k8s::EventSummary;
use whodid_model::k8s::{decode_event, Level};
use whodid_model::{Actor, ActorKind, Envelope, Outcome, Stream, ENVELOPE_VERSION};
use whodid_parse::kube::summary_envelope;
use whodid_policy::attributes::RequestAttributes;
use whodid_policy::evaluate::{Decision, Evaluator};

use crate::dedup::DedupKey;
use crate::kube::downgrade::{cut_bodies, downgrade as downgrade_members};
use crate::kube::redact::{may_need_redaction, redact_event, redact_unparsed};
use crate::redaction_key::RedactionKey;

/// What one cluster's events go through before the journal.
#[derive(Debug, Clone)]
pub struct KubeSource {
    /// The cluster's name, from its credential; goes into every envelope.
    pub cluster: String,
    /// The cluster's audit policy, if it has one.
    pub policy: Option<Evaluator>,
    /// The redaction key, or `None` when redaction is switched off.
    pub redaction: Option<RedactionKey>,
}

/// What became of one event.
#[derive(Debug)]
pub enum Prepared {
    /// To be stored.
    Keep {
        /// Its (auditID, stage) identity, for deduplication.
        key: DedupKey,
        /// What the journal stores.
        record: RecordInput,
        /// Whether secret values were replaced.
        redacted: bool,
    },
    /// The policy does not record it (level `None` or an omitted stage).
    DroppedByPolicy,
    /// Not an audit event: stored as an invalid record, bytes as received.
    Invalid {
        /// What the journal stores.
        record: RecordInput,
        /// What is wrong.
        reason: String,
    },
}

impl KubeSource {
    /// Prepares the bytes of one event.
    pub fn prepare(&self, raw: &[u8]) -> Prepared {
        let summary = match EventSummary::from_json(raw) {
            Ok(summary) => summary,
            Err(e) => return self.invalid(raw, format!("not an audit event: {e}")),
        };
        if let Some(version) = summary.api_version.as_deref() {
            if version != whodid_model::k8s::API_VERSION {
                return self.invalid(
                    raw,
                    format!("apiVersion {version:?} is not audit.k8s.io/v1"),
                );
            }
        }
        let decision = self
            .policy
            .as_ref()
            .map(|policy| policy.decide(&RequestAttributes::from_summary(&summary)));
        if let Some(decision) = &decision {
            if !decision.emits(summary.stage) {
                return Prepared::DroppedByPolicy;
            }
        }
        let mut envelope = match summary_envelope(&summary) {
            Ok(envelope) => envelope,
            Err(e) => return self.invalid(raw, e.to_string()),
        };
        envelope.cluster.clone_from(&self.cluster);
        let key = DedupKey::of(&self.cluster, &summary.audit_id, summary.stage);
        let downgrade = decision.filter(|d| d.level < summary.level.level || d.omit_managed_fields);
        let resource = summary
            .object_ref
            .as_ref()
            .map(|o| o.resource.as_ref())
            .unwrap_or_default();
        // A body the policy cuts out needs no redaction: a secrets event
        // recorded at Metadata is stored as received, undecoded.
        let level = downgrade
            .as_ref()
            .map_or(summary.level.level, |d| d.level.min(summary.level.level));
        let has_body = (summary.request_object_text.is_some() && level.keeps_request_body())
            || (summary.response_object_text.is_some() && level.keeps_response_body());
        let scan = self.redaction.is_some() && may_need_redaction(raw, resource, has_body);
        let stored = if downgrade.is_some() || scan {
            match self.rewrite(raw, &summary, downgrade, scan, &mut envelope) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => raw.to_vec(),
                Err(reason) => return self.invalid(raw, reason),
            }
        } else {
            raw.to_vec()
        };
        let redacted = !envelope.redacted.is_empty();
        Prepared::Keep {
            key,
            record: RecordInput {
                envelope: envelope.to_json(),
                raw: stored,
            },
            redacted,
        }
    }

    /// The event re-encoded after policy and redaction, or `None` when
    /// neither changed it.
    fn rewrite(
        &self,
        raw: &[u8],
        summary: &EventSummary<'_>,
        downgrade: Option<Decision>,
        needs_redaction: bool,
        envelope: &mut Envelope,
    ) -> Result<Option<Vec<u8>>, String> {
        let level = summary.level.level;
        if let Some(mut decision) = downgrade {
            decision.level = decision.level.min(level);
            // The fast path: only bodies removed (no managed fields to
            // strip from a body that stays, nothing to redact).
            let managed = decision.omit_managed_fields
                && decision.level >= Level::Request
                && memchr::memmem::find(raw, b"\"managedFields\"").is_some();
            if !needs_redaction && !managed {
                return Ok(if decision.level < level {
                    cut_bodies(raw, summary, decision.level)
                        .or_else(|| downgrade_members(raw, decision.level))
                } else {
                    None
                });
            }
        } else if !needs_redaction {
            return Ok(None);
        }
        let mut event = decode_event(raw).map_err(|e| e.to_string())?;
        let mut changed = false;
        if let Some(mut decision) = downgrade {
            decision.level = decision.level.min(level);
            if let Some(applied) = whodid_policy::apply::apply_to_event(&decision, &event) {
                changed |= applied != event;
                event = applied;
            }
        }
        if let Some(key) = &self.redaction {
            let paths = redact_event(&mut event, key);
            if !paths.is_empty() {
                changed = true;
                envelope.redacted = paths;
            }
        }
        if !changed {
            return Ok(None);
        }
        serde_json::to_vec(&event)
            .map(Some)
            .map_err(|e| format!("re-encoding the event: {e}"))
    }

    fn invalid(&self, raw: &[u8], reason: String) -> Prepared {
        let cleaned = self
            .redaction
            .as_ref()
            .and_then(|key| redact_unparsed(raw, key));
        let Some((raw, paths)) = cleaned else {
            return Prepared::Invalid {
                record: invalid_record(Stream::KubeAudit, &self.cluster, raw, &reason),
                reason,
            };
        };
        let mut record = invalid_record(Stream::KubeAudit, &self.cluster, &raw, &reason);
        // What was replaced, in the envelope as for any redacted event.
        if let Ok(mut envelope) = Envelope::from_json(&record.envelope) {
            envelope.redacted = paths;
            record.envelope = envelope.to_json();
        }
        Prepared::Invalid { record, reason }
    }
}

/// A record for bytes that arrived as an event but are not one: kept as
/// received (nothing accepted is lost), marked `whodid.invalid`.
pub fn invalid_record(stream: Stream, cluster: &str, raw: &[u8], reason: &str) -> RecordInput {
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        stream,
        time: jiff::Timestamp::now(),
        actor: Actor {
            name: String::new(),
            kind: ActorKind::Unknown,
            ..Actor::default()
        },
        action: "whodid.invalid".to_owned(),
        target: reason.chars().take(200).collect(),
        namespace: String::new(),
        cluster: cluster.to_owned(),
        host: String::new(),
        source: String::new(),
        outcome: Outcome::Failure,
        redacted: Vec::new(),
        origin: None,
    };
    RecordInput {
        envelope: envelope.to_json(),
        raw: raw.to_vec(),
    }
}
