//! Checks on the shape of a policy: duplicate list entries, the catch-all
//! rule, and `RequestReceived`.

use whodid_model::k8s::{Level, Policy, PolicyRule, Stage};

use super::{Findings, Severity};

pub(super) fn check(policy: &Policy, findings: &mut Findings<'_>) {
    duplicates(policy, findings);
    catch_all(policy, findings);
    request_received(policy, findings);
}

fn first_duplicate(list: &[String]) -> Option<&str> {
    list.iter()
        .enumerate()
        .find(|(i, item)| list[..*i].contains(item))
        .map(|(_, item)| item.as_str())
}

fn duplicates(policy: &Policy, findings: &mut Findings<'_>) {
    for (index, rule) in policy.rules.iter().enumerate() {
        let mut lists: Vec<(&str, &[String])> = vec![
            ("users", &rule.users),
            ("userGroups", &rule.user_groups),
            ("verbs", &rule.verbs),
            ("namespaces", &rule.namespaces),
            ("nonResourceURLs", &rule.non_resource_urls),
        ];
        for gr in &rule.resources {
            lists.push(("resources", &gr.resources));
            lists.push(("resourceNames", &gr.resource_names));
        }
        for (field, list) in lists {
            if let Some(item) = first_duplicate(list) {
                findings.push(
                    "L005",
                    "duplicate-entry",
                    Severity::Info,
                    Some(index),
                    format!("{field} lists {item:?} more than once"),
                    "duplicates change nothing but suggest a copy-paste mistake: another value may have been meant",
                    format!("remove the second {item:?} from {field}, or replace it with the value that was meant"),
                );
            }
        }
        let groups: Vec<String> = rule.resources.iter().map(|gr| gr.group.clone()).collect();
        if let Some(group) = first_duplicate(&groups) {
            findings.push(
                "L005",
                "duplicate-entry",
                Severity::Info,
                Some(index),
                format!("resources has more than one entry for group {group:?}"),
                "two entries for one group are easy to misread; they match the union of both",
                "merge the entries for the group into one".to_owned(),
            );
        }
    }
}

/// A rule that matches every request.
pub(super) fn matches_everything(rule: &PolicyRule) -> bool {
    rule.users.is_empty()
        && rule.user_groups.is_empty()
        && rule.verbs.is_empty()
        && rule.namespaces.is_empty()
        && rule.resources.is_empty()
        && rule.non_resource_urls.is_empty()
}

fn catch_all(policy: &Policy, findings: &mut Findings<'_>) {
    let catch_all = policy.rules.iter().position(matches_everything);
    match catch_all {
        None if !policy.rules.is_empty() => findings.push(
            "L006",
            "no-catch-all",
            Severity::Warning,
            None,
            "no rule matches every request: requests no rule names are not audited at all".to_owned(),
            "without a final catch-all, new resources (CRDs, new API groups) and unforeseen requests fall through to level None and leave no trace",
            "end the policy with a catch-all rule, e.g. `- level: Metadata` with omitStages [RequestReceived]".to_owned(),
        ),
        Some(index) if policy.rules[index].level == Level::RequestResponse => findings.push(
            "L006",
            "request-response-catch-all",
            Severity::Warning,
            Some(index),
            "the catch-all rule records every remaining request at RequestResponse".to_owned(),
            "custom resources and future APIs often carry credentials (database passwords in operator CRs, cloud keys) and large bodies: a RequestResponse catch-all writes them all to the log and multiplies its size",
            format!("lower rule {index} to Metadata and raise only the resources that need bodies"),
        ),
        _ => {}
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let all_groups = rule.resources.iter().any(|gr| {
            gr.group == "*" && (gr.resources.is_empty() || gr.resources.iter().any(|r| r == "*"))
        });
        if all_groups && rule.level == Level::RequestResponse && rule.verbs.is_empty() {
            findings.push(
                "L006",
                "request-response-all-groups",
                Severity::Warning,
                Some(index),
                "every resource of every API group, custom resources included, is recorded at RequestResponse".to_owned(),
                "custom resources often carry credentials, and every response body of every read is written to the log",
                format!("name the groups rule {index} is for, or lower it to Metadata"),
            );
        }
    }
}

fn request_received(policy: &Policy, findings: &mut Findings<'_>) {
    if policy.omit_stages.contains(&Stage::RequestReceived) {
        return;
    }
    let logging: Vec<usize> = policy
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| {
            rule.level != Level::None && !rule.omit_stages.contains(&Stage::RequestReceived)
        })
        .map(|(index, _)| index)
        .collect();
    if logging.is_empty() {
        return;
    }
    findings.push(
        "L007",
        "request-received-kept",
        Severity::Warning,
        None,
        format!(
            "RequestReceived is not omitted (rules {}): every request is logged twice",
            list_indices(&logging)
        ),
        "the RequestReceived event repeats the ResponseComplete event without the response status, doubling the volume for no information",
        "add `omitStages: [\"RequestReceived\"]` at the top of the policy".to_owned(),
    );
}

fn list_indices(indices: &[usize]) -> String {
    let shown: Vec<String> = indices.iter().take(8).map(usize::to_string).collect();
    if indices.len() > 8 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
