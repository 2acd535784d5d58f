//! A borrowed summary of an audit event: the fields that identify it, place
//! it in the envelope and decide its policy, read straight from the JSON
//! text with the request and response bodies skipped unread.
//!
//! Ingest reads this instead of a whole [`Event`] (bodies are most of an
//! event's bytes); the policy engine evaluates on it
//! (`whodid_policy::attributes::RequestAttributes::from_summary`) and the
//! parser builds the envelope from it (`whodid_parse::kube::summary_envelope`).
//! Strings are borrowed from the text where no unescaping is needed.
//!
//! The JSON text of `level` and of the two bodies is kept too (as
//! [`RawValue`]s, slices of the event's own bytes), so that ingest can lower
//! an event's level by cutting the bodies out of the bytes it received
//! instead of reading the event a second time.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::k8s::{Event, Level, Stage, UserInfo};

/// The fields of an event that its envelope, its identity and its policy
/// decision need, borrowed from the JSON text where no unescaping is needed.
///
/// Ingest reads this instead of a whole [`Event`]: the request and response
/// bodies, which are most of an event's bytes, are skipped unread.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary<'a> {
    /// `"Event"` when present.
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// `"audit.k8s.io/v1"` when present.
    #[serde(borrow, default)]
    pub api_version: Option<Cow<'a, str>>,
    /// The level the event was generated at, with its JSON text.
    #[serde(borrow)]
    pub level: LevelText<'a>,
    /// The request's audit ID.
    #[serde(borrow, rename = "auditID")]
    pub audit_id: Cow<'a, str>,
    /// The stage.
    pub stage: Stage,
    /// The request URI.
    #[serde(borrow, rename = "requestURI")]
    pub request_uri: Cow<'a, str>,
    /// The verb.
    #[serde(borrow)]
    pub verb: Cow<'a, str>,
    /// The authenticated user.
    #[serde(borrow, default)]
    pub user: UserSummary<'a>,
    /// The impersonated user.
    #[serde(borrow, default)]
    pub impersonated_user: Option<UserSummary<'a>>,
    /// Source IPs.
    #[serde(borrow, default, rename = "sourceIPs")]
    pub source_ips: Vec<Cow<'a, str>>,
    /// The object.
    #[serde(borrow, default)]
    pub object_ref: Option<ObjectSummary<'a>>,
    /// The response status.
    #[serde(default)]
    pub response_status: Option<StatusSummary>,
    /// When the request was received.
    #[serde(borrow, default)]
    pub request_received_timestamp: Option<Cow<'a, str>>,
    /// When this stage was reached.
    #[serde(borrow, default)]
    pub stage_timestamp: Option<Cow<'a, str>>,
    /// The JSON text of `requestObject`, unread.
    #[serde(borrow, default, rename = "requestObject")]
    pub request_object_text: Option<&'a RawValue>,
    /// The JSON text of `responseObject`, unread.
    #[serde(borrow, default, rename = "responseObject")]
    pub response_object_text: Option<&'a RawValue>,
}

/// An event's `level` and the JSON text it was read from.
#[derive(Debug, Clone, Copy)]
pub struct LevelText<'a> {
    /// The level.
    pub level: Level,
    /// Its JSON text in the event (`None` for a summary of a decoded event).
    pub text: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for LevelText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: &'de RawValue = Deserialize::deserialize(deserializer)?;
        let level = Level::deserialize(text).map_err(serde::de::Error::custom)?;
        Ok(LevelText {
            level,
            text: Some(text),
        })
    }
}

/// The user fields of an [`EventSummary`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserSummary<'a> {
    /// The user name.
    #[serde(borrow, default)]
    pub username: Cow<'a, str>,
    /// The uid.
    #[serde(borrow, default)]
    pub uid: Cow<'a, str>,
    /// The groups.
    #[serde(borrow, default)]
    pub groups: Vec<Cow<'a, str>>,
}

/// The `objectRef` fields of an [`EventSummary`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary<'a> {
    /// The resource (`pods`).
    #[serde(borrow, default)]
    pub resource: Cow<'a, str>,
    /// The namespace.
    #[serde(borrow, default)]
    pub namespace: Cow<'a, str>,
    /// The name.
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    /// The API group.
    #[serde(borrow, default)]
    pub api_group: Cow<'a, str>,
    /// The subresource (`exec`).
    #[serde(borrow, default)]
    pub subresource: Cow<'a, str>,
}

/// The `responseStatus` fields of an [`EventSummary`].
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct StatusSummary {
    /// The HTTP status code.
    #[serde(default)]
    pub code: Option<i64>,
}

impl<'a> EventSummary<'a> {
    /// Reads the summary of one event from its JSON text.
    /// (UTF-8 checked once: [`crate::json::from_bytes`].)
    pub fn from_json(bytes: &'a [u8]) -> Result<EventSummary<'a>, serde_json::Error> {
        crate::json::from_bytes(bytes)
    }

    /// The summary of a decoded event, borrowing from it.
    pub fn of_event(event: &'a Event) -> EventSummary<'a> {
        let user = |u: &'a UserInfo| UserSummary {
            username: Cow::Borrowed(u.name()),
            uid: Cow::Borrowed(u.uid()),
            groups: u
                .groups()
                .iter()
                .map(|g| Cow::Borrowed(g.as_str()))
                .collect(),
        };
        EventSummary {
            kind: event.kind.as_deref().map(Cow::Borrowed),
            api_version: event.api_version.as_deref().map(Cow::Borrowed),
            level: LevelText {
                level: event.level,
                text: None,
            },
            audit_id: Cow::Borrowed(&event.audit_id),
            stage: event.stage,
            request_uri: Cow::Borrowed(&event.request_uri),
            verb: Cow::Borrowed(&event.verb),
            user: user(&event.user),
            impersonated_user: event.impersonated_user.as_ref().map(user),
            source_ips: event
                .source_ips
                .iter()
                .map(|s| Cow::Borrowed(s.as_str()))
                .collect(),
            object_ref: event.object_ref.as_ref().map(|o| ObjectSummary {
                resource: Cow::Borrowed(&o.resource),
                namespace: Cow::Borrowed(&o.namespace),
                name: Cow::Borrowed(&o.name),
                api_group: Cow::Borrowed(&o.api_group),
                subresource: Cow::Borrowed(&o.subresource),
            }),
            response_status: event.response_status.as_ref().map(|s| StatusSummary {
                code: s.code.map(i64::from),
            }),
            request_received_timestamp: event
                .request_received_timestamp
                .as_deref()
                .map(Cow::Borrowed),
            stage_timestamp: event.stage_timestamp.as_deref().map(Cow::Borrowed),
            request_object_text: None,
            response_object_text: None,
        }
    }
}
