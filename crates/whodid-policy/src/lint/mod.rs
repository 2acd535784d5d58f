//! Lint: the mistakes real audit policies make, which the apiserver accepts.
//!
//! Validation says whether the apiserver will load a policy; lint says
//! whether the policy does what its author wants. Every finding has a stable
//! code, a severity, the rule it is about (and its line), why it matters and
//! how to fix it. The checks:
//!
//! - [`probes`]: evaluates the policy on representative requests, so checks
//!   honour first-match order exactly — secret values written to the log,
//!   exec/attach commands in URIs, security events not audited, high-volume
//!   reads at `RequestResponse`, noisy system identities;
//! - [`groups`]: API groups that are unknown, or swapped with a resource
//!   name, and resources listed under the wrong group (rules that silently
//!   never match);
//! - [`shadowing`]: rules that can never match because an earlier rule
//!   matches everything they match;
//! - [`structure`]: duplicate entries, no catch-all rule or a
//!   `RequestResponse` catch-all, `RequestReceived` not omitted.
//!
//! Unknown fields come from the loader's warnings.

mod groups;
mod probes;
mod shadowing;
mod structure;

use std::fmt;

use serde::Serialize;
use whodid_model::k8s::Policy;

use crate::load::{LoadedPolicy, SourceMap};
use crate::validate::Problem;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; maybe intended.
    Info,
    /// Probably not what the author wants.
    Warning,
    /// Secret values or security events are at stake.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `L001`.
    pub code: &'static str,
    /// Short name of the check, e.g. `secret-bodies`.
    pub check: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// The rule it is about, if one.
    pub rule: Option<usize>,
    /// The line of that rule (or of the problem), when known.
    pub line: Option<usize>,
    /// What was found.
    pub message: String,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.severity, self.code, self.check)?;
        if let Some(rule) = self.rule {
            write!(f, " rule {rule}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collects findings, filling in rule lines from the source map.
#[derive(Debug)]
pub(crate) struct Findings<'s> {
    source: &'s SourceMap,
    list: Vec<Finding>,
}

impl<'s> Findings<'s> {
    // One argument per field of a finding reads better at the call sites
    // than a builder would.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        code: &'static str,
        check: &'static str,
        severity: Severity,
        rule: Option<usize>,
        message: String,
        why: &'static str,
        fix: String,
    ) {
        let line = rule.and_then(|r| self.source.rule_line(r));
        let finding = Finding {
            code,
            check,
            severity,
            rule,
            line,
            message,
            why,
            fix,
        };
        if !self.list.contains(&finding) {
            self.list.push(finding);
        }
    }
}

/// Lints a loaded policy.
pub fn lint(loaded: &LoadedPolicy) -> Vec<Finding> {
    let mut findings = Findings {
        source: &loaded.source,
        list: Vec::new(),
    };
    for warning in &loaded.warnings {
        if let Problem::UnknownField(name) = &warning.problem {
            let field = warning.field.clone().unwrap_or_else(|| name.clone());
            findings.push(
                "L010",
                "unknown-field",
                Severity::Warning,
                warning.rule,
                format!("unknown field {field:?} is ignored by the apiserver"),
                "the apiserver falls back to lenient decoding and drops unknown fields with only a log line, so a typo (userz, resource, namespace) silently widens or narrows the rule",
                format!("fix the spelling of {name:?} (fields are: level, users, userGroups, verbs, resources, namespaces, nonResourceURLs, omitStages, omitManagedFields)"),
            );
        }
    }
    lint_policy(&loaded.policy, &mut findings);
    let mut list = findings.list;
    list.sort_by(|a, b| {
        (a.rule.unwrap_or(usize::MAX), a.code).cmp(&(b.rule.unwrap_or(usize::MAX), b.code))
    });
    list
}

fn lint_policy(policy: &Policy, findings: &mut Findings<'_>) {
    structure::check(policy, findings);
    groups::check(policy, findings);
    shadowing::check(policy, findings);
    probes::check(policy, findings);
}
