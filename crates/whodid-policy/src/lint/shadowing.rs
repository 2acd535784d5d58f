//! Rules that can never match: an earlier rule matches everything they match.
//!
//! First match wins, so a rule placed after a broader one is dead. The check
//! is sound, not complete: it reports only when every request the later rule
//! matches is certainly matched by the earlier one (list containment per
//! dimension, with the apiserver's wildcard meanings), never on a guess.

use whodid_model::k8s::{GroupResources, Policy, PolicyRule};

use super::{Findings, Severity};

pub(super) fn check(policy: &Policy, findings: &mut Findings<'_>) {
    for (later_index, later) in policy.rules.iter().enumerate() {
        let earlier = policy.rules[..later_index]
            .iter()
            .position(|earlier| covers(earlier, later));
        let Some(earlier_index) = earlier else {
            continue;
        };
        let same_level = policy.rules[earlier_index].level == later.level;
        let (severity, message) = if same_level {
            (
                Severity::Info,
                format!("rule {later_index} never matches: rule {earlier_index} matches every request it would, at the same level"),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "rule {later_index} ({}) never matches: rule {earlier_index} ({}) matches every request it would first",
                    later.level, policy.rules[earlier_index].level
                ),
            )
        };
        findings.push(
            "L004",
            "shadowed-rule",
            severity,
            Some(later_index),
            message,
            "the first matching rule wins, so a rule after a broader one is dead code and its level never applies",
            format!("move rule {later_index} above rule {earlier_index}, or remove it"),
        );
    }
}

/// `outer` empty means "any"; otherwise `inner` must be non-empty and contained.
fn list_covers(outer: &[String], inner: &[String]) -> bool {
    outer.is_empty() || (!inner.is_empty() && inner.iter().all(|item| outer.contains(item)))
}

/// Whether every request `later` matches is matched by `earlier`.
pub(super) fn covers(earlier: &PolicyRule, later: &PolicyRule) -> bool {
    if !list_covers(&earlier.users, &later.users)
        || !list_covers(&earlier.user_groups, &later.user_groups)
        || !list_covers(&earlier.verbs, &later.verbs)
    {
        return false;
    }
    let earlier_resource = !earlier.namespaces.is_empty() || !earlier.resources.is_empty();
    let later_resource = !later.namespaces.is_empty() || !later.resources.is_empty();
    let earlier_non_resource = !earlier_resource && !earlier.non_resource_urls.is_empty();
    let later_non_resource = !later_resource && !later.non_resource_urls.is_empty();
    if !earlier_resource && !earlier_non_resource {
        return true; // matches every request the user/verb lists allow
    }
    if earlier_resource {
        if !later_resource {
            return false;
        }
        if !list_covers(&earlier.namespaces, &later.namespaces) {
            return false;
        }
        if earlier.resources.is_empty() {
            return true;
        }
        if later.resources.is_empty() {
            return false;
        }
        return later.resources.iter().all(|inner| {
            earlier
                .resources
                .iter()
                .any(|outer| group_covers(outer, inner))
        });
    }
    // The earlier rule is a non-resource rule.
    later_non_resource
        && later.non_resource_urls.iter().all(|inner| {
            earlier
                .non_resource_urls
                .iter()
                .any(|outer| url_covers(outer, inner))
        })
}

fn group_covers(outer: &GroupResources, inner: &GroupResources) -> bool {
    if outer.group != "*" && outer.group != inner.group {
        return false;
    }
    if outer.resources.is_empty() {
        return true;
    }
    if inner.resources.is_empty() {
        return false;
    }
    if !list_covers(&outer.resource_names, &inner.resource_names) {
        return false;
    }
    inner
        .resources
        .iter()
        .all(|r| outer.resources.iter().any(|o| resource_covers(o, r)))
}

/// Whether resource pattern `outer` matches every request `inner` matches.
fn resource_covers(outer: &str, inner: &str) -> bool {
    if outer == "*" || outer == inner {
        return true;
    }
    if inner == "*" {
        return false;
    }
    let (inner_resource, inner_sub) = match inner.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (inner, None),
    };
    if let Some(resource) = outer.strip_suffix("/*") {
        // `r/*` matches r and all its subresources.
        return inner_resource == resource && inner_resource != "*";
    }
    if let Some(sub) = outer.strip_prefix("*/") {
        // `*/s` matches subresource s of anything.
        return inner_sub == Some(sub);
    }
    false
}

fn url_covers(outer: &str, inner: &str) -> bool {
    if outer == "*" || outer == inner {
        return true;
    }
    match outer.strip_suffix('*') {
        Some(prefix) => inner
            .trim_end_matches('*')
            .starts_with(prefix.trim_end_matches('*')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_patterns() {
        assert!(resource_covers("*", "pods/log"));
        assert!(resource_covers("pods/*", "pods"));
        assert!(resource_covers("pods/*", "pods/log"));
        assert!(!resource_covers("pods", "pods/log"));
        assert!(resource_covers("*/scale", "deployments/scale"));
        assert!(!resource_covers("*/scale", "deployments"));
        assert!(!resource_covers("pods/log", "pods/*"));
    }

    #[test]
    fn url_patterns() {
        assert!(url_covers("/healthz*", "/healthz/ready"));
        assert!(url_covers("/healthz*", "/healthzfoo*"));
        assert!(!url_covers("/healthz", "/healthz*"));
        assert!(url_covers("*", "/x"));
    }
}
