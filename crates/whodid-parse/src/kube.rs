//! Kubernetes `audit.k8s.io/v1` events to envelopes.
//!
//! The event itself is kept as received (see `whodid_model::k8s`); the
//! envelope carries what every stream shares:
//!
//! - **actor**: `user.username` with `user.groups`, `identified_by`
//!   `kubernetes-user`. Service accounts, nodes and control-plane
//!   components (`system:*`) are services, `system:anonymous` and an empty
//!   user are unknown, everyone else a person.
//! - **impersonation**: when `impersonatedUser` is present the actor is
//!   still the *authenticated* user — the one who is accountable and whose
//!   credential was used — and `via` names the impersonated user, whose
//!   permissions the request was authorized with (`identified_by` becomes
//!   `kubernetes-user impersonating`). So `whodid who alice` finds what
//!   alice did, including as someone else (match `actor.name`), and
//!   `whodid who bob` should also show what others did as bob (match
//!   `actor.via`), marked as such.
//! - **action**: the verb; **target**: `resource[/subresource][/name]`
//!   (`pods/exec/web-1`, `secrets`), or the path for non-resource requests
//!   (`/healthz`); **namespace**: the object's.
//! - **source**: the first of `sourceIPs` (the client as the apiserver saw
//!   it, `X-Forwarded-For` first).
//! - **outcome**: `responseStatus.code` 2xx/3xx success (and 101, the
//!   upgrade of `exec`/`attach`/`portforward`), 401/403 denied, anything
//!   else failure; no code (stage `RequestReceived`) unknown.
//! - **time**: `stageTimestamp`, else `requestReceivedTimestamp`.

pub use whodid_model::k8s::summary::{EventSummary, ObjectSummary, StatusSummary, UserSummary};
use whodid_model::k8s::Event;
use whodid_model::{Actor, ActorKind, Envelope, Outcome, Stream, ENVELOPE_VERSION};

/// Why an event has no envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// Neither `stageTimestamp` nor `requestReceivedTimestamp` is present.
    #[error("event {audit_id}: no stageTimestamp or requestReceivedTimestamp")]
    NoTimestamp {
        /// The event's `auditID`.
        audit_id: String,
    },
    /// A timestamp that is not RFC 3339.
    #[error("event {audit_id}: timestamp {text:?} is not RFC 3339")]
    BadTimestamp {
        /// The event's `auditID`.
        audit_id: String,
        /// The text.
        text: String,
    },
}

/// The envelope of the event `summary` summarises.
pub fn summary_envelope(summary: &EventSummary<'_>) -> Result<Envelope, KubeError> {
    let stamp = summary
        .stage_timestamp
        .as_deref()
        .or(summary.request_received_timestamp.as_deref())
        .ok_or_else(|| KubeError::NoTimestamp {
            audit_id: summary.audit_id.to_string(),
        })?;
    let time = crate::syslog::rfc3339_timestamp(stamp).ok_or_else(|| KubeError::BadTimestamp {
        audit_id: summary.audit_id.to_string(),
        text: stamp.chars().take(40).collect(),
    })?;
    let impersonated = summary
        .impersonated_user
        .as_ref()
        .map(|u| u.username.as_ref())
        .filter(|name| !name.is_empty());
    let groups: Vec<String> = summary.user.groups.iter().map(|g| g.to_string()).collect();
    let actor = Actor {
        name: summary.user.username.to_string(),
        kind: kind_of(&summary.user.username, &groups),
        groups,
        identified_by: if impersonated.is_some() {
            "kubernetes-user impersonating".to_owned()
        } else {
            "kubernetes-user".to_owned()
        },
        via: impersonated.unwrap_or_default().to_owned(),
    };
    let (target, namespace) = match &summary.object_ref {
        Some(object) => {
            let mut target = object.resource.to_string();
            for part in [&object.subresource, &object.name] {
                if !part.is_empty() {
                    target.push('/');
                    target.push_str(part);
                }
            }
            (target, object.namespace.to_string())
        }
        None => {
            let path = summary.request_uri.split('?').next().unwrap_or_default();
            (path.to_owned(), String::new())
        }
    };
    let outcome = match summary.response_status.and_then(|s| s.code) {
        // 101 Switching Protocols: exec, attach, port-forward upgraded.
        Some(100..=399) => Outcome::Success,
        Some(401 | 403) => Outcome::Denied,
        Some(_) => Outcome::Failure,
        None => Outcome::Unknown,
    };
    Ok(Envelope {
        v: ENVELOPE_VERSION,
        stream: Stream::KubeAudit,
        time,
        actor,
        action: summary.verb.to_string(),
        target,
        namespace,
        cluster: String::new(),
        host: String::new(),
        source: summary
            .source_ips
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        outcome,
        redacted: Vec::new(),
        origin: None,
    })
}

/// Control-plane users that are not `system:serviceaccount:`/`system:node:`.
fn kind_of(username: &str, groups: &[String]) -> ActorKind {
    if username.is_empty() || username == "system:anonymous" {
        return ActorKind::Unknown;
    }
    let service_group = groups.iter().any(|g| {
        g == "system:serviceaccounts"
            || g == "system:nodes"
            || g == "system:masters" && username.starts_with("system:")
    });
    if username.starts_with("system:") || service_group {
        return ActorKind::Service;
    }
    ActorKind::Person
}

/// The envelope of one event.
pub fn envelope(event: &Event) -> Result<Envelope, KubeError> {
    summary_envelope(&EventSummary::of_event(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> Event {
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "level": "Metadata", "auditID": "a1", "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/web/pods/web-1/exec?command=sh", "verb": "create",
            "user": {"username": "alice@example.com", "groups": ["devs", "system:authenticated"]},
            "sourceIPs": ["10.0.0.7", "192.168.0.1"],
            "objectRef": {"resource": "pods", "namespace": "web", "name": "web-1", "subresource": "exec", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 101},
            "requestReceivedTimestamp": "2026-11-22T18:24:03.000001Z",
            "stageTimestamp": "2026-11-22T18:24:04.500000Z"
        })
    }

    #[test]
    fn exec_into_a_pod() {
        let e = envelope(&event(base())).unwrap();
        assert_eq!(e.actor.name, "alice@example.com");
        assert_eq!(e.actor.kind, ActorKind::Person);
        assert_eq!(e.actor.groups, ["devs", "system:authenticated"]);
        assert_eq!(
            (e.action.as_str(), e.target.as_str(), e.namespace.as_str()),
            ("create", "pods/exec/web-1", "web")
        );
        assert_eq!(
            (e.source.as_str(), e.outcome),
            ("10.0.0.7", Outcome::Success)
        );
        assert_eq!(e.time.to_string(), "2026-11-22T18:24:04.5Z");
    }

    #[test]
    fn impersonation_keeps_the_authenticated_user() {
        let mut json = base();
        json["impersonatedUser"] = serde_json::json!({"username": "system:serviceaccount:ci:deployer", "groups": ["system:serviceaccounts"]});
        json["responseStatus"]["code"] = 403.into();
        let e = envelope(&event(json)).unwrap();
        assert_eq!(e.actor.name, "alice@example.com");
        assert_eq!(e.actor.via, "system:serviceaccount:ci:deployer");
        assert_eq!(e.actor.identified_by, "kubernetes-user impersonating");
        assert_eq!(e.outcome, Outcome::Denied);
    }

    #[test]
    fn services_unknowns_and_non_resource_requests() {
        let mut json = base();
        json["user"] = serde_json::json!({"username": "system:serviceaccount:kube-system:coredns", "groups": ["system:serviceaccounts"]});
        json.as_object_mut().unwrap().remove("objectRef");
        json["requestURI"] = "/healthz?verbose".into();
        json.as_object_mut().unwrap().remove("responseStatus");
        json.as_object_mut().unwrap().remove("stageTimestamp");
        let e = envelope(&event(json.clone())).unwrap();
        assert_eq!(e.actor.kind, ActorKind::Service);
        assert_eq!(
            (e.target.as_str(), e.outcome),
            ("/healthz", Outcome::Unknown)
        );
        assert_eq!(e.time.to_string(), "2026-11-22T18:24:03.000001Z");
        json["user"] = serde_json::json!({"username": "system:anonymous"});
        json["responseStatus"] = serde_json::json!({"code": 500});
        let e = envelope(&event(json.clone())).unwrap();
        assert_eq!(
            (e.actor.kind, e.outcome),
            (ActorKind::Unknown, Outcome::Failure)
        );
        json.as_object_mut()
            .unwrap()
            .remove("requestReceivedTimestamp");
        assert!(matches!(
            envelope(&event(json)),
            Err(KubeError::NoTimestamp { .. })
        ));
    }

    #[test]
    fn summary_from_json_gives_the_same_envelope() {
        let mut json = base();
        json["impersonatedUser"] = serde_json::json!({"username": "bob"});
        json["requestObject"] = serde_json::json!({"kind": "Pod", "spec": {"x": [1, 2]}});
        let text = serde_json::to_vec(&json).unwrap();
        let summary = EventSummary::from_json(&text).unwrap();
        assert_eq!(
            summary_envelope(&summary).unwrap(),
            envelope(&event(json)).unwrap()
        );
    }
}
