//! Evaluating a policy: the apiserver's `policyRuleEvaluator`, compiled.
//!
//! Semantics (k8s.io/apiserver/pkg/audit/policy/checker.go), which this file
//! must follow exactly — the conformance test compares every decision with
//! the apiserver's own:
//!
//! - rules are tried in order; the **first** matching rule decides;
//! - `users`: exact name match, never matches a request without a user;
//!   `userGroups`: any of the user's groups; `verbs`: exact match;
//! - a rule with `namespaces` or `resources` matches resource requests only;
//!   else a rule with `nonResourceURLs` matches non-resource requests only;
//!   else it matches both;
//! - `namespaces`: exact, `""` is cluster-scoped; `resources`: group exact or
//!   `*`, empty resources = all; entries `r`, `r/sub`, `*`, `*/sub`, `r/*`
//!   (which also matches `r` without a subresource); `resourceNames` exact;
//! - `nonResourceURLs`: `*`, exact, or a prefix when the entry ends in `*`;
//! - omitStages is the union of the policy's and the rule's; a rule's
//!   `omitManagedFields`, when set, overrides the policy's;
//! - no match → level `None` with the policy's omitStages and omitManagedFields.
//!
//! Compilation turns every list into the cheapest test for its size and
//! precomputes, per verb, which rules can match at all, so a decision scans
//! only candidate rules.

use whodid_model::k8s::{Level, Policy, PolicyRule, Stage};

use crate::attributes::RequestAttributes;
pub use crate::stage_set::StageSet;

/// The outcome of evaluating a policy on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The level to record the request at.
    pub level: Level,
    /// The stages not to record.
    pub omit_stages: StageSet,
    /// Whether to strip `metadata.managedFields` from bodies.
    pub omit_managed_fields: bool,
    /// The index of the rule that matched, if any.
    pub rule: Option<usize>,
}

impl Decision {
    /// Whether an event of `stage` is recorded under this decision.
    pub fn emits(&self, stage: Stage) -> bool {
        self.level != Level::None && !self.omit_stages.contains(stage)
    }
}

/// A policy compiled for fast, repeated decisions.
#[derive(Debug, Clone)]
pub struct Evaluator {
    rules: Vec<CompiledRule>,
    default: Decision,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    decision: Decision,
    users: Vec<Box<str>>,
    user_groups: Vec<Box<str>>,
    verbs: Vec<Box<str>>,
    scope: Scope,
}

#[derive(Debug, Clone)]
enum Scope {
    /// Neither resources, namespaces nor nonResourceURLs: matches every request.
    Any,
    /// `namespaces` and/or `resources`: resource requests only.
    Resource {
        namespaces: Vec<Box<str>>,
        resources: Vec<CompiledGroupResources>,
    },
    /// `nonResourceURLs`: non-resource requests only.
    NonResource(Vec<UrlPattern>),
}

#[derive(Debug, Clone)]
struct CompiledGroupResources {
    any_group: bool,
    group: Box<str>,
    resources: Vec<ResourcePattern>,
    resource_names: Vec<Box<str>>,
}

#[derive(Debug, Clone)]
enum ResourcePattern {
    /// `*`: every resource and subresource.
    All,
    /// `*/sub`: any resource's `sub` subresource.
    AnyWithSubresource(Box<str>),
    /// `r/*`: `r` and all its subresources.
    ResourceAndSubresources(Box<str>),
    /// `r` or `r/sub`: equal to `resource` or `resource/subresource`.
    Exact(Box<str>),
}

#[derive(Debug, Clone)]
enum UrlPattern {
    All,
    Exact(Box<str>),
    Prefix(Box<str>),
}

fn boxed(list: &[String]) -> Vec<Box<str>> {
    list.iter().map(|s| s.as_str().into()).collect()
}

fn has(list: &[Box<str>], value: &str) -> bool {
    list.iter().any(|item| &**item == value)
}

impl Evaluator {
    /// Compiles `policy`. The policy is assumed valid (see `crate::validate`);
    /// an invalid one is evaluated the way the apiserver's code would.
    pub fn new(policy: &Policy) -> Evaluator {
        let policy_stages = StageSet::from_stages(&policy.omit_stages);
        let rules = policy
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                compile_rule(index, rule, policy_stages, policy.omit_managed_fields)
            })
            .collect();
        Evaluator {
            rules,
            default: Decision {
                level: Level::None,
                omit_stages: policy_stages,
                omit_managed_fields: policy.omit_managed_fields,
                rule: None,
            },
        }
    }

    /// The number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The policy's decision for one request.
    pub fn decide(&self, attrs: &RequestAttributes<'_>) -> Decision {
        for rule in &self.rules {
            if rule.matches(attrs) {
                return rule.decision;
            }
        }
        self.default
    }
}

fn compile_rule(
    index: usize,
    rule: &PolicyRule,
    policy_stages: StageSet,
    policy_omit_managed_fields: bool,
) -> CompiledRule {
    let scope = if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        Scope::Resource {
            namespaces: boxed(&rule.namespaces),
            resources: rule
                .resources
                .iter()
                .map(|gr| CompiledGroupResources {
                    any_group: gr.group == "*",
                    group: gr.group.as_str().into(),
                    resources: gr.resources.iter().map(|r| compile_resource(r)).collect(),
                    resource_names: boxed(&gr.resource_names),
                })
                .collect(),
        }
    } else if !rule.non_resource_urls.is_empty() {
        Scope::NonResource(
            rule.non_resource_urls
                .iter()
                .map(|u| compile_url(u))
                .collect(),
        )
    } else {
        Scope::Any
    };
    CompiledRule {
        decision: Decision {
            level: rule.level,
            omit_stages: StageSet::from_stages(&rule.omit_stages).union(policy_stages),
            omit_managed_fields: rule
                .omit_managed_fields
                .unwrap_or(policy_omit_managed_fields),
            rule: Some(index),
        },
        users: boxed(&rule.users),
        user_groups: boxed(&rule.user_groups),
        verbs: boxed(&rule.verbs),
        scope,
    }
}

fn compile_resource(entry: &str) -> ResourcePattern {
    if entry == "*" {
        return ResourcePattern::All;
    }
    if let Some(sub) = entry.strip_prefix("*/") {
        return ResourcePattern::AnyWithSubresource(sub.into());
    }
    if let Some(resource) = entry.strip_suffix("/*") {
        return ResourcePattern::ResourceAndSubresources(resource.into());
    }
    ResourcePattern::Exact(entry.into())
}

fn compile_url(entry: &str) -> UrlPattern {
    if entry == "*" {
        UrlPattern::All
    } else if entry.ends_with('*') {
        UrlPattern::Prefix(entry.trim_end_matches('*').into())
    } else {
        UrlPattern::Exact(entry.into())
    }
}

impl CompiledRule {
    fn matches(&self, attrs: &RequestAttributes<'_>) -> bool {
        if !self.users.is_empty() {
            match &attrs.user {
                Some(user) if has(&self.users, &user.name) => {}
                _ => return false,
            }
        }
        if !self.user_groups.is_empty() {
            let Some(user) = &attrs.user else {
                return false;
            };
            if !user
                .groups
                .iter()
                .any(|group| has(&self.user_groups, group))
            {
                return false;
            }
        }
        if !self.verbs.is_empty() && !has(&self.verbs, &attrs.verb) {
            return false;
        }
        match &self.scope {
            Scope::Any => true,
            Scope::Resource {
                namespaces,
                resources,
            } => matches_resource(namespaces, resources, attrs),
            Scope::NonResource(patterns) => {
                !attrs.info.resource_request
                    && patterns.iter().any(|p| url_matches(p, &attrs.info.path))
            }
        }
    }
}

fn matches_resource(
    namespaces: &[Box<str>],
    resources: &[CompiledGroupResources],
    attrs: &RequestAttributes<'_>,
) -> bool {
    let info = &attrs.info;
    if !info.resource_request {
        return false;
    }
    if !namespaces.is_empty() && !has(namespaces, &info.namespace) {
        return false;
    }
    if resources.is_empty() {
        return true;
    }
    for gr in resources {
        if !gr.any_group && *gr.group != *info.api_group {
            continue;
        }
        if gr.resources.is_empty() {
            return true;
        }
        if !gr.resource_names.is_empty() && !has(&gr.resource_names, &info.name) {
            continue;
        }
        for pattern in &gr.resources {
            if resource_matches(pattern, &info.resource, &info.subresource) {
                return true;
            }
        }
    }
    false
}

fn resource_matches(pattern: &ResourcePattern, resource: &str, subresource: &str) -> bool {
    match pattern {
        ResourcePattern::All => true,
        ResourcePattern::AnyWithSubresource(sub) => {
            !subresource.is_empty() && **sub == *subresource
        }
        ResourcePattern::ResourceAndSubresources(r) => **r == *resource,
        ResourcePattern::Exact(entry) => equals_combined(entry, resource, subresource),
    }
}

/// `entry == resource` or `entry == resource + "/" + subresource`, without allocating.
fn equals_combined(entry: &str, resource: &str, subresource: &str) -> bool {
    if subresource.is_empty() {
        return entry == resource;
    }
    entry.len() == resource.len() + 1 + subresource.len()
        && entry.starts_with(resource)
        && entry.as_bytes()[resource.len()] == b'/'
        && entry.ends_with(subresource)
}

fn url_matches(pattern: &UrlPattern, path: &str) -> bool {
    match pattern {
        UrlPattern::All => true,
        UrlPattern::Exact(exact) => **exact == *path,
        UrlPattern::Prefix(prefix) => path.starts_with(&**prefix),
    }
}
