//! The planner: a parsed query to a tantivy query for one day index.
//!
//! A day index holds one stream, so `stream:` terms fold to "all" or
//! "nothing" here; keyword values are whole terms, wildcards become
//! anchored regular expressions on the term dictionary, `field:*` is a term
//! of `_fields`, number ranges and every time comparison run on columns.

use std::ops::Bound;

use whodid_index::catalogue::{FieldRef, Source, FIELDS};
use whodid_index::document::ANNOTATION_SEPARATOR;
use whodid_index::schema::IndexSchema;
use whodid_index::tantivy::query::{
    AllQuery, BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery,
};
use whodid_index::tantivy::schema::{Field, IndexRecordOption};
use whodid_index::tantivy::Term;
use whodid_model::Stream;

use crate::ast::{Cmp, Expr, Pattern};
use crate::error::SearchError;

/// A planned query: folded to a constant where the stream decides.
pub enum Plan {
    /// Every document.
    All,
    /// No document.
    Nothing,
    /// Run this.
    Query(Box<dyn Query>),
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plan::All => f.write_str("All"),
            Plan::Nothing => f.write_str("Nothing"),
            Plan::Query(q) => write!(f, "Query({q:?})"),
        }
    }
}

impl Plan {
    /// The tantivy query (`None` for nothing).
    pub fn into_query(self) -> Option<Box<dyn Query>> {
        match self {
            Plan::All => Some(Box::new(AllQuery)),
            Plan::Nothing => None,
            Plan::Query(q) => Some(q),
        }
    }
}

/// A wildcard as an anchored regular expression (tantivy's regexes match whole terms).
pub fn glob_regex(prefix: &str, parts: &[String]) -> String {
    let mut out = String::from("(?s)");
    out.push_str(&escape(prefix));
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(".*");
        }
        out.push_str(&escape(part));
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || !c.is_ascii() && !c.is_control() {
            out.push(c);
        } else {
            // Hex for every other character: no escape means something else.
            out.push_str(&format!("\\x{{{:x}}}", c as u32));
        }
    }
    out
}

fn keyword_plan(field: Field, prefix: &str, pattern: &Pattern) -> Result<Plan, SearchError> {
    Ok(match pattern {
        Pattern::Exact(value) => Plan::Query(Box::new(TermQuery::new(
            Term::from_field_text(field, &format!("{prefix}{value}")),
            IndexRecordOption::Basic,
        ))),
        Pattern::Wildcard { parts } => {
            let regex = glob_regex(prefix, parts);
            let query = RegexQuery::from_pattern(&regex, field).map_err(|error| {
                // The automaton is past the engine's size limit; its text
                // stays in the log.
                tracing::debug!(%error, %regex, "wildcard refused by the engine");
                let text: String = parts.join("*").chars().take(60).collect();
                SearchError::too_expensive(format!(
                    "the wildcard {text:?}… needs a larger automaton than the engine allows: use fewer `*` or a shorter value"
                ))
            })?;
            Plan::Query(Box::new(query))
        }
    })
}

fn position(field: &FieldRef) -> Option<usize> {
    match field {
        FieldRef::Fixed(spec) => FIELDS.iter().position(|f| f.name == spec.name),
        FieldRef::Annotation(_) => FIELDS
            .iter()
            .position(|f| f.source == Source::KubeAnnotations),
    }
}

/// A comparison on a number field; `indexed` says whether it has terms (an
/// exact value is then a term), otherwise every comparison is a range on
/// its column.
fn i64_range(field: Field, indexed: bool, cmp: Cmp, value: i64) -> Plan {
    let t = |v: i64| Term::from_field_i64(field, v);
    let (lower, upper) = match cmp {
        Cmp::Eq if indexed => {
            return Plan::Query(Box::new(TermQuery::new(t(value), IndexRecordOption::Basic)))
        }
        Cmp::Eq => (Bound::Included(t(value)), Bound::Included(t(value))),
        Cmp::Gt => (Bound::Excluded(t(value)), Bound::Unbounded),
        Cmp::Ge => (Bound::Included(t(value)), Bound::Unbounded),
        Cmp::Lt => (Bound::Unbounded, Bound::Excluded(t(value))),
        Cmp::Le => (Bound::Unbounded, Bound::Included(t(value))),
    };
    Plan::Query(Box::new(RangeQuery::new(lower, upper)))
}

/// `[from, to)` on the time column.
pub fn time_range(schema: &IndexSchema, from: i64, to: i64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_i64(schema.time, from)),
        Bound::Excluded(Term::from_field_i64(schema.time, to)),
    ))
}

/// Plans `expr` for a day index of `stream`.
pub fn plan(expr: &Expr, schema: &IndexSchema, stream: Stream) -> Result<Plan, SearchError> {
    Ok(match expr {
        Expr::All => Plan::All,
        Expr::Keyword {
            field: None,
            pattern,
        } => keyword_plan(schema.all, "", pattern)?,
        Expr::Keyword {
            field: Some(field),
            pattern,
        } => match field {
            FieldRef::Fixed(spec) if spec.source == Source::Stream => {
                if pattern.matches(stream.as_str()) {
                    Plan::All
                } else {
                    Plan::Nothing
                }
            }
            FieldRef::Annotation(key) => match position(field).and_then(|p| schema.handle(p)) {
                Some(handle) => {
                    keyword_plan(handle, &format!("{key}{ANNOTATION_SEPARATOR}"), pattern)?
                }
                None => Plan::Nothing,
            },
            FieldRef::Fixed(_) => match position(field).and_then(|p| schema.handle(p)) {
                Some(handle) => keyword_plan(handle, "", pattern)?,
                None => Plan::Nothing,
            },
        },
        Expr::Number { field, cmp, value } => {
            match position(field).and_then(|p| schema.handle(p)) {
                Some(handle) => i64_range(handle, true, *cmp, *value),
                None => Plan::Nothing,
            }
        }
        Expr::Time { cmp, micros } => i64_range(schema.time, false, *cmp, *micros),
        Expr::Exists(field) => match field {
            FieldRef::Fixed(spec) if spec.source == Source::Stream || spec.name == "time" => {
                Plan::All
            }
            _ => Plan::Query(Box::new(TermQuery::new(
                Term::from_field_text(schema.fields, &field.name()),
                IndexRecordOption::Basic,
            ))),
        },
        Expr::Not(inner) => match plan(inner, schema, stream)? {
            Plan::All => Plan::Nothing,
            Plan::Nothing => Plan::All,
            Plan::Query(q) => Plan::Query(Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery)),
                (Occur::MustNot, q),
            ]))),
        },
        Expr::And(items) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for item in items {
                match plan(item, schema, stream)? {
                    Plan::All => {}
                    Plan::Nothing => return Ok(Plan::Nothing),
                    Plan::Query(q) => clauses.push((Occur::Must, q)),
                }
            }
            combine(clauses, Plan::All)
        }
        Expr::Or(items) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for item in items {
                match plan(item, schema, stream)? {
                    Plan::All => return Ok(Plan::All),
                    Plan::Nothing => {}
                    Plan::Query(q) => clauses.push((Occur::Should, q)),
                }
            }
            combine(clauses, Plan::Nothing)
        }
    })
}

fn combine(mut clauses: Vec<(Occur, Box<dyn Query>)>, empty: Plan) -> Plan {
    match clauses.len() {
        0 => empty,
        1 => match clauses.pop() {
            Some((_, q)) => Plan::Query(q),
            None => empty,
        },
        _ => Plan::Query(Box::new(BooleanQuery::new(clauses))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_regexes_escape_everything_but_the_stars() {
        assert_eq!(
            glob_regex("", &["a.b".into(), "".into()]),
            "(?s)a\\x{2e}b.*"
        );
        assert_eq!(
            glob_regex("k\u{1f}", &["".into(), "x".into()]),
            "(?s)k\\x{1f}.*x"
        );
    }
}
