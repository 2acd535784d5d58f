//! Simulating a policy on a captured log: what it keeps, what it costs, and
//! what it would lose.
//!
//! Operators tune audit policies blind. Fed the events of a log captured at a
//! detailed level (ideally `RequestResponse` for everything), a
//! [`Simulation`] applies a policy to each event exactly as the apiserver
//! would and accounts for the result: per rule, per level and per stage, the
//! events and bytes kept, and — per request — the security-relevant requests
//! the policy drops entirely or keeps only without bodies.
//!
//! Sizes are the sizes of the events as the log backend would write them
//! (one JSON line each). When a decision strips bodies, the kept size is the
//! input size minus what the stripping removes.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use whodid_model::k8s::{Event, Level, Policy, Stage};

use crate::apply::apply_to_event;
use crate::attributes::RequestAttributes;
use crate::evaluate::Evaluator;

/// Events and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Number of events.
    pub events: u64,
    /// Size in bytes, one JSON line per event.
    pub bytes: u64,
}

impl Volume {
    fn add(&mut self, bytes: u64) {
        self.events += 1;
        self.bytes += bytes;
    }
}

/// What one rule did.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// The rule's index.
    pub index: usize,
    /// The rule's level.
    pub level: Level,
    /// Events the rule matched (the first matching rule).
    pub matched: u64,
    /// Events it kept (matched and emitted).
    pub events: u64,
    /// Bytes of the events it kept.
    pub bytes: u64,
}

/// Security-relevant requests, by what makes them relevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityCategory {
    /// Secrets, service account tokens, token reviews.
    SecretsAndTokens,
    /// Writes to RBAC roles and bindings.
    RbacChanges,
    /// `pods/exec`, `pods/attach`, `pods/portforward`.
    ExecAttachPortforward,
    /// Requests made while impersonating, or impersonation attempts.
    Impersonation,
    /// Requests answered 401 or 403.
    AuthFailures,
    /// Pods or pod templates asking for privileged mode, host namespaces or hostPath.
    PrivilegedPods,
}

impl SecurityCategory {
    /// Every category.
    pub const ALL: [SecurityCategory; 6] = [
        SecurityCategory::SecretsAndTokens,
        SecurityCategory::RbacChanges,
        SecurityCategory::ExecAttachPortforward,
        SecurityCategory::Impersonation,
        SecurityCategory::AuthFailures,
        SecurityCategory::PrivilegedPods,
    ];

    /// A short human name.
    pub fn title(self) -> &'static str {
        match self {
            SecurityCategory::SecretsAndTokens => "secrets and tokens",
            SecurityCategory::RbacChanges => "RBAC changes",
            SecurityCategory::ExecAttachPortforward => "exec/attach/port-forward",
            SecurityCategory::Impersonation => "impersonation",
            SecurityCategory::AuthFailures => "401/403 responses",
            SecurityCategory::PrivilegedPods => "privileged pod specs",
        }
    }
}

/// What a policy does to one category of security-relevant requests.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityReport {
    /// The category.
    pub category: SecurityCategory,
    /// Requests (distinct auditIDs) of this category in the input.
    pub requests: u64,
    /// Requests of which the policy keeps no event at all.
    pub dropped: u64,
    /// Requests kept only at `Metadata` although the input had bodies.
    pub without_body: u64,
    /// Some auditIDs of dropped requests.
    pub dropped_examples: Vec<String>,
    /// Some auditIDs of requests kept without bodies.
    pub without_body_examples: Vec<String>,
}

/// The result of a simulation.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    /// Events read.
    pub events_in: u64,
    /// Events the policy keeps.
    pub events_kept: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes the kept events take.
    pub bytes_kept: u64,
    /// Per rule.
    pub rules: Vec<RuleReport>,
    /// Events no rule matched (level None).
    pub unmatched: Volume,
    /// Kept events and bytes per level (and dropped ones under `None`).
    pub levels: BTreeMap<Level, Volume>,
    /// Kept events and bytes per stage.
    pub stages: BTreeMap<Stage, Volume>,
    /// Security-relevant requests dropped or kept without bodies.
    pub security: Vec<SecurityReport>,
    /// Events captured at a lower level than the policy assigns: their kept
    /// size is a lower bound (bodies that were never captured cannot be counted).
    pub captured_below_policy: u64,
}

#[derive(Debug, Default)]
struct RequestState {
    categories: Vec<SecurityCategory>,
    emitted: bool,
    emitted_with_body: bool,
    input_had_body: bool,
}

const EXAMPLES: usize = 5;

/// A running simulation of one policy.
#[derive(Debug)]
pub struct Simulation {
    evaluator: Evaluator,
    rule_levels: Vec<Level>,
    rules: Vec<(u64, Volume)>,
    unmatched: Volume,
    levels: BTreeMap<Level, Volume>,
    stages: BTreeMap<Stage, Volume>,
    events_in: u64,
    bytes_in: u64,
    kept: Volume,
    captured_below_policy: u64,
    requests: HashMap<String, RequestState>,
}

impl Simulation {
    /// Starts a simulation of `policy`.
    pub fn new(policy: &Policy) -> Simulation {
        Simulation {
            evaluator: Evaluator::new(policy),
            rule_levels: policy.rules.iter().map(|r| r.level).collect(),
            rules: vec![(0, Volume::default()); policy.rules.len()],
            unmatched: Volume::default(),
            levels: BTreeMap::new(),
            stages: BTreeMap::new(),
            events_in: 0,
            bytes_in: 0,
            kept: Volume::default(),
            captured_below_policy: 0,
            requests: HashMap::new(),
        }
    }

    /// Accounts for one event; `raw_len` is the size of its JSON as read.
    pub fn observe(&mut self, event: &Event, raw_len: usize) {
        let line_bytes = raw_len as u64 + 1;
        self.events_in += 1;
        self.bytes_in += line_bytes;
        let decision = self.evaluator.decide(&RequestAttributes::from_event(event));
        match decision.rule {
            Some(rule) => self.rules[rule].0 += 1,
            None => self.unmatched.add(line_bytes),
        }
        let kept = apply_to_event(&decision, event);
        let kept_bytes = kept.as_ref().map(|k| kept_size(event, k, line_bytes));
        if decision.level > event.level && kept.is_some() {
            self.captured_below_policy += 1;
        }
        match kept_bytes {
            Some(bytes) => {
                self.kept.add(bytes);
                self.levels.entry(decision.level).or_default().add(bytes);
                self.stages.entry(event.stage).or_default().add(bytes);
                if let Some(rule) = decision.rule {
                    self.rules[rule].1.add(bytes);
                }
            }
            None => self.levels.entry(Level::None).or_default().add(0),
        }
        let categories = categories(event);
        if !categories.is_empty() {
            let state = self.requests.entry(event.audit_id.clone()).or_default();
            for category in categories {
                if !state.categories.contains(&category) {
                    state.categories.push(category);
                }
            }
            state.input_had_body |=
                event.request_object.is_some() || event.response_object.is_some();
            if let Some(kept) = &kept {
                state.emitted = true;
                state.emitted_with_body |= kept.level >= Level::Request;
            }
        }
    }

    /// The report.
    pub fn finish(self) -> SimulationReport {
        let mut security: BTreeMap<SecurityCategory, SecurityReport> = SecurityCategory::ALL
            .into_iter()
            .map(|category| {
                (
                    category,
                    SecurityReport {
                        category,
                        requests: 0,
                        dropped: 0,
                        without_body: 0,
                        dropped_examples: Vec::new(),
                        without_body_examples: Vec::new(),
                    },
                )
            })
            .collect();
        let mut requests: Vec<(String, RequestState)> = self.requests.into_iter().collect();
        requests.sort_by(|a, b| a.0.cmp(&b.0));
        for (audit_id, state) in requests {
            for category in &state.categories {
                let Some(report) = security.get_mut(category) else {
                    continue;
                };
                report.requests += 1;
                if !state.emitted {
                    report.dropped += 1;
                    if report.dropped_examples.len() < EXAMPLES {
                        report.dropped_examples.push(audit_id.clone());
                    }
                } else if state.input_had_body && !state.emitted_with_body {
                    report.without_body += 1;
                    if report.without_body_examples.len() < EXAMPLES {
                        report.without_body_examples.push(audit_id.clone());
                    }
                }
            }
        }
        SimulationReport {
            events_in: self.events_in,
            events_kept: self.kept.events,
            bytes_in: self.bytes_in,
            bytes_kept: self.kept.bytes,
            rules: self
                .rules
                .iter()
                .enumerate()
                .map(|(index, (matched, kept))| RuleReport {
                    index,
                    level: self.rule_levels[index],
                    matched: *matched,
                    events: kept.events,
                    bytes: kept.bytes,
                })
                .collect(),
            unmatched: self.unmatched,
            levels: self.levels,
            stages: self.stages,
            security: security.into_values().collect(),
            captured_below_policy: self.captured_below_policy,
        }
    }
}

/// The size the kept event takes: the input size, less what was stripped.
fn kept_size(original: &Event, kept: &Event, line_bytes: u64) -> u64 {
    let unchanged = kept.request_object == original.request_object
        && kept.response_object == original.response_object;
    if unchanged {
        return line_bytes;
    }
    let before = serde_json::to_vec(original).map(|v| v.len()).unwrap_or(0) as u64;
    let after = serde_json::to_vec(kept).map(|v| v.len()).unwrap_or(0) as u64;
    line_bytes.saturating_sub(before.saturating_sub(after))
}

/// The security categories an event belongs to.
pub fn categories(event: &Event) -> Vec<SecurityCategory> {
    let mut out = Vec::new();
    let (resource, subresource, group) = match &event.object_ref {
        Some(r) => (
            r.resource.as_str(),
            r.subresource.as_str(),
            r.api_group.as_str(),
        ),
        None => ("", "", ""),
    };
    let secretish = (group.is_empty() && resource == "secrets")
        || (group.is_empty() && resource == "serviceaccounts" && subresource == "token")
        || (group == "authentication.k8s.io" && resource == "tokenreviews");
    if secretish {
        out.push(SecurityCategory::SecretsAndTokens);
    }
    let write = matches!(
        event.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    if group == "rbac.authorization.k8s.io" && write {
        out.push(SecurityCategory::RbacChanges);
    }
    if resource == "pods" && matches!(subresource, "exec" | "attach" | "portforward") {
        out.push(SecurityCategory::ExecAttachPortforward);
    }
    if event.impersonated_user.is_some() || event.verb == "impersonate" {
        out.push(SecurityCategory::Impersonation);
    }
    if let Some(code) = event.response_status.as_ref().and_then(|s| s.code) {
        if code == 401 || code == 403 {
            out.push(SecurityCategory::AuthFailures);
        }
    }
    if event
        .request_object
        .as_ref()
        .is_some_and(is_privileged_workload)
    {
        out.push(SecurityCategory::PrivilegedPods);
    }
    out
}

/// Whether an object is a pod (or holds a pod template) that asks for
/// privileged containers, host namespaces or hostPath volumes.
fn is_privileged_workload(object: &Value) -> bool {
    let spec = object.get("spec");
    let candidates = [
        spec,
        spec.and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec")),
        spec.and_then(|s| s.get("jobTemplate"))
            .and_then(|j| j.get("spec"))
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec")),
    ];
    candidates.into_iter().flatten().any(is_privileged_pod_spec)
}

fn is_privileged_pod_spec(spec: &Value) -> bool {
    let flag = |name: &str| spec.get(name).and_then(Value::as_bool) == Some(true);
    if flag("hostPID") || flag("hostNetwork") || flag("hostIPC") {
        return true;
    }
    let host_path = spec
        .get("volumes")
        .and_then(Value::as_array)
        .is_some_and(|volumes| volumes.iter().any(|v| v.get("hostPath").is_some()));
    if host_path {
        return true;
    }
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|key| spec.get(key).and_then(Value::as_array))
        .flatten()
        .any(|container| {
            let security = container.get("securityContext");
            security
                .and_then(|s| s.get("privileged"))
                .and_then(Value::as_bool)
                == Some(true)
                || security
                    .and_then(|s| s.get("allowPrivilegeEscalation"))
                    .and_then(Value::as_bool)
                    == Some(true)
                    && security
                        .and_then(|s| s.get("capabilities"))
                        .and_then(|c| c.get("add"))
                        .and_then(Value::as_array)
                        .is_some_and(|caps| caps.iter().any(|c| c.as_str() == Some("SYS_ADMIN")))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn privileged_specs() {
        assert!(is_privileged_workload(&json!({"spec": {"hostPID": true}})));
        assert!(is_privileged_workload(
            &json!({"spec": {"template": {"spec": {"containers": [{"securityContext": {"privileged": true}}]}}}})
        ));
        assert!(is_privileged_workload(
            &json!({"spec": {"volumes": [{"hostPath": {"path": "/"}}]}})
        ));
        assert!(!is_privileged_workload(
            &json!({"spec": {"containers": [{"name": "x"}]}})
        ));
    }
}
