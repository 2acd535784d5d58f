//! The parsed form of a query: what the planner turns into tantivy queries
//! and what the brute-force evaluator checks record by record.

use whodid_index::catalogue::FieldRef;

/// A comparison of a number or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `field:v`
    Eq,
    /// `field > v`
    Gt,
    /// `field >= v`
    Ge,
    /// `field < v`
    Lt,
    /// `field <= v`
    Le,
}

impl Cmp {
    /// Whether `value` compares to `bound` this way.
    pub fn holds(self, value: i64, bound: i64) -> bool {
        match self {
            Cmp::Eq => value == bound,
            Cmp::Gt => value > bound,
            Cmp::Ge => value >= bound,
            Cmp::Lt => value < bound,
            Cmp::Le => value <= bound,
        }
    }
}

/// A value to match against a keyword field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// The whole value, exactly.
    Exact(String),
    /// The whole value, with `*` standing for any run of characters;
    /// `parts` are the literal pieces between the stars.
    Wildcard {
        /// The literal pieces: `a*b*` is `["a", "b", ""]`.
        parts: Vec<String>,
    },
}

impl Pattern {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(exact) => exact == value,
            Pattern::Wildcard { parts } => glob_matches(parts, value),
        }
    }
}

fn glob_matches(parts: &[String], value: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return value.is_empty();
    };
    let Some(mut remaining) = value.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

/// A query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every record (the empty query, `*`).
    All,
    /// All of these.
    And(Vec<Expr>),
    /// Any of these.
    Or(Vec<Expr>),
    /// Not this.
    Not(Box<Expr>),
    /// A keyword field's value (`None`: any keyword field, a bare term).
    Keyword {
        /// The field, or `None` for a bare term.
        field: Option<FieldRef>,
        /// The value.
        pattern: Pattern,
    },
    /// A number field compared.
    Number {
        /// The field.
        field: FieldRef,
        /// How.
        cmp: Cmp,
        /// With what.
        value: i64,
    },
    /// The record's time compared (microseconds since the epoch).
    Time {
        /// How.
        cmp: Cmp,
        /// With what.
        micros: i64,
    },
    /// The field has a value (`field:*`).
    Exists(FieldRef),
}
