//! The apiserver's validation of an audit policy, with its messages.
//!
//! Mirrors `k8s.io/apiserver/pkg/apis/audit/validation.ValidatePolicy` and
//! the loader's refusal of a policy with no rules: levels and stages must be
//! known, groups must be DNS subdomains (or `*`), `nonResourceURLs` must
//! start with `/` and may only end in `*`, a rule cannot have both resources
//! and non-resource URLs, and `resourceNames` need `resources`. Field paths
//! and message texts follow the apiserver's (`rules[0].level: Unsupported
//! value: …`), so people can search for them.

use crate::load::{RawPolicy, RawRule};
use crate::yaml_tree::Position;

/// Everything that can be wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The text is not YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// Nothing but whitespace and comments.
    #[error("empty policy file: expected an audit.k8s.io/v1 Policy")]
    Empty,
    /// More than one YAML document.
    #[error("more than one YAML document: only the first one is used")]
    ExtraDocument,
    /// Larger than any real policy.
    #[error("policy is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The size found.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A mapping key that is not a string.
    #[error("mapping key is not a string")]
    NonStringKey,
    /// A field the apiserver does not know (it ignores it, with a warning).
    #[error(
        "unknown field {0:?}: the apiserver ignores it (a typo here silently changes the policy)"
    )]
    UnknownField(String),
    /// A field given twice (the apiserver uses the last one, with a warning).
    #[error("duplicate field {0:?}: the apiserver uses the last one")]
    DuplicateField(String),
    /// A value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field takes.
        expected: &'static str,
        /// What was there.
        found: &'static str,
    },
    /// `apiVersion` or `kind` missing.
    #[error(
        "{0} is not set: a policy starts with `apiVersion: audit.k8s.io/v1` and `kind: Policy`"
    )]
    MissingTypeMeta(&'static str),
    /// An API version the apiserver does not serve for policies.
    #[error("no kind \"Policy\" is registered for version {0:?}: use audit.k8s.io/v1")]
    WrongApiVersion(String),
    /// Not a Policy.
    #[error("kind is {0:?}, expected \"Policy\"")]
    WrongKind(String),
    /// No rules: the apiserver refuses to start.
    #[error("loaded illegal policy with 0 rules")]
    NoRules,
    /// A required field is missing.
    #[error("Required value")]
    Required,
    /// An unknown level.
    #[error("Unsupported value: {0:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\"")]
    UnsupportedLevel(String),
    /// An unknown stage.
    #[error("Invalid value: {0:?}: allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic")]
    InvalidStage(String),
    /// A non-resource URL that does not start with `/`.
    #[error("Invalid value: {0:?}: non-resource URL rules must begin with a '/' character")]
    NonResourceUrlNoSlash(String),
    /// A `*` that is not the last character of a non-resource URL.
    #[error("Invalid value: {0:?}: non-resource URL wildcards '*' must be the final character of the rule")]
    NonResourceUrlWildcard(String),
    /// A rule with both resources/namespaces and non-resource URLs.
    #[error("Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs", json_list(.0))]
    ResourcesAndNonResourceUrls(Vec<String>),
    /// A group that is not a DNS subdomain.
    #[error("Invalid value: {group:?}: {reason}")]
    InvalidGroup {
        /// The group.
        group: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// `resourceNames` without `resources`.
    #[error("Invalid value: {}: using resourceNames requires at least one resource", json_list(.0))]
    ResourceNamesWithoutResources(Vec<String>),
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS_SUBDOMAIN_TOO_LONG: &str = "must be no more than 253 characters";

/// A problem found by validation: what, the field path, the rule, where.
pub(crate) type Finding = (Problem, Option<String>, Option<usize>, Option<Position>);

/// Validates a decoded policy as the apiserver does.
pub(crate) fn validate(policy: &RawPolicy) -> Vec<Finding> {
    let mut findings = Vec::new();
    validate_stages(&policy.omit_stages, "omitStages", None, &mut findings);
    if policy.rules.is_empty() {
        findings.push((Problem::NoRules, None, None, Some(policy.rules_position)));
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        validate_rule(index, rule, &mut findings);
    }
    findings
}

fn validate_rule(index: usize, rule: &RawRule, findings: &mut Vec<Finding>) {
    let path = format!("rules[{index}]");
    let at = |field: &str| Some(format!("{path}.{field}"));
    match &rule.level {
        None => findings.push((
            Problem::Required,
            at("level"),
            Some(index),
            Some(rule.position),
        )),
        Some(level) => {
            if level.value.parse::<whodid_model::k8s::Level>().is_err() {
                findings.push((
                    Problem::UnsupportedLevel(level.value.clone()),
                    at("level"),
                    Some(index),
                    Some(level.position),
                ));
            }
        }
    }
    for (i, url) in rule.non_resource_urls.iter().enumerate() {
        let field = Some(format!("{path}.nonResourceURLs[{i}]"));
        if url.value == "*" {
            continue;
        }
        if !url.value.starts_with('/') {
            findings.push((
                Problem::NonResourceUrlNoSlash(url.value.clone()),
                field.clone(),
                Some(index),
                Some(url.position),
            ));
        }
        if !url.value.is_empty() && url.value[..url.value.len() - 1].contains('*') {
            findings.push((
                Problem::NonResourceUrlWildcard(url.value.clone()),
                field,
                Some(index),
                Some(url.position),
            ));
        }
    }
    for gr in &rule.resources {
        if let Some(group) = &gr.group {
            if !group.value.is_empty() && group.value != "*" {
                if let Some(reason) = dns_subdomain_problem(&group.value) {
                    findings.push((
                        Problem::InvalidGroup {
                            group: group.value.clone(),
                            reason,
                        },
                        at("resources.group"),
                        Some(index),
                        Some(group.position),
                    ));
                }
            }
        }
        if !gr.resource_names.is_empty() && gr.resources.is_empty() {
            findings.push((
                Problem::ResourceNamesWithoutResources(
                    gr.resource_names.iter().map(|s| s.value.clone()).collect(),
                ),
                at("resources.resourceNames"),
                Some(index),
                Some(gr.resource_names_position),
            ));
        }
    }
    validate_stages(
        &rule.omit_stages,
        &format!("{path}.omitStages"),
        Some(index),
        findings,
    );
    if !rule.non_resource_urls.is_empty()
        && (!rule.resources.is_empty() || !rule.namespaces.is_empty())
    {
        findings.push((
            Problem::ResourcesAndNonResourceUrls(
                rule.non_resource_urls
                    .iter()
                    .map(|s| s.value.clone())
                    .collect(),
            ),
            at("nonResourceURLs"),
            Some(index),
            Some(rule.non_resource_urls_position),
        ));
    }
}

fn validate_stages(
    stages: &[crate::load::Spanned<String>],
    path: &str,
    rule: Option<usize>,
    findings: &mut Vec<Finding>,
) {
    for (i, stage) in stages.iter().enumerate() {
        if stage.value.parse::<whodid_model::k8s::Stage>().is_err() {
            findings.push((
                Problem::InvalidStage(stage.value.clone()),
                Some(format!("{path}[{i}]")),
                rule,
                Some(stage.position),
            ));
        }
    }
}

/// The apiserver's `IsDNS1123Subdomain`.
fn dns_subdomain_problem(name: &str) -> Option<&'static str> {
    if name.len() > 253 {
        return Some(DNS_SUBDOMAIN_TOO_LONG);
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if name.split('.').all(label_ok) {
        None
    } else {
        Some(DNS_SUBDOMAIN_MESSAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subdomains() {
        assert!(dns_subdomain_problem("rbac.authorization.k8s.io").is_none());
        assert!(dns_subdomain_problem("apps").is_none());
        assert!(dns_subdomain_problem("Apps_v1").is_some());
        assert!(dns_subdomain_problem("apps.").is_some());
        assert!(dns_subdomain_problem("-apps").is_some());
    }
}
