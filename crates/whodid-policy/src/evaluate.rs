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

use rustc_hash::FxHashMap;
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
    /// Every API group a rule names, numbered: a request's group is looked
    /// up once (by hash, then checked), then rules compare numbers.
    group_ids: FxHashMap<u64, u32>,
    group_names: Vec<Box<str>>,
    default: Decision,
    prefilter: Option<Prefilter>,
}

/// Cheap necessary conditions, as bitmasks over rules (bit i = rule i may
/// match): a rule listing users can only match a user whose name has the
/// length of one of them, and likewise for groups and verbs; resource rules
/// never match non-resource requests and the reverse. Candidates are then
/// checked in order with the full test, so the first match still wins.
#[derive(Debug, Clone)]
struct Prefilter {
    /// By user name length (the last slot holds every longer length).
    user_by_len: [u128; LEN_SLOTS],
    /// Rules without a user list (they do not care about the user).
    any_user: u128,
    /// By group name length: rules one of whose groups has that length.
    group_by_len: [u128; LEN_SLOTS],
    /// Rules without a group list.
    any_group: u128,
    /// By verb length.
    verb_by_len: [u128; LEN_SLOTS],
    /// Rules that can match resource requests.
    resource: u128,
    /// Rules that can match non-resource requests.
    non_resource: u128,
    /// By API group index: rules that can match a resource request of that group.
    by_group: Vec<u128>,
    /// Rules that can match a resource request of a group no rule names.
    unknown_group: u128,
}

const LEN_SLOTS: usize = 64;

fn len_slot(s: &str) -> usize {
    s.len().min(LEN_SLOTS - 1)
}

impl Prefilter {
    fn new(rules: &[CompiledRule], group_count: usize) -> Option<Prefilter> {
        if rules.len() > 128 {
            return None;
        }
        let mut filter = Prefilter {
            user_by_len: [0; LEN_SLOTS],
            any_user: 0,
            group_by_len: [0; LEN_SLOTS],
            any_group: 0,
            verb_by_len: [0; LEN_SLOTS],
            resource: 0,
            non_resource: 0,
            by_group: vec![0; group_count],
            unknown_group: 0,
        };
        for (index, rule) in rules.iter().enumerate() {
            let bit = 1u128 << index;
            if rule.users.is_empty() {
                filter.any_user |= bit;
            }
            for user in &rule.users {
                filter.user_by_len[len_slot(user)] |= bit;
            }
            if rule.user_groups.is_empty() {
                filter.any_group |= bit;
            }
            for group in &rule.user_groups {
                filter.group_by_len[len_slot(group)] |= bit;
            }
            if rule.verbs.is_empty() {
                for slot in filter.verb_by_len.iter_mut() {
                    *slot |= bit;
                }
            }
            for verb in &rule.verbs {
                filter.verb_by_len[len_slot(verb)] |= bit;
            }
            let any_group = match &rule.scope {
                Scope::Any => {
                    filter.resource |= bit;
                    filter.non_resource |= bit;
                    true
                }
                Scope::Resource { resources, .. } => {
                    filter.resource |= bit;
                    for gr in resources.iter().filter(|gr| !gr.any_group) {
                        if let Some(slot) = filter.by_group.get_mut(gr.group as usize) {
                            *slot |= bit;
                        }
                    }
                    resources.is_empty() || resources.iter().any(|gr| gr.any_group)
                }
                Scope::NonResource(_) => {
                    filter.non_resource |= bit;
                    true
                }
            };
            if any_group {
                filter.unknown_group |= bit;
                for slot in filter.by_group.iter_mut() {
                    *slot |= bit;
                }
            }
        }
        Some(filter)
    }

    fn candidates(&self, attrs: &RequestAttributes<'_>, group: u32) -> u128 {
        let (users, groups) = match &attrs.user {
            Some(user) => {
                let mut groups = self.any_group;
                for group in &user.groups {
                    groups |= self.group_by_len[len_slot(group)];
                }
                (
                    self.any_user | self.user_by_len[len_slot(&user.name)],
                    groups,
                )
            }
            None => (self.any_user, self.any_group),
        };
        let kind = if attrs.info.resource_request {
            self.resource
                & self
                    .by_group
                    .get(group as usize)
                    .copied()
                    .unwrap_or(self.unknown_group)
        } else {
            self.non_resource
        };
        users & groups & kind & self.verb_by_len[len_slot(&attrs.verb)]
    }
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
        /// Groups (by index, below 128) one of whose entries lists no
        /// resources, i.e. matches all of the group.
        whole_groups: u128,
    },
    /// `nonResourceURLs`: non-resource requests only.
    NonResource(Vec<UrlPattern>),
}

#[derive(Debug, Clone)]
struct CompiledGroupResources {
    any_group: bool,
    /// The group's index in `Evaluator::groups`.
    group: u32,
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
    list.iter().any(|item| short_eq(item, value))
}

/// String equality without a call into libc's `memcmp` for the short
/// strings policies compare (verbs, user names, groups): profiling showed
/// the call overhead dominating decisions.
#[inline]
fn short_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// A 64-bit hash of a group name, for the group index.
fn group_key(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = rustc_hash::FxBuildHasher.build_hasher();
    hasher.write(name.as_bytes());
    hasher.finish()
}

impl Evaluator {
    /// Compiles `policy`. The policy is assumed valid (see `crate::validate`);
    /// an invalid one is evaluated the way the apiserver's code would.
    pub fn new(policy: &Policy) -> Evaluator {
        let policy_stages = StageSet::from_stages(&policy.omit_stages);
        let mut groups = GroupIndex::default();
        let rules = policy
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                compile_rule(
                    index,
                    rule,
                    policy_stages,
                    policy.omit_managed_fields,
                    &mut groups,
                )
            })
            .collect::<Vec<_>>();
        let prefilter = Prefilter::new(&rules, groups.names.len());
        Evaluator {
            rules,
            group_ids: groups.ids,
            group_names: groups.names,
            prefilter,
            default: Decision {
                level: Level::None,
                omit_stages: policy_stages,
                omit_managed_fields: policy.omit_managed_fields,
                rule: None,
            },
        }
    }

    fn group_id(&self, name: &str) -> u32 {
        match self.group_ids.get(&group_key(name)) {
            Some(&id) if short_eq(&self.group_names[id as usize], name) => id,
            // A hash collision (or no such group): scan.
            Some(_) => self
                .group_names
                .iter()
                .position(|n| short_eq(n, name))
                .map_or(u32::MAX, |i| i as u32),
            None => u32::MAX,
        }
    }

    /// The number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The policy's decision for one request.
    pub fn decide(&self, attrs: &RequestAttributes<'_>) -> Decision {
        let group = match attrs.info.resource_request {
            true => self.group_id(&attrs.info.api_group),
            false => u32::MAX,
        };
        if let Some(prefilter) = &self.prefilter {
            let mut candidates = prefilter.candidates(attrs, group);
            while candidates != 0 {
                let index = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let rule = &self.rules[index];
                if rule.matches(attrs, group) {
                    return rule.decision;
                }
            }
            return self.default;
        }
        for rule in &self.rules {
            if rule.matches(attrs, group) {
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
    groups: &mut GroupIndex,
) -> CompiledRule {
    let scope = if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        let resources: Vec<CompiledGroupResources> = rule
            .resources
            .iter()
            .map(|gr| CompiledGroupResources {
                any_group: gr.group == "*",
                group: groups.id(&gr.group),
                resources: gr.resources.iter().map(|r| compile_resource(r)).collect(),
                resource_names: boxed(&gr.resource_names),
            })
            .collect();
        let whole_groups = resources
            .iter()
            .filter(|gr| !gr.any_group && gr.resources.is_empty() && gr.group < 128)
            .fold(0u128, |mask, gr| mask | (1u128 << gr.group));
        Scope::Resource {
            namespaces: boxed(&rule.namespaces),
            resources,
            whole_groups,
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

/// Numbers the API groups named by a policy while it is compiled.
#[derive(Debug, Default)]
struct GroupIndex {
    ids: FxHashMap<u64, u32>,
    names: Vec<Box<str>>,
}

impl GroupIndex {
    fn id(&mut self, name: &str) -> u32 {
        let key = group_key(name);
        if let Some(&id) = self.ids.get(&key) {
            if short_eq(&self.names[id as usize], name) {
                return id;
            }
            // A 64-bit hash collision between two group names: the
            // newcomer is found by a scan of the names instead.
            if let Some(found) = self.names.iter().position(|n| short_eq(n, name)) {
                return found as u32;
            }
            let id = self.names.len() as u32;
            self.names.push(name.into());
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key, id);
        self.names.push(name.into());
        id
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
    fn matches(&self, attrs: &RequestAttributes<'_>, group: u32) -> bool {
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
                whole_groups,
            } => matches_resource(namespaces, resources, *whole_groups, attrs, group),
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
    whole_groups: u128,
    attrs: &RequestAttributes<'_>,
    group: u32,
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
    if group < 128 && (whole_groups >> group) & 1 == 1 {
        return true;
    }
    for gr in resources {
        if !gr.any_group && gr.group != group {
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
        ResourcePattern::ResourceAndSubresources(r) => short_eq(r, resource),
        ResourcePattern::Exact(entry) => equals_combined(entry, resource, subresource),
    }
}

/// `entry == resource` or `entry == resource + "/" + subresource`, without allocating.
fn equals_combined(entry: &str, resource: &str, subresource: &str) -> bool {
    if subresource.is_empty() {
        return short_eq(entry, resource);
    }
    entry.len() == resource.len() + 1 + subresource.len()
        && entry.starts_with(resource)
        && entry.as_bytes()[resource.len()] == b'/'
        && entry.ends_with(subresource)
}

fn url_matches(pattern: &UrlPattern, path: &str) -> bool {
    match pattern {
        UrlPattern::All => true,
        UrlPattern::Exact(exact) => short_eq(exact, path),
        UrlPattern::Prefix(prefix) => path.starts_with(&**prefix),
    }
}
