//! The brute-force evaluator: a query checked against one stored record
//! (envelope and raw event), with no index at all.
//!
//! It exists to prove the index right: the equivalence test runs generated
//! queries through both and requires the same answers. It reads values
//! straight from the JSON by the catalogue's paths and shares no code with
//! the indexing of records.

use serde_json::Value;
use whodid_index::catalogue::{FieldKind, FieldRef, FieldSpec, Source, FIELDS};
use whodid_model::Stream;

use crate::ast::{Expr, Pattern};

/// A record as stored in the journal, decoded once.
#[derive(Debug, Clone)]
pub struct RecordView {
    /// Its stream.
    pub stream: Stream,
    /// The envelope JSON.
    pub envelope: Value,
    /// The raw event, when it is JSON (`kubeaudit`).
    pub raw: Option<Value>,
    /// The envelope's time, microseconds since the epoch.
    pub time_micros: i64,
}

impl RecordView {
    /// Decodes a stored record; `None` when its envelope has no readable time.
    pub fn decode(stream: Stream, envelope: &[u8], raw: &[u8]) -> Option<RecordView> {
        let envelope: Value = serde_json::from_slice(envelope).ok()?;
        let stamp: jiff::Timestamp = envelope.get("time")?.as_str()?.parse().ok()?;
        let raw = match stream {
            Stream::KubeAudit => serde_json::from_slice(raw).ok(),
            _ => None,
        };
        Some(RecordView {
            stream,
            envelope,
            raw,
            time_micros: stamp.as_microsecond(),
        })
    }

    fn root(&self, source: Source) -> Option<(&Value, &'static str)> {
        match source {
            Source::Envelope(path) => Some((&self.envelope, path)),
            Source::Kube(path) => self.raw.as_ref().map(|r| (r, path)),
            Source::Stream | Source::KubeAnnotations => None,
        }
    }

    /// The values of a fixed field as text (keywords) — arrays flattened, empty strings dropped.
    fn texts(&self, spec: &FieldSpec) -> Vec<String> {
        if spec.source == Source::Stream {
            return vec![self.stream.as_str().to_owned()];
        }
        let Some((root, path)) = self.root(spec.source) else {
            return Vec::new();
        };
        let mut node = Some(root);
        for key in path.split('.') {
            node = node.and_then(|n| n.as_object()).and_then(|o| o.get(key));
        }
        let mut out = Vec::new();
        if let Some(node) = node {
            scalar_texts(node, true, &mut out);
        }
        out
    }

    fn annotations(&self) -> Option<&serde_json::Map<String, Value>> {
        self.raw.as_ref()?.get("annotations")?.as_object()
    }

    fn annotation(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(value) = self.annotations().and_then(|a| a.get(key)) {
            scalar_texts(value, true, &mut out);
        }
        out
    }

    fn all_annotation_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for value in self.annotations().into_iter().flat_map(|a| a.values()) {
            scalar_texts(value, true, &mut out);
        }
        out
    }

    fn integer(&self, spec: &FieldSpec) -> Option<i64> {
        let (root, path) = self.root(spec.source)?;
        let mut node = root;
        for key in path.split('.') {
            node = node.get(key)?;
        }
        node.as_i64()
    }

    /// The values of a field as the evaluator sees them (for aggregations).
    pub fn values(&self, field: &FieldRef) -> Vec<String> {
        match field {
            FieldRef::Annotation(key) => self.annotation(key),
            FieldRef::Fixed(spec) => match spec.kind {
                FieldKind::Number => self
                    .integer(spec)
                    .map(|n| n.to_string())
                    .into_iter()
                    .collect(),
                FieldKind::Date => vec![self.time_micros.to_string()],
                FieldKind::Keyword => self.texts(spec),
            },
        }
    }

    /// Whether the record matches `expr`.
    pub fn matches(&self, expr: &Expr) -> bool {
        match expr {
            Expr::All => true,
            Expr::And(items) => items.iter().all(|e| self.matches(e)),
            Expr::Or(items) => items.iter().any(|e| self.matches(e)),
            Expr::Not(inner) => !self.matches(inner),
            Expr::Keyword {
                field: Some(field),
                pattern,
            } => self.values(field).iter().any(|v| pattern.matches(v)),
            Expr::Keyword {
                field: None,
                pattern,
            } => self.any_keyword(pattern),
            Expr::Number { field, cmp, value } => match field {
                FieldRef::Fixed(spec) => self.integer(spec).is_some_and(|n| cmp.holds(n, *value)),
                FieldRef::Annotation(_) => false,
            },
            Expr::Time { cmp, micros } => cmp.holds(self.time_micros, *micros),
            Expr::Exists(field) => match field {
                FieldRef::Fixed(spec) if spec.source == Source::Stream => true,
                FieldRef::Fixed(spec) if spec.kind == FieldKind::Date => true,
                FieldRef::Fixed(spec) if spec.kind == FieldKind::Number => {
                    self.integer(spec).is_some()
                }
                _ => !self.values(field).is_empty(),
            },
        }
    }

    fn any_keyword(&self, pattern: &Pattern) -> bool {
        FIELDS
            .iter()
            .filter(|spec| spec.kind == FieldKind::Keyword && spec.bare)
            .any(|spec| {
                if spec.source == Source::KubeAnnotations {
                    self.all_annotation_values()
                        .iter()
                        .any(|v| pattern.matches(v))
                } else {
                    self.texts(spec).iter().any(|v| pattern.matches(v))
                }
            })
    }
}

fn scalar_texts(value: &Value, top: bool, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) if top => {
            for item in items {
                scalar_texts(item, false, out);
            }
        }
        _ => {}
    }
}
