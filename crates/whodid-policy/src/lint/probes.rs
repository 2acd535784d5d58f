//! Checks that ask the policy itself: what level does it give to a set of
//! representative requests?
//!
//! Evaluating probes (create a Secret, exec into a pod, a kubelet reading its
//! node, …) through the real evaluator honours first-match order exactly:
//! a broad `RequestResponse` rule is only a leak if no earlier rule already
//! lowered Secrets. Probes run as a generic person and as every user and
//! group the policy names, so user-specific rules are covered too.

use std::borrow::Cow;

use whodid_model::k8s::{Level, Policy};

use super::{Findings, Severity};
use crate::attributes::RequestAttributes;
use crate::evaluate::Evaluator;

/// A request to ask the policy about.
struct Probe {
    verb: &'static str,
    uri: String,
    what: String,
}

fn resource_uri(
    group: &str,
    namespace: Option<&str>,
    resource: &str,
    name: Option<&str>,
    sub: Option<&str>,
) -> String {
    let mut uri = if group.is_empty() {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{group}/v1")
    };
    if let Some(ns) = namespace {
        uri.push_str("/namespaces/");
        uri.push_str(ns);
    }
    uri.push('/');
    uri.push_str(resource);
    if let Some(name) = name {
        uri.push('/');
        uri.push_str(name);
        if let Some(sub) = sub {
            uri.push('/');
            uri.push_str(sub);
        }
    }
    uri
}

fn probe(
    verb: &'static str,
    group: &str,
    namespace: Option<&str>,
    resource: &str,
    sub: Option<&str>,
) -> Probe {
    let named = !matches!(verb, "create" | "list" | "watch" | "deletecollection") || sub.is_some();
    let name = named.then_some("probe");
    let shown = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    Probe {
        verb,
        uri: resource_uri(group, namespace, resource, name, sub),
        what: format!("{verb} {shown}"),
    }
}

/// The identities probes run as: (user, groups).
fn identities(policy: &Policy) -> Vec<(String, Vec<String>)> {
    let authenticated = "system:authenticated".to_owned();
    let mut out = vec![(
        "probe-person@example.com".to_owned(),
        vec![authenticated.clone()],
    )];
    for rule in &policy.rules {
        for user in &rule.users {
            out.push((user.clone(), vec![authenticated.clone()]));
        }
        for group in &rule.user_groups {
            out.push((
                "probe-member".to_owned(),
                vec![group.clone(), authenticated.clone()],
            ));
        }
    }
    out.dedup();
    out
}

/// Describes a probe identity for messages.
fn who(user: &str, groups: &[String]) -> String {
    match user {
        "probe-person@example.com" => "by a person".to_owned(),
        "probe-member" => format!(
            "by a member of {}",
            groups.first().map(String::as_str).unwrap_or("")
        ),
        _ => format!("by {user}"),
    }
}

struct Asked {
    level: Level,
    rule: Option<usize>,
}

fn ask(evaluator: &Evaluator, user: &str, groups: &[String], probe: &Probe) -> Asked {
    let attrs = RequestAttributes::new(
        Cow::Borrowed(user),
        false,
        groups.iter().map(|g| Cow::Borrowed(g.as_str())).collect(),
        Cow::Borrowed(probe.verb),
        &probe.uri,
    );
    let decision = evaluator.decide(&attrs);
    Asked {
        level: decision.level,
        rule: decision.rule,
    }
}

pub(super) fn check(policy: &Policy, findings: &mut Findings<'_>) {
    let evaluator = Evaluator::new(policy);
    let people = identities(policy);
    secret_bodies(&evaluator, &people, findings);
    exec_in_uri(&evaluator, &people, findings);
    security_not_audited(&evaluator, findings);
    high_volume_reads(&evaluator, &people, findings);
    noisy_identities(&evaluator, findings);
}

fn secret_bodies(
    evaluator: &Evaluator,
    people: &[(String, Vec<String>)],
    findings: &mut Findings<'_>,
) {
    // (probe, level at which values leak, severity, check name, what leaks)
    let ns = Some("default");
    let cases = [
        (
            probe("create", "", ns, "secrets", None),
            Level::Request,
            Severity::Error,
            "secret-bodies",
            "Secret values",
        ),
        (
            probe("update", "", ns, "secrets", None),
            Level::Request,
            Severity::Error,
            "secret-bodies",
            "Secret values",
        ),
        (
            probe("patch", "", ns, "secrets", None),
            Level::Request,
            Severity::Error,
            "secret-bodies",
            "Secret values",
        ),
        (
            probe("get", "", ns, "secrets", None),
            Level::RequestResponse,
            Severity::Error,
            "secret-bodies",
            "Secret values",
        ),
        (
            probe("list", "", ns, "secrets", None),
            Level::RequestResponse,
            Severity::Error,
            "secret-bodies",
            "Secret values",
        ),
        (
            probe("create", "", ns, "serviceaccounts", Some("token")),
            Level::RequestResponse,
            Severity::Error,
            "token-bodies",
            "service account tokens (TokenRequest responses)",
        ),
        (
            probe(
                "create",
                "authentication.k8s.io",
                None,
                "tokenreviews",
                None,
            ),
            Level::Request,
            Severity::Error,
            "token-bodies",
            "bearer tokens (TokenReview requests)",
        ),
        (
            probe("create", "", ns, "configmaps", None),
            Level::Request,
            Severity::Warning,
            "configmap-bodies",
            "ConfigMap contents",
        ),
        (
            probe("update", "", ns, "configmaps", None),
            Level::Request,
            Severity::Warning,
            "configmap-bodies",
            "ConfigMap contents",
        ),
        (
            probe("get", "", ns, "configmaps", None),
            Level::RequestResponse,
            Severity::Warning,
            "configmap-bodies",
            "ConfigMap contents",
        ),
    ];
    for (probe, leaking_level, severity, check, what) in &cases {
        for (user, groups) in people {
            let asked = ask(evaluator, user, groups, probe);
            if asked.level >= *leaking_level {
                findings.push(
                    "L001",
                    check,
                    *severity,
                    asked.rule,
                    format!(
                        "{what} are written to the audit log: `{}` {} is recorded at {} by this rule",
                        probe.what,
                        who(user, groups),
                        asked.level
                    ),
                    "request and response bodies are stored verbatim: at Request level a write carries the values, at RequestResponse every read returns them, so anyone who can read the audit log can read them",
                    format!(
                        "add a rule before it: `- level: Metadata` with `resources: [{{group: \"{}\", resources: [\"{}\"]}}]`",
                        if probe.uri.starts_with("/apis/authentication") { "authentication.k8s.io" } else { "" },
                        probe.what.split(' ').nth(1).unwrap_or_default()
                    ),
                );
            }
        }
    }
}

fn exec_in_uri(
    evaluator: &Evaluator,
    people: &[(String, Vec<String>)],
    findings: &mut Findings<'_>,
) {
    for sub in ["exec", "attach"] {
        let probe = probe("create", "", Some("default"), "pods", Some(sub));
        for (user, groups) in people {
            let asked = ask(evaluator, user, groups, &probe);
            if asked.level >= Level::Metadata {
                findings.push(
                    "L002",
                    "exec-command-in-uri",
                    Severity::Info,
                    asked.rule,
                    format!("`{}` {} is recorded: its command line travels in requestURI (`?command=…`) at every level, Metadata included", probe.what, who(user, groups)),
                    "commands typed into kubectl exec often contain passwords or tokens; they are in the URI, so no level keeps them out of the log",
                    "keep exec audited (it is a key security event) but restrict who can read the audit log, and tell operators not to pass secrets on the command line".to_owned(),
                );
            }
        }
    }
}

fn security_not_audited(evaluator: &Evaluator, findings: &mut Findings<'_>) {
    let person = (
        "probe-person@example.com",
        vec!["system:authenticated".to_owned()],
    );
    let rbac = "rbac.authorization.k8s.io";
    let probes = [
        probe("create", "", Some("default"), "secrets", None),
        probe("delete", "", Some("default"), "secrets", None),
        probe("create", rbac, None, "clusterrolebindings", None),
        probe("update", rbac, None, "clusterroles", None),
        probe("create", rbac, Some("default"), "rolebindings", None),
        probe("create", "", Some("default"), "pods", Some("exec")),
        probe("create", "", Some("default"), "pods", Some("attach")),
        probe("create", "", Some("default"), "pods", Some("portforward")),
        probe(
            "create",
            "",
            Some("default"),
            "serviceaccounts",
            Some("token"),
        ),
        probe("impersonate", "", None, "users", None),
    ];
    for probe in &probes {
        let asked = ask(evaluator, person.0, &person.1, probe);
        if asked.level == Level::None {
            findings.push(
                "L011",
                "security-event-not-audited",
                Severity::Warning,
                asked.rule,
                format!("`{}` by a person is not audited (level None)", probe.what),
                "secret access, RBAC changes, exec/attach/port-forward, token requests and impersonation are what an investigation asks about first; ISO 27001 A.8.15 expects them logged",
                match asked.rule {
                    Some(rule) => format!("narrow rule {rule} so it does not drop this request, or add a Metadata rule for it before rule {rule}"),
                    None => "add a rule (or a catch-all) that records it at Metadata or above".to_owned(),
                },
            );
        }
    }
}

fn high_volume_reads(
    evaluator: &Evaluator,
    people: &[(String, Vec<String>)],
    findings: &mut Findings<'_>,
) {
    let resources = [
        ("", "events"),
        ("", "endpoints"),
        ("", "pods"),
        ("", "nodes"),
        ("discovery.k8s.io", "endpointslices"),
        ("coordination.k8s.io", "leases"),
    ];
    for (group, resource) in resources {
        let namespace = (resource != "nodes").then_some("kube-system");
        for verb in ["get", "list", "watch"] {
            let probe = probe(verb, group, namespace, resource, None);
            for (user, groups) in people {
                let asked = ask(evaluator, user, groups, &probe);
                if asked.level == Level::RequestResponse {
                    findings.push(
                        "L008",
                        "high-volume-read-bodies",
                        Severity::Warning,
                        asked.rule,
                        format!("`{}` is recorded at RequestResponse", probe.what),
                        "controllers read these resources constantly; with response bodies every read writes whole objects or lists to the log, which dominates its size and cost",
                        format!("record reads of {resource} at Metadata (or None for system identities) in a rule before this one"),
                    );
                }
            }
        }
    }
}

fn noisy_identities(evaluator: &Evaluator, findings: &mut Findings<'_>) {
    let node_groups = vec!["system:nodes".to_owned(), "system:authenticated".to_owned()];
    let authenticated = vec!["system:authenticated".to_owned()];
    let anonymous = vec!["system:unauthenticated".to_owned()];
    let cases: Vec<(&str, Vec<String>, Probe)> = vec![
        (
            "system:kube-proxy",
            authenticated.clone(),
            probe("watch", "", None, "endpoints", None),
        ),
        (
            "system:kube-proxy",
            authenticated.clone(),
            probe("watch", "", None, "services", None),
        ),
        (
            "system:node:node-1",
            node_groups.clone(),
            probe("get", "", None, "nodes", None),
        ),
        (
            "system:node:node-1",
            node_groups,
            probe("patch", "", None, "nodes", Some("status")),
        ),
        (
            "system:kube-scheduler",
            authenticated.clone(),
            probe(
                "get",
                "coordination.k8s.io",
                Some("kube-system"),
                "leases",
                None,
            ),
        ),
        (
            "system:kube-controller-manager",
            authenticated.clone(),
            probe(
                "update",
                "coordination.k8s.io",
                Some("kube-system"),
                "leases",
                None,
            ),
        ),
        (
            "system:apiserver",
            authenticated,
            probe("get", "", None, "namespaces", None),
        ),
        (
            "system:anonymous",
            anonymous.clone(),
            Probe {
                verb: "get",
                uri: "/healthz".into(),
                what: "get /healthz".into(),
            },
        ),
        (
            "system:anonymous",
            anonymous.clone(),
            Probe {
                verb: "get",
                uri: "/readyz".into(),
                what: "get /readyz".into(),
            },
        ),
        (
            "system:anonymous",
            anonymous,
            Probe {
                verb: "get",
                uri: "/livez".into(),
                what: "get /livez".into(),
            },
        ),
    ];
    for (user, groups, probe) in &cases {
        let asked = ask(evaluator, user, groups, probe);
        if asked.level >= Level::Metadata {
            findings.push(
                "L009",
                "noisy-system-identity",
                Severity::Info,
                asked.rule,
                format!("`{}` by {user} is recorded at {}", probe.what, asked.level),
                "node heartbeats, leader-election leases, kube-proxy watches and health checks are high-volume and low-risk; they bury the requests people make",
                format!("add a `level: None` rule for {user} and this request before rule {}", asked.rule.map(|r| r.to_string()).unwrap_or_else(|| "the catch-all".into())),
            );
        }
    }
}
