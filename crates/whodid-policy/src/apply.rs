//! Applying a decision to an event: what the apiserver would have written.
//!
//! Used to simulate a policy on a log captured at a more detailed level, and
//! at ingest to downgrade events. Mirrors `k8s.io/apiserver/pkg/audit`:
//!
//! - level `None`, or an omitted stage: no event at all;
//! - `Metadata`: no request and no response object;
//! - `Request`: the request object but no response object;
//! - `omitManagedFields`: `metadata.managedFields` removed from both objects,
//!   from every item of a list, and from every row object of a `Table`
//!   (as `copyWithoutManagedFields` does).
//!
//! The event's `level` is set to the decided level.

use serde_json::Value;
use whodid_model::k8s::{Event, Level};

use crate::evaluate::Decision;

/// The event the apiserver would have produced under `decision`, or `None`
/// when it would have produced none.
pub fn apply_to_event(decision: &Decision, event: &Event) -> Option<Event> {
    if !decision.emits(event.stage) {
        return None;
    }
    let mut out = event.clone();
    out.level = decision.level;
    if decision.level < Level::Request {
        out.request_object = None;
    }
    if decision.level < Level::RequestResponse {
        out.response_object = None;
    }
    if decision.omit_managed_fields {
        if let Some(object) = out.request_object.as_mut() {
            strip_managed_fields(object);
        }
        if let Some(object) = out.response_object.as_mut() {
            strip_managed_fields(object);
        }
    }
    Some(out)
}

/// Removes `metadata.managedFields` from an object, from the items of a list
/// and from the row objects of a `Table`.
pub fn strip_managed_fields(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
        metadata.remove("managedFields");
    }
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items {
            strip_managed_fields(item);
        }
    }
    let is_table = map.get("kind").and_then(Value::as_str) == Some("Table");
    if is_table {
        if let Some(Value::Array(rows)) = map.get_mut("rows") {
            for row in rows {
                if let Some(row_object) = row.get_mut("object") {
                    strip_managed_fields(row_object);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whodid_model::k8s::{decode_event, Stage};

    use super::*;
    use crate::evaluate::StageSet;

    fn event() -> Event {
        decode_event(
            json!({
                "level": "RequestResponse", "auditID": "a", "stage": "ResponseComplete",
                "requestURI": "/api/v1/namespaces/x/configmaps", "verb": "create",
                "user": {"username": "alice"},
                "requestObject": {"kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [{"manager": "kubectl"}]}},
                "responseObject": {"kind": "ConfigMapList", "metadata": {}, "items": [{"metadata": {"name": "c", "managedFields": []}}]}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn decision(level: Level, omit_managed_fields: bool) -> Decision {
        Decision {
            level,
            omit_stages: StageSet::EMPTY,
            omit_managed_fields,
            rule: None,
        }
    }

    #[test]
    fn levels_strip_bodies() {
        let metadata = apply_to_event(&decision(Level::Metadata, false), &event()).unwrap();
        assert!(metadata.request_object.is_none() && metadata.response_object.is_none());
        assert_eq!(metadata.level, Level::Metadata);
        let request = apply_to_event(&decision(Level::Request, false), &event()).unwrap();
        assert!(request.request_object.is_some() && request.response_object.is_none());
        assert!(apply_to_event(&decision(Level::None, false), &event()).is_none());
    }

    #[test]
    fn omitted_stage_drops_the_event() {
        let mut d = decision(Level::Metadata, false);
        d.omit_stages.insert(Stage::ResponseComplete);
        assert!(apply_to_event(&d, &event()).is_none());
    }

    #[test]
    fn managed_fields_go_from_objects_and_list_items() {
        let out = apply_to_event(&decision(Level::RequestResponse, true), &event()).unwrap();
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains("managedFields"), "{text}");
        let kept = apply_to_event(&decision(Level::RequestResponse, false), &event()).unwrap();
        assert!(serde_json::to_string(&kept)
            .unwrap()
            .contains("managedFields"));
    }
}
