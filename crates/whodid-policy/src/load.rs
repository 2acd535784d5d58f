//! Loading a policy file: YAML or JSON text → a validated `Policy`.
//!
//! The apiserver (`k8s.io/apiserver/pkg/audit/policy/reader.go`) decodes a
//! policy strictly first; when that fails only because of unknown or
//! duplicate fields it logs a warning and decodes leniently, so typos are
//! silently ignored. whodid does the same — but says where: every warning
//! and error names the file, the line and column, the rule index and the
//! field path in the apiserver's own notation (`rules[3].nonResourceURLs[0]`).
//! Then the policy is validated ([`crate::validate`]); a policy with no rules
//! is refused, as the apiserver refuses to start with one.

use std::fmt;

use serde_json::Value;
use whodid_model::k8s::{GroupResources, Level, Policy, PolicyRule, Stage};

use crate::validate::{validate, Problem};
use crate::yaml_tree::{self, Node, NodeValue, Position};

/// The largest policy file accepted. Real policies are a few kilobytes.
pub const MAX_POLICY_BYTES: usize = 4 << 20;

/// A policy that loaded, with what the loader had to say about it.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Problems the apiserver tolerates (with a warning).
    pub warnings: Vec<PolicyDiagnostic>,
    /// Where each rule starts in the source.
    pub source: SourceMap,
}

/// Where the parts of a policy are in its source text.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    /// The position of each rule, by rule index.
    pub rules: Vec<Position>,
}

impl SourceMap {
    /// The line of rule `index`, when known.
    pub fn rule_line(&self, index: usize) -> Option<usize> {
        self.rules.get(index).map(|p| p.line)
    }
}

/// One problem found in a policy file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// The file (or other origin) the policy came from.
    pub origin: String,
    /// Where in the text, when known.
    pub position: Option<Position>,
    /// The field path in the apiserver's notation (`rules[0].level`), when it applies.
    pub field: Option<String>,
    /// The rule index, when the problem is inside a rule.
    pub rule: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

/// Why a policy could not be loaded: every error found, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The errors.
    pub errors: Vec<PolicyDiagnostic>,
    /// Warnings found before the errors made loading fail.
    pub warnings: Vec<PolicyDiagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for error in &self.errors {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Loads and validates a policy from `text`; `origin` names it in messages
/// (usually the file path).
pub fn load_policy(text: &str, origin: &str) -> Result<LoadedPolicy, LoadError> {
    let mut decoder = Decoder {
        origin,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let policy = decoder.decode_text(text);
    let Some((raw, source)) = policy else {
        return Err(LoadError {
            errors: decoder.errors,
            warnings: decoder.warnings,
        });
    };
    for (problem, field, rule, position) in validate(&raw) {
        decoder.errors.push(PolicyDiagnostic {
            origin: origin.to_owned(),
            position,
            field,
            rule,
            problem,
        });
    }
    if !decoder.errors.is_empty() {
        decoder
            .errors
            .sort_by_key(|d| d.position.map(|p| (p.line, p.column)));
        return Err(LoadError {
            errors: decoder.errors,
            warnings: decoder.warnings,
        });
    }
    Ok(LoadedPolicy {
        policy: raw.into_policy(),
        warnings: decoder.warnings,
        source,
    })
}

/// A value with the position it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) position: Position,
}

/// A policy as written, before validation: strings where the model has enums.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawPolicy {
    pub(crate) api_version: Option<Spanned<String>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) metadata: Option<Value>,
    pub(crate) rules: Vec<RawRule>,
    pub(crate) rules_position: Position,
    pub(crate) omit_stages: Vec<Spanned<String>>,
    pub(crate) omit_managed_fields: bool,
}

/// A rule as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawRule {
    pub(crate) position: Position,
    pub(crate) level: Option<Spanned<String>>,
    pub(crate) users: Vec<Spanned<String>>,
    pub(crate) user_groups: Vec<Spanned<String>>,
    pub(crate) verbs: Vec<Spanned<String>>,
    pub(crate) resources: Vec<RawGroupResources>,
    pub(crate) namespaces: Vec<Spanned<String>>,
    pub(crate) non_resource_urls: Vec<Spanned<String>>,
    pub(crate) non_resource_urls_position: Position,
    pub(crate) omit_stages: Vec<Spanned<String>>,
    pub(crate) omit_managed_fields: Option<bool>,
}

/// A `resources` entry as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawGroupResources {
    pub(crate) group: Option<Spanned<String>>,
    pub(crate) resources: Vec<Spanned<String>>,
    pub(crate) resource_names: Vec<Spanned<String>>,
    pub(crate) resource_names_position: Position,
}

fn values(list: &[Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.value.clone()).collect()
}

fn stages(list: &[Spanned<String>]) -> Vec<Stage> {
    list.iter().filter_map(|s| s.value.parse().ok()).collect()
}

impl RawPolicy {
    /// The typed policy; only called once validation passed.
    fn into_policy(self) -> Policy {
        Policy {
            api_version: self.api_version.map(|s| s.value).unwrap_or_default(),
            kind: self.kind.map(|s| s.value).unwrap_or_default(),
            metadata: self.metadata,
            omit_stages: stages(&self.omit_stages),
            omit_managed_fields: self.omit_managed_fields,
            rules: self
                .rules
                .iter()
                .map(|rule| PolicyRule {
                    level: rule
                        .level
                        .as_ref()
                        .and_then(|l| l.value.parse().ok())
                        .unwrap_or(Level::None),
                    users: values(&rule.users),
                    user_groups: values(&rule.user_groups),
                    verbs: values(&rule.verbs),
                    resources: rule
                        .resources
                        .iter()
                        .map(|gr| GroupResources {
                            group: gr
                                .group
                                .as_ref()
                                .map(|g| g.value.clone())
                                .unwrap_or_default(),
                            resources: values(&gr.resources),
                            resource_names: values(&gr.resource_names),
                        })
                        .collect(),
                    namespaces: values(&rule.namespaces),
                    non_resource_urls: values(&rule.non_resource_urls),
                    omit_stages: stages(&rule.omit_stages),
                    omit_managed_fields: rule.omit_managed_fields,
                })
                .collect(),
        }
    }
}

struct Decoder<'o> {
    origin: &'o str,
    errors: Vec<PolicyDiagnostic>,
    warnings: Vec<PolicyDiagnostic>,
}

const POLICY_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "rules",
    "omitStages",
    "omitManagedFields",
];
const RULE_FIELDS: &[&str] = &[
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
];
const GROUP_RESOURCES_FIELDS: &[&str] = &["group", "resources", "resourceNames"];

impl Decoder<'_> {
    fn diagnostic(
        &self,
        position: Option<Position>,
        field: Option<String>,
        rule: Option<usize>,
        problem: Problem,
    ) -> PolicyDiagnostic {
        PolicyDiagnostic {
            origin: self.origin.to_owned(),
            position,
            field,
            rule,
            problem,
        }
    }

    fn error(&mut self, position: Position, field: &str, rule: Option<usize>, problem: Problem) {
        let field = (!field.is_empty()).then(|| field.to_owned());
        let d = self.diagnostic(Some(position), field, rule, problem);
        self.errors.push(d);
    }

    fn warn(&mut self, position: Position, field: &str, rule: Option<usize>, problem: Problem) {
        let field = (!field.is_empty()).then(|| field.to_owned());
        let d = self.diagnostic(Some(position), field, rule, problem);
        self.warnings.push(d);
    }

    fn decode_text(&mut self, text: &str) -> Option<(RawPolicy, SourceMap)> {
        if text.len() > MAX_POLICY_BYTES {
            let d = self.diagnostic(
                None,
                None,
                None,
                Problem::TooLarge {
                    size: text.len(),
                    limit: MAX_POLICY_BYTES,
                },
            );
            self.errors.push(d);
            return None;
        }
        let documents = match yaml_tree::parse(text) {
            Ok(documents) => documents,
            Err(syntax) => {
                let d = self.diagnostic(
                    Some(syntax.position),
                    None,
                    None,
                    Problem::Syntax(syntax.message),
                );
                self.errors.push(d);
                return None;
            }
        };
        let mut documents = documents.into_iter().filter(|d| d.value != NodeValue::Null);
        let Some(document) = documents.next() else {
            let d = self.diagnostic(None, None, None, Problem::Empty);
            self.errors.push(d);
            return None;
        };
        if let Some(extra) = documents.next() {
            self.warn(extra.position, "", None, Problem::ExtraDocument);
        }
        let raw = self.decode_policy(&document)?;
        let source = SourceMap {
            rules: raw.rules.iter().map(|r| r.position).collect(),
        };
        if self.errors.is_empty() {
            Some((raw, source))
        } else {
            None
        }
    }

    /// Walks a mapping's entries, warning about duplicates and unknown
    /// fields; calls `field` for each known one (the last of duplicates wins,
    /// as in lenient decoding).
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
        rule: Option<usize>,
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        let NodeValue::Mapping(entries) = &node.value else {
            self.error(
                node.position,
                path,
                rule,
                Problem::WrongType {
                    expected: "a mapping",
                    found: node.type_name(),
                },
            );
            return None;
        };
        let mut out: Vec<(&'n str, &'n Node)> = Vec::new();
        for (key, value) in entries {
            let NodeValue::Scalar { text: name, .. } = &key.value else {
                self.warn(key.position, path, rule, Problem::NonStringKey);
                continue;
            };
            let child = join(path, name);
            if !known.contains(&name.as_str()) {
                self.warn(
                    key.position,
                    &child,
                    rule,
                    Problem::UnknownField(name.clone()),
                );
                continue;
            }
            if let Some(existing) = out.iter_mut().find(|(n, _)| *n == name.as_str()) {
                self.warn(
                    key.position,
                    &child,
                    rule,
                    Problem::DuplicateField(name.clone()),
                );
                existing.1 = value;
                continue;
            }
            out.push((name.as_str(), value));
        }
        Some(out)
    }

    fn decode_policy(&mut self, node: &Node) -> Option<RawPolicy> {
        let fields = self.fields(node, "", POLICY_FIELDS, None)?;
        let mut raw = RawPolicy {
            rules_position: node.position,
            ..RawPolicy::default()
        };
        for (name, value) in fields {
            match name {
                "apiVersion" => raw.api_version = self.string(value, "apiVersion", None),
                "kind" => raw.kind = self.string(value, "kind", None),
                "metadata" => raw.metadata = Some(to_json(value)),
                "omitStages" => raw.omit_stages = self.strings(value, "omitStages", None),
                "omitManagedFields" => {
                    raw.omit_managed_fields = self
                        .boolean(value, "omitManagedFields", None)
                        .unwrap_or(false)
                }
                "rules" => {
                    raw.rules_position = value.position;
                    raw.rules = self.rules(value);
                }
                _ => {}
            }
        }
        self.check_type_meta(&raw, node.position);
        Some(raw)
    }

    fn check_type_meta(&mut self, raw: &RawPolicy, position: Position) {
        match &raw.api_version {
            None => self.error(position, "", None, Problem::MissingTypeMeta("apiVersion")),
            Some(v) if v.value != whodid_model::k8s::API_VERSION => self.error(
                v.position,
                "apiVersion",
                None,
                Problem::WrongApiVersion(v.value.clone()),
            ),
            Some(_) => {}
        }
        match &raw.kind {
            None => self.error(position, "", None, Problem::MissingTypeMeta("kind")),
            Some(k) if k.value != "Policy" => self.error(
                k.position,
                "kind",
                None,
                Problem::WrongKind(k.value.clone()),
            ),
            Some(_) => {}
        }
    }

    fn rules(&mut self, node: &Node) -> Vec<RawRule> {
        let items = match &node.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Sequence(items) => items,
            _ => {
                self.error(
                    node.position,
                    "rules",
                    None,
                    Problem::WrongType {
                        expected: "a list of rules",
                        found: node.type_name(),
                    },
                );
                return Vec::new();
            }
        };
        let mut rules = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let path = format!("rules[{index}]");
            let mut rule = RawRule {
                position: item.position,
                non_resource_urls_position: item.position,
                ..RawRule::default()
            };
            if let Some(fields) = self.fields(item, &path, RULE_FIELDS, Some(index)) {
                for (name, value) in fields {
                    let field = join(&path, name);
                    let r = Some(index);
                    match name {
                        "level" => rule.level = self.string(value, &field, r),
                        "users" => rule.users = self.strings(value, &field, r),
                        "userGroups" => rule.user_groups = self.strings(value, &field, r),
                        "verbs" => rule.verbs = self.strings(value, &field, r),
                        "namespaces" => rule.namespaces = self.strings(value, &field, r),
                        "nonResourceURLs" => {
                            rule.non_resource_urls_position = value.position;
                            rule.non_resource_urls = self.strings(value, &field, r);
                        }
                        "omitStages" => rule.omit_stages = self.strings(value, &field, r),
                        "omitManagedFields" => {
                            rule.omit_managed_fields = self.boolean(value, &field, r)
                        }
                        "resources" => rule.resources = self.group_resources(value, &field, index),
                        _ => {}
                    }
                }
            }
            rules.push(rule);
        }
        rules
    }

    fn group_resources(&mut self, node: &Node, path: &str, rule: usize) -> Vec<RawGroupResources> {
        let items = match &node.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Sequence(items) => items,
            _ => {
                self.error(
                    node.position,
                    path,
                    Some(rule),
                    Problem::WrongType {
                        expected: "a list of {group, resources, resourceNames}",
                        found: node.type_name(),
                    },
                );
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            let mut gr = RawGroupResources {
                resource_names_position: item.position,
                ..RawGroupResources::default()
            };
            if let Some(fields) = self.fields(item, &item_path, GROUP_RESOURCES_FIELDS, Some(rule))
            {
                for (name, value) in fields {
                    let field = join(&item_path, name);
                    match name {
                        "group" => gr.group = self.string(value, &field, Some(rule)),
                        "resources" => gr.resources = self.strings(value, &field, Some(rule)),
                        "resourceNames" => {
                            gr.resource_names_position = value.position;
                            gr.resource_names = self.strings(value, &field, Some(rule));
                        }
                        _ => {}
                    }
                }
            }
            out.push(gr);
        }
        out
    }

    fn string(&mut self, node: &Node, field: &str, rule: Option<usize>) -> Option<Spanned<String>> {
        match &node.value {
            NodeValue::Null => None,
            NodeValue::Scalar { text, plain } if !*plain || !looks_non_string(text) => {
                Some(Spanned {
                    value: text.clone(),
                    position: node.position,
                })
            }
            _ => {
                let found = match &node.value {
                    NodeValue::Scalar { .. } => "a number or boolean",
                    _ => node.type_name(),
                };
                self.error(
                    node.position,
                    field,
                    rule,
                    Problem::WrongType {
                        expected: "a string",
                        found,
                    },
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, field: &str, rule: Option<usize>) -> Vec<Spanned<String>> {
        match &node.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    if let Some(s) = self.string(item, &format!("{field}[{index}]"), rule) {
                        out.push(s);
                    }
                }
                out
            }
            _ => {
                self.error(
                    node.position,
                    field,
                    rule,
                    Problem::WrongType {
                        expected: "a list of strings",
                        found: node.type_name(),
                    },
                );
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, node: &Node, field: &str, rule: Option<usize>) -> Option<bool> {
        match &node.value {
            NodeValue::Null => None,
            NodeValue::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => {
                    self.error(
                        node.position,
                        field,
                        rule,
                        Problem::WrongType {
                            expected: "true or false",
                            found: "a string",
                        },
                    );
                    None
                }
            },
            _ => {
                self.error(
                    node.position,
                    field,
                    rule,
                    Problem::WrongType {
                        expected: "true or false",
                        found: node.type_name(),
                    },
                );
                None
            }
        }
    }
}

/// Whether a plain scalar is a YAML number or boolean (a type error where a
/// string is expected, as the apiserver's JSON decoding finds).
fn looks_non_string(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        || text.parse::<i64>().is_ok()
        || (text.parse::<f64>().is_ok() && text.bytes().any(|b| b.is_ascii_digit()))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        NodeValue::Null => Value::Null,
        NodeValue::Scalar { text, .. } => Value::String(text.clone()),
        NodeValue::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeValue::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match &k.value {
                        NodeValue::Scalar { text, .. } => text.clone(),
                        _ => String::new(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    resources:\n      - group: \"\"\n        resources: [\"pods\"]\n  - level: None\n";

    #[test]
    fn loads_a_good_policy() {
        let loaded = load_policy(GOOD, "p.yaml").unwrap();
        assert_eq!(loaded.policy.rules.len(), 2);
        assert_eq!(loaded.policy.rules[0].level, Level::Metadata);
        assert_eq!(loaded.policy.omit_stages, [Stage::RequestReceived]);
        assert_eq!(loaded.source.rule_line(1), Some(9));
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn unknown_field_is_a_located_warning() {
        let text = GOOD.replace("  - level: None\n", "  - level: None\n    userz: [\"x\"]\n");
        let loaded = load_policy(&text, "p.yaml").unwrap();
        let w = &loaded.warnings[0];
        assert_eq!(w.field.as_deref(), Some("rules[1].userz"));
        assert_eq!(w.rule, Some(1));
        assert_eq!(w.position.map(|p| p.line), Some(10));
        assert!(
            w.to_string()
                .starts_with("p.yaml:10:5: rules[1].userz: unknown field"),
            "{w}"
        );
    }

    #[test]
    fn duplicate_key_warns_and_last_wins() {
        let text = GOOD.replace(
            "  - level: None\n",
            "  - level: None\n    level: Metadata\n",
        );
        let loaded = load_policy(&text, "p.yaml").unwrap();
        assert_eq!(loaded.policy.rules[1].level, Level::Metadata);
        assert!(matches!(
            loaded.warnings[0].problem,
            Problem::DuplicateField(_)
        ));
    }

    #[test]
    fn type_errors_and_syntax_errors_are_located() {
        let err = load_policy(&GOOD.replace("[\"pods\"]", "pods"), "p.yaml").unwrap_err();
        assert_eq!(
            err.errors[0].field.as_deref(),
            Some("rules[0].resources[0].resources")
        );
        let err = load_policy("rules: [\n", "p.yaml").unwrap_err();
        assert!(matches!(err.errors[0].problem, Problem::Syntax(_)), "{err}");
        let err = load_policy("", "p.yaml").unwrap_err();
        assert!(matches!(err.errors[0].problem, Problem::Empty));
    }

    #[test]
    fn huge_input_is_refused() {
        let text = "#".repeat(MAX_POLICY_BYTES + 1);
        let err = load_policy(&text, "p.yaml").unwrap_err();
        assert!(matches!(err.errors[0].problem, Problem::TooLarge { .. }));
    }
}
