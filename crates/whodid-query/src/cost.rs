//! Limits on what one query may cost, checked before any index is touched.
//!
//! Exact terms, ranges and `field:*` are cheap: a lookup or a column scan
//! per day index. A wildcard is not: it runs an automaton over the field's
//! whole term dictionary in every day index searched, before the time
//! budget can stop anything (2,000 `*x*` terms took 14 s on a 3,000-record
//! index), and tantivy refuses an automaton past 1,000 states with an
//! internal error. So a query is refused with a 400 and a message naming
//! the limit when it is too long, has too many terms or wildcards, or a
//! wildcard too long or with too many `*`.

use crate::ast::{Expr, Pattern};
use crate::error::SearchError;

/// The longest query text, in characters.
pub const MAX_QUERY_CHARS: usize = 8192;
/// The most terms (values, comparisons, `field:*`) in one query.
pub const MAX_TERMS: usize = 1024;
/// The most wildcard values in one query.
pub const MAX_WILDCARDS: usize = 16;
/// The longest wildcard value, in characters.
pub const MAX_WILDCARD_CHARS: usize = 256;
/// The most `*` in one wildcard value.
pub const MAX_STARS: usize = 16;

/// Refuses a query text longer than [`MAX_QUERY_CHARS`] (before parsing it).
pub fn check_text(text: &str) -> Result<(), SearchError> {
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(SearchError::too_expensive(format!(
            "the query has {chars} characters; the limit is {MAX_QUERY_CHARS}"
        )));
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    terms: usize,
    wildcards: usize,
}

fn walk(expr: &Expr, tally: &mut Tally) -> Result<(), SearchError> {
    match expr {
        Expr::All => {}
        Expr::Keyword { pattern, .. } => {
            tally.terms += 1;
            if let Pattern::Wildcard { parts } = pattern {
                tally.wildcards += 1;
                let stars = parts.len().saturating_sub(1);
                let chars: usize = parts.iter().map(|p| p.chars().count()).sum::<usize>() + stars;
                if stars > MAX_STARS {
                    return Err(SearchError::too_expensive(format!(
                        "a wildcard value has {stars} `*`; the limit is {MAX_STARS}"
                    )));
                }
                if chars > MAX_WILDCARD_CHARS {
                    return Err(SearchError::too_expensive(format!(
                        "a wildcard value has {chars} characters; the limit is {MAX_WILDCARD_CHARS}"
                    )));
                }
            }
        }
        Expr::Number { .. } | Expr::Time { .. } | Expr::Exists(_) => tally.terms += 1,
        Expr::Not(inner) => walk(inner, tally)?,
        Expr::And(items) | Expr::Or(items) => {
            for item in items {
                walk(item, tally)?;
            }
        }
    }
    Ok(())
}

/// Refuses a parsed query over the limits above.
pub fn check(expr: &Expr) -> Result<(), SearchError> {
    let mut tally = Tally::default();
    walk(expr, &mut tally)?;
    if tally.terms > MAX_TERMS {
        return Err(SearchError::too_expensive(format!(
            "the query has {} terms; the limit is {MAX_TERMS}",
            tally.terms
        )));
    }
    if tally.wildcards > MAX_WILDCARDS {
        return Err(SearchError::too_expensive(format!(
            "the query has {} wildcard values (each scans every term of its field); the limit is {MAX_WILDCARDS}",
            tally.wildcards
        )));
    }
    Ok(())
}

/// Parses `text` and checks it against the limits.
pub fn parse_checked(text: &str) -> Result<Expr, SearchError> {
    check_text(text)?;
    let expr = crate::parser::parse(text)?;
    check(&expr)?;
    Ok(expr)
}
