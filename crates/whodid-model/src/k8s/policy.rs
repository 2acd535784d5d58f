//! `Policy`, `PolicyRule` and `GroupResources`: the kube-apiserver's audit policy.
//!
//! These are the typed, already-validated shapes. Loading a policy from YAML
//! with line-accurate errors and the apiserver's validation lives in
//! `whodid-policy`; this module only says what a policy *is*.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::level::{Level, Stage};

/// An `audit.k8s.io/v1` `Policy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `"audit.k8s.io/v1"`.
    #[serde(default)]
    pub api_version: String,
    /// `"Policy"`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The rules, first match wins.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// Stages never recorded, whatever rule matches (unioned with each rule's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omit_stages: Vec<Stage>,
    /// Strip `metadata.managedFields` from request and response bodies,
    /// unless the matching rule says otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_managed_fields: bool,
}

/// One rule of a [`Policy`]. Empty lists match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// The level for requests this rule matches.
    pub level: Level,
    /// User names this rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Groups this rule applies to; a user in any of them matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_groups: Vec<String>,
    /// Verbs this rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// Resources this rule applies to (resource requests only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<GroupResources>,
    /// Namespaces this rule applies to; `""` matches cluster-scoped requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Non-resource URL paths, exact or with a trailing `*` (non-resource requests only).
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
    /// Stages this rule does not record (unioned with the policy's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omit_stages: Vec<Stage>,
    /// Overrides the policy's `omitManagedFields` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_managed_fields: Option<bool>,
}

/// Resources of one API group, optionally restricted to names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    /// The API group; `""` is the core group.
    #[serde(default)]
    pub group: String,
    /// Resources, e.g. `pods`, `pods/log`, `pods/*`, `*/scale`, `*`; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}
