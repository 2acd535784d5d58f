//! The searchable fields: one list that the index, the query planner, the
//! brute-force evaluator and the documentation all read.
//!
//! Every stream shares the envelope fields (`stream`, `time`, `actor`, …);
//! Kubernetes events add their own JSON paths (`user.username`,
//! `objectRef.resource`, `responseStatus.code`, `annotations.*`), so that
//! people who know the apiserver's JSON need to learn nothing new. A field's
//! [`Source`] says where its values come from, by JSON path, so that an
//! independent evaluator can find the same values without the index.

/// What kind of values a field holds, which decides which operators apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Whole string values matched exactly (or by wildcard); no ranges.
    Keyword,
    /// Integers: exact match and ranges.
    Number,
    /// A point in time (microseconds since the epoch): ranges only.
    Date,
}

/// Where a field's values are found in a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The record's stream name.
    Stream,
    /// A JSON path (dot-separated) into the envelope.
    Envelope(&'static str),
    /// A JSON path (dot-separated) into a `kubeaudit` record's raw event.
    Kube(&'static str),
    /// `annotations.<key>` of a `kubeaudit` event: a dynamic family.
    KubeAnnotations,
}

/// One searchable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The name used in queries (`user.username`).
    pub name: &'static str,
    /// The kind of its values.
    pub kind: FieldKind,
    /// Where its values come from.
    pub source: Source,
    /// Whether it has a column for aggregations (top values, distinct).
    pub aggregatable: bool,
    /// Whether a bare term (no field) looks at it; near-unique values
    /// (`auditID`, addresses) are left out to keep the term dictionary small.
    pub bare: bool,
}

const fn keyword(name: &'static str, source: Source) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Keyword,
        source,
        aggregatable: true,
        bare: true,
    }
}

/// A keyword without a column (values too many or too long to aggregate).
const fn keyword_only(name: &'static str, source: Source) -> FieldSpec {
    FieldSpec {
        aggregatable: false,
        ..keyword(name, source)
    }
}

/// A keyword that bare terms do not look at.
const fn keyword_exact(name: &'static str, source: Source, aggregatable: bool) -> FieldSpec {
    FieldSpec {
        aggregatable,
        bare: false,
        ..keyword(name, source)
    }
}

/// The name of the annotation family: `annotations.<key>`.
pub const ANNOTATIONS: &str = "annotations";

/// Every field, envelope first. Names are a public interface (queries,
/// saved searches, dashboards): add, never rename.
pub const FIELDS: &[FieldSpec] = &[
    keyword("stream", Source::Stream),
    FieldSpec {
        name: "time",
        kind: FieldKind::Date,
        source: Source::Envelope("time"),
        aggregatable: false,
        bare: false,
    },
    keyword("actor", Source::Envelope("actor.name")),
    keyword("actor.kind", Source::Envelope("actor.kind")),
    keyword("actor.via", Source::Envelope("actor.via")),
    keyword("actor.groups", Source::Envelope("actor.groups")),
    keyword(
        "actor.identified_by",
        Source::Envelope("actor.identified_by"),
    ),
    keyword("action", Source::Envelope("action")),
    keyword("target", Source::Envelope("target")),
    keyword("namespace", Source::Envelope("namespace")),
    keyword("cluster", Source::Envelope("cluster")),
    keyword("host", Source::Envelope("host")),
    keyword_exact("source", Source::Envelope("source"), true),
    keyword("outcome", Source::Envelope("outcome")),
    keyword_exact("auditID", Source::Kube("auditID"), false),
    keyword("stage", Source::Kube("stage")),
    keyword("level", Source::Kube("level")),
    keyword_exact("requestURI", Source::Kube("requestURI"), false),
    keyword("verb", Source::Kube("verb")),
    keyword("user.username", Source::Kube("user.username")),
    keyword_exact("user.uid", Source::Kube("user.uid"), true),
    keyword("user.groups", Source::Kube("user.groups")),
    keyword(
        "impersonatedUser.username",
        Source::Kube("impersonatedUser.username"),
    ),
    keyword(
        "impersonatedUser.groups",
        Source::Kube("impersonatedUser.groups"),
    ),
    keyword_exact("sourceIPs", Source::Kube("sourceIPs"), true),
    keyword("userAgent", Source::Kube("userAgent")),
    keyword("objectRef.resource", Source::Kube("objectRef.resource")),
    keyword("objectRef.namespace", Source::Kube("objectRef.namespace")),
    keyword("objectRef.name", Source::Kube("objectRef.name")),
    keyword(
        "objectRef.subresource",
        Source::Kube("objectRef.subresource"),
    ),
    keyword("objectRef.apiGroup", Source::Kube("objectRef.apiGroup")),
    keyword("objectRef.apiVersion", Source::Kube("objectRef.apiVersion")),
    FieldSpec {
        name: "responseStatus.code",
        kind: FieldKind::Number,
        source: Source::Kube("responseStatus.code"),
        aggregatable: true,
        bare: false,
    },
    keyword(
        "responseStatus.status",
        Source::Kube("responseStatus.status"),
    ),
    keyword(
        "responseStatus.reason",
        Source::Kube("responseStatus.reason"),
    ),
    keyword(
        "requestObject.roleRef.name",
        Source::Kube("requestObject.roleRef.name"),
    ),
    keyword(
        "requestObject.roleRef.kind",
        Source::Kube("requestObject.roleRef.kind"),
    ),
    keyword_only(ANNOTATIONS, Source::KubeAnnotations),
];

/// A field named in a query, resolved against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// A fixed field.
    Fixed(&'static FieldSpec),
    /// `annotations.<key>`.
    Annotation(String),
}

impl FieldRef {
    /// The kind of the field's values.
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldRef::Fixed(spec) => spec.kind,
            FieldRef::Annotation(_) => FieldKind::Keyword,
        }
    }

    /// The name as written in queries.
    pub fn name(&self) -> String {
        match self {
            FieldRef::Fixed(spec) => spec.name.to_owned(),
            FieldRef::Annotation(key) => format!("{ANNOTATIONS}.{key}"),
        }
    }
}

/// Looks a query field name up: a fixed field or `annotations.<key>`.
pub fn lookup(name: &str) -> Option<FieldRef> {
    if let Some(spec) = FIELDS.iter().find(|f| f.name == name) {
        if spec.source == Source::KubeAnnotations {
            return None;
        }
        return Some(FieldRef::Fixed(spec));
    }
    let key = name.strip_prefix(ANNOTATIONS)?.strip_prefix('.')?;
    (!key.is_empty()).then(|| FieldRef::Annotation(key.to_owned()))
}

/// The known field most like `name`, for "did you mean" in errors.
pub fn closest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    FIELDS
        .iter()
        .filter(|f| f.source != Source::KubeAnnotations)
        .map(|f| (edit_distance(&lower, &f.name.to_ascii_lowercase()), f.name))
        .filter(|(d, candidate)| *d <= 3.max(candidate.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_fixed_and_annotations() {
        assert_eq!(lookup("verb").map(|f| f.name()), Some("verb".to_owned()));
        assert_eq!(
            lookup("annotations.authorization.k8s.io/decision"),
            Some(FieldRef::Annotation("authorization.k8s.io/decision".into()))
        );
        assert_eq!(lookup("annotations"), None);
        assert_eq!(lookup("annotations."), None);
        assert_eq!(lookup("usr.username"), None);
        assert_eq!(closest("usr.username"), Some("user.username"));
        assert_eq!(closest("zzzzzzzzzzzzzzzz"), None);
    }
}
