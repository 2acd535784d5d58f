//! Property: the compiled evaluator equals a naive evaluator written straight
//! from the apiserver's checker code, on random policies and requests.

use std::borrow::Cow;

use proptest::prelude::*;
use whodid_model::k8s::{GroupResources, Level, Policy, PolicyRule, Stage};
use whodid_policy::attributes::{RequestAttributes, UserAttributes};
use whodid_policy::evaluate::Evaluator;
use whodid_policy::request_info::RequestInfo;

const USERS: &[&str] = &["alice", "bob", "system:kube-proxy", ""];
const GROUPS: &[&str] = &["devs", "system:nodes", "system:authenticated"];
const VERBS: &[&str] = &["get", "list", "watch", "create", "delete", "patch"];
const API_GROUPS: &[&str] = &["", "apps", "rbac.authorization.k8s.io"];
const RESOURCES: &[&str] = &["pods", "deployments", "secrets"];
const SUBRESOURCES: &[&str] = &["", "log", "scale", "status"];
const NAMESPACES: &[&str] = &["", "kube-system", "team-a"];
const NAMES: &[&str] = &["", "web", "db"];
const PATHS: &[&str] = &["/healthz", "/healthzfoo", "/version", "/metrics", "/"];
const RESOURCE_ENTRIES: &[&str] = &[
    "pods",
    "pods/log",
    "pods/*",
    "*/scale",
    "*",
    "deployments",
    "secrets",
    "deployments/status",
];
const URL_ENTRIES: &[&str] = &["/healthz", "/healthz*", "*", "/version", "/metrics*", "/"];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(list).prop_map(str::to_owned)
}

fn some_of(list: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(pick(list), 1..3),
    ]
}

fn level() -> impl Strategy<Value = Level> {
    proptest::sample::select(Level::ALL.to_vec())
}

fn stages() -> impl Strategy<Value = Vec<Stage>> {
    proptest::collection::vec(proptest::sample::select(Stage::ALL.to_vec()), 0..2)
}

fn group_resources() -> impl Strategy<Value = GroupResources> {
    (
        prop_oneof![4 => pick(API_GROUPS), 1 => Just("*".to_owned())],
        some_of(RESOURCE_ENTRIES),
        some_of(NAMES),
    )
        .prop_map(|(group, resources, resource_names)| GroupResources {
            group,
            resources,
            resource_names,
        })
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    let scope = prop_oneof![
        Just((Vec::new(), Vec::new(), Vec::new())),
        (
            proptest::collection::vec(group_resources(), 0..3),
            some_of(NAMESPACES)
        )
            .prop_map(|(r, n)| (r, n, Vec::new())),
        some_of(URL_ENTRIES).prop_map(|u| (Vec::new(), Vec::new(), u)),
    ];
    (
        level(),
        some_of(USERS),
        some_of(GROUPS),
        some_of(VERBS),
        scope,
        stages(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                level,
                users,
                user_groups,
                verbs,
                (resources, namespaces, urls),
                omit_stages,
                omf,
            )| PolicyRule {
                level,
                users,
                user_groups,
                verbs,
                resources,
                namespaces,
                non_resource_urls: urls,
                omit_stages,
                omit_managed_fields: omf,
            },
        )
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::collection::vec(rule(), 1..6),
        stages(),
        any::<bool>(),
    )
        .prop_map(|(rules, omit_stages, omf)| Policy {
            rules,
            omit_stages,
            omit_managed_fields: omf,
            ..Policy::default()
        })
}

#[derive(Debug, Clone)]
struct Request {
    user: Option<(String, Vec<String>)>,
    verb: String,
    resource_request: bool,
    path: String,
    group: String,
    namespace: String,
    resource: String,
    subresource: String,
    name: String,
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::option::weighted(
            0.9,
            (pick(USERS), proptest::collection::vec(pick(GROUPS), 0..3)),
        ),
        pick(VERBS),
        any::<bool>(),
        pick(PATHS),
        (
            pick(API_GROUPS),
            pick(NAMESPACES),
            pick(RESOURCES),
            pick(SUBRESOURCES),
            pick(NAMES),
        ),
    )
        .prop_map(
            |(
                user,
                verb,
                resource_request,
                path,
                (group, namespace, resource, subresource, name),
            )| Request {
                user,
                verb,
                resource_request,
                path,
                group,
                namespace,
                resource,
                subresource,
                name,
            },
        )
}

/// `ruleMatches` from k8s.io/apiserver/pkg/audit/policy/checker.go, naively.
fn naive_matches(rule: &PolicyRule, r: &Request) -> bool {
    if !rule.users.is_empty() {
        match &r.user {
            Some((name, _)) if rule.users.contains(name) => {}
            _ => return false,
        }
    }
    if !rule.user_groups.is_empty() {
        let Some((_, groups)) = &r.user else {
            return false;
        };
        if !groups.iter().any(|g| rule.user_groups.contains(g)) {
            return false;
        }
    }
    if !rule.verbs.is_empty() && !rule.verbs.contains(&r.verb) {
        return false;
    }
    if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        if !r.resource_request {
            return false;
        }
        if !rule.namespaces.is_empty() && !rule.namespaces.contains(&r.namespace) {
            return false;
        }
        if rule.resources.is_empty() {
            return true;
        }
        let combined = if r.subresource.is_empty() {
            r.resource.clone()
        } else {
            format!("{}/{}", r.resource, r.subresource)
        };
        for gr in &rule.resources {
            if gr.group == r.group || gr.group == "*" {
                if gr.resources.is_empty() {
                    return true;
                }
                for res in &gr.resources {
                    if gr.resource_names.is_empty() || gr.resource_names.contains(&r.name) {
                        if *res == combined || res == "*" {
                            return true;
                        }
                        if !r.subresource.is_empty()
                            && res.starts_with("*/")
                            && r.subresource == res[2..]
                        {
                            return true;
                        }
                        if res.ends_with("/*") && r.resource == res[..res.len() - 2] {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }
    if !rule.non_resource_urls.is_empty() {
        if r.resource_request {
            return false;
        }
        return rule.non_resource_urls.iter().any(|spec| {
            spec == "*"
                || *spec == r.path
                || (spec.ends_with('*') && r.path.starts_with(spec.trim_end_matches('*')))
        });
    }
    true
}

fn naive_decide(policy: &Policy, r: &Request) -> (Level, Vec<Stage>, bool) {
    let union = |mut stages: Vec<Stage>| {
        stages.extend(policy.omit_stages.iter().copied());
        stages.sort();
        stages.dedup();
        stages
    };
    for rule in &policy.rules {
        if naive_matches(rule, r) {
            return (
                rule.level,
                union(rule.omit_stages.clone()),
                rule.omit_managed_fields
                    .unwrap_or(policy.omit_managed_fields),
            );
        }
    }
    (Level::None, union(Vec::new()), policy.omit_managed_fields)
}

fn attributes(r: &Request) -> RequestAttributes<'_> {
    RequestAttributes {
        user: r.user.as_ref().map(|(name, groups)| UserAttributes {
            name: Cow::Borrowed(name),
            groups: groups.iter().map(|g| Cow::Borrowed(g.as_str())).collect(),
        }),
        verb: Cow::Borrowed(&r.verb),
        info: RequestInfo {
            path: Cow::Borrowed(&r.path),
            resource_request: r.resource_request,
            api_group: Cow::Borrowed(&r.group),
            namespace: Cow::Borrowed(&r.namespace),
            resource: Cow::Borrowed(&r.resource),
            subresource: Cow::Borrowed(&r.subresource),
            name: Cow::Borrowed(&r.name),
            ..RequestInfo::default()
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_evaluator_equals_the_naive_one(policy in policy(), requests in proptest::collection::vec(request(), 1..20)) {
        let evaluator = Evaluator::new(&policy);
        for r in &requests {
            let decision = evaluator.decide(&attributes(r));
            let (level, stages, omf) = naive_decide(&policy, r);
            prop_assert_eq!(decision.level, level, "{:?}", r);
            prop_assert_eq!(decision.omit_stages.iter().collect::<Vec<_>>(), stages);
            prop_assert_eq!(decision.omit_managed_fields, omf);
        }
    }
}
