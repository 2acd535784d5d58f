//! `Event` and `EventList`: one audited request at one stage, and the batch the
//! webhook backend posts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::level::{Level, Stage};

/// An `audit.k8s.io/v1` `Event`.
///
/// `kind` and `apiVersion` are optional: the log backend writes them on every
/// line, but the webhook backend writes them only on the enclosing
/// [`EventList`]. Fields this version does not know are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `"Event"` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `"audit.k8s.io/v1"` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The level the event was generated at.
    pub level: Level,
    /// Unique per request; shared by the events of its stages.
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage this event was generated at.
    pub stage: Stage,
    /// The request URI as sent by the client.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The Kubernetes verb (`get`, `list`, `create`, …) or lower-cased HTTP method.
    pub verb: String,
    /// The authenticated user.
    #[serde(default)]
    pub user: UserInfo,
    /// The user being impersonated, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    /// Source IPs, from `X-Forwarded-For`, `X-Real-Ip` and the peer address.
    #[serde(default, rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The object the request is about (resource requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    /// The response status (absent on `RequestReceived`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    /// The request body, at `Request` level and above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// The response body, at `RequestResponse` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// When the request reached the apiserver (RFC 3339 with microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_received_timestamp: Option<String>,
    /// When this stage was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_timestamp: Option<String>,
    /// Annotations set by admission and authorization (`authorization.k8s.io/decision`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Fields this version of whodid does not know, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `audit.k8s.io/v1` `EventList`, as the webhook backend posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// `"EventList"`.
    pub kind: String,
    /// `"audit.k8s.io/v1"`.
    pub api_version: String,
    /// List metadata (`{}` in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The events; items carry no `kind`/`apiVersion` of their own.
    #[serde(default)]
    pub items: Vec<Event>,
    /// Fields this version of whodid does not know, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `authentication.k8s.io/v1` `UserInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user's name (`None` when absent; see [`UserInfo::name`]).
    #[serde(default, rename = "username", skip_serializing_if = "Option::is_none")]
    pub username_field: Option<String>,
    /// A unique value that identifies the user across time (see [`UserInfo::uid`]).
    #[serde(default, rename = "uid", skip_serializing_if = "Option::is_none")]
    pub uid_field: Option<String>,
    /// The groups the user is a member of (`None` when absent; see [`UserInfo::groups`]).
    #[serde(default, rename = "groups", skip_serializing_if = "Option::is_none")]
    pub group_list: Option<Vec<String>>,
    /// Extra information from the authenticator (e.g. the credential id of a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
    /// Fields this version of whodid does not know, kept as received.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl UserInfo {
    /// The user's name; empty for unauthenticated requests.
    pub fn name(&self) -> &str {
        self.username_field.as_deref().unwrap_or_default()
    }

    /// The user's uid; empty when not set.
    pub fn uid(&self) -> &str {
        self.uid_field.as_deref().unwrap_or_default()
    }

    /// The user's groups.
    pub fn groups(&self) -> &[String] {
        self.group_list.as_deref().unwrap_or_default()
    }

    /// True when no user information is present (the 401 case).
    pub fn is_empty(&self) -> bool {
        self.name().is_empty() && self.uid().is_empty() && self.groups().is_empty()
    }
}

/// `audit.k8s.io/v1` `ObjectReference`: the object a request is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// The resource (plural, lower case), e.g. `pods`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's UID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The API group; empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The object's resource version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The subresource, e.g. `exec` or `status`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// Fields this version of whodid does not know, kept as received.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The parts of a `meta/v1` `Status` whodid reads; the rest is kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// The HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// `Success` or `Failure`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A machine-readable reason (`Forbidden`, `NotFound`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `metadata`, `details` and anything else, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
