//! API groups that silently never match.
//!
//! Validation only checks that a group is a DNS subdomain, so a misspelled
//! group, a resource name written where the group belongs
//! (`group: "postgresqls"`), or a built-in resource listed under the wrong
//! group (`deployments` in the core group) passes and then never matches.

use whodid_model::k8s::Policy;

use super::{Findings, Severity};

/// The API groups of Kubernetes 1.36 and of the common aggregated APIs.
const KNOWN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "metrics.k8s.io",
    "custom.metrics.k8s.io",
    "external.metrics.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Built-in resources and the groups that serve them (the first is the
/// current one). Used to catch a resource listed under the wrong group.
const RESOURCE_GROUPS: &[(&str, &[&str])] = &[
    ("pods", &[""]),
    ("services", &[""]),
    ("endpoints", &[""]),
    ("configmaps", &[""]),
    ("secrets", &[""]),
    ("serviceaccounts", &[""]),
    ("namespaces", &[""]),
    ("nodes", &[""]),
    ("persistentvolumes", &[""]),
    ("persistentvolumeclaims", &[""]),
    ("replicationcontrollers", &[""]),
    ("resourcequotas", &[""]),
    ("limitranges", &[""]),
    ("podtemplates", &[""]),
    ("componentstatuses", &[""]),
    ("bindings", &[""]),
    ("events", &["", "events.k8s.io"]),
    ("deployments", &["apps", "extensions"]),
    ("replicasets", &["apps", "extensions"]),
    ("daemonsets", &["apps", "extensions"]),
    ("statefulsets", &["apps"]),
    ("controllerrevisions", &["apps"]),
    ("jobs", &["batch"]),
    ("cronjobs", &["batch"]),
    ("horizontalpodautoscalers", &["autoscaling"]),
    ("ingresses", &["networking.k8s.io", "extensions"]),
    ("ingressclasses", &["networking.k8s.io"]),
    ("networkpolicies", &["networking.k8s.io", "extensions"]),
    ("roles", &["rbac.authorization.k8s.io"]),
    ("rolebindings", &["rbac.authorization.k8s.io"]),
    ("clusterroles", &["rbac.authorization.k8s.io"]),
    ("clusterrolebindings", &["rbac.authorization.k8s.io"]),
    ("tokenreviews", &["authentication.k8s.io"]),
    ("selfsubjectreviews", &["authentication.k8s.io"]),
    ("subjectaccessreviews", &["authorization.k8s.io"]),
    ("selfsubjectaccessreviews", &["authorization.k8s.io"]),
    ("localsubjectaccessreviews", &["authorization.k8s.io"]),
    ("selfsubjectrulesreviews", &["authorization.k8s.io"]),
    ("certificatesigningrequests", &["certificates.k8s.io"]),
    ("leases", &["coordination.k8s.io"]),
    ("endpointslices", &["discovery.k8s.io"]),
    ("poddisruptionbudgets", &["policy"]),
    ("priorityclasses", &["scheduling.k8s.io"]),
    ("storageclasses", &["storage.k8s.io"]),
    ("volumeattachments", &["storage.k8s.io"]),
    ("csidrivers", &["storage.k8s.io"]),
    ("csinodes", &["storage.k8s.io"]),
    ("customresourcedefinitions", &["apiextensions.k8s.io"]),
    ("apiservices", &["apiregistration.k8s.io"]),
    (
        "mutatingwebhookconfigurations",
        &["admissionregistration.k8s.io"],
    ),
    (
        "validatingwebhookconfigurations",
        &["admissionregistration.k8s.io"],
    ),
    (
        "validatingadmissionpolicies",
        &["admissionregistration.k8s.io"],
    ),
    ("flowschemas", &["flowcontrol.apiserver.k8s.io"]),
    (
        "prioritylevelconfigurations",
        &["flowcontrol.apiserver.k8s.io"],
    ),
    ("runtimeclasses", &["node.k8s.io"]),
];

pub(super) fn check(policy: &Policy, findings: &mut Findings<'_>) {
    for (index, rule) in policy.rules.iter().enumerate() {
        for gr in &rule.resources {
            let group = gr.group.as_str();
            if group == "*" {
                continue;
            }
            let known = KNOWN_GROUPS.contains(&group);
            if !known && !group.contains('.') {
                let looks_like_resource = RESOURCE_GROUPS.iter().any(|(r, _)| *r == group)
                    || (group.ends_with('s') && group.len() > 3);
                let message = if looks_like_resource {
                    format!("group {group:?} is not an API group; it looks like a resource name written as the group")
                } else {
                    format!("group {group:?} is not a known API group, and custom groups always contain a dot")
                };
                findings.push(
                    "L003",
                    "unknown-group",
                    Severity::Warning,
                    Some(index),
                    message,
                    "the apiserver only checks that a group is a DNS name, so a rule with a wrong group is accepted and then silently never matches",
                    format!("write the API group (e.g. `group: \"acid.zalan.do\"`) and put {group:?} under `resources`"),
                );
                continue;
            }
            if !known {
                continue;
            }
            for resource in &gr.resources {
                let base = resource.split('/').next().unwrap_or(resource);
                let Some((_, groups)) = RESOURCE_GROUPS.iter().find(|(r, _)| *r == base) else {
                    continue;
                };
                if !groups.contains(&group) {
                    let shown = if groups[0].is_empty() {
                        "the core group \"\""
                    } else {
                        groups[0]
                    };
                    findings.push(
                        "L003",
                        "resource-in-wrong-group",
                        Severity::Warning,
                        Some(index),
                        format!(
                            "{resource:?} is listed under group {group:?}, but it is served by {shown}: this entry never matches"
                        ),
                        "a resource under the wrong group passes validation and never matches, so the requests it was meant for fall to a later rule",
                        format!("move {resource:?} to a resources entry with `group: {:?}`", groups[0]),
                    );
                }
            }
        }
    }
}
